"""Errors of the post-processing package: one-line reasons, all ``ValueError`` subclasses."""

from __future__ import annotations


class PostprocessError(ValueError):
    """Bad input to post-processing (a field, a guide, a sample batch), with a one-line reason."""


class UpsampleError(PostprocessError):
    """A field or guide that the edge-aware upsampler cannot use."""


class ExportError(PostprocessError):
    """An image that cannot be read, a bad format name, or an output folder that cannot be written."""


def check_setting(ok: bool, owner: str, name: str, value: object, rule: str) -> None:
    """PostprocessError "<owner> setting <name> must be <rule>, got <value>" unless ``ok``: settings
    are checked when made, so that one read from a sidecar fails at once with its name, not deep
    in a solve (a negative regulariser was a LinAlgError, a string sigma a numpy UFuncTypeError)."""
    if not ok:
        raise PostprocessError(f"{owner} setting {name} must be {rule}, got {value!r}")

"""Errors of the post-processing package: one-line reasons, all ``ValueError`` subclasses."""

from __future__ import annotations


class PostprocessError(ValueError):
    """Bad input to post-processing (a field, a guide, a sample batch), with a one-line reason."""


class UpsampleError(PostprocessError):
    """A field or guide that the edge-aware upsampler cannot use."""


class ExportError(PostprocessError):
    """An image that cannot be read, a bad format name, or an output folder that cannot be written."""

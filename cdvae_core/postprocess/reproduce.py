"""A result again from its sidecar, bit for bit: ``reproduce`` in memory, ``reproduce_file`` to a file
(``cdvae-sample --reproduce``, the Studio's exports checked in the tests)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .errors import ExportError
from .export import own_sample, render_code
from .imagefiles import check_format, read_image, write_image
from .render import get_renderer
from .sidecar import check_model, pixels_sha256, read_sidecar, settings_of, sidecar_vector

def reproduce(sidecar: str | os.PathLike, predictor=None, image: np.ndarray | None = None) -> np.ndarray:
    """Re-render the result a sidecar describes: uint8 (H, W, 3), identical to the exported one.

    ``predictor`` defaults to ``checkpoint.load_model`` of the recorded model directory and
    ``image`` to the recorded source path. Refused with a one-line ExportError: a model that
    cannot be loaded or is not the exported one (weights hash, or for older sidecars the config),
    a photo that cannot be read or whose pixels changed. The result is decoded from the sidecar's
    ``code`` and ``lower_noise`` (null, or a version 1 sidecar: lower layers at their conditional
    means); ExportError if they do not fit the model.
    """
    data = read_sidecar(sidecar)
    if predictor is None:
        from ..checkpoint import load_model

        if not data["model"].get("dir"):
            raise ExportError(f"{sidecar}: no model directory recorded; pass the predictor")
        try:
            predictor = load_model(data["model"]["dir"])
        except ValueError as exc:  # ModelLoadError names the directory and what is wrong with it
            raise ExportError(f"{sidecar}: the recorded model cannot be loaded: {exc}") from exc
    check_model(sidecar, data, predictor)
    from_file = image is None
    if from_file:
        if not data["source"].get("path"):
            raise ExportError(f"{sidecar}: the source was an in-memory image; pass it as image=")
        try:
            image = read_image(data["source"]["path"])
        except ExportError as exc:
            raise ExportError(f"{sidecar}: the recorded source photo cannot be read: {exc}") from exc
    if pixels_sha256(image) != data["source"]["sha256"]:
        # exported before transparent pixels were composited over white: read as it was then
        then = read_image(data["source"]["path"], hidden_colour=True) if from_file else None
        if then is None or pixels_sha256(then) != data["source"]["sha256"]:
            raise ExportError(f"{sidecar}: the source photo's pixels differ from the exported one's")
        image = then
    code = sidecar_vector(sidecar, data, "code", predictor.code_dim, "code")
    noise = None  # version 1 sidecars predate lower_noise: decoded at the means
    if data["format_version"] >= 2 and data["lower_noise"] is not None:
        noise = sidecar_vector(sidecar, data, "lower_noise", predictor.noise_dim, "lower-layer noise")
    settings = settings_of(sidecar, data)
    from ..tasks import get_task

    renderer = get_renderer(get_task(predictor.task), image, settings.upsample)
    cond = predictor.prepare(renderer.xc_model)
    own = own_sample(predictor, renderer, cond) if settings.detail else None
    layer = render_code(predictor, renderer, cond, code, own, noise)
    return renderer.picture(layer, settings.arrows)


OUT_FORMATS = {".png": "png", ".jpg": "jpg", ".jpeg": "jpg"}


def reproduce_file(sidecar: str | os.PathLike, out: str | os.PathLike | None = None, *, overwrite: bool = False,
                   predictor=None, image: np.ndarray | None = None,
                   overwrite_hint: str = "overwrite=True") -> tuple[Path, Path | None]:
    """Re-render a sidecar's result into a file; returns (written file, the exported result it
    should equal, or None when that file is gone).

    ``out`` defaults to ``<sidecar stem>_reproduced.<ext>`` next to the sidecar, in the sidecar's
    format; an ``out`` ending .png or .jpg/.jpeg picks that format (png16 stays png16 as .png).
    An existing file, the exported original included, is only replaced with ``overwrite``
    (``overwrite_hint`` names it in the refusal, as the caller's user knows it: "--overwrite").
    Motion: the result picture (arrows over the frame), not the flow-colour and warped extras.
    """
    sidecar = Path(sidecar)
    data = read_sidecar(sidecar)
    settings = settings_of(sidecar, data)
    if out is None:
        target = sidecar.with_name(f"{sidecar.stem}_reproduced{check_format(settings.fmt)}")
    else:
        target = Path(out)
        if target.suffix.lower() not in OUT_FORMATS:
            raise ExportError(f"{target}: name a .png or .jpg file for the reproduced result")
    fmt = OUT_FORMATS.get(target.suffix.lower(), settings.fmt)
    if fmt == "png" and settings.fmt == "png16":
        fmt = "png16"
    if target.is_dir():
        raise ExportError(f"{target} is a folder, not a file")
    if target.exists() and not overwrite:
        raise ExportError(f"{target} already exists; {overwrite_hint} replaces it")
    result = reproduce(sidecar, predictor, image)  # everything is checked before anything is written
    write_image(target, result, fmt, settings.jpeg_quality)
    original = sidecar.parent / str((data.get("files") or {}).get("result", ""))
    return target, (original if original.is_file() else None)

"""Export full-resolution results with JSON sidecars that reproduce them exactly.

One image: ``export_results``; a folder: ``export_folder``; the Studio's export dialog drives
``iter_export``, a generator of ``Progress`` records (closing it cancels between two results;
every file is written atomically, so a cancel leaves no half file). ``reproduce`` re-renders a
result from its sidecar (reproduce.py; the sidecar's format: sidecar.py).

Files per result i of photo ``stem``: ``stem_{i:03d}.png|jpg`` and ``stem_{i:03d}.json``; motion
adds ``stem_{i:03d}_flowcolor`` and ``stem_{i:03d}_warped`` pictures. A result is the model's
full sample: its code z_L and the standard-normal noise of the lower latent layers are drawn once
with ``predictor.draw(cond, n, seed)`` and each result is decoded on its own from its row of both
(``predictor.decode(cond, code, noise)``, no randomness left), so the code and ``lower_noise``
in the sidecar give back the very same result. ``ExportSettings(lower_layers=False)`` decodes the
lower layers at their conditional means instead (smoother, less varied; ``lower_noise`` null).
``ExportSettings(distinct_pool=P)`` exports the n most distinct of P draws instead of the first
n (``Predictor.draw_distinct``), largest share first, each sidecar's ``share`` saying how many of
the P draws its result stands for.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np

from ..atomic import write_text_atomic
from ..data.video import at_time, split_time, time_text
from ..distinct import draw_distinct
from ..progress import Progress
from .errors import ExportError, PostprocessError
from .imagefiles import check_format, list_images, read_image, write_image
from .render import Renderer, get_renderer
from .sidecar import ExportSettings, sidecar_record, weights_sha256

__all__ = ["ExportReport", "ExportSettings", "existing_results", "export_folder", "export_results",
           "exported_picture", "iter_export", "own_sample", "remove_results", "render_code", "result_stem"]


@dataclass
class ExportReport:
    """What an export wrote: result images, sidecars, and (source, reason) for skipped photos."""

    results: list[Path] = field(default_factory=list)
    sidecars: list[Path] = field(default_factory=list)
    extras: list[Path] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)


def result_stem(item: str | os.PathLike | np.ndarray, index: int) -> str:
    """The stem ``iter_export`` names the results of photo ``index`` of a call by: the file's stem,
    ``clip_t2.5s`` for a video's frame at a time (``clip.mp4#t=2.5``), or ``image{index:03d}`` for
    an in-memory photo (a stem already used in the call gets a "_")."""
    if isinstance(item, np.ndarray):
        return f"image{index:03d}"
    path, seconds = split_time(item, strict=False)  # a malformed time: named as given; reading it says why
    return path.stem if seconds is None else f"{path.stem}_t{time_text(seconds)}s"


def _earlier_results(outdir: str | os.PathLike, stems: Sequence[str]) -> dict[tuple[str, int], list[Path]]:
    """(stem, number) -> files of each earlier result of these stems in ``outdir``:
    ``<stem>_<i:03d>`` with its sidecar and motion extras, any export format."""
    folder = Path(outdir)
    if not stems or not folder.is_dir():
        return {}
    pattern = re.compile("^(" + "|".join(re.escape(s) for s in set(stems)) +
                         r")_(\d{3,})(?:_flowcolor|_warped)?\.(?:png|jpg|json)$")
    found: dict[tuple[str, int], list[Path]] = {}
    for entry in folder.iterdir():
        m = pattern.match(entry.name)
        if m:
            found.setdefault((m.group(1), int(m.group(2))), []).append(entry)
    return found


def existing_results(outdir: str | os.PathLike, stems: Sequence[str]) -> tuple[int, int]:
    """(how many earlier results of these stems ``outdir`` holds, their highest number); (0, -1)
    if none. A result counts once with its sidecar and extras. Every export of a photo numbers
    from 000, so a second one into the same folder replaced the first one's files: callers
    number after ``top``, or ask first and ``remove_results`` to replace them."""
    found = _earlier_results(outdir, stems)
    return len(found), max((number for _, number in found), default=-1)


def remove_results(outdir: str | os.PathLike, stems: Sequence[str]) -> int:
    """Delete the earlier results of these stems in ``outdir`` (pictures, sidecars, extras), so
    that a replacing export leaves none of them behind (writing from 000 again kept those past
    the new count); returns how many results went."""
    found = _earlier_results(outdir, stems)
    for files in found.values():
        for path in files:
            path.unlink(missing_ok=True)
    return len(found)


def _source(item: str | os.PathLike | np.ndarray, index: int) -> tuple[str, str | None, np.ndarray]:
    """(stem, path or None, uint8 (H, W, 3)) for a path or an in-memory photo; the path is made
    absolute (a video's time kept) so that a sidecar finds its photo from anywhere."""
    if isinstance(item, np.ndarray):
        if item.dtype != np.uint8 or item.ndim != 3 or item.shape[2] != 3:
            raise ExportError(f"image must be uint8 (H, W, 3) RGB, got {item.dtype} {item.shape}")
        return result_stem(item, index), None, np.ascontiguousarray(item)
    image = read_image(item)  # first: it says what is wrong with a bad time
    path, seconds = split_time(item)
    return result_stem(item, index), at_time(path.resolve(), seconds or 0.0), image


def own_sample(predictor, renderer: Renderer, cond) -> np.ndarray | None:
    """Decoder output for the photo's own code, (Cg, 32, 32): the CDVAE(z_o) of eq. 10."""
    if not renderer.uses_detail:
        return None
    code = predictor.encode_target(cond, renderer.xg_model)
    return predictor.decode(cond, code[None])[0]


def _given(predictor, codes: np.ndarray | None, noise: np.ndarray | None
           ) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Caller's codes (n, D) and lower-layer noise (n, noise_dim) or None, checked against the model."""
    if codes is None:
        if noise is not None:
            raise ExportError("noise= goes with codes=; drawn codes come with their own noise")
        return None, None
    arr = np.asarray(codes, dtype=np.float32)
    d = predictor.code_dim
    if arr.ndim == 0 or arr.size == 0 or arr.shape[-1] != d:
        raise ExportError(f"codes must have shape (n, {d}) for this model, got {arr.shape}")
    arr = arr.reshape(-1, d)
    if not np.all(np.isfinite(arr)):
        raise ExportError("codes contain NaN or infinite values")
    try:  # none given: nothing to check (the nearest-neighbour baseline has no noise, nor check_noise)
        eps = None if noise is None else predictor.check_noise(noise, len(arr))
    except ValueError as exc:
        raise ExportError(f"noise for the {len(arr)} given code(s): {exc}") from exc
    return arr, eps


def _codes(predictor, cond, n: int, seed: int, codes: np.ndarray | None, noise: np.ndarray | None,
           settings: ExportSettings) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """(codes (n, D), lower-layer noise (n, noise_dim) or None for the conditional means, and for
    distinct results each one's share (n,) of the pool, else None)."""
    if codes is None:
        if n < 1:
            raise ExportError(f"number of results must be at least 1, got {n}")
        if settings.distinct_pool:  # a pool smaller than n: draw_distinct's ValueError
            drawn, eps, shares = draw_distinct(predictor, cond, n, seed, settings.component, settings.temperature,
                                               settings.distinct_pool)
            return drawn, (eps if settings.lower_layers else None), shares
        drawn, eps = predictor.draw(cond, n, seed, settings.component, temperature=settings.temperature)
        return drawn, (eps if settings.lower_layers else None), None
    return codes, noise, None


def _given_shares(shares: Sequence[float | None] | None, codes: np.ndarray | None) -> list[float | None] | None:
    """The caller's share of its distinct pool for each given code (None: not a distinct result), checked."""
    if shares is None:
        return None
    if codes is None:
        raise ExportError("shares= goes with codes=; drawn distinct results carry their own")
    values = list(shares)
    if len(values) != len(codes) or not all(v is None or (isinstance(v, (int, float, np.floating)) and not isinstance(v, bool)
                                                          and 0 <= v <= 1) for v in values):
        raise ExportError(f"shares must be {len(codes)} numbers in [0, 1] or None (one per code), got {values!r}")
    return [None if v is None else float(v) for v in values]


def _sample_indices(sample_indices: Sequence[int] | None, codes: np.ndarray | None) -> list[int] | None:
    """The caller's record of where each given code came from (e.g. the Studio's grid cell), checked."""
    if sample_indices is None:
        return None
    if codes is None:
        raise ExportError("sample_indices= goes with codes=; drawn results are numbered by \"index\"")
    values = list(sample_indices)
    if len(values) != len(codes) or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 0
                                            for v in values):
        raise ExportError(f"sample_indices must be {len(codes)} whole numbers >= 0 (one per code), got {values!r}")
    return [int(v) for v in values]


def render_code(predictor, renderer: Renderer, cond, code: np.ndarray, own: np.ndarray | None,
                noise: np.ndarray | None = None) -> np.ndarray:
    """One code (D,) and its lower-layer noise (noise_dim,) -> full-resolution layer (Cg, H, W),
    decoded and upsampled on its own; ``noise`` None: lower layers at their conditional means."""
    eps = None if noise is None else np.asarray(noise, np.float32)[None]
    xg = predictor.decode(cond, np.asarray(code, np.float32)[None], eps)  # (1, Cg, 32, 32)
    return renderer.layers(xg, own)[0]


def exported_picture(predictor, image: str | os.PathLike | np.ndarray, code: np.ndarray,
                     noise: np.ndarray | None = None, settings: ExportSettings | None = None) -> np.ndarray:
    """The result ``iter_export`` writes for one code (D,) and its lower-layer noise (noise_dim,)
    (None: lower layers at their means), in memory: uint8 (H, W, 3) at the photo's full
    resolution (a path, a video's frame at a time too, or uint8 (H, W, 3)). The Studio copies
    it to the clipboard. Raises ExportError (one line) for a bad photo, code or noise."""
    from ..tasks import get_task

    settings = settings or ExportSettings()
    codes, eps = _given(predictor, np.asarray(code, np.float32)[None], None if noise is None else
                        np.asarray(noise, np.float32)[None])
    task = get_task(predictor.task)
    try:
        _, _, photo = _source(image, 0)
        renderer = get_renderer(task, photo, settings.upsample)
        cond = predictor.prepare(renderer.xc_model)
        own = own_sample(predictor, renderer, cond) if settings.detail else None
    except (PostprocessError, ValueError) as exc:
        raise ExportError(str(exc)) from exc
    eps_row = None if eps is None or not settings.lower_layers else eps[0]
    return renderer.picture(render_code(predictor, renderer, cond, codes[0], own, eps_row), settings.arrows)


def iter_export(predictor, images: Sequence[str | os.PathLike | np.ndarray], n: int, outdir: str | os.PathLike,
                seed: int = 0, fmt: str = "png", *, codes: np.ndarray | None = None,
                noise: np.ndarray | None = None, settings: ExportSettings | None = None,
                skip_bad: bool = True, report: ExportReport | None = None, first_index: int = 0,
                sample_indices: Sequence[int] | None = None,
                shares: Sequence[float | None] | None = None) -> Iterator[Progress]:
    """Yield Progress("export", done, total, message) while writing n results per photo.

    ``images`` are paths or uint8 (H, W, 3) arrays; ``codes`` (n, D) replaces the drawn codes
    (the Studio exports the codes the user picked) and ``noise`` (n, noise_dim) is their
    lower-layer noise (None: lower layers at their conditional means); both apply to every photo.
    With ``codes``, ``seed`` draws nothing: the sidecars record it as where the codes came from.
    ``settings.lower_layers=False`` decodes at the means whatever the noise. Bad codes or noise
    raise ExportError. A bad photo is recorded in ``report.failed`` and skipped when ``skip_bad``,
    else raises ExportError. Files are numbered from ``first_index`` (several calls writing
    results of one photo into one folder, as the Studio's export of stars does, must not
    overwrite each other). ``sample_indices`` (one whole number per code, with ``codes``) says
    where each code came from, e.g. the Studio's grid cell: the sidecars record it as
    ``sample_index`` (``index`` is the row within this call, ``file_number`` the file's number).
    ``shares`` (with ``codes``) is each code's share of the distinct pool it was chosen from
    (``settings.distinct_pool``), or None for a code that is no distinct result (one edited
    since): the sidecars' ``share``.
    Close the generator to cancel.
    """
    suffix = check_format(fmt)
    settings = dataclasses.replace(settings or ExportSettings(), fmt=fmt)
    codes, noise = _given(predictor, codes, noise)
    origins = _sample_indices(sample_indices, codes)
    given_shares = _given_shares(shares, codes)
    weights = weights_sha256(predictor)
    if codes is not None:  # the sidecars record what was decoded
        noise = noise if settings.lower_layers else None
        settings = dataclasses.replace(settings, lower_layers=noise is not None)
    from ..tasks import get_task  # the tasks package is only needed once an export runs

    task = get_task(predictor.task)
    report = report if report is not None else ExportReport()
    out = Path(outdir)
    per_image = n if codes is None else len(codes)
    total = len(images) * per_image
    done, used_stems = 0, set()
    start = time.perf_counter()
    for index, item in enumerate(images):
        label = f"image {index}" if isinstance(item, np.ndarray) else str(item)
        yield Progress("export", done, total, f"preparing {label}")
        try:
            stem, path, image = _source(item, index)
            renderer = get_renderer(task, image, settings.upsample)
            cond = predictor.prepare(renderer.xc_model)
            drawn, drawn_noise, drawn_shares = _codes(predictor, cond, n, seed, codes, noise, settings)
            drawn_shares = given_shares if codes is not None else drawn_shares
            own = own_sample(predictor, renderer, cond) if settings.detail else None
        except (PostprocessError, ValueError) as exc:  # tasks and predictor raise ValueError kinds
            # image-file errors already start with the path: "a.txt: a.txt: not a readable image"
            reason = str(exc).removeprefix(f"{label}: ")
            if not skip_bad:
                raise ExportError(f"{label}: {reason}") from exc
            report.failed.append((label, reason))  # (photo, why), the why without the photo again
            done += per_image
            continue
        while stem in used_stems:  # two photos a.jpg and a.png in one folder
            stem += "_"
        used_stems.add(stem)
        for i, code in enumerate(drawn):
            name = f"{stem}_{first_index + i:03d}"
            eps = None if drawn_noise is None else drawn_noise[i]
            layer = render_code(predictor, renderer, cond, code, own, eps)
            files = {"result": name + suffix}
            if task.name == "motion" and settings.extras:
                view = renderer.motion_view(layer, style=settings.arrows)
                result = view.overlay
                for key, picture in (("flowcolor", view.color), ("warped", view.warped)):
                    files[key] = f"{name}_{key}{suffix}"
                    write_image(out / files[key], picture, fmt, settings.jpeg_quality)
                    report.extras.append(out / files[key])
            else:
                result = renderer.picture(layer, settings.arrows)
            write_image(out / files["result"], result, fmt, settings.jpeg_quality)
            sidecar = out / f"{name}.json"
            record = sidecar_record(predictor, settings, path, image, seed, i, code, eps, files, file_number=first_index + i,
                              sample_index=None if origins is None else origins[i], weights=weights,
                              share=None if drawn_shares is None or drawn_shares[i] is None
                              else float(drawn_shares[i]))
            write_text_atomic(sidecar, json.dumps(record, indent=2))
            report.results.append(out / files["result"])
            report.sidecars.append(sidecar)
            done += 1
            elapsed = time.perf_counter() - start
            yield Progress("export", done, total, f"wrote {files['result']}",
                           {"seconds": elapsed, "eta_s": elapsed / done * (total - done)})
        done += per_image - len(drawn)  # distinct results: fewer where fewer draws differ (temperature 0)


def _drain(gen: Iterator[Progress]) -> None:
    for _ in gen:
        pass


def export_results(predictor, image: str | os.PathLike | np.ndarray, n: int, outdir: str | os.PathLike,
                   seed: int = 0, fmt: str = "png", *, codes: np.ndarray | None = None,
                   noise: np.ndarray | None = None, settings: ExportSettings | None = None, first_index: int = 0,
                   sample_indices: Sequence[int] | None = None) -> list[Path]:
    """Write n full-resolution results of one photo (path or uint8 (H, W, 3)); returns their paths.

    ``codes`` / ``noise`` / ``first_index`` / ``sample_indices`` as for ``iter_export``. Raises
    ExportError (one line) for an unreadable photo, a bad format, codes or noise that do not fit
    the model, or an unwritable folder.
    """
    report = ExportReport()
    _drain(iter_export(predictor, [image], n, outdir, seed, fmt, codes=codes, noise=noise, settings=settings,
                       skip_bad=False, report=report, first_index=first_index, sample_indices=sample_indices))
    return report.results


def export_folder(predictor, folder: str | os.PathLike, n: int, outdir: str | os.PathLike, seed: int = 0,
                  fmt: str = "png", *, settings: ExportSettings | None = None,
                  on_progress: Callable[[Progress], None] | None = None, first_index: int = 0) -> ExportReport:
    """Export every photo (and video: its first frame) directly in ``folder``; unreadable ones are
    listed in ``report.failed``.
    ``on_progress`` receives each Progress record (a command's progress bar); ``first_index`` as
    for ``iter_export``."""
    report = ExportReport()
    for record in iter_export(predictor, list_images(folder), n, outdir, seed, fmt, settings=settings, report=report,
                              first_index=first_index):
        if on_progress is not None:
            on_progress(record)
    return report



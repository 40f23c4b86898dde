"""Export full-resolution results with JSON sidecars that reproduce them exactly.

One image: ``export_results``; a folder: ``export_folder``; the Studio's export dialog drives
``iter_export``, a generator of ``Progress`` records (closing it cancels between two results;
every file is written atomically, so a cancel leaves no half file). ``reproduce`` re-renders a
result from its sidecar.

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
import hashlib
import json
import os
import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from .. import __version__
from ..atomic import write_text_atomic
from ..config import is_int, is_number, read_small_text
from ..data.video import at_time, split_time, time_text
from ..distinct import draw_distinct
from ..progress import Progress
from .errors import ExportError, PostprocessError, check_setting
from .imagefiles import IMAGE_SUFFIXES, check_format, list_images, read_image, write_image
from .render import Renderer, get_renderer
from .upsample import UpsampleSettings

SIDECAR_FORMAT = "cdvae-export"
SIDECAR_VERSION = 2  # 2 added "lower_noise"; version 1 sidecars (decoded at the means) still read
READABLE_VERSIONS = (1, 2)


@dataclass
class ExportReport:
    """What an export wrote: result images, sidecars, and (source, reason) for skipped photos."""

    results: list[Path] = field(default_factory=list)
    sidecars: list[Path] = field(default_factory=list)
    extras: list[Path] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class ExportSettings:
    """How results are rendered and written (saved in every sidecar's "settings", but for
    ``distinct_pool``, which is a key of its own)."""

    fmt: str = "png"  # "png", "jpg" or "png16"
    jpeg_quality: int = 95  # JPEG only
    detail: bool = True  # add the detail map of eq. 10 (relighting, resaturation)
    extras: bool = True  # motion: also write the colour-wheel flow and the warped frame
    component: int | None = None  # MDN: draw every code from this mixture component
    temperature: float = 1.0  # spread of drawn codes and noise (Predictor.draw); 1: the model's conditional
    # True: each result is the model's full sample, its lower latent layers drawn from fixed noise;
    # False: lower layers at their conditional means (smoother, shows less of the model's spread)
    lower_layers: bool = True
    # > 0: the n results are the n most distinct of this many draws (cdvae_core.distinct: k-means
    # clusters of the samples, each shown by its most central one, largest share first); 0: the
    # first n draws
    distinct_pool: int = 0
    upsample: UpsampleSettings = field(default_factory=UpsampleSettings)

    def __post_init__(self) -> None:
        from ..distinct import MAX_POOL
        from ..predictor import MAX_TEMPERATURE

        n = "ExportSettings"
        check_format(self.fmt)
        check_setting(is_int(self.jpeg_quality) and 1 <= self.jpeg_quality <= 100, n, "jpeg_quality",
                      self.jpeg_quality, "an int in [1, 100]")
        for name in ("detail", "extras", "lower_layers"):
            check_setting(isinstance(getattr(self, name), bool), n, name, getattr(self, name), "true or false")
        check_setting(self.component is None or (is_int(self.component) and self.component >= 0), n, "component",
                      self.component, "null or an int >= 0")
        check_setting(is_number(self.temperature) and 0 <= self.temperature <= MAX_TEMPERATURE, n, "temperature",
                      self.temperature, f"a number in [0, {MAX_TEMPERATURE}]")
        check_setting(is_int(self.distinct_pool) and 0 <= self.distinct_pool <= MAX_POOL, n, "distinct_pool",
                      self.distinct_pool, f"an int in [0, {MAX_POOL}]")
        check_setting(isinstance(self.upsample, UpsampleSettings), n, "upsample", self.upsample, "an UpsampleSettings")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def result_stem(item: str | os.PathLike | np.ndarray, index: int) -> str:
    """The stem ``iter_export`` names the results of photo ``index`` of a call by: the file's stem,
    ``clip_t2.5s`` for a video's frame at a time (``clip.mp4#t=2.5``), or ``image{index:03d}`` for
    an in-memory photo (a stem already used in the call gets a "_")."""
    if isinstance(item, np.ndarray):
        return f"image{index:03d}"
    path, seconds = split_time(item, strict=False)  # a malformed time: named as given; reading it says why
    return path.stem if seconds is None else f"{path.stem}_t{time_text(seconds)}s"


def existing_results(outdir: str | os.PathLike, stems: Sequence[str]) -> tuple[int, int]:
    """(how many files in ``outdir`` are earlier results of these stems, their highest index):
    ``<stem>_<i:03d>`` with its sidecar and motion extras, any export format; (0, -1) if none.
    Every export of a photo numbers from 000, so a second one into the same folder replaced the
    first one's files: callers number after ``top`` or ask first."""
    folder = Path(outdir)
    if not stems or not folder.is_dir():
        return 0, -1
    pattern = re.compile("^(?:" + "|".join(re.escape(s) for s in set(stems)) +
                         r")_(\d{3,})(?:_flowcolor|_warped)?\.(?:png|jpg|json)$")
    count, top = 0, -1
    for entry in folder.iterdir():
        m = pattern.match(entry.name)
        if m:
            count += 1
            top = max(top, int(m.group(1)))
    return count, top


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


def _own_sample(predictor, renderer: Renderer, cond) -> np.ndarray | None:
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


def pixels_sha256(image: np.ndarray) -> str:
    """sha256 of a decoded photo's RGB bytes (uint8 (H, W, 3)), as sidecars record its source."""
    return hashlib.sha256(np.ascontiguousarray(image).tobytes()).hexdigest()


def weights_sha256(predictor) -> str | None:
    """sha256 of the model's parameters and buffers (state_dict by name: name, dtype, shape, raw
    bytes); None for a predictor without a torch model. Hashing the tensors rather than the
    weights file covers in-memory models and stays equal across re-saves of the same weights."""
    state_dict = getattr(getattr(predictor, "model", None), "state_dict", None)
    if state_dict is None:
        return None
    import torch  # a predictor with a torch model means torch is loaded already

    digest = hashlib.sha256()
    for name, tensor in sorted(state_dict().items()):
        flat = tensor.detach().cpu().contiguous().reshape(-1)
        digest.update(f"{name}|{flat.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(flat.view(torch.uint8).numpy().tobytes())  # raw bytes, any dtype (bfloat16 too)
    return digest.hexdigest()


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


def _sidecar(predictor, settings: ExportSettings, path: str | None, image: np.ndarray, seed: int, index: int,
             code: np.ndarray, noise: np.ndarray | None, files: dict[str, str], *, file_number: int,
             sample_index: int | None, weights: str | None, share: float | None) -> dict[str, Any]:
    return {
        "format": SIDECAR_FORMAT,
        "format_version": SIDECAR_VERSION,
        "library_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "source": {
            "path": path,
            "sha256": pixels_sha256(image),  # of the decoded RGB pixels
            "width": int(image.shape[1]),
            "height": int(image.shape[0]),
        },
        "model": {
            "dir": None if getattr(predictor, "path", None) is None else str(Path(predictor.path).resolve()),
            "name": predictor.name,
            "task": predictor.task,
            "config": predictor.config.to_dict(),
            "weights_sha256": weights,  # reproduce refuses a model whose weights changed since
        },
        "seed": int(seed),
        # the row of this export call's codes (drawn: row of predictor.draw(cond, n, seed); distinct
        # results: the rank of its share); not the file number, which differs when first_index > 0
        "index": int(index),
        "file_number": int(file_number),  # the number in the file names, stem_{file_number:03d}
        "sample_index": sample_index,  # where the caller took the code from (sample_indices=), or null
        # distinct results: how many draws they were chosen from (0: none), and the share of them this
        # result stands for; top-level keys, which older readers ignore (unknown "settings" keys they refuse)
        "distinct_pool": settings.distinct_pool,
        "share": share,
        "code": [float(v) for v in code],  # float32 values, exact as JSON doubles
        # the lower layers' standard-normal noise (noise_dim,) as float32 values; null: at their means
        "lower_noise": None if noise is None else [float(v) for v in noise],
        "settings": {key: value for key, value in settings.to_dict().items() if key != "distinct_pool"},
        "files": files,
    }


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
        own = _own_sample(predictor, renderer, cond) if settings.detail else None
    except (PostprocessError, ValueError) as exc:
        raise ExportError(str(exc)) from exc
    eps_row = None if eps is None or not settings.lower_layers else eps[0]
    return renderer.picture(render_code(predictor, renderer, cond, codes[0], own, eps_row))


def iter_export(predictor, images: Sequence[str | os.PathLike | np.ndarray], n: int, outdir: str | os.PathLike,
                seed: int = 0, fmt: str = "png", *, codes: np.ndarray | None = None,
                noise: np.ndarray | None = None, settings: ExportSettings | None = None,
                skip_bad: bool = True, report: ExportReport | None = None, first_index: int = 0,
                sample_indices: Sequence[int] | None = None) -> Iterator[Progress]:
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
    Close the generator to cancel.
    """
    suffix = check_format(fmt)
    settings = dataclasses.replace(settings or ExportSettings(), fmt=fmt)
    codes, noise = _given(predictor, codes, noise)
    origins = _sample_indices(sample_indices, codes)
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
            drawn, drawn_noise, shares = _codes(predictor, cond, n, seed, codes, noise, settings)
            own = _own_sample(predictor, renderer, cond) if settings.detail else None
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
                view = renderer.motion_view(layer)
                result = view.overlay
                for key, picture in (("flowcolor", view.color), ("warped", view.warped)):
                    files[key] = f"{name}_{key}{suffix}"
                    write_image(out / files[key], picture, fmt, settings.jpeg_quality)
                    report.extras.append(out / files[key])
            else:
                result = renderer.picture(layer)
            write_image(out / files["result"], result, fmt, settings.jpeg_quality)
            sidecar = out / f"{name}.json"
            record = _sidecar(predictor, settings, path, image, seed, i, code, eps, files, file_number=first_index + i,
                              sample_index=None if origins is None else origins[i], weights=weights,
                              share=None if shares is None else float(shares[i]))
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


def read_sidecar(path: str | os.PathLike) -> dict[str, Any]:
    """A sidecar's JSON (format versions 1 and 2); ExportError for anything else."""
    path = Path(path)
    if path.suffix.lower() in IMAGE_SUFFIXES:  # the likeliest slip: the result instead of its sidecar
        raise ExportError(f"{path}: an image, not a sidecar; pass the .json written beside it "
                          f"({path.with_suffix('.json').name})")
    try:
        data = json.loads(read_small_text(path))
    except UnicodeDecodeError:  # a ValueError, but not a JSONDecodeError
        raise ExportError(f"{path}: not a readable sidecar (binary data, not JSON text)") from None
    except OSError as exc:
        raise ExportError(f"{path}: not a readable sidecar ({exc.strerror or exc})") from exc
    except ValueError as exc:  # not JSON, not a regular file (a FIFO would block), too large
        raise ExportError(f"{path}: not a readable sidecar ({exc})") from exc
    if not isinstance(data, dict) or data.get("format") != SIDECAR_FORMAT:
        raise ExportError(f"{path}: not a {SIDECAR_FORMAT} sidecar")
    version = data.get("format_version")
    if type(version) is not int or version not in READABLE_VERSIONS:
        readable = ", ".join(str(v) for v in READABLE_VERSIONS)
        raise ExportError(f"{path}: sidecar version {version!r}, this library reads versions {readable}")
    if version >= 2 and "lower_noise" not in data:
        raise ExportError(f"{path}: a version {version} sidecar needs \"lower_noise\" (a list, or null)")
    # the parts reproducing reads, as they must be (a sidecar edited by hand used to fail with a
    # KeyError, a TypeError or an AttributeError from deep inside)
    for section, fields in (("source", {"path": False, "sha256": True}), ("model", {"dir": False}),
                            ("settings", {}), ("files", None)):
        part = data.get(section)
        if fields is None and part is None:  # "files" only finds the exported original
            continue
        if not isinstance(part, dict):
            raise ExportError(f"{path}: \"{section}\" must be an object, got {json.dumps(part)}")
        for key, required in (fields or {}).items():
            value = part.get(key)
            if not isinstance(value, str) and (required or value is not None):
                rule = "a string" if required else "a string or null"
                raise ExportError(f"{path}: \"{section}.{key}\" must be {rule}, got {json.dumps(value)}")
    return data


def _sidecar_vector(sidecar, data: dict[str, Any], key: str, length: int, what: str) -> np.ndarray:
    """The sidecar's float list ``key`` as float32 (length,), checked against the model."""
    raw = data.get(key)
    if not isinstance(raw, list) or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in raw):
        raise ExportError(f"{sidecar}: \"{key}\" must be a list of numbers")
    arr = np.asarray(raw, dtype=np.float32)
    if len(arr) != length:
        raise ExportError(f"{sidecar}: \"{key}\" has {len(arr)} values, this model's {what} has {length}")
    if not np.all(np.isfinite(arr)):
        raise ExportError(f"{sidecar}: \"{key}\" holds NaN or infinite values")
    return arr


def _check_model(sidecar, data: dict[str, Any], predictor) -> None:
    """ExportError unless ``predictor`` is the model the sidecar was exported with: its recorded
    weights hash (sidecars from before the hash existed: the config keys both sides have)."""
    recorded = data["model"]
    where = getattr(predictor, "path", None) or recorded.get("dir") or "the given model"
    expected = recorded.get("weights_sha256")
    if expected is not None:
        if weights_sha256(predictor) != expected:
            raise ExportError(f"{sidecar}: the model in {where} has changed since the export (its weights differ)")
        return
    config = getattr(predictor, "config", None)
    if not isinstance(recorded.get("config"), dict) or config is None:
        return
    now = json.loads(json.dumps(config.to_dict()))  # tuples as JSON lists, as the sidecar holds them
    for key, value in recorded["config"].items():
        if key in now and now[key] != value:
            raise ExportError(f"{sidecar}: the model in {where} is not the exported one "
                              f"({key} was {value!r}, is {now[key]!r})")


def _settings_of(sidecar, data: dict[str, Any]) -> ExportSettings:
    """The sidecar's ExportSettings; ExportError naming the setting that is unknown, of the wrong
    type or out of range."""
    from ..config import typed_from_dict
    from .segments import SegmentSettings

    raw = dict(data["settings"])
    raw.setdefault("lower_layers", data["format_version"] >= 2)  # version 1 decoded at the means
    try:
        upsample = dict(raw.get("upsample", {})) if isinstance(raw.get("upsample", {}), dict) else None
        segments = upsample.get("segments", {}) if upsample is not None else None
        if upsample is None or not isinstance(segments, dict):
            raise ExportError("upsample and upsample.segments must be objects")
        upsample["segments"] = typed_from_dict(SegmentSettings, segments)
        raw["upsample"] = typed_from_dict(UpsampleSettings, upsample)
        return typed_from_dict(ExportSettings, raw)
    except ValueError as exc:  # ConfigError, PostprocessError
        raise ExportError(f"{sidecar}: \"settings\": {exc}") from None


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
    _check_model(sidecar, data, predictor)
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
    code = _sidecar_vector(sidecar, data, "code", predictor.code_dim, "code")
    noise = None  # version 1 sidecars predate lower_noise: decoded at the means
    if data["format_version"] >= 2 and data["lower_noise"] is not None:
        noise = _sidecar_vector(sidecar, data, "lower_noise", predictor.noise_dim, "lower-layer noise")
    settings = _settings_of(sidecar, data)
    from ..tasks import get_task

    renderer = get_renderer(get_task(predictor.task), image, settings.upsample)
    cond = predictor.prepare(renderer.xc_model)
    own = _own_sample(predictor, renderer, cond) if settings.detail else None
    layer = render_code(predictor, renderer, cond, code, own, noise)
    if renderer.task.name == "motion":
        return renderer.arrows_over_frame(layer)
    return renderer.compose(layer)


OUT_FORMATS = {".png": "png", ".jpg": "jpg", ".jpeg": "jpg"}


def reproduce_file(sidecar: str | os.PathLike, out: str | os.PathLike | None = None, *, overwrite: bool = False,
                   predictor=None, image: np.ndarray | None = None) -> tuple[Path, Path | None]:
    """Re-render a sidecar's result into a file; returns (written file, the exported result it
    should equal, or None when that file is gone).

    ``out`` defaults to ``<sidecar stem>_reproduced.<ext>`` next to the sidecar, in the sidecar's
    format; an ``out`` ending .png or .jpg/.jpeg picks that format (png16 stays png16 as .png).
    An existing file, the exported original included, is only replaced with ``overwrite``.
    Motion: the result picture (arrows over the frame), not the flow-colour and warped extras.
    """
    sidecar = Path(sidecar)
    data = read_sidecar(sidecar)
    settings = _settings_of(sidecar, data)
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
        raise ExportError(f"{target} already exists; --overwrite (overwrite=True) replaces it")
    result = reproduce(sidecar, predictor, image)  # everything is checked before anything is written
    write_image(target, result, fmt, settings.jpeg_quality)
    original = sidecar.parent / str((data.get("files") or {}).get("result", ""))
    return target, (original if original.is_file() else None)


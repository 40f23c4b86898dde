"""The export sidecar: the JSON beside every exported result that reproduces it exactly.

``sidecar_record`` builds one (format ``cdvae-export``, version 2: the code, the lower layers'
noise, the source pixels' and the weights' hashes, the ``ExportSettings``); ``read_sidecar``
checks one as it reads it, and ``check_model``, ``sidecar_vector`` and ``settings_of`` check
its parts against the model it is reproduced with (``reproduce.py``). The format is described
in docs/postprocess.md.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from ..config import is_int, is_number, read_small_text
from .errors import ExportError, check_setting
from .flowviz import ARROW_STYLE, ARROW_STYLES
from .imagefiles import IMAGE_SUFFIXES, check_format
from .upsample import UpsampleSettings

SIDECAR_FORMAT = "cdvae-export"
SIDECAR_VERSION = 2  # 2 added "lower_noise"; version 1 sidecars (decoded at the means) still read
READABLE_VERSIONS = (1, 2)


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
    # motion: how the arrows are drawn (flowviz.ARROW_STYLES); sidecars without it were drawn in style 1
    arrows: int = ARROW_STYLE
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
        check_setting(is_int(self.arrows) and self.arrows in ARROW_STYLES, n, "arrows", self.arrows,
                      f"one of {', '.join(map(str, ARROW_STYLES))}")
        check_setting(isinstance(self.upsample, UpsampleSettings), n, "upsample", self.upsample, "an UpsampleSettings")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


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


def sidecar_record(predictor, settings: ExportSettings, path: str | None, image: np.ndarray, seed: int, index: int,
             code: np.ndarray, noise: np.ndarray | None, files: dict[str, str], *, file_number: int,
             sample_index: int | None, weights: str | None, share: float | None) -> dict[str, Any]:
    """The JSON object written beside result ``index`` of one photo: what reproduces it exactly
    (source pixels' hash, model and weights hash, code (D,), lower-layer noise (noise_dim,) or
    None, settings) and what was written (``files``)."""
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


def sidecar_vector(sidecar, data: dict[str, Any], key: str, length: int, what: str) -> np.ndarray:
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


def check_model(sidecar, data: dict[str, Any], predictor) -> None:
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


def settings_of(sidecar, data: dict[str, Any]) -> ExportSettings:
    """The sidecar's ExportSettings; ExportError naming the setting that is unknown, of the wrong
    type or out of range."""
    from ..config import typed_from_dict
    from .segments import SegmentSettings

    raw = dict(data["settings"])
    raw.setdefault("lower_layers", data["format_version"] >= 2)  # version 1 decoded at the means
    raw.setdefault("arrows", 1)  # exported before arrow styles were recorded
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

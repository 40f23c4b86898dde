"""Saved model directories and training state: JSON and safetensors only, never pickle.

A saved model is a directory (docs/architecture.md, "Saved models"):
  ``config.json``            format, format_version, library_version, model, training, data
  ``weights.safetensors``    the model's ``state_dict``
  ``embedding.safetensors``  optional: lpp_c (N, d), codes_c (N, D), split (N,), labels (N,),
                             index (N,) rows of the pair file, xc_thumbs (N, Cc, 32, 32) float16,
                             tie_drift (N,) and codes_g (N, D) x_g's posterior-mean codes
                             (models with a tie; older files lack them),
                             and the LPP projection as ``lpp.<name>`` arrays
  ``metrics.jsonl``          one JSON object per epoch
  ``checkpoint/state.safetensors``  training state for ``--resume`` (one file, one rename)

Loading never executes code from the directory: ``torch.load`` is never called.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from . import __version__
from .atomic import write_text_atomic, write_with
from .config import ConfigError, ModelConfig, TrainConfig, dumps, is_int, read_small_text
from .model_dirs import CONFIG_FILE, models_inside_text

FORMAT = "cdvae-model"
FORMAT_VERSION = 1
STATE_FORMAT = "cdvae-train-state"
STATE_VERSION = 1
WEIGHTS_FILE = "weights.safetensors"
EMBEDDING_FILE = "embedding.safetensors"
METRICS_FILE = "metrics.jsonl"
STATE_FILE = Path("checkpoint") / "state.safetensors"


class ModelLoadError(ValueError):
    """A saved model directory that cannot be loaded, with a one-line reason."""


class StateLoadError(ValueError):
    """A training checkpoint that cannot be resumed from, with a one-line reason."""


def _is_version(value: Any, expected: int) -> bool:
    """``value`` is the integer ``expected``: JSON ``true`` (== 1 in Python) and ``1.0`` are not."""
    return is_int(value) and value == expected


def format_problem(config: dict[str, Any]) -> str | None:
    """Why a parsed config.json is not one this library reads ("is not a cdvae-model config
    (format ...)", "has format_version ...; this library reads 1"), to follow its path; None if it is."""
    if config.get("format") != FORMAT:
        return f"is not a {FORMAT} config (format {config.get('format')!r})"
    version = config.get("format_version")
    if not _is_version(version, FORMAT_VERSION):
        return f"has format_version {version!r}; this library reads {FORMAT_VERSION}"
    return None


# ----------------------------------------------------------------------------- writing


def tensors_for_save(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Contiguous CPU copies (safetensors refuses views that share storage)."""
    return {k: v.detach().to("cpu").contiguous().clone() for k, v in state.items()}


def write_config(out_dir: Path, model_cfg: ModelConfig, train_cfg: TrainConfig, data: dict[str, Any]) -> None:
    """config.json: the settings ("model", "training") and the run's record (RUN_RECORD_KEYS)."""
    config = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "library_version": __version__,
        "model": model_cfg.to_dict(),
        "training": train_cfg.to_dict(),
        "data": data,
    }
    write_text_atomic(out_dir / CONFIG_FILE, dumps(config) + "\n")


def write_weights(out_dir: Path, state_dict: dict[str, torch.Tensor]) -> None:
    tensors = tensors_for_save(state_dict)
    write_with(out_dir / WEIGHTS_FILE, lambda tmp: save_file(tensors, str(tmp)), suffix=".safetensors")


def write_embedding(out_dir: Path, arrays: dict[str, np.ndarray]) -> None:
    """arrays: lpp_c (N, d), codes_c (N, D), split (N,), labels (N,), index (N,),
    xc_thumbs (N, Cc, 32, 32) float16 and ``lpp.*`` projection arrays."""
    tensors = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in arrays.items()}
    write_with(out_dir / EMBEDDING_FILE, lambda tmp: save_file(tensors, str(tmp)), suffix=".safetensors")


def save_model(
    out_dir: str | os.PathLike,
    model: torch.nn.Module,
    train_cfg: TrainConfig,
    data: dict[str, Any] | None = None,
    embedding: dict[str, np.ndarray] | None = None,
) -> Path:
    """Write config.json, weights.safetensors and (optionally) embedding.safetensors."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_weights(out, model.state_dict())
    if embedding is not None:
        write_embedding(out, embedding)
    write_config(out, model.cfg, train_cfg, data or {})
    return out


# ----------------------------------------------------------------------------- reading


def read_config(path: str | os.PathLike) -> dict[str, Any]:
    """Parse and check ``config.json`` of a saved model directory (ModelLoadError otherwise)."""
    root = Path(path)
    if not root.is_dir():
        raise ModelLoadError(f"{root} is not a model directory")
    cfg_path = root / CONFIG_FILE
    if not cfg_path.is_file():
        raise ModelLoadError(f"{root} has no {CONFIG_FILE}{models_inside_text(root)}")
    try:
        config = json.loads(read_small_text(cfg_path))
    except OSError as exc:
        raise ModelLoadError(f"cannot read {cfg_path} ({exc.strerror or exc})") from exc
    except ValueError as exc:  # not JSON text, or a file too large to be a config
        raise ModelLoadError(f"{cfg_path} is not valid JSON ({exc})") from exc
    problem = format_problem(config) if isinstance(config, dict) else f"is not a {FORMAT} config (format None)"
    if problem:
        raise ModelLoadError(f"{cfg_path} {problem}")
    if not isinstance(config.get("model"), dict):
        raise ModelLoadError(f"{cfg_path} has no 'model' settings")
    return config


def model_config_of(config: dict[str, Any], where: Path) -> ModelConfig:
    try:
        cfg = ModelConfig.from_dict(config["model"])
    except (ConfigError, TypeError) as exc:
        raise ModelLoadError(f"{where / CONFIG_FILE}: bad model settings ({exc})") from exc
    from .tasks import TASK_NAMES, get_task  # not at import: the tasks load OpenCV and scipy

    if cfg.task in TASK_NAMES:
        # an edited task loaded, and every photo was then blamed: "photo.jpg: x_c must have shape (1, 32, 32)"
        task = get_task(cfg.task)
        if (cfg.channels_c, cfg.channels_g) != (task.channels_c, task.channels_g):
            raise ModelLoadError(f"{where / CONFIG_FILE}: task {cfg.task} takes {task.channels_c}+{task.channels_g} "
                                 f"channels (x_c+x_g), the model has {cfg.channels_c}+{cfg.channels_g}")
    return cfg


def read_safetensors(path: Path, error: type[ValueError] = ModelLoadError) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise error(f"{path} is missing")
    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise error(f"{path} is truncated or not a safetensors file ({str(exc).splitlines()[0]})") from exc


def check_state_dict(model: torch.nn.Module, state: dict[str, torch.Tensor], where: Path) -> None:
    """Raise ModelLoadError unless ``state`` has exactly the model's keys and shapes."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    if missing:
        raise ModelLoadError(f"{where} lacks {len(missing)} tensor(s) the config needs, e.g. {missing[0]!r}")
    extra = sorted(set(state) - set(expected))
    if extra:
        raise ModelLoadError(f"{where} holds {len(extra)} tensor(s) the config does not know, e.g. {extra[0]!r}")
    for key, ref in expected.items():
        if tuple(state[key].shape) != tuple(ref.shape):
            raise ModelLoadError(
                f"{where}: {key!r} has shape {tuple(state[key].shape)} but the config gives {tuple(ref.shape)}"
            )


def load_weights_into(model: torch.nn.Module, path: Path) -> None:
    state = read_safetensors(path)
    check_state_dict(model, state, path)
    # NaN or inf weights (a damaged file) would load silently and make every sample NaN
    bad = next((k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()), None)
    if bad is not None:
        raise ModelLoadError(f"{path}: {bad!r} holds NaN or infinite values")
    model.load_state_dict(state)


def load_embedding_arrays(path: str | os.PathLike) -> dict[str, np.ndarray] | None:
    """The arrays of ``embedding.safetensors`` (None when the model has none)."""
    emb_path = Path(path) / EMBEDDING_FILE
    if not emb_path.exists():
        return None
    tensors = read_safetensors(emb_path)
    for key in ("lpp_c", "split"):
        if key not in tensors:
            raise ModelLoadError(f"{emb_path} lacks {key!r}")
    if tensors["split"].dim() != 1:
        raise ModelLoadError(f"{emb_path}: 'split' must be one-dimensional, got shape {tuple(tensors['split'].shape)}")
    n = tensors["split"].shape[0]
    for key, value in tensors.items():
        if key.startswith("lpp."):
            continue
        if value.dim() == 0 or value.shape[0] != n:  # a 0-d tensor has no rows (shape[0] would raise)
            raise ModelLoadError(f"{emb_path}: {key!r} has {value.shape[0] if value.dim() else 0} rows, 'split' has {n}")
    arrays = {k: v.numpy() for k, v in tensors.items()}
    problem = _embedding_problem(arrays)
    if problem:
        raise ModelLoadError(f"{emb_path}: {problem}")
    return arrays


# the arrays of embedding.safetensors with their dimensions and kinds of number: "f" any real
# number, finite; "i" whole numbers (any integer or bool dtype) from the given lowest value up
_EMBEDDING_ARRAYS: dict[str, tuple[int, str, int | None]] = {
    "lpp_c": (2, "f", None), "codes_c": (2, "f", None), "codes_g": (2, "f", None), "xc_thumbs": (4, "f", None),
    "tie_drift": (1, "f", None), "split": (1, "i", 0), "labels": (1, "i", -1), "index": (1, "i", 0),
}


def _embedding_problem(arrays: dict[str, np.ndarray]) -> str:
    """What is wrong with an embedding's arrays, or "". Found by editing them one by one (session
    19): a flattened lpp_c or codes_c, or one of no columns, was an IndexError in the Studio's
    scatter plot, NaN thumbnails a RuntimeWarning, fractional or negative indices and labels were
    cast without a word, and a split of 5 showed a point as neither train nor test."""
    for key, (ndim, kind, lowest) in _EMBEDDING_ARRAYS.items():
        value = arrays.get(key)
        if value is None:
            continue
        if value.ndim != ndim or (ndim > 1 and 0 in value.shape[1:]):
            return f"{key!r} must have {ndim} non-empty dimension(s), got shape {value.shape}"
        if kind == "f":
            if value.dtype.kind not in "iuf" or not np.isfinite(value).all():
                return f"{key!r} must hold finite numbers"
        elif value.dtype.kind not in "biu" or (value.size and value.min() < lowest):
            return f"{key!r} must hold whole numbers from {lowest} up"
    if arrays["split"].size and arrays["split"].max() > 1:
        return "'split' may hold only 0 (train) and 1 (test)"
    if "tie_drift" in arrays and arrays["tie_drift"].size and arrays["tie_drift"].min() < 0:
        return "'tie_drift' must hold distances >= 0"
    return ""


def load_torch_model(path: str | os.PathLike) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Rebuild the model of a saved directory on the CPU in eval mode; returns (model, config)."""
    from .model import build_model  # the model module imports checkpoint helpers lazily too

    root = Path(path)
    config = read_config(root)
    model_cfg = model_config_of(config, root)
    try:
        model = build_model(model_cfg)
    except (ConfigError, ValueError) as exc:
        raise ModelLoadError(f"{root / CONFIG_FILE}: cannot build the model ({exc})") from exc
    if not (root / WEIGHTS_FILE).is_file() and (root / STATE_FILE).is_file():
        # a run stopped before its first save, or still training: "weights.safetensors is missing"
        # said nothing of the checkpoint that can finish it
        raise ModelLoadError(f"{root} is a training run that has not finished (no {WEIGHTS_FILE} yet, only its "
                             f"checkpoint): finish it with cdvae-train --resume, or the Train dialog's Resume")
    load_weights_into(model, root / WEIGHTS_FILE)
    model.eval()
    return model, config


@dataclass(frozen=True)
class TrainEmbedding:
    """The training set as the Studio's LPP scatter plot shows it (rows of ``embedding.safetensors``).

    lpp_c (N, d) LPP coordinates of x_c; codes_c (N, D) posterior-mean codes (None for the CVAE);
    split (N,) 0 train / 1 test; labels (N,) int (-1 unknown); index (N,) rows of the pair file;
    xc_thumbs (N, Cc, 32, 32) float16; lpp the projection for new images' features (or None).
    """

    lpp_c: np.ndarray
    codes_c: np.ndarray | None
    split: np.ndarray
    labels: np.ndarray
    index: np.ndarray
    xc_thumbs: np.ndarray | None
    lpp: Any = None
    tie_drift: np.ndarray | None = None  # (N,) each row's true x_g's tie drift (models with a tie, since 2026-11-26)
    # (N, D) each row's x_g's posterior-mean code (models with a tie, since 2026-11-29): its drift
    # under the other conditional (Predictor.drift_limit)
    codes_g: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.split.shape[0])

    def project(self, features: np.ndarray) -> np.ndarray:
        """Features (M, F) of new images (same kind as the training ones) -> (M, d) coordinates."""
        if self.lpp is None:
            raise ValueError("this embedding has no LPP projection saved")
        return self.lpp.transform(features)

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> "TrainEmbedding":
        from .lpp import LPP, LPPError

        n = len(arrays["split"])
        lpp = None
        if any(k.startswith("lpp.") for k in arrays):
            try:
                lpp = LPP.from_arrays(arrays, prefix="lpp.")
            except LPPError as exc:
                raise ModelLoadError(f"bad LPP arrays ({exc})") from exc
        return cls(
            lpp_c=arrays["lpp_c"].astype(np.float32),
            codes_c=arrays["codes_c"].astype(np.float32) if "codes_c" in arrays else None,
            split=arrays["split"].astype(np.int8),
            labels=arrays["labels"].astype(np.int64) if "labels" in arrays else np.full(n, -1, np.int64),
            index=arrays["index"].astype(np.int64) if "index" in arrays else np.arange(n, dtype=np.int64),
            xc_thumbs=arrays.get("xc_thumbs"),
            lpp=lpp,
            tie_drift=arrays["tie_drift"].astype(np.float32) if "tie_drift" in arrays else None,
            codes_g=arrays["codes_g"].astype(np.float32) if "codes_g" in arrays else None,
        )


def load_model(path: str | os.PathLike):
    """Load a saved model directory as a :class:`cdvae_core.predictor.Predictor` (CPU, eval mode).

    Raises ModelLoadError (one line) for: not a directory, missing or unreadable config, unknown
    format or format_version, missing or truncated weights, shapes disagreeing with the config,
    a malformed embedding file.
    """
    from .predictor import Predictor

    model, _ = load_torch_model(path)
    arrays = load_embedding_arrays(path)
    try:
        embedding = None if arrays is None else TrainEmbedding.from_arrays(arrays)
    except ModelLoadError as exc:
        raise ModelLoadError(f"{Path(path) / EMBEDDING_FILE}: {exc}") from exc
    predictor = Predictor(model, task=model.cfg.task, embedding=embedding, path=str(path))
    if embedding is not None:
        problem = _embedding_mismatch(embedding, predictor)
        if problem:
            raise ModelLoadError(f"{Path(path) / EMBEDDING_FILE}: {problem}")
    return predictor


def _embedding_mismatch(embedding: "TrainEmbedding", predictor) -> str:
    """Where an embedding's arrays disagree with its model (the Studio places the scatter plot's
    samples by their codes and opens the thumbnails as the model's x_c), or ""."""
    cfg = predictor.config
    for name in ("codes_c", "codes_g"):
        codes = getattr(embedding, name)
        if codes is not None and codes.shape[1] != predictor.code_dim:
            return f"{name!r} has {codes.shape[1]} column(s) but the model's code has {predictor.code_dim} components"
    thumbs = embedding.xc_thumbs
    if thumbs is not None and thumbs.shape[1:] != (cfg.channels_c, cfg.image_size, cfg.image_size):
        return (f"'xc_thumbs' must have shape (N, {cfg.channels_c}, {cfg.image_size}, {cfg.image_size}) "
                f"as the model's x_c, got {thumbs.shape}")
    if embedding.lpp is not None and embedding.lpp.dim != embedding.lpp_c.shape[1]:
        return (f"the LPP projection gives {embedding.lpp.dim} coordinates but 'lpp_c' has "
                f"{embedding.lpp_c.shape[1]} column(s)")
    return ""


# ----------------------------------------------------------------------------- training state


@dataclass
class TrainState:
    """What ``--resume`` needs: weights, optimiser, EMA, LPP targets and counters.

    ``epoch`` counts finished epochs; ``meta`` carries configs and the data fingerprint.
    """

    epoch: int
    step: int
    model: dict[str, torch.Tensor]
    optimizer: dict[str, Any]
    ema: dict[str, torch.Tensor] | None
    targets: dict[str, torch.Tensor]
    meta: dict[str, Any]


def save_state(out_dir: str | os.PathLike, state: TrainState) -> None:
    """One safetensors file, replaced in one rename: a kill leaves the previous checkpoint."""
    tensors: dict[str, torch.Tensor] = {}
    tensors.update({f"model.{k}": v for k, v in state.model.items()})
    if state.ema is not None:
        tensors.update({f"ema.{k}": v for k, v in state.ema.items()})
    tensors.update({f"target.{k}": v for k, v in state.targets.items()})
    opt_json: dict[str, Any] = {"param_groups": state.optimizer["param_groups"], "state": {}}
    for idx, slots in state.optimizer["state"].items():
        opt_json["state"][str(idx)] = sorted(slots)
        for name, value in slots.items():
            tensors[f"opt.{idx}.{name}"] = value if torch.is_tensor(value) else torch.tensor(value)
    tensors = tensors_for_save(tensors)
    header = {
        "format": STATE_FORMAT,
        "format_version": STATE_VERSION,
        "epoch": state.epoch,
        "step": state.step,
        "optimizer": opt_json,
        "has_ema": state.ema is not None,
        "meta": state.meta,
    }
    metadata = {"state": json.dumps(header)}
    write_with(Path(out_dir) / STATE_FILE, lambda tmp: save_file(tensors, str(tmp), metadata=metadata), suffix=".safetensors")


def read_state_header(out_dir: str | os.PathLike) -> dict[str, Any] | None:
    """The JSON header of a training checkpoint, or None when there is none."""
    path = Path(out_dir) / STATE_FILE
    if not path.exists():
        return None
    try:
        with safe_open(str(path), framework="pt") as handle:
            raw = (handle.metadata() or {}).get("state")
    except (SafetensorError, OSError, ValueError) as exc:
        raise StateLoadError(f"{path} is truncated or not a training checkpoint ({exc})") from exc
    try:
        header = json.loads(raw) if raw else None
    except json.JSONDecodeError as exc:
        raise StateLoadError(f"{path} has an unreadable header ({exc})") from exc
    if not isinstance(header, dict) or header.get("format") != STATE_FORMAT:
        raise StateLoadError(f"{path} is not a {STATE_FORMAT} file")
    if not _is_version(header.get("format_version"), STATE_VERSION):
        raise StateLoadError(f"{path} has format_version {header.get('format_version')!r}; this library reads {STATE_VERSION}")
    return header


def load_state(out_dir: str | os.PathLike) -> TrainState | None:
    """Read ``checkpoint/state.safetensors`` back (None when absent)."""
    header = read_state_header(out_dir)
    if header is None:
        return None
    tensors = read_safetensors(Path(out_dir) / STATE_FILE, error=StateLoadError)

    def group(prefix: str) -> dict[str, torch.Tensor]:
        return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}

    # a header or tensor set that lost a part would otherwise end --resume in a KeyError traceback
    path = Path(out_dir) / STATE_FILE
    try:
        opt_json = header["optimizer"]
        opt_state: dict[int, dict[str, torch.Tensor]] = {}
        for idx, names in opt_json["state"].items():
            opt_state[int(idx)] = {name: tensors[f"opt.{idx}.{name}"] for name in names}
        state = TrainState(
            epoch=int(header["epoch"]),
            step=int(header["step"]),
            model=group("model."),
            optimizer={"state": opt_state, "param_groups": list(opt_json["param_groups"])},
            ema=group("ema.") if header.get("has_ema") else None,
            targets=group("target."),
            meta=header["meta"],
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise StateLoadError(f"{path} is incomplete or damaged (missing or malformed {exc})") from exc
    if not isinstance(state.meta, dict):
        raise StateLoadError(f"{path} is incomplete or damaged (its 'meta' is not an object)")
    # counters as whole numbers in range (an edited -1 epoch failed in range(), a 2^70 step overflowed)
    for name, value in (("epoch", header["epoch"]), ("step", header["step"]),
                        ("meta.spike_run", state.meta.get("spike_run", 0)),
                        ("meta.skip_streak", state.meta.get("skip_streak", 0))):
        if type(value) is not int or not 0 <= value < 2**53:
            raise StateLoadError(f"{path} is incomplete or damaged ({name} must be a whole number >= 0, "
                                 f"got {json.dumps(value)})")
    start = state.meta.get("skip_streak_start")
    if start is not None and (type(start) is not int or not 0 <= start < 2**53):
        raise StateLoadError(f"{path} is incomplete or damaged (meta.skip_streak_start must be a whole number "
                             f">= 0 or null, got {json.dumps(start)})")
    finite = state.meta.get("skip_streak_finite", True)
    if type(finite) is not bool:  # bool("false") is True: an edited string changed the stop message
        raise StateLoadError(f"{path} is incomplete or damaged (meta.skip_streak_finite must be true or false, "
                             f"got {json.dumps(finite)})")
    return state

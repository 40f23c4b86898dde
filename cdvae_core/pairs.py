"""Pair files: the one on-disk format every task, dataset and generator writes.

A pair file is an ``.npz`` holding
  ``xc``    float32 (N, Cc, 32, 32)   conditioning layer
  ``xg``    float32 (N, Cg, 32, 32)   generated layer
  ``fc``    float32 (N, Dc)           optional guidance features of x_c
  ``fg``    float32 (N, Dg)           optional guidance features of x_g
  ``split`` int8    (N,)              optional, 0 = train, 1 = test
  ``meta``  str                       optional JSON: task, value ranges, source, skipped items
Loading never unpickles (``allow_pickle=False``).
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from .atomic import write_with
from .config import is_int

TRAIN, TEST = 0, 1
REQUIRED_KEYS = ("xc", "xg")


class PairFileError(ValueError):
    """A pair file that cannot be used, with a one-line reason."""


@dataclass(frozen=True)
class PairSet:
    """Paired layers in memory. Shapes as in the module docstring."""

    xc: np.ndarray
    xg: np.ndarray
    split: np.ndarray
    fc: np.ndarray | None = None
    fg: np.ndarray | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        validate(self.xc, self.xg, self.split, self.fc, self.fg)

    def __len__(self) -> int:
        return int(self.xc.shape[0])

    @property
    def task(self) -> str:
        return str(self.meta.get("task", "unknown"))

    @property
    def channels(self) -> tuple[int, int]:
        return int(self.xc.shape[1]), int(self.xg.shape[1])

    def subset(self, index: np.ndarray) -> "PairSet":
        labels = self.meta.get("labels")
        meta = self.meta
        if isinstance(labels, list) and len(labels) == len(self):  # one per pair: they follow the pairs
            meta = {**meta, "labels": [labels[i] for i in np.arange(len(self))[index].tolist()]}  # any index numpy takes
        return replace(
            self,
            xc=self.xc[index],
            xg=self.xg[index],
            split=self.split[index],
            fc=None if self.fc is None else self.fc[index],
            fg=None if self.fg is None else self.fg[index],
            meta=meta,
        )

    def fit_problem(self, task: str, channels: tuple[int, int] | None = None) -> str:
        """Why these pairs cannot train or be sampled by a model of ``task`` with ``channels``
        (x_c, x_g; None: any the task takes), or "": a file made for another task (said first:
        channel counts mean little to a user, and two tasks could share them), other channels,
        or layers that are not the task's (``tasks.layers_problem``: a file of 0-255 values
        trained a model that failed on every photo, and gave best errors of 1e39)."""
        from .tasks import layers_problem  # here: the tasks pull in OpenCV, which reading a pair file does not need

        file_task = self.meta.get("task")
        if file_task and file_task != task:
            return f"the pair file was made for {file_task}, not {task}"
        if channels is not None and self.channels != tuple(channels):
            return (f"the pairs have {self.channels[0]}+{self.channels[1]} channels (x_c+x_g) but the model "
                    f"expects {channels[0]}+{channels[1]}")
        problem = layers_problem(task, self.xc, self.xg)
        return f"these pairs do not fit {task}: {problem}" if problem else ""

    def train(self) -> "PairSet":
        return self.subset(np.flatnonzero(self.split == TRAIN))

    def test(self) -> "PairSet":
        return self.subset(np.flatnonzero(self.split == TEST))


def validate(xc, xg, split, fc=None, fg=None) -> None:
    """Raise PairFileError unless the arrays form a well-shaped, finite pair set."""
    for name, arr in (("xc", xc), ("xg", xg)):
        if arr.ndim != 4 or arr.shape[2:] != (32, 32):
            raise PairFileError(f"'{name}' must have shape (N, C, 32, 32), got {tuple(arr.shape)}")
        if arr.dtype != np.float32:
            raise PairFileError(f"'{name}' must be float32, got {arr.dtype}")
        if not np.isfinite(arr).all():
            bad = int((~np.isfinite(arr)).reshape(arr.shape[0], -1).any(1).sum())
            raise PairFileError(f"'{name}' has NaN or infinite values in {bad} pair(s)")
    n = xc.shape[0]
    if n == 0:
        raise PairFileError("the pair file holds no pairs")
    if xg.shape[0] != n:
        raise PairFileError(f"'xc' has {n} pairs but 'xg' has {xg.shape[0]}")
    if split.shape != (n,):
        raise PairFileError(f"'split' must have shape ({n},), got {tuple(split.shape)}")
    if not np.isin(split, (TRAIN, TEST)).all():
        raise PairFileError("'split' may hold only 0 (train) and 1 (test)")
    for name, arr in (("fc", fc), ("fg", fg)):
        if arr is None:
            continue
        if arr.ndim != 2 or arr.shape[0] != n:
            raise PairFileError(f"'{name}' must have shape ({n}, D), got {tuple(arr.shape)}")
        if arr.dtype.kind not in "biuf":  # strings or objects: np.isfinite below would raise TypeError
            raise PairFileError(f"'{name}' must hold real numbers, got {arr.dtype}")
        if not np.isfinite(arr).all():
            raise PairFileError(f"'{name}' has NaN or infinite values")


def _meta_problem(meta: dict[str, Any], n: int) -> str:
    """What is wrong with the meta keys the library reads, or "": "task" a string (or null) and
    "labels" one whole number >= -1 per pair (-1: unknown). Found by editing them: a list as the
    task was a TypeError, and labels that were not whole numbers a ValueError after the whole
    training run, when its embedding was written."""
    task = meta.get("task")
    if task is not None and not isinstance(task, str):
        return f"\"task\" must be a string, got {json.dumps(task)}"
    labels = meta.get("labels")
    if labels is None:
        return ""
    if not isinstance(labels, list) or len(labels) != n:
        size = f"a list of {len(labels)}" if isinstance(labels, list) else json.dumps(labels)[:40]
        return f"\"labels\" must be a list of one label per pair ({n}), got {size}"
    if not all(is_int(v) and -1 <= v < 2**31 for v in labels):
        return "\"labels\" must hold whole numbers from -1 (unknown) up"
    return ""


def load_pairs(path: str | Path, require_test: bool = False) -> PairSet:
    """Read and check a pair file; every problem is a PairFileError with a one-line reason."""
    path = Path(path)
    if not path.is_file():
        raise PairFileError(f"no pair file at {path}")
    if not zipfile.is_zipfile(path):  # else np.load reads it as a pickle and suggests allow_pickle=True
        raise PairFileError(f"{path} is not a readable .npz pair file (not a zip archive: truncated or another format)")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise PairFileError(f"{path} is not a readable .npz pair file ({exc})") from exc
    missing = [key for key in REQUIRED_KEYS if key not in arrays]
    if missing:
        raise PairFileError(f"{path} lacks the key(s) {', '.join(missing)}")
    n = arrays["xc"].shape[0] if arrays["xc"].ndim else 0
    split = arrays.get("split")
    if split is not None and not np.isin(split, (TRAIN, TEST)).all():  # before the int8 cast wraps 256 to 0
        raise PairFileError(f"{path}: 'split' may hold only 0 (train) and 1 (test)")
    split = np.zeros(n, np.int8) if split is None else split.astype(np.int8)
    meta: dict[str, Any] = {}
    if "meta" in arrays:
        try:
            meta = json.loads(str(arrays["meta"]))
        except json.JSONDecodeError as exc:
            raise PairFileError(f"{path}: 'meta' is not valid JSON ({exc})") from exc
        if not isinstance(meta, dict):
            raise PairFileError(f"{path}: 'meta' must be a JSON object")
        problem = _meta_problem(meta, n)
        if problem:
            raise PairFileError(f"{path}: 'meta' {problem}")
    try:
        pairs = PairSet(
            xc=arrays["xc"],
            xg=arrays["xg"],
            split=split,
            fc=arrays.get("fc"),
            fg=arrays.get("fg"),
            meta=meta,
        )
    except PairFileError as exc:
        raise PairFileError(f"{path}: {exc}") from exc
    if require_test and not (pairs.split == TEST).any():
        raise PairFileError(f"{path} has no test split (no pair with split == 1)")
    return pairs


def save_pairs(path: str | Path, pairs: PairSet) -> None:
    """Write a pair file atomically (float32 layers, int8 split, JSON meta)."""
    arrays: dict[str, np.ndarray] = {
        "xc": np.ascontiguousarray(pairs.xc, np.float32),
        "xg": np.ascontiguousarray(pairs.xg, np.float32),
        "split": pairs.split.astype(np.int8),
        "meta": np.array(json.dumps(pairs.meta)),
    }
    if pairs.fc is not None:
        arrays["fc"] = pairs.fc.astype(np.float32)
    if pairs.fg is not None:
        arrays["fg"] = pairs.fg.astype(np.float32)
    write_with(path, lambda tmp: np.savez_compressed(tmp, **arrays), suffix=".npz")

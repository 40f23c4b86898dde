"""Which models exist for each task: built-in, trained in the app, opened from disk, and the
nearest-neighbour baseline where a pair file is at hand. Qt-free; loading happens in a worker.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from cdvae_core.assets import assets_dir
from cdvae_core.config import ModelConfig, read_small_text
from cdvae_core.model_dirs import CONFIG_FILE, models_inside_text

import os

# CDVAE_STUDIO_ASSETS points the Studio at another assets folder (tests, site installs); else the
# checkout's assets/, or the copy a regular install made (cdvae_core.assets)
ASSETS = Path(os.environ.get("CDVAE_STUDIO_ASSETS") or assets_dir())
TASKS = ("relighting", "resaturation", "motion")
# the tie the paper shows for each task's qualitative results (supplementary 9.4)
PREFERRED = {"relighting": "MDN K=4", "resaturation": "MDN K=12", "motion": "Gauss"}
ORDER = ("Gauss", "MDN K=4", "MDN K=12", "Shallow", "CVAE", "Nearest neighbour")
KIND_LABEL = {"builtin": "built-in", "trained": "trained here", "opened": "opened", "nearest": "baseline"}


class CatalogError(ValueError):
    """A model directory or pair file the Studio cannot offer, with a one-line reason."""


@dataclass(frozen=True)
class ModelEntry:
    """One choice in tieCombo. ``key`` is unique and stable (it keys caches and sessions)."""

    key: str
    task: str
    name: str  # the tie's display name: "Gauss", "MDN K=4", ...
    kind: str  # "builtin", "trained", "opened" or "nearest"
    path: Path

    @property
    def label(self) -> str:
        where = KIND_LABEL[self.kind]
        extra = "" if self.kind == "builtin" else f" · {self.path.name}"
        return f"{self.name} ({where}{extra})"


def is_pair_file(path: str | Path) -> bool:
    """Whether ``path`` names a pair file (the nearest-neighbour baseline) rather than a model folder."""
    return str(path).endswith(".npz")


def read_model_header(path: str | Path) -> tuple[str, str]:
    """(task, display name) of a saved model dir from its config.json, without loading weights."""
    path = Path(path)
    cfg_file = path / CONFIG_FILE
    try:
        found = cfg_file.is_file()
    except OSError as exc:  # a name too long for the file system: was a traceback in the GUI thread
        raise CatalogError(f"{path} cannot be opened ({exc.strerror or exc})") from None
    if not found:
        raise CatalogError(f"{path} is not a saved model (no {CONFIG_FILE}){models_inside_text(path, 'open')}")
    try:
        data = json.loads(read_small_text(cfg_file))
        cfg = ModelConfig.from_dict(data["model"])
    except (OSError, json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise CatalogError(f"{path.name}: unreadable model config ({exc})") from exc
    return cfg.task, cfg.display_name


def read_pairs_task(path: str | Path) -> str:
    """The task a pair file was made for, from its meta (loads only the small meta array)."""
    import numpy as np

    try:
        if Path(path).exists() and not Path(path).is_file():  # a FIFO named .npz blocked the window in np.load
            raise ValueError("not a regular file")
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"])) if "meta" in data.files else {}
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the same user-facing problem
        raise CatalogError(f"{Path(path).name} is not a readable pair file ({exc})") from exc
    task = meta.get("task") if isinstance(meta, dict) else None
    if task not in TASKS:
        raise CatalogError(f"{Path(path).name}: its meta names no known task")
    return str(task)


def _samples_with(predictor: Any, conditional: str | None) -> bool:
    """True when ``predictor`` itself serves ``conditional``: None (its own), the one it samples
    with, or any for a model without a tie (which has none to choose)."""
    return conditional is None or not getattr(predictor, "has_tie", False) \
        or conditional == predictor.config.tie_conditional


class ModelCatalog:
    """Models by task. ``load`` is thread-safe and caches one Predictor per entry key, and one per
    other sampling conditional asked of it (``Predictor.with_conditional``)."""

    def __init__(self, assets: Path = ASSETS, loader: Callable[[Path], Any] | None = None) -> None:
        self.assets = Path(assets)
        self._extra: list[ModelEntry] = []
        self._loader = loader
        self._loaded: dict[str, Any] = {}
        self._variants: dict[tuple[str, str], Any] = {}  # (entry key, conditional): another conditional's
        self._lock = threading.Lock()
        self.problems: list[str] = []

    # discovery -----------------------------------------------------------------------------
    def builtin(self, task: str) -> list[ModelEntry]:
        root = self.assets / "models" / task
        out = []
        if root.is_dir():
            for sub in sorted(p for p in root.iterdir() if p.is_dir()):
                try:
                    t, name = read_model_header(sub)
                except CatalogError as exc:
                    self.problems.append(str(exc))
                    continue
                out.append(ModelEntry(f"builtin:{task}/{sub.name}", t, name, "builtin", sub))
        pairs_root = self.assets / "pairs"
        if pairs_root.is_dir() and self._nearest_available():
            for pf in sorted(pairs_root.glob(f"{task}*.npz")):
                out.append(ModelEntry(f"nearest:{pf.resolve()}", task, "Nearest neighbour", "nearest", pf))
        return out

    def entries(self, task: str) -> list[ModelEntry]:
        """Built-in first in the paper's order, then models trained or opened in this session."""
        rank = {name: i for i, name in enumerate(ORDER)}
        built = sorted(self.builtin(task), key=lambda e: (rank.get(e.name, 99), e.key))
        return built + [e for e in self._extra if e.task == task]

    def default(self, task: str) -> ModelEntry | None:
        entries = self.entries(task)
        for e in entries:
            if e.name == PREFERRED.get(task) and e.kind != "nearest":
                return e
        models = [e for e in entries if e.kind != "nearest"]
        return (models or entries or [None])[0]

    def find(self, key: str) -> ModelEntry | None:
        for task in TASKS:
            for e in self.entries(task):
                if e.key == key:
                    return e
        return None

    def offer_key(self, key: str) -> ModelEntry | None:
        """The entry a saved key names (sessions, the model remembered per task): found among
        those offered, or, for a model opened from its folder or pair file in an earlier run
        ("path:DIR", "nearest:FILE"), offered again from there. None for any other key not found
        (a built-in model no longer shipped); CatalogError or ValueError (one line) when the
        folder or file is gone or holds no model."""
        entry = self.find(key)
        if entry is not None:
            return entry
        kind, _, where = key.partition(":")
        if kind == "path" and where:
            return self.add_model_dir(where)
        if kind == "nearest" and where:
            return self.add_pair_file(where)
        return None

    def add_model_dir(self, path: str | Path, kind: str = "opened") -> ModelEntry:
        """Offer a saved model directory (trained in the app or opened from disk)."""
        path = Path(path).resolve()
        task, name = read_model_header(path)
        if task not in TASKS:
            from cdvae_core.tasks import NO_PHOTO_TASK, NO_PHOTO_TEXT

            raise CatalogError(f"{path.name}: " + (NO_PHOTO_TEXT if task == NO_PHOTO_TASK else f"unknown task {task!r}"))
        entry = ModelEntry(f"path:{path}", task, name, kind, path)
        self._extra = [e for e in self._extra if e.key != entry.key] + [entry]
        self._forget(entry.key)  # a retrained dir must be reloaded
        return entry

    def add_pair_file(self, path: str | Path) -> ModelEntry:
        """Offer the nearest-neighbour baseline over a pair file."""
        if not self._nearest_available():
            raise CatalogError("the nearest-neighbour baseline is not available in this library build")
        path = Path(path).resolve()
        task = read_pairs_task(path)
        entry = ModelEntry(f"nearest:{path}", task, "Nearest neighbour", "nearest", path)
        self._extra = [e for e in self._extra if e.key != entry.key] + [entry]
        return entry

    # loading ---------------------------------------------------------------------------------
    @staticmethod
    def _nearest_available() -> bool:
        try:
            from cdvae_core.nearest import NearestNeighbour  # noqa: F401
        except ImportError:
            return False
        return True

    def load(self, entry: ModelEntry, conditional: str | None = None) -> Any:
        """The Predictor for an entry (cached), sampling with ``conditional`` ("exact" or "paper";
        None: the one its config names; a model without a tie has none and ignores it). Raises
        the library's errors (ValueErrors)."""
        with self._lock:
            predictor = self._loaded.get(entry.key)
        if predictor is None:
            predictor = self._read(entry)
            with self._lock:
                predictor = self._loaded.setdefault(entry.key, predictor)
        if _samples_with(predictor, conditional):
            return predictor
        with self._lock:
            variant = self._variants.get((entry.key, conditional))
        if variant is None:
            variant = predictor.with_conditional(conditional)
            with self._lock:
                variant = self._variants.setdefault((entry.key, conditional), variant)
        return variant

    def _read(self, entry: ModelEntry) -> Any:
        if self._loader is not None:
            return self._loader(entry.path)
        if entry.kind == "nearest":
            from .nearest_adapter import load_nearest

            return load_nearest(entry.path, entry.task)
        from cdvae_core.checkpoint import load_model

        return load_model(entry.path)

    def _forget(self, key: str) -> None:
        with self._lock:
            self._loaded.pop(key, None)
            for variant in [k for k in self._variants if k[0] == key]:
                del self._variants[variant]

    def cached(self, key: str, conditional: str | None = None) -> Any:
        """The already-loaded predictor of an entry key (sampling with ``conditional``, as
        ``load``), or None (never loads: GUI-thread safe)."""
        with self._lock:
            predictor = self._loaded.get(key)
            if predictor is None or _samples_with(predictor, conditional):
                return predictor
            return self._variants.get((key, conditional))

    def put(self, entry: ModelEntry, predictor: Any) -> None:
        """Register an already-built predictor (tests, models trained in this process)."""
        self._forget(entry.key)
        with self._lock:
            self._loaded[entry.key] = predictor
        if entry.kind != "builtin" and all(e.key != entry.key for e in self._extra):
            self._extra.append(entry)

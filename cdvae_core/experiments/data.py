"""The pair files of the results command: built-in (or user) data per task, cached in the work dir."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

from ..data.prepare import SourceSpec, prepare_pairs
from ..pairs import PairFileError, PairSet, load_pairs, save_pairs
from ..progress import Progress
from ..synthetic import make_mode_pairs
from .suite import SuiteSettings

SYNTHETIC_DETAIL = 1.0  # docs/embedding_and_metrics.md: with detail 0 a neighbour's x_g *is* a true mode


def source_label(spec: SourceSpec) -> str:
    """A short, stable name of a source spec for cache keys and the report."""
    if isinstance(spec, str):
        return spec
    if isinstance(spec, tuple):
        return f"{spec[0]}:" + ",".join(str(Path(str(a)).name) for a in spec[1:])
    return str(spec)


def cache_path(work: Path, task: str, spec: SourceSpec, settings: SuiteSettings) -> Path:
    tag = "".join(c if c.isalnum() else "-" for c in source_label(spec))
    return work / "pairs" / f"{task}_{tag}_{settings.pairs_for(task)}_seed{settings.seed}.npz"


def task_pairs(work: Path, task: str, spec: SourceSpec, settings: SuiteSettings) -> Iterator[Progress]:
    """Yield Progress while building (or reading back) the task's pair file; returns the PairSet.

    The file is cached under ``work/pairs`` keyed by task, source, size and seed; a cached file
    that cannot be read, or whose meta names another task, is rebuilt.
    """
    path = cache_path(work, task, spec, settings)
    if path.exists():
        try:
            pairs = load_pairs(path, require_test=True)
            made_for = pairs.meta.get("task")
            if made_for == task:
                yield Progress("data", 1, 1, f"{task}: {len(pairs)} cached pairs from {path}")
                return pairs
            # another task's file under this name (copied over, renamed): its models would be
            # trained and scored as this task's
            yield Progress("data", 0, 1, f"{task}: the cached {path.name} was made for {made_for!r}; making it again")
        except PairFileError:
            pass  # a broken cache file: make it again
    gen = prepare_pairs(spec, task, limit=settings.pairs_for(task), seed=settings.seed, workers=settings.workers)
    while True:
        try:
            pr = next(gen)
        except StopIteration as stop:
            pairs = stop.value
            break
        yield Progress("data", pr.done, pr.total, f"{task}: {pr.message}", pr.values)
    save_pairs(path, pairs)
    return pairs


def synthetic_pairs(settings: SuiteSettings) -> PairSet:
    """The known-mode synthetic set: 2 classes x 4 modes, detail 1, 20% test (seeded)."""
    return make_mode_pairs(settings.synthetic_pairs, modes=4, test_fraction=0.2, seed=settings.seed,
                           classes=2, detail=SYNTHETIC_DETAIL)


def data_summary(pairs: PairSet) -> dict:
    """What the report says about a pair file: source, counts, split method."""
    meta = pairs.meta
    source = meta.get("source", {})
    return {
        "task": pairs.task,
        "pairs": len(pairs),
        "train": int((pairs.split == 0).sum()),
        "test": int((pairs.split == 1).sum()),
        "source": source.get("kind", source) if isinstance(source, dict) else source,
        "generator": source.get("generator") if isinstance(source, dict) else None,
        "split_method": meta.get("split_method"),
    }


__all__ = ["task_pairs", "synthetic_pairs", "data_summary", "cache_path", "source_label"]

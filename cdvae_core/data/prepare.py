"""The prepare pipeline: a source and a task in, a PairSet out, as a generator of Progress.

    gen = prepare_pairs("builtin", "relighting", limit=2000, workers=2)
    pairs = run(gen)                      # or: for progress in gen: ...; StopIteration.value
    save_pairs("pairs.npz", pairs)

``prepare_pairs`` yields ``Progress`` records (stages "scan", "prepare", "features", "done")
and *returns* the PairSet (the generator's return value). Closing the generator (``gen.close()``)
stops the run between items and shuts the worker processes down. Bad items are skipped and
counted in ``meta["skipped"]``; a run with nothing usable raises DataError.

Sources: ``"builtin"``; ``("coco", IMAGES_DIR, ANNOTATIONS)``; ``("ucf101", VIDEOS_DIR,
SPLITS_DIR[, SPLIT])``; ``("folder", DIR)`` or a directory path; or a ready ``Source``.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
import os
import time
import warnings
from collections.abc import Generator, Iterator
from typing import Any

import numpy as np

from .. import __version__
from ..pairs import TEST, TRAIN, PairSet
from ..progress import Progress, drive
from ..tasks import MODEL_SIZE, get_task
from ..tasks.flow import FLOW_WORK_SIZE
from .coco import coco_source
from .errors import DataError, SkipLog
from .features import FeatureSettings, annotation_features, feature_parts, guidance_features, label_distribution
from .folders import builtin_source, folder_source
from .items import ClipItem, CropItem, ImageItem, Item, ItemResult, VideoItem, init_worker, process
from .source import Source
from .ucf101 import ucf101_source

SourceSpec = str | os.PathLike | tuple | Source


def open_source(spec: SourceSpec, motion: bool, limit: int | None = None, seed: int = 0,
                test_fraction: float = 0.1) -> Source:
    """Turn a source spec (see module doc) into a Source; DataError for anything unusable."""
    if isinstance(spec, Source):
        return spec
    if isinstance(spec, str) and spec == "builtin":
        return builtin_source(motion, count=limit, seed=seed, test_fraction=test_fraction)
    if isinstance(spec, (str, os.PathLike)):
        return folder_source(spec, motion)
    if isinstance(spec, tuple) and spec:
        kind, args = spec[0], spec[1:]
        if kind == "builtin" and not args:
            return builtin_source(motion, count=limit, seed=seed, test_fraction=test_fraction)
        if kind == "coco" and len(args) == 2:
            if motion:  # each of its photos would be read, only to be skipped: 80,000 of them
                raise DataError("MS-COCO holds photos, and a motion pair is two frames of a video: "
                                "train motion on UCF101, a folder of videos or the built-in clips")
            return coco_source(*args)
        if kind == "ucf101" and len(args) in (2, 3):
            return ucf101_source(*args)
        if kind in ("folder", "videos") and len(args) == 1:
            return folder_source(args[0], motion)
    raise DataError(f"unknown data source {spec!r}")


def limit_items(items: list[Item], limit: int | None, rng: np.random.Generator) -> list[Item]:
    """A seeded random subset of at most ``limit`` items in source order, keeping both splits
    when the source has them."""
    if limit is None or limit >= len(items):
        return items
    if limit < 1:
        raise DataError("--limit must be at least 1")
    order = rng.permutation(len(items))
    chosen = set(order[:limit].tolist())
    for wanted in (TEST, TRAIN):  # make sure a fixed split survives the cut
        has = any(items[i].split == wanted for i in chosen)
        spare = [i for i in order if items[i].split == wanted]
        if not has and spare and limit >= 2:
            drop = next(i for i in order[:limit][::-1] if i in chosen and items[i].split != wanted)
            chosen.discard(drop)
            chosen.add(spare[0])
    return [items[i] for i in sorted(chosen)]


def _results(items: list[Item], task: str, workers: int) -> Iterator[ItemResult]:
    """Results in item order, from this process or from spawned worker processes.

    If the worker pool cannot start or breaks (a crashed decoder, a host that forbids it), the
    remaining items are processed here: a broken pool never loses the run.
    """
    jobs = [(i, item, task) for i, item in enumerate(items)]
    done = 0
    if workers > 1 and len(items) >= 4:
        # spawn, not fork: the caller may be a GUI with threads, where fork can deadlock.
        ctx = multiprocessing.get_context("spawn")
        chunk = max(1, min(32, len(items) // (workers * 8)))
        executor = None
        try:
            executor = ProcessPoolExecutor(workers, mp_context=ctx, initializer=init_worker)
            for result in executor.map(process, jobs, chunksize=chunk):
                done += 1
                yield result
        except (BrokenProcessPool, OSError) as exc:
            # fall through to in-process work for what is left, saying why it is slower now
            warnings.warn(f"the worker processes stopped ({type(exc).__name__}: {exc}); the remaining "
                          f"{len(jobs) - done} of {len(jobs)} items are processed in this process, one at a time",
                          RuntimeWarning, stacklevel=2)
        finally:
            if executor is not None:
                executor.shutdown(wait=False, cancel_futures=True)
    for job in jobs[done:]:
        yield process(job)


def _item_label(item: Item) -> int:
    if isinstance(item, (CropItem, ClipItem)):
        return item.photo
    if isinstance(item, VideoItem):
        return item.label
    if isinstance(item, ImageItem) and len(item.boxes):
        return int(np.argmax(label_distribution(item.boxes, int(item.boxes[:, 0].max()) + 1)))
    return -1


def assign_split(owners: np.ndarray, own: np.ndarray | None, fraction: float, rng: np.random.Generator,
                 groups: np.ndarray | None = None, why: str = "") -> tuple[np.ndarray, str]:
    """Split per pair: the source's own when it has both parts, else a seeded share of items, or
    of groups of items when ``groups`` says which items belong together (UCF101's class + gXX).

    owners (N,) item index of each pair; own (N,) the source's split or None; groups (N,) a group
    number per pair, the smallest item index of the group (an item of no group: its own index,
    so that a source without groups draws exactly as before); ``why`` the source's split was
    unusable, for the method's text.
    """
    if own is not None and (own == TRAIN).any() and (own == TEST).any():
        return own.astype(np.int8), "source"
    split = np.zeros(len(owners), np.int8)
    units, kind = owners, ""
    if groups is not None and len(np.unique(groups)) < len(np.unique(owners)):  # some group holds 2+ items
        units, kind = groups, " of groups"
        if len(np.unique(groups)) < 2:  # one group: its items are all there is to split
            units, kind = owners, " of items (all in one group)"
    unique = np.unique(units)
    if len(unique) >= 2:
        n_test = min(len(unique) - 1, max(1, int(round(fraction * len(unique)))))
        test_units = rng.choice(unique, n_test, replace=False)
        split[np.isin(units, test_units)] = TEST
    else:  # one item with several pairs (a single video): split its pairs instead
        n_test = min(len(owners) - 1, max(1, int(round(fraction * len(owners)))))
        split[rng.choice(len(owners), n_test, replace=False)] = TEST
        kind = " of pairs (one item)" if own is not None else ""
    method = f"seeded fraction{kind}"
    if own is not None:
        method += f", as the source's split was unusable: {why or 'a part of it was empty'}"
    return split, method


def _groups(items: list[Item], owner: np.ndarray) -> np.ndarray | None:
    """(N,) group number of each pair's item (the smallest item index in its group), or None when
    no item names a group."""
    first: dict[str, int] = {}
    number = []
    for i, item in enumerate(items):
        key = getattr(item, "group", "")
        number.append(first.setdefault(key, i) if key else i)
    return np.asarray(number, np.int64)[owner] if first else None


def _unusable_part(src: Source, items: list[Item], used: set[int], limit: int | None) -> str:
    """Why the source's own split cannot be kept: which part has no usable item, and what became of it."""
    noun = "video" if src.kind == "ucf101" else "item"
    for side, label in ((TEST, "test"), (TRAIN, "train")):
        if any(items[i].split == side for i in used):
            continue
        where, listed = (src.parts or {}).get(side, (f"the source's {label} part", None))
        found = sum(item.split == side for item in src.items)
        kept = sum(item.split == side for item in items)
        if listed == 0 or (listed is None and found == 0):
            return f"{where} lists no {noun}s"
        if found == 0:
            return f"none of the {listed} {noun}(s) listed in {where} could be found (see skipped)"
        if kept == 0:
            return f"--limit {limit} kept none of the {found} {noun}(s) of {where}"
        return f"all {kept} {noun}(s) of {where} were skipped"
    return ""


def prepare_pairs(source: SourceSpec, task: str, limit: int | None = None, seed: int = 0,
                  test_fraction: float = 0.1, workers: int = 1,
                  features: FeatureSettings = FeatureSettings()) -> Generator[Progress, None, PairSet]:
    """Yield Progress while making pairs; return the PairSet (see module doc for the protocol).

    ``limit`` caps the source's items (images, videos; built-in: crops or clips), chosen at
    random with ``seed``; ``test_fraction`` of the items go to the test split when the source
    has no split of its own (at least one test pair); ``workers`` processes share the work.
    """
    task_obj = get_task(task)
    if not 0.0 < test_fraction < 1.0:
        raise DataError(f"test fraction must lie strictly between 0 and 1, got {test_fraction}")
    if limit is not None and limit < 1:
        raise DataError(f"the limit must be at least 1, got {limit}")
    if seed < 0:  # numpy's generators take none: was a traceback from deep inside the source
        raise DataError(f"the seed must be 0 or more, got {seed}")
    yield Progress("scan", 0, 1, "reading the source")
    src = open_source(source, task_obj.needs_video, limit, seed, test_fraction)
    rng = np.random.default_rng(seed)
    items = limit_items(src.items, limit, rng)
    total = len(items)
    yield Progress("scan", 1, 1, f"{total} item(s) from {src.kind}", {"items": float(total)})

    skipped = SkipLog(counts=src.skipped.counts.copy(), examples=dict(src.skipped.examples))
    xcs, xgs, owners = [], [], []
    first_of: dict[str, int] = {}  # a photo file's SHA-1 -> the first item with those bytes
    turned: dict[int, np.ndarray] = {}  # item index -> annotation rows turned into its pixels' frame
    start = last = time.monotonic()
    results = _results(items, task, workers)
    try:
        for done, result in enumerate(results, 1):
            first = first_of.setdefault(result.digest, result.index) if result.digest else result.index
            if result.skip:
                skipped.add(items[result.index].name, result.skip, result.detail)
            elif first != result.index:
                # a copy of a photo already used: kept, it could land on the other side of the split
                skipped.add(items[result.index].name, "duplicate", f"duplicate of {items[first].name}")
            else:
                if result.boxes is not None:
                    turned[result.index] = result.boxes
                xcs.append(result.xc)
                xgs.append(result.xg)
                owners.extend([result.index] * len(result.xc))
            now = time.monotonic()
            if now - last > 0.2 or done == total:
                last = now
                rate = done / max(now - start, 1e-9)
                yield Progress("prepare", done, total, f"{len(owners)} pairs, {skipped.total} skipped",
                               {"pairs": float(len(owners)), "skipped": float(skipped.total),
                                "items_per_s": rate, "eta_s": (total - done) / max(rate, 1e-9)})
    finally:
        results.close()  # on cancel: stop the worker pool now, not at garbage collection
    if not xcs:
        # "60 skipped: a photo has no motion", not "60 a photo has no motion"
        reasons = "; ".join(f"{n} skipped: {r}" for r, n in skipped.counts.most_common(3)) or "no items"
        raise DataError(f"nothing usable in the {src.kind} source ({reasons})")
    owner = np.asarray(owners, np.int64)
    if len(owner) < 2:
        raise DataError("only one usable pair: a train and a test split need at least two")

    yield Progress("features", 0, 1, "guidance features")
    xc = np.concatenate(xcs)  # (N, Cc, 32, 32)
    xg = np.concatenate(xgs)  # (N, Cg, 32, 32)
    own = np.asarray([items[i].split for i in owner], np.int8) if src.has_split else None
    why = _unusable_part(src, items, set(owner.tolist()), limit) if own is not None else ""
    split, split_method = assign_split(owner, own, test_fraction, rng, _groups(items, owner), why)
    annotated = src.categories is not None
    ann = None
    if annotated:
        k = len(src.categories)
        per_item = {i: annotation_features([turned.get(i, items[i].boxes)], k, features)[0] for i in np.unique(owner)}
        ann = np.stack([per_item[i] for i in owner])  # (N, K * 26)
    fc, fg = guidance_features(xc, xg, ann, features.orientation_weight if task_obj.xc_orientation else None)
    meta = _meta(task_obj, src, items, owner, xc, xg, split, split_method, skipped, features,
                 dict(limit=limit, seed=seed, test_fraction=test_fraction))
    if own is not None and split_method != "source":
        meta["split_fallback"] = why  # what the summary says; split_method says it too
    pairs = PairSet(xc=xc, xg=xg, split=split, fc=fc, fg=fg, meta=meta)
    yield Progress("features", 1, 1, "guidance features")
    yield Progress("done", total, total, f"{len(pairs)} pairs ({int((split == TEST).sum())} test), "
                   f"{skipped.total} item(s) skipped")
    return pairs


def _meta(task, src: Source, items, owner, xc, xg, split, split_method, skipped, features, options) -> dict[str, Any]:
    n_cat = len(src.categories) if src.categories else 0
    meta: dict[str, Any] = {
        "format": "cdvae-pairs",
        "task": task.name,
        "created_by": f"cdvae_core {__version__}",
        "source": {"kind": src.kind, **src.description},
        "channels": [task.channels_c, task.channels_g],
        "size": MODEL_SIZE,
        "c_range": list(task.c_range),
        "g_range": list(task.g_range),
        "xc_observed": [float(xc.min()), float(xc.max())],
        "xg_observed": [float(xg.min()), float(xg.max())],
        "counts": {"items": len(items), "pairs": int(len(xc)), "train": int((split == TRAIN).sum()),
                   "test": int((split == TEST).sum())},
        "split_method": split_method,
        "skipped": skipped.to_meta(),
        "features": {**features.to_dict(),
                     "fc_parts": feature_parts(n_cat, task.channels_c, features, src.categories is not None,
                                               task.xc_orientation),
                     "fg_parts": [["pixels", 0, task.channels_g * MODEL_SIZE * MODEL_SIZE]]},
        "labels": [_item_label(items[i]) for i in owner],
        "label_names": src.label_names or [],
        **options,
    }
    if src.categories is not None:
        meta["categories"] = src.categories
    if task.name == "motion":
        meta["flow_unit"] = ("model pixels (1/32 of the frame) per second, channels (dx, dy); "
                             f"OpenCV DIS at {FLOW_WORK_SIZE} px, clipped to g_range")
    if task.name == "relighting":
        meta["decomposition"] = "Color Retinex + guided-filtered reflectance (cdvae_core.tasks.intrinsic)"
    return meta


def run(gen: Generator[Progress, None, PairSet], on_progress=None) -> PairSet:
    """Drive a prepare generator to the end, passing each Progress to ``on_progress``."""
    return drive(gen, on_progress)


__all__ = ["prepare_pairs", "run", "open_source", "limit_items", "assign_split", "SourceSpec"]

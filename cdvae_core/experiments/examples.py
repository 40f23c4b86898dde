"""Full-resolution test images for the Figure 5-style picture, recovered from the built-in source.

A built-in pair file keeps 32x32 layers only. The built-in source is deterministic given its
count and seed, so it is rebuilt and each chosen test pair is matched to its crop (photo
tasks) or clip (motion); the match is checked by recomputing the pair and comparing layers.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..data.builtin import builtin_images
from ..data.folders import builtin_source
from ..data.items import ClipItem, CropItem, make_pairs
from ..data.synthetic_motion import render_clip
from ..pairs import TEST, PairSet
from ..tasks import get_task
from ..tasks.base import fit_within

PHOTO_SIDE = 320  # longest side of a photo-task example (the crop at the photo's own resolution, shrunk)
MOTION_SCALE = 3  # motion frames are 96 px; shown 3x larger (flow is in model px/s, resolution-free)


@dataclass(frozen=True)
class Example:
    """One test pair at full resolution: image uint8 (H, W, 3), its pair's xc (Cc, 32, 32), xg (Cg, 32, 32)."""

    name: str
    image: np.ndarray
    xc: np.ndarray
    xg: np.ndarray
    row: int


def _full_image(item, photos) -> np.ndarray:
    photo = photos[item.photo][1]
    if isinstance(item, CropItem):
        crop = photo[item.y0 : item.y0 + item.size, item.x0 : item.x0 + item.size]
        crop = np.ascontiguousarray(crop[:, ::-1]) if item.flip else np.ascontiguousarray(crop)
        return fit_within(crop, PHOTO_SIDE)
    frame0, _f1, _flow = render_clip(photo, item.params)
    side = frame0.shape[0] * MOTION_SCALE
    return cv2.resize(frame0, (side, side), interpolation=cv2.INTER_CUBIC)


def builtin_examples(pairs: PairSet, count: int) -> list[Example]:
    """Up to ``count`` test pairs of a built-in pair file with their full-resolution images,
    one per photo where possible, larger crops first. Empty when the file is not built-in or its
    pairs no longer match the source (another library version)."""
    meta = pairs.meta
    source = meta.get("source", {})
    if not isinstance(source, dict) or source.get("kind") != "builtin" or meta.get("limit") is None:
        return []
    task = get_task(pairs.task)
    src = builtin_source(task.needs_video, count=int(meta["limit"]), seed=int(meta.get("seed", 0)),
                         test_fraction=float(meta.get("test_fraction", 0.1)))
    if len(src.items) != len(pairs):
        return []  # skipped items would shift the pair <-> item mapping
    photos = builtin_images()
    test_rows = np.flatnonzero(pairs.split == TEST)
    size = [getattr(src.items[r], "size", 0) for r in test_rows]
    order = [test_rows[i] for i in np.argsort(size, kind="stable")[::-1]]  # larger crops first
    chosen: list[Example] = []
    used: set[int] = set()
    for second_pass in (False, True):  # first one per photo, then fill up
        for r in order:
            item = src.items[r]
            if len(chosen) >= count:
                return chosen
            if r in {e.row for e in chosen} or (not second_pass and item.photo in used):
                continue
            if not isinstance(item, (CropItem, ClipItem)):
                continue
            xc, _xg = make_pairs(item, task)
            if not np.allclose(xc[0], pairs.xc[r], atol=1e-4):
                continue  # not the same pair: never show a wrong ground truth
            used.add(item.photo)
            chosen.append(Example(item.name, _full_image(item, photos), pairs.xc[r], pairs.xg[r], int(r)))
    return chosen

"""Plain folders (searched recursively) and the built-in photos as sources.

A folder gives photos to the photo tasks and videos to the motion task (videos also give the
photo tasks their eight sampled frames). The built-in source cuts many random square crops
(random position, scale from a quarter of the photo's short side to all of it, random mirror)
from the shipped photos for the photo tasks, and renders synthetic clips (pans, zooms, moving
cut-outs: see ``synthetic_motion``) for motion.

The built-in split is by image region, not by crop: with only a handful of photos, random crops
of one photo overlap, so a random per-crop split would test on pixels seen in training (the
nearest-neighbour baseline would simply look them up). The right-hand BUILTIN_TEST_REGION of every
photo is held out: test crops and clips lie wholly inside it, training ones wholly outside.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from ..pairs import TEST, TRAIN
from .builtin import builtin_images, builtin_source_paths
from .errors import DataError
from .images import list_images
from .items import ClipItem, CropItem, ImageItem, VideoItem
from .source import Source
from .synthetic_motion import random_motion
from .video import list_videos

BUILTIN_DEFAULT_PAIRS = 6000  # built-in pairs per task when no --limit is given
BUILTIN_TEST_REGION = 0.3  # right-hand share of each photo's width held out for the test split


def folder_source(folder: str | Path, motion: bool) -> Source:
    """Images (photo tasks) or videos (motion) under ``folder``; photo tasks also take videos."""
    root = Path(folder)
    if not root.is_dir():
        raise DataError(f"no folder at {root}")
    videos = [VideoItem(str(p), str(p.relative_to(root))) for p in list_videos(root)]
    images = [] if motion else [ImageItem(str(p), str(p.relative_to(root))) for p in list_images(root)]
    items = videos + images if motion else images + videos
    if not items:
        wanted = "videos" if motion else "images or videos"
        raise DataError(f"{root} holds no {wanted} (searched recursively)")
    return Source("folder", items, {"folder": str(root), "images": len(images), "videos": len(videos)})


def builtin_source(motion: bool, count: int | None = None, seed: int = 0, test_fraction: float = 0.1) -> Source:
    """``count`` random crops (photo tasks) or synthetic clips (motion) of the shipped photos."""
    photos = builtin_images()
    if not photos:
        raise DataError("no built-in photos found (scikit-image / scikit-learn data and assets/images are missing)")
    count = BUILTIN_DEFAULT_PAIRS if count is None else count
    rng = np.random.default_rng(seed)
    items = []
    n_test = max(1, int(round(test_fraction * count))) if count > 1 else 0
    for k in range(count):
        index = k % len(photos)
        name, photo = photos[index]
        h, w = photo.shape[:2]
        split = TEST if k >= count - n_test else TRAIN
        start, width = held_out_columns(w, split)
        if motion:
            params = random_motion(rng, photo[:, start : start + width])  # view and pans stay in the region
            items.append(ClipItem(index, f"{name}#clip{k}", replace(params, cx=params.cx + start), split))
            continue
        side = int(round(min(h, width) * np.sqrt(rng.uniform(1 / 16, 1.0))))  # area uniform in scale^2
        side = max(side, 32)
        x0, y0 = start + int(rng.integers(0, width - side + 1)), int(rng.integers(0, h - side + 1))
        items.append(CropItem(index, f"{name}#crop{k}", x0, y0, side, bool(rng.random() < 0.5), split))
    kind = "synthetic clips (pans, zooms, moving cut-outs)" if motion else "random crops"
    desc = {"photos": builtin_source_paths(), "count": count, "generator": kind}
    desc["split"] = f"held-out region: the right {BUILTIN_TEST_REGION:.0%} of each photo is test-only"
    return Source("builtin", items, desc, label_names=[name for name, _ in photos], has_split=n_test > 0)


def held_out_columns(width: int, split: int) -> tuple[int, int]:
    """(first column, number of columns) of a photo of ``width`` that items of ``split`` may use."""
    cut = int(round(width * (1.0 - BUILTIN_TEST_REGION)))
    return (cut, width - cut) if split == TEST else (0, cut)

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
Motion's built-in training clips are half photo clips and half clips of procedural scenes
(``procedural``), which are training-only: the test split is real photos only.
"""

from __future__ import annotations

import hashlib
import stat
from dataclasses import replace
from pathlib import Path

import numpy as np

from ..pairs import TEST, TRAIN
from .builtin import builtin_images, builtin_source_paths
from .errors import DataError, SkipLog
from .images import IMAGE_EXTENSIONS, UNREAD_EXTENSIONS, list_images
from .items import ClipItem, CropItem, ImageItem, VideoItem
from .procedural import procedural_scene
from .source import Source
from .synthetic_motion import random_motion
from .ucf101 import video_group
from .video import VIDEO_EXTENSIONS, list_videos

BUILTIN_DEFAULT_PAIRS = 6000  # built-in pairs per photo task when no --limit is given
# motion's default: at 6000 clips (2700 of them procedural) the models still ignored the frame,
# at 24000 they follow it (docs/results.md, "Motion")
BUILTIN_DEFAULT_MOTION_PAIRS = 24000
BUILTIN_TEST_REGION = 0.3  # right-hand share of each photo's width held out for the test split
PROCEDURAL_SHARE = 0.5  # motion: share of the training clips rendered from procedural scenes
CLIPS_PER_SCENE = 20  # motion: clips per procedural scene (each clip has its own view and motion)


def default_item_count(motion: bool) -> int:
    """Built-in items (crops or clips) to make when the user names no limit."""
    return BUILTIN_DEFAULT_MOTION_PAIRS if motion else BUILTIN_DEFAULT_PAIRS


def folder_source(folder: str | Path, motion: bool) -> Source:
    """Images (photo tasks) or videos (motion) under ``folder``; photo tasks also take videos."""
    root = Path(folder)
    if not root.is_dir():
        # a photo given as the folder was "no folder at photo.jpg", about a file that is there
        raise DataError(f"{root} is a file, not a folder (--folder takes a folder of them)" if root.exists()
                        else f"no folder at {root}")
    skipped = SkipLog()
    videos = []
    for path, first in same_content(list_videos(root)):
        name = str(path.relative_to(root))
        if first is not None:  # a copy would put the same clips on both sides of the split
            skipped.add(name, "duplicate", f"duplicate of {first.relative_to(root)}")
            continue
        # a copy of UCF101 keeps its groups (class + gXX: one actor and scene) on one side
        videos.append(VideoItem(str(path), name, group=video_group(path.name)))
    found = list_images(root, IMAGE_EXTENSIONS + UNREAD_EXTENSIONS)  # one walk of the folder
    readable = [p for p in found if p.suffix.lower() in IMAGE_EXTENSIONS]
    images = [] if motion else [ImageItem(str(p), str(p.relative_to(root))) for p in readable]
    items = videos + images if motion else images + videos
    # for motion only an (animated) GIF could be a clip; photos in any format do not count there
    unread = [p for p in found if p.suffix.lower() in ((".gif",) if motion else UNREAD_EXTENSIONS)]
    target = "MP4" if motion else "PNG or JPEG"
    for path in unread:  # they were passed over without a word, as if the folder had none
        skipped.add(str(path.relative_to(root)), "format not read", f"{path.suffix.lower()[1:].upper()}: save it as {target}")
    for path in broken_links(root, IMAGE_EXTENSIONS + UNREAD_EXTENSIONS + VIDEO_EXTENSIONS):
        skipped.add(str(path.relative_to(root)), "broken link", "its target is not there")  # not counted at all
    if not items:
        wanted = "videos" if motion else "images or videos"
        photos = len(readable) if motion else 0  # a folder of photos for motion: say why they do not count
        why = f"; motion pairs are two frames of a video, and its {photos} photo(s) have one" if photos else ""
        if unread:
            kinds = ", ".join(sorted({p.suffix.lower() for p in unread}))
            why += f"; its {len(unread)} {kinds} file(s) are in formats not read (save them as {target})"
        raise DataError(f"{root} holds no {wanted} (searched recursively){why}")
    return Source("folder", items, {"folder": str(root), "images": len(images), "videos": len(videos)},
                  skipped=skipped)


def broken_links(root: Path, extensions: tuple[str, ...]) -> list[Path]:
    """Symbolic links under ``root`` named as these files whose target is missing (or a loop),
    hidden names skipped, sorted: the listings leave them out as no files."""
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in extensions and p.is_symlink() and not p.exists()
                  and not any(part.startswith(".") for part in p.relative_to(root).parts))


def same_content(paths: list[Path]) -> list[tuple[Path, Path | None]]:
    """(path, the earlier path of the same bytes or None) for each path, in order.

    Only files that share a size with another are read (whole, to hash them): videos of the same
    size are rare unless they are copies, so a folder of distinct videos costs one stat each. A file
    that cannot be read counts as distinct (its reading says why it is skipped)."""
    sizes: dict[int, list[Path]] = {}
    for path in paths:
        try:
            info = path.stat()
        except OSError:
            continue
        if stat.S_ISREG(info.st_mode) and info.st_size:  # empty files are skipped as such, FIFOs never read
            sizes.setdefault(info.st_size, []).append(path)
    first: dict[Path, Path] = {}
    for same_size in sizes.values():
        seen: dict[str, Path] = {}
        for path in same_size if len(same_size) > 1 else ():
            digest = _file_digest(path)
            if digest is None:
                continue
            if digest in seen:
                first[path] = seen[digest]
            else:
                seen[digest] = path
    return [(path, first.get(path)) for path in paths]


def _file_digest(path: Path) -> str | None:
    """SHA-1 of a file's bytes, read in 1 MB chunks; None when it cannot be read."""
    digest = hashlib.sha1()
    try:
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    except OSError:
        return None
    return digest.hexdigest()


MAX_BUILTIN_ITEMS = 1_000_000  # 20 GB of motion pairs at 32x32: more is a typo, not a data set


def builtin_source(motion: bool, count: int | None = None, seed: int = 0, test_fraction: float = 0.1) -> Source:
    """``count`` random crops (photo tasks) or synthetic clips (motion) of the shipped photos;
    for motion, PROCEDURAL_SHARE of the training clips come from procedural scenes instead."""
    photos = builtin_images()
    if not photos:
        raise DataError("no built-in photos found (scikit-image / scikit-learn data and assets/images are missing)")
    if count is None:
        count = default_item_count(motion)
    if count > MAX_BUILTIN_ITEMS:  # each is made here, one by one: 2^70 of them ran for ever
        raise DataError(f"the built-in source makes at most {MAX_BUILTIN_ITEMS:,} crops or clips, asked for {count:,} "
                        "(their pairs alone would take tens of gigabytes)")
    rng = np.random.default_rng(seed)
    items = []
    n_test = max(1, int(round(test_fraction * count))) if count > 1 else 0
    n_scene_clips = int(round(PROCEDURAL_SHARE * (count - n_test))) if motion else 0
    n_photo_items = count - n_scene_clips
    for k in range(n_photo_items):
        index = k % len(photos)
        name, photo = photos[index]
        h, w = photo.shape[:2]
        split = TEST if k >= n_photo_items - n_test else TRAIN
        start, width = held_out_columns(w, split)
        if motion:
            params = random_motion(rng, photo[:, start : start + width])  # view and pans stay in the region
            items.append(ClipItem(index, f"{name}#clip{k}", replace(params, cx=params.cx + start), split))
            continue
        side = int(round(min(h, width) * np.sqrt(rng.uniform(1 / 16, 1.0))))  # area uniform in scale^2
        side = max(side, 32)
        x0, y0 = start + int(rng.integers(0, width - side + 1)), int(rng.integers(0, h - side + 1))
        items.append(CropItem(index, f"{name}#crop{k}", x0, y0, side, bool(rng.random() < 0.5), split))
    n_scenes = -(-n_scene_clips // CLIPS_PER_SCENE)
    for j in range(n_scene_clips):
        scene = (seed, j * n_scenes // n_scene_clips)  # consecutive clips share a scene: workers build it once
        params = random_motion(rng, procedural_scene(*scene))
        items.append(ClipItem(len(photos), f"scene{scene[1]}#clip{j}", params, TRAIN, scene))
    kind = "synthetic clips (pans, zooms, moving cut-outs)" if motion else "random crops"
    desc = {"photos": builtin_source_paths(), "count": count, "generator": kind}
    desc["split"] = f"held-out region: the right {BUILTIN_TEST_REGION:.0%} of each photo is test-only"
    labels = [name for name, _ in photos]
    if n_scene_clips:
        desc["procedural_scenes"] = n_scenes
        desc["split"] += "; procedural scenes are training-only"
        labels.append("procedural")
    return Source("builtin", items, desc, label_names=labels, has_split=n_test > 0)


def held_out_columns(width: int, split: int) -> tuple[int, int]:
    """(first column, number of columns) of a photo of ``width`` that items of ``split`` may use."""
    cut = int(round(width * (1.0 - BUILTIN_TEST_REGION)))
    return (cut, width - cut) if split == TEST else (0, cut)

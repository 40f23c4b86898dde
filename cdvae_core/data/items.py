"""Work items of the prepare pipeline and the worker that turns one item into 32x32 pairs.

Items are small picklable records (a path, a crop box, clip parameters), so they travel cheaply
to worker processes; the worker reads, decodes and decomposes, and returns arrays or the reason
it skipped. ``split`` is 0/1 when the source fixes it, -1 when the pipeline assigns it later.
A photo's result also carries a hash of its file's bytes (the pipeline skips later copies) and,
when its EXIF orientation turned the photo from the frame its annotations were drawn in, the
annotation rows turned with it.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import multiprocessing.connection
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from ..tasks import get_task
from ..tasks.base import Task, fit_within, resize_image
from .builtin import builtin_images
from .errors import SkipItem
from .features import orient_rows
from .images import decode_image, read_file, read_header
from .procedural import procedural_scene
from .synthetic_motion import FRAME_SIZE, MotionParams, render_clip
from .video import video_frame_pairs

PREPARE_SIZE = 256  # photos are area-shrunk to this longer side before decomposing (8x the model)
CROP_SIZE = 96  # built-in crops are rendered at this side before decomposing (3x the model)
NO_BOXES = np.zeros((0, 6), np.float32)


@dataclass(frozen=True)
class ImageItem:
    path: str
    name: str
    split: int = -1
    boxes: np.ndarray = field(default_factory=lambda: NO_BOXES)  # (M, 6) rows, see features
    size: tuple[float, float] | None = None  # (width, height) the annotation file declares (COCO)


@dataclass(frozen=True)
class VideoItem:
    path: str
    name: str
    split: int = -1
    label: int = -1  # UCF101 class index, -1 when unknown
    group: str = ""  # UCF101's class + gXX (one actor and scene): a drawn split keeps it on one side


@dataclass(frozen=True)
class CropItem:
    """A square crop of built-in photo ``photo``: top-left (x0, y0), side ``size``, mirrored or not."""

    photo: int
    name: str
    x0: int
    y0: int
    size: int
    flip: bool
    split: int = -1


@dataclass(frozen=True)
class ClipItem:
    """A synthetic two-frame clip (see synthetic_motion) of built-in photo ``photo``, or of the
    procedural scene ``scene`` = (series, index) when set (``photo`` is then its label)."""

    photo: int
    name: str
    params: MotionParams
    split: int = -1
    scene: tuple[int, int] | None = None


Item = ImageItem | VideoItem | CropItem | ClipItem


@dataclass
class ItemResult:
    """xc (k, Cc, 32, 32), xg (k, Cg, 32, 32) float32 for k >= 1 pairs, or a skip reason; for a
    photo, ``digest`` (SHA-1 of its file) and, when its EXIF orientation turned it out of its
    annotations' frame, ``boxes``: its annotation rows in the frame of the pixels."""

    index: int
    xc: np.ndarray | None = None
    xg: np.ndarray | None = None
    skip: str = ""
    detail: str = ""
    digest: str = ""
    boxes: np.ndarray | None = None


@dataclass
class _Photo:
    """What a photo item's worker learns besides its pairs."""

    digest: str = ""
    boxes: np.ndarray | None = None


def _image_pair(task: Task, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    xc, xg = task.decompose(image)
    return _clipped(task, task.to_model(xc), task.to_model(xg))


def _clipped(task: Task, xc: np.ndarray, xg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Keep 32x32 layers inside the task's declared ranges (area sums can overshoot by 1 ulp)."""
    return np.clip(xc, *task.c_range).astype(np.float32), task.clip_g(xg)


def _frame_pair(task: Task, frame0: np.ndarray, frame1: np.ndarray, seconds: float) -> tuple[np.ndarray, np.ndarray]:
    xc, xg = task.decompose_pair(frame0, frame1, seconds=seconds)
    return _clipped(task, task.to_model(xc), task.to_model(xg))


def _photo(index: int) -> np.ndarray:
    photos = builtin_images()
    if not 0 <= index < len(photos):
        raise SkipItem("missing built-in photo", str(index))
    return photos[index][1]


def upright_rows(item: ImageItem, data: bytes, width: int, height: int) -> np.ndarray | None:
    """The item's annotation rows turned into the frame of its decoded pixels (``width`` x
    ``height``), or None when they are in it already or nothing says otherwise.

    The decoder applies the file's EXIF orientation; a COCO-format file may give its boxes in
    the stored frame instead (tools that show photos as stored). Its declared size tells which
    when the orientation swaps the sides: declared = stored size, and the decoded photo is the
    stored one turned a quarter. A half turn or a mirror keeps the sides, and a square photo
    too: nothing tells the frames apart, and the rows are taken as drawn on the upright photo.
    """
    if not len(item.boxes) or item.size is None:
        return None
    header = read_header(data, item.name)
    if header is None or header[2] < 5:  # 5-8 swap the sides
        return None
    stored_w, stored_h, orientation = header
    declared = (round(item.size[0]), round(item.size[1]))
    if stored_w == stored_h or (width, height) != (stored_h, stored_w) or declared != (stored_w, stored_h):
        return None
    return orient_rows(item.boxes, orientation)


def _photo_pairs(item: ImageItem, task: Task, facts: _Photo) -> tuple[np.ndarray, np.ndarray]:
    if task.needs_video:
        raise SkipItem("a photo has no motion", item.name)
    data = read_file(item.path)
    image = decode_image(data, Path(item.path).name)
    facts.boxes = upright_rows(item, data, image.shape[1], image.shape[0])
    # the bytes are read anyway: hashing them costs about 1% of a photo's work (docs/data.md)
    facts.digest = hashlib.sha1(data).hexdigest()
    return _image_pair(task, fit_within(image, PREPARE_SIZE))


def make_pairs(item: Item, task: Task) -> tuple[np.ndarray, np.ndarray]:
    """One item -> xc (k, Cc, 32, 32), xg (k, Cg, 32, 32); SkipItem when it is unusable."""
    return _make_pairs(item, task, _Photo())


def _make_pairs(item: Item, task: Task, facts: _Photo) -> tuple[np.ndarray, np.ndarray]:
    pairs: list[tuple[np.ndarray, np.ndarray]] = []
    if isinstance(item, ImageItem):
        pairs.append(_photo_pairs(item, task, facts))
    elif isinstance(item, VideoItem):
        frames = video_frame_pairs(item.path, max_side=PREPARE_SIZE)
        for frame0, frame1, seconds in frames:
            if task.needs_video:
                pairs.append(_frame_pair(task, frame0, frame1, seconds))
            else:  # photo tasks can use video frames as photos
                pairs.append(_image_pair(task, frame0))
    elif isinstance(item, CropItem):
        photo = _photo(item.photo)
        crop = photo[item.y0 : item.y0 + item.size, item.x0 : item.x0 + item.size]
        crop = resize_image(crop, CROP_SIZE, CROP_SIZE)
        if item.flip:
            crop = np.ascontiguousarray(crop[:, ::-1])
        pairs.append(_image_pair(task, crop))
    elif isinstance(item, ClipItem):
        source = _photo(item.photo) if item.scene is None else procedural_scene(*item.scene)
        frame0, frame1, _truth = render_clip(source, item.params)
        if task.needs_video:
            pairs.append(_frame_pair(task, frame0, frame1, 1.0))
        else:
            pairs.append(_image_pair(task, frame0))
    else:
        raise TypeError(f"unknown item type {type(item).__name__}")
    xc = np.stack([p[0] for p in pairs]).astype(np.float32)
    xg = np.stack([p[1] for p in pairs]).astype(np.float32)
    if not (np.isfinite(xc).all() and np.isfinite(xg).all()):
        raise SkipItem("non-finite values", item.name)
    return xc, xg


_WORKER_TASK: dict[str, Task] = {}


def init_worker() -> None:
    """Per worker process: one OpenCV thread, since the pool already uses every core; and exit
    when the parent process dies.

    A pool worker waits on a queue whose write end it holds itself, so it never sees its parent
    go: a ``kill PID`` (a scheduler's SIGTERM) or ``kill -9`` of cdvae-prepare left its workers
    sleeping forever, holding the terminal's pipes open.
    """
    cv2.setNumThreads(1)
    parent = multiprocessing.parent_process()
    if parent is not None:
        def watch() -> None:
            multiprocessing.connection.wait([parent.sentinel])
            os._exit(1)

        threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def process(job: tuple[int, Item, str]) -> ItemResult:
    """Worker entry: (index, item, task name) -> ItemResult; never raises for a bad item."""
    index, item, task_name = job
    task = _WORKER_TASK.get(task_name)
    if task is None:
        task = _WORKER_TASK[task_name] = get_task(task_name)
    facts = _Photo()
    try:
        xc, xg = _make_pairs(item, task, facts)
    except SkipItem as exc:
        return ItemResult(index, skip=exc.reason, detail=exc.detail)
    except (cv2.error, MemoryError, ValueError) as exc:  # a decoder choking on a hostile file
        return ItemResult(index, skip="failed to process", detail=f"{item.name}: {str(exc).strip()[:100]}")
    return ItemResult(index, xc=xc, xg=xg, digest=facts.digest, boxes=facts.boxes)


__all__ = ["ImageItem", "VideoItem", "CropItem", "ClipItem", "Item", "ItemResult", "make_pairs",
           "process", "init_worker", "upright_rows", "FRAME_SIZE", "PREPARE_SIZE", "CROP_SIZE"]

"""Reading any image a user may throw at the Studio, and turning it into the task's layers.

Every expected problem (missing, corrupt, empty, too small, too many pixels) is an
``ImageLoadError`` with a one-line reason that the window shows; odd but usable inputs (grey,
alpha, 16-bit, float, huge, EXIF-rotated) are converted to the library's RGB ``uint8 (H, W, 3)``
convention with a note. Pillow reads the header first (size and EXIF orientation, no pixels), so
a decompression bomb (a small file of a vast image) is refused before OpenCV allocates it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from cdvae_core.data.images import (IMAGE_EXTENSIONS, MIN_SIDE, apply_orientation, over_white, read_header,
                                     unchanged_orientation)
from cdvae_core.data.video import VIDEO_EXTENSIONS, split_time, time_text

MAX_SIDE = 2048  # larger photos are area-downscaled: the model sees 32x32 anyway
MAX_PIXELS = 100_000_000  # refused above this: decoding would take seconds and gigabytes
IMAGE_SUFFIXES = IMAGE_EXTENSIONS  # what cdvae-prepare and cdvae-sample read
VIDEO_SUFFIXES = VIDEO_EXTENSIONS  # a video opens as a frame (motion: with its truth), the first unless timed


class ImageLoadError(ValueError):
    """An image the Studio cannot use, with a one-line reason."""


@dataclass(frozen=True)
class Clip:
    """Where a video's still lies in it: frame ``index`` of ``frames`` at ``fps`` frames per second;
    ``seekable`` False where OpenCV cannot seek in it (cdvae_core.data.video_frames.can_seek): the Time
    bar previews it from a storyboard (thumbnails.Storyboard)."""

    frames: int
    fps: float
    index: int
    seekable: bool = True

    def time(self, index: int | None = None) -> float:
        """Seconds from the start to frame ``index`` (default: the still's)."""
        return (self.index if index is None else index) / self.fps

    @property
    def duration(self) -> float:
        return self.frames / self.fps


@dataclass
class LoadedImage:
    """A photo ready for the Studio: ``rgb`` uint8 (H, W, 3) plus what was done to it. From a video,
    ``rgb`` is its frame at ``clip.time()`` (the first unless the path gave a time, ``clip.mp4#t=2.5``)
    and ``later`` the frame ``gap`` seconds on (same size; None for a photo or when the video ends
    first): the motion task's ground truth."""

    rgb: np.ndarray
    name: str
    notes: list[str] = field(default_factory=list)
    later: np.ndarray | None = None
    gap: float | None = None
    clip: Clip | None = None


def _to_uint8(img: np.ndarray) -> tuple[np.ndarray, str | None]:
    """Map 16-bit, float or other depths to uint8, saying what was done."""
    if img.dtype == np.uint8:
        return img, None
    if img.dtype == np.uint16:
        return (img >> 8).astype(np.uint8), "16-bit image reduced to 8 bits"
    data = img.astype(np.float64)
    finite = np.isfinite(data)
    if not finite.any():
        raise ImageLoadError("the image holds no finite pixel values")
    data[~finite] = 0.0
    lo, hi = float(data[finite].min()), float(data[finite].max())
    if img.dtype.kind == "f" and lo >= 0.0 and hi <= 1.0:
        scaled = data * 255.0  # float images in [0, 1] are the common convention
    else:
        scaled = (data - lo) * (255.0 / max(hi - lo, 1e-12))
    return np.clip(scaled + 0.5, 0, 255).astype(np.uint8), f"{img.dtype} image rescaled to 8 bits"


def decode_image(data: bytes, name: str = "image") -> LoadedImage:
    """Decode encoded image bytes into RGB uint8 (H, W, 3); raise ImageLoadError on any problem."""
    if not data:
        raise ImageLoadError(f"{name} is empty (0 bytes)")
    header = read_header(data, name, ImageLoadError)
    if header is not None and header[0] * header[1] > MAX_PIXELS:
        w, h, _ = header
        raise ImageLoadError(f"{name} is too large to open ({w}x{h}, {w * h / 1e6:.0f} megapixels; "
                             f"the Studio opens up to {MAX_PIXELS / 1e6:.0f})")
    buf = np.frombuffer(data, np.uint8)
    try:
        img = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    except cv2.error as exc:  # OpenCV refuses some headers (e.g. absurd sizes) by raising
        raise ImageLoadError(f"{name} could not be decoded ({str(exc).splitlines()[-1].strip()})") from exc
    if img is None or img.size == 0:
        raise ImageLoadError(f"{name} is not an image OpenCV can read (corrupt or unknown format)")
    notes: list[str] = []
    img, note = _to_uint8(img)
    if note:
        notes.append(note)
    # IMREAD_UNCHANGED (kept for alpha and 16-bit) ignores EXIF orientation but in a TIFF
    orientation = unchanged_orientation(data, header[2] if header is not None else 1)
    if orientation != 1:
        img = apply_orientation(img, orientation)
        notes.append(f"turned upright (EXIF orientation {orientation})")
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)
        notes.append("grey image shown as RGB")
    elif img.shape[2] == 4:
        # composite over white: transparent regions of a PNG look white in every viewer, and
        # exports and cdvae-prepare read them so (cdvae_core.data.images.over_white)
        if not bool((img[:, :, 3] == 255).all()):
            notes.append("alpha channel composited over white")
        img = over_white(cv2.cvtColor(img[:, :, :3], cv2.COLOR_BGR2RGB), img[:, :, 3])
    elif img.shape[2] == 3:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    elif img.shape[2] == 1:
        img = cv2.cvtColor(img[:, :, 0], cv2.COLOR_GRAY2RGB)
    else:
        raise ImageLoadError(f"{name} has {img.shape[2]} channels; expected 1, 3 or 4")
    return LoadedImage(_fit(img, name, notes), name, notes)


def _fit(img: np.ndarray, name: str, notes: list[str]) -> np.ndarray:
    """Check the size of RGB uint8 (H, W, 3) and area-downscale it to MAX_SIDE, noting that."""
    h, w = img.shape[:2]
    if min(h, w) < MIN_SIDE:
        raise ImageLoadError(f"{name} is too small ({w}x{h}); the Studio needs at least {MIN_SIDE}x{MIN_SIDE} pixels")
    if max(h, w) > MAX_SIDE:
        scale = MAX_SIDE / max(h, w)
        size = (max(MIN_SIDE, round(w * scale)), max(MIN_SIDE, round(h * scale)))
        img = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
        notes.append(f"downscaled from {w}x{h} to {size[0]}x{size[1]}")
    return np.ascontiguousarray(img)


@functools.lru_cache(maxsize=64)
def _clip_info(path: str, mtime_ns: int, size: int) -> tuple[int, float, bool]:
    """video_info and can_seek, once per version of a file: a container that does not say its
    length is counted by reading all its packets (a long video's file read whole), which every
    frame chosen on the Time bar would repeat."""
    from cdvae_core.data.video import video_info
    from cdvae_core.data.video_frames import can_seek

    return (*video_info(path), can_seek(path))


def load_video(path: Path, seconds: float = 0.0, stop: Callable[[], bool] | None = None) -> LoadedImage:
    """A video's frame at ``seconds`` as the photo, and the frame a second later as motion's ground
    truth (cdvae_core.data.video_frames.frames_at: the still that cdvae-sample and export read too).
    Stopped (cdvae_core.data.errors) once ``stop()`` is true while frames are decoded."""
    from cdvae_core.data.errors import SkipItem
    from cdvae_core.data.video import frame_index
    from cdvae_core.data.video_frames import frames_at

    try:
        frame, later, gap = frames_at(path, seconds, stop=stop)
        stat = path.stat()
        frames, fps, seekable = _clip_info(str(path), stat.st_mtime_ns, stat.st_size)
    except SkipItem as exc:
        raise ImageLoadError(f"the {exc.reason}") from exc  # the window says "Cannot open NAME: ..."
    clip = Clip(frames, fps, frame_index(seconds, fps), seekable)
    where = "first frame" if clip.index == 0 else f"frame at {time_text(clip.time())} s"
    if later is not None:
        truth = f"the frame {gap:.2f} s later is the motion truth"
    elif clip.time() + 1.0 + 0.5 / fps < clip.duration:  # a screen recorder writes no frames while nothing changes
        truth = "the video shows no new frame within a second (it pauses): no motion truth"
    else:
        truth = "no frame a second later: no motion truth"
    notes = [f"{where} of a {time_text(clip.duration)} s video; {truth}"]
    rgb = _fit(frame, path.name, notes)
    if later is not None:
        later = np.ascontiguousarray(cv2.resize(later, (rgb.shape[1], rgb.shape[0]), interpolation=cv2.INTER_AREA)
                                     if later.shape != rgb.shape else later)
    return LoadedImage(rgb, path.name, notes, later, gap, clip)


def load_image(path: str | Path, stop: Callable[[], bool] | None = None) -> LoadedImage:
    """Read an image file (a video: its first frame, or ``clip.mp4#t=2.5`` its frame at 2.5 s,
    ``load_video``, which ``stop`` may stop) into RGB uint8 (H, W, 3); ImageLoadError with a
    one-line reason."""
    try:
        path, seconds = split_time(path)
    except ValueError as exc:
        raise ImageLoadError(str(exc)) from exc
    try:
        exists, folder, regular = path.exists(), path.is_dir(), path.is_file()
    except OSError as exc:  # a name too long for the file system: was the worker's "[Errno 36] ..."
        raise ImageLoadError(f"cannot read {path.name}: {exc.strerror or exc}") from exc
    if not exists:
        raise ImageLoadError(f"no such file: {path}")
    if folder:
        raise ImageLoadError(f"{path} is a folder, not an image")
    if not regular:  # a FIFO's read blocked the render worker, and every render after it, for ever
        raise ImageLoadError(f"{path} is not a regular file")
    if path.suffix.lower() in VIDEO_SUFFIXES:
        return load_video(path, seconds or 0.0, stop)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ImageLoadError(f"cannot read {path.name}: {exc.strerror or exc}") from exc
    return decode_image(data, path.name)


def fit_size(shape: tuple[int, int], max_side: int) -> tuple[int, int]:
    """(width, height) that fits ``shape`` = (H, W) inside max_side, keeping the aspect ratio, and
    each side at least 2 pixels (what composing needs; as tasks.base.fit_within): a 20000x16
    panorama's grid cells were 160x1, and the model "failed on this image"."""
    h, w = shape
    scale = min(1.0, max_side / max(h, w))
    return max(min(2, w), round(w * scale)), max(min(2, h), round(h * scale))


def resize_rgb(rgb: np.ndarray, max_side: int) -> np.ndarray:
    """Area-downscale an RGB uint8 (H, W, 3) photo to fit max_side (no upscaling)."""
    w, h = fit_size(rgb.shape[:2], max_side)
    if (h, w) == rgb.shape[:2]:
        return rgb
    return cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA)


def resize_layer(layer: np.ndarray, size_wh: tuple[int, int], interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
    """Resize a float32 (C, h, w) layer to (C, H, W) with H, W from size_wh = (W, H)."""
    hwc = np.ascontiguousarray(layer.transpose(1, 2, 0), np.float32)  # (h, w, C)
    out = cv2.resize(hwc, size_wh, interpolation=interpolation)
    if out.ndim == 2:
        out = out[:, :, None]
    return np.ascontiguousarray(out.transpose(2, 0, 1))  # (C, H, W)

"""Reading photos and writing results (PNG, JPEG, 16-bit PNG), always atomically."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from ..atomic import write_with
from ..data.images import IMAGE_EXTENSIONS, MIN_SIDE
from .errors import ExportError

# what cdvae-prepare reads: a folder export left out .ppm, .pgm and .jp2 photos without a word
IMAGE_SUFFIXES = IMAGE_EXTENSIONS
FORMATS = {"png": ".png", "jpg": ".jpg", "png16": ".png"}


def read_image(path: str | os.PathLike, *, hidden_colour: bool = False) -> np.ndarray:
    """A photo file -> uint8 (H, W, 3) RGB (EXIF orientation applied, transparent pixels
    composited over white as the Studio shows them, grey expanded); a video file (motion's still,
    as the Studio opens it) -> its first frame, or with a time, ``clip.mp4#t=2.5``, its frame at
    that time (cdvae_core.data.video.split_time). ``hidden_colour``: transparent pixels keep the
    colour stored under them, as exports read photos before 2026-11-29 (``reproduce`` of those)."""
    from ..data.video import VIDEO_EXTENSIONS, split_time

    source = os.fspath(path)  # errors name it as given: a video's frame with its time
    try:
        path, seconds = split_time(source)
    except ValueError as exc:
        raise ExportError(f"{source}: {exc}") from exc
    if not path.is_file():
        raise ExportError(f"{path}: no such image file")
    if path.suffix.lower() in VIDEO_EXTENSIONS:
        image = _video_frame(path, seconds or 0.0, source)
    else:
        image = _decode_photo(path, hidden_colour)
    if min(image.shape[:2]) < MIN_SIDE:  # as cdvae-prepare skips it and the Studio refuses it
        raise ExportError(f"{source}: image of {image.shape[1]}x{image.shape[0]} pixels is too small "
                          f"(need at least {MIN_SIDE}x{MIN_SIDE})")
    return np.ascontiguousarray(image)


def _decode_photo(path: Path, hidden_colour: bool = False) -> np.ndarray:
    raw = path.read_bytes()  # bytes + imdecode copes with any path encoding (cv2.imread does not)
    data = np.frombuffer(raw, dtype=np.uint8)
    from ..data.images import is_truncated_jpeg, over_white, to_rgb8, transparency  # as cdvae-prepare reads

    if is_truncated_jpeg(raw):
        # OpenCV decodes it without complaint, filling the missing part with grey
        raise ExportError(f"{path}: truncated JPEG (no end marker)")
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is not None:
        image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    elif data.size:
        # IMREAD_COLOR refuses float (and 32-bit) TIFFs that cdvae-prepare reads: decode them at
        # their own depth and rescale as it does. Everything else keeps IMREAD_COLOR's pixels, so
        # the sidecars' sha256 of earlier exports still match.
        deep = cv2.imdecode(data, cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR)
        if deep is not None and deep.dtype in (np.float32, np.float64):
            image = to_rgb8(deep)
    if image is None:
        raise ExportError(f"{path}: not a readable image")
    # IMREAD_COLOR drops alpha; opaque photos (every JPEG) keep these pixels, so the sidecars'
    # sha256 of earlier exports still match
    alpha = None if hidden_colour else transparency(raw, image.shape, path.name)
    return image if alpha is None else over_white(image, alpha)


def _video_frame(path: Path, seconds: float, source: str) -> np.ndarray:
    from ..data.errors import SkipItem
    from ..data.video_frames import frames_at

    try:
        return frames_at(path, seconds)[0]
    except SkipItem as exc:
        raise ExportError(f"{source}: {exc.reason}") from exc


def list_images(folder: str | os.PathLike) -> list[Path]:
    """Image and video files directly inside ``folder`` (a video stands for its first frame, as
    ``read_image`` reads it and the Studio opens it), sorted by name. Hidden names are left out,
    as cdvae-prepare and the Studio leave them out: macOS writes a "._photo.jpg" beside each photo
    on a shared drive, which is no image, and a batch export failed on every one of them."""
    from ..data.video import VIDEO_EXTENSIONS

    folder = Path(folder)
    if not folder.is_dir():
        raise ExportError(f"{folder}: not a folder")
    return sorted(p for p in folder.iterdir()
                  if not p.name.startswith(".") and p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES + VIDEO_EXTENSIONS)


def check_format(fmt: str) -> str:
    if not isinstance(fmt, str) or fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    return FORMATS[fmt]


def write_image(path: str | os.PathLike, image: np.ndarray, fmt: str = "png", jpeg_quality: int = 95) -> None:
    """Write uint8 (H, W, 3) RGB, or float (H, W, 3) in [0, 1] for png16, atomically.

    png16 stores 16 bits per channel: float input keeps its precision, uint8 input is scaled by
    257 (exactly 0 -> 0, 255 -> 65535).
    """
    suffix = check_format(fmt)
    if fmt == "png16":
        if image.dtype == np.uint8:
            data = image.astype(np.uint16) * np.uint16(257)
        else:
            data = np.clip(np.rint(np.asarray(image, np.float64) * 65535.0), 0, 65535).astype(np.uint16)
        params = [cv2.IMWRITE_PNG_COMPRESSION, 3]
    else:
        data = np.asarray(image)
        if data.dtype != np.uint8:
            raise ExportError(f"{fmt} results must be uint8, got {data.dtype}")
        params = [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)] if fmt == "jpg" else [cv2.IMWRITE_PNG_COMPRESSION, 3]
    bgr = cv2.cvtColor(np.ascontiguousarray(data), cv2.COLOR_RGB2BGR)

    def writer(tmp: Path) -> None:
        ok, encoded = cv2.imencode(suffix, bgr, params)
        if not ok:
            raise ExportError(f"{path}: OpenCV could not encode the image as {fmt}")
        tmp.write_bytes(encoded.tobytes())

    try:
        write_with(path, writer, suffix=suffix)
    except OSError as exc:
        raise ExportError(f"{path}: cannot write ({exc.strerror or exc})") from exc

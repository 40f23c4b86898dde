"""Gallery thumbnails of the user's own files (recent photos and videos), and the Time bar's
preview of a video's frame under the pointer, read off the GUI thread.

The gallery lists them at once with a generic icon, and a worker thread of their own
(``StudioState.thumbnail_worker``) reads one file per job, so no render waits behind a slow file
(a 24-megapixel PNG takes a third of a second) and a refilled gallery takes over the queue. A
JPEG is decoded at 1/2 to 1/8 scale by libjpeg itself (19 ms for 24 megapixels against 121 ms,
benchmarks/bench_thumbnails.py); other files go through the Studio's own loader
(``images.load_image``: alpha over white, 16-bit, EXIF, a video's first frame). Thumbnails are
kept per version of a file (path, modification time, size; a frame also by its time), so the
gallery, refilled after every open, shows them without reading again, and pointing back at a
frame shows it at once.

A video OpenCV cannot seek in (a browser recorder's WebM) gets a ``Storyboard`` instead: its
frame under the pointer would be decoded from the start, 15-20 s deep in two minutes of 720p,
so one pass from the start on a worker of its own (``StudioState.storyboard_worker``) keeps a
picture every 1/STORYBOARD_COUNT of its length, and the preview shows the nearest of them as
soon as the pass has gone past the time pointed at.
"""

from __future__ import annotations

import bisect
import os
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from cdvae_core.data.errors import SkipItem
from cdvae_core.data.images import read_header
from cdvae_core.data.video_frames import frames_at, storyboard

from .images import ImageLoadError, apply_orientation, load_image, resize_rgb

THUMB_SIDE = 56  # px, the gallery's icon size
_JPEG = (".jpg", ".jpeg")
STORYBOARD_COUNT = 300  # pictures in a storyboard: one per 0.4 s of two minutes; 160 px, 23 MB at most
_REDUCED = {2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4, 8: cv2.IMREAD_REDUCED_COLOR_8}


def read_thumbnail(path: str | os.PathLike, side: int = THUMB_SIDE, seconds: float | None = None,
                   stop: Callable[[], bool] | None = None) -> np.ndarray:
    """RGB uint8 (h, w, 3) with its longer side at most ``side``: the file's picture (a video's
    first frame, or with ``seconds`` its frame then) as the Studio shows it. ImageLoadError (or
    OSError) where it cannot be read; Stopped once ``stop()`` is true while a video's frames are
    decoded."""
    path = Path(path)
    if seconds is not None:
        try:
            return resize_rgb(frames_at(path, seconds, seconds=None, stop=stop)[0], side)
        except SkipItem as exc:
            raise ImageLoadError(f"{path.name}: the {exc.reason}") from exc
    if path.suffix.lower() in _JPEG and path.is_file():  # else load_image says why (a FIFO's read would block)
        data = path.read_bytes()
        header = read_header(data, path.name, ImageLoadError)
        if header is not None:
            w, h, orientation = header
            # the largest libjpeg scale-down that keeps twice the thumbnail's side, for a clean resize
            factor = max([1] + [f for f in _REDUCED if max(w, h) // f >= 2 * side])
            if factor > 1:
                bgr = cv2.imdecode(np.frombuffer(data, np.uint8), _REDUCED[factor] | cv2.IMREAD_IGNORE_ORIENTATION)
                if bgr is not None and bgr.ndim == 3:
                    rgb = apply_orientation(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), orientation)
                    return resize_rgb(np.ascontiguousarray(rgb), side)
    return resize_rgb(load_image(path, stop).rgb, side)


class ThumbnailCache:
    """Thumbnails by file version (and for a video's frame, its time), the newest ``capacity`` of
    them (9 KB each at 56 px). ``peek`` in the GUI thread, ``read`` in the worker: a lock guards
    the table."""

    def __init__(self, side: int = THUMB_SIDE, capacity: int = 256) -> None:
        self.side = side
        self.capacity = capacity
        self._table: OrderedDict[tuple, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def _key(path: str, seconds: float | None) -> tuple | None:
        try:
            stat = os.stat(path)
        except OSError:
            return None
        return path, stat.st_mtime_ns, stat.st_size, seconds

    def peek(self, path: str, seconds: float | None = None) -> np.ndarray | None:
        """The thumbnail of the file as it is now, where one was read; None otherwise (no reading)."""
        key = self._key(path, seconds)
        with self._lock:
            return self._table.get(key) if key is not None else None

    def read(self, path: str, seconds: float | None = None, stop: Callable[[], bool] | None = None) -> np.ndarray:
        """The thumbnail, read from the file unless it is kept already; errors as read_thumbnail."""
        key = self._key(path, seconds)
        with self._lock:
            kept = self._table.get(key) if key is not None else None
        if kept is not None:
            return kept
        thumb = read_thumbnail(path, self.side, seconds, stop)
        if key is not None:
            with self._lock:
                self._table[key] = thumb
                while len(self._table) > self.capacity:
                    self._table.popitem(last=False)
        return thumb


class Storyboard:
    """The Time bar's previews of one video that cannot seek, filled in time order by ``fill``
    in a worker thread and read by ``near`` in the GUI thread (a lock guards the lists)."""

    def __init__(self, path: str, side: int, count: int = STORYBOARD_COUNT) -> None:
        self.path, self.side, self.count = path, side, count
        self._times: list[float] = []
        self._pictures: list[np.ndarray] = []
        self.complete = False  # the pass reached the end of the video
        self._lock = threading.Lock()

    def fill(self, stop: Callable[[], bool] | None = None) -> int:
        """Decode the video once from the start, keeping its pictures (``storyboard``) -> how many.
        Stopped once ``stop()`` is true; SkipItem where the video will not open."""
        for seconds, picture in storyboard(self.path, self.count, self.side, stop):
            with self._lock:
                self._times.append(seconds)
                self._pictures.append(picture)
        with self._lock:
            self.complete = True
            return len(self._times)

    def near(self, seconds: float) -> np.ndarray | None:
        """The picture nearest ``seconds`` once the pass has gone past it (or ended); None before."""
        with self._lock:
            times, n = self._times, len(self._times)
            if not n or (not self.complete and times[-1] < seconds):
                return None
            i = bisect.bisect_left(times, seconds)
            if i == n or (i > 0 and seconds - times[i - 1] <= times[i] - seconds):
                i -= 1
            return self._pictures[i]

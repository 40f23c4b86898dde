"""Open video readers kept between reads of a video that cannot seek.

OpenCV cannot seek in a video whose container does not say its length (a WebM a browser's
recorder was stopped in): each frame deep in it was decoded from the start, seconds per minute of
720p, so stepping through it a frame at a time cost that for every step. A read here leaves its
capture open where it stopped, with the frame it last grabbed (whose pixels ``retrieve`` can
still give), and the next read at or after that frame takes it up from there.

A few readers are kept (``MAX_KEPT``), the most recently used. Each holds the pixels of its last
two frames (12 MB at 1080p), and the one that read a motion truth also the frames of the second
before it (its ring, at most MAX_RING_BYTES): the next step's still is among them, so one reader
serves the still and its truth as the user steps on. Each belongs to one file as it was (path,
size, modification time): a file rewritten under the same name is read afresh.
"""

from __future__ import annotations

import math
import os
import threading
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

MAX_KEPT = 3  # a reader each for the still, its truth and one more (a preview, a thumbnail)
# The most a reader's ring of recent frames may hold: a second and two frames of 1080p at 30 fps
# (200 MB) fit; of 4K they do not, and that reader keeps no ring.
MAX_RING_BYTES = 256 * 2 ** 20


def file_key(path: Path) -> tuple[str, int, int]:
    """(absolute path, size, modification time in ns): which file, as it was when read."""
    info = path.stat()
    return os.path.abspath(path), info.st_size, info.st_mtime_ns


@dataclass(eq=False)  # a reader is itself, whatever its fields say
class Reader:
    """An open capture of one file and where it stands: ``grabbed`` frames taken so far, the last
    of them at ``stamp`` s (-inf before the first), the one before at ``previous`` s. ``image``
    and ``previous_image`` hold their RGB pixels where a read decoded them (the last frame's can
    still come from ``cap.retrieve()`` until the next grab); ``ended`` once a grab found no more
    frames. Two frames, since which frame is shown at a time is known only once the frame after
    it is met: the next read at a time between them can start here."""

    key: tuple[str, int, int]
    cap: cv2.VideoCapture
    grabbed: int = 0
    stamp: float = -math.inf
    previous: float = -math.inf
    image: np.ndarray | None = field(default=None, repr=False)
    previous_image: np.ndarray | None = field(default=None, repr=False)
    ended: bool = False
    # the frames (time, RGB) of the last ``ring_span`` s up to the last grabbed, where a read asked
    # for them: the truth's reader keeps its still's second, so the next still needs no decoding
    ring: deque | None = field(default=None, repr=False)
    ring_span: float = 0.0
    ring_refused: bool = False  # the ring outgrew MAX_RING_BYTES: none for this reader again
    _last_use: int = field(default=0, repr=False)

    @property
    def earliest(self) -> float:
        """The time of the earliest frame a read can start from here: the one before the last."""
        return self.previous if self.grabbed > 1 else self.stamp

    def start_ring(self, span: float) -> bool:
        """Keep the frames of the last ``span`` s from now on (the two last met where their pixels
        are known); False where this reader's ring was refused for its size."""
        if self.ring_refused:
            return False
        if not self.ring:  # new or emptied: seeded with the last frames met, where their pixels are known
            self.ring = deque()
            if self.image is not None:
                if self.previous_image is not None:
                    self.ring.append((self.previous, self.previous_image))
                self.ring.append((self.stamp, self.image))
        self.ring_span = max(self.ring_span, span)
        return True

    def keep_in_ring(self, stamp: float, image: np.ndarray | None) -> None:
        """Add the frame just grabbed, at ``stamp`` s (its pixels, kept as they are: hand out
        copies), and drop those the span no longer needs, keeping one at or before its start.
        Without pixels (a frame before the span asked for, or one that will not decode) the ring
        empties: it holds consecutive frames only, up to the last grabbed."""
        if self.ring is None:
            return
        if image is None:
            self.ring.clear()
            return
        self.ring.append((stamp, image))
        while len(self.ring) > 1 and self.ring[1][0] <= stamp - self.ring_span:
            self.ring.popleft()
        if sum(frame.nbytes for _, frame in self.ring) > MAX_RING_BYTES:
            self.ring, self.ring_refused = None, True

    def ring_covers(self, time: float, tie: float = 0.0) -> bool:
        """Whether the ring holds the frame shown at ``time`` s and the frame after it (which
        tells which of the two is nearer): its first frame at or before the time, or within
        ``tie`` s after it (then that frame is the one shown)."""
        return bool(self.ring) and self.ring[0][0] <= time + tie and time < self.ring[-1][0]

    def advance(self, stamp: float) -> None:
        """One more frame grabbed, at ``stamp`` s: the last one becomes the one before it."""
        self.previous, self.previous_image = self.stamp, self.image
        self.stamp, self.image, self.grabbed = stamp, None, self.grabbed + 1


class KeptReaders:
    """The readers kept between reads, at most ``limit``, the least recently used closed first.
    A reader is taken out while a read uses it, so two threads never share a capture."""

    def __init__(self, limit: int = MAX_KEPT) -> None:
        self.limit = limit
        self._readers: list[Reader] = []
        self._uses = 0
        self._lock = threading.Lock()

    def take(self, key: tuple[str, int, int], time: float) -> Reader | None:
        """The kept reader of ``key`` furthest along that can start at or before ``time`` s
        (``Reader.earliest``), taken out of the pool; None where there is none (the caller opens a
        new one). Readers of the same path but another version of the file are closed."""
        with self._lock:
            stale = [r for r in self._readers if r.key[0] == key[0] and r.key != key]
            fits = [r for r in self._readers if r.key == key and r.earliest <= time]
            best = max(fits, key=lambda r: r.stamp, default=None)
            self._readers = [r for r in self._readers if r not in stale and r is not best]
        for reader in stale:
            reader.cap.release()
        return best

    def take_covering(self, key: tuple[str, int, int], time: float, tie: float = 0.0) -> Reader | None:
        """A kept reader of ``key`` whose ring holds the frame shown at ``time`` s
        (``Reader.ring_covers``), taken out of the pool; None where there is none."""
        with self._lock:
            found = next((r for r in self._readers if r.key == key and r.ring_covers(time, tie)), None)
            if found is not None:
                self._readers.remove(found)
        return found

    def give_back(self, reader: Reader) -> None:
        """Keep ``reader`` for a later read, closing the least recently used past the limit; one
        at the end of its file is closed (nothing is left to read, nor its last frame's pixels)."""
        if reader.ended:
            reader.cap.release()
            return
        with self._lock:
            self._uses += 1
            reader._last_use = self._uses
            self._readers.append(reader)
            self._readers.sort(key=lambda r: -r._last_use)
            closed, self._readers = self._readers[self.limit:], self._readers[:self.limit]
        for old in closed:
            old.cap.release()

    def clear(self, path: str | None = None) -> None:
        """Close every kept reader, or those of the file at ``path`` (absolute, as ``file_key``)."""
        with self._lock:
            closed = [r for r in self._readers if path is None or r.key[0] == path]
            self._readers = [r for r in self._readers if r not in closed]
        for reader in closed:
            reader.cap.release()

    def __len__(self) -> int:
        with self._lock:
            return len(self._readers)

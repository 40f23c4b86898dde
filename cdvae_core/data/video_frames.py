"""A video's frame at a time, and the one a second later (the motion truth), for the Studio,
export and ``cdvae-sample --image clip.mp4#t=2.5``.

``frames_at`` seeks where the container allows it, else scans from the start, with open readers
kept between reads of a video that cannot seek (kept_readers.py), so stepping through it costs a
frame or a second of decoding; ``storyboard`` reads many frames in one pass for the Studio's Time
bar previews. What a video is (its frames and rate) and the training pairs are video.py's.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import cv2
import numpy as np

from ..tasks.base import fit_within
from .errors import SkipItem, Stopped
from .kept_readers import KeptReaders, Reader, file_key
from .video import TIME_TICK, container_info, frame_index, grabbed_rgb, grabbed_time, time_text, video_info


class _Overshot(Exception):
    """A seek that landed past the time asked for, or brought no frame: scan from earlier."""


class _NoSeek(Exception):
    """OpenCV cannot seek in this video: scan from the start."""


class _NoClock(Exception):
    """The stream's timestamps do not increase (some containers give none): count frames."""


@dataclass
class _Shown:
    """A frame met in a scan: its presentation time in s and, where it was kept, its pixels."""

    seconds: float
    image: np.ndarray | None


def _timed_frames(cap: cv2.VideoCapture, start: int, fps: float, counted: bool, stop: Callable[[], bool] | None
                  ) -> Iterator[tuple[float, Callable[[], np.ndarray | None]]]:
    """(time in s, a call that returns the frame's pixels, ``grabbed_rgb``) for each frame from frame
    ``start`` on (seeking there where > 0). The time is the frame's timestamp, or with ``counted``
    (a scan from the start) its index / fps. _NoClock where timestamps do not increase; Stopped
    once ``stop()`` is true, asked before each frame."""
    if start and not cap.set(cv2.CAP_PROP_POS_FRAMES, start):
        raise _NoSeek
    index, last = start, -np.inf
    while True:
        if stop is not None and stop():
            raise Stopped
        if not cap.grab():
            return
        stamp = index / fps if counted else grabbed_time(cap)
        if stamp <= last:
            raise _NoClock
        last = stamp
        yield stamp, lambda: grabbed_rgb(cap)
        index += 1


def _shown_at(frames: Iterator[tuple[float, Callable[[], np.ndarray | None]]], time: float, seconds: float | None,
              fps: float, seeking: bool, keep: float) -> tuple[_Shown, _Shown | None]:
    """The frame shown at ``time`` and the one shown ``seconds`` after it (None: only the first),
    from a scan's frames.

    The frame at t is the nearest one, the later of two at half-way: at a steady rate frame
    ``frame_index(t, fps)``. In a variable-frame-rate video (phones, screen recordings) a frame
    after t counts only within half an average frame (0.5 / fps) of it, so during a pause, while a
    screen recorder writes no frames, the frame on screen is the one before. The first frame also
    covers any time before it, and the video ends a frame's length after its last. The gap between
    the two frames is their true distance. Frames from ``keep`` s before the time sought on are
    decoded to pixels, since which frame is nearest is known only when the next one arrives: the
    answer's image is None where it lies further back. _Overshot where a seek's first frame is
    already past the time; SkipItem where the video ends before ``time``. The second frame is None
    where the video ends first or nothing new is shown.
    """
    half = 0.5 / fps
    target = time
    still: _Shown | None = None  # the frame at ``time``, once known
    before: _Shown | None = None  # the last frame met at or before the target
    for stamp, pixels in frames:
        if before is None and seeking and stamp > target:
            raise _Overshot
        while stamp > target:  # the frame at the target is ``before`` or this one, the nearer
            nearer = before is None or stamp - target <= min(target - before.seconds, half) + TIME_TICK
            pick = _Shown(stamp, pixels()) if nearer else before
            if still is not None:
                return still, (pick if pick.seconds > still.seconds else None)
            if seconds is None:
                return pick, None
            still, target = pick, pick.seconds + seconds
        before = _Shown(stamp, pixels() if stamp >= target - keep else None)
    if before is None:
        if seeking:
            raise _Overshot
        raise SkipItem("video will not decode")
    end = before.seconds + 1.0 / fps  # where the last frame leaves the screen
    ended = end - target <= min(target - before.seconds, half) + TIME_TICK  # the target is nearer the end
    if still is None:
        if ended:
            raise SkipItem(f"video ends at {time_text(end)} s, before {time_text(time)} s")
        return before, None
    return still, (before if not ended and before.seconds > still.seconds else None)


def _scan(path: Path, time: float, seconds: float | None, fps: float, start: int, counted: bool = False,
          keep: float | None = None, stop: Callable[[], bool] | None = None) -> tuple[_Shown, _Shown | None]:
    """``_shown_at`` over the frames of ``path`` from frame ``start``, keeping the pixels of frames
    from ``keep`` s (two frames where None) before each time sought; Stopped once ``stop()``."""
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise SkipItem("video will not open", path.name)
        return _shown_at(_timed_frames(cap, start, fps, counted, stop), time, seconds, fps, seeking=start > 0,
                         keep=2.0 / fps if keep is None else keep)
    finally:
        cap.release()


_KEPT = KeptReaders()  # readers of videos that cannot seek, kept between frames_at calls


def _copy(image: np.ndarray | None) -> np.ndarray | None:
    """A caller's own copy of a reader's pixels: what it paints on must not change a later read."""
    return None if image is None else image.copy()


def _last_pixels(reader: Reader) -> np.ndarray | None:
    """The pixels of the reader's last grabbed frame, decoded once and kept on the reader (the
    reader's own array: hand out ``_copy``)."""
    if reader.image is None:
        reader.image = grabbed_rgb(reader.cap)
    return reader.image


def _reader_frames(reader: Reader, stop: Callable[[], bool] | None, ring_from: float = np.inf
                   ) -> Iterator[tuple[float, Callable[[], np.ndarray | None]]]:
    """``_timed_frames`` for a kept reader: the two frames it last met again (their pixels kept
    where decoded, the last one's still to be had), then each next one, the reader following and
    keeping the pixels a read decodes; frames from ``ring_from`` s on are decoded into its ring
    too (``Reader.start_ring``). _NoClock where timestamps do not increase."""
    def last_pixels() -> np.ndarray | None:
        return _copy(_last_pixels(reader))

    if reader.grabbed > 1:
        yield reader.previous, lambda: _copy(reader.previous_image)
    if reader.grabbed:
        yield reader.stamp, last_pixels
    while True:
        if stop is not None and stop():
            raise Stopped
        if not reader.cap.grab():
            reader.ended = True
            return
        stamp = grabbed_time(reader.cap)
        if stamp <= reader.stamp:
            raise _NoClock
        reader.advance(stamp)
        if reader.ring is not None:
            reader.keep_in_ring(stamp, _last_pixels(reader) if stamp >= ring_from else None)
        yield stamp, last_pixels


def _ring_frame(key: tuple[str, int, int], time: float, fps: float) -> _Shown | None:
    """The frame shown at ``time`` from a kept reader's ring of recent frames, decoding nothing;
    None where no ring holds it."""
    reader = _KEPT.take_covering(key, time, tie=TIME_TICK)
    if reader is None:
        return None
    try:
        frames = ((stamp, lambda image=image: _copy(image)) for stamp, image in list(reader.ring))
        shown, _ = _shown_at(frames, time, None, fps, seeking=False, keep=np.inf)
    finally:
        _KEPT.give_back(reader)
    return shown


def _kept_frame(path: Path, key: tuple[str, int, int], time: float, fps: float,
                stop: Callable[[], bool] | None, ring_span: float | None = None) -> _Shown:
    """The frame shown at ``time`` in a video that cannot seek, read on from the kept reader
    furthest along short of it, or from the start. The reader is kept again afterwards, also
    when Stopped (it stopped between frames: the next read goes on from there). With
    ``ring_span`` the reader keeps the frames of that many seconds before ``time`` on in its ring."""
    # a reader whose earliest frame is a tick past the time has it as the frame shown (a tie, as
    # ``_shown_at`` counts them)
    reader = _KEPT.take(key, time + TIME_TICK)
    if reader is None:
        reader = Reader(key, cv2.VideoCapture(str(path)))
        if not reader.cap.isOpened():
            reader.cap.release()
            raise SkipItem("video will not open", path.name)
    ring_from = np.inf
    if ring_span is not None:
        ring_from = time - ring_span
        if reader.grabbed and reader.stamp >= ring_from:
            _last_pixels(reader)  # the last frame met, still to be had: the ring's first
        if not reader.start_ring(ring_span):
            ring_from = np.inf
    try:
        # not as after a seek: a first frame past the time is the video's first, or within a tick
        shown, _ = _shown_at(_reader_frames(reader, stop, ring_from), time, None, fps, seeking=False,
                             keep=2.0 / fps)
    except Stopped:
        _KEPT.give_back(reader)
        raise
    except BaseException:
        reader.cap.release()
        raise
    _KEPT.give_back(reader)
    return shown


def release_readers(path: str | os.PathLike) -> None:
    """Close the readers kept for the video at ``path``: a viewer that has moved on to another
    document frees the memory (a reader's ring can hold a second of full-size frames)."""
    _KEPT.clear(os.path.abspath(path))


def _kept_scan(path: Path, time: float, seconds: float | None, fps: float,
               stop: Callable[[], bool] | None) -> tuple[_Shown, _Shown | None]:
    """``_scan`` from the start, for a video that cannot seek, through kept readers: the still and
    its truth each from a ring of recent frames where one holds it, else from the reader nearest
    before it; the truth's reader keeps the second before the truth in its ring (the next step's
    still). So stepping on through the video costs a frame or two instead of a
    decode from the start. The same frames as one scan (``_shown_at``)."""
    key = file_key(path)
    still = _ring_frame(key, time, fps) or _kept_frame(path, key, time, fps, stop)
    if seconds is None or still.image is None:
        return still, None
    target = still.seconds + seconds
    try:
        # the ring reaches two frames before the still: a step back finds both frames there too
        later = _ring_frame(key, target, fps) or _kept_frame(path, key, target, fps, stop,
                                                             ring_span=seconds + 2.0 / fps)
    except SkipItem:  # the video ends before the truth's time
        return still, None
    return still, (later if later.seconds > still.seconds else None)


def _seek_and_scan(path: Path, time: float, seconds: float | None, fps: float, index: int,
                   stop: Callable[[], bool] | None) -> tuple[int, tuple[_Shown, _Shown | None]]:
    """_scan from the frame before frame ``index`` (where the frame at ``time`` is at a steady
    rate: the scan must meet a frame at or before the time), then from a second, 2, 4, ... before
    it while the seek lands past the time, and last from the start; -> (the frame the scan that
    answered started from, its answer)."""
    back = 1
    while index - back > 0:
        try:
            return index - back, _scan(path, time, seconds, fps, index - back, stop=stop)
        except _Overshot:
            back = max(2, round(fps)) if back == 1 else 2 * back
        except _NoSeek:
            break
    return 0, _scan(path, time, seconds, fps, 0, stop=stop)


def frames_at(path: str | os.PathLike, time: float = 0.0, seconds: float | None = 1.0,
              stop: Callable[[], bool] | None = None) -> tuple[np.ndarray, np.ndarray | None, float | None]:
    """A video's frame at ``time`` seconds, uint8 (H, W, 3) RGB at full size, the frame ``seconds``
    later (None when the video ends first, or where ``seconds`` is None: the still alone, read
    sooner) and the true gap between them in seconds (None likewise): the still that a motion
    model predicts from, and what really happened next.

    Frames are found by their timestamps (``_shown_at``: the nearest frame; at a steady frame rate
    frame ``frame_index(t, fps)``, as decoding in order counts them). OpenCV seeks to the frame
    before it (a frame deep in a long video would take seconds to reach by decoding from the start:
    1.2 s at 9 s into a 1080p MJPG); where the seek lands past the time (variable frame rates) the
    scan starts a second, then 2, 4, ... earlier, and where no seek works, at the start. In a
    video that cannot seek at all (``can_seek``) a frame deep in it is decoded from the start,
    seconds per minute of 720p; so the reads there go on from readers kept open where earlier
    reads stopped (``_kept_scan``): the next frame, or the next second, costs a frame or a second
    of decoding. A stream without usable timestamps is read in order, counting frames. SkipItem
    when the video does not open, decodes no frame, or ends before ``time``; Stopped once
    ``stop()`` is true, asked before each frame is decoded (a caller that has moved on need not
    wait for a long read).
    """
    path = Path(path)
    reported, fps = container_info(path)
    index = frame_index(time, fps)
    if reported and index >= reported:
        raise SkipItem(f"video ends at {time_text(reported / fps)} s, before {time_text(time)} s", path.name)
    try:
        if reported:
            start, (still, later) = _seek_and_scan(path, time, seconds, fps, index, stop)
        else:  # no seek: read on from where an earlier read stopped
            start, (still, later) = 0, _kept_scan(path, time, seconds, fps, stop)
        if still.image is None or (later is not None and later.image is None):
            # shown through a long gap in a variable-rate video (or a frame that will not decode)
            still, later = _scan(path, time, seconds, fps, start, keep=np.inf, stop=stop)
    except _NoClock:
        still, later = _scan(path, time, seconds, fps, 0, counted=True, stop=stop)
    except SkipItem as exc:
        raise SkipItem(exc.reason, path.name) from None
    if still.image is None or (later is not None and later.image is None):
        raise SkipItem("video will not decode", path.name)
    if later is None:
        return still.image, None, None
    return still.image, later.image, round(later.seconds - still.seconds, 6)


def can_seek(path: str | os.PathLike) -> bool:
    """Whether OpenCV can seek in the video: its seek is bounded by the length the container
    reports, and a container that reports none (a WebM a browser's recorder was stopped in, a
    live-muxed MKV, a raw stream) cannot be sought in at all. SkipItem as ``frames_at``."""
    return container_info(Path(path))[0] > 0


def storyboard(path: str | os.PathLike, count: int, side: int,
               stop: Callable[[], bool] | None = None) -> Iterator[tuple[float, np.ndarray]]:
    """Small pictures of a video from one pass from its start: for each of ``count`` times evenly
    spaced over its length, the first frame shown at or after it (every frame where the video has
    no more than ``count``) -> (the frame's time in s, uint8 (h, w, 3) RGB with its longer side at
    most ``side``), in time order. In a video OpenCV cannot seek in (``can_seek``) each frame deep
    in it is decoded from the start: a storyboard costs one such read and then answers for every
    time. Times are the frames' timestamps, or their index / fps where the stream's do not
    increase. Stopped once ``stop()`` is true, asked before each frame; SkipItem where the video
    will not open."""
    path = Path(path)
    n_frames, fps = video_info(path)
    marks = np.arange(count) * (n_frames / fps / count) if n_frames > count else np.arange(n_frames) / fps
    last = -np.inf  # the time of the last frame given: a restart (counted) gives none twice
    for counted in (False, True):
        cap = cv2.VideoCapture(str(path))
        try:
            if not cap.isOpened():
                raise SkipItem("video will not open", path.name)
            wanted = int(np.searchsorted(marks, last + TIME_TICK, side="right"))  # the next mark to fill
            for stamp, pixels in _timed_frames(cap, 0, fps, counted, stop):
                if wanted >= len(marks):
                    return
                if stamp <= last or stamp + TIME_TICK < marks[wanted]:
                    continue
                rgb = pixels()
                if rgb is not None:
                    last = stamp
                    yield stamp, fit_within(rgb, side)
                wanted = int(np.searchsorted(marks, stamp + TIME_TICK, side="right"))
            return
        except _NoClock:
            continue
        finally:
            cap.release()


def first_frames(path: str | os.PathLike, seconds: float = 1.0) -> tuple[np.ndarray, np.ndarray | None, float | None]:
    """``frames_at`` the start of the video."""
    return frames_at(path, 0.0, seconds)



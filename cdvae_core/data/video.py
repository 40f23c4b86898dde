"""Decoding videos with OpenCV into the motion task's frame pairs.

As in the paper, eight frames are sampled evenly from each video, each paired with the frame
one second later (``round(fps)`` frames on). Frames are shrunk while decoding so a long video
never sits in memory at full size.

A still taken from a video is named by its file and, past the first frame, a Media Fragments
time: ``clip.mp4#t=2.5`` is the frame at 2.5 s (``split_time``, ``at_time``). The Studio, export
sidecars and ``cdvae-sample --image`` all carry that one string, so a result names its frame.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from ..tasks.base import fit_within
from .errors import SkipItem

VIDEO_EXTENSIONS = (".avi", ".mp4", ".mov", ".mkv", ".mpg", ".mpeg", ".webm", ".m4v", ".wmv", ".flv")
DEFAULT_FPS = 25.0  # used when a container does not say (UCF101 is 25 fps)
FRAMES_PER_VIDEO = 8  # the paper's eight evenly sampled frames
FULL_SIZE = 1 << 30  # a max_side that keeps frames at their own size
TIME_FRAGMENT = "#t="  # Media Fragments' temporal dimension, in seconds (npt)


def split_time(path: str | os.PathLike, strict: bool = True) -> tuple[Path, float | None]:
    """A source path -> (file, seconds into it or None). ``clip.mp4#t=2.5`` names a video's frame
    at 2.5 s; a file that exists under the whole name, "#" and all, is just that file.

    A time that is not a number of seconds >= 0: ValueError with a one-line reason, or with
    ``strict=False`` the path as given and None (for naming things; reading it raises).
    """
    text = os.fspath(path)
    head, sep, tail = text.rpartition(TIME_FRAGMENT)
    if not sep or Path(head).suffix.lower() not in VIDEO_EXTENSIONS or Path(text).exists():
        return Path(text), None
    try:
        seconds = float(tail.removeprefix("npt:"))
    except ValueError:
        seconds = float("nan")
    if not (np.isfinite(seconds) and seconds >= 0):
        if not strict:
            return Path(text), None
        raise ValueError(f"{TIME_FRAGMENT}{tail} is not a time in seconds (like #t=2.5)")
    return Path(head), seconds


def frame_index(seconds: float, fps: float) -> int:
    """The frame shown at ``seconds``: the nearest one."""
    return int(round(seconds * fps))


def time_text(seconds: float) -> str:
    """Seconds to the millisecond, without trailing zeros: 2.5 -> "2.5", 3.0 -> "3"."""
    return f"{float(seconds):.3f}".rstrip("0").rstrip(".")


def at_time(path: str | os.PathLike, seconds: float) -> str:
    """The source path of a video's frame at ``seconds`` (the inverse of split_time); the first
    frame is the plain path, which has always named it."""
    base, _ = split_time(path)
    text = time_text(max(0.0, seconds))
    return str(base) if float(text) == 0 else f"{base}{TIME_FRAGMENT}{text}"


def plan_indices(n_frames: int, step: int, count: int) -> list[int]:
    """Evenly spaced start frames t (count at most) with t + step < n_frames."""
    last = n_frames - 1 - step
    if last < 0:
        return []
    return sorted(set(np.linspace(0, last, count).round().astype(int).tolist()))


def _decode(path: Path, wanted: set[int], max_side: int, seek: bool = False) -> tuple[dict[int, np.ndarray], int]:
    """Decode in order, keeping the frames in ``wanted``; -> (frames, index of the frame after
    the last one read: the frame count when the video ended). ``seek``: start at the first wanted
    frame (OpenCV seeks to the keyframe before it and decodes on) instead of at frame 0."""
    cap = cv2.VideoCapture(str(path))
    frames: dict[int, np.ndarray] = {}
    index = 0
    try:
        if not cap.isOpened():
            raise SkipItem("video will not open", path.name)
        last = max(wanted) if wanted else -1
        if seek and wanted and min(wanted) > 0 and cap.set(cv2.CAP_PROP_POS_FRAMES, min(wanted)):
            index = min(wanted)
        while True:
            if not cap.grab():
                break
            if index in wanted:
                ok, bgr = cap.retrieve()
                if ok and bgr is not None and bgr.ndim == 3:
                    frames[index] = fit_within(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), max_side)
            index += 1
            if wanted and index > last:
                break
    finally:
        cap.release()
    return frames, index


def video_frame_pairs(path: str | Path, count: int = FRAMES_PER_VIDEO, seconds: float = 1.0,
                      max_side: int = 320) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """-> up to ``count`` (frame uint8 (h, w, 3), frame ``seconds`` later, true gap in s).

    SkipItem when the video does not open, decodes no frames or is shorter than ``seconds``.
    """
    path = Path(path)
    n_frames, fps = video_info(path)
    step = max(1, int(round(fps * seconds)))
    gap = step / fps
    best: list[tuple[np.ndarray, np.ndarray, float]] = []
    for _attempt in range(2):
        starts = plan_indices(n_frames, step, count)
        if not starts:
            break
        wanted = set(starts) | {t + step for t in starts}
        frames, decoded = _decode(path, wanted, max_side)
        pairs = [(frames[t], frames[t + step], gap) for t in starts if t in frames and t + step in frames]
        if len(pairs) > len(best):
            best = pairs
        if len(pairs) == len(starts) or decoded >= n_frames:
            break
        n_frames = decoded  # the container over-reported its length: plan again on what decodes
    if best:
        return best
    if n_frames == 0:
        raise SkipItem("video will not decode", path.name)
    raise SkipItem("video shorter than one second", f"{path.name}: {n_frames} frames at {fps:g} fps")


def _container(path: Path) -> tuple[int, float]:
    """(frame count the container reports, 0 when it does not say; frames per second, DEFAULT_FPS
    when the container's is missing or absurd). SkipItem when the file is missing or will not open."""
    if not path.is_file():
        raise SkipItem("missing file", str(path))
    cap = cv2.VideoCapture(str(path))
    opened = cap.isOpened()
    fps = cap.get(cv2.CAP_PROP_FPS) if opened else 0.0
    reported = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) if opened else 0
    cap.release()
    if not opened:
        raise SkipItem("video will not open", path.name)
    if not np.isfinite(fps) or fps <= 0 or fps > 1000:
        fps = DEFAULT_FPS
    return max(0, reported), float(fps)


def video_info(path: str | os.PathLike) -> tuple[int, float]:
    """(frames, frames per second) of a video; the frames are counted by decoding when the
    container does not say. SkipItem when the file is missing or the video will not open."""
    path = Path(path)
    n_frames, fps = _container(path)
    if n_frames == 0:
        _, n_frames = _decode(path, set(), FULL_SIZE)
    return n_frames, fps


def frames_at(path: str | os.PathLike, time: float = 0.0, seconds: float = 1.0
              ) -> tuple[np.ndarray, np.ndarray | None, float | None]:
    """A video's frame at ``time`` seconds, uint8 (H, W, 3) RGB at full size, the frame ``seconds``
    later (None when the video ends first) and the true gap between them in seconds (None
    likewise): the still that a motion model predicts from, and what really happened next.

    OpenCV seeks to the frame (a frame deep in a long video would take seconds to reach by
    decoding from the start: 1.2 s at 9 s into a 1080p MJPG); where the seek brings no frame (a
    container that over-reports its length) the frames are decoded in order from the start.
    SkipItem when the video does not open, decodes no frame, or ends before ``time``.
    """
    path = Path(path)
    reported, fps = _container(path)
    index = frame_index(time, fps)
    step = max(1, int(round(fps * seconds)))
    if reported and index >= reported:
        raise SkipItem(f"video ends at {time_text(reported / fps)} s, before {time_text(time)} s", path.name)
    wanted = {index, index + step}
    frames, _ = _decode(path, wanted, FULL_SIZE, seek=True)
    if index not in frames:
        frames, decoded = _decode(path, wanted, FULL_SIZE)
        if 0 < decoded <= index:
            raise SkipItem(f"video ends at {time_text(decoded / fps)} s, before {time_text(time)} s", path.name)
        if index not in frames:
            raise SkipItem("video will not decode", path.name)
    later = frames.get(index + step)
    return frames[index], later, (None if later is None else step / fps)


def first_frames(path: str | os.PathLike, seconds: float = 1.0) -> tuple[np.ndarray, np.ndarray | None, float | None]:
    """``frames_at`` the start of the video."""
    return frames_at(path, 0.0, seconds)


def list_videos(folder: str | Path) -> list[Path]:
    """Video files under ``folder`` (recursive, hidden names skipped), sorted."""
    root = Path(folder)
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in VIDEO_EXTENSIONS
                  and p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts))

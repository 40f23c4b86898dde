"""Decoding videos with OpenCV: what a video is (frames, rate), and the motion task's frame pairs.

As in the paper, eight frames are sampled evenly from each video, each paired with the frame
one second later (``round(fps)`` frames on). Frames are shrunk while decoding so a long video
never sits in memory at full size.

A still taken from a video is named by its file and, past the first frame, a Media Fragments
time: ``clip.mp4#t=2.5`` is the frame at 2.5 s (``split_time``, ``at_time``). The Studio, export
sidecars and ``cdvae-sample --image`` all carry that one string, so a result names its frame.
Reading the frame at a time, and the Time bar's previews, are video_frames.py's.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from ..tasks.base import fit_within
from .errors import SkipItem
from .images import MIN_SIDE

VIDEO_EXTENSIONS = (".avi", ".mp4", ".mov", ".mkv", ".mpg", ".mpeg", ".webm", ".m4v", ".wmv", ".flv")
DEFAULT_FPS = 25.0  # used when a container does not say (UCF101 is 25 fps)
FRAMES_PER_VIDEO = 8  # the paper's eight evenly sampled frames
FULL_SIZE = 1 << 30  # a max_side that keeps frames at their own size
TIME_FRAGMENT = "#t="  # Media Fragments' temporal dimension, in seconds (npt)


def _exists(text: str) -> bool:
    """Path(text).exists(), False where the system refuses the name (too long): reading it says why."""
    try:
        return Path(text).exists()
    except OSError:
        return False


def split_time(path: str | os.PathLike, strict: bool = True) -> tuple[Path, float | None]:
    """A source path -> (file, seconds into it or None). ``clip.mp4#t=2.5`` names a video's frame
    at 2.5 s; a file that exists under the whole name, "#" and all, is just that file.

    A time that is not a number of seconds >= 0, or a time after a photo that exists: ValueError
    with a one-line reason, or with
    ``strict=False`` the path as given and None (for naming things; reading it raises).
    """
    text = os.fspath(path)
    head, sep, tail = text.rpartition(TIME_FRAGMENT)
    if not sep or _exists(text):
        return Path(text), None
    if Path(head).suffix.lower() not in VIDEO_EXTENSIONS:
        # "photo.jpg#t=2" was "no such image file" about a photo that is there
        if strict and _exists(head):
            raise ValueError(f"{TIME_FRAGMENT}{tail} picks a video's frame, and {Path(head).name} is not a video")
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
    """The frame shown at ``seconds`` at a steady rate: the nearest one, the later of two at
    half-way (as ``_shown_at`` finds it by timestamps)."""
    return int(np.floor(seconds * fps + 0.5))


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


def _decode(path: Path, wanted: set[int], max_side: int) -> tuple[dict[int, tuple[np.ndarray, float]], int]:
    """Decode in order from the start, keeping the frames in ``wanted``; -> ({index: (frame, its
    timestamp in s)}, index of the frame after the last one read: the frame count when the video
    ended)."""
    cap = cv2.VideoCapture(str(path))
    frames: dict[int, tuple[np.ndarray, float]] = {}
    index = 0
    try:
        if not cap.isOpened():
            raise SkipItem("video will not open", path.name)
        last = max(wanted) if wanted else -1
        while True:
            if not cap.grab():
                break
            if index in wanted and (rgb := grabbed_rgb(cap)) is not None:
                frames[index] = (fit_within(rgb, max_side), grabbed_time(cap))
            index += 1
            if wanted and index > last:
                break
    finally:
        cap.release()
    return frames, index


TIME_TICK = 1e-6  # the resolution of timestamps, in s (grabbed_time): nearer by less is a tie


def grabbed_time(cap: cv2.VideoCapture) -> float:
    """The presentation time of the frame just grabbed, in seconds from the stream's start, to the
    microsecond (OpenCV's milliseconds carry float noise: 2800.0000000000005)."""
    return round(cap.get(cv2.CAP_PROP_POS_MSEC) * 1000.0) / 1e6


def grabbed_rgb(cap: cv2.VideoCapture) -> np.ndarray | None:
    """The frame just grabbed as RGB uint8 (H, W, 3), None where it will not decode."""
    ok, bgr = cap.retrieve()
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB) if ok and bgr is not None and bgr.ndim == 3 else None



def _gap(earlier: float, later: float, frames: int, fps: float) -> float:
    """Seconds between two frames ``frames`` apart: their timestamps' difference (true in a
    variable-frame-rate video too), or frames / fps where the container gives no usable times."""
    return round(later - earlier, 6) if later > earlier else frames / fps


def video_frame_pairs(path: str | Path, count: int = FRAMES_PER_VIDEO, seconds: float = 1.0,
                      max_side: int = 320) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """-> up to ``count`` (frame uint8 (h, w, 3), frame ``seconds`` later, true gap in s).

    SkipItem when the video does not open, decodes no frames, is shorter than ``seconds`` or its
    frames are smaller than photos may be (``MIN_SIDE``: a 6x4 clip gave pairs of pure noise).
    """
    path = Path(path)
    n_frames, fps = video_info(path)
    step = max(1, int(round(fps * seconds)))
    best: list[tuple[np.ndarray, np.ndarray, float]] = []
    for _attempt in range(2):
        starts = plan_indices(n_frames, step, count)
        if not starts:
            break
        wanted = set(starts) | {t + step for t in starts}
        frames, decoded = _decode(path, wanted, max_side)
        pairs = [(frames[t][0], frames[t + step][0], _gap(frames[t][1], frames[t + step][1], step, fps))
                 for t in starts if t in frames and t + step in frames]
        if len(pairs) > len(best):
            best = pairs
        if len(pairs) == len(starts) or decoded >= n_frames:
            break
        n_frames = decoded  # the container over-reported its length: plan again on what decodes
    if best:
        h, w = best[0][0].shape[:2]
        if min(h, w) < MIN_SIDE:
            raise SkipItem("video too small", f"{path.name}: frames of {w}x{h}, need {MIN_SIDE}x{MIN_SIDE}")
        return best
    if n_frames == 0:
        raise SkipItem("video will not decode", path.name)
    raise SkipItem("video shorter than one second", f"{path.name}: {n_frames} frames at {fps:g} fps")


def container_info(path: Path) -> tuple[int, float]:
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


def _count_packets(path: Path) -> int | None:
    """The video stream's packets, read without decoding them (OpenCV's raw stream mode, FFmpeg
    backend): one per frame, as decoding counts them; None where raw mode is not on offer.

    A container that does not say its length (a WebM a browser's recorder was stopped in, a
    live-muxed MKV, a raw .h264 stream) was counted by decoding it whole: 1.5 ms a frame at
    720p, minutes for an hour of video, while this reads a frame's packet in microseconds.
    """
    cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    try:
        if not cap.isOpened() or not cap.set(cv2.CAP_PROP_FORMAT, -1):
            return None
        count = 0
        while cap.grab():
            count += 1
        return count
    finally:
        cap.release()


def video_info(path: str | os.PathLike) -> tuple[int, float]:
    """(frames, frames per second) of a video; where the container does not say, its frames are
    counted by their packets (``_count_packets``), or by decoding where OpenCV cannot read packets.
    SkipItem when the file is missing or the video will not open."""
    path = Path(path)
    n_frames, fps = container_info(path)
    if n_frames == 0:
        n_frames = _count_packets(path)
    if n_frames is None:
        _, n_frames = _decode(path, set(), FULL_SIZE)
    return n_frames, fps


def list_videos(folder: str | Path) -> list[Path]:
    """Video files under ``folder`` (recursive, hidden names skipped), sorted."""
    root = Path(folder)
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in VIDEO_EXTENSIONS
                  and p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts))

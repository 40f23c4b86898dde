"""Decoding videos with OpenCV into the motion task's frame pairs.

As in the paper, eight frames are sampled evenly from each video, each paired with the frame
one second later (``round(fps)`` frames on). Frames are shrunk while decoding so a long video
never sits in memory at full size.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ..tasks.base import fit_within
from .errors import SkipItem

VIDEO_EXTENSIONS = (".avi", ".mp4", ".mov", ".mkv", ".mpg", ".mpeg", ".webm", ".m4v", ".wmv", ".flv")
DEFAULT_FPS = 25.0  # used when a container does not say (UCF101 is 25 fps)
FRAMES_PER_VIDEO = 8  # the paper's eight evenly sampled frames
FULL_SIZE = 1 << 30  # a max_side that keeps frames at their own size


def plan_indices(n_frames: int, step: int, count: int) -> list[int]:
    """Evenly spaced start frames t (count at most) with t + step < n_frames."""
    last = n_frames - 1 - step
    if last < 0:
        return []
    return sorted(set(np.linspace(0, last, count).round().astype(int).tolist()))


def _decode(path: Path, wanted: set[int], max_side: int) -> tuple[dict[int, np.ndarray], int]:
    """Decode sequentially, keeping the frames in ``wanted``; -> (frames, frames decoded)."""
    cap = cv2.VideoCapture(str(path))
    frames: dict[int, np.ndarray] = {}
    index = 0
    try:
        if not cap.isOpened():
            raise SkipItem("video will not open", path.name)
        last = max(wanted) if wanted else -1
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
    step = max(1, int(round(fps * seconds)))
    gap = step / fps
    n_frames = reported
    if n_frames <= 0:  # unknown length: count by decoding (no frames kept)
        _, n_frames = _decode(path, set(), max_side)
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


def first_frames(path: str | Path, seconds: float = 1.0) -> tuple[np.ndarray, np.ndarray | None, float | None]:
    """A video's first frame uint8 (H, W, 3) RGB at full size, the frame ``seconds`` later (None
    when the video is shorter) and the true gap between them in seconds (None likewise): the still
    that a motion model predicts from, and what really happened next.

    SkipItem when the video does not open or decodes no frame.
    """
    try:
        frame, later, gap = video_frame_pairs(path, count=1, seconds=seconds, max_side=FULL_SIZE)[0]
        return frame, later, gap
    except SkipItem as exc:
        if exc.reason != "video shorter than one second":
            raise
    frames, _ = _decode(Path(path), {0}, FULL_SIZE)
    if 0 not in frames:
        raise SkipItem("video will not decode", Path(path).name)
    return frames[0], None, None


def list_videos(folder: str | Path) -> list[Path]:
    """Video files under ``folder`` (recursive, hidden names skipped), sorted."""
    root = Path(folder)
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in VIDEO_EXTENSIONS
                  and p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts))

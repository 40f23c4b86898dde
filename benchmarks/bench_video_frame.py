"""Reading a video's frame at a time (the Studio's Time bar, ``clip.mp4#t=...`` in exports).

``data.video.frames_at`` seeks to the frame (OpenCV seeks to the keyframe before it and decodes
on); the baseline decodes every frame in order from the start, which is what it did before and
what it falls back to where a seek brings no frame. Both read the frame and the frame a second
on at full size. Per codec and depth: seconds of each, their ratio, and whether both give the
same pixels (a seek that landed on another frame would show here).

    python benchmarks/bench_video_frame.py [--size 1920x1080] [--seconds 20] [--fps 30]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from cdvae_core.data import video
from cdvae_core.data.builtin import builtin_images


def write_clip(path: Path, fourcc: str, size: tuple[int, int], frames: int, fps: float) -> None:
    """A pan over a built-in photo, every frame different."""
    w, h = size
    photo = cv2.resize(np.asarray(builtin_images()[2][1])[:, :, ::-1], (2 * w, 2 * h), interpolation=cv2.INTER_CUBIC)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (w, h))
    for t in range(frames):
        x, y = int(t * w / frames), int(t * h / (2 * frames))
        writer.write(np.ascontiguousarray(photo[y:y + h, x:x + w]))
    writer.release()


def in_order(path: Path, seconds: float, fps: float) -> np.ndarray:
    """The baseline: frames decoded from the start up to the wanted one and a second on."""
    index = int(round(seconds * fps))
    frames, _ = video._decode(path, {index, index + int(round(fps))}, video.FULL_SIZE)
    return frames[index]


def timed(fn, *args):
    started = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - started, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="1920x1080")
    ap.add_argument("--seconds", type=float, default=20.0, help="length of the test clips")
    ap.add_argument("--fps", type=float, default=30.0)
    args = ap.parse_args()
    size = tuple(int(v) for v in args.size.split("x"))
    frames = int(args.seconds * args.fps)
    with tempfile.TemporaryDirectory() as tmp:
        for fourcc, suffix in (("MJPG", ".avi"), ("mp4v", ".mp4")):
            path = Path(tmp) / f"clip{suffix}"
            write_clip(path, fourcc, size, frames, args.fps)
            print(f"{fourcc} {size[0]}x{size[1]}, {args.seconds:g} s at {args.fps:g} fps")
            for depth in (0.25, 0.5, 0.9):
                at = round(depth * (args.seconds - 1.0), 2)
                seek_s, (frame, _, _) = timed(video.frames_at, path, at)
                order_s, reference = timed(in_order, path, at, args.fps)
                same = "same pixels" if np.array_equal(frame, reference) else "DIFFERENT pixels"
                print(f"  at {at:6.2f} s: seek {seek_s:6.3f} s, in order {order_s:6.3f} s, "
                      f"ratio {seek_s / order_s:5.2f}x, {same}")


if __name__ == "__main__":
    main()

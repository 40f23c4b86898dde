"""Reading a video's frame at a time (the Studio's Time bar, ``clip.mp4#t=...`` in exports).

``data.video_frames.frames_at`` seeks near the frame (OpenCV seeks to the keyframe before it and
decodes on) and finds it by timestamps; the baseline scans the timestamps of every frame from the
start, which is what it falls back to where no seek works. Both read the frame and the frame a
second on at full size. Per codec and depth: seconds of each, their ratio, and whether both give
the same pixels (a seek that landed on another frame would show here). MJPG and MPEG-4 part 2
clips are written with OpenCV; H.264 (libx264's defaults: B-frames, a keyframe every 250 frames)
with PyAV where it is installed (``pip install -e ".[test]"``).

Then a video's length where the container does not say it (a live-muxed H.264 MKV, as a
recording stopped before its muxer closed leaves one): ``data.video.video_info`` counts the
stream's packets against the baseline of decoding every frame, and both counts must agree. And
stepping through that video a frame, then a second, at a time: reads that go on from the readers
kept open (``data.kept_readers``) against reading each step from the start.

    python benchmarks/bench_video_frame.py [--size 1920x1080] [--seconds 20] [--fps 30]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from cdvae_core.data import video, video_frames
from cdvae_core.data.builtin import builtin_images


def pan(size: tuple[int, int], frames: int):
    """BGR uint8 (h, w, 3) frames of a pan over a built-in photo, every frame different."""
    w, h = size
    photo = cv2.resize(np.asarray(builtin_images()[2][1])[:, :, ::-1], (2 * w, 2 * h), interpolation=cv2.INTER_CUBIC)
    for t in range(frames):
        x, y = int(t * w / frames), int(t * h / (2 * frames))
        yield np.ascontiguousarray(photo[y:y + h, x:x + w])


def write_clip(path: Path, fourcc: str, size: tuple[int, int], frames: int, fps: float) -> bool:
    """The pan as a video: OpenCV for its codecs, PyAV for "h264"; False where neither can."""
    if fourcc != "h264":
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, size)
        for bgr in pan(size, frames):
            writer.write(bgr)
        writer.release()
        return True
    try:
        import av
    except ImportError:
        return False
    live = {"live": "1"} if path.suffix == ".mkv" else {}  # Matroska with no duration or index
    with av.open(str(path), "w", options=live) as container:
        stream = container.add_stream("libx264", rate=round(fps))
        stream.width, stream.height, stream.pix_fmt = *size, "yuv420p"
        for bgr in pan(size, frames):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(bgr, format="bgr24")))
        container.mux(stream.encode(None))
    return True


def in_order(path: Path, seconds: float, fps: float) -> np.ndarray:
    """The baseline: the same scan by timestamps, from the first frame instead of a seek."""
    still, _later = video_frames._scan(path, seconds, 1.0, fps, start=0)
    return still.image


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
        for fourcc, suffix in (("MJPG", ".avi"), ("mp4v", ".mp4"), ("h264", ".mp4")):
            path = Path(tmp) / f"clip_{fourcc}{suffix}"
            if not write_clip(path, fourcc, size, frames, args.fps):
                print(f"{fourcc}: skipped (PyAV is not installed)")
                continue
            print(f"{fourcc} {size[0]}x{size[1]}, {args.seconds:g} s at {args.fps:g} fps")
            for depth in (0.25, 0.5, 0.9):
                at = round(depth * (args.seconds - 1.0), 2)
                seek_s, (frame, _, _) = timed(video_frames.frames_at, path, at)
                order_s, reference = timed(in_order, path, at, args.fps)
                same = "same pixels" if np.array_equal(frame, reference) else "DIFFERENT pixels"
                print(f"  at {at:6.2f} s: seek {seek_s:6.3f} s, in order {order_s:6.3f} s, "
                      f"ratio {seek_s / order_s:5.2f}x, {same}")
        live = Path(tmp) / "live.mkv"
        if write_clip(live, "h264", size, frames, args.fps):
            assert video.container_info(live)[0] == 0, "the live MKV should not say its length"
            packets_s, (counted, _) = timed(video.video_info, live)
            decode_s, (_, decoded) = timed(video._decode, live, set(), video.FULL_SIZE)
            agree = "same count" if counted == decoded else f"DIFFERENT counts ({decoded} decoded)"
            print(f"length of a live-muxed H.264 MKV, {frames} frames: packets {packets_s:6.3f} s, "
                  f"decoding {decode_s:6.3f} s, ratio {packets_s / decode_s:7.4f}x, {agree}")
            stepping(live, args.seconds, args.fps)


def stepping(path: Path, seconds: float, fps: float) -> None:
    """Stepping through a video that cannot seek, as the Time bar's arrow keys and Page Down do:
    the still and its truth a second later at each step, read on from the kept readers, against
    the baseline of each read from the start (no reader kept)."""
    start = round(0.7 * (seconds - 1.0), 2)
    times = [start] + [start + k / fps for k in range(1, 6)] + [start + 5 / fps + 1.0]
    video_frames._KEPT.clear()
    kept = [timed(video_frames.frames_at, path, at) for at in times]  # one stepping session
    fresh = []
    for at in times:
        video_frames._KEPT.clear()
        fresh.append(timed(video_frames.frames_at, path, at))
    video_frames._KEPT.clear()
    print(f"stepping in the live MKV from {start:g} s (5 frames on, then a second on):")
    for at, (kept_s, a), (fresh_s, b) in zip(times, kept, fresh):
        same = all(np.array_equal(x, y) for x, y in zip(a[:2], b[:2]))
        print(f"  {at:6.2f} s: kept readers {kept_s:6.3f} s, from the start {fresh_s:6.3f} s, ratio "
              f"{kept_s / fresh_s:5.2f}x, {'same pixels' if same else 'DIFFERENT pixels'}")


if __name__ == "__main__":
    main()

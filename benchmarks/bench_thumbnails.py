"""The Studio's small pictures: gallery thumbnails and the Time bar's frame preview.

Per case, the best of ``--repeats`` runs, each against the baseline measured in the same run:

- a JPEG's gallery thumbnail (``thumbnails.read_thumbnail``: libjpeg decodes at 1/2 to 1/8 scale)
  against the Studio's full loader and a resize (``load_image``), for photos of 3, 12 and 24
  megapixels, with the mean difference between the two 56 px thumbnails (0-255);
- a video frame's preview (``frames_at(..., seconds=None)``: the still alone) against reading the
  still with its motion truth a second on (``frames_at``, what opening the frame reads), 1080p
  MJPG at 4.75 and 9.5 s.

    python benchmarks/bench_thumbnails.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from cdvae_core.data.builtin import builtin_images
from cdvae_core.data.video_frames import frames_at
from cdvae_studio.images import load_image, resize_rgb
from cdvae_studio.thumbnails import THUMB_SIDE, read_thumbnail


def best_of(repeats: int, fn, *args) -> tuple[float, object]:
    """(the fastest of ``repeats`` calls in seconds, the last call's result)."""
    best, out = float("inf"), None
    for _ in range(repeats):
        started = time.perf_counter()
        out = fn(*args)
        best = min(best, time.perf_counter() - started)
    return best, out


def photo(width: int, height: int) -> np.ndarray:
    """A built-in photo blown up to width x height, BGR uint8 (detail for the JPEG coder to keep)."""
    return cv2.resize(np.asarray(builtin_images()[0][1])[:, :, ::-1], (width, height), interpolation=cv2.INTER_CUBIC)


def full_thumbnail(path: Path) -> np.ndarray:
    """The baseline: the photo as the Studio opens it, shrunk to the thumbnail's side."""
    return resize_rgb(load_image(path).rgb, THUMB_SIDE)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        print("gallery thumbnail of a JPEG: reduced decode vs the full loader")
        for width, height in ((2000, 1500), (4000, 3000), (6000, 4000)):
            path = Path(tmp) / f"photo_{width}.jpg"
            cv2.imwrite(str(path), photo(width, height), [cv2.IMWRITE_JPEG_QUALITY, 92])
            fast_s, fast = best_of(args.repeats, read_thumbnail, path)
            full_s, full = best_of(args.repeats, full_thumbnail, path)
            diff = np.abs(np.asarray(fast, int) - np.asarray(full, int)).mean()
            print(f"  {width * height / 1e6:4.0f} MP: {fast_s * 1e3:6.1f} ms vs {full_s * 1e3:6.1f} ms, "
                  f"ratio {fast_s / full_s:4.2f}x, mean difference {diff:.2f} levels")
        print("Time bar preview of a 1080p MJPG frame: the still alone vs the still and its truth")
        clip = Path(tmp) / "clip.avi"
        writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, (1920, 1080))
        big = photo(2400, 1500)
        for t in range(330):  # 11 s panning
            writer.write(np.ascontiguousarray(big[t // 2:t // 2 + 1080, t:t + 1920]))
        writer.release()
        for at in (4.75, 9.5):
            alone_s, (still, _, _) = best_of(args.repeats, frames_at, clip, at, None)
            both_s, (with_truth, _, _) = best_of(args.repeats, frames_at, clip, at)
            same = "same frame" if np.array_equal(still, with_truth) else "DIFFERENT frames"
            print(f"  at {at:5.2f} s: {alone_s * 1e3:6.1f} ms vs {both_s * 1e3:6.1f} ms, "
                  f"ratio {alone_s / both_s:4.2f}x, {same}")


if __name__ == "__main__":
    main()

"""Full-resolution export of a large photo: time per result, and the resaturation window's share.

A phone photo is 12 megapixels. Each exported result is the 32x32 sample upsampled to the photo
(edge-aware), plus the detail map, composed through the task. For resaturation, composing once
blurred the photo's hue field with a Gaussian of sigma 3% of the longer side at full resolution
(12 s per result at 4000 px). Since then the window is blurred on a copy reduced to
HUE_MAX_SIDE. This prints, for one photo at each size:

- per-image preparation (decomposition, upsampler) and per-result render time (upsample + compose,
  no file writing), with the window at full resolution (the baseline) and reduced (as shipped),
  and their ratio;
- the largest difference between the two composed results in grey levels.

    python benchmarks/bench_export.py [--sides 2000,4000] [--results 2]
"""

from __future__ import annotations

import argparse
import time
from unittest import mock

import cv2
import numpy as np
import torch

from cdvae_core.data.builtin import builtin_images
from cdvae_core.postprocess.render import Renderer
from cdvae_core.tasks import get_task


def render_seconds(renderer: Renderer, xg: np.ndarray, own: np.ndarray) -> tuple[float, list[np.ndarray]]:
    """Seconds per result to render ``xg`` (n, 1, 32, 32) at the photo's size, and the results."""
    started = time.perf_counter()
    results = renderer.render(xg, own)
    return (time.perf_counter() - started) / len(xg), results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sides", default="2000,4000", help="longer sides of the test photos, in pixels")
    parser.add_argument("--results", type=int, default=2, help="results rendered per photo and variant")
    args = parser.parse_args()
    torch.set_num_threads(2)
    task = get_task("resaturation")
    astronaut = builtin_images()[0][1]
    rng = np.random.default_rng(0)
    for side in (int(s) for s in args.sides.split(",")):
        photo = cv2.resize(astronaut, (side, side * 3 // 4), interpolation=cv2.INTER_CUBIC)
        started = time.perf_counter()
        renderer = Renderer(task, photo)
        prepare = time.perf_counter() - started
        own = renderer.xg_model
        xg = np.clip(own[None] + rng.normal(0, 0.15, (args.results, 1, 1, 1)).astype(np.float32) + 0.2, 0, 1)
        reduced, fast = render_seconds(renderer, xg, own)
        with mock.patch("cdvae_core.tasks.resaturation.HUE_MAX_SIDE", 10 ** 6):
            full, exact = render_seconds(renderer, xg, own)
        levels = max(int(np.abs(a.astype(int) - b.astype(int)).max()) for a, b in zip(fast, exact))
        print(f"{photo.shape[1]}x{photo.shape[0]} ({photo.shape[0] * photo.shape[1] / 1e6:.0f} MP): "
              f"prepare {prepare:.2f} s; per result: window reduced {reduced:.2f} s, "
              f"at full resolution {full:.2f} s (baseline); reduced / full {reduced / full:.2f}x; "
              f"largest difference {levels} grey level(s)")


if __name__ == "__main__":
    main()

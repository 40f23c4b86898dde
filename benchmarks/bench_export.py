"""Full-resolution export of a large photo: resaturation's hue window, per photo and per result.

A phone photo is 12 megapixels. Each exported result is the 32x32 sample upsampled to the photo
(edge-aware), plus the detail map, composed through the task. Resaturation's compose takes
near-grey pixels' hue from a window of 3% of the longer side (``hue_borrowing``: a guided filter),
which depends on the photo alone. Two changes, each measured against its baseline in the same run:

- the window is blurred on a copy reduced to HUE_MAX_SIDE (baseline: at full resolution, which
  took 12 s at 4000 px): the per-photo time of ``prepare_compose``, and the largest difference of
  the composed results in grey levels;
- a Renderer prepares the photo once (``prepare_compose``) and every result reuses it (baseline:
  the task's compose recomputing it for every result): the per-result time of upsampling,
  detail map and compose, no file writing;
- pixelwise steps (resaturation's decompose, prepare and compose; relighting's compose and its
  albedo division) run on strips of rows of about 1 MP (baseline: the whole photo at once, as
  before): the peak of numpy's memory (tracemalloc) and the time of building a Renderer and
  rendering one result, for both tasks, and whether the results are the same bytes.

    python benchmarks/bench_export.py [--sides 2000,4000] [--results 3]
"""

from __future__ import annotations

import argparse
import time
import tracemalloc
from unittest import mock

import cv2
import numpy as np
import torch

from cdvae_core.data.builtin import builtin_images
from cdvae_core.postprocess.render import Renderer
from cdvae_core.tasks import get_task


def seconds(fn, *args):
    started = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - started, out


def one_result_peak(task, photo: np.ndarray, xg: np.ndarray, own: np.ndarray) -> tuple[float, float, np.ndarray]:
    """(peak numpy MB, seconds, result) of a fresh Renderer rendering one result of ``photo``."""
    tracemalloc.start()
    started = time.perf_counter()
    result = Renderer(task, photo).render(xg[:1], own)[0]
    elapsed = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1] / 2 ** 20
    tracemalloc.stop()
    return peak, elapsed, result


def strips_against_whole(photo: np.ndarray, rng: np.random.Generator) -> None:
    for name in ("resaturation", "relighting"):
        task = get_task(name)
        own = task.to_model(task.decompose(cv2.resize(photo, (256, 192), interpolation=cv2.INTER_AREA))[1])
        xg = np.clip(own[None] + np.float32(rng.normal(0, 0.1)), 0, 1)
        strip_mb, strip_s, strip_result = one_result_peak(task, photo, xg, own)
        with mock.patch("cdvae_core.tasks.base.STRIP_PIXELS", 10 ** 12):
            whole_mb, whole_s, whole_result = one_result_peak(task, photo, xg, own)
        same = "the same bytes" if np.array_equal(strip_result, whole_result) else "DIFFERENT bytes"
        print(f"  {name}, one result from a fresh Renderer: peak numpy memory {strip_mb:.0f} MB in strips, "
              f"{whole_mb:.0f} MB whole (baseline), {strip_mb / whole_mb:.2f}x; time {strip_s:.2f} s vs "
              f"{whole_s:.2f} s, {strip_s / whole_s:.2f}x; {same}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sides", default="2000,4000", help="longer sides of the test photos, in pixels")
    parser.add_argument("--results", type=int, default=3, help="results rendered per photo and variant")
    args = parser.parse_args()
    torch.set_num_threads(2)
    task = get_task("resaturation")
    astronaut = builtin_images()[0][1]
    rng = np.random.default_rng(0)
    for side in (int(s) for s in args.sides.split(",")):
        photo = cv2.resize(astronaut, (side, side * 3 // 4), interpolation=cv2.INTER_CUBIC)
        renderer = Renderer(task, photo)
        own = renderer.xg_model
        xg = np.clip(own[None] + rng.normal(0, 0.15, (args.results, 1, 1, 1)).astype(np.float32) + 0.2, 0, 1)
        layers = renderer.layers(xg, own)

        reduced_s, reduced = seconds(task.prepare_compose, photo)
        with mock.patch("cdvae_core.tasks.resaturation.HUE_MAX_SIDE", 10 ** 6):
            full_s, full = seconds(task.prepare_compose, photo)
        levels = max(int(np.abs(task.compose(renderer.xc_full, layer, image=photo, prepared=reduced).astype(int)
                                - task.compose(renderer.xc_full, layer, image=photo, prepared=full).astype(int)).max())
                     for layer in layers)

        renderer.compose(layers[0])  # prepares the photo: counted above, not per result
        per_result, _ = seconds(renderer.render, xg, own)
        recompute = 0.0
        for layer in layers:  # the baseline: compose recomputing the window every time
            recompute += seconds(task.compose, renderer.xc_full, layer, photo)[0]
        upsample, _ = seconds(renderer.layers, xg, own)
        baseline = (upsample + recompute) / len(xg)
        per_result /= len(xg)
        print(f"{photo.shape[1]}x{photo.shape[0]} ({photo.shape[0] * photo.shape[1] / 1e6:.0f} MP): "
              f"hue window per photo: reduced {reduced_s:.2f} s, full resolution {full_s:.2f} s (baseline), "
              f"{reduced_s / full_s:.2f}x, results within {levels} grey level(s); "
              f"per result: prepared once {per_result:.2f} s, recomputed {baseline:.2f} s (baseline), "
              f"{per_result / baseline:.2f}x")
        strips_against_whole(photo, rng)


if __name__ == "__main__":
    main()

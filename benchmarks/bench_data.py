"""Data benchmarks: pair throughput, 80K-image feature extraction, decomposition and flow accuracy.

Every figure is printed with the baseline measured in the same run and their ratio:
- pairs/s per task from the built-in source, 2 worker processes against 1;
- COCO-like photos (640x480 JPEGs on disk) through read + decompose + guidance features,
  projected to 80,000 images from a measured sample, 2 workers against 1;
- relighting: LMSE of Color Retinex + filtering against shading = luminance, on synthetic
  albedo x shading scenes with known truth (also without the reflectance filter);
- motion: endpoint error and time of DIS against Farneback on synthetic clips with known flow.

    python benchmarks/bench_data.py [--pairs 3000] [--sample 200]
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

from cdvae_core.data import builtin_images, prepare_pairs
from cdvae_core.data.synthetic_motion import FRAME_SIZE, random_motion, render_clip
from cdvae_core.tasks import TASK_NAMES
from cdvae_core.tasks.base import to_float_rgb
from cdvae_core.tasks.flow import endpoint_error, flow_model_units
from cdvae_core.tasks.intrinsic import RetinexSettings, decompose_intrinsic
from cdvae_core.tasks.intrinsic_eval import intrinsic_scores, luminance_baseline, synthetic_intrinsic


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def timed_prepare(gen):
    """Drive a prepare generator -> (pairs, total seconds, steady items/s after the first result).

    The steady rate leaves out the fixed start-up (spawning workers, reading the source), which
    is what a projection to a large set needs.
    """
    start = time.perf_counter()
    marks = []
    while True:
        try:
            progress = next(gen)
        except StopIteration as stop:
            total = time.perf_counter() - start
            pairs = stop.value
            break
        if progress.stage == "prepare":
            marks.append((time.perf_counter(), progress.done))
    # From the first record past 10% (workers started, first chunks back) to the end.
    (t0, d0) = next((m for m in marks if m[1] >= 0.1 * marks[-1][1]), marks[0])
    (t1, d1) = marks[-1]
    steady = (d1 - d0) / (t1 - t0) if t1 > t0 and d1 > d0 else d1 / total
    return pairs, total, steady


def cpu_seconds() -> float:
    """CPU time of this process and of its reaped children (the worker processes)."""
    multiprocessing.active_children()  # reap finished workers so their time is counted
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def bench_throughput(n_pairs: int) -> None:
    print(f"== built-in pairs per second ({n_pairs} pairs per task; baseline: 1 worker)")
    print("   (CPU s/pair counts every process: on a busy machine wall time hides the parallelism,")
    print("    CPU time does not; 2 idle cores would give about 2 x (CPU ratio) x the 1-worker rate)")
    for task in TASK_NAMES:
        c0 = cpu_seconds()
        one, t1, r1 = timed_prepare(prepare_pairs("builtin", task, limit=n_pairs, workers=1))
        c1 = cpu_seconds()
        two, t2, r2 = timed_prepare(prepare_pairs("builtin", task, limit=n_pairs, workers=2))
        time.sleep(1.0)  # let the workers exit
        c2 = cpu_seconds()
        assert len(one) == len(two) == n_pairs
        cpu1, cpu2 = (c1 - c0) / n_pairs, (c2 - c1) / n_pairs
        print(f"{task:13s} 2 workers {n_pairs / t2:5.0f} pairs/s ({t2:5.1f} s, steady {r2:5.0f}/s,"
              f" {1000 * cpu2:4.1f} CPU ms/pair) | 1 worker {n_pairs / t1:5.0f} pairs/s ({t1:5.1f} s,"
              f" {1000 * cpu1:4.1f} CPU ms/pair) | wall ratio {t1 / t2:4.2f}x, CPU ratio {cpu1 / cpu2:4.2f}x")


def bench_coco_projection(sample: int) -> None:
    print(f"== read + decompose + features of 640x480 JPEGs, {sample} measured, projected to 80,000 "
          "(baseline: 1 worker)")
    photos = [img for _, img in builtin_images()]
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for k in range(sample):
            img = photos[k % len(photos)]
            h, w = img.shape[:2]
            y, x = int(rng.integers(0, h // 4)), int(rng.integers(0, w // 4))
            crop = cv2.resize(img[y:, x:], (640, 480), interpolation=cv2.INTER_LINEAR)
            cv2.imwrite(str(folder / f"{k:06d}.jpg"), crop[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 90])
        for task in ("relighting", "resaturation"):
            one, t1, r1 = timed_prepare(prepare_pairs(("folder", folder), task, workers=1))
            two, t2, r2 = timed_prepare(prepare_pairs(("folder", folder), task, workers=2))
            gib = 80000 * (one.fc.shape[1] + one.fg.shape[1] + one.xc[0].size + one.xg[0].size) * 4 / 2**30
            print(f"{task:13s} steady {r2:5.0f} images/s -> 80,000 in {80000 / r2 / 60:5.1f} min on 2 workers"
                  f" (start-up {t2 - sample / r2:3.1f} s) | 1 worker {r1:5.0f} images/s, {80000 / r1 / 60:5.1f} min"
                  f" | ratio {r2 / r1:4.2f}x | pair file ~{gib:.1f} GiB (fc with COCO labels adds 80*26 columns)")


def bench_intrinsic(n: int) -> None:
    print(f"== relighting decomposition on {n} synthetic albedo x shading scenes (LMSE, lower is better)")
    scenes = [synthetic_intrinsic(seed) for seed in range(n)]
    variants = {"retinex+filter": RetinexSettings(), "retinex only": replace(RetinexSettings(), filter_radius=0, shading_blur=0)}
    base = [intrinsic_scores(a, s, *luminance_baseline(img)) for img, a, s in scenes]
    b = {k: np.mean([r[k] for r in base]) for k in ("albedo", "shading", "mean")}
    print(f"{'luminance':15s} albedo {b['albedo']:.5f} shading {b['shading']:.5f} mean {b['mean']:.5f} (baseline)")
    for name, settings in variants.items():
        scores, seconds = [], 0.0
        for img, a, s in scenes:
            (al, sh), dt = timed(lambda: decompose_intrinsic(to_float_rgb(img), settings))
            seconds += dt
            scores.append(intrinsic_scores(a, s, al.transpose(1, 2, 0), sh[0]))
        m = {k: np.mean([r[k] for r in scores]) for k in ("albedo", "shading", "mean")}
        print(f"{name:15s} albedo {m['albedo']:.5f} shading {m['shading']:.5f} mean {m['mean']:.5f} | "
              f"ratio to baseline {m['mean'] / b['mean']:.3f} | {1000 * seconds / n:.1f} ms per 128x128")


def bench_flow(n: int) -> None:
    print(f"== optical flow on {n} synthetic clips, {FRAME_SIZE}x{FRAME_SIZE}, known truth (model px/s; baseline: Farneback)")
    photos = [img for _, img in builtin_images()]
    rng = np.random.default_rng(0)
    clips = []
    for k in range(n):
        photo = photos[k % len(photos)]
        clips.append(render_clip(photo, random_motion(rng, photo)))
    results = {}
    for method in ("dis", "farneback"):
        errs, seconds = [], 0.0
        for f0, f1, truth in clips:
            est, dt = timed(lambda: flow_model_units(f0, f1, method=method))
            seconds += dt
            errs.append(endpoint_error(est, truth))
        results[method] = (float(np.mean(errs)), seconds / n)
    zero = float(np.mean([endpoint_error(np.zeros_like(t), t) for _, _, t in clips]))
    (e_d, t_d), (e_f, t_f) = results["dis"], results["farneback"]
    print(f"DIS       EPE {e_d:.3f}  {1000 * t_d:5.2f} ms/pair | Farneback EPE {e_f:.3f}  {1000 * t_f:5.2f} ms/pair"
          f" | zero-flow EPE {zero:.3f}")
    print(f"ratio DIS/Farneback: EPE {e_d / e_f:.2f}x, time {t_d / t_f:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=3000, help="built-in pairs per task")
    parser.add_argument("--sample", type=int, default=300, help="640x480 JPEGs for the 80K projection")
    parser.add_argument("--scenes", type=int, default=16, help="synthetic intrinsic scenes")
    parser.add_argument("--clips", type=int, default=60, help="synthetic flow clips")
    args = parser.parse_args()
    cv2.setNumThreads(1)  # fair single-core baselines; workers get one OpenCV thread each too
    bench_intrinsic(args.scenes)
    bench_flow(args.clips)
    bench_throughput(args.pairs)
    bench_coco_projection(args.sample)


if __name__ == "__main__":
    main()

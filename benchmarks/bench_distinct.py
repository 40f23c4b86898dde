"""Distinct results (Samples > Distinct results, ``cdvae-sample --distinct``) against plain draws.

For each built-in model and built-in photo, against the baseline of the same run, 16 plain draws
(``Predictor.draw`` + ``decode``, what Resample shows):

- time: ``draw_distinct`` (256 draws decoded, k-means into 16, the representatives decoded
  again for the grid) as a ratio of the plain draw;
- how well the 16 shown samples stand for the model's conditional: 1,024 fresh samples of the same
  photo (another seed), each one's per-pixel MSE to the nearest of the 16 (the best-of-16 error
  against the model's own samples; lower: fewer of the model's answers missing from the grid),
  as a ratio distinct / plain;
- the closest pair among the 16 (per-pixel MSE; higher: no near-duplicates), distinct / plain;
- the spread across the 16 (mean per-pixel variance), distinct / plain: k-means representatives
  are their clusters' central members, so rare extreme samples are shown less often.

Run: ``python benchmarks/bench_distinct.py [--threads 2] [--photos 6]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
N, POOL, REFERENCE = 16, 256, 1024
REPS = 5  # timings per path and photo


def _nearest_mse(reference: np.ndarray, shown: np.ndarray) -> float:
    """Mean over reference (R, F) of the per-pixel MSE to the nearest row of shown (16, F)."""
    d = ((reference[:, None, :] - shown[None]) ** 2).mean(-1)  # (R, 16)
    return float(d.min(1).mean())


def _closest_pair(shown: np.ndarray) -> float:
    d = ((shown[:, None, :] - shown[None]) ** 2).mean(-1)  # (16, 16)
    return float(d[np.triu_indices(len(shown), 1)].min())


def bench(task: str, tie: str, photos: list[tuple[str, np.ndarray]]) -> dict[str, float]:
    from cdvae_core.checkpoint import load_model
    from cdvae_core.postprocess.render import get_renderer

    predictor = load_model(ROOT / "assets" / "models" / task / tie)
    rows: dict[str, list[float]] = {"time": [], "plain_ms": [], "distinct_ms": [], "cover": [], "closest": [],
                                    "spread": []}
    for seed, (_, photo) in enumerate(photos):
        cond = predictor.prepare(get_renderer(task, photo).xc_model)
        predictor.decode(cond, *predictor.draw(cond, N, seed))  # warm-up

        def plain_draw() -> np.ndarray:
            return predictor.decode(cond, *predictor.draw(cond, N, seed)).reshape(N, -1)

        def distinct_draw() -> np.ndarray:
            codes, noise, _ = predictor.draw_distinct(cond, N, seed, pool=POOL)
            return predictor.decode(cond, codes, noise).reshape(N, -1)

        # interleaved, the median of REPS each
        times: dict[str, list[float]] = {"plain": [], "distinct": []}
        for _ in range(REPS):
            for name, fn in (("plain", plain_draw), ("distinct", distinct_draw)):
                t = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - t)
        plain_s, distinct_s = statistics.median(times["plain"]), statistics.median(times["distinct"])
        plain, distinct = plain_draw(), distinct_draw()
        reference = predictor.decode(cond, *predictor.draw(cond, REFERENCE, 10_000 + seed)).reshape(REFERENCE, -1)
        rows["time"].append(distinct_s / plain_s)
        rows["plain_ms"].append(plain_s * 1e3)
        rows["distinct_ms"].append(distinct_s * 1e3)
        rows["cover"].append(_nearest_mse(reference, distinct) / _nearest_mse(reference, plain))
        rows["closest"].append(_closest_pair(distinct) / _closest_pair(plain))
        rows["spread"].append(float(distinct.var(0).mean() / plain.var(0).mean()))
    return {key: statistics.median(values) for key, values in rows.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--photos", type=int, default=6)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from cdvae_core.data.builtin import builtin_images

    photos = builtin_images()[: args.photos]
    print(f"{N} distinct of {POOL} draws against {N} plain draws; medians over {len(photos)} built-in photos, "
          f"{args.threads} threads")
    print(f"{'model':<22}{'plain ms':>10}{'distinct ms':>13}{'time x':>8}{'nearest-of-16 x':>17}"
          f"{'closest pair x':>16}{'spread x':>10}")
    for task in ("relighting", "resaturation", "motion"):
        for tie in ("gauss", "mdn4"):
            r = bench(task, tie, photos)
            print(f"{task + ' ' + tie:<22}{r['plain_ms']:>10.1f}{r['distinct_ms']:>13.1f}{r['time']:>8.1f}"
                  f"{r['cover']:>17.2f}{r['closest']:>16.2f}{r['spread']:>10.2f}")


if __name__ == "__main__":
    main()

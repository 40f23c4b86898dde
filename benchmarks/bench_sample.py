"""Conditional sampling of 16 samples for one x_c, against the bare decoder forward.

Baseline: ``model.decode_g(z, noise=eps)`` on 16 ready codes and their lower-layer noise under
``torch.inference_mode`` (the x_g generative pass alone, nothing else; for the means-decode path
``model.decode_g(z)``). Measured through the public API the Studio and commands use
(``cdvae_core.predictor.Predictor``), interleaved with the baseline in the same run:

1. ``decode`` with noise: a given z_g and noise for 16 full samples (what a slider move costs in
   the Studio's default). Target <= 1.5x.
2. ``decode`` at the means: the same with the lower layers at their means ("Full samples" off).
3. ``draw + decode``: 16 conditional samples for an x_c already encoded (a resample). Target <= 1.5x.
4. ``prepare + draw + decode``: the same from the raw x_c layer (a new image).
5. ``sample``: every latent layer drawn (the evaluation's samples).

Also printed: each path in ms and as a share of one 60 Hz frame (16.7 ms; target well under 1).

Run: ``python benchmarks/bench_sample.py [--reps 200] [--threads 2]``.
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

FRAME_MS = 1000 / 60
N = 16


def timed(fn, reps: int) -> list[float]:
    """Per-call wall times (ms) of fn, after warm-up calls."""
    for _ in range(5):
        fn()
    out = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


def bench_model(tie: str, reps: int) -> None:
    from cdvae_core.config import ModelConfig
    from cdvae_core.model import build_model
    from cdvae_core.predictor import Predictor

    torch.manual_seed(0)
    cfg = ModelConfig(task="relighting", tie=tie, channels_c=3, channels_g=1, mixtures=4)
    model = build_model(cfg).eval()
    predictor = Predictor(model)
    xc = np.random.default_rng(0).random((3, 32, 32)).astype(np.float32)
    cond = predictor.prepare(xc)
    codes, noise = predictor.draw(cond, N, seed=0)
    z, eps = torch.from_numpy(codes), torch.from_numpy(noise)

    def bare() -> None:
        with torch.inference_mode():
            model.decode_g(z, noise=eps)

    def bare_means() -> None:
        with torch.inference_mode():
            model.decode_g(z)

    paths = {  # name: (path, its baseline)
        "decode (slider move, full samples)": (lambda: predictor.decode(cond, codes, noise), bare),
        "decode (slider move, at the means)": (lambda: predictor.decode(cond, codes), bare_means),
        "draw + decode (resample)": (lambda: predictor.decode(cond, *predictor.draw(cond, N, seed=1)), bare),
        "prepare + draw + decode (new image)": (lambda: predictor.decode(
            c := predictor.prepare(xc), *predictor.draw(c, N, seed=1)), bare),
        "sample (all layers drawn)": (lambda: predictor.sample(cond, N, seed=1), bare),
    }
    # interleave: each round times the baseline right before every path, so drift hits both
    rounds = 5
    base: dict[str, list[float]] = {k: [] for k in paths}
    times: dict[str, list[float]] = {k: [] for k in paths}
    for _ in range(rounds):
        for name, (fn, baseline) in paths.items():
            base[name] += timed(baseline, reps // rounds)
            times[name] += timed(fn, reps // rounds)
    print(f"\n{cfg.display_name} (default sizes; code {cfg.code_dim}, {N} samples, {torch.get_num_threads()} threads)")
    print(f"{'path':38s} {'median ms':>10s} {'bare ms':>8s} {'ratio':>6s} {'of a frame':>10s}")
    for name in paths:
        m, b = statistics.median(times[name]), statistics.median(base[name])
        print(f"{name:38s} {m:10.2f} {b:8.2f} {m / b:6.2f} {m / FRAME_MS:10.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=200)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    for tie in ("gauss", "mdn"):
        bench_model(tie, args.reps)


if __name__ == "__main__":
    main()

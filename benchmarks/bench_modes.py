"""The known-mode quality check of tests/test_cli.py at a larger scale, with the CVAE beside it.

    python benchmarks/bench_modes.py [--pairs 3000] [--epochs 25] [--threads 2] [--detail 0]
                                     [--family rotated|shared]

Pair set: ``cdvae_core.synthetic.make_mode_pairs`` (2 classes of x_c, each with its own 4 ramp
directions of x_g, or with ``--family shared`` the same 4 directions and a class brightness;
10% test). Trained with ``cdvae_core.training.train``: the test's 2-layer
CDVAE (Gauss and MDN4), the default 3-layer CDVAE (Gauss and MDN4) and the CVAE baseline, all
for the same epochs. For each, on the test split with 100 samples per pair (seed 0):

- coverage: share of each pair's 4 true modes hit by one of its first 30 samples;
- precision: share of those samples that hit one of the pair's true modes ("rarely elsewhere");
- own class: share of samples nearer a mode of x_c's class than of the other class (0.5: chance);
- best-of-30 / conditional mean: best-of-30 error as a ratio to the best conditional-mean
  regressor's error, measured on the same pairs (goal <= 1/3);
- best-of-100 / CVAE's best-of-100 (goal < 1).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from cdvae_core.checkpoint import load_model
from cdvae_core.config import ModelConfig, TrainConfig
from cdvae_core.metrics import best_error
from cdvae_core.progress import drive
from cdvae_core.synthetic import classify, conditional_mean_error, make_mode_pairs, mode_report, mode_templates
from cdvae_core.training import TrainingError, train

SMALL = {"latent_sizes": (32, 16), "hidden_sizes": (64, 32), "conv_channels": (8, 16, 16), "mdn_hidden": 64}
VARIANTS = {
    "Gauss, 2 layers (test size)": {"tie": "gauss", **SMALL},
    "MDN4, 2 layers (test size)": {"tie": "mdn", "mixtures": 4, **SMALL},
    "Gauss, default 3 layers": {"tie": "gauss"},
    "MDN4, default 3 layers": {"tie": "mdn", "mixtures": 4},
    "CVAE": {"arch": "cvae", "tie": "none"},
}


def own_class_share(xc: np.ndarray, samples: np.ndarray, family: str = "rotated") -> float:
    """Share of samples (B, N, 1, 32, 32) nearer a mode of x_c's class than of the other class."""
    labels = classify(xc, 2)
    modes = np.stack([mode_templates(c, family=family) for c in range(2)])[:, :, 0]  # (2, 4, 32, 32)
    dist = [((samples[:, :, 0, None] - modes[c][None, None]) ** 2).mean((3, 4)).min(2) for c in range(2)]
    return float(np.where(labels[:, None] == 0, dist[0] < dist[1], dist[1] < dist[0]).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=3000)
    parser.add_argument("--epochs", type=int, default=25)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--detail", type=float, default=0.0)
    parser.add_argument("--family", choices=("rotated", "shared"), default="rotated")
    parser.add_argument("--only", default="", help="comma-separated substrings of the variant names to run")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    pairs = make_mode_pairs(args.pairs, modes=4, classes=2, test_fraction=0.1, seed=0, detail=args.detail,
                            family=args.family)
    test = pairs.test()
    cm = conditional_mean_error(test, modes=4, classes=2, detail=args.detail)
    train_cfg = TrainConfig(epochs=args.epochs, batch_size=64, lr=2e-3, kl_warmup_epochs=3, guidance_start=10.0,
                            guidance_end=1.0, guidance_epochs=args.epochs, num_threads=args.threads)
    print(f"{args.pairs} pairs ({len(test)} test), family {args.family}, detail {args.detail}, {args.epochs} epochs, "
          f"{args.threads} threads; conditional-mean error {cm:.4f}")
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, over in VARIANTS.items():
            if args.only and not any(key.strip() in name for key in args.only.split(",")):
                continue
            cfg = ModelConfig(task="synthetic", channels_c=1, channels_g=1, **over)
            t0 = time.perf_counter()
            try:
                drive(train(pairs, cfg, train_cfg, Path(tmp) / name.replace(" ", "_").replace(",", "")))
            except TrainingError as exc:  # the trainer's divergence guard: report it, go on with the rest
                print(f"{name}: {exc}", flush=True)
                continue
            seconds = time.perf_counter() - t0
            predictor = load_model(Path(tmp) / name.replace(" ", "_").replace(",", ""))
            samples = np.stack([predictor.sample(predictor.prepare(x), 100, seed=i) for i, x in enumerate(test.xc)])
            report = mode_report(test.xc, samples[:, :30], modes=4, classes=2, detail=args.detail, family=args.family)
            errors = best_error(samples, test.xg, [30, 100])
            rows[name] = (report["coverage"], report["precision"], own_class_share(test.xc, samples[:, :30], args.family),
                          errors[30] / cm, errors[100], seconds)
            print(f"{name}: best-of-100 {errors[100]:.5f}, {seconds:.0f} s", flush=True)
    cvae = rows.get("CVAE", (None,) * 6)[4]
    print(f"\n{'model':30s} {'coverage':>8s} {'precision':>9s} {'own class':>9s} {'b30/cm':>7s} "
          f"{'b100/CVAE':>9s} {'train s':>7s}")
    for name, (cov, prec, own, ratio, b100, seconds) in rows.items():
        vs = f"{b100 / cvae:9.2f}" if cvae else f"{'n/a':>9s}"
        print(f"{name:30s} {cov:8.2f} {prec:9.2f} {own:9.2f} {ratio:7.2f} {vs} {seconds:7.0f}")


if __name__ == "__main__":
    main()

"""Trainer throughput against a bare PyTorch loop, and the default run's projected wall time.

    python benchmarks/bench_train.py [--threads 2] [--pairs 8000] [--measure-epochs 3]
    python benchmarks/bench_train.py --full [--threads 2]    # the whole run, 4-5 minutes
    python benchmarks/bench_train.py --device cuda [--full]  # the same on a GPU

1. images/s of ``cdvae_core.training.train`` (its per-epoch figure, the loop only) divided by
   images/s of a bare loop (Adam steps over the same model config, batch and preloaded tensors,
   no guards, no logging) run between the trainer's epochs in this same process; goal >= 0.9x.
   The same ratio on whole-epoch wall time: the trainer's epoch from the end of the previous one
   to its record (loop, test-loss pass, checkpoint, weights, config and metrics writes).
2. The default CDVAE on 8,000 pairs for 40 epochs, extrapolated from the measured epochs (loop
   rate, per-epoch test loss + checkpoint cost) and an LPP fit on 8,000 pairs; printed as
   minutes and as a ratio to the 5-minute goal (<= 1.0 meets it).
3. ``--full``: that run done, not extrapolated: the default CDVAE on 8,000 training pairs (plus
   a tenth of the whole as test pairs) of the known-mode synthetic set, 40 epochs, through
   ``cdvae-train --pairs FILE --threads T`` (pair loading, LPP, epochs with test loss and
   checkpoints, embedding); prints the wall time and its ratio to the 300 s goal.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

from cdvae_core.config import ModelConfig, TrainConfig
from cdvae_core.model import build_model
from cdvae_core.pairs import save_pairs
from cdvae_core.synthetic import make_mode_pairs
from cdvae_core.training import train


def bare_steps(model, opt, xc: torch.Tensor, xg: torch.Tensor, batch: int, steps: int) -> float:
    """images/s of forward + backward + Adam over preloaded tensors (no guards, no logging)."""
    n = len(xc)
    perm = torch.randperm(n, device=xc.device)
    t0 = time.perf_counter()
    for i in range(steps):
        idx = perm[(i * batch) % n : (i * batch) % n + batch]
        opt.zero_grad(set_to_none=True)
        model(xc[idx], xg[idx], kl_weight=1.0)["loss"].backward()
        opt.step()
    if xc.is_cuda:
        torch.cuda.synchronize()  # kernels run asynchronously: count them all
    return steps * batch / (time.perf_counter() - t0)


GOAL_S = 300.0  # the default run's wall-time goal: 5 minutes


def full_run(args) -> None:
    """The default run through cdvae-train, timed end to end (pair generation excluded)."""
    from cdvae_core.cli import train as train_cli

    total = int(round(args.pairs / 0.9))  # a tenth of the whole is the test split
    pairs = make_mode_pairs(total, test_fraction=1 - args.pairs / total, seed=0)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "pairs.npz"
        save_pairs(path, pairs)
        argv = ["--pairs", str(path), "--threads", str(args.threads), "--epochs", str(args.target_epochs),
                "--device", args.device, "--out", str(Path(tmp) / "run"), "--quiet"]
        print(f"cdvae-train {' '.join(argv)}  ({int((pairs.split == 0).sum())} train + "
              f"{int((pairs.split == 1).sum())} test pairs, default CDVAE)")
        t0 = time.perf_counter()
        code = train_cli.main(argv)
        wall = time.perf_counter() - t0
        if code != 0:
            sys.exit(f"cdvae-train failed with exit code {code}")
        rows = [json.loads(line) for line in (Path(tmp) / "run" / "metrics.jsonl").read_text().splitlines()]
    loop = sum(r["seconds"] for r in rows)
    print(f"training loop {loop:.1f} s over {len(rows)} epochs ({rows[-1]['images_per_s']:.0f} pairs/s in the "
          f"last); pair loading, LPP, test losses, checkpoints and embedding {wall - loop:.1f} s")
    print(f"wall time {wall:.1f} s = {wall / 60:.2f} min = {wall / GOAL_S:.2f}x the {GOAL_S:.0f} s goal "
          f"(<= 1.0 meets it)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="where both loops run")
    ap.add_argument("--pairs", type=int, default=8000, help="pairs of the projected run; with --full, its training pairs (a ninth more are added as test pairs)")
    ap.add_argument("--measure-pairs", type=int, default=1600, help="pairs of the measured runs")
    ap.add_argument("--measure-epochs", type=int, default=3)
    ap.add_argument("--target-epochs", type=int, default=40)
    ap.add_argument("--full", action="store_true",
                    help="run the default CDVAE on --pairs training pairs for --target-epochs through cdvae-train "
                         "and time it (4-5 minutes on 2 cores)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.full:
        full_run(args)
        return
    model_cfg = ModelConfig(task="synthetic")  # the default CDVAE: L = 3, Gaussian tie
    train_cfg = TrainConfig(epochs=args.measure_epochs, num_threads=args.threads, device=args.device)
    pairs = make_mode_pairs(args.measure_pairs, test_fraction=0.1, seed=0)
    train_part = pairs.train()
    xc, xg = torch.from_numpy(train_part.xc).to(args.device), torch.from_numpy(train_part.xg).to(args.device)
    steps = -(-len(train_part) // train_cfg.batch_size)
    print(f"device {args.device}, torch threads {args.threads}; default CDVAE; measured on {len(pairs)} pairs ({len(train_part)} train, "
          f"{steps} steps of {train_cfg.batch_size} per epoch), {args.measure_epochs} epochs")

    # A bare loop of one epoch's steps runs after every trainer epoch (interleaved, so both see
    # the same load on a shared machine); the best epoch of each is compared, warm-up excluded.
    torch.manual_seed(0)
    bare_model = build_model(model_cfg).to(args.device)
    bare_opt = torch.optim.Adam(bare_model.parameters(), lr=1e-3)
    bare_steps(bare_model, bare_opt, xc, xg, train_cfg.batch_size, 3)  # warm-up
    bare, walls = [], []
    last = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        for pr in train(pairs, model_cfg, train_cfg, out):
            now = time.perf_counter()
            if pr.stage == "lpp" and pr.done == 1:
                last = now  # epochs are timed from the end of the LPP fit
            elif pr.stage == "epoch":
                walls.append(now - last)
                bare.append(bare_steps(bare_model, bare_opt, xc, xg, train_cfg.batch_size, steps))
                last = time.perf_counter()
        rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    rates = [r["images_per_s"] for r in rows]
    best_trainer, best_bare = max(rates[1:] or rates), max(bare[1:] or bare)
    print("trainer images/s per epoch: " + ", ".join(f"{r:.1f}" for r in rates))
    print("bare    images/s per epoch: " + ", ".join(f"{r:.1f}" for r in bare))
    paired = sorted(t / b for t, b in zip(rates[1:], bare[1:])) or [rates[0] / bare[0]]
    print(f"trainer / bare, best epochs after the first: {best_trainer / best_bare:.3f}x; median of the "
          f"paired epochs: {paired[len(paired) // 2]:.3f}x   (goal >= 0.9)")
    # whole epochs: the trainer's wall time per epoch (loop, test loss, checkpoint and file writes)
    # against the time the bare loop takes for the same training pairs
    whole = [len(train_part) / w for w in walls]
    print("trainer images/s per whole epoch: " + ", ".join(f"{r:.1f}" for r in whole))
    paired_whole = sorted(t / b for t, b in zip(whole[1:], bare[1:])) or [whole[0] / bare[0]]
    print(f"trainer / bare on whole-epoch wall time, best epochs after the first: "
          f"{max(whole[1:] or whole) / best_bare:.3f}x; median of the paired epochs: "
          f"{paired_whole[len(paired_whole) // 2]:.3f}x")

    # Projection: loop time scales with images; per-epoch extras (test loss, checkpoint) with
    # the pair count; the LPP fit is measured again on the full pair count.
    from cdvae_core.train_targets import compute_targets

    big = make_mode_pairs(args.pairs, test_fraction=0.1, seed=0)
    t0 = time.perf_counter()
    compute_targets(big, model_cfg, train_cfg)
    lpp_big = time.perf_counter() - t0
    scale = args.pairs / args.measure_pairs
    extras = min(w - r["seconds"] for w, r in zip(walls, rows)) * scale
    loop = len(big.train()) / best_trainer
    projected = lpp_big + args.target_epochs * (loop + extras)
    print(f"LPP fit on {args.pairs} pairs {lpp_big:.1f} s; per epoch: loop {loop:.1f} s + test loss and "
          f"checkpoint {extras:.1f} s (scaled from {args.measure_pairs} pairs)")
    print(f"projected {args.target_epochs} epochs on {args.pairs} pairs: {projected / 60:.1f} min "
          f"= {projected / 300:.2f}x the 5-minute goal (extrapolated, not run)")


if __name__ == "__main__":
    main()

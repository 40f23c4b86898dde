"""Does a motion model use the frame? Its samples given the true x_c against another pair's x_c.

    python benchmarks/bench_motion_conditioning.py --model DIR --pairs PAIRS.npz [--pairs-scored 300]
                                                   [--seed 0]

On the moving half of the test clips of real photos (procedural training scenes and clips whose
mean flow is below the median speed left out), for the model in DIR:

- best-of-3 and best-of-10 error (per-pixel MSE of flow, model px/s squared) with each clip's own
  x_c, and with the x_c of another test clip (a fixed random permutation): the ratio own / other
  is 1 for a model that ignores the frame;
- line agreement: the mean of cos(2 (a_sample - a_true)) over 10 samples per clip, a the angle
  of the mean flow, weighted by the sample's mean speed: 1 when every sample moves along the
  clip's true line (either way), 0 when lines are unrelated; with another clip's x_c it should
  fall to about 0;
- z_c probe: R^2 of a ridge regression from z_c's posterior mean to (cos 2a, sin 2a) of the true
  mean flow, fitted on training photo clips and scored on the test clips (0: z_c holds no line).

docs/results.md ("Motion") lists the figures measured with it.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from sklearn.linear_model import Ridge

from cdvae_core.checkpoint import load_torch_model
from cdvae_core.pairs import TEST, TRAIN, load_pairs


def moving_photo_clips(pairs, split: int, limit: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """x_c (M, 3, 32, 32), x_g (M, 2, 32, 32) and the doubled angle of the mean flow as
    (cos, sin) (M, 2) of the clips of ``split`` taken from real frames that move faster than the
    split's median."""
    labels = np.asarray(pairs.meta.get("labels", [-1] * len(pairs)))
    names = list(pairs.meta.get("label_names", []))
    real = np.array([not (0 <= k < len(names) and names[k] == "procedural") for k in labels])
    keep = real & (pairs.split == split)
    xc, xg = pairs.xc[keep], pairs.xg[keep]
    mean_flow = xg.mean(axis=(2, 3))  # (M, 2)
    speed = np.linalg.norm(mean_flow, axis=1)
    moving = speed > np.median(speed)
    angle = 2 * np.arctan2(mean_flow[:, 1], mean_flow[:, 0])
    line = np.stack([np.cos(angle), np.sin(angle)], 1)
    xc, xg, line = xc[moving], xg[moving], line[moving]
    return (xc, xg, line) if limit is None else (xc[:limit], xg[:limit], line[:limit])


def best_error(model, xc: np.ndarray, xg: np.ndarray, n: int, generator: torch.Generator) -> float:
    with torch.no_grad():
        samples = model.sample(torch.from_numpy(xc), n, generator).numpy()  # (M, n, 2, 32, 32)
    return float(((samples - xg[:, None]) ** 2).mean(axis=(2, 3, 4)).min(axis=1).mean())


def line_agreement(model, xc: np.ndarray, line: np.ndarray, generator: torch.Generator) -> float:
    with torch.no_grad():
        flow = model.sample(torch.from_numpy(xc), 10, generator).numpy().mean(axis=(3, 4))  # (M, 10, 2)
    angle = 2 * np.arctan2(flow[..., 1], flow[..., 0])
    cos = np.cos(angle) * line[:, None, 0] + np.sin(angle) * line[:, None, 1]
    speed = np.linalg.norm(flow, axis=-1)
    return float((cos * speed).sum() / max(speed.sum(), 1e-12))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--pairs", required=True, help="the model's motion pair file")
    parser.add_argument("--pairs-scored", type=int, default=300, help="moving test clips scored (at most)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    model, _config = load_torch_model(args.model)
    model.eval()
    pairs = load_pairs(args.pairs)
    xc, xg, line = moving_photo_clips(pairs, TEST, args.pairs_scored)
    other = np.random.default_rng(args.seed).permutation(len(xc))
    print(f"{args.model}: {len(xc)} moving test clips of real frames")
    for n in (3, 10):
        own = best_error(model, xc, xg, n, torch.Generator().manual_seed(args.seed))
        shuffled = best_error(model, xc[other], xg, n, torch.Generator().manual_seed(args.seed))
        print(f"  best-of-{n:<3} own x_c {own:.3f}  another clip's x_c {shuffled:.3f}  ratio {own / shuffled:.3f}")
    own = line_agreement(model, xc, line, torch.Generator().manual_seed(args.seed))
    shuffled = line_agreement(model, xc[other], line, torch.Generator().manual_seed(args.seed))
    print(f"  line agreement  own x_c {own:.3f}  another clip's x_c {shuffled:.3f}")
    if getattr(model, "has_code_c", False):
        train_xc, _, train_line = moving_photo_clips(pairs, TRAIN, 3000)
        with torch.no_grad():
            z_train = model.encode_code_c(torch.from_numpy(train_xc)).numpy()
            z_test = model.encode_code_c(torch.from_numpy(xc)).numpy()
        pred = Ridge(alpha=1.0).fit(z_train, train_line).predict(z_test)
        r2 = 1 - ((pred - line) ** 2).sum() / ((line - line.mean(0)) ** 2).sum()
        print(f"  z_c probe R^2 {r2:.3f}")


if __name__ == "__main__":
    main()

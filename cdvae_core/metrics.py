"""The paper's sample-quality metrics (section 6.3) and its results table (Tables 2-4).

* best error to ground truth: for each test pair, the smallest per-pixel mean squared error
  between its true x_g and any of its first N samples; averaged over pairs;
* variance: at the 16 points of a 4 x 4 grid, the variance across samples; averaged over the
  points, the channels and the pairs.

Both accumulate in float64, and (B, N, C, 32, 32) sample stacks of a full test set never need a
second copy in memory: the best error walks the pairs in chunks; the variance copies only the
grid rows, then the grid points (1/8, then 1/64 of the stack), so it needs no chunks.
"""

from __future__ import annotations

import math
from typing import Iterable, Mapping

import numpy as np

PAPER_NS = (3, 10, 30, 60, 100)
PAPER_ROWS = ("NN", "CVAE", "Shallow", "Gauss", "MDN4", "MDN12")
_CHUNK = 64  # pairs per chunk: 64 x 100 x 2 x 32 x 32 float64 is 100 MB at most


class MetricsError(ValueError):
    """Samples or settings the metrics cannot be computed on, with a one-line reason."""


def per_sample_error(samples: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Per-pixel MSE of every sample to its pair's truth: (B, N, C, H, W), (B, C, H, W) -> (B, N)."""
    samples, truth = np.asarray(samples), np.asarray(truth)
    if samples.ndim != 5 or truth.ndim != 4 or samples.shape[:1] + samples.shape[2:] != truth.shape:
        raise MetricsError(f"samples (B, N, C, H, W) and truth (B, C, H, W) disagree: {samples.shape} vs {truth.shape}")
    out = np.empty(samples.shape[:2], np.float64)
    for start in range(0, samples.shape[0], _CHUNK):
        s = samples[start : start + _CHUNK].astype(np.float64)
        t = truth[start : start + _CHUNK, None].astype(np.float64)  # (b, 1, C, H, W)
        out[start : start + _CHUNK] = ((s - t) ** 2).mean(axis=(2, 3, 4))
    if not np.isfinite(out).all():
        raise MetricsError("samples or truth hold NaN or infinite values")
    return out


def best_error(samples: np.ndarray, truth: np.ndarray, ns: Iterable[int] = PAPER_NS) -> dict[int, float]:
    """Best error to ground truth for each N in ``ns``: {N: mean over pairs of min over samples[:, :N]}.

    samples (B, N_max, C, H, W), truth (B, C, H, W); every N must be in [1, N_max].
    """
    ns = sorted({int(n) for n in ns})
    errors = per_sample_error(samples, truth)  # (B, N_max)
    if not ns or ns[0] < 1 or ns[-1] > errors.shape[1]:
        raise MetricsError(f"sample counts {ns} must lie in [1, {errors.shape[1]}] (samples drawn per pair)")
    return {n: float(errors[:, :n].min(axis=1).mean()) for n in ns}


def grid_points(size: int, grid: int = 4) -> np.ndarray:
    """Pixel indices of ``grid`` equally spaced points along an axis of ``size`` pixels.

    The centres of ``grid`` equal cells, rounded down: floor((i + 0.5) * size / grid), so for
    32 pixels and a 4 x 4 grid, rows and columns 4, 12, 20 and 28.
    """
    if not 1 <= grid <= size:
        raise MetricsError(f"grid must lie in [1, {size}], got {grid}")
    return ((np.arange(grid) + 0.5) * size / grid).astype(np.int64)


def grid_variance(samples: np.ndarray, grid: int = 4) -> float:
    """Variance across samples at the grid x grid points, averaged over points, channels, pairs.

    samples (B, N, C, H, W) with N >= 2; the population variance (ddof = 0) across the N samples
    of each pair at pixels (rows, cols) = grid_points(H, grid) x grid_points(W, grid).
    """
    samples = np.asarray(samples)
    if samples.ndim != 5 or samples.shape[1] < 2:
        raise MetricsError(f"samples must have shape (B, N >= 2, C, H, W), got {samples.shape}")
    rows, cols = grid_points(samples.shape[3], grid), grid_points(samples.shape[4], grid)
    points = samples[:, :, :, rows][:, :, :, :, cols].astype(np.float64)  # (B, N, C, grid, grid)
    value = float(points.var(axis=1).mean())
    if not math.isfinite(value):
        raise MetricsError("samples hold NaN or infinite values")
    return value


def _value(x: object, factor: float) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "n/a"
    return f"{float(x) * factor:.2f}"  # type: ignore[arg-type]


def paper_table(rows: Mapping[str, Mapping], ns: Iterable[int] | None = None) -> str:
    """Format results like the paper's Tables 2-4 (best error and variance x 10^-2, NLL as is).

    ``rows`` maps a method name to the evaluation JSON of that method: ``best_error`` {N: value}
    (keys int or str), ``variance`` and optionally ``nll`` (None or missing prints "n/a").
    The paper's rows (NN, CVAE, Shallow, Gauss, MDN4, MDN12) come first in its order, then any
    others as given; the N columns default to every N any row reports. Each column is as wide as
    its widest entry (a wide value ran into its neighbour: "0.79195744855.52").
    """
    if not rows:
        raise MetricsError("no results to tabulate")
    best = {name: {int(k): v for k, v in dict(r.get("best_error", {})).items()} for name, r in rows.items()}
    cols = sorted({int(n) for n in ns} if ns is not None else {n for b in best.values() for n in b})
    order = [r for r in PAPER_ROWS if r in rows] + [r for r in rows if r not in PAPER_ROWS]
    header = ["Method"] + [f"N={n}" for n in cols] + ["Variance", "NLL"]
    table = [[name] + [_value(best[name].get(n), 100.0) for n in cols]
             + [_value(rows[name].get("variance"), 100.0), _value(rows[name].get("nll"), 1.0)] for name in order]
    widths = [max(len(row[i]) for row in [header] + table) for i in range(len(header))]
    widths = [max(widths[0], 8)] + [max(w, 8) for w in widths[1:]]

    def line(row: list[str]) -> str:
        return row[0].ljust(widths[0]) + "".join("  " + cell.rjust(w) for cell, w in zip(row[1:], widths[1:]))

    head = line(header)
    lines = ["Best error to ground truth and variance (all x 10^-2); NLL = -log p(x_c, x_g) as evaluated",
             head, "-" * len(head)]
    return "\n".join(lines + [line(row) for row in table])

"""Scoring one method on a test split with the same functions as ``cdvae-eval``.

The figures are the JSON objects ``cdvae-eval --json`` writes (``best_error`` {N: value},
``variance``, ``nll``), so ``metrics.paper_table`` formats them and the two commands agree.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..checkpoint import load_model
from ..cli.common import model_samples
from ..cli.evaluate import VARIANCE_SAMPLES, Accumulator, evaluate_nll
from ..metrics import best_error
from ..nearest import NearestNeighbour
from ..pairs import PairSet
from ..synthetic import conditional_mean_error, mode_report
from .suite import SuiteSettings

NN_SIGMA = 1.0  # Gaussian smoothing of the neighbours' x_g, pixels (cdvae-eval's default)


def eval_subset(test: PairSet, count: int) -> PairSet:
    """The first ``count`` test pairs (the same pairs for every method)."""
    return test.subset(np.arange(min(count, len(test))))


def draw_count(settings: SuiteSettings) -> int:
    return max(max(settings.samples), VARIANCE_SAMPLES)


def evaluate_model(model_dir: Path, test: PairSet, settings: SuiteSettings) -> dict:
    """best_error, variance and (CDVAE only) nll of a saved model on ``test``'s first pairs."""
    predictor = load_model(model_dir)
    scored = eval_subset(test, settings.eval_pairs)
    acc = Accumulator(list(settings.samples))
    for start, samples in model_samples(predictor.model, scored.xc, draw_count(settings), settings.seed):
        acc.add(samples, scored.xg[start : start + len(samples)])
    nll = None
    if predictor.supports_nll and settings.nll_k > 0:
        part = eval_subset(test, settings.nll_pairs)
        nll = evaluate_nll(predictor.model, part.xc, part.xg, settings.nll_k, settings.seed)
    return {**acc.result(), "nll": nll, "test_pairs": len(scored),
            "nll_pairs": min(settings.nll_pairs, len(test)) if nll is not None else None}


def evaluate_nearest(train: PairSet, test: PairSet, settings: SuiteSettings) -> dict:
    """The nearest-neighbour row: sample i is the smoothed x_g of the i-th nearest training x_c."""
    scored = eval_subset(test, settings.eval_pairs)
    baseline = NearestNeighbour.fit(train.xc, train.xg, sigma=NN_SIGMA)
    acc = Accumulator(list(settings.samples))
    for start in range(0, len(scored), 64):
        acc.add(baseline.sample(scored.xc[start : start + 64], draw_count(settings)), scored.xg[start : start + 64])
    return {**acc.result(), "nll": None, "test_pairs": len(scored), "nll_pairs": None}


def synthetic_scores(xc: np.ndarray, xg: np.ndarray, samples: np.ndarray, meta: dict) -> dict:
    """Mode coverage and precision (cdvae_core.synthetic.mode_report) and best-of-N error.

    xc, xg (B, 1, 32, 32); samples (B, N, 1, 32, 32).
    """
    modes, classes, detail = int(meta["modes"]), int(meta["classes"]), float(meta["detail"])
    report = mode_report(xc, samples, modes=modes, classes=classes, detail=detail)
    n = samples.shape[1]
    return {"coverage": report["coverage"], "precision": report["precision"], "mode_share": report["mode_share"],
            "best_error": best_error(samples, xg, [n])[n], "samples": n, "test_pairs": int(len(xc))}


def synthetic_model(model_dir: Path, test: PairSet, settings: SuiteSettings) -> dict:
    predictor = load_model(model_dir)
    scored = eval_subset(test, settings.synthetic_eval_pairs)
    samples = predictor.sample_batch(scored.xc, settings.synthetic_samples, settings.seed)
    return synthetic_scores(scored.xc, scored.xg, samples, test.meta)


def synthetic_nearest(train: PairSet, test: PairSet, settings: SuiteSettings) -> dict:
    scored = eval_subset(test, settings.synthetic_eval_pairs)
    baseline = NearestNeighbour.fit(train.xc, train.xg, sigma=NN_SIGMA)
    return synthetic_scores(scored.xc, scored.xg, baseline.sample(scored.xc, settings.synthetic_samples), test.meta)


def synthetic_reference(test: PairSet, settings: SuiteSettings) -> float:
    """Per-pixel MSE of the best conditional-mean regressor on the scored synthetic test pairs."""
    return conditional_mean_error(eval_subset(test, settings.synthetic_eval_pairs))

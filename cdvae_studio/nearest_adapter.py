"""The nearest-neighbour baseline behind the Predictor interface the Studio drives.

The baseline has no latent code: sample i is the (smoothed) training x_g of the i-th nearest
training x_c (cdvae_core.nearest). Here a "code" is that rank, one number per sample, so the
grid, cache, preview and scatter work unchanged; ``has_codes = False`` tells the window to
hide the sliders and skip what needs an encoder (ground-truth code, tie drift, export).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

MAX_RANK = 64  # neighbours fetched per image: the grid shows 16, resample never needs more


@dataclass(frozen=True)
class NearestCondition:
    xc: np.ndarray  # (Cc, 32, 32)
    samples: np.ndarray  # (K, Cg, 32, 32) x_g of the K nearest training x_c, nearest first


class NearestPredictor:
    has_codes = False
    code_dim = 1
    tied_dims = 0
    mixtures = 0
    noise_dim = 0  # no latent layers below a code
    embedding = None
    name = "Nearest neighbour"

    def __init__(self, nn, task: str, path: Path) -> None:
        self.nn, self.task, self.path = nn, task, path

    def prepare(self, xc: np.ndarray) -> NearestCondition:
        k = min(MAX_RANK, len(self.nn))
        return NearestCondition(np.asarray(xc, np.float32), self.nn.sample(np.asarray(xc, np.float32)[None], k)[0])

    def draw_codes(self, cond: NearestCondition, n: int, seed: int | None = None, component=None,
                   temperature: float = 1.0) -> np.ndarray:
        """Ranks 0..n-1 as codes (n, 1): the paper's "i-th sample is the i-th neighbour" (nothing is
        drawn, so the temperature has nothing to scale)."""
        return np.arange(min(n, len(cond.samples)), dtype=np.float32)[:, None]

    def draw(self, cond: NearestCondition, n: int, seed: int | None = None, component=None,
             temperature: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
        """The ranks of ``draw_codes`` and an empty (n, 0) noise block (the Predictor interface)."""
        codes = self.draw_codes(cond, n, seed, component, temperature)
        return codes, np.zeros((len(codes), 0), np.float32)

    def decode(self, cond: NearestCondition, codes: np.ndarray, noise: np.ndarray | None = None) -> np.ndarray:
        """The ranked neighbours' x_g (n, Cg, 32, 32); ``noise`` is always empty here (noise_dim 0)."""
        ranks = np.clip(np.rint(np.asarray(codes, np.float32)[:, 0]), 0, len(cond.samples) - 1).astype(int)
        return cond.samples[ranks]

    def code_stats(self, cond: NearestCondition) -> tuple[np.ndarray, np.ndarray]:
        return np.zeros(1, np.float32), np.ones(1, np.float32)

    def code_of_condition(self, cond: NearestCondition) -> None:
        return None


def load_nearest(path: str | Path, task: str) -> NearestPredictor:
    """Fit the baseline on a pair file's training split (ValueError with one line otherwise)."""
    from cdvae_core.nearest import NearestNeighbour
    from cdvae_core.pairs import load_pairs

    pairs = load_pairs(path).train()
    problem = pairs.fit_problem(task)  # a hand-made file's 0-255 layers showed as results
    if problem:
        raise ValueError(f"{Path(path).name}: {problem}")
    return NearestPredictor(NearestNeighbour.fit(pairs.xc, pairs.xg), task, Path(path))

"""Distinct results: a few representatives of many conditional samples, with the share of each.

The paper shows its motion predictions "based on clustered samples" (Figure 8): a handful of
draws from p(x_g | x_c) often repeat one common answer, so the distinct answers and how likely
each is are read from many draws. ``distinct_indices`` groups N samples into k clusters by
k-means on their pixels (per-pixel L2, the distance the best-error metric uses), and represents
each cluster by its member nearest the centre, so every representative is one of the model's own
samples (its code and lower-layer noise reproduce it). A cluster's share of the N samples
estimates the probability of that answer under the model. ``draw_distinct`` draws a pool of full
samples and keeps its distinct ones: the same seed, temperature, component and pool always give
the same results, whatever is done to them afterwards (the Studio's pins and "Full samples").
"""

from __future__ import annotations

from typing import Any

import numpy as np

# pool samples decoded at once: 512 raised the peak memory by 36 MB, a whole 4,096 pool by 270 MB
# (built-in motion MDN4)
DECODE_BATCH = 512
DISTINCT_POOL = 256  # samples drawn to find the distinct ones (16 of 256: 40-50 ms on 2 cores, bench_distinct)
# the largest pool the commands and sessions accept: 4,096 motion samples hold 64 MB as float64 for
# k-means (and 4,096 x 100 clusters take seconds per image); more is almost surely a typo
MAX_POOL = 4096
KMEANS_RESTARTS = 1  # k-means++ starts; 4 took twice as long for the same nearest-of-16 error (bench_distinct)


def distinct_indices(samples: np.ndarray, k: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Representatives of k clusters of ``samples`` (N, ...) float.

    Returns ``indices`` (k',) int64 into ``samples`` and ``shares`` (k',) float64 (each cluster's
    fraction of the N samples; they sum to 1), ordered by share, largest first (a tie: the lower
    index first). k' = min(k, number of different samples): identical samples (temperature 0)
    form one cluster. Deterministic for a seed.
    """
    from sklearn.cluster import KMeans  # here: the Predictor imports this module's constants

    from .lpp import distinct_rows

    arr = np.asarray(samples)
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    if len(arr) == 0:
        raise ValueError("no samples to choose from")
    flat = arr.reshape(len(arr), -1).astype(np.float64)  # (N, F)
    if not np.all(np.isfinite(flat)):
        raise ValueError("samples contain NaN or infinite values")
    groups = distinct_rows(flat.astype(np.float32))  # identical samples, or None when all differ
    if groups is not None and len(groups[0]) <= k:  # every different sample is its own cluster
        first, inverse = groups
        counts = np.bincount(inverse.ravel(), minlength=len(first))
        return _ordered(first.astype(np.int64), counts / len(flat))
    if groups is None and len(flat) <= k:
        return _ordered(np.arange(len(flat), dtype=np.int64), np.full(len(flat), 1 / len(flat)))
    km = KMeans(n_clusters=k, n_init=KMEANS_RESTARTS, random_state=int(seed) % 2**32).fit(flat)
    dist = km.transform(flat)  # (N, k) distances to the centres
    indices, shares = [], []
    for c in range(k):
        members = np.flatnonzero(km.labels_ == c)
        if len(members) == 0:  # k-means leaves none empty on different points; kept safe anyway
            continue
        indices.append(members[np.argmin(dist[members, c])])
        shares.append(len(members) / len(flat))
    return _ordered(np.asarray(indices, np.int64), np.asarray(shares, np.float64))


def draw_distinct(predictor: Any, cond: Any, n: int, seed: int | None = None, component: int | None = None,
                  temperature: float = 1.0, pool: int = DISTINCT_POOL) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The n most distinct of ``pool`` full samples of one condition.

    ``predictor``: anything with ``draw(cond, n, seed, component, temperature=)`` -> (codes, noise)
    and ``decode(cond, codes, noise)`` -> x_g (a Predictor, the Studio's nearest-neighbour
    baseline). Returns codes (n', D), noise (n', E) and shares (n',): rows of
    ``predictor.draw(cond, pool, seed, component, temperature=temperature)`` ordered by share,
    chosen by ``distinct_indices`` on their full samples (decoded with their noise); n' < n only
    where fewer than n of the pool differ (temperature 0).
    """
    if pool < n:
        raise ValueError(f"the pool of draws ({pool}) must hold at least the {n} results")
    codes, noise, xg = pool_samples(predictor, cond, pool, seed, component, temperature)
    rows, shares = distinct_indices(xg, n, 0 if seed is None else int(seed))
    return codes[rows], noise[rows], shares


def pool_samples(predictor: Any, cond: Any, pool: int, seed: int | None = None, component: int | None = None,
                 temperature: float = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``pool`` full samples of one condition: codes (P, D), noise (P, E) and x_g (P, Cg, 32, 32),
    the codes and noise of ``predictor.draw(cond, pool, seed, component, temperature=temperature)``."""
    codes, noise = predictor.draw(cond, pool, seed, component, temperature=temperature)
    xg = np.concatenate([predictor.decode(cond, codes[i : i + DECODE_BATCH], noise[i : i + DECODE_BATCH])
                         for i in range(0, len(codes), DECODE_BATCH)])
    return codes, noise, xg


def _ordered(indices: np.ndarray, shares: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.lexsort((indices, -shares))  # share descending, then index ascending
    return indices[order], shares[order]

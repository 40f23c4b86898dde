"""LPP against a dense reference implementation, neighbour preservation, the partitioned search."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
from safetensors.numpy import load_file, save_file
from scipy.spatial.distance import cdist

from cdvae_core import lpp as lpp_module
from cdvae_core.lpp import LPP, LPPError, dense_reference_lpp, fit_lpp


def _manifold(n: int, f: int, seed: int) -> np.ndarray:
    """Points on a curved 2-D sheet in f dimensions plus small noise, (n, f) float32."""
    rng = np.random.default_rng(seed)
    s, t = rng.uniform(0, 3, n), rng.uniform(-1, 1, n)
    sheet = np.stack([s * np.cos(s), s * np.sin(s), t, 0.3 * s * t], axis=1)  # (n, 4)
    embed = rng.standard_normal((4, f))
    return (sheet @ embed + 0.05 * rng.standard_normal((n, f))).astype(np.float32)


@pytest.mark.parametrize(("features", "pca_dim"), [(12, 12), (12, 6), (2100, 4)])
def test_matches_dense_reference(features: int, pca_dim: int) -> None:
    """Covariance PCA (all or some components) and, past 2,048 features, randomized PCA."""
    x = _manifold(300, features, seed=1)
    fitted = fit_lpp(x, dim=3, neighbours=8, pca_dim=pca_dim)
    ref_dirs, ref_lam = dense_reference_lpp(x, dim=3, k=8, p=pca_dim)
    np.testing.assert_allclose(fitted.eigenvalues, ref_lam, rtol=1e-3, atol=1e-6)
    for j in range(3):  # each generalised eigenvector agrees up to sign and scale
        a, b = fitted.projection[:, j].astype(np.float64), ref_dirs[:, j]
        assert abs(a @ b) / np.linalg.norm(a) / np.linalg.norm(b) > 0.9999
    assert np.max(scipy.linalg.subspace_angles(fitted.projection.astype(np.float64), ref_dirs)) < 1e-2


def test_unit_variance_and_round_trip(tmp_path) -> None:
    x = _manifold(400, 20, seed=2)
    fitted = fit_lpp(x, dim=4, neighbours=10)
    z = fitted.transform(x)
    assert z.shape == (400, 4) and z.dtype == np.float32
    np.testing.assert_allclose(z.mean(0), 0.0, atol=1e-4)
    np.testing.assert_allclose(z.var(0), 1.0, rtol=1e-4)
    assert np.all(np.diff(fitted.eigenvalues) >= 0)
    save_file(fitted.to_arrays(prefix="lpp_c."), str(tmp_path / "e.safetensors"))
    loaded = LPP.from_arrays(load_file(str(tmp_path / "e.safetensors")), prefix="lpp_c.")
    np.testing.assert_array_equal(loaded.transform(x[:7]), z[:7])
    # Same seed, same result (signs are fixed, the randomized parts seeded).
    np.testing.assert_array_equal(fit_lpp(x, dim=4, neighbours=10).projection, fitted.projection)


def _knn_sets(z: np.ndarray, k: int) -> np.ndarray:
    d = cdist(z, z)
    np.fill_diagonal(d, np.inf)
    return np.argsort(d, axis=1)[:, :k]


def _overlap(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean([len(set(r) & set(s)) / len(r) for r, s in zip(a, b)]))


def test_near_points_stay_near() -> None:
    x = _manifold(600, 30, seed=3)
    truth = _knn_sets(x, 10)
    kept = _overlap(truth, _knn_sets(fit_lpp(x, dim=2, neighbours=10).transform(x), 10))
    rng = np.random.default_rng(0)
    random_kept = np.mean([_overlap(truth, _knn_sets(x @ rng.standard_normal((30, 2)), 10)) for _ in range(3)])
    assert kept > random_kept + 0.1, (kept, random_kept)


def test_partitioned_search_agrees_with_exact(monkeypatch) -> None:
    monkeypatch.setattr(lpp_module, "CELL_SIZE", 64)  # ~47 cells, each searched against 8
    rng = np.random.default_rng(4)
    centres = rng.standard_normal((20, 40)) * 3
    x = (centres[rng.integers(0, 20, 3000)] + rng.standard_normal((3000, 40))).astype(np.float32)
    _, _, y = lpp_module._pca(x, 32, 0)
    exact_idx, exact_d = lpp_module._exact_knn(y, 10, 0)
    part_idx, part_d = lpp_module._partitioned_knn(y, 10, 0)
    assert _overlap(exact_idx, part_idx) > 0.95
    assert np.all(part_d >= exact_d - 1e-4)  # the k-th found is never nearer than the true k-th
    exact = fit_lpp(x, dim=4, neighbours=10, knn="exact")
    part = fit_lpp(x, dim=4, neighbours=10, knn="partitioned")
    angles = scipy.linalg.subspace_angles(exact.projection.astype(np.float64), part.projection.astype(np.float64))
    assert np.max(angles) < 0.1


def test_bad_input_is_a_clear_error() -> None:
    x = _manifold(100, 8, seed=5)
    bad = x.copy()
    bad[3, 2] = np.nan
    with pytest.raises(LPPError, match="NaN"):
        fit_lpp(bad, dim=2)
    with pytest.raises(LPPError, match="pca_dim"):
        fit_lpp(x, dim=5, pca_dim=3)
    with pytest.raises(LPPError, match="too few"):
        fit_lpp(x[:5], dim=2, neighbours=10)
    with pytest.raises(LPPError, match="knn"):
        fit_lpp(x, dim=2, knn="annoy")
    with pytest.raises(LPPError, match="no variance"):
        fit_lpp(np.ones((50, 4), np.float32), dim=2)
    with pytest.raises(LPPError, match="span only"):  # rank-2 features cannot give 3 components
        fit_lpp(np.repeat(x[:, :2], 4, axis=1), dim=3, pca_dim=8)
    fitted = fit_lpp(x, dim=2)
    with pytest.raises(LPPError, match="shape"):
        fitted.transform(x[:, :5])
    with pytest.raises(LPPError, match="lack"):
        LPP.from_arrays({"mean": fitted.mean})


def _with_copies(x: np.ndarray, copies: np.ndarray, seed: int) -> np.ndarray:
    """Row i of x repeated copies[i] times, the rows shuffled."""
    out = np.repeat(x, copies, axis=0)
    return out[np.random.default_rng(seed).permutation(len(out))]


@pytest.mark.parametrize("knn", ["exact", "partitioned"])
def test_identical_rows_are_one_node_as_in_the_dense_reference(knn, monkeypatch) -> None:
    """40 vectors repeated 5-14 times (more than k = 8): without merging them, their neighbours
    were only their own copies at distance 0, the graph fell apart into groups of copies and every
    eigenvalue came out 0 with arbitrary directions."""
    monkeypatch.setattr(lpp_module, "CELL_SIZE", 32)  # several cells even at this size
    copies = np.ones(150, int)
    copies[:40] = np.random.default_rng(1).integers(5, 15, 40)
    x = _with_copies(_manifold(150, 12, seed=7), copies, seed=2)
    fitted = fit_lpp(x, dim=3, neighbours=8, pca_dim=8, knn=knn)
    ref_dirs, ref_lam = dense_reference_lpp(x, dim=3, k=8, p=8)
    assert ref_lam[0] > 1e-3  # the merged graph is connected: no zero-cost direction
    np.testing.assert_allclose(fitted.eigenvalues, ref_lam, rtol=1e-3, atol=1e-6)
    assert np.max(scipy.linalg.subspace_angles(fitted.projection.astype(np.float64), ref_dirs)) < 1e-2


def test_repeating_every_row_changes_nothing() -> None:
    x = _manifold(200, 10, seed=8)
    once = fit_lpp(x, dim=3, neighbours=8)
    thrice = fit_lpp(np.repeat(x, 3, axis=0), dim=3, neighbours=8)
    np.testing.assert_allclose(thrice.eigenvalues, once.eigenvalues, rtol=1e-4)
    np.testing.assert_allclose(thrice.transform(x), once.transform(x), atol=1e-4)


def test_few_distinct_vectors_many_times_each() -> None:
    """Three vectors, 100 copies each: before, every neighbour distance was 0 and fitting failed."""
    x = np.repeat(np.random.default_rng(3).standard_normal((3, 6)).astype(np.float32), 100, axis=0)
    z = fit_lpp(x, dim=2, neighbours=10).transform(x)
    assert len(np.unique(z.round(4), axis=0)) == 3
    np.testing.assert_allclose(z.var(0), 1.0, rtol=1e-4)


def test_distinct_rows_is_exact_even_when_hashes_collide(monkeypatch) -> None:
    rng = np.random.default_rng(4)
    base = rng.standard_normal((50, 7)).astype(np.float32)
    x = base[rng.integers(0, 50, 400)]
    assert lpp_module.distinct_rows(base) is None
    for patched in (False, True):
        if patched:  # every row the same key: the comparison must catch it and sort the rows instead
            monkeypatch.setattr(lpp_module, "_row_keys", lambda words, chunk: np.zeros(len(words), np.uint64))
        first, inverse = lpp_module.distinct_rows(x)
        np.testing.assert_array_equal(x[first][inverse], x)
        assert np.all(np.diff(first) > 0) and len(first) == len(np.unique(x.view(np.uint32), axis=0))


def test_float64_input_and_seeds() -> None:
    """float64 input is cast to float32 first (the same result); the partitioned search is
    reproducible for a seed."""
    x = _manifold(500, 16, seed=9)
    np.testing.assert_array_equal(fit_lpp(x.astype(np.float64), dim=3).projection, fit_lpp(x, dim=3).projection)
    a, b = (fit_lpp(x, dim=3, knn="partitioned", seed=5) for _ in range(2))
    np.testing.assert_array_equal(a.projection, b.projection)


def test_unusable_values_and_settings_are_clear_errors() -> None:
    x = _manifold(100, 8, seed=10)
    with pytest.raises(LPPError, match="real numbers"):
        fit_lpp(x.astype(np.complex64), dim=2)
    with pytest.raises(LPPError, match="float32's range"):  # finite in float64, inf once cast
        fit_lpp(x.astype(np.float64) * 1e40, dim=2)
    with pytest.raises(LPPError, match="whole numbers"):
        fit_lpp(x, dim=2.5)
    with pytest.raises(LPPError, match="whole numbers"):
        fit_lpp(x, dim=2, neighbours=3.0)
    with pytest.raises(LPPError, match=r"at most min\(F, N - 1\) = 2 components, fewer than dim=3"):
        fit_lpp(x[:, :2], dim=3)  # no pca_dim given: the message must not blame one


def test_signs_do_not_follow_the_pca_solvers_signs(monkeypatch) -> None:
    """The sign rule was applied to the PCA loadings, whose signs the solver picks: flipping some
    principal components (as scaling the covariance can) flipped LPP components."""
    x = _manifold(300, 12, seed=11)
    before = fit_lpp(x, dim=3, neighbours=8)
    real = lpp_module._pca

    def flipped(*args):
        mean, components, y = real(*args)
        s = np.where(np.arange(len(components)) % 2 == 0, -1.0, 1.0)
        return mean, components * s[:, None].astype(components.dtype), y * s[None, :].astype(np.float32)

    monkeypatch.setattr(lpp_module, "_pca", flipped)
    after = fit_lpp(x, dim=3, neighbours=8)
    np.testing.assert_allclose(after.projection, before.projection, atol=1e-6)
    np.testing.assert_allclose(after.transform(x), before.transform(x), atol=1e-5)

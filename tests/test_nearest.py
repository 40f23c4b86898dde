"""The nearest-neighbour baseline against a loop over brute-force distances."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from cdvae_core.nearest import NearestNeighbour, NearestNeighbourError


def _data(seed: int = 0):
    rng = np.random.default_rng(seed)
    train_xc = rng.random((40, 3, 32, 32)).astype(np.float32)
    train_xg = rng.random((40, 2, 32, 32)).astype(np.float32)
    test_xc = rng.random((4, 3, 32, 32)).astype(np.float32)
    return train_xc, train_xg, test_xc


def test_samples_are_smoothed_neighbours_in_order() -> None:
    train_xc, train_xg, test_xc = _data()
    model = NearestNeighbour.fit(train_xc, train_xg, sigma=1.5)
    out = model.sample(test_xc, 5)
    assert out.shape == (4, 5, 2, 32, 32) and out.dtype == np.float32
    for b in range(4):
        dist = [np.linalg.norm((test_xc[b] - train_xc[j]).astype(np.float64)) for j in range(40)]
        for i, j in enumerate(np.argsort(dist)[:5]):
            for c in range(2):  # each channel smoothed on its own, in 2-D
                expected = gaussian_filter(train_xg[j, c].astype(np.float64), sigma=1.5)
                np.testing.assert_allclose(out[b, i, c], expected, atol=1e-5)


def test_training_image_returns_its_own_pair_first() -> None:
    train_xc, train_xg, _ = _data(1)
    model = NearestNeighbour.fit(train_xc, train_xg, sigma=0.0)
    out = model.sample(train_xc[[7, 21]], 3)
    np.testing.assert_array_equal(out[:, 0], train_xg[[7, 21]])
    idx, dist = model.neighbours(train_xc[[7]], 3)
    assert idx[0, 0] == 7 and dist[0, 0] == pytest.approx(0.0, abs=1e-3)
    assert np.all(np.diff(dist[0]) >= 0)


def test_bad_input() -> None:
    train_xc, train_xg, test_xc = _data(2)
    with pytest.raises(NearestNeighbourError, match="pair up"):
        NearestNeighbour.fit(train_xc, train_xg[:10])
    bad = train_xg.copy()
    bad[0, 0, 0, 0] = np.inf
    with pytest.raises(NearestNeighbourError, match="NaN"):
        NearestNeighbour.fit(train_xc, bad)
    model = NearestNeighbour.fit(train_xc, train_xg)
    with pytest.raises(NearestNeighbourError, match="shape"):
        model.sample(test_xc[:, :1], 3)
    with pytest.raises(NearestNeighbourError, match="n must"):
        model.sample(test_xc, 41)
    # smoothing wider than the layers only approaches their mean: 1e6 ran for minutes, 1e308 overflowed
    for sigma in (-1.0, 32.5, 1e6, 1e308, float("nan")):
        with pytest.raises(NearestNeighbourError, match=r"sigma must lie in \[0, 32\] pixels"):
            NearestNeighbour.fit(train_xc, train_xg, sigma=sigma)


def test_eval_of_a_small_pair_file_takes_the_variance_over_its_training_pairs(tmp_path, capsys) -> None:
    """cdvae-eval --nearest-neighbour --samples 3 refused a 29-photo folder's pairs: it drew 100
    samples for the variance, which needs 100 training pairs."""
    import json

    from cdvae_core.cli import evaluate
    from cdvae_core.metrics import grid_variance
    from cdvae_core.pairs import save_pairs

    from test_training import tiny_pairs

    pairs = tiny_pairs(n=32)  # 24 training pairs
    save_pairs(tmp_path / "p.npz", pairs)
    assert evaluate.main(["--nearest-neighbour", "--pairs", str(tmp_path / "p.npz"), "--samples", "3,10",
                          "--json", str(tmp_path / "r.json"), "--quiet"]) == 0
    assert "the variance is over 24 samples, one per training pair" in capsys.readouterr().err
    result = json.loads((tmp_path / "r.json").read_text())
    assert result["samples_drawn"] == 24
    train, test = pairs.train(), pairs.test()
    samples = NearestNeighbour.fit(train.xc, train.xg, sigma=1.0).sample(test.xc, 24)
    assert result["variance"] == pytest.approx(grid_variance(samples), rel=1e-5)
    assert evaluate.main(["--nearest-neighbour", "--pairs", str(tmp_path / "p.npz"), "--samples", "30"]) == 2
    assert "needs 30 training pairs for 30 samples, the file has 24" in capsys.readouterr().err

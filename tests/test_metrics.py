"""Best error, grid variance and the paper table against hand-computed numpy."""

from __future__ import annotations

import numpy as np
import pytest

from cdvae_core.metrics import MetricsError, best_error, grid_points, grid_variance, paper_table


def test_best_error_by_hand() -> None:
    rng = np.random.default_rng(0)
    samples = rng.random((5, 12, 2, 32, 32)).astype(np.float32)
    truth = rng.random((5, 2, 32, 32)).astype(np.float32)
    got = best_error(samples, truth, ns=(1, 3, 12))
    assert list(got) == [1, 3, 12]
    for n, value in got.items():
        per_pair = []
        for b in range(5):
            errs = [np.mean((samples[b, i].astype(np.float64) - truth[b]) ** 2) for i in range(n)]
            per_pair.append(min(errs))
        assert value == pytest.approx(np.mean(per_pair), rel=1e-12)


def test_best_error_finds_the_planted_sample() -> None:
    rng = np.random.default_rng(1)
    truth = rng.random((3, 1, 32, 32)).astype(np.float32)
    samples = np.repeat(truth[:, None], 10, axis=1) + 0.5  # every sample off by 0.5 (MSE 0.25)
    samples[:, 7] = truth  # an exact copy, seen only from N = 8 on
    got = best_error(samples, truth, ns=(3, 8, 10))
    assert got[3] == pytest.approx(0.25)
    assert got[8] == 0.0 and got[10] == 0.0


def test_grid_points_and_variance_by_hand() -> None:
    np.testing.assert_array_equal(grid_points(32, 4), [4, 12, 20, 28])
    rng = np.random.default_rng(2)
    samples = rng.random((3, 7, 2, 32, 32))
    expected = np.mean(
        [
            np.var(samples[b, :, c, r, q])
            for b in range(3)
            for c in range(2)
            for r in (4, 12, 20, 28)
            for q in (4, 12, 20, 28)
        ]
    )
    assert grid_variance(samples) == pytest.approx(expected, rel=1e-12)
    # Only the 16 grid pixels count: changing any other pixel changes nothing.
    moved = samples.copy()
    moved[:, :, :, 5, :] = rng.random((3, 7, 2, 32))
    assert grid_variance(moved) == pytest.approx(expected, rel=1e-12)
    assert grid_variance(np.repeat(samples[:, :1], 4, axis=1)) == 0.0


def test_bad_input() -> None:
    samples = np.zeros((2, 5, 1, 32, 32), np.float32)
    with pytest.raises(MetricsError, match="lie in"):
        best_error(samples, np.zeros((2, 1, 32, 32), np.float32), ns=(3, 10))
    with pytest.raises(MetricsError, match="disagree"):
        best_error(samples, np.zeros((2, 2, 32, 32), np.float32))
    with pytest.raises(MetricsError, match="N >= 2"):
        grid_variance(samples[:, :1])
    bad = samples.copy()
    bad[0, 0, 0, 0, 0] = np.nan
    with pytest.raises(MetricsError, match="NaN"):
        best_error(bad, np.zeros((2, 1, 32, 32), np.float32), ns=(3,))
    with pytest.raises(MetricsError):
        paper_table({})


def test_paper_table_layout() -> None:
    rows = {
        "MDN4": {"best_error": {"3": 0.0244, "100": 0.0111}, "variance": 0.0177, "nll": 1854.2},
        "NN": {"best_error": {3: 0.0304, 100: 0.0166}, "variance": 0.0104, "nll": None},
        "Mine": {"best_error": {3: 0.05, 100: 0.04}, "variance": 0.001},
    }
    lines = paper_table(rows).splitlines()
    body = lines[3:]
    assert [line.split()[0] for line in body] == ["NN", "MDN4", "Mine"]  # paper order first
    assert "N=3" in lines[1] and "N=100" in lines[1] and "Variance" in lines[1]
    assert body[0].split()[1:] == ["3.04", "1.66", "1.04", "n/a"]
    assert body[1].split()[1:] == ["2.44", "1.11", "1.77", "1854.20"]
    assert body[2].split()[-1] == "n/a"
    # a value wider than its column widens the column; it ran into its neighbour ("0.79195744855.52")
    wide = paper_table({"Gauss": {"best_error": {3: 0.0079}, "variance": 7919574.48, "nll": 5.5}}).splitlines()
    assert wide[3].split() == ["Gauss", "0.79", "791957448.00", "5.50"]
    assert len({len(line) for line in wide[1:]}) == 1  # header, rule and row line up

"""Distinct results (cdvae_core.distinct, Predictor.draw_distinct): k-means representatives of many
samples, checked against clusters whose members, centres and shares are known."""

import numpy as np
import pytest

from cdvae_core import distinct
from cdvae_core.distinct import distinct_indices
from helpers import motion_predictor


def _blobs(sizes, dim=1024, spread=0.05, seed=0):
    """Samples (N, 1, 32, 32) in len(sizes) well-separated blobs, shuffled, and each one's blob (N,)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(len(sizes), dim))  # pairwise ~45 apart, against a spread of ~1.6
    blob = np.repeat(np.arange(len(sizes)), sizes)
    rng.shuffle(blob)
    x = centres[blob] + spread * rng.normal(size=(len(blob), dim))
    return x.reshape(len(blob), 1, 32, 32).astype(np.float32), blob


def test_representatives_are_each_clusters_most_central_member_by_share():
    samples, blob = _blobs([48, 128, 80])
    indices, shares = distinct_indices(samples, 3, seed=0)
    # largest share first: the blobs of 128, 80 and 48 of 256 samples
    np.testing.assert_allclose(shares, [128 / 256, 80 / 256, 48 / 256])
    assert list(blob[indices]) == [1, 2, 0]
    flat = samples.reshape(len(samples), -1).astype(np.float64)
    for index, b in zip(indices, blob[indices]):
        members = np.flatnonzero(blob == b)
        centre = flat[members].mean(0)  # the k-means centre of a cluster that is exactly its blob
        assert index == members[np.argmin(((flat[members] - centre) ** 2).sum(1))]


def test_identical_samples_form_one_cluster_and_few_samples_are_all_kept():
    a, b = np.zeros((1, 4, 4), np.float32), np.ones((1, 4, 4), np.float32)
    samples = np.stack([b, a, a, b, a])  # 3 of a (first at row 1), 2 of b (first at row 0)
    indices, shares = distinct_indices(samples, 4)
    assert list(indices) == [1, 0] and list(shares) == [0.6, 0.4]
    same = np.repeat(a[None], 16, axis=0)  # temperature 0: every draw is the same sample
    assert [list(v) for v in distinct_indices(same, 16)] == [[0], [1.0]]
    three = np.random.default_rng(1).random((3, 1, 4, 4))
    indices, shares = distinct_indices(three, 8)
    assert sorted(indices) == [0, 1, 2] and list(indices) == [0, 1, 2]  # equal shares: by index
    np.testing.assert_allclose(shares, 1 / 3)


def test_seeded_and_checked():
    samples, _ = _blobs([30, 30, 30, 30, 30], spread=2.0)  # overlapping: the seed matters to k-means
    first = distinct_indices(samples, 8, seed=3)
    again = distinct_indices(samples, 8, seed=3)
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_array_equal(first[1], again[1])
    assert first[1].sum() == pytest.approx(1.0) and np.all(np.diff(first[1]) <= 0)
    assert len(distinct_indices(samples, 8, seed=-1)[0]) == 8  # any int seeds k-means (cdvae-sample --seed -1)
    bad = samples.copy()
    bad[3, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        distinct_indices(bad, 4)
    with pytest.raises(ValueError, match="at least 1"):
        distinct_indices(samples, 0)
    with pytest.raises(ValueError, match="no samples"):
        distinct_indices(samples[:0], 4)


@pytest.mark.parametrize("kw", [dict(tie="gauss"), dict(tie="mdn", mixtures=4), dict(arch="cvae")])
def test_draw_distinct_returns_the_pools_distinct_samples(kw):
    _, pred, cond = motion_predictor(**kw)
    codes, noise, shares = pred.draw_distinct(cond, 8, seed=5, pool=64)
    pool_codes, pool_noise = pred.draw(cond, 64, seed=5)
    # each result is a row of the pool's draw, code and noise together: it reproduces as any sample
    rows = [int(np.flatnonzero((pool_codes == c).all(1))[0]) for c in codes]
    assert len(set(rows)) == 8
    np.testing.assert_array_equal(noise, pool_noise[rows])
    assert shares.sum() == pytest.approx(1.0) and np.all(np.diff(shares) <= 0)
    # the choice distinct_indices makes on the pool's samples as decoded (full samples), in its order
    want, want_shares = distinct_indices(pred.decode(cond, pool_codes, pool_noise), 8, seed=5)
    assert rows == list(want)
    np.testing.assert_array_equal(shares, want_shares)
    # decoded in batches of DECODE_BATCH: the same choice
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(distinct, "DECODE_BATCH", 10)
        np.testing.assert_array_equal(pred.draw_distinct(cond, 8, seed=5, pool=64)[0], codes)
    np.testing.assert_array_equal(pred.draw_distinct(cond, 8, seed=5, pool=64)[0], codes)
    with pytest.raises(ValueError, match="pool"):
        pred.draw_distinct(cond, 8, seed=5, pool=4)


def test_an_export_of_distinct_results_records_their_shares_and_refuses_a_small_pool(tmp_path):
    import json

    from cdvae_core.postprocess.export import ExportError, ExportSettings, export_results

    _, pred, _ = motion_predictor(tie="gauss")
    photo = (np.random.default_rng(0).random((40, 56, 3)) * 255).astype(np.uint8)
    export_results(pred, photo, 3, tmp_path / "out", seed=2, settings=ExportSettings(distinct_pool=20, extras=False))
    sides = [json.loads((tmp_path / "out" / f"image000_{i:03d}.json").read_text()) for i in range(3)]
    assert [s["distinct_pool"] for s in sides] == [20] * 3 and "distinct_pool" not in sides[0]["settings"]
    shares = [s["share"] for s in sides]
    assert shares == sorted(shares, reverse=True) and 0 < sum(shares) <= 1
    with pytest.raises(ExportError, match=r"the pool of draws \(2\) must hold at least the 3 results"):
        export_results(pred, photo, 3, tmp_path / "small", settings=ExportSettings(distinct_pool=2))

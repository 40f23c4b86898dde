"""The known-mode synthetic task: its pairs, its true modes and the mode report."""

from __future__ import annotations

import numpy as np
import pytest

from cdvae_core.pairs import load_pairs, save_pairs
from cdvae_core.synthetic import (
    SyntheticError,
    classify,
    conditional_mean_error,
    default_threshold,
    make_mode_pairs,
    mode_report,
    mode_templates,
)


@pytest.fixture(scope="module")
def pairs():
    return make_mode_pairs(600, modes=4, test_fraction=0.25, seed=3)


def test_pair_file_contract(pairs, tmp_path) -> None:
    assert pairs.xc.shape == (600, 1, 32, 32) and pairs.xg.shape == (600, 1, 32, 32)
    assert pairs.xc.dtype == np.float32 and pairs.xg.dtype == np.float32
    for arr in (pairs.xc, pairs.xg):
        assert arr.min() >= 0.0 and arr.max() <= 1.0
    assert (pairs.split == 1).sum() == 150
    assert pairs.meta["task"] == "synthetic" and pairs.meta["modes"] == 4
    save_pairs(tmp_path / "s.npz", pairs)
    back = load_pairs(tmp_path / "s.npz", require_test=True)
    np.testing.assert_array_equal(back.xg, pairs.xg)
    again = make_mode_pairs(600, modes=4, test_fraction=0.25, seed=3)
    np.testing.assert_array_equal(again.xc, pairs.xc)


def test_every_xg_is_a_noisy_mode_of_its_class(pairs) -> None:
    labels = classify(pairs.xc)
    assert set(np.unique(labels)) == {0, 1}
    counts = np.zeros((2, 4))
    for x_c, x_g, label in zip(pairs.xc, pairs.xg, labels):
        templates = mode_templates(x_c)
        np.testing.assert_array_equal(templates, mode_templates(int(label)))
        errors = ((templates - x_g) ** 2).mean(axis=(1, 2, 3))
        assert errors.min() < 2.5 * 0.02**2  # the pixel noise alone (variance 4e-4)
        counts[label, errors.argmin()] += 1
    shares = counts / counts.sum(1, keepdims=True)
    assert np.all(np.abs(shares - 0.25) < 0.1)  # modes drawn uniformly within each class
    # Each class has its own mode set: no template of class 0 is a template of class 1.
    d = ((mode_templates(0)[:, None] - mode_templates(1)[None]) ** 2).mean(axis=(2, 3, 4))
    assert d.min() > 2 * default_threshold()


def test_classify_matches_the_generator() -> None:
    # The generator's labels are its first draw from the seeded rng; recover them the same way.
    labels = np.random.default_rng(11).integers(0, 2, 300)
    assert np.array_equal(classify(make_mode_pairs(300, seed=11).xc), labels)


def test_conditional_mean_error_by_hand(pairs) -> None:
    test = pairs.test()
    predicted = np.stack([mode_templates(x).mean(axis=0) for x in test.xc])  # (B, 1, 32, 32)
    expected = np.mean((test.xg.astype(np.float64) - predicted) ** 2)
    assert conditional_mean_error(test) == pytest.approx(expected, rel=1e-6)
    assert conditional_mean_error(test) > 3 * default_threshold()  # far from every mode


def test_mode_report(pairs) -> None:
    test = pairs.test()
    templates = np.stack([mode_templates(x) for x in test.xc])  # (B, 4, 1, 32, 32)
    perfect = mode_report(test.xc, templates)
    assert perfect["coverage"] == 1.0 and perfect["precision"] == 1.0 and perfect["own_class"] == 1.0
    # the other class's modes never follow x_c and hit none of its modes
    labels = classify(test.xc)
    swapped = np.stack([mode_templates(1 - c) for c in labels])
    other = mode_report(test.xc, swapped)
    assert other["own_class"] == 0.0 and other["precision"] == 0.0
    mixed = np.concatenate([templates[:, :3], swapped[:, :1]], axis=1)  # 3 of 4 samples follow x_c
    assert mode_report(test.xc, mixed)["own_class"] == 0.75
    np.testing.assert_allclose(perfect["mode_share"], 0.25)
    one_each = mode_report(test.xc, test.xg[:, None])  # the truth: one mode per pair
    assert one_each["coverage"] == 0.25 and one_each["precision"] == 1.0
    mean = np.repeat(templates.mean(axis=1, keepdims=True), 5, axis=1)
    assert mode_report(test.xc, mean)["precision"] == 0.0
    half = templates.copy()
    half[:, 2:] = mean[:, :2]  # two true modes, two blurred samples
    report = mode_report(test.xc, half)
    assert report["coverage"] == 0.5 and report["precision"] == 0.5
    with pytest.raises(SyntheticError, match="shape"):
        mode_report(test.xc, templates[:3])


def test_bad_settings() -> None:
    with pytest.raises(SyntheticError, match="test_fraction"):
        make_mode_pairs(10, test_fraction=1.0)
    with pytest.raises(SyntheticError, match="modes"):
        make_mode_pairs(10, modes=0)
    with pytest.raises(SyntheticError, match="class"):
        mode_templates(5)


def test_three_classes() -> None:
    pairs = make_mode_pairs(90, modes=3, seed=5, classes=3)
    labels = np.random.default_rng(5).integers(0, 3, 90)
    assert np.array_equal(classify(pairs.xc, classes=3), labels)
    templates = np.stack([mode_templates(x, modes=3, classes=3) for x in pairs.xc])
    report = mode_report(pairs.xc, templates, modes=3, classes=3)
    assert report["coverage"] == 1.0 and report["precision"] == 1.0


def test_detail_ties_each_mode_to_its_own_xc() -> None:
    pairs = make_mode_pairs(200, seed=7, detail=1.0)
    assert pairs.meta["detail"] == 1.0
    for x_c, x_g in zip(pairs.xc[:40], pairs.xg[:40]):
        templates = mode_templates(x_c, detail=1.0)
        assert ((templates - x_g) ** 2).mean(axis=(1, 2, 3)).min() < 2.5 * 0.02**2
        # The x_c part is real: the plain ramps are farther than the noise from every mode.
        assert np.abs(templates - mode_templates(x_c)).max() > 0.02
    # By hand: the x_c-specific part is the sigma-3 low-pass of x_c minus its mean.
    from scipy.ndimage import gaussian_filter

    low = gaussian_filter(pairs.xc[0, 0].astype(np.float64), 3)
    expected = np.clip(mode_templates(pairs.xc[0])[:, 0] + (low - low.mean()), 0, 1)
    np.testing.assert_allclose(mode_templates(pairs.xc[0], detail=1.0)[:, 0], expected, atol=1e-6)
    test = pairs.test()
    predicted = np.stack([mode_templates(x, detail=1.0).mean(axis=0) for x in test.xc])
    assert conditional_mean_error(test) == pytest.approx(np.mean((test.xg - predicted) ** 2), rel=1e-5)
    with pytest.raises(SyntheticError, match="depend on x_c"):
        mode_templates(0, detail=1.0)


def test_shared_family_same_directions_class_sets_the_brightness() -> None:
    """The "shared" family: every class has the directions 0, 90, 180, 270 degrees, and class c's
    ramps are offset by -0.1 / +0.1 (clipped), so which of a class's modes a pair shows does not
    depend on x_c."""
    from cdvae_core.synthetic import SHARED_OFFSET

    pairs = make_mode_pairs(400, seed=9, family="shared", test_fraction=0.25)
    assert pairs.meta["family"] == "shared"
    labels = classify(pairs.xc)
    assert np.array_equal(labels, np.random.default_rng(9).integers(0, 2, 400))  # x_c as in "rotated"
    # by hand: ramps at the shared directions, plus the class offset, clipped
    u, v = np.meshgrid(np.linspace(-1, 1, 32), np.linspace(-1, 1, 32))
    for c, offset in ((0, -SHARED_OFFSET), (1, SHARED_OFFSET)):
        want = [np.clip(0.5 + 0.45 * (u * np.cos(t) + v * np.sin(t)) / np.sqrt(2) + offset, 0, 1)
                for t in np.pi / 2 * np.arange(4)]
        np.testing.assert_allclose(mode_templates(c, family="shared")[:, 0], np.stack(want), atol=1e-6)
    counts = np.zeros((2, 4))
    for x_c, x_g, label in zip(pairs.xc, pairs.xg, labels):
        errors = ((mode_templates(x_c, family="shared") - x_g) ** 2).mean(axis=(1, 2, 3))
        assert errors.min() < 2.5 * 0.02**2
        counts[label, errors.argmin()] += 1
    assert np.all(np.abs(counts / counts.sum(1, keepdims=True) - 0.25) < 0.12)
    # the closest modes of the two classes are the same direction, 0.2 apart in brightness (away
    # from the clipped corners): the midpoint threshold is a quarter of that squared distance
    d = ((mode_templates(0, family="shared")[:, None] - mode_templates(1, family="shared")[None]) ** 2).mean((2, 3, 4))
    assert default_threshold(family="shared") == pytest.approx(0.25 * d.min())
    assert d.min() < ((mode_templates(0, family="shared")[0] - mode_templates(0, family="shared")[1]) ** 2).mean()
    test = pairs.test()
    templates = np.stack([mode_templates(x, family="shared") for x in test.xc])  # (B, 4, 1, 32, 32)
    perfect = mode_report(test.xc, templates, family="shared")
    assert perfect["coverage"] == 1.0 and perfect["precision"] == 1.0
    other = np.stack([mode_templates(1 - c, family="shared") for c in classify(test.xc)])
    assert mode_report(test.xc, other, family="shared")["precision"] == 0.0  # the other class's modes miss
    predicted = templates.mean(axis=1)
    assert conditional_mean_error(test) == pytest.approx(np.mean((test.xg - predicted) ** 2), rel=1e-5)  # family from meta
    with pytest.raises(SyntheticError, match="family"):
        make_mode_pairs(10, family="spiral")


def test_a_subset_keeps_the_labels_of_its_own_pairs(pairs) -> None:
    """Per-pair labels in meta follow the pairs into a subset (the test split's were the whole
    file's, one per pair of the file)."""
    from dataclasses import replace

    labelled = replace(pairs, meta={**pairs.meta, "labels": list(range(len(pairs)))})
    test = labelled.test()
    assert test.meta["labels"] == np.flatnonzero(labelled.split == 1).tolist()
    assert labelled.meta["labels"] == list(range(len(pairs)))  # the original is left alone

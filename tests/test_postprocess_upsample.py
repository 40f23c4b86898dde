"""Edge-aware upsampling: accuracy against bicubic, consistency, flat regions, bad input."""

from __future__ import annotations

import re

import cv2
import numpy as np
import pytest
import scipy.sparse as sp

from cdvae_core.postprocess import EdgeAwareUpsampler, UpsampleError, UpsampleSettings, edge_aware_upsample, get_upsampler
from cdvae_core.postprocess.basis import area_matrix
from cdvae_core.postprocess.synthetic import piecewise_scene


def _bicubic(field: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    return np.stack([cv2.resize(p, (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC) for p in field])


def _area(full: np.ndarray, h: int, w: int) -> np.ndarray:
    return np.stack([cv2.resize(p, (w, h), interpolation=cv2.INTER_AREA) for p in full])


@pytest.mark.parametrize("seed", [0, 1])
def test_beats_bicubic_and_reproduces_field(seed):
    guide, truth, small = piecewise_scene(seed, size=(256, 256), regions=8)
    up = edge_aware_upsample(small, guide)
    assert up.dtype == np.float32 and up.shape == truth.shape
    assert np.all(np.isfinite(up))
    mse = np.mean((up - truth) ** 2)
    mse_bicubic = np.mean((_bicubic(small, guide.shape[:2]) - truth) ** 2)
    assert mse <= 0.5 * mse_bicubic, (mse, mse_bicubic)
    # Blurring and downsampling the result gives the decoder's field back (OpenCV's area resize).
    assert np.abs(_area(up, 32, 32) - small).mean() <= 0.02
    assert up.min() >= small.min() - 0.05 and up.max() <= small.max() + 0.05


def test_flat_field_stays_flat():
    guide, _, _ = piecewise_scene(3, size=(192, 160))
    field = np.full((2, 32, 32), 0.37, np.float32)
    field[1] = -1.5
    up = edge_aware_upsample(field, guide)
    np.testing.assert_allclose(up[0], 0.37, atol=1e-5)
    np.testing.assert_allclose(up[1], -1.5, atol=1e-5)


def test_flat_regions_stay_flat_inside_segments():
    # Two halves, split on a cell boundary and off it; the field is constant on each half.
    H = W = 256
    guide = np.full((H, W, 3), 60, np.uint8)
    guide[:, 100:] = 200
    truth = np.where(np.arange(W)[None, None, :] >= 100, 0.9, 0.2).astype(np.float32) * np.ones((1, H, 1), np.float32)
    small = _area(truth, 32, 32)
    up = edge_aware_upsample(small, guide)
    left, right = up[0, :, :84], up[0, :, 116:]  # two cells away from the edge
    assert left.std() < 0.01 and right.std() < 0.01
    assert abs(left.mean() - 0.2) < 0.02 and abs(right.mean() - 0.9) < 0.02
    # The step is sharp: the pixel columns next to the edge are already on their plateau.
    assert abs(up[0, :, 98].mean() - 0.2) < 0.05 and abs(up[0, :, 101].mean() - 0.9) < 0.05


def test_fast_apply_equals_the_basis_matrix():
    guide, _, small = piecewise_scene(5, size=(160, 224))
    op = EdgeAwareUpsampler(guide, (32, 32), UpsampleSettings(clip=False))
    w = op.weights(small)[0, 0].ravel()  # (h*w,)
    expected = (op.basis_matrix @ w).reshape(op.guide_shape)
    np.testing.assert_allclose(op.apply(small)[0], expected, atol=1e-5)
    rows = np.asarray(op.basis_matrix.sum(axis=1)).ravel()
    np.testing.assert_allclose(rows, 1.0, atol=1e-9)  # a partition of unity


def test_area_matrix_matches_opencv_area_resize():
    rng = np.random.default_rng(0)
    full = rng.random((75, 130)).astype(np.float32)
    D = sp.kron(area_matrix(32, 75), area_matrix(32, 130), format="csr")
    np.testing.assert_allclose((D @ full.ravel()).reshape(32, 32), cv2.resize(full, (32, 32), interpolation=cv2.INTER_AREA), atol=1e-5)


def test_batch_equals_single_and_cache_reuses_operator():
    guide, _, small = piecewise_scene(2, size=(128, 128))
    op = get_upsampler(guide)
    assert get_upsampler(guide.copy()) is op
    batch = np.stack([small, 1 - small, small * 0.5])
    out = op.apply(batch)
    assert out.shape == (3, 1, 128, 128)
    for i in range(3):
        np.testing.assert_allclose(out[i], op.apply(batch[i]), atol=1e-6)


def test_odd_sizes_grey_rgba_and_reduced_solve():
    guide, _, _ = piecewise_scene(4, size=(75, 130))
    field = np.random.default_rng(1).random((1, 32, 32)).astype(np.float32)
    rgb = edge_aware_upsample(field, guide)
    assert rgb.shape == (1, 75, 130)
    grey = cv2.cvtColor(guide, cv2.COLOR_RGB2GRAY)
    np.testing.assert_allclose(edge_aware_upsample(field, grey), rgb, atol=1e-6)  # documented fallback
    rgba = np.dstack([guide, np.full(guide.shape[:2], 7, np.uint8)])
    np.testing.assert_allclose(edge_aware_upsample(field, rgba), rgb, atol=1e-6)  # alpha ignored
    big, _, small = piecewise_scene(6, size=(300, 200))
    op = EdgeAwareUpsampler(big, (32, 32), UpsampleSettings(max_side=128))
    up = op.apply(small)
    assert op.guide_shape[0] == 128 and up.shape == (1, 300, 200)
    assert np.abs(_area(up, 32, 32) - small).mean() <= 0.02


@pytest.mark.parametrize(
    "field, guide, message",
    [
        (np.zeros((1, 32, 32), np.float32), np.zeros((64, 64, 3), np.float32), "uint8"),
        (np.zeros((1, 32, 32), np.float32), np.zeros((1, 1, 3), np.uint8), "too small"),
        (np.zeros((1, 32, 32), np.float32), np.zeros((20, 64, 3), np.uint8), "smaller than"),
        (np.zeros((1, 32, 32), np.float32), np.zeros((64, 64, 2), np.uint8), "RGB"),
        (np.full((1, 32, 32), np.nan, np.float32), np.zeros((64, 64, 3), np.uint8), "NaN"),
        (np.zeros((32, 32), np.float32), np.zeros((64, 64, 3), np.uint8), "(C, h, w)"),
    ],
)
def test_bad_input_is_a_clear_error(field, guide, message):
    with pytest.raises(UpsampleError, match=message.replace("(", r"\(").replace(")", r"\)")):
        edge_aware_upsample(field, guide)


def test_operator_refuses_another_field_size():
    guide, _, _ = piecewise_scene(0, size=(64, 64))
    op = EdgeAwareUpsampler(guide, (32, 32))
    with pytest.raises(UpsampleError, match="prepared for 32x32"):
        op.apply(np.zeros((1, 16, 16), np.float32))


def test_cell_modes_match_a_per_cell_count():
    from cdvae_core.postprocess.basis import cell_modes

    labels = np.random.default_rng(0).integers(0, 5, (64, 96)).astype(np.int32)
    expected = [np.bincount(labels[i * 8:(i + 1) * 8, j * 12:(j + 1) * 12].ravel(), minlength=5).argmax()
                for i in range(8) for j in range(8)]
    np.testing.assert_array_equal(cell_modes(labels, (8, 8)), expected)


def test_settings_are_checked_when_made():
    """Each setting is checked when the settings are made (a sidecar's are read into them), with
    its name: a negative regulariser used to surface as a LinAlgError from the solve."""
    from cdvae_core.postprocess import PostprocessError
    from cdvae_core.postprocess.export import ExportSettings
    from cdvae_core.postprocess.segments import SegmentSettings

    for make, needle in ((lambda: UpsampleSettings(reg=0.0), "UpsampleSettings setting reg must be a positive number"),
                         (lambda: UpsampleSettings(clip=1), "UpsampleSettings setting clip must be true or false"),
                         (lambda: UpsampleSettings(max_side=16), "max_side must be an int of at least 32"),
                         (lambda: SegmentSettings(min_cell_fraction=1.5), "min_cell_fraction must be a number in [0, 1]"),
                         (lambda: SegmentSettings(sigma=float("nan")), "sigma must be a number in [0, 100]"),
                         (lambda: ExportSettings(component=-1), "component must be null or an int >= 0"),
                         (lambda: ExportSettings(distinct_pool=5000), "distinct_pool must be an int in [0, 4096]"),
                         (lambda: ExportSettings(temperature=2.5), "temperature must be a number in [0, 2.0]")):
        with pytest.raises(PostprocessError, match=re.escape(needle)):
            make()
    assert ExportSettings(temperature=0, component=3).temperature == 0  # an int is a number

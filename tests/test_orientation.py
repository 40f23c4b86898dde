"""Orientation channels and features (cdvae_core.orientation) against OpenCV and known gratings."""

import cv2
import numpy as np
import pytest
import torch

from cdvae_core.orientation import (
    EPS,
    GRID,
    RADIUS,
    SIGMA,
    WHOLE_WEIGHT,
    OrientationChannels,
    orientation_features,
)


def grating(angle: float, period: float = 6.0, size: int = 32) -> np.ndarray:
    """(3, size, size) sinusoid in [0.2, 0.8] whose gradient points along ``angle`` (radians)."""
    rows, cols = np.mgrid[0:size, 0:size].astype(np.float64)
    wave = np.sin(2 * np.pi * (cols * np.cos(angle) + rows * np.sin(angle)) / period)
    return np.repeat((0.5 + 0.3 * wave)[None], 3, 0).astype(np.float32)


def opencv_orientation(layer: np.ndarray) -> np.ndarray:
    """The same channels computed independently with OpenCV: (2, H, W)."""
    grey = np.ascontiguousarray(layer.mean(0), dtype=np.float64)
    gx = cv2.Sobel(grey, cv2.CV_64F, 1, 0, ksize=3)
    gy = cv2.Sobel(grey, cv2.CV_64F, 0, 1, ksize=3)
    blur = [cv2.GaussianBlur(a, (2 * RADIUS + 1, 2 * RADIUS + 1), SIGMA) for a in (gx * gx, gy * gy, gx * gy)]
    jxx, jyy, jxy = blur
    norm = jxx + jyy + EPS
    return np.stack([(jxx - jyy) / norm, 2 * jxy / norm]) * 0.5 + 0.5


def test_channels_match_opencv_on_random_images():
    rng = np.random.default_rng(0)
    x = np.stack([cv2.GaussianBlur(rng.random((32, 32, 3)).astype(np.float32), (0, 0), 1.0).transpose(2, 0, 1)
                  for _ in range(4)])
    with torch.no_grad():
        out = OrientationChannels()(torch.from_numpy(x))
    assert out.shape == (4, 5, 32, 32)
    np.testing.assert_array_equal(out[:, :3].numpy(), x)  # the image passes through untouched
    for layer, channels in zip(x, out[:, 3:].numpy()):
        np.testing.assert_allclose(channels, opencv_orientation(layer), atol=1e-4)


@pytest.mark.parametrize("degrees", [0, 30, 45, 90, 135])
def test_channels_give_the_doubled_angle_of_a_grating(degrees):
    angle = np.deg2rad(degrees)
    with torch.no_grad():
        channels = OrientationChannels().orientation(torch.from_numpy(grating(angle))[None])[0].numpy()
    inner = channels[:, 8:24, 8:24] * 2 - 1  # away from the reflected borders
    np.testing.assert_allclose(inner[0], np.cos(2 * angle), atol=0.05)
    np.testing.assert_allclose(inner[1], np.sin(2 * angle), atol=0.05)


def test_flat_images_sit_at_the_middle_and_the_module_has_no_weights():
    module = OrientationChannels()
    with torch.no_grad():
        out = module.orientation(torch.full((2, 3, 32, 32), 0.4))
    np.testing.assert_allclose(out.numpy(), 0.5)
    assert module.state_dict() == {} and not list(module.parameters())


def test_features_pool_the_tensor_per_cell_and_over_the_frame():
    # left half a horizontal-gradient grating, right half a vertical one; the frame's angle sits
    # between them
    left, right = grating(0.0), grating(np.pi / 2)
    x = np.concatenate([left[:, :, :16], right[:, :, 16:]], 2)[None]
    f = orientation_features(x)
    assert f.shape == (1, 2 * GRID * GRID + 2) and f.dtype == np.float32
    cos = f[0, : GRID * GRID].reshape(GRID, GRID)
    sin = f[0, GRID * GRID : 2 * GRID * GRID].reshape(GRID, GRID)
    assert (cos[:, 0] > 0.9).all() and (cos[:, 3] < -0.9).all()  # cells away from the seam
    np.testing.assert_allclose(sin, 0.0, atol=0.1)
    # the whole-frame entry is the tensor summed over all cells, computed here by hand
    grey = x[0].mean(0)
    gx, gy = cv2.Sobel(grey, cv2.CV_64F, 1, 0), cv2.Sobel(grey, cv2.CV_64F, 0, 1)
    jxx, jyy, jxy = (gx * gx).sum(), (gy * gy).sum(), (gx * gy).sum()
    np.testing.assert_allclose(f[0, -2:], WHOLE_WEIGHT * np.array([jxx - jyy, 2 * jxy]) / (jxx + jyy + EPS),
                               rtol=1e-4, atol=1e-4)

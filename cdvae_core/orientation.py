"""Local orientation of an image layer from its structure tensor (motion's x_c, docs/model.md).

In motion, a frame's line of motion follows its dominant structure (a pan runs across it, an
elongated object moves along its long axis), but a convolutional encoder trained on a few
thousand frames memorises their appearance instead of computing orientation (docs/results.md).
Two fixed, parameter-free pieces hand it over instead:

- ``OrientationChannels``: two extra channels o(x_c) that the CDVAE's x_c ladder reads and
  reconstructs beside x_c (the CVAE's towers read them), the doubled angle of
  the Gaussian-smoothed structure tensor J = G_sigma * [gx^2, gx gy; gx gy, gy^2] of the grey
  image, as (Jxx - Jyy) / (Jxx + Jyy + eps) and 2 Jxy / (Jxx + Jyy + eps) mapped from [-1, 1] to
  [0, 1]: 0.5 where the image is flat, the cosine and sine of twice the gradient angle weighted
  by coherence where it has a direction;
- ``orientation_features``: the same doubled angle pooled over a 4x4 grid and over the whole
  frame, a guidance-feature part for f_c (``data.features``), so that the LPP targets of z_c
  carry orientation.

Gradients are 3x3 Sobel filters, borders reflected without repeating the edge pixel (OpenCV's
default, ``BORDER_REFLECT_101``); the tests check the torch module against OpenCV.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

SIGMA = 2.0  # smoothing of the tensor, in 32x32 pixels
RADIUS = 6  # Gaussian kernel half-width (3 sigma)
EPS = 1e-4  # keeps flat regions at zero orientation (grey values in [0, 1], Sobel gain 8)
GRID = 4  # orientation_features: cells per side
WHOLE_WEIGHT = 4.0  # orientation_features: the whole-frame angle against the 2 * GRID^2 cell entries
EXTRA_CHANNELS = 2
WIDTH = 2 * GRID * GRID + 2  # orientation_features' columns


def _gaussian_kernel() -> np.ndarray:
    """(2 RADIUS + 1,) normalised Gaussian taps, the ones cv2.GaussianBlur uses for this size."""
    return cv2.getGaussianKernel(2 * RADIUS + 1, SIGMA).ravel()


class OrientationChannels(nn.Module):
    """x (B, C, H, W) with values about [0, 1] -> (B, C + 2, H, W): x and its orientation channels.

    No parameters; the filters are non-persistent buffers, so weight files do not hold them.
    """

    def __init__(self) -> None:
        super().__init__()
        sobel = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
        self.register_buffer("sobel", torch.stack([sobel, sobel.T])[:, None], persistent=False)  # (2, 1, 3, 3)
        self.register_buffer("gauss", torch.from_numpy(_gaussian_kernel()).float(), persistent=False)

    def orientation(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, 2, H, W) orientation channels in [0, 1]."""
        grey = x.mean(1, keepdim=True)
        grad = F.conv2d(F.pad(grey, (1, 1, 1, 1), mode="reflect"), self.sobel.to(x.dtype))  # (B, 2, H, W)
        gx, gy = grad[:, :1], grad[:, 1:]
        tensor = torch.cat([gx * gx, gy * gy, gx * gy], 1)  # (B, 3, H, W)
        g = self.gauss.to(x.dtype)
        rows = F.conv2d(F.pad(tensor, (0, 0, RADIUS, RADIUS), mode="reflect"), g.view(1, 1, -1, 1).expand(3, 1, -1, 1),
                        groups=3)
        smooth = F.conv2d(F.pad(rows, (RADIUS, RADIUS, 0, 0), mode="reflect"), g.view(1, 1, 1, -1).expand(3, 1, 1, -1),
                          groups=3)
        jxx, jyy, jxy = smooth[:, :1], smooth[:, 1:2], smooth[:, 2:]
        norm = jxx + jyy + EPS
        return torch.cat([(jxx - jyy) / norm, 2.0 * jxy / norm], 1) * 0.5 + 0.5

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, self.orientation(x)], 1)


def orientation_features(xc: np.ndarray) -> np.ndarray:
    """x_c layers (N, C, 32, 32) -> (N, 2 GRID^2 + 2) float32: per grid cell and for the whole
    frame, (Jxx - Jyy, 2 Jxy) / (Jxx + Jyy + eps) of the tensor summed over the cell, cells first
    (all cosines, then all sines), the whole frame weighted by WHOLE_WEIGHT."""
    out = np.empty((len(xc), WIDTH), np.float32)
    cell = xc.shape[-1] // GRID
    for i, layer in enumerate(xc):
        grey = np.ascontiguousarray(layer.mean(0), dtype=np.float32)
        gx = cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3)
        gy = cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3)
        sums = [(a.reshape(GRID, cell, GRID, cell).sum(axis=(1, 3))) for a in (gx * gx, gy * gy, gx * gy)]
        jxx, jyy, jxy = sums  # (GRID, GRID) each
        norm = jxx + jyy + EPS
        whole = jxx.sum() + jyy.sum() + EPS
        out[i, : GRID * GRID] = ((jxx - jyy) / norm).ravel()
        out[i, GRID * GRID : 2 * GRID * GRID] = (2.0 * jxy / norm).ravel()
        out[i, -2:] = WHOLE_WEIGHT * np.array([jxx.sum() - jyy.sum(), 2.0 * jxy.sum()]) / whole
    return out

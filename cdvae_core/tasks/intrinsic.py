"""Intrinsic decomposition image = albedo x shading by Color Retinex with reflectance filtering.

The paper used Bell et al.'s dense CRF; this is the practical offline method of DESIGN's notes:
1. Color Retinex (Grosse et al. 2009): a gradient of the log grey image belongs to the
   reflectance when it is large, or when the chromaticity changes across it; the other
   gradients are shading. The kept reflectance gradients are reintegrated by the least-squares
   Poisson solve, done exactly with a DCT (Neumann boundaries), O(N log N).
2. Edge-aware filtering of the reflectance (Nestmeyer and Gehler 2017): a guided filter
   flattens what little shading leaks into the reflectance; shading = grey / filtered grey
   reflectance, then lightly smoothed, because true shading has no texture.
Shading is solved at ``work_size`` (longer side) and upsampled: it is smooth, so this costs
nothing in accuracy and makes the solve cheap; the albedo keeps the photo's full detail as
image / shading.

Scale: the product is ambiguous up to a constant. Shading is scaled so that it reaches 1 at the
``scale_quantile`` of pixels (the best-lit parts), unless that would push more than the same
share of albedo values above 1; then the clipping is split between the two. Both layers are
clipped to [0, 1] and the albedo is image / clipped shading, so albedo x shading reproduces the
image wherever the albedo did not clip.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy import fft

from .base import fit_within, resize_layer

EPS = 1.0 / 255.0  # keeps log() finite at black pixels


@dataclass(frozen=True)
class RetinexSettings:
    work_size: int = 128  # longer side (pixels) at which shading is solved
    threshold_grey: float = 0.2  # |d log grey| above this is a reflectance edge
    threshold_chroma: float = 0.07  # |d chromaticity| above this is a reflectance edge
    filter_radius: int = 3  # guided filter radius on the reflectance (work-size pixels)
    filter_eps: float = 0.004  # guided filter regulariser (log-reflectance units squared)
    shading_blur: float = 1.0  # Gaussian sigma (work-size pixels) applied to the shading
    scale_quantile: float = 0.99  # share of pixels kept inside [0, 1] when fixing the scale


def _channel_max(img: np.ndarray) -> np.ndarray:
    """(h, w, 3) -> (h, w) brightest channel; numpy's max over a length-3 last axis is slow."""
    return np.maximum(np.maximum(img[:, :, 0], img[:, :, 1]), img[:, :, 2])


def poisson_reintegrate(gx: np.ndarray, gy: np.ndarray) -> np.ndarray:
    """Least-squares r with forward differences matching the gradients, zero mean.

    gx (H, W-1) = r[:, 1:] - r[:, :-1], gy (H-1, W) = r[1:] - r[:-1]  ->  r (H, W) float64.
    Solves the normal equations L r = D^T g with the Neumann Laplacian L diagonalised by DCT-II.
    """
    h, w = gx.shape[0], gy.shape[1]
    b = np.zeros((h, w), np.float64)  # D^T g
    b[:, :-1] -= gx
    b[:, 1:] += gx
    b[:-1, :] -= gy
    b[1:, :] += gy
    lam_y = 2.0 - 2.0 * np.cos(np.pi * np.arange(h) / h)
    lam_x = 2.0 - 2.0 * np.cos(np.pi * np.arange(w) / w)
    denom = lam_y[:, None] + lam_x[None, :]
    denom[0, 0] = 1.0  # the constant mode is free; fixed to zero mean below
    coeffs = fft.dctn(b, type=2, norm="ortho") / denom
    coeffs[0, 0] = 0.0
    return fft.idctn(coeffs, type=2, norm="ortho")


def log_shading(rgb: np.ndarray, settings: RetinexSettings) -> np.ndarray:
    """float32 (h, w, 3) RGB in [0, 1] -> log shading (h, w) float32, up to a constant."""
    img = rgb.astype(np.float32) + np.float32(EPS)  # (h, w, 3)
    total = img[:, :, 0] + img[:, :, 1] + img[:, :, 2]
    log_grey = np.log(total * np.float32(1.0 / 3.0))
    chroma = img / total[:, :, None]  # (h, w, 3), sums to 1
    gx = log_grey[:, 1:] - log_grey[:, :-1]
    gy = log_grey[1:] - log_grey[:-1]
    dcx = chroma[:, 1:] - chroma[:, :-1]
    dcy = chroma[1:] - chroma[:-1]
    cx2 = np.einsum("ijk,ijk->ij", dcx, dcx)  # squared chromaticity steps
    cy2 = np.einsum("ijk,ijk->ij", dcy, dcy)
    # Color Retinex classification: reflectance where the grey step is large or colour changes.
    tg, tc2 = settings.threshold_grey, settings.threshold_chroma**2
    rx = np.where((np.abs(gx) > tg) | (cx2 > tc2), gx, 0.0)
    ry = np.where((np.abs(gy) > tg) | (cy2 > tc2), gy, 0.0)
    log_refl = poisson_reintegrate(rx, ry).astype(np.float32)
    if settings.filter_radius > 0:
        # Reflectance is piecewise flat: filter it guided by itself (edge-preserving flattening).
        log_refl = cv2.ximgproc.guidedFilter(log_refl, log_refl, settings.filter_radius, settings.filter_eps)
    log_s = (log_grey - log_refl).astype(np.float32)
    if settings.shading_blur > 0:
        log_s = cv2.GaussianBlur(log_s, (0, 0), settings.shading_blur)
    return log_s


def decompose_intrinsic(rgb: np.ndarray, settings: RetinexSettings = RetinexSettings()) -> tuple[np.ndarray, np.ndarray]:
    """float32 (H, W, 3) in [0, 1] -> albedo (3, H, W) and shading (1, H, W), both in [0, 1].

    albedo x shading reproduces the image except where clipping was needed (see module doc).
    """
    h, w = rgb.shape[:2]
    small = fit_within(rgb, settings.work_size)
    log_s = log_shading(small, settings)
    shading = resize_layer(np.exp(log_s)[None], h, w)[0]  # smooth field: bilinear upsampling is fine
    img = np.asarray(rgb, np.float32)  # read only: no copy of a float32 photo
    log_sh = np.log(np.maximum(shading, 1e-6))
    q = settings.scale_quantile
    c_hi = -float(np.quantile(log_sh, q))  # shading <= 1 on a share q of pixels
    c_lo = float(np.quantile(np.log(_channel_max(img) + EPS) - log_sh, q))  # albedo <= 1 likewise
    # Both fit: shading reaches 1 where the light is brightest. Otherwise split the clipping.
    c = c_hi if c_lo <= c_hi else 0.5 * (c_lo + c_hi)
    shading = np.clip(shading * np.float32(np.exp(c)), EPS, 1.0)
    # channel by channel into the (3, H, W) result: the (H, W, 3) quotient, its clip and its
    # transposed copy were three photo-sized float temporaries (1.6 GB at 48 megapixels)
    albedo = np.empty((3, h, w), np.float32)
    for channel in range(3):
        np.divide(img[:, :, channel], shading, out=albedo[channel])
        np.clip(albedo[channel], 0.0, 1.0, out=albedo[channel])
    return albedo, shading[None].astype(np.float32)

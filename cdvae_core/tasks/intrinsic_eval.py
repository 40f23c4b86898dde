"""Measuring intrinsic decompositions: synthetic albedo x shading scenes with known truth, LMSE.

``synthetic_intrinsic(seed)`` paints piecewise-constant colour regions (the albedo) and lights
them with a smooth field (a directional ramp plus soft blobs: the shading). ``lmse`` is Grosse
et al.'s local scale-invariant error (windows of 20 pixels, stride 10, each window's estimate
rescaled to fit best, normalised by the truth's energy), so 0 is perfect and a constant guess
is about 1.
"""

from __future__ import annotations

import cv2
import numpy as np


def synthetic_intrinsic(seed: int, size: int = 128) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """-> image uint8 (size, size, 3), albedo float32 (size, size, 3), shading float32 (size, size).

    image = round(255 * (albedo * shading + noise)) with noise of standard deviation 0.01.
    """
    rng = np.random.default_rng(seed)
    # Albedo: a Voronoi partition, one random colour per cell, a few with texture-free stripes.
    n_cells = int(rng.integers(6, 14))
    centres = rng.uniform(0, size, (n_cells, 2))
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    dist = (yy[None] - centres[:, 0, None, None]) ** 2 + (xx[None] - centres[:, 1, None, None]) ** 2
    cell = dist.argmin(axis=0)  # (size, size)
    colours = rng.uniform(0.15, 0.95, (n_cells, 3)).astype(np.float32)
    # Half the cells repeat another cell's colour at another brightness: edges that only the
    # grey threshold can find (same chromaticity), as on printed patterns and grey objects.
    for i in range(1, n_cells, 2):
        colours[i] = colours[i - 1] * rng.uniform(0.35, 0.75)
    albedo = colours[cell]  # (size, size, 3)
    # Shading: light from a random direction plus soft blobs (highlights, shadows).
    angle = rng.uniform(0, 2 * np.pi)
    ramp = (np.cos(angle) * xx + np.sin(angle) * yy) / size
    shading = 0.6 + 0.3 * (ramp - ramp.mean())
    for _ in range(int(rng.integers(2, 5))):
        cy, cx = rng.uniform(0, size, 2)
        sigma = rng.uniform(0.1, 0.3) * size
        shading += rng.uniform(-0.25, 0.3) * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * sigma**2))
    # A cast shadow with a soft edge: shading with a sharp-ish step that is not reflectance.
    a, b = rng.uniform(-1, 1, 2)
    side = (a * (xx - size / 2) + b * (yy - size / 2) + rng.uniform(-0.3, 0.3) * size) > 0
    shadow = cv2.GaussianBlur(side.astype(np.float32), (0, 0), 3.0)
    shading *= 1.0 - rng.uniform(0.2, 0.45) * shadow
    shading = np.clip(shading, 0.15, 1.0).astype(np.float32)
    noise = rng.normal(0.0, 0.01, (size, size, 3))  # sensor noise
    image = np.clip(np.rint(255 * (albedo * shading[:, :, None] + noise)), 0, 255).astype(np.uint8)
    return image, albedo.astype(np.float32), shading


def lmse(truth: np.ndarray, estimate: np.ndarray, window: int = 20) -> float:
    """Local scale-invariant MSE of (H, W) or (H, W, C) arrays (Grosse et al. 2009)."""
    truth = np.asarray(truth, np.float64)
    estimate = np.asarray(estimate, np.float64)
    if truth.ndim == 2:
        truth, estimate = truth[..., None], estimate[..., None]
    h, w = truth.shape[:2]
    step = window // 2
    err = norm = 0.0
    for y in range(0, h - window + 1, step):
        for x in range(0, w - window + 1, step):
            t = truth[y : y + window, x : x + window]
            e = estimate[y : y + window, x : x + window]
            for c in range(t.shape[2]):
                tc, ec = t[..., c], e[..., c]
                denom = float((ec * ec).sum())
                alpha = float((tc * ec).sum()) / denom if denom > 1e-12 else 0.0
                err += float(((tc - alpha * ec) ** 2).sum())
                norm += float((tc * tc).sum())
    return err / max(norm, 1e-12)


def luminance_baseline(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The trivial decomposition: shading = luminance, albedo = image / luminance.

    uint8 (H, W, 3) -> albedo float32 (H, W, 3), shading float32 (H, W).
    """
    rgb = image.astype(np.float32) / 255.0
    lum = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY) + 1e-3
    return rgb / lum[:, :, None], lum


def intrinsic_scores(albedo_true: np.ndarray, shading_true: np.ndarray, albedo_est: np.ndarray,
                     shading_est: np.ndarray) -> dict[str, float]:
    """LMSE of albedo and shading estimates (all (H, W[, 3]) float) and their mean."""
    a = lmse(albedo_true, albedo_est)
    s = lmse(shading_true, shading_est)
    return {"albedo": a, "shading": s, "mean": 0.5 * (a + s)}

"""Synthetic guides and fields whose discontinuities sit on the guide's edges (tests, benchmarks).

A Voronoi partition of the frame into regions; the guide has a distinct grey level per region
(slightly tinted, with a smooth shading ramp and pixel noise), the field a value per region plus
a smooth variation. The low-resolution field is the area-downsampled truth, as tasks make x_g.
"""

from __future__ import annotations

import cv2
import numpy as np


def piecewise_scene(seed: int, size: tuple[int, int] = (512, 512), regions: int = 10, noise: float = 4.0,
                    low: tuple[int, int] = (32, 32)) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(guide uint8 (H, W, 3), true field float32 (1, H, W) in [0, 1], low field float32 (1, h, w))."""
    rng = np.random.default_rng(seed)
    H, W = size
    centres = rng.random((regions, 2)) * [H, W]
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    dist = (yy[..., None] - centres[:, 0]) ** 2 + (xx[..., None] - centres[:, 1]) ** 2  # (H, W, regions)
    region = dist.argmin(-1)
    levels = rng.permutation(np.linspace(30, 225, regions))
    grey = levels[region] + 20 * np.sin(xx / (0.19 * W)) + rng.normal(0, noise, (H, W))
    guide = np.clip(np.stack([grey, 0.9 * grey + 10, 0.8 * grey + 20], -1), 0, 255).astype(np.uint8)
    values = rng.random(regions) * 0.8 + 0.1
    truth = np.clip(values[region] + 0.08 * np.sin(yy / (0.12 * H) + xx / (0.17 * W)), 0, 1).astype(np.float32)[None]
    small = cv2.resize(truth[0], (low[1], low[0]), interpolation=cv2.INTER_AREA)[None]
    return guide, truth, small

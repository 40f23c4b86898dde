"""Segments of the full-resolution grey guide: the regions inside which basis functions spread.

The paper (section 4.2) takes a segment mask S(I) of the high-resolution grey image. We use
scikit-image's Felzenszwalb graph segmentation on a copy reduced to at most ``max_side`` pixels
(its cost grows with the pixel count: ~0.25 s at 512x512, ~0.12 s at 384x384 on one core) and
bring the labels back to full resolution with a per-pixel refinement (``refine_labels``).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from skimage.segmentation import felzenszwalb

from ..config import is_int, is_number
from .errors import check_setting


@dataclass(frozen=True)
class SegmentSettings:
    """How the guide is cut into segments."""

    max_side: int = 384  # segmentation runs on the guide reduced to this longest side (speed)
    scale: float = 300.0  # Felzenszwalb scale: larger gives larger segments
    sigma: float = 0.6  # Gaussian pre-smoothing (pixels of the reduced image) against noise
    min_cell_fraction: float = 0.15  # smallest segment, as a share of one low-resolution cell

    def __post_init__(self) -> None:
        n = "SegmentSettings"
        check_setting(is_int(self.max_side) and self.max_side >= 16, n, "max_side", self.max_side, "an int of at least 16")
        check_setting(is_number(self.scale) and self.scale > 0, n, "scale", self.scale, "a positive number")
        check_setting(is_number(self.sigma) and 0 <= self.sigma <= 100, n, "sigma", self.sigma,
                      "a number in [0, 100] (pixels)")
        check_setting(is_number(self.min_cell_fraction) and 0 <= self.min_cell_fraction <= 1, n, "min_cell_fraction",
                      self.min_cell_fraction, "a number in [0, 1]")


def grey_of(guide: np.ndarray) -> np.ndarray:
    """uint8 guide (H, W, 3) RGB, (H, W, 4) RGBA or (H, W) grey -> uint8 grey (H, W)."""
    if guide.ndim == 2:
        return guide
    if guide.shape[2] == 1:
        return guide[:, :, 0]
    return cv2.cvtColor(np.ascontiguousarray(guide[:, :, :3]), cv2.COLOR_RGB2GRAY)


def segment_guide(grey: np.ndarray, cells: tuple[int, int], settings: SegmentSettings = SegmentSettings()) -> np.ndarray:
    """Label map int32 (H, W) of the uint8 grey guide (H, W); labels run 0 .. n-1.

    ``cells`` is the low-resolution field size (h, w); the smallest segment is a fraction of one
    cell so that segments stay large enough to hold sample points.
    """
    H, W = grey.shape
    factor = min(1.0, settings.max_side / max(H, W))
    if factor < 1.0:
        small = cv2.resize(grey, (max(1, round(W * factor)), max(1, round(H * factor))), interpolation=cv2.INTER_AREA)
    else:
        small = grey
    sh, sw = small.shape
    cell_area = (sh / cells[0]) * (sw / cells[1])
    min_size = max(2, int(settings.min_cell_fraction * cell_area))
    labels = felzenszwalb(small, scale=settings.scale, sigma=settings.sigma, min_size=min_size, channel_axis=None)
    labels = labels.astype(np.int32)
    if (sh, sw) != (H, W):
        labels = refine_labels(grey, small, labels)
    return labels


def refine_labels(grey: np.ndarray, small: np.ndarray, small_labels: np.ndarray) -> np.ndarray:
    """Bring labels (sh, sw) of the reduced guide to full resolution (H, W) with pixel-exact edges.

    A nearest-neighbour resize would put every edge up to a reduced pixel off; instead each
    full-resolution pixel takes, among the labels of its 2x2 nearest reduced pixels, the one
    whose segment mean grey is closest to its own (lightly smoothed) grey.
    """
    H, W = grey.shape
    sh, sw = small_labels.shape
    n = int(small_labels.max()) + 1
    sums = np.bincount(small_labels.ravel(), weights=small.ravel().astype(np.float64), minlength=n)
    means = sums / np.maximum(np.bincount(small_labels.ravel(), minlength=n), 1)
    smooth = cv2.GaussianBlur(grey, (0, 0), 0.8).astype(np.float32)
    iy = (np.arange(H) + 0.5) * (sh / H) - 0.5
    ix = (np.arange(W) + 0.5) * (sw / W) - 0.5
    y0 = np.clip(np.floor(iy).astype(np.int64), 0, sh - 1)
    x0 = np.clip(np.floor(ix).astype(np.int64), 0, sw - 1)
    best = small_labels[np.ix_(np.clip(np.round(iy).astype(np.int64), 0, sh - 1), np.clip(np.round(ix).astype(np.int64), 0, sw - 1))]
    best_cost = np.abs(smooth - means[best])
    for ys in (y0, np.minimum(y0 + 1, sh - 1)):
        for xs in (x0, np.minimum(x0 + 1, sw - 1)):
            cand = small_labels[np.ix_(ys, xs)]  # (H, W)
            cost = np.abs(smooth - means[cand])
            better = cost < best_cost
            best = np.where(better, cand, best)
            best_cost = np.where(better, cost, best_cost)
    return best.astype(np.int32)

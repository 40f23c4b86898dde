"""Embedding-guidance features (paper section 4.1, DESIGN "Embedding guidance").

f_c = [label_weight * label distribution (K,), layout_weight * 5x5 coverage per category
(K * 25,), orientation_weight * orientation (34,), pixels of x_c (Cc * 1024,)]; f_g = pixels of
x_g (Cg * 1024,). Without annotations (folders, UCF101, built-in photos) the label and layout
parts are absent. The orientation part (``cdvae_core.orientation.orientation_features``: the
structure tensor's doubled angle per 4x4 cell and over the frame) is motion's only: there the
line of motion follows the frame's structure, and with pixels alone the LPP targets of z_c
carry almost none of it (docs/results.md).

Annotations travel as float32 rows ``(category index, x0, y0, x1, y1, area)`` with box corners
normalised to [0, 1] by the image size and area as a fraction of the image.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from ..orientation import WIDTH as ORIENTATION_WIDTH
from ..orientation import orientation_features

RASTER = 10  # samples per grid cell side when measuring box coverage (1% resolution)


MAX_FEATURE_WEIGHT = 1e6  # far beyond any useful weight, far short of float32's overflow (3.4e38)


@dataclass(frozen=True)
class FeatureSettings:
    label_weight: float = 16.0  # the label part has norm <= 1 against ~20-30 for the pixels
    layout_weight: float = 4.0  # the layout part has up to K*25 entries in [0, 1]
    grid: int = 5  # the paper's 5x5 coarse grid
    orientation_weight: float = 16.0  # motion: the orientation part has norm ~3 against ~28 for the pixels

    def to_dict(self) -> dict:
        return asdict(self)


def label_distribution(boxes: np.ndarray, n_categories: int) -> np.ndarray:
    """(M, 6) annotation rows -> (K,) share of annotated area per category, summing to 1 (or all 0)."""
    dist = np.zeros(n_categories, np.float32)
    if len(boxes):
        np.add.at(dist, boxes[:, 0].astype(int), np.maximum(boxes[:, 5], 0.0))
    total = dist.sum()
    return dist / total if total > 0 else dist


# EXIF orientation (1-8) -> how a point (x, y) of the stored photo, normalised to [0, 1], maps to
# the displayed photo: (swap x and y, then mirror x, mirror y)
_ORIENT = {1: (False, False, False), 2: (False, True, False), 3: (False, True, True), 4: (False, False, True),
           5: (True, False, False), 6: (True, True, False), 7: (True, True, True), 8: (True, False, True)}


def orient_rows(boxes: np.ndarray, orientation: int) -> np.ndarray:
    """(M, 6) annotation rows in a photo's stored frame -> the same rows in the frame its EXIF
    ``orientation`` displays (what the decoder returns); areas, as fractions, stay."""
    swap, mirror_x, mirror_y = _ORIENT.get(int(orientation), _ORIENT[1])
    out = boxes.copy()
    x0, y0, x1, y1 = (boxes[:, k] for k in (1, 2, 3, 4))
    if swap:
        x0, y0, x1, y1 = y0, x0, y1, x1
    if mirror_x:
        x0, x1 = 1.0 - x1, 1.0 - x0
    if mirror_y:
        y0, y1 = 1.0 - y1, 1.0 - y0
    out[:, 1], out[:, 2], out[:, 3], out[:, 4] = x0, y0, x1, y1
    return out


def layout_coverage(boxes: np.ndarray, n_categories: int, grid: int = 5) -> np.ndarray:
    """(M, 6) annotation rows -> (K * grid * grid,) share of each cell covered by each category's boxes.

    Coverage counts the union of a category's boxes, so overlapping boxes never exceed 1.
    """
    size = grid * RASTER
    out = np.zeros((n_categories, grid, grid), np.float32)
    if len(boxes) == 0:
        return out.reshape(-1)
    for cat in np.unique(boxes[:, 0].astype(int)):
        mask = np.zeros((size, size), bool)
        for _, x0, y0, x1, y1, _ in boxes[boxes[:, 0].astype(int) == cat]:
            c0, c1 = int(np.floor(x0 * size + 0.5)), int(np.floor(x1 * size + 0.5))
            r0, r1 = int(np.floor(y0 * size + 0.5)), int(np.floor(y1 * size + 0.5))
            mask[max(r0, 0) : min(r1, size), max(c0, 0) : min(c1, size)] = True
        out[cat] = mask.reshape(grid, RASTER, grid, RASTER).mean(axis=(1, 3))
    return out.reshape(-1)


def annotation_features(boxes_list: list[np.ndarray], n_categories: int,
                        settings: FeatureSettings = FeatureSettings()) -> np.ndarray:
    """Per pair annotation rows -> (N, K + K * grid^2) weighted [label, layout] features."""
    rows = [np.concatenate([settings.label_weight * label_distribution(b, n_categories),
                            settings.layout_weight * layout_coverage(b, n_categories, settings.grid)])
            for b in boxes_list]
    width = n_categories * (1 + settings.grid**2)
    return np.stack(rows).astype(np.float32) if rows else np.zeros((0, width), np.float32)


def guidance_features(xc: np.ndarray, xg: np.ndarray, annotations: np.ndarray | None = None,
                      orientation_weight: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """xc (N, Cc, 32, 32), xg (N, Cg, 32, 32), weighted annotation features (N, A) or None, the
    orientation part's weight or None for none -> fc (N, A + [34] + Cc*1024), fg (N, Cg*1024), float32."""
    n = xc.shape[0]
    parts = [] if annotations is None else [annotations]
    if orientation_weight is not None:
        parts.append(orientation_weight * orientation_features(xc))  # (N, 34)
    parts.append(xc.reshape(n, -1))  # pixels (N, Cc*1024)
    fc = np.concatenate(parts, axis=1) if len(parts) > 1 else parts[0]
    return np.ascontiguousarray(fc, np.float32), np.ascontiguousarray(xg.reshape(n, -1), np.float32)


def feature_parts(n_categories: int, channels_c: int, settings: FeatureSettings, annotated: bool,
                  orientation: bool = False) -> list[list]:
    """Column ranges of fc's parts for the pair file's meta: [[name, start, stop], ...]."""
    parts, start = [], 0
    if annotated:
        parts.append(["label", 0, n_categories])
        parts.append(["layout", n_categories, n_categories * (1 + settings.grid**2)])
        start = n_categories * (1 + settings.grid**2)
    if orientation:
        parts.append(["orientation", start, start + ORIENTATION_WIDTH])
        start += ORIENTATION_WIDTH
    parts.append(["pixels", start, start + channels_c * 1024])
    return parts

"""Sparse matrices of the edge-aware upsampler: the segment-restricted basis B and the area
downsampler D (the paper's smoothing-and-downsampling, eq. 9).

Conventions: the low-resolution field has h x w sample points, the guide H x W pixels, both
flattened row-major. Sample (i, j) sits at full-resolution pixel coordinates
((i + 0.5) H / h - 0.5, (j + 0.5) W / w - 0.5), the pixel-centre convention of OpenCV's resize.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp


def axis_coords(n_full: int, n_low: int) -> tuple[np.ndarray, np.ndarray]:
    """Per full-resolution index: left sample index i0 (n_full,) int64 and fraction f (n_full,)
    in [0, 1] so that the position in sample units is i0 + f; clamped at the borders exactly as
    cv2.resize(INTER_LINEAR) does (the border pixels copy the outermost sample)."""
    s = (np.arange(n_full, dtype=np.float64) + 0.5) * (n_low / n_full) - 0.5
    s = np.clip(s, 0.0, n_low - 1.0)
    i0 = np.minimum(np.floor(s).astype(np.int64), max(n_low - 2, 0))
    return i0, s - i0


def area_matrix(n_low: int, n_full: int) -> sp.csr_matrix:
    """1-D area averaging (n_low, n_full): row i averages the pixels of cell i with fractional
    overlaps, the same weights as cv2.resize(INTER_AREA)."""
    r = n_full / n_low
    y = np.arange(n_full, dtype=np.float64)
    rows, cols, vals = [], [], []
    c0 = np.floor(y / r).astype(np.int64)
    for dc in (0, 1):  # a pixel overlaps at most two cells when n_full >= n_low
        c = c0 + dc
        ok = c < n_low
        overlap = np.minimum(y + 1.0, (c + 1) * r) - np.maximum(y, c * r)
        ok &= overlap > 1e-12
        rows.append(c[ok])
        cols.append(y[ok].astype(np.int64))
        vals.append(overlap[ok] / r)
    return sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n_low, n_full))


def cell_modes(labels: np.ndarray, cells: tuple[int, int]) -> np.ndarray:
    """Most frequent segment label inside each low-resolution cell: int32 (h * w,).

    A sample point belongs to the segment that covers most of its cell, which is more robust
    than the label under the cell centre (a noise speck there would strand the sample).
    """
    H, W = labels.shape
    h, w = cells
    cy = (np.arange(H) * h) // H
    cx = (np.arange(W) * w) // W
    cell = (cy[:, None] * w + cx[None, :]).ravel().astype(np.int64)
    n_labels = int(labels.max()) + 1
    keys = cell * n_labels + labels.ravel()
    if h * w * n_labels <= 8_000_000:  # a dense (cells, labels) histogram is the fast path
        counts = np.bincount(keys, minlength=h * w * n_labels).reshape(h * w, n_labels)
        return counts.argmax(axis=1).astype(np.int32)
    keys, counts = np.unique(keys, return_counts=True)
    cell_of, label_of = keys // n_labels, keys % n_labels
    order = np.lexsort((-counts, cell_of))  # by cell, then most pixels first
    cell_sorted = cell_of[order]
    first = np.r_[True, cell_sorted[1:] != cell_sorted[:-1]]
    modes = np.zeros(h * w, dtype=np.int32)
    modes[cell_sorted[first]] = label_of[order][first]
    return modes


def bilinear_matrix(n_full: int, n_low: int) -> sp.csr_matrix:
    """1-D bilinear interpolation (n_full, n_low), clamped like cv2.resize(INTER_LINEAR)."""
    i0, f = axis_coords(n_full, n_low)
    i1 = np.minimum(i0 + 1, n_low - 1)
    rows = np.r_[np.arange(n_full), np.arange(n_full)]
    return sp.csr_matrix((np.r_[1 - f, f], (rows, np.r_[i0, i1])), shape=(n_full, n_low))


@dataclass(frozen=True)
class Basis:
    """The upsampling basis: u = B w with B (H*W, h*w) rows summing to one.

    B is bilinear interpolation, kron(By, Bx), except on the ``mixed`` pixels (M,) near segment
    edges, whose rows are ``B_mixed`` (M, h*w). ``B_mixed_bilinear`` (M, h*w) holds the bilinear
    rows they replace, so B = kron(By, Bx) + S (B_mixed - B_mixed_bilinear) with S selecting the
    mixed pixels; the full (H*W, h*w) matrix is never needed for the solve or the apply.
    """

    By: sp.csr_matrix
    Bx: sp.csr_matrix
    mixed: np.ndarray
    B_mixed: sp.csr_matrix
    B_mixed_bilinear: sp.csr_matrix

    def full(self) -> sp.csr_matrix:
        """The whole basis (H*W, h*w), for inspection and tests (about 1M entries at 512x512)."""
        bil = sp.kron(self.By, self.Bx, format="csr")
        rows = bil.shape[0]
        select = sp.csr_matrix((np.ones(self.mixed.size), (self.mixed, np.arange(self.mixed.size))), shape=(rows, self.mixed.size))
        return (bil + select @ (self.B_mixed - self.B_mixed_bilinear)).tocsr()


def build_basis(labels: np.ndarray, grey: np.ndarray, cells: tuple[int, int], cross: float) -> Basis:
    """Segment-restricted basis for label map (H, W), its uint8 grey guide (H, W), field size (h, w).

    Pixel x gets weight from sample k as  same(x, k) (t1 + cross t2) + cross^2 t2,  normalised,
    with t1 the bilinear tent (2x2 samples), t2 a tent twice as wide (4x4 samples) and
    same(x, k) = 1 when x lies in the segment of k. Inside a segment this is bilinear
    interpolation; near an edge only same-segment samples count; a pixel with no same-segment
    sample nearby falls back to plain spatial interpolation (weight cross^2) instead of a hole.

    A pixel whose own segment holds none of its 16 candidate samples (a thin strip along a
    blurred edge, a speck of texture) joins the candidate segment whose mean grey is closest
    to its own grey, so edges land mid-ramp instead of in a cross-segment blend.
    """
    H, W = labels.shape
    h, w = cells
    iy0, fy = axis_coords(H, h)
    ix0, fx = axis_coords(W, w)
    lab = labels.ravel()
    modes = cell_modes(labels, cells)

    # A pixel is plain bilinear when its 2x2 nearest samples all lie in its segment.
    iy1 = np.minimum(iy0 + 1, h - 1)
    ix1 = np.minimum(ix0 + 1, w - 1)
    grid = modes.reshape(h, w)
    interior = np.ones((H, W), dtype=bool)
    for ky in (iy0, iy1):
        for kx in (ix0, ix1):
            interior &= grid[np.ix_(ky, kx)] == labels
    mixed = np.flatnonzero(~interior.ravel())

    # Edge-aware rows: 4x4 candidate samples around each mixed pixel.
    iy_m, ix_m = np.divmod(mixed, W)
    sy, sx = iy0[iy_m] + fy[iy_m], ix0[ix_m] + fx[ix_m]  # position in sample units (M,)
    m_cols, t1s, t2s, valids = [], [], [], []
    for a in (-1, 0, 1, 2):
        ky = iy0[iy_m] + a
        dy = np.abs(sy - ky)
        for b in (-1, 0, 1, 2):
            kx = ix0[ix_m] + b
            dx = np.abs(sx - kx)
            valid = (ky >= 0) & (ky < h) & (kx >= 0) & (kx < w)
            m_cols.append(np.where(valid, ky * w + kx, 0))
            t1s.append(np.clip(1 - dy, 0, None) * np.clip(1 - dx, 0, None))
            t2s.append(np.clip(1 - dy / 2, 0, None) * np.clip(1 - dx / 2, 0, None))
            valids.append(valid)
    mc = np.stack(m_cols, axis=1)  # (M, 16)
    valid = np.stack(valids, axis=1)  # (M, 16)
    t1, t2 = np.stack(t1s, axis=1), np.stack(t2s, axis=1)  # (M, 16)
    cand = modes[mc]  # (M, 16) segment of each candidate sample
    own = lab[mixed]
    orphan = ~np.any(valid & (cand == own[:, None]), axis=1)
    if orphan.any():  # adopt the closest-looking candidate segment
        n_labels = int(labels.max()) + 1
        means = np.bincount(lab, weights=grey.ravel().astype(np.float64), minlength=n_labels)
        means /= np.maximum(np.bincount(lab, minlength=n_labels), 1)
        g = grey.ravel()[mixed[orphan]].astype(np.float64)
        cost = np.where(valid[orphan], np.abs(means[cand[orphan]] - g[:, None]), np.inf)
        own[orphan] = cand[orphan][np.arange(orphan.sum()), cost.argmin(axis=1)]
    same = cand == own[:, None]
    mv = np.where(valid, same * (t1 + cross * t2) + cross * cross * t2, 0.0)  # (M, 16)
    mv /= mv.sum(axis=1, keepdims=True)

    M = mixed.size
    row_of = np.repeat(np.arange(M), 16)
    B_mixed = sp.csr_matrix((mv.ravel(), (row_of, mc.ravel())), shape=(M, h * w))
    B_mixed.eliminate_zeros()
    # The bilinear rows these replace: 4 entries each.
    bil_cols = np.stack([iy0[iy_m] * w + ix0[ix_m], iy0[iy_m] * w + ix1[ix_m], iy1[iy_m] * w + ix0[ix_m], iy1[iy_m] * w + ix1[ix_m]], 1)
    bil_vals = np.stack([(1 - fy[iy_m]) * (1 - fx[ix_m]), (1 - fy[iy_m]) * fx[ix_m], fy[iy_m] * (1 - fx[ix_m]), fy[iy_m] * fx[ix_m]], 1)
    B_bil = sp.csr_matrix((bil_vals.ravel(), (np.repeat(np.arange(M), 4), bil_cols.ravel())), shape=(M, h * w))
    return Basis(By=bilinear_matrix(H, h), Bx=bilinear_matrix(W, w), mixed=mixed, B_mixed=B_mixed, B_mixed_bilinear=B_bil)

"""Edge-aware upsampling of generated fields to the photo's resolution (paper section 4.2, eq. 9).

A full-resolution field is a sum of basis functions, one per low-resolution sample point, each
spreading only inside its segment of the grey guide (``basis.py``). The weights w solve

    min_w ||D B w - y||^2 + reg ||w - y||^2

with D the area downsampler and y the decoder's field, so that blurring and downsampling the
result gives the field back. The regulariser charges the magnitude of the correction w - y
(the paper charges |w|; charging the correction keeps flat fields exactly flat). The paper's
per-sample orientations are not used: segment-restricted isotropic tents already follow the
guide's edges, and the extra unknowns would make the solve non-linear.

Work is split as the Studio needs it: ``EdgeAwareUpsampler(guide, (h, w))`` does the per-image
part once (segments, basis, and the normal equations: a dense Cholesky folded into one
(h*w, h*w) operator for fields up to 64x64, a sparse LU beyond); ``apply(field)`` is one matrix
product for the weights, an OpenCV bilinear resize and a sparse product over the pixels near edges.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field as dc_field

import cv2
import numpy as np
import scipy.sparse as sp
from scipy.linalg import cho_factor, lapack
from scipy.sparse.linalg import splu
from threadpoolctl import ThreadpoolController

from ..config import is_int, is_number
from .basis import area_matrix, build_basis
from .errors import UpsampleError, check_setting
from .lru import LRUCache
from .segments import SegmentSettings, grey_of, segment_guide


DENSE_LIMIT = 4096  # fields up to 64x64 get a dense solve operator (64 MB at the limit)
_BLAS: ThreadpoolController | None = None


def single_thread_blas():
    """Context that runs BLAS on one thread. These products are small: on 2 busy cores a threaded
    OpenBLAS spins and was measured 25x slower (70 ms against 2.7 ms for the 16-sample product)."""
    global _BLAS
    if _BLAS is None:
        _BLAS = ThreadpoolController()
    return _BLAS.limit(limits=1, user_api="blas")


@dataclass(frozen=True)
class UpsampleSettings:
    """Knobs of the edge-aware upsampler (defaults tuned on synthetic piecewise fields)."""

    segments: SegmentSettings = dc_field(default_factory=SegmentSettings)
    reg: float = 2e-3  # weight of ||w - y||^2: larger is smoother, smaller sharper but ringier
    cross: float = 1e-3  # basis weight across segments (fallback for pixels with no own sample)
    clip: bool = True  # clip each channel to the input field's range (no overshoot at edges)
    max_side: int = 1024  # larger guides are solved at this size, then resized (memory, time)

    def __post_init__(self) -> None:
        n = "UpsampleSettings"
        check_setting(isinstance(self.segments, SegmentSettings), n, "segments", self.segments, "a SegmentSettings")
        check_setting(is_number(self.reg) and self.reg > 0, n, "reg", self.reg, "a positive number")
        check_setting(is_number(self.cross) and 0 < self.cross <= 1, n, "cross", self.cross, "a number in (0, 1]")
        check_setting(isinstance(self.clip, bool), n, "clip", self.clip, "true or false")
        check_setting(is_int(self.max_side) and self.max_side >= 32, n, "max_side", self.max_side, "an int of at least 32")


def check_guide(guide: np.ndarray) -> np.ndarray:
    """Validate a guide; returns its uint8 grey image (H, W).

    Accepted: uint8 (H, W, 3) RGB (the contract), and as documented fallbacks (H, W, 4) RGBA
    (alpha ignored), (H, W, 1) and (H, W) grey.
    """
    if not isinstance(guide, np.ndarray):
        raise UpsampleError(f"guide must be a numpy array, got {type(guide).__name__}")
    if guide.dtype != np.uint8:
        raise UpsampleError(f"guide must be uint8, got {guide.dtype}")
    if guide.ndim not in (2, 3) or (guide.ndim == 3 and guide.shape[2] not in (1, 3, 4)):
        raise UpsampleError(f"guide must be (H, W, 3) RGB (or grey / RGBA), got shape {guide.shape}")
    if min(guide.shape[:2]) < 2:
        raise UpsampleError(f"guide of {guide.shape[0]}x{guide.shape[1]} pixels is too small to upsample to")
    return grey_of(guide)


def check_field(field: np.ndarray) -> np.ndarray:
    """Validate a field (C, h, w) or a batch (n, C, h, w); returns it as float64 (n, C, h, w)."""
    if not isinstance(field, np.ndarray):
        raise UpsampleError(f"field must be a numpy array, got {type(field).__name__}")
    if field.ndim not in (3, 4) or 0 in field.shape:
        raise UpsampleError(f"field must be (C, h, w) or (n, C, h, w), got shape {field.shape}")
    if not np.issubdtype(field.dtype, np.number):
        raise UpsampleError(f"field must be numeric, got {field.dtype}")
    if not np.all(np.isfinite(field)):
        raise UpsampleError("field contains NaN or infinite values")
    batch = field if field.ndim == 4 else field[None]
    return batch.astype(np.float64, copy=False)


class EdgeAwareUpsampler:
    """Cached per-image operator: prepare once per guide, apply per sample.

    guide: uint8 (H, W, 3); field_shape: (h, w) of the fields it will upsample (<= H, W).
    """

    def __init__(self, guide: np.ndarray, field_shape: tuple[int, int] = (32, 32), settings: UpsampleSettings | None = None):
        self.settings = settings or UpsampleSettings()
        grey = check_guide(guide)
        h, w = int(field_shape[0]), int(field_shape[1])
        if h < 1 or w < 1:
            raise UpsampleError(f"field size must be positive, got {h}x{w}")
        if h > grey.shape[0] or w > grey.shape[1]:
            raise UpsampleError(
                f"guide of {grey.shape[0]}x{grey.shape[1]} pixels is smaller than the {h}x{w} field; nothing to upsample"
            )
        self.output_shape = grey.shape  # (H, W) of the results
        factor = min(1.0, self.settings.max_side / max(grey.shape))
        if factor < 1.0:  # big photos: solve on a reduced guide, resize the result (documented)
            size = (max(w, round(grey.shape[1] * factor)), max(h, round(grey.shape[0] * factor)))
            grey = cv2.resize(grey, size, interpolation=cv2.INTER_AREA)
        H, W = grey.shape
        self.guide_shape = (H, W)  # working resolution of the solve
        self.field_shape = (h, w)
        self.labels = segment_guide(grey, (h, w), self.settings.segments)  # (H, W) int32
        basis = build_basis(self.labels, grey, (h, w), self.settings.cross)
        self.basis = basis
        self._mixed = basis.mixed
        self._B_mixed = basis.B_mixed.astype(np.float32)
        Dy, Dx = area_matrix(h, H), area_matrix(w, W)
        # A = D B (h*w, h*w): the blurred, downsampled result. Separable for the bilinear part,
        # plus the correction of the M edge-aware rows (D's columns at those pixels).
        D_at_mixed = sp.kron(Dy.T, Dx.T, format="csr")[self._mixed]  # (M, h*w)
        self._A = (sp.kron(Dy @ basis.By, Dx @ basis.Bx, format="csr")
                   + D_at_mixed.T @ (basis.B_mixed - basis.B_mixed_bilinear)).tocsr()
        reg = self.settings.reg
        normal = (self._A.T @ self._A + reg * sp.identity(h * w, format="csr")).tocsc()
        self._AT = self._A.T.tocsr()
        self._solve_lock = threading.Lock()  # SuperLU objects are not documented as thread-safe
        if h * w <= DENSE_LIMIT:
            # Small fields (the model's 32x32): fold the whole solve into one dense (h*w, h*w)
            # operator P = N^-1 (A^T + reg I) by a Cholesky inverse, so apply is one product.
            with single_thread_blas():
                chol, _ = cho_factor(normal.toarray(), lower=True)
                inverse, info = lapack.dpotri(chol, lower=True)  # lower triangle of N^-1
            if info != 0:
                raise UpsampleError("the upsampling system is singular; raise settings.reg")
            inverse = np.tril(inverse) + np.tril(inverse, -1).T
            rhs = (self._AT + reg * sp.identity(h * w, format="csr")).tocsc()  # (h*w, h*w) sparse
            self._dense = np.asarray((rhs.T @ inverse.T).T, dtype=np.float32)  # (h*w, h*w)
            self._lu = None
        else:
            self._dense = None
            self._lu = splu(normal, permc_spec="MMD_AT_PLUS_A")  # symmetric ordering, less fill

    @property
    def basis_matrix(self) -> sp.csr_matrix:
        """The full basis B (H*W, h*w) at the working resolution (inspection and tests)."""
        return self.basis.full()

    @property
    def n_segments(self) -> int:
        return int(self.labels.max()) + 1

    @property
    def mixed_fraction(self) -> float:
        """Share of pixels whose basis is cut by a segment edge (the rest is plain bilinear)."""
        return self._mixed.size / (self.guide_shape[0] * self.guide_shape[1])

    @property
    def shape(self) -> tuple[int, int]:
        """(H, W) of the upsampled results (the guide's size)."""
        return self.output_shape

    def weights(self, field: np.ndarray) -> np.ndarray:
        """Basis weights (n, C, h, w) float64 for a field (C, h, w) or batch (n, C, h, w)."""
        batch = check_field(field)
        n, C, h, w = batch.shape
        if (h, w) != self.field_shape:
            raise UpsampleError(f"this upsampler was prepared for {self.field_shape[0]}x{self.field_shape[1]} fields, got {h}x{w}")
        y = batch.reshape(n * C, h * w)  # (n*C, h*w)
        if self._dense is not None:
            with single_thread_blas():
                wts = y.astype(np.float32) @ self._dense.T  # (n*C, h*w)
            return wts.astype(np.float64).reshape(n, C, h, w)
        rhs = self._AT @ y.T + self.settings.reg * y.T  # (h*w, n*C)
        with self._solve_lock:
            solved = self._lu.solve(rhs)
        return np.ascontiguousarray(solved.T).reshape(n, C, h, w)

    def apply(self, field: np.ndarray) -> np.ndarray:
        """Upsample: field (C, h, w) -> float32 (C, H, W); batch (n, C, h, w) -> (n, C, H, W)."""
        batch = check_field(field)
        wts = self.weights(batch)
        n, C, h, w = wts.shape
        H, W = self.guide_shape
        out = np.empty((n, C, H, W), dtype=np.float32)
        flat_w = wts.reshape(n * C, h * w).astype(np.float32)
        if self.settings.clip:
            # The basis is a partition of unity with non-negative weights, so every output pixel
            # is a convex mix of w: clipping w to the field's range bounds the result the same way.
            y = batch.reshape(n * C, h * w)
            np.clip(flat_w, y.min(axis=1, keepdims=True), y.max(axis=1, keepdims=True), out=flat_w)
        near_edges = np.ascontiguousarray((self._B_mixed @ flat_w.T).T)  # (n*C, M): edge-aware rows
        for c in range(n * C):
            plane = out[c // C, c % C]
            # Away from edges the basis is exactly bilinear: OpenCV's resize does those rows.
            cv2.resize(flat_w[c].reshape(h, w), (W, H), dst=plane, interpolation=cv2.INTER_LINEAR)
            plane.reshape(-1)[self._mixed] = near_edges[c]
        if self.output_shape != self.guide_shape:
            oh, ow = self.output_shape
            out = np.stack([[cv2.resize(p, (ow, oh), interpolation=cv2.INTER_LINEAR) for p in planes] for planes in out])
        return out if field.ndim == 4 else out[0]

    def downsample(self, full: np.ndarray) -> np.ndarray:
        """The area downsampler D of the constraint: float (C, H, W) -> float32 (C, h, w)."""
        h, w = self.field_shape
        if full.ndim != 3:
            raise UpsampleError(f"expected a (C, H, W) layer, got shape {full.shape}")
        return np.stack([cv2.resize(np.asarray(c, np.float32), (w, h), interpolation=cv2.INTER_AREA) for c in full])


_CACHE: LRUCache[EdgeAwareUpsampler] = LRUCache(4)


def get_upsampler(guide: np.ndarray, field_shape: tuple[int, int] = (32, 32), settings: UpsampleSettings | None = None) -> EdgeAwareUpsampler:
    """The operator for this guide, from a small LRU cache keyed by the guide's pixels.

    Hashing a 512x512 guide costs about a millisecond, far below a preparation.
    """
    settings = settings or UpsampleSettings()
    check_guide(guide)
    digest = hashlib.blake2b(np.ascontiguousarray(guide).tobytes(), digest_size=16).hexdigest()
    key = (digest, guide.shape, tuple(int(s) for s in field_shape), settings)
    return _CACHE.get(key, lambda: EdgeAwareUpsampler(guide, field_shape, settings))


def edge_aware_upsample(field: np.ndarray, guide: np.ndarray, settings: UpsampleSettings | None = None) -> np.ndarray:
    """field float32 (C, h, w), guide uint8 (H, W, 3) -> float32 (C, H, W).

    The field follows the guide's edges and, blurred and area-downsampled, gives itself back.
    Preparations are cached per guide, so upsampling many samples of one image is cheap.
    """
    batch = check_field(field)
    if field.ndim != 3:
        raise UpsampleError(f"field must be (C, h, w), got shape {field.shape}; use EdgeAwareUpsampler.apply for batches")
    return get_upsampler(guide, batch.shape[2:], settings).apply(field)

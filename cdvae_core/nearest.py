"""The nearest-neighbour baseline of the paper (section 6.2).

For a test x_c, find the training x_c closest in pixel space (Euclidean distance over the
flattened (Cc, 32, 32) layer) and return the x_g paired with it, Gaussian smoothed to remove
"uncontrollable high frequency signal"; the i-th sample is the x_g of the i-th nearest x_c.

The smoothing is done once on the training x_g at fit time (scipy.ndimage.gaussian_filter with
sigma on the two spatial axes only, 'reflect' borders), so sampling is one kNN query and a
gather: 1,000 test pairs x 100 samples take a few seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter
from sklearn.neighbors import NearestNeighbors


MAX_SIGMA = 32.0  # pixels: the 32 x 32 layers' side; wider smoothing only approaches their mean


class NearestNeighbourError(ValueError):
    """Training or query layers the baseline cannot use, with a one-line reason."""


def _check_layers(name: str, x: np.ndarray, channels: int | None = None) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 4 or (channels is not None and x.shape[1] != channels):
        want = f"(N, {channels}, H, W)" if channels is not None else "(N, C, H, W)"
        raise NearestNeighbourError(f"'{name}' must have shape {want}, got {x.shape}")
    x = x.astype(np.float32, copy=False)
    if not np.isfinite(x).all():
        raise NearestNeighbourError(f"'{name}' holds NaN or infinite values")
    return x


@dataclass(frozen=True)
class NearestNeighbour:
    """A fitted baseline: the kNN index over training x_c and the smoothed training x_g.

    index: NearestNeighbors over (N, Cc*H*W); xc_shape (Cc, H, W); smooth_xg (N, Cg, H, W).
    """

    index: NearestNeighbors
    xc_shape: tuple[int, int, int]
    smooth_xg: np.ndarray
    sigma: float

    @classmethod
    def fit(cls, train_xc: np.ndarray, train_xg: np.ndarray, sigma: float = 1.0) -> "NearestNeighbour":
        """train_xc (N, Cc, H, W), train_xg (N, Cg, H, W); ``sigma`` in pixels (0 disables smoothing)."""
        xc = _check_layers("train_xc", train_xc)
        xg = _check_layers("train_xg", train_xg)
        if xc.shape[0] != xg.shape[0] or xc.shape[0] == 0 or xc.shape[2:] != xg.shape[2:]:
            raise NearestNeighbourError(f"train_xc {xc.shape} and train_xg {xg.shape} do not pair up")
        # past the image's side the smoothing is the image's mean already; 1e6 ran for minutes, 1e308 overflowed
        if not (np.isfinite(sigma) and 0 <= sigma <= MAX_SIGMA):
            raise NearestNeighbourError(f"sigma must lie in [0, {MAX_SIGMA:g}] pixels, got {sigma:g}")
        smooth = gaussian_filter(xg, sigma=(0, 0, sigma, sigma)) if sigma > 0 else xg.copy()
        index = NearestNeighbors(algorithm="brute").fit(xc.reshape(xc.shape[0], -1))  # (N, Cc*H*W)
        return cls(index=index, xc_shape=tuple(xc.shape[1:]), smooth_xg=smooth, sigma=float(sigma))

    def __len__(self) -> int:
        return int(self.smooth_xg.shape[0])

    def neighbours(self, xc: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Indices (B, n) of the n nearest training x_c, nearest first, and their distances (B, n)."""
        xc = _check_layers("xc", xc, self.xc_shape[0])
        if tuple(xc.shape[1:]) != self.xc_shape:
            raise NearestNeighbourError(f"'xc' must have shape (B, {', '.join(map(str, self.xc_shape))}), got {xc.shape}")
        if not 1 <= n <= len(self):
            raise NearestNeighbourError(f"n must lie in [1, {len(self)}] (training pairs), got {n}")
        dist, idx = self.index.kneighbors(xc.reshape(xc.shape[0], -1), n_neighbors=n)
        return idx, dist

    def sample(self, xc: np.ndarray, n: int) -> np.ndarray:
        """xc (B, Cc, H, W) -> samples (B, n, Cg, H, W): sample i is the smoothed x_g of neighbour i."""
        idx, _ = self.neighbours(xc, n)
        return self.smooth_xg[idx]  # (B, n, Cg, H, W)

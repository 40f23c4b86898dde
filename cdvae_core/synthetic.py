"""A synthetic pair task whose conditional P(x_g | x_c) is multimodal and known exactly.

x_c (1, 32, 32): a random smooth image (Gaussian-filtered noise and a random brightness) with
a visible class pattern on top, a sinusoidal grating whose orientation is 180 * c / classes
degrees (class c in 0 .. classes - 1; period 8 pixels, amplitude 0.2).

x_g (1, 32, 32): a linear shading ramp 0.5 + 0.45 * (u cos(theta) + v sin(theta)) / sqrt(2) over
u, v in [-1, 1] (columns, rows), plus N(0, noise^2) pixel noise, clipped to [0, 1]. Its direction
theta is drawn uniformly from the ``modes`` directions of the class,
theta_{c,m} = 2 pi m / modes + 2 pi c / (modes * classes), so each class has its own mode set
(the default 2 classes x 4 modes: 0, 90, 180, 270 degrees against 45, 135, 225, 315).

Two mode families (``family``):

- "rotated" (the default): each class has its own directions, as above, so which modes are
  possible depends on x_c, and neighbouring modes of different classes differ by their direction
  alone;
- "shared": every class has the same directions 2 pi m / modes, and the class sets the ramp's
  brightness instead (class c adds an offset from -SHARED_OFFSET to +SHARED_OFFSET, clipped to
  [0, 1]); the choice among a class's modes is then independent of x_c, which is what the Gaussian
  tie's prior assumes (docs/model.md).

With ``detail`` > 0 every mode also carries ``detail`` x the low-passed x_c (``detail_map``),
so x_g depends continuously on its own x_c and a neighbour's x_g is never exactly a true mode.

One x_c never determines x_g (the data is "scattered": every x_c is unique and is seen with one
ramp), yet x_c tells which mode set applies. The noise-free ramps are the true modes
(``mode_templates``); their average is the best conditional-mean regressor
(``conditional_mean_error``).
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter

from .pairs import TEST, TRAIN, PairSet

SIZE = 32
PERIOD = 8.0  # grating period in pixels
PATTERN_AMPLITUDE = 0.2
RAMP_AMPLITUDE = 0.45
SHARED_OFFSET = 0.1  # "shared" family: brightness offset of the first and last class
FAMILIES = ("rotated", "shared")


class SyntheticError(ValueError):
    """Settings or arrays the synthetic task cannot use, with a one-line reason."""


def _grid() -> tuple[np.ndarray, np.ndarray]:
    """u (columns) and v (rows), both (32, 32) in [-1, 1]."""
    t = np.linspace(-1.0, 1.0, SIZE)
    v, u = np.meshgrid(t, t, indexing="ij")
    return u, v


def class_patterns(classes: int = 2) -> np.ndarray:
    """Zero-mean gratings (classes, 32, 32), unit amplitude, one orientation per class."""
    rows, cols = np.mgrid[0:SIZE, 0:SIZE].astype(np.float64)
    phi = np.pi * np.arange(classes) / classes  # (classes,)
    phase = cols[None] * np.cos(phi)[:, None, None] + rows[None] * np.sin(phi)[:, None, None]
    return np.sin(2 * np.pi * phase / PERIOD)


def mode_angles(modes: int = 4, classes: int = 2, family: str = "rotated") -> np.ndarray:
    """Shading directions theta (classes, modes) in radians."""
    m, c = np.meshgrid(np.arange(modes), np.arange(classes))
    if family == "shared":
        return 2 * np.pi * m / modes
    return 2 * np.pi * m / modes + 2 * np.pi * c / (modes * classes)


def class_offsets(classes: int = 2, family: str = "rotated") -> np.ndarray:
    """Brightness offset of each class's modes (classes,): zero in "rotated", evenly spaced in
    [-SHARED_OFFSET, SHARED_OFFSET] in "shared"."""
    if family != "shared" or classes == 1:
        return np.zeros(classes)
    return SHARED_OFFSET * np.linspace(-1.0, 1.0, classes)


def _class_ramps(labels: np.ndarray, which: np.ndarray | None, modes: int, classes: int, family: str) -> np.ndarray:
    """Noise-free modes of classes ``labels`` (B,): all ``modes`` of each (B, modes, 32, 32), or the
    ``which`` (B,) one (B, 32, 32)."""
    theta = mode_angles(modes, classes, family)[labels]  # (B, modes)
    offset = class_offsets(classes, family)[labels]  # (B,)
    if which is not None:
        theta, offset = theta[np.arange(len(labels)), which], offset[:, None, None]
    else:
        offset = offset[:, None, None, None]
    ramps = _ramps(theta)
    return ramps if family != "shared" else np.clip(ramps + offset, 0, 1)


def _ramps(theta: np.ndarray) -> np.ndarray:
    """Noise-free ramps for angles theta (...,) -> (..., 32, 32) float64 in [0.05, 0.95]."""
    u, v = _grid()
    theta = np.asarray(theta, np.float64)[..., None, None]
    return 0.5 + RAMP_AMPLITUDE * (u * np.cos(theta) + v * np.sin(theta)) / np.sqrt(2.0)


def _check_settings(modes: int, classes: int, family: str = "rotated") -> None:
    if family not in FAMILIES:
        raise SyntheticError(f"family must be one of {', '.join(FAMILIES)}, got {family!r}")
    if not 1 <= modes <= 32:
        raise SyntheticError(f"modes must lie in [1, 32], got {modes}")
    if not 1 <= classes <= 8:
        raise SyntheticError(f"classes must lie in [1, 8], got {classes}")


def detail_map(xc: np.ndarray) -> np.ndarray:
    """The x_c-dependent part of every mode: x_c (B, 1, 32, 32) Gaussian-filtered (sigma 3 px,
    which removes the grating) minus its mean, (B, 32, 32) float64."""
    low = gaussian_filter(np.asarray(xc, np.float64)[:, 0], sigma=(0, 3, 3))
    return low - low.mean(axis=(1, 2), keepdims=True)


def _modes_for(xc: np.ndarray, labels: np.ndarray, modes: int, classes: int, detail: float,
               family: str = "rotated") -> np.ndarray:
    """Noise-free modes (B, modes, 32, 32) float64 of x_c (B, 1, 32, 32) of classes ``labels``."""
    ramps = _class_ramps(labels, None, modes, classes, family)  # (B, modes, 32, 32)
    if detail == 0:
        return ramps
    return np.clip(ramps + detail * detail_map(xc)[:, None], 0, 1)


def make_mode_pairs(
    n: int,
    modes: int = 4,
    test_fraction: float = 0.2,
    seed: int = 0,
    noise: float = 0.02,
    *,
    classes: int = 2,
    detail: float = 0.0,
    family: str = "rotated",
) -> PairSet:
    """``n`` pairs, xc and xg float32 (n, 1, 32, 32) in [0, 1], a random test split.

    ``detail`` > 0 adds ``detail`` x the low-passed x_c to every mode (see ``detail_map``), so
    x_g also depends continuously on its own x_c and a neighbour's x_g is never exactly right.
    ``family`` "rotated" or "shared" (module docstring).
    meta: task "synthetic", modes, classes, family, detail, noise, seed, value ranges and the source.
    """
    _check_settings(modes, classes, family)
    if not (np.isfinite(detail) and 0 <= detail <= 2):
        raise SyntheticError(f"detail must lie in [0, 2], got {detail}")
    if n < 2:
        raise SyntheticError(f"n must be at least 2, got {n}")
    if not 0.0 <= test_fraction < 1.0:
        raise SyntheticError(f"test_fraction must lie in [0, 1), got {test_fraction}")
    if not (np.isfinite(noise) and noise >= 0):
        raise SyntheticError(f"noise must be a finite number >= 0, got {noise}")
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, n)  # (n,)
    which = rng.integers(0, modes, n)  # (n,) mode index within the class
    smooth = gaussian_filter(rng.standard_normal((n, SIZE, SIZE)), sigma=(0, 4, 4))  # (n, 32, 32)
    smooth /= smooth.std(axis=(1, 2), keepdims=True)
    brightness = rng.uniform(0.35, 0.65, (n, 1, 1))
    xc = brightness + 0.1 * smooth + PATTERN_AMPLITUDE * class_patterns(classes)[labels]
    xc = np.clip(xc, 0, 1).astype(np.float32)[:, None]  # (n, 1, 32, 32), as stored
    ramps = _class_ramps(labels, which, modes, classes, family)  # (n, 32, 32)
    xg = np.clip(ramps + detail * detail_map(xc), 0, 1) + noise * rng.standard_normal((n, SIZE, SIZE))
    split = np.full(n, TRAIN, np.int8)
    split[rng.permutation(n)[: int(round(n * test_fraction))]] = TEST
    meta = {
        "task": "synthetic",
        "source": "cdvae_core.synthetic.make_mode_pairs",
        "modes": modes,
        "classes": classes,
        "family": family,
        "detail": float(detail),
        "noise": float(noise),
        "seed": int(seed),
        "xc_range": [0.0, 1.0],
        "xg_range": [0.0, 1.0],
    }
    return PairSet(
        xc=xc,
        xg=np.clip(xg, 0, 1).astype(np.float32)[:, None],
        split=split,
        meta=meta,
    )


def classify(xc: np.ndarray, classes: int = 2) -> np.ndarray:
    """The class of each x_c, (B, 1, 32, 32) or (1, 32, 32) -> (B,) or a 0-d int array.

    The grating of the true class dominates the projection of the (mean-removed) image on the
    class patterns; the smooth background is too low in frequency to reach the gratings.
    """
    x = np.asarray(xc, np.float64)
    single = x.ndim == 3
    x = x[None] if single else x
    if x.ndim != 4 or x.shape[1:] != (1, SIZE, SIZE):
        raise SyntheticError(f"xc must have shape (B, 1, 32, 32) or (1, 32, 32), got {np.shape(xc)}")
    x = x[:, 0] - x[:, 0].mean(axis=(1, 2), keepdims=True)
    scores = np.einsum("bhw,khw->bk", x, class_patterns(classes))  # (B, classes)
    out = scores.argmax(axis=1)
    return out[0] if single else out


def mode_templates(
    xc_or_class: np.ndarray | int, modes: int = 4, classes: int = 2, detail: float = 0.0, family: str = "rotated"
) -> np.ndarray:
    """The true modes (modes, 1, 32, 32) float32 for one x_c (1, 32, 32), or for a class index
    when ``detail`` is 0 (with detail, the modes depend on the x_c itself)."""
    _check_settings(modes, classes, family)
    if np.ndim(xc_or_class) == 0:
        label = int(xc_or_class)
        if not 0 <= label < classes:
            raise SyntheticError(f"class must lie in [0, {classes}), got {label}")
        if detail != 0:
            raise SyntheticError("with detail > 0 the modes depend on x_c: pass the x_c, not a class")
        return _class_ramps(np.array([label]), None, modes, classes, family)[0][:, None].astype(np.float32)
    label = classify(xc_or_class, classes)
    xc = np.asarray(xc_or_class)[None]  # (1, 1, 32, 32)
    return _modes_for(xc, np.array([label]), modes, classes, detail, family)[0][:, None].astype(np.float32)


def default_threshold(modes: int = 4, classes: int = 2, family: str = "rotated") -> float:
    """A quarter of the smallest per-pixel MSE between two distinct modes of any classes.

    MSE is a squared distance, so this is the midpoint rule: a sample within it of one mode is
    nearer that mode than any other of any class, and a hit is never ambiguous (a model that
    ignores x_c and draws another class's modes does not score).
    """
    _check_settings(modes, classes, family)
    t = _class_ramps(np.arange(classes), None, modes, classes, family).reshape(modes * classes, -1)  # (classes * modes, 1024)
    if len(t) == 1:
        return 0.25 * float(((t - 0.5) ** 2).mean())  # the ramp's own spread around flat grey
    d = ((t[:, None] - t[None]) ** 2).mean(axis=2)
    return float(0.25 * d[~np.eye(len(t), dtype=bool)].min())


def mode_report(
    xc: np.ndarray,
    samples: np.ndarray,
    threshold: float | None = None,
    modes: int = 4,
    classes: int = 2,
    detail: float = 0.0,
    family: str = "rotated",
) -> dict[str, float | list[float]]:
    """How well samples (B, N, 1, 32, 32) for x_c (B, 1, 32, 32) match the true modes.

    A sample "hits" a mode when its per-pixel MSE to the noise-free mode is below ``threshold``
    (default: ``default_threshold``). Returns coverage (fraction of each pair's modes hit by at
    least one sample, mean over pairs), precision (fraction of all samples that hit some mode),
    own_class (fraction of samples nearer a mode of x_c's class than of every other class: 1/classes
    is chance, what a model that ignores x_c's class scores), mode_share (modes,) the fraction of
    samples nearest each mode index of their own class, and the threshold.
    """
    xc, samples = np.asarray(xc), np.asarray(samples)
    labels = classify(xc, classes)
    if samples.ndim != 5 or samples.shape[0] != labels.shape[0] or samples.shape[2:] != (1, SIZE, SIZE):
        raise SyntheticError(f"samples must have shape ({labels.shape[0]}, N, 1, 32, 32), got {samples.shape}")
    threshold = default_threshold(modes, classes, family) if threshold is None else float(threshold)
    B, N = samples.shape[:2]
    d = np.empty((B, N, modes))  # (B, N, modes) per-pixel MSE to the modes of x_c's class
    nearest = np.empty((B, N, classes))  # (B, N, classes) per-pixel MSE to the nearest mode of each class
    for start in range(0, B, 64):  # chunks keep float64 copies small
        rows = slice(start, start + 64)
        s = samples[rows, :, 0].astype(np.float64)[:, :, None]  # (b, N, 1, 32, 32)
        for c in range(classes):
            t = _modes_for(xc[rows], np.full(len(s), c), modes, classes, detail, family)  # (b, modes, 32, 32)
            dc = ((s - t[:, None]) ** 2).mean(axis=(3, 4))  # (b, N, modes)
            nearest[rows, :, c] = dc.min(axis=2)
            own = labels[rows] == c
            d[rows][own] = dc[own]
    hit = d < threshold
    share = np.bincount(d.argmin(axis=2).ravel(), minlength=modes) / d[..., 0].size
    own_nearest = nearest.argmin(axis=2) == labels[:, None]
    return {
        "coverage": float(hit.any(axis=1).mean()),
        "precision": float(hit.any(axis=2).mean()),
        "own_class": float(own_nearest.mean()),
        "mode_share": share.tolist(),
        "threshold": threshold,
    }


def conditional_mean_error(
    pairs: PairSet, modes: int | None = None, classes: int | None = None, detail: float | None = None,
    family: str | None = None,
) -> float:
    """Per-pixel MSE of the best conditional-mean regressor (the mean of the true modes) on ``pairs``.

    ``modes``, ``classes``, ``detail`` and ``family`` default to the pair set's meta. Pass
    ``pairs.test()`` to score the test split, as the evaluation does.
    """
    modes = int(pairs.meta.get("modes", 4)) if modes is None else modes
    classes = int(pairs.meta.get("classes", 2)) if classes is None else classes
    detail = float(pairs.meta.get("detail", 0.0)) if detail is None else detail
    family = str(pairs.meta.get("family", "rotated")) if family is None else family
    _check_settings(modes, classes, family)
    labels = classify(pairs.xc, classes)
    total = 0.0
    for start in range(0, len(pairs), 1024):  # chunks keep (b, modes, 32, 32) float64 small
        sl = slice(start, start + 1024)
        mean = _modes_for(pairs.xc[sl], labels[sl], modes, classes, detail, family).mean(axis=1)  # (b, 32, 32)
        total += float(((pairs.xg[sl, 0].astype(np.float64) - mean) ** 2).sum())
    return total / pairs.xg.size

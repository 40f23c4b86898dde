"""Resaturation: x_c = HSV value, x_g = HSV saturation (paper section 5).

OpenCV's float HSV: V = max(R, G, B), S = (V - min) / V (0 where V = 0), both in [0, 1]; a grey
pixel has saturation 0. Putting a new saturation back needs the photo's hue, so ``compose``
takes the original photo as ``image``.

Near-grey pixels have no trustworthy hue (JPEG noise picks it), so raising their saturation
paints random colours. Where a sample raises the saturation of a pixel whose own saturation is
below RELIABLE_SATURATION, ``compose`` takes the hue of the coloured surroundings instead
(saturation-weighted average of the hue vector over a window that follows the photo's surfaces,
``_window_mean``) and scales the increase
by how much colour those surroundings have. A sample that keeps or lowers saturation, and the
photo's own saturation, recompose exactly as before.
"""

from __future__ import annotations

import cv2
import numpy as np

from .base import Task, TaskError, check_image, check_layer, row_strips, to_float_rgb, to_uint8_rgb


class ResaturationTask(Task):
    name = "resaturation"
    channels_c = 1
    channels_g = 1
    g_range = (0.0, 1.0)
    c_range = (0.0, 1.0)
    pixelwise_decompose = True
    pixelwise_compose = True  # the hue window is in prepare_compose

    def decompose(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """uint8 (H, W, 3) -> value (1, H, W), saturation (1, H, W), float32 in [0, 1]."""
        rgb = to_float_rgb(check_image(image))
        hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)  # (H, W, 3): H in degrees, S and V in [0, 1]
        value = np.clip(hsv[None, :, :, 2], 0.0, 1.0)
        saturation = np.clip(hsv[None, :, :, 1], 0.0, 1.0)
        return value.astype(np.float32), saturation.astype(np.float32)

    def prepare_compose(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The photo's ``hue_borrowing`` (borrowed hue, confidence), each float32 (H, W): a third of
        a 12-megapixel compose (0.55 s per result, profiled), the same for every sample. Computed
        on strips of rows where the steps are pixelwise (the same bytes, a fraction of the memory)."""
        image = check_image(image)
        h, w = image.shape[:2]
        strips = row_strips(h, w)
        vx, vy, value = (np.empty((h, w), np.float32) for _ in range(3))
        for rows in strips:
            hsv = cv2.cvtColor(to_float_rgb(image[rows]), cv2.COLOR_RGB2HSV)
            vx[rows], vy[rows] = hue_vectors(hsv[:, :, 0], hsv[:, :, 1])
            value[rows] = hsv[:, :, 2]
        return borrowing_of(vx, vy, value, strips)

    def compose(self, xc_full: np.ndarray, xg_full: np.ndarray, image: np.ndarray | None = None,
                prepared: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
        """Value (1, H, W) and a new saturation -> uint8 (H, W, 3); hue comes from ``image``
        (``prepared``: its ``prepare_compose``, so a photo's hue borrowing is computed once)."""
        if image is None:
            raise TaskError("resaturation needs the original photo (image=...) for its hue")
        rgb = to_float_rgb(check_image(image))
        value = check_layer(xc_full, 1, "xc_full")
        h, w = rgb.shape[:2]
        if value.shape[1:] != (h, w):
            raise TaskError(f"xc_full is {value.shape[2]}x{value.shape[1]} but the photo is {w}x{h}")
        saturation = self.clip_g(self._match(xg_full, h, w))
        hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
        if prepared is None:
            prepared = hue_borrowing(hsv[:, :, 0], hsv[:, :, 1], hsv[:, :, 2])
        hsv[:, :, 0], hsv[:, :, 1] = stable_hue(hsv[:, :, 0], hsv[:, :, 1], saturation[0], prepared)
        hsv[:, :, 2] = np.clip(value[0], 0.0, 1.0)
        return to_uint8_rgb(cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB))


RELIABLE_SATURATION = 0.1  # below this a pixel's own hue is mostly noise
# A rise must exceed this to count as "gaining saturation": the photo's own sample comes back
# through upsampling + detail map with float32 rounding (~1e-7), and a strict ``>`` let that
# switch a near-grey pixel to the borrowed hue (up to 14 grey levels off). 1e-4 of saturation
# is 0.03 grey levels at most, so no visible rise is missed. The Studio's CellComposer uses it too.
BORROW_TOLERANCE = 1e-4
HUE_WINDOW = 0.03  # the surrounding-hue window's spread (its sigma), as a share of the longer side
# The window is a guided filter (He, Sun and Tang) with the photo's value as its guide, so colour
# is borrowed along surfaces of one brightness and not across their edges: a Gaussian window tinted
# a grey sky yellow-green for a tree's width around the tree, and a white cup the orange of its
# table. This is its eps, in value^2: brightness steps above a few grey levels (value std 0.01)
# bound the window; noise below that is averaged.
HUE_EDGE_EPS = 1e-4
# Beyond this side the window's coefficients come from an area-reduced copy (the fast guided
# filter): 0.39 s against 1.31 s at full resolution on a 12-megapixel photo, results within a few
# grey levels (docs/data.md). Photos up to this side get the exact filter. The same threshold as
# the upsampler's (UpsampleSettings.max_side).
HUE_MAX_SIDE = 1024


GREY_CHROMA = 8  # grey levels of chroma (max - min of R, G, B) a grey photo's pixels have at most
GREY_SHARE = 1e-3  # a photo is grey when fewer of its pixels than this share have more


def has_hue(rgb: np.ndarray) -> bool:
    """Whether an RGB uint8 photo (H, W, 3) has colour for resaturation to work with: in a grey
    one no pixel has a hue of its own or one to borrow, and every result stays grey whatever
    saturation the model gives it. Chroma, not HSV saturation, which in the darkest pixels
    makes a colour of one grey level's noise; measured on a copy of at most 256 px
    (area-averaged, which also averages out a JPEG's chroma noise)."""
    h, w = rgb.shape[:2]
    scale = min(1.0, 256 / max(h, w))
    small = cv2.resize(rgb, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    chroma = small.max(axis=2).astype(np.int16) - small.min(axis=2)
    return bool(np.mean(chroma > GREY_CHROMA) >= GREY_SHARE)


def stable_hue(hue: np.ndarray, s_old: np.ndarray, s_new: np.ndarray,
               borrowing: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Hue (degrees) and saturation to use when ``s_old`` (H, W) becomes ``s_new`` (H, W).

    Pixels that keep or lose saturation (or gain no more than BORROW_TOLERANCE, float rounding),
    or whose own saturation is reliable, are unchanged; near-grey pixels gaining saturation borrow
    their surroundings' hue and gain in proportion to how saturated those surroundings are (none at
    all in a wholly grey region). ``borrowing``: the photo's ``hue_borrowing``.
    """
    borrowed, confidence = borrowing
    borrow = borrow_mask(s_old, s_new)
    out_hue = np.where(borrow, borrowed, hue).astype(np.float32)
    out_sat = np.where(borrow, s_old + (s_new - s_old) * confidence, s_new).astype(np.float32)
    return out_hue, out_sat


def hue_borrowing(hue: np.ndarray, s_old: np.ndarray, value: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The surroundings' hue (degrees) and how much colour backs it, in [0, 1], per pixel (H, W),
    from the photo's hue, saturation and value (H, W): surroundings along the surface the pixel
    lies on (``_window_mean``).

    Depends on the photo only, so viewers compute it once per photo.
    """
    return borrowing_of(*hue_vectors(hue, s_old), value)


def hue_vectors(hue: np.ndarray, saturation: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The saturation-weighted hue vector (x, y), each (H, W), of hue in degrees."""
    rad = np.deg2rad(hue)
    return saturation * np.cos(rad), saturation * np.sin(rad)


def borrowing_of(vx: np.ndarray, vy: np.ndarray, value: np.ndarray,
                 strips: list[slice] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``hue_borrowing`` from the photo's hue vectors and value (H, W): the vectors' window means'
    angle (degrees) and length / RELIABLE_SATURATION clipped to [0, 1]; the pixelwise part row
    strip by strip."""
    mx, my = _window_mean([vx, vy], value)
    borrowed, confidence = np.empty(mx.shape, np.float32), np.empty(mx.shape, np.float32)
    for rows in strips or [slice(None)]:
        confidence[rows] = np.clip(np.hypot(mx[rows], my[rows]) / RELIABLE_SATURATION, 0.0, 1.0)
        borrowed[rows] = np.rad2deg(np.arctan2(my[rows], mx[rows])) % 360.0
    return borrowed, confidence


def _window_radius(side: int) -> int:
    """The guided filter's box radius for a photo whose longer side is ``side`` px: the spread of
    a Gaussian of sigma HUE_WINDOW * side (a box of radius r has standard deviation r / sqrt 3)."""
    return max(1, round(HUE_WINDOW * side * np.sqrt(3.0)))


def _box(x: np.ndarray, radius: int) -> np.ndarray:
    """The mean over the (2 radius + 1)^2 box around each pixel, edges mirrored."""
    return cv2.boxFilter(x, -1, (2 * radius + 1, 2 * radius + 1), borderType=cv2.BORDER_REFLECT)


def _guided_coefficients(fields: list[np.ndarray], guide: np.ndarray, radius: int
                         ) -> list[tuple[np.ndarray, np.ndarray]]:
    """He, Sun and Tang's guided filter, up to its last step: for each field p (H, W), the box
    means of the local linear model's a and b, so that the filtered field is a * guide + b.
    Kept apart so a large photo's (a, b) can be computed on a reduced copy and enlarged (their
    "fast guided filter"): the guide's own edges stay sharp at full size."""
    mean_i = _box(guide, radius)
    var_i = _box(guide * guide, radius) - mean_i * mean_i
    out = []
    for p in fields:
        mean_p = _box(p, radius)
        a = (_box(guide * p, radius) - mean_i * mean_p) / (var_i + np.float32(HUE_EDGE_EPS))
        b = mean_p - a * mean_i
        out.append((_box(a, radius), _box(b, radius)))
    return out


def _window_mean(fields: list[np.ndarray], value: np.ndarray) -> list[np.ndarray]:
    """Each of ``fields`` (H, W) averaged over the window of HUE_WINDOW times the longer side
    along the photo's ``value`` (H, W) as the guide of a guided filter (``_window_radius``). For
    photos larger than HUE_MAX_SIDE the filter's coefficients come from area-reduced copies,
    enlarged bilinearly and applied to the full-size guide. float32 (H, W) each."""
    h, w = value.shape
    side = max(h, w)
    guide = np.ascontiguousarray(value, np.float32)  # an HSV image's channel is a strided view
    fields = [np.ascontiguousarray(f, np.float32) for f in fields]
    if side <= HUE_MAX_SIDE:
        return [a * guide + b for a, b in _guided_coefficients(fields, guide, _window_radius(side))]
    scale = HUE_MAX_SIDE / side
    small_size = (max(1, round(w * scale)), max(1, round(h * scale)))  # cv2's (width, height)
    shrink = lambda a: cv2.resize(a, small_size, interpolation=cv2.INTER_AREA)  # noqa: E731
    enlarge = lambda a: cv2.resize(a, (w, h), interpolation=cv2.INTER_LINEAR)  # noqa: E731
    radius = _window_radius(max(small_size))
    out = []
    for a, b in _guided_coefficients([shrink(f) for f in fields], shrink(guide), radius):
        mean = enlarge(a)
        mean *= guide  # in place: each full-size temporary is 48 MB at 12 MP
        mean += enlarge(b)
        out.append(mean)
    return out


def borrow_mask(s_old: np.ndarray, s_new: np.ndarray) -> np.ndarray:
    """Pixels whose new saturation must use the borrowed hue: near-grey ones gaining saturation
    (by more than BORROW_TOLERANCE; float32 throughout, as the Studio's CellComposer computes it)."""
    s_old = np.asarray(s_old, np.float32)
    return (s_new > s_old + np.float32(BORROW_TOLERANCE)) & (s_old < RELIABLE_SATURATION)

"""Resaturation: x_c = HSV value, x_g = HSV saturation (paper section 5).

OpenCV's float HSV: V = max(R, G, B), S = (V - min) / V (0 where V = 0), both in [0, 1]; a grey
pixel has saturation 0. Putting a new saturation back needs the photo's hue, so ``compose``
takes the original photo as ``image``.

Near-grey pixels have no trustworthy hue (JPEG noise picks it), so raising their saturation
paints random colours. Where a sample raises the saturation of a pixel whose own saturation is
below RELIABLE_SATURATION, ``compose`` takes the hue of the coloured surroundings instead
(saturation-weighted average of the hue vector over a Gaussian window) and scales the increase
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
        vx, vy = np.empty((h, w), np.float32), np.empty((h, w), np.float32)
        for rows in strips:
            hsv = cv2.cvtColor(to_float_rgb(image[rows]), cv2.COLOR_RGB2HSV)
            vx[rows], vy[rows] = hue_vectors(hsv[:, :, 0], hsv[:, :, 1])
        return borrowing_of(vx, vy, strips)

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
        hsv[:, :, 0], hsv[:, :, 1] = stable_hue(hsv[:, :, 0], hsv[:, :, 1], saturation[0], borrowing=prepared)
        hsv[:, :, 2] = np.clip(value[0], 0.0, 1.0)
        return to_uint8_rgb(cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB))


RELIABLE_SATURATION = 0.1  # below this a pixel's own hue is mostly noise
# A rise must exceed this to count as "gaining saturation": the photo's own sample comes back
# through upsampling + detail map with float32 rounding (~1e-7), and a strict ``>`` let that
# switch a near-grey pixel to the borrowed hue (up to 14 grey levels off). 1e-4 of saturation
# is 0.03 grey levels at most, so no visible rise is missed. The Studio's CellComposer uses it too.
BORROW_TOLERANCE = 1e-4
HUE_WINDOW = 0.03  # Gaussian sigma of the surrounding-hue window, as a share of the longer side
# Beyond this side the window (sigma 31 px here, 120 px on a 12-megapixel photo) is blurred on an
# area-reduced copy and resized back: the blur's cost grows with pixels x sigma (12 s per result
# on a 4000 px photo, measured), and a field this smooth loses nothing visible (the reduction
# widens sigma by under 0.1%). Photos up to this side keep the exact blur, and their exports'
# pixels. The same threshold as the upsampler's (UpsampleSettings.max_side).
HUE_MAX_SIDE = 1024


def stable_hue(hue: np.ndarray, s_old: np.ndarray, s_new: np.ndarray,
               borrowing: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Hue (degrees) and saturation to use when ``s_old`` (H, W) becomes ``s_new`` (H, W).

    Pixels that keep or lose saturation (or gain no more than BORROW_TOLERANCE, float rounding),
    or whose own saturation is reliable, are unchanged; near-grey pixels gaining saturation borrow their surroundings' hue and gain in proportion to
    how saturated those surroundings are (none at all in a wholly grey region). ``borrowing``:
    ``hue_borrowing(hue, s_old)`` computed before, or None to compute it here.
    """
    borrowed, confidence = borrowing if borrowing is not None else hue_borrowing(hue, s_old)
    borrow = borrow_mask(s_old, s_new)
    out_hue = np.where(borrow, borrowed, hue).astype(np.float32)
    out_sat = np.where(borrow, s_old + (s_new - s_old) * confidence, s_new).astype(np.float32)
    return out_hue, out_sat


def hue_borrowing(hue: np.ndarray, s_old: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The surroundings' hue (degrees) and how much colour backs it, in [0, 1], per pixel (H, W).

    Depends on the photo only, so viewers compute it once per photo.
    """
    return borrowing_of(*hue_vectors(hue, s_old))


def hue_vectors(hue: np.ndarray, saturation: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The saturation-weighted hue vector (x, y), each (H, W), of hue in degrees."""
    rad = np.deg2rad(hue)
    return saturation * np.cos(rad), saturation * np.sin(rad)


def borrowing_of(vx: np.ndarray, vy: np.ndarray, strips: list[slice] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``hue_borrowing`` from the photo's hue vectors (H, W): their window means' angle (degrees)
    and length / RELIABLE_SATURATION clipped to [0, 1]; the pixelwise part row strip by strip."""
    mx, my = _window_mean(vx), _window_mean(vy)
    borrowed, confidence = np.empty(mx.shape, np.float32), np.empty(mx.shape, np.float32)
    for rows in strips or [slice(None)]:
        confidence[rows] = np.clip(np.hypot(mx[rows], my[rows]) / RELIABLE_SATURATION, 0.0, 1.0)
        borrowed[rows] = np.rad2deg(np.arctan2(my[rows], mx[rows])) % 360.0
    return borrowed, confidence


def _window_mean(field: np.ndarray) -> np.ndarray:
    """``field`` (H, W) under the Gaussian window of HUE_WINDOW times its longer side; computed on
    an area-reduced copy for fields larger than HUE_MAX_SIDE (float32 (H, W) either way)."""
    h, w = field.shape
    side = max(h, w)
    if side <= HUE_MAX_SIDE:
        return cv2.GaussianBlur(field, (0, 0), HUE_WINDOW * side)
    scale = HUE_MAX_SIDE / side
    small_size = (max(1, round(w * scale)), max(1, round(h * scale)))  # cv2's (width, height)
    small = cv2.resize(field, small_size, interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), HUE_WINDOW * max(small.shape))
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def borrow_mask(s_old: np.ndarray, s_new: np.ndarray) -> np.ndarray:
    """Pixels whose new saturation must use the borrowed hue: near-grey ones gaining saturation
    (by more than BORROW_TOLERANCE; float32 throughout, as the Studio's CellComposer computes it)."""
    s_old = np.asarray(s_old, np.float32)
    return (s_new > s_old + np.float32(BORROW_TOLERANCE)) & (s_old < RELIABLE_SATURATION)

"""Resaturation: x_c = HSV value, x_g = HSV saturation (paper section 5).

OpenCV's float HSV: V = max(R, G, B), S = (V - min) / V (0 where V = 0), both in [0, 1]; a grey
pixel has saturation 0. Putting a new saturation back needs the photo's hue, so ``compose``
takes the original photo as ``image``.
"""

from __future__ import annotations

import cv2
import numpy as np

from .base import Task, TaskError, check_image, check_layer, to_float_rgb, to_uint8_rgb


class ResaturationTask(Task):
    name = "resaturation"
    channels_c = 1
    channels_g = 1
    g_range = (0.0, 1.0)
    c_range = (0.0, 1.0)

    def decompose(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """uint8 (H, W, 3) -> value (1, H, W), saturation (1, H, W), float32 in [0, 1]."""
        rgb = to_float_rgb(check_image(image))
        hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)  # (H, W, 3): H in degrees, S and V in [0, 1]
        value = np.clip(hsv[None, :, :, 2], 0.0, 1.0)
        saturation = np.clip(hsv[None, :, :, 1], 0.0, 1.0)
        return value.astype(np.float32), saturation.astype(np.float32)

    def compose(self, xc_full: np.ndarray, xg_full: np.ndarray, image: np.ndarray | None = None) -> np.ndarray:
        """Value (1, H, W) and a new saturation -> uint8 (H, W, 3); hue comes from ``image``."""
        if image is None:
            raise TaskError("resaturation needs the original photo (image=...) for its hue")
        rgb = to_float_rgb(check_image(image))
        value = check_layer(xc_full, 1, "xc_full")
        h, w = rgb.shape[:2]
        if value.shape[1:] != (h, w):
            raise TaskError(f"xc_full is {value.shape[2]}x{value.shape[1]} but the photo is {w}x{h}")
        saturation = self.clip_g(self._match(xg_full, h, w))
        hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
        hsv[:, :, 1] = saturation[0]
        hsv[:, :, 2] = np.clip(value[0], 0.0, 1.0)
        return to_uint8_rgb(cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB))

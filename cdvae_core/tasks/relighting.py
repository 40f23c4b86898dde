"""Relighting: x_c = albedo (RGB), x_g = shading (1 channel) of an intrinsic decomposition.

The way back is the product: a new shading times the photo's albedo gives the relit photo.
"""

from __future__ import annotations

import numpy as np

from .base import Task, TaskError, check_image, check_layer, to_float_rgb, to_uint8_rgb
from .intrinsic import RetinexSettings, decompose_intrinsic


class RelightingTask(Task):
    name = "relighting"
    channels_c = 3
    channels_g = 1
    g_range = (0.0, 1.0)
    c_range = (0.0, 1.0)
    pixelwise_compose = True  # the decomposition is not: Retinex integrates over the whole photo

    def __init__(self, settings: RetinexSettings = RetinexSettings()) -> None:
        self.settings = settings

    def decompose(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """uint8 (H, W, 3) -> albedo (3, H, W), shading (1, H, W), float32 in [0, 1]."""
        return decompose_intrinsic(to_float_rgb(check_image(image)), self.settings)

    def compose(self, xc_full: np.ndarray, xg_full: np.ndarray, image: np.ndarray | None = None,
                prepared: None = None) -> np.ndarray:
        """albedo (3, H, W) x shading (1, h, w) resized to (H, W) -> uint8 (H, W, 3)."""
        albedo = check_layer(xc_full, 3, "xc_full")
        h, w = albedo.shape[1:]
        if image is not None and check_image(image).shape[:2] != (h, w):
            raise TaskError("image and xc_full differ in size")
        shading = self.clip_g(self._match(xg_full, h, w))
        return to_uint8_rgb((albedo * shading).transpose(1, 2, 0))

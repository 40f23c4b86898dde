"""Procedural scenes for the built-in motion clips: many more distinct frames than six photos.

Trained on clips of the six built-in photos alone, x_c's encoder memorises their appearance and
never learns to read the frame's orientation, which sets the line of motion (docs/results.md,
"Motion"). Each scene here is a random composition with oriented structure at several scales: a
colour gradient, an anisotropic noise texture, and 3 to 11 shapes (rotated ellipses and
rectangles, thick lines, striped discs) in random colours, lightly blurred. A scene is a pure
function of its seed, so worker processes rebuild the same scene from the item alone.
"""

from __future__ import annotations

import functools

import cv2
import numpy as np

SCENE_SIZE = 384  # pixels per side, about the short side of the built-in photos


def _texture(rng: np.random.Generator, size: int) -> np.ndarray:
    """(size, size) unit-variance noise smoothed by a randomly rotated, elongated Gaussian."""
    noise = rng.standard_normal((size, size)).astype(np.float32)
    across, along = rng.uniform(1.0, 4.0), rng.uniform(8.0, 30.0)
    kernel = (cv2.getGaussianKernel(int(6 * along) | 1, along) @ cv2.getGaussianKernel(int(6 * across) | 1, across).T)
    kernel = kernel.astype(np.float32)
    turn = cv2.getRotationMatrix2D((kernel.shape[1] / 2, kernel.shape[0] / 2), rng.uniform(0, 180), 1.0)
    kernel = cv2.warpAffine(kernel, turn, (kernel.shape[1], kernel.shape[0]))
    texture = cv2.filter2D(noise, -1, kernel / kernel.sum())
    return texture / (texture.std() + 1e-6)


def _draw_shape(rng: np.random.Generator, image: np.ndarray, cols: np.ndarray, rows: np.ndarray) -> None:
    """One random shape drawn into ``image`` (size, size, 3) float32 in place."""
    size = image.shape[0]
    colour = tuple(float(v) for v in rng.uniform(0, 1, 3))
    kind = int(rng.integers(0, 4))
    cx, cy = rng.uniform(0, size, 2)
    if kind == 0:  # rotated ellipse
        axes = (int(rng.uniform(10, 90)), int(rng.uniform(4, 40)))
        cv2.ellipse(image, (int(cx), int(cy)), axes, rng.uniform(0, 180), 0, 360, colour, -1, cv2.LINE_AA)
    elif kind == 1:  # rotated rectangle
        box = cv2.boxPoints(((cx, cy), (rng.uniform(10, 160), rng.uniform(5, 60)), rng.uniform(0, 180)))
        cv2.fillPoly(image, [box.astype(np.int32)], colour, cv2.LINE_AA)
    elif kind == 2:  # thick line
        angle, half = rng.uniform(0, np.pi), rng.uniform(40, 300)
        dx, dy = half * np.cos(angle), half * np.sin(angle)
        cv2.line(image, (int(cx - dx), int(cy - dy)), (int(cx + dx), int(cy + dy)), colour,
                 int(rng.integers(2, 14)), cv2.LINE_AA)
    else:  # a disc of stripes
        radius, angle, period = rng.uniform(30, 120), rng.uniform(0, np.pi), rng.uniform(6, 30)
        inside = (cols - cx) ** 2 + (rows - cy) ** 2 < radius * radius
        stripes = 0.5 + 0.5 * np.sin(2 * np.pi * (np.cos(angle) * cols + np.sin(angle) * rows) / period)
        weight = stripes[inside][:, None]
        image[inside] = image[inside] * (1 - weight) + np.asarray(colour, np.float32) * weight


@functools.lru_cache(maxsize=64)
def procedural_scene(series: int, index: int, size: int = SCENE_SIZE) -> np.ndarray:
    """Scene ``index`` of ``series`` (both >= 0; the built-in source uses its seed as the series):
    uint8 (size, size, 3) RGB, read-only (shared by callers)."""
    rng = np.random.default_rng([series, index, 0x5CE7E])  # a stream of its own, apart from other seeded draws
    rows, cols = np.mgrid[0:size, 0:size].astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    ramp = ((np.cos(angle) * cols + np.sin(angle) * rows) / size)[..., None]
    start, end = rng.uniform(0, 1, 3).astype(np.float32), rng.uniform(0, 1, 3).astype(np.float32)
    image = (start * (1 - ramp) + end * ramp).astype(np.float32)
    image += (rng.uniform(0.03, 0.12) * _texture(rng, size))[..., None] * rng.uniform(0.5, 1, 3).astype(np.float32)
    for _ in range(int(rng.integers(3, 12))):
        _draw_shape(rng, image, cols, rows)
    image = cv2.GaussianBlur(image, (0, 0), rng.uniform(0.5, 1.5))
    scene = (np.clip(image, 0, 1) * 255).astype(np.uint8)
    scene.setflags(write=False)
    return scene

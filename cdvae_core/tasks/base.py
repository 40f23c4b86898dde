"""What every task shares: input checks, the 32x32 area resize, the Task base class.

A task turns a photo (or two video frames) into full-resolution layers ``(x_c, x_g)`` and puts a
generated ``x_g`` back into a full-resolution result. Layers are float32 ``(C, H, W)``; photos are
uint8 ``(H, W, 3)`` RGB.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

MODEL_SIZE = 32  # the models work on 32x32 layers (paper section 6.1)
# Pixelwise steps on large photos run on strips of rows of about this many pixels: a 48-megapixel
# compose otherwise holds ~2.4 GB of float temporaries at once (3 channels x 4 bytes x several
# steps); strips of 1 MP hold ~50 MB and give the same bytes (Task.pixelwise_compose).
STRIP_PIXELS = 1 << 20


class TaskError(ValueError):
    """A task asked for something it cannot do, or given an input of the wrong shape."""


def check_image(image: np.ndarray, name: str = "image") -> np.ndarray:
    """Return ``image`` as a contiguous uint8 (H, W, 3) RGB array or raise TaskError."""
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise TaskError(f"{name} must be uint8 (H, W, 3) RGB, got {image.dtype} {tuple(image.shape)}")
    if image.shape[0] < 2 or image.shape[1] < 2:
        raise TaskError(f"{name} is too small ({image.shape[1]}x{image.shape[0]})")
    return np.ascontiguousarray(image)


def check_layer(layer: np.ndarray, channels: int, name: str) -> np.ndarray:
    """Return ``layer`` as float32 (channels, H, W) or raise TaskError."""
    layer = np.asarray(layer, dtype=np.float32)
    if layer.ndim != 3 or layer.shape[0] != channels:
        raise TaskError(f"{name} must have shape ({channels}, H, W), got {tuple(layer.shape)}")
    return layer


def to_float_rgb(image: np.ndarray) -> np.ndarray:
    """uint8 (H, W, 3) -> float32 (H, W, 3) in [0, 1]."""
    return image.astype(np.float32) * np.float32(1.0 / 255.0)


def to_uint8_rgb(image: np.ndarray) -> np.ndarray:
    """float (H, W, 3) in [0, 1] -> uint8 (H, W, 3), rounded and clipped.

    In place on one scaled copy: each fresh full-resolution temporary (three before) can cost a
    round of page faults (up to 0.3 s apiece at 12 megapixels); resaturation's compose of a
    12-megapixel photo took 0.56-1.66 s with them and 0.53-0.63 s without (measured). Same bytes.
    """
    scaled = np.multiply(image, 255.0, dtype=np.result_type(image.dtype, np.float32))
    np.rint(scaled, out=scaled)
    np.clip(scaled, 0, 255, out=scaled)
    return scaled.astype(np.uint8)


def row_strips(height: int, width: int, pixels: int | None = None) -> list[slice]:
    """Row ranges that cut a (height, width) image into strips of about ``pixels`` pixels
    (STRIP_PIXELS), each at least 2 rows (the tasks' smallest image); one strip when it is small."""
    pixels = STRIP_PIXELS if pixels is None else pixels
    count = min(-(-height * width // pixels), height // 2)
    if count <= 1:
        return [slice(0, height)]
    bounds = np.linspace(0, height, count + 1).round().astype(int)
    return [slice(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]


def resize_layer(layer: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize a float32 (C, H, W) layer to (C, height, width).

    Area averaging when shrinking (no aliasing), bilinear when enlarging.
    """
    c, h, w = layer.shape
    if (h, w) == (height, width):
        return layer.astype(np.float32, copy=True)
    interp = cv2.INTER_AREA if height <= h and width <= w else cv2.INTER_LINEAR
    planes = [cv2.resize(np.ascontiguousarray(p, np.float32), (width, height), interpolation=interp) for p in layer]
    return np.stack(planes).astype(np.float32)  # (C, height, width)


def resize_image(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize a uint8 or float (H, W, 3) image; area when shrinking, bilinear when enlarging."""
    h, w = image.shape[:2]
    if (h, w) == (height, width):
        return image.copy()
    interp = cv2.INTER_AREA if height <= h and width <= w else cv2.INTER_LINEAR
    return cv2.resize(image, (width, height), interpolation=interp)


def fit_within(image: np.ndarray, max_side: int) -> np.ndarray:
    """Area-shrink (H, W, 3) so its longer side is at most ``max_side``; smaller images unchanged."""
    h, w = image.shape[:2]
    scale = max_side / max(h, w)
    if scale >= 1.0:
        return image
    return resize_image(image, max(2, round(h * scale)), max(2, round(w * scale)))


class Task:
    """One of the paper's three tasks. Subclasses set the class attributes and layer maths."""

    name: str = ""
    channels_c: int = 0
    channels_g: int = 0
    g_range: tuple[float, float] = (0.0, 1.0)
    g_scale: float = 1.0  # x_g units per model unit: models divide x_g by it (ModelConfig.g_scale)
    c_range: tuple[float, float] = (0.0, 1.0)
    needs_video: bool = False  # motion: pairs come from two frames, not one photo
    xc_orientation: bool = False  # models' x_c encoders also see its orientation (ModelConfig.xc_orientation)
    # the embedding-guidance weight held throughout training instead of decaying (tasks.train_defaults);
    # None: TrainConfig's decaying schedule
    held_guidance: float | None = None
    # decompose / compose (given prepare_compose's result) act on each pixel alone, so a caller may
    # run them on strips of rows with the same bytes (postprocess.Renderer does on large photos,
    # to bound their float temporaries). A pixelwise compose's prepare_compose returns None, an
    # array with rows first or a tuple of them, so that it can be cut into the same strips.
    pixelwise_decompose: bool = False
    pixelwise_compose: bool = False

    def decompose(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """uint8 (H, W, 3) -> (xc_full float32 (Cc, H, W), xg_full float32 (Cg, H, W))."""
        raise NotImplementedError

    def decompose_pair(self, frame0: np.ndarray, frame1: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        raise TaskError(f"the {self.name} task makes pairs from single photos, not frame pairs")

    def to_model(self, layer_full: np.ndarray) -> np.ndarray:
        """Area-resize a (C, H, W) layer to the model's (C, 32, 32)."""
        layer = np.asarray(layer_full, dtype=np.float32)
        if layer.ndim != 3:
            raise TaskError(f"a layer must have shape (C, H, W), got {tuple(layer.shape)}")
        return resize_layer(layer, MODEL_SIZE, MODEL_SIZE)

    def prepare_compose(self, image: np.ndarray) -> Any:
        """What ``compose`` derives from the photo alone, for a caller that composes one photo many
        times (``postprocess.Renderer``) to pass back as ``prepared=``; None: nothing worth keeping."""
        return None

    def compose(self, xc_full: np.ndarray, xg_full: np.ndarray, image: np.ndarray | None = None,
                prepared: Any = None) -> np.ndarray:
        """Full-resolution layers back to a uint8 (H, W, 3) photo; ``xg_full`` may be resized first.
        ``prepared``: ``prepare_compose(image)`` of this same ``image``, or None."""
        raise NotImplementedError

    def clip_g(self, xg: np.ndarray) -> np.ndarray:
        """Clip an x_g layer to ``g_range`` (generated samples can overshoot)."""
        return np.clip(xg, self.g_range[0], self.g_range[1]).astype(np.float32)

    def _match(self, xg_full: np.ndarray, height: int, width: int) -> np.ndarray:
        """Bring a generated x_g (any resolution) to (Cg, height, width)."""
        xg = check_layer(xg_full, self.channels_g, "xg_full")
        return resize_layer(xg, height, width)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"

"""Pictures of a full-resolution flow: arrows over the frame and the colour-wheel picture.

Flows here are float32 (2, H, W) in full-resolution pixels per second, channels (dx, dy). The
tasks keep flow in model pixels (the 32x32 grid) per second; ``flow_to_pixels`` converts.
"""

from __future__ import annotations

import cv2
import numpy as np

from .errors import PostprocessError

MODEL_SIZE = 32  # the model's grid; a flow of 1.0 moves one grid cell
# how arrows are drawn, recorded in each export's sidecar (ExportSettings.arrows) so that
# --reproduce redraws an older export as it was: 1 = cells of 1/24 of the longer side down to 4 px,
# outlined 2 px wider than the line; 2 = cells of at least 16 px, and a 1-px line outlined 1 px
# wider (on a 192x144 frame, 8-px cells of 1-px lines in 3-px outlines hid the frame)
ARROW_STYLES = (1, 2)
ARROW_STYLE = 2
# model px/s shown at full colour at the least: slower flows are near still, and scaled by their
# own speed a still sample's noise (0.01 px/s) came out fully saturated, as strong motion
COLOR_FLOOR = 0.5


def _check_flow(flow: np.ndarray) -> np.ndarray:
    flow = np.asarray(flow, dtype=np.float32)
    if flow.ndim != 3 or flow.shape[0] != 2:
        raise PostprocessError(f"a flow must have shape (2, H, W), got {flow.shape}")
    if not np.all(np.isfinite(flow)):
        raise PostprocessError("flow contains NaN or infinite values")
    return flow


def flow_to_pixels(flow_model: np.ndarray) -> np.ndarray:
    """Flow (2, H, W) in model pixels per second -> (2, H, W) in full-resolution pixels per second."""
    flow = _check_flow(flow_model)
    H, W = flow.shape[1:]
    return np.stack([flow[0] * np.float32(W / MODEL_SIZE), flow[1] * np.float32(H / MODEL_SIZE)])


def _check_style(style: int) -> int:
    if style not in ARROW_STYLES:
        raise PostprocessError(f"arrow style must be one of {ARROW_STYLES}, got {style!r}")
    return style


def arrow_step(height: int, width: int, style: int = ARROW_STYLE) -> int:
    """The side in pixels of an arrow's cell on a (height, width) picture: 1/24 of the longer side,
    at least 4 px (style 1) or 16 px (style 2)."""
    return max(4 if _check_style(style) == 1 else 16, round(max(height, width) / 24))


def flow_arrows(flow_px: np.ndarray, step: int | None = None, min_length: float = 1.0,
                style: int = ARROW_STYLE) -> tuple[np.ndarray, np.ndarray]:
    """Arrows on a regular grid: (positions (N, 2), vectors (N, 2)), float32 (x, y) pixels.

    Each arrow starts at the centre of a ``step`` x ``step`` cell and carries the cell's mean flow
    (an area average, so a stray pixel does not swing an arrow). Arrows shorter than
    ``min_length`` pixels are left out: like the paper's figures, only real motion is drawn.
    ``step`` defaults to ``arrow_step`` of the picture in ``style``.
    """
    flow = _check_flow(flow_px)
    H, W = flow.shape[1:]
    step = int(step or arrow_step(H, W, style))
    gh, gw = max(1, H // step), max(1, W // step)
    mean = np.stack([cv2.resize(c, (gw, gh), interpolation=cv2.INTER_AREA) for c in flow])  # (2, gh, gw)
    ys = (np.arange(gh) + 0.5) * (H / gh)
    xs = (np.arange(gw) + 0.5) * (W / gw)
    pos = np.stack(np.meshgrid(xs, ys), axis=-1).reshape(-1, 2).astype(np.float32)  # (gh*gw, 2)
    vec = mean.reshape(2, -1).T.astype(np.float32)  # (gh*gw, 2)
    keep = np.hypot(vec[:, 0], vec[:, 1]) >= min_length
    return pos[keep], vec[keep]


def draw_arrows(image: np.ndarray, positions: np.ndarray, vectors: np.ndarray, color: tuple[int, int, int] = (255, 230, 40),
                style: int = ARROW_STYLE) -> np.ndarray:
    """uint8 (H, W, 3) with the arrows drawn (dark outline under a bright line, readable anywhere)."""
    out = np.ascontiguousarray(image, dtype=np.uint8).copy()
    thickness = max(1, round(max(out.shape[:2]) / 400))
    outline = thickness + (1 if _check_style(style) == 2 and thickness == 1 else 2)
    for (x, y), (dx, dy) in zip(positions, vectors):
        p0 = (int(round(x)), int(round(y)))
        p1 = (int(round(x + dx)), int(round(y + dy)))
        cv2.arrowedLine(out, p0, p1, (0, 0, 0), outline, cv2.LINE_AA, tipLength=0.3)
        cv2.arrowedLine(out, p0, p1, color, thickness, cv2.LINE_AA, tipLength=0.3)
    return out


def color_scale(flow_model: np.ndarray, limit: float | None = None) -> float:
    """The speed in model px/s to show at full colour for flows (..., 2, H, W) in model px/s:
    their 95th percentile speed, at least ``COLOR_FLOOR`` (a still flow stays white) and at most
    ``limit`` (the task's flow limit, say)."""
    flow = np.asarray(flow_model, np.float32)
    top = max(float(np.percentile(np.hypot(flow[..., 0, :, :], flow[..., 1, :, :]), 95)), COLOR_FLOOR)
    return min(top, float(limit)) if limit else top


def scale_to_pixels(speed_model: float, height: int, width: int) -> float:
    """A speed in model px/s as full-resolution px/s on an (height, width) picture, along its longer side."""
    return float(speed_model) * max(height, width) / MODEL_SIZE


def flow_color(flow_px: np.ndarray, max_magnitude: float | None = None) -> np.ndarray:
    """Colour-wheel picture uint8 (H, W, 3) RGB: hue = direction, saturation = speed.

    Speeds are scaled by ``max_magnitude`` in the flow's pixels per second (default: the flow's
    own 99th percentile), so still regions are white and the fastest motion fully saturated. To
    compare pictures, or to keep a near-still flow pale, pass a scale: ``scale_to_pixels(color_scale(...))``.
    """
    flow = _check_flow(flow_px)
    mag, ang = cv2.cartToPolar(flow[0], flow[1], angleInDegrees=True)
    top = float(max_magnitude) if max_magnitude else float(np.percentile(mag, 99))
    sat = np.clip(mag / max(top, 1e-6), 0.0, 1.0)
    hsv = np.stack([ang / 2.0, sat * 255.0, np.full_like(mag, 255.0)], axis=-1)  # OpenCV hue 0..180
    return cv2.cvtColor(np.clip(hsv, 0, 255).astype(np.uint8), cv2.COLOR_HSV2RGB)

"""Motion: x_c = the colour frame, x_g = the optical flow to the frame one second later.

Flow is in model pixels per second (see ``flow``), channels (dx, dy), clipped to ``g_range``.
The way back warps the frame along the flow, showing where things would move in one second.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..config import MOTION_HELD_GUIDANCE
from .base import MODEL_SIZE, Task, TaskError, check_image, check_layer, resize_layer, to_float_rgb, to_uint8_rgb
from .flow import flow_model_units

FLOW_LIMIT = 8.0  # |flow| clip in model px per second: a quarter of the frame per second


def move_frame(frame: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """Frame (H, W, C) (uint8 or float32) moved along ``shift`` (2, H, W), (dx, dy) in frame
    pixels -> the same dtype and shape.

    Backward warp: out(p) = frame(p - shift(p)), exact for smooth motion, a good preview otherwise;
    beyond the border the edge pixels repeat. ``compose`` moves a frame by one second of flow, the
    Studio's Flow tab by fractions of it (its Play box).
    """
    h, w = frame.shape[:2]
    if shift.shape != (2, h, w):
        raise TaskError(f"shift must have shape (2, {h}, {w}), got {tuple(shift.shape)}")
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    map_x, map_y = xs - shift[0].astype(np.float32), ys - shift[1].astype(np.float32)
    return cv2.remap(np.ascontiguousarray(frame), map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


class MotionTask(Task):
    name = "motion"
    channels_c = 3
    channels_g = 2
    g_range = (-FLOW_LIMIT, FLOW_LIMIT)
    # the ladders' priors and decoder floors are unit-scale: on flow in px/s the deep CDVAE treated
    # dx as noise and drew runaway fields (best-of-100 error 1.70 against 0.65 scaled, measured)
    g_scale = FLOW_LIMIT
    # the line of motion follows the frame's structure, which x_c's encoder does not learn to read
    # from pixels alone (docs/results.md, "Motion")
    xc_orientation = True
    held_guidance = MOTION_HELD_GUIDANCE
    c_range = (0.0, 1.0)
    needs_video = True

    def __init__(self, flow_method: str = "dis") -> None:
        self.flow_method = flow_method

    def decompose(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """uint8 (H, W, 3) -> frame (3, H, W) in [0, 1], zero flow (2, H, W): one photo has no motion."""
        rgb = to_float_rgb(check_image(image))
        return np.ascontiguousarray(rgb.transpose(2, 0, 1)), np.zeros((2,) + rgb.shape[:2], np.float32)

    def decompose_pair(self, frame0: np.ndarray, frame1: np.ndarray, seconds: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
        """Frames uint8 (H, W, 3), ``seconds`` apart -> frame (3, H, W), flow (2, H, W) per second."""
        f0, f1 = check_image(frame0, "frame0"), check_image(frame1, "frame1")
        if f0.shape != f1.shape:
            raise TaskError(f"frames differ in size: {f0.shape} and {f1.shape}")
        flow = flow_model_units(f0, f1, seconds, self.flow_method)  # (2, h, w)
        h, w = f0.shape[:2]
        flow = self.clip_g(resize_layer(flow, h, w))
        return np.ascontiguousarray(to_float_rgb(f0).transpose(2, 0, 1)), flow

    def compose(self, xc_full: np.ndarray, xg_full: np.ndarray, image: np.ndarray | None = None,
                prepared: None = None) -> np.ndarray:
        """Frame (3, H, W) moved along the flow for one second -> uint8 (H, W, 3).

        Backward warp: out(p) = frame(p - flow(p)), exact for smooth flow, a good preview otherwise.
        """
        frame = check_layer(xc_full, 3, "xc_full")
        h, w = frame.shape[1:]
        flow = self._match(xg_full, h, w)  # (2, H, W) model px per second
        shift = flow * np.array([w / MODEL_SIZE, h / MODEL_SIZE], np.float32)[:, None, None]
        return to_uint8_rgb(move_frame(frame.transpose(1, 2, 0), shift))

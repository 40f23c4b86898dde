"""Synthetic videos made from still photos: the built-in source for the motion task.

Each clip is two frames one second apart, rendered from a photo with a virtual camera:
- pan: the camera slides, so the whole frame moves one way;
- zoom: the camera moves in or out, so the flow spreads from (or converges to) a point;
- cut-out: an elliptical piece of the photo moves over a (possibly panning) background, like
  an object crossing the scene.
The true flow is known exactly, which the tests and the flow benchmark use; the pair files hold
the flow that OpenCV's DIS estimates from the two frames, the same path real videos take.
Velocities are in model pixels per second (1/32 of the frame per second).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..tasks.base import MODEL_SIZE

FRAME_SIZE = 96  # rendered frame side in pixels (3x the model)
KINDS = ("still", "pan", "zoom", "cutout")


@dataclass(frozen=True)
class MotionParams:
    kind: str  # one of KINDS
    cx: float  # view centre in the photo, pixels
    cy: float
    view: float  # side of the photo region seen in frame 0, photo pixels
    flip: bool  # mirror the clip
    pan: tuple[float, float] = (0.0, 0.0)  # camera content motion, model px per second (dx, dy)
    zoom: float = 1.0  # frame-1 magnification about the centre (>1: zoom in)
    obj_src: tuple[float, float] = (0.0, 0.0)  # cut-out: where it is cut from, frame-0 pixels
    obj_pos: tuple[float, float] = (0.0, 0.0)  # cut-out centre in frame 0, frame pixels
    obj_radius: tuple[float, float] = (0.0, 0.0)  # ellipse half-axes, frame pixels
    obj_vel: tuple[float, float] = (0.0, 0.0)  # cut-out motion, model px per second


def random_motion(rng: np.random.Generator, height: int, width: int) -> MotionParams:
    """Random clip parameters for a photo of (height, width)."""
    kind = str(rng.choice(KINDS, p=[0.1, 0.35, 0.2, 0.35]))
    view = float(rng.uniform(0.3, 0.7) * min(height, width))
    cx = float(rng.uniform(view / 2, width - view / 2))
    cy = float(rng.uniform(view / 2, height - view / 2))
    pan = tuple(rng.uniform(-4.0, 4.0, 2)) if kind in ("pan", "cutout") and rng.random() < 0.7 else (0.0, 0.0)
    zoom = float(np.exp(rng.uniform(-0.15, 0.15))) if kind == "zoom" else 1.0
    params = dict(kind=kind, cx=cx, cy=cy, view=view, flip=bool(rng.random() < 0.5), pan=pan, zoom=zoom)
    if kind == "cutout":
        r = rng.uniform(0.12, 0.25, 2) * FRAME_SIZE
        params.update(
            obj_src=tuple(rng.uniform(0.25, 0.75, 2) * FRAME_SIZE),
            obj_pos=tuple(rng.uniform(0.3, 0.7, 2) * FRAME_SIZE),
            obj_radius=tuple(r),
            obj_vel=tuple(rng.uniform(-6.0, 6.0, 2)),
        )
    return MotionParams(**params)  # type: ignore[arg-type]


def _camera(p: MotionParams, zoom: float, shift_px: np.ndarray) -> np.ndarray:
    """2x3 affine from frame pixels to photo pixels: the view centred at (cx, cy) minus a shift."""
    s = p.view / FRAME_SIZE / zoom  # photo pixels per frame pixel
    c = (FRAME_SIZE - 1) / 2.0
    # frame u -> photo p = s * (u - c - shift) + centre
    return np.array([[s, 0.0, p.cx - s * (c + shift_px[0])], [0.0, s, p.cy - s * (c + shift_px[1])]])


def _ellipse(centre: np.ndarray, radius: tuple[float, float]) -> np.ndarray:
    """Feathered elliptical mask (FRAME_SIZE, FRAME_SIZE) float32 in [0, 1]."""
    ys, xs = np.mgrid[0:FRAME_SIZE, 0:FRAME_SIZE].astype(np.float32)
    d = ((xs - centre[0]) / radius[0]) ** 2 + ((ys - centre[1]) / radius[1]) ** 2
    return np.clip((1.0 - d) * 4.0, 0.0, 1.0).astype(np.float32)


def render_clip(photo: np.ndarray, p: MotionParams) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """photo uint8 (H, W, 3) -> frame0, frame1 uint8 (128, 128, 3), true flow (2, 128, 128).

    The flow is in model pixels per second, from frame 0 to frame 1 (one second later).
    """
    to_frame = FRAME_SIZE / MODEL_SIZE  # frame pixels per model pixel
    pan_px = np.asarray(p.pan) * to_frame
    size = (FRAME_SIZE, FRAME_SIZE)
    m0 = _camera(p, 1.0, np.zeros(2))
    m1 = _camera(p, p.zoom, pan_px / p.zoom)
    warp = dict(flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REFLECT)
    frame0 = cv2.warpAffine(photo, m0, size, **warp)
    frame1 = cv2.warpAffine(photo, m1, size, **warp)
    # Background flow: u' = c + zoom * (u - c) + pan (frame pixels).
    ys, xs = np.mgrid[0:FRAME_SIZE, 0:FRAME_SIZE].astype(np.float32)
    c = (FRAME_SIZE - 1) / 2.0
    flow = np.stack([(p.zoom - 1.0) * (xs - c) + pan_px[0], (p.zoom - 1.0) * (ys - c) + pan_px[1]])
    if p.kind == "cutout":
        vel_px = np.asarray(p.obj_vel) * to_frame
        src, pos = np.asarray(p.obj_src), np.asarray(p.obj_pos)
        texture_source = frame0.copy()  # the object is a piece of the first view
        frames = []
        for background, centre in ((frame0, pos), (frame1, pos + vel_px)):
            shift = np.array([[1.0, 0.0, centre[0] - src[0]], [0.0, 1.0, centre[1] - src[1]]])
            piece = cv2.warpAffine(texture_source, shift, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
            mask = _ellipse(centre, p.obj_radius)[:, :, None]
            frames.append(np.clip(background * (1.0 - mask) + piece * mask + 0.5, 0, 255).astype(np.uint8))
        frame0, frame1 = frames
        inside = _ellipse(pos, p.obj_radius) > 0.5
        flow[0][inside], flow[1][inside] = vel_px[0], vel_px[1]
    flow = (flow / to_frame).astype(np.float32)
    if p.flip:  # mirror the rendered clip (cheaper than mirroring the photo): x motion flips sign
        frame0, frame1 = np.ascontiguousarray(frame0[:, ::-1]), np.ascontiguousarray(frame1[:, ::-1])
        flow = np.ascontiguousarray(flow[:, :, ::-1])
        flow[0] *= -1.0
    return frame0, frame1, flow

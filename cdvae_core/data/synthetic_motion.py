"""Synthetic videos made from still photos: the built-in source for the motion task.

Each clip is two frames one second apart, rendered from a photo with a virtual camera:
- pan: the camera slides, so the whole frame moves one way;
- zoom: the camera moves in or out, so the flow spreads from (or converges to) a point;
- cut-out: an elliptical piece of the photo moves over a (possibly panning) background, like
  an object crossing the scene.

The motion follows what the frame shows, with the ambiguity a still frame leaves: a camera
pans across the view's dominant structure (along its mean gradient direction, from the
structure tensor), and a cut-out moves along its long axis; which way (the sign) is a coin
flip, and the speed is random. So a frame sets the line of motion and leaves two modes on it,
the kind of conditional the paper's motion task has (a still frame can move in several ways,
but not in every way). Zooms go in or out at random.
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


def dominant_gradient(photo: np.ndarray, cx: float, cy: float, view: float) -> np.ndarray:
    """Unit vector (x, y) of the mean gradient direction of the square view of ``photo`` (H, W, 3)
    centred at (cx, cy): the leading eigenvector of the structure tensor, sign fixed to x >= 0.

    A view without structure (a flat crop) gives (1, 0).
    """
    half = view / 2.0
    x0, y0 = int(max(0, cx - half)), int(max(0, cy - half))
    crop = photo[y0 : int(np.ceil(cy + half)), x0 : int(np.ceil(cx + half))]
    if crop.size == 0:
        return np.array([1.0, 0.0])
    grey = cv2.cvtColor(np.ascontiguousarray(crop), cv2.COLOR_RGB2GRAY) if crop.ndim == 3 else crop
    grey = cv2.resize(grey, (FRAME_SIZE, FRAME_SIZE), interpolation=cv2.INTER_AREA).astype(np.float32)
    grey = cv2.GaussianBlur(grey, (0, 0), 1.5)  # the scale the 32x32 model sees
    gx = cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3)
    jxx, jyy, jxy = float((gx * gx).sum()), float((gy * gy).sum()), float((gx * gy).sum())
    if jxx + jyy <= 1e-6:
        return np.array([1.0, 0.0])
    angle = 0.5 * np.arctan2(2.0 * jxy, jxx - jyy)  # of the eigenvector with the larger eigenvalue
    direction = np.array([np.cos(angle), np.sin(angle)])
    return direction if direction[0] >= 0 else -direction


def random_motion(rng: np.random.Generator, photo: np.ndarray) -> MotionParams:
    """Random clip parameters for ``photo`` (H, W, 3), the region the clip may use.

    Pans move across the view's dominant structure (``dominant_gradient``), cut-outs along their
    long axis; the direction's sign and the speeds are random.
    """
    height, width = photo.shape[:2]
    kind = str(rng.choice(KINDS, p=[0.1, 0.35, 0.2, 0.35]))
    view = float(rng.uniform(0.3, 0.7) * min(height, width))
    cx = float(rng.uniform(view / 2, width - view / 2))
    cy = float(rng.uniform(view / 2, height - view / 2))
    pan = (0.0, 0.0)
    if kind == "pan" or (kind == "cutout" and rng.random() < 0.7):
        line = dominant_gradient(photo, cx, cy, view)
        speed = rng.uniform(1.5, 4.0) * rng.choice([-1.0, 1.0])
        pan = (float(speed * line[0]), float(speed * line[1]))
    zoom = float(np.exp(rng.choice([-1.0, 1.0]) * rng.uniform(0.05, 0.15))) if kind == "zoom" else 1.0
    params = dict(kind=kind, cx=cx, cy=cy, view=view, flip=bool(rng.random() < 0.5), pan=pan, zoom=zoom)
    if kind == "cutout":
        short = rng.uniform(0.10, 0.16) * FRAME_SIZE
        long = short * rng.uniform(1.6, 2.2)
        wide = bool(rng.random() < 0.5)
        speed = rng.uniform(2.0, 6.0) * rng.choice([-1.0, 1.0])
        params.update(
            obj_src=tuple(rng.uniform(0.25, 0.75, 2) * FRAME_SIZE),
            obj_pos=tuple(rng.uniform(0.3, 0.7, 2) * FRAME_SIZE),
            obj_radius=(float(long), float(short)) if wide else (float(short), float(long)),
            obj_vel=(float(speed), 0.0) if wide else (0.0, float(speed)),
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

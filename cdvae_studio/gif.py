"""Export a slider sweep (or an interpolation between two codes, or a motion) as an animated GIF or MP4.

An animation is a seamless there-and-back loop of exactly ``frames`` frames (``loop_positions``;
the two ends appear once each, never twice in a row, and the frame after the last is the
first). A sweep's frames are grid cells (``compose_cells``, 160 px on the longer side), not the
full-resolution preview (24 edge-aware full-size renders and a much larger file; the current
sample's full-resolution result is its export, docs/studio.md). A motion's are the preview's
frame (at most 512 px) moved along one flow: one upsampling, then a warp per frame. A GIF may
store fewer frames than rendered: Pillow merges identical neighbouring frames into one longer
frame (same timing), and ``export_sweep`` and ``export_motion`` report both counts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np

from cdvae_core.atomic import write_with
from cdvae_core.tasks.motion import move_frame

from .render import DecodeCache, compose_cells


class SweepExportError(ValueError):
    """A sweep that cannot be written, with a one-line reason."""


FRAMES = 24  # frames of an animation (2 s at FPS)
FPS = 12.0  # frames per second of an animation, written or played (the Flow tab's Play)


def loop_positions(frames: int = FRAMES) -> np.ndarray:
    """(frames,) float32 positions in [0, 1]: 0 up to 1 and back, for a loop of exactly ``frames``.

    Out: 0 .. 1 in ``frames // 2 + 1`` steps (both ends); back: the ``frames - frames // 2 - 1``
    points strictly between 1 and 0, so neither end repeats when the loop wraps. (Halves of
    ``frames // 2`` points each with both ends dropped from the way back gave 22 of 24.)
    """
    if frames < 2:
        raise SweepExportError(f"an animation needs at least 2 frames, got {frames}")
    out = np.linspace(0.0, 1.0, frames // 2 + 1)
    back = np.linspace(1.0, 0.0, frames - frames // 2 + 1)[1:-1]
    return np.concatenate([out, back]).astype(np.float32)


def sweep_codes(code: np.ndarray, index: int, mean: np.ndarray, std: np.ndarray, frames: int = FRAMES) -> np.ndarray:
    """Codes (frames, D): component ``index`` from mean - 2 std to mean + 2 std and back."""
    if not 0 <= index < len(code):
        raise SweepExportError(f"no code component {index}")
    ks = -2.0 + 4.0 * loop_positions(frames)
    out = np.repeat(np.asarray(code, np.float32)[None], len(ks), 0)
    out[:, index] = mean[index] + ks * max(float(std[index]), 1e-3)
    return out


def interpolation_codes(a: np.ndarray, b: np.ndarray, frames: int = FRAMES) -> np.ndarray:
    """Rows (frames, D) on the straight line from a (D,) to b (D,) and back (codes, or noise)."""
    t = loop_positions(frames)
    return (1 - t)[:, None] * np.asarray(a, np.float32)[None] + t[:, None] * np.asarray(b, np.float32)[None]


def write_animation(path: str | Path, frames: np.ndarray, fps: float = FPS) -> int:
    """frames (T, H, W, 3) uint8 -> GIF (imageio) or MP4 (OpenCV), written atomically; returns
    the frames the file holds (a GIF: T less the identical neighbours Pillow merged)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".gif":
        import imageio.v3 as iio

        stored = [len(frames)]

        def write_gif(tmp: Path) -> None:
            iio.imwrite(tmp, frames, extension=".gif", duration=1000.0 / fps, loop=0)
            from PIL import Image

            with Image.open(tmp) as gif:  # read the header back: what a viewer will count
                stored[0] = int(getattr(gif, "n_frames", 1))

        write_with(path, write_gif, suffix=".gif")
        return stored[0]
    elif suffix == ".mp4":
        def writer(tmp: Path) -> None:
            h, w = frames.shape[1:3]
            video = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
            if not video.isOpened():
                raise SweepExportError("this OpenCV build cannot write MP4; choose .gif")
            for f in frames:
                video.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
            video.release()

        write_with(path, writer, suffix=".mp4")
        return len(frames)
    else:
        raise SweepExportError(f"unknown animation format {suffix!r}; use .gif or .mp4")


def motion_loop(frame: np.ndarray, flow_px: np.ndarray, frames: int = FRAMES) -> np.ndarray:
    """The frame uint8 (H, W, 3) moved along t seconds of ``flow_px`` (2, H, W) (frame pixels per
    second), t out to one second and back (``loop_positions``): (frames, H, W, 3) uint8, frame k
    what the Flow tab's Play shows at its step k."""
    return np.stack([move_frame(frame, flow_px * t) for t in loop_positions(frames)])


def export_sweep(path: str | Path, task: Any, ctx: Any, cache: DecodeCache, code: np.ndarray, index: int,
                 other: np.ndarray | None = None, frames: int = FRAMES, noise: np.ndarray | None = None,
                 other_noise: np.ndarray | None = None) -> tuple[int, int]:
    """Render a sweep of component ``index`` (or the interpolation to ``other``) and write it; returns
    (frames rendered, frames the file holds). ``noise`` (E,): the sample's lower-layer draws, held
    through a sweep and interpolated towards ``other_noise`` with the code (None: lower layers at
    their means)."""
    if other is not None:
        codes = interpolation_codes(code, other, frames)
        rows = None if noise is None or other_noise is None else interpolation_codes(noise, other_noise, frames)
    else:
        codes = sweep_codes(code, index, ctx.mean, ctx.std, frames)
        rows = None if noise is None else np.repeat(np.asarray(noise, np.float32)[None], len(codes), 0)
    xg = cache.decode(ctx.predictor, ctx.cond, ctx.entry.key, ctx.doc.key, codes, rows)
    cells = compose_cells(task, ctx.doc, xg, ctx.flow_scale, ctx.detail)  # (T, h, w, 3)
    return len(cells), write_animation(path, cells)


def export_motion(path: str | Path, frame: np.ndarray, flow_px: np.ndarray, frames: int = FRAMES) -> tuple[int, int]:
    """Write ``motion_loop`` (the frame (H, W, 3) moved along flow_px (2, H, W) and back) as an
    animation: (frames rendered, frames the file holds)."""
    loop = motion_loop(frame, flow_px, frames)
    return len(loop), write_animation(path, loop)

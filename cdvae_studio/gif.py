"""Export a slider sweep (or an interpolation between two codes) as an animated GIF or MP4."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np

from cdvae_core.atomic import write_with

from .render import DecodeCache, compose_cells


class SweepExportError(ValueError):
    """A sweep that cannot be written, with a one-line reason."""


def sweep_codes(code: np.ndarray, index: int, mean: np.ndarray, std: np.ndarray, frames: int = 24) -> np.ndarray:
    """Codes (frames, D): component ``index`` from mean - 2 std to mean + 2 std and back."""
    if not 0 <= index < len(code):
        raise SweepExportError(f"no code component {index}")
    half = np.linspace(-2.0, 2.0, max(2, frames // 2), dtype=np.float32)
    ks = np.concatenate([half, half[::-1][1:-1]])
    out = np.repeat(np.asarray(code, np.float32)[None], len(ks), 0)
    out[:, index] = mean[index] + ks * max(float(std[index]), 1e-3)
    return out


def interpolation_codes(a: np.ndarray, b: np.ndarray, frames: int = 24) -> np.ndarray:
    """Rows (frames, D) on the straight line from a (D,) to b (D,) and back (codes, or noise)."""
    t = np.concatenate([np.linspace(0, 1, frames // 2), np.linspace(1, 0, frames // 2)[1:-1]]).astype(np.float32)
    return (1 - t)[:, None] * np.asarray(a, np.float32)[None] + t[:, None] * np.asarray(b, np.float32)[None]


def write_animation(path: str | Path, frames: np.ndarray, fps: float = 12.0) -> None:
    """frames (T, H, W, 3) uint8 -> GIF (imageio) or MP4 (OpenCV), written atomically."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".gif":
        import imageio.v3 as iio

        write_with(path, lambda tmp: iio.imwrite(tmp, frames, extension=".gif", duration=1000.0 / fps, loop=0),
                   suffix=".gif")
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
    else:
        raise SweepExportError(f"unknown animation format {suffix!r}; use .gif or .mp4")


def export_sweep(path: str | Path, task: Any, ctx: Any, cache: DecodeCache, code: np.ndarray, index: int,
                 other: np.ndarray | None = None, frames: int = 24, noise: np.ndarray | None = None,
                 other_noise: np.ndarray | None = None) -> int:
    """Render a sweep of component ``index`` (or the interpolation to ``other``) and write it; returns
    frames. ``noise`` (E,): the sample's lower-layer draws, held through a sweep and interpolated
    towards ``other_noise`` with the code (None: lower layers at their means)."""
    if other is not None:
        codes = interpolation_codes(code, other, frames)
        rows = None if noise is None or other_noise is None else interpolation_codes(noise, other_noise, frames)
    else:
        codes = sweep_codes(code, index, ctx.mean, ctx.std, frames)
        rows = None if noise is None else np.repeat(np.asarray(noise, np.float32)[None], len(codes), 0)
    xg = cache.decode(ctx.predictor, ctx.cond, ctx.entry.key, ctx.doc.key, codes, rows)
    cells = compose_cells(task, ctx.doc, xg, ctx.flow_scale, ctx.detail)  # (T, h, w, 3)
    write_animation(path, cells)
    return len(cells)

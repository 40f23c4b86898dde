"""The clipboard: what Paste opens and how a result goes onto it.

Paste takes, in this order, files copied in a file manager (their URLs), an image (a screenshot,
a browser's "Copy image") and text naming files, one per line (a path or a file:// URL). A
pasted image becomes a PNG file in the app's data folder before it opens, so it is a photo like
any other: in the recent list, in sessions and in the sidecars of its exports.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Collection

import cv2
import numpy as np
from PySide6.QtCore import QMimeData, QUrl
from PySide6.QtGui import QImage

from cdvae_core.atomic import write_bytes_atomic

from .prefs import data_folder


def pasted_folder() -> Path:
    """Where pasted images are kept: "pasted" in the app's data folder."""
    return data_folder() / "pasted"


def results_folder() -> Path:
    """Where results opened as the photo (Samples > Use result as photo) are kept: "results" in
    the app's data folder."""
    return data_folder() / "results"


def kept_by_studio(path: str) -> bool:
    """Whether ``path`` is an image the Studio keeps itself (``pasted_folder``, ``results_folder``)."""
    return Path(path).parent in (pasted_folder(), results_folder())


def rgb_to_qimage(rgb: np.ndarray) -> QImage:
    """uint8 (H, W, 3) RGB -> a QImage owning its pixels (the array may go)."""
    rgb = np.ascontiguousarray(rgb, np.uint8)
    h, w = rgb.shape[:2]
    return QImage(rgb.data, w, h, rgb.strides[0], QImage.Format.Format_RGB888).copy()


def qimage_pixels(image: QImage) -> np.ndarray:
    """A QImage of any format -> uint8 (H, W, 4) RGBA, or (H, W, 3) RGB when every pixel is opaque
    (a screenshot has an alpha channel of 255s; saved with it, opening it would say "alpha
    composited" of a picture that has no transparency)."""
    rgba = image.convertToFormat(QImage.Format.Format_RGBA8888)
    h, w = rgba.height(), rgba.width()
    rows = np.frombuffer(rgba.constBits(), np.uint8, count=rgba.bytesPerLine() * h).reshape(h, rgba.bytesPerLine())
    pixels = rows[:, : 4 * w].reshape(h, w, 4).copy()
    return pixels[:, :, :3].copy() if np.all(pixels[:, :, 3] == 255) else pixels


def local_paths(mime: QMimeData) -> list[str]:
    """Files the clipboard names: its local URLs, else its text's lines that are a path or a
    file:// URL of an existing file or folder (all lines must be, or it is text, not files)."""
    if mime.hasUrls():
        paths = [url.toLocalFile() for url in mime.urls() if url.isLocalFile()]
        if paths:
            return paths
    if not mime.hasText():
        return []
    lines = [line.strip() for line in mime.text().splitlines() if line.strip()]
    if not lines or len(lines) > 1000:
        return []
    paths = [QUrl(line).toLocalFile() if line.startswith("file://") else str(Path(line).expanduser())
             for line in lines]
    return paths if all(p and Path(p).exists() for p in paths) else []


def free_path(folder: Path, name: str, taken: Collection[Path] = ()) -> Path:
    """``folder / name``, or with ``-2``, ``-3``... before its suffix where that file exists or is
    ``taken`` (given to a file still being written)."""
    path, n = folder / name, 1
    while path.exists() or path in taken:
        n += 1
        path = folder / f"{Path(name).stem}-{n}{Path(name).suffix}"
    return path


def pasted_path(folder: Path, taken: Collection[Path] = ()) -> Path:
    """A new file name in ``folder`` for an image pasted now: ``pasted-20261128-031502.png``
    (``-2``, ``-3``... when that second's name exists or is ``taken``: given to a paste whose
    file is still being written)."""
    return free_path(folder, time.strftime("pasted-%Y%m%d-%H%M%S") + ".png", taken)


def save_png(path: Path, pixels: np.ndarray) -> None:
    """Write uint8 RGB (H, W, 3) or RGBA (H, W, 4) as a PNG, atomically, creating its folder."""
    code = cv2.COLOR_RGBA2BGRA if pixels.shape[2] == 4 else cv2.COLOR_RGB2BGR
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(pixels, code))
    if not ok:
        raise ValueError(f"the image ({pixels.shape[1]}x{pixels.shape[0]}) could not be encoded as PNG")
    path.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(path, encoded.tobytes())

"""Dragging results out of the window: a grid sample (or the Preview's, or starred samples from
the starred list) dropped on a file manager, an editor or a chat becomes a PNG at the photo's
full resolution, the very pixels Copy puts on the clipboard.

The render starts on the worker when the drag does, and a drop target asks for the data only at
the drop: ``PictureDragData`` advertises the files (``text/uri-list``) and, for one picture, an
image (``application/x-qt-image``, which the platform offers as PNG and the other image types),
and ``retrieveData`` waits there for the render. By then it has nearly always finished: 25 ms for
a 512-pixel photo, half a second for 12 megapixels, against the second or so a drag takes. Only
a drop made while the worker still renders, or runs an animation export started before, waits;
a render that has not finished within ``WAIT_SECONDS`` gives the target nothing, and says so.

The files live in a temporary folder of this process (``drag_folder``), one sub-folder per drag
so that a file keeps its plain name, ``astronaut_sample7.png``; the folder goes at exit: a drop
target copies the file, or reads it, at the drop.
"""

from __future__ import annotations

import atexit
import itertools
import shutil
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl

# how long a drop waits for a render still running before it gives up (the GUI is held meanwhile)
WAIT_SECONDS = 10.0
URI_LIST = "text/uri-list"
QT_IMAGE = "application/x-qt-image"

_folder: Path | None = None
_drags = itertools.count(1)


def drag_folder() -> Path:
    """This process's folder of dragged results, made at the first drag and removed at exit."""
    global _folder
    if _folder is None:
        _folder = Path(tempfile.mkdtemp(prefix="cdvae-studio-drag-"))
        atexit.register(shutil.rmtree, _folder, True)
    return _folder


def drag_paths(names: list[str]) -> list[Path]:
    """The files of one drag: ``names`` in a new sub-folder of ``drag_folder`` (made by the first
    file written), a repeated name numbered ("cat_sample3-2.png": two stars of one cell)."""
    from .clipboard import free_path

    folder, paths = drag_folder() / str(next(_drags)), []
    for name in names:
        paths.append(free_path(folder, name, taken=paths))
    return paths


class DraggedPicture:
    """One dragged result as the worker renders it: the worker writes the PNG at ``path`` and
    calls ``finish`` (or ``fail``); a drop waits for that (``wait``). Plain Python, so the worker
    never touches the Qt object Qt deletes when the drag ends."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._done = threading.Event()
        self.rgb: np.ndarray | None = None  # uint8 (H, W, 3) RGB once rendered
        self.timed_out = False  # a drop asked before the render finished, and gave up

    def finish(self, rgb: np.ndarray) -> None:
        """The render's result, already written to ``path``; from any thread."""
        self.rgb = rgb
        self._done.set()

    def fail(self) -> None:
        """The render failed (the worker reports why): a drop gets nothing."""
        self._done.set()

    def done(self) -> bool:
        return self._done.is_set()

    def wait(self, seconds: float = WAIT_SECONDS) -> bool:
        """Wait up to ``seconds`` for the render -> whether there is a picture to give."""
        if not self._done.wait(seconds):
            self.timed_out = True
            return False
        return self.rgb is not None


class PictureDragData(QMimeData):
    """The data of one drag: the PNG files of ``pictures`` and, for one picture, its pixels; a
    drop target's request waits for their renders (``WAIT_SECONDS`` at most, for all of them)."""

    def __init__(self, pictures: list[DraggedPicture]) -> None:
        super().__init__()
        self.pictures = list(pictures)
        self._formats = [URI_LIST, QT_IMAGE] if len(self.pictures) == 1 else [URI_LIST]

    def timed_out(self) -> bool:
        """Whether a drop gave up waiting for one of the renders."""
        return any(p.timed_out for p in self.pictures)

    def _rendered(self) -> list[DraggedPicture]:
        # a drop asks for several formats: once one request has given up, the next do not wait again
        deadline = time.monotonic() + (0.0 if self.timed_out() else WAIT_SECONDS)
        return [p for p in self.pictures if p.wait(max(deadline - time.monotonic(), 0.0))]

    def formats(self) -> list[str]:  # noqa: D102 - Qt override
        return list(self._formats)

    def hasFormat(self, mimetype: str) -> bool:  # noqa: N802 - Qt override
        return mimetype in self._formats

    def retrieveData(self, mimetype: str, preferred_type):  # noqa: N802 - Qt override
        if mimetype not in self._formats:
            return None
        rendered = self._rendered()
        if not rendered:
            return None
        if mimetype == QT_IMAGE:
            from .clipboard import rgb_to_qimage

            return rgb_to_qimage(rendered[0].rgb)
        # a list of URLs, which Qt encodes for a caller asking for bytes (the platform's drop); bytes
        # returned from Python never became URLs for a caller asking for them (QMimeData.urls)
        return [QUrl.fromLocalFile(str(p.path)) for p in rendered]


DRAG_IMAGE_PX = 160  # the longer side of the picture under the cursor while dragging


def left_drag_moved(press: QPointF | None, event) -> bool:
    """Whether mouse move ``event``, the left button held, has gone the platform's drag distance
    from ``press`` (where the button went down on something to drag; None: on nothing)."""
    from PySide6.QtWidgets import QApplication

    return (press is not None and bool(event.buttons() & Qt.MouseButton.LeftButton)
            and (event.position() - press).manhattanLength() >= QApplication.startDragDistance())


def run_drag(source, data: PictureDragData, shown: np.ndarray | None) -> bool:
    """Drag ``data`` from widget ``source`` until the drop (Qt's nested event loop), showing
    ``shown`` (the cell's uint8 (h, w, 3) image) under the cursor -> whether a target took it."""
    from PySide6.QtCore import QPoint
    from PySide6.QtGui import QDrag, QPixmap

    from .clipboard import rgb_to_qimage

    drag = QDrag(source)
    drag.setMimeData(data)
    if shown is not None and shown.size:
        image = rgb_to_qimage(shown)
        image = image.scaled(DRAG_IMAGE_PX, DRAG_IMAGE_PX, Qt.AspectRatioMode.KeepAspectRatio,
                             Qt.TransformationMode.SmoothTransformation)
        drag.setPixmap(QPixmap.fromImage(image))
        drag.setHotSpot(QPoint(image.width() // 2, image.height() // 2))
    return drag.exec(Qt.DropAction.CopyAction) != Qt.DropAction.IgnoreAction

"""Dragging a result out of the window: a grid sample dropped on a file manager, an editor or a
chat becomes a PNG at the photo's full resolution, the very pixels Copy puts on the clipboard.

The render starts on the worker when the drag does, and a drop target asks for the data only at
the drop: ``PictureDragData`` advertises a file (``text/uri-list``) and an image
(``application/x-qt-image``, which the platform offers as PNG and the other image types), and
``retrieveData`` waits there for the render. By then it has nearly always finished: 25 ms for a
512-pixel photo, half a second for 12 megapixels, against the second or so a drag takes. Only a
drop made while the worker still renders, or runs an animation export queued before, waits; a
render that has not finished within ``WAIT_SECONDS`` gives the target nothing, and says so.

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
from pathlib import Path

import numpy as np
from PySide6.QtCore import QMimeData, QUrl

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


def drag_path(name: str) -> Path:
    """A new sub-folder of ``drag_folder`` and ``name`` in it (the sub-folder is not made yet)."""
    return drag_folder() / str(next(_drags)) / name


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

    def wait(self, seconds: float = WAIT_SECONDS) -> bool:
        """Wait up to ``seconds`` for the render -> whether there is a picture to give."""
        if not self._done.wait(seconds):
            self.timed_out = True
            return False
        return self.rgb is not None


class PictureDragData(QMimeData):
    """The data of one dragged result: the PNG file and the pixels of ``picture``, which a drop
    target's request waits for (``WAIT_SECONDS`` at most)."""

    def __init__(self, picture: DraggedPicture) -> None:
        super().__init__()
        self.picture = picture

    def formats(self) -> list[str]:  # noqa: D102 - Qt override
        return [URI_LIST, QT_IMAGE]

    def hasFormat(self, mimetype: str) -> bool:  # noqa: N802 - Qt override
        return mimetype in (URI_LIST, QT_IMAGE)

    def retrieveData(self, mimetype: str, preferred_type):  # noqa: N802 - Qt override
        if mimetype not in (URI_LIST, QT_IMAGE) or not self.picture.wait():
            return None
        if mimetype == QT_IMAGE:
            from .clipboard import rgb_to_qimage

            return rgb_to_qimage(self.picture.rgb)
        # a list of URLs, which Qt encodes for a caller asking for bytes (the platform's drop); bytes
        # returned from Python never became URLs for a caller asking for them (QMimeData.urls)
        return [QUrl.fromLocalFile(str(self.picture.path))]


DRAG_IMAGE_PX = 160  # the longer side of the picture under the cursor while dragging


def run_drag(source, data: PictureDragData, shown: np.ndarray | None) -> bool:
    """Drag ``data`` from widget ``source`` until the drop (Qt's nested event loop), showing
    ``shown`` (the cell's uint8 (h, w, 3) image) under the cursor -> whether a target took it."""
    from PySide6.QtCore import QPoint, Qt
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

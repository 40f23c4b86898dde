"""``sampleGrid``: conditional samples as full results, one reused ImageItem per cell.

Left click makes a sample current, right click (or the S key in the window) stars it for
export; hovering reports the cell so the scatter plot can light up that sample's point.
Images update with ``setImage(autoLevels=False)`` into items that live as long as the grid.
The cells keep the images' aspect ratio and pack tightly: on every resize (and when the image
shape changes) the grid picks the column count that gives the largest cells, centres the
columns and aligns the rows to the top.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QColor, QPen
from PySide6.QtWidgets import QGraphicsRectItem, QGraphicsWidget

CURRENT = QColor(0, 200, 255)
STARRED = QColor(255, 196, 0)
HOVER = QColor(255, 255, 255, 120)
MARGIN = 2  # px around the grid
SPACING = 3  # px between cells


def grid_layout(count: int, width: float, height: float, aspect: float) -> tuple[int, int]:
    """(columns, cell width in whole px) of the tightest grid of ``count`` cells of ``aspect``
    (height / width) in a width x height area: the largest cells; among equal sizes, the fewest
    empty places in the last row, then the fewest columns."""

    def rank(columns: int) -> tuple[int, int, int]:
        rows = max(1, math.ceil(count / columns))
        cell = min((width - 2 * MARGIN - (columns - 1) * SPACING) / columns,
                   (height - 2 * MARGIN - (rows - 1) * SPACING) / rows / aspect)
        return math.floor(cell), count - rows * columns, -columns

    cell, _, columns = max(rank(c) for c in range(1, max(count, 1) + 1))
    return -columns, max(1, cell)


class SampleGrid(pg.GraphicsView):
    """Signals: sampleClicked(int), starToggled(int), sampleHovered(int) (-1 when leaving)."""

    sampleClicked = Signal(int)
    starToggled = Signal(int)
    sampleHovered = Signal(int)

    def __init__(self, count: int = 16, parent=None) -> None:
        super().__init__(parent=parent)
        self.setObjectName("sampleGrid")
        self.setBackground("#1e1e1e")
        self.views: list[pg.ViewBox] = []
        self._shape: tuple[int, int] = (0, 0)
        self.columns = 0
        self._cells = QGraphicsWidget()  # no layout: _arrange places the cells
        self.setCentralItem(self._cells)
        self.items: list[pg.ImageItem] = []
        self._frames: list[QGraphicsRectItem] = []
        self._stars: list[pg.TextItem] = []
        self._badges: list[pg.TextItem] = []
        self.current = -1
        self.starred: set[int] = set()
        self._hover = -1
        for _ in range(count):
            view = pg.ViewBox(lockAspect=True, enableMouse=False, invertY=True, enableMenu=False)
            view.setParentItem(self._cells)
            item = pg.ImageItem(axisOrder="row-major")
            view.addItem(item)
            frame = QGraphicsRectItem()
            frame.setZValue(10)
            view.addItem(frame, ignoreBounds=True)
            star = pg.TextItem("★", color=STARRED, anchor=(1, 0))
            star.setZValue(11)
            star.setVisible(False)
            view.addItem(star, ignoreBounds=True)
            self.views.append(view)
            self.items.append(item)
            self._frames.append(frame)
            self._stars.append(star)
            badge = pg.TextItem("", color=(230, 230, 230), anchor=(0, 1), fill=pg.mkBrush(0, 0, 0, 140))
            badge.setZValue(11)
            view.addItem(badge, ignoreBounds=True)
            self._badges.append(badge)
        self.scene().sigMouseClicked.connect(self._clicked)
        self.scene().sigMouseMoved.connect(self._moved)
        self._arrange()

    @property
    def count(self) -> int:
        return len(self.items)

    def set_images(self, images: np.ndarray, shape: tuple[int, int] | None = None) -> None:
        """images (n, h, w, 3) uint8 with n <= count; cells beyond n are cleared.

        ``shape`` (H, W) is the cell's full size: smaller images (drag renders) are stretched
        onto it with ``setRect`` so the view never re-frames while a slider is held.
        """
        shape = shape or (images.shape[1:3] if len(images) else (0, 0))
        rect = QRectF(0, 0, shape[1], shape[0])
        for i, item in enumerate(self.items):
            if i < len(images):
                item.setImage(images[i], autoLevels=False, levels=(0, 255))
                item.setRect(rect)
            else:
                item.clear()
        if shape != self._shape:  # only re-frame the views when the image size changes
            self._shape = shape
            h, w = shape
            for view in self.views:
                view.setRange(QRectF(0, 0, w, h), padding=0.0)
            self._arrange()
            self._refresh_marks()

    def _arrange(self) -> None:
        """Cells of the images' aspect ratio, as large as fit: columns centred, rows from the top."""
        h, w = self._shape
        aspect = h / w if h > 0 and w > 0 else 1.0
        width, height = self.width(), self.height()
        self.columns, cell_w = grid_layout(len(self.views), width, height, aspect)
        cell_h = cell_w * aspect
        left = max(MARGIN, (width - self.columns * cell_w - (self.columns - 1) * SPACING) / 2)
        for i, view in enumerate(self.views):
            row, col = divmod(i, self.columns)
            view.setGeometry(QRectF(left + col * (cell_w + SPACING), MARGIN + row * (cell_h + SPACING),
                                    cell_w, cell_h))

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        if hasattr(self, "_cells"):  # GraphicsView.__init__ calls resizeEvent before the cells exist
            self._arrange()

    def set_current(self, index: int) -> None:
        self.current = index
        self._refresh_marks()

    def set_starred(self, starred: set[int]) -> None:
        self.starred = set(starred)
        self._refresh_marks()

    def set_badges(self, texts: list[str], alerts: list[bool]) -> None:
        """A short line per cell (tie drift); alerts are drawn in red. Empty lists clear them."""
        h = self._shape[0]
        for i, badge in enumerate(self._badges):
            text = texts[i] if i < len(texts) else ""
            badge.setText(text, color=(255, 90, 90) if i < len(alerts) and alerts[i] else (230, 230, 230))
            badge.setPos(0, h)
            badge.setVisible(bool(text))

    def badge_texts(self) -> list[str]:
        return [b.textItem.toPlainText() if b.isVisible() else "" for b in self._badges]

    def _refresh_marks(self) -> None:
        h, w = self._shape
        for i, (frame, star) in enumerate(zip(self._frames, self._stars)):
            frame.setRect(QRectF(0, 0, w, h))
            if i == self.current:
                pen = QPen(CURRENT, 4)
            elif i == self._hover:
                pen = QPen(HOVER, 2)
            else:
                pen = QPen(Qt.PenStyle.NoPen)
            pen.setCosmetic(True)
            frame.setPen(pen)
            star.setPos(w, 0)
            star.setVisible(i in self.starred and w > 0)

    def cell_at(self, scene_pos) -> int:
        for i, view in enumerate(self.views):
            if view.sceneBoundingRect().contains(scene_pos):
                return i
        return -1

    def _clicked(self, event) -> None:
        index = self.cell_at(event.scenePos())
        if index < 0 or self.items[index].image is None:
            return
        if event.button() == Qt.MouseButton.RightButton:
            self.starToggled.emit(index)
        elif event.button() == Qt.MouseButton.LeftButton:
            self.sampleClicked.emit(index)

    def _moved(self, scene_pos) -> None:
        index = self.cell_at(scene_pos)
        if index != self._hover:
            self._hover = index
            self._refresh_marks()
            self.sampleHovered.emit(index)

    def leaveEvent(self, event) -> None:  # noqa: N802 - Qt override
        if self._hover != -1:
            self._hover = -1
            self._refresh_marks()
            self.sampleHovered.emit(-1)
        super().leaveEvent(event)

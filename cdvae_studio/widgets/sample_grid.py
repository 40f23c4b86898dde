"""``sampleGrid``: conditional samples as full results, all cells from ONE atlas image.

Left click makes a sample current, right click (or the S key in the window) stars it for
export, and a left-button drag takes its result out of the window (``dragStarted``); hovering
reports the cell so the scatter plot can light up that sample's point. With the grid focused
(a click gives it focus), the arrow keys move the current sample through the layout and Home /
End go to the first / last (``step``): they report as a click would.

The worker composes the n cells as one tall (n h, w, 3) uint8 array (``render.compose_cells``
is vectorised over the batch, so the stack of cells is already an atlas). The grid converts it
once to the raster engine's RGB32 (one OpenCV call, no level/LUT pass, no per-cell work), wraps
it in a single ``QImage`` and one ``QGraphicsItem`` draws it: each cell is a source rectangle of
the atlas drawn onto its layout rectangle (drag renders at a third of the size are stretched the same way,
so the layout never changes while a slider is held). The selection frame, hover frame, stars and
"drift" badges are painted by the same item on top, so a new grid costs one item update instead
of n ImageItems, frames and text items.

The cells keep the images' aspect ratio and pack tightly: on every resize (and when the image
shape changes) the grid picks the column count that gives the largest cells (counting a
ragged last row against them: ``grid_layout``), centres the columns and aligns the rows to
the top.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QFontMetricsF, QImage, QPainter, QPen
from PySide6.QtWidgets import QGraphicsItem, QGraphicsWidget

from ..drag_out import left_drag_moved

CURRENT = QColor(0, 200, 255)
STARRED = QColor(255, 196, 0)
HOVER = QColor(255, 255, 255, 120)
LASSOED = QColor(255, 196, 0, 200)  # inside the scatter plot's selection rectangle
BADGE_TEXT = QColor(230, 230, 230)
BADGE_ALERT = QColor(255, 90, 90)
BADGE_FILL = QColor(0, 0, 0, 140)
TEXT_MARGIN = 4.0  # px around mark text (as QGraphicsTextItem's document margin)
MARGIN = 2  # px around the grid
SPACING = 3  # px between cells


# A ragged last row costs: each layout's cells are ranked as if they were smaller by this share
# times its last row's empty share. 16 landscape cells in 3 columns leave the 16th alone on a
# sixth row (2 of 3 places empty: ranked 20% smaller), so 4 x 4 wins while its cells are less
# than 20% smaller; 6 columns with 4 in the last row (1/3 empty) must beat a full layout by 10%;
# equal cells always go to the fuller row. In the default window (grid 740 x 887 px) the cat
# photo's cells are 217 px in 3 x 6 against 181 px (17% smaller) in 4 x 4: 4 x 4, the case the
# user test reported (a flat "within 10%" kept 3 x 6 there). Beyond that the lost size shows
# more than the ragged row: 164 against 210 px (22% smaller) stays 3 x 6.
RAGGED_ROW_COST = 0.3


def grid_layout(count: int, width: float, height: float, aspect: float) -> tuple[int, int]:
    """(columns, cell width in whole px) of the grid of ``count`` cells of ``aspect`` (height /
    width) for a width x height area: the largest cells, each layout's size discounted by
    ``RAGGED_ROW_COST`` times the empty share of its last row; then the fewest empty places, then
    the fewest columns."""

    def rank(columns: int) -> tuple[float, int, int, int]:
        rows = max(1, math.ceil(count / columns))
        cell = math.floor(min((width - 2 * MARGIN - (columns - 1) * SPACING) / columns,
                              (height - 2 * MARGIN - (rows - 1) * SPACING) / rows / aspect))
        empty = rows * columns - count
        return cell * (1 - RAGGED_ROW_COST * empty / columns) if cell > 0 else cell, -empty, -columns, cell

    *_, columns, cell = max(rank(c) for c in range(1, max(count, 1) + 1))
    return -columns, max(1, cell)


# key code (QKeyEvent.key(), an int) -> how it moves the current cell (``step``)
STEP_KEYS = {key.value: move for key, move in (
    (Qt.Key.Key_Left, "left"), (Qt.Key.Key_Right, "right"), (Qt.Key.Key_Up, "up"), (Qt.Key.Key_Down, "down"),
    (Qt.Key.Key_Home, "first"), (Qt.Key.Key_End, "last"))}


def step(index: int, move: str, columns: int, count: int) -> int:
    """The cell the keyboard moves to from ``index`` in a grid of ``count`` cells in ``columns``
    columns (row by row): left / right through the reading order (across row ends), up / down
    a row (staying put at the edge, or where the ragged last row has no cell below), first, last.
    From no current cell (-1), every move goes to the first."""
    if count <= 0:
        return -1
    if not 0 <= index < count:
        return 0
    target = {"left": index - 1, "right": index + 1, "up": index - columns, "down": index + columns,
              "first": 0, "last": count - 1}[move]
    return target if 0 <= target < count else index


class _AtlasItem(QGraphicsItem):
    """Draws the atlas' cells onto their layout rectangles, then the marks (frames, stars, badges)."""

    def __init__(self, grid: "SampleGrid") -> None:
        super().__init__()
        self.grid = grid
        self.bounds = QRectF()
        self.qimage: QImage | None = None
        self.sources: list[QRectF] = []  # one source rectangle per shown cell (atlas pixels)

    def boundingRect(self) -> QRectF:  # noqa: N802 - Qt override
        return self.bounds

    def paint(self, painter: QPainter, option, widget=None) -> None:  # noqa: ARG002 - Qt override
        g = self.grid
        rects = g.rects
        if self.qimage is not None:
            image = self.qimage
            for target, source in zip(rects, self.sources):
                painter.drawImage(target, image, source)
        if g._shape[1] <= 0:
            return
        if g.starred or any(g._badge_texts):
            self._paint_text(painter, rects)
        if g.lassoed:
            pen = QPen(LASSOED, 2, Qt.PenStyle.DashLine)
            pen.setCosmetic(True)
            painter.save()
            painter.setPen(pen)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            for i in g.lassoed:
                if 0 <= i < len(rects) and i != g.current:
                    painter.drawRect(rects[i].adjusted(3, 3, -3, -3))
            painter.restore()
        for index, colour, width in ((g.current, CURRENT, 4), (g._hover, HOVER, 2)):  # frames on top
            if 0 <= index < len(rects) and (width == 4 or index != g.current):
                pen = QPen(colour, width)
                pen.setCosmetic(True)
                painter.save()
                painter.setClipRect(rects[index])  # as the old per-cell ViewBox clipped its frame
                painter.setPen(pen)
                painter.setBrush(Qt.BrushStyle.NoBrush)
                painter.drawRect(rects[index])
                painter.restore()

    def _paint_text(self, painter: QPainter, rects: list[QRectF]) -> None:
        """Stars (top right) and badges (bottom left, on a dark box)."""
        g = self.grid
        painter.save()
        metrics = QFontMetricsF(painter.font())
        line = metrics.height()
        if g.starred:
            star_w = metrics.horizontalAdvance("★")
            painter.setPen(STARRED)
            for i in g.starred:
                if 0 <= i < len(rects):
                    r = rects[i]
                    painter.drawText(QPointF(r.right() - TEXT_MARGIN - star_w, r.top() + TEXT_MARGIN + metrics.ascent()),
                                     "★")
        for i, full in enumerate(g._badge_texts[: len(rects)]):
            r = rects[i]
            text = fitting_badge(full, r.width(), metrics.horizontalAdvance, r.height(), line)
            if text:
                box = QRectF(r.left(), r.bottom() - line - 2 * TEXT_MARGIN,
                             metrics.horizontalAdvance(text) + 2 * TEXT_MARGIN, line + 2 * TEXT_MARGIN)
                painter.save()
                painter.setClipRect(r)
                painter.fillRect(box, BADGE_FILL)
                painter.setPen(BADGE_ALERT if g._badge_alerts[i] else BADGE_TEXT)
                painter.drawText(QPointF(box.left() + TEXT_MARGIN, box.top() + TEXT_MARGIN + metrics.ascent()), text)
                painter.restore()
        painter.restore()


def fitting_badge(text: str, room: float, width_of, height: float = math.inf, line: float = 0.0) -> str:
    """The longest form of a badge that fits ``room`` px (``width_of(text)`` measures): whole, then
    without the word "drift", then one of its " · " parts alone (the drift first: it can be an
    alert); "" where none fits, or where the cell's ``height`` is under one ``line`` of text (a
    4000x16 panorama's cells showed badges cut to a stripe). Small cells cut the badge at their
    edge, and "drift 1.2σ" read "drift 1", a number it is not."""
    if height < line + 2 * TEXT_MARGIN:
        return ""
    parts = text.split(" · ")
    short = [part.replace("drift ", "") for part in parts]
    for candidate in (text, " · ".join(short), *reversed(short)):
        if candidate and width_of(candidate) + 2 * TEXT_MARGIN <= room:
            return candidate
    return ""


class SampleGrid(pg.GraphicsView):
    """Signals: sampleClicked(int), starToggled(int), sampleHovered(int) (-1 when leaving),
    dragStarted(int) (the left button pressed on a cell and moved the platform's drag distance:
    the window drags that sample's result out, cdvae_studio.drag_out)."""

    sampleClicked = Signal(int)
    starToggled = Signal(int)
    sampleHovered = Signal(int)
    dragStarted = Signal(int)

    def __init__(self, count: int = 16, parent=None) -> None:
        super().__init__(parent=parent)
        self.setObjectName("sampleGrid")
        self.setBackground("#1e1e1e")
        self._count = count
        self._shape: tuple[int, int] = (0, 0)  # (H, W) of a cell at full size
        self.columns = 0
        self.rects: list[QRectF] = []  # layout rectangle of each cell, scene coordinates
        self._cells = QGraphicsWidget()  # no layout: _arrange places the cells
        self.setCentralItem(self._cells)
        self.atlas = np.zeros((0, 0, 3), np.uint8)  # (n h, w, 3): the shown cells stacked vertically
        self._bgra = np.zeros((0, 0, 4), np.uint8)  # the same as the QImage's RGB32 buffer
        self._n = 0  # cells shown (<= count)
        self._item = _AtlasItem(self)
        self.scene().addItem(self._item)
        self.current = -1
        self.starred: set[int] = set()
        self.lassoed: set[int] = set()  # samples inside the scatter's selection
        self._hover = -1
        self._badge_texts: list[str] = [""] * count
        self._badge_alerts: list[bool] = [False] * count
        self._press: tuple[QPointF, int] | None = None  # where the left button went down, and on which cell
        self.scene().sigMouseClicked.connect(self._clicked)
        self.scene().sigMouseMoved.connect(self._moved)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)  # a click, or Tab, lets the arrow keys in
        self._arrange()

    @property
    def count(self) -> int:
        return self._count

    def set_images(self, images: np.ndarray, shape: tuple[int, int] | None = None) -> None:
        """images (n, h, w, 3) uint8 with n <= count; cells beyond n are cleared.

        ``shape`` (H, W) is the cell's full size: smaller images (drag renders) are stretched
        onto it so the layout never changes while a slider is held.
        """
        n = min(len(images), self._count)
        shape = tuple(shape) if shape is not None else (tuple(images.shape[1:3]) if n else (0, 0))
        item = self._item
        if n:
            h, w = images.shape[1:3]
            atlas = np.ascontiguousarray(images[:n], np.uint8).reshape(n * h, w, 3)  # a view when contiguous
            self.atlas = atlas
            # the raster engine's own pixel format (0xffRRGGBB, BGRA bytes): drawing it scaled is a
            # plain fetch, where RGB888 costs a per-pixel conversion (4x the repaint, measured)
            self._bgra = cv2.cvtColor(atlas, cv2.COLOR_RGB2BGRA)
            item.qimage = QImage(self._bgra.data, w, n * h, self._bgra.strides[0], QImage.Format.Format_RGB32)
            if n != self._n or not item.sources or item.sources[0].height() != h or item.sources[0].width() != w:
                item.sources = [QRectF(0, i * h, w, h) for i in range(n)]
        else:
            self.atlas = np.zeros((0, 0, 3), np.uint8)
            self._bgra = np.zeros((0, 0, 4), np.uint8)
            item.qimage = None
            item.sources = []
        self._n = n
        if shape != self._shape:  # only re-lay out the cells when the image size changes
            self._shape = shape  # type: ignore[assignment]
            self._arrange()
        item.update()

    def cell_image(self, index: int) -> np.ndarray | None:
        """The (h, w, 3) uint8 image shown in cell ``index`` (a view into the atlas), or None."""
        if not 0 <= index < self._n:
            return None
        h = self.atlas.shape[0] // self._n
        return self.atlas[index * h:(index + 1) * h]

    def cell_images(self) -> np.ndarray:
        """All shown cells (n, h, w, 3), a view into the atlas."""
        if not self._n:
            return np.zeros((0, 0, 0, 3), np.uint8)
        return self.atlas.reshape(self._n, -1, *self.atlas.shape[1:])

    def cell_rect(self, index: int) -> QRectF:
        """Cell ``index``'s rectangle in scene coordinates."""
        return QRectF(self.rects[index])

    def _arrange(self) -> None:
        """Cells of the images' aspect ratio, as large as fit: columns centred, rows from the top."""
        h, w = self._shape
        aspect = h / w if h > 0 and w > 0 else 1.0
        width, height = self.width(), self.height()
        self.columns, cell_w = grid_layout(self._count, width, height, aspect)
        cell_h = cell_w * aspect
        left = max(MARGIN, (width - self.columns * cell_w - (self.columns - 1) * SPACING) / 2)
        origin = self._cells.scenePos()
        self.rects = [QRectF(origin.x() + left + col * (cell_w + SPACING), origin.y() + MARGIN + row * (cell_h + SPACING),
                             cell_w, cell_h)
                      for row, col in (divmod(i, self.columns) for i in range(self._count))]
        item = self._item
        item.prepareGeometryChange()
        item.bounds = QRectF(origin.x(), origin.y(), max(width, 1), max(height, 1)).united(
            self.rects[-1].adjusted(-4, -4, 4, 4) if self.rects else QRectF())
        item.update()

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        if hasattr(self, "_item"):  # GraphicsView.__init__ calls resizeEvent before the cells exist
            self._arrange()

    def set_current(self, index: int) -> None:
        if index != self.current:
            self.current = index
            self._item.update()

    def set_starred(self, starred: set[int]) -> None:
        starred = set(starred)
        if starred != self.starred:
            self.starred = starred
            self._item.update()

    def set_lassoed(self, indices: set[int]) -> None:
        """Frame (dashed) the samples whose codes lie inside the scatter plot's selection."""
        indices = set(int(i) for i in indices)
        if indices != self.lassoed:
            self.lassoed = indices
            self._item.update()

    def set_badges(self, texts: list[str], alerts: list[bool]) -> None:
        """A short line per cell (tie drift); alerts are drawn in red. Empty lists clear them."""
        new_texts = [texts[i] if i < len(texts) else "" for i in range(self._count)]
        new_alerts = [bool(i < len(alerts) and alerts[i]) for i in range(self._count)]
        if new_texts != self._badge_texts or new_alerts != self._badge_alerts:
            self._badge_texts, self._badge_alerts = new_texts, new_alerts
            self._item.update()

    def badge_texts(self) -> list[str]:
        return list(self._badge_texts)

    def cell_at(self, scene_pos) -> int:
        for i, rect in enumerate(self.rects):
            if rect.contains(scene_pos):
                return i
        return -1

    def _clicked(self, event) -> None:
        index = self.cell_at(event.scenePos())
        if index < 0 or index >= self._n:
            return
        if event.button() == Qt.MouseButton.RightButton:
            self.starToggled.emit(index)
        elif event.button() == Qt.MouseButton.LeftButton:
            self.sampleClicked.emit(index)

    def mousePressEvent(self, event) -> None:  # noqa: N802 - Qt override
        self._press = None
        if event.buttons() == event.button():
            # no other button is down: a press pyqtgraph's scene still keeps lost its release (to a
            # popup, a window switch) and would be sent as this click, on its own cell: a right
            # click starred or unstarred the cell clicked before
            self.scene().clickEvents.clear()
        if event.button() == Qt.MouseButton.LeftButton:
            self._press = (event.position(), self.cell_at(self.mapToScene(event.position().toPoint())))
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event) -> None:  # noqa: N802 - Qt override
        press = self._press
        if press is not None and 0 <= press[1] < self._n and left_drag_moved(press[0], event):
            self._press = None
            # pyqtgraph's scene keeps the press to turn its release into a click (or a drag of its
            # own); the drag's event loop eats the release, and the next click's release would
            # then report this press's cell, or nothing
            self.scene().clickEvents.clear()
            self.scene().dragButtons.clear()
            self.dragStarted.emit(press[1])
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event) -> None:  # noqa: N802 - Qt override
        self._press = None
        super().mouseReleaseEvent(event)

    def keyPressEvent(self, event) -> None:  # noqa: N802 - Qt override
        move = STEP_KEYS.get(int(event.key()))  # not Qt.Key(...): it raises on codes outside the enum
        if move is None or event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier:
            super().keyPressEvent(event)
            return
        target = step(self.current, move, self.columns, self._n)
        if target >= 0 and target != self.current:
            self.sampleClicked.emit(target)
        event.accept()

    def _moved(self, scene_pos) -> None:
        index = self.cell_at(scene_pos)
        if index != self._hover:
            self._hover = index
            self._item.update()
            self.sampleHovered.emit(index)

    def leaveEvent(self, event) -> None:  # noqa: N802 - Qt override
        if self._hover != -1:
            self._hover = -1
            self._item.update()
            self.sampleHovered.emit(-1)
        super().leaveEvent(event)

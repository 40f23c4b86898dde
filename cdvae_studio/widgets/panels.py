"""Small display panels: the message banner, an image pane, the image panel (photo, x_c layer,
a video's time bar, gallery, recent), the starred tray, and the ground-truth view (split or flicker against the truth)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QPoint, QPointF, QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QIcon, QPainter, QPalette, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QSlider,
    QStyle,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from cdvae_core.messages import one_line_text

from ..drag_out import left_drag_moved
from ..thumbnails import ThumbnailCache
from .combos import ElidingComboBox
from .lpp_scatter import icon_pixmap
from .video_time import VideoTimeBar

GALLERY_CELL = (64, 78)  # px: a 56 px thumbnail and one line of its name


class ElidingLabel(QLabel):
    """A one-line label that, given less width than its text, draws it cut with an ellipsis
    ("…D=16, ti" read as a broken word in an 800-px window's status bar); ``text()`` stays whole."""

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt override
        hint = super().minimumSizeHint()
        return QSize(min(hint.width(), self.fontMetrics().horizontalAdvance("…") * 4), hint.height())

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt override
        painter = QPainter(self)
        painter.setPen(self.palette().color(self.foregroundRole()))
        painter.drawText(self.contentsRect(), int(self.alignment() | Qt.AlignmentFlag.AlignVCenter), self.shown_text())

    def shown_text(self) -> str:
        """The text as drawn at the label's width."""
        return self.fontMetrics().elidedText(self.text(), Qt.TextElideMode.ElideRight, self.contentsRect().width())


class MessageBanner(QLabel):
    """The red lines above the grid that say what went wrong: one message per subject ("image",
    "model", "session"; "" for anything else), so that a bad model named on the command line
    and the start-up photo's fallback both stay up. A success takes down the message about its
    own subject and the one about nothing in particular; a click dismisses them all."""

    def __init__(self) -> None:
        super().__init__("")
        self.setObjectName("messageBanner")
        self.setTextFormat(Qt.TextFormat.PlainText)  # a file named "<b>x</b>.png" is not markup
        self.setWordWrap(True)
        self.setStyleSheet("QLabel { background: #5a1d1d; color: #ffd7d7; padding: 4px; }")
        self.setToolTip("Click to dismiss")
        self.messages: dict[str, str] = {}  # subject -> its latest message, oldest subject first
        self.setVisible(False)

    def show_message(self, text: str, about: str = "") -> None:
        self.messages.pop(about, None)  # the newest message last
        self.messages[about] = one_line_text(text)  # a newline in a file name split its subject's line
        self._show()

    def clear(self, about: str | None = None) -> None:
        """Take down the message about ``about`` and the one about nothing; None: all of them."""
        if about is None:
            self.messages.clear()
        else:
            self.messages.pop(about, None)
            self.messages.pop("", None)
        self._show()

    def _show(self) -> None:
        self.setText("\n".join(self.messages.values()))
        self.setVisible(bool(self.messages))

    def mousePressEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        self.clear()
        event.accept()


class ModelCombo(ElidingComboBox):
    """A combo for long model labels ("Gauss (trained here · motion-1712345678)") in a toolbar:
    a fixed width (the toolbar never moves when the models change), the current label elided in
    the middle (the kind and the folder name both stay readable, where Qt cut the folder), the
    full label as the tooltip, and a popup as wide as its longest label."""

    ELIDE = Qt.TextElideMode.ElideMiddle

    def __init__(self, chars: int = 30, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        # the width follows a count of characters, not the items: AdjustToContents would resize
        # (and shift every widget after it) whenever the list of models changes
        self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.setMinimumContentsLength(chars)
        self.view().setTextElideMode(Qt.TextElideMode.ElideMiddle)  # only if the screen is narrower

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt override
        # for this size policy Qt computes both hints from the contents length, but it keeps the
        # minimum cached from the first length: setMinimumContentsLength could not narrow the combo
        return self.sizeHint()

    def popup_width(self) -> int:
        """The popup's width: the longest label, the frame and a scroll bar, within the screen."""
        metrics = self.view().fontMetrics()
        text = max((metrics.horizontalAdvance(self.itemText(i)) for i in range(self.count())), default=0)
        extra = 2 * self.view().frameWidth() + self.style().pixelMetric(QStyle.PixelMetric.PM_ScrollBarExtent) + 24
        screen = self.screen().availableGeometry().width() if self.screen() else 10_000
        return max(self.width(), min(text + extra, screen - 20))

    def showPopup(self) -> None:  # noqa: N802 - Qt override
        for i in range(self.count()):  # each label in full on hover, for a screen too narrow for it
            self.setItemData(i, self.itemText(i), Qt.ItemDataRole.ToolTipRole)
        self.view().setMinimumWidth(self.popup_width())
        super().showPopup()


class ImagePane(pg.GraphicsLayoutWidget):
    """One RGB uint8 image, aspect locked, updated in place with setImage(autoLevels=False)."""

    def __init__(self, parent: QWidget | None = None, background: str = "#1e1e1e") -> None:
        super().__init__(parent=parent)
        self.setBackground(background)
        self.view = self.addViewBox(lockAspect=True, enableMouse=False)
        self.view.invertY(True)
        self.view.setMenuEnabled(False)
        self.item = pg.ImageItem(axisOrder="row-major")
        self.view.addItem(self.item)
        self._shape: tuple[int, int] = (0, 0)

    def set_image(self, rgb: np.ndarray | None) -> None:
        if rgb is None:
            self.item.clear()
            return
        self.item.setImage(rgb, autoLevels=False, levels=(0, 255))
        if rgb.shape[:2] != self._shape:
            self._shape = rgb.shape[:2]
            self.view.setRange(QRectF(0, 0, rgb.shape[1], rgb.shape[0]), padding=0.0)

    def image(self) -> np.ndarray | None:
        return self.item.image


class SpreadPane(ImagePane):
    """The per-pixel spread map (``render.heat_rgb`` of ``render.spread_map``: inferno, 0 to the
    grid's largest spread) with its colour bar in x_g units: it had no scale, and only the status
    line gave the largest value."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bar = pg.ColorBarItem(values=(0.0, 1.0), colorMap=pg.colormap.get("inferno"), interactive=False,
                                   width=12, rounding=1e-6, label="std of x_g over the samples")
        self.addItem(self.bar)  # a column of its own, right of the map

    def set_spread(self, rgb: np.ndarray, largest: float) -> None:
        """The heat map uint8 (H, W, 3) and the spread its brightest colour stands for."""
        self.set_image(rgb)
        self.bar.setLevels((0.0, max(float(largest), 1e-6)))

    def levels(self) -> tuple[float, float]:
        return tuple(float(v) for v in self.bar.levels())


class ComparePane(ImagePane):
    """The Preview: the current result; held down with the left button, the photo it was made
    from, in its place (before / after without moving the eyes to the Photo pane, which is
    smaller and far away). ``image()`` is always the result. Pressed and moved the platform's
    drag distance, it emits ``dragStarted`` (the window drags the result out, drag_out.py) and
    shows the result again."""

    HINT = "Press and hold to see the photo itself in place of the result; drag the result out into another app"
    dragStarted = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._result: np.ndarray | None = None
        self._photo: np.ndarray | None = None
        self.comparing = False  # the photo is shown while the button is down
        self._press: QPointF | None = None  # where the left button went down on a result
        self.setToolTip(self.HINT)
        self.label = pg.TextItem("photo", color="w", fill=pg.mkBrush(0, 0, 0, 160), anchor=(0, 0))
        self.label.setZValue(10)
        self.label.hide()
        self.view.addItem(self.label, ignoreBounds=True)

    def set_image(self, rgb: np.ndarray | None) -> None:
        self._result = rgb
        if not self.comparing:
            super().set_image(rgb)

    def set_photo(self, rgb: np.ndarray | None) -> None:
        """The photo the results are made from (H, W, 3) uint8, at the preview's size."""
        self._photo = rgb
        if self.comparing:
            self._show(True)

    def image(self) -> np.ndarray | None:
        return self._result

    def _show(self, photo: bool) -> None:
        shown = self._photo if photo and self._photo is not None else self._result
        super().set_image(shown)
        self.label.setVisible(photo and self._photo is not None)

    def _stop_comparing(self) -> None:
        if self.comparing:
            self.comparing = False
            self._show(False)

    def mousePressEvent(self, event) -> None:  # noqa: N802 - Qt override
        self._press = None
        if event.button() == Qt.MouseButton.LeftButton and self._result is not None:
            self._press = event.position()
            if self._photo is not None:
                self.comparing = True
                self._show(True)
        event.accept()

    def mouseMoveEvent(self, event) -> None:  # noqa: N802 - Qt override
        if left_drag_moved(self._press, event):
            self._press = None
            self._stop_comparing()  # the drag carries the result, and shows it under the pointer
            self.dragStarted.emit()
            event.accept()
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event) -> None:  # noqa: N802 - Qt override
        if event.button() == Qt.MouseButton.LeftButton:
            self._press = None
            self._stop_comparing()
        event.accept()


class ImagePanel(QWidget):
    """The current photo and its x_c layer, plus a gallery of built-in photos and recent files.

    Signals: openRequested(str path) when a gallery or recent entry is activated;
    forgetRequested(list of paths) when recent entries are to leave the gallery (its context
    menu, Delete); showRequested(str path) for "Show in folder".
    """

    openRequested = Signal(str)
    forgetRequested = Signal(list)
    showRequested = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.tabs = QTabWidget()
        self.photo = ImagePane()
        self.layer = ImagePane()
        self.tabs.addTab(self.photo, "Photo")
        self.tabs.addTab(self.layer, "Layer xc")
        self.caption = QLabel("No image")
        self.caption.setWordWrap(True)
        self.timeBar = VideoTimeBar()
        self._current: str | None = None  # the gallery entry of the file shown
        self._thumbless: list[str] = []  # entries showing the generic icon until set_thumbnail
        self.gallery = QListWidget()
        self.gallery.setObjectName("gallery")
        self.gallery.setViewMode(QListWidget.ViewMode.IconMode)
        self.gallery.setIconSize(QSize(56, 56))
        self.gallery.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.gallery.setMovement(QListWidget.Movement.Static)
        # one cell size for every entry: recent files (no thumbnail) used to get cells as wide as
        # their names, packed with no spacing, so names ran into each other and into the photos
        self.gallery.setGridSize(QSize(GALLERY_CELL[0], GALLERY_CELL[1]))
        self.gallery.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        # two whole rows at most: a taller list scrolled per pixel showed a sliver of the row
        # above (names without their pictures) and could cut the name of the entry shown
        self.gallery.setMaximumHeight(2 * GALLERY_CELL[1] + 2 * self.gallery.frameWidth())
        self.gallery.itemActivated.connect(self._activated)
        self.gallery.itemClicked.connect(self._activated)
        self.gallery.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.gallery.customContextMenuRequested.connect(self._gallery_menu)
        self.gallery.installEventFilter(self)  # Delete / Backspace forgets the selected recent file
        self.builtin: set[str] = set()  # paths of the built-in photos: they stay in the gallery
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.tabs, 3)
        layout.addWidget(self.timeBar)
        layout.addWidget(self.caption)
        gallery_label = QLabel("Gallery")
        gallery_label.setToolTip("The built-in photos and the ones opened lately")
        layout.addWidget(gallery_label)
        layout.addWidget(self.gallery, 1)

    def mark_current(self, path: str | None) -> None:
        """Select the gallery entry of the file shown (a video's frame: the video's), or none: arrow
        keys in the gallery, or another way in (a drop, the scatter plot), left another entry lit."""
        self._current = path
        self.gallery.clearSelection()
        for row in range(self.gallery.count()):
            if path is not None and self.gallery.item(row).data(Qt.ItemDataRole.UserRole) == path:
                self.gallery.setCurrentRow(row)  # no itemClicked / itemActivated: nothing reopens
                self._scroll_to_whole_row(self.gallery.item(row))
                return

    def _scroll_to_whole_row(self, item: QListWidgetItem) -> None:
        """Scroll the gallery so that ``item``'s row shows whole and the view starts at a row's
        top edge: Qt scrolls an icon view just far enough to show the item's own rectangle, which
        is shorter than its grid cell, so the view stopped a few pixels into a row."""
        bar = self.gallery.verticalScrollBar()
        cell = GALLERY_CELL[1]
        row_top = (self.gallery.visualItemRect(item).top() + bar.value()) // cell * cell
        rows = max(1, self.gallery.viewport().height() // cell)
        if row_top < bar.value():
            bar.setValue(row_top)
        elif row_top + cell > bar.value() + self.gallery.viewport().height():
            bar.setValue(row_top - (rows - 1) * cell)

    def set_gallery(self, entries: list[tuple[str, str, np.ndarray | None]], keep_scroll: bool = False) -> None:
        """entries: (label, path, thumbnail RGB uint8 or None: a generic icon until
        ``set_thumbnail``, as reading the file here would block). The entry of the file shown is
        lit and scrolled to, unless ``keep_scroll`` (an entry removed: its neighbours stay in view)."""
        scrolled = self.gallery.verticalScrollBar().value()
        self.gallery.clear()
        self._thumbless = []
        for label, path, thumb in entries:
            item = QListWidgetItem(label)
            item.setData(Qt.ItemDataRole.UserRole, path)
            item.setToolTip(path)
            if thumb is not None:
                item.setIcon(QIcon(icon_pixmap(thumb, 56)))
            else:
                item.setIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_FileIcon))
                self._thumbless.append(path)
            self.gallery.addItem(item)
        self.mark_current(self._current)
        if keep_scroll:
            self.gallery.verticalScrollBar().setValue(scrolled)

    def wanting_thumbnails(self) -> list[str]:
        """Paths of the entries still showing the generic icon, in gallery order."""
        return list(self._thumbless)

    def set_thumbnail(self, path: str, thumb: np.ndarray | None, problem: str = "") -> None:
        """Give ``path``'s entry its thumbnail (RGB uint8), or keep the generic icon and say in its
        tooltip why the file cannot be read."""
        if path not in self._thumbless:
            return  # the gallery was refilled meanwhile without it
        self._thumbless.remove(path)
        for row in range(self.gallery.count()):
            item = self.gallery.item(row)
            if item.data(Qt.ItemDataRole.UserRole) == path:
                if thumb is not None:
                    item.setIcon(QIcon(icon_pixmap(thumb, 56)))
                else:
                    item.setToolTip(f"{path}\n{problem}")

    def _recent_selected(self) -> list[str]:
        """The selected entries that are recent files (the built-in photos cannot be forgotten)."""
        paths = [item.data(Qt.ItemDataRole.UserRole) for item in self.gallery.selectedItems()]
        return [p for p in paths if p not in self.builtin]

    def _gallery_menu(self, pos) -> None:
        item = self.gallery.itemAt(pos)
        if item is None:
            return
        self.gallery.setCurrentItem(item)  # without itemClicked: the menu opens nothing
        path = item.data(Qt.ItemDataRole.UserRole)
        menu = QMenu(self)
        menu.addAction("Show in folder", lambda: self.showRequested.emit(path))
        forget = menu.addAction("Remove from the gallery", lambda: self.forgetRequested.emit([path]))
        forget.setEnabled(path not in self.builtin)
        if path in self.builtin:
            forget.setToolTip("A built-in photo stays in the gallery")
        menu.popup(self.gallery.viewport().mapToGlobal(pos))

    def _keep_current_in_view(self) -> None:
        """After a resize: the entry shown in view again. The columns change with the width, so
        its row moves, and a window made smaller left it scrolled out of the gallery."""
        item = self.gallery.currentItem()
        if item is not None and item.isSelected():
            self.gallery.doItemsLayout()  # Qt lays the icons out again later: the rows as they will be
            self._scroll_to_whole_row(item)

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 - Qt override
        if watched is self.gallery and event.type() == QEvent.Type.Resize:
            QTimer.singleShot(0, self, self._keep_current_in_view)
        if watched is self.gallery and event.type() == QEvent.Type.KeyPress \
                and event.key() in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace) and self._recent_selected():
            self.forgetRequested.emit(self._recent_selected())
            return True
        return super().eventFilter(watched, event)

    def _activated(self, item: QListWidgetItem) -> None:
        path = item.data(Qt.ItemDataRole.UserRole)
        # the entry of the file shown is shown already: clicking a video's reopened it at 0 s,
        # dropping the frame chosen on its Time bar
        if path and path != self._current:
            self.openRequested.emit(str(path))


def time_badge(pixmap: QPixmap, text: str) -> None:
    """Paint ``text`` on a dark rounded box in the pixmap's bottom-right corner."""
    painter = QPainter(pixmap)
    font = painter.font()
    font.setPixelSize(10)
    painter.setFont(font)
    box = painter.fontMetrics().boundingRect(text).adjusted(-3, -1, 3, 1)
    box.moveBottomRight(pixmap.rect().bottomRight() - QPoint(1, 1))
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(QColor(0, 0, 0, 190))
    painter.drawRoundedRect(box, 3, 3)
    painter.setPen(QColor("white"))
    painter.drawText(box, Qt.AlignmentFlag.AlignCenter, text)
    painter.end()


class StarTray(QListWidget):
    """Starred samples collected for export; each item keeps its tray key in UserRole.

    Signals: removeRequested(int key): unstar (Delete, or right-click > Remove star). A star
    whose sample has left the grid (resampled, another image or model) can only go from here.
    showRequested(int key): show it again (double-click, Enter, or right-click > Show it again).
    dragRequested(list of keys): the selected stars dragged out of the list (the window drags
    their results out as files, drag_out.py).
    """

    removeRequested = Signal(int)
    showRequested = Signal(int)
    dragRequested = Signal(list)
    CELL = QSize(76, 86)  # a 64 px thumbnail and its label
    EMPTY_TEXT = "Right-click a sample, or press S, to star it"

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("starTray")
        self.setViewMode(QListWidget.ViewMode.IconMode)
        self.setIconSize(QSize(64, 64))
        self.setGridSize(self.CELL)
        self.setTextElideMode(Qt.TextElideMode.ElideMiddle)  # keep the "#index" end of "photo.png #4"
        self.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.setMovement(QListWidget.Movement.Static)
        self.setSelectionMode(QListWidget.SelectionMode.ExtendedSelection)
        # one whole row: squeezed by the photo panel it showed 70 px, the labels cut off
        self.setMinimumHeight(self.CELL.height() + 2 * self.frameWidth() + 6)
        self.setMaximumHeight(2 * self.CELL.height())
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.customContextMenuRequested.connect(self._menu)
        self.itemActivated.connect(lambda item: self.showRequested.emit(int(item.data(Qt.ItemDataRole.UserRole))))
        self.setDragEnabled(True)
        self.setDragDropMode(QListWidget.DragDropMode.DragOnly)
        self.setToolTip("Starred samples (right-click a grid cell or press S); exported by Ctrl+E, or dragged out "
                        "into a folder or another app. Double-click (or Enter) shows one again; Delete or "
                        "right-click here removes a star")

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().paintEvent(event)
        if self.count() == 0:  # how to star, where the stars will be
            painter = QPainter(self.viewport())
            painter.setPen(self.palette().color(QPalette.ColorRole.PlaceholderText))
            painter.drawText(self.viewport().rect().adjusted(6, 6, -6, -6),
                             int(Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap), self.EMPTY_TEXT)

    def add(self, key: int, name: str, number: int, thumb: np.ndarray, frame_time: str = "") -> None:
        """A star "stem #number" (the photo's name without its extension, as the gallery names
        it: in the 76-px cell "astronaut.png #6" read "astr…g #6"; the grid cell, from 1); a video
        frame's time ("1.6 s") is a badge on its thumbnail, as video players show it: in the label,
        "pan.avi @ 1.6 s #3", the cell's elision left "pan…#3" for the stars of every frame of the
        video. The tooltip has it all, the whole name too."""
        item = QListWidgetItem(f"{Path(name).stem or name} #{number}")
        item.setData(Qt.ItemDataRole.UserRole, key)
        item.setToolTip(f"{name} @ {frame_time} #{number}" if frame_time else f"{name} #{number}")
        item.setIcon(QIcon(icon_pixmap(thumb, 64, (lambda picture: time_badge(picture, frame_time)) if frame_time
                                       else None)))
        self.addItem(item)

    def remove(self, key: int) -> None:
        for row in range(self.count()):
            if self.item(row).data(Qt.ItemDataRole.UserRole) == key:
                self.takeItem(row)
                return

    def startDrag(self, supported_actions) -> None:  # noqa: N802 - Qt override
        """The window renders the stars and runs the drag (not the list's own item data)."""
        keys = [int(item.data(Qt.ItemDataRole.UserRole)) for item in self.selectedItems()]
        if keys:
            self.dragRequested.emit(keys)

    def _remove_selected(self) -> None:
        for key in [int(item.data(Qt.ItemDataRole.UserRole)) for item in self.selectedItems()]:
            self.removeRequested.emit(key)

    def _menu(self, pos) -> None:
        item = self.itemAt(pos)
        if item is None:
            return
        if not item.isSelected():
            self.setCurrentItem(item)
        menu = QMenu(self)
        key = int(item.data(Qt.ItemDataRole.UserRole))
        menu.addAction("Show it again", lambda: self.showRequested.emit(key))
        menu.addAction("Remove star", self._remove_selected)
        menu.popup(self.viewport().mapToGlobal(pos))

    def keyPressEvent(self, event) -> None:  # noqa: N802 - Qt override
        if event.key() in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace) and self.selectedItems():
            self._remove_selected()
            return
        super().keyPressEvent(event)


class TruthView(QWidget):
    """Ground truth against the current sample (split slider or flicker), the "encoded" sample
    decoded from the posterior code of the true x_g, and the grid's best-of-K error."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("truthView")
        self.split_pane = ImagePane()
        self.encoded_pane = ImagePane()
        self.split = QSlider(Qt.Orientation.Horizontal)
        self.split.setRange(0, 100)
        self.split.setValue(50)
        self.split.setToolTip("Left of the line: ground truth; right: the current sample")
        self.flicker = QCheckBox("Flicker")
        self.info = QLabel("No ground truth for this image")
        self.info.setWordWrap(True)
        panes = QHBoxLayout()
        left = QVBoxLayout()
        left.addWidget(QLabel("truth | current sample"))
        left.addWidget(self.split_pane, 1)
        right = QVBoxLayout()
        right.addWidget(QLabel("encoded (posterior code of the truth)"))
        right.addWidget(self.encoded_pane, 1)
        panes.addLayout(left, 1)
        panes.addLayout(right, 1)
        controls = QHBoxLayout()
        controls.addWidget(QLabel("Split"))
        controls.addWidget(self.split, 1)
        controls.addWidget(self.flicker)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(panes, 1)
        layout.addLayout(controls)
        layout.addWidget(self.info)
        self._truth: np.ndarray | None = None
        self._current: np.ndarray | None = None
        self._phase = False
        self._timer = QTimer(self)
        self._timer.setInterval(450)
        self._timer.timeout.connect(self._tick)
        self.split.valueChanged.connect(self._redraw)
        self.flicker.toggled.connect(lambda on: self._timer.start() if on else self._timer.stop())
        self.flicker.toggled.connect(self._redraw)

    def clear(self, message: str) -> None:
        self._truth = self._current = None
        self.split_pane.set_image(None)
        self.encoded_pane.set_image(None)
        self.info.setText(message)

    def set_truth(self, truth: np.ndarray, encoded: np.ndarray, text: str) -> None:
        self._truth = truth
        self.encoded_pane.set_image(encoded)
        self.info.setText(text)
        self._redraw()

    def set_current(self, current: np.ndarray | None) -> None:
        self._current = current
        self._redraw()

    def _tick(self) -> None:
        self._phase = not self._phase
        self._redraw()

    def _redraw(self) -> None:
        t, c = self._truth, self._current
        if t is None or c is None or t.shape != c.shape:
            self.split_pane.set_image(t)
            return
        if self.flicker.isChecked():
            self.split_pane.set_image(t if self._phase else c)
            return
        x = int(round(t.shape[1] * self.split.value() / 100))
        out = c.copy()
        out[:, :x] = t[:, :x]
        if 0 < x < out.shape[1]:
            out[:, x - 1 : x + 1] = (255, 255, 255)
        self.split_pane.set_image(out)


def recent_entries(paths: list[str], thumbnails: ThumbnailCache) -> list[tuple[str, str, np.ndarray | None]]:
    """Gallery entries of the recent files that still exist, with the thumbnails read so far."""
    # the stem, as the built-in photos are named: in a 64-px cell "square.mp4" and "square2.mp4"
    # were both "sq…p4"; the thumbnail tells a video from a photo, the tooltip names the file
    return [(Path(p).stem, p, thumbnails.peek(p)) for p in paths if Path(p).is_file()]

"""``lppScatter``: the training set's codes in the LPP embedding, with the current image on top.

Points carry their row index (``data=``) so hover and click map straight back to the training
example. Spaces: the learned codes z_c (what the model uses), the pairs' own x_g codes z_g (the
space the samples and the current code live in: for an MDN tie another space than z_c's; models
with a tie saved since 2026-11-29), their LPP targets (what guidance pulled z_c towards), or the
code-distortion view (a line from each target to its learned code).
The current image's code is drawn as a cursor with a trail, its samples as rings, and where the
image has a ground truth, the true x_g's code as a star among them; a lasso (rectangle ROI)
selects points and reports their rows.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QPainter, QPixmap
from PySide6.QtWidgets import (QCheckBox, QComboBox, QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QSizePolicy,
                               QVBoxLayout, QWidget)

from ..clipboard import rgb_to_qimage
from ..render import layer_to_rgb
from .combos import ShrinkingComboBox

# categorical colours that stay apart on the plot's black background (Okabe-Ito's, which are
# colour-blind safe, without black, and two more); "other" / unlabelled points are grey
PALETTE = [(86, 180, 233), (230, 159, 0), (0, 158, 115), (213, 94, 0), (204, 121, 167), (240, 228, 66),
           (0, 114, 178), (160, 220, 110), (150, 120, 230)]
OTHER = (120, 120, 120)
TRAIL = 24  # current-code positions kept for the cursor's trail
THUMB_SIDE = 72  # px, the hovered example's thumbnail over the plot
SAMPLE_SIZE = 9  # px, a grid sample's mark (and a distinct result holding 1/n of its pool)
# the points' spaces, with what each shows (the space combo's tooltips)
SPACES = {
    "learned codes": "Each training pair's x_c code z_c, which the model conditions on",
    "x_g codes": "Each training pair's x_g code z_g: the space the samples and the current code are drawn in",
    "LPP targets": "The LPP coordinates guidance pulled each z_c towards",
    "distortion": "A line from each LPP target to its learned code",
}


def colour_groups(keys: np.ndarray, names: dict[int, str] | None = None, by_count: bool = True,
                  limit: int = len(PALETTE)) -> tuple[np.ndarray, list[tuple[str, tuple]]]:
    """Points' keys (N,) -> (each point's legend entry (N,), entries [(label, rgb)]).

    At most ``limit`` keys get a colour of their own and an entry ("name (count)"); with more (80
    COCO classes), the ``limit`` most frequent keep theirs and the rest share a last grey "other"
    entry: 80 entries would flood the plot, and 80 colours cannot be told apart anyway.
    ``by_count``: entries from the most frequent down (categories), else in key order (split,
    mixture components, whose order means something)."""
    keys = np.asarray(keys, np.int64)
    values, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    kept = np.argsort(-counts, kind="stable")[:limit]  # the keys with an entry of their own
    order = kept if by_count else np.sort(kept)
    entry = np.full(len(values), len(order), np.int64)  # the rest: the last, "other" entry
    entry[order] = np.arange(len(order))
    names = names or {}
    keyed = not by_count and values.max(initial=0) < len(PALETTE)
    entries = []
    for j, i in enumerate(order):
        key = int(values[i])
        # ranked keys take colours in rank order; keyed ones keep their key's colour (a component
        # has the same colour whichever components are present)
        colour = OTHER if key < 0 else PALETTE[key if keyed else j]
        entries.append((f"{names.get(key, str(key))} ({int(counts[i])})", colour))
    if len(order) < len(values):
        rest = np.ones(len(values), bool)
        rest[order] = False
        entries.append((f"other: {int(rest.sum())} more ({int(counts[rest].sum())})", OTHER))
    return entry[inverse.reshape(-1)], entries


def share_sizes(shares: np.ndarray | None) -> np.ndarray | float:
    """Mark sizes (n,) for distinct results' shares (n,): area in proportion to the share, the
    plain size at a share of 1/n, 5-24 px; NaN (no share shown) and None: the plain size."""
    if shares is None:
        return SAMPLE_SIZE
    s = np.asarray(shares, np.float64)
    sizes = SAMPLE_SIZE * np.sqrt(np.nan_to_num(s, nan=1.0 / len(s)) * len(s))
    return np.clip(sizes, 5, 24)


# the legend's names of the marks over the points, after the colours' entries
MARK_LABELS = ("current code", "its last moves", "grid samples", "photo's z_c", "true x_g's code")


class _LegendSample(pg.ItemSample):
    """A legend swatch that ignores clicks: pyqtgraph's own hides its item on a click, and these
    swatches stand for groups of points, not for an item of the plot."""

    def mouseClickEvent(self, event) -> None:  # noqa: N802 - pyqtgraph override
        event.ignore()


def rgb_pixmap(rgb: np.ndarray, side: int | None = 72) -> QPixmap:
    """RGB uint8 (h, w, 3) as a QPixmap, scaled to fit side x side with its aspect ratio kept (a
    16:9 video frame was squeezed square in the gallery), unless side is None (copies the data)."""
    pixmap = QPixmap.fromImage(rgb_to_qimage(rgb))
    return pixmap if side is None else pixmap.scaled(side, side, Qt.AspectRatioMode.KeepAspectRatio)


def icon_pixmap(rgb: np.ndarray, side: int, decorate: Callable[[QPixmap], None] | None = None) -> QPixmap:
    """RGB uint8 (h, w, 3) fitted into a transparent side x side square, centred, its aspect ratio
    kept: icons of every shape line up, their labels at one height. ``decorate`` paints on the
    fitted picture before it is placed (a badge stays on the picture, not the margin)."""
    picture = rgb_pixmap(rgb, side)
    if decorate is not None:
        decorate(picture)
    square = QPixmap(side, side)
    square.fill(Qt.GlobalColor.transparent)
    painter = QPainter(square)
    painter.drawPixmap((side - picture.width()) // 2, (side - picture.height()) // 2, picture)
    painter.end()
    return square


class LppScatter(QWidget):
    """Signals: exampleClicked(int row), selectionChanged(object rows ndarray),
    samplesSelected(object grid indices ndarray: the current samples inside the selection)."""

    exampleClicked = Signal(int)
    selectionChanged = Signal(object)
    samplesSelected = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("lppScatter")
        self.plot = pg.PlotWidget()
        self.plot.setMenuEnabled(False)
        self.plot.showGrid(x=True, y=True, alpha=0.15)
        self.points = pg.ScatterPlotItem(size=5, pen=None, hoverable=True, hoverSize=9, tip=None)
        self.distortion = pg.PlotDataItem(pen=pg.mkPen((160, 160, 160, 90)), connect="pairs")
        self.samples = pg.ScatterPlotItem(size=SAMPLE_SIZE, pen=pg.mkPen((255, 255, 255), width=1.5), brush=None, symbol="o")
        self.hovered = pg.ScatterPlotItem(size=16, pen=pg.mkPen((255, 196, 0), width=2.5), brush=None)
        self.trail = pg.PlotDataItem(pen=pg.mkPen((0, 200, 255, 160), width=1.5))
        self.cursor = pg.ScatterPlotItem(size=18, symbol="+", pen=pg.mkPen((0, 200, 255), width=3), brush=None)
        self.image_mark = pg.ScatterPlotItem(size=14, symbol="d", pen=pg.mkPen((255, 80, 80), width=2), brush=None)
        # where the truth's posterior code lies among the samples: is the answer in the spread drawn?
        self.truth_mark = pg.ScatterPlotItem(size=20, symbol="star", pen=pg.mkPen((60, 255, 60), width=2.5),
                                             brush=pg.mkBrush(60, 255, 60, 90))
        for item in (self.distortion, self.points, self.samples, self.trail, self.image_mark, self.truth_mark,
                     self.cursor, self.hovered):
            self.plot.addItem(item)
        self.points.sigClicked.connect(self._clicked)
        self.points.sigHovered.connect(self._hovered)
        # the colour key sits in a column of its own right of the axes, from the bottom up: never
        # over a point, and the hover thumbnail (top right) lands in the column's free top
        self.legend = pg.LegendItem(offset=(-4, -4), verSpacing=-2, labelTextSize="8pt", sampleType=_LegendSample)
        self.legend.setParentItem(self.plot.getPlotItem())
        self._legend_key: tuple | None = None  # what the legend shows now (rebuilt only when it changes)
        self.lasso = pg.RectROI([0, 0], [1, 1], pen=pg.mkPen((255, 196, 0), width=1.5))
        self.lasso.setVisible(False)
        self.plot.addItem(self.lasso)
        self.lasso.sigRegionChangeFinished.connect(self._lasso_changed)

        self.x_axis, self.y_axis = ShrinkingComboBox(), ShrinkingComboBox()
        for combo, which in ((self.x_axis, "horizontal"), (self.y_axis, "vertical")):
            combo.setToolTip(f"The embedding's dimension on the {which} axis")
            # as wide as "15" and its arrow; Qt's default measures a placeholder wider than that
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.space = ShrinkingComboBox()
        self.space.addItems(list(SPACES))
        for i, tip in enumerate(SPACES.values()):
            self.space.setItemData(i, tip, Qt.ItemDataRole.ToolTipRole)
        self.colour = ShrinkingComboBox()
        self.colour.addItems(["split", "category", "mixture component"])
        self.select = QCheckBox("Select")
        self.select.setToolTip("Show a rectangle: the points inside it are selected")
        controls = QHBoxLayout()
        for label, w in (("x", self.x_axis), ("y", self.y_axis), ("", self.space), ("colour", self.colour)):
            if label:
                controls.addWidget(QLabel(label))
            controls.addWidget(w)
        controls.addWidget(self.select)
        controls.addStretch(1)
        # the hovered example's thumbnail floats over the plot's top-right corner: in the controls
        # row it made the row 72 px tall and took that height from the plot
        self.thumb = QLabel(self.plot)
        self.thumb.setFixedSize(THUMB_SIDE, THUMB_SIDE)
        self.thumb.setStyleSheet("border: 1px solid #888; background: #000;")
        self.thumb.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)  # points under it stay hoverable
        self.thumb.setVisible(False)
        self.thumb_text = QLabel("hover a point")
        # a fixed width (the widest text it can show): a width following "#7 (test)" or "#1234
        # (train)" changed the tab's minimum width and moved the splitter on every hover. It sits
        # on the message line, not in the controls row, which already set the tab's minimum width
        metrics = self.thumb_text.fontMetrics()
        self.thumb_text.setFixedWidth(max(metrics.horizontalAdvance(t) for t in ("hover a point", "#000000 (train)")) + 4)
        self.thumb_text.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.message = QLabel("")
        # its text (up to a long distortion line) must not set the tab's minimum width either
        self.message.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        status = QHBoxLayout()
        status.addWidget(self.message, 1)
        status.addWidget(self.thumb_text)
        self.selection_list = QListWidget()
        self.selection_list.setObjectName("selectionList")
        self.selection_list.setViewMode(QListWidget.ViewMode.IconMode)
        self.selection_list.setIconSize(QSize(40, 40))
        self.selection_list.setFlow(QListWidget.Flow.LeftToRight)
        self.selection_list.setWrapping(True)  # a grid of thumbnails, scrolling past three rows
        self.selection_list.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.selection_list.setFixedHeight(124)  # two rows of thumbnails, then it scrolls; the plot keeps the rest
        self.selection_list.setVisible(False)
        self.selection_list.itemClicked.connect(
            lambda item: self.exampleClicked.emit(int(item.data(Qt.ItemDataRole.UserRole))))
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot, 1)
        layout.addLayout(controls)
        layout.addLayout(status)
        layout.addWidget(self.selection_list)
        for w in (self.x_axis, self.y_axis, self.space, self.colour):
            w.currentIndexChanged.connect(self._redraw)
        self.select.toggled.connect(self._toggle_lasso)

        self.emb: Any = None
        self._xy = np.zeros((0, 2), np.float32)
        self._overlay_code: np.ndarray | None = None
        self._image_code: np.ndarray | None = None
        self._truth_code: np.ndarray | None = None  # (D,) the true x_g's posterior mean code
        self._overlay_samples: np.ndarray | None = None
        self._overlay_sizes: np.ndarray | float = SAMPLE_SIZE  # (n,) with distinct results' shares
        self._trail: list[np.ndarray] = []
        self._hover_row: int | None = None  # the example whose thumbnail the hover shows
        self.selected = np.zeros(0, np.int64)
        self.components: np.ndarray | None = None
        self.label_names: list[str] = []

    # data --------------------------------------------------------------------------------------
    def set_embedding(self, emb: Any, reason: str = "", components: np.ndarray | None = None,
                      label_names: list[str] | None = None) -> None:
        """A TrainEmbedding (lpp_c (N, d), codes_c (N, D), split (N,), labels (N,), xc_thumbs) or None;
        ``components`` (N,): for an MDN tie, each point's most probable mixture component;
        ``label_names``: the categories' names (the pair file's ``label_names``), for the legend."""
        self.emb = emb
        self.label_names = list(label_names or [])
        self.components = None if components is None else np.asarray(components, np.int64)
        # the overlay (cursor, trail, grid codes, z_c) belongs to the previous model's codes: drawn
        # on this embedding's axes, the nearest-neighbour baseline's one-column ranks raised
        # IndexError inside the window's model switch; the next grid sets it again
        self._trail = []
        self._overlay_code = self._overlay_samples = self._image_code = self._truth_code = None
        self.thumb.setVisible(False)  # the hover of the previous model's points: "#113 (train)" stayed
        self.thumb_text.setText("hover a point")
        dims = 0 if emb is None else int(np.asarray(self._codes(emb)).shape[1])
        for combo, default in ((self.x_axis, 0), (self.y_axis, 1)):
            combo.blockSignals(True)
            combo.clear()
            combo.addItems([str(i) for i in range(dims)])  # after "x" and "y": "axis 0" took 35 px more each
            combo.setCurrentIndex(min(default, dims - 1))
            combo.blockSignals(False)
        labels = None if emb is None else getattr(emb, "labels", None)
        has_labels = labels is not None and bool((np.asarray(labels) >= 0).any())
        self.colour.model().item(1).setEnabled(bool(has_labels))
        self.colour.model().item(2).setEnabled(self.components is not None)
        self.space.model().item(1).setEnabled(getattr(emb, "codes_g", None) is not None)
        for combo in (self.colour, self.space):
            if not combo.model().item(combo.currentIndex()).isEnabled():
                combo.blockSignals(True)
                combo.setCurrentIndex(0)  # a choice this model cannot show falls back to the first
                combo.blockSignals(False)
        self.message.setText("" if emb is not None else (reason or "This model has no training embedding to show."))
        self._redraw()

    def set_overlay(self, code: np.ndarray | None, samples: np.ndarray | None,
                    image_code: np.ndarray | None = None, shares: np.ndarray | None = None) -> None:
        """The current code (D,) (cursor, with trail), the grid's codes (n, D) and the image's z_c (D,);
        ``shares`` (n,): distinct results' shares of their pool (NaN: none), which size their marks."""
        self._image_code = None if image_code is None else np.asarray(image_code, np.float32)
        # copies: the state edits its codes in place, and a view would drag the whole trail along
        if code is not None and (self._overlay_code is None or not np.array_equal(code, self._overlay_code)):
            self._trail = (self._trail + [np.array(code, np.float32)])[-TRAIL:]
        self._overlay_code = None if code is None else np.array(code, np.float32)
        self._overlay_samples = None if samples is None else np.asarray(samples, np.float32)
        self._overlay_sizes = share_sizes(shares)
        self._draw_overlay()
        if self.lasso.isVisible():
            self.samplesSelected.emit(self.samples_in_selection())

    def set_truth_code(self, code: np.ndarray | None) -> None:
        """The true x_g's posterior mean code (D,), drawn as a star where the samples are; None: no truth."""
        self._truth_code = None if code is None else np.array(code, np.float32)
        self._draw_overlay()

    def highlight_sample(self, index: int) -> None:
        """Light up the grid sample ``index`` (-1 clears): linked hover from the grid."""
        s = self._overlay_samples
        if s is None or not 0 <= index < len(s) or self.emb is None:
            self.hovered.setData([], [])
            return
        a, b = self._axes()
        self.hovered.setData([s[index, a]], [s[index, b]])

    @staticmethod
    def _codes(emb: Any) -> np.ndarray:
        # the CVAE has no z_c: its scatter shows the LPP coordinates alone
        return emb.codes_c if getattr(emb, "codes_c", None) is not None else emb.lpp_c

    def _axes(self) -> tuple[int, int]:
        return max(self.x_axis.currentIndex(), 0), max(self.y_axis.currentIndex(), 0)

    def _colours(self, n: int) -> list:
        """Each point's brush (n,) for the chosen colouring; the legend follows it."""
        emb, mode = self.emb, self.colour.currentText()
        if mode == "category" and getattr(emb, "labels", None) is not None:
            keys, by_count = np.asarray(emb.labels).astype(np.int64), True
            names = {i: name for i, name in enumerate(self.label_names)}
            names[-1] = "unlabelled"
            if not self.label_names:
                names.update({k: f"category {k}" for k in np.unique(keys) if k >= 0})
        elif mode == "mixture component" and self.components is not None:
            keys, by_count = self.components, False
            names = {k: f"component {k}" for k in np.unique(keys)}
        else:
            mode, keys, by_count, names = "split", np.asarray(emb.split).astype(np.int64), False, {0: "train", 1: "test"}
        group, entries = colour_groups(keys[:n], names, by_count)
        self._show_legend((mode, tuple(entries)), entries)
        brushes = np.empty(len(entries), object)
        brushes[:] = [pg.mkBrush(colour) for _, colour in entries]
        return list(brushes[group])

    def _show_legend(self, key: tuple | None, entries: list[tuple[str, tuple]]) -> None:
        """Rebuild the legend's entries (only when they change) and make room for it on the right."""
        if key == self._legend_key:
            return
        self._legend_key = key
        self.legend.clear()
        for label, colour in entries:
            self.legend.addItem(_LegendSample(pg.ScatterPlotItem(size=8, pen=None, brush=pg.mkBrush(colour))), label)
        if entries:  # and the marks drawn over the points, which nothing named
            for item, label in self._marks():
                self.legend.addItem(_LegendSample(item), label)
        self.legend.setVisible(bool(entries))
        plot_item = self.plot.getPlotItem()
        # column 3 of the PlotItem's grid is right of the view box and its right axis
        plot_item.layout.setColumnFixedWidth(3, self.legend.width() + 8 if entries else 0)
        # bottom-aligned with the view box, above the bottom axis
        self.legend.anchor(itemPos=(1, 1), parentPos=(1, 1),
                           offset=(-4, -plot_item.getAxis("bottom").height() - 2))

    def _marks(self) -> list[tuple[pg.GraphicsObject, str]]:
        """The overlay's marks as the legend names them: (an item drawn as its swatch, label)."""
        items = (self.cursor, self.trail, pg.ScatterPlotItem(size=10, symbol="o", pen=self.samples.opts["pen"], brush=None),
                 pg.ScatterPlotItem(size=10, symbol="d", pen=self.image_mark.opts["pen"], brush=None),
                 pg.ScatterPlotItem(size=12, symbol="star", pen=self.truth_mark.opts["pen"],
                                    brush=self.truth_mark.opts["brush"]))
        return list(zip(items, MARK_LABELS))

    def _redraw(self) -> None:
        self._hover_row = None  # the points move (or change): the next hover names one again
        if self.emb is None or self.x_axis.count() == 0:
            self._show_legend(None, [])
            self.points.setData([], [])
            self.distortion.setData([], [])
            self._xy = np.zeros((0, 2), np.float32)
            self._draw_overlay()
            return
        a, b = self._axes()
        codes = np.asarray(self._codes(self.emb), np.float32)
        lpp = np.asarray(self.emb.lpp_c, np.float32)
        space = self.space.currentText()
        b_lpp = min(b, lpp.shape[1] - 1)
        a_lpp = min(a, lpp.shape[1] - 1)
        if space == "LPP targets":
            self._xy = lpp[:, [a_lpp, b_lpp]]
        else:
            base = np.asarray(self.emb.codes_g, np.float32) if space == "x_g codes" else codes
            self._xy = base[:, [a, b]]
        rows = np.arange(len(self._xy))
        self.points.setData(x=self._xy[:, 0], y=self._xy[:, 1], data=rows, brush=self._colours(len(rows)))
        if space == "distortion":
            seg = np.empty((len(rows) * 2, 2), np.float32)
            seg[0::2] = np.stack([lpp[:, a_lpp], lpp[:, b_lpp]], 1)
            seg[1::2] = self._xy
            self.distortion.setData(seg[:, 0], seg[:, 1])
            err = float(np.sqrt(np.mean(np.sum((codes[:, : lpp.shape[1]] - lpp[:, : codes.shape[1]]) ** 2, 1))))
            self.message.setText(f"code distortion: RMS distance from LPP target to learned code {err:.3f}")
        else:
            self.distortion.setData([], [])
            self.message.setText(f"{len(rows)} training examples · {space}")
        self._draw_overlay()
        if self.lasso.isVisible():
            self._lasso_changed()  # other axes or space: other points inside the rectangle

    def _draw_overlay(self) -> None:
        if self.emb is None:
            for item in (self.samples, self.cursor, self.hovered, self.image_mark, self.truth_mark):
                item.setData([], [])
            self.trail.setData([], [])
            return
        a, b = self._axes()
        s = self._overlay_samples
        if s is None:
            self.samples.setData([], [])
        else:
            self.samples.setData(s[:, a], s[:, b], size=self._overlay_sizes)
        for mark, m in ((self.image_mark, self._image_code), (self.truth_mark, self._truth_code)):
            mark.setData([] if m is None else [m[a]], [] if m is None else [m[b]])
        c = self._overlay_code
        self.cursor.setData([] if c is None else [c[a]], [] if c is None else [c[b]])
        if len(self._trail) > 1:
            t = np.stack(self._trail)
            self.trail.setData(t[:, a], t[:, b])
        else:
            self.trail.setData([], [])

    # interaction -------------------------------------------------------------------------------
    def thumbnail(self, row: int) -> np.ndarray | None:
        thumbs = getattr(self.emb, "xc_thumbs", None)
        if thumbs is None or not 0 <= row < len(thumbs):
            return None
        return layer_to_rgb(np.asarray(thumbs[row], np.float32))

    def _hovered(self, item, points, ev) -> None:
        if len(points) == 0:
            self._hover_row = None
            self.thumb.setVisible(False)  # off the points: the overlay must not hide the plot
            return
        row = int(points[0].data())
        self._hover_row = row
        thumb = self.thumbnail(row)
        split = "test" if int(np.asarray(self.emb.split)[row]) == 1 else "train"
        self.thumb_text.setText(f"#{row} ({split})")
        if thumb is not None:
            self.thumb.setPixmap(rgb_pixmap(thumb))
            self.thumb.move(max(0, self.plot.width() - THUMB_SIDE - 8), 8)
            self.thumb.setVisible(True)
            self.thumb.raise_()

    def _clicked(self, item, points, ev=None) -> None:
        rows = [int(p.data()) for p in points]
        if rows:
            # in a dense cluster several points lie under the cursor, and the click's hit test
            # (hovered points are drawn larger) could pick another than the hover named: a click
            # opened #416 under a thumbnail of #181. Open the one the thumbnail shows.
            self.exampleClicked.emit(self._hover_row if self._hover_row in rows else rows[0])

    def _toggle_lasso(self, on: bool) -> None:
        if on and len(self._xy):
            lo, hi = np.percentile(self._xy, 35, axis=0), np.percentile(self._xy, 65, axis=0)
            self.lasso.setPos(lo.tolist())
            self.lasso.setSize((hi - lo).tolist())
        self.lasso.setVisible(on)
        self._lasso_changed()

    def select_rect(self, x0: float, y0: float, w: float, h: float) -> np.ndarray:
        """Select the points inside a data-space rectangle; returns and emits their rows."""
        self.lasso.setPos([x0, y0], finish=False)
        self.lasso.setSize([w, h], finish=False)
        self.lasso.setVisible(True)
        self.select.blockSignals(True)  # the Select box shows that a rectangle is up
        self.select.setChecked(True)
        self.select.blockSignals(False)
        self._lasso_changed()
        return self.selected

    def _lasso_changed(self) -> None:
        if not self.lasso.isVisible() or not len(self._xy):
            self.selected = np.zeros(0, np.int64)
        else:
            self.selected = self._inside_lasso(self._xy[:, 0], self._xy[:, 1])
        self._show_selection()
        self.selectionChanged.emit(self.selected)
        self.samplesSelected.emit(self.samples_in_selection())

    def samples_in_selection(self) -> np.ndarray:
        """Indices of the overlaid grid samples whose codes lie inside the selection rectangle."""
        s = self._overlay_samples
        if s is None or self.emb is None or not self.lasso.isVisible():
            return np.zeros(0, np.int64)
        a, b = self._axes()
        return self._inside_lasso(s[:, a], s[:, b])

    def _inside_lasso(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Indices of the points (x, y) (n,) inside the selection rectangle, edges included."""
        (x0, y0), (w, h) = self.lasso.pos(), self.lasso.size()
        return np.flatnonzero((x >= x0) & (x <= x0 + w) & (y >= y0) & (y <= y0 + h))

    def _show_selection(self) -> None:
        """The selected examples' thumbnails in a strip (first 48); a click opens one."""
        self.selection_list.clear()
        self.selection_list.setVisible(bool(len(self.selected)))
        for row in self.selected[:48]:
            item = QListWidgetItem(f"#{row}")
            item.setData(Qt.ItemDataRole.UserRole, int(row))
            thumb = self.thumbnail(int(row))
            if thumb is not None:
                item.setIcon(QIcon(rgb_pixmap(thumb, 40)))
            self.selection_list.addItem(item)
        if len(self.selected):
            self.message.setText(f"{len(self.selected)} example(s) selected")

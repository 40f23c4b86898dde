"""``lossPlot``: the train dialog's live loss curves, a plot (``trainPlot``) with the list of its
terms beside it (``trainTerms``: tick to show a curve).

The dialog hands it every train-stage record (``set_total_steps``, ``record``: cheap) and asks for
a repaint at most every 100 ms (``draw``), a few curves at a time while the run goes on
(``CURVES_PER_REFRESH``) and every curve when it ends. ``clear`` readies it for a new run (the
terms the user ticked or unticked are kept); ``preload`` puts a resumed run's logged curves first.
"""

from __future__ import annotations

import re
from typing import Mapping

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import QGraphicsView, QHBoxLayout, QListWidget, QListWidgetItem, QWidget

from ..training_job import NOT_CURVES  # one list for live records and a resumed run's log

# what each logged term is (the term list's tooltips)
TERM_TIPS = {"loss": "the objective being minimised (weighted KL, tie and guidance)",
             "neg_elbo": "negative evidence lower bound: the reconstruction, KL and tie terms, unweighted",
             "rec_c": "reconstruction of x_c (the photo's layer)", "rec_g": "reconstruction of x_g (the result)",
             "kl_c": "KL of x_c's latent layers", "kl_g": "KL of x_g's latent layers",
             "tie": "the tie between the top codes z_c and z_g", "guidance": "distance of the codes from their LPP targets"}
# the main terms' colours, apart on the black plot; a per-layer KL takes its sum's hue, lighter
TERM_COLOURS = {"loss": (235, 235, 235), "neg_elbo": (240, 228, 66), "rec_c": (86, 180, 233), "rec_g": (0, 114, 178),
                "kl_c": (230, 159, 0), "kl_g": (213, 94, 0), "tie": (0, 158, 115), "guidance": (204, 121, 167)}
SYMBOL_POINTS = 30  # curves of at most this many points also show each point (one point draws no line)
# each 100 ms refresh updates (or creates) this many curves, taking turns: with 15 terms each curve
# still moves every 0.5 s, but no event pays for all 15 (15 setData calls and the repaint took
# 4.7 ms, 3 of them 2.2 ms, measured without load)
CURVES_PER_REFRESH = 3


def term_colour(term: str, index: int) -> QColor:
    """A term's curve colour: its own for the main terms, its sum's hue for a per-layer term
    (kl_c_2: kl_c's, lighter for deeper layers), else one of 12 hues by ``index``."""
    if term in TERM_COLOURS:
        return QColor(*TERM_COLOURS[term])
    layer = re.fullmatch(r"(kl_[a-z]+)_(\d+)", term)
    if layer and layer.group(1) in TERM_COLOURS:
        return QColor(*TERM_COLOURS[layer.group(1)]).lighter(110 + 25 * int(layer.group(2)))
    return pg.intColor(index, hues=12)


def shown_by_default(term: str) -> bool:
    """The main terms show; the per-layer KLs (kl_c_1, kl_g_2, ...) are in the list, unticked: 15
    curves on one axis hid each other."""
    return re.fullmatch(r"kl_[a-z]+_\d+", term) is None


class GridAxis(pg.AxisItem):
    """An axis that draws its grid lines under a rectangular clip. Without one, Qt's raster engine
    blends translucent lines span by span, handing the spans to its thread pool and waiting
    (150-550 hand-offs per repaint): the loss plot's faint grid took 5-16 ms to paint, most of
    every stall while training (sampled). Clipped to the axis's own area, which is all that
    shows anyway (same pixels), it takes 0.2 ms."""

    def drawPicture(self, p, *specs) -> None:  # noqa: ANN001 - pyqtgraph's signature
        p.setClipRect(self.boundingRect().adjusted(-2, -2, 2, 2))  # the axis line's end pixels too
        super().drawPicture(p, *specs)


class LossSeries:
    """One loss term's (step, value) history in growing numpy arrays (appending is amortised O(1)
    and drawing never converts Python tuples), shown as at most ``DISPLAY_POINTS`` block means."""

    DISPLAY_POINTS = 500

    def __init__(self) -> None:
        self._data = np.empty((2, 256), np.float64)  # rows: step, value
        self.n = 0

    def append(self, step: float, value: float) -> None:
        if self.n == self._data.shape[1]:
            self._data = np.concatenate([self._data, np.empty_like(self._data)], axis=1)
        self._data[:, self.n] = step, value
        self.n += 1

    def display(self) -> tuple[np.ndarray, np.ndarray]:
        """(steps, values) to draw, each (<= DISPLAY_POINTS,): means of equal consecutive blocks,
        which also smooths the per-step noise of a long run."""
        x, y = self._data[0, : self.n], self._data[1, : self.n]
        block = -(-self.n // self.DISPLAY_POINTS)  # ceil
        if block <= 1:
            return x.copy(), y.copy()
        whole = self.n // block * block
        xs, ys = x[:whole].reshape(-1, block).mean(1), y[:whole].reshape(-1, block).mean(1)
        if whole < self.n:
            xs, ys = np.append(xs, x[whole:].mean()), np.append(ys, y[whole:].mean())
        return xs, ys


class LossPlot(QWidget):
    """The loss terms' curves over the training steps, and the checkable list of the terms."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("lossPlot")
        self._curves: dict[str, pg.PlotCurveItem] = {}
        self._history: dict[str, LossSeries] = {}
        self._next_curve = 0  # round-robin position in the sorted term names
        self._y_bounds: dict[str, tuple[float, float]] = {}  # each curve's drawn (min, max)
        self._x_total = 0  # steps the x axis spans
        self._steps_total = 0  # the training stage's step count, as its progress last said
        self._y_view: tuple[float, float] | None = None
        self._shown: dict[str, bool] = {}  # terms the user ticked or unticked (kept across runs)

        self.plot = pg.PlotWidget(title="Loss terms (nats per pair)",
                                  axisItems={side: GridAxis(side) for side in ("left", "bottom")})
        self.plot.setObjectName("trainPlot")
        # repaint one rectangle: the default (minimal) region of a few changed curves is a union of
        # rectangles, a clip under which GridAxis's grid goes back to the slow path (150-550
        # thread-pool hand-offs per repaint, measured)
        self.plot.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.BoundingRectViewportUpdate)
        self.plot.setLabel("bottom", "step")
        self.plot.showGrid(x=True, y=True, alpha=0.2)
        # the key is a list of ticked terms beside the plot, not a legend over it: 15 entries were
        # clipped at the plot's bottom and covered the curves; unticking hides a curve (and
        # rescales the y axis to the rest, so a large term no longer flattens the small ones)
        self.terms = QListWidget()
        self.terms.setObjectName("trainTerms")
        self.terms.setToolTip("Loss terms: tick to show a curve")
        self.terms.setFixedWidth(120)
        self.terms.itemChanged.connect(self._term_toggled)
        # markers for short runs (a single logged point draws no line); one item for every curve
        self._markers = pg.ScatterPlotItem(size=7, pen=None, symbol="o")
        self.plot.addItem(self._markers)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.plot, 1)
        row.addWidget(self.terms)

    # the run's data ------------------------------------------------------------------------------
    def clear(self) -> None:
        """An empty plot for a new run; the terms the user ticked or unticked stay so."""
        self.plot.clear()
        self.terms.clear()  # ticks the user chose are kept in self._shown
        self._markers.setData([], [])
        self.plot.addItem(self._markers)
        self._curves.clear()
        self._history.clear()
        self._y_bounds.clear()
        self._x_total, self._steps_total, self._y_view, self._next_curve = 0, 0, None, 0
        self.plot.getViewBox().enableAutoRange()  # no axes of the last run over an empty plot

    def preload(self, curves: Mapping[str, tuple[np.ndarray, np.ndarray]]) -> None:
        """A resumed run's logged curves, {term: (steps, values)}, after ``clear``: its plot goes on
        from its log."""
        for name, (steps, values) in curves.items():
            series = self._history.setdefault(name, LossSeries())
            for step, value in zip(steps, values):
                series.append(step, value)

    def set_total_steps(self, total: int) -> None:
        """The training stage's step count, which the x axis spans (later stages count epochs or
        files)."""
        self._steps_total = total

    def record(self, step: float, values: Mapping[str, float]) -> None:
        """One train-stage record's loss terms at ``step`` (cheap: drawn by ``draw``); schedule
        weights, rates and values that are not finite are left out."""
        for name, value in values.items():
            if name in NOT_CURVES or not np.isfinite(value):
                continue
            self._history.setdefault(name, LossSeries()).append(step, value)

    def curve_names(self) -> list[str]:
        return sorted(self._curves)

    def shown_terms(self) -> list[str]:
        """The terms whose curves are ticked in the list."""
        return sorted(name for name, curve in self._curves.items() if curve.isVisible())

    def curve(self, name: str) -> pg.PlotCurveItem:
        """``name``'s curve as drawn (KeyError before its first draw)."""
        return self._curves[name]

    def series(self, name: str) -> LossSeries:
        """``name``'s recorded history (KeyError before its first record)."""
        return self._history[name]

    # drawing -------------------------------------------------------------------------------------
    def draw(self, budget: int | None = None) -> None:
        """Update (or create) ``budget`` curves, taking turns (None: every curve); unticked curves
        are skipped until they are ticked again."""
        names = sorted(self._history)
        if not names:
            return
        chosen = [n for n in names if n not in self._curves or self._curves[n].isVisible()]
        if budget is not None:
            start = self._next_curve % len(names)
            order = names[start:] + names[:start]
            chosen, last = [], start - 1
            for offset, name in enumerate(order):
                if len(chosen) == budget:
                    break
                if name not in self._curves or self._curves[name].isVisible():
                    chosen.append(name)
                    last = start + offset
            self._next_curve = last + 1
        for name in chosen:
            if name not in self._curves:
                self._add_curve(name, names.index(name))
            self._update_curve(name)
        self._draw_markers()
        self._fit_visible()

    def _add_curve(self, name: str, index: int) -> None:
        # a bare PlotCurveItem: a PlotDataItem (with its unused scatter item) took 1.6-2.1 ms to
        # create with its legend entry, this 0.9 ms, and its setData re-ran on every y-range
        # change (measured). 1 px pens: Qt's raster engine strokes wider lines about 5x slower
        # (38 ms against 8 ms for 15 curves, measured).
        colour = term_colour(name, index)
        curve = pg.PlotCurveItem(pen=pg.mkPen(colour, width=1), antialias=False)
        curve.colour = colour
        shown = self._shown.get(name, shown_by_default(name))
        curve.setVisible(shown)
        self.plot.addItem(curve)
        self._curves[name] = curve
        swatch = QPixmap(12, 12)
        swatch.fill(QColor(colour))
        item = QListWidgetItem(QIcon(swatch), name)
        item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsUserCheckable)
        item.setCheckState(Qt.CheckState.Checked if shown else Qt.CheckState.Unchecked)
        item.setToolTip(TERM_TIPS.get(name, name))
        # the list keeps the trainer's order (loss, neg_elbo, reconstructions, KLs, ...), whatever
        # order the refreshes create the curves in
        order = list(self._history)
        row = sum(order.index(self.terms.item(i).text()) < order.index(name) for i in range(self.terms.count()))
        self.terms.blockSignals(True)  # not a user's toggle
        self.terms.insertItem(row, item)
        self.terms.blockSignals(False)

    def _update_curve(self, name: str) -> None:
        x, y = self._history[name].display()
        self._curves[name].setData(x, y)
        if len(y):
            self._y_bounds[name] = float(y.min()), float(y.max())

    def _draw_markers(self) -> None:
        """Each point of the visible short curves (<= SYMBOL_POINTS points) as a dot in its
        curve's colour; nothing (and no work) once every curve is longer."""
        xs, ys, brushes = [], [], []
        for name, curve in self._curves.items():
            n = self._history[name].n
            if curve.isVisible() and 0 < n <= SYMBOL_POINTS:
                x, y = self._history[name].display()
                xs.append(x)
                ys.append(y)
                brushes += [pg.mkBrush(curve.colour)] * len(x)
        if not xs and not len(self._markers.data):
            return
        self._markers.setData(np.concatenate(xs) if xs else [], np.concatenate(ys) if ys else [], brush=brushes)

    def _fit_visible(self) -> None:
        bounds = [b for name, b in self._y_bounds.items() if self._curves[name].isVisible()]
        if bounds:
            self._fit_view(min(b[0] for b in bounds), max(b[1] for b in bounds))

    def _term_toggled(self, item: QListWidgetItem) -> None:
        name = item.text()
        shown = item.checkState() == Qt.CheckState.Checked
        self._shown[name] = shown
        curve = self._curves.get(name)
        if curve is None:
            return
        curve.setVisible(shown)
        if shown:
            self._update_curve(name)  # it was skipped while hidden
        self._draw_markers()
        self._y_view = None  # fit the shown curves afresh, smaller ones included
        self._fit_visible()

    def _fit_view(self, lo: float, hi: float) -> None:
        """Axes that move only when they must: x spans the run's steps from the start, y grows to
        take new values and shrinks only when the data fill under a third of it. pyqtgraph
        re-ticks an axis in Python on every range change; auto-range changed both on every
        refresh."""
        box = self.plot.getViewBox()
        total = self._steps_total
        if total > 0 and total != self._x_total:
            self._x_total = total
            box.disableAutoRange()
            box.setXRange(0, total, padding=0.02)
        # one point (or a flat curve) still gets a readable axis around its value
        span = max(hi - lo, 0.05 * max(abs(lo), abs(hi)), 1e-6)
        view = self._y_view
        if view is None or lo < view[0] or hi > view[1] or (view[1] - view[0]) > 3 * span:
            self._y_view = (lo - 0.1 * span, hi + 0.1 * span)
            box.disableAutoRange()
            box.setYRange(*self._y_view, padding=0)

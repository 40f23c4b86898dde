"""The train dialog's loss plot (``widgets.loss_plot.LossPlot``), fed as the dialog feeds it: curves
updated a few per refresh, all of them at the run's end, and a grid that paints the same pixels as
pyqtgraph's own (tests/studio/test_dialogs.py runs the real trainer)."""

from __future__ import annotations

from types import SimpleNamespace
from unittest.mock import Mock

import numpy as np
import pyqtgraph as pg
import pytest

from cdvae_core.progress import Progress

TERMS = [f"term{i:02d}" for i in range(15)]


@pytest.fixture()
def dialog(qtbot):
    from cdvae_studio.train_dialog import TrainDialog

    dlg = TrainDialog()
    qtbot.addWidget(dlg)
    dlg.show()
    dlg.runner = SimpleNamespace(running=lambda: True)  # a run in progress, without a process
    dlg._throttled_refresh = Mock()  # the tests call _refresh themselves, as the 100 ms throttle would
    return dlg


def feed(dlg, steps: range, total: int = 400) -> None:
    """Progress records as the trainer sends them: every term, every step."""
    for step in steps:
        values = {name: 5.0 / (1 + step) + k for k, name in enumerate(TERMS)}
        dlg._on_progress(Progress("train", step + 1, total, "epoch 1/2", {**values, "eta_s": 9.0}))


@pytest.fixture()
def set_data_calls(monkeypatch):
    """(curve id, its term once named) for every setData call, in order (a new curve's
    constructor calls setData too)."""
    calls: list[tuple[int, str]] = []
    original = pg.PlotCurveItem.setData

    def spy(self, *args, **kwargs):
        calls.append((id(self), getattr(self, "term", "?")))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(pg.PlotCurveItem, "setData", spy)
    return calls


def name_curves(dlg) -> None:
    for name in dlg.loss_plot.curve_names():
        dlg.loss_plot.curve(name).term = name


def test_a_refresh_updates_a_few_curves_taking_turns(dialog, set_data_calls):
    from cdvae_studio.widgets.loss_plot import CURVES_PER_REFRESH

    feed(dialog, range(30))
    curves_per_refresh = []
    for _ in range(len(TERMS) // CURVES_PER_REFRESH):
        before = len(set_data_calls)
        dialog._refresh()
        name_curves(dialog)
        curves_per_refresh.append(len({curve for curve, _ in set_data_calls[before:]}))
    assert curves_per_refresh == [CURVES_PER_REFRESH] * len(curves_per_refresh)
    assert dialog.loss_plot.curve_names() == TERMS  # one round: every term has its curve
    set_data_calls.clear()
    feed(dialog, range(30, 40))
    for _ in range(len(TERMS) // CURVES_PER_REFRESH):
        dialog._refresh()
    assert sorted(term for _, term in set_data_calls) == TERMS  # the next round: each curve once


def test_every_curve_is_up_to_date_when_the_run_ends(dialog):
    feed(dialog, range(50))
    dialog._refresh()  # a few curves drawn while running
    feed(dialog, range(50, 80))
    dialog.runner = SimpleNamespace(running=lambda: False)
    dialog._refresh()  # as _on_finished does
    assert dialog.loss_plot.curve_names() == TERMS
    # one entry per term in the term list beside the plot (the in-plot legend it replaced was
    # clipped and covered the curves)
    assert sorted(dialog.terms.item(i).text() for i in range(dialog.terms.count())) == TERMS
    for name in TERMS:
        x, y = dialog.loss_plot.curve(name).getData()
        want_x, want_y = dialog.loss_plot.series(name).display()
        np.testing.assert_array_equal(x, want_x)
        np.testing.assert_array_equal(y, want_y)
        assert x[-1] == 80
    lo, hi = dialog.plot.getViewBox().viewRange()[1]
    all_y = np.concatenate([dialog.loss_plot.series(n).display()[1] for n in TERMS])
    assert lo <= all_y.min() and all_y.max() <= hi  # the y axis holds every curve
    assert "ETA" in dialog.status.text() and dialog.progress.value() == 80


def test_the_y_axis_holds_curves_drawn_in_earlier_refreshes(dialog):
    feed(dialog, range(20))
    for _ in range(5):
        dialog._refresh()
    lo, hi = dialog.plot.getViewBox().viewRange()[1]
    # term00 (values near 0) and term14 (near 14) were drawn in different refreshes
    series = dialog.loss_plot.series
    assert lo < series("term00").display()[1].min() and hi > series("term14").display()[1].max()


def grid_pixels(qtbot, axis_type) -> np.ndarray:
    plot = pg.PlotWidget(axisItems={side: axis_type(side) for side in ("left", "bottom")})
    qtbot.addWidget(plot)
    plot.setFixedSize(400, 200)
    plot.showGrid(x=True, y=True, alpha=0.2)
    plot.setXRange(0, 400, padding=0.02)
    plot.setYRange(-0.5, 6.5, padding=0)
    plot.addItem(pg.PlotCurveItem(np.arange(100.0) * 4, np.linspace(6, 0, 100), pen=pg.mkPen("y", width=1)))
    plot.show()
    qtbot.waitExposed(plot)
    image = plot.grab().toImage()
    return np.array(image.constBits()).reshape(image.height(), image.bytesPerLine()).copy()


def test_the_clipped_grid_paints_the_same_pixels_as_pyqtgraphs(qtbot):
    from cdvae_studio.widgets.loss_plot import GridAxis

    assert np.array_equal(grid_pixels(qtbot, GridAxis), grid_pixels(qtbot, pg.AxisItem))


def test_the_plot_repaints_one_rectangle(dialog):
    from PySide6.QtWidgets import QGraphicsView

    # a union of rectangles makes Qt draw the translucent grid through its thread pool
    assert dialog.plot.viewportUpdateMode() == QGraphicsView.ViewportUpdateMode.BoundingRectViewportUpdate
    from cdvae_studio.widgets.loss_plot import GridAxis

    assert all(isinstance(dialog.plot.getPlotItem().getAxis(side), GridAxis) for side in ("left", "bottom"))


def pool_hand_offs() -> int:
    """How often Qt's thread-pool threads have been woken in this process (Linux)."""
    import os
    from pathlib import Path

    woken = 0
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        try:
            if (task / "comm").read_text().startswith("Thread (pooled)"):
                status = (task / "status").read_text().splitlines()
                woken += int(next(line for line in status if line.startswith("voluntary_ctxt")).split()[1])
        except (OSError, StopIteration):
            pass  # a thread that ended meanwhile
    return woken


def repaint_hand_offs(app, bar) -> int:
    before = pool_hand_offs()
    for value in range(1, 11):
        bar.setValue(value * 9)  # repaints at once
        app.processEvents()
    return pool_hand_offs() - before


def test_the_progress_bar_repaints_without_the_thread_pool(qtbot, qapp):
    import sys

    from PySide6.QtWidgets import QProgressBar

    from cdvae_studio.train_dialog import TrainDialog

    if not sys.platform.startswith("linux"):
        pytest.skip("counts thread wake-ups in /proc")
    plain = QProgressBar()
    qtbot.addWidget(plain)
    plain.show()
    if repaint_hand_offs(qapp, plain) == 0:
        pytest.skip("this style hands no progress-bar fills to Qt's thread pool here")
    dlg = TrainDialog()
    qtbot.addWidget(dlg)
    dlg.show()
    assert repaint_hand_offs(qapp, dlg.progress) == 0
    assert dlg.progress.text() == "90%"  # still a bar with its percentage


CDVAE_TERMS = ["loss", "neg_elbo", "rec_c", "rec_g", "kl_c", "kl_g", "tie", "guidance",
               "kl_c_1", "kl_g_1", "kl_c_2", "kl_g_2", "kl_c_3", "kl_g_3"]


def feed_terms(dlg, steps: range, total: int) -> None:
    """Records with the CDVAE's own terms (a 3-layer model logs 14), the big ones in the hundreds."""
    for step in steps:
        values = {name: (800.0 if name.startswith("rec") else 10.0 + k) / (1 + step) for k, name in enumerate(CDVAE_TERMS)}
        dlg._on_progress(Progress("train", step + 1, total, "epoch 1/1",
                                  {**values, "lower_weight": 0.5, "kl_weight": 1.0, "eta_s": 1.0}))


def test_the_terms_are_a_checkable_list_beside_the_plot_not_a_legend_over_it(dialog, qtbot):
    from PySide6.QtCore import Qt

    feed_terms(dialog, range(40), 100)
    dialog.runner = SimpleNamespace(running=lambda: False)
    dialog._refresh()
    assert dialog.plot.getPlotItem().legend is None  # nothing drawn over the curves
    terms = dialog.findChild(type(dialog.terms), "trainTerms")
    listed = [terms.item(i).text() for i in range(terms.count())]
    assert listed == CDVAE_TERMS  # the trainer's order; schedule weights are not losses
    # beside the plot, each entry wholly inside the list's viewport (none clipped away)
    plot_box, list_box = dialog.plot.geometry(), terms.geometry()
    assert not plot_box.intersects(list_box) and list_box.left() >= plot_box.right()
    last = terms.visualItemRect(terms.item(terms.count() - 1))
    assert last.bottom() <= terms.viewport().height() or terms.verticalScrollBar().isVisible()  # reachable
    # the main terms show, the per-layer KLs are listed unticked
    main = [t for t in CDVAE_TERMS if t[-1] not in "123"]
    assert dialog.loss_plot.shown_terms() == sorted(main)
    assert all(terms.item(i).checkState() == (Qt.CheckState.Checked if t in main else Qt.CheckState.Unchecked)
               for i, t in enumerate(listed))
    assert not dialog.loss_plot.curve("kl_c_1").isVisible()

    # unticking the large reconstruction terms rescales y to the terms left (small ones readable)
    for name in ("rec_c", "rec_g", "loss", "neg_elbo"):
        terms.item(listed.index(name)).setCheckState(Qt.CheckState.Unchecked)
    assert not dialog.loss_plot.curve("rec_c").isVisible()
    lo, hi = dialog.plot.getViewBox().viewRange()[1]
    shown_max = max(dialog.loss_plot.series(n).display()[1].max() for n in dialog.loss_plot.shown_terms())
    assert hi < 2 * shown_max < dialog.loss_plot.series("rec_c").display()[1].max()
    # ticking a per-layer term shows its curve, up to date although it was skipped while hidden
    feed_terms(dialog, range(40, 60), 100)
    dialog._refresh()
    terms.item(listed.index("kl_g_2")).setCheckState(Qt.CheckState.Checked)
    curve = dialog.loss_plot.curve("kl_g_2")
    assert curve.isVisible() and curve.getData()[0][-1] == 60
    # the choices hold for the next run's curves
    dialog.loss_plot.clear()  # as start does
    feed_terms(dialog, range(3), 100)
    dialog._refresh()
    assert "kl_g_2" in dialog.loss_plot.shown_terms() and "rec_c" not in dialog.loss_plot.shown_terms()


def test_a_run_of_one_logged_point_shows_its_values_as_points(dialog):
    feed_terms(dialog, range(1), 1)
    dialog.runner = SimpleNamespace(running=lambda: False)
    dialog._refresh()
    shown = dialog.loss_plot.shown_terms()
    markers = dialog.loss_plot._markers
    x, y = markers.getData()
    assert markers.scene() is dialog.plot.scene() and markers.isVisible()
    assert len(x) == len(shown) and set(x.tolist()) == {1.0}  # one dot per shown term
    np.testing.assert_allclose(sorted(y), sorted(dialog.loss_plot.series(n).display()[1][0] for n in shown))
    lo, hi = dialog.plot.getViewBox().viewRange()[1]
    assert lo < y.min() and y.max() < hi and hi - lo > 1.0  # a readable axis around the values
    # the dots are painted: pixels of the tie term's colour appear in the plot
    from cdvae_studio.widgets.loss_plot import TERM_COLOURS

    image = dialog.plot.grab().toImage().convertToFormat(dialog.plot.grab().toImage().Format.Format_RGB888)
    pixels = np.array(image.constBits()).reshape(image.height(), image.bytesPerLine())[:, : 3 * image.width()]
    pixels = pixels.reshape(image.height(), image.width(), 3)
    assert (np.abs(pixels.astype(int) - TERM_COLOURS["tie"]).sum(2) < 30).sum() >= 9


def test_long_runs_draw_no_markers(dialog):
    from cdvae_studio.widgets.loss_plot import SYMBOL_POINTS

    feed_terms(dialog, range(SYMBOL_POINTS + 5), 400)
    dialog.runner = SimpleNamespace(running=lambda: False)
    dialog._refresh()
    assert len(dialog.loss_plot._markers.getData()[0]) == 0  # the lines carry the values; dots would clutter them

"""Usability polish found in a user test: the scatter's colour legend, a hover label that keeps
its width, and a model combo that shows long model names without moving the toolbar."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from PySide6.QtCore import Qt

LONG = "Gauss (opened · very-long-folder-name-of-a-model-for-motion-2024-05-01)"


def embedding(n: int, categories: int, seed: int = 0, thumbs: bool = True) -> SimpleNamespace:
    rng = np.random.default_rng(seed)
    labels = np.minimum(rng.zipf(1.5, n) - 1, categories - 1)  # a long tail, as COCO's classes
    labels[:5] = -1  # a few unlabelled pairs
    return SimpleNamespace(lpp_c=rng.standard_normal((n, 3)).astype(np.float32),
                           codes_c=rng.standard_normal((n, 3)).astype(np.float32),
                           split=(np.arange(n) % 7 == 0).astype(np.int8), labels=labels,
                           xc_thumbs=rng.random((n, 1, 32, 32)).astype(np.float16) if thumbs else None)


@pytest.fixture()
def scatter(qtbot):
    from cdvae_studio.widgets.lpp_scatter import LppScatter

    widget = LppScatter()
    qtbot.addWidget(widget)
    widget.resize(700, 520)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def legend_labels(scatter) -> list[str]:
    """The colours' entries of the legend; the marks' entries follow them, the same every time."""
    from cdvae_studio.widgets.lpp_scatter import MARK_LABELS

    labels = [label.text for _, label in scatter.legend.items]
    if labels:
        assert tuple(labels[-len(MARK_LABELS):]) == MARK_LABELS
        return labels[: -len(MARK_LABELS)]
    return labels


def point_colours(scatter) -> np.ndarray:
    return np.array([b.color().getRgb()[:3] for b in scatter.points.data["brush"]])


def test_scatter_legend_follows_the_colouring_and_stays_compact(scatter, qtbot):
    from cdvae_studio.widgets.lpp_scatter import OTHER, PALETTE

    emb = embedding(3000, 80)
    names = [f"class {i}" for i in range(80)]
    names[0] = "person"
    components = np.arange(3000) % 4
    scatter.set_embedding(emb, components=components, label_names=names)

    # split: which colour is train and which is test
    assert scatter.colour.currentText() == "split" and scatter.legend.isVisible()
    n_test = int(emb.split.sum())
    assert legend_labels(scatter) == [f"train ({3000 - n_test})", f"test ({n_test})"]
    colours = point_colours(scatter)
    assert (colours[emb.split == 0] == PALETTE[0]).all() and (colours[emb.split == 1] == PALETTE[1]).all()

    # 80 categories: the most frequent ones by name, the rest as one grey "other" entry
    scatter.colour.setCurrentText("category")
    labels = legend_labels(scatter)
    assert len(labels) == len(PALETTE) + 1 and labels[0].startswith("person (")
    values, counts = np.unique(emb.labels, return_counts=True)
    top = values[np.argsort(-counts, kind="stable")[: len(PALETTE)]]
    assert labels[-1] == f"other: {len(values) - len(top)} more ({int(np.isin(emb.labels, top, invert=True).sum())})"
    assert sum(int(t.rsplit("(", 1)[1].rstrip(")")) for t in labels) == 3000
    colours = point_colours(scatter)
    rest = ~np.isin(emb.labels, top)
    assert (colours[rest] == OTHER).all()
    for rank, key in enumerate(top):  # each named entry's swatch is its points' colour
        want = OTHER if key < 0 else scatter.legend.items[rank][0].item.opts["brush"].color().getRgb()[:3]
        assert (colours[emb.labels == key] == want).all()
        assert labels[rank].startswith("unlabelled (" if key < 0 else f"{names[key]} (")

    # MDN components, in component order
    scatter.colour.setCurrentText("mixture component")
    assert legend_labels(scatter) == [f"component {k} (750)" for k in range(4)]

    # beside the axes, never over the points
    qtbot.wait(20)  # the plot's layout settles on a posted event
    box = scatter.plot.getPlotItem().getViewBox().sceneBoundingRect()
    legend = scatter.legend.sceneBoundingRect()
    assert legend.width() > 40 and not legend.intersects(box) and legend.left() >= box.right()
    assert scatter.plot.sceneRect().contains(legend)

    scatter.set_embedding(None, "No model loaded.")
    assert not scatter.legend.isVisible()


def test_scatter_legend_names_categories_without_names_by_number(scatter):
    emb = embedding(400, 3)
    scatter.set_embedding(emb)
    scatter.colour.setCurrentText("category")
    labels = legend_labels(scatter)
    assert all(t.startswith(("category ", "unlabelled (")) for t in labels) and len(labels) == 4


def test_the_hover_label_keeps_its_width(scatter):
    scatter.set_embedding(embedding(20000, 3, thumbs=False))
    label = scatter.thumb_text
    before = (label.sizeHint().width(), label.width(), scatter.minimumSizeHint().width())
    for row in (7, 72, 19999, 3, 140):  # "#7 (test)" ... "#19999 (train)"
        scatter._hovered(None, [SimpleNamespace(data=lambda row=row: row)], None)
        assert label.text().startswith(f"#{row} (")
        assert (label.sizeHint().width(), label.width(), scatter.minimumSizeHint().width()) == before
        assert label.fontMetrics().horizontalAdvance(label.text()) <= label.width()  # never cut


def test_model_label_names_come_from_the_saved_models_pair_metadata(tmp_path):
    from cdvae_core.checkpoint import load_model, save_model
    from cdvae_core.config import ModelConfig, TrainConfig
    from cdvae_core.model import build_model
    from cdvae_studio.jobs import model_label_names

    latents, hidden = ModelConfig.sizes_for_layers(1)
    cfg = ModelConfig(task="resaturation", tie="gauss", channels_c=1, channels_g=1, latent_sizes=latents,
                      hidden_sizes=hidden, conv_channels=(8, 16, 32))
    save_model(tmp_path / "named", build_model(cfg), TrainConfig(), {"task": "resaturation", "label_names": ["cat", "dog"]})
    save_model(tmp_path / "plain", build_model(cfg), TrainConfig(), {"task": "resaturation"})
    assert model_label_names(load_model(tmp_path / "named")) == ["cat", "dog"]
    assert model_label_names(load_model(tmp_path / "plain")) is None
    assert model_label_names(SimpleNamespace(path=None)) is None


def tooltip(widget) -> str:
    """The tooltip a hover over ``widget`` shows."""
    from PySide6.QtCore import QEvent, QPoint
    from PySide6.QtGui import QHelpEvent
    from PySide6.QtWidgets import QApplication, QToolTip

    QToolTip.hideText()
    centre = QPoint(widget.width() // 2, widget.height() // 2)
    QApplication.sendEvent(widget, QHelpEvent(QEvent.Type.ToolTip, centre, widget.mapToGlobal(centre)))
    return QToolTip.text()


def test_model_combo_shows_long_names_without_moving_the_toolbar(qtbot):
    from PySide6.QtWidgets import QLabel, QMainWindow, QToolBar

    from cdvae_studio.widgets.panels import ModelCombo

    win = QMainWindow()
    qtbot.addWidget(win)
    bar = QToolBar()
    win.addToolBar(bar)
    combo, after = ModelCombo(), QLabel("Seed")
    bar.addWidget(combo)
    bar.addWidget(after)
    win.resize(1000, 100)
    win.show()
    qtbot.waitExposed(win)
    combo.addItem("MDN K=4 (built-in)", "a")
    qtbot.wait(10)
    x_after, width = after.x(), combo.width()

    combo.clear()  # the models of another task, with long names
    for text, key in (("MDN K=4 (built-in)", "a"), ("Gauss (trained here · motion-1712345678)", "b"), (LONG, "c")):
        combo.addItem(text, key)
    combo.setCurrentIndex(2)
    qtbot.wait(10)
    assert (after.x(), combo.width()) == (x_after, width)  # the toolbar did not jump
    assert tooltip(combo) == LONG  # the full name on hover
    shown = combo.shown_text()  # elided in the middle: the kind and the folder's end stay readable
    assert shown != LONG and shown.startswith("Gauss (opened") and shown.endswith("2024-05-01)")
    combo.setCurrentIndex(1)
    assert combo.shown_text() == combo.currentText() == tooltip(combo)  # fits: shown whole

    combo.showPopup()
    try:
        text_w = combo.view().fontMetrics().horizontalAdvance(LONG)
        qtbot.waitUntil(lambda: combo.view().isVisible())
        assert combo.view().width() > text_w  # every name whole in the list
        assert combo.itemData(2, Qt.ItemDataRole.ToolTipRole) == LONG
    finally:
        combo.hidePopup()


def test_the_main_windows_model_combo_is_the_long_name_combo(qtbot, make_window, settle):
    from cdvae_studio.widgets.panels import ModelCombo

    win = make_window("resaturation")
    settle(win)
    assert isinstance(win.tieCombo, ModelCombo) and win.tieCombo.objectName() == "tieCombo"
    assert tooltip(win.tieCombo) == win.tieCombo.currentText() != ""


def test_open_train_and_export_stay_visible_in_a_narrow_window(qtbot, make_window, settle):
    """At 1,280 px the one toolbar pushed Open image, Open model, Train and Export into its
    overflow menu. They have a toolbar of their own now, on a second row when the window is too
    narrow for both, and back on one row when it is wide again."""
    from PySide6.QtWidgets import QApplication

    win = make_window("resaturation")
    settle(win)
    actions = (win.openAction, win.openModelAction, win.trainAction, win.exportAction)
    need = win.toolbar.sizeHint().width() + win.actionsBar.sizeHint().width()
    assert 1280 < need < 1560  # the widths this test is about
    # from a narrow window to one a pixel short of both (the model combo widens on the way):
    # Export went into the overflow menu until the next resize
    for width, rows in ((1560, 1), (1280, 2), (1560, 1), (800, 2), (need - 1, 2), (1560, 1)):
        win.resize(width, 900)
        QApplication.processEvents()
        QApplication.processEvents()  # the second look once the toolbar's layout has run
        assert win.width() == width
        assert win.toolBarBreak(win.actionsBar) == (rows == 2)
        same_row = win.actionsBar.geometry().top() == win.toolbar.geometry().top()
        assert same_row == (rows == 1)
        for action in actions:  # each a visible button of the bar, none in the overflow menu
            button = win.actionsBar.widgetForAction(action)
            assert button is not None and button.isVisible(), (width, action.text())
            assert win.actionsBar.rect().contains(button.geometry()), (width, action.text())


def test_the_model_combo_narrows_before_toolbar_controls_overflow(qtbot, make_window, settle):
    """At 1,000 px "Full samples" went into the main toolbar's overflow menu: the model combo kept
    its 30 characters (Qt also caches a combo's minimum size from its first contents length).
    Now it narrows, its label elided, to 12 characters at least, and widens again."""
    from PySide6.QtWidgets import QApplication

    from cdvae_studio.window_geometry import MODEL_CHARS

    win = make_window("resaturation")
    settle(win)
    controls = (win.taskCombo, win.tieCombo, win.resampleButton, win.seedSpin, win.seedLock,
                win.temperatureSpin, win.lowerCheck)
    widths = {}
    for width in (1560, 1000, 900, 1560):
        win.resize(width, 800)
        QApplication.processEvents()
        widths.setdefault(width, []).append(win.tieCombo.width())
        for control in controls:  # in the toolbar's row, none in its overflow menu
            assert control.isVisible(), (width, control.objectName())
            assert win.toolbar.rect().contains(control.geometry()), (width, control.objectName())
    assert widths[1560][0] == widths[1560][1] == win.tieCombo.sizeHint().width()
    assert widths[1560][0] > widths[1000][0] > widths[900][0]
    assert win.tieCombo.minimumContentsLength() == MODEL_CHARS[0]
    win.resize(600, 800)  # narrower than any combo can help: the least width, the rest overflows
    QApplication.processEvents()
    assert win.tieCombo.minimumContentsLength() == MODEL_CHARS[1]
    # a label goes with its control: "Temperature" stayed in the row while its spin box overflowed
    from PySide6.QtWidgets import QLabel

    for spin, text in ((win.seedSpin, "Seed"), (win.temperatureSpin, "Temperature")):
        box = spin.parentWidget()
        assert box is not win.toolbar and [w.text().strip() for w in box.findChildren(QLabel)] == [text]
        assert spin.isVisible() == box.findChild(QLabel).isVisible()


def test_the_flow_views_truth_figures_never_take_width_from_the_grid(qtbot, make_window, settle, tmp_path, pan_video):
    """Ticking the Flow tab's Truth box lengthened its figures line ("... · truth 12.7, 11.1")
    past the right pane's width, and the splitter took the width from the grid, whose last
    column of samples went to a new row. It wrapped, then (three lines, its last letters cut at
    the edge); now it has a line of its own under the controls, whole and never wider than the pane."""
    pan_video(tmp_path / "pan.avi", 20)
    win = make_window("motion")
    win.resize(1560, 960)
    win.show()
    settle(win)
    win.state.open_paths([str(tmp_path / "pan.avi")])
    qtbot.waitUntil(lambda: win.state.ctx.doc.name == "pan.avi", timeout=30_000)
    settle(win)
    win.views.setCurrentWidget(win.flowView)
    qtbot.wait(100)  # the layout settles through posted events
    before = win.splitter.sizes()
    win.flowView.truth.setChecked(True)
    qtbot.wait(100)
    assert "truth" in win.flowView.info.text()
    assert win.splitter.sizes() == before
    info = win.flowView.info
    assert info.fontMetrics().horizontalAdvance(info.text()) <= info.contentsRect().width()  # one whole line


def test_a_narrow_window_keeps_the_sample_grid_wide(qtbot, make_window, settle):
    """At 1,024 px the grid got 260 px (two columns of 70-px samples) while the right pane kept
    581: the LPP scatter's controls row set its minimum width, and the grid, which can shrink
    furthest, took the whole loss. The scatter's combos elide where the row is short, and every
    pane gives up width in proportion."""
    from PySide6.QtWidgets import QApplication

    win = make_window("resaturation")
    settle(win)
    assert win.splitter.widget(2).minimumSizeHint().width() <= 440
    for width in (1024, 1560, 1024):
        win.resize(width, 700)
        QApplication.processEvents()
        left, grid, right = win.splitter.sizes()
        assert grid >= right and grid > 0.4 * width, (width, win.splitter.sizes())
    scatter = win.lppScatter
    win.views.setCurrentWidget(scatter)
    QApplication.processEvents()
    scatter.colour.setCurrentText("mixture component")
    shown = scatter.colour.shown_text()
    assert shown == "mixture component" or (shown.endswith("…") and shown[:-1] in "mixture component")


def test_an_800_px_window_gives_the_grid_three_columns(qtbot, make_window, settle):
    """The left pane's titles ("Starred (right-click a sample)") held it at 175 px: at 800 x 600
    the grid got 220 px, two columns of 62-px samples. The titles are short now (the empty tray
    says how to star), the pane narrows to its tab bar, and the grid gets three columns."""
    from PySide6.QtWidgets import QApplication

    win = make_window("resaturation")
    settle(win)
    assert win.splitter.widget(0).minimumSizeHint().width() <= 140
    win.resize(800, 600)
    QApplication.processEvents()
    settle(win)
    assert win.splitter.sizes()[1] >= 240, win.splitter.sizes()  # 220 before
    assert win.sampleGrid.columns == 3
    assert win.tray.count() == 0 and "star" in win.tray.EMPTY_TEXT


def test_a_badge_too_wide_for_its_cell_drops_words_never_digits():
    """Small cells cut "12% · drift 1.2σ" at their edge, and it read "12% · drift" or "drift 1",
    numbers the sample does not have."""
    from cdvae_studio.widgets.sample_grid import TEXT_MARGIN, fitting_badge

    def width(text: str) -> float:
        return 7.0 * len(text)

    both = "12% · drift 1.2σ"
    assert fitting_badge(both, width(both) + 2 * TEXT_MARGIN, width) == both
    assert fitting_badge(both, width(both) - 1, width) == "12% · 1.2σ"
    assert fitting_badge(both, width("12% · 1.2σ") - 1, width) == "1.2σ"  # the drift first: it can be red
    assert fitting_badge(both, width("1.2σ") - 1, width) == ""
    assert fitting_badge("drift 0.8σ", width("drift 0.8σ"), width) == "0.8σ"
    assert fitting_badge("", 500, width) == ""
    assert fitting_badge("drift 0.8σ", 500, width, height=12 + 2 * TEXT_MARGIN, line=12) == "drift 0.8σ"
    assert fitting_badge("drift 0.8σ", 500, width, height=9, line=12) == ""  # a panorama's low cells


def test_a_click_opens_the_example_the_hover_thumbnail_shows(scatter, qtbot):
    """In a dense cluster several points lie under the cursor; pyqtgraph's click and hover hit
    tests need not name the same one first (hovered points are drawn larger), and a click under
    the thumbnail of #181 opened #416. The click opens the example whose thumbnail is shown."""
    scatter.set_embedding(embedding(600, 3))
    spots = scatter.points.points()
    under_cursor = [spots[416], spots[181]]  # the click's hit test names #416 first
    scatter._hovered(None, [spots[181], spots[416]], None)
    assert scatter.thumb_text.text() == "#181 (train)"
    with qtbot.waitSignal(scatter.exampleClicked, timeout=1000) as clicked:
        scatter._clicked(None, under_cursor)
    assert clicked.args == [181]
    # off the points, or after the points moved (other axes), the click's own first point counts
    scatter._hovered(None, [], None)
    with qtbot.waitSignal(scatter.exampleClicked, timeout=1000) as clicked:
        scatter._clicked(None, under_cursor)
    assert clicked.args == [416]
    scatter._hovered(None, [spots[181]], None)
    scatter.y_axis.setCurrentIndex(2)
    with qtbot.waitSignal(scatter.exampleClicked, timeout=1000) as clicked:
        scatter._clicked(None, under_cursor)
    assert clicked.args == [416]


def test_another_model_takes_down_the_last_ones_hover_label(scatter):
    """Opening a model without an embedding left the previous model's "#181 (train)" and its
    thumbnail up over an empty plot."""
    scatter.set_embedding(embedding(600, 3))
    spots = scatter.points.points()
    scatter._hovered(None, [spots[181]], None)
    assert scatter.thumb_text.text() == "#181 (train)" and scatter.thumb.isVisibleTo(scatter)
    scatter.set_embedding(None, "This model was saved without a training embedding.")
    assert scatter.thumb_text.text() == "hover a point" and not scatter.thumb.isVisibleTo(scatter)


def test_status_labels_squeezed_by_a_narrow_window_end_in_an_ellipsis(qtbot):
    """In an 800-px window the status bar's model and timing lines were cut mid-word ("…D=16, ti")."""
    from cdvae_studio.widgets.panels import ElidingLabel

    label = ElidingLabel("Gauss (built-in) · D=16, tied 13")
    qtbot.addWidget(label)
    label.resize(label.sizeHint())
    assert label.shown_text() == label.text()
    label.resize(label.sizeHint().width() // 2, label.sizeHint().height())
    assert label.shown_text().endswith("…") and label.text() == "Gauss (built-in) · D=16, tied 13"
    assert label.minimumSizeHint().width() < label.sizeHint().width() // 2  # the bar may squeeze it

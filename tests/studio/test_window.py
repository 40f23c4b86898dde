"""The main window driven by its widgets' object names, checked against the library's own output."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PySide6.QtCore import QPointF, Qt
from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QPushButton, QSlider

from cdvae_studio.render import compose_cells



def shown_xg(win) -> np.ndarray:
    """The grid's x_g recomputed by the library from the grid's codes and lower-layer noise."""
    ctx, state = win.state.ctx, win.state
    noise = state.noise_rows()
    return ctx.predictor.decode(ctx.cond, state.codes) if noise is None else ctx.predictor.decode(ctx.cond, state.codes, noise)


def grid_images(win) -> np.ndarray:
    return win.sampleGrid.cell_images().copy()


def click_item(qtbot, view_widget, scene_point: QPointF) -> None:
    pos = view_widget.mapFromScene(scene_point)
    qtbot.mouseClick(view_widget.viewport(), Qt.MouseButton.LeftButton, pos=pos)


def test_opens_on_default_and_grid_matches_library(qtbot, make_window, settle):
    win = make_window("resaturation")
    settle(win)
    task_combo = win.findChild(QComboBox, "taskCombo")
    tie_combo = win.findChild(QComboBox, "tieCombo")
    assert task_combo.currentText() == "resaturation"
    assert tie_combo.currentText().startswith("MDN K=4")
    ctx = win.state.ctx
    assert ctx.doc.name == "astronaut.png" or ctx.doc.name.endswith(".png") or ctx.doc.name.endswith(".jpg")
    # the grid shows exactly what the library decodes for the grid's codes (independent recomputation)
    codes = win.state.codes
    assert codes.shape == (16, ctx.predictor.code_dim)
    assert win.findChild(QCheckBox, "lowerLayersCheck").isChecked()  # full samples by default
    xg = shown_xg(win)
    np.testing.assert_array_equal(grid_images(win), compose_cells(win.state.task, ctx.doc, xg, detail=ctx.detail))
    assert ctx.detail is not None and ctx.detail.shape == (1,) + ctx.doc.small.shape[:2]
    # the codes and lower-layer noise are the library's draw for the displayed seed, and the grid
    # shows the model's own samples for that seed: what Predictor.sample (cdvae-sample) gives
    want_codes, want_noise = ctx.predictor.draw(ctx.cond, 16, win.state.seed)
    np.testing.assert_allclose(codes, want_codes, atol=1e-6)
    np.testing.assert_array_equal(win.state.noise, want_noise)
    np.testing.assert_allclose(win.state.grid.xg, ctx.predictor.sample(ctx.cond, 16, win.state.seed), atol=1e-6)
    assert "MDN K=4" in win.modelLabel.text()
    assert win.preview.image() is not None  # the full-resolution preview arrived
    assert "samples" in win.timingLabel.text()


def test_slider_move_changes_grid_and_pins_component(qtbot, make_window, settle):
    win = make_window("resaturation")
    settle(win)
    before = grid_images(win)
    sliders = win.findChild(object, "codeSliders")
    slider = sliders.findChild(QSlider, "codeSlider0")
    target = -350 if slider.value() > 0 else 350
    slider.setValue(target)
    settle(win)
    after = grid_images(win)
    assert not np.array_equal(before, after)
    codes = win.state.codes
    np.testing.assert_allclose(codes[:, 0], target / 100.0, atol=1e-6)  # pinned in every sample
    ctx = win.state.ctx
    np.testing.assert_array_equal(after, compose_cells(win.state.task, ctx.doc, shown_xg(win), detail=ctx.detail))
    # undo brings the drawn code back
    win.state.undo()
    settle(win)
    np.testing.assert_array_equal(grid_images(win), before)


def test_click_sample_makes_it_current(qtbot, make_window, settle):
    win = make_window("resaturation")
    settle(win)
    grid = win.sampleGrid
    click_item(qtbot, grid, grid.cell_rect(5).center())
    assert win.state.current == 5
    np.testing.assert_allclose(win.codeSliders.code(), win.state.codes[5], atol=0.006)  # slider resolution 0.01
    settle(win)
    # right click stars it; the tray collects it
    pos = grid.mapFromScene(grid.cell_rect(5).center())
    qtbot.mouseClick(grid.viewport(), Qt.MouseButton.RightButton, pos=pos)
    assert win.tray.count() == 1 and 5 in grid.starred


def test_resample_and_seed_lock(qtbot, make_window, settle):
    win = make_window("resaturation")
    settle(win)
    first = win.state.codes.copy()
    qtbot.mouseClick(win.findChild(QPushButton, "resampleButton"), Qt.MouseButton.LeftButton)
    settle(win)
    assert not np.allclose(first, win.state.codes)
    win.seedLock.setChecked(True)
    locked = win.state.codes.copy()
    win.resampleButton.click()
    settle(win)
    np.testing.assert_allclose(locked, win.state.codes)


def test_task_and_tie_combos(qtbot, make_window, settle):
    win = make_window("resaturation")
    settle(win)
    win.taskCombo.setCurrentText("relighting")
    settle(win)
    assert win.state.ctx.predictor.task == "relighting"
    assert [win.tieCombo.itemText(i).split(" (")[0] for i in range(win.tieCombo.count())] == ["Gauss"]
    assert win.state.ctx.doc.xc.shape == (3, 32, 32)
    tied = win.codeSliders.findChild(object, "tiedGroup")
    assert tied is not None and "13" in tied.title()  # round(0.8 * 16) tied components
    win.taskCombo.setCurrentText("motion")
    settle(win)
    assert win.views.currentWidget() is win.flowView
    flow = win.state.grid.xg[win.state.current]
    assert flow.shape == (2, 32, 32)
    assert "px/s" in win.flowView.info.text()
    # one colour scale per image and model, from its first grid, kept while sliders move
    ctx = win.state.ctx
    first = ctx.grid.xg
    speed95 = np.percentile(np.hypot(first[:, 0], first[:, 1]), 95)
    assert ctx.flow_scale == pytest.approx(np.clip(speed95, 0.5, 8.0))
    win.codeSliders.findChild(QSlider, "codeSlider0").setValue(250)
    settle(win)
    np.testing.assert_array_equal(grid_images(win), compose_cells(win.state.task, ctx.doc, shown_xg(win), ctx.flow_scale,
                                                                  ctx.detail))
    assert "flow colour full at" in win.timingLabel.text()


def test_no_model_for_task_shows_empty_state(qtbot, make_window, settle, tmp_path):
    empty = tmp_path / "assets"
    (empty / "models").mkdir(parents=True)
    win = make_window("relighting", assets=empty)
    qtbot.waitUntil(lambda: win.centerStack.currentIndex() == 1, timeout=10_000)
    assert "No model for the relighting task" in win.emptyLabel.text()
    assert win.tieCombo.count() == 0


def test_scatter_click_opens_example_and_hover_highlights(qtbot, make_window, settle):
    win = make_window("resaturation")
    settle(win)
    win.views.setCurrentWidget(win.lppScatter)
    scatter = win.lppScatter
    emb = win.state.ctx.predictor.embedding
    assert len(scatter.points.data) == len(emb.split)
    rows = [int(p.data()) for p in scatter.points.points()]
    assert rows == list(range(len(emb.split)))  # every point carries its row index
    pt = scatter.points.points()[7]
    scatter._clicked(scatter.points, [pt])
    settle(win)
    assert win.state.ctx.doc.name == "training example #7"
    np.testing.assert_allclose(win.state.ctx.doc.xc, emb.xc_thumbs[7].astype(np.float32))
    win.sampleGrid.sampleHovered.emit(3)
    x, y = scatter.hovered.getData()
    a, b = scatter._axes()
    assert (x[0], y[0]) == (win.state.codes[3, a], win.state.codes[3, b])


def test_nearest_neighbour_from_a_pair_file(qtbot, make_window, settle, studio_assets):
    from cdvae_core.nearest import NearestNeighbour
    from cdvae_core.pairs import load_pairs

    from PySide6.QtWidgets import QFileDialog

    win = make_window("resaturation")
    settle(win)
    # File > Open nearest-neighbour baseline: Open model asks for a folder, which a pair file is not
    asked: list[str] = []
    pair_file = str(studio_assets / "pairs" / "synthetic.npz")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(QFileDialog, "getOpenFileName", lambda *a: asked.append(a[3]) or (pair_file, a[3]))
        win.openPairsAction.trigger()
    assert asked == ["Pair files (*.npz)"] and win.openPairsAction in win.menu_actions()
    settle(win)
    assert win.tieCombo.currentText().startswith("Nearest neighbour")
    assert win.codeSliders.code_dim == 0  # no code to explore
    train = load_pairs(studio_assets / "pairs" / "synthetic.npz").train()
    expected = NearestNeighbour.fit(train.xc, train.xg).sample(win.state.ctx.doc.xc[None], 16)[0]
    np.testing.assert_array_equal(win.state.grid.xg, expected)  # sample i = i-th neighbour


def test_sweep_strips_lasso_and_session(qtbot, make_window, settle, tmp_path):
    win = make_window("resaturation")
    settle(win)
    win.codeSliders.show_sweeps.setChecked(True)
    settle(win)
    d = win.state.ctx.predictor.code_dim
    assert all(not win.codeSliders.sweep_pixmap(i).isNull() for i in range(d))
    assert win.codeSliders.sweep_pixmap(0).width() == 5 * 28  # -2..+2 std in five thumbnails
    rows = win.lppScatter.select_rect(-10, -10, 20, 20)  # everything
    assert len(rows) == len(win.state.ctx.predictor.embedding.split)
    assert win.lppScatter.selection_list.count() == min(48, len(rows))
    # a saved session reopens the same image, model, seed and code
    win.state.select_sample(4)
    win.codeSliders.random_all_button.click()  # a code and lower-layer noise the seed alone cannot give
    settle(win)
    code, noise = win.state.current_code().copy(), win.state.current_noise()
    win.state.save_session(str(tmp_path / "s.json"))
    other = make_window("relighting")
    settle(other)
    other.state.open_session(str(tmp_path / "s.json"))
    settle(other)
    assert other.state.task_name == "resaturation" and other.state.current == 4
    assert other.state.seed == win.state.seed
    np.testing.assert_allclose(other.state.current_code(), code, atol=1e-6)
    np.testing.assert_array_equal(other.state.current_noise(), noise)
    np.testing.assert_array_equal(other.state.grid.xg[4], win.state.grid.xg[4])  # the very same sample


def test_interpolation_and_sweep_gifs_from_the_menus(qtbot, make_window, settle, tmp_path, monkeypatch):
    import imageio.v3 as iio
    from PySide6.QtWidgets import QFileDialog, QInputDialog, QMenu

    win = make_window("resaturation")
    settle(win)
    state = win.state
    titles = [a.text() for m in win.menuBar().findChildren(QMenu) for a in m.actions()]
    assert "Export interpolation as GIF or MP4…" in titles and "Export sweep as GIF or MP4…" in titles
    state.select_sample(2)
    settle(win)
    assert state.interpolation_partner() == 3  # nothing starred: the next sample
    state.toggle_star(9)
    state.toggle_star(2)  # the current sample itself is never its own partner
    assert state.interpolation_partner() == 9
    asked = {}

    def get_int(parent, title, label, value, lo, hi):
        asked.update(value=value, lo=lo, hi=hi)
        return value, True

    monkeypatch.setattr(QInputDialog, "getInt", staticmethod(get_int))
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: (str(tmp_path / "i.gif"), "")))
    win.interpolationGifAction.trigger()
    assert asked == {"value": 10, "lo": 1, "hi": len(state.codes)}  # shown 1-based
    qtbot.waitUntil(lambda: (tmp_path / "i.gif").exists() and state.is_settled(), timeout=60_000)
    frames = iio.imread(tmp_path / "i.gif", index=None)
    first, far_end = frames[0].astype(int), frames[len(frames) // 2].astype(int)
    assert len(frames) >= 10 and np.abs(first - far_end).mean() > 0  # it goes somewhere and back
    assert "interpolation" in win.statusBar().currentMessage()

    # the current sample itself asks again, saying why, rather than ending without a word
    labels, answers = [], iter([3, 7])

    def pick_current_first(parent, title, label, value, lo, hi):
        labels.append(label)
        return next(answers), True

    monkeypatch.setattr(QInputDialog, "getInt", staticmethod(pick_current_first))
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: (str(tmp_path / "j.gif"), "")))
    win.interpolationGifAction.trigger()
    assert len(labels) == 2 and "#3 is the current sample itself" in labels[1]
    qtbot.waitUntil(lambda: (tmp_path / "j.gif").exists() and state.is_settled(), timeout=60_000)


def test_spread_control_redraws_the_same_samples_pulled_in_and_is_saved(qtbot, make_window, settle, tmp_path):
    win = make_window("resaturation")
    settle(win)
    state, ctx = win.state, win.state.ctx
    spin = win.findChild(QDoubleSpinBox, "temperatureSpin")
    assert spin.value() == 1.0
    seed, before = state.seed, state.codes.copy()
    spin.setValue(0.25)
    settle(win)
    assert state.seed == seed  # the same draws, only their spread changes
    np.testing.assert_allclose(state.codes, ctx.predictor.draw_codes(ctx.cond, 16, seed, temperature=0.25), atol=1e-6)
    assert not np.allclose(state.codes, before)
    np.testing.assert_array_equal(grid_images(win), compose_cells(win.state.task, ctx.doc, shown_xg(win), detail=ctx.detail))
    state.save_session(str(tmp_path / "s.json"))
    other = make_window("relighting")
    settle(other)
    other.state.open_session(str(tmp_path / "s.json"))
    settle(other)
    assert other.findChild(QDoubleSpinBox, "temperatureSpin").value() == 0.25 and other.state.temperature == 0.25


def test_help_menu_lists_every_shortcut_and_says_what_is_loaded(qtbot, make_window, settle):
    """Help > Keyboard shortcuts is read from the menus (so a new shortcut shows up without an
    edit here) plus the mouse gestures; Help > About names the version, the paper, the
    libraries, and the model and settings file in use."""
    from PySide6.QtGui import QKeySequence

    from cdvae_studio.help_dialogs import GESTURES

    win = make_window("resaturation")
    settle(win)
    help_titles = [a.text() for a in win.menuBar().actions()]
    assert help_titles[-1] == "&Help"
    win.shortcutsAction.trigger()
    table = win.shortcuts_dialog.table
    rows = {table.item(r, 0).text(): table.item(r, 1).text() for r in range(table.rowCount())}
    native = QKeySequence.SequenceFormat.NativeText
    with_keys = [a for a in win.menu_actions() if not a.shortcut().isEmpty()]
    # open, paste, model, session x2, export x3, quit, resample, distinct, star, copy, undo, redo, train, help
    assert len(with_keys) == 17
    for action in with_keys:
        assert rows[action.text().rstrip("…")] == action.shortcut().toString(native)
    assert rows["Resample"] == "R" and rows["Distinct results"] == "D" and rows["Export"] == QKeySequence("Ctrl+E").toString(native)
    assert rows["Quit"] == QKeySequence("Ctrl+Q").toString(native)  # StandardKey.Quit is empty offscreen
    assert rows["Copy result (full resolution)"] == QKeySequence("Ctrl+C").toString(native)
    assert rows["Paste image or files"] == QKeySequence("Ctrl+V").toString(native)
    for what, does in GESTURES:
        assert rows[what] == does
    assert table.rowCount() == len(with_keys) + len(GESTURES)
    # every text whole, wrapped in its cell: the gestures were cut to "Arrow keys in the grid (Ho…"
    from PySide6.QtCore import QRect

    qtbot.waitExposed(win.shortcuts_dialog)
    metrics = table.fontMetrics()
    for r in range(table.rowCount()):
        for c in (0, 1):
            room = QRect(0, 0, table.columnWidth(c) - 10, 10_000)  # less the cell's padding
            needed = metrics.boundingRect(room, int(Qt.TextFlag.TextWordWrap), table.item(r, c).text()).height()
            assert needed <= table.rowHeight(r), (table.item(r, c).text(), needed, table.rowHeight(r))
    assert max(table.rowHeight(r) for r in range(table.rowCount())) > min(table.rowHeight(r) for r in range(table.rowCount()))
    win.shortcutsAction.trigger()
    assert win.shortcuts_dialog.table is table  # shown again, not built again

    win.aboutAction.trigger()
    box = win.about_box
    text = box.text()
    assert box.isVisible() and "CDVAE Studio" in text and "Co-embedding Deep Variational Auto" in text
    entry = win.state.ctx.entry
    assert f"Loaded model: {entry.label}, from {entry.path}" in text
    assert torch.__version__ in text and win.settings.fileName() in text
    box.accept()

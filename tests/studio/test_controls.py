"""Code controls and model switching, driven through the widgets and checked against the library."""

from __future__ import annotations

import numpy as np
from PySide6.QtWidgets import QSlider

from cdvae_studio.jobs import GRID


def test_tie_combo_switches_model_with_one_load_each(qtbot, make_window, settle, tmp_path, untrained_model,
                                                    submissions):
    win = make_window("resaturation")
    settle(win)
    untrained_model(tmp_path / "gauss", "resaturation", "gauss")
    seen = submissions(win)
    win.state.open_model(str(tmp_path / "gauss"))
    settle(win)
    assert seen.count("context") == 1, seen  # one model load per choice, not one per signal
    assert win.state.ctx.predictor.tied_dims > 0 and not getattr(win.state.ctx.predictor, "mixtures", 0)
    labels = [win.tieCombo.itemText(i) for i in range(win.tieCombo.count())]
    mdn = next(i for i, text in enumerate(labels) if text.startswith("MDN"))
    win.tieCombo.setCurrentIndex(mdn)  # the user's own switch goes through the combo's signal
    settle(win)
    assert seen.count("context") == 2, seen
    assert win.state.ctx.entry.key == win.tieCombo.itemData(mdn) and win.state.ctx.predictor.mixtures == 4
    assert win.modelLabel.text().startswith("MDN") and "K=4" in win.modelLabel.text()
    # which p(z_g | z_c) the grid draws from: the tooltip names it (the MDN's default since 2026-11-29)
    assert win.modelLabel.toolTip() == win.state.ctx.predictor.config.conditional_text
    assert "the raw MDN p(z_g | z_c): tie_conditional \"paper\"" in win.modelLabel.toolTip()


def test_mdn_component_picker_draws_from_that_component(qtbot, make_window, settle):
    win = make_window("resaturation")
    settle(win)
    ctx, combo = win.state.ctx, win.codeSliders.component_combo
    weights = ctx.predictor.mixture(ctx.cond)[0]
    assert combo.isVisibleTo(win) and combo.count() == len(weights) + 1
    assert combo.itemText(3) == f"component 2: weight {float(weights[2]):.2f}"
    combo.setCurrentIndex(3)
    settle(win)
    expected = ctx.predictor.draw_codes(ctx.cond, GRID, win.state.seed, 2, temperature=win.state.temperature)
    np.testing.assert_array_equal(win.state.codes, expected)
    combo.setCurrentIndex(0)  # back to the mixture
    settle(win)
    mixture = ctx.predictor.draw_codes(ctx.cond, GRID, win.state.seed, None, temperature=win.state.temperature)
    np.testing.assert_array_equal(win.state.codes, mixture)


def test_reset_and_randomise_buttons(qtbot, make_window, settle):
    mdn = make_window("resaturation")
    settle(mdn)  # an MDN tie conditions every component: nothing untied, and the button says why
    assert not mdn.codeSliders.random_untied_button.isEnabled()
    assert "Nothing to randomise" in mdn.codeSliders.random_untied_button.toolTip()
    win = make_window("relighting")  # a Gaussian tie: 13 tied, 3 untied components
    settle(win)
    assert win.codeSliders.random_untied_button.isEnabled()
    state, sliders = win.state, win.codeSliders
    drawn = state.drawn.copy()
    sliders.findChild(QSlider, "codeSlider0").setValue(300)
    settle(win)
    assert np.allclose(state.codes[:, 0], 3.0) and state.pinned[0]
    sliders.reset_button.click()
    settle(win)
    np.testing.assert_array_equal(state.codes, drawn)
    assert not state.pinned.any()
    tied, cur = state.ctx.predictor.tied_dims, state.current
    before, noise = state.codes.copy(), state.noise.copy()
    assert noise.shape == (16, ctx_noise_dim(state)) and noise.shape[1] > 0
    sliders.random_untied_button.click()
    settle(win)
    np.testing.assert_array_equal(state.noise, noise)  # the lower layers' draws stay with the sample
    np.testing.assert_array_equal(state.codes[cur, :tied], before[cur, :tied])  # tied code kept
    assert not np.array_equal(state.codes[cur, tied:], before[cur, tied:])
    np.testing.assert_array_equal(np.delete(state.codes, cur, 0), np.delete(before, cur, 0))  # other samples kept
    before = state.codes.copy()
    sliders.random_all_button.click()
    settle(win)
    assert (state.codes[cur] != before[cur]).all()
    assert (state.noise[cur] != noise[cur]).all()  # "all" draws the lower layers afresh too
    np.testing.assert_array_equal(np.delete(state.noise, cur, 0), np.delete(noise, cur, 0))
    ctx = state.ctx
    np.testing.assert_allclose(state.grid.xg[cur], ctx.predictor.decode(ctx.cond, state.codes[cur:cur + 1],
                                                                         state.noise[cur:cur + 1])[0], atol=1e-6)
    state.undo()
    settle(win)
    np.testing.assert_array_equal(state.noise, noise)
    sliders.reset_button.click()
    settle(win)
    np.testing.assert_array_equal(state.noise, state.drawn_noise)


def test_redo_goes_back_to_what_undo_undid_until_the_next_edit_or_draw(qtbot, make_window, settle):
    """Undo steps back through slider moves, reset and randomise; redo walks forward again, each
    step as it was (codes, noise, pins, current sample, draw); a new edit or a new draw ends the
    way forward, as in any editor."""
    win = make_window("relighting")
    settle(win)
    state, sliders = win.state, win.codeSliders

    def shown():
        return state.codes.copy(), state.noise.copy(), state.pinned.copy(), state.current, state.codes_draw

    def same(a, b) -> bool:
        return all(np.array_equal(x, y) if isinstance(x, np.ndarray) else x == y for x, y in zip(a, b))

    from PySide6.QtGui import QKeySequence

    # shown as the docs name it, Ctrl+Shift+Z (Linux's bindings listed Ctrl+Y first), Ctrl+Y kept
    keys = win.redoAction.shortcuts()
    assert keys[0] == QKeySequence("Ctrl+Shift+Z") and QKeySequence("Ctrl+Y") in keys and len(set(keys)) == len(keys)
    steps = [shown()]
    sliders.findChild(QSlider, "codeSlider1").setValue(250)
    state.select_sample(4)  # not an edit: the step the next edit starts from holds it
    settle(win)
    steps.append(shown())
    state._last_edit = 0.0  # the next edit is a step of its own (as after UNDO_GAP_S)
    sliders.random_all_button.click()
    settle(win)
    steps.append(shown())
    assert not same(steps[1], steps[2]) and not same(steps[0], steps[1])
    win.undoAction.trigger()
    win.undoAction.trigger()
    settle(win)
    assert same(shown(), steps[0])
    win.redoAction.trigger()
    settle(win)
    assert same(shown(), steps[1])
    win.redoAction.trigger()
    settle(win)
    assert same(shown(), steps[2])
    win.redoAction.trigger()  # nothing left to redo
    settle(win)
    assert same(shown(), steps[2])
    np.testing.assert_allclose(state.grid.xg, state.ctx.predictor.decode(state.ctx.cond, state.codes, state.noise),
                               atol=1e-5)

    win.undoAction.trigger()
    settle(win)
    sliders.findChild(QSlider, "codeSlider3").setValue(-120)  # a new edit: no way forward
    settle(win)
    after_edit = shown()
    win.redoAction.trigger()
    settle(win)
    assert same(shown(), after_edit)
    win.undoAction.trigger()
    settle(win)
    assert same(shown(), steps[1])
    win.resampleAction.trigger()  # a new draw ends it too
    settle(win)
    drawn = shown()
    win.redoAction.trigger()
    settle(win)
    assert same(shown(), drawn) and not state.redo_stack


def ctx_noise_dim(state) -> int:
    return state.ctx.predictor.noise_dim


def test_slider_moved_while_a_new_image_loads(qtbot, make_window, settle, tmp_path):
    """The old model's sliders stay live until the new image's context lands: moving one then must
    not raise (it used to index an emptied pin mask), and the new image wins."""
    import cv2

    win = make_window("resaturation")
    settle(win)
    photo = (np.indices((60, 90, 3)).sum(0) * 7 % 256).astype(np.uint8)
    cv2.imwrite(str(tmp_path / "new.png"), photo)
    win.state.open_image(str(tmp_path / "new.png"))
    win.codeSliders.findChild(QSlider, "codeSlider1").setValue(-150)
    settle(win)
    assert win.state.ctx.doc.name == "new.png"
    assert win.state.pinned.shape == (win.state.ctx.predictor.code_dim,) and not win.state.pinned.any()


def test_scatter_colours_by_mixture_component(qtbot, make_window, settle):
    import torch

    win = make_window("resaturation")
    settle(win)
    scatter, ctx = win.lppScatter, win.state.ctx
    item = scatter.colour.model().item(2)
    assert scatter.colour.itemText(2) == "mixture component" and item.isEnabled()
    codes = np.asarray(ctx.predictor.embedding.codes_c, np.float32)
    with torch.inference_mode():  # one code at a time, straight through the model's MDN
        expected = [int(ctx.predictor.model.conditional(torch.from_numpy(c[None])).log_weights.argmax())
                    for c in codes[:40]]
    np.testing.assert_array_equal(scatter.components[:40], expected)
    scatter.colour.setCurrentIndex(2)
    # the small test model puts every code on one component: give the points three to see the colours
    fake = np.arange(len(codes)) % 3
    scatter.set_embedding(ctx.predictor.embedding, "", fake)
    assert scatter.colour.currentIndex() == 2
    names = [b.color().name() for b in scatter.points.data["brush"]]
    assert len(set(names)) == 3 and all(names[i] == names[i % 3] for i in range(len(names)))
    scatter.colour.setCurrentIndex(0)  # by split: train and test points
    split = np.asarray(ctx.predictor.embedding.split)
    names = [b.color().name() for b in scatter.points.data["brush"]]
    assert len(set(names)) == len(set(split.tolist()))
    gauss = make_window("relighting")  # a Gaussian tie has no components: the choice is off
    settle(gauss)
    assert not gauss.lppScatter.colour.model().item(2).isEnabled() and gauss.lppScatter.components is None


def test_scatter_shows_the_pairs_x_g_codes_where_the_model_kept_them(qtbot, make_window, settle):
    """The grid's samples and the current code are z_g codes, drawn over the training pairs' z_c
    (for an MDN tie another space); the x_g codes the embedding keeps are their own backdrop."""
    win = make_window("resaturation")  # trained: its embedding keeps codes_g
    settle(win)
    scatter, emb = win.lppScatter, win.state.ctx.predictor.embedding
    assert scatter.space.itemText(1) == "x_g codes" and scatter.space.model().item(1).isEnabled()
    scatter.space.setCurrentIndex(1)
    a, b = scatter._axes()
    x, y = scatter.points.getData()
    np.testing.assert_array_equal(np.stack([x, y], 1), emb.codes_g[:, [a, b]])
    assert scatter.message.text().endswith("· x_g codes")
    scatter.space.setCurrentIndex(0)
    x, y = scatter.points.getData()
    np.testing.assert_array_equal(np.stack([x, y], 1), emb.codes_c[:, [a, b]])
    scatter.space.setCurrentIndex(1)
    win.taskCombo.setCurrentText("relighting")  # an embedding saved without them: the choice is off
    settle(win)
    assert not scatter.space.model().item(1).isEnabled() and scatter.space.currentIndex() == 0


def test_scatter_selection_frames_the_grid_samples_inside_it(qtbot, make_window, settle):
    win = make_window("resaturation")
    settle(win)
    scatter, codes = win.lppScatter, win.state.codes
    a, b = scatter._axes()
    x, y = codes[:, a], codes[:, b]
    # a rectangle around the lower half (by x) of the grid's samples
    cut = float(np.median(x))
    scatter.select_rect(float(x.min()) - 1, float(y.min()) - 1, cut - float(x.min()) + 1, float(y.max() - y.min()) + 2)
    inside = set(np.flatnonzero(x <= cut).tolist())
    assert win.sampleGrid.lassoed == inside and 0 < len(inside) < len(codes)
    assert scatter.selection_list.isWrapping()  # the selected training examples as a thumbnail grid
    assert scatter.selection_list.count() == min(48, len(scatter.selected))
    from cdvae_studio.widgets.code_sliders import to_ticks

    # pin component a just inside the rectangle's left edge: every sample is then inside
    win.codeSliders.findChild(QSlider, f"codeSlider{a}").setValue(to_ticks(float(x.min()) - 0.5))
    settle(win)
    assert win.sampleGrid.lassoed == set(range(len(codes)))
    scatter.select.setChecked(False)  # hiding the rectangle clears the frames
    assert win.sampleGrid.lassoed == set()


def test_two_animation_exports_both_land_and_the_filter_picks_mp4(qtbot, make_window, settle, tmp_path, monkeypatch):
    import cv2
    from PySide6.QtWidgets import QFileDialog

    win = make_window("resaturation")
    settle(win)
    answers = iter([(str(tmp_path / "sweep"), "MP4 (*.mp4)"), (str(tmp_path / "second.gif"), "GIF (*.gif)")])
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: next(answers)))
    win.export_gif_dialog()  # no suffix typed: the chosen MP4 filter decides
    win.export_gif_dialog()  # asked while the first may still run: queued, not replacing it
    qtbot.waitUntil(lambda: (tmp_path / "second.gif").exists() and win.state.is_settled(), timeout=60_000)
    video = cv2.VideoCapture(str(tmp_path / "sweep.mp4"))
    frames = 0
    while video.read()[0]:
        frames += 1
    video.release()
    assert frames >= 10  # a real, decodable MP4 of the sweep
    assert not (tmp_path / "sweep").exists() and not win.state._exports


def test_a_session_saved_without_json_gets_it_and_replaces_a_file_only_when_asked(make_window, settle, tmp_path,
                                                                                   monkeypatch):
    """A session saved as "mine" was written as such, and Open session's filter (*.json) hid it.
    The dialog asked about the name typed, so the .json file it becomes is asked about here."""
    from PySide6.QtWidgets import QFileDialog, QMessageBox

    win = make_window("resaturation")
    settle(win)
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: (str(tmp_path / "mine"), "")))
    asked: list[str] = []
    answer = [QMessageBox.StandardButton.No]
    monkeypatch.setattr(QMessageBox, "question", staticmethod(lambda parent, title, text, *a: asked.append(text)
                                                              or answer[0]))
    win.save_session_dialog()
    assert (tmp_path / "mine.json").is_file() and not (tmp_path / "mine").exists() and asked == []
    before = (tmp_path / "mine.json").read_bytes()
    win.state.resample()
    settle(win)
    win.save_session_dialog()  # mine.json is there: kept unless the user says to replace it
    assert asked == ["mine.json already exists. Replace it?"] and (tmp_path / "mine.json").read_bytes() == before
    answer[0] = QMessageBox.StandardButton.Yes
    win.save_session_dialog()
    assert len(asked) == 2 and (tmp_path / "mine.json").read_bytes() != before
    assert win.settings.value("lastFolder") == str(tmp_path)  # the next file dialog starts there


def test_recent_images_reach_the_gallery_and_layout_is_kept(qtbot, make_window, settle, tmp_path):
    import cv2

    win = make_window("resaturation")
    settle(win)
    paths = []
    for k in range(2):
        paths.append(str(tmp_path / f"extra{k}.png"))
        cv2.imwrite(paths[-1], (np.indices((40, 50, 3)).sum(0) * (k + 3) % 256).astype(np.uint8))
    gallery = win.imagePanel.gallery
    before = gallery.count()
    win.state.add_recent(paths)  # what `cdvae-studio A.png B.png C.png` does with B and C
    shown = [gallery.item(i).data(0x0100) for i in range(gallery.count())]
    assert gallery.count() == before + 2 and shown[-2:] == paths
    win.imagePanel.openRequested.emit(paths[1])  # a click on the gallery entry
    settle(win)
    assert win.state.ctx.doc.name == "extra1.png"
    # the right-hand splitter (views over sliders) is saved with the window's layout; a window
    # height that fits the offscreen screen (800 px), so the reopened window has the same height
    win.resize(win.width(), 760)
    qtbot.waitUntil(lambda: win.height() == 760, timeout=5000)
    win.right_splitter.setSizes([300, 400])
    sizes = win.right_splitter.sizes()
    win.save_settings()
    again = make_window("resaturation", settings=win.settings)
    assert again.height() == 760 and again.right_splitter.sizes() == sizes  # both panes as they were


def test_an_unexpected_image_failure_releases_the_waiting_context(qtbot, make_window, settle, monkeypatch, tmp_path):
    import cdvae_studio.state_media as state_mod

    win = make_window("resaturation")
    settle(win)

    def broken(path, stop=None):
        raise MemoryError("out of memory while decoding")

    monkeypatch.setattr(state_mod, "load_image", broken)  # not an ImageLoadError: the worker's error path
    win.state.open_image(str(tmp_path / "any.png"))
    win.tieCombo.setCurrentIndex(0)  # a model choice while the file is read waits for it
    win.state._tie_changed(0)
    qtbot.waitUntil(lambda: win.banner.isVisible() and "out of memory" in win.banner.text(), timeout=30_000)
    settle(win)
    assert not win.state._image_pending and win.state.ctx is not None


def test_switching_to_a_model_of_fewer_mdn_components_draws_from_the_whole_mixture(qtbot, make_window, settle,
                                                                                     tmp_path, studio_assets,
                                                                                     untrained_model):
    """Component 10 picked on an MDN K=12, then the K=4 chosen: its context failed ("component
    must lie in 0..3") and the window stayed on the K=12."""
    import shutil

    root = tmp_path / "assets"
    shutil.copytree(studio_assets / "models" / "resaturation" / "mdn4", root / "models" / "resaturation" / "mdn4")
    untrained_model(root / "models" / "resaturation" / "mdn12", "resaturation", "mdn", mixtures=12)
    win = make_window("resaturation", assets=root)
    settle(win)
    names = [win.tieCombo.itemText(i) for i in range(win.tieCombo.count())]
    win.tieCombo.setCurrentIndex(next(i for i, n in enumerate(names) if "K=12" in n))
    settle(win)
    win.codeSliders.component_combo.setCurrentIndex(11)  # component 10
    settle(win)
    assert win.state.component == 10 and win.state.codes_draw.component == 10
    win.tieCombo.setCurrentIndex(next(i for i, n in enumerate(names) if "K=4" in n))
    settle(win)
    state = win.state
    assert state.ctx.entry.label.startswith("MDN K=4")
    assert state.component == -1 and win.codeSliders.component_combo.currentIndex() == 0
    assert state.codes_draw.component is None
    expected = state.ctx.predictor.draw_codes(state.ctx.cond, len(state.codes), state.seed, None,
                                              temperature=state.temperature)
    np.testing.assert_array_equal(state.codes, expected)


def test_a_code_value_has_one_slider_position_in_float32_and_float64():
    """The random sequences once found a slider a tick off the state's code: the window places
    sliders from float64 copies and the check took the float32 code, which rounds apart at
    half-ticks (7 of 2 million normal draws)."""
    import numpy as np

    from cdvae_studio.widgets.code_sliders import RANGE, STEPS, to_ticks

    values = np.random.default_rng(0).standard_normal(2_000_000).astype(np.float32)
    apart = [v for v in values[np.abs(values * STEPS / RANGE % 1 - 0.5) < 1e-4] if to_ticks(v) != to_ticks(float(v))]
    assert apart == []
    assert to_ticks(np.float32(-1.245)) == to_ticks(-1.2450000047683716) == -125
    assert (to_ticks(9.0), to_ticks(-9.0)) == (STEPS, -STEPS)  # clipped to the range


def _wheel(widget, notches: int = -1) -> bool:
    """A mouse-wheel turn over the middle of ``widget`` (negative: towards the user, scrolling
    down); whether the widget took it (a real, spontaneous one not taken goes on to the parents:
    the scroll area, as seen under Xvfb; one sent here stops at the widget)."""
    from PySide6.QtCore import QPoint, QPointF, Qt
    from PySide6.QtGui import QWheelEvent
    from PySide6.QtWidgets import QApplication

    centre = QPointF(widget.rect().center())
    event = QWheelEvent(centre, QPointF(widget.mapToGlobal(centre.toPoint())), QPoint(0, 0), QPoint(0, 120 * notches),
                        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(widget, event)
    return event.isAccepted()


def test_the_wheel_scrolls_the_slider_list_and_moves_only_a_focused_slider(qtbot, make_window, settle):
    """Scrolling down the list of sliders moved (and pinned) whichever slider passed under the
    pointer; a moved slider looked like any other, and with Distinct results the shares
    vanished without a word. The wheel now scrolls the list, a pinned component's name is
    marked, and the status bar says why the shares are hidden."""
    from PySide6.QtWidgets import QScrollArea

    win = make_window("relighting")
    win.resize(1280, 640)
    settle(win)
    state, sliders = win.state, win.codeSliders
    area = sliders.findChild(QScrollArea)
    assert area.verticalScrollBar().maximum() > 0  # 16 sliders do not fit: the list scrolls
    slider = sliders.findChild(QSlider, "codeSlider2")
    value = slider.value()
    assert not _wheel(slider, -2)  # left to the scroll area
    settle(win)
    assert slider.value() == value and not state.pinned.any()
    assert _wheel(area.viewport(), -2) and area.verticalScrollBar().value() > 0
    slider.setFocus()
    qtbot.waitUntil(slider.hasFocus)
    assert _wheel(slider, -1)
    settle(win)
    assert slider.value() != value and state.pinned[2]
    names = [label for label in sliders._names]
    assert "bold" in names[2].styleSheet() and "pinned" in names[2].toolTip()
    assert all(label.styleSheet() == "" for i, label in enumerate(names) if i != 2)
    sliders.reset_button.click()
    settle(win)
    assert not state.pinned.any() and names[2].styleSheet() == "" and "pinned" not in names[2].toolTip()
    win.distinctAction.setChecked(True)
    settle(win)
    assert any("%" in text for text in win.sampleGrid.badge_texts())  # each distinct result's share
    sliders.findChild(QSlider, "codeSlider0").setValue(150)
    settle(win)
    assert not any("%" in text for text in win.sampleGrid.badge_texts())
    assert win.statusBar().currentMessage().startswith("Shares hidden: pinned t0 changed every sample")


def test_a_component_that_barely_moves_the_sample_is_greyed_and_says_so(qtbot, make_window, settle):
    """Some top-code components of a VAE go nearly unused: the auditor's relighting slider at +4
    changed the grid by 2.6 grey levels and read as broken. Each slider's tooltip states its
    effect, and the weak ones' names are grey (a pin's bold orange over it)."""
    win = make_window("relighting")
    settle(win)
    state, sliders = win.state, win.codeSliders
    ctx = state.ctx
    effects = ctx.predictor.component_effects(ctx.cond)
    np.testing.assert_allclose(ctx.effects, effects, rtol=1e-5)
    weak = sliders.weak()
    np.testing.assert_array_equal(weak, effects < 0.1 * effects.max())
    names = sliders._names
    for i, label in enumerate(names):
        assert f"changes the result by {effects[i] * 255:.2g} grey levels on average" in label.toolTip()
        assert ("does little" in label.toolTip()) == weak[i]
        assert label.styleSheet() == ("color: #999;" if weak[i] else "")
    if not weak.any():  # the fixture's model uses every component: make the last one weak
        sliders.set_layout(sliders.code_dim, sliders.tied_dims, ctx.mean, ctx.std,
                           np.r_[effects[:-1], effects.max() * 0.01], ("grey levels", 255.0))
        weak, names = sliders.weak(), sliders._names  # rebuilt rows
        assert weak[-1] and names[-1].styleSheet() == "color: #999;"
    i = int(np.flatnonzero(weak)[0])
    sliders.set_pinned(np.arange(sliders.code_dim) == i)
    assert "bold" in names[i].styleSheet() and "pinned" in names[i].toolTip()
    sliders.set_pinned(np.zeros(sliders.code_dim, bool))
    assert names[i].styleSheet() == "color: #999;" and "pinned" not in names[i].toolTip()

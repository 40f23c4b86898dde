"""Code controls and model switching, driven through the widgets and checked against the library."""

from __future__ import annotations

import numpy as np
from PySide6.QtWidgets import QSlider

from cdvae_studio.jobs import GRID


def count_submissions(win, channel: str) -> list[str]:
    """Record every job the window submits to the worker; returns the live list of channels."""
    seen: list[str] = []
    submit = win.state.worker.submit

    def spy(ch, job):
        seen.append(ch)
        return submit(ch, job)

    win.state.worker.submit = spy
    return seen


def test_tie_combo_switches_model_with_one_load_each(qtbot, make_window, settle, tmp_path, untrained_model):
    win = make_window("resaturation")
    settle(win)
    untrained_model(tmp_path / "gauss", "resaturation", "gauss")
    seen = count_submissions(win, "context")
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
    before = state.codes.copy()
    sliders.random_untied_button.click()
    settle(win)
    np.testing.assert_array_equal(state.codes[cur, :tied], before[cur, :tied])  # tied code kept
    assert not np.array_equal(state.codes[cur, tied:], before[cur, tied:])
    np.testing.assert_array_equal(np.delete(state.codes, cur, 0), np.delete(before, cur, 0))  # other samples kept
    before = state.codes.copy()
    sliders.random_all_button.click()
    settle(win)
    assert (state.codes[cur] != before[cur]).all()
    ctx = state.ctx
    np.testing.assert_allclose(state.grid.xg[cur], ctx.predictor.decode(ctx.cond, state.codes[cur:cur + 1])[0], atol=1e-6)


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

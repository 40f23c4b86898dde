"""Model > Sampling conditional: which p(z_g | z_c) a tied model's new draws come from."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PySide6.QtGui import QAction

from cdvae_core.postprocess.imagefiles import read_image
from cdvae_core.postprocess.reproduce import reproduce
from test_export_truth import _export


def _actions(win) -> tuple[QAction, QAction]:
    return win.findChild(QAction, "conditionalPaperAction"), win.findChild(QAction, "conditionalExactAction")


def test_the_model_menu_switches_the_conditional_and_draws_stars_sessions_exports_keep_it(
        qtbot, make_window, settle, tmp_path):
    """cdvae-eval --conditional scored a model with the other conditional; the Studio only named
    it. Now the Model menu draws the grid from either, on a copy of the model (the catalog's keeps
    its own), and stars, sessions and exports record the one their codes came from."""
    win = make_window("resaturation")  # the trained MDN K=4: the raw MDN is its own
    settle(win)
    state = win.state
    paper, exact = _actions(win)
    assert paper.isEnabled() and paper.isChecked() and not exact.isChecked()
    assert paper.text() == "Draw from the raw MDN p(z_g | z_c) (saved with the model)"
    assert exact.text() == "Draw from the MDN times N(0, I), normalised"
    own, before, seed = state.ctx.predictor, state.grid.codes.copy(), state.codes_draw.seed
    assert state.codes_draw.conditional == "paper"

    exact.trigger()
    settle(win)
    ctx = state.ctx
    assert exact.isChecked() and not paper.isChecked()
    assert ctx.predictor is not own and ctx.predictor.config.tie_conditional == "exact"
    assert own.config.tie_conditional == "paper" and win.catalog.load(ctx.entry) is own
    assert (state.codes_draw.seed, state.codes_draw.conditional) == (seed, "exact")
    np.testing.assert_array_equal(state.grid.codes, ctx.predictor.draw_codes(ctx.cond, len(before), seed))
    assert not np.allclose(state.grid.codes, before)
    assert win.modelLabel.text().endswith(", exact conditional")
    assert "MDN times N(0, I)" in win.modelLabel.toolTip()
    # the drift badges' limit: the training pairs' drift under this conditional, from their kept codes
    assert not np.allclose(ctx.predictor.train_drift(), own.train_drift())

    state.resample()  # a new draw keeps it
    settle(win)
    assert state.codes_draw.conditional == "exact"
    state.toggle_star(3)
    star = next(iter(state.stars.values()))
    assert star.draw.conditional == "exact"
    shown = state.grid.xg.copy()
    state.save_session(str(tmp_path / "s.json"))
    saved = json.loads((tmp_path / "s.json").read_text())
    assert saved["conditional"] == saved["stars"][0]["conditional"] == "exact"
    win.open_export_dialog()
    sides = _export(qtbot, win.export_dialog, 0, tmp_path / "out")  # the starred samples
    assert [s["model"]["config"]["tie_conditional"] for s in sides] == ["exact"]
    photo = read_image(sides[0]["source"]["path"])
    exported = read_image(Path(sides[0]["_path"]).with_suffix(".png"))
    np.testing.assert_array_equal(reproduce(sides[0]["_path"], image=photo), exported)
    dragged = state.drag_stars([star.key])  # dragged out of the starred list: the same picture
    assert dragged.pictures[0].wait()
    np.testing.assert_array_equal(read_image(dragged.pictures[0].path), exported)

    paper.trigger()  # back to the model's own
    settle(win)
    assert state.ctx.predictor is own and state.codes_draw.conditional == "paper"
    assert not win.modelLabel.text().endswith("conditional")

    other = make_window("resaturation")  # a session reopens on the conditional it was drawn from
    settle(other)
    other.state.open_session(str(tmp_path / "s.json"))
    settle(other)
    assert other.state.ctx.predictor.config.tie_conditional == "exact" and _actions(other)[1].isChecked()
    np.testing.assert_array_equal(other.state.grid.xg, shown)
    restored = next(iter(other.state.stars.values()))
    assert restored.draw.conditional == "exact"
    assert other.state.export_items()["predictors"][restored.predictor_key()].config.tie_conditional == "exact"


def test_another_model_samples_with_its_own_and_one_without_a_tie_has_none(qtbot, make_window, settle,
                                                                         studio_assets):
    win = make_window("resaturation")
    settle(win)
    state = win.state
    paper, exact = _actions(win)
    exact.trigger()
    settle(win)
    win.taskCombo.setCurrentText("relighting")  # its untrained Gaussian tie
    settle(win)
    assert state.ctx.predictor.config.tie_conditional == "exact" and state.codes_draw.conditional == "exact"
    assert exact.isChecked() and exact.text().endswith("(saved with the model)")
    assert paper.text() == "Draw from N(z_c, sigma_t^2) on the tied components (the paper's)"
    win.taskCombo.setCurrentText("resaturation")
    settle(win)
    assert state.ctx.predictor.config.tie_conditional == "paper" and paper.isChecked()
    state.open_model(str(studio_assets / "pairs" / "synthetic.npz"))  # the nearest-neighbour baseline
    settle(win)
    assert win.tieCombo.currentText().startswith("Nearest neighbour")
    assert not paper.isEnabled() and not exact.isEnabled() and not paper.isChecked() and not exact.isChecked()
    assert state.codes_draw.conditional is None
    state.set_conditional("exact")  # nothing to switch
    settle(win)
    assert state.conditional is None and state.codes_draw.conditional is None

"""Samples > Distinct results (``distinctAction``): the grid shows the most distinct of a pool of
draws with each one's share as its badge, for the same seed; edits, sessions and exports keep
track of it."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PySide6.QtCore import Qt

from cdvae_core.distinct import DISTINCT_POOL, distinct_indices
from cdvae_studio.jobs import GRID
from cdvae_studio.state_apply import share_text
from cdvae_studio.widgets.lpp_scatter import SAMPLE_SIZE, share_sizes


def _pool_rows(state) -> list[int]:
    """Which rows of the seed's pool draw the grid's codes are (every cell must be one)."""
    pool, _ = state.ctx.predictor.draw(state.ctx.cond, DISTINCT_POOL, state.codes_draw.seed)
    return [int(np.flatnonzero((pool == code).all(1))[0]) for code in state.grid.codes]


def test_distinct_grid_is_the_pools_most_distinct_samples_with_their_shares(qtbot, make_window, settle):
    win = make_window("resaturation")
    settle(win)
    state = win.state
    seed, plain = state.codes_draw.seed, state.grid.codes.copy()
    win.distinctAction.trigger()
    settle(win)
    assert state.codes_draw.pool == DISTINCT_POOL and state.codes_draw.seed == seed
    rows = _pool_rows(state)
    # the same choice as the library's, made on the pool's full samples
    pool_codes, pool_noise = state.ctx.predictor.draw(state.ctx.cond, DISTINCT_POOL, seed)
    want, shares = distinct_indices(state.ctx.predictor.decode(state.ctx.cond, pool_codes, pool_noise), GRID, seed)
    assert rows == list(want)
    np.testing.assert_allclose(state.shares, shares, rtol=1e-6)
    # the library's own distinct draw gives the same grid (docs/postprocess.md: how a sidecar's
    # seed, settings and sample_index draw an unedited sample again)
    codes, _, _ = state.ctx.predictor.draw_distinct(state.ctx.cond, GRID, seed, pool=DISTINCT_POOL)
    np.testing.assert_array_equal(state.grid.codes, codes)
    badges = win.sampleGrid.badge_texts()
    assert [b.split(" · ")[0] for b in badges] == [share_text(s) for s in shares]
    assert f"the {GRID} most distinct of {DISTINCT_POOL} samples" in win.timingLabel.text()
    # the LPP scatter's marks of the grid samples: area in proportion to the share
    sizes = win.lppScatter.samples.data["size"]
    np.testing.assert_allclose(sizes, np.clip(SAMPLE_SIZE * np.sqrt(np.asarray(shares) * GRID), 5, 24))
    assert sizes[0] > sizes[-1] and share_sizes(np.full(GRID, 1 / GRID)) == pytest.approx(SAMPLE_SIZE)

    # a slider moves every sample's code: no cell is its drawn sample any more, so no share shows
    state.edit_code(0, 0.4)
    settle(win)
    assert not any("%" in b for b in win.sampleGrid.badge_texts())
    assert set(win.lppScatter.samples.data["size"]) == {SAMPLE_SIZE}
    state.reset_code()
    settle(win)
    assert win.sampleGrid.badge_texts()[0].startswith(share_text(shares[0]))

    win.distinctAction.trigger()  # off: the seed's first draws again
    settle(win)
    np.testing.assert_array_equal(state.grid.codes, plain)
    assert state.codes_draw.pool == 0 and not any("%" in b for b in win.sampleGrid.badge_texts())
    assert f"{GRID} samples" in win.timingLabel.text()


def test_sessions_and_exports_keep_the_distinct_draw(qtbot, make_window, settle, tmp_path):
    win = make_window("resaturation")
    settle(win)
    state = win.state
    qtbot.keyClick(win.sampleGrid, Qt.Key.Key_D)  # the menu action's shortcut, from the grid
    settle(win)
    assert win.distinctAction.isChecked() and state.codes_draw.pool == DISTINCT_POOL
    grid = state.grid.xg.copy()
    state.save_session(str(tmp_path / "s.json"))
    assert json.loads((tmp_path / "s.json").read_text())["distinct_pool"] == DISTINCT_POOL

    other = make_window("resaturation")
    settle(other)
    assert not other.distinctAction.isChecked()
    other.state.open_session(str(tmp_path / "s.json"))
    settle(other)
    assert other.distinctAction.isChecked() and other.state.codes_draw.pool == DISTINCT_POOL
    np.testing.assert_array_equal(other.state.grid.xg, grid)  # the same distinct samples

    win.open_export_dialog()
    dlg = win.export_dialog
    dlg.what.setCurrentIndex(1)  # the current sample
    dlg.folder.edit.setText(str(tmp_path / "out"))
    qtbot.mouseClick(dlg.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dlg.runner is not None and not dlg.running() and dlg.start_button.isEnabled(),
                    timeout=120_000)
    side = json.loads(next((tmp_path / "out").glob("*.json")).read_text())
    assert side["distinct_pool"] == DISTINCT_POOL
    # and the share its cell showed (it was null: the codes were given, their shares were not)
    assert side["share"] == pytest.approx(float(state.shares[state.current]))

    state.toggle_star(2)
    state.toggle_star(5)
    state.edit_code(0, float(state.codes[5, 0]) + 0.5)  # a slider pins component 0: no cell is as drawn
    settle(win)
    state.toggle_star(0)  # starred after the edit: no share
    dlg.what.setCurrentIndex(0)  # the starred samples
    dlg.folder.edit.setText(str(tmp_path / "stars"))
    qtbot.mouseClick(dlg.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dlg.running() and dlg.start_button.isEnabled(), timeout=120_000)
    sides = {s["sample_index"]: s["share"] for s in
             (json.loads(p.read_text()) for p in (tmp_path / "stars").glob("*.json"))}
    assert sides[2] == pytest.approx(float(state.shares[2])) and sides[5] == pytest.approx(float(state.shares[5]))
    assert sides[0] is None


def test_the_choice_is_remembered_and_a_bad_session_pool_is_refused(qtbot, make_window, settle, tmp_path):
    from PySide6.QtCore import QSettings

    from cdvae_studio.session import SessionError, load_session

    settings = QSettings(str(tmp_path / "kept.ini"), QSettings.Format.IniFormat)
    win = make_window("resaturation", settings=settings)
    settle(win)
    win.distinctAction.trigger()
    settle(win)
    win.save_settings()
    again = make_window("resaturation", settings=QSettings(str(tmp_path / "kept.ini"), QSettings.Format.IniFormat))
    settle(again)
    assert again.distinctAction.isChecked() and again.state.codes_draw.pool == DISTINCT_POOL
    assert again.state.shares is not None

    win.state.save_session(str(tmp_path / "s.json"))
    data = json.loads((tmp_path / "s.json").read_text())
    (tmp_path / "huge.json").write_text(json.dumps({**data, "distinct_pool": 10**9}))
    try:
        load_session(tmp_path / "huge.json")
    except SessionError as exc:
        assert "distinct_pool must be 0 (plain draws) or lie in (16, 4096]" in str(exc)
    else:
        raise AssertionError("a pool of 10^9 draws was accepted")
    old = {k: v for k, v in data.items() if k != "distinct_pool"}  # a session from before distinct results
    (tmp_path / "old.json").write_text(json.dumps(old))
    assert load_session(tmp_path / "old.json").distinct_pool == 0


def test_the_nearest_neighbour_baseline_keeps_its_ranked_neighbours(qtbot, make_window, settle, studio_assets):
    """Its samples are the nearest training pairs in rank order, not draws: no shares to give."""
    win = make_window("resaturation")
    settle(win)
    win.distinctAction.trigger()
    win.state.open_model(str(studio_assets / "pairs" / "synthetic.npz"))
    settle(win)
    assert win.tieCombo.currentText().startswith("Nearest neighbour") and win.distinctAction.isChecked()
    np.testing.assert_array_equal(win.state.grid.codes[:, 0], np.arange(GRID))  # rank i in cell i
    assert win.state.codes_draw.pool == 0 and win.state.shares is None
    assert not any("%" in b for b in win.sampleGrid.badge_texts())
    win.resampleButton.click()
    settle(win)
    np.testing.assert_array_equal(win.state.grid.codes[:, 0], np.arange(GRID))


def test_a_batch_export_draws_each_photos_distinct_results(qtbot, make_window, settle, tmp_path):
    import cv2

    from cdvae_core.postprocess.imagefiles import read_image
    from cdvae_core.postprocess.render import get_renderer

    win = make_window("resaturation")
    settle(win)
    win.distinctAction.trigger()
    settle(win)
    folder = tmp_path / "batch"
    folder.mkdir()
    cv2.imwrite(str(folder / "ramp.png"), np.tile(np.linspace(0, 255, 72, dtype=np.uint8), (48, 1)))
    win.open_export_dialog()
    dlg = win.export_dialog
    dlg.what.setCurrentIndex(3)
    dlg.batch_folder.edit.setText(str(folder))
    dlg.batch_n.setValue(3)
    assert dlg.summary.text().endswith(f"the most distinct of {DISTINCT_POOL} draws")
    dlg.folder.edit.setText(str(tmp_path / "out"))
    qtbot.mouseClick(dlg.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dlg.runner is not None and not dlg.running() and dlg.start_button.isEnabled(),
                    timeout=120_000)
    sides = [json.loads((tmp_path / "out" / f"ramp_{i:03d}.json").read_text()) for i in range(3)]
    assert [s["distinct_pool"] for s in sides] == [DISTINCT_POOL] * 3
    # the library's distinct draw of the photo with the toolbar's seed, in share order
    predictor = win.state.ctx.predictor
    cond = predictor.prepare(get_renderer(predictor.task, read_image(folder / "ramp.png")).xc_model)
    codes, _, shares = predictor.draw_distinct(cond, 3, win.state.seed, pool=DISTINCT_POOL)
    np.testing.assert_array_equal(np.float32([s["code"] for s in sides]), codes)
    np.testing.assert_allclose([s["share"] for s in sides], shares)


def test_at_temperature_zero_every_draw_is_alike_and_the_grid_is_the_plain_draw(qtbot, make_window, settle):
    win = make_window("resaturation")
    settle(win)
    win.distinctAction.trigger()
    win.temperatureSpin.setValue(0.0)
    settle(win)
    state = win.state
    assert state.shares is None and not any("%" in b for b in win.sampleGrid.badge_texts())
    plain, _ = state.ctx.predictor.draw(state.ctx.cond, GRID, state.seed, temperature=0.0)
    np.testing.assert_array_equal(state.grid.codes, plain)
    assert win.timingLabel.text().startswith(f"{GRID} samples")

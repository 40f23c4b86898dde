"""Scrub prefetch (cdvae_studio.scrub): the held slider's axis rendered ahead, nearest the thumb
first; a move shows the nearest ready lattice grid without a worker round trip, never a grid of
another state; the release renders the exact value at full size."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from PySide6.QtWidgets import QSlider

from cdvae_studio.jobs import Draw, render_grid
from cdvae_studio.render import DecodeCache, compose_cells, drag_doc, shrink_detail
from cdvae_studio.scrub import (
    LATTICE_MAX,
    SCRUB_CHUNK,
    SCRUB_STEP,
    ScrubCache,
    lattice_index,
    lattice_value,
    render_scrub_chunk,
    scrub_signature,
)
from cdvae_studio.widgets.code_sliders import RANGE, from_ticks


def fake_doc(key: str = "photo:resaturation", side: int = 53) -> SimpleNamespace:
    return SimpleNamespace(key=key, small=np.zeros((side, side, 3), np.uint8))


def test_lattice_covers_the_slider_range_at_its_step():
    assert LATTICE_MAX == round(RANGE / SCRUB_STEP) == 80
    assert lattice_index(0.124) == 2 and lattice_index(0.126) == 3 and lattice_index(-0.126) == -3
    assert lattice_value(3) == np.float32(0.15)
    assert abs(lattice_value(lattice_index(1.23)) - 1.23) <= SCRUB_STEP / 2


def test_cache_orders_nearest_first_and_keeps_one_plan():
    cache = ScrubCache()
    assert cache.missing(0.0) == []  # no plan, nothing to fetch
    cache.start(b"a", 2)
    assert cache.missing(0.12, 5) == [2, 3, 1, 4, 0]
    assert cache.missing(RANGE, 3) == [80, 79, 78]  # clamped at the slider's end
    assert cache.missing(9.0, 2) == [80, 79]  # a value past the range starts at its end
    cache.store(b"a", 2, {2: "g2", 3: "g3"})
    assert cache.missing(0.12, 3) == [1, 4, 0]
    assert len(cache.missing(0.0, 1000)) == 2 * LATTICE_MAX + 1 - 2  # every point once
    assert cache.lookup(b"a", 2, 0.124) == "g2" and cache.lookup(b"a", 2, 0.16) == "g3"
    assert cache.lookup(b"a", 2, 0.2) is None  # point 4 is not ready
    assert cache.lookup(b"b", 2, 0.124) is None and cache.lookup(b"a", 1, 0.124) is None
    assert cache.hits == 2
    cache.store(b"old", 2, {5: "stale"})  # a chunk of an earlier plan arriving late
    assert 5 not in cache.grids
    cache.start(b"a", 2)  # the same slider pressed again on the same grid: the work is kept
    assert set(cache.grids) == {2, 3}
    cache.start(b"a", 1)  # another slider
    assert cache.grids == {} and cache.lookup(b"a", 2, 0.124) is None


def test_signature_ignores_the_axis_value_and_nothing_else():
    rng = np.random.default_rng(0)
    codes, noise = rng.standard_normal((16, 8)).astype(np.float32), rng.standard_normal((16, 5)).astype(np.float32)
    doc = fake_doc()

    def sig(codes=codes, axis=3, noise=noise, lower=True, model="m", doc=doc, scale=None, detail=None):
        return scrub_signature(model, doc, codes, axis, noise, lower, scale, detail)

    base = sig()
    moved = codes.copy()
    moved[:, 3] = 2.5
    assert sig(codes=moved) == base  # the held slider's own value
    other = codes.copy()
    other[7, 0] += 0.01
    changed = [sig(codes=other), sig(axis=2), sig(noise=noise + 1), sig(lower=False), sig(model="n"),
               sig(doc=fake_doc("other")), sig(doc=fake_doc(side=160)), sig(scale=2.0),
               sig(detail=np.zeros((1, 53, 53), np.float32))]
    assert base not in changed and len(set(changed)) == len(changed)
    assert sig(lower=False) == sig(lower=False, noise=noise + 1)  # at the means the noise is not used


@pytest.mark.parametrize("task", ["resaturation", "relighting", "motion"])
def test_chunk_equals_the_live_drag_render(make_window, settle, task):
    win = make_window(task)
    settle(win)
    state, ctx = win.state, win.state.ctx
    doc = drag_doc(ctx.doc)
    detail = shrink_detail(ctx.detail, doc)
    axis = ctx.predictor.code_dim - 1
    points = [-7, 12]
    grids = render_scrub_chunk(state.task, ctx.predictor, ctx.cond, doc, state.codes, axis, points, state.noise,
                               True, ctx.flow_scale, detail, Draw(5, 0.8, 1))
    assert sorted(grids) == points
    for j in points:
        codes = state.codes.copy()
        codes[:, axis] = lattice_value(j)
        live = render_grid(state.task, ctx.predictor, ctx.cond, ctx.entry.key, doc, codes, DecodeCache(),
                           ctx.flow_scale, detail, state.noise, True, Draw(5, 0.8, 1))
        got = grids[j]
        np.testing.assert_array_equal(got.codes, codes)
        np.testing.assert_allclose(got.xg, live.xg, atol=1e-5)  # one batch of 32 rows against 16
        assert np.abs(got.cells.astype(int) - live.cells.astype(int)).max() <= 1
        assert got.cells.shape == live.cells.shape and got.cells.shape[1] < ctx.doc.small.shape[0]
        np.testing.assert_allclose(got.spread, live.spread, atol=1e-5)
        assert got.lower and got.draw == live.draw == Draw(5, 0.8, 1)
        np.testing.assert_array_equal(got.noise, state.noise)


def test_held_slider_shows_the_prefetched_grid_and_its_release_the_exact_one(make_window, settle, submissions):
    win, state, axis, slider = hold_last_slider(make_window, settle)  # the axis rendered ahead while held
    ctx = state.ctx
    assert len(state.scrub.grids) == 2 * LATTICE_MAX + 1
    seen = submissions(win)
    slider.setValue(123)  # 1.23: shown at once (no event processed) from lattice point 1.25
    assert "grid" not in seen
    np.testing.assert_allclose(state.codes[:, axis], from_ticks(123))
    shown = state.grid.codes
    np.testing.assert_allclose(shown[:, axis], lattice_value(25))
    np.testing.assert_array_equal(np.delete(shown, axis, 1), np.delete(state.codes, axis, 1))
    doc = drag_doc(ctx.doc)
    xg = np.asarray(ctx.predictor.decode(ctx.cond, shown, state.noise), np.float32)
    expected = compose_cells(state.task, doc, xg, ctx.flow_scale, shrink_detail(ctx.detail, doc))
    assert np.abs(win.sampleGrid.cell_images().astype(int) - expected.astype(int)).max() <= 1
    slider.setSliderDown(False)  # the release: the exact value, full size
    settle(win)
    assert "grid" in seen
    np.testing.assert_array_equal(state.grid.codes, state.codes)
    assert win.sampleGrid.cell_images().shape[1:3] == ctx.doc.small.shape[:2]


def hold_last_slider(make_window, settle) -> tuple:
    """A settled resaturation window whose last code slider is held and its axis prefetched:
    (window, its state, the axis, the slider)."""
    win = make_window("resaturation")
    settle(win)
    axis = win.state.ctx.predictor.code_dim - 1
    slider = win.codeSliders.findChild(QSlider, f"codeSlider{axis}")
    slider.setSliderDown(True)
    settle(win)  # the worker is busy until the whole axis is ready
    return win, win.state, axis, slider


def test_a_changed_grid_never_shows_grids_prefetched_for_the_old_one(make_window, settle):
    win, state, axis, slider = hold_last_slider(make_window, settle)
    slider.setSliderDown(False)
    settle(win)
    old = dict(state.scrub.grids)
    state.randomise(untied_only=False)  # the current sample's other components and noise change
    settle(win)
    shown = []  # every grid put on screen from here on (a throttled move may land a frame later)
    state.gridApplied.connect(lambda: shown.append(state.grid))
    slider.setSliderDown(True)
    slider.setValue(-200)  # before any chunk of the new plan has landed
    assert state.scrub.grids == {}  # the old plan's grids are gone with the change
    settle(win)
    assert any(np.all(g.codes[:, axis] == np.float32(-2.0)) for g in shown)  # the move was shown
    slider.setSliderDown(False)
    settle(win)
    np.testing.assert_array_equal(state.grid.codes, state.codes)
    assert shown and not any(g is o for g in shown for o in old.values())


def test_release_stops_the_prefetch(make_window, settle):
    win = make_window("resaturation")
    settle(win)
    state = win.state
    slider = win.codeSliders.findChild(QSlider, "codeSlider0")
    slider.setSliderDown(True)
    slider.setSliderDown(False)  # no event processed: at most the first chunk ran
    settle(win)
    assert len(state.scrub.grids) <= SCRUB_CHUNK
    assert state.scrub.plan is not None and state.scrub.plan.axis == 0


def test_a_move_answered_from_the_prefetch_says_settled(make_window, settle, qtbot):
    """``settled`` ("every requested render applied") was emitted only by worker results, so a
    move the prefetch answered in the GUI thread left a waiter on the signal hanging."""
    win, state, axis, slider = hold_last_slider(make_window, settle)
    for value in (60, 61):  # the second within the throttle's frame: answered when it fires
        with qtbot.waitSignal(win.settled, timeout=5_000):
            slider.setValue(value)
        assert state.is_settled()
        np.testing.assert_allclose(state.grid.codes[:, axis], lattice_value(12))  # 0.60 and 0.61 -> 0.60
    slider.setSliderDown(False)
    settle(win)

"""The right-hand views, drift badges, shortcuts, drag and drop, settings, batch export and the
slider throttle, driven as a user drives them and checked against the library (decode, encode,
tie drift, export), numpy and the render functions."""

from __future__ import annotations

import json
import re

import cv2
import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, QSettings, Qt, QUrl
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QApplication, QSlider

from cdvae_studio.render import compose_cells, heat_rgb, spread_map


# helpers ----------------------------------------------------------------------------------------
def click_cell(qtbot, grid, index: int, button=Qt.MouseButton.LeftButton) -> None:
    pos = grid.mapFromScene(grid.cell_rect(index).center())
    qtbot.mouseClick(grid.viewport(), button, pos=pos)


def qimage_rgb(image: QImage) -> np.ndarray:
    image = image.convertToFormat(QImage.Format.Format_RGB888)
    w, h = image.width(), image.height()
    raw = np.frombuffer(image.constBits(), np.uint8, count=image.sizeInBytes()).reshape(h, image.bytesPerLine())
    return raw[:, : 3 * w].reshape(h, w, 3).copy()


def write_png(path, h: int = 60, w: int = 90, k: int = 7) -> str:
    photo = np.zeros((h, w, 3), np.uint8)
    yy, xx = np.indices((h, w))
    photo[..., 0] = (xx * 255 // max(w - 1, 1)).astype(np.uint8)
    photo[..., 1] = (yy * 255 // max(h - 1, 1)).astype(np.uint8)
    photo[..., 2] = ((xx + yy) * k % 256).astype(np.uint8)
    cv2.imwrite(str(path), photo[:, :, ::-1])
    return str(path)


def decoded_grid(win) -> np.ndarray:
    """The grid's x_g recomputed by the library from the grid's codes and lower-layer noise."""
    ctx, noise = win.state.ctx, win.state.noise_rows()
    args = (ctx.cond, win.state.codes) if noise is None else (ctx.cond, win.state.codes, noise)
    return np.asarray(ctx.predictor.decode(*args), np.float32)


def grid_matches_codes(win) -> None:
    ctx = win.state.ctx
    xg = decoded_grid(win)
    np.testing.assert_array_equal(win.sampleGrid.cell_images(),
                                  compose_cells(win.state.task, ctx.doc, xg, ctx.flow_scale, ctx.detail))


# 1. truth view ----------------------------------------------------------------------------------
def test_truth_view_encoded_sample_best_error_and_split_flicker(qtbot, make_window, settle):
    win = make_window("resaturation")
    settle(win)
    state, ctx, truth = win.state, win.state.ctx, win.truthView
    assert win.findChild(object, "truthView") is truth
    assert ctx.doc.xg is not None  # a photo's own saturation is its ground truth
    p = ctx.predictor

    def check_encoded_and_error() -> None:
        code = np.asarray(p.encode_target(ctx.cond, ctx.doc.xg), np.float32)
        encoded_xg = p.decode(ctx.cond, code[None])
        cell = compose_cells(state.task, ctx.doc, encoded_xg, ctx.flow_scale, ctx.detail)[0]
        np.testing.assert_array_equal(truth.encoded_pane.image(), cell)
        errors = ((decoded_grid(win) - ctx.doc.xg[None]) ** 2).reshape(len(state.codes), -1).mean(1)
        m = re.search(r"best-of-(\d+) error \(per-pixel MSE of x_g\): ([0-9.]+) \(sample #(\d+)\)", truth.info.text())
        assert m, truth.info.text()
        assert int(m.group(1)) == len(state.codes) == 16
        assert float(m.group(2)) == pytest.approx(float(errors.min()), abs=6e-5)
        assert int(m.group(3)) == int(np.argmin(errors)) + 1  # numbered from 1, as the tray

    check_encoded_and_error()
    # the grid changes (a pinned component): the error follows the new samples
    win.codeSliders.findChild(QSlider, "codeSlider0").setValue(-300)
    settle(win)
    check_encoded_and_error()

    truth_rgb = ctx.doc.rgb
    current = win.preview.image()
    assert current is not None and current.shape == truth_rgb.shape
    win.views.setCurrentWidget(truth)
    # split: all truth at the right end, all sample at the left end, a white line in between
    qtbot.keyClick(truth.split, Qt.Key.Key_End)
    assert truth.split.value() == 100
    np.testing.assert_array_equal(truth.split_pane.image(), truth_rgb)
    qtbot.keyClick(truth.split, Qt.Key.Key_Home)
    assert truth.split.value() == 0
    np.testing.assert_array_equal(truth.split_pane.image(), current)
    truth.split.setValue(50)
    for _ in range(2):
        qtbot.keyClick(truth.split, Qt.Key.Key_PageDown)
    assert truth.split.value() == 30
    shown = truth.split_pane.image()
    x = int(round(truth_rgb.shape[1] * 0.3))
    np.testing.assert_array_equal(shown[:, : x - 1], truth_rgb[:, : x - 1])
    np.testing.assert_array_equal(shown[:, x + 1 :], current[:, x + 1 :])
    assert (shown[:, x - 1 : x + 1] == 255).all()
    assert not np.array_equal(truth_rgb, current)  # otherwise the split would prove nothing
    # flicker: whole truth and whole sample alternate on the timer; unticking brings the split back
    qtbot.mouseClick(truth.flicker, Qt.MouseButton.LeftButton, pos=QPoint(8, truth.flicker.height() // 2))
    assert truth.flicker.isChecked()
    qtbot.waitUntil(lambda: np.array_equal(truth.split_pane.image(), truth_rgb), timeout=5000)
    qtbot.waitUntil(lambda: np.array_equal(truth.split_pane.image(), current), timeout=5000)
    qtbot.mouseClick(truth.flicker, Qt.MouseButton.LeftButton, pos=QPoint(8, truth.flicker.height() // 2))
    assert not truth.flicker.isChecked()
    np.testing.assert_array_equal(truth.split_pane.image(), shown)


def test_scatter_stars_the_true_code_among_the_samples(qtbot, make_window, settle):
    """Where the image has a ground truth, the scatter marks its x_g's code (the Truth tab's
    encoded truth) beside the grid's samples, on whichever axes are shown; an image without one
    (a training example) has no star, and a truth worked out for the image before lands nowhere."""
    win = make_window("resaturation")
    settle(win)
    state, scatter, ctx = win.state, win.lppScatter, win.state.ctx
    code = np.asarray(ctx.predictor.encode_target(ctx.cond, ctx.doc.xg), np.float32)

    def star() -> np.ndarray:
        x, y = scatter.truth_mark.getData()
        return np.stack([x, y], 1)

    qtbot.waitUntil(lambda: len(star()) == 1, timeout=10_000)
    a, b = scatter._axes()
    np.testing.assert_allclose(star(), code[None, [a, b]], atol=1e-6)
    scatter.y_axis.setCurrentIndex(2)  # other axes: the star moves with the samples
    np.testing.assert_allclose(star(), code[None, [a, 2]], atol=1e-6)
    assert not np.allclose(code[[a, b]], code[[a, 2]])  # else the move would prove nothing

    from cdvae_studio.jobs import render_truth

    old_grid = state.grid
    old = render_truth(state.task, ctx.predictor, ctx.cond, ctx.doc, old_grid.xg)
    state.open_example(0)  # a 32x32 training example: no ground truth
    qtbot.waitUntil(lambda: state.ctx is not ctx and state.ctx.doc.key.startswith("example:"), timeout=30_000)
    settle(win)
    assert len(star()) == 0 and win.truthView.encoded_pane.image() is None
    # the previous photo's truth job, run after the example's context had come up (as one queued
    # behind it does: the worker serves contexts first), and the tie drift of its grid
    state.worker.submit("truth", lambda: (old_grid, old))
    state.worker.submit("drift", lambda: (old_grid, np.full(len(old_grid.codes), 9.0)))
    settle(win)
    assert len(star()) == 0 and win.truthView.encoded_pane.image() is None
    assert not any("9.0" in text for text in win.sampleGrid.badge_texts())


@pytest.mark.parametrize("task", ["relighting", "motion"])
def test_preview_held_down_shows_the_photo_in_place_of_the_result(qtbot, make_window, settle, task):
    """Before / after in place: the left button held on the Preview shows the photo the result is
    made of, with a "photo" label; let go, the result again, and the newest one where a render
    landed meanwhile. The pane's image() is the result throughout."""
    win = make_window(task)
    settle(win)
    pane, doc = win.preview, win.state.ctx.doc
    result = pane.image().copy()
    assert not np.array_equal(result, doc.rgb) and pane.toolTip() == pane.HINT
    qtbot.mousePress(pane.viewport(), Qt.MouseButton.LeftButton)
    assert pane.comparing and pane.label.isVisible()
    np.testing.assert_array_equal(pane.item.image, doc.rgb)
    np.testing.assert_array_equal(pane.image(), result)
    win.state.select_sample(5)  # a new result lands while the button is down: shown once released
    settle(win)
    np.testing.assert_array_equal(pane.item.image, doc.rgb)
    newer = pane.image().copy()
    assert not np.array_equal(newer, result)
    qtbot.mouseRelease(pane.viewport(), Qt.MouseButton.LeftButton)
    assert not pane.comparing and not pane.label.isVisible()
    np.testing.assert_array_equal(pane.item.image, newer)
    qtbot.mousePress(pane.viewport(), Qt.MouseButton.RightButton)  # only the left button compares
    assert not pane.comparing
    np.testing.assert_array_equal(pane.item.image, newer)
    # let go: QTest keeps a button pressed for the tests after this one, and a slider ignores a
    # press while another button is held (the Time bar's drag test failed after this one)
    qtbot.mouseRelease(pane.viewport(), Qt.MouseButton.RightButton)



# 2. drift badges --------------------------------------------------------------------------------
@pytest.mark.parametrize("task", ["resaturation", "relighting"])
def test_drift_badges_are_the_library_tie_drift(qtbot, make_window, settle, monkeypatch, task):
    win = make_window(task)
    settle(win)
    ctx, grid = win.state.ctx, win.sampleGrid
    assert ctx.predictor.tied_dims > 0

    def expected() -> tuple[list[str], list[bool]]:
        drift = np.round(np.asarray(ctx.predictor.tie_drift(ctx.cond, decoded_grid(win))), 1)
        limit = round(ctx.predictor.drift_limit, 1)
        return [f"drift {d:.1f}σ" for d in drift], [bool(d > limit) for d in drift]

    texts, alerts = expected()
    assert len(texts) == 16 and grid.badge_texts() == texts
    assert grid._badge_alerts == alerts
    win.codeSliders.findChild(QSlider, "codeSlider1").setValue(380)  # a new grid: new badges
    settle(win)
    texts2, alerts2 = expected()
    assert grid.badge_texts() == texts2 and grid._badge_alerts == alerts2
    # the alert threshold is "reads more than 2 sigma": give the drift job known values, then click
    # a cell; a red badge never reads "2.0σ"
    fake = np.array([0.5, 1.99, 2.0, 2.04, 2.06, 2.51, 7.25] + [0.0] * 9, np.float32)
    monkeypatch.setattr(ctx.predictor, "tie_drift", lambda cond, xg: fake[: len(xg)])
    monkeypatch.setattr(type(ctx.predictor), "drift_limit", property(lambda self: 2.0))
    click_cell(qtbot, grid, 4)
    settle(win)
    assert grid.badge_texts()[:7] == ["drift 0.5σ", "drift 2.0σ", "drift 2.0σ", "drift 2.0σ", "drift 2.1σ",
                                      "drift 2.5σ", "drift 7.2σ"]
    assert grid._badge_alerts[:7] == [False, False, False, False, True, True, True]
    assert not any(grid._badge_alerts[7:])
    # a model whose own training pairs drift further (motion's ladders) raises the threshold
    monkeypatch.setattr(type(ctx.predictor), "drift_limit", property(lambda self: 2.38))
    click_cell(qtbot, grid, 5)
    settle(win)
    assert grid._badge_alerts[:7] == [False, False, False, False, False, True, True]


# 3. spread map ----------------------------------------------------------------------------------
def test_spread_pane_is_the_heat_map_of_the_grid_spread(qtbot, make_window, settle):
    win = make_window("resaturation")
    settle(win)
    pane = win.findChild(object, "spreadPane")
    assert pane is win.spread
    h, w = win.state.ctx.doc.small.shape[:2]

    def expected() -> np.ndarray:
        xg = decoded_grid(win)
        spread = np.sqrt(np.mean(np.var(xg.astype(np.float64), axis=0), axis=0))  # std over samples, RMS over channels
        np.testing.assert_allclose(spread_map(xg), spread, rtol=1e-4, atol=1e-6)
        return heat_rgb(spread_map(xg), (w, h))

    first = expected()
    assert first.shape == (h, w, 3)
    np.testing.assert_array_equal(pane.image(), first)
    # its colour bar runs from 0 to the largest spread, which the map's brightest colour stands for
    assert pane.levels() == pytest.approx((0.0, float(spread_map(decoded_grid(win)).max())), abs=1e-6)
    assert pane.bar.isVisible() and pane.bar.sceneBoundingRect().left() >= pane.view.sceneBoundingRect().right() - 1
    m = re.search(r"spread max ([0-9.]+)", win.timingLabel.text())
    assert m and float(m.group(1)) == pytest.approx(float(spread_map(decoded_grid(win)).max()), abs=6e-4)
    # pin every component to one value: the samples still differ in their lower layers (full
    # samples); with those at their means every sample is the same and the spread is zero
    sliders = win.codeSliders
    for i in range(sliders.code_dim):
        sliders.findChild(QSlider, f"codeSlider{i}").setValue(50)
    settle(win)
    assert np.ptp(decoded_grid(win), axis=0).max() > 0
    np.testing.assert_array_equal(pane.image(), expected())
    win.lowerCheck.setChecked(False)
    settle(win)
    assert win.state.noise_rows() is None and not win.state.grid.lower
    assert np.ptp(decoded_grid(win), axis=0).max() == 0
    np.testing.assert_array_equal(pane.image(), expected())
    assert not np.array_equal(pane.image(), first)


# 4. flow view -----------------------------------------------------------------------------------
def expected_arrows(flow32: np.ndarray, frame_hw: tuple[int, int], step: int, scale: float):
    """Shaft midpoints (M, 2), lengths (M,) and whether each was cut at the frame's edge (M,) that
    the flow view must draw, and the flow in frame pixels (2, H, W), from numpy and OpenCV: one
    arrow per grid point, the grid centred in the frame, each arrow centred on its point."""
    h, w = frame_hw
    up = cv2.resize(np.ascontiguousarray(flow32.transpose(1, 2, 0)), (w, h), interpolation=cv2.INTER_LINEAR)
    up = up.transpose(2, 0, 1) * np.array([w / 32.0, h / 32.0], np.float32)[:, None, None]
    peak = float(np.hypot(up[0], up[1]).max())

    def centred(side: int) -> np.ndarray:  # equal margins at both ends
        n = side // step
        return (side - 1 - (n - 1) * step) // 2 + step * np.arange(n)

    ys, xs = np.meshgrid(centred(h), centred(w), indexing="ij")
    vec = up[:, ys, xs] * (0.9 * step / peak) * scale  # longest = 0.9 spacing at 1x
    keep = np.hypot(*vec) >= 2.0
    mids = np.stack([xs[keep], ys[keep]], 1).astype(np.float32) + 0.5  # pixel centres
    half = np.abs(vec[:, keep].T) / 2
    # cut about the middle to the largest length whose ends stay in [0, w] x [0, h]
    room = np.minimum(mids, np.array([w, h], np.float32) - mids) / np.maximum(half, 1e-9)
    cut = room.min(axis=1).clip(max=1.0)
    return mids, np.hypot(*vec[:, keep]) * cut, cut < 1.0, up


def check_arrows(view, flow32, frame_hw, step, scale) -> np.ndarray:
    mids, lengths, _, _ = expected_arrows(flow32, frame_hw, step, scale)
    pts = view.segment_points()
    assert len(pts) == 6 * len(mids) > 0  # shaft and two head strokes per arrow
    np.testing.assert_allclose((pts[0::6] + pts[1::6]) / 2, mids, atol=1e-3)
    np.testing.assert_allclose(np.hypot(*(pts[1::6] - pts[0::6]).T), lengths, rtol=1e-3, atol=1e-3)
    h, w = frame_hw
    assert pts[:, 0].min() >= -1e-3 and pts[:, 0].max() <= w + 1e-3  # nothing past the frame's edge
    assert pts[:, 1].min() >= -1e-3 and pts[:, 1].max() <= h + 1e-3
    return pts


def test_the_flow_tab_says_what_it_is_for_outside_motion(qtbot, make_window, settle):
    """In relighting and resaturation the Flow tab was a black pane whose controls all worked."""
    win = make_window("relighting")
    settle(win)
    view = win.flowView
    win.views.setCurrentWidget(view)
    assert view.idle_note.isVisible() and "Choose Task: motion" in view.idle_note.text()
    assert view.idle_note.geometry().width() > 100 and view.plot.rect().contains(view.idle_note.geometry())
    assert not any(c.isEnabled() for c in (view.density, view.scale, view.wheel, view.play))
    win.state.set_task("motion")
    settle(win)
    assert not view.idle_note.isVisible() and all(c.isEnabled() for c in (view.density, view.scale, view.wheel))


def test_flow_view_density_scale_wheel_and_sample(qtbot, make_window, settle):
    from cdvae_core.postprocess.flowviz import color_scale, flow_color, scale_to_pixels

    def wheel(flow32: np.ndarray, up: np.ndarray) -> np.ndarray:
        return flow_color(up.astype(np.float32), scale_to_pixels(color_scale(flow32), *hw))

    win = make_window("motion")
    settle(win)
    view, state = win.flowView, win.state
    assert win.views.currentWidget() is view and win.findChild(object, "flowView") is view
    frame = state.ctx.doc.rgb
    hw = frame.shape[:2]
    flows = decoded_grid(win)
    np.testing.assert_array_equal(view.image_item.image, frame)
    # density: one arrow every N px
    assert view.density.value() == 16 and view.scale.value() == 1.0
    at16 = check_arrows(view, flows[0], hw, 16, 1.0)
    for _ in range(8):
        qtbot.keyClick(view.density, Qt.Key.Key_Down)
    assert view.density.value() == 8
    at8 = check_arrows(view, flows[0], hw, 8, 1.0)
    assert len(at8) != len(at16)
    # scale: arrows twice as long (and short ones that were dropped come back)
    for _ in range(4):
        qtbot.keyClick(view.scale, Qt.Key.Key_Up)
    assert view.scale.value() == 2.0
    at8x2 = check_arrows(view, flows[0], hw, 8, 2.0)
    assert len(at8x2) >= len(at8)
    mids, _, cut, _ = expected_arrows(flows[0], hw, 8, 2.0)
    def by_mid(pts: np.ndarray) -> dict:  # each arrow's length by its midpoint (rounded: float keys)
        return {tuple(p): n for p, n in zip(((pts[0::6] + pts[1::6]) / 2).round(2).tolist(),
                                            np.hypot(*(pts[1::6] - pts[0::6]).T))}

    whole = {tuple(m) for m in mids[~cut].round(2).tolist()}  # arrows the frame's edge did not cut
    long1, long2 = by_mid(at8), by_mid(at8x2)
    common = sorted(set(long1) & set(long2) & whole)
    assert common and np.allclose([long2[k] / long1[k] for k in common], 2.0, rtol=1e-3)
    # colour wheel: the flow's colour picture, no arrows
    qtbot.mouseClick(view.wheel, Qt.MouseButton.LeftButton, pos=QPoint(8, view.wheel.height() // 2))
    assert view.wheel.isChecked()
    up0 = expected_arrows(flows[0], hw, 8, 2.0)[-1]
    np.testing.assert_array_equal(view.image_item.image, wheel(flows[0], up0))
    assert len(view.segment_points()) == 0
    # another sample (clicked in the grid): its flow, in the wheel and then as arrows
    k = 9
    assert not np.allclose(flows[k], flows[0])
    click_cell(qtbot, win.sampleGrid, k)
    assert state.current == k
    settle(win)
    upk = expected_arrows(flows[k], hw, 8, 2.0)[-1]
    np.testing.assert_array_equal(view.image_item.image, wheel(flows[k], upk))
    qtbot.mouseClick(view.wheel, Qt.MouseButton.LeftButton, pos=QPoint(8, view.wheel.height() // 2))
    assert not view.wheel.isChecked()
    np.testing.assert_array_equal(view.image_item.image, frame)
    atk = check_arrows(view, flows[k], hw, 8, 2.0)
    assert atk.shape != at8x2.shape or not np.allclose(atk, at8x2)
    mag = np.hypot(upk[0], upk[1])
    assert view.info.text() == f"max {mag.max():.1f}, mean {mag.mean():.1f} px/s"


def moved_by_hand(frame: np.ndarray, up: np.ndarray, t: float) -> np.ndarray:
    """The frame (H, W, 3) uint8 moved along t seconds of the flow up (2, H, W) in frame pixels:
    out(x, y) = frame((x, y) - t up(x, y)), bilinear, edge pixels repeated (OpenCV's remap)."""
    ys, xs = np.indices(frame.shape[:2], dtype=np.float32)
    return cv2.remap(frame, xs - np.float32(t) * up[0], ys - np.float32(t) * up[1], cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)


def played_flow(win, k: int) -> np.ndarray:
    """Grid sample k's flow as Play moves the frame along it: upsampled edge-aware as the Preview
    composes it (the post-processing library), in frame pixels per second (2, H, W)."""
    from cdvae_core.postprocess.flowviz import flow_to_pixels
    from cdvae_core.postprocess.render import get_renderer

    return flow_to_pixels(get_renderer("motion", win.state.ctx.doc.rgb).layers(win.state.grid.xg[k][None])[0])


def test_the_flow_tabs_truth_box_does_not_widen_the_right_pane(qtbot):
    """In the controls row the Truth box held the right pane 61 px wider (396 -> 457) while a
    frame had a truth, so every pane moved when the Time bar stepped past the last second. On the
    figures' line it costs no width."""
    from cdvae_studio.widgets.flow_view import FlowView

    view = FlowView()
    qtbot.addWidget(view)
    view.show()
    without = view.minimumSizeHint().width()
    view.truth.setVisible(True)
    assert view.minimumSizeHint().width() == without


def test_flow_view_plays_the_motion_while_on_screen(qtbot, make_window, settle):
    from cdvae_studio.gif import FRAMES, loop_positions

    win = make_window("motion")
    settle(win)
    view, state = win.flowView, win.state
    assert win.views.currentWidget() is view and win.findChild(object, "flowPlayCheck") is view.play
    frame, hw = state.ctx.doc.rgb, state.ctx.doc.rgb.shape[:2]
    flows = decoded_grid(win)
    up0 = played_flow(win, 0)
    assert not view.playing() and not view._timer.isActive() and len(view.segment_points())
    qtbot.mouseClick(view.play, Qt.MouseButton.LeftButton, pos=QPoint(8, view.play.height() // 2))
    assert view.playing() and view._timer.isActive()
    # the loop starts from the still frame, without arrows, and steps out to one second and back
    assert len(view.segment_points()) == 0
    np.testing.assert_array_equal(view.image_item.image, frame)
    positions = loop_positions(FRAMES)
    for tick in range(1, FRAMES + 1):
        view._advance()
        t = float(positions[tick % FRAMES])
        np.testing.assert_array_equal(view.image_item.image, moved_by_hand(frame, up0, t))
    assert positions.max() == 1.0 and not np.array_equal(moved_by_hand(frame, up0, 1.0), frame)
    # and the timer itself moves it
    qtbot.waitUntil(lambda: not np.array_equal(view.image_item.image, frame), timeout=3000)
    # off screen it stops; back on screen it goes on
    win.views.setCurrentWidget(win.preview)
    assert not view._timer.isActive()
    win.views.setCurrentWidget(view)
    assert view._timer.isActive()
    # another sample plays its own flow from where the loop is
    click_cell(qtbot, win.sampleGrid, 5)
    settle(win)
    up5 = played_flow(win, 5)
    np.testing.assert_array_equal(view.image_item.image, moved_by_hand(frame, up5, float(positions[view._tick])))
    # the colour wheel shows the flow, not the frame: Play waits, greyed out
    view.wheel.setChecked(True)
    assert not view.play.isEnabled() and not view.playing() and not view._timer.isActive()
    view.wheel.setChecked(False)
    assert view.play.isEnabled() and view._timer.isActive()
    # unticked: the still frame and its arrows again
    view.play.setChecked(False)
    assert not view._timer.isActive()
    np.testing.assert_array_equal(view.image_item.image, frame)
    check_arrows(view, flows[5], hw, 16, 1.0)


# 5. LPP scatter ---------------------------------------------------------------------------------
def scatter_viewport_positions(scatter, xy: np.ndarray) -> np.ndarray:
    vb = scatter.plot.getPlotItem().getViewBox()
    out = []
    for x, y in xy:
        scene = vb.mapViewToScene(QPointF(float(x), float(y)))
        pos = scatter.plot.mapFromScene(scene)
        out.append((pos.x(), pos.y()))
    return np.asarray(out, np.float64)


def test_scatter_hover_click_and_trail_with_the_mouse(qtbot, make_window, settle):
    win = make_window("resaturation")
    settle(win)
    state, scatter = win.state, win.lppScatter
    emb = state.ctx.predictor.embedding
    win.views.setCurrentWidget(scatter)
    # room for the points: the legend's column takes ~110 px of the plot, and two points of
    # each split must be apart by more than a hovered point's size
    win.resize(max(win.width(), 1500), max(win.height(), 900))
    win.splitter.setSizes([150, 450, 900])
    qtbot.waitUntil(lambda: scatter.plot.isVisible() and scatter.plot.viewport().width() > 600, timeout=5000)
    a, b = scatter._axes()
    codes_c = np.asarray(emb.codes_c, np.float32)

    # the trail: one point per current code the user visits
    def trail() -> np.ndarray:
        x, y = scatter.trail.getData()
        return np.zeros((0, 2)) if x is None else np.stack([x, y], 1)

    visited = [state.codes[0].copy()]
    assert len(trail()) == 0  # one position: no trail yet
    for index in (3, 11, 6):
        click_cell(qtbot, win.sampleGrid, index)
        settle(win)
        visited.append(state.codes[index].copy())
        np.testing.assert_allclose(trail(), np.stack(visited)[:, [a, b]], atol=1e-6)

    # zoom onto the training points (the grid's samples spread much wider than a trained model's
    # z_c), then pick a point far (on screen) from every other point and every overlay mark
    xy = codes_c[:, [a, b]]
    scatter.plot.getPlotItem().getViewBox().setRange(xRange=(float(xy[:, 0].min()), float(xy[:, 0].max())),
                                                     yRange=(float(xy[:, 1].min()), float(xy[:, 1].max())), padding=0.05)
    for _ in range(2):  # paint: the axes size their tick labels, which moves the view box
        scatter.plot.grab()
        QApplication.processEvents()
    marks = np.concatenate([state.codes[:, [a, b]], trail(), state.ctx.image_code[None, [a, b]]])
    pix = scatter_viewport_positions(scatter, xy)
    mark_pix = scatter_viewport_positions(scatter, marks)
    inside = ((pix > 15) & (pix < [scatter.plot.viewport().width() - 15, scatter.plot.viewport().height() - 15])).all(1)
    d_points = np.linalg.norm(pix[:, None] - pix[None], axis=2) + np.eye(len(pix)) * 1e9
    d_marks = np.linalg.norm(pix[:, None] - mark_pix[None], axis=2)
    clearance = np.minimum(d_points.min(1), d_marks.min(1))
    clearance[~inside] = -1
    split = np.asarray(emb.split).astype(int)
    assert {0, 1} <= set(split.tolist())
    # the most isolated point of each split: hovering either must name its own split
    rows = [int(np.flatnonzero(split == s)[np.argmax(clearance[split == s])]) for s in (0, 1)]
    assert all(clearance[r] > 8 for r in rows), clearance[rows]  # points are 5 px (9 px hovered)

    def point_pos(row: int) -> QPoint:  # where the point is on screen now (mapped at the time of the event)
        (x, y), = scatter_viewport_positions(scatter, xy[row : row + 1])
        return QPoint(int(round(x)), int(round(y)))

    assert scatter.thumb_text.text() == "hover a point"
    wiggle = iter([QPoint(0, 0), QPoint(1, 0)] * 1000)
    for row in rows:  # hover: that example's thumbnail and "#row (train/test)"
        label = f"#{row} ({'test' if split[row] == 1 else 'train'})"

        def hover_shown() -> bool:
            # pyqtgraph drops move events closer than its mouseRateLimit: keep moving over the point
            # (alternating by one pixel, as a hand does) until a move is taken
            qtbot.mouseMove(scatter.plot.viewport(), point_pos(row) + next(wiggle))
            return scatter.thumb_text.text() == label

        qtbot.waitUntil(hover_shown, timeout=5000)
        grey = (np.clip(np.asarray(emb.xc_thumbs[row], np.float32)[0], 0, 1) * 255 + 0.5).astype(np.uint8)
        rgb = np.ascontiguousarray(np.repeat(grey[:, :, None], 3, 2))
        want = QPixmap.fromImage(QImage(rgb.data, 32, 32, 96, QImage.Format.Format_RGB888).copy()).scaled(72, 72)
        np.testing.assert_array_equal(qimage_rgb(scatter.thumb.pixmap().toImage()), qimage_rgb(want.toImage()))
        # shown over the plot's top-right corner, not in a row of its own below it
        geo, plot_w = scatter.thumb.geometry(), scatter.plot.width()
        assert scatter.thumb.isVisible() and scatter.thumb.parent() is scatter.plot
        assert geo.right() <= plot_w and geo.left() >= plot_w - 90 and geo.top() <= 10

    # off the points the thumbnail goes (it must not cover the plot)
    qtbot.waitUntil(lambda: qtbot.mouseMove(scatter.plot.viewport(), QPoint(2, 2) + next(wiggle))
                    or not scatter.thumb.isVisible(), timeout=5000)

    # a real click on the point opens that training example
    with qtbot.waitSignal(scatter.exampleClicked, timeout=5000) as blocker:
        qtbot.mouseClick(scatter.plot.viewport(), Qt.MouseButton.LeftButton, pos=point_pos(row))
    assert blocker.args == [row]
    settle(win)
    assert state.ctx.doc.name == f"training example #{row}"
    np.testing.assert_allclose(state.ctx.doc.xc, np.asarray(emb.xc_thumbs[row], np.float32))
    grid_matches_codes(win)


def test_scatter_trail_keeps_past_positions_when_a_slider_moves(qtbot, make_window, settle):
    win = make_window("resaturation")
    settle(win)
    state, scatter = win.state, win.lppScatter
    a, b = scatter._axes()
    click_cell(qtbot, win.sampleGrid, 3)
    settle(win)
    visited = [state.codes[0].copy(), state.codes[3].copy()]
    win.codeSliders.findChild(QSlider, f"codeSlider{a}").setValue(-220)  # the current code moves
    settle(win)
    assert state.codes[3, a] == pytest.approx(-2.2)
    visited.append(state.codes[3].copy())
    x, y = scatter.trail.getData()
    np.testing.assert_allclose(np.stack([x, y], 1), np.stack(visited)[:, [a, b]], atol=1e-6)


# 6. drag and drop -------------------------------------------------------------------------------
def drop_urls(win, urls: list[QUrl], text: str | None = None):
    from PySide6.QtCore import QMimeData
    from PySide6.QtGui import QDragEnterEvent, QDropEvent

    mime = QMimeData()
    if urls:
        mime.setUrls(urls)
    if text is not None:
        mime.setText(text)
    centre = win.rect().center()
    enter = QDragEnterEvent(QPointF(centre), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(win, enter)
    if not enter.isAccepted():
        return False, False
    drop = QDropEvent(QPointF(centre), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                      Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(win, drop)
    return True, drop.isAccepted()


def test_drop_an_image_file_and_a_model_directory(qtbot, make_window, settle, tmp_path, untrained_model):
    win = make_window("resaturation")
    settle(win)
    assert win.acceptDrops()
    before = win.state.ctx.doc.key
    assert drop_urls(win, [], text="just text") == (False, False)  # no file: refused at the door
    path = write_png(tmp_path / "dropped.png")
    assert drop_urls(win, [QUrl.fromLocalFile(path)]) == (True, True)
    settle(win)
    ctx = win.state.ctx
    assert ctx.doc.name == "dropped.png" and ctx.doc.key != before
    np.testing.assert_array_equal(win.imagePanel.photo.image(), cv2.imread(path)[:, :, ::-1])
    grid_matches_codes(win)
    assert path in [win.imagePanel.gallery.item(i).data(Qt.ItemDataRole.UserRole)
                    for i in range(win.imagePanel.gallery.count())]  # a recent file now
    # a saved model directory dropped on the window is opened as a model
    model = tmp_path / "dropped_model"
    untrained_model(model, "resaturation", "gauss")
    assert drop_urls(win, [QUrl.fromLocalFile(str(model))]) == (True, True)
    settle(win)
    assert win.state.ctx.entry.path == model.resolve() and win.state.ctx.doc.name == "dropped.png"
    assert win.tieCombo.currentData() == f"path:{model.resolve()}"


def test_several_photos_a_folder_and_a_pair_file_dropped_at_once(qtbot, make_window, settle, studio_assets,
                                                                    tmp_path):
    """A drop used to open its first file only (the rest were dropped silently), and a pair file
    was read as a photo. Now every file counts (``open_paths``, also the command line's and the
    Open dialog's): the pair file opens the nearest-neighbour baseline, the first photo is shown,
    the other photos and a folder's photos wait in the gallery, up to RECENT_MAX of them."""
    from cdvae_studio.state_media import RECENT_MAX

    win = make_window("resaturation")
    settle(win)
    folder = tmp_path / "holiday"
    folder.mkdir()
    inside = [write_png(folder / f"p{i:02d}.png", k=i + 2) for i in range(RECENT_MAX + 2)]
    (folder / "notes.txt").write_text("not a photo")
    first, second = write_png(tmp_path / "first.png"), write_png(tmp_path / "second.jpg", k=3)
    pair_file = studio_assets / "pairs" / "synthetic.npz"
    urls = [QUrl.fromLocalFile(str(p)) for p in (first, pair_file, second, folder)]
    assert drop_urls(win, urls) == (True, True)
    settle(win)
    assert win.state.ctx.doc.name == "first.png"
    assert win.state.ctx.entry.kind == "nearest"
    recent = [win.imagePanel.gallery.item(i).data(Qt.ItemDataRole.UserRole)
              for i in range(win.imagePanel.gallery.count())][-RECENT_MAX:]
    assert recent == [first, second, *inside[:RECENT_MAX - 2]]
    assert f"{RECENT_MAX + 4} photos given: the gallery keeps the first {RECENT_MAX}" in win.statusBar().currentMessage()
    assert not win.banner.isVisible()
    # a folder with no photos in it, given before anything has loaded: said, and still said once
    # the start-up photo has landed (landing takes a photo's message down)
    empty = tmp_path / "empty"
    empty.mkdir()
    fresh = make_window("resaturation")
    fresh.state.open_paths([str(empty)])
    settle(fresh)
    assert fresh.state.image is not None
    assert fresh.banner.isVisible() and fresh.banner.text().startswith("empty holds no photos")


# 7. keyboard shortcuts --------------------------------------------------------------------------
def test_keyboard_shortcuts(qtbot, make_window, settle):
    from PySide6.QtGui import QKeySequence

    win = make_window("resaturation")
    settle(win)
    state, ctx = win.state, win.state.ctx
    assert win.resampleAction.shortcut() == QKeySequence("R")
    assert win.starAction.shortcut() == QKeySequence("S")
    assert win.undoAction.shortcut() == QKeySequence("Ctrl+Z")
    assert win.exportAction.shortcut() == QKeySequence("Ctrl+E")
    win.activateWindow()
    qtbot.waitExposed(win)
    qtbot.waitUntil(lambda: QApplication.activeWindow() is win, timeout=5000)
    win.sampleGrid.setFocus()

    # R: a new seed and the library's draw for it
    first, seed = state.codes.copy(), state.seed
    qtbot.keyClick(win, Qt.Key.Key_R)
    settle(win)
    assert state.seed != seed and win.seedSpin.value() == state.seed
    np.testing.assert_allclose(state.codes, ctx.predictor.draw_codes(ctx.cond, 16, state.seed), atol=1e-6)
    assert not np.allclose(state.codes, first)
    grid_matches_codes(win)

    # S: star the current sample (and S again: unstar it)
    click_cell(qtbot, win.sampleGrid, 6)
    settle(win)
    win.sampleGrid.setFocus()
    qtbot.keyClick(win, Qt.Key.Key_S)
    assert win.tray.count() == 1 and win.sampleGrid.starred == {6}
    np.testing.assert_array_equal(next(iter(state.stars.values())).code, state.codes[6])
    qtbot.keyClick(win, Qt.Key.Key_S)
    assert win.tray.count() == 0 and win.sampleGrid.starred == set()

    # Ctrl+Z: undo a slider move
    before, cells = state.codes.copy(), win.sampleGrid.cell_images().copy()
    win.codeSliders.findChild(QSlider, "codeSlider2").setValue(333)
    settle(win)
    assert np.allclose(state.codes[:, 2], 3.33)
    win.sampleGrid.setFocus()
    qtbot.keyClick(win, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    settle(win)
    np.testing.assert_array_equal(state.codes, before)
    np.testing.assert_array_equal(win.sampleGrid.cell_images(), cells)

    # Ctrl+Shift+Z (and Ctrl+Y where that is the platform's): redo it, once
    assert QKeySequence("Ctrl+Shift+Z") in win.redoAction.shortcuts()
    moved = before.copy()
    moved[:, 2] = 3.33
    qtbot.keyClick(win, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    settle(win)
    np.testing.assert_array_equal(state.codes, moved)
    assert state.pinned[2]
    qtbot.keyClick(win, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    settle(win)
    np.testing.assert_array_equal(state.codes, moved)  # nothing more to redo

    # Ctrl+E: the export dialog
    assert win.export_dialog is None
    qtbot.keyClick(win, Qt.Key.Key_E, Qt.KeyboardModifier.ControlModifier)
    dlg = win.findChild(object, "exportDialog")
    assert dlg is not None and dlg is win.export_dialog and dlg.isVisible()


def test_a_run_trained_for_another_task_leaves_the_window_in_its_task(qtbot, make_window, settle, tmp_path,
                                                                      untrained_model):
    """A run that finished behind a closed dialog switched the window to its model's task (the
    user had gone on to motion, and was put back in resaturation with the new model)."""
    win = make_window("relighting")
    settle(win)
    shown = win.state.ctx.entry.key
    mine = tmp_path / "mine"
    untrained_model(mine, "resaturation", "gauss")
    win.state.open_model(str(mine), kind="trained")  # what the train dialog's modelTrained does
    settle(win)
    assert win.state.task_name == "relighting" and win.state.ctx.entry.key == shown
    assert f"path:{mine.resolve()}" in [e.key for e in win.catalog.entries("resaturation")]
    assert "it is in the resaturation Model list" in win.statusBar().currentMessage()
    win.state.set_task("resaturation")  # where it waits
    settle(win)
    assert f"path:{mine.resolve()}" in [win.tieCombo.itemData(i) for i in range(win.tieCombo.count())]


# 8. settings ------------------------------------------------------------------------------------
def test_settings_restore_model_per_task_recent_files_geometry(qtbot, make_window, settle, tmp_path,
                                                               untrained_model, monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    settings = QSettings(str(tmp_path / "kept.ini"), QSettings.Format.IniFormat)
    win = make_window("resaturation", settings=settings)
    settle(win)
    default_key = win.tieCombo.currentData()
    mine = tmp_path / "mine"
    untrained_model(mine, "resaturation", "gauss")
    win.state.open_model(str(mine), kind="trained")  # what the train dialog's modelTrained does
    settle(win)
    keys = [win.tieCombo.itemData(i) for i in range(win.tieCombo.count())]
    mine_key = f"path:{mine.resolve()}"
    assert mine_key in keys and default_key in keys
    win.tieCombo.setCurrentIndex(keys.index(default_key))  # the user goes back and forth in the combo
    settle(win)
    win.tieCombo.setCurrentIndex(keys.index(mine_key))
    settle(win)
    assert win.state.ctx.entry.key == mine_key
    # open two images through File > Open (the file dialog answers): the first is shown
    folder = tmp_path / "photos"
    folder.mkdir()
    photo, also = write_png(folder / "kept.png"), write_png(folder / "also.png", k=5)
    monkeypatch.setattr(QFileDialog, "getOpenFileNames", staticmethod(lambda *a, **k: ([photo, also], "")))
    win.openAction.trigger()
    settle(win)
    assert win.state.ctx.doc.name == "kept.png"
    win.taskCombo.setCurrentText("relighting")
    settle(win)
    win.lowerCheck.setChecked(False)  # lower layers at their means: remembered
    win.resize(720, 610)
    QApplication.processEvents()
    size = win.size()
    assert (size.width(), size.height()) != (1560, 960)  # not the default size (the offscreen screen is 800x800)
    assert win.close()

    again = make_window("", settings=settings)  # no task given: the saved one
    settle(again)
    assert again.taskCombo.currentText() == "relighting"
    assert not again.lowerCheck.isChecked() and not again.state.lower and not again.state.grid.lower
    assert again.size() == size
    gallery = again.imagePanel.gallery
    assert [photo, also] == [gallery.item(i).data(Qt.ItemDataRole.UserRole) for i in range(gallery.count())][-2:]
    assert again._last_dir() == str(folder)
    again.taskCombo.setCurrentText("resaturation")
    settle(again)
    assert again.tieCombo.currentData() == mine_key and again.state.ctx.entry.key == mine_key
    assert "trained here" in again.tieCombo.currentText()


# 9. batch export and cancel ---------------------------------------------------------------------
def open_export(win):
    win.exportAction.trigger()
    return win.findChild(object, "exportDialog")


def batch_export(qtbot, win, folder, n: int, out):
    """Export n PNG results for every image of ``folder`` into ``out`` through the dialog, as a user
    does; the dialog once the job has ended."""
    dlg = open_export(win)
    dlg.what.setCurrentIndex(3)
    assert dlg.batch_folder.isEnabled()
    dlg.batch_folder.edit.setText(str(folder))
    dlg.batch_n.setValue(n)
    dlg.fmt.setCurrentText("png")
    dlg.folder.edit.setText(str(out))
    qtbot.mouseClick(dlg.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dlg.runner is not None and not dlg.running() and dlg.start_button.isEnabled(),
                    timeout=60_000)
    return dlg


def test_export_batch_over_a_folder(qtbot, make_window, settle, tmp_path):
    from cdvae_core.postprocess.imagefiles import read_image
    from cdvae_core.postprocess.render import get_renderer

    win = make_window("resaturation")
    settle(win)
    folder = tmp_path / "batch"
    folder.mkdir()
    photos = [write_png(folder / f"p{k}.png", 48 + 8 * k, 64, k + 3) for k in range(2)]
    (folder / "notes.txt").write_text("not an image")
    out = tmp_path / "out"
    dlg = batch_export(qtbot, win, folder, 3, out)
    assert dlg.findChild(object, "exportWhat") is dlg.what
    assert dlg.written == 6, dlg.status.text()
    assert "Wrote 6 result(s)" in dlg.status.text()
    ctx = win.state.ctx
    for photo in photos:
        stem = photo.rsplit("/", 1)[1][:-4]
        rgb = read_image(photo)
        cond = ctx.predictor.prepare(get_renderer(win.state.task, rgb).xc_model)
        drawn = ctx.predictor.draw_codes(cond, 3, win.state.seed, temperature=win.state.temperature)
        for i in range(3):
            side = json.loads((out / f"{stem}_{i:03d}.json").read_text())
            assert side["files"]["result"] == f"{stem}_{i:03d}.png" and side["index"] == i
            assert side["seed"] == win.state.seed and side["source"]["path"] == str((folder / f"{stem}.png").resolve())
            np.testing.assert_allclose(np.asarray(side["code"], np.float32), drawn[i], atol=1e-6)
            assert read_image(out / f"{stem}_{i:03d}.png").shape == rgb.shape
    assert sorted(p.name for p in out.iterdir()) == sorted(
        f"p{k}_{i:03d}.{ext}" for k in range(2) for i in range(3) for ext in ("png", "json"))


def test_export_cancel_stops_and_leaves_complete_files(qtbot, make_window, settle, tmp_path):
    from cdvae_core.postprocess.imagefiles import read_image

    win = make_window("resaturation")
    settle(win)
    folder = tmp_path / "many"
    folder.mkdir()
    for k in range(6):
        write_png(folder / f"m{k}.png", 64, 80, k + 2)
    dlg = open_export(win)
    dlg.what.setCurrentIndex(3)
    dlg.batch_folder.edit.setText(str(folder))
    dlg.batch_n.setValue(1000)  # 6000 results: far more than will be written before the cancel
    out = tmp_path / "out"
    dlg.folder.edit.setText(str(out))
    qtbot.mouseClick(dlg.start_button, Qt.MouseButton.LeftButton)
    assert dlg.running() and dlg.cancel_button.isEnabled()
    qtbot.waitUntil(lambda: len(list(out.glob("*.json"))) >= 3, timeout=60_000)
    with qtbot.waitSignal(dlg.runner.finished, timeout=60_000) as blocker:
        qtbot.mouseClick(dlg.cancel_button, Qt.MouseButton.LeftButton)
    assert blocker.args[0] == "cancelled"
    qtbot.waitUntil(lambda: dlg.start_button.isEnabled(), timeout=5000)
    assert not dlg.running() and not dlg.cancel_button.isEnabled()
    assert "cancelled" in dlg.status.text().lower()
    files = sorted(out.iterdir())
    assert not [p for p in files if p.name.startswith(".") or ".tmp" in p.name]  # no half-written file
    pngs = [p for p in files if p.suffix == ".png"]
    sidecars = [p for p in files if p.suffix == ".json"]
    assert 3 <= len(pngs) == len(sidecars) < 6000 and len(files) == len(pngs) + len(sidecars)
    for side in sidecars:
        data = json.loads(side.read_text())
        assert (out / data["files"]["result"]).is_file() and data["files"]["result"] == side.stem + ".png"
    for png in pngs:
        assert read_image(png).shape == (64, 80, 3)


# 10. slider throttle ----------------------------------------------------------------------------
def test_slider_burst_is_throttled_and_lands_on_the_final_code(qtbot, make_window, settle, submissions):
    from cdvae_studio.widgets.code_sliders import from_ticks

    win = make_window("resaturation")
    settle(win)
    state = win.state
    seen = submissions(win)
    slider = win.codeSliders.findChild(QSlider, "codeSlider0")
    moves = list(range(-200, 201, 10))  # 41 moves, no event processed in between
    for v in moves:
        slider.setValue(v)
    assert seen.count("grid") <= 1  # the leading render only; the rest waits for the frame timer
    np.testing.assert_allclose(state.codes[:, 0], from_ticks(moves[-1]))
    settle(win)
    assert 1 <= seen.count("grid") <= 3 < len(moves) // 10, seen
    np.testing.assert_array_equal(state.grid.codes, state.codes)
    grid_matches_codes(win)

    # held slider: drag-size cells while held, the full grid of the final code on release
    assert any(win.sampleGrid.badge_texts())  # the settled grid's tie-drift badges
    seen.clear()
    slider.setSliderDown(True)
    for v in range(0, 301, 15):
        slider.setValue(v)
    settle(win)
    assert seen.count("grid") <= 3
    full_h, full_w = state.ctx.doc.small.shape[:2]
    assert win.sampleGrid.cell_images().shape[1] < full_h  # composed at drag resolution
    assert not any(win.sampleGrid.badge_texts())  # they described the codes before the drag
    slider.setSliderDown(False)  # sliderReleased: the full render
    settle(win)
    assert win.sampleGrid.cell_images().shape[1:3] == (full_h, full_w)
    assert any(win.sampleGrid.badge_texts())  # recomputed for the released codes
    np.testing.assert_allclose(state.codes[:, 0], from_ticks(300))
    grid_matches_codes(win)


def test_batch_export_draws_from_the_picked_mdn_component(qtbot, make_window, settle, tmp_path):
    """Batch export drew from the whole mixture whatever the picker said, while the toolbar's seed
    and temperature were used: the picked component now draws every result, and the sidecars
    and the dialog's summary say which."""
    from cdvae_core.postprocess.imagefiles import read_image
    from cdvae_core.postprocess.render import get_renderer

    win = make_window("resaturation")  # the built-in default here is an MDN4
    settle(win)
    assert win.state.ctx.mixture is not None
    win.codeSliders.component_combo.setCurrentIndex(3)  # component 2
    settle(win)
    folder = tmp_path / "batch"
    folder.mkdir()
    photo = write_png(folder / "p.png", 48, 64, 5)
    out = tmp_path / "out"
    dlg = batch_export(qtbot, win, folder, 3, out)
    assert dlg.summary.text().endswith("MDN component 2")
    assert dlg.written == 3, dlg.status.text()
    ctx = win.state.ctx
    cond = ctx.predictor.prepare(get_renderer("resaturation", read_image(photo)).xc_model)
    picked = ctx.predictor.draw_codes(cond, 3, win.state.seed, component=2)
    mixture = ctx.predictor.draw_codes(cond, 3, win.state.seed)
    assert not np.allclose(picked, mixture, atol=1e-3)  # the check below can tell the two apart
    for i in range(3):
        side = json.loads((out / f"p_{i:03d}.json").read_text())
        assert side["settings"]["component"] == 2
        np.testing.assert_allclose(np.asarray(side["code"], np.float32), picked[i], atol=1e-6)

    win.codeSliders.component_combo.setCurrentIndex(0)  # the whole mixture again
    settle(win)
    win.open_export_dialog()
    assert "component" not in dlg.summary.text()

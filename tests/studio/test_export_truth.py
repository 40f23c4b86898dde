"""Exports and sessions say what they hold: sidecars record the seed, temperature, MDN component
and grid cell each sample was drawn at and reproduce through cdvae-sample --reproduce, sessions
keep the grid's own draw (seed, temperature, component), an unwritable folder is refused before
anything starts, expected job errors print no traceback, and animations hold the frames they
promise."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from PySide6.QtCore import Qt

from cdvae_core.postprocess.export import ExportError
from cdvae_core.postprocess.reproduce import reproduce
from cdvae_core.postprocess.imagefiles import read_image


def _export(qtbot, dlg, what: int, out: Path) -> list[dict]:
    dlg.what.setCurrentIndex(what)
    dlg.folder.edit.setText(str(out))
    qtbot.mouseClick(dlg.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dlg.runner is not None and not dlg.running() and dlg.start_button.isEnabled(),
                    timeout=120_000)
    assert "Wrote" in dlg.status.text(), dlg.status.text()
    return [json.loads(p.read_text()) | {"_path": str(p)} for p in sorted(out.glob("*.json"))]


def _reproduces(sides: list[dict], predictor, photo: np.ndarray) -> None:
    """Each sidecar re-renders its file bit for bit (the temperature recorded draws nothing)."""
    for side in sides:
        png = Path(side["_path"]).with_suffix(".png")
        np.testing.assert_array_equal(reproduce(side["_path"], predictor, photo), read_image(png))


def test_sidecars_record_the_temperature_each_sample_was_drawn_at(qtbot, make_window, settle, tmp_path):
    """Stars, the current sample and the whole grid recorded settings.temperature 1.0 whatever the
    toolbar's temperature the codes were drawn at."""
    win = make_window("resaturation")
    settle(win)
    state, spin = win.state, win.temperatureSpin
    drawn_at = {}
    for temperature, index in ((1.0, 3), (0.5, 6), (1.5, 1)):
        if temperature != spin.value():
            spin.setValue(temperature)
            settle(win)
        state.toggle_star(index)
        drawn_at[tuple(state.grid.codes[index])] = temperature
    assert len(state.stars) == 3
    predictor, photo = state.ctx.predictor, state.ctx.doc.rgb
    if state.ctx.doc.source:
        photo = read_image(state.ctx.doc.source)
    win.open_export_dialog()
    dlg = win.export_dialog

    sides = _export(qtbot, dlg, 0, tmp_path / "stars")
    assert len(sides) == 3
    assert {tuple(np.float32(s["code"])): s["settings"]["temperature"] for s in sides} == drawn_at
    _reproduces(sides, predictor, photo)

    # the toolbar moved on, its redraw not applied yet: the grid's samples are still 1.5's
    state.worker.submit = lambda channel, job: 0  # hold every new job back
    spin.setValue(0.25)
    sides = _export(qtbot, dlg, 1, tmp_path / "current")
    assert len(sides) == 1 and sides[0]["settings"]["temperature"] == 1.5
    np.testing.assert_array_equal(np.float32(sides[0]["code"]), state.grid.codes[state.current])
    sides = _export(qtbot, dlg, 2, tmp_path / "grid")
    assert len(sides) == len(state.grid.codes) and {s["settings"]["temperature"] for s in sides} == {1.5}
    _reproduces(sides[:2], predictor, photo)


def test_undo_and_reset_keep_the_draws_temperature(qtbot, make_window, settle, tmp_path):
    """A slider move re-renders at the draw's temperature; undo past a redraw restores the older
    one, reset the newest draw's."""
    win = make_window("resaturation")
    settle(win)
    state = win.state
    win.open_export_dialog()
    dlg = win.export_dialog
    outs = iter(range(100))

    def exported_temperature() -> float:
        settle(win)
        sides = _export(qtbot, dlg, 1, tmp_path / f"out{next(outs)}")
        return sides[0]["settings"]["temperature"]

    state.edit_code(0, 0.3)  # an undo step holding the 1.0 draw
    assert exported_temperature() == 1.0
    win.temperatureSpin.setValue(0.5)
    settle(win)  # the redraw lands (a slider move before it replaces it: the codes stay 1.0's)
    state._last_edit = 0.0  # the next move is a new undo step
    state.edit_code(1, -0.2)
    assert exported_temperature() == 0.5  # re-rendered codes keep their draw's temperature
    state.undo()
    state.undo()  # back before the redraw: codes (and noise) of the 1.0 draw
    assert exported_temperature() == 1.0
    state.reset_code()  # the newest draw again
    assert exported_temperature() == 0.5


def test_sidecars_name_the_seed_and_grid_cell_each_sample_came_from(qtbot, make_window, settle, tmp_path):
    """Studio sidecars said "seed": 0 and "sample_index": null, so nothing told which draw and
    which cell of the grid a result was; the seed and cell now give the drawn code and noise back."""
    win = make_window("resaturation")
    settle(win)
    state = win.state
    starred = []  # (seed, grid cell) in starring order
    for seed, cells in ((1234, (9, 2)), (77, (5,))):
        win.seedSpin.setValue(seed)
        settle(win)
        for cell in cells:
            state.toggle_star(cell)
            starred.append((seed, cell))
    assert [win.tray.item(i).text().rsplit("#", 1)[1] for i in range(3)] == ["10", "3", "6"]  # the tray counts from 1
    ctx = state.ctx
    win.open_export_dialog()
    dlg = win.export_dialog

    def drawn(seed: int) -> tuple[np.ndarray, np.ndarray]:
        return ctx.predictor.draw(ctx.cond, len(state.codes), seed, temperature=state.codes_draw.temperature)

    sides = _export(qtbot, dlg, 0, tmp_path / "stars")
    assert [(s["seed"], s["sample_index"]) for s in sides] == starred  # one call per seed, in starring order
    assert [(s["index"], s["file_number"]) for s in sides] == [(0, 0), (1, 1), (0, 2)]
    for side in sides:  # unedited samples: the seed and cell are enough to draw them again
        codes, noise = drawn(side["seed"])
        np.testing.assert_array_equal(np.float32(side["code"]), codes[side["sample_index"]])
        np.testing.assert_array_equal(np.float32(side["lower_noise"]), noise[side["sample_index"]])

    state.select_sample(7)
    settle(win)
    sides = _export(qtbot, dlg, 1, tmp_path / "current")
    assert [(s["seed"], s["sample_index"], s["index"]) for s in sides] == [(77, 7, 0)]
    sides = _export(qtbot, dlg, 2, tmp_path / "grid")
    assert [(s["seed"], s["sample_index"]) for s in sides] == [(77, i) for i in range(len(state.codes))]
    np.testing.assert_array_equal(np.float32([s["code"] for s in sides]), drawn(77)[0])


def test_a_studio_export_reproduces_through_cdvae_sample(qtbot, make_window, settle, tmp_path, capsys):
    """With a non-zero seed and an MDN component in the sidecar, --reproduce still decodes the
    recorded code and noise (nothing is drawn again from the seed or the component): the same
    pixels, also for a slider-edited sample."""
    from cdvae_core.cli import sample
    from cdvae_core.postprocess.reproduce import reproduce_file

    win = make_window("resaturation")
    settle(win)
    state = win.state
    win.seedSpin.setValue(4321)
    win.temperatureSpin.setValue(0.6)
    win.codeSliders.component_combo.setCurrentIndex(2)  # MDN component 1
    settle(win)
    state.toggle_star(3)
    state.select_sample(11)
    state.edit_code(0, 0.8)  # a code the seed alone does not give
    settle(win)
    state.toggle_star(11)
    win.open_export_dialog()
    sides = _export(qtbot, win.export_dialog, 0, tmp_path / "stars")
    assert [(s["seed"], s["sample_index"], s["settings"]["temperature"], s["settings"]["component"])
            for s in sides] == [(4321, 3, 0.6, 1), (4321, 11, 0.6, 1)]
    first, second = (Path(s["_path"]) for s in sides)
    written, original = reproduce_file(first)  # the model and photo as recorded in the sidecar
    assert original == first.with_suffix(".png") and written == first.with_name(f"{first.stem}_reproduced.png")
    np.testing.assert_array_equal(read_image(written), read_image(original))
    capsys.readouterr()
    assert sample.main(["--reproduce", str(second)]) == 0
    assert capsys.readouterr().err.strip().endswith(f"identical to {second.stem}.png")
    np.testing.assert_array_equal(read_image(second.with_name(f"{second.stem}_reproduced.png")),
                                  read_image(second.with_suffix(".png")))


def test_a_session_keeps_the_temperature_its_grid_was_drawn_at(qtbot, make_window, settle, tmp_path):
    """Sessions saved the temperature spin box, not the draw's: after an undo past a redraw (or
    with the redraw in flight) the reopened grid was drawn at another temperature than the one
    saved from, and the spin box showed that other one."""
    win = make_window("resaturation")
    settle(win)
    state = win.state
    before = state.grid.xg.copy()
    state.edit_code(0, 0.3)  # an undo step holding the 1.0 draw
    win.temperatureSpin.setValue(0.5)
    settle(win)
    state._last_edit = 0.0  # the next move is a new undo step
    state.edit_code(1, -0.2)
    state.undo()
    state.undo()  # the 1.0 draw again; the spin box still says 0.5
    settle(win)
    assert (win.temperatureSpin.value(), state.codes_draw.temperature) == (0.5, 1.0)
    np.testing.assert_array_equal(state.grid.xg, before)
    state.save_session(str(tmp_path / "s.json"))
    assert json.loads((tmp_path / "s.json").read_text())["temperature"] == 1.0

    other = make_window("resaturation")
    settle(other)
    other.state.open_session(str(tmp_path / "s.json"))
    settle(other)
    assert (other.temperatureSpin.value(), other.state.codes_draw.temperature) == (1.0, 1.0)
    np.testing.assert_array_equal(other.state.grid.xg, before)  # every sample, not only the current one


def test_stars_sessions_and_exports_record_the_seed_their_grid_was_drawn_from(qtbot, make_window, settle,
                                                                              tmp_path):
    """The seed is kept per draw, like the temperature: after undoing back past a new seed's
    redraw the toolbar shows the new seed, but a star, a session and a grid export record the
    seed the shown grid was drawn from."""
    win = make_window("resaturation")
    settle(win)
    state = win.state
    win.seedSpin.setValue(111)
    settle(win)
    drawn_111 = state.grid.codes.copy()
    state.edit_code(0, 0.3)  # an undo step holding the seed-111 draw
    state._last_edit = 0.0
    win.seedSpin.setValue(222)  # a redraw from another seed
    settle(win)
    assert state.codes_draw.seed == 222
    drawn_222 = state.grid.codes.copy()
    state.undo()  # back to the seed-111 grid (with the slider edit)
    settle(win)
    assert (win.seedSpin.value(), state.codes_draw.seed, state.grid.draw.seed) == (222, 111, 111)
    np.testing.assert_array_equal(np.delete(state.grid.codes, 0, 1), np.delete(drawn_111, 0, 1))
    state.toggle_star(4)
    assert next(iter(state.stars.values())).draw.seed == 111
    state.save_session(str(tmp_path / "s.json"))
    assert json.loads((tmp_path / "s.json").read_text())["seed"] == 111
    win.open_export_dialog()
    sides = _export(qtbot, win.export_dialog, 2, tmp_path / "grid")
    assert {s["seed"] for s in sides} == {111}
    state.reset_code()  # "Reset": back to the last draw, and its seed with it
    settle(win)
    assert state.codes_draw.seed == state.grid.draw.seed == 222
    # the draw itself: un-pinned, component 0 is the draw's again, not the 0.3 the pin held through it
    np.testing.assert_array_equal(np.delete(state.grid.codes, 0, 1), np.delete(drawn_222, 0, 1))
    ctx = state.ctx
    np.testing.assert_array_equal(state.grid.codes, ctx.predictor.draw_codes(ctx.cond, len(drawn_222), 222,
                                                                             temperature=state.temperature))


def _pick_component(win, settle, component: int | None) -> None:
    """The MDN component picker (None: the whole mixture), through its combo box."""
    win.codeSliders.component_combo.setCurrentIndex(0 if component is None else component + 1)
    settle(win)


def test_stars_and_exports_record_the_mdn_component_their_grid_was_drawn_from(qtbot, make_window, settle,
                                                                             tmp_path):
    """Studio sidecars said "component": null even when every code came from one picked MDN
    component; stars, the current sample and the grid now record the draw's component, stars of
    different components are exported in separate calls, and (seed, component, temperature,
    sample_index) draw an unedited sample again."""
    win = make_window("resaturation")
    settle(win)
    state, ctx = win.state, win.state.ctx
    assert ctx.predictor.mixtures == 4
    starred = []  # (component, grid cell) in starring order
    for component, cell in ((1, 3), (3, 5), (None, 7), (1, 9)):
        _pick_component(win, settle, component)
        assert state.codes_draw.component == state.grid.draw.component == component
        state.toggle_star(cell)
        starred.append((component, cell))
    assert [star.draw.component for star in state.stars.values()] == [1, 3, None, 1]
    photo = read_image(ctx.doc.source) if ctx.doc.source else ctx.doc.rgb
    win.open_export_dialog()
    dlg = win.export_dialog

    def drawn(component: int | None) -> tuple[np.ndarray, np.ndarray]:
        return ctx.predictor.draw(ctx.cond, len(state.codes), state.codes_draw.seed, component,
                                  temperature=state.codes_draw.temperature)

    sides = _export(qtbot, dlg, 0, tmp_path / "stars")
    # one call per component (the two component-1 stars together, in starring order)
    assert [(s["settings"]["component"], s["sample_index"]) for s in sides] == [(1, 3), (1, 9), (3, 5), (None, 7)]
    assert [(s["index"], s["file_number"]) for s in sides] == [(0, 0), (1, 1), (0, 2), (0, 3)]
    for side in sides:  # unedited samples: seed, component and cell draw them again
        codes, noise = drawn(side["settings"]["component"])
        np.testing.assert_array_equal(np.float32(side["code"]), codes[side["sample_index"]])
        np.testing.assert_array_equal(np.float32(side["lower_noise"]), noise[side["sample_index"]])
    _reproduces(sides, ctx.predictor, photo)  # the component recorded redraws nothing

    _pick_component(win, settle, 2)
    state.select_sample(6)
    settle(win)
    sides = _export(qtbot, dlg, 1, tmp_path / "current")
    assert [(s["settings"]["component"], s["sample_index"]) for s in sides] == [(2, 6)]
    sides = _export(qtbot, dlg, 2, tmp_path / "grid")
    assert [(s["settings"]["component"], s["sample_index"]) for s in sides] == [(2, i) for i in range(16)]
    np.testing.assert_array_equal(np.float32([s["code"] for s in sides]), drawn(2)[0])
    _reproduces(sides[:2], ctx.predictor, photo)

    # the picker moved on, its redraw not applied yet: the grid's samples are still component 2's
    state.worker.submit = lambda channel, job: 0  # hold every new job back
    win.codeSliders.component_combo.setCurrentIndex(1)
    assert state.component == 0 and state.codes_draw.component == 2
    sides = _export(qtbot, dlg, 1, tmp_path / "in_flight")
    assert [s["settings"]["component"] for s in sides] == [2]
    state.toggle_star(0)
    assert state.stars[max(state.stars)].draw.component == 2
    assert state.session().component == 2


def test_undo_session_and_reset_keep_the_mdn_component_of_the_shown_grid(qtbot, make_window, settle, tmp_path):
    """After undoing back past a component change the picker shows the newer component, but a
    star, an export and a session record the component the shown grid was drawn from; the
    session reopens that component's grid (all 16 samples) and the picker with it; "Reset" goes
    back to the newest draw's component."""
    win = make_window("resaturation")
    settle(win)
    state, combo = win.state, win.codeSliders.component_combo
    _pick_component(win, settle, 2)
    drawn_2, xg_2 = state.grid.codes.copy(), state.grid.xg.copy()
    state.edit_code(0, 0.3)  # an undo step holding the component-2 draw
    settle(win)
    state._last_edit = 0.0
    _pick_component(win, settle, 1)  # a redraw from another component (the pin kept)
    assert state.codes_draw.component == state.grid.draw.component == 1
    drawn_1 = state.grid.codes.copy()
    assert not np.array_equal(np.delete(drawn_1, 0, 1), np.delete(drawn_2, 0, 1))
    state._last_edit = 0.0
    state.edit_code(1, -0.2)
    state.undo()
    state.undo()  # the component-2 draw again, as drawn; the picker still says component 1
    settle(win)
    assert (combo.currentIndex(), state.component) == (2, 1)
    assert state.codes_draw.component == state.grid.draw.component == 2
    np.testing.assert_array_equal(state.grid.codes, drawn_2)
    state.toggle_star(4)
    assert next(iter(state.stars.values())).draw.component == 2
    win.open_export_dialog()
    sides = _export(qtbot, win.export_dialog, 0, tmp_path / "star")
    assert [(s["settings"]["component"], s["sample_index"]) for s in sides] == [(2, 4)]
    sides = _export(qtbot, win.export_dialog, 2, tmp_path / "grid")
    assert {s["settings"]["component"] for s in sides} == {2}
    state.select_sample(5)
    settle(win)
    state.save_session(str(tmp_path / "s.json"))
    saved = json.loads((tmp_path / "s.json").read_text())
    assert (saved["component"], saved["current"]) == (2, 5)

    other = make_window("resaturation")
    settle(other)
    other.state.open_session(str(tmp_path / "s.json"))
    settle(other)
    assert (other.codeSliders.component_combo.currentIndex(), other.state.component) == (3, 2)
    assert other.state.codes_draw == state.codes_draw
    np.testing.assert_array_equal(other.state.grid.codes, drawn_2)
    np.testing.assert_array_equal(other.state.grid.xg, xg_2)  # every sample, not only the current one
    assert other.state.current == 5

    state.reset_code()  # "Reset": back to the last draw, and its component with it
    settle(win)
    assert state.codes_draw.component == state.grid.draw.component == 1
    # the draw itself: un-pinned, component 0 is the draw's again, not the 0.3 the pin held through it
    np.testing.assert_array_equal(np.delete(state.grid.codes, 0, 1), np.delete(drawn_1, 0, 1))
    ctx = state.ctx
    np.testing.assert_array_equal(state.grid.codes, ctx.predictor.draw_codes(ctx.cond, len(drawn_1), state.seed, 1,
                                                                             temperature=state.temperature))


def test_old_sessions_still_open(tmp_path):
    """A session without a temperature (saved before it existed) reads as 1; one with the spin
    box's value reads it as the draw's (the same once the redraw had landed); a key this Studio
    does not know (a later one's optional field) is left out."""
    from cdvae_studio.session import Session, load_session

    base = {"format": "cdvae-studio-session", "version": 1, "task": "resaturation", "model": "builtin:x",
            "image": None, "seed": 3, "code": [0.5]}
    for extra, temperature in (({}, 1.0), ({"temperature": 0.7}, 0.7), ({"a_later_field": [1]}, 1.0)):
        (tmp_path / "old.json").write_text(json.dumps(base | extra))
        assert load_session(tmp_path / "old.json") == Session("resaturation", "builtin:x", None, 3, [0.5],
                                                               temperature=temperature)


@pytest.mark.parametrize("kind", ["under_a_file", "proc"])
def test_an_unwritable_export_folder_is_refused_before_anything_starts(qtbot, make_window, settle, tmp_path, kind):
    win = make_window("resaturation")
    settle(win)
    win.open_export_dialog()
    dlg = win.export_dialog
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    out = blocker / "sub" if kind == "under_a_file" else Path("/proc/cdvae-export-test")
    dlg.what.setCurrentIndex(1)
    dlg.folder.edit.setText(str(out))
    qtbot.mouseClick(dlg.start_button, Qt.MouseButton.LeftButton)
    assert dlg.runner is None and dlg.start_button.isEnabled()  # nothing started
    text = dlg.status.text()
    assert text.startswith(f"Cannot export: {out} ") and "Nothing was written." in text and "\n" not in text
    assert blocker.read_text() == "x" and not out.exists()


def test_animation_into_an_unwritable_folder_is_refused_before_rendering(qtbot, make_window, settle, tmp_path,
                                                                        submissions):
    win = make_window("resaturation")
    settle(win)
    (tmp_path / "a_file").write_text("x")
    seen = submissions(win)
    win.state.export_sweep_gif(str(tmp_path / "a_file" / "sweep.gif"))
    assert seen == [] and not win.state._exports
    assert "cannot write" in win.banner.text() and "is not a directory" in win.banner.text()


def _run_job(qtbot, factory):
    from cdvae_studio.worker import JobRunner

    runner = JobRunner(factory, name="cdvae-test-job")
    with qtbot.waitSignal(runner.finished, timeout=10_000) as blocker:
        runner.start()
    runner.wait(5000)
    return blocker.args


def _failing(exc: BaseException):
    def factory():
        yield None
        raise exc

    return factory


def test_job_runner_prints_tracebacks_only_for_unexpected_errors(qtbot, capfd, tmp_path):
    from cdvae_core.data.errors import DataError
    from cdvae_core.pairs import PairFileError
    from cdvae_studio.export_dialog import batch_job

    expected = [ExportError("out: cannot be created: a_file is not a directory"), DataError("bad data"),
                PairFileError("bad pairs"), NotADirectoryError(20, "Not a directory")]
    status, payload = _run_job(qtbot, _failing(FileNotFoundError(2, "No such file or directory", "in/a.png")))
    assert (status, payload) == ("failed", "in/a.png: No such file or directory")  # not "[Errno 2] ..."
    for exc in expected:
        status, payload = _run_job(qtbot, _failing(exc))
        assert (status, payload) == ("failed", str(exc))  # the message alone: it is written for the user
        assert "Traceback" not in capfd.readouterr().err, exc
    # a plain ValueError the Studio raises itself is a message for the user too
    status, payload = _run_job(qtbot, lambda: batch_job(None, str(tmp_path), 2, 0, str(tmp_path / "o"), "png"))
    assert (status, payload) == ("failed", f"no images in {tmp_path}")
    assert "Traceback" not in capfd.readouterr().err

    status, payload = _run_job(qtbot, _failing(TypeError("a bug")))
    assert (status, payload) == ("failed", "TypeError: a bug")
    assert "Traceback" in capfd.readouterr().err  # a bug still shows where it happened

    def numpy_bug():
        yield None
        np.zeros(3) + np.zeros(4)  # a ValueError from inside numpy: a bug, not a user's mistake

    status, payload = _run_job(qtbot, numpy_bug)
    assert status == "failed" and payload.startswith("ValueError: operands could not be broadcast")
    assert "Traceback" in capfd.readouterr().err


def test_render_worker_prints_tracebacks_only_for_unexpected_errors(qtbot, capfd):
    from cdvae_studio.worker import LatestWorker

    worker = LatestWorker()
    results: list[str] = []
    worker.done.connect(lambda channel, rid, result, seconds, error: results.append(error))
    try:
        def expected():
            raise ExportError("sweep.gif: cannot be written")

        def bug():
            return {}["missing"]

        worker.submit("misc", expected)
        qtbot.waitUntil(lambda: len(results) == 1, timeout=10_000)
        assert results[0] == "sweep.gif: cannot be written"
        assert "Traceback" not in capfd.readouterr().err
        worker.submit("misc", bug)
        qtbot.waitUntil(lambda: len(results) == 2, timeout=10_000)
        assert results[1].startswith("KeyError") and "Traceback" in capfd.readouterr().err
    finally:
        worker.stop()


@pytest.mark.parametrize("frames", [2, 3, 10, 24, 25])
def test_animation_codes_hold_exactly_the_frames_asked_for(frames):
    """A 24-frame sweep or interpolation had 22 frames: both halves were frames // 2 long and the
    way back dropped both ends."""
    from cdvae_studio.gif import interpolation_codes, sweep_codes

    code = np.zeros(4, np.float32)
    sweep = sweep_codes(code, 1, np.zeros(4, np.float32), np.ones(4, np.float32), frames)[:, 1]
    line = interpolation_codes(np.zeros(2, np.float32), np.ones(2, np.float32), frames)[:, 0]
    assert len(sweep) == len(line) == frames
    assert sweep[0] == -2.0 and line[0] == 0.0 and sweep.max() <= 2.0 and line.max() <= 1.0
    if frames % 2 == 0:
        assert sweep.max() == 2.0 and line.max() == 1.0  # both ends are shown
    loop = np.append(line, line[0])
    assert (np.diff(loop) != 0).all()  # no end repeats, also where the loop wraps


def test_animation_export_writes_the_frames_the_status_promises(qtbot, make_window, settle, tmp_path):
    import imageio.v3 as iio

    from cdvae_studio.gif import FRAMES

    win = make_window("resaturation")
    settle(win)
    state = win.state
    for name, other in (("sweep.mp4", None), ("interp.gif", 5)):
        state.export_sweep_gif(str(tmp_path / name), other)
        qtbot.waitUntil(lambda: (tmp_path / name).exists() and state.is_settled(), timeout=60_000)
        message = win.statusBar().currentMessage()
        assert message.startswith(f"{FRAMES}-frame "), message
        h, w = state.ctx.doc.small.shape[:2]
        assert f"({w}x{h} px, grid-cell size)" in message
        if name.endswith(".mp4"):
            import cv2

            video = cv2.VideoCapture(str(tmp_path / name))
            count = 0
            while video.read()[0]:
                count += 1
            video.release()
            assert count == FRAMES
        else:
            stored = len(iio.imread(tmp_path / name, index=None))
            assert stored == FRAMES or f"the GIF holds {stored}:" in message


def test_a_videos_time_bar_picks_the_frame_that_exports_and_sessions_keep(qtbot, make_window, settle, tmp_path,
                                                                           pan_video):
    """A video opened at its first frame shows a time bar over its frames; choosing frame 10 (1 s
    at 10 fps) makes that frame the document, with the frame a second on as motion's truth. A drag
    loads only on release. The export names the frame (pan_t1s_000, source path#t=1) and
    reproduces; a saved session reopens at that frame; a frame that cannot be read leaves the one
    shown, and its place on the bar; a photo hides the bar."""
    from cdvae_core.data.video_frames import frames_at

    video = tmp_path / "pan.avi"
    pan_video(video, 30)  # 3 s at 10 fps
    win = make_window("motion")
    settle(win)
    bar = win.imagePanel.timeBar
    assert not bar.isVisibleTo(win)
    win.state.open_paths([str(video)])
    qtbot.waitUntil(lambda: win.state.ctx.doc.name == "pan.avi", timeout=30_000)
    settle(win)
    assert bar.isVisibleTo(win) and (bar.slider.minimum(), bar.slider.maximum(), bar.slider.value()) == (0, 29, 0)
    assert bar.label.text() == "0.00 s of 3.00 s"
    bar.slider.setValue(10)  # as the arrow keys and clicks on the track do: loads at once
    qtbot.waitUntil(lambda: win.state.image_path == f"{video}#t=1", timeout=30_000)
    settle(win)
    frame, later, _ = frames_at(video, 1.0)
    doc = win.state.ctx.doc
    np.testing.assert_array_equal(doc.rgb, frame)
    np.testing.assert_array_equal(doc.later, later)
    assert doc.source == f"{video}#t=1" and "frame at 1 s of a 3 s video" in win.imagePanel.caption.text()
    recent = win.settings.value("recentFiles") or []
    assert str(video) in recent and f"{video}#t=1" not in recent  # the recent list keeps the video itself
    lit = win.imagePanel.gallery.selectedItems()  # and the gallery lights the video's entry
    assert [item.data(Qt.ItemDataRole.UserRole) for item in lit] == [str(video)]

    bar.slider.setSliderDown(True)  # a drag: the label follows, nothing loads until release
    bar.slider.setValue(25)
    assert bar.label.text() == "2.50 s of 3.00 s" and win.state.image_path == f"{video}#t=1"
    bar.slider.setSliderDown(False)
    qtbot.waitUntil(lambda: win.state.image_path == f"{video}#t=2.5", timeout=30_000)
    settle(win)
    assert win.state.ctx.doc.later is None and "no motion truth" in win.imagePanel.caption.text()
    bar.slider.setValue(10)
    qtbot.waitUntil(lambda: win.state.image_path == f"{video}#t=1", timeout=30_000)
    settle(win)

    win.state.toggle_star(2)  # the star says which frame it came from
    assert (win.tray.item(0).text(), win.tray.item(0).toolTip()) == ("pan #3", "pan.avi @ 1 s #3")  # 1 s: a badge
    win.open_export_dialog()
    (side,) = _export(qtbot, win.export_dialog, 1, tmp_path / "out")
    assert Path(side["_path"]).name == "pan_t1s_000.json" and side["source"]["path"] == f"{video.resolve()}#t=1"
    np.testing.assert_array_equal(reproduce(side["_path"]), read_image(Path(side["_path"]).with_suffix(".png")))
    win.export_dialog.close()

    win.state.save_session(str(tmp_path / "s.json"))
    assert json.loads((tmp_path / "s.json").read_text())["image"] == f"{video}#t=1"
    other = make_window("motion")
    settle(other)
    other.state.open_session(str(tmp_path / "s.json"))
    qtbot.waitUntil(lambda: other.state.ctx is not None and other.state.ctx.doc.source == f"{video}#t=1",
                    timeout=30_000)
    settle(other)
    assert other.imagePanel.timeBar.slider.value() == 10
    np.testing.assert_array_equal(other.state.ctx.doc.rgb, frame)

    video.rename(tmp_path / "moved.avi")  # a frame that cannot be read: said, and the bar goes back
    bar.slider.setValue(20)
    qtbot.waitUntil(lambda: "Cannot open pan.avi#t=2" in win.banner.text(), timeout=30_000)
    assert bar.slider.value() == 10 and win.state.image_path == f"{video}#t=1"

    still = tmp_path / "still.png"  # a photo hides the bar again
    cv2.imwrite(str(still), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    win.state.open_paths([str(still)])
    qtbot.waitUntil(lambda: win.state.ctx.doc.name == "still.png", timeout=30_000)
    assert not bar.isVisibleTo(win)
    lit = win.imagePanel.gallery.selectedItems()
    assert [item.data(Qt.ItemDataRole.UserRole) for item in lit] == [str(still)]


def test_a_motion_animation_is_the_loop_the_flow_tab_plays(qtbot, make_window, settle, tmp_path, monkeypatch):
    import imageio.v3 as iio
    from PySide6.QtWidgets import QFileDialog

    from cdvae_core.postprocess.flowviz import flow_to_pixels
    from cdvae_core.postprocess.render import get_renderer
    from cdvae_studio.gif import FRAMES, loop_positions, motion_loop

    win = make_window("relighting")
    settle(win)
    assert not win.motionGifAction.isEnabled()  # a relighting grid has no motion
    win.taskCombo.setCurrentText("motion")
    settle(win)
    assert win.motionGifAction.isEnabled()
    state, view = win.state, win.flowView
    state.select_sample(3)
    settle(win)
    ctx = state.ctx
    frame = ctx.doc.rgb
    # the flow played is the Preview's: the current sample upsampled edge-aware, in frame pixels
    layer = state.grid.xg[3]  # the library's decode of the sample (test_views checks the grid is)
    renderer = get_renderer("motion", frame)
    flow = flow_to_pixels(renderer.layers(layer[None])[0])
    loop = motion_loop(frame, flow)
    assert loop.shape == (FRAMES,) + frame.shape
    view.play.setChecked(True)
    view._timer.stop()  # stepped by hand below
    for tick in range(FRAMES):
        view._tick = tick
        view._show_moved()
        np.testing.assert_array_equal(view.image_item.image, loop[tick])
    # out at one second it is the Preview's picture (which moves the frame in float: 1 level apart)
    far = int(np.argmax(loop_positions(FRAMES)))
    assert np.abs(loop[far].astype(int) - win.preview.image().astype(int)).max() <= 1
    assert np.abs(loop[far].astype(int) - frame.astype(int)).mean() > 1  # and it did move
    # File > Export motion writes that loop at the preview's size
    out = tmp_path / "motion.gif"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: (str(tmp_path / "motion"), "GIF (*.gif)")))
    win.motionGifAction.trigger()
    qtbot.waitUntil(lambda: out.exists() and state.is_settled(), timeout=60_000)
    message = win.statusBar().currentMessage()
    h, w = frame.shape[:2]
    assert message.startswith(f"{FRAMES}-frame motion of sample #4 ({w}x{h} px, the preview's size) written to {out}")
    stored = iio.imread(out, index=None)
    assert stored.shape[1:3] == (h, w) and (len(stored) == FRAMES or f"the GIF holds {len(stored)}:" in message)
    # GIF's 256-colour palette: near the loop's frames, not equal
    assert np.abs(stored[0][..., :3].astype(int) - loop[0].astype(int)).mean() < 8


def test_a_motion_animation_asked_of_another_task_is_refused(qtbot, make_window, settle, tmp_path, submissions):
    win = make_window("resaturation")
    settle(win)
    seen = submissions(win)
    win.state.export_motion_gif(str(tmp_path / "m.gif"))
    assert seen == [] and not (tmp_path / "m.gif").exists()
    assert "needs the motion task" in win.banner.text()

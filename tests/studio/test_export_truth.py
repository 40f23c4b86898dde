"""Exports say what they wrote: sidecars record the temperature the samples were drawn at, an
unwritable folder is refused before anything starts, expected job errors print no traceback,
and animations hold the frames they promise."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt

from cdvae_core.postprocess.export import ExportError, reproduce
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
    for exc in expected:
        status, payload = _run_job(qtbot, _failing(exc))
        assert status == "failed" and payload.startswith(type(exc).__name__)
        assert "Traceback" not in capfd.readouterr().err, exc
    # a plain ValueError the Studio raises itself is a message for the user too
    status, payload = _run_job(qtbot, lambda: batch_job(None, str(tmp_path), 2, 0, str(tmp_path / "o"), "png"))
    assert (status, payload) == ("failed", f"ValueError: no images in {tmp_path}")
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
        assert results[0] == "ExportError: sweep.gif: cannot be written"
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

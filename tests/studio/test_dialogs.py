"""Train and export dialogs: real trainer and exporter, run off the GUI thread."""

from __future__ import annotations

import json

import numpy as np
from PySide6.QtCore import Qt

from cdvae_core.postprocess.imagefiles import read_image


def test_train_runs_and_new_model_appears_in_tie_combo(qtbot, train_on_pairs, settle, tmp_path):
    win, dlg = train_on_pairs
    assert win.findChild(object, "trainDialog") is dlg and dlg.isVisible()
    dlg.tie.setCurrentText("gauss")
    dlg.layers.setValue(1)
    dlg.epochs.setValue(1)
    dlg.batch.setValue(64)
    out = tmp_path / "trained"
    dlg.out.edit.setText(str(out))
    with qtbot.waitSignal(dlg.modelTrained, timeout=120_000) as blocker:
        qtbot.mouseClick(dlg.start_button, Qt.MouseButton.LeftButton)
    assert blocker.args == [str(out)]
    assert (out / "weights.safetensors").is_file() and (out / "metrics.jsonl").is_file()
    assert "loss" in dlg.curve_names() and "rec_g" in dlg.curve_names()
    settle(win)
    labels = [win.tieCombo.itemText(i) for i in range(win.tieCombo.count())]
    assert any(label.startswith("Shallow (trained here") for label in labels)
    assert win.state.ctx.entry.path == out.resolve()


def test_train_cancel_stops_cleanly(qtbot, train_on_pairs, tmp_path):
    win, dlg = train_on_pairs
    dlg.epochs.setValue(200)
    dlg.batch.setValue(8)
    dlg.out.edit.setText(str(tmp_path / "cancelled"))
    dlg.start()
    qtbot.waitUntil(lambda: "train:" in dlg.status.text(), timeout=60_000)  # past LPP, inside the epochs
    assert win.training_running()
    with qtbot.waitSignal(dlg.runner.finished, timeout=60_000) as blocker:
        qtbot.mouseClick(dlg.cancel_button, Qt.MouseButton.LeftButton)
    assert blocker.args[0] == "cancelled"
    assert not dlg.running() and dlg.start_button.isEnabled()
    assert "Cancelled" in dlg.status.text() and dlg.resume.isChecked()


def test_export_two_starred_samples(qtbot, make_window, settle, tmp_path):
    win = make_window("resaturation")
    settle(win)
    win.state.toggle_star(2)
    win.open_export_dialog()
    dlg = win.findChild(object, "exportDialog")
    assert dlg.isVisible() and dlg.what.currentIndex() == 0 and dlg.summary.text() == "1 starred sample(s)"
    win.state.toggle_star(9)  # starred while the (modeless) dialog is open: it must follow
    assert win.tray.count() == 2 and dlg.summary.text() == "2 starred sample(s)"
    win.lowerCheck.setChecked(False)  # a third star as shown with the lower layers at their means
    settle(win)
    win.state.toggle_star(5)
    assert win.tray.count() == 3 and dlg.summary.text() == "3 starred sample(s)"
    stars = list(win.state.stars.values())
    assert stars[2].noise is None
    out = tmp_path / "export"
    dlg.folder.edit.setText(str(out))
    dlg.fmt.setCurrentText("png")
    qtbot.mouseClick(dlg.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dlg.runner is not None and not dlg.running() and dlg.start_button.isEnabled(),
                    timeout=120_000)
    assert dlg.written == 3, dlg.status.text()
    pngs = sorted(out.glob("*.png"))
    sidecars = sorted(out.glob("*.json"))
    assert len(pngs) == 3 and len(sidecars) == 3
    sides = {json.loads(p.read_text())["code"][0]: json.loads(p.read_text()) for p in sidecars}
    for star in stars:
        side = sides[float(star.code[0])]
        np.testing.assert_allclose(np.asarray(side["code"], np.float32), star.code)
        # the sample as shown, lower layers included: the row's noise goes into the sidecar
        if star.noise is None:
            assert side["lower_noise"] is None
        else:
            np.testing.assert_array_equal(np.asarray(side["lower_noise"], np.float32), star.noise)
    np.testing.assert_array_equal(stars[0].noise, win.state.noise[2])
    photo = win.state.image.rgb
    for p in pngs:
        img = read_image(p)
        assert img.shape == photo.shape  # full resolution of the source photo


def test_closing_during_training_asks_then_keeps_the_checkpoint(qtbot, train_on_pairs, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    win, dlg = train_on_pairs
    dlg.layers.setValue(1)
    dlg.epochs.setValue(500)
    dlg.batch.setValue(64)
    out = tmp_path / "closing"
    dlg.out.edit.setText(str(out))
    dlg.start()
    qtbot.waitUntil(lambda: (out / "checkpoint" / "state.safetensors").is_file(), timeout=90_000)  # an epoch saved
    asked = []
    monkeypatch.setattr(QMessageBox, "question",
                        lambda *a, **k: asked.append(a) or QMessageBox.StandardButton.No)
    assert not win.close()  # "No": the window stays and training goes on
    assert asked and dlg.running()
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    assert win.close()
    assert not dlg.running()
    assert (out / "weights.safetensors").is_file() and (out / "checkpoint" / "state.safetensors").is_file()


def test_loss_series_shows_block_means_of_a_long_run():
    from cdvae_studio.train_dialog import LossSeries

    series = LossSeries()
    steps = np.arange(1234, dtype=np.float64)
    values = np.sin(steps / 50.0) + 0.01 * steps
    for s, v in zip(steps, values):
        series.append(s, v)
    x, y = series.display()
    block = 3  # ceil(1234 / 500)
    assert len(x) == len(y) == 412 <= LossSeries.DISPLAY_POINTS
    np.testing.assert_allclose(y[:411], values[:1233].reshape(-1, block).mean(1))
    np.testing.assert_allclose(x[:411], steps[:1233].reshape(-1, block).mean(1))
    assert y[-1] == values[-1] and x[-1] == steps[-1]  # the short last block
    short = LossSeries()
    short.append(0, 2.0)
    short.append(5, 1.0)
    np.testing.assert_array_equal(short.display()[1], [2.0, 1.0])  # few points are drawn as they are

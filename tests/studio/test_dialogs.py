"""Train and export dialogs: real trainer and exporter, run off the GUI thread."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel

from cdvae_core.postprocess.imagefiles import read_image


def test_the_training_process_imports_no_widgets():
    """The spawned training process unpickles ``training_job`` by its module: it imported the
    whole dialog (QtWidgets, pyqtgraph) before it could start."""
    import subprocess
    import sys

    script = ("import sys, pickle\n"
              "from cdvae_studio.training_job import training_job\n"
              "pickle.loads(pickle.dumps(training_job))\n"
              "print(sorted(m for m in sys.modules if m in ('PySide6.QtWidgets', 'PySide6.QtGui', 'pyqtgraph')))\n")
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"


def _quick_form(dlg, out, epochs: int) -> None:
    """A Shallow Gauss run of ``epochs`` on the test pairs into ``out``: seconds."""
    dlg.tie.setCurrentText("gauss")
    dlg.layers.setValue(1)
    dlg.epochs.setValue(epochs)
    dlg.batch.setValue(64)
    dlg.out.edit.setText(str(out))


def test_train_runs_and_new_model_appears_in_tie_combo(qtbot, train_on_pairs, settle, tmp_path):
    win, dlg = train_on_pairs
    assert win.findChild(object, "trainDialog") is dlg and dlg.isVisible()
    out = tmp_path / "trained"
    _quick_form(dlg, out, epochs=1)
    with qtbot.waitSignal(dlg.modelTrained, timeout=120_000) as blocker:
        qtbot.mouseClick(dlg.start_button, Qt.MouseButton.LeftButton)
    assert blocker.args == [str(out)]
    assert (out / "weights.safetensors").is_file() and (out / "metrics.jsonl").is_file()
    assert "loss" in dlg.loss_plot.curve_names() and "rec_g" in dlg.loss_plot.curve_names()
    # the x axis spans the run's steps after it ends too (it took the last stage's count: 1 epoch)
    steps, _ = dlg.loss_plot.curve("loss").getData()
    assert steps.max() > 1 and dlg.plot.getViewBox().viewRange()[0][1] >= steps.max()
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
    from cdvae_core.progress import Progress

    with qtbot.waitSignal(dlg.runner.finished, timeout=60_000) as blocker:
        qtbot.mouseClick(dlg.cancel_button, Qt.MouseButton.LeftButton)
        # the press is seen until the run ends: the next record's line replaced it within 0.1 s,
        # with Cancel still enabled (no event is processed here, so the run cannot have ended)
        assert not dlg.cancel_button.isEnabled() and dlg.status.text() == "Stopping after the current step…"
        dlg._on_progress(Progress("epoch", 5, 200, "epoch 5 saved"))
        dlg._throttled_refresh.cancel()
        dlg._refresh()
        assert dlg.status.text() == "Stopping after the current step… (epoch 5 saved)"
    assert blocker.args[0] == "cancelled"
    assert dlg.progress.text().startswith("cancelled at")
    assert not dlg.running() and dlg.start_button.isEnabled()
    assert "Cancelled" in dlg.status.text() and dlg.resume.isChecked()
    assert re.search(r"(Epoch \d+ is kept|No epoch had been saved yet) in ", dlg.status.text())


def test_resume_takes_more_epochs_goes_on_with_the_logged_curves_and_refuses_other_settings_first(
        qtbot, train_on_pairs, tmp_path):
    """Resume with more epochs was refused after the pairs were read ("kl_warmup_epochs 0.5 !=
    1.0": settings the dialog derives from Epochs, which the user never saw); another tie, or a
    folder that cannot be written, only once the run had started; and the resumed run's loss
    plot began at the resumed epoch."""
    import json

    win, dlg = train_on_pairs
    out = tmp_path / "run"
    _quick_form(dlg, out, epochs=2)
    with qtbot.waitSignal(dlg.modelTrained, timeout=120_000):
        dlg.start()
    qtbot.waitUntil(lambda: not dlg.running(), timeout=10_000)
    logged = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]

    dlg.out.edit.setText(str(out))
    dlg.resume.setChecked(True)
    dlg.tie.setCurrentText("mdn")  # not the run's: said at once, nothing started
    dlg.start()
    assert not dlg.running() and "Cannot start: cannot resume" in dlg.status.text()
    assert "tie 'gauss' != 'mdn'" in dlg.status.text() and "untick Resume" in dlg.status.text()
    dlg.tie.setCurrentText("gauss")
    dlg.epochs.setValue(4)  # more epochs: the run's own warm-up and guidance schedule
    with qtbot.waitSignal(dlg.modelTrained, timeout=120_000):
        dlg.start()
    qtbot.waitUntil(lambda: not dlg.running(), timeout=10_000)
    config = json.loads((out / "config.json").read_text())["training"]
    assert config["epochs"] == 4 and config["kl_warmup_epochs"] == 0.5 and config["guidance_epochs"] == 1.0
    steps, values = dlg.loss_plot.curve("loss").getData()
    # the curve starts with the two logged epochs (one point each), then the resumed steps
    assert list(steps[:2]) == [row["step"] for row in logged] and list(values[:2]) == [row["loss"] for row in logged]
    assert steps.max() > logged[-1]["step"]

    (tmp_path / "file").write_text("x")
    pair_file = dlg.path_a.text()
    dlg.source.setCurrentIndex(1)  # a folder of photos: its path is checked before anything starts
    for path, said in ((tmp_path / "file", f"folder {tmp_path / 'file'} is not a folder"),
                       (tmp_path / "nowhere", f"no folder at {tmp_path / 'nowhere'}")):
        dlg.path_a.edit.setText(str(path))
        dlg.start()
        assert not dlg.running() and dlg.status.text() == f"Cannot start: {said}"
    dlg.source.setCurrentIndex(4)
    dlg.path_a.edit.setText(pair_file)
    dlg.resume.setChecked(False)
    dlg.out.edit.setText(str(tmp_path / "file" / "run"))  # under a file: said before anything starts
    dlg.start()
    assert not dlg.running() and dlg.status.text().startswith("Cannot start: ") and "not a directory" in dlg.status.text()


def test_a_stopped_run_is_described_by_what_its_folder_keeps(qtbot, train_on_pairs, tmp_path):
    """Cancel (or quit) promises a kept epoch, and ticks Resume, only where the folder holds one:
    a run stopped while its pairs or LPP targets were made has not even made its folder."""
    import torch

    from cdvae_core.checkpoint import TrainState, save_state

    win, dlg = train_on_pairs
    dlg._out_dir = str(tmp_path / "never-made")
    dlg.resume.setChecked(True)
    assert dlg.kept_note() == "Nothing had been saved yet; press Train to start again."
    assert not dlg.resume.isChecked()
    started = tmp_path / "started"
    started.mkdir()
    (started / "config.json").write_text("{}")
    dlg._out_dir = str(started)
    assert dlg.kept_note().startswith(f"No epoch had been saved yet in {started}; Resume is ticked")
    assert dlg.resume.isChecked()
    save_state(started, TrainState(epoch=3, step=30, model={"w": torch.zeros(2)}, ema=None, targets={},
                                   optimizer={"param_groups": [], "state": {}}, meta={}))
    dlg.resume.setChecked(False)
    assert dlg.kept_note(tick_resume=False) == f"Epoch 3 is kept in {started} and can be resumed."
    assert not dlg.resume.isChecked()  # the quit question only describes
    assert dlg.kept_note() == f"Epoch 3 is kept in {started}; Resume is ticked: press Train to continue."
    # the quit question: the run goes on while it is asked, so it names no epoch that may be old news
    assert dlg.stop_note() == (f"The epochs it has finished by then are kept in {started}; Train with Resume "
                               "ticked continues from the last.")
    assert dlg.resume.isChecked()


def test_export_two_starred_samples(qtbot, make_window, settle, tmp_path, monkeypatch):
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
    dlg.what.setCurrentIndex(1)  # which sample of which photo (it read "the current sample"), following a click
    assert dlg.summary.text() == f"sample #1 of {win.state.ctx.doc.title}"
    win.state.select_sample(6)
    assert dlg.summary.text() == f"sample #7 of {win.state.ctx.doc.title}"
    dlg.what.setCurrentIndex(2)
    assert dlg.summary.text() == f"16 samples of the grid of {win.state.ctx.doc.title}"
    dlg.what.setCurrentIndex(0)
    stars = list(win.state.stars.values())
    assert stars[2].noise is None
    out = tmp_path / "export"
    dlg.folder.edit.setText(str(out))
    dlg.fmt.setCurrentText("png")
    assert not dlg.open_folder_button.isEnabled()  # nothing written yet
    qtbot.mouseClick(dlg.start_button, Qt.MouseButton.LeftButton)
    dlg.folder.edit.setText(str(tmp_path / "elsewhere"))  # edited while it runs: the button keeps the export's
    qtbot.waitUntil(lambda: dlg.runner is not None and not dlg.running() and dlg.start_button.isEnabled(),
                    timeout=120_000)
    assert dlg.written == 3, dlg.status.text()
    assert dlg.status.text() == f"Wrote 3 result(s) with sidecars to {out}."
    # "Open folder" shows where the files went, in the system's file manager
    from PySide6.QtGui import QDesktopServices

    opened = []
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: opened.append(url.toLocalFile()) or True)
    assert dlg.open_folder_button.isEnabled()
    qtbot.mouseClick(dlg.open_folder_button, Qt.MouseButton.LeftButton)
    assert opened == [str(out)]
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: False)  # no file manager here
    qtbot.mouseClick(dlg.open_folder_button, Qt.MouseButton.LeftButton)
    assert dlg.status.text() == f"Could not open a file manager; the results are in {out}."
    pngs = sorted(out.glob("*.png"))
    sidecars = sorted(out.glob("*.json"))
    assert len(pngs) == 3 and len(sidecars) == 3
    sides = {json.loads(p.read_text())["code"][0]: json.loads(p.read_text()) for p in sidecars}
    for star, cell in zip(stars, (2, 9, 5)):
        side = sides[float(star.code[0])]
        np.testing.assert_allclose(np.asarray(side["code"], np.float32), star.code)
        # which draw and grid cell it was, also for the star exported in a call of its own
        assert (side["seed"], side["sample_index"]) == (win.state.seed, cell)
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
    from cdvae_studio.widgets.loss_plot import LossSeries

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


def _run_export(qtbot, dlg, answer: str | None = None) -> list[str]:
    """Press Export; ``answer`` clicks that button of the "files already exist" question when it
    comes (its text starts with it). Returns the question's text ([] when none was asked)."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QMessageBox

    asked: list[str] = []

    def reply() -> None:
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox):
            QTimer.singleShot(20, reply)
            return
        asked.append(box.text())
        button = next(b for b in box.buttons() if b.text().replace("&", "").startswith(answer))
        button.click()

    if answer is not None:
        QTimer.singleShot(20, reply)
    qtbot.mouseClick(dlg.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dlg.running() and dlg.start_button.isEnabled(), timeout=120_000)
    return asked


def test_export_into_a_folder_with_earlier_results_asks_and_never_overwrites_silently(
        qtbot, make_window, settle, tmp_path):
    """Every export of one photo numbered its files from _000: exporting the current sample, then
    another, into the same folder replaced the first file (and its sidecar) without a word."""
    win = make_window("resaturation")
    settle(win)
    win.open_export_dialog()
    dlg = win.export_dialog
    out = tmp_path / "out"
    dlg.what.setCurrentIndex(1)  # the current sample
    dlg.folder.edit.setText(str(out))
    assert _run_export(qtbot, dlg) == [] and dlg.written == 1  # an empty folder: nothing to ask
    first = sorted(out.iterdir())
    stem = first[0].name.rsplit("_", 1)[0]
    assert [p.name for p in first] == [f"{stem}_000.json", f"{stem}_000.png"]
    kept = {p.name: p.read_bytes() for p in first}

    win.state.select_sample(4)
    settle(win)
    asked = _run_export(qtbot, dlg, "Keep")
    assert len(asked) == 1 and "1 exported result(s)" in asked[0], asked  # a result and its sidecar: one
    assert dlg.written == 1 and sorted(p.name for p in out.iterdir()) == sorted(
        [f"{stem}_000.json", f"{stem}_000.png", f"{stem}_001.json", f"{stem}_001.png"])
    assert all((out / name).read_bytes() == data for name, data in kept.items())  # untouched
    side = json.loads((out / f"{stem}_001.json").read_text())
    np.testing.assert_array_equal(np.asarray(side["code"], np.float32), win.state.codes[4])

    asked = _run_export(qtbot, dlg, "Cancel")  # nothing written, nothing started
    assert len(asked) == 1 and dlg.written == 1 and "nothing was written" in dlg.status.text()
    assert len(list(out.iterdir())) == 4

    (out / "notes.txt").write_text("mine")  # not a result: stays
    asked = _run_export(qtbot, dlg, "Replace")  # the user's choice: from _000 again, the earlier ones gone
    assert len(asked) == 1 and "2 exported result(s)" in asked[0]
    # _001 was left behind, numbered on as if of this export
    assert sorted(p.name for p in out.iterdir()) == [f"{stem}_000.json", f"{stem}_000.png", "notes.txt"]
    side = json.loads((out / f"{stem}_000.json").read_text())
    np.testing.assert_array_equal(np.asarray(side["code"], np.float32), win.state.codes[4])

    dlg.what.setCurrentIndex(3)  # a batch without its folder: said, and gone with the next choice
    dlg.batch_folder.edit.setText("")
    qtbot.mouseClick(dlg.start_button, Qt.MouseButton.LeftButton)
    assert not dlg.running() and dlg.status.text() == "Choose the folder of images (and videos) to export from."
    assert dlg.progress.value() == 0
    dlg.what.setCurrentIndex(1)
    assert dlg.status.text() == "Ready."


def test_batch_export_names_the_images_it_skipped(qtbot, make_window, settle, tmp_path):
    """A corrupt image in the batch folder was skipped with "Wrote 3 result(s)" and no word of it."""
    import cv2

    win = make_window("resaturation")
    settle(win)
    folder = tmp_path / "batch"
    folder.mkdir()
    (folder / "z_broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a jpeg" * 20)  # last: the bar stopped short
    grey = np.tile(np.linspace(0, 255, 72, dtype=np.uint8), (48, 1))
    cv2.imwrite(str(folder / "grey.png"), grey)  # one channel: opens (as RGB) and exports
    win.open_export_dialog()
    dlg = win.export_dialog
    dlg.what.setCurrentIndex(3)
    dlg.batch_folder.edit.setText(str(folder))
    dlg.batch_n.setValue(3)
    assert dlg.summary.text().startswith("3 result(s) for every image")  # it read "n results"
    out = tmp_path / "out"
    dlg.folder.edit.setText(str(out))
    assert _run_export(qtbot, dlg) == []
    assert dlg.written == 3 and [Path(name).name for name, _ in dlg.failed] == ["z_broken.jpg"]
    assert dlg.progress.value() == dlg.progress.maximum()  # a finished job, whatever it skipped
    text = dlg.status.text()
    assert "Wrote 3 result(s)" in text and "Skipped 1 image(s)" in text and "z_broken.jpg (" in text
    assert str(folder) not in text.split("Skipped", 1)[1]  # the reason without the path again
    assert sorted(p.name for p in out.iterdir()) == [f"grey_{i:03d}.{e}" for i in range(3) for e in ("json", "png")]
    assert read_image(out / "grey_000.png").shape == (48, 72, 3)

    # the same batch again: asked, and kept files are numbered on (per photo, as iter_export does)
    assert len(_run_export(qtbot, dlg, "Keep")) == 1 and dlg.written == 3
    assert sorted(p.name for p in out.glob("*.png")) == [f"grey_{i:03d}.png" for i in range(6)]

    # many unreadable files: the first few named, all in the tooltip (200 names squashed the form)
    for k in range(12):
        (folder / f"bad{k:02d}.png").write_bytes(b"not a png")
    dlg.batch_n.setValue(1)
    assert len(_run_export(qtbot, dlg, "Keep")) == 1 and len(dlg.failed) == 13
    text = dlg.status.text()
    assert "Skipped 13 image(s)" in text and text.count("(not a readable image)") == 5 and "; and 8 more (all in this line's tooltip)" in text
    assert len(dlg.status.toolTip().splitlines()) == 13 and "z_broken.jpg (" in dlg.status.toolTip()


def test_star_tray_numbers_samples_as_the_interpolation_dialog_does(qtbot, make_window, settle):
    """The tray read "#1" for the grid's second cell, which Ctrl+Shift+G calls sample 2."""
    win = make_window("resaturation")
    settle(win)
    win.state.toggle_star(1)
    assert win.tray.item(0).text().endswith("#2")
    win.state.select_sample(1)
    win.state.toggle_star(5)
    assert win.state.interpolation_partner() == 5 and win.tray.item(1).text().endswith("#6")


def test_train_form_proposes_a_folder_that_outlives_a_reboot(qtbot, tmp_path, monkeypatch):
    """The proposed output folder was in the temp dir, which a reboot empties: the model went
    and the Studio forgot it. It is under the app's data folder now (QStandardPaths), a new
    folder every time."""
    from PySide6.QtCore import QStandardPaths

    import cdvae_studio.train_dialog as td

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))  # Qt reads it on Linux
    data = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppLocalDataLocation)
    assert data and td.models_root() == Path(data) / "models"
    dlg = td.TrainDialog(None, task="motion")
    qtbot.addWidget(dlg)
    proposed = Path(dlg.out.text())
    assert proposed.parent == td.models_root() and proposed.name.startswith("motion-") and not proposed.exists()
    assert proposed.is_relative_to(tmp_path / "data")  # the data folder, not gettempdir()/cdvae-models
    (td.models_root() / proposed.name).mkdir(parents=True)  # taken: the next proposal is another folder
    assert td.default_out_dir("motion") != str(proposed)
    assert re.fullmatch(r"motion-\d{4}-\d\d-\d\d-\d{4}", proposed.name)  # a date a person reads, not Unix time


def test_train_form_proposes_each_tasks_item_count_and_keeps_the_users(qtbot, tmp_path, monkeypatch):
    """The item limit was 2,000 for every task: too few for motion's models to follow the frame
    (docs/results.md, "Motion"). The form proposes the command line's built-in count for its
    task, and changing the task in the form (not only the window's) moves the suggestions."""
    import cdvae_studio.train_dialog as td
    from cdvae_core.data.folders import BUILTIN_DEFAULT_MOTION_PAIRS, BUILTIN_DEFAULT_PAIRS

    monkeypatch.setattr(td, "models_root", lambda: tmp_path)
    dlg = td.TrainDialog(None, task="resaturation")
    qtbot.addWidget(dlg)
    assert dlg.limit.value() == BUILTIN_DEFAULT_PAIRS == 6000
    assert dlg.source.itemText(0) == "Built-in photos"
    dlg.task.setCurrentText("motion")  # the form's own task combo
    assert dlg.source.itemText(0) == "Built-in clips (photos and procedural scenes)"
    assert dlg.limit.value() == BUILTIN_DEFAULT_MOTION_PAIRS == 24000
    assert "/motion-" in dlg.out.text()
    model, train = dlg.configs()  # and motion's model and training defaults, as cdvae-train's
    assert model.xc_orientation and train.guidance_start == train.guidance_end == 30.0
    dlg.layers.setValue(1)
    assert dlg.configs()[1].guidance_end == 1.0  # the Shallow CDVAE keeps the decay
    dlg.layers.setValue(3)
    dlg.set_task("relighting")  # the main window's task
    assert dlg.limit.value() == 6000 and "/relighting-" in dlg.out.text()
    assert dlg.configs()[1].guidance_end == 1.0

    dlg.limit.setValue(500)  # the user's own count and folder stay through task changes
    dlg.out.edit.setText(str(tmp_path / "mine"))
    dlg.task.setCurrentText("motion")
    assert dlg.limit.value() == 500 and dlg.out.text() == str(tmp_path / "mine")


def test_export_proposes_the_last_export_folder_and_format_and_a_pictures_folder_at_first(
        qtbot, make_window, settle, tmp_path):
    """The folder field used to start empty, so every first export stopped at "Choose a folder".
    It proposes "CDVAE Studio" in Pictures (or home) and then the folder the last export went
    into, kept in the settings for the next session."""
    from PySide6.QtCore import QStandardPaths

    from cdvae_studio.export_dialog import default_export_folder

    win = make_window("resaturation")
    settle(win)
    win.open_export_dialog()
    dlg = win.export_dialog
    first = Path(dlg.folder.text())
    pictures = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.PicturesLocation)
    assert first.name == "CDVAE Studio"
    assert first.parent == (Path(pictures) if pictures and Path(pictures).is_dir() else Path.home())
    assert not first.exists() or first.is_dir()  # nothing is made until an export writes there
    out = tmp_path / "mine"
    dlg.what.setCurrentIndex(1)
    dlg.folder.edit.setText(str(out))
    assert dlg.fmt.currentText() == "png"  # at first
    dlg.fmt.setCurrentText("jpg")
    qtbot.mouseClick(dlg.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dlg.runner is not None and not dlg.running() and dlg.start_button.isEnabled(),
                    timeout=120_000)
    assert dlg.written == 1, dlg.status.text()
    assert default_export_folder(win.settings) == str(out)
    again = make_window("resaturation", settings=win.settings)  # the next session, same settings file
    settle(again)
    again.open_export_dialog()
    # the folder and the format of the last export (a jpg user picked jpg again every session)
    assert again.export_dialog.folder.text() == str(out) and again.export_dialog.fmt.currentText() == "jpg"


def test_train_forms_browse_asks_for_what_each_source_needs_and_a_pair_file_sets_its_task(
        qtbot, tmp_path, monkeypatch):
    """Browse beside "Pair file" opened a folder chooser (a .npz could not be chosen) and beside
    UCF101's "Splits folder" a file chooser. And a pair file made for relighting, chosen while the
    form said resaturation, failed on starting; the form now takes the file's task, as cdvae-train
    does."""
    from PySide6.QtWidgets import QFileDialog

    import cdvae_studio.train_dialog as td

    monkeypatch.setattr(td, "models_root", lambda: tmp_path)
    asked: list[str] = []
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a: asked.append("folder") or "")
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a: asked.append(f"file {a[3]}") or ("", ""))
    dlg = td.TrainDialog(None, task="resaturation")
    qtbot.addWidget(dlg)
    expected = {1: ["folder"], 2: ["folder", "file COCO annotations (*.json)"], 3: ["folder", "folder"],
                4: ["file Pair files (*.npz)"]}
    for index, wanted in expected.items():
        dlg.source.setCurrentIndex(index)
        asked.clear()
        for field in (dlg.path_a, dlg.path_b)[:len(wanted)]:
            qtbot.mouseClick(field.button, Qt.MouseButton.LeftButton)
        assert asked == wanted, (index, asked)
    relighting = tmp_path / "relight.npz"
    np.savez(relighting, xc=np.zeros((4, 3, 32, 32), np.float32), xg=np.zeros((4, 1, 32, 32), np.float32),
             meta=np.array(json.dumps({"task": "relighting"})))
    dlg.path_a.edit.setText(str(relighting))
    assert dlg.task.currentText() == "relighting" and "/relighting-" in dlg.out.text()
    assert dlg.status.text() == "Task set to relighting, which relight.npz was made for."
    dlg.set_task("motion")  # the window switched task: the pair file still decides the form's
    assert dlg.task.currentText() == "relighting"
    np.savez(tmp_path / "untold.npz", xc=np.zeros((4, 1, 32, 32), np.float32), xg=np.zeros((4, 1, 32, 32), np.float32))
    dlg.path_a.edit.setText(str(tmp_path / "untold.npz"))  # names no task: the form's stays
    assert dlg.task.currentText() == "relighting"
    dlg.path_a.edit.setText("x" * 5000 + ".npz")  # too long a name for the file system: nothing to read yet
    assert dlg.task.currentText() == "relighting"
    # Enter after typing a path opened the file chooser (Browse was the dialog's default button)
    dlg.show()
    started: list[bool] = []
    dlg.start_button.clicked.disconnect(dlg.start)  # no run: the click is what is checked
    dlg.start_button.clicked.connect(lambda: started.append(True))
    asked.clear()
    dlg.path_a.edit.setFocus()
    qtbot.keyClick(dlg.path_a.edit, Qt.Key.Key_Return)
    assert asked == [] and started == [True]  # Enter is Train, the dialog's default, as OK would be


def test_train_form_greys_out_motion_for_coco(qtbot, tmp_path, monkeypatch):
    """COCO with motion read every photo only to skip each ("nothing usable in the coco source
    (60 a photo has no motion)"), which on the real set is 80,000 photos read for nothing. Choosing
    COCO moves a motion form to a photo task and greys motion out until another source is chosen."""
    import cdvae_studio.train_dialog as td

    monkeypatch.setattr(td, "models_root", lambda: tmp_path)
    dlg = td.TrainDialog(None, task="motion")
    qtbot.addWidget(dlg)
    motion = dlg.task.model().item(dlg.task.findText("motion"))
    dlg.source.setCurrentIndex(td.SOURCES.index("UCF101"))
    assert dlg.task.currentText() == "motion" and motion.isEnabled()
    dlg.source.setCurrentIndex(td.COCO_SOURCE)
    assert dlg.task.currentText() == "resaturation" and not motion.isEnabled()
    assert dlg.status.text().startswith("Task set to resaturation: COCO holds photos")
    assert dlg.limit.value() == 6000 and "/resaturation-" in dlg.out.text()  # the photo task's proposals
    dlg.set_task("motion")  # the window switched to motion: the COCO form keeps its photo task
    assert dlg.task.currentText() == "resaturation"
    dlg.set_task("relighting")
    assert dlg.task.currentText() == "relighting"
    dlg.source.setCurrentIndex(td.SOURCES.index("Folder of images or videos"))
    assert motion.isEnabled() and dlg.task.currentText() == "relighting"
    dlg.task.setCurrentText("motion")
    assert dlg.task.currentText() == "motion"


def test_train_from_a_folder_says_what_preparing_it_skipped(qtbot, tmp_path, monkeypatch):
    """cdvae-prepare prints what it skipped; the Train dialog, which prepares its source itself,
    said only "Done": a folder of which a third would not open trained on the rest without a
    word. The skipped items are counted in the final status and named in its tooltip."""
    import cv2

    import cdvae_studio.train_dialog as td

    monkeypatch.setattr(td, "models_root", lambda: tmp_path)
    photos = tmp_path / "photos"
    photos.mkdir()
    rng = np.random.default_rng(0)
    for k in range(24):
        cv2.imwrite(str(photos / f"p{k:02d}.png"), (rng.random((40, 48, 3)) * 255).astype(np.uint8))
    (photos / "broken.jpg").write_bytes(b"\xff\xd8 not a JPEG at all")
    (photos / "empty.png").write_bytes(b"")
    dlg = td.TrainDialog(None, task="resaturation")
    qtbot.addWidget(dlg)
    dlg.source.setCurrentIndex(td.SOURCES.index("Folder of images or videos"))
    dlg.path_a.edit.setText(str(photos))
    dlg.layers.setValue(1)
    dlg.epochs.setValue(1)
    out = tmp_path / "run"
    dlg.out.edit.setText(str(out))
    with qtbot.waitSignal(dlg.modelTrained, timeout=120_000) as blocker:
        dlg.start()
    assert blocker.args == [str(out)]
    text, names = dlg.status.text(), dlg.status.toolTip()
    assert text.startswith("Done in ") and text.endswith(
        f"the model is now in the resaturation Model list, saved in {out}. Skipped 2 item(s) of the source: 1 x corrupt image, "
        "1 x empty file."), text
    assert names.splitlines() == ["skipped 1 x corrupt image: broken.jpg", "skipped 1 x empty file: empty.png"]
    dlg.start()  # another try clears the last run's names (here it cannot start: the folder holds that model)
    assert dlg.status.text().startswith("Cannot start") and dlg.status.toolTip() == ""


def _source_paths(root):
    """A data folder holding COCO's and UCF101's paths as the train form's sources name them."""
    data = root / "data"
    for folder in ("coco/train2014", "UCF-101", "ucfTrainTestlist"):
        (data / folder).mkdir(parents=True)
    (data / "coco" / "instances.json").write_text("{}")
    return data


def test_train_form_keeps_each_sources_paths_and_picks_ucf101s_split(qtbot, tmp_path, monkeypatch):
    """The path fields are shared by the sources: COCO's images folder and annotation file stayed
    in them as UCF101's videos and splits folders. Each source now keeps what was typed for it."""
    import cdvae_studio.train_dialog as td

    monkeypatch.setattr(td, "models_root", lambda: tmp_path)
    data = _source_paths(tmp_path)  # paths that are there: the form checks them before a run starts
    dlg = td.TrainDialog(None, task="relighting")
    qtbot.addWidget(dlg)
    coco, ucf = td.COCO_SOURCE, td.SOURCES.index("UCF101")
    dlg.source.setCurrentIndex(coco)
    dlg.path_a.edit.setText(f"{data}/coco/train2014")
    dlg.path_b.edit.setText(f"{data}/coco/instances.json")
    dlg.source.setCurrentIndex(ucf)
    assert (dlg.path_a.text(), dlg.path_b.text()) == ("", "")
    dlg.path_a.edit.setText(f"{data}/UCF-101")
    dlg.path_b.edit.setText(f"{data}/ucfTrainTestlist")
    assert dlg.source_spec() == ("ucf101", f"{data}/UCF-101", f"{data}/ucfTrainTestlist", 1)
    # and UCF101's split, which cdvae-prepare's --split chose and the form could not
    assert not dlg.split.isHidden() and [dlg.split.itemText(i) for i in range(dlg.split.count())] == ["1", "2", "3"]
    dlg.split.setCurrentText("2")
    assert dlg.source_spec() == ("ucf101", f"{data}/UCF-101", f"{data}/ucfTrainTestlist", 2)
    dlg.source.setCurrentIndex(0)
    assert dlg.source_spec() == ("builtin",) and dlg.split.isHidden()
    dlg.source.setCurrentIndex(coco)
    assert dlg.source_spec() == ("coco", f"{data}/coco/train2014", f"{data}/coco/instances.json")
    dlg.source.setCurrentIndex(ucf)
    assert (dlg.path_a.text(), dlg.path_b.text()) == (f"{data}/UCF-101", f"{data}/ucfTrainTestlist")


def test_train_form_proposes_the_last_runs_source_paths_and_model(qtbot, tmp_path, monkeypatch):
    """A user training on their COCO folder typed both paths (and picked the tie, epochs...) again
    in every session. The form of the last run started is kept in the settings and proposed again;
    the item limit and output folder are still proposed for the task."""
    from PySide6.QtCore import QSettings

    import cdvae_studio.train_dialog as td

    monkeypatch.setattr(td, "models_root", lambda: tmp_path)
    data = _source_paths(tmp_path)  # paths that are there: the form checks them before a run starts
    settings = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    launched: list[tuple] = []
    monkeypatch.setattr(td.TrainDialog, "_launch", lambda self, runner, message: launched.append(message))
    first = td.TrainDialog(None, task="relighting", settings=settings)
    qtbot.addWidget(first)
    assert first.source.currentIndex() == 0 and first.tie.currentText() == "gauss"  # nothing kept yet
    first.source.setCurrentIndex(td.UCF101_SOURCE)
    first.path_a.edit.setText(f"{data}/UCF-101")
    first.path_b.edit.setText(f"{data}/ucfTrainTestlist")
    first.source.setCurrentIndex(td.COCO_SOURCE)
    first.path_a.edit.setText(f"{data}/coco/train2014")
    first.path_b.edit.setText(f"{data}/coco/instances.json")
    first.tie.setCurrentText("mdn")
    first.mixtures.setValue(12)
    first.epochs.setValue(7)
    first.batch.setValue(32)
    first.start()
    assert launched == ["Starting…"]
    settings.sync()

    again = td.TrainDialog(None, task="relighting", settings=QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(again)
    assert again.source_spec() == ("coco", f"{data}/coco/train2014", f"{data}/coco/instances.json")
    assert (again.tie.currentText(), again.mixtures.value(), again.mixtures.isEnabled()) == ("mdn", 12, True)
    assert (again.epochs.value(), again.batch.value(), again.layers.value()) == (7, 32, 3)
    assert again.limit.value() == 6000 and "/relighting-" in again.out.text()  # proposed for the task
    again.source.setCurrentIndex(td.UCF101_SOURCE)  # the other source's paths are kept too
    assert again.source_spec() == ("ucf101", f"{data}/UCF-101", f"{data}/ucfTrainTestlist", 1)

    bad = QSettings(str(tmp_path / "bad.ini"), QSettings.Format.IniFormat)  # a hand-edited file
    for key, value in {"train/source": "x", "train/epochs": "many", "train/tie": "magic", "train/paths2": "one"}.items():
        bad.setValue(key, value)
    odd = td.TrainDialog(None, task="relighting", settings=bad)
    qtbot.addWidget(odd)
    assert (odd.source.currentIndex(), odd.epochs.value(), odd.tie.currentText()) == (0, 40, "gauss")


def test_a_run_behind_a_closed_dialog_shows_in_the_status_bar(qtbot, train_on_pairs, tmp_path):
    """Closed during a run, the Train dialog left no sign of it until the trained model took over
    the window. The status bar shows the run's progress as a link that shows the dialog again,
    and its end as a message."""
    win, dlg = train_on_pairs
    label = win.findChild(QLabel, "trainJobLabel")
    dlg.layers.setValue(1)
    dlg.epochs.setValue(8)
    dlg.batch.setValue(8)
    dlg.out.edit.setText(str(tmp_path / "behind"))
    dlg.start()
    assert not label.isVisible()  # the dialog is open: nothing in the status bar
    dlg.hide()
    qtbot.waitUntil(lambda: label.isVisible() and "Training: " in label.text() and "%" in label.text(), timeout=60_000)
    label.linkActivated.emit("train")  # a click on the link
    assert dlg.isVisible() and not label.isVisible()
    dlg.hide()
    qtbot.waitUntil(lambda: not dlg.running(), timeout=180_000)
    assert (tmp_path / "behind" / "weights.safetensors").is_file()
    qtbot.waitUntil(lambda: not label.isVisible(), timeout=5000)
    assert win.statusBar().currentMessage().startswith("Training: Done in "), win.statusBar().currentMessage()


def test_the_status_bar_line_gives_a_percentage_only_for_stages_of_many_steps(qtbot, monkeypatch):
    """The LPP stage is one unit: its end read "Training: 100% · lpp: LPP guidance targets
    ready" before the first training step, then "6% · train: ..."."""
    from cdvae_core.progress import Progress
    from cdvae_studio import train_dialog as td

    dlg = td.TrainDialog(None, task="resaturation")
    qtbot.addWidget(dlg)
    lines = []
    dlg.runStatus.connect(lambda text, running: lines.append(text))
    monkeypatch.setattr(dlg, "running", lambda: True)
    for p in (Progress("lpp", 1, 1, "LPP guidance targets ready"), Progress("train", 6, 100, "epoch 1/2")):
        dlg._latest = p
        dlg._refresh()
    assert lines[0] == "lpp: LPP guidance targets ready" and lines[1].startswith("6% · train: epoch 1/2"), lines


def test_a_dialog_closed_during_a_run_shows_its_line_in_the_status_bar_at_once(qtbot, make_window, settle,
                                                                               monkeypatch):
    """The status bar's link came with the next progress record, 2.5 s after the dialog was
    closed in the LPP stage; it comes when the dialog hides."""
    from cdvae_core.progress import Progress

    win = make_window("resaturation")
    settle(win)
    win.open_train_dialog()
    dlg = win.train_dialog
    qtbot.waitExposed(dlg)
    label = win.findChild(QLabel, "trainJobLabel")
    monkeypatch.setattr(dlg, "running", lambda: True)
    dlg._latest = Progress("train", 6, 100, "epoch 1/2")
    dlg._refresh()
    assert not label.isVisible()  # the dialog is open
    dlg.hide()
    assert label.isVisible() and "6% · train: epoch 1/2" in label.text(), label.text()


def test_the_export_dialog_keeps_its_width_whatever_is_chosen(qtbot, make_window, settle):
    """Choosing "Batch: a folder of images" widened the dialog by 200 px (its one-line summary),
    moving the Export button away from under the pointer."""
    win = make_window("resaturation")
    settle(win)
    win.open_export_dialog()
    dlg = win.export_dialog
    qtbot.waitExposed(dlg)
    widths = set()
    for index in range(dlg.what.count()):
        dlg.what.setCurrentIndex(index)
        qtbot.wait(50)  # the layout settles
        widths.add(dlg.width())
    assert len(widths) == 1, widths
    assert dlg.summary.text().startswith("8 result(s) for every image or video of a folder")  # the last, batch

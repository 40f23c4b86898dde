"""Defects found by driving the Studio as a user (session 7): each test fails without its fix."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cdvae_studio.window_dialogs import RECENT_SESSIONS_MAX
from cdvae_studio.widgets.code_sliders import to_ticks


def test_session_reopened_on_the_same_task_keeps_its_sample(qtbot, make_window, settle, tmp_path):
    """Reopening a session whose task is the current one restored nothing: the model's context
    landed first (on the old image) and used up the restore; the session image's own context
    then reset the current sample, the code and the pins to a fresh draw."""
    win = make_window("resaturation")
    settle(win)
    win.state.select_sample(5)
    win.codeSliders.slider(1).setValue(to_ticks(-0.74))  # pins component 1 across the grid
    settle(win)
    code, noise = win.state.current_code().copy(), win.state.current_noise()
    win.state.save_session(str(tmp_path / "s.json"))

    other = make_window("resaturation")
    settle(other)
    other.state.resample()
    settle(other)
    other.state.open_session(str(tmp_path / "s.json"))
    settle(other)
    state = other.state
    assert state.current == 5
    assert np.flatnonzero(state.pinned).tolist() == [1]
    np.testing.assert_allclose(state.current_code(), code, atol=1e-6)
    np.testing.assert_array_equal(state.current_noise(), noise)
    np.testing.assert_allclose(other.codeSliders.code(), code, atol=0.006)  # the sliders show it too
    np.testing.assert_array_equal(state.grid.xg[5], win.state.grid.xg[5])


def test_a_session_keeps_its_starred_samples(qtbot, make_window, settle, tmp_path, studio_assets):
    """Save session kept the current sample only: the starred list, the user's picks, was lost.
    It is kept now (photo, model, draw, cell, code and noise of each), and reopening lists the
    same stars, marked on the grid where shown and exported to the same files; a star whose photo
    is gone is named and the others are listed; an older session leaves the list as it is."""
    import json

    import cv2

    cv2.imwrite(str(tmp_path / "p.png"), cv2.GaussianBlur(
        (np.random.default_rng(2).random((60, 80, 3)) * 255).astype(np.uint8), (0, 0), 3))
    win = make_window("resaturation")
    settle(win)
    state = win.state
    state.toggle_star(2)
    win.lowerCheck.setChecked(False)
    settle(win)
    state.toggle_star(7)  # decoded at the means
    state.open_paths([str(tmp_path / "p.png")])
    settle(win)
    state.open_model(str(studio_assets / "pairs" / "synthetic.npz"))  # a star of the nearest-neighbour baseline
    settle(win)
    state.toggle_star(4)
    state.open_paths([state._builtin_paths and sorted(state._builtin_paths)[0]])
    settle(win)
    state.save_session(str(tmp_path / "s.json"))
    assert win.statusBar().currentMessage() == f"session saved to {tmp_path / 's.json'} with 3 starred sample(s)"
    saved = json.loads((tmp_path / "s.json").read_text())["stars"]
    assert [s["index"] for s in saved] == [2, 7, 4] and saved[1]["noise"] is None and saved[0]["noise"]

    def exported(window, name):  # the starred export, as the dialog writes it (the baseline's star left out)
        window.open_export_dialog()
        dlg = window.export_dialog
        dlg.what.setCurrentIndex(0)
        dlg.folder.edit.setText(str(tmp_path / name))
        dlg.start()
        qtbot.waitUntil(lambda: not dlg.running() and "Wrote" in dlg.status.text(), timeout=60_000)
        assert "Wrote 2 result(s)" in dlg.status.text() and "Left out 1 star(s) of the nearest-neighbour" in \
            dlg.status.text()
        return {f.name: cv2.imread(str(f)) for f in sorted((tmp_path / name).glob("*.png"))}

    before = exported(win, "before")
    other = make_window("relighting")
    settle(other)
    other.state.open_session(str(tmp_path / "s.json"))
    settle(other)
    again = other.state.stars
    assert [other.tray.item(r).text() for r in range(other.tray.count())] == \
        [win.tray.item(r).text() for r in range(win.tray.count())]
    for old, new in zip(win.state.stars.values(), again.values()):
        assert (new.model.key, new.doc.source, new.index, new.draw) == (old.model.key, old.doc.source, old.index, old.draw)
        np.testing.assert_array_equal(new.code, old.code)
        assert (new.noise is None) == (old.noise is None)
        np.testing.assert_allclose(new.xg, old.xg, atol=1e-5)
    after = exported(other, "after")
    assert after.keys() == before.keys() and all(np.array_equal(after[k], before[k]) for k in before)

    (tmp_path / "p.png").unlink()  # a photo gone: the others are listed, and it is named
    third = make_window("resaturation")
    settle(third)
    third.state.toggle_star(1)
    third.state.open_session(str(tmp_path / "s.json"))
    settle(third)
    assert third.tray.count() == 2
    assert third.banner.text().startswith("1 starred sample(s) of the session could not be listed again: p.png #5")
    data = json.loads((tmp_path / "s.json").read_text())
    del data["stars"]
    (tmp_path / "old.json").write_text(json.dumps(data))
    third.state.toggle_star(9)
    third.state.open_session(str(tmp_path / "old.json"))  # an older session: the list stays
    settle(third)
    assert third.tray.count() == 3



def test_the_next_start_reopens_where_the_last_run_left_off(qtbot, make_window, settle, tmp_path):
    """Quitting lost the starred samples, and every start showed the first built-in photo again:
    the session at quit is kept in the settings and the next start (without photos, a model or
    a session on its command line) reopens it, stars included. A setting that does not read is
    a first start."""
    import cv2
    from PySide6.QtCore import QSettings

    from cdvae_studio.session import session_from_json
    from cdvae_studio.state_sessions import LAST_SESSION_KEY

    cv2.imwrite(str(tmp_path / "mine.png"), np.full((60, 90, 3), (40, 120, 200), np.uint8))
    settings = QSettings(str(tmp_path / "kept.ini"), QSettings.Format.IniFormat)
    win = make_window("resaturation", settings=settings)
    settle(win)
    win.state.open_paths([str(tmp_path / "mine.png")])
    settle(win)
    win.state.toggle_star(3)
    win.state.toggle_star(8)
    win.state.select_sample(6)
    settle(win)
    code = win.state.current_code().copy()
    win.close()
    win.shutdown()  # Quit: the settings are saved

    again = make_window("relighting", settings=QSettings(str(tmp_path / "kept.ini"), QSettings.Format.IniFormat))
    again.state.reopen_last_session()
    qtbot.waitUntil(lambda: again.tray.count() == 2 and again.state.ctx is not None
                    and again.state.ctx.doc.name == "mine.png", timeout=60_000)
    settle(again)
    state = again.state
    assert state.task_name == "resaturation" and state.current == 6
    np.testing.assert_array_equal(state.current_code(), code)
    assert again.sampleGrid.starred == {3, 8}

    again.close()
    again.shutdown()

    # a start that opens a photo of its own (a file manager's "Open with") shows that photo and
    # keeps the stars: they were lost, the session saved at its quit being its own, starless
    cv2.imwrite(str(tmp_path / "other.png"), np.full((50, 70, 3), (200, 90, 30), np.uint8))
    with_photo = make_window("resaturation", settings=QSettings(str(tmp_path / "kept.ini"), QSettings.Format.IniFormat))
    with_photo.state.start([str(tmp_path / "other.png")])
    qtbot.waitUntil(lambda: with_photo.tray.count() == 2 and with_photo.state.ctx is not None
                    and with_photo.state.ctx.doc.name == "other.png", timeout=60_000)
    settle(with_photo)
    assert with_photo.sampleGrid.starred == set()  # the stars are of mine.png, not of this grid
    with_photo.close()
    with_photo.shutdown()
    kept = session_from_json(QSettings(str(tmp_path / "kept.ini"), QSettings.Format.IniFormat).value(LAST_SESSION_KEY))
    assert kept.image.endswith("other.png") and len(kept.stars) == 2
    shot = make_window("resaturation", settings=QSettings(str(tmp_path / "kept.ini"), QSettings.Format.IniFormat))
    shot.state.start([str(tmp_path / "other.png")], first_start=True)  # a screenshot: nothing of the last run
    settle(shot)
    assert shot.tray.count() == 0

    ini = tmp_path / "garbage.ini"
    ini.write_text(f"[General]\n{LAST_SESSION_KEY}=not a session\n")
    third = make_window("resaturation", settings=QSettings(str(ini), QSettings.Format.IniFormat))
    third.state.start()
    settle(third)
    assert not third.banner.isVisible() and third.state.ctx.doc.name == "astronaut.png"


def test_quitting_in_a_task_without_a_model_keeps_the_stars(qtbot, make_window, settle, tmp_path, studio_assets):
    """With nothing shown (no model for the task) quitting dropped the kept session, and the
    stars with it: the session kept before is kept with this run's stars."""
    from PySide6.QtCore import QSettings

    from cdvae_studio.session import session_from_json
    from cdvae_studio.state_sessions import LAST_SESSION_KEY

    partial = tmp_path / "assets"
    (partial / "models").mkdir(parents=True)
    (partial / "models" / "resaturation").symlink_to(studio_assets / "models" / "resaturation")
    ini = str(tmp_path / "kept.ini")
    win = make_window("resaturation", assets=partial, settings=QSettings(ini, QSettings.Format.IniFormat))
    settle(win)
    win.close()
    win.shutdown()  # a session kept, without stars
    assert session_from_json(QSettings(ini, QSettings.Format.IniFormat).value(LAST_SESSION_KEY)).stars == []
    again = make_window("resaturation", assets=partial, settings=QSettings(ini, QSettings.Format.IniFormat))
    settle(again)
    again.state.toggle_star(2)
    again.state.toggle_star(5)
    again.state.set_task("relighting")  # no model for it: nothing shown
    qtbot.waitUntil(lambda: again.state.ctx is None, timeout=10_000)
    again.close()
    again.shutdown()
    kept = session_from_json(QSettings(ini, QSettings.Format.IniFormat).value(LAST_SESSION_KEY))
    assert kept.task == "resaturation" and sorted(star.index for star in kept.stars) == [2, 5]
    third = make_window("relighting", assets=partial, settings=QSettings(str(tmp_path / "none.ini"),
                                                                          QSettings.Format.IniFormat))
    qtbot.waitUntil(lambda: third.centerStack.currentIndex() == 1, timeout=10_000)
    third.close()
    third.shutdown()  # nothing shown, no stars: a first start next time
    assert QSettings(str(tmp_path / "none.ini"), QSettings.Format.IniFormat).value(LAST_SESSION_KEY) is None


def test_a_model_opened_from_its_folder_comes_back_at_the_next_start(qtbot, make_window, settle, tmp_path,
                                                                     untrained_model):
    """A model opened with File > Open model: at the next start its stars could not be listed
    ("path:/…/mine is not a saved model": the key was read as a folder's name relative to the
    working directory) and the task's model fell back to the built-in one without a word."""
    from PySide6.QtCore import QSettings

    untrained_model(tmp_path / "mine", "resaturation", "gauss")
    ini = str(tmp_path / "kept.ini")
    win = make_window("resaturation", settings=QSettings(ini, QSettings.Format.IniFormat))
    settle(win)
    win.state.open_model(str(tmp_path / "mine"))
    qtbot.waitUntil(lambda: win.state.ctx is not None and win.state.ctx.entry.path == tmp_path / "mine", timeout=60_000)
    settle(win)
    win.state.toggle_star(1)
    win.state.toggle_star(4)
    win.close()
    win.shutdown()

    again = make_window("resaturation", settings=QSettings(ini, QSettings.Format.IniFormat))
    assert again.tieCombo.currentData() == f"path:{tmp_path / 'mine'}"  # the task's model of last time
    again.state.reopen_last_session()
    qtbot.waitUntil(lambda: again.tray.count() == 2, timeout=60_000)
    settle(again)
    assert again.state.ctx.entry.path == tmp_path / "mine" and again.sampleGrid.starred == {1, 4}
    assert not again.banner.isVisible()
    again.close()
    again.shutdown()

    (tmp_path / "mine" / "config.json").unlink()  # the folder no longer holds a model: said, not silent
    third = make_window("resaturation", settings=QSettings(ini, QSettings.Format.IniFormat))
    settle(third)
    assert third.state.ctx.entry.kind == "builtin"
    assert "model used last could not be opened again" in third.statusBar().currentMessage()


def test_a_run_cancelled_before_its_last_epoch_opens_saying_so(qtbot, make_window, settle, tmp_path):
    """It opened as any finished model (its LPP scatter empty, since a run saves its embedding
    at the end) without a word of being unfinished."""
    from cdvae_core import training

    from test_training import tiny_cfgs, tiny_pairs

    model_cfg, train_cfg = tiny_cfgs(epochs=3)
    gen = training.train(tiny_pairs(), model_cfg, train_cfg, tmp_path / "halfway")
    for record in gen:
        if record.stage == "epoch" and record.done == 1:
            gen.close()  # Cancel after the first epoch
            break
    win = make_window("resaturation")
    settle(win)
    win.state.open_model(str(tmp_path / "halfway"))
    assert win.statusBar().currentMessage() == ("halfway stopped after epoch 1 of 3: Train with Resume ticked, "
                                                "into that folder, finishes it")
    settle(win)
    assert win.state.ctx.entry.path == (tmp_path / "halfway").resolve()


def test_a_session_star_that_does_not_fit_its_model_says_why(make_window, settle, studio_assets):
    """Hand-edited sessions: a code of the wrong length, or lower-layer noise for the nearest-
    neighbour baseline (which has no lower layers, nor a check for them), are one-line reasons."""
    import pytest

    from cdvae_studio.jobs import restore_star
    from cdvae_studio.session import SessionStar

    win = make_window("resaturation")
    settle(win)
    state = win.state
    photo = state.ctx.doc.source
    nearest = state.catalog.add_pair_file(studio_assets / "pairs" / "synthetic.npz")
    with pytest.raises(ValueError, match="lower-layer noise, which Nearest neighbour has none of"):
        restore_star(state.catalog, nearest, SessionStar(nearest.key, photo, [0.0], 0, noise=[0.5]), state.docs)
    with pytest.raises(ValueError, match="its code has 3 values; .* takes 16"):
        restore_star(state.catalog, state.ctx.entry, SessionStar(state.ctx.entry.key, photo, [0.0] * 3, 0), state.docs)
    restored = restore_star(state.catalog, nearest, SessionStar(nearest.key, photo, [2.0], 2), state.docs)
    assert restored.doc is state.ctx.doc  # the grid's own document: the star is marked on it


def test_builtin_photos_are_not_recent_files_and_recent_entries_line_up(qtbot, make_window, settle, tmp_path):
    """Clicking a built-in gallery photo added it again as a recent file (an icon-less duplicate)
    and moved the Open dialog's folder into the installed packages; recent files had no icon and
    cells as wide as their names, packed under the photos' labels."""
    import cv2

    win = make_window("resaturation")
    settle(win)
    gallery = win.imagePanel.gallery
    builtins = gallery.count()
    item = gallery.item(1)
    path = str(item.data(0x0100))
    win.settings.setValue("lastFolder", str(tmp_path))
    gallery.itemClicked.emit(item)
    qtbot.waitUntil(lambda: win.state.image_path == path and win.state.is_settled(), timeout=60_000)
    assert not win.settings.value("recentFiles", [])
    assert win.settings.value("lastFolder") == str(tmp_path)
    assert gallery.count() == builtins  # no duplicate entry

    names = []
    for name in ("a.png", "a_rather_long_file_name_for_a_photo.png", "b.jpg"):
        cv2.imwrite(str(tmp_path / name), np.full((40, 40, 3), 128, np.uint8))
        names.append(str(tmp_path / name))
    win.state.add_recent(names + [path])  # a built-in path in old settings is listed once
    assert gallery.count() == builtins + 3
    qtbot.wait(50)  # the list lays its items out
    rects = [gallery.visualItemRect(gallery.item(i)) for i in range(gallery.count())]
    cell = gallery.gridSize()  # one cell size for photos and files, names elided to fit
    assert cell.isValid() and all(r.width() <= cell.width() and r.height() <= cell.height() for r in rects)
    assert len({r.height() for r in rects}) == 1
    for i, a in enumerate(rects):
        assert not any(a.intersects(b) for b in rects[i + 1:])
    assert all(not gallery.item(i).icon().isNull() for i in range(gallery.count()))


def test_a_recent_file_can_leave_the_gallery_and_any_entry_shows_its_folder(qtbot, make_window, settle, tmp_path,
                                                                             monkeypatch):
    """There was no way to take a photo off the recent list (a pasted screenshot, someone's
    picture): the gallery's context menu removes it (Delete too), keeping the file and the photo
    on screen; built-in photos stay. "Show in folder" opens the file's folder."""
    import cv2
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QDesktopServices
    from PySide6.QtWidgets import QMenu

    win = make_window("resaturation")
    settle(win)
    gallery, panel = win.imagePanel.gallery, win.imagePanel
    builtins = gallery.count()
    names = []
    for name in ("a.png", "b.png"):
        cv2.imwrite(str(tmp_path / name), np.full((40, 40, 3), 90, np.uint8))
        names.append(str(tmp_path / name))
    win.state.open_paths(names)
    qtbot.waitUntil(lambda: win.state.image_path == names[0], timeout=30_000)
    settle(win)
    assert gallery.count() == builtins + 2

    menus: list[QMenu] = []
    monkeypatch.setattr(QMenu, "popup", lambda self, *a: menus.append(self))
    opened: list[str] = []
    monkeypatch.setattr(QDesktopServices, "openUrl", staticmethod(lambda url: opened.append(url.toLocalFile()) or True))

    def menu_for(path: str) -> dict:
        row = next(r for r in range(gallery.count()) if gallery.item(r).data(0x0100) == path)
        panel._gallery_menu(gallery.visualItemRect(gallery.item(row)).center())
        return {a.text(): a for a in menus[-1].actions()}

    actions = menu_for(names[0])
    actions["Show in folder"].trigger()
    assert opened == [str(tmp_path)]
    actions["Remove from the gallery"].trigger()
    assert gallery.count() == builtins + 1 and names[0] not in win.settings.value("recentFiles")
    assert (tmp_path / "a.png").exists() and win.state.image_path == names[0]  # file and photo on screen kept
    assert win.statusBar().currentMessage() == "a.png: removed from the gallery (file kept)"

    builtin = str(gallery.item(0).data(0x0100))
    assert not menu_for(builtin)["Remove from the gallery"].isEnabled()
    gallery.setCurrentRow(0)
    qtbot.keyClick(gallery, Qt.Key.Key_Delete)  # a built-in photo stays
    assert gallery.count() == builtins + 1
    row = next(r for r in range(gallery.count()) if gallery.item(r).data(0x0100) == names[1])
    gallery.setCurrentRow(row)
    qtbot.keyClick(gallery, Qt.Key.Key_Delete)
    assert gallery.count() == builtins and not win.settings.value("recentFiles", [])


def test_a_starred_sample_is_shown_again_from_the_tray(qtbot, make_window, settle, tmp_path, studio_assets):
    """A star could only be exported or removed: once the grid moved on (a resample, another photo,
    model or Full samples setting) its sample could not be seen again. A double-click in the tray
    brings back its photo, model and draw, with its code and noise as the current sample in its
    own cell, decoded as it was (full sample or at the means)."""
    import cv2

    win = make_window("resaturation")
    settle(win)
    state, tray = win.state, win.tray
    photo, model = state.ctx.doc.source, state.ctx.entry.key
    win.codeSliders.slider(4).setValue(170)  # an edited sample
    settle(win)
    state.select_sample(5)
    settle(win)
    state.toggle_star(5)
    star = next(iter(state.stars.values()))
    assert star.noise is not None and star.code[4] == np.float32(1.7)
    win.lowerCheck.setChecked(False)  # then the grid moves on: means, a resample, another photo and model
    state.resample()
    cv2.imwrite(str(tmp_path / "other.png"), np.full((50, 50, 3), 70, np.uint8))
    state.open_paths([str(tmp_path / "other.png")])
    settle(win)
    state.open_model(str(studio_assets / "pairs" / "synthetic.npz"))  # the nearest-neighbour baseline
    settle(win)
    assert state.ctx.doc.name == "other.png" and state.ctx.entry.key != model

    tray.itemActivated.emit(tray.item(0))  # a double-click, or Enter
    settle(win)
    ctx = state.ctx
    assert ctx.doc.source == photo and ctx.entry.key == model and state.current == 5
    assert win.lowerCheck.isChecked() and state.codes_draw == star.draw and win.seedSpin.value() == star.draw.seed
    np.testing.assert_array_equal(state.codes[5], star.code)
    np.testing.assert_array_equal(state.noise[5], star.noise)
    np.testing.assert_allclose(state.grid.xg[5], star.xg, atol=1e-5)  # the sample as it was starred
    assert win.sampleGrid.starred == {5} and win.sampleGrid.current == 5
    assert "Showing the starred sample" in win.statusBar().currentMessage()

    state.open_example(3)  # a training example's star: shown again only while that example is
    settle(win)
    state.toggle_star(2)
    example_key = max(state.stars)
    state.open_paths([str(tmp_path / "other.png")])
    settle(win)
    state.show_star(example_key)
    assert "opened from the LPP scatter plot" in win.banner.text()
    assert state.ctx.doc.name == "other.png"
    assert "Double-click (or Enter) shows one again" in tray.toolTip()  # the tray says how


def test_a_star_whose_sample_left_the_grid_can_be_removed_from_the_tray(qtbot, make_window, settle):
    """Stars could only be toggled on the grid: after a resample (or another image or model) a
    starred sample could not be unstarred, so it stayed in every "starred" export. The tray was
    also squeezed to 70 px, cutting its labels off."""
    from PySide6.QtCore import Qt

    win = make_window("resaturation")
    settle(win)
    state, tray = win.state, win.tray
    state.toggle_star(0)
    state.toggle_star(6)
    state.resample()
    settle(win)
    assert tray.count() == 2 and not win.sampleGrid.starred  # neither sample is on the grid now
    tray.setCurrentRow(0)
    qtbot.keyClick(tray, Qt.Key.Key_Delete)
    assert tray.count() == 1 and len(state.stars) == 1
    assert len(state.export_items()["stars"]) == 1
    # the context menu's action does the same
    tray.setCurrentRow(0)
    tray._remove_selected()
    assert tray.count() == 0 and not state.stars
    # a star removed in the tray is unmarked on the grid too
    state.toggle_star(3)
    assert win.sampleGrid.starred == {3}
    tray.setCurrentRow(0)
    qtbot.keyClick(tray, Qt.Key.Key_Delete)
    assert not win.sampleGrid.starred
    assert tray.height() >= tray.gridSize().height()  # one whole row of thumbnails with labels


def test_truth_tab_says_why_it_is_empty_for_the_task_at_hand(qtbot, make_window, settle):
    """A relighting training example's Truth tab said "motion needs two frames"."""
    win = make_window("relighting")
    settle(win)
    win.lppScatter.exampleClicked.emit(3)
    qtbot.waitUntil(lambda: win.state.ctx.doc.key.startswith("example:") and win.state.is_settled(), timeout=60_000)
    text = win.truthView.info.text()
    assert "motion" not in text and "training example" in text
    win.taskCombo.setCurrentText("motion")
    settle(win)
    qtbot.waitUntil(lambda: win.state.ctx.entry.task == "motion" and win.state.is_settled(), timeout=60_000)
    assert "motion" in win.truthView.info.text() or win.state.ctx.doc.xg is not None


def test_training_again_gets_a_new_folder_and_clear_messages(qtbot, train_on_pairs, tmp_path, monkeypatch):
    """After a run finished, pressing Train again used the same suggested folder and failed, after
    making the pairs, with the command line's words ("pass --resume"), under the last run's full
    progress bar; the suggested folder kept the first task's name when the task changed."""
    from PySide6.QtCore import Qt

    import cdvae_studio.train_dialog as td

    win, dlg = train_on_pairs
    monkeypatch.setattr(td, "models_root", lambda: tmp_path)
    dlg.source.setCurrentIndex(0)  # a pair file keeps its own task; the built-in photos follow the window's
    dlg.set_task("relighting")  # the main window's task changed: so does the suggestion
    assert "/relighting-" in dlg.out.text()
    dlg.set_task("resaturation")
    dlg.source.setCurrentIndex(td.PAIR_SOURCE)  # its file (resaturation) again
    assert dlg.task.currentText() == "resaturation"
    first = dlg.out.text()
    assert first.startswith(str(tmp_path)) and "/resaturation-" in first
    dlg.tie.setCurrentText("gauss")
    dlg.layers.setValue(1)
    dlg.epochs.setValue(1)
    with qtbot.waitSignal(dlg.modelTrained, timeout=120_000):
        qtbot.mouseClick(dlg.start_button, Qt.MouseButton.LeftButton)
    second = dlg.out.text()
    assert second != first and not td.Path(second).exists() and not dlg.resume.isChecked()

    dlg.out.edit.setText(first)  # the finished run's folder, without Resume: refused up front
    dlg.start()
    assert not dlg.running()
    assert "tick Resume" in dlg.status.text() and "--" not in dlg.status.text()

    dlg.out.edit.setText(second)
    dlg.path_a.edit.setText(str(tmp_path / "missing.npz"))  # said before anything starts
    dlg.start()
    assert not dlg.running() and dlg.status.text() == f"Cannot start: no pair file at {tmp_path / 'missing.npz'}"
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"junk" * 10)
    dlg.path_a.edit.setText(str(broken))  # fails inside the run, before any record
    dlg.start()
    qtbot.waitUntil(lambda: not dlg.running(), timeout=120_000)
    # the library's message as it is, no class name ("Training failed: PairFileError: ...")
    assert dlg.status.text().startswith(f"Training failed: {broken} is not a readable .npz pair file")
    assert dlg.progress.value() == 0  # not the finished run's full bar
    assert dlg.progress.text() == "failed"  # a full bar of the stage before read as success


def test_train_status_names_the_stage_once(qtbot):
    """The status line read "epoch: epoch 46 saved"."""
    from cdvae_core.progress import Progress
    from cdvae_studio.train_dialog import TrainDialog

    dlg = TrainDialog(None, task="resaturation")
    qtbot.addWidget(dlg)
    assert dlg.describe(Progress("epoch", 46, 300, "epoch 46 saved", {})) == "epoch 46 saved"
    assert dlg.describe(Progress("train", 3, 9, "epoch 1/3", {"images_per_s": 900.0})) == \
        "train: epoch 1/3 · 900 pairs/s"


def test_one_recent_photo_and_one_trained_model_come_back_after_a_restart(qtbot, make_window, settle, tmp_path,
                                                                        untrained_model):
    """Qt's INI format writes a one-item list as a plain string, which a new process reads back as
    that string: iterated, the gallery showed one entry per character of the photo's path, and the
    one model trained in the app was lost. The settings file is written here as that process
    would find it (QSettings in this process would hand back its own cached list)."""
    import cv2
    from PySide6.QtCore import QSettings

    photo = tmp_path / "only.png"
    cv2.imwrite(str(photo), np.full((40, 48, 3), 90, np.uint8))
    untrained_model(tmp_path / "trained", "resaturation", "gauss")
    ini = tmp_path / "restart.ini"
    ini.write_text(f"[General]\nrecentFiles={photo}\ntrainedModels={tmp_path / 'trained'}\n")
    win = make_window("resaturation", settings=QSettings(str(ini), QSettings.Format.IniFormat))
    settle(win)
    gallery = win.imagePanel.gallery
    paths = [str(gallery.item(i).data(0x0100)) for i in range(gallery.count())]
    assert str(photo) in paths and all(len(p) > 1 for p in paths), paths
    keys = [win.tieCombo.itemData(i) for i in range(win.tieCombo.count())]
    assert f"path:{(tmp_path / 'trained').resolve()}" in keys, keys


def test_a_trained_model_deleted_since_leaves_the_list_saying_so(qtbot, make_window, settle, tmp_path,
                                                                untrained_model):
    """It was skipped without a word at every start, and kept in the settings."""
    from PySide6.QtCore import QSettings

    untrained_model(tmp_path / "kept", "resaturation", "gauss")
    gone = tmp_path / "deleted"
    ini = tmp_path / "restart.ini"
    ini.write_text(f"[General]\ntrainedModels={tmp_path / 'kept'}, {gone}\n")
    win = make_window("resaturation", settings=QSettings(str(ini), QSettings.Format.IniFormat))
    assert win.statusBar().currentMessage() == "1 trained model(s) left the Model list, their folder gone: deleted"
    assert win.settings.value("trainedModels", type=list) == [str(tmp_path / "kept")]
    settle(win)
    keys = [win.tieCombo.itemData(i) for i in range(win.tieCombo.count())]
    assert f"path:{(tmp_path / 'kept').resolve()}" in keys and f"path:{gone.resolve()}" not in keys


def test_file_menu_reopens_the_sessions_saved_or_opened_last(qtbot, make_window, settle, tmp_path):
    """File > Open recent session: saved and opened sessions, newest first, each once, named with
    its folder; choosing one reopens it; one whose file has gone leaves the list, saying so."""
    win = make_window("resaturation")
    menu = win.recentSessionsMenu
    win.fill_recent_sessions()
    assert [a.text() for a in menu.actions()] == ["No sessions saved or opened yet"]
    assert not menu.actions()[0].isEnabled()
    settle(win)
    win.state.select_sample(5)
    settle(win)
    first, second = tmp_path / "a&b.json", tmp_path / "second.json"
    win.state.save_session(str(first))
    win.state.select_sample(2)
    settle(win)
    win.state.save_session(str(second))
    win.state.open_session(str(first))  # opened: first again
    settle(win)
    assert win.recent_sessions() == [str(first), str(second)]
    win.fill_recent_sessions()
    entries = [a for a in menu.actions() if not a.isSeparator()]
    assert [a.text() for a in entries] == [f"a&&b.json   ({tmp_path})", f"second.json   ({tmp_path})", "Clear the list"]
    assert entries[0].toolTip() == str(first)

    entries[1].trigger()
    settle(win)
    assert win.state.current == 2 and win.recent_sessions() == [str(second), str(first)]
    first.unlink()
    win.fill_recent_sessions()
    next(a for a in menu.actions() if a.toolTip() == str(first)).trigger()
    assert win.banner.text() == f"the session a&b.json is no longer in {tmp_path}: it has left the recent list"
    assert win.recent_sessions() == [str(second)] and win.state.current == 2
    win.fill_recent_sessions()
    next(a for a in menu.actions() if a.text() == "Clear the list").trigger()
    assert win.recent_sessions() == []
    for i in range(RECENT_SESSIONS_MAX + 2):
        win.remember_session(str(tmp_path / f"{i}.json"))
    assert win.recent_sessions() == [str(tmp_path / f"{i}.json") for i in range(RECENT_SESSIONS_MAX + 1, 1, -1)]
    win.remember_session(str(Path.home() / "sessions" / "x.json"))  # a folder in the home folder reads "~/..."
    win.fill_recent_sessions()
    assert menu.actions()[0].text() == f"x.json   ({Path('~') / 'sessions'})"


def test_a_video_frames_star_shows_its_time_on_its_thumbnail(qtbot):
    """Stars of one video's frames all read "pan…#3": the cell's middle elision took the "@ 1.6 s"
    of "pan.avi @ 1.6 s #3" that tells them apart. The time is a badge on the thumbnail now (as
    video players show it), the label "pan.avi #3", the tooltip the whole of it."""
    from PySide6.QtCore import QSize

    from cdvae_studio.widgets.panels import StarTray

    tray = StarTray()
    qtbot.addWidget(tray)
    thumb = np.full((8, 8, 3), 230, np.uint8)  # a light picture: the badge is dark
    tray.add(1, "pan.avi", 3, thumb, "12.25 s")
    tray.add(2, "a.png", 2, thumb)
    video, photo = tray.item(0), tray.item(1)
    # the label has the stem, as the gallery (the extension cut "astronaut.png #6" to "astr…g #6")
    assert (video.text(), video.toolTip()) == ("pan #3", "pan.avi @ 12.25 s #3")
    assert (photo.text(), photo.toolTip()) == ("a #2", "a.png #2")

    def corner_and_top(item):
        image = item.icon().pixmap(QSize(64, 64)).toImage()
        return image.pixelColor(60, 60).value(), image.pixelColor(32, 4).value()

    assert corner_and_top(photo) == (230, 230)
    corner, top = corner_and_top(video)
    assert corner < 100 and top == 230

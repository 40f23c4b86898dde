"""Copy, paste and drag: Ctrl+C puts the current result on the clipboard as Export writes it, and
a sample dragged out of the grid carries the same picture as a file; Ctrl+V (and a drop) opens
copied files, an image, or text naming files."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PySide6.QtCore import QEvent, QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QGuiApplication, QImage, QMouseEvent
from PySide6.QtWidgets import QApplication

from cdvae_core.postprocess.export import export_results
from cdvae_core.postprocess.imagefiles import read_image

from cdvae_studio import drag_out
from cdvae_studio.clipboard import free_path as clipboard_free_path
from cdvae_studio.clipboard import local_paths, pasted_folder, pasted_path, qimage_pixels, rgb_to_qimage


@pytest.fixture()
def data_home(tmp_path, monkeypatch) -> Path:
    """The app's data folder in tmp_path (Qt reads XDG_DATA_HOME on Linux)."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    return tmp_path / "data"


def _clipboard_rgb() -> np.ndarray:
    image = QGuiApplication.clipboard().image()
    assert not image.isNull()
    return qimage_pixels(image)


def _wait_copied(qtbot, win) -> str:
    QGuiApplication.clipboard().clear()
    win.copyAction.trigger()
    qtbot.waitUntil(lambda: win.statusBar().currentMessage().startswith("Copied"), timeout=60_000)
    return win.statusBar().currentMessage()


def _exported(tmp_path: Path, ctx, code, noise, settings, name: str) -> np.ndarray:
    files = export_results(ctx.predictor, ctx.doc.photo, 1, tmp_path / name, codes=code[None],
                           noise=None if noise is None else noise[None], settings=settings)
    return read_image(files[0])


def _on_wide_photo(qtbot, make_window, settle, tmp_path, size: tuple[int, int], seed: int):
    """A relighting window showing "wide.png", a smooth random photo of ``size`` (W, H) larger
    than the 512-px work size."""
    rng = np.random.default_rng(seed)
    photo = cv2.resize((rng.random((20, 30, 3)) * 255).astype(np.uint8), size, interpolation=cv2.INTER_CUBIC)
    cv2.imwrite(str(tmp_path / "wide.png"), photo)
    win = make_window("relighting")
    settle(win)
    win.state.open_paths([str(tmp_path / "wide.png")])
    qtbot.waitUntil(lambda: win.state.ctx is not None and win.state.ctx.doc.name == "wide.png", timeout=60_000)
    settle(win)
    return win


def test_copy_puts_the_current_result_on_the_clipboard_as_export_writes_it(qtbot, make_window, settle, tmp_path):
    """The copied picture is the photo's full resolution (1200 px wide, not the 512 px of the
    preview) and equal, pixel for pixel, to the exported result of the same sample: full
    sample, then decoded at the means (Full samples off)."""
    win = _on_wide_photo(qtbot, make_window, settle, tmp_path, (1200, 800), seed=0)
    state = win.state
    assert state.ctx.doc.rgb.shape[1] == 512  # the work size: the copy must not be that
    state.select_sample(5)
    settle(win)
    message = _wait_copied(qtbot, win)
    assert message == "Copied sample #6 of wide.png (1200x800, full resolution) to the clipboard"
    grid, ctx = state.grid, state.ctx
    noise = grid.noise[5]
    assert grid.lower and noise is not None and noise.size
    expected = _exported(tmp_path, ctx, grid.codes[5], noise, grid.draw.export_settings(), "full")
    np.testing.assert_array_equal(_clipboard_rgb(), expected)

    win.lowerCheck.setChecked(False)  # Full samples off: the lower layers at their means
    settle(win)
    _wait_copied(qtbot, win)
    at_means = _exported(tmp_path, ctx, state.grid.codes[5], None, state.grid.draw.export_settings(lower_layers=False),
                         "means")
    copied = _clipboard_rgb()
    np.testing.assert_array_equal(copied, at_means)
    assert not np.array_equal(copied, expected)


def test_copy_of_a_motion_sample_is_its_arrows_over_the_frame(qtbot, make_window, settle, tmp_path):
    win = make_window("motion")
    settle(win)
    state = win.state
    _wait_copied(qtbot, win)
    ctx, grid = state.ctx, state.grid
    expected = _exported(tmp_path, ctx, grid.codes[0], state._grid_noise(0), grid.draw.export_settings(
        lower_layers=state._grid_noise(0) is not None), "motion")
    copied = _clipboard_rgb()
    np.testing.assert_array_equal(copied, expected)
    assert copied.shape == read_image(ctx.doc.source).shape and not np.array_equal(copied, read_image(ctx.doc.source))


def test_a_copy_that_fails_says_what_failed(qtbot, make_window, settle, tmp_path):
    """The photo's file went after it was opened: the copy says so, naming itself (it read
    "misc: ..."), and the clipboard is left as it was."""
    cv2.imwrite(str(tmp_path / "gone.png"), np.full((50, 60, 3), 120, np.uint8))
    win = make_window("resaturation")
    settle(win)
    win.state.open_paths([str(tmp_path / "gone.png")])
    qtbot.waitUntil(lambda: win.state.ctx is not None and win.state.ctx.doc.name == "gone.png", timeout=30_000)
    settle(win)
    (tmp_path / "gone.png").unlink()
    QGuiApplication.clipboard().setText("kept")
    win.state.select_sample(2)
    win.copyAction.trigger()
    settle(win)
    assert win.banner.text().startswith("Copy of sample #3 failed: ") and "gone.png" in win.banner.text()
    assert QGuiApplication.clipboard().text() == "kept"


def test_copy_without_a_model_says_so(qtbot, make_window, tmp_path):
    empty = tmp_path / "assets"
    (empty / "models").mkdir(parents=True)
    win = make_window("resaturation", assets=empty)
    qtbot.waitUntil(lambda: win.centerStack.currentIndex() == 1 and win.state.is_settled(), timeout=10_000)
    assert not win.copyAction.isEnabled() and not win.exportAction.isEnabled()
    win.state.copy_result()  # as a shortcut racing the context would
    assert win.banner.text() == "load a model and an image before copying a result"


def test_a_pasted_image_opens_as_a_file_kept_in_the_data_folder(qtbot, make_window, settle, data_home):
    """An image on the clipboard (a screenshot) is kept as a PNG in the data folder's "pasted"
    folder, opens like any photo (caption, recent list, a session's or an export's source), and
    a second paste in the same second gets a name of its own."""
    win = make_window("resaturation")
    settle(win)
    rng = np.random.default_rng(1)
    first = (rng.random((90, 120, 3)) * 255).astype(np.uint8)
    QGuiApplication.clipboard().setImage(rgb_to_qimage(first))
    win.pasteAction.trigger()
    qtbot.waitUntil(lambda: win.state.ctx.doc.name.startswith("pasted-"), timeout=30_000)
    settle(win)
    path = Path(win.state.image_path)
    assert path.parent == pasted_folder() and path.suffix == ".png" and path.is_relative_to(data_home)
    np.testing.assert_array_equal(read_image(path), first)
    np.testing.assert_array_equal(win.state.ctx.doc.rgb, first)
    assert win.imagePanel.caption.text() == f"{path.name} · 120x90"  # opaque: no "alpha composited" note
    assert win.windowTitle() == f"{path.name} — CDVAE Studio"
    assert win.settings.value("recentFiles")[0] == str(path)
    assert not str(win.settings.value("lastFolder", "")).endswith("pasted")  # Open starts elsewhere

    second = 255 - first
    QGuiApplication.clipboard().setImage(rgb_to_qimage(second))
    win.pasteAction.trigger()
    qtbot.waitUntil(lambda: win.state.image_path != str(path), timeout=30_000)
    settle(win)
    np.testing.assert_array_equal(win.state.ctx.doc.rgb, second)
    np.testing.assert_array_equal(read_image(path), first)  # the first file is still the first image
    assert len(list(path.parent.glob("pasted-*.png"))) == 2


def test_a_pasted_image_with_transparency_opens_as_a_transparent_file_does(qtbot, make_window, settle, data_home,
                                                                             tmp_path):
    win = make_window("resaturation")
    settle(win)
    rgba = np.zeros((64, 80, 4), np.uint8)
    rgba[..., 0], rgba[..., 3] = 200, 255
    rgba[:32, :, 3] = 0  # the top half transparent
    image = QImage(rgba.data, 80, 64, 320, QImage.Format.Format_RGBA8888).copy()
    QGuiApplication.clipboard().setImage(image)
    win.pasteAction.trigger()
    qtbot.waitUntil(lambda: win.state.ctx.doc.name.startswith("pasted-"), timeout=30_000)
    settle(win)
    assert "alpha channel composited over white" in win.imagePanel.caption.text()
    rgb = win.state.ctx.doc.rgb
    assert (rgb[:32] == 255).all() and (rgb[32:] == (200, 0, 0)).all()


def test_paste_opens_files_copied_or_named_and_says_when_there_is_nothing(qtbot, make_window, settle, tmp_path):
    """Files copied in a file manager (URLs) and text naming files open as a drop does; other text
    gets a message and changes nothing."""
    photos = []
    for i, name in enumerate(("a b.png", "c.png")):
        cv2.imwrite(str(tmp_path / name), np.full((40, 50, 3), 60 * (i + 1), np.uint8))
        photos.append(tmp_path / name)
    win = make_window("resaturation")
    settle(win)
    clipboard = QGuiApplication.clipboard()

    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in photos])
    clipboard.setMimeData(mime)
    win.pasteAction.trigger()
    qtbot.waitUntil(lambda: win.state.image_path == str(photos[0]), timeout=30_000)
    settle(win)
    assert str(photos[1]) in win.settings.value("recentFiles")

    clipboard.setText(f"  {photos[1]}\n")  # a path copied from a terminal
    win.pasteAction.trigger()
    qtbot.waitUntil(lambda: win.state.image_path == str(photos[1]), timeout=30_000)
    settle(win)

    clipboard.setText("a sentence, not a file")
    win.pasteAction.trigger()
    assert win.banner.text().startswith("The clipboard holds no image and names no file to open")
    assert win.state.image_path == str(photos[1])


def test_clipboard_text_names_files_only_when_every_line_does(tmp_path):
    (tmp_path / "x.png").write_bytes(b"")
    mime = QMimeData()
    for text, expected in (
        (f"{tmp_path / 'x.png'}", [str(tmp_path / "x.png")]),
        (f"{QUrl.fromLocalFile(str(tmp_path / 'x.png')).toString()}\r\n{tmp_path}", [str(tmp_path / "x.png"), str(tmp_path)]),
        (f"{tmp_path / 'x.png'}\n{tmp_path / 'missing.png'}", []),  # one line is no file: it is text
        ("", []),
    ):
        mime.setText(text)
        assert local_paths(mime) == expected, text


def test_pasted_names_skip_existing_and_taken_ones(tmp_path, monkeypatch):
    """Two pastes in one second: the second's name is not the first's, whether the first's file is
    written yet (it exists) or still on its way (taken)."""
    import time

    monkeypatch.setattr(time, "strftime", lambda fmt: "pasted-20261128-031502")
    first = pasted_path(tmp_path)
    assert first == tmp_path / "pasted-20261128-031502.png"
    first.write_bytes(b"x")
    second = pasted_path(tmp_path)
    assert second.name == "pasted-20261128-031502-2.png"
    assert pasted_path(tmp_path, taken={second}).name == "pasted-20261128-031502-3.png"


def test_an_image_dropped_from_a_browser_opens(qtbot, make_window, settle, data_home):
    """A browser's drag carries the picture (and a web URL, which is no local file)."""
    win = make_window("resaturation")
    settle(win)
    picture = np.zeros((60, 60, 3), np.uint8)
    picture[:, 30:] = (0, 90, 250)
    mime = QMimeData()
    mime.setImageData(rgb_to_qimage(picture))
    mime.setUrls([QUrl("https://example.org/picture.png")])
    assert win.open_mime(mime)
    qtbot.waitUntil(lambda: win.state.ctx.doc.name.startswith("pasted-"), timeout=30_000)
    settle(win)
    np.testing.assert_array_equal(win.state.ctx.doc.rgb, picture)
    assert not win.open_mime(QMimeData())  # nothing to open: the drop is refused


def test_the_nearest_neighbour_baseline_copies_its_result_but_exports_none(qtbot, make_window, settle, studio_assets,
                                                                          tmp_path):
    """The baseline's sample is its ranked neighbour's x_g on the photo: Copy gives it at full
    resolution (no detail map: it has no encoder, as its preview). Export refuses it for every
    choice, the batch included (which failed with an AttributeError on the photo's own code)."""
    from cdvae_core.postprocess.render import get_renderer
    from cdvae_studio.export_dialog import NO_BASELINE_EXPORT

    win = make_window("resaturation")
    settle(win)
    win.state.open_model(str(studio_assets / "pairs" / "synthetic.npz"))
    settle(win)
    state = win.state
    assert win.tieCombo.currentText().startswith("Nearest neighbour")
    state.select_sample(2)
    settle(win)
    _wait_copied(qtbot, win)
    ctx = state.ctx
    photo = read_image(ctx.doc.source)
    neighbour = ctx.cond.samples[2]  # rank 2: the third nearest training pair's x_g
    expected = get_renderer(ctx.task, photo).render(neighbour[None])[0]
    np.testing.assert_array_equal(_clipboard_rgb(), expected)

    (tmp_path / "photos").mkdir()
    cv2.imwrite(str(tmp_path / "photos" / "p.png"), np.full((40, 40, 3), 90, np.uint8))
    win.open_export_dialog()
    dlg = win.export_dialog
    dlg.folder.edit.setText(str(tmp_path / "out"))
    dlg.batch_folder.edit.setText(str(tmp_path / "photos"))
    for what in (1, 2, 3):  # current, grid, batch
        dlg.what.setCurrentIndex(what)
        dlg.status.setText("")
        dlg.start()
        assert dlg.status.text() == NO_BASELINE_EXPORT and dlg.runner is None, what
    assert not (tmp_path / "out").exists()


def test_a_dragged_sample_is_a_png_of_its_full_resolution_result(qtbot, make_window, settle, tmp_path):
    """The drag's data names a PNG file (text/uri-list) holding what Export writes for that grid
    sample, not the current one, and offers the same pixels as an image; the file is named after
    the photo and the sample."""
    win = _on_wide_photo(qtbot, make_window, settle, tmp_path, (900, 600), seed=1)
    state = win.state
    assert state.current != 7
    data = state.drag_result(7)
    assert data.formats() == [drag_out.URI_LIST, drag_out.QT_IMAGE]
    urls = data.urls()  # waits for the worker's render, as a drop target's request does
    assert len(urls) == 1 and urls[0].isLocalFile()
    path = Path(urls[0].toLocalFile())
    assert path.name == "wide_sample8.png" and path.parent.parent == drag_out.drag_folder()
    grid, ctx = state.grid, state.ctx
    expected = _exported(tmp_path, ctx, grid.codes[7], grid.noise[7], grid.draw.export_settings(), "eighth")
    assert expected.shape == (600, 900, 3)
    np.testing.assert_array_equal(read_image(path), expected)
    np.testing.assert_array_equal(qimage_pixels(data.imageData()), expected)
    settle(win)
    assert win.statusBar().currentMessage() == "Sample #8 of wide.png rendered for the drop (900x600, full resolution)"
    assert bytes(data.data(drag_out.URI_LIST)) == urls[0].toEncoded().data() + b"\r\n"  # as a drop reads it


def test_a_drop_waits_for_the_render_and_gets_nothing_from_a_failed_one(qapp, tmp_path, monkeypatch):
    """A target asking before the worker has finished waits for it; a failed render, or one not
    done within WAIT_SECONDS, gives the target nothing (and the latter is marked timed out)."""
    import threading

    rgb = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    slow = drag_out.DraggedPicture(tmp_path / "slow.png")
    timer = threading.Timer(0.3, slow.finish, args=(rgb,))
    timer.start()
    np.testing.assert_array_equal(qimage_pixels(drag_out.PictureDragData([slow]).imageData()), rgb)
    assert not slow.timed_out

    failed = drag_out.DraggedPicture(tmp_path / "failed.png")
    failed.fail()
    data = drag_out.PictureDragData([failed])
    assert data.urls() == [] and data.imageData() is None and not failed.timed_out

    monkeypatch.setattr(drag_out, "WAIT_SECONDS", 0.05)
    late = drag_out.DraggedPicture(tmp_path / "late.png")
    data = drag_out.PictureDragData([late])
    assert data.urls() == [] and late.timed_out and data.timed_out()
    asked = []
    monkeypatch.setattr(late, "wait", lambda seconds: asked.append(seconds) or False)
    assert data.imageData() is None and asked == [0.0]  # the drop's next request does not wait again

    # several pictures (starred samples): their files, those rendered; no image
    pictures = [drag_out.DraggedPicture(tmp_path / f"{i}.png") for i in range(3)]
    pictures[0].finish(rgb)
    pictures[1].fail()
    pictures[2].finish(rgb)
    data = drag_out.PictureDragData(pictures)
    assert data.formats() == [drag_out.URI_LIST] and not data.hasImage()
    assert [url.toLocalFile() for url in data.urls()] == [str(tmp_path / "0.png"), str(tmp_path / "2.png")]


def test_a_drags_files_keep_their_names_in_a_folder_of_their_own(qapp):
    first = drag_out.drag_paths(["cat_sample3.png", "cat_sample3.png", "dog_sample1.png", "cat_sample3.png"])
    assert [p.name for p in first] == ["cat_sample3.png", "cat_sample3-2.png", "dog_sample1.png", "cat_sample3-3.png"]
    assert len({p.parent for p in first}) == 1 and first[0].parent.parent == drag_out.drag_folder()
    second = drag_out.drag_paths(["cat_sample3.png"])
    assert second[0].name == "cat_sample3.png" and second[0].parent != first[0].parent


def _mouse(view, kind: QEvent.Type, pos: QPointF, button: Qt.MouseButton, held: Qt.MouseButton) -> None:
    QApplication.sendEvent(view.viewport(), QMouseEvent(kind, pos, view.viewport().mapToGlobal(pos), button, held,
                                                        Qt.KeyboardModifier.NoModifier))


def test_dragging_a_cell_drags_its_sample_and_the_next_click_still_selects(qtbot, make_window, settle, monkeypatch):
    """Pressing on a cell and moving the drag distance starts the drag of that cell's sample (the
    drag's own event loop eats the release); a click after it selects the cell clicked. pyqtgraph's
    scene kept the drag's press, and the next release reported the dragged cell."""
    dragged = []
    monkeypatch.setattr(drag_out, "run_drag", lambda source, data, shown: dragged.append((source, data, shown)) or True)
    win = make_window("resaturation")
    settle(win)
    grid = win.sampleGrid
    start = QPointF(grid.mapFromScene(grid.cell_rect(4).center()))
    left, none = Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton
    _mouse(grid, QEvent.Type.MouseButtonPress, start, left, left)
    _mouse(grid, QEvent.Type.MouseMove, start + QPointF(1, 1), none, left)  # under the drag distance
    assert dragged == []
    _mouse(grid, QEvent.Type.MouseMove, start + QPointF(QApplication.startDragDistance() + 2, 0), none, left)
    assert len(dragged) == 1
    source, data, shown = dragged[0]
    assert source is grid and data.pictures[0].path.name.endswith("_sample5.png")
    np.testing.assert_array_equal(shown, grid.cell_image(4))
    assert data.pictures[0].wait()
    settle(win)
    assert win.state.current == 0  # a drag does not select
    click_at = QPointF(grid.mapFromScene(grid.cell_rect(9).center()))
    _mouse(grid, QEvent.Type.MouseButtonPress, click_at, left, left)
    _mouse(grid, QEvent.Type.MouseButtonRelease, click_at, left, none)
    settle(win)
    assert win.state.current == 9


def test_dragging_the_preview_drags_the_current_result(qtbot, make_window, settle, monkeypatch):
    """The Preview is where a user reaches for the result: pressed there, it shows the photo
    (before / after); moved the drag distance, it shows the result again and drags the current
    sample's result out, the preview's picture under the pointer."""
    dragged = []
    monkeypatch.setattr(drag_out, "run_drag", lambda source, data, shown: dragged.append((source, data, shown)) or True)
    win = make_window("resaturation")
    settle(win)
    win.state.select_sample(3)
    settle(win)
    pane = win.preview
    result = pane.image().copy()
    start = QPointF(pane.width() / 2, pane.height() / 2)
    left, none = Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton
    _mouse(pane, QEvent.Type.MouseButtonPress, start, left, left)
    assert pane.comparing  # press and hold: the photo
    _mouse(pane, QEvent.Type.MouseMove, start + QPointF(0, QApplication.startDragDistance() + 2), none, left)
    assert not pane.comparing and not pane.label.isVisible()
    np.testing.assert_array_equal(pane.item.image, result)
    assert len(dragged) == 1
    source, data, shown = dragged[0]
    assert source is pane and data.pictures[0].path.name.endswith("_sample4.png")
    np.testing.assert_array_equal(shown, result)
    assert data.pictures[0].wait()
    _mouse(pane, QEvent.Type.MouseMove, start + QPointF(0, 40), none, left)  # one drag per press
    assert len(dragged) == 1
    settle(win)


def test_starred_samples_dragged_from_the_list_are_their_exports(qtbot, make_window, settle, tmp_path, monkeypatch):
    """The starred list's selection dragged out: a PNG per star, each what its export writes
    (its own photo, model and draw, also after the grid has moved on), in one drag."""
    dragged = []
    monkeypatch.setattr(drag_out, "run_drag", lambda source, data, shown: dragged.append((source, data, shown)) or True)
    win = make_window("resaturation")
    settle(win)
    state = win.state
    state.toggle_star(2)
    state.toggle_star(6)
    settle(win)
    stars = sorted(state.stars.values(), key=lambda s: s.index)
    photo_stem = Path(state.ctx.doc.name).stem
    state.resample()  # the grid moves on; the stars stay what they were
    settle(win)
    tray = win.tray
    tray.selectAll()
    tray.startDrag(Qt.DropAction.CopyAction)
    assert len(dragged) == 1
    source, data, shown = dragged[0]
    assert source is tray and data.formats() == [drag_out.URI_LIST]
    np.testing.assert_array_equal(shown, stars[0].thumb)
    paths = [Path(url.toLocalFile()) for url in data.urls()]
    assert [p.name for p in paths] == [f"{photo_stem}_sample3.png", f"{photo_stem}_sample7.png"]
    for star, path in zip(stars, paths):
        expected = _exported(tmp_path, state.ctx, star.code, star.noise, star.draw.export_settings(
            lower_layers=star.noise is not None), f"star{star.index}")
        np.testing.assert_array_equal(read_image(path), expected)
    settle(win)
    assert win.statusBar().currentMessage() == "2 samples rendered for the drop (full resolution)"


def test_a_dragged_star_whose_photo_has_gone_is_left_out_and_named(qtbot, make_window, settle, tmp_path, monkeypatch):
    """Two stars of two photos, one photo deleted since: the drop gets the other's file, and the
    status line names the one left out and why; with the only star's photo gone, the drag's
    failure is named as the drag."""
    dragged = []
    monkeypatch.setattr(drag_out, "run_drag", lambda source, data, shown: dragged.append(data) or True)
    cv2.imwrite(str(tmp_path / "gone.png"), np.full((50, 60, 3), 120, np.uint8))
    win = make_window("resaturation")
    settle(win)
    state = win.state
    state.toggle_star(1)  # on the built-in photo
    kept_title = state.ctx.doc.title
    state.open_paths([str(tmp_path / "gone.png")])
    qtbot.waitUntil(lambda: state.ctx is not None and state.ctx.doc.name == "gone.png", timeout=30_000)
    settle(win)
    state.toggle_star(4)
    settle(win)
    (tmp_path / "gone.png").unlink()
    win.tray.selectAll()
    win.tray.startDrag(Qt.DropAction.CopyAction)
    urls = dragged[-1].urls()
    assert [Path(u.toLocalFile()).name for u in urls] == [f"{Path(kept_title).stem}_sample2.png"]
    settle(win)
    message = win.banner.text()  # not only the status line: something was left out
    assert message.startswith("1 of 2 samples rendered for the drop (full resolution); left out gone.png #5: ")
    assert "gone.png" in message.split("left out gone.png #5: ")[1]

    gone_key = next(key for key, star in state.stars.items() if star.doc.name == "gone.png")
    win.tray.clearSelection()
    state.drag_starred([gone_key])
    assert dragged[-1].urls() == []
    settle(win)
    assert win.banner.text().startswith("Dragging gone.png #5 failed: ")


def test_a_drag_render_goes_ahead_of_the_exports_waiting(qtbot, make_window, settle, monkeypatch):
    """A drop may be waiting on the drag's render: it runs after the export running now, before
    those queued behind it, which then follow in their order."""
    win = make_window("resaturation")
    settle(win)
    state, submitted = win.state, []
    monkeypatch.setattr(state.worker, "submit", lambda channel, job: submitted.append((channel, job)))
    running, waiting, drag = (lambda: "running"), (lambda: "waiting"), (lambda: "drag")
    state._queue_export(running, "GIF")
    state._queue_export(waiting, "Copy of sample #2")
    state._queue_export(drag, "Dragging sample #5", first=True)
    assert [what for what, _ in state._exports] == ["GIF", "Dragging sample #5", "Copy of sample #2"]
    assert submitted == [("misc", running)]
    state._export_done()
    state._export_done()
    assert submitted == [("misc", running), ("misc", drag), ("misc", waiting)]
    state._export_done()
    assert state._exports == []
    state._queue_export(drag, "Dragging sample #5", first=True)  # none running: at once
    assert submitted[-1] == ("misc", drag)
    state._export_done()


def test_the_window_does_not_open_its_own_dragged_result(qtbot, make_window, settle):
    """A sample dragged from the grid over the window is for other apps: the window refuses it
    (it would open the result as a photo), while a file dragged in from outside is accepted."""

    class Enter:
        def __init__(self, source):
            self._source, self.accepted = source, False
            self._mime = QMimeData()
            self._mime.setUrls([QUrl.fromLocalFile("/tmp/x.png")])

        def source(self):
            return self._source

        def mimeData(self):  # noqa: N802 - Qt's name
            return self._mime

        def acceptProposedAction(self):  # noqa: N802 - Qt's name
            self.accepted = True

    win = make_window("resaturation")
    settle(win)
    ours, theirs = Enter(win.sampleGrid), Enter(None)
    win.dragEnterEvent(ours)
    win.dragEnterEvent(theirs)
    assert not ours.accepted and theirs.accepted


def test_a_status_message_has_the_room_of_the_timing_line(qtbot, make_window, settle):
    """In a narrow window the timing line left a message 130 px: it steps aside while one shows."""
    win = make_window("resaturation")
    settle(win)
    assert win.timingLabel.text() and not win.timingLabel.isHidden()
    win.statusBar().showMessage("Sample #6 of astronaut.jpg rendered for the drop (512x512, full resolution)")
    assert win.timingLabel.isHidden()
    win.statusBar().clearMessage()
    assert not win.timingLabel.isHidden()


def test_a_result_used_as_the_photo_opens_at_full_resolution_and_is_kept(qtbot, make_window, settle, tmp_path,
                                                                          data_home, monkeypatch):
    """Samples > Use result as photo: the current sample's result, as Export writes it, is kept as
    a PNG in the data folder's "results" and opens as the photo (in the gallery's recent files);
    a result that cannot be kept says so and leaves the photo as it was."""
    from cdvae_studio import clipboard

    win = _on_wide_photo(qtbot, make_window, settle, tmp_path, (700, 500), seed=2)
    state = win.state
    state.select_sample(3)
    settle(win)
    grid, ctx = state.grid, state.ctx
    expected = _exported(tmp_path, ctx, grid.codes[3], grid.noise[3], grid.draw.export_settings(), "fourth")
    assert win.useResultAction.isEnabled()
    win.useResultAction.trigger()
    qtbot.waitUntil(lambda: state.ctx.doc.name == "wide_relighting_sample4.png", timeout=60_000)
    settle(win)
    kept = clipboard.results_folder() / "wide_relighting_sample4.png"
    assert kept.parent.name == "results" and kept.is_relative_to(data_home)
    np.testing.assert_array_equal(read_image(kept), expected)
    assert state.image_path == str(kept) and str(kept) in state.w.settings.value("recentFiles", [], type=list)

    monkeypatch.setattr(clipboard, "results_folder", lambda: kept / "not a folder")  # under a file: no folder there
    win.useResultAction.trigger()
    settle(win)
    assert win.banner.text().startswith("Cannot keep sample #1 of wide_relighting_sample4.png as the photo: ")
    assert state.ctx.doc.name == "wide_relighting_sample4.png"


def test_free_names_number_the_taken_ones(tmp_path):
    (tmp_path / "cat_sample3.png").write_bytes(b"x")
    assert clipboard_free_path(tmp_path, "cat_sample3.png").name == "cat_sample3-2.png"
    assert clipboard_free_path(tmp_path, "cat_sample3.png", taken=[tmp_path / "cat_sample3-2.png"]).name == \
        "cat_sample3-3.png"
    assert clipboard_free_path(tmp_path, "dog.png") == tmp_path / "dog.png"

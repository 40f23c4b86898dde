"""The Time bar's preview: the frame under the pointer (or under the dragged handle) shows over
the track without opening it; a frame seen before shows at once; leaving the track hides it."""

from __future__ import annotations

import os
import time as clock

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPoint, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from cdvae_core.data.video_frames import frames_at
from cdvae_studio.images import resize_rgb
from cdvae_studio.widgets.video_time import PREVIEW_SIDE


def _open_in_motion(qtbot, make_window, settle, video):
    """A motion window showing ``video``'s first frame -> (window, its Time bar, video)."""
    win = make_window("motion")
    settle(win)
    win.state.open_paths([str(video)])
    qtbot.waitUntil(lambda: win.state.ctx is not None and win.state.ctx.doc.name == video.name, timeout=30_000)
    settle(win)
    return win, win.imagePanel.timeBar, video


def _open_video(qtbot, make_window, settle, tmp_path, pan_video, frames: int = 40):
    video = tmp_path / "pan.avi"
    pan_video(video, frames)  # 10 fps
    return _open_in_motion(qtbot, make_window, settle, video)


def _hover(bar, index: int) -> None:
    QTest.mouseMove(bar.slider, QPoint(bar.x_of(index), bar.slider.height() // 2))


def test_pointing_at_the_track_previews_that_frame_without_opening_it(qtbot, make_window, settle, tmp_path,
                                                                       pan_video):
    win, bar, video = _open_video(qtbot, make_window, settle, tmp_path, pan_video)
    doc_key = win.state.ctx.doc.key
    for index in (25, 7):
        assert bar.index_at(bar.x_of(index)) == index  # the place drawn for a frame points back at it
        _hover(bar, index)
        assert bar.previewed() == index and bar.preview.caption.text() == f"{index / 10:.2f} s"
        qtbot.waitUntil(lambda: bar.preview.shown is not None, timeout=10_000)
        expected = resize_rgb(frames_at(video, index / 10, seconds=None)[0], PREVIEW_SIDE)
        np.testing.assert_array_equal(bar.preview.shown, expected)
    settle(win)
    assert win.state.ctx.doc.key == doc_key and bar.slider.value() == 0  # nothing was opened
    _hover(bar, 25)  # seen before: shown at once, without a read
    assert bar.preview.shown is not None and bar.previewed() == 25
    QApplication.sendEvent(bar.slider, QEvent(QEvent.Type.Leave))
    assert bar.previewed() is None and not bar.preview.isVisible()
    # back on the track at a frame seen before: shown at once too (the kept frame used to arrive
    # before the hidden preview was shown again, was dropped, and "reading..." stayed for good)
    _hover(bar, 7)
    assert bar.previewed() == 7
    np.testing.assert_array_equal(bar.preview.shown, resize_rgb(frames_at(video, 0.7, seconds=None)[0], PREVIEW_SIDE))


def test_the_dragged_handle_previews_its_frame_and_the_release_opens_it(qtbot, make_window, settle, tmp_path,
                                                                         pan_video):
    win, bar, video = _open_video(qtbot, make_window, settle, tmp_path, pan_video)
    slider = bar.slider
    middle = slider.height() // 2
    QTest.mousePress(slider, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, QPoint(bar.x_of(0), middle))
    assert slider.isSliderDown()
    QTest.mouseMove(slider, QPoint(bar.x_of(30), middle))
    qtbot.waitUntil(lambda: slider.value() == 30, timeout=5_000)
    assert bar.previewed() == 30
    qtbot.waitUntil(lambda: bar.preview.shown is not None, timeout=10_000)
    np.testing.assert_array_equal(bar.preview.shown, resize_rgb(frames_at(video, 3.0, seconds=None)[0], PREVIEW_SIDE))
    assert win.state.ctx.doc.name == "pan.avi" and "#t=" not in str(win.state.image_path)  # not opened yet
    QTest.mouseRelease(slider, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, QPoint(bar.x_of(30), middle))
    assert bar.previewed() is None
    qtbot.waitUntil(lambda: str(win.state.image_path).endswith("#t=3"), timeout=30_000)
    settle(win)


def test_a_click_on_the_track_opens_the_frame_its_preview_showed(qtbot, make_window, settle, tmp_path, pan_video):
    """QSlider's own click paged one second towards the pointer: a click where the preview said
    1.96 s opened 1.00 s."""
    win, bar, video = _open_video(qtbot, make_window, settle, tmp_path, pan_video)
    slider = bar.slider
    point = QPoint(bar.x_of(27), slider.height() // 2)
    QTest.mouseMove(slider, point)
    assert bar.previewed() == 27
    QTest.mouseClick(slider, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, point)
    assert slider.value() == 27 and not slider.isSliderDown() and bar.previewed() is None
    qtbot.waitUntil(lambda: str(win.state.image_path).endswith("#t=2.7"), timeout=30_000)
    settle(win)
    # a press on the handle still starts a drag, which opens nothing until it ends
    QTest.mousePress(slider, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, point)
    assert slider.isSliderDown()
    QTest.mouseRelease(slider, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, point)


def test_page_down_goes_a_second_on_and_page_up_a_second_back(qtbot, make_window, settle, tmp_path, pan_video):
    """QSlider's own keys went the other way: Page Down from 0.07 s to 0.00 s, Page Up to 1.00 s."""
    win, bar, _ = _open_video(qtbot, make_window, settle, tmp_path, pan_video)
    slider = bar.slider
    slider.setFocus()
    qtbot.keyClick(slider, Qt.Key.Key_Right)  # the arrows as before: one frame on
    assert slider.value() == 1
    qtbot.keyClick(slider, Qt.Key.Key_PageDown)
    assert slider.value() == 11  # 10 fps: a second on
    qtbot.keyClick(slider, Qt.Key.Key_PageUp)
    assert slider.value() == 1
    qtbot.waitUntil(lambda: str(win.state.image_path).endswith("#t=0.1"), timeout=30_000)
    settle(win)


def test_clicking_the_shown_videos_gallery_entry_keeps_its_frame(qtbot, make_window, settle, tmp_path, pan_video):
    """The lit entry of a video shown at 1 s reopened it at 0 s; and the gallery named two
    videos "square.mp4" and "square2.mp4" alike ("sq…p4"): entries are named by their stem."""
    win, bar, video = _open_video(qtbot, make_window, settle, tmp_path, pan_video)
    bar.slider.setValue(10)  # 1 s
    qtbot.waitUntil(lambda: str(win.state.image_path).endswith("#t=1"), timeout=30_000)
    settle(win)
    gallery = win.imagePanel.gallery
    row = next(r for r in range(gallery.count()) if gallery.item(r).data(Qt.ItemDataRole.UserRole) == str(video))
    assert gallery.item(row).text() == "pan" and gallery.item(row).isSelected()
    rect = gallery.visualItemRect(gallery.item(row))
    QTest.mouseClick(gallery.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, rect.center())
    settle(win)
    assert str(win.state.image_path).endswith("#t=1") and bar.slider.value() == 10


def test_a_frame_that_cannot_be_read_says_so_in_the_preview(qtbot, make_window, settle, tmp_path, pan_video):
    win, bar, video = _open_video(qtbot, make_window, settle, tmp_path, pan_video)
    video.write_bytes(b"RIFF" + bytes(64))  # the file went bad after it was opened
    _hover(bar, 12)
    qtbot.waitUntil(lambda: "cannot read this frame" in bar.preview.picture.text(), timeout=10_000)
    assert bar.preview.shown is None and bar.preview.caption.text() == "1.20 s"
    settle(win)
    assert win.state.ctx.doc.name == "pan.avi"  # the document shown stays


def _waiting_reads(real):
    """A stand-in for frames_at that records each read's time and how it ended, and whose first
    read decodes nothing until its ``stop`` comes true (10 s at most): a frame deep in a video
    OpenCV cannot seek in, decoded from the start. -> (the stand-in, the records [time, outcome])."""
    reads: list[list] = []

    def frames_at(path, time, seconds=1.0, stop=None):
        first = not reads
        reads.append([time, "running"])

        def waiting_stop() -> bool:
            deadline = clock.monotonic() + 10.0
            while first and not stop() and clock.monotonic() < deadline:
                clock.sleep(0.01)
            return stop()

        try:
            answer = real(path, time, seconds, stop=waiting_stop)
        except Exception as exc:
            reads[-1][1] = type(exc).__name__
            raise
        reads[-1][1] = "read"
        return answer

    return frames_at, reads


def test_a_frames_read_stops_once_a_newer_one_replaces_it(qtbot, make_window, settle, tmp_path, pan_video,
                                                           monkeypatch, capfd):
    """A frame deep in a video OpenCV cannot seek in (a browser recorder's WebM) is decoded from
    the start: 15-20 s for one at 117 s of 720p. The preview the pointer has moved on from, and
    the frame opened before another was chosen, used to decode to the end while the newer request
    waited behind it; each now stops at the next frame (``LatestWorker.superseded``), silently."""
    from cdvae_core.data import video_frames as video_module
    from cdvae_studio import thumbnails

    win, bar, video = _open_video(qtbot, make_window, settle, tmp_path, pan_video)
    capfd.readouterr()
    stand_in, reads = _waiting_reads(thumbnails.frames_at)
    monkeypatch.setattr(thumbnails, "frames_at", stand_in)
    _hover(bar, 30)
    qtbot.waitUntil(lambda: len(reads) == 1, timeout=10_000)
    _hover(bar, 10)
    qtbot.waitUntil(lambda: bar.preview.shown is not None, timeout=10_000)
    assert reads == [[3.0, "Stopped"], [1.0, "read"]]
    np.testing.assert_array_equal(bar.preview.shown, resize_rgb(frames_at(video, 1.0, seconds=None)[0], PREVIEW_SIDE))
    assert "cannot read" not in bar.preview.picture.text()
    QApplication.sendEvent(bar.slider, QEvent(QEvent.Type.Leave))

    stand_in, reads = _waiting_reads(video_module.frames_at)
    monkeypatch.setattr(video_module, "frames_at", stand_in)  # the Studio's images module imports it per call
    win.state.choose_frame(30)
    qtbot.waitUntil(lambda: len(reads) == 1, timeout=10_000)
    win.state.choose_frame(12)
    qtbot.waitUntil(lambda: str(win.state.image_path).endswith("#t=1.2"), timeout=30_000)
    settle(win)
    assert reads == [[3.0, "Stopped"], [1.2, "read"]]
    assert win.state.image.clip.index == 12 and bar.slider.value() == 12
    assert "Cannot open" not in win.banner.text() and "stopped" not in win.statusBar().currentMessage()
    assert "Traceback" not in capfd.readouterr().err


def _live_webm(path, count: int = 50):
    """A WebM muxed live, as a browser's recorder leaves it: no length, so OpenCV cannot seek in
    it. 25 fps; frame i shows a bar at x = 3 i over grey, so every frame differs."""
    import av

    with av.open(str(path), "w", format="webm", options={"live": "1"}) as container:
        stream = container.add_stream("libvpx", rate=25)
        stream.width, stream.height, stream.pix_fmt = 160, 96, "yuv420p"
        for i in range(count):
            rgb = np.full((96, 160, 3), 90, np.uint8)
            rgb[:, 3 * i:3 * i + 6] = (250, 200, 40)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
        container.mux(stream.encode(None))


def _open_live(qtbot, make_window, settle, tmp_path):
    _live_webm(tmp_path / "live.webm")
    return _open_in_motion(qtbot, make_window, settle, tmp_path / "live.webm")


def test_a_video_that_cannot_seek_is_previewed_from_its_storyboard(qtbot, make_window, settle, tmp_path, monkeypatch):
    """A recorder's WebM: each preview deep in it was decoded from the start (15-20 s at 117 s of
    720p). One pass keeps a picture per 1/STORYBOARD_COUNT of it, and a preview shows the nearest
    one without reading the file again; the next frame chosen keeps the storyboard, a photo drops it
    and the video's kept readers."""
    from cdvae_core.data.video_frames import can_seek, storyboard
    from cdvae_studio import thumbnails

    win, bar, video = _open_live(qtbot, make_window, settle, tmp_path)
    state = win.state
    assert not can_seek(video) and not state.image.clip.seekable
    board = state.storyboard
    assert board is not None and board.path == str(video)
    qtbot.waitUntil(lambda: board.complete, timeout=30_000)
    monkeypatch.setattr(thumbnails, "frames_at", lambda *a, **k: pytest.fail("a preview read the video"))
    reference = dict(storyboard(video, thumbnails.STORYBOARD_COUNT, PREVIEW_SIDE))
    assert len(reference) == 50  # fewer frames than pictures: every frame
    for index in (37, 4):
        _hover(bar, index)
        assert bar.previewed() == index  # at once: the pass has been there
        np.testing.assert_array_equal(bar.preview.shown, reference[min(reference, key=lambda t: abs(t - index / 25))])
    QApplication.sendEvent(bar.slider, QEvent(QEvent.Type.Leave))
    state.choose_frame(20)
    qtbot.waitUntil(lambda: str(state.image_path).endswith("#t=0.8"), timeout=30_000)
    settle(win)
    assert state.storyboard is board  # the same video: no second pass
    import cv2

    cv2.imwrite(str(tmp_path / "photo.png"), np.full((60, 80, 3), 140, np.uint8))
    from cdvae_core.data import video_frames as video_module

    assert any(r.key[0] == os.path.abspath(video) for r in video_module._KEPT._readers)  # kept for stepping
    state.open_paths([str(tmp_path / "photo.png")])
    qtbot.waitUntil(lambda: state.ctx.doc.name == "photo.png", timeout=30_000)
    settle(win)
    assert state.storyboard is None
    # and so does the video's kept readers: a reader's ring can hold a second of full-size frames
    assert not any(r.key[0] == os.path.abspath(video) for r in video_module._KEPT._readers)


def test_a_preview_ahead_of_the_pass_waits_for_it(qtbot, make_window, settle, tmp_path, monkeypatch):
    """Pointed at a time the pass has not reached, the preview says "reading..." and shows the
    picture once the pass gets there; a pass that fails leaves the previews to frame reads."""
    import threading

    from cdvae_core.data import video_frames as video_module
    from cdvae_core.data.errors import SkipItem
    from cdvae_studio import thumbnails

    gate = threading.Event()
    real = video_module.storyboard

    def gated(path, count, side, stop=None):
        for seconds, picture in real(path, count, side, stop):
            if seconds > 0.5:
                while not gate.is_set():  # the pass is slow past 0.5 s (stopped when told)
                    if stop is not None and stop():
                        raise video_module.Stopped
                    clock.sleep(0.01)
            yield seconds, picture

    monkeypatch.setattr(thumbnails, "storyboard", gated)
    win, bar, video = _open_live(qtbot, make_window, settle, tmp_path)
    board = win.state.storyboard
    qtbot.waitUntil(lambda: board.near(0.4) is not None, timeout=30_000)
    _hover(bar, 40)  # 1.6 s: not reached
    assert bar.previewed() == 40 and bar.preview.shown is None and bar.preview.picture.text() == "reading..."
    gate.set()
    qtbot.waitUntil(lambda: bar.preview.shown is not None, timeout=30_000)
    np.testing.assert_array_equal(bar.preview.shown, board.near(1.6))
    QApplication.sendEvent(bar.slider, QEvent(QEvent.Type.Leave))

    def broken(path, count, side, stop=None):
        raise SkipItem("video will not open", "live.webm")
        yield  # a generator, as the real one

    monkeypatch.setattr(thumbnails, "storyboard", broken)
    win.state.storyboard = None
    win.state._start_storyboard(str(video), win.state.image.clip)
    qtbot.waitUntil(lambda: win.state.storyboard is None, timeout=10_000)
    _hover(bar, 10)  # read as any video's frame is
    qtbot.waitUntil(lambda: bar.preview.shown is not None, timeout=30_000)
    np.testing.assert_array_equal(bar.preview.shown, resize_rgb(frames_at(video, 0.4, seconds=None)[0], PREVIEW_SIDE))


def test_the_track_has_the_panels_width_and_its_preview_stays_on_the_screen(qtbot, make_window, settle, tmp_path,
                                                                            pan_video):
    """Beside "Time" and "0.00 s of 30.00 s" the track of a 1200-px window's photo panel was 35 px;
    and the first frames' previews, centred on the pointer, hung off the screen's left edge."""
    win, bar, video = _open_video(qtbot, make_window, settle, tmp_path, pan_video)
    assert bar.slider.width() == bar.width()
    win.move(bar.screen().availableGeometry().topLeft())
    _hover(bar, 0)
    qtbot.waitUntil(lambda: bar.preview.shown is not None, timeout=10_000)
    assert bar.preview.x() >= bar.screen().availableGeometry().left()

"""The Time bar's preview: the frame under the pointer (or under the dragged handle) shows over
the track without opening it; a frame seen before shows at once; leaving the track hides it."""

from __future__ import annotations

import time as clock

import numpy as np
from PySide6.QtCore import QEvent, QPoint, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from cdvae_core.data.video import frames_at
from cdvae_studio.images import resize_rgb
from cdvae_studio.widgets.video_time import PREVIEW_SIDE


def _open_video(qtbot, make_window, settle, tmp_path, pan_video, frames: int = 40):
    video = tmp_path / "pan.avi"
    pan_video(video, frames)  # 10 fps
    win = make_window("motion")
    settle(win)
    win.state.open_paths([str(video)])
    qtbot.waitUntil(lambda: win.state.ctx is not None and win.state.ctx.doc.name == "pan.avi", timeout=30_000)
    settle(win)
    return win, win.imagePanel.timeBar, video


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
    from cdvae_core.data import video as video_module
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

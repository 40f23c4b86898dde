"""A video's Time bar: which frame of the video the document is, with a preview of the frame under
the pointer (and under the handle while it is dragged), as video players show one."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QEvent, QObject, QPoint, QRect, Qt, Signal
from PySide6.QtWidgets import (QFrame, QHBoxLayout, QLabel, QSlider, QStyle, QStyleOptionSlider, QVBoxLayout,
                               QWidget)

from .lpp_scatter import rgb_pixmap

PREVIEW_SIDE = 160  # px, the longer side of the hover preview's picture


class FramePreview(QFrame):
    """A small floating picture of one frame with its time, over the Time bar (a tooltip window:
    it takes no focus and no clicks, and the pointer passes through it: in a real X11 window it
    grew over the pointer when its picture came, the track got a Leave and hid it again, so
    it never stayed up; offscreen there is no pointer and the tests could not see it)."""

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent, Qt.WindowType.ToolTip | Qt.WindowType.WindowTransparentForInput)
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.setObjectName("videoTimePreview")
        self.setFrameShape(QFrame.Shape.Box)
        self.picture = QLabel()
        self.picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.picture.setMinimumSize(PREVIEW_SIDE, PREVIEW_SIDE * 9 // 16)  # a frame on its way keeps the size
        self.caption = QLabel()
        self.caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(3, 3, 3, 3)
        layout.setSpacing(2)
        layout.addWidget(self.picture)
        layout.addWidget(self.caption)
        self.shown: np.ndarray | None = None  # the RGB picture shown (None while it is read)

    def set_frame(self, time_text: str, rgb: np.ndarray | None, problem: str = "") -> None:
        """Show ``rgb`` (or nothing while it is read, or ``problem``) captioned with its time."""
        self.shown = rgb
        if rgb is None:
            self.picture.clear()
            self.picture.setText(problem or "reading...")
        else:
            self.picture.setPixmap(rgb_pixmap(rgb, PREVIEW_SIDE))
        self.caption.setText(time_text)


class VideoTimeBar(QWidget):
    """Which frame of a video the document is: a slider over its frames and the time it stands
    for. Hidden for photos.

    Signals: frameChosen(int index) when a frame is chosen: on release of a drag (each frame is
    read at full size and made a new document, a tenth of a second and more at 1080p: too slow to
    follow the drag), or at once from the keys (arrows: one frame, Page Down / Up: a second on /
    back) and
    a left click on the track, which opens the frame under the pointer (the one its preview
    showed; QSlider's own click paged a second towards it). previewWanted(int index): the pointer is over that frame's place on the
    track, or the drag holds the handle there; answer with ``show_frame``.
    """

    frameChosen = Signal(int)
    previewWanted = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setObjectName("videoTimeSlider")
        self.slider.setToolTip("The video's frame the model starts from; for motion, the frame a second "
                               "later is its truth. Point at the track to preview a frame; drag and let go, "
                               "click, or use the arrow and Page keys to open one")
        self.slider.setMouseTracking(True)  # hover moves reach the event filter
        self.slider.installEventFilter(self)
        self.label = QLabel()
        self.label.setObjectName("videoTimeLabel")
        self.preview = FramePreview(self)
        self._clip = None  # images.Clip of the video shown
        self._previewed: int | None = None  # the frame the preview is for, while it shows
        # the track has the panel's whole width, the time under it: beside "Time" and "0.00 s of
        # 30.00 s" in the photo panel of a 1200-px window it was 35 px, a pixel per second of video
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.slider)
        row = QHBoxLayout()
        row.addWidget(QLabel("Time"))
        row.addStretch(1)
        row.addWidget(self.label)
        layout.addLayout(row)
        self.slider.valueChanged.connect(self._moved)
        self.slider.sliderReleased.connect(self._released)
        self.hide()

    def set_clip(self, clip) -> None:
        """Show the frames of ``clip`` (images.Clip) at its still, or hide for None (a photo)."""
        self.hide_preview()
        self.setVisible(clip is not None)
        if clip is None:
            return
        self._clip = clip
        self.slider.blockSignals(True)
        self.slider.setRange(0, max(0, clip.frames - 1))
        self.slider.setPageStep(max(1, round(clip.fps)))
        self.slider.setValue(clip.index)
        self.slider.blockSignals(False)
        self._show_time(clip.index)

    def _show_time(self, index: int) -> None:
        self.label.setText(f"{self._clip.time(index):.2f} s of {self._clip.duration:.2f} s")

    def _moved(self, index: int) -> None:
        self._show_time(index)
        if self.slider.isSliderDown():
            self._preview(index)
        else:
            self.frameChosen.emit(index)

    def _released(self) -> None:
        self.hide_preview()
        self.frameChosen.emit(self.slider.value())

    # the preview -----------------------------------------------------------------------------
    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.slider and self._clip is not None:
            if event.type() == QEvent.Type.MouseMove and not self.slider.isSliderDown():
                self._preview(self.index_at(int(event.position().x())))
            elif (event.type() == QEvent.Type.MouseButtonPress and event.button() == Qt.MouseButton.LeftButton
                  and not self._on_handle(event.position().toPoint())):
                self.hide_preview()
                self.slider.setValue(self.index_at(int(event.position().x())))  # opens it: not a drag
                return True
            elif event.type() == QEvent.Type.KeyPress and event.key() in (Qt.Key.Key_PageDown, Qt.Key.Key_PageUp):
                # Page Down a second on, Page Up a second back, as video players and documents
                # have it (QSlider's own: Page Up added a page, Page Down went back)
                ahead = event.key() == Qt.Key.Key_PageDown
                self.slider.triggerAction(QSlider.SliderAction.SliderPageStepAdd if ahead
                                          else QSlider.SliderAction.SliderPageStepSub)
                return True
            elif event.type() in (QEvent.Type.Leave, QEvent.Type.Hide):
                self.hide_preview()
        return False

    def _on_handle(self, point: QPoint) -> bool:
        """Whether ``point`` (slider coordinates) is on the handle, where a press starts a drag."""
        option = QStyleOptionSlider()
        self.slider.initStyleOption(option)
        handle = self.slider.style().subControlRect(QStyle.ComplexControl.CC_Slider, option,
                                                    QStyle.SubControl.SC_SliderHandle, self.slider)
        return handle.contains(point)

    def _track(self) -> tuple[int, int]:
        """(the handle's length, the span its left edge travels), in slider pixels."""
        handle = self.slider.style().pixelMetric(QStyle.PixelMetric.PM_SliderLength, None, self.slider)
        return handle, max(1, self.slider.width() - handle)

    def index_at(self, x: int) -> int:
        """The frame whose place on the track is at ``x`` (slider coordinates)."""
        handle, span = self._track()
        return QStyle.sliderValueFromPosition(self.slider.minimum(), self.slider.maximum(), x - handle // 2, span)

    def x_of(self, index: int) -> int:
        """The centre of frame ``index``'s place on the track (slider coordinates)."""
        handle, span = self._track()
        return QStyle.sliderPositionFromValue(self.slider.minimum(), self.slider.maximum(), index, span) + handle // 2

    def _preview(self, index: int) -> None:
        """Show the preview over frame ``index``'s place and ask for its picture if it is new."""
        new = index != self._previewed
        if new:
            self._previewed = index
            self.preview.set_frame(f"{self._clip.time(index):.2f} s", None)
        self._place_preview(index)
        if new:
            # asked after showing: a kept frame comes back within the emit, and show_frame drops
            # pictures for a hidden preview (one left there said "reading..." for good)
            self.previewWanted.emit(index)

    def _place_preview(self, index: int) -> None:
        """Over frame ``index``'s place on the track, kept on the screen (the track starts at the
        window's left edge: a window there cut the early frames' previews in half)."""
        size = self.preview.sizeHint()
        centre = self.slider.mapToGlobal(QPoint(self.x_of(index), 0))
        x, y = centre.x() - size.width() // 2, centre.y() - size.height() - 4
        screen = self.screen()
        if screen is not None:
            area = screen.availableGeometry()
            x = max(area.left(), min(x, area.right() + 1 - size.width()))
        # place and size at once: resized first (adjustSize), it grew downwards over the track
        self.preview.setGeometry(QRect(QPoint(x, y), size))
        self.preview.show()

    def show_frame(self, index: int, rgb: np.ndarray | None, problem: str = "") -> None:
        """The picture of frame ``index`` (RGB uint8 (h, w, 3)), or why there is none: shown where
        the preview still shows that frame, dropped otherwise."""
        if index == self._previewed and self.preview.isVisible():
            self.preview.set_frame(f"{self._clip.time(index):.2f} s", rgb, problem)
            self._place_preview(index)  # its size may have changed

    def previewed(self) -> int | None:
        """The frame the preview shows, None while it is hidden."""
        return self._previewed if self.preview.isVisible() else None

    def hide_preview(self) -> None:
        self.preview.hide()
        self._previewed = None

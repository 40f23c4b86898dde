"""``flowView``: the current motion sample as arrows over the frame, or as the colour wheel.

Flow arrives as the model's (2, 32, 32) field in model pixels (see docs/architecture.md); the
view upsamples it to the frame, samples one arrow every ``density`` frame pixels and draws all
shafts and heads as a single line item (pyqtgraph ``connect="pairs"``), reused between updates.
Its Play box (``flowPlayCheck``) shows the motion itself instead: the frame moved along the
flow, out to one second and back, over and over (``gif.motion_loop``, a seamless loop of
``gif.FRAMES`` at ``gif.FPS``), while the tab is on screen. It plays the edge-aware flow the
Preview composes (so its far end is the Preview's picture) once the preview has landed.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt, QTimer
from PySide6.QtWidgets import (QCheckBox, QDoubleSpinBox, QHBoxLayout, QLabel, QSizePolicy, QSpinBox, QVBoxLayout,
                               QWidget)

from cdvae_core.postprocess.flowviz import color_scale, flow_to_pixels, scale_to_pixels
from cdvae_core.tasks.motion import move_frame

from ..gif import FPS, FRAMES, loop_positions
from ..images import resize_layer
from ..render import flow_to_rgb

HEAD = 0.3  # arrow head length as a share of the shaft
HEAD_ANGLE = np.deg2rad(25.0)
IDLE_NOTE = "Flow shows the motion task's samples: arrows over the frame, its colour wheel and Play. Choose Task: motion."


def _grid_points(size: int, step: int) -> np.ndarray:
    """Pixel indices every ``step`` along a side of ``size`` pixels, with equal margins at both ends."""
    count = max(1, size // step)
    start = (size - 1 - (count - 1) * step) // 2
    return start + step * np.arange(count)


def arrow_segments(flow: np.ndarray, step: int, scale: float, min_len: float = 2.0) -> np.ndarray:
    """Flow (2, H, W) in frame pixels -> segment end points (M, 2) for connect="pairs".

    One arrow per ``step`` pixels along ``scale * flow``, centred on its grid point; the grid is
    centred in the frame, so arrows no longer than the spacing stay inside it, and longer ones
    are shortened about their centre where they would cross the frame's edge. Arrows shorter
    than ``min_len`` pixels are dropped (still regions stay clean). Each arrow is three segments.
    """
    _, h, w = flow.shape
    ys, xs = np.meshgrid(_grid_points(h, step), _grid_points(w, step), indexing="ij")
    dx = flow[0, ys, xs] * scale
    dy = flow[1, ys, xs] * scale
    keep = np.hypot(dx, dy) >= min_len
    cx, cy = xs[keep].astype(np.float32) + 0.5, ys[keep].astype(np.float32) + 0.5  # pixel centres
    dx, dy = dx[keep], dy[keep]
    # the most each half may reach along x and y before an end leaves the frame
    room = np.minimum(np.minimum(cx, w - cx) / np.maximum(np.abs(dx) / 2, 1e-6),
                      np.minimum(cy, h - cy) / np.maximum(np.abs(dy) / 2, 1e-6))
    shrink = np.minimum(1.0, room)
    dx, dy = dx * shrink, dy * shrink
    x0, y0, x1, y1 = cx - dx / 2, cy - dy / 2, cx + dx / 2, cy + dy / 2
    ang = np.arctan2(dy, dx)
    length = np.hypot(dx, dy) * HEAD
    heads = []
    for sign in (1.0, -1.0):
        a = ang + np.pi - sign * HEAD_ANGLE
        heads.append((x1 + length * np.cos(a), y1 + length * np.sin(a)))
    n = x0.size
    pts = np.empty((n, 6, 2), np.float32)
    pts[:, 0] = np.stack([x0, y0], 1)
    pts[:, 1] = np.stack([x1, y1], 1)
    pts[:, 2] = np.stack([x1, y1], 1)
    pts[:, 3] = np.stack(heads[0], 1)
    pts[:, 4] = np.stack([x1, y1], 1)
    pts[:, 5] = np.stack(heads[1], 1)
    return pts.reshape(-1, 2)


class FlowView(QWidget):
    """Arrows (density and scale settable) or colour wheel over the frame; follows the current sample."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("flowView")
        self.plot = pg.PlotWidget()
        self.plot.setAspectLocked(True)
        self.plot.invertY(True)
        self.plot.hideAxis("left")
        self.plot.hideAxis("bottom")
        self.plot.setMenuEnabled(False)
        self.image_item = pg.ImageItem(axisOrder="row-major")
        self.arrows = pg.PlotDataItem(pen=pg.mkPen((255, 235, 60), width=1.5), connect="pairs")
        # the true flow (a video's first frame to the frame a second on), in another colour
        self.truth_arrows = pg.PlotDataItem(pen=pg.mkPen((60, 220, 255), width=1.5), connect="pairs")
        self.plot.addItem(self.image_item)
        self.plot.addItem(self.truth_arrows)
        self.plot.addItem(self.arrows)
        # what the tab is for, while the task has no flow: a black pane with live controls said nothing
        self.idle_note = QLabel(IDLE_NOTE, self.plot)
        self.idle_note.setObjectName("flowIdleNote")
        self.idle_note.setWordWrap(True)
        self.idle_note.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.idle_note.setStyleSheet("color: #bbb; background: transparent;")
        self.idle_note.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)

        self.density = QSpinBox()
        self.density.setRange(4, 64)
        self.density.setValue(16)
        self.density.setSuffix(" px")
        self.density.setToolTip("One arrow every N frame pixels")
        self.scale = QDoubleSpinBox()
        self.scale.setRange(0.1, 20.0)
        self.scale.setSingleStep(0.25)
        self.scale.setValue(1.0)
        self.scale.setSuffix("x")
        self.scale.setToolTip("Arrow length: at 1x the longest arrow spans the arrow spacing, so arrows never "
                              "pile up whatever the flow's size (the status line gives true speeds); "
                              "each arrow is centred on its point, and longer ones are cut at the frame's edge")
        self.wheel = QCheckBox("Colour wheel")
        self.wheel.setToolTip("Show the flow as colour (hue: direction, saturation: speed)")
        self.truth = QCheckBox("Truth")
        self.truth.setObjectName("flowTruthCheck")
        self.truth.setToolTip("Also draw the true flow (blue arrows), from the video's first frame to the frame a "
                              "second later, on the same scale as the sample's (yellow)")
        self.truth.setVisible(False)  # only a video's first frame has one
        self.play = QCheckBox("Play")
        self.play.setObjectName("flowPlayCheck")
        self.play.setToolTip("Play the motion: the frame moved along the sample's flow, out to one second and back, "
                             "over and over (arrows hidden meanwhile)")
        # the frame moved by t seconds of flow, t stepping out and back through one loop
        self._positions = loop_positions(FRAMES)
        self._tick = 0
        self._timer = QTimer(self)
        self._timer.setInterval(round(1000 / FPS))
        self._timer.timeout.connect(self._advance)
        self.info = QLabel("")
        self.info.setObjectName("flowInfo")
        # a line of its own under the controls, which never widens the pane: beside them the truth's
        # figures made the row wider than the right pane (the splitter took the width from the
        # grid), and wrapped there they took three lines and lost their last letters at the edge
        self.info.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.info.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        controls = QHBoxLayout()
        controls.addWidget(QLabel("Density"))
        controls.addWidget(self.density)
        controls.addWidget(QLabel("Scale"))
        controls.addWidget(self.scale)
        controls.addWidget(self.wheel)
        controls.addWidget(self.play)
        controls.addStretch(1)
        # Truth on the figures' line: in the controls row it held the right pane 61 px wider while a
        # frame had a truth, and every pane moved when the Time bar stepped past the last second
        figures = QHBoxLayout()
        figures.addWidget(self.truth)
        figures.addWidget(self.info, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot, 1)
        layout.addLayout(controls)
        layout.addLayout(figures)
        for w in (self.density, self.scale):
            w.valueChanged.connect(self._redraw)
        self.wheel.toggled.connect(self._redraw)
        self.truth.toggled.connect(self._redraw)
        self.play.toggled.connect(self._play_toggled)
        self._frame: np.ndarray | None = None
        self._flow: np.ndarray | None = None
        self._true_flow: np.ndarray | None = None
        self._shape: tuple[int, int] = (0, 0)
        self._full: np.ndarray | None = None  # (2, H, W) the edge-aware flow in frame pixels per second
        self._shift: np.ndarray | None = None  # (2, H, W) the flow played, in frame pixels per second

    def set_frame(self, frame: np.ndarray | None) -> None:
        """The conditioning frame, RGB uint8 (H, W, 3), or None to clear."""
        self._frame = frame
        self._flow = self._full = None
        self._redraw()

    def set_flow(self, flow32: np.ndarray | None, full: np.ndarray | None = None) -> None:
        """The current sample's flow (2, 32, 32) in model pixels, or None; ``full``: the same flow
        upsampled edge-aware to the frame's size (2, H, W), as the Preview composes it, which
        Play moves the frame along (without it, the arrows' bilinear flow)."""
        self._flow = None if flow32 is None else np.asarray(flow32, np.float32)
        self._full = None if full is None or self._flow is None else flow_to_pixels(np.asarray(full, np.float32))
        self._redraw()

    def set_truth(self, flow32: np.ndarray | None) -> None:
        """The frame's true flow (2, 32, 32) in model pixels (a video's), or None: the Truth box
        shows only while there is one."""
        self._true_flow = None if flow32 is None else np.asarray(flow32, np.float32)
        self.truth.setVisible(self._true_flow is not None)
        self._redraw()

    def truth_points(self) -> np.ndarray:
        """The true flow's arrow segments currently drawn, (M, 2)."""
        return self._points(self.truth_arrows)

    def segment_points(self) -> np.ndarray:
        """The arrow segments currently drawn, (M, 2) (for tests and exports)."""
        return self._points(self.arrows)

    @staticmethod
    def _points(item: pg.PlotDataItem) -> np.ndarray:
        x, y = item.getData()
        return np.zeros((0, 2), np.float32) if x is None else np.stack([x, y], 1)

    def playing(self) -> bool:
        """Whether the view shows the motion playing: Play ticked, a frame and its flow, no colour wheel."""
        return self.play.isChecked() and not self.wheel.isChecked() and self._frame is not None \
            and self._flow is not None

    def _play_toggled(self) -> None:
        self._tick = 0  # each play starts from the still frame
        self._redraw()

    def _advance(self) -> None:
        self._tick = (self._tick + 1) % len(self._positions)
        self._show_moved()

    def _show_moved(self) -> None:
        """The frame moved by the loop's current fraction of a second of the shown flow."""
        if self._frame is None or self._shift is None:
            return
        t = float(self._positions[self._tick])
        self.image_item.setImage(move_frame(self._frame, self._shift * t), autoLevels=False, levels=(0, 255))

    def _sync_timer(self) -> None:
        """The loop runs only while it plays on screen (a hidden tab costs nothing)."""
        if self.playing() and self.isVisible():
            if not self._timer.isActive():
                self._timer.start()
        else:
            self._timer.stop()

    def showEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        self._sync_timer()

    def hideEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().hideEvent(event)
        self._sync_timer()

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        self.idle_note.setGeometry(self.plot.rect().adjusted(24, 0, -24, 0))

    def _redraw(self) -> None:
        self._shift = None
        idle = self._frame is None
        self.idle_note.setVisible(idle)
        for control in (self.density, self.scale, self.wheel):
            control.setEnabled(not idle)
        self.play.setEnabled(not idle and not self.wheel.isChecked())  # the wheel shows the flow, not the frame
        self.truth_arrows.setData([], [])
        if idle:
            self.image_item.clear()
            self.arrows.setData([], [])
            self.info.setText("")
            self._sync_timer()
            return
        h, w = self._frame.shape[:2]
        if self._flow is None:
            self.image_item.setImage(self._frame, autoLevels=False, levels=(0, 255))
            self.arrows.setData([], [])
        else:
            up = self._frame_pixels(self._flow, w, h)
            true = self._frame_pixels(self._true_flow, w, h) if self.truth.isChecked() and self._true_flow is not None else None
            if self.wheel.isChecked():
                # the sample's own scale, with the floor that keeps a near-still flow pale
                top = scale_to_pixels(color_scale(self._flow), h, w)
                self.image_item.setImage(flow_to_rgb(up, top), autoLevels=False, levels=(0, 255))
                self.arrows.setData([], [])
            elif self.play.isChecked():
                self._shift = self._full if self._full is not None and self._full.shape[1:] == (h, w) else up
                self._show_moved()
                self.arrows.setData([], [])
            else:
                self.image_item.setImage(self._frame, autoLevels=False, levels=(0, 255))
                step = self.density.value()
                # longest arrow = 0.9 spacing at 1x; with the truth shown, of both, so lengths compare
                peak = max(float(np.hypot(f[0], f[1]).max()) for f in (up, true) if f is not None)
                fit = (0.9 * step / peak if peak > 1e-6 else 1.0) * self.scale.value()
                self._draw(self.arrows, arrow_segments(up, step, fit))
                if true is not None:
                    self._draw(self.truth_arrows, arrow_segments(true, step, fit))
            mag = np.hypot(up[0], up[1])
            # short: beside the controls the row leaves about 200 px at the default pane width
            text = f"max {mag.max():.1f}, mean {mag.mean():.1f} px/s"
            if true is not None:
                true_mag = np.hypot(true[0], true[1])
                text += f" · truth {true_mag.max():.1f}, {true_mag.mean():.1f}"
            self.info.setText(text)
        if (h, w) != self._shape:
            self._shape = (h, w)
            self.plot.setRange(QRectF(0, 0, w, h), padding=0.02)
        self._sync_timer()

    @staticmethod
    def _frame_pixels(flow32: np.ndarray, w: int, h: int) -> np.ndarray:
        """Flow (2, 32, 32) in model pixels -> (2, h, w) in frame pixels."""
        return resize_layer(flow32, (w, h)) * np.array([w / 32.0, h / 32.0], np.float32)[:, None, None]

    @staticmethod
    def _draw(item: pg.PlotDataItem, pts: np.ndarray) -> None:
        item.setData(pts[:, 0], pts[:, 1]) if len(pts) else item.setData([], [])

"""``codeSliders``: one slider per component of the top code, grouped into tied and untied.

The widget holds no model: the window gives it the code size, how many leading components are
tied, and the conditional mean and spread of each component (slider ticks mark mean +- 2 std).
Moving a slider emits ``codeEdited(index, value)``; the window throttles the renders. Pressing
one emits ``dragStarted(index)`` (the window prefetches that axis, see ``cdvae_studio.scrub``) and
releasing it ``dragFinished()``.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSlider,
    QVBoxLayout,
    QWidget,
)

RANGE = 4.0  # codes have a N(0, I) prior: +-4 covers every value worth exploring
STEPS = 400  # slider resolution: RANGE / STEPS = 0.01 per step


def to_ticks(value: float) -> int:
    """The slider position of a code value. In float64 whatever the value's type: a float32 code
    and its float64 copy landed a tick apart at half-ticks (np.float32(-1.245): -124 and -125)."""
    return int(round(min(max(float(value), -RANGE), RANGE) / RANGE * STEPS))


def from_ticks(ticks: int) -> float:
    return ticks / STEPS * RANGE


PIN_STYLE = "font-weight: bold; color: #e69f00;"  # a pinned component's name (Okabe-Ito orange)
WEAK_STYLE = "color: #999;"  # a component that barely moves the sample
WEAK_SHARE = 0.1  # of the strongest component's effect: below it a component counts as weak


class ScrollSafeSlider(QSlider):
    """A slider that takes the mouse wheel only once focused (clicked or tabbed to): in a
    scrolling list of sliders the wheel meant to scroll the list moved (and pinned) whichever
    slider passed under the pointer. An ignored wheel event goes on to the scroll area."""

    def __init__(self, orientation: Qt.Orientation) -> None:
        super().__init__(orientation)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)  # not WheelFocus: the wheel gives no focus

    def wheelEvent(self, event) -> None:  # noqa: N802 - Qt override
        if self.hasFocus():
            super().wheelEvent(event)
        else:
            event.ignore()


class CodeSliders(QWidget):
    """Signals: codeEdited(int, float), dragStarted(int), dragFinished(), resetRequested(),
    randomiseRequested(bool untied_only), componentChanged(int) with -1 for "all components"."""

    codeEdited = Signal(int, float)
    dragStarted = Signal(int)
    dragFinished = Signal()
    resetRequested = Signal()
    randomiseRequested = Signal(bool)
    componentChanged = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("codeSliders")
        self._sliders: list[QSlider] = []
        self._names: list[QLabel] = []
        self._tips: list[str] = []  # each component's tooltip, without the pin line
        self._weak = np.zeros(0, bool)
        self._pinned = np.zeros(0, bool)
        self._values: list[QLabel] = []
        self._sweeps: list[QLabel] = []
        self._tied = 0
        self._focus = 0

        buttons = QHBoxLayout()
        self.reset_button = QPushButton("Reset")
        # it said "back to the code of the current sample": Reset is the grid as drawn, every pin freed
        self.reset_button.setToolTip("Back to the grid as the model drew it: every pinned component free again "
                                     "(Ctrl+Z undoes it)")
        self.random_untied_button = QPushButton("Randomise untied")
        self.random_all_button = QPushButton("Randomise all")
        self.random_all_button.setToolTip("New values for all of the current sample's components, and a new draw "
                                          "of its lower layers (pinned components keep theirs)")
        for b in (self.reset_button, self.random_untied_button, self.random_all_button):
            buttons.addWidget(b)
        self.reset_button.clicked.connect(self.resetRequested)
        self.random_untied_button.clicked.connect(lambda: self.randomiseRequested.emit(True))
        self.random_all_button.clicked.connect(lambda: self.randomiseRequested.emit(False))

        picker = QHBoxLayout()
        self.component_label = QLabel("MDN component")
        self.component_combo = QComboBox()
        self.component_combo.setObjectName("componentPicker")
        self.component_combo.setToolTip("Draw samples from one mixture component of p(z_g | x_c) alone")
        self.component_combo.currentIndexChanged.connect(self._component_changed)
        picker.addWidget(self.component_label)
        picker.addWidget(self.component_combo, 1)
        self.show_sweeps = QCheckBox("Sweep strips")
        self.show_sweeps.setToolTip("Thumbnails from -2 to +2 standard deviations beside each slider")
        picker.addWidget(self.show_sweeps)
        self.show_sweeps.toggled.connect(lambda on: [label.setVisible(on) for label in self._sweeps])

        self._rows = QWidget()
        self._rows_layout = QVBoxLayout(self._rows)
        self._rows_layout.setContentsMargins(0, 0, 0, 0)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self._rows)
        self.empty_label = QLabel("No model loaded")
        self._rows_layout.addWidget(self.empty_label)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(buttons)
        layout.addLayout(picker)
        layout.addWidget(scroll, 1)
        self.set_mixture(None)

    # building ---------------------------------------------------------------------------------
    def set_layout(self, code_dim: int, tied_dims: int, mean: np.ndarray, std: np.ndarray,
                   effects: np.ndarray | None = None, unit: tuple[str, float] = ("", 1.0)) -> None:
        """Rebuild rows: components [0, tied_dims) under "Tied", the rest under "Untied".
        ``effects`` (D,): how far each component moves x_g per unit (``Predictor.component_effects``),
        stated in the tooltips in ``unit`` (name, x_g units to it); weak ones' names are greyed."""
        while self._rows_layout.count():
            item = self._rows_layout.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()
        self._sliders, self._names, self._values, self._sweeps, self._tips = [], [], [], [], []
        self._pinned = np.zeros(code_dim, bool)
        effects = None if effects is None or len(effects) != code_dim else np.asarray(effects, np.float64)
        strongest = float(effects.max()) if effects is not None and code_dim else 0.0
        self._weak = (effects < WEAK_SHARE * strongest) if effects is not None and strongest > 0 \
            else np.zeros(code_dim, bool)
        self._tied = tied_dims
        groups = [("Tied to the image (z_g follows z_c)", range(0, tied_dims)),
                  ("Untied (free, N(0, 1))", range(tied_dims, code_dim))]
        for title, idx in groups:
            if len(idx) == 0:
                continue
            box = QGroupBox(f"{title}: {len(idx)}")
            box.setObjectName("tiedGroup" if idx.start == 0 and tied_dims else "untiedGroup")
            grid = QGridLayout(box)
            grid.setContentsMargins(4, 2, 4, 2)
            grid.setVerticalSpacing(1)
            for row, i in enumerate(idx):
                name = QLabel(f"{'t' if i < tied_dims else 'u'}{i}")
                tip = f"component {i}: conditional mean {mean[i]:+.2f}, std {std[i]:.2f}"
                if effects is not None:
                    amount = " ".join(part for part in (f"{effects[i] * unit[1]:.2g}", unit[0]) if part)
                    tip += (f"\nmoving it by 1 changes the result by {amount} on average"
                            + (": it does little for this image" if self._weak[i] else ""))
                name.setToolTip(tip)
                slider = ScrollSafeSlider(Qt.Orientation.Horizontal)
                slider.setRange(-STEPS, STEPS)
                slider.setObjectName(f"codeSlider{i}")
                slider.setTickPosition(QSlider.TickPosition.TicksBelow)
                slider.setTickInterval(STEPS // 4)
                slider.setMinimumWidth(120)
                slider.setToolTip(name.toolTip())
                value = QLabel("+0.00")
                value.setMinimumWidth(40)
                sweep = QLabel()
                sweep.setVisible(self.show_sweeps.isChecked())
                slider.valueChanged.connect(lambda t, i=i: self._moved(i, t))
                slider.sliderPressed.connect(lambda i=i: self.dragStarted.emit(i))
                slider.sliderReleased.connect(self.dragFinished)
                grid.addWidget(name, row, 0)
                grid.addWidget(slider, row, 1)
                grid.addWidget(value, row, 2)
                grid.addWidget(sweep, row, 3)
                self._sliders.append(slider)
                self._names.append(name)
                self._tips.append(tip)
                self._values.append(value)
                self._sweeps.append(sweep)
            self._rows_layout.addWidget(box)
        self._rows_layout.addStretch(1)
        self._mark_names()
        self.random_untied_button.setEnabled(code_dim > tied_dims)
        self.random_untied_button.setToolTip(
            "New values for the current sample's untied components (pinned ones keep theirs)" if code_dim > tied_dims else
            "Nothing to randomise: every component of this model's code follows the image (an MDN tie "
            "conditions all of z_g)")

    def clear(self, message: str = "No model loaded") -> None:
        self.set_layout(0, 0, np.zeros(0), np.zeros(0))
        label = QLabel(message)
        label.setWordWrap(True)
        self._rows_layout.insertWidget(0, label)
        self.set_mixture(None)

    def set_mixture(self, weights: np.ndarray | None) -> None:
        """Offer the MDN component picker with each component's weight for this image."""
        self.component_combo.blockSignals(True)
        self.component_combo.clear()
        visible = weights is not None and len(weights) > 1
        if visible:
            self.component_combo.addItem("all components (mixture)")
            for k, w in enumerate(weights):
                self.component_combo.addItem(f"component {k}: weight {float(w):.2f}")
        self.component_combo.blockSignals(False)
        self.component_label.setVisible(visible)
        self.component_combo.setVisible(visible)

    def set_sweep(self, index: int, pixmap: QPixmap) -> None:
        if 0 <= index < len(self._sweeps):
            self._sweeps[index].setPixmap(pixmap)

    def sweep_pixmap(self, index: int) -> QPixmap:
        return self._sweeps[index].pixmap()

    # values -----------------------------------------------------------------------------------
    @property
    def code_dim(self) -> int:
        return len(self._sliders)

    @property
    def tied_dims(self) -> int:
        return self._tied

    def set_code(self, code: np.ndarray) -> None:
        """Show a code without emitting codeEdited."""
        for i, slider in enumerate(self._sliders):
            slider.blockSignals(True)
            slider.setValue(to_ticks(float(code[i])))
            slider.blockSignals(False)
            self._values[i].setText(f"{float(code[i]):+.2f}")

    def set_pinned(self, pinned: np.ndarray) -> None:
        """Mark the components (D,) bool a slider pinned: every sample of the grid holds their
        value (nothing showed it: a moved slider looked like any other). Reset frees them."""
        pinned = np.asarray(pinned, bool)
        if len(pinned) != len(self._names) or np.array_equal(pinned, self._pinned):
            return
        self._pinned = pinned.copy()
        self._mark_names()

    def _mark_names(self) -> None:
        """Each name's look and tooltip: pinned (bold orange), weak (grey) or plain."""
        for name, slider, tip, on, weak in zip(self._names, self._sliders, self._tips, self._pinned, self._weak):
            name.setStyleSheet(PIN_STYLE if on else WEAK_STYLE if weak else "")
            tip = tip + "\npinned: every sample holds this value (Reset frees it)" if on else tip
            name.setToolTip(tip)
            slider.setToolTip(tip)

    def weak(self) -> np.ndarray:
        """(D,) bool: the components shown as doing little (under WEAK_SHARE of the strongest)."""
        return self._weak.copy()

    def code(self) -> np.ndarray:
        return np.array([from_ticks(s.value()) for s in self._sliders], np.float32)

    def dragging(self) -> bool:
        """True while the user holds a slider (renders then use the cheaper drag resolution)."""
        return any(s.isSliderDown() for s in self._sliders)

    def held_index(self) -> int:
        """The component whose slider the user holds, or -1."""
        return next((i for i, s in enumerate(self._sliders) if s.isSliderDown()), -1)

    def slider(self, index: int) -> QSlider:
        return self._sliders[index]

    def focus_index(self) -> int:
        """The component last moved (the one a sweep export varies); 0 before any move."""
        return self._focus

    def _moved(self, index: int, ticks: int) -> None:
        self._focus = index
        value = from_ticks(ticks)
        self._values[index].setText(f"{value:+.2f}")
        self.codeEdited.emit(index, value)

    def _component_changed(self, combo_index: int) -> None:
        self.componentChanged.emit(combo_index - 1)  # 0 = mixture -> -1

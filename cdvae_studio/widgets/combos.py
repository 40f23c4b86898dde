"""Combo boxes whose current text may be narrower than the box: drawn elided, whole in the tooltip."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QSize, Qt
from PySide6.QtWidgets import QComboBox, QStyle, QStyleOptionComboBox, QStylePainter, QToolTip


class ElidingComboBox(QComboBox):
    """Draws its current text elided (``ELIDE``) to the text field, whole as the tooltip."""

    ELIDE = Qt.TextElideMode.ElideRight

    def shown_text(self, option: QStyleOptionComboBox | None = None) -> str:
        """The current text as drawn: elided to the text field's width."""
        if option is None:
            option = QStyleOptionComboBox()
            self.initStyleOption(option)
        field = self.style().subControlRect(QStyle.ComplexControl.CC_ComboBox, option,
                                            QStyle.SubControl.SC_ComboBoxEditField, self)
        return self.fontMetrics().elidedText(self.currentText(), self.ELIDE, field.width())

    def event(self, event: QEvent) -> bool:  # noqa: D102 - Qt override
        # the tooltip is the current text, read when it is asked for: the window changes the
        # items and the current index with signals blocked, so a tooltip kept in step would lag
        if event.type() == QEvent.Type.ToolTip and self.count():
            QToolTip.showText(event.globalPos(), self.currentText(), self)
            return True
        return super().event(event)

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt override
        painter = QStylePainter(self)
        option = QStyleOptionComboBox()
        self.initStyleOption(option)
        painter.drawComplexControl(QStyle.ComplexControl.CC_ComboBox, option)
        option.currentText = self.shown_text(option)
        painter.drawControl(QStyle.ControlElement.CE_ComboBoxLabel, option)


class ShrinkingComboBox(ElidingComboBox):
    """Takes its whole text's width where there is room and gives it up, its text elided, where
    there is not: the LPP scatter's controls row ("learned codes", "mixture component") set the
    right pane's minimum width to 577 px, and in a 1024-px window the splitter took that from the
    sample grid (two columns of 70-px samples)."""

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt override
        # three letters and the arrow ("lea…" still tells the choices apart), or the whole text
        # where that is shorter (Qt's own minimum is a placeholder's width, 79 px for "15")
        hint = super().minimumSizeHint()
        least = min(hint.width(), self.sizeHint().width(), self.fontMetrics().horizontalAdvance("MMM") + 28)
        return QSize(least, hint.height())

"""The Help menu's windows: every shortcut and mouse gesture, and what this build is.

The shortcut list is read from the window's own actions when it opens, so it cannot fall behind
a shortcut added or changed in ``main_window._build_actions``.
"""

from __future__ import annotations

import html
import platform
from importlib import metadata

import PySide6
import torch
from PySide6.QtCore import Qt, qVersion
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QMessageBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

# what the mouse and keys do outside the actions (sample_grid, panels.ComparePane, panels.ImagePanel's gallery,
# panels.StarTray, panels.VideoTimeBar, lpp_scatter, MainWindow.dropEvent)
GESTURES: tuple[tuple[str, str], ...] = (
    ("Make a sample the current one (its code to the sliders, its result to the preview)", "Click it in the grid"),
    ("Star or unstar a sample (Export writes the starred ones)", "Right-click it in the grid"),
    ("Put a sample's result into another app or a folder, as a full-resolution PNG",
     "Drag it out of the grid or the Preview (starred samples: out of the starred list)"),
    ("Compare the result with the photo (before / after)", "Press and hold on the Preview"),
    ("Move to the next sample", "Arrow keys in the grid (Home, End: the first, the last)"),
    ("Show a starred sample again (its photo, model and draw)", "Double-click it in the starred list"),
    ("Remove the selected stars", "Delete or Backspace in the starred list"),
    ("Remove a recent photo from the gallery (the file stays), or show its folder",
     "Right-click it in the gallery (Delete removes the selected one)"),
    ("Open a training example's x_c as the input", "Click its point in the LPP scatter"),
    ("Open images or videos (motion: the first frame, with its truth), folders of them, a model folder or a pair file", "Drop them on the window"),
    ("Open an image from a web page", "Drag it onto the window (or copy it, then Ctrl+V)"),
    ("Choose another frame of a video", "Drag the Time bar under the photo and let go; "
                                        "on the bar, arrow keys: one frame, Page Down / Up: a second on / back"),
    ("Preview a frame of a video without opening it", "Point at the Time bar's track (or drag its handle)"),
    ("Dismiss the red message line", "Click it"),
)


def shortcut_rows(actions: list[QAction]) -> list[tuple[str, str]]:
    """(what, keys) for every action with a shortcut, in the order given, then the gestures."""
    rows = []
    for action in actions:
        keys = action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
        if keys:
            rows.append((action.text().replace("&", "").rstrip("…"), keys))
    return rows + list(GESTURES)


class ShortcutsDialog(QDialog):
    """A two-column table: what, and the keys or gesture that does it."""

    WIDTH, FIRST_COLUMN = 860, 470  # px: the dialog, and the "Action" column (the other takes the rest)

    def __init__(self, parent: QWidget | None, actions: list[QAction]) -> None:
        super().__init__(parent)
        self.setObjectName("shortcutsDialog")
        self.setWindowTitle("Keyboard shortcuts and mouse")
        rows = shortcut_rows(actions)
        self.table = QTableWidget(len(rows), 2)
        self.table.setObjectName("shortcutsTable")
        self.table.setHorizontalHeaderLabels(["Action", "Keys or mouse"])
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        # long texts wrap in their cell: one line a row, with the first column as wide as its
        # longest text, cut the second column's gestures to "Arrow keys in the grid (Ho…"
        self.table.setWordWrap(True)
        self.table.setTextElideMode(Qt.TextElideMode.ElideNone)
        for r, (what, keys) in enumerate(rows):
            self.table.setItem(r, 0, QTableWidgetItem(what))
            self.table.setItem(r, 1, QTableWidgetItem(keys))
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        header.resizeSection(0, self.FIRST_COLUMN)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.sectionResized.connect(lambda *_: self._fit_rows())
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        layout.addWidget(buttons)
        self.resize(self.WIDTH, 200)

    def _fit_rows(self) -> None:
        """Each row as tall as its wrapped text (for the columns' widths now)."""
        self.table.resizeRowsToContents()

    def showEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        self._fit_rows()
        # every row in view, no scrolling, where the screen has the room
        rows = sum(self.table.rowHeight(r) for r in range(self.table.rowCount()))
        wanted = rows + self.table.horizontalHeader().height() + 2 * self.table.frameWidth() + 70
        screen = self.screen().availableGeometry().height() if self.screen() is not None else wanted
        self.resize(self.width(), min(wanted, screen - 40))


def about_text(model: tuple[str, str] | None, settings_file: str) -> str:
    """The About box's rich text: version, paper, libraries, the model in use ((label, path): a
    model folder, or a pair file for the nearest-neighbour baseline) and the settings file."""
    try:
        version = metadata.version("cdvae-studio")
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        version = "not installed"
    in_use = "none loaded" if model is None else f"{html.escape(model[0])}, from {html.escape(model[1])}"
    return (
        f"<h3>CDVAE Studio {version}</h3>"
        "<p>Explore ambiguous image predictions: many plausible relightings, resaturations or "
        "motions of one photo, drawn from a conditional VAE.</p>"
        "<p>The method: the Co-embedding Deep Variational Auto-Encoder of J. Lu, A. Deshpande and "
        "D. Forsyth, <i>CDVAE: Co-embedding Deep Variational Auto Encoder for Conditional "
        "Variational Generation</i>.</p>"
        f"<p>PyTorch {torch.__version__} · Qt {qVersion()} · PySide6 {PySide6.__version__} · "
        f"Python {platform.python_version()}</p>"
        f"<p>Loaded model: {in_use}<br>Settings: {html.escape(settings_file)}</p>"
    )


def about_box(parent: QWidget, model: tuple[str, str] | None, settings_file: str) -> QMessageBox:
    """A window-modal About box, shown with ``open()`` (never a nested event loop)."""
    box = QMessageBox(parent)
    box.setObjectName("aboutBox")
    box.setWindowTitle("About CDVAE Studio")
    box.setTextFormat(Qt.TextFormat.RichText)
    box.setText(about_text(model, settings_file))
    box.setStandardButtons(QMessageBox.StandardButton.Ok)
    box.setWindowModality(Qt.WindowModality.WindowModal)
    return box

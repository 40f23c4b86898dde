"""The main window's size and layout: the toolbars on one row or two (the model combo narrowing
first), the first size on a screen, the frame kept on the screen, and what the settings keep
of the window between runs: geometry, splitters, the session shown and the models trained here.
A mixin of ``main_window.MainWindow``.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QByteArray, QRect, QTimer

from .prefs import string_list
from .state_sessions import LAST_SESSION_KEY


# The model combo's text field in characters: at its widest (the toolbar never moves as models
# change), and the least it narrows to in a window too narrow for the main toolbar (at 1,000 px
# "Full samples" went into the overflow menu); its label is elided in the middle either way.
MODEL_CHARS = (30, 12)
TOOLBAR_SLACK = 12  # pixels kept free, so that rounding never tips the last widget into the overflow


def within_screen(frame: QRect, client: QRect, screen: QRect) -> QRect | None:
    """The window's inside (``client``) moved and shrunk so that its ``frame`` (title bar and
    borders around it) lies within ``screen``; None when it does already."""
    if screen.contains(frame):
        return None
    left, top = client.left() - frame.left(), client.top() - frame.top()
    extra_w, extra_h = frame.width() - client.width(), frame.height() - client.height()
    width = min(client.width(), screen.width() - extra_w)
    height = min(client.height(), screen.height() - extra_h)
    x = min(max(frame.left(), screen.left()), screen.right() + 1 - (width + extra_w))
    y = min(max(frame.top(), screen.top()), screen.bottom() + 1 - (height + extra_h))
    return QRect(x + left, y + top, width, height)


class GeometryMixin:
    """Methods of MainWindow that size and lay out the window."""

    def _fit_toolbars(self) -> None:
        """Both toolbars on one row while the window is wide enough for them, else the actions'
        on a second row; below the main toolbar's own width the model combo narrows (its label
        elided, down to MODEL_CHARS[1] characters) before anything goes into the overflow menu."""
        combo = self.tieCombo
        per_char = combo.fontMetrics().horizontalAdvance("x")  # QComboBox's unit for its contents length
        chars = combo.minimumContentsLength()
        others = self.toolbar.sizeHint().width() - chars * per_char  # the toolbar but the combo's text field
        wide, least = MODEL_CHARS
        fit = max(least, min(wide, (self.width() - others - TOOLBAR_SLACK) // per_char))
        if fit != chars:
            combo.setMinimumContentsLength(fit)
            # the toolbar's size hint follows the combo's only once the layout has run, and its
            # width is not quite linear in the characters: decide the row again then (from 700 to
            # 1,330 px the estimate put Export in the overflow menu, until the next resize)
            QTimer.singleShot(0, self, self._fit_toolbars)  # dropped with the window
        need = others + fit * per_char + self.actionsBar.sizeHint().width()
        wrapped = self.toolBarBreak(self.actionsBar)
        if self.width() < need and not wrapped:
            self.insertToolBarBreak(self.actionsBar)
        elif self.width() >= need and wrapped:
            self.removeToolBarBreak(self.actionsBar)

    # settings and exit -----------------------------------------------------------------------
    def _restore_settings(self) -> None:
        geometry = self.settings.value("geometry")
        self.geometry_restored = isinstance(geometry, QByteArray) and not geometry.isEmpty() \
            and self.restoreGeometry(geometry)
        for key, splitter in (("splitter", self.splitter), ("rightSplitter", self.right_splitter)):
            sizes = self.settings.value(key)
            if isinstance(sizes, QByteArray) and not sizes.isEmpty():
                splitter.restoreState(sizes)
        trained, gone = string_list(self.settings, "trainedModels"), []
        for path in trained:
            try:
                self.catalog.add_model_dir(path, kind="trained")
            except ValueError:
                gone.append(path)  # deleted or moved since
        if gone:  # they used to be skipped without a word, at every start
            self.settings.setValue("trainedModels", [p for p in trained if p not in gone])
            # the point first: the status line is cut where the window is narrow
            self.statusBar().showMessage(f"{len(gone)} trained model(s) left the Model list, their folder gone: "
                                         f"{', '.join(Path(p).name for p in gone)}", 30000)

    def fit_first_size(self) -> None:
        """With no size saved (a first start): DEFAULT_SIZE, shrunk to 95% of the screen's free
        area where that is smaller (a 1280x800 laptop at 2x scaling showed the window's right
        and bottom off the screen), and centred there. The app used to resize every start to
        1560x960, over the size the window was closed at."""
        if self.geometry_restored:
            return
        screen = self.screen().availableGeometry()
        width = min(self.DEFAULT_SIZE[0], int(screen.width() * 0.95))
        height = min(self.DEFAULT_SIZE[1], int(screen.height() * 0.95))
        self.resize(width, height)  # no smaller than the layout needs (about 900x600)
        self.move(screen.x() + max(0, (screen.width() - self.width()) // 2),
                  screen.y() + max(0, (screen.height() - self.height()) // 2))
        self._fit_frame_pending = True  # the window manager's frame is known once shown

    def _fit_frame(self) -> None:
        """A first start's window with its title bar on the screen: the size fitted the window's
        inside, and under a window manager the frame put the status bar below the screen's edge."""
        client = within_screen(self.frameGeometry(), self.geometry(), self.screen().availableGeometry())
        if client is not None:
            self.setGeometry(client)

    def save_settings(self) -> None:
        self.settings.setValue("geometry", self.saveGeometry())
        self.settings.setValue("splitter", self.splitter.saveState())
        self.settings.setValue("rightSplitter", self.right_splitter.saveState())
        self.settings.setValue("task", self.state.task_name)
        self.settings.setValue("fullSamples", self.lowerCheck.isChecked())
        self.settings.setValue("distinctResults", self.distinctAction.isChecked())
        kept = self.state.session_to_keep()  # where this run leaves off, stars included
        if kept is not None:
            self.settings.setValue(LAST_SESSION_KEY, kept.to_json())
        else:  # nothing shown (no model for the task), no stars: the next start is a first start's
            self.settings.remove(LAST_SESSION_KEY)
        self.settings.sync()

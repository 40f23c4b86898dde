"""What the train and export dialogs share: a progress bar, a status line, Start / Cancel buttons
and one background job (``worker.JobRunner`` or ``worker.ProcessJobRunner``).

Every progress record is kept as the latest one; the bar and the status line repaint at most
every 100 ms (``qthrottled``), so a burst of queued records never stalls the event loop.
Subclasses build their form, call ``_lay_out`` and ``_launch``, and say how a record reads
(``describe``) and what the end of a job shows (``_show_result``).
"""

from __future__ import annotations

import math
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from superqt.utils import qthrottled

from .worker import JobRunner, ProcessJobRunner


def format_eta(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    m, s = divmod(seconds, 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def eta_suffix(values: dict[str, float]) -> str:
    """" · ETA m:ss" for a record's ``eta_s`` value; "" when it has none (or no finite one)."""
    eta = values.get("eta_s")
    return f" · ETA {format_eta(eta)}" if eta is not None and math.isfinite(eta) else ""


PROGRESS_STYLE = ("QProgressBar { border: 1px solid palette(dark); border-radius: 2px; text-align: center;"
                  " background: palette(base); } QProgressBar::chunk { background: palette(highlight); }")


class PathField(QWidget):
    """A line edit with a Browse button (file or folder)."""

    def __init__(self, folder: bool, caption: str, pattern: str = "") -> None:
        super().__init__()
        self.edit = QLineEdit()
        self.button = QPushButton("Browse…")
        # Enter in the field is not a click here: as a dialog's first button it was its default,
        # so a path typed and confirmed with Enter opened a file chooser
        self.button.setAutoDefault(False)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.edit, 1)
        layout.addWidget(self.button)
        self.set_mode(folder, caption, pattern)
        self.button.clicked.connect(self._browse)

    def set_mode(self, folder: bool, caption: str, pattern: str = "") -> None:
        """What Browse asks for: a folder, or a file matching ``pattern`` (a field whose meaning
        changes with another choice, as the Train dialog's source, changes it too)."""
        self.folder, self.caption, self.pattern = folder, caption, pattern

    def _browse(self) -> None:
        if self.folder:
            path = QFileDialog.getExistingDirectory(self, self.caption, self.edit.text())
        else:
            path, _ = QFileDialog.getOpenFileName(self, self.caption, self.edit.text(), self.pattern)
        if path:
            self.edit.setText(path)

    def text(self) -> str:
        return self.edit.text().strip()


class JobDialog(QDialog):
    """A dialog running one background job at a time.

    ``name`` prefixes the objectNames: ``<name>Dialog``, ``<name>Progress``, ``<name>Status``,
    ``<name>Start``, ``<name>Cancel``.
    """

    STOP_WAIT_MS = 60_000  # how long stop_and_wait joins the job at exit
    CANCEL_MESSAGE = ""  # status line shown when Cancel is pressed ("" keeps the current one)
    # (status line, still running): each refresh while a job runs, and its last line when it ended;
    # the window shows it while the dialog is closed (a run went on unseen behind a closed dialog)
    runStatus = Signal(str, bool)

    def __init__(self, parent: QWidget | None, name: str, title: str, start_text: str) -> None:
        super().__init__(parent)
        self.setObjectName(f"{name}Dialog")
        self.setWindowTitle(title)
        self.runner: JobRunner | ProcessJobRunner | None = None
        self._latest: Any = None
        self._stopping = False  # Cancel pressed; the job has not ended yet
        self._throttled_refresh = qthrottled(self._refresh, timeout=100, leading=True, parent=self)
        self.progress = QProgressBar()
        self.progress.setObjectName(f"{name}Progress")
        # a flat bar: Fusion paints its gradient chunk through Qt's GUI thread pool and waits
        # (6-34 hand-offs, 0.3-0.45 ms a repaint without load; while training a median 0.6 ms
        # and up to 2.8 ms, measured), and setValue repaints at once, inside every refresh; this
        # look paints in 0.03 ms
        self.progress.setStyleSheet(PROGRESS_STYLE)
        self.status = QLabel("Ready.")
        self.status.setObjectName(f"{name}Status")
        self.status.setWordWrap(True)
        self.start_button = QPushButton(start_text)
        self.start_button.setObjectName(f"{name}Start")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName(f"{name}Cancel")
        self.cancel_button.setEnabled(False)
        self.start_button.setDefault(True)  # Enter in the form starts the job, as OK would
        self.cancel_button.setAutoDefault(False)
        self.start_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)

    def _lay_out(self, form: QFormLayout, *stretched: QWidget, extra_buttons: tuple[QWidget, ...] = ()) -> None:
        """The form, the bar, the status line, ``stretched`` widgets (growing), the buttons
        (``extra_buttons`` left of Start and Cancel)."""
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        for button in extra_buttons:
            buttons.addWidget(button)
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        for widget in stretched:
            layout.addWidget(widget, 1)
        layout.addLayout(buttons)

    # running -------------------------------------------------------------------------------------
    def start(self) -> None:
        raise NotImplementedError

    def running(self) -> bool:
        return self.runner is not None and self.runner.running()

    def _launch(self, runner: JobRunner | ProcessJobRunner, message: str) -> None:
        self.runner = runner
        # the last run's final record: a run that fails before its first record showed it (a
        # full bar over "Training failed")
        self._latest = None
        self._stopping = False
        self.progress.setValue(0)
        self.progress.setFormat("%p%")
        runner.progress.connect(self._on_progress)
        runner.finished.connect(self._on_finished)
        self.start_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.status.setText(message)
        self.status.setToolTip("")  # what the last run's line named in full
        runner.start()

    def cancel(self) -> None:
        if self.runner is not None and self.running():
            # said until the job ends: the next progress line used to replace it within 0.1 s,
            # with Cancel still enabled, as if the press had been lost
            self._stopping = True
            self.cancel_button.setEnabled(False)
            if self.CANCEL_MESSAGE:
                self.status.setText(self.CANCEL_MESSAGE)
            self.runner.cancel()

    def clear_outcome(self) -> None:
        """No job running: the bar and status line of the last one go (a dialog reopened on
        another photo showed the last export's "cancelled" at 43%)."""
        if not self.running():
            self.progress.setValue(0)
            self.progress.setFormat("%p%")
            self.status.setText("Ready.")

    def stop_and_wait(self, ms: int | None = None) -> None:
        """At exit: cancel the job and join it."""
        if self.runner is not None:
            self.runner.cancel()
            self.runner.wait(self.STOP_WAIT_MS if ms is None else ms)

    # progress ------------------------------------------------------------------------------------
    def _on_progress(self, p: Any) -> None:
        self._latest = p
        self._throttled_refresh()

    def describe(self, p: Any) -> str:
        """The status line for a progress record."""
        return p.message + eta_suffix(p.values)

    def _refresh(self) -> None:
        p = self._latest
        if p is None:
            return
        self.progress.setMaximum(max(p.total, 1))
        self.progress.setValue(min(p.done, max(p.total, 1)))
        line = self.describe(p)
        self.status.setText(f"{self.CANCEL_MESSAGE} ({line})" if self._stopping and self.CANCEL_MESSAGE else line)
        self._say_run_status()

    def _say_run_status(self) -> None:
        """runStatus with the line shown ("Starting…" before any progress), while a job runs."""
        p = self._latest
        if self.running():
            # a stage of one unit (the LPP targets) read "Training: 100%" before the first step
            many = p is not None and p.total > 1
            percent = f"{self.progress.value() * 100 // max(self.progress.maximum(), 1)}% · " if many else ""
            self.runStatus.emit(percent + self.status.text(), True)

    def hideEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().hideEvent(event)
        # closed during a run: the window's status bar takes the line now, not at the next
        # progress record (about 2.5 s later, in the LPP stage); not while the window itself goes
        window = self.parentWidget()
        if window is not None and window.isVisible():
            self._say_run_status()

    def _on_finished(self, status: str, payload: object) -> None:
        self._throttled_refresh.cancel()
        self._refresh()
        if status == "done":  # a batch whose last photo was skipped left the bar at 90% of a finished job
            self.progress.setValue(self.progress.maximum())
        else:  # a full bar (the stage before, done) read as success over "Training failed"
            self.progress.setFormat("failed" if status == "failed" else "cancelled at %p%")
        self.start_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        self._show_result(status, payload)
        self.runStatus.emit(self.status.text(), False)

    def _show_result(self, status: str, payload: object) -> None:
        """What the dialog shows once the job ended: status "done", "cancelled" or "failed"."""
        raise NotImplementedError

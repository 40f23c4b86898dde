"""The main window's dialogs: opening photos, models, pair files and sessions, the recent
sessions menu, the train and export dialogs and their status-bar links, animation exports, and
showing a file in the file manager. A mixin of ``main_window.MainWindow``.
"""

from __future__ import annotations

import html
from pathlib import Path

from PySide6.QtCore import QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QFileDialog, QInputDialog, QMessageBox

from cdvae_core.messages import one_line_text

from .images import IMAGE_SUFFIXES, VIDEO_SUFFIXES
from .prefs import string_list


RECENT_SESSIONS_KEY = "recentSessions"  # QSettings: File > Open recent session, newest first
RECENT_SESSIONS_MAX = 10


class DialogsMixin:
    """Methods of MainWindow that ask the user for files and open the job dialogs."""

    def _last_dir(self) -> str:
        return str(self.settings.value("lastFolder", str(Path.home())))

    def _remember_dir(self, path: str) -> None:
        self.settings.setValue("lastFolder", str(Path(path).parent))

    def open_image_dialog(self) -> None:
        """One photo or several (the first is shown, the rest wait in the gallery)."""
        def globs(suffixes: tuple[str, ...]) -> str:
            return " ".join(f"*{s}" for s in suffixes)

        pattern = (f"Images and videos ({globs(IMAGE_SUFFIXES + VIDEO_SUFFIXES)});;Images ({globs(IMAGE_SUFFIXES)});;"
                   f"Videos: the first frame, for motion with its truth ({globs(VIDEO_SUFFIXES)});;All files (*)")
        paths, _ = QFileDialog.getOpenFileNames(self, "Open images or videos", self._last_dir(), pattern)
        if paths:
            self._remember_dir(paths[0])
            self.state.open_paths(paths)

    def open_model_dialog(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open saved model directory", self._last_dir())
        if path:
            self._remember_dir(path)
            self.state.open_model(path)

    def open_pairs_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open pair file (nearest-neighbour baseline)", self._last_dir(),
                                              "Pair files (*.npz)")
        if path:
            self._remember_dir(path)
            self.state.open_model(path)

    def open_train_dialog(self) -> None:
        from .train_dialog import TrainDialog

        if self.train_dialog is None:
            self.train_dialog = TrainDialog(self, task=self.state.task_name, settings=self.settings)
            self.train_dialog.runStatus.connect(lambda text, running: self._job_status("train", text, running))
            self.train_dialog.modelTrained.connect(lambda p: self.state.open_model(p, kind="trained"))
        self._show_job_dialog("train")

    def _refresh_export(self) -> None:
        if self.export_dialog is not None and self.export_dialog.isVisible() and not self.export_dialog.running():
            self.export_dialog.refresh(self.state.export_items(), keep_choice=True)

    def open_export_dialog(self) -> None:
        from .export_dialog import ExportDialog

        if self.export_dialog is None:
            self.export_dialog = ExportDialog(self, self.settings)
            self.export_dialog.runStatus.connect(lambda text, running: self._job_status("export", text, running))
            self.export_dialog.provider = self.state.export_items
            # the dialog is modeless: stars and grids that change while it is open must reach it
            self.state.starsChanged.connect(self._refresh_export)
            self.state.gridApplied.connect(self._refresh_export)
            self.state.currentChanged.connect(self._refresh_export)  # "sample #7 of cat.jpg"
        elif not self.export_dialog.isVisible():
            self.export_dialog.clear_outcome()  # its outcome was shown as it ended; now another photo
        self.export_dialog.refresh(self.state.export_items())
        self._show_job_dialog("export")

    def _job_status(self, which: str, text: str, running: bool) -> None:
        """A job's status line (JobDialog.runStatus) in the status bar while its dialog is closed:
        closed during a run, the dialog left no sign of it until the trained model took over the
        window. Its end is a message there; showing the dialog again takes the label away."""
        dialog = self.train_dialog if which == "train" else self.export_dialog
        label, what = self.jobLabels[which], self.JOB_NAMES[which]
        hidden = dialog is not None and not dialog.isVisible()
        label.setVisible(running and hidden)
        if running and hidden:
            label.setText(f'<a href="{which}">{html.escape(what)}: {html.escape(one_line_text(text))}</a>')
            label.setToolTip(f"{what} runs in the background: click to show its dialog")
        elif not running and hidden:
            self.statusBar().showMessage(f"{what}: {one_line_text(text)}", 15000)

    def _show_job_dialog(self, which: str) -> None:
        dialog = self.train_dialog if which == "train" else self.export_dialog
        if dialog is not None:
            self.jobLabels[which].setVisible(False)
            dialog.show()
            dialog.raise_()

    def save_session_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save session", self._last_dir(), "Session (*.json)")
        if path and Path(path).suffix.lower() != ".json":  # "mine" was saved as such, and Open session's
            path = self._suffixed(path, ".json")  # filter (*.json) then hid it
        if path:
            self._remember_dir(path)
            self.state.save_session(path)

    def _suffixed(self, path: str, suffix: str) -> str:
        """``path`` + ``suffix`` for a name the user gave without it, "" where that file exists and
        the user keeps it: the file dialog asked about the name typed, not this one."""
        path += suffix
        if Path(path).exists():
            answer = QMessageBox.question(self, "Replace file?", f"{Path(path).name} already exists. Replace it?")
            if answer != QMessageBox.StandardButton.Yes:
                return ""
        return path

    def open_session_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open session", self._last_dir(), "Session (*.json)")
        if path:
            self._remember_dir(path)
            self.state.open_session(path)

    def recent_sessions(self) -> list[str]:
        """The sessions saved or opened last, newest first (File > Open recent session)."""
        return string_list(self.settings, RECENT_SESSIONS_KEY)

    def remember_session(self, path: str) -> None:
        """Put the session file ``path`` first in File > Open recent session."""
        path = str(Path(path).absolute())
        kept = [p for p in self.recent_sessions() if p != path]
        self.settings.setValue(RECENT_SESSIONS_KEY, [path, *kept][:RECENT_SESSIONS_MAX])

    def fill_recent_sessions(self) -> None:
        """The submenu as the list is now: each file's name and folder (its tooltip: the whole path)."""
        menu, paths = self.recentSessionsMenu, self.recent_sessions()
        menu.clear()
        for path in paths:
            parent = Path(path).parent
            home = parent.is_relative_to(Path.home())
            folder = str(Path("~") / parent.relative_to(Path.home())) if home else str(parent)
            # "&" marks a menu's shortcut letter: a name holding one is spelt "&&"
            action = menu.addAction(f"{Path(path).name}   ({folder})".replace("&", "&&"))
            action.setToolTip(path)
            action.triggered.connect(lambda _=False, p=path: self.open_recent_session(p))
        if not paths:
            menu.addAction("No sessions saved or opened yet").setEnabled(False)
            return
        menu.addSeparator()
        menu.addAction("Clear the list", lambda: self.settings.setValue(RECENT_SESSIONS_KEY, []))

    def open_recent_session(self, path: str) -> None:
        """Open a listed session; one whose file has gone leaves the list, saying so."""
        if not Path(path).is_file():
            self.settings.setValue(RECENT_SESSIONS_KEY, [p for p in self.recent_sessions() if p != path])
            self.show_error(f"the session {Path(path).name} is no longer in {Path(path).parent}: "
                            "it has left the recent list", about="session")
            return
        self._remember_dir(path)
        self.state.open_session(path)

    def _animation_path(self, title: str) -> str:
        """Ask where to write an animation; a name without .gif / .mp4 takes the chosen filter's."""
        path, chosen = QFileDialog.getSaveFileName(self, title, self._last_dir(), "GIF (*.gif);;MP4 (*.mp4)")
        if path and Path(path).suffix.lower() not in (".gif", ".mp4"):
            path = self._suffixed(path, ".mp4" if "mp4" in (chosen or "").lower() else ".gif")
        if path:
            self._remember_dir(path)
        return path

    def export_gif_dialog(self) -> None:
        path = self._animation_path("Export sweep as GIF or MP4")
        if path:
            self.state.export_sweep_gif(path)

    def export_motion_dialog(self) -> None:
        """The current motion sample's frame moved along its flow and back, as the Flow tab plays it."""
        path = self._animation_path("Export motion as GIF or MP4")
        if path:
            self.state.export_motion_gif(path)

    def export_interpolation_dialog(self) -> None:
        """Interpolate from the current sample to another grid sample (default: a starred one)."""
        state = self.state
        partner = state.interpolation_partner()
        if state.ctx is None or partner < 0:
            self.show_error("load a model and an image before exporting an interpolation")
            return
        n, current = len(state.codes), state.current + 1
        label = f"Interpolate from the current sample #{current} to sample:"
        while True:
            number, ok = QInputDialog.getInt(self, "Export interpolation", label, partner + 1, 1, n)
            if not ok:
                return
            if number != current:
                break
            # picking the current sample used to end the dialog without a word
            label = f"#{current} is the current sample itself. Interpolate from #{current} to another sample:"
        path = self._animation_path("Export interpolation as GIF or MP4")
        if path:
            state.export_sweep_gif(path, number - 1)

    def show_in_folder(self, path: str) -> None:
        """Open the folder holding ``path`` (a video's frame: the video) in the system's file manager."""
        from cdvae_core.data.video import split_time

        folder = split_time(path, strict=False)[0].absolute().parent
        if not folder.is_dir():
            self.show_error(f"{folder} is not there any more", about="image")
        elif not QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder))):
            self.show_error(f"Could not open a file manager; the file is in {folder}")

"""Where the Studio keeps what it saves: its data folder, and QSettings values whose type the
INI format does not keep."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QStandardPaths


def data_folder() -> Path:
    """The app's data folder (``~/.local/share/CDVAE/CDVAE Studio`` on Linux, Application Support
    on macOS, AppData on Windows): trained models, pasted images and results used as the photo
    live under it."""
    data = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppLocalDataLocation)
    return Path(data) if data else Path.home() / ".cdvae-studio"


def string_list(settings: Any, key: str) -> list[str]:
    """The list of strings stored under ``key`` ([] when none).

    Qt's INI format writes a one-item list as a plain string, and a new process reads it back as
    that string: iterated, it gave one "path" per character. So a user who had opened one photo
    found a gallery of "/", "h", "o", ... after a restart, and one who had trained one model in
    the app lost it from the model list. ``type=list`` makes PySide6 return a list either way.
    """
    return [str(v) for v in settings.value(key, [], type=list)]

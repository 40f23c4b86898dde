"""Reading the Studio's QSettings values whose type the INI format does not keep."""

from __future__ import annotations

from typing import Any


def string_list(settings: Any, key: str) -> list[str]:
    """The list of strings stored under ``key`` ([] when none).

    Qt's INI format writes a one-item list as a plain string, and a new process reads it back as
    that string: iterated, it gave one "path" per character. So a user who had opened one photo
    found a gallery of "/", "h", "o", ... after a restart, and one who had trained one model in
    the app lost it from the model list. ``type=list`` makes PySide6 return a list either way.
    """
    return [str(v) for v in settings.value(key, [], type=list)]

"""Can Qt start here, and where does the window go? Checked before any Qt object exists, so that
a machine that cannot show the Studio gets one line saying why instead of a traceback or an abort.

Qt's own failures were: an ``ImportError`` traceback where a system library PySide6's modules
link against is missing (a minimal container without libEGL, libxkbcommon or fontconfig), and
an abort (exit 134, a core dump) after a paragraph about platform plugins where Linux had no
display, or X11 lacked a library of the xcb plugin (it named only libxcb-cursor0 where
libxcb-icccm4 and libxcb-keysyms1 were missing too), also for ``--screenshot``, which needs no
display at all.
"""

from __future__ import annotations

import ctypes
import importlib
import re
import subprocess
import sys
from pathlib import Path
from typing import Callable, Mapping

SONAME = re.compile(r"[\w.+-]+\.so(\.\d+)*")  # libxcb-icccm.so.4, not an error's text
NO_DISPLAY = ("no display to show the window on (neither DISPLAY nor WAYLAND_DISPLAY is set): start it "
              "in a desktop session or over ssh -X, or write the window to a picture with --screenshot PNG")


def debian_package(soname: str) -> str:
    """The Debian and Ubuntu package that ships a shared library, by their naming policy:
    libxcb-icccm.so.4 -> libxcb-icccm4, libxkbcommon-x11.so.0 -> libxkbcommon-x11-0,
    libEGL.so.1 -> libegl1."""
    stem, _, version = soname.partition(".so")
    version = version.lstrip(".").split(".")[0]
    return f"{stem}{'-' if stem[-1:].isdigit() else ''}{version}".lower() if version else stem.lower()


def _ldd_missing(binary: Path) -> list[str]:
    """The sonames ``ldd`` cannot find for ``binary``, sorted; [] without ldd (100 ms a run)."""
    try:
        listing = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return sorted({line.split("=>")[0].strip() for line in listing.splitlines() if "=> not found" in line})


def _missing(load: Callable[[], object], binary: Path | None) -> list[str]:
    """[] where ``load()`` works; where it fails for a missing library, every library ``binary``
    lacks (``ldd``), else the one the loader named ("libEGL.so.1: cannot open shared object
    file: ..."); where it fails otherwise, that error's text."""
    try:
        load()
        return []
    except (OSError, ImportError) as exc:
        if "cannot open shared object file" not in str(exc):
            return [str(exc)]
        first = str(exc).split(":")[0].strip()
    return (_ldd_missing(binary) if binary is not None else []) or [first]


def lack_text(lacking: list[str]) -> str:
    """What ``_missing`` found, as the end of a sentence about the module or plugin: "needs A, B,
    which this system lacks (Debian and Ubuntu: sudo apt install a b)", or for another failure
    "does not load (its error)"."""
    libraries = [name for name in lacking if SONAME.fullmatch(name)]
    if not libraries:
        return f"does not load ({lacking[0]})"
    packages = " ".join(debian_package(name) for name in libraries)
    return f"needs {', '.join(libraries)}, which this system lacks (Debian and Ubuntu: sudo apt install {packages})"


def missing_qt_libraries() -> list[str]:
    """What keeps PySide6's widgets module from importing: the system libraries it lacks, or
    the import's error; [] where it imports (the Studio imports it next anyway)."""
    import PySide6

    binaries = sorted(Path(PySide6.__file__).parent.glob("QtWidgets.*"))
    return _missing(lambda: importlib.import_module("PySide6.QtWidgets"), binaries[0] if binaries else None)


def missing_xcb_libraries() -> list[str]:
    """What keeps Qt's X11 platform plugin from loading: the system libraries (sonames) it lacks,
    or the loader's error; [] where it loads, or where the plugin is not where PySide6 keeps it
    (Qt then speaks for itself). The plugin is loaded as Qt would load it (8 ms; it stays loaded
    for Qt); only where that fails does ``ldd`` run."""
    from PySide6.QtCore import QLibraryInfo

    plugin = Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath)) / "platforms" / "libqxcb.so"
    if not plugin.is_file():
        return []
    return _missing(lambda: ctypes.CDLL(str(plugin)), plugin)


def display_choice(screenshot: bool, environ: Mapping[str, str], system: str = sys.platform,
                   missing: Callable[[], list[str]] = missing_xcb_libraries) -> tuple[str | None, str]:
    """(the Qt platform to start on where the user set none and the default cannot show anything:
    "offscreen" for a ``screenshot``, which needs no display; why the window cannot be shown,
    "" where it can).

    On Linux and the BSDs Qt shows windows on X11 or Wayland: DISPLAY or WAYLAND_DISPLAY must be
    set, and on X11 the xcb plugin must load (``missing``). A QT_QPA_PLATFORM the user set (xcb,
    offscreen, eglfs, vnc, ...) is theirs and is left alone.
    """
    if system in ("darwin", "win32", "cygwin") or environ.get("QT_QPA_PLATFORM"):
        return None, ""
    if environ.get("WAYLAND_DISPLAY"):
        return None, ""  # Qt picks Wayland or X11 (XWayland) and falls back between them
    if environ.get("DISPLAY"):
        lacking = missing()
        if not lacking:
            return None, ""
        if screenshot:
            return "offscreen", ""
        return None, f"Qt cannot open a window on X11: its xcb platform plugin {lack_text(lacking)}"
    if screenshot:
        return "offscreen", ""
    return None, NO_DISPLAY


def start_problem(screenshot: bool, environ: Mapping[str, str]) -> tuple[str | None, str]:
    """``display_choice`` once Qt's modules import; (None, why) where they do not."""
    lacking = missing_qt_libraries()
    if lacking:
        return None, f"Qt cannot start: its widgets module {lack_text(lacking)}"
    return display_choice(screenshot, environ)

"""Where Qt cannot start or show a window, cdvae-studio says why in one line, exit 2, before any
Qt object exists (``cdvae_studio.qt_start``); a screenshot needs no display and goes offscreen.

Qt used to: raise an ImportError traceback where a system library PySide6 links against was
missing (a minimal container); abort (exit 134, a core dump) after a paragraph about platform
plugins where Linux had no display, or where X11 lacked a library of the xcb plugin (naming
only libxcb-cursor0 where libxcb-icccm4 and libxcb-keysyms1 were missing too).
"""

from __future__ import annotations

import ctypes
import importlib
import subprocess
import sys

import pytest

from cdvae_studio import qt_start
from cdvae_studio.qt_start import NO_DISPLAY, debian_package, display_choice, lack_text

LDD_LISTING = ("\tlibxcb.so.1 => /lib/x86_64-linux-gnu/libxcb.so.1 (0x00007f)\n"
               "\tlibxcb-icccm.so.4 => not found\n\tlibxcb-keysyms.so.1 => not found\n"
               "\tlibxcb-icccm.so.4 => not found\n")
ICCCM_MISSING = OSError("libxcb-icccm.so.4: cannot open shared object file: No such file or directory")


def test_debian_packages_follow_the_shared_library_naming_policy():
    names = ["libxcb-icccm.so.4", "libxkbcommon-x11.so.0", "libxcb-cursor.so.0", "libEGL.so.1",
             "libglib-2.0.so.0", "libdbus-1.so.3", "libfoo.so"]
    assert [debian_package(name) for name in names] == [
        "libxcb-icccm4", "libxkbcommon-x11-0", "libxcb-cursor0", "libegl1", "libglib-2.0-0", "libdbus-1-3", "libfoo"]


@pytest.mark.parametrize("system", ["linux", "freebsd14"])
def test_the_window_needs_a_display_and_a_loadable_x11_plugin_a_screenshot_needs_neither(system):
    complete, lacking = (lambda: []), (lambda: ["libxcb-icccm.so.4", "libxcb-keysyms.so.1"])
    assert display_choice(False, {}, system, complete) == (None, NO_DISPLAY)
    assert display_choice(True, {}, system, complete) == ("offscreen", "")
    for env in ({"DISPLAY": ":0"}, {"WAYLAND_DISPLAY": "wayland-0"}, {"QT_QPA_PLATFORM": "vnc"}):
        for screenshot in (False, True):
            assert display_choice(screenshot, env, system, complete) == (None, "")
    assert display_choice(False, {"DISPLAY": ":0"}, system, lacking) == (
        None, "Qt cannot open a window on X11: its xcb platform plugin needs libxcb-icccm.so.4, "
              "libxcb-keysyms.so.1, which this system lacks (Debian and Ubuntu: sudo apt install "
              "libxcb-icccm4 libxcb-keysyms1)")
    assert display_choice(True, {"DISPLAY": ":0"}, system, lacking) == ("offscreen", "")
    for env in ({"DISPLAY": ":0", "WAYLAND_DISPLAY": "wayland-0"}, {"DISPLAY": ":0", "QT_QPA_PLATFORM": "xcb"}):
        assert display_choice(False, env, system, lacking) == (None, "")  # Wayland, or the user's own choice


@pytest.mark.parametrize("system", ["darwin", "win32"])
def test_macos_and_windows_are_left_to_qt(system):
    assert display_choice(False, {}, system, lambda: ["libxcb-icccm.so.4"]) == (None, "")


def test_a_plugin_that_loads_costs_no_ldd_run_and_one_that_does_not_is_listed_whole(monkeypatch, tmp_path):
    """The plugin is loaded as Qt would (8 ms); ldd (100 ms of every start) runs only where that
    fails, to list every missing library; without ldd the loader's first one is named, and a
    failure that is not a missing library is passed on as it reads."""
    ldd_runs = []

    def ldd(*args, **kwargs):
        ldd_runs.append(args)
        return subprocess.CompletedProcess(args, 0, LDD_LISTING, "")

    def no_ldd(*args, **kwargs):
        raise FileNotFoundError("ldd")

    def fails(error):
        def load(name):
            raise error
        return load

    monkeypatch.setattr(qt_start.Path, "is_file", lambda self: True)
    monkeypatch.setattr(qt_start.subprocess, "run", ldd)
    monkeypatch.setattr(ctypes, "CDLL", lambda name: object())
    assert qt_start.missing_xcb_libraries() == [] and ldd_runs == []
    monkeypatch.setattr(ctypes, "CDLL", fails(ICCCM_MISSING))
    assert qt_start.missing_xcb_libraries() == ["libxcb-icccm.so.4", "libxcb-keysyms.so.1"] and len(ldd_runs) == 1
    monkeypatch.setattr(qt_start.subprocess, "run", no_ldd)
    assert qt_start.missing_xcb_libraries() == ["libxcb-icccm.so.4"]
    monkeypatch.setattr(ctypes, "CDLL", fails(OSError("libqxcb.so: undefined symbol: _ZN7QWindow4showEv")))
    lacking = qt_start.missing_xcb_libraries()
    assert lack_text(lacking) == "does not load (libqxcb.so: undefined symbol: _ZN7QWindow4showEv)"


def test_qt_widgets_that_will_not_import_for_a_missing_library_are_refused_in_one_line(monkeypatch, capsys):
    """A minimal container lacks libEGL and friends: importing PySide6.QtWidgets was a traceback."""
    from cdvae_studio.app import main

    real_import = importlib.import_module

    def without_egl(name, *args):
        if name == "PySide6.QtWidgets":
            raise ImportError("libEGL.so.1: cannot open shared object file: No such file or directory")
        return real_import(name, *args)

    monkeypatch.setattr(qt_start.importlib, "import_module", without_egl)
    monkeypatch.setattr(qt_start.subprocess, "run",
                        lambda *a, **k: subprocess.CompletedProcess(a, 0, "\tlibEGL.so.1 => not found\n"
                                                                         "\tlibxkbcommon.so.0 => not found\n", ""))
    assert main(["--screenshot", "out.png"]) == 2  # a screenshot needs Qt's widgets too
    assert capsys.readouterr().err == (
        "cdvae-studio: error: Qt cannot start: its widgets module needs libEGL.so.1, libxkbcommon.so.0, which "
        "this system lacks (Debian and Ubuntu: sudo apt install libegl1 libxkbcommon0)\n")


def test_without_a_display_main_refuses_the_window_before_any_qapplication(monkeypatch, capsys):
    from cdvae_studio.app import main

    for name in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY"):
        monkeypatch.delenv(name, raising=False)
    if not sys.platform.startswith("linux"):
        pytest.skip("the display check is for Linux and the BSDs")
    assert main([]) == 2  # this process keeps pytest-qt's QApplication: none was made
    assert capsys.readouterr().err == f"cdvae-studio: error: {NO_DISPLAY}\n"

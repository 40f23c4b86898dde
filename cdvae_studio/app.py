"""``cdvae-studio [IMAGE ...] [--model DIR] [--screenshot PNG]``: the desktop app's entry point.

Teardown order matters with pyqtgraph: the window (and every GraphicsScene in it) is closed and
deleted while the QApplication still exists, the worker threads are joined first, and only then
does the interpreter exit, so no Qt object is destroyed after its application.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
from pathlib import Path
from typing import Any

SCREENSHOT_TIMEOUT_S = 120.0  # give up waiting for renders and write what is on screen
MAX_WINDOW_SIDE = 8192  # px: an 8K screen; a grab of 100000x100000 ran out of time and memory


def window_size(text: str) -> tuple[int, int]:
    """--size "WxH" -> (W, H), each side 1..MAX_WINDOW_SIDE px (Qt keeps the window at least as
    large as its layout needs); argparse says why otherwise."""
    try:
        width, height = (int(side) for side in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"must look like 1560x960, got {text!r}") from None
    if not (0 < width <= MAX_WINDOW_SIDE and 0 < height <= MAX_WINDOW_SIDE):
        raise argparse.ArgumentTypeError(f"each side must lie in 1..{MAX_WINDOW_SIDE} px, got {text!r}")
    return width, height


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    from cdvae_core.cli.common import VersionAction

    parser = argparse.ArgumentParser(
        prog="cdvae-studio",
        description="Explore ambiguous predictions (relighting, resaturation, motion) of CDVAE models.",
    )
    parser.add_argument("images", nargs="*", help="image(s), videos or folders of them to open; the first is shown, "
                        "the rest wait in the gallery (default: a built-in photo); a video opens at its first frame, "
                        "\"clip.mp4#t=2.5\" at 2.5 s; a saved model folder or a pair file opens as a model")
    parser.add_argument("--model", help="a saved model directory (or a pair file for the nearest-neighbour baseline)")
    parser.add_argument("--task", choices=("relighting", "resaturation", "motion"), help="task to start on")
    parser.add_argument("--screenshot", metavar="PNG", help="render the window once everything has loaded, "
                        "write it to PNG and exit")
    parser.add_argument("--session", help="reopen a saved session JSON")
    parser.add_argument("--size", type=window_size, metavar="WxH",
                        help=f"window size WxH, each side up to {MAX_WINDOW_SIDE} px (default: the size the window "
                             "had when it was last closed; at first 1560x960, or less where the screen is smaller; "
                             "a screenshot's 1560x960)")
    parser.add_argument("--settings", help="settings file (INI); default: the user's Qt settings")
    parser.add_argument("--version", action=VersionAction, describe=_versions,
                        help="print the version (and Python's, torch's, Qt's and pyqtgraph's) and exit")
    return parser.parse_args(argv)


def _versions() -> str:
    """What a bug report needs: ours, Python's, torch's, Qt's (the PySide6 wheel) and pyqtgraph's,
    read from the packages' records, without starting Qt."""
    from importlib import metadata

    from cdvae_core.cli.common import version_text

    found: dict[str, str] = {}
    for label, dist in (("PySide6", "PySide6-Essentials"), ("pyqtgraph", "pyqtgraph")):
        try:
            found[label] = metadata.version(dist)
        except metadata.PackageNotFoundError:  # the full PySide6 wheel instead of the Essentials one
            found[label] = metadata.version("PySide6") if label == "PySide6" else "not installed"
    return version_text(**found)


def _settings(path: str | None):
    from PySide6.QtCore import QSettings

    if path:
        return QSettings(path, QSettings.Format.IniFormat)
    return QSettings("CDVAE", "Studio")


def check_paths(args: argparse.Namespace) -> str:
    """Why ``--settings`` or ``--screenshot`` cannot be used, before any window ("" if they can):
    a FIFO as the settings file hung the start, a folder was silently ignored, and a screenshot
    into a folder failed only after everything had loaded, naming its temporary file."""
    from cdvae_core.atomic import unwritable_reason
    from cdvae_core.cli.common import CliError, check_output_file

    if args.settings:
        target = Path(args.settings)
        try:
            odd = target.exists() and not target.is_file()
        except OSError as exc:  # a name too long for the file system
            return f"--settings {target} cannot be used ({exc.strerror or exc})"
        if odd:
            return f"--settings {target} is not a regular file"
        why = unwritable_reason(target.absolute().parent)
        if why is not None:  # read as far as it can be, but nothing would be kept: say so, not fail
            print(f"cdvae-studio: warning: --settings {target}: {target.absolute().parent} {why}; "
                  "changes will not be saved", file=sys.stderr)
    if args.screenshot:
        try:
            check_output_file(args.screenshot, "--screenshot")
        except CliError as exc:
            return str(exc)
    return ""


def _write_screenshot(window, path: str) -> None:
    from cdvae_core.atomic import write_with

    pixmap = window.grab()

    def writer(tmp: Path) -> None:
        if not pixmap.save(str(tmp), "PNG"):
            raise OSError(f"Qt could not write {tmp}")

    write_with(path, writer, suffix=".png")


def configure_runtime() -> None:
    """Process-wide settings of the app (also used by benchmarks/bench_studio.py, so it measures
    the app as shipped): pyqtgraph's options, and a 1 ms GIL switch interval. The default 5 ms
    lets a busy Python thread (the training queue reader, the render worker) keep the GUI
    thread waiting up to 5 ms each time it wants the interpreter back."""
    import pyqtgraph as pg

    pg.setConfigOptions(imageAxisOrder="row-major", antialias=True, exitCleanup=False)
    sys.setswitchinterval(0.001)


def collect_garbage_in_gui_thread():
    """Turn off Python's automatic cycle collector and run it from a 1 s GUI-thread timer instead
    (pyqtgraph's ``GarbageCollector``); keep the returned object alive. Automatic collection runs
    in whichever thread happens to allocate: when the render worker collected a cycle holding Qt
    wrappers, their ~QObject ran there and waited for the GIL while the GUI thread, holding it,
    waited for Qt's connection mutex in its own ~QObject (a deadlock, seen in the test suite)."""
    from pyqtgraph.util.garbage_collector import GarbageCollector

    return GarbageCollector(interval=1.0)


def freeze_when_settled(window: Any) -> None:
    """Once ``window`` has first settled (model, image and grid loaded), collect garbage once and
    move every object alive then (torch, numpy, Qt and the loaded model: about 265,000 objects)
    into Python's permanent generation (``gc.freeze``). A full collection by the timer above
    scanned them all and froze the window for 70-110 ms about every 100 s of use; after the
    freeze it scans only what came later (benchmarks/bench_studio.py measures both). The one
    collection here costs about 100 ms, once, as the first grid appears.

    Later, each time the window settles on a context it had not settled on (another model or
    image), one collection runs then, without a freeze. Another model leaves tens of thousands of
    new long-lived objects, and the timer's next full collection scanned them wherever it came:
    38-44 ms in the first seconds after switching to the built-in motion model, in the middle of
    whatever the user did next (bench_studio). Just after a load, whose grid took most of a second,
    nobody is dragging. Nothing more is frozen: a frozen object that later became cyclic garbage
    (an old image's context) would never be collected."""
    last: list[int | None] = [None]  # id() of the context the last collection followed

    def collect() -> None:
        ctx = window.state.ctx
        if ctx is None or not window.state.settled_once or id(ctx) == last[0]:
            return  # settled without a model (none for the task, or failed), or on the same context
        gc.collect()
        if last[0] is None:
            gc.freeze()
        last[0] = id(ctx)

    window.settled.connect(collect)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from .qt_start import start_problem

    platform, problem = start_problem(bool(args.screenshot), os.environ)
    problem = problem or check_paths(args)
    if problem:
        from cdvae_core.messages import one_line_text
        print(f"cdvae-studio: error: {one_line_text(problem)}", file=sys.stderr)
        return 2
    if platform:
        os.environ["QT_QPA_PLATFORM"] = platform  # read when the QApplication starts
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    configure_runtime()
    app = QApplication.instance() or QApplication(sys.argv[:1])
    gc_guard = collect_garbage_in_gui_thread()  # alive until the teardown below
    app.setApplicationName("CDVAE Studio")
    app.setOrganizationName("CDVAE")

    from .main_window import MainWindow

    settings = _settings(args.settings)
    scratch = None  # a screenshot's own settings folder, removed at the end (one was left per run)
    if args.screenshot and not args.settings:
        # a screenshot must look the same on every machine: ignore the user's saved layout
        from PySide6.QtCore import QSettings
        import tempfile

        scratch = tempfile.TemporaryDirectory(prefix="cdvae-shot-")
        settings = QSettings(os.path.join(scratch.name, "s.ini"), QSettings.Format.IniFormat)
    window = MainWindow(settings=settings, task=args.task)
    freeze_when_settled(window)
    if args.size:
        window.resize(*args.size)
    elif not args.screenshot:  # a screenshot keeps the default size on every machine
        window.fit_first_size()  # the size it was closed at came back with its settings; at first, fit the screen
    # a screenshot is a first start's: nothing of the last run
    window.state.start(args.images or (), args.model, args.session, first_start=bool(args.screenshot))
    window.show()
    from .stop_signals import SignalStop

    def stop(signum: int) -> None:
        window.close_on_signal()
        app.quit()  # every event loop, a modal file dialog's too

    stopper = SignalStop(stop)

    code = 0
    if args.screenshot:
        started = time.monotonic()
        timer = QTimer()

        def check() -> None:
            nonlocal code
            # settled: drawn, or nothing left to draw (no model, no photo opened, or the model failed:
            # a model whose embedding was damaged used to keep the screenshot waiting 120 s, then exit 1)
            state = window.state
            done = state.is_settled() and (state.settled_once or state.entry is None or state.image is None
                                           or state.context_failed)
            waited = time.monotonic() - started
            if (done and waited > 1.0) or waited > SCREENSHOT_TIMEOUT_S:
                timer.stop()
                try:
                    _write_screenshot(window, args.screenshot)
                except (OSError, ValueError) as exc:  # checked at the start: the disk filled meanwhile, say
                    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
                    print(f"cdvae-studio: cannot write the screenshot {args.screenshot} ({reason})", file=sys.stderr)
                    code = 1
                if not done:  # written for inspection, but a half-loaded window is a failure
                    print(f"cdvae-studio: the window had not settled after {SCREENSHOT_TIMEOUT_S:.0f} s; "
                          "the screenshot shows it unfinished", file=sys.stderr)
                    code = 1
                window.close()
                app.quit()

        timer.timeout.connect(check)
        timer.start(100)
        app.exec()
    else:
        app.exec()
    gc_guard.timer.stop()
    stopper.restore()
    _teardown(app, window)
    if scratch is not None:
        settings.sync()  # written now, not by its destructor into a folder gone by then
        scratch.cleanup()
    return 128 + stopper.received if stopper.received else code  # 130 after Ctrl+C, 143 after SIGTERM


def _teardown(app, window) -> None:
    """Join workers, then delete the window's scenes while the QApplication still lives."""
    import shiboken6

    if window.isVisible():
        window.close()
    window.shutdown()
    if shiboken6.isValid(window):
        shiboken6.delete(window)
    app.processEvents()  # once, at exit: deliver the deleteLater events of the scenes


if __name__ == "__main__":
    sys.exit(main())

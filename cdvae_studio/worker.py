"""Background work for the Studio.

``LatestWorker``: one QThread that runs short jobs (load, prepare, decode, render) with the
newest request winning per channel, the way StyleGAN3's AsyncRenderer does it: submitting to a
channel replaces any job still waiting there, every job carries a request id, and the GUI drops
a result whose id is no longer the channel's newest. A long job may ask ``superseded()`` as it
goes and give up by raising ``Stopped`` once a newer request has replaced it (a video frame
decoded from the start). Jobs are plain functions on numpy data; they never touch widgets. Errors come back as one-line strings, never as exceptions in the GUI.

``JobRunner``: drives a long generator of ``Progress`` records (exporting) in its own QThread,
forwarding each record as a signal; ``cancel`` closes the generator between steps so its
``finally`` blocks run in the worker thread. ``ProcessJobRunner``: the same for a generator run
in a spawned process (training), its records sent back through a multiprocessing queue, so its
Python work never holds the GUI's GIL; ``cancel`` asks it to close the generator there (the
trainer keeps its last finished epoch).

Errors and tracebacks. Every failure reaches the GUI as one line (``_one_line``). An *expected*
error is shown as its message alone, which is written for the user; an *unexpected* one, a bug
worth a report, keeps its class name ("KeyError: 'x'") and prints its traceback to stderr as
well (``expected_error`` draws the line). An OSError naming its path reads "PATH: reason", as
in the commands:

- expected: a ``ValueError`` whose class comes from ``cdvae_core`` or ``cdvae_studio`` (every
  error kind of theirs, ``ExportError``, ``DataError``, ``PairFileError``, ``CatalogError`` ...,
  derives from ``ValueError`` and carries a message meant for the user), a plain ``ValueError``
  raised by their own code (``raise ValueError("no images in ...")``), and an ``OSError`` (the
  file system refusing a read or write: the message names the path and the reason);
- unexpected: everything else, a ``ValueError`` raised inside numpy, torch or OpenCV included.
"""

from __future__ import annotations

import os
import threading
import time
import traceback
from typing import Any, Callable, Generator

from PySide6.QtCore import QObject, QThread, Signal, Slot

from cdvae_core.data.errors import Stopped
from cdvae_core.messages import one_line_text, os_error_line

# the render worker's channels in the order it serves them: image file, context, grid, then
# extras, and last the held slider's prefetch (scrub.py), which runs only when nothing else waits
CHANNELS = ("image", "context", "grid", "preview", "truth", "drift", "sweep", "misc", "scrub")


_OUR_PACKAGES = ("cdvae_core", "cdvae_studio")


def expected_error(exc: BaseException) -> bool:
    """True for the error kinds the module docstring calls expected (one line, no traceback)."""
    if isinstance(exc, OSError):
        return True
    if not isinstance(exc, ValueError):
        return False
    if type(exc).__module__.split(".")[0] in _OUR_PACKAGES:
        return True
    tb = exc.__traceback__  # a plain ValueError: expected where our own code raised it
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb is not None and str(tb.tb_frame.f_globals.get("__name__", "")).split(".")[0] in _OUR_PACKAGES


def report_error(exc: BaseException) -> str:
    """The one-line error for the GUI; the traceback goes to stderr only when unexpected."""
    if not expected_error(exc):
        traceback.print_exception(exc)
    return _one_line(exc)


def _one_line(exc: BaseException) -> str:
    """An expected error's whole message, its control characters escaped; an unexpected (or a
    message-less) one's class name, its most telling part, and its message's first line."""
    if isinstance(exc, OSError):
        return os_error_line(exc)  # "PATH: reason", as the commands say it, not "[Errno 36] ..."
    text = str(exc).strip()
    if text and expected_error(exc):
        return one_line_text(text)  # whole: a newline there is one in a file name
    lines = text.splitlines()
    return f"{type(exc).__name__}: {lines[0] if lines else ''}".rstrip(": ")


class LatestWorker(QObject):
    """Newest-request-wins job runner on a private QThread.

    ``done(channel, request_id, result, seconds, error)`` is emitted in the worker thread and
    delivered queued to GUI-thread slots; ``error`` is "" on success. On failure ``result`` is
    the exception's class, so that a slot can tell error kinds apart without parsing the text.
    """

    done = Signal(str, int, object, float, str)
    _wake = Signal()

    def __init__(self, channels: tuple[str, ...] = CHANNELS, name: str = "cdvae-render") -> None:
        super().__init__()
        self.channels = channels  # in the order a free worker serves them
        self._lock = threading.Lock()
        self._pending: dict[str, tuple[int, Callable[[], Any]]] = {}
        self._latest: dict[str, int] = {}
        self._next_id = 0
        self._running: tuple[str, int] | None = None  # (channel, request id) of the job running
        self._inflight = 0  # submitted jobs whose result the GUI has not yet received
        self._thread = QThread()
        self._thread.setObjectName(name)
        self.moveToThread(self._thread)
        self._wake.connect(self._drain)
        self._thread.start()

    def submit(self, channel: str, job: Callable[[], Any]) -> int:
        """Queue ``job`` on ``channel``, replacing a job still waiting there; returns its id."""
        if channel not in self.channels:
            raise ValueError(f"unknown worker channel {channel!r}")
        with self._lock:
            self._next_id += 1
            rid = self._next_id
            if channel not in self._pending:
                self._inflight += 1  # a replaced job never reports: count it once
            self._pending[channel] = (rid, job)
            self._latest[channel] = rid
        self._wake.emit()
        return rid

    def is_current(self, channel: str, request_id: int) -> bool:
        """True when request_id is still the newest request of its channel (else drop it)."""
        with self._lock:
            return self._latest.get(channel) == request_id

    def superseded(self) -> bool:
        """True, asked from a running job, once a newer request (or ``cancel``) has made its
        result stale: the job may stop early by raising ``Stopped`` (reported as an error the GUI
        drops with the stale result). Called in the worker thread; a lock-guarded look-up."""
        with self._lock:
            return self._running is not None and self._latest.get(self._running[0]) != self._running[1]

    def cancel(self, channel: str) -> None:
        """Forget a waiting job and make any result in flight stale."""
        with self._lock:
            if self._pending.pop(channel, None) is not None:
                self._inflight -= 1
            self._next_id += 1
            self._latest[channel] = self._next_id

    def delivered(self) -> None:
        """The GUI calls this first thing in its ``done`` slot: the result has arrived."""
        with self._lock:
            self._inflight = max(0, self._inflight - 1)

    def idle(self) -> bool:
        """True when every submitted job has run and its result has been delivered to the GUI."""
        with self._lock:
            return self._inflight == 0

    def _take(self) -> tuple[str, int, Callable[[], Any]] | None:
        with self._lock:
            for channel in self.channels:
                if channel in self._pending:
                    rid, job = self._pending.pop(channel)
                    self._running = channel, rid
                    return channel, rid, job
            self._running = None
            return None

    @Slot()
    def _drain(self) -> None:
        while True:
            item = self._take()
            if item is None:
                return
            channel, rid, job = item
            t0 = time.perf_counter()
            try:
                result, error = job(), ""
            except Stopped:  # stale: nobody waits for it (no traceback, nothing shown)
                result, error = Stopped, "stopped: a newer request replaced it"
            except Exception as exc:  # noqa: BLE001 - a failing job must reach the status bar, not kill the thread
                result, error = type(exc), report_error(exc)
            self.done.emit(channel, rid, result, time.perf_counter() - t0, error)

    def stop(self) -> None:
        """Drop waiting jobs, let the running one finish, and join the thread."""
        with self._lock:
            self._pending.clear()
        self._thread.quit()
        self._thread.wait()


class _GenLoop(QObject):
    progress = Signal(object)
    finished = Signal(str, object)  # status ("done", "cancelled", "failed"), payload (error text or return value)

    def __init__(self, factory: Callable[[], Generator[Any, None, Any]]) -> None:
        super().__init__()
        self._factory = factory
        self.cancel_requested = threading.Event()

    @Slot()
    def run(self) -> None:
        gen = None
        try:
            gen = self._factory()
            while True:
                if self.cancel_requested.is_set():
                    gen.close()  # GeneratorExit at the yield: the job's finally blocks run here
                    self.finished.emit("cancelled", None)
                    return
                try:
                    record = next(gen)
                except StopIteration as stop:
                    self.finished.emit("done", stop.value)
                    return
                self.progress.emit(record)
        except Exception as exc:  # noqa: BLE001 - reported to the dialog as one line
            error = report_error(exc)
            if gen is not None:
                gen.close()
            self.finished.emit("failed", error)


class JobRunner(QObject):
    """Run a generator of Progress records on its own thread; cancel between steps.

    Signals: ``progress(record)``, ``finished(status, payload)`` with status one of "done"
    (payload: the generator's return value), "cancelled" or "failed" (payload: one-line error).
    """

    progress = Signal(object)
    finished = Signal(str, object)

    def __init__(self, factory: Callable[[], Generator[Any, None, Any]], name: str = "cdvae-job") -> None:
        super().__init__()
        self._thread = QThread()
        self._thread.setObjectName(name)
        self._loop = _GenLoop(factory)
        self._loop.moveToThread(self._thread)
        self._loop.progress.connect(self.progress)
        self._loop.finished.connect(self._on_finished)
        self._thread.started.connect(self._loop.run)
        self._status: str | None = None

    def start(self) -> None:
        self._thread.start()

    def cancel(self) -> None:
        self._loop.cancel_requested.set()

    def running(self) -> bool:
        return self._thread.isRunning() and self._status is None

    def wait(self, ms: int = 60_000) -> bool:
        """Block until the job's thread ends (used at exit, after cancel)."""
        self._thread.quit()
        return self._thread.wait(ms)

    @Slot(str, object)
    def _on_finished(self, status: str, payload: object) -> None:
        self._status = status
        # join before telling anyone: a listener may drop this runner at once (a dialog's next
        # job replaces it), and a QThread destroyed while still running aborts the process (CI
        # caught it). The loop has emitted its last signal; only its return is left to wait for.
        self._thread.quit()
        self._thread.wait()
        self.finished.emit(status, payload)


CHILD_NICENESS = 10  # how far below the window a background job's process runs (POSIX nice)


def lower_priority(increment: int = CHILD_NICENESS) -> None:
    """Lower this process's CPU priority where the OS allows it (POSIX). On a 2-core machine a
    training process with 2 threads can take both cores while the window has a frame to draw; at
    a lower priority the window gets one first. (The stalls measured while training were mostly
    the loss plot's own painting; this change did not move them measurably, docs/studio.md.)"""
    try:
        os.nice(increment)
    except (AttributeError, OSError):  # Windows has no os.nice; a refused change is harmless
        pass


def _child_main(func: Callable[..., Generator[Any, None, Any]], args: tuple, queue: Any, cancel: Any) -> None:
    """Body of a ProcessJobRunner's process: drive the generator, report through the queue.

    It stops, as on a cancel, once the Studio's process has gone: a daemon child is ended only by
    a parent that exits normally, and after a crash or a kill -9 of the Studio the training went
    on unseen to its last epoch, taking the cores."""
    import multiprocessing

    parent = multiprocessing.parent_process()  # None when run in-process (tests)
    gen = None
    lower_priority()
    try:
        gen = func(*args)
        while True:
            if parent is not None and not parent.is_alive():
                gen.close()  # the last finished epoch's checkpoint is kept: --resume continues it
                queue.cancel_join_thread()  # nobody reads the queue now: do not wait to flush it at exit
                return
            if cancel.is_set():
                gen.close()  # the job's finally blocks (checkpoints) run before we report
                queue.put(("cancelled", None))
                return
            try:
                record = next(gen)
            except StopIteration as stop:
                queue.put(("done", stop.value))
                return
            queue.put(("progress", record))
    except BaseException as exc:  # noqa: BLE001 - every failure must reach the dialog as one line
        if gen is not None:
            try:
                gen.close()
            except Exception:  # noqa: BLE001 - already failing; keep the first error
                pass
        # the child's stderr is the app's: a bug's traceback shows there, as for a JobRunner
        queue.put(("failed", report_error(exc) if isinstance(exc, Exception) else _one_line(exc)))


class _QueueReader(QThread):
    """Forwards a child process's queue messages as Qt signals (delivered queued to the GUI)."""

    message = Signal(str, object)

    def __init__(self, queue: Any, process: Any) -> None:
        super().__init__()
        self.queue, self.process = queue, process
        # set before the last message is emitted: from then until the GUI thread takes it, the
        # job is over but its outcome not yet told, and the runner must still count as running
        self.final_sent = False

    def run(self) -> None:
        import queue as queue_mod

        while True:
            try:
                kind, payload = self.queue.get(timeout=0.2)
            except queue_mod.Empty:
                if not self.process.is_alive():
                    self.final_sent = True
                    self.message.emit("failed", f"the worker process ended unexpectedly (exit code {self.process.exitcode})")
                    return
                continue
            if kind != "progress":
                # reap the process here, off the GUI thread: a join in the GUI's slot froze the
                # window for as long as the child took to exit (seconds after a cancel, sampled)
                self.process.join(30)
                self.final_sent = True
                self.message.emit(kind, payload)
                return
            self.message.emit(kind, payload)


class ProcessJobRunner(QObject):
    """Like JobRunner, but the generator ``func(*args)`` runs in a separate (spawned) process,
    so its Python work never holds the GUI's GIL. ``func`` and ``args`` must be picklable.

    Signals: ``progress(record)``, ``finished(status, payload)`` as for JobRunner.
    """

    progress = Signal(object)
    finished = Signal(str, object)

    def __init__(self, func: Callable[..., Generator[Any, None, Any]], args: tuple, name: str = "cdvae-job") -> None:
        super().__init__()
        import multiprocessing

        mp = multiprocessing.get_context("spawn")
        self._queue = mp.Queue()
        self._cancel = mp.Event()
        self._process = mp.Process(target=_child_main, args=(func, args, self._queue, self._cancel),
                                   name=name, daemon=True)
        self._reader = _QueueReader(self._queue, self._process)
        self._reader.message.connect(self._on_message)
        self._status: str | None = None
        self._joined = False

    def start(self) -> None:
        self._process.start()
        self._reader.start()

    def cancel(self) -> None:
        self._cancel.set()

    def running(self) -> bool:
        """True from start() until ``finished`` is emitted or wait() has joined the job. The reader
        thread ends as soon as it has queued the last message, before the GUI thread delivers it:
        a dialog asked then saw its run over with "Starting…" still shown (CI caught it)."""
        if self._status is not None or self._joined:
            return False
        return self._process.is_alive() or self._reader.isRunning() or self._reader.final_sent

    def wait(self, ms: int = 60_000) -> bool:
        """Block until the process has stopped (used at exit, after cancel); kill it past ``ms``."""
        self._process.join(ms / 1000)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(5)
        self._reader.wait(2000)
        # joined here (at exit, the end may never be told): over, as a JobRunner after its wait
        self._joined = not self._process.is_alive() and self._reader.isFinished()
        return not self._process.is_alive()

    @Slot(str, object)
    def _on_message(self, kind: str, payload: object) -> None:
        if kind == "progress":
            self.progress.emit(payload)
            return
        self._status = kind  # the reader thread has already joined the process
        self._reader.wait()  # as JobRunner._on_finished: the reader must end before we can be dropped
        self.finished.emit(kind, payload)

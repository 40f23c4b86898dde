"""Ctrl+C in the terminal that started the Studio (SIGINT) and SIGTERM close it as Quit does.

Python runs a signal handler only when the interpreter next gets control, and while Qt's event
loop waits that can be never: Ctrl+C printed a KeyboardInterrupt traceback from whichever timer
callback ran next (pyqtgraph's garbage collector) and the window stayed open, and SIGTERM ended
the process without saving the settings or stopping a training run between epochs. The signal
now writes a byte to a socket (``signal.set_wakeup_fd``, done in C the moment it arrives), a
QSocketNotifier wakes the event loop, and the handler closes the window without the "training in
progress" question: the settings are saved and a training run keeps its last finished epoch.
"""

from __future__ import annotations

import signal
import socket
from typing import Any, Callable

from PySide6.QtCore import QObject, QSocketNotifier

STOP_SIGNALS = tuple(s for s in (getattr(signal, "SIGINT", None), getattr(signal, "SIGTERM", None)) if s is not None)


class SignalStop(QObject):
    """Installs the handlers; ``received`` is the signal number that stopped the app (0: none).
    ``restore()`` puts the previous handlers and wake-up fd back (tests, and the app's teardown)."""

    def __init__(self, stop: Callable[[int], Any]) -> None:
        super().__init__()
        self.received = 0
        self._stop = stop
        self._read, self._write = socket.socketpair()
        for end in (self._read, self._write):
            end.setblocking(False)
        self._previous_fd = signal.set_wakeup_fd(self._write.fileno())
        self._previous = {s: signal.signal(s, self._handle) for s in STOP_SIGNALS}
        self._notifier = QSocketNotifier(self._read.fileno(), QSocketNotifier.Type.Read, self)
        self._notifier.activated.connect(self._drain)

    def _drain(self) -> None:
        # running this slot is what lets Python call _handle; the bytes themselves are not needed
        try:
            while self._read.recv(64):
                pass
        except OSError:
            pass

    def _handle(self, signum: int, frame: Any) -> None:
        if self.received:  # a second Ctrl+C while closing: the close under way finishes
            return
        self.received = signum
        self._stop(signum)

    def restore(self) -> None:
        self._notifier.setEnabled(False)
        for s, handler in self._previous.items():
            signal.signal(s, handler)
        signal.set_wakeup_fd(self._previous_fd)
        self._read.close()
        self._write.close()

"""Progress records that long jobs (training, preparing, exporting) yield to whoever drives them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Generator, TypeVar

R = TypeVar("R")


@dataclass(frozen=True)
class Progress:
    """One step of a long job.

    ``stage`` names the phase ("train", "lpp", "export", ...), ``done`` of ``total`` units are
    finished, ``message`` is a short human line and ``values`` carries numbers worth plotting
    (loss terms, images per second, ETA in seconds).
    """

    stage: str
    done: int
    total: int
    message: str = ""
    values: dict[str, float] = field(default_factory=dict)

    @property
    def fraction(self) -> float:
        return 0.0 if self.total <= 0 else min(1.0, self.done / self.total)


def drive(gen: Generator[Progress, None, R], on_progress: Callable[[Progress], None] | None = None) -> R:
    """Run a Progress generator to its end, passing each record to ``on_progress``; return its value."""
    while True:
        try:
            progress = next(gen)
        except StopIteration as stop:
            return stop.value
        if on_progress is not None:
            on_progress(progress)

"""Errors and the skip ledger of the data pipeline.

``DataError`` stops a run with a one-line reason (nothing usable, a file that is not COCO);
``SkipItem`` marks one bad image or video, which is counted and skipped, never fatal.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


class DataError(ValueError):
    """A source that cannot be used at all; the message is one line for the user."""


class SkipItem(Exception):
    """One unusable item (image, video); ``reason`` is a short category like 'corrupt image'."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class Stopped(Exception):
    """A read given up part-way because its caller no longer wants the answer (its ``stop()``
    came true): the Studio's worker stops decoding a frame once a newer request replaces it."""


@dataclass
class SkipLog:
    """Counts skipped items by reason and keeps the first few names of each for the summary."""

    keep: int = 20  # names remembered per reason
    counts: Counter = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)

    def add(self, name: str, reason: str, detail: str = "") -> None:
        self.counts[reason] += 1
        names = self.examples.setdefault(reason, [])
        if len(names) < self.keep:
            names.append(f"{name} ({detail})" if detail and detail != name else name)

    @property
    def total(self) -> int:
        return int(sum(self.counts.values()))

    def to_meta(self) -> dict:
        return {"count": self.total, "reasons": dict(self.counts), "examples": self.examples}

    @classmethod
    def from_meta(cls, meta: dict) -> "SkipLog":
        """The log a pair file's ``meta["skipped"]`` (``to_meta``) was written from."""
        return cls(counts=Counter(meta.get("reasons", {})), examples=dict(meta.get("examples", {})))

    def counts_text(self) -> str:
        """'5 x corrupt image, 1 x missing file': the reasons, most frequent first."""
        return ", ".join(f"{count} x {reason}" for reason, count in self.counts.most_common())

    def summary_lines(self) -> list[str]:
        lines = []
        for reason, count in self.counts.most_common():
            shown = ", ".join(_short(name) for name in self.examples.get(reason, [])[:3])
            lines.append(f"  skipped {count} x {reason}: {shown}{' ...' if count > 3 else ''}")
        return lines


def _short(name: str, most: int = 100) -> str:
    """A name cut to ``most`` characters for a summary line (a listed name can be thousands)."""
    return name if len(name) <= most else name[:most - 3] + "..."

"""What a data source hands the prepare pipeline: items, labels, and what was already skipped."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .errors import SkipLog
from .items import Item


@dataclass
class Source:
    kind: str  # "coco", "ucf101", "folder", "videos", "builtin"
    items: list[Item]
    description: dict[str, Any]  # paths and options, for the pair file's meta
    categories: list[str] | None = None  # category names when items carry boxes (COCO)
    label_names: list[str] | None = None  # names of the per-pair "labels" in meta (plotting)
    has_split: bool = False  # True when items carry their own 0/1 split
    skipped: SkipLog = field(default_factory=SkipLog)  # items refused while scanning

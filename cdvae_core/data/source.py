"""What a data source hands the prepare pipeline: items, labels, and what was already skipped."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
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
    # with has_split: {0 train / 1 test: (the file that lists that part, entries it lists)}, to say
    # why a part turned out unusable (UCF101's trainlist0k.txt / testlist0k.txt)
    parts: dict[int, tuple[str, int]] | None = None
    skipped: SkipLog = field(default_factory=SkipLog)  # items refused while scanning


def find_listed(root: Path, name: str) -> tuple[Path | None, str]:
    """A file an annotation or split file lists: (root/name, or root/<its base name> for a flat
    copy, ""), or (None, the reason it cannot be used). A name the file system refuses to look
    up (longer than it allows, under a folder this user may not enter) is such a reason, not an
    error of the whole run: it was an OSError that cdvae-prepare reported as its --out failing."""
    for path in (root / name, root / Path(name).name):
        try:
            if path.is_file():
                return path, ""
        except OSError as exc:
            return None, f"listed file cannot be looked up ({exc.strerror})"
    return None, "listed file missing"

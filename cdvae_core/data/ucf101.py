"""UCF101: a folder of videos and the folder of split files.

Split files (split k in 1..3): ``classInd.txt`` lines "INDEX Class", ``trainlist0k.txt`` lines
"Class/v_Class_gXX_cYY.avi LABEL", ``testlist0k.txt`` lines "Class/v_Class_gXX_cYY.avi". Videos
are looked up as VIDEOS_DIR/Class/name and, for flat copies, VIDEOS_DIR/name. A listed video
that is missing is skipped and counted. Labels (class index - 1) are kept for the meta.

A line repeated in a list counts once; a video listed in both lists is a DataError (an honest
split holds it on one side). Each video carries its group, class + gXX (``video_group``): the
clips of one group show the same actor and scene, so a split drawn by the pipeline keeps a group
on one side.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..pairs import TEST, TRAIN
from .errors import DataError
from .items import VideoItem
from .source import Source, find_listed

SPLITS = (1, 2, 3)
MAX_CLASSES = 10_000  # UCF101 has 101; a larger index is a typo
# UCF101's file names: v_<Class>_g<group>_c<clip>; the clips of a group share actor and scene
VIDEO_NAME = re.compile(r"v_(?P<cls>.+)_g(?P<group>\d+)_c\d+", re.IGNORECASE)


def video_group(name: str) -> str:
    """'ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi' -> 'applyeyemakeup/g8' (class + group), or ""
    for a name not in UCF101's pattern (a video of no known group)."""
    found = VIDEO_NAME.fullmatch(Path(name.replace("\\", "/")).stem)
    return f"{found['cls'].lower()}/g{int(found['group'])}" if found else ""


def read_class_index(path: Path) -> dict[str, int]:
    """classInd.txt -> {class name: 0-based label}.

    Split files are read as utf-8-sig: a byte-order mark (files saved by Windows editors) made
    the first line "not 'INDEX Class'" and the first listed video "missing".
    """
    classes = {}
    for number, line in enumerate(path.read_text(encoding="utf-8-sig", errors="replace").splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        # ASCII digits only ("²".isdigit() is true and int() refuses it), and an index a class
        # list can have: the names list is as long as the largest (99999999999 was a MemoryError)
        if len(parts) != 2 or not (parts[0].isascii() and parts[0].isdigit()) or not 1 <= int(parts[0]) <= MAX_CLASSES:
            raise DataError(f"{path} line {number} is not 'INDEX Class' with INDEX from 1 to {MAX_CLASSES}: "
                            f"{line.strip()[:60]!r}")
        classes[parts[1]] = int(parts[0]) - 1
    if not classes:
        raise DataError(f"{path} lists no classes")
    return classes


def read_list(path: Path) -> list[str]:
    """A train/test list -> relative video paths in list order, each once (the optional label
    column, a trailing whole number, is dropped; a repeated line gave the video's pairs twice).
    A path may hold spaces ("Run/my clip.avi 2"): cut at the first space it named "Run/my"."""
    names: dict[str, None] = {}
    for line in path.read_text(encoding="utf-8-sig", errors="replace").splitlines():
        parts = line.strip().rsplit(maxsplit=1)
        if len(parts) == 2 and parts[1].isdigit():
            parts = parts[:1]
        name = " ".join(parts).strip()
        if name:
            names.setdefault(name.replace("\\", "/"), None)
    return list(names)


def ucf101_source(videos_dir: str | Path, splits_dir: str | Path, split: int = 1) -> Source:
    """Items for split ``split``'s train and test videos (split read from the files, not drawn)."""
    videos_dir, splits_dir = Path(videos_dir), Path(splits_dir)
    if split not in SPLITS:
        raise DataError(f"UCF101 split must be one of {SPLITS}, got {split}")
    if not videos_dir.is_dir():
        raise DataError(f"no video folder at {videos_dir}")
    if not splits_dir.is_dir():
        raise DataError(f"no split folder at {splits_dir}")
    files = {name: splits_dir / name for name in ("classInd.txt", f"trainlist0{split}.txt", f"testlist0{split}.txt")}
    missing = [name for name, path in files.items() if not path.is_file()]
    if missing:
        raise DataError(f"{splits_dir} lacks {', '.join(missing)} (the UCF101 split files)")
    classes = read_class_index(files["classInd.txt"])
    train_name, test_name = f"trainlist0{split}.txt", f"testlist0{split}.txt"
    lists = {TRAIN: read_list(files[train_name]), TEST: read_list(files[test_name])}
    source = Source("ucf101", [], {"videos": str(videos_dir), "splits": str(splits_dir), "split": split},
                    has_split=True, parts={TRAIN: (train_name, len(lists[TRAIN])), TEST: (test_name, len(lists[TEST]))})
    sides: dict[str, int] = {}  # a found video -> the side that lists it (a flat and a Class/ name may meet)
    test_set = set(lists[TEST])
    both = [rel for rel in lists[TRAIN] if rel in test_set]
    for split_value, names in lists.items():
        for rel in names:
            path, problem = find_listed(videos_dir, rel)
            if path is None:
                source.skipped.add(rel, problem.replace("listed file", "listed video"))
                continue
            if str(path) in sides:  # the same file under another name: once, and on one side only
                if sides[str(path)] != split_value and rel not in both:
                    both.append(rel)
                continue
            sides[str(path)] = split_value
            source.items.append(VideoItem(str(path), rel, split_value, classes.get(rel.split("/")[0], -1),
                                          video_group(rel)))
    if both:  # it went into both splits: its test figures were measured on training data
        raise DataError(f"{len(both)} video(s) listed in both {train_name} and {test_name} (the first: {both[0]}); "
                        "a video belongs to one side of a split: remove it from one list")
    if not source.items:
        raise DataError(f"none of the videos listed in {splits_dir} exist under {videos_dir}")
    source.description["classes"] = len(classes)
    names = [""] * (max(classes.values()) + 1)
    for name, index in classes.items():
        names[index] = name
    source.label_names = names
    return source

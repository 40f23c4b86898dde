"""What a folder given as a saved model holds, for the message when it is not one (torch-free:
the Studio's catalog reads it before any model is loaded)."""

from __future__ import annotations

import os
from pathlib import Path

CONFIG_FILE = "config.json"  # a saved model directory's settings (checkpoint.write_config)
MAX_LISTED = 3  # model names a message spells out
MAX_ENTRIES = 2000  # entries looked at: a folder of 80,000 photos chosen by mistake is not walked


def saved_models_inside(root: str | os.PathLike) -> list[str]:
    """Names (sorted) of ``root``'s subfolders that hold a config.json: the models folder chosen
    instead of one of its models. Unreadable folders hold none."""
    names = []
    try:
        with os.scandir(root) as entries:
            for k, entry in enumerate(entries):
                if k >= MAX_ENTRIES:
                    break
                try:
                    if entry.is_dir() and os.path.isfile(os.path.join(entry.path, CONFIG_FILE)):
                        names.append(entry.name)
                except OSError:
                    continue
    except OSError:
        return []
    return sorted(names)


def models_inside_text(root: str | os.PathLike, verb: str = "give") -> str:
    """'; it holds 3 saved models (a, b, c): give one of them, such as root/a' where ``root`` (no
    model itself) holds saved models, else ''; ``verb`` is the caller's ("open" in the Studio).
    Choosing the models folder said only that it had no config.json."""
    inside = saved_models_inside(root)
    if not inside:
        return ""
    more = len(inside) - MAX_LISTED
    shown = ", ".join(inside[:MAX_LISTED]) + (f" and {more} more" if more > 0 else "")
    if len(inside) == 1:
        return f"; it holds one saved model ({shown}): {verb} that, {Path(root) / inside[0]}"
    return f"; it holds {len(inside)} saved models ({shown}): {verb} one of them, such as {Path(root) / inside[0]}"

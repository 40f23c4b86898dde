"""Data sources (MS-COCO, UCF101, folders, built-in photos), guidance features, the prepare pipeline.

``prepare.prepare_pairs`` turns a source and a task into a PairSet (see docs/data.md);
``builtin.builtin_images`` lists the photos that ship inside installed packages.
"""

from __future__ import annotations

import importlib
from typing import Any

# imported on first use, so that reading a photo or a video (data.images, data.video) does not
# load torch (data.features) or the tasks (data.prepare): the post-processing package relies on it
_EXPORTS = {"DataError": ".errors", "SkipItem": ".errors", "FeatureSettings": ".features",
            "builtin_images": ".builtin", "prepare_pairs": ".prepare", "run": ".prepare"}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name], __name__), name)
    globals()[name] = value
    return value

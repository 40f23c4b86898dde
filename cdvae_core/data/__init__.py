"""Data sources (MS-COCO, UCF101, folders, built-in photos), guidance features, the prepare pipeline.

``prepare.prepare_pairs`` turns a source and a task into a PairSet (see docs/data.md);
``builtin.builtin_images`` lists the photos that ship inside installed packages.
"""

from .builtin import builtin_images
from .errors import DataError, SkipItem
from .features import FeatureSettings
from .prepare import prepare_pairs, run

__all__ = ["DataError", "FeatureSettings", "SkipItem", "builtin_images", "prepare_pairs", "run"]

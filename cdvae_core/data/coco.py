"""MS-COCO through pycocotools: an image folder and a COCO-format instances annotation file.

Every image listed in the file becomes an item with its annotations as rows
(category index, x0, y0, x1, y1, area) normalised by the image size (see ``features``).
Categories are indexed in the order of their ids (80 for instances_train2014.json; any
COCO-format file works). Crowd annotations (RLE) count like the others; a missing bbox or area
is computed from the segmentation with pycocotools' mask utilities. Images without annotations
stay, with empty labels. A file that is not COCO is a DataError with a one-line reason.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .errors import DataError
from .items import ImageItem
from .source import Source, find_listed

if TYPE_CHECKING:
    from pycocotools.coco import COCO


def _pycocotools():
    """pycocotools' COCO class and mask module, imported when a COCO file is read: the other
    sources (folders, UCF101, built-in photos) work where it is not installed."""
    try:
        from pycocotools import mask as mask_utils
        from pycocotools.coco import COCO
    except ImportError as exc:
        raise DataError(f"reading MS-COCO needs pycocotools, which cannot be imported here ({exc}); "
                        "pip install pycocotools") from None
    return COCO, mask_utils


def load_coco(annotations: str | Path) -> COCO:
    """Read and check a COCO-format file quietly -> a pycocotools COCO with its index built."""
    path = Path(annotations)
    if not path.is_file():
        raise DataError(f"no annotation file at {path}")
    try:
        with open(path, "rb") as handle:
            data = json.load(handle)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{path} is not a COCO annotation file: not valid JSON ({exc.__class__.__name__})") from None
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror}") from None
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise DataError(f"{path} is not a COCO annotation file: no 'images' list")
    if not isinstance(data.get("categories", []), list) or not isinstance(data.get("annotations", []), list):
        raise DataError(f"{path} is not a COCO annotation file: 'categories' and 'annotations' must be lists")
    for key, required in (("images", ("id", "file_name")), ("categories", ("id",)),
                          ("annotations", ("id", "image_id", "category_id"))):
        bad = [entry for entry in data.get(key, []) if not isinstance(entry, dict) or any(k not in entry for k in required)]
        if bad:
            raise DataError(f"{path} is not a COCO annotation file: {len(bad)} '{key}' entries lack {'/'.join(required)}")
    data.setdefault("annotations", [])
    data.setdefault("categories", [])
    _check_ids(path, data)
    coco_class, _ = _pycocotools()
    coco = coco_class()
    coco.dataset = data
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress lines
        coco.createIndex()
    return coco


def _check_ids(path: Path, data: dict) -> None:
    """Ids key pycocotools' indexes and order the categories: each must be a whole number or a
    string, one kind per list, and image and category ids unique. Otherwise createIndex raised
    a TypeError (a list id), the category sort crashed (mixed kinds), or pycocotools silently
    kept only the last of two entries sharing an id."""
    for key, fields in (("images", ("id",)), ("categories", ("id",)), ("annotations", ("id", "image_id", "category_id"))):
        for name in fields:
            values = [entry[name] for entry in data[key]]
            bad = [v for v in values if isinstance(v, bool) or not isinstance(v, (int, str))]
            if bad:
                raise DataError(f"{path} is not a COCO annotation file: {key} {name} {bad[0]!r} is not a whole number or string")
            if name != "id":  # references: checked against the lists they point into, not for kind or repeats
                continue
            if len({type(v) for v in values}) > 1:
                raise DataError(f"{path} is not a COCO annotation file: '{key}' ids mix numbers and strings")
            if len(set(values)) != len(values):
                twice = next(v for v, k in Counter(values).items() if k > 1)
                raise DataError(f"{path} is not a COCO annotation file: {key} id {twice!r} is listed more than once")


def _number(value) -> float | None:
    """A finite JSON number as a float; None for null, strings, booleans, NaN and infinities."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def _annotation_rows(coco: COCO, image: dict, cat_index: dict[int, int]) -> tuple[np.ndarray, int]:
    """Annotations of one image -> ((M, 6) float32 rows, number of unusable annotations dropped).

    Values are checked, not trusted: a bbox or area that is not a finite number used to crash
    the run (a string, null) or put NaN into the guidance features.
    """
    width, height = _number(image.get("width")) or 0.0, _number(image.get("height")) or 0.0
    rows, dropped = [], 0
    for ann in coco.loadAnns(coco.getAnnIds(imgIds=image["id"], iscrowd=None)):
        cat = cat_index.get(ann["category_id"])
        if cat is None or width <= 0 or height <= 0:
            dropped += 1
            continue
        bbox, area = ann.get("bbox"), _number(ann.get("area"))
        if not isinstance(bbox, (list, tuple)) or len(bbox) != 4 or any(_number(v) is None for v in bbox):
            bbox = None
        if (bbox is None or area is None) and "segmentation" in ann:
            try:  # crowd RLE or polygons: measure them
                mask_utils = _pycocotools()[1]
                rle = coco.annToRLE(ann)
                bbox = bbox if bbox is not None else mask_utils.toBbox(rle).tolist()
                area = area if area is not None else float(mask_utils.area(rle))
            except (TypeError, ValueError, KeyError, IndexError):
                pass
        if bbox is None:
            dropped += 1
            continue
        x, y, w, h = (float(v) for v in bbox)
        # the box cut to the image and the area to its size, so that no value, however large,
        # gives an infinite guidance feature (an area of 1e308 failed the whole run at its end)
        x0, y0, x1, y1 = max(x, 0.0), max(y, 0.0), min(x + w, width), min(y + h, height)
        if w <= 0 or h <= 0 or x1 <= x0 or y1 <= y0:
            dropped += 1
            continue
        area = area if area is not None and area > 0 else w * h
        rows.append([cat, x0 / width, y0 / height, x1 / width, y1 / height, min(area / (width * height), 1.0)])
    return np.asarray(rows, np.float32).reshape(-1, 6), dropped


def coco_source(images_dir: str | Path, annotations: str | Path) -> Source:
    """Items for every image of the annotation file, found under ``images_dir``."""
    images_dir = Path(images_dir)
    if not images_dir.is_dir():
        raise DataError(f"no image folder at {images_dir}")
    coco = load_coco(annotations)
    cats = sorted(coco.loadCats(coco.getCatIds()), key=lambda c: c["id"])
    cat_index = {c["id"]: i for i, c in enumerate(cats)}
    items, dropped = [], 0
    for image in coco.loadImgs(sorted(coco.getImgIds())):
        name = str(image["file_name"])
        path, _ = find_listed(images_dir, name)  # a file not found is kept: its reading says why it is skipped
        path = path or images_dir / name
        rows, bad = _annotation_rows(coco, image, cat_index)
        dropped += bad
        items.append(ImageItem(str(path), name, -1, rows))
    if not items:
        raise DataError(f"{annotations} lists no images")
    names = [str(c.get("name", c["id"])) for c in cats]
    desc = {"images": str(images_dir), "annotations": str(annotations), "categories": len(cats),
            "annotations_dropped": dropped}
    return Source("coco", items, desc, categories=names or None, label_names=names or None)

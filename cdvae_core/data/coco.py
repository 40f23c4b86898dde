"""MS-COCO through pycocotools: an image folder and a COCO-format instances annotation file.

Every image listed in the file becomes an item with its annotations as rows
(category index, x0, y0, x1, y1, area) normalised by the image size (see ``features``).
Categories are indexed in the order of their ids (80 for instances_train2014.json; any
COCO-format file works). Crowd annotations (RLE) count like the others; a missing bbox or area
is computed from the segmentation with pycocotools' mask utilities (a segmentation it cannot
measure, such as a polygon of fewer than three points, counts as none). Images without annotations
stay, with empty labels. An image id listing a file_name an earlier id listed is skipped as a
duplicate. A file that is not COCO is a DataError with a one-line reason.
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

from .errors import DataError, SkipLog
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


# pycocotools rasterises polygons at 5x in 32-bit integers: a vertex of 1e9 crashed the process
# (a segmentation fault), so a polygon is measured only with its vertices near the image, and
# only for an image of at most MAX_MEASURED_SIDE pixels a side
MAX_MEASURED_SIDE = 100_000


def _measurable(segmentation, width: float, height: float):
    """The segmentation in a form pycocotools measures without failing, or None.

    Polygons: lists of numbers; those of fewer than three points (``[[]]``, ``[[5, 5]]``) cover
    nothing and are left out (pycocotools raised a bare "input type is not supported" for them);
    one with a value that is not a finite number within an image size of the image makes the
    whole segmentation unusable. RLE: a dict with ``size`` [h, w] and ``counts`` (a string, or
    a list of whole numbers >= 0)."""
    if max(width, height) > MAX_MEASURED_SIDE:
        return None
    if isinstance(segmentation, list):
        polygons = []
        for polygon in segmentation:
            if not isinstance(polygon, list):
                return None
            if len(polygon) < 6:
                continue
            values = [_number(v) for v in polygon]
            if any(v is None for v in values):
                return None
            xs, ys = values[0::2], values[1::2]
            if min(xs) < -width or max(xs) > 2 * width or min(ys) < -height or max(ys) > 2 * height:
                return None
            polygons.append(values)
        return polygons or None
    if isinstance(segmentation, dict):
        size, counts = segmentation.get("size"), segmentation.get("counts")
        if not (isinstance(size, list) and len(size) == 2 and all(_whole(v, 1, 2**31 - 1) for v in size)):
            return None
        if isinstance(counts, str) or (isinstance(counts, list) and all(_whole(v, 0, 2**32 - 1) for v in counts)):
            return {"size": size, "counts": counts}
    return None


def _whole(value, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _measure(coco: COCO, ann: dict, width: float, height: float) -> tuple[list[float] | None, float | None]:
    """(bbox [x, y, w, h], area) measured from the annotation's segmentation, or (None, None)."""
    segmentation = _measurable(ann.get("segmentation"), width, height)
    if segmentation is None:
        return None, None
    mask_utils = _pycocotools()[1]
    try:
        rle = coco.annToRLE({**ann, "segmentation": segmentation})
        return mask_utils.toBbox(rle).tolist(), float(mask_utils.area(rle))
    except Exception:  # noqa: BLE001 - pycocotools raises bare Exception for input it does not support
        return None, None


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
        if (bbox is None or area is None) and "segmentation" in ann:  # crowd RLE or polygons: measure them
            measured_bbox, measured_area = _measure(coco, ann, width, height)
            bbox = bbox if bbox is not None else measured_bbox
            area = area if area is not None else measured_area
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
    skipped = SkipLog()
    first_id: dict[str, object] = {}  # file_name -> the first image id that lists it
    for image in coco.loadImgs(sorted(coco.getImgIds())):
        name = str(image["file_name"])
        if name in first_id:  # one photo under two ids would go to both sides of the split
            skipped.add(name, "duplicate", f"image id {image['id']!r}: duplicate of image id {first_id[name]!r}")
            continue
        first_id[name] = image["id"]
        path, _ = find_listed(images_dir, name)  # a file not found is kept: its reading says why it is skipped
        path = path or images_dir / name
        rows, bad = _annotation_rows(coco, image, cat_index)
        dropped += bad
        size = _number(image.get("width")), _number(image.get("height"))
        items.append(ImageItem(str(path), name, -1, rows, size if None not in size else None))
    if not items:
        raise DataError(f"{annotations} lists no images")
    # annotations of an image id the file does not list belong to no photo: counted, not lost unsaid
    dropped += sum(1 for ann in coco.dataset.get("annotations", []) if ann["image_id"] not in coco.imgs)
    names = [str(c.get("name", c["id"])) for c in cats]
    desc = {"images": str(images_dir), "annotations": str(annotations), "categories": len(cats),
            "annotations_dropped": dropped}
    return Source("coco", items, desc, categories=names or None, label_names=names or None, skipped=skipped)

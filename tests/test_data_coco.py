"""MS-COCO source, image reading and guidance features, on a tiny COCO laid out as on disk."""

from __future__ import annotations

import io
import json

import cv2
import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils

from cdvae_core.cli.prepare import main as prepare_main
from cdvae_core.data import DataError, prepare_pairs, run
from cdvae_core.data.builtin import builtin_images
from cdvae_core.data.coco import coco_source, load_coco
from cdvae_core.data.errors import SkipItem
from cdvae_core.data.features import FeatureSettings, layout_coverage
from cdvae_core.data.images import read_image
from cdvae_core.pairs import load_pairs

W, H = 160, 120  # fixture photo size


def _jpeg(image: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95])
    assert ok
    return buf.tobytes()


@pytest.fixture(scope="module")
def coco(tmp_path_factory) -> dict:
    """train2014/ + annotations/instances_train2014.json with good and bad images."""
    root = tmp_path_factory.mktemp("coco")
    images_dir = root / "train2014"
    images_dir.mkdir()
    photos = [cv2.resize(img, (W, H), interpolation=cv2.INTER_AREA) for _, img in builtin_images()]
    files: dict[str, bytes] = {}
    for k in range(4):
        files[f"COCO_train2014_{k + 1:012d}.jpg"] = _jpeg(photos[k])
    grey = cv2.cvtColor(photos[4], cv2.COLOR_RGB2GRAY)
    files["grey.jpg"] = cv2.imencode(".jpg", grey)[1].tobytes()
    cmyk = io.BytesIO()
    Image.fromarray(photos[5]).convert("CMYK").save(cmyk, "JPEG")
    files["cmyk.jpg"] = cmyk.getvalue()
    files["deep.png"] = cv2.imencode(".png", (photos[0].astype(np.uint16) * 257)[:, :, ::-1])[1].tobytes()
    rgba = np.dstack([photos[1][:, :, ::-1], np.full((H, W), 200, np.uint8)])
    files["alpha.png"] = cv2.imencode(".png", rgba)[1].tobytes()
    files["tiny.png"] = cv2.imencode(".png", np.zeros((1, 1, 3), np.uint8))[1].tobytes()
    good = _jpeg(photos[2])
    files["truncated.jpg"] = good[: len(good) // 2]
    files["corrupt.jpg"] = b"\xff\xd8\xff\xe0" + bytes(np.random.default_rng(0).integers(0, 256, 3000, dtype=np.uint8)) + b"\xff\xd9"
    for name, data in files.items():
        (images_dir / name).write_bytes(data)
    names = list(files) + ["missing.jpg"]
    images = [{"id": i + 1, "file_name": n, "width": W, "height": H} for i, n in enumerate(names)]
    images[names.index("tiny.png")].update(width=1, height=1)
    crowd = np.zeros((H, W), np.uint8, order="F")
    crowd[60:120, 0:80] = 1
    run_lengths, last, n = [], 0, 0  # uncompressed RLE, column-major, as COCO crowds are stored
    for value in crowd.flatten(order="F"):
        if value != last:
            run_lengths.append(n)
            last, n = value, 0
        n += 1
    run_lengths.append(n)
    assert mask_utils.area(mask_utils.frPyObjects({"size": [H, W], "counts": run_lengths}, H, W)) == 4800
    anns = [
        # image 1: a cat box over the left half (category id 17 -> index 1)
        {"id": 1, "image_id": 1, "category_id": 17, "bbox": [0, 0, W / 2, H], "area": W * H / 2, "iscrowd": 0},
        # image 2: a person (id 1) and a crowd of people given only as uncompressed RLE (no bbox, no area)
        {"id": 2, "image_id": 2, "category_id": 1, "bbox": [80, 0, 80, 60], "area": 3000.0, "iscrowd": 0},
        {"id": 3, "image_id": 2, "category_id": 1, "segmentation": {"size": [H, W], "counts": run_lengths}, "iscrowd": 1},
        # image 3: two categories, areas 1:3
        {"id": 4, "image_id": 3, "category_id": 1, "bbox": [0, 0, 40, 40], "area": 1000.0, "iscrowd": 0},
        {"id": 5, "image_id": 3, "category_id": 90, "bbox": [40, 40, 80, 60], "area": 3000.0, "iscrowd": 0},
    ]  # image 4 and the rest: no annotations
    cats = [{"id": 1, "name": "person"}, {"id": 17, "name": "cat"}, {"id": 90, "name": "toothbrush"}]
    ann_path = root / "annotations" / "instances_train2014.json"
    ann_path.parent.mkdir()
    ann_path.write_text(json.dumps({"images": images, "annotations": anns, "categories": cats}))
    return {"images": images_dir, "ann": ann_path, "names": names}


def test_read_image_handles_odd_formats(coco):
    d = coco["images"]
    assert read_image(d / "grey.jpg").shape == (H, W, 3)
    cmyk = read_image(d / "cmyk.jpg")
    assert cmyk.shape == (H, W, 3) and cmyk.std() > 10
    deep = read_image(d / "deep.png")
    np.testing.assert_array_equal(deep, cv2.resize(builtin_images()[0][1], (W, H), interpolation=cv2.INTER_AREA))
    assert read_image(d / "alpha.png").shape == (H, W, 3)
    for name, reason in (("tiny.png", "too small"), ("truncated.jpg", "truncated"), ("corrupt.jpg", "corrupt"),
                         ("missing.jpg", "missing")):
        with pytest.raises(SkipItem, match=reason):
            read_image(d / name)


def test_coco_source_rows_and_crowd(coco):
    src = coco_source(coco["images"], coco["ann"])
    assert src.categories == ["person", "cat", "toothbrush"]
    rows = {item.name: item.boxes for item in src.items}
    assert len(rows["COCO_train2014_000000000004.jpg"]) == 0
    crowd = rows["COCO_train2014_000000000002.jpg"][1]
    # The crowd RLE got its box and area from the mask: x 0..80, y 60..120, area 80*60.
    np.testing.assert_allclose(crowd, [0, 0, 0.5, 0.5, 1.0, 4800 / (W * H)], atol=1e-6)


def test_a_file_name_the_file_system_refuses_is_an_unreadable_image(coco, tmp_path):
    """A file_name longer than the file system allows stopped cdvae-prepare with "cannot write
    pairs.npz (File name too long)"; now that image is skipped and counted like any unreadable one."""
    data = json.loads(coco["ann"].read_text())
    data["images"][0]["file_name"] = "x" * 5000 + ".jpg"
    ann = tmp_path / "long.json"
    ann.write_text(json.dumps(data))
    pairs = run(prepare_pairs(("coco", coco["images"], ann), "resaturation"))
    skipped = pairs.meta["skipped"]
    assert len(pairs) == 7 and skipped["reasons"]["unreadable file"] == 1
    assert skipped["examples"]["unreadable file"][0].endswith(".jpg: File name too long)")


def test_layout_coverage_of_half_box():
    boxes = np.array([[1, 0.0, 0.0, 0.5, 1.0, 0.5], [1, 0.0, 0.0, 0.2, 0.2, 0.04]], np.float32)
    cov = layout_coverage(boxes, 2, 5).reshape(2, 5, 5)
    assert not cov[0].any()
    np.testing.assert_allclose(cov[1], np.tile([1.0, 1.0, 0.5, 0.0, 0.0], (5, 1)))


def test_prepare_coco_pairs_features_and_skips(coco):
    settings = FeatureSettings(label_weight=10.0, layout_weight=2.0)
    pairs = run(prepare_pairs(("coco", coco["images"], coco["ann"]), "resaturation", features=settings))
    meta = pairs.meta
    # Usable: 4 photos + grey + cmyk + 16-bit + alpha.  Skipped: tiny, truncated, corrupt, missing.
    assert len(pairs) == 8
    assert meta["skipped"]["count"] == 4
    assert set(meta["skipped"]["reasons"]) == {"image too small", "truncated JPEG", "corrupt image", "missing file"}
    assert set(np.unique(pairs.split)) == {0, 1}
    parts = {name: (a, b) for name, a, b in meta["features"]["fc_parts"]}
    assert parts["label"] == (0, 3) and parts["layout"] == (3, 78) and parts["pixels"] == (78, 78 + 1024)
    label = pairs.fc[:, 0:3] / 10.0
    layout = pairs.fc[:, 3:78].reshape(-1, 3, 5, 5) / 2.0
    np.testing.assert_allclose(label[0], [0, 1, 0], atol=1e-6)  # image 1: all cat
    np.testing.assert_allclose(layout[0, 1], np.tile([1, 1, 0.5, 0, 0], (5, 1)), atol=1e-6)
    np.testing.assert_allclose(label[2], [0.25, 0, 0.75], atol=1e-6)  # image 3: areas 1:3
    assert not label[3].any() and not layout[3].any()  # image 4: kept with empty labels
    np.testing.assert_allclose(pairs.fc[:, 78:], pairs.xc.reshape(8, -1))
    np.testing.assert_allclose(pairs.fg, pairs.xg.reshape(8, -1))
    # Exactly one grey photo: saturation 0 everywhere, and its value layer is the grey image.
    zero = [i for i in range(8) if not pairs.xg[i].any()]
    assert len(zero) == 1
    assert meta["labels"][0] == 1 and meta["labels"][3] == -1


def test_cli_coco_form(coco, tmp_path, capsys):
    out = tmp_path / "pairs.npz"
    rc = prepare_main(["--task", "relighting", "--coco", str(coco["images"]), str(coco["ann"]), "--out", str(out),
                       "--workers", "1", "--quiet"])
    assert rc == 0
    pairs = load_pairs(out, require_test=True)
    assert pairs.xc.shape == (8, 3, 32, 32) and pairs.xg.shape == (8, 1, 32, 32)
    assert pairs.meta["task"] == "relighting" and pairs.meta["source"]["kind"] == "coco"
    # albedo x shading at 32x32 stays close to the photo's own 32x32 (area means of products).
    assert 0.0 <= pairs.xc.min() and pairs.xc.max() <= 1.0 and pairs.xg.max() <= 1.0
    text = capsys.readouterr().out
    assert "skipped 4 item(s)" in text and "truncated JPEG" in text


@pytest.mark.parametrize("content", ["[1, 2, 3]", "{not json", json.dumps({"images": [{"id": 1}]}), ""])
def test_not_coco_is_a_clear_error(coco, tmp_path, capsys, content):
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    with pytest.raises(DataError, match="not a COCO annotation file"):
        load_coco(bad)
    rc = prepare_main(["--task", "resaturation", "--coco", str(coco["images"]), str(bad), "--out", str(tmp_path / "o.npz")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "not a COCO annotation file" in err[0]
    assert not (tmp_path / "o.npz").exists()


def test_nothing_usable_is_an_error(tmp_path):
    (tmp_path / "a.jpg").write_bytes(b"not an image")
    (tmp_path / "b.jpg").write_bytes(b"nor this")
    # each reason with its count: "(2 corrupt image)", and "(60 a photo has no motion)" before
    with pytest.raises(DataError, match=r"nothing usable in the folder source \(2 skipped: corrupt image\)$"):
        run(prepare_pairs(("folder", tmp_path), "resaturation"))


def test_coco_for_motion_is_refused_before_a_photo_is_read(coco, tmp_path, capsys, monkeypatch):
    """COCO holds photos: every one was read and skipped ("a photo has no motion") before the run
    failed, 80,000 reads on the real set. It is refused at once, saying where motion comes from."""
    import cdvae_core.data.items as items

    monkeypatch.setattr(items, "read_file", lambda *a: pytest.fail("a photo was read"))  # where a worker reads one
    with pytest.raises(DataError, match="MS-COCO holds photos, and a motion pair is two frames of a video"):
        run(prepare_pairs(("coco", coco["images"], coco["ann"]), "motion"))
    rc = prepare_main(["--task", "motion", "--coco", str(coco["images"]), str(coco["ann"]), "--out",
                       str(tmp_path / "m.npz"), "--workers", "1"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "UCF101, a folder of videos or the built-in clips" in err[0]
    assert not (tmp_path / "m.npz").exists()


def test_jpeg_with_appended_data_is_not_truncated():
    from cdvae_core.data.images import decode_image

    photo = builtin_images()[0][1]
    data = _jpeg(photo)
    assert decode_image(data + b"\x00" * 5000).shape == photo.shape  # e.g. a phone's appended video
    with pytest.raises(SkipItem, match="truncated"):
        decode_image(data[: len(data) * 2 // 3])


def _png_header(w: int, h: int) -> bytes:
    """A PNG whose IHDR claims w x h, with a few bytes of (truncated) image data."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(bytes(100))[:20]) + chunk(b"IEND", b""))


def _jpeg_header(w: int, h: int) -> bytes:
    """A JPEG whose frame header (SOF0) claims w x h, one grey component, a stub of a scan."""
    import struct

    sof = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, h, w, 1) + b"\x01\x11\x00"
    sos = b"\xff\xda" + struct.pack(">HB", 8, 1) + b"\x01\x00\x00\x3f\x00"
    return b"\xff\xd8" + sof + sos + bytes(16) + b"\xff\xd9"


@pytest.mark.parametrize("make", [_png_header, _jpeg_header])
@pytest.mark.parametrize("size", [(12_000, 10_000), (20_000, 20_000)])
def test_vast_images_are_refused_from_the_header_before_decoding(monkeypatch, make, size):
    """The 100-megapixel limit was checked after cv2.imdecode: an image of 100M-1G pixels (OpenCV's
    own limit) cost up to ~3 GB per worker before it was refused. 20000x20000 is past Pillow's own
    header limit as well (it refuses to report the size)."""
    import cdvae_core.data.images as images

    def no_decode(*args, **kwargs):
        raise AssertionError("the pixels were decoded")

    monkeypatch.setattr(images.cv2, "imdecode", no_decode)
    with pytest.raises(SkipItem, match="image too large") as caught:
        images.decode_image(make(*size), "vast")
    assert "vast" in str(caught.value)
    if size[0] * size[1] > Image.MAX_IMAGE_PIXELS * 2:  # Pillow's refusal, told with our limit, not Pillow's
        assert str(caught.value).endswith("vast is too large to open (400 megapixels; up to 100 are opened)")
    assert images.read_header(make(640, 480)) == (640, 480, 1)


def test_png_header_reading_decodes_no_pixels(monkeypatch):
    """Pillow's PNG getexif() decodes the whole image when the header had no eXIf chunk: the
    header reader (shared with the Studio) must not call it then."""
    from PIL import PngImagePlugin

    import cdvae_core.data.images as images

    def no_load(self):
        raise AssertionError("Pillow decoded the pixels")

    buf = io.BytesIO()
    Image.new("L", (64, 48)).save(buf, "PNG")
    monkeypatch.setattr(PngImagePlugin.PngImageFile, "load", no_load)
    assert images.read_header(buf.getvalue()) == (64, 48, 1)
    rotated = io.BytesIO()
    im = Image.new("RGB", (30, 20))
    exif = im.getexif()
    exif[0x0112] = 6
    im.save(rotated, "PNG", exif=exif)  # an eXIf chunk before the data: read without decoding
    assert images.read_header(rotated.getvalue()) == (30, 20, 6)


def _with_annotations(coco, tmp_path, anns, images=None, cats=None):
    data = json.loads(coco["ann"].read_text())
    data["annotations"] = anns
    if images is not None:
        data["images"] = images
    if cats is not None:
        data["categories"] = cats
    path = tmp_path / "instances.json"
    path.write_text(json.dumps(data))  # json writes NaN as the bare NaN that Python reads back
    return path


def test_malformed_annotation_values_are_dropped_not_fatal(coco, tmp_path, capsys):
    """A bbox or area that is not a finite number used to crash the run with a traceback (a string
    or null) or put NaN into f_c (a NaN area), so that the pair file could not even be built."""
    good = {"image_id": 1, "category_id": 17, "bbox": [0, 0, W / 2, H], "area": W * H / 2, "iscrowd": 0}
    anns = [
        dict(good, id=1),
        dict(good, id=2, image_id=2, area="big"),  # a string area: measured as the box instead
        dict(good, id=3, image_id=2, bbox=[1, 2, None, 4]),  # no usable box, no segmentation
        dict(good, id=4, image_id=3, bbox=[float("nan"), 0, 10, 10]),
        dict(good, id=5, image_id=3, area=float("nan")),
        dict(good, id=6, image_id=4, bbox="0 0 10 10"),
        # finite but far too large (session 18): an infinite guidance feature failed the run at its end
        dict(good, id=7, image_id=1, area=1e308),
        dict(good, id=8, image_id=1, bbox=[-100, 20, 1e308, 1e308]),
        dict(good, id=9, image_id=4, bbox=[2 * W, 0, 10, 10]),  # wholly outside the photo
        dict(good, id=10, image_id=999),  # an image id the file does not list: was ignored unsaid
    ]
    ann = _with_annotations(coco, tmp_path, anns)
    src = coco_source(coco["images"], ann)
    rows = {item.name: item.boxes for item in src.items}
    assert src.description["annotations_dropped"] == 5
    assert np.isfinite(np.concatenate([r for r in rows.values() if len(r)])).all()
    np.testing.assert_allclose(rows["COCO_train2014_000000000002.jpg"][:, 5], [0.5])  # area from the box
    # cut to the photo: the whole photo's area at most, the box within [0, 1]
    np.testing.assert_allclose(rows["COCO_train2014_000000000001.jpg"][:, 1:], [[0, 0, 0.5, 1, 0.5], [0, 0, 0.5, 1, 1.0],
                                                                              [0, 20 / H, 1, 1, 0.5]], atol=1e-6)
    pairs = run(prepare_pairs(("coco", coco["images"], ann), "resaturation"))
    assert np.isfinite(pairs.fc).all() and pairs.meta["source"]["annotations_dropped"] == 5
    rc = prepare_main(["--task", "resaturation", "--coco", str(coco["images"]), str(ann), "--out", str(tmp_path / "o.npz"),
                       "--workers", "1", "--quiet"])
    assert rc == 0 and "dropped 5 unusable annotation(s)" in capsys.readouterr().out


@pytest.mark.parametrize("change, message", [
    (lambda d: d["images"][0].update(id=[1]), "images id \\[1\\] is not a whole number"),
    (lambda d: d["images"][1].update(id=d["images"][0]["id"]), "images id 1 is listed more than once"),
    (lambda d: d["categories"][0].update(id="1"), "'categories' ids mix numbers and strings"),
    (lambda d: d["annotations"][0].update(category_id=None), "annotations category_id None"),
    # annotation ids key pycocotools' index too: missing was a KeyError, a list a TypeError, and a
    # repeated one silently showed one annotation twice in place of the other
    (lambda d: d["annotations"][0].pop("id"), "1 'annotations' entries lack id/image_id/category_id"),
    (lambda d: d["annotations"][0].update(id=[1, 2]), "annotations id \\[1, 2\\] is not a whole number"),
    (lambda d: d["annotations"][1].update(id=d["annotations"][0]["id"]), "annotations id 1 is listed more than once"),
])
def test_bad_ids_are_a_clear_error(coco, tmp_path, capsys, change, message):
    """Ids pycocotools cannot index or sort used to end in a TypeError traceback (exit 1); two
    images sharing an id silently lost one of them."""
    data = json.loads(coco["ann"].read_text())
    change(data)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    with pytest.raises(DataError, match=message):
        load_coco(bad)
    rc = prepare_main(["--task", "resaturation", "--coco", str(coco["images"]), str(bad), "--out", str(tmp_path / "o.npz")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "not a COCO annotation file" in err[0]


def test_without_pycocotools_only_coco_needs_it(coco):
    """pycocotools is imported when a COCO file is read, not with the data package: the other
    sources work where it cannot be imported (the GPU machines' image lacks it), and COCO says
    what is missing in one line."""
    import subprocess
    import sys

    script = f"""
import sys
sys.modules["pycocotools"] = None  # "import pycocotools" now raises ImportError
from cdvae_core.data import DataError, prepare_pairs, run
pairs = run(prepare_pairs("builtin", "resaturation", limit=8, workers=1))
assert len(pairs) == 8
try:
    run(prepare_pairs(("coco", {str(coco["images"])!r}, {str(coco["ann"])!r}), "relighting"))
except DataError as exc:
    print(exc)
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "reading MS-COCO needs pycocotools" in done.stdout and "pip install pycocotools" in done.stdout


def test_a_segmentation_pycocotools_cannot_measure_counts_as_none(coco, tmp_path, capsys):
    """A valid bbox, no area and a degenerate polygon ([[]], [[5, 5]]) ended cdvae-prepare with
    pycocotools' bare "Exception: input type is not supported" traceback; now such a segmentation
    counts as none: the area is the box's, and without a usable box the annotation is dropped."""
    from cdvae_core.data.coco import _measurable

    good = {"image_id": 1, "category_id": 17, "bbox": [0, 0, W / 2, H], "iscrowd": 0}
    anns = [dict(good, id=1, segmentation=[[]]),
            dict(good, id=2, segmentation=[[5, 5]]),
            dict(good, id=3, image_id=2, segmentation=[[1, 2, 3, 4]]),  # two points: a TypeError inside
            dict(good, id=4, image_id=2, segmentation=[[0, 0, 80, 0, 80, 60], []]),  # one real polygon, measured
            dict(good, id=5, image_id=3, bbox=None, segmentation=[[5, 5]]),  # nothing to measure: dropped
            dict(good, id=6, image_id=3, bbox=None, segmentation={"counts": [-5, 10], "size": [H, W]})]
    ann = _with_annotations(coco, tmp_path, anns)
    rows = {item.name: item.boxes for item in coco_source(coco["images"], ann).items}
    np.testing.assert_allclose(rows["COCO_train2014_000000000001.jpg"][:, 5], [0.5, 0.5])  # the box's area
    np.testing.assert_allclose(rows["COCO_train2014_000000000002.jpg"][:, 5], [0.5, 2400 / (W * H)], atol=1e-3)
    assert len(rows["COCO_train2014_000000000003.jpg"]) == 0
    rc = prepare_main(["--task", "resaturation", "--coco", str(coco["images"]), str(ann), "--out",
                       str(tmp_path / "o.npz"), "--workers", "1", "--quiet"])
    captured = capsys.readouterr()
    assert rc == 0 and "Traceback" not in captured.err and "dropped 2 unusable annotation(s)" in captured.out
    # vertices far outside the photo are not handed to pycocotools, which rasterises at 5x in
    # 32-bit integers: a vertex of 1e9 crashed the process (a segmentation fault)
    assert _measurable([[1e9, 0, 0, 1e9, 5, 5]], W, H) is None
    assert _measurable([[0, 0, 10, 0, float("nan"), 5]], W, H) is None
    assert _measurable([[0, 0, 10, 0, 10, 10]], W, H) == [[0.0, 0.0, 10.0, 0.0, 10.0, 10.0]]
    assert _measurable({"counts": "PPYo1", "size": [H, W]}, W, H) == {"counts": "PPYo1", "size": [H, W]}
    assert _measurable({"counts": [1, 2], "size": [H, True]}, W, H) is None


def test_one_file_name_under_two_image_ids_is_skipped_as_a_duplicate(coco, tmp_path, capsys):
    """Two image ids listing one file put the same photo in train and test; the second is now
    skipped as a duplicate of the first, and the summary says so."""
    data = json.loads(coco["ann"].read_text())
    data["images"] += [dict(image, id=image["id"] + 100) for image in data["images"]]
    ann = tmp_path / "twice.json"
    ann.write_text(json.dumps(data))
    pairs = run(prepare_pairs(("coco", coco["images"], ann), "resaturation", test_fraction=0.4))
    skipped = pairs.meta["skipped"]
    assert len(pairs) == 8 and skipped["reasons"]["duplicate"] == len(coco["names"])
    first = skipped["examples"]["duplicate"][0]
    assert first == "COCO_train2014_000000000001.jpg (image id 101: duplicate of image id 1)"
    train = pairs.xc[pairs.split == 0].reshape(-1, 1024)
    assert not any((train == x.reshape(1, -1)).all(axis=1).any() for x in pairs.xc[pairs.split == 1])
    assert prepare_main(["--task", "resaturation", "--coco", str(coco["images"]), str(ann), "--out",
                         str(tmp_path / "o.npz"), "--workers", "1", "--quiet"]) == 0
    assert "duplicate of image id 1" in capsys.readouterr().out


def _exif_jpeg(image: np.ndarray, orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, "JPEG", quality=95, exif=exif.tobytes())
    return buf.getvalue()


@pytest.mark.parametrize("orientation", range(1, 9))
def test_orient_rows_follows_the_decoder(orientation):
    """Annotation rows turned by an EXIF orientation land where the decoder puts the pixels."""
    from cdvae_core.data.features import orient_rows
    from cdvae_core.data.images import decode_image

    stored = np.zeros((40, 60, 3), np.uint8)
    stored[5:15, 10:30] = 255  # x 10..30, y 5..15 of a 60 x 40 photo
    decoded = decode_image(_exif_jpeg(stored, orientation))
    h, w = decoded.shape[:2]
    ys, xs = np.nonzero(decoded[:, :, 0] > 128)
    found = [xs.min() / w, ys.min() / h, (xs.max() + 1) / w, (ys.max() + 1) / h]
    rows = np.array([[0, 10 / 60, 5 / 40, 30 / 60, 15 / 40, 0.1]], np.float32)
    np.testing.assert_allclose(orient_rows(rows, orientation)[0, 1:5], found, atol=1.5 / 40)


def test_boxes_drawn_on_a_stored_photo_follow_its_exif_turn(tmp_path):
    """A phone photo stored 96 x 64 with EXIF orientation 6 is decoded upright, 64 x 96. A COCO
    file that declares the stored size drew its boxes on the stored pixels: its layout features
    were in the stored frame, a quarter turn from x_c. Declaring the upright size means the boxes
    were drawn upright (kept as they are); so does a turn that keeps the sides (nothing tells)."""
    for k, (name, orientation) in enumerate((("stored.jpg", 6), ("upright.jpg", 6), ("half.jpg", 3))):
        photo = cv2.resize(builtin_images()[k][1], (96, 64), interpolation=cv2.INTER_AREA)
        (tmp_path / name).write_bytes(_exif_jpeg(photo, orientation))
    images = [{"id": 1, "file_name": "stored.jpg", "width": 96, "height": 64},
              {"id": 2, "file_name": "upright.jpg", "width": 64, "height": 96},
              {"id": 3, "file_name": "half.jpg", "width": 96, "height": 64}]
    left = {"category_id": 1, "bbox": [0, 0, 48, 64], "area": 48 * 64, "iscrowd": 0}  # the left half
    top = {"category_id": 1, "bbox": [0, 0, 64, 48], "area": 48 * 64, "iscrowd": 0}  # the top half, upright
    anns = [dict(left, id=1, image_id=1), dict(top, id=2, image_id=2), dict(left, id=3, image_id=3)]
    ann = tmp_path / "instances.json"
    ann.write_text(json.dumps({"images": images, "annotations": anns, "categories": [{"id": 1, "name": "thing"}]}))
    pairs = run(prepare_pairs(("coco", tmp_path, ann), "resaturation", features=FeatureSettings(layout_weight=1.0)))
    layout = pairs.fc[:, 1:26].reshape(3, 5, 5)
    upper = np.tile([[1.0], [1.0], [0.5], [0.0], [0.0]], (1, 5))  # the top half of the 5x5 grid
    np.testing.assert_allclose(layout[0], upper, atol=1e-6)  # turned with the pixels (was the left half)
    np.testing.assert_allclose(layout[1], upper, atol=1e-6)  # drawn upright: as it is
    np.testing.assert_allclose(layout[2], upper.T, atol=1e-6)  # a half turn: taken as drawn

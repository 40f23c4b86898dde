"""Any image a user may throw at the Studio: converted with a note, or refused with one line."""

from __future__ import annotations

import os

import cv2
import numpy as np
import pytest
from PySide6.QtCore import Qt

from cdvae_studio.images import MAX_SIDE, ImageLoadError, decode_image, load_image


def _png(array: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", array)
    assert ok
    return buf.tobytes()


def test_conversions_match_opencv():
    rng = np.random.default_rng(0)
    grey = rng.integers(0, 256, (40, 50), dtype=np.uint8)
    out = decode_image(_png(grey), "grey.png")
    np.testing.assert_array_equal(out.rgb, np.repeat(grey[:, :, None], 3, 2))
    deep = rng.integers(0, 65536, (40, 50, 3), dtype=np.uint16)
    out = decode_image(_png(deep), "deep.png")
    np.testing.assert_array_equal(out.rgb, (deep[:, :, ::-1] >> 8).astype(np.uint8))
    assert any("16-bit" in n for n in out.notes)
    bgra = rng.integers(0, 256, (40, 50, 4), dtype=np.uint8)
    bgra[:, :, 3] = 0  # fully transparent: white
    out = decode_image(_png(bgra), "alpha.png")
    assert (out.rgb == 255).all()
    huge = np.zeros((MAX_SIDE * 2 + 2, 64, 3), np.uint8)
    out = decode_image(_png(huge), "huge.png")
    assert max(out.rgb.shape[:2]) == MAX_SIDE and any("downscaled" in n for n in out.notes)


@pytest.mark.parametrize("name, mode, orientation", [("a.png", "RGBA", 6), ("b.webp", "RGBA", 3), ("c.png", "LA", 1),
                                                     ("d.tiff", "RGB", 6), ("e.tiff", "RGBA", 8), ("f.jpg", "RGB", 8)])
def test_the_studio_reads_a_photo_as_its_exports_do(tmp_path, name, mode, orientation):
    """The grid is drawn from the photo the Studio decoded, an export from the file read again
    (cdvae_core's read_image): a transparent photo was white in the one and its stored colour in
    the other, and a phone's TIFF, which OpenCV turns upright itself, was turned again here."""
    from PIL import Image

    from cdvae_core.postprocess import read_image

    rgba = np.random.default_rng(2).integers(0, 256, (40, 60, 4), dtype=np.uint8)
    rgba[:10, :, 3], rgba[10:20, :30, 3] = 0, 90
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(rgba, "RGBA").convert(mode).save(tmp_path / name, exif=exif)
    studio = load_image(tmp_path / name).rgb
    np.testing.assert_array_equal(studio, read_image(tmp_path / name))
    assert studio.shape[:2] == ((60, 40) if orientation in (6, 8) else (40, 60))
    if mode != "RGB":
        assert (studio[:10] == 255).all() if orientation == 1 else (studio == 255).any()


@pytest.mark.parametrize("data, reason", [
    (b"", "empty"),
    (b"\x89PNG\r\n\x1a\n" + b"garbage" * 20, "not an image"),
    (_png(np.zeros((5, 5, 3), np.uint8)), "too small"),
])
def test_bad_bytes_give_one_line_errors(data, reason):
    with pytest.raises(ImageLoadError, match=reason) as info:
        decode_image(data, "x.png")
    assert "\n" not in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(ImageLoadError, match="no such file"):
        load_image(tmp_path / "nope.png")
    with pytest.raises(ImageLoadError, match="folder"):
        load_image(tmp_path)
    (tmp_path / "still.png").write_bytes(_png(np.zeros((8, 8, 3), np.uint8)))  # there, but not a video
    with pytest.raises(ImageLoadError, match=r"^#t=2 picks a video's frame, and still.png is not a video$"):
        load_image(f"{tmp_path / 'still.png'}#t=2")


def test_a_photo_that_failed_to_open_is_old_news_in_another_task(qtbot, make_window, settle, tmp_path):
    """The banner "Cannot open text.png ..." stayed through task switches and a whole training run."""
    bad = tmp_path / "text.png"
    bad.write_text("not a picture")
    win = make_window("relighting")
    settle(win)
    win.state.open_image(str(bad))
    settle(win)
    assert win.banner.isVisible() and "text.png" in win.banner.text()
    win.state.set_task("relighting")  # the same task again: still news
    assert win.banner.isVisible()
    win.state.set_task("resaturation")
    settle(win)
    assert not win.banner.isVisible()


def test_a_message_naming_a_file_with_a_newline_stays_one_line(qtbot, make_window, settle, tmp_path):
    """The banner keeps one line per subject; a file named "bad<newline>name.png" split its
    message over two, and a name with markup in it was drawn as markup."""
    from PySide6.QtCore import Qt

    bad = tmp_path / "<b>bad\nname<br>.png"
    bad.write_bytes(b"\x89PNG junk")
    win = make_window("relighting")
    settle(win)
    win.state.open_image(str(bad))
    settle(win)
    win.state.open_model(str(tmp_path / "gone\nmodel"))
    lines = win.banner.text().split("\n")
    assert len(lines) == 2 and lines[0].startswith("Cannot open <b>bad\\nname<br>.png: "), lines
    assert lines[1].endswith("gone\\nmodel is not a saved model (no config.json)"), lines
    assert win.banner.textFormat() == Qt.TextFormat.PlainText
    assert "\n" not in win.statusBar().currentMessage()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="POSIX FIFOs")
def test_a_fifo_is_refused_not_read(tmp_path):
    """Reading a FIFO named like a photo blocked the render worker, and every render after it."""
    from cdvae_core.data.errors import SkipItem
    from cdvae_core.data.images import read_image
    from cdvae_studio.catalog import CatalogError, read_pairs_task

    from cdvae_studio.thumbnails import read_thumbnail

    os.mkfifo(tmp_path / "pipe.png")
    with pytest.raises(ImageLoadError, match="pipe.png is not a regular file"):
        load_image(tmp_path / "pipe.png")
    os.mkfifo(tmp_path / "pipe.jpg")  # the gallery's JPEG thumbnail read its bytes first
    with pytest.raises(ImageLoadError, match="pipe.jpg is not a regular file"):
        read_thumbnail(tmp_path / "pipe.jpg")
    with pytest.raises(SkipItem, match="not a regular file"):  # cdvae-prepare's reader (a COCO file_name)
        read_image(tmp_path / "pipe.png")
    os.mkfifo(tmp_path / "pipe.npz")  # opened as the nearest-neighbour baseline: np.load blocked the window
    with pytest.raises(CatalogError, match=r"pipe.npz is not a readable pair file \(not a regular file\)"):
        read_pairs_task(tmp_path / "pipe.npz")


def test_a_pair_file_of_photo_values_is_no_nearest_neighbour_baseline(tmp_path):
    """A hand-made pair file of 0-255 layers was offered as the baseline, whose results are its
    layers: pictures of values 255 times too large."""
    from cdvae_core.pairs import PairSet, save_pairs
    from cdvae_studio.nearest_adapter import load_nearest

    xc = np.random.default_rng(0).random((24, 1, 32, 32), dtype=np.float32)
    save_pairs(tmp_path / "p.npz", PairSet(xc, xc * 255, np.zeros(24, np.int8), meta={"task": "resaturation"}))
    with pytest.raises(ValueError, match=r"^p.npz: these pairs do not fit resaturation: 'xg' values lie in \[.*"
                                         r"\(photo values of 0-255 need dividing by 255\)$"):
        load_nearest(tmp_path / "p.npz", "resaturation")
    save_pairs(tmp_path / "q.npz", PairSet(xc, xc, np.zeros(24, np.int8), meta={"task": "resaturation"}))
    assert load_nearest(tmp_path / "q.npz", "resaturation").task == "resaturation"


def test_a_model_of_synthetic_layers_is_refused_saying_what_it_is(tmp_path):
    """``cdvae-studio --model run`` of a ``--task synthetic`` run said "unknown task 'synthetic'"."""
    import json

    from cdvae_core.config import ModelConfig
    from cdvae_studio.catalog import CatalogError, ModelCatalog

    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.json").write_text(json.dumps({"model": ModelConfig(task="synthetic").to_dict()}))
    with pytest.raises(CatalogError, match=r"^run: the model was trained on synthetic layers \(task 'synthetic'\), "
                                           r"not a photo task's"):
        ModelCatalog().add_model_dir(tmp_path / "run")


def test_a_panorama_of_extreme_aspect_is_shown_like_any_photo(make_window, settle, tmp_path):
    """20000x16: downscaled for work to 2048x16, its grid cells were 160x1 pixels, which no task
    composes ("Cannot show this model on this image: image of 160x1 pixels is too small")."""
    from cdvae_studio.images import fit_size

    assert fit_size((16, 20000), 160) == (160, 2) and fit_size((20000, 16), 160) == (2, 160)
    assert fit_size((3, 5), 160) == (5, 3) and fit_size((1, 1), 160) == (1, 1)  # never larger than it was
    assert fit_size((300, 400), 160) == (160, 120)
    strip = (np.indices((16, 20000)).sum(0) % 256).astype(np.uint8)
    cv2.imwrite(str(tmp_path / "strip.png"), np.dstack([strip, strip[:, ::-1], strip]))
    win = make_window("resaturation")
    settle(win)
    win.state.open_image(str(tmp_path / "strip.png"))
    settle(win)
    assert win.state.ctx.doc.name == "strip.png" and win.state.grid is not None
    assert not win.banner.isVisible(), win.banner.text()


def test_window_survives_every_bad_image(qtbot, make_window, settle, tmp_path):
    win = make_window("resaturation")
    settle(win)
    before = win.state.ctx.doc.key
    bad = {
        "corrupt.jpg": b"\xff\xd8\xff" + b"\x00" * 64,
        "empty.png": b"",
        "tiny.png": _png(np.zeros((4, 4, 3), np.uint8)),
        "text.png": b"hello, not an image",
    }
    for name, data in bad.items():
        (tmp_path / name).write_bytes(data)
        win.state.open_image(str(tmp_path / name))  # read in the worker: the window stays live
        qtbot.waitUntil(lambda: win.banner.isVisible() and name in win.banner.text(), timeout=30_000)
        assert "\n" not in win.banner.text()
    assert win.state.ctx.doc.key == before  # the current image stays
    # usable odd images open, and clear the banner
    grey = (np.indices((64, 80)).sum(0) % 256).astype(np.uint8)
    cv2.imwrite(str(tmp_path / "grey.png"), grey)
    win.state.open_image(str(tmp_path / "grey.png"))
    settle(win)
    assert not win.banner.isVisible()
    assert win.state.ctx.doc.name == "grey.png"
    assert "grey image" in win.imagePanel.caption.text()
    # 16 identical grey results, unexplained: resaturation says it has no colour to work with
    assert "no colour to resaturate" in win.imagePanel.caption.text()
    win.taskCombo.setCurrentText("relighting")
    settle(win)
    assert win.state.ctx.doc.name == "grey.png" and "grey image" in win.imagePanel.caption.text()
    assert "no colour" not in win.imagePanel.caption.text()


def test_bad_files_named_at_start_up_leave_a_working_window_and_every_message(qtbot, make_window, settle,
                                                                               studio_assets, tmp_path):
    """``cdvae-studio bad.jpg --model typo/``: the start-up photo's job was replaced by the bad
    file's, so the window used to stay empty (no photo, "loading..." for good), and the start-up
    photo, landing, took down the model's message. Now a built-in photo stands in, and each
    message stays until something of its own kind succeeds (or a click dismisses them)."""
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a JPEG")
    (tmp_path / "typo").mkdir()
    win = make_window("resaturation")
    state = win.state
    state.open_model(str(tmp_path / "typo"))  # what app.main does, before anything has loaded
    state.open_image(str(tmp_path / "bad.jpg"))
    settle(win)
    assert state.image is not None and str(state.image_path) in state._builtin_paths
    lines = win.banner.text().split("\n")
    assert win.banner.isVisible() and len(lines) == 2, lines
    assert "typo is not a saved model" in lines[0]
    assert lines[1].startswith("Cannot open bad.jpg:") and lines[1].endswith(". Showing a built-in photo instead.")
    # a photo that opens takes down the photo's message only
    cv2.imwrite(str(tmp_path / "good.png"), (np.indices((48, 64)).sum(0) % 256).astype(np.uint8))
    state.open_image(str(tmp_path / "good.png"))
    settle(win)
    assert state.ctx.doc.name == "good.png"
    assert win.banner.isVisible() and "\n" not in win.banner.text() and "typo" in win.banner.text()
    # a session that cannot be read says so; another model asked for takes down the model's message
    (tmp_path / "bad_session.json").write_text("{")
    state.open_session(str(tmp_path / "bad_session.json"))
    assert "bad_session.json is not a session file" in win.banner.text()
    state.open_model(str(studio_assets / "models" / "resaturation" / "mdn4"))
    settle(win)
    assert win.banner.isVisible() and "typo" not in win.banner.text() and "bad_session.json" in win.banner.text()
    # a click dismisses what is left
    qtbot.mouseClick(win.banner, Qt.MouseButton.LeftButton)
    assert not win.banner.isVisible() and win.banner.text() == ""
    # a message about nothing in particular goes with the next success of any kind
    win.show_error("cannot write somewhere")
    state.open_image(str(tmp_path / "good.png"))
    settle(win)
    assert not win.banner.isVisible()


@pytest.mark.parametrize("on_screen", [False, True], ids=["at_start_up", "later"])
@pytest.mark.parametrize("given,shown,message", [
    (["bad.jpg", "good.png", "other.png"], "good.png", ". Showing good.png instead."),
    (["bad.jpg", "empty.png", "good.png"], "good.png", " (and 1 more of the photos given). Showing good.png instead."),
    (["bad.jpg", "empty.png"], None, " (and 1 more of the photos given). Showing a built-in photo instead."),
])
def test_a_photo_given_that_cannot_be_opened_gives_way_to_the_next_one_given(
        make_window, settle, tmp_path, given, shown, message, on_screen):
    """``cdvae-studio bad.jpg good.png``, or the two dropped on the window: a built-in photo (or
    the photo on screen) stood in for bad.jpg although the user had named good.png; the next photo
    given is shown, and where none opens, a built-in one at start-up, else the photo on screen.
    The banner keeps one line: the first reason and how many more failed."""
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a JPEG")
    (tmp_path / "empty.png").write_bytes(b"")
    for name in ("good.png", "other.png", "before.png"):
        cv2.imwrite(str(tmp_path / name), (np.indices((48, 64)).sum(0) % 256).astype(np.uint8))
    win = make_window("resaturation")
    if on_screen:
        win.state.open_image(str(tmp_path / "before.png"))
        settle(win)
    win.state.open_paths([str(tmp_path / name) for name in given])  # at start-up as app.main does it
    settle(win)
    if shown is None and on_screen:
        assert win.state.image_path == str(tmp_path / "before.png")
        message = message.replace(" Showing a built-in photo instead.", "")
    elif shown is None:
        assert str(win.state.image_path) in win.state._builtin_paths
    else:
        assert win.state.image_path == str(tmp_path / shown) and win.state.ctx.doc.name == shown
    text = win.banner.text()
    assert win.banner.isVisible() and "\n" not in text
    assert text.startswith("Cannot open bad.jpg:") and text.endswith(message), text


def test_paths_the_file_system_refuses_say_so_in_one_line(qtbot, make_window, settle, tmp_path, capfd):
    """A name longer than the file system allows: opening it as a model was an OSError traceback in
    the GUI thread, as an image "image: [Errno 36] ...", as a session "is not a session file", and
    saving a session there named the temporary file the write had failed on."""
    long = tmp_path / ("y" * 300)
    win = make_window("relighting")
    settle(win)
    state = win.state
    shown = state.ctx.doc.key
    actions = [
        (lambda: state.open_image(f"{long}.png"), "Cannot open "),
        # the command line, the Open dialog and drops go through open_paths (its is_dir raised)
        (lambda: state.open_paths([f"{long}.png"]), "Cannot open "),
        (lambda: state.open_image(f"{long}.avi#t=1"), "Cannot open "),
        (lambda: state.open_model(str(long)), f"{long} cannot be opened"),
        (lambda: state.open_session(f"{long}.json"), "cannot read "),
        (lambda: state.save_session(f"{long}.json"), "cannot save the session to "),
    ]
    if hasattr(os, "mkfifo"):  # a session read from a FIFO blocked the window for ever
        os.mkfifo(tmp_path / "fifo.json")
        actions.append((lambda: state.open_session(str(tmp_path / "fifo.json")), "cannot read fifo.json"))
    for act, start in actions:
        act()
        settle(win)
        text = win.banner.text()
        assert text.startswith(start) and ("File name too long" in text or "(not a regular file)" in text), text
        assert "\n" not in text, text
        for about in ("image", "model", "session", ""):
            win.banner.clear(about)
    assert state.ctx.doc.key == shown  # the photo and model shown stay
    assert "Traceback" not in capfd.readouterr().err


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_matches_pillow(orientation):
    """Phone photos store pixels sideways with an EXIF tag: they open upright, as Pillow turns them."""
    import io

    from PIL import Image, ImageOps

    rgb = (np.random.default_rng(orientation).random((20, 30, 3)) * 255).astype(np.uint8)
    im = Image.fromarray(rgb)
    exif = im.getexif()
    exif[0x0112] = orientation
    buf = io.BytesIO()
    im.save(buf, "PNG", exif=exif)  # lossless, so the pixels can be compared exactly
    loaded = decode_image(buf.getvalue(), "phone.png")
    expected = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(buf.getvalue()))).convert("RGB"))
    np.testing.assert_array_equal(loaded.rgb, expected)
    assert any("EXIF" in n for n in loaded.notes) == (orientation != 1)


def test_decompression_bomb_is_refused_before_decoding(monkeypatch):
    import io

    from PIL import Image

    import cdvae_studio.images as images

    buf = io.BytesIO()
    Image.new("L", (12_000, 10_000)).save(buf, "PNG")  # 120 megapixels in about 100 kB

    def no_decode(*args, **kwargs):
        raise AssertionError("the pixels were decoded")

    monkeypatch.setattr(images.cv2, "imdecode", no_decode)  # refused from the header alone
    with pytest.raises(ImageLoadError, match="too large to open .12000x10000, 120 megapixels"):
        decode_image(buf.getvalue(), "bomb.png")
    huge = io.BytesIO()
    Image.new("1", (15_000, 13_000)).save(huge, "PNG")  # 195 megapixels: past Pillow's own header limit
    with pytest.raises(ImageLoadError, match=r"huge.png is too large to open \(195 megapixels; up to 100 are opened\)$"):
        decode_image(huge.getvalue(), "huge.png")
    assert Image.MAX_IMAGE_PIXELS is not None  # Pillow's limit is left as it was for everyone else


def test_the_truth_tab_moves_the_frame_as_far_as_its_later_frame_lies(qtbot, make_window, settle, tmp_path,
                                                                       pan_video):
    """A model's flow is per second, but at 7.5 fps the frame a second on is 8 frames, 1.067 s,
    away (in a variable-rate video's pause it may be far less): the Truth tab moves the current
    sample and the encoded truth that far, so that they compare with the later frame; the Preview
    keeps the model's second."""
    from cdvae_studio.images import resize_rgb
    from cdvae_studio.jobs import own_sample, render_preview, render_truth

    pan_video(tmp_path / "slow.avi", 20, fps=7.5)
    win = make_window("motion")
    settle(win)
    win.state.open_paths([str(tmp_path / "slow.avi")])
    qtbot.waitUntil(lambda: win.state.ctx.doc.name == "slow.avi", timeout=30_000)
    settle(win)
    state, ctx = win.state, win.state.ctx
    assert ctx.doc.gap == pytest.approx(8 / 7.5, abs=1e-3) and ctx.doc.truth_span == ctx.doc.gap
    layer = state.grid.xg[state.current]
    own = own_sample(ctx.predictor, ctx.cond, ctx.entry.key, ctx.doc)
    qtbot.waitUntil(lambda: win.truthView._current is not None, timeout=30_000)
    np.testing.assert_array_equal(win.truthView._current, render_preview(state.task, ctx.doc, layer * ctx.doc.gap, own))
    np.testing.assert_array_equal(win.preview.image(), render_preview(state.task, ctx.doc, layer, own))
    assert not np.array_equal(win.truthView._current, win.preview.image())
    assert "frame 1.07 s later" in win.truthView.info.text() and "along their flow for 1.07 s" in win.truthView.info.text()
    truth = render_truth(state.task, ctx.predictor, ctx.cond, ctx.doc, state.grid.xg)  # the encoded truth too
    assert truth.image.shape == ctx.doc.rgb.shape
    encoded = render_preview(state.task, ctx.doc, truth.xg * ctx.doc.gap)
    np.testing.assert_array_equal(truth.image, encoded)
    np.testing.assert_array_equal(win.truthView.encoded_pane.image(), resize_rgb(encoded, max(ctx.doc.later.shape[:2])))


def test_a_video_opens_as_its_first_frame_with_motions_truth(qtbot, make_window, settle, tmp_path, pan_video):
    """"motion needs two frames": a video gives them. Its first frame is the photo; for motion the
    frame a second on makes the truth (the flow between them, and that frame in the Truth tab);
    for the photo tasks it is a photo like any other. A clip shorter than a second, or a PNG of
    the same frame, has no motion truth; an undecodable video is one line."""
    flow = pan_video(tmp_path / "pan.avi", 20)
    win = make_window("motion")
    settle(win)
    win.state.open_paths([str(tmp_path / "pan.avi")])
    qtbot.waitUntil(lambda: win.state.ctx.doc.name == "pan.avi", timeout=30_000)
    settle(win)
    doc = win.state.ctx.doc
    assert doc.later is not None and doc.later.shape == doc.rgb.shape and doc.xg is not None
    measured = doc.xg[:, 8:24, 8:24].mean(axis=(1, 2))  # the middle: borders move less under the warp
    np.testing.assert_allclose(measured, flow, atol=0.3)  # the pan (2, -1.3) model px/s, as DIS measures it
    assert "the frame 1.00 s later is the motion truth" in win.imagePanel.caption.text()
    qtbot.waitUntil(lambda: win.truthView._truth is not None, timeout=30_000)
    np.testing.assert_array_equal(win.truthView._truth, doc.later)
    assert "the video's frame 1.00 s later" in win.truthView.info.text() and doc.gap == pytest.approx(1.0)
    flow_view = win.flowView  # the Flow tab draws the true flow beside the sample's on demand
    assert flow_view.truth.isVisibleTo(win) and len(flow_view.truth_points()) == 0
    flow_view.truth.setChecked(True)
    shafts = flow_view.truth_points().reshape(-1, 6, 2)[:, :2]  # each arrow: shaft, then two head strokes
    direction = (shafts[:, 1] - shafts[:, 0]).mean(axis=0)
    assert len(shafts) > 10 and direction[0] > 0 > direction[1]  # right and up, as the video pans
    assert "· truth" in flow_view.info.text()

    pan_video(tmp_path / "short.avi", 6)  # 0.6 s
    cv2.imwrite(str(tmp_path / "still.png"), cv2.cvtColor(doc.rgb, cv2.COLOR_RGB2BGR))
    for name in ("short.avi", "still.png"):
        win.state.open_paths([str(tmp_path / name)])
        qtbot.waitUntil(lambda: win.state.ctx.doc.name == name, timeout=30_000)
        settle(win)
        assert win.state.ctx.doc.xg is None and win.state.ctx.doc.later is None
        assert "open a video" in win.truthView.info.text()
        assert not win.flowView.truth.isVisibleTo(win) and len(win.flowView.truth_points()) == 0
    (tmp_path / "broken.mp4").write_bytes(b"not a video")
    win.state.open_paths([str(tmp_path / "broken.mp4")])
    qtbot.waitUntil(lambda: "broken.mp4" in win.banner.text(), timeout=30_000)
    assert "Cannot open broken.mp4: the video will not open" in win.banner.text() and "\n" not in win.banner.text()

    photo_task = make_window("resaturation")
    settle(photo_task)
    photo_task.state.open_paths([str(tmp_path / "pan.avi")])
    qtbot.waitUntil(lambda: photo_task.state.ctx.doc.name == "pan.avi", timeout=30_000)
    settle(photo_task)
    assert photo_task.state.ctx.doc.later is None and photo_task.state.ctx.doc.xg is not None  # its own saturation


def test_a_copy_of_a_photo_opens_under_its_own_name(qtbot, make_window, settle, tmp_path):
    """Decomposed photos were cached by their pixels alone: a copy under another name came back
    as the first file (its name in the caption, its stem on exported results)."""
    win = make_window("resaturation")
    settle(win)
    photo = (np.indices((48, 64, 3)).sum(0) * 7 % 256).astype(np.uint8)
    for name in ("first.png", "copy.png"):
        cv2.imwrite(str(tmp_path / name), photo)
        win.state.open_paths([str(tmp_path / name)])
        qtbot.waitUntil(lambda: win.state.ctx.doc.name == name, timeout=30_000)
        settle(win)
        assert str(win.state.ctx.doc.source).endswith(name) and win.imagePanel.caption.text().startswith(name)


def test_the_gallery_lights_the_photo_shown_and_nothing_for_an_example(qtbot, make_window, settle):
    """The gallery's lit entry was whatever was clicked or reached with the arrow keys, also
    after another photo or a scatter-plot example had replaced it."""
    from PySide6.QtCore import Qt

    win = make_window("resaturation")
    settle(win)
    gallery = win.imagePanel.gallery

    def lit() -> list[str]:
        return [item.data(Qt.ItemDataRole.UserRole) for item in gallery.selectedItems()]

    first, second = (gallery.item(row).data(Qt.ItemDataRole.UserRole) for row in (0, 1))
    assert lit() == [first] and win.state.image_path == first
    gallery.setCurrentRow(3)  # the arrow keys move the selection without opening anything
    win.state.open_image(second, remember=False)
    qtbot.waitUntil(lambda: win.state.image_path == second, timeout=30_000)
    assert lit() == [second]
    win.state.open_example(2)
    assert lit() == []


def test_the_gallery_scrolls_to_whole_rows_of_the_photo_shown(qtbot, make_window, settle, tmp_path):
    """A photo opened below the gallery's fold was scrolled to just far enough for its own
    rectangle: the view stopped 5 px into the row above (names without their pictures) and,
    with the fonts of a real display, cut the lit entry's name."""
    from cdvae_studio.widgets.panels import GALLERY_CELL

    win = make_window("resaturation")
    win.resize(1400, 900)
    settle(win)
    gallery = win.imagePanel.gallery
    photo = (np.indices((40, 40, 3)).sum(0) * 5 % 256).astype(np.uint8)
    for index in range(4):  # 6 built-in + 4: a third and a fourth row
        cv2.imwrite(str(tmp_path / f"p{index}.png"), photo)
    win.state.open_paths([str(tmp_path / f"p{index}.png") for index in range(4)])
    settle(win)
    bar, cell = gallery.verticalScrollBar(), GALLERY_CELL[1]
    assert gallery.viewport().height() == 2 * cell  # two whole rows in this window
    for row in (gallery.count() - 1, 0, 7):
        win.state.open_image(gallery.item(row).data(Qt.ItemDataRole.UserRole), remember=False)
        qtbot.waitUntil(lambda: gallery.currentRow() == row, timeout=30_000)
        rect = gallery.visualItemRect(gallery.item(row))
        assert bar.value() % cell == 0, (row, bar.value())
        assert 0 <= rect.top() and rect.top() + cell <= gallery.viewport().height(), (row, rect)
    # a window made smaller has fewer columns: the lit entry's row moves, and it stays in view
    # (at 1024 x 700 it was left scrolled out of the gallery)
    last = gallery.count() - 1
    win.state.open_image(gallery.item(last).data(Qt.ItemDataRole.UserRole), remember=False)
    qtbot.waitUntil(lambda: gallery.currentRow() == last, timeout=30_000)
    columns = gallery.viewport().width() // GALLERY_CELL[0]
    win.resize(1024, 700)
    qtbot.waitUntil(lambda: gallery.viewport().width() // GALLERY_CELL[0] < columns, timeout=5_000)

    def lit_in_view() -> bool:
        rect = gallery.visualItemRect(gallery.item(last))
        return 0 <= rect.top() and rect.bottom() <= gallery.viewport().height()

    qtbot.waitUntil(lit_in_view, timeout=5_000)


def test_a_video_named_at_a_time_opens_that_frame_and_lists_the_video(qtbot, make_window, settle, tmp_path,
                                                                       pan_video):
    """``cdvae-studio clip.avi#t=1`` opens the frame at 1 s; the gallery and the recent list name
    the video itself, as they do for frames chosen on the Time bar."""
    from PySide6.QtCore import Qt

    video = tmp_path / "pan.avi"
    pan_video(video, 30)
    win = make_window("motion")
    settle(win)
    win.state.open_paths([f"{video}#t=1"])
    qtbot.waitUntil(lambda: win.state.image_path == f"{video}#t=1", timeout=30_000)
    settle(win)
    assert win.imagePanel.timeBar.slider.value() == 10
    recent = win.settings.value("recentFiles") or []
    assert str(video) in recent and f"{video}#t=1" not in recent
    assert [item.data(Qt.ItemDataRole.UserRole) for item in win.imagePanel.gallery.selectedItems()] == [str(video)]
    win.state.open_paths([f"{video}#t=soon"])
    qtbot.waitUntil(lambda: "pan.avi#t=soon" in win.banner.text(), timeout=30_000)
    assert "Cannot open pan.avi#t=soon: #t=soon is not a time in seconds" in win.banner.text()
    assert win.state.image_path == f"{video}#t=1"


def test_a_videos_length_is_read_once_per_version_of_the_file(tmp_path, monkeypatch, pan_video):
    """Each frame chosen on the Time bar loads the video again; its length (counted by reading
    the whole file's packets where the container does not say) is read once, and again when the
    file changes."""
    from cdvae_core.data import video as video_module
    from cdvae_studio import images

    clip = tmp_path / "pan.avi"
    pan_video(clip, 30)
    calls = []
    real = video_module.video_info
    monkeypatch.setattr(video_module, "video_info", lambda path: calls.append(path) or real(path))
    images._clip_info.cache_clear()
    for seconds in (0.0, 1.0, 2.0):
        assert images.load_video(clip, seconds).clip.index == round(seconds * 10)
    assert len(calls) == 1
    pan_video(clip, 40)  # another version of the file: longer
    os.utime(clip, ns=(clip.stat().st_atime_ns, clip.stat().st_mtime_ns + 10**9))
    assert images.load_video(clip, 3.5).clip.frames == 40 and len(calls) == 2


def test_a_model_with_any_edited_embedding_array_opens_or_says_why_in_one_line(qtbot, make_window, settle, tmp_path):
    """A shipped model's embedding.safetensors with each array damaged (tests/helpers.array_edits;
    every SPREAD-th in CI, all with CDVAE_EDITS=all), opened, its scatter plot coloured every
    way, selected and its first and last training examples opened. Session 19 found IndexErrors
    in the scatter plot (a flattened or column-less lpp_c or codes_c), a broadcast error in
    pyqtgraph (codes one column wide), RuntimeWarnings from NaN thumbnails and from the spread
    map of a runaway model's samples, and torch's "probability tensor contains inf or nan" (a
    thumbnail of 6e4), each a traceback in the GUI thread or a banner naming an exception."""
    import shutil
    from pathlib import Path

    from safetensors.numpy import load_file, save_file

    from cdvae_core.checkpoint import EMBEDDING_FILE

    from helpers import SPREAD, array_edits

    source = Path(__file__).resolve().parents[2] / "assets" / "models" / "relighting" / "mdn4"
    cases = array_edits(load_file(str(source / EMBEDDING_FILE)))
    assert len(cases) >= 103 // SPREAD
    win = make_window("relighting")
    settle(win)
    state, scatter = win.state, win.lppScatter
    photo = state.image_path
    refused = 0
    for n, (case, edited) in enumerate(cases):
        model = tmp_path / f"model_{n}"
        shutil.copytree(source, model)
        save_file(edited, str(model / EMBEDDING_FILE))
        state.open_model(str(model))
        settle(win)
        if not win.banner.isVisible():
            assert state.ctx.entry.path == model, case
            for i in range(scatter.colour.count()):
                scatter.colour.setCurrentIndex(i)
            scatter.select_rect(-1e9, -1e9, 2e9, 2e9)
            for row in (0, len(state.ctx.predictor.embedding) - 1):
                state.open_example(row)
                settle(win)
        text = win.banner.text() if win.banner.isVisible() else ""
        assert "\n" not in text and "Error:" not in text, (case, text)  # a message for the user, no class names
        if text.startswith("Cannot load the model: "):  # told apart by the error's class, not its text
            refused += 1
            assert win.modelLabel.text() == "model failed to load", (case, text)
        assert state.ctx is not None, case
        win.banner.clear("model")
        win.banner.clear("image")
        state.open_image(photo)  # the next edit on the same photo (an example of this one may not encode)
        settle(win)
    assert refused >= 1  # some edits are refused when the model loads


def test_opening_the_models_folder_names_the_models_inside(make_window, settle, tmp_path, untrained_model):
    """File > Open model on the folder that holds the trained models (the Train form's models
    folder, say) said only "is not a saved model (no config.json)". It names them and one to open."""
    untrained_model(tmp_path / "models" / "relighting-1", "relighting", "gauss")
    win = make_window("resaturation")
    settle(win)
    win.state.open_model(str(tmp_path / "models"))
    settle(win)
    assert win.banner.isVisible()
    assert win.banner.text() == (f"{tmp_path / 'models'} is not a saved model (no config.json); it holds one saved "
                                 f"model (relighting-1): open that, {tmp_path / 'models' / 'relighting-1'}")

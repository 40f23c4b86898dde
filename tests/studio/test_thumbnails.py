"""Gallery thumbnails of the user's own files: read in the worker, one file per job, a JPEG at a
reduced scale, kept per version of a file; an unreadable file keeps the generic icon and says why."""

from __future__ import annotations

import os
import cv2
import numpy as np
import pytest
from PySide6.QtCore import QThread, Qt

from cdvae_core.data.builtin import builtin_images
from cdvae_studio import thumbnails
from cdvae_studio.images import ImageLoadError, load_image, resize_rgb
from cdvae_studio.thumbnails import ThumbnailCache, read_thumbnail


def _jpeg_with_orientation(path, rgb: np.ndarray, orientation: int) -> None:
    from PIL import Image

    im = Image.fromarray(rgb)
    exif = im.getexif()
    exif[0x0112] = orientation
    im.save(path, "JPEG", quality=95, exif=exif)


@pytest.mark.parametrize("orientation", [1, 3, 6, 8])
def test_a_jpeg_is_read_at_a_reduced_scale_upright_and_like_the_photo(tmp_path, monkeypatch, orientation):
    """libjpeg's own scale-down (not the Studio's full loader) gives the thumbnail the full photo
    would give, EXIF orientation applied."""
    photo = cv2.resize(np.asarray(builtin_images()[2][1]), (1200, 800), interpolation=cv2.INTER_CUBIC)
    path = tmp_path / "phone.jpg"
    _jpeg_with_orientation(path, photo, orientation)
    expected = resize_rgb(load_image(path).rgb, 56)
    monkeypatch.setattr(thumbnails, "load_image", lambda p, stop=None: pytest.fail("the full loader ran for a large JPEG"))
    thumb = read_thumbnail(path)
    assert thumb.shape == expected.shape == ((37, 56, 3) if orientation in (1, 3) else (56, 37, 3))
    assert np.abs(thumb.astype(int) - expected).mean() < 4


def test_other_files_are_read_as_the_studio_opens_them(tmp_path, pan_video):
    """A transparent PNG is white (composited as the Studio does), a video is its first frame, a
    small JPEG is read whole, and a file that is no image is the loader's one-line error."""
    rgba = np.zeros((40, 60, 4), np.uint8)  # fully transparent
    cv2.imwrite(str(tmp_path / "clear.png"), rgba)
    thumb = read_thumbnail(tmp_path / "clear.png")
    assert thumb.shape == (37, 56, 3) and (thumb == 255).all()
    pan_video(tmp_path / "clip.avi", 12)
    np.testing.assert_array_equal(read_thumbnail(tmp_path / "clip.avi"),
                                  resize_rgb(load_image(tmp_path / "clip.avi").rgb, 56))
    small = (np.indices((30, 40)).sum(0) * 4 % 256).astype(np.uint8)
    cv2.imwrite(str(tmp_path / "small.jpg"), small)
    np.testing.assert_array_equal(read_thumbnail(tmp_path / "small.jpg"), load_image(tmp_path / "small.jpg").rgb)
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff" + bytes(200))
    with pytest.raises(ImageLoadError, match="broken.jpg"):
        read_thumbnail(tmp_path / "broken.jpg")


def test_the_cache_keeps_one_thumbnail_per_version_of_a_file(tmp_path, monkeypatch):
    paths = []
    for k in range(3):
        paths.append(str(tmp_path / f"p{k}.png"))
        cv2.imwrite(paths[-1], np.full((20, 30, 3), 40 * k, np.uint8))
    cache = ThumbnailCache(capacity=2)
    assert cache.peek(paths[0]) is None  # nothing is read by peeking
    first = cache.read(paths[0])
    assert first[0, 0, 0] == 0
    reads = []
    real = thumbnails.read_thumbnail
    monkeypatch.setattr(thumbnails, "read_thumbnail",
                        lambda p, side, at, stop=None: reads.append(p) or real(p, side, at, stop))
    np.testing.assert_array_equal(cache.read(paths[0]), first)
    np.testing.assert_array_equal(cache.peek(paths[0]), first)
    assert reads == []
    cv2.imwrite(paths[0], np.full((20, 30, 3), 200, np.uint8))  # the file changes: read again
    os.utime(paths[0], ns=(1, 1))
    assert cache.peek(paths[0]) is None
    assert cache.read(paths[0])[0, 0, 0] == 200 and len(reads) == 1
    cache.read(paths[1])
    cache.read(paths[2])  # the third version pushes out the oldest
    assert cache.peek(paths[0]) is None and cache.peek(paths[2]) is not None
    assert cache.peek(str(tmp_path / "gone.png")) is None


def _opaque_size(item) -> tuple[int, int]:
    """(width, height) of the opaque part of a gallery item's icon."""
    image = item.icon().pixmap(56, 56).toImage()
    alpha = np.array([[image.pixelColor(x, y).alpha() for x in range(image.width())] for y in range(image.height())])
    rows, cols = np.nonzero(alpha)
    return int(cols.max() - cols.min() + 1), int(rows.max() - rows.min() + 1)


def _centre_colour(item) -> tuple[int, int, int]:
    colour = item.icon().pixmap(56, 56).toImage().pixelColor(28, 28)
    return colour.red(), colour.green(), colour.blue()


def test_recent_files_get_their_thumbnails_from_a_thread_of_their_own(qtbot, make_window, settle, tmp_path,
                                                                      pan_video, monkeypatch):
    """Listed at once with a generic icon, each recent file's thumbnail arrives from the thumbnail
    worker (not the GUI thread, and not the render worker, where sliders would wait behind a large
    PNG); a file that cannot be read keeps the icon and says why in its tooltip; a refilled gallery
    (after every open) shows the thumbnails read before without waiting."""
    win = make_window("resaturation")
    settle(win)
    red, blue = str(tmp_path / "red.png"), str(tmp_path / "blue.jpg")
    cv2.imwrite(red, np.full((48, 64, 3), (0, 0, 255), np.uint8))
    cv2.imwrite(blue, np.full((600, 900, 3), (255, 0, 0), np.uint8))
    clip, broken = str(tmp_path / "clip.avi"), str(tmp_path / "broken.png")
    pan_video(clip, 12)
    with open(broken, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + bytes(64))
    threads = []
    real = ThumbnailCache.read
    monkeypatch.setattr(ThumbnailCache, "read", lambda self, p, at=None, stop=None:
                        threads.append(QThread.currentThread().objectName()) or real(self, p, at, stop))
    win.state.add_recent([red, blue, clip, broken])
    panel = win.imagePanel
    assert set(panel.wanting_thumbnails()) == {red, blue, clip, broken}  # listed before any is read
    settle(win)
    assert panel.wanting_thumbnails() == []
    assert threads and set(threads) == {"cdvae-thumbnails"}
    items = {panel.gallery.item(row).data(Qt.ItemDataRole.UserRole): panel.gallery.item(row)
             for row in range(panel.gallery.count())}
    r, g, b = _centre_colour(items[red])
    assert r > 200 and g < 50 and b < 50
    r, g, b = _centre_colour(items[blue])
    assert b > 200 and r < 50 and g < 50
    # icons keep the picture's shape (a 16:9 frame was squeezed square), centred in a transparent
    # square so that every label lines up: 900x600 and 64x48 files, a 160x120 video, and the
    # built-in cat photo, 451x300
    cat = next(item for item in items.values() if item.text() == "chelsea")
    for item, height in ((items[blue], 37), (items[red], 42), (items[clip], 42), (cat, 37)):
        assert _opaque_size(item) == (56, height)
    assert "cannot read it" in items[broken].toolTip() and "broken.png" in items[broken].toolTip()
    threads.clear()
    win.state.add_recent([str(tmp_path / "clip.avi")])  # any refill: the thumbnails are there at once
    assert set(panel.wanting_thumbnails()) <= {broken}
    settle(win)
    assert len(threads) <= 1


def test_a_slow_thumbnail_holds_up_no_render(qtbot, make_window, settle, tmp_path, monkeypatch):
    """While a thumbnail is being read (here: held until released), a new grid still renders."""
    import threading

    win = make_window("resaturation")
    settle(win)
    photo = str(tmp_path / "slow.png")
    cv2.imwrite(photo, np.full((48, 64, 3), 90, np.uint8))
    reading, gate = threading.Event(), threading.Event()
    real = thumbnails.read_thumbnail
    monkeypatch.setattr(thumbnails, "read_thumbnail",
                        lambda p, side, at, stop=None: (reading.set(), gate.wait(30), real(p, side, at, stop))[2])
    before = win.state.codes.copy()
    win.state.add_recent([photo])
    qtbot.waitUntil(reading.is_set, timeout=10000)
    win.resampleButton.click()
    try:
        qtbot.waitUntil(lambda: win.state.codes.shape == before.shape and not np.array_equal(win.state.codes, before),
                        timeout=15000)
        assert win.imagePanel.wanting_thumbnails() == [photo] and not win.state.is_settled()
    finally:
        gate.set()
    settle(win)
    assert win.imagePanel.wanting_thumbnails() == []

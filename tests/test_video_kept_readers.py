"""Reads in a video OpenCV cannot seek in go on from readers kept open where earlier reads stopped
(``data.kept_readers``, ``data.video_frames._kept_scan``): stepping through a recorder's WebM a frame or a
second at a time decodes that frame or second, not the video from its start; and the frames are
those one scan from the start finds."""

from __future__ import annotations

import os

import cv2
import numpy as np
import pytest

from cdvae_core.data import video_frames
from cdvae_core.data.errors import SkipItem, Stopped
from cdvae_core.data.kept_readers import MAX_KEPT, KeptReaders, Reader

from test_data_ucf101 import _decoded_in_order
from test_video_frames import ended, expected_truth, pan_frames, shown, write_live


@pytest.fixture
def grabs(monkeypatch) -> list[int]:
    """Counts the frames OpenCV decodes (``grab``) in captures opened from now on."""
    counted: list[int] = []
    real = cv2.VideoCapture

    class Counting:
        def __init__(self, *args):
            self._cap = real(*args)

        def grab(self) -> bool:
            counted.append(1)
            return self._cap.grab()

        def __getattr__(self, name):
            return getattr(self._cap, name)

    monkeypatch.setattr(cv2, "VideoCapture", Counting)
    return counted


def _live_clip(tmp_path):
    """A live WebM (no length: OpenCV cannot seek in it), 60 frames at 25 fps, and its frames as an
    in-order decode gives them."""
    clip = tmp_path / "live.webm"
    write_live(clip, "libvpx", "webm", pan_frames(60))
    assert not video_frames.can_seek(clip)
    return clip, _decoded_in_order(clip)


def _reads(clip, reference, grabs):
    """read(t, still, later) -> the frames decoded to read the still at t and its truth a second
    later, checking both against the frames ``still`` and ``later`` of the reference."""
    def read(t: float, still: int, later: int | None) -> int:
        before = len(grabs)
        frame, truth, gap = video_frames.frames_at(clip, t)
        np.testing.assert_array_equal(frame, reference[still])
        if later is None:
            assert truth is None and gap is None
        else:
            np.testing.assert_array_equal(truth, reference[later])
            assert gap == pytest.approx((later - still) / 25)
        return len(grabs) - before

    return read


def test_stepping_on_through_a_video_that_cannot_seek_decodes_only_the_step(tmp_path, grabs):
    """The first read at 1 s decodes from the start, one reader going on from the still to its
    truth and keeping the frames from the still on in its ring; from then on a step a frame on
    takes the still from the ring and decodes the truth's one new frame, a step back within the
    ring decodes nothing. Past the ring's reach a read starts again from a reader short of it, or
    from the start. Every answer is the frame an in-order decode gives, and its truth a second
    later."""
    clip, reference = _live_clip(tmp_path)
    read = _reads(clip, reference, grabs)
    # frames 0-26 (the frame after the still tells it is the nearest), then 27-51 for the truth
    assert read(1.0, 25, 50) == 27 + 25
    assert read(1.04, 26, 51) == 0 + 1  # one frame on: the still from the ring, one new frame
    assert read(1.08, 27, 52) == 0 + 1
    # a time a hair short of a frame's stamp (27.3 + 2 / 30 s met 27.366667 s) is that frame
    assert read(1.12 - 3e-7, 28, 53) == 0 + 1
    assert read(1.2, 30, 55) == 0 + 2  # two frames on
    # the frame shown read again (an export of it), or a time nearer it than the next, or a step
    # back within the ring's second and two frames: nothing to decode
    assert read(1.2, 30, 55) == 0 and read(1.21, 30, 55) == 0 and read(1.16, 29, 54) == 0
    video_frames.frames_at(clip, 1.2)[0][:] = 0  # a caller paints on its frame: the kept pixels stay
    assert read(1.2, 30, 55) == 0
    # a second on: the still from the ring; the truth's time (3.2 s) is past the end (56-59, none)
    assert read(2.2, 55, None) == 0 + 4
    assert read(0.4, 10, 35) == 12 + 25  # back past every ring: from the start
    assert len(video_frames._KEPT) <= MAX_KEPT


def test_without_room_for_a_ring_two_readers_step_on(tmp_path, grabs, monkeypatch):
    """A reader whose ring would outgrow MAX_RING_BYTES (a second of 4K video) keeps none: the
    first step decodes to the still from the start once more (the one reader is past it), and
    from then on the still's reader and the truth's each decode only the step."""
    from cdvae_core.data import kept_readers

    monkeypatch.setattr(kept_readers, "MAX_RING_BYTES", 10 * 160 * 96 * 3)  # ten frames
    clip, reference = _live_clip(tmp_path)
    read = _reads(clip, reference, grabs)
    assert read(1.0, 25, 50) == 27 + 25
    assert read(1.04, 26, 51) == 28 + 1  # the still from the start again (frames 0-27)
    assert read(1.08, 27, 52) == 1 + 1  # one frame on: one frame more for each reader
    assert read(1.2, 30, 55) == 3 + 3
    assert read(1.2, 30, 55) == 0  # each reader holds its frame as the one before its last


def test_a_stopped_read_leaves_its_reader_where_it_stopped(tmp_path, grabs):
    """A read the caller stopped (the pointer moved on) keeps its progress: the next read deep in
    the video goes on from there instead of from the start."""
    clip, _ = _live_clip(tmp_path)
    asked: list[int] = []
    with pytest.raises(Stopped):
        video_frames.frames_at(clip, 2.0, seconds=None, stop=lambda: asked.append(1) or len(asked) > 30)
    assert len(grabs) == 30
    still, _, _ = video_frames.frames_at(clip, 2.0, seconds=None)
    assert len(grabs) - 30 <= 22  # frames 30..50 and the one after it, not 51 from the start
    np.testing.assert_array_equal(still, _decoded_in_order(clip)[50])


def test_a_rewritten_file_is_read_afresh(tmp_path):
    """A kept reader belongs to the file as it was: a new video under the same name (its size and
    time differ) is read from its own start."""
    clip = tmp_path / "live.webm"
    write_live(clip, "libvpx", "webm", pan_frames(60))
    video_frames.frames_at(clip, 1.0, seconds=None)
    frames = pan_frames(60)[::-1]
    write_live(clip, "libvpx", "webm", frames)
    os.utime(clip, ns=(clip.stat().st_atime_ns, clip.stat().st_mtime_ns + 10**9))
    still, _, _ = video_frames.frames_at(clip, 1.04, seconds=None)
    np.testing.assert_array_equal(still, _decoded_in_order(clip)[26])
    assert len(video_frames._KEPT) == 1  # the old file's reader was closed, not kept


class _FakeCapture:
    """A capture over made-up frame times: frame i's pixels are all i (a 1x1 BGR image)."""

    def __init__(self, times: np.ndarray):
        self.times, self.index = times, -1

    def isOpened(self) -> bool:  # noqa: N802 - OpenCV's name
        return True

    def grab(self) -> bool:
        self.index += 1
        return self.index < len(self.times)

    def get(self, prop: int) -> float:
        assert prop == cv2.CAP_PROP_POS_MSEC
        return float(self.times[self.index]) * 1000.0

    def retrieve(self):
        return True, np.full((1, 1, 3), self.index, np.uint8)

    def release(self) -> None:
        self.index = len(self.times)


def _index(shown: video_frames._Shown) -> int | None:
    """Which made-up frame a scan's answer holds the pixels of (None: none kept)."""
    return None if shown.image is None else int(shown.image[0, 0, 0])


def test_kept_readers_find_the_frames_one_scan_finds_on_random_frame_times(tmp_path, monkeypatch):
    """``_kept_scan`` (the still and its truth each from the reader nearest before it) against the
    references of one scan from the start, on made-up frame times (steady stretches, jitter,
    pauses of up to 2 s) and runs of reads that step on, jump ahead and go back."""
    rng = np.random.default_rng(11)
    path = tmp_path / "made-up.webm"
    path.write_bytes(b"frames")
    for trial in range(150):
        gaps = rng.choice([1 / 50, 1 / 30, 1 / 25, 0.05, 0.4, 2.0], size=rng.integers(2, 60),
                          p=[0.3, 0.25, 0.25, 0.1, 0.05, 0.05])
        times = np.round(np.concatenate([[0.0], np.cumsum(gaps)]), 6)
        fps = (len(times) - 1) / times[-1]
        monkeypatch.setattr(cv2, "VideoCapture", lambda _path, times=times: _FakeCapture(times))
        video_frames._KEPT.clear()
        t = float(rng.uniform(0, times[-1]))
        for _ in range(8):
            step = rng.choice([1 / fps, 2 / fps, 1.0, -1.0, rng.uniform(-times[-1], times[-1])])
            t = float(np.clip(t + step, 0, times[-1] + 0.2))
            if ended(times, t, fps):
                with pytest.raises(SkipItem, match="video ends at"):
                    video_frames._kept_scan(path, t, 1.0, fps, None)
                continue
            still, later = video_frames._kept_scan(path, t, 1.0, fps, None)
            i = shown(times, t, fps)
            # pixels may be missing past a long pause (frames_at reads again then), never wrong
            assert still.seconds == times[i] and _index(still) in (i, None), (trial, t)
            j = expected_truth(times, i, fps)
            if still.image is None or j is None:  # without the still's pixels it stops there
                assert later is None, (trial, t)
            else:
                assert later.seconds == times[j] and _index(later) in (j, None), (trial, t)


def test_the_pool_keeps_the_most_recently_used_readers_and_takes_the_furthest_short_of_a_time():
    """``KeptReaders``: the reader furthest along at or before the time, of that file only; the
    least recently used closed past the limit; a reader at its file's end is closed, not kept."""
    released: list[str] = []

    class Cap:
        def __init__(self, name: str):
            self.name = name

        def release(self) -> None:
            released.append(self.name)

    key = ("/v.webm", 10, 1)
    pool = KeptReaders(limit=2)
    for name, stamp in (("a", 1.0), ("b", 3.0)):
        pool.give_back(Reader(key, Cap(name), grabbed=1, stamp=stamp))
    assert pool.take(key, 0.5) is None
    assert pool.take(("/other.webm", 10, 1), 9.0) is None
    taken = pool.take(key, 5.0)
    assert taken.cap.name == "b" and len(pool) == 1
    pool.give_back(taken)
    pool.give_back(Reader(key, Cap("c"), grabbed=1, stamp=2.0))
    assert released == ["a"] and len(pool) == 2  # "a" was used least recently
    pool.give_back(Reader(key, Cap("d"), grabbed=9, stamp=4.0, ended=True))
    assert released == ["a", "d"] and len(pool) == 2
    assert pool.take(("/v.webm", 11, 2), 9.0) is None  # the file changed: its old readers close
    assert sorted(released) == ["a", "b", "c", "d"] and len(pool) == 0


def test_a_ring_holds_consecutive_frames_of_its_span_up_to_the_last():
    """``Reader``'s ring: seeded with the last two frames met where both have pixels; trimmed to
    the span, keeping one frame at or before its start; emptied by a frame without pixels (it
    holds consecutive frames only); refused past MAX_RING_BYTES, for good."""
    from cdvae_core.data import kept_readers

    frame = np.zeros((2, 2, 3), np.uint8)
    reader = Reader(("/v.webm", 1, 1), cap=None)
    for stamp in (0.0, 0.1):
        reader.advance(stamp)
        reader.image = frame
    assert reader.start_ring(0.25) and [t for t, _ in reader.ring] == [0.0, 0.1]
    assert reader.ring_covers(0.05) and not reader.ring_covers(0.1) and not reader.ring_covers(-0.1)
    for stamp in (0.2, 0.3, 0.4):
        reader.advance(stamp)
        reader.keep_in_ring(stamp, frame)
    assert [t for t, _ in reader.ring] == [0.1, 0.2, 0.3, 0.4]  # 0.1 at or before 0.4 - 0.25
    assert reader.ring_covers(0.1) and reader.ring_covers(0.1 - 1e-7, tie=1e-6)
    reader.keep_in_ring(0.5, None)
    assert not reader.ring and not reader.ring_covers(0.45)
    big = np.zeros((kept_readers.MAX_RING_BYTES // 3 + 1,), np.uint8)
    for stamp in (0.6, 0.7, 0.8):
        reader.keep_in_ring(stamp, big)
    assert reader.ring is None and reader.ring_refused and not reader.start_ring(1.0)

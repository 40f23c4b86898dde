"""Which frame of a video is shown at a time (``data.video_frames.frames_at``: the Studio's Time bar,
``clip.mp4#t=...`` in exports), found by timestamps: H.264 and HEVC with B-frames, variable frame
rates (phone videos, screen recordings that pause), and streams without usable timestamps; and
a phone's portrait video, stored sideways with a rotation to display it by, comes out upright.

Clips are written with PyAV (FFmpeg's libx264 and libx265: OpenCV's wheel has no H.264 encoder)
and the times of their frames are read back with PyAV, independently of the OpenCV under test.
"""

from __future__ import annotations

import fractions
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from cdvae_core.data import video, video_frames
from cdvae_core.data.builtin import builtin_images
from cdvae_core.data.errors import SkipItem
from cdvae_core.data.video import video_frame_pairs, video_info
from cdvae_core.data.video_frames import frames_at

from test_data_ucf101 import _decoded_in_order, write_pan_video

W, H = 160, 96  # even sides, as 4:2:0 video needs


def pan_frames(count: int) -> list[np.ndarray]:
    """RGB uint8 (H, W, 3) frames of a camera window sliding 2 px per frame over a built-in photo:
    every frame differs from the others."""
    photo = cv2.resize(np.asarray(builtin_images()[1][1]), (3 * W, H), interpolation=cv2.INTER_AREA)
    return [np.ascontiguousarray(photo[:, 2 * i:2 * i + W]) for i in range(count)]


def write_clip(path: Path, frames: list[np.ndarray], codec: str = "libx264", fps: int = 25,
               stamps_ms: list[int] | None = None, options: dict | None = None, rotation: int = 0) -> None:
    """Encode ``frames`` with PyAV: at a steady ``fps``, or where ``stamps_ms`` is given each frame
    at its own time in milliseconds (a variable frame rate); ``rotation``: the degrees
    (counter-clockwise) a player turns the frames by to show them, as phones record portrait."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=None if stamps_ms else fps)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        stream.options = options or {}
        if rotation:
            stream.set_display_rotation(rotation)
        if stamps_ms:
            stream.time_base = stream.codec_context.time_base = fractions.Fraction(1, 1000)
        for i, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            if stamps_ms:
                frame.pts, frame.time_base = stamps_ms[i], fractions.Fraction(1, 1000)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def presentation_times(path: Path) -> np.ndarray:
    """Seconds from the first frame at which each frame is shown, in order, as PyAV decodes them."""
    with av.open(str(path)) as container:
        times = [frame.time for frame in container.decode(video=0)]
    return np.asarray(times) - times[0]


def shown(times: np.ndarray, t: float, fps: float) -> int:
    """Reference: the frame at t is the nearest one (the later of two at half-way), a frame after t
    only within half an average frame of it (during a pause the frame on screen is the one before);
    the first frame covers anything earlier."""
    k = int(np.searchsorted(times, t, side="right")) - 1  # the last frame at or before t
    if k < 0:
        return 0
    if k + 1 < len(times) and times[k + 1] - t <= min(t - times[k], 0.5 / fps) + 1e-6:  # microsecond times
        return k + 1
    return k


def ended(times: np.ndarray, t: float, fps: float) -> bool:
    """Reference: t lies nearer the end of the video (a frame's length after its last frame) than
    the last frame, as if the end were one more frame."""
    return t >= times[-1] and times[-1] + 1.0 / fps - t <= min(t - times[-1], 0.5 / fps) + 1e-6


def expected_truth(times: np.ndarray, i: int, fps: float, seconds: float = 1.0) -> int | None:
    """Reference: the frame shown ``seconds`` after frame i; None where the video ends first or
    frame i is still the one shown then."""
    target = times[i] + seconds
    if ended(times, target, fps):
        return None
    j = shown(times, target, fps)
    return j if j > i else None


def check_against_reference(clip: Path, times: np.ndarray, moments) -> list[tuple[float, int]]:
    """frames_at at each moment gives the reference's frame, truth and gap, and asked for the
    still alone the same frame; -> (moment, frame index) for each."""
    pixels = _decoded_in_order(clip)
    assert len(pixels) == len(times)
    _, fps = video_info(clip)
    found = []
    for t in moments:
        frame, later, gap = frames_at(clip, t)
        i, j = shown(times, t, fps), None
        np.testing.assert_array_equal(frame, pixels[i], err_msg=f"at {t} s")
        alone = frames_at(clip, t, seconds=None)  # the still alone (the Time bar's hover preview)
        np.testing.assert_array_equal(alone[0], frame)
        assert alone[1:] == (None, None)
        j = expected_truth(times, i, fps)
        if j is None:
            assert later is None and gap is None, f"at {t} s"
        else:
            np.testing.assert_array_equal(later, pixels[j], err_msg=f"truth at {t} s")
            assert gap == pytest.approx(times[j] - times[i], abs=1e-6)
        found.append((t, i))
    return found


@pytest.mark.parametrize("codec,suffix,options", [
    ("libx264", ".mp4", {"bf": "3", "g": "12"}),
    ("libx265", ".mkv", {"x265-params": "bframes=3:keyint=12:log-level=none"}),
])
def test_h264_and_hevc_with_b_frames_give_the_frame_decoding_in_order_gives(tmp_path, codec, suffix, options):
    """The codecs of phones and cameras, with B-frames (decode order differs from display order)
    and a keyframe every 12 frames, so that frames_at seeks: the frame at t is frame
    round(t * 25) and its truth the frame 25 on, a second later."""
    clip = tmp_path / f"pan{suffix}"
    write_clip(clip, pan_frames(60), codec, options=options)
    times = presentation_times(clip)
    np.testing.assert_allclose(times, np.arange(60) / 25, atol=1e-6)
    found = check_against_reference(clip, times, (0.0, 0.44, 0.5, 1.0, 1.36))
    assert [i for _, i in found] == [0, 11, 13, 25, 34]  # half-way (12.5) shows the later frame
    with pytest.raises(SkipItem, match=r"video ends at 2\.4 s, before 2\.5 s"):
        frames_at(clip, 2.5)


def variable_rate_clip(tmp_path: Path) -> tuple[Path, np.ndarray]:
    """A phone-like clip: stretches of 10 frames 40 ms apart and 10 frames 20 ms apart (25 and 50
    fps), 100 frames over 3 s, a keyframe every 20 frames."""
    gaps = np.where((np.arange(100) // 10) % 2 == 0, 40, 20)
    stamps = np.concatenate([[0], np.cumsum(gaps)[:-1]]).tolist()
    clip = tmp_path / "phone.mp4"
    write_clip(clip, pan_frames(100), stamps_ms=stamps, options={"bf": "3", "g": "20"})
    return clip, presentation_times(clip)


def test_in_a_variable_frame_rate_video_the_frame_at_a_time_is_the_one_shown_then(tmp_path, monkeypatch):
    """Counting frames at the average rate would land up to several frames off; the frame at t is
    the one a player shows at t, its truth the one shown a second after it, and the gap their true
    distance (not frames / fps). The seek lands past some of these times and the scan starts
    earlier; with no seek at all (decoding from the start) the answers are the same."""
    clip, times = variable_rate_clip(tmp_path)
    np.testing.assert_allclose(np.diff(times)[:12], [0.04] * 10 + [0.02] * 2, atol=1e-6)
    _, fps = video_info(clip)
    moments = [0.0, 0.3, 0.61, 0.95, 1.2, 1.5, 1.73, 2.0, 2.4, 2.9]
    found = check_against_reference(clip, times, moments)
    counted_wrong = [t for t, i in found if i != round(t * fps)]
    assert len(counted_wrong) >= 3, "the clip should tell timestamps from counting frames"

    real, refused = video_frames._scan, []

    def no_seek(path, time, seconds, fps, start, **kwargs):
        if start:
            refused.append(start)
            raise video_frames._NoSeek
        return real(path, time, seconds, fps, start, **kwargs)

    monkeypatch.setattr(video_frames, "_scan", no_seek)
    assert check_against_reference(clip, times, moments) == found
    assert refused  # the stand-in was the one asked: the same answers came without seeking


def test_training_pairs_from_a_variable_frame_rate_video_carry_their_true_gap(tmp_path):
    """cdvae-prepare's pairs (a frame and the frame round(fps) on) divide flow by the time between
    the two frames, which here is not round(fps) / fps."""
    clip, times = variable_rate_clip(tmp_path)
    n_frames, fps = video_info(clip)
    step = round(fps)
    pixels = _decoded_in_order(clip)
    pairs = video_frame_pairs(clip, max_side=W)
    assert len(pairs) == 8
    starts = video.plan_indices(n_frames, step, 8)
    for (first, later, gap), t in zip(pairs, starts):
        np.testing.assert_array_equal(first, pixels[t])
        np.testing.assert_array_equal(later, pixels[t + step])
        assert gap == pytest.approx(times[t + step] - times[t], abs=1e-6)
    assert {round(gap, 2) for *_, gap in pairs} != {round(step / fps, 2)}


def test_a_pause_in_a_screen_recording_shows_the_frame_before_it(tmp_path):
    """Screen recorders write no frames while nothing changes: here none from 0.96 s to 3 s. At any
    time in the pause the frame before it is shown (found by scanning again and keeping every
    frame, as it lies further back than the two frames normally kept); a second after it nothing
    new is shown, so there is no motion truth."""
    stamps = [40 * i for i in range(25)] + [3000 + 40 * i for i in range(50)]
    clip = tmp_path / "screen.mp4"
    write_clip(clip, pan_frames(75), stamps_ms=stamps, options={"bf": "2", "g": "10"})
    times = presentation_times(clip)
    np.testing.assert_allclose(times, np.asarray(stamps) / 1000, atol=1e-6)
    found = check_against_reference(clip, times, (0.48, 0.49, 1.5, 2.0, 2.9, 3.2, 3.9))
    # 0.49 s: the frame at 0.48 s is nearer than the one at 0.52 s, though that one lies within half
    # an average frame (here 34 ms: the pause lowers the average rate to 15 fps)
    assert [i for _, i in found] == [12, 12, 24, 24, 24, 30, 48]
    frame, later, gap = frames_at(clip, 0.48)  # a second on, the last frame before the pause shows
    assert gap == pytest.approx(0.48)
    from cdvae_studio.images import load_image  # the Studio's caption says why there is no truth

    assert "no new frame within a second (it pauses): no motion truth" in load_image(f"{clip}#t=2").notes[0]
    assert "the frame 1.00 s later is the motion truth" in load_image(f"{clip}#t=3.2").notes[0]
    assert "no frame a second later: no motion truth" in load_image(f"{clip}#t=4.5").notes[0]


def test_a_stream_without_usable_timestamps_is_read_by_counting_frames(tmp_path, monkeypatch):
    """Where the timestamps do not increase (some containers give none), frame n is at n / fps, as
    counting frames in an in-order decode gives."""
    clip = tmp_path / "pan.avi"
    write_pan_video(clip, builtin_images()[0][1], 50)
    pixels = _decoded_in_order(clip)
    asked = []
    monkeypatch.setattr(video_frames, "grabbed_time", lambda cap: asked.append(cap) or 0.0)
    frame, later, gap = frames_at(clip, 0.84)
    np.testing.assert_array_equal(frame, pixels[21])
    np.testing.assert_array_equal(later, pixels[46])
    assert gap == pytest.approx(1.0)
    assert asked  # the reads met the stand-in's flat clock (real timestamps would give the same frames)
    with pytest.raises(SkipItem, match=r"video ends at 2 s, before 2\.2 s"):
        frames_at(clip, 2.2)


def write_live(path: Path, codec: str, fmt: str, frames: list[np.ndarray], options: dict | None = None) -> None:
    """Encode ``frames`` at 25 fps into a container that does not record its length: Matroska
    and WebM muxed live (no duration, no index), or a raw stream (``fmt`` "h264")."""
    with av.open(str(path), "w", format=fmt, options={} if fmt == "h264" else {"live": "1"}) as container:
        stream = container.add_stream(codec, rate=25)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        stream.options = options or {}
        for rgb in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
        container.mux(stream.encode(None))


@pytest.mark.parametrize("codec,fmt,suffix,options", [
    ("libvpx", "webm", ".webm", {}),  # a browser's MediaRecorder writes WebM without a duration
    ("libx264", "matroska", ".mkv", {"bf": "3", "g": "12"}),
    ("libx265", "matroska", ".mkv", {"x265-params": "bframes=3:keyint=12:log-level=none"}),
    ("libx264", "h264", ".h264", {"bf": "3", "g": "12"}),  # a raw stream: no container at all
])
def test_a_video_whose_container_does_not_say_its_length_is_counted_without_decoding(
        tmp_path, monkeypatch, codec, fmt, suffix, options):
    """Live-muxed (no duration, as a recording stopped before its muxer closed leaves it) and cut
    short, mid-packet: video_info counts what an in-order decode gives, by reading packets
    alone; the frames decode as before. Decoding the whole video to count it was 1.5 ms a
    frame at 720p, minutes of held renders for an hour of video in the Studio."""
    clip = tmp_path / f"live{suffix}"
    write_live(clip, codec, fmt, pan_frames(60), options)
    cut = tmp_path / f"cut{suffix}"
    cut.write_bytes(clip.read_bytes()[:-1500])
    for path in (clip, cut):
        assert video.container_info(path)[0] == 0, "the container should not say its length"
        decoded = len(_decoded_in_order(path))
        with monkeypatch.context() as patched:
            patched.setattr(video, "_decode", lambda *args: pytest.fail("counted by decoding"))
            assert video_info(path) == (decoded, 25.0)
        assert (decoded == 60) == (path is clip)
    frame, later, gap = frames_at(cut, 0.4)
    np.testing.assert_array_equal(frame, _decoded_in_order(cut)[10])
    assert gap == pytest.approx(1.0)


def test_where_packets_cannot_be_read_the_frames_are_decoded_to_count_them(tmp_path, monkeypatch):
    """An OpenCV without raw stream mode (another backend) counts by decoding, as before."""
    clip = tmp_path / "live.webm"
    write_live(clip, "libvpx", "webm", pan_frames(30))
    monkeypatch.setattr(video, "_count_packets", lambda path: None)
    assert video_info(clip) == (30, 25.0)


def test_a_read_stops_before_the_next_frame_once_its_caller_says_so(tmp_path):
    """frames_at asks ``stop`` before each frame it decodes: in a live WebM OpenCV cannot seek
    in, the frame at 1 s is decoded from the start, and a stop that comes true after 5 asks ends
    the read there with Stopped; a stop that never does changes nothing."""
    from cdvae_core.data.errors import Stopped

    clip = tmp_path / "live.webm"
    frames = pan_frames(60)
    write_live(clip, "libvpx", "webm", frames)
    asked = []

    def stop_after_five() -> bool:
        asked.append(1)
        return len(asked) > 5

    with pytest.raises(Stopped):
        frames_at(clip, 1.0, stop=stop_after_five)
    assert len(asked) == 6  # the sixth ask stopped it, before a sixth frame was decoded
    still, later, gap = frames_at(clip, 1.0, stop=lambda: False)
    reference = _decoded_in_order(clip)
    np.testing.assert_array_equal(still, reference[25])
    np.testing.assert_array_equal(later, reference[50])
    assert gap == pytest.approx(1.0)


def test_the_scan_agrees_with_the_reference_on_random_frame_times():
    """``_shown_at`` on made-up frame times (steady stretches, jitter, pauses of up to 2 s): the
    frame at a time, its truth and the end of the video as the reference says, for any amount of
    pixels kept (a frame that fell out of it comes back without pixels, never as another frame)."""
    rng = np.random.default_rng(7)
    for trial in range(300):
        gaps = rng.choice([1 / 50, 1 / 30, 1 / 25, 0.05, 0.4, 2.0], size=rng.integers(2, 40),
                          p=[0.3, 0.25, 0.25, 0.1, 0.05, 0.05])
        times = np.round(np.concatenate([[0.0], np.cumsum(gaps)]), 6)
        fps = (len(times) - 1) / times[-1]
        keep = rng.choice([2 / fps, np.inf])
        t = float(rng.uniform(0, times[-1] + 0.2))
        frames = ((s, lambda i=i: i) for i, s in enumerate(times))
        i = shown(times, t, fps)
        if ended(times, t, fps):
            with pytest.raises(SkipItem, match="video ends at"):
                video_frames._shown_at(frames, t, 1.0, fps, seeking=False, keep=keep)
            continue
        still, later = video_frames._shown_at(frames, t, 1.0, fps, seeking=False, keep=keep)
        assert still.seconds == times[i] and still.image in (i, None), (trial, t)
        assert still.image == i or keep != np.inf
        j = expected_truth(times, i, fps)
        if j is None:
            assert later is None, (trial, t)
        else:
            assert later.seconds == times[j] and later.image in (j, None), (trial, t)
    with pytest.raises(video_frames._Overshot):  # a seek that lands past the time asked for
        video_frames._shown_at(iter([(1.0, lambda: 0)]), 0.5, 1.0, 25.0, seeking=True, keep=0.1)


@pytest.mark.parametrize("rotation", [90, 180, 270])
def test_a_portrait_phone_video_opens_upright(tmp_path, rotation):
    """Phones store a portrait video's frames sideways with a display rotation: the still and its
    truth come out turned as a player shows them (OpenCV applies the rotation), as do the pairs
    cdvae-prepare makes."""
    frames = pan_frames(30)
    clip = tmp_path / "portrait.mp4"
    write_clip(clip, frames, rotation=rotation, options={"g": "10"})
    with av.open(str(clip)) as container:
        assert next(container.decode(video=0)).rotation % 360 == rotation  # the fixture is what phones write
    frame, later, _ = frames_at(clip, 0.0, seconds=0.4)
    for got, source in ((frame, frames[0]), (later, frames[10])):
        upright = np.rot90(source, k=rotation // 90)  # counter-clockwise, as players turn it
        assert got.shape == upright.shape
        assert np.abs(got.astype(int) - upright).mean() < 6
    (first, _, _), *_ = video_frame_pairs(clip, seconds=0.4, max_side=W)
    assert first.shape == frame.shape


def test_a_storyboard_is_one_pass_of_the_frames_at_even_times(tmp_path):
    """``storyboard``: for each of ``count`` even times over the video, the first frame at or after
    it, area-shrunk to ``side``, the frames an in-order decode gives; every frame where there are
    no more than ``count``. ``can_seek`` tells the live WebM (no length) from a seekable file."""
    from cdvae_core.data.errors import Stopped
    from cdvae_core.tasks.base import fit_within

    clip = tmp_path / "live.webm"
    write_live(clip, "libvpx", "webm", pan_frames(60))
    reference = _decoded_in_order(clip)
    assert not video_frames.can_seek(clip)
    board = list(video_frames.storyboard(clip, 8, 64))  # 60 frames at 25 fps: marks every 0.3 s
    marks = np.arange(8) * 0.3
    assert [round(t, 6) for t, _ in board] == [np.ceil(round(m * 25, 6)) / 25 for m in marks]
    for t, picture in board:
        assert max(picture.shape[:2]) == 64
        np.testing.assert_array_equal(picture, fit_within(reference[round(t * 25)], 64))
    assert [t for t, _ in video_frames.storyboard(clip, 100, 64)] == pytest.approx(np.arange(60) / 25)
    asked = []
    with pytest.raises(Stopped):
        list(video_frames.storyboard(clip, 8, 64, stop=lambda: asked.append(1) or len(asked) > 3))
    seekable = tmp_path / "steady.mp4"
    write_clip(seekable, pan_frames(30))
    assert video_frames.can_seek(seekable)
    assert len(list(video_frames.storyboard(seekable, 10, 32))) == 10

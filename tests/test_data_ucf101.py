"""UCF101 and video folders: AVIs written with OpenCV in UCF101's on-disk layout."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from cdvae_core.cli.prepare import main as prepare_main
from cdvae_core.data import DataError, prepare_pairs, run
from cdvae_core.data.builtin import builtin_images
from cdvae_core.data.errors import SkipItem
from cdvae_core.data.ucf101 import read_list
from cdvae_core.data.video import plan_indices, video_frame_pairs
from cdvae_core.data.video_frames import first_frames
from cdvae_core.pairs import load_pairs

W, H, FPS = 160, 120, 25
PAN = (0.4, -0.2)  # pixels per frame: 10 px/s right, 5 px/s up


def write_pan_video(path: Path, photo: np.ndarray, frames: int, pan=PAN, fourcc: str = "MJPG") -> None:
    """A video (MJPG AVI by default) of a camera window sliding over ``photo`` so content moves by
    ``pan`` px/frame."""
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), FPS, (W, H))
    assert writer.isOpened()
    big = cv2.resize(photo, (2 * W, 2 * H), interpolation=cv2.INTER_AREA)[:, :, ::-1]
    for t in range(frames):
        # frame(u) = big(u + origin - pan*t): content shifts by +pan per frame
        m = np.float32([[1, 0, W / 2 - pan[0] * t], [0, 1, H / 2 - pan[1] * t]])
        frame = cv2.warpAffine(big, m, (W, H), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REFLECT)
        writer.write(np.ascontiguousarray(frame))
    writer.release()


@pytest.fixture(scope="module")
def ucf(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("ucf101")
    videos, splits = root / "UCF-101", root / "ucfTrainTestlist"
    splits.mkdir()
    photos = [img for _, img in builtin_images()]
    write_pan_video(videos / "ApplyEyeMakeup" / "v_ApplyEyeMakeup_g01_c01.avi", photos[0], 40)
    write_pan_video(videos / "ApplyEyeMakeup" / "v_ApplyEyeMakeup_g02_c01.avi", photos[1], 34)
    write_pan_video(videos / "Archery" / "v_Archery_g01_c01.avi", photos[2], 40)
    write_pan_video(videos / "Archery" / "v_Archery_g02_c01.avi", photos[3], 12)  # shorter than 1 s
    bad = videos / "Archery" / "v_Archery_g03_c01.avi"
    bad.write_bytes(b"RIFF" + bytes(np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8)))
    (splits / "classInd.txt").write_text("1 ApplyEyeMakeup\n2 Archery\n")
    (splits / "trainlist01.txt").write_text(
        "ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi 1\nArchery/v_Archery_g01_c01.avi 2\n"
        "Archery/v_Archery_g02_c01.avi 2\nArchery/v_Archery_g03_c01.avi 2\nArchery/v_Archery_g09_c01.avi 2\n")
    (splits / "testlist01.txt").write_text("ApplyEyeMakeup/v_ApplyEyeMakeup_g02_c01.avi\n")
    (splits / "trainlist02.txt").write_text("ApplyEyeMakeup/v_ApplyEyeMakeup_g02_c01.avi 1\n")
    (splits / "testlist02.txt").write_text("Archery/v_Archery_g01_c01.avi\n")
    return {"videos": videos, "splits": splits}


def test_plan_indices_even_and_in_range():
    assert plan_indices(40, 25, 8) == [0, 2, 4, 6, 8, 10, 12, 14]
    assert plan_indices(25, 25, 8) == []
    starts = plan_indices(200, 25, 8)
    assert len(starts) == 8 and starts[0] == 0 and starts[-1] == 174


def test_video_frame_pairs(ucf):
    pairs = video_frame_pairs(ucf["videos"] / "Archery" / "v_Archery_g01_c01.avi")
    assert len(pairs) == 8
    frame0, frame1, gap = pairs[0]
    assert frame0.shape == (H, W, 3) and gap == pytest.approx(1.0)
    with pytest.raises(SkipItem, match="shorter than one second"):
        video_frame_pairs(ucf["videos"] / "Archery" / "v_Archery_g02_c01.avi")
    with pytest.raises(SkipItem, match="video"):
        video_frame_pairs(ucf["videos"] / "Archery" / "v_Archery_g03_c01.avi")


def test_a_video_smaller_than_a_photo_may_be_is_skipped(tmp_path):
    """Photos under 16 px a side are skipped; a 6x4 clip gave 8 pairs of noise flows at the limit."""
    path = tmp_path / "tiny.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), FPS, (6, 4))
    rng = np.random.default_rng(0)
    for _ in range(60):
        writer.write(rng.integers(0, 256, (4, 6, 3), dtype=np.uint8))
    writer.release()
    with pytest.raises(SkipItem, match="video too small") as info:
        video_frame_pairs(path)
    assert info.value.detail == "tiny.avi: frames of 6x4, need 16x16"


def test_ucf101_split1_pairs_and_flow(ucf, tmp_path, capsys):
    out = tmp_path / "motion.npz"
    rc = prepare_main(["--task", "motion", "--ucf101", str(ucf["videos"]), str(ucf["splits"]), "--out", str(out),
                       "--workers", "1", "--quiet"])
    assert rc == 0
    pairs = load_pairs(out, require_test=True)
    assert pairs.xc.shape == (24, 3, 32, 32) and pairs.xg.shape == (24, 2, 32, 32)
    assert pairs.xc.dtype == np.float32 and np.isfinite(pairs.xg).all()
    assert (pairs.split == 1).sum() == 8 and (pairs.split == 0).sum() == 16  # from the split files
    meta = pairs.meta
    assert meta["split_method"] == "source"
    reasons = meta["skipped"]["reasons"]
    assert meta["skipped"]["count"] == 3 and reasons["listed video missing"] == 1
    assert reasons["video shorter than one second"] == 1
    assert reasons.get("video will not open", 0) + reasons.get("video will not decode", 0) == 1
    # no label/layout parts; motion's orientation part (34) before the pixels
    assert pairs.fc.shape == (24, 34 + 3072) and pairs.fg.shape == (24, 2048)
    assert [part[0] for part in meta["features"]["fc_parts"]] == ["orientation", "pixels"]
    # A known pan: 10 px/s right, 5 px/s up -> model px/s (32 / 160, 32 / 120).
    expected = np.array([PAN[0] * FPS * 32 / W, PAN[1] * FPS * 32 / H])
    centre = pairs.xg[:, :, 6:-6, 6:-6].reshape(24, 2, -1)
    median = np.median(centre, axis=2)  # (24, 2)
    assert np.abs(median - expected).max() < 0.25
    assert meta["labels"][:8] == [0] * 8 and meta["label_names"] == ["ApplyEyeMakeup", "Archery"]
    assert "video shorter than one second" in capsys.readouterr().out


def test_ucf101_other_split_and_errors(ucf, tmp_path):
    pairs = run(prepare_pairs(("ucf101", ucf["videos"], ucf["splits"], 2), "motion"))
    assert len(pairs) == 16 and (pairs.split == 1).sum() == 8
    with pytest.raises(DataError, match="lacks"):
        run(prepare_pairs(("ucf101", ucf["videos"], ucf["splits"], 3), "motion"))
    empty = tmp_path / "videos"
    empty.mkdir()
    with pytest.raises(DataError, match="none of the videos"):
        run(prepare_pairs(("ucf101", empty, ucf["splits"]), "motion"))


@pytest.mark.parametrize("line", ["99999999999 Archery", "0 Archery", "\u00b2 Archery", "1"])
def test_a_class_index_out_of_range_is_a_clear_error(ucf, tmp_path, line):
    """An index of 99999999999 built a names list that long (a MemoryError), "²" passed
    isdigit() and failed int() (a ValueError traceback), 0 named label -1, which means unknown."""
    from cdvae_core.data.ucf101 import read_class_index

    path = tmp_path / "classInd.txt"
    path.write_text(f"1 ApplyEyeMakeup\n{line}\n", encoding="utf-8")
    with pytest.raises(DataError, match="line 2 is not 'INDEX Class' with INDEX from 1 to 10000"):
        read_class_index(path)


def test_a_listed_name_the_file_system_refuses_is_skipped_with_its_reason(ucf, tmp_path, capsys):
    """A split file listing a name longer than the file system allows stopped the run with
    "cannot write motion.npz (File name too long)"; now that video is skipped and counted, and
    the summary line shows its name cut short."""
    import shutil

    splits = tmp_path / "splits"
    shutil.copytree(ucf["splits"], splits)
    long_name = "Archery/" + "v" * 5000 + ".avi"
    with open(splits / "trainlist01.txt", "a", encoding="utf-8") as handle:
        handle.write(f"{long_name} 2\n")
    out = tmp_path / "motion.npz"
    assert prepare_main(["--task", "motion", "--ucf101", str(ucf["videos"]), str(splits), "--out", str(out),
                         "--workers", "1", "--quiet"]) == 0
    reasons = load_pairs(out).meta["skipped"]["reasons"]
    assert reasons["listed video cannot be looked up (File name too long)"] == 1
    line = next(line for line in capsys.readouterr().out.splitlines() if "cannot be looked up" in line)
    assert line.endswith(f"{long_name[:97]}...")


def test_video_folder_with_seeded_split(ucf):
    pairs = run(prepare_pairs(("folder", ucf["videos"]), "motion", seed=3))
    assert len(pairs) == 24 and set(np.unique(pairs.split)) == {0, 1}
    # Whole videos go to one side: every video's 8 pairs share a split.
    assert sorted(np.bincount(pairs.split.astype(int))) == [8, 16]
    assert pairs.meta["split_method"] == "seeded fraction"
    # The photo tasks can use video frames as photos.
    sat = run(prepare_pairs(("folder", ucf["videos"]), "resaturation", limit=2, seed=0))
    assert sat.xc.shape[1:] == (1, 32, 32) and set(np.unique(sat.split)) == {0, 1}


def test_photos_cannot_make_motion(tmp_path):
    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((20, 20, 3), np.uint8))
    with pytest.raises(DataError, match="no videos"):
        run(prepare_pairs(("folder", tmp_path), "motion"))


def test_split_files_with_a_byte_order_mark(ucf, tmp_path):
    """Split files saved by a Windows editor start with a UTF-8 BOM (and end lines in CRLF): the
    BOM used to make classInd.txt "line 1 is not 'INDEX Class'" and the first video "missing"."""
    splits = tmp_path / "splits"
    splits.mkdir()
    for path in ucf["splits"].iterdir():
        text = path.read_text().replace("\n", "\r\n")
        (splits / path.name).write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    with_bom = run(prepare_pairs(("ucf101", ucf["videos"], splits), "motion"))
    plain = run(prepare_pairs(("ucf101", ucf["videos"], ucf["splits"]), "motion"))
    np.testing.assert_array_equal(with_bom.xg, plain.xg)
    assert with_bom.meta["skipped"] == plain.meta["skipped"] and with_bom.meta["labels"] == plain.meta["labels"]


def test_a_videos_first_frame_and_the_frame_a_second_on(ucf):
    """The still the Studio and export read from a video, with what really came next (motion's
    truth): frame 0 and frame round(fps) at full size; a clip shorter than a second gives its
    first frame alone; an undecodable one is a SkipItem (export: one ExportError line)."""
    from cdvae_core.postprocess.errors import ExportError
    from cdvae_core.postprocess.imagefiles import read_image

    clip = ucf["videos"] / "Archery" / "v_Archery_g01_c01.avi"
    frame, later, gap = first_frames(clip)
    frames = _decoded_in_order(clip)
    np.testing.assert_array_equal(frame, frames[0])
    np.testing.assert_array_equal(later, frames[FPS])
    assert gap == pytest.approx(1.0)
    np.testing.assert_array_equal(read_image(clip), frame)  # what export and cdvae-sample --image read
    short = ucf["videos"] / "Archery" / "v_Archery_g02_c01.avi"  # 12 frames at 25 fps
    frame, later, gap = first_frames(short)
    np.testing.assert_array_equal(frame, _decoded_in_order(short)[0])
    assert later is None and gap is None
    bad = ucf["videos"] / "Archery" / "v_Archery_g03_c01.avi"
    with pytest.raises(SkipItem, match="video will not"):
        first_frames(bad)
    with pytest.raises(ExportError, match=r"v_Archery_g03_c01.avi: video will not (open|decode)$"):
        read_image(bad)  # one mention of the file, not two


def test_a_frame_at_a_time_is_named_by_a_media_fragment(ucf, tmp_path):
    """``clip.avi#t=0.4`` is the frame at 0.4 s (frame 10 at 25 fps) and its truth frame 25 on;
    the first frame is the plain path; a file whose own name holds "#t=" is that file; a bad time
    or a time past the end is one clear line."""
    from cdvae_core.data.video import at_time, split_time, video_info
    from cdvae_core.data.video_frames import frames_at
    from cdvae_core.postprocess.errors import ExportError
    from cdvae_core.postprocess.imagefiles import read_image

    clip = ucf["videos"] / "Archery" / "v_Archery_g01_c01.avi"  # 40 frames at 25 fps
    assert video_info(clip) == (40, pytest.approx(25.0))
    frames = _decoded_in_order(clip)
    named = at_time(clip, 0.4)
    assert named == f"{clip}#t=0.4" and split_time(named) == (clip, pytest.approx(0.4))
    assert at_time(named, 0.0) == str(clip) and at_time(clip, 1 / 3) == f"{clip}#t=0.333"
    assert split_time(f"{clip}#t=npt:1.5")[1] == pytest.approx(1.5)
    frame, later, gap = frames_at(clip, 0.4)
    np.testing.assert_array_equal(frame, frames[10])
    np.testing.assert_array_equal(later, frames[35])
    assert gap == pytest.approx(1.0)
    np.testing.assert_array_equal(read_image(named), frames[10])
    np.testing.assert_array_equal(read_image(at_time(clip, 10 / 25 + 0.0004)), frames[10])  # the nearest frame
    frame, later, gap = frames_at(clip, 1.2)  # frame 30: the clip ends before a second on
    np.testing.assert_array_equal(frame, frames[30])
    assert later is None and gap is None
    with pytest.raises(SkipItem, match=r"video ends at 1\.6 s, before 2 s"):
        frames_at(clip, 2.0)
    with pytest.raises(ExportError, match=r"v_Archery_g01_c01.avi#t=2: video ends at 1\.6 s, before 2 s$"):
        read_image(at_time(clip, 2.0))
    for bad in ("soon", "-1", "nan"):
        with pytest.raises(ValueError, match=rf"^#t={bad} is not a time in seconds"):
            split_time(f"{clip}#t={bad}")
        with pytest.raises(ExportError, match=rf"v_Archery_g01_c01.avi#t={bad}: #t={bad} is not a time in seconds"):
            read_image(f"{clip}#t={bad}")
        assert split_time(f"{clip}#t={bad}", strict=False) == (Path(f"{clip}#t={bad}"), None)  # for naming
    odd = tmp_path / "take#t=2.avi"  # a real file whose name looks like a fragment
    odd.write_bytes(clip.read_bytes())
    assert split_time(odd) == (odd, None)
    photo = tmp_path / "shot#t=2.png"  # not a video: no time to split off
    assert split_time(photo) == (photo, None)
    still = tmp_path / "still.png"  # a time after a photo that is there: said so, not "no such file"
    cv2.imwrite(str(still), frames[0])
    with pytest.raises(ValueError, match=r"^#t=2 picks a video's frame, and still.png is not a video$"):
        split_time(f"{still}#t=2")
    with pytest.raises(ExportError, match=r"still.png#t=2: #t=2 picks a video's frame, and still.png is not a video$"):
        read_image(f"{still}#t=2")
    assert split_time(f"{still}#t=2", strict=False) == (Path(f"{still}#t=2"), None)


def _decoded_in_order(path) -> list[np.ndarray]:
    cap, frames = cv2.VideoCapture(str(path)), []
    ok, bgr = cap.read()
    while ok:
        frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
        ok, bgr = cap.read()
    cap.release()
    return frames


@pytest.mark.parametrize("fourcc,suffix", [("mp4v", ".mp4"), ("VP80", ".webm"), ("VP90", ".webm"), ("XVID", ".avi")])
def test_a_frame_deep_in_a_video_is_found_by_seeking_and_is_the_frame_decoding_in_order_gives(
        tmp_path, monkeypatch, fourcc, suffix):
    """frames_at seeks (a long video decoded from its start took seconds); in inter-frame codecs
    (MPEG-4 part 2, VP8 and VP9 in WebM, Xvid; keyframes every few frames) the frame it lands on
    is the one an in-order decode gives. Where OpenCV cannot seek it decodes in order, with the
    same result."""
    from cdvae_core.data import video_frames
    from cdvae_core.data.video_frames import frames_at

    clip = tmp_path / f"pan{suffix}"
    write_pan_video(clip, builtin_images()[1][1], 60, fourcc=fourcc)
    frames = _decoded_in_order(clip)
    if not frames:
        pytest.skip(f"this OpenCV build cannot write {fourcc}")
    assert len(frames) == 60
    for seconds in (0.0, 0.44, 1.0, 1.36):
        frame, later, _ = frames_at(clip, seconds)
        index = round(seconds * FPS)
        np.testing.assert_array_equal(frame, frames[index])
        np.testing.assert_array_equal(later, frames[index + FPS])
    starts = []
    real = video_frames._scan

    def no_seek(path, time, seconds, fps, start, **kwargs):
        starts.append(start)
        if start:
            raise video_frames._NoSeek
        return real(path, time, seconds, fps, start, **kwargs)

    monkeypatch.setattr(video_frames, "_scan", no_seek)
    frame, later, _ = frames_at(clip, 1.36)
    np.testing.assert_array_equal(frame, frames[34])
    np.testing.assert_array_equal(later, frames[59])
    assert starts == [33, 0]  # the frame before the one at 1.36 s (so the scan meets one at or before it), then the start


def _copy_splits(ucf, tmp_path) -> Path:
    splits = tmp_path / "splits"
    splits.mkdir()
    for path in ucf["splits"].iterdir():
        (splits / path.name).write_bytes(path.read_bytes())
    return splits


def test_a_video_in_both_lists_is_an_error_and_a_repeated_line_counts_once(ucf, tmp_path, capsys):
    """A test video also listed for training went into both splits without a word (its pairs
    were tested on after training on them), and a line listed twice gave its pairs twice."""
    splits = _copy_splits(ucf, tmp_path)
    with open(splits / "trainlist01.txt", "a") as handle:  # a repeat and a test video, twice over
        handle.write("Archery/v_Archery_g01_c01.avi 2\nApplyEyeMakeup/v_ApplyEyeMakeup_g02_c01.avi 1\n"
                     "ApplyEyeMakeup/v_ApplyEyeMakeup_g02_c01.avi 1\n")
    out = tmp_path / "both.npz"
    rc = prepare_main(["--task", "motion", "--ucf101", str(ucf["videos"]), str(splits), "--out", str(out),
                       "--workers", "1", "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and not out.exists(), err
    assert err[0].startswith("cdvae-prepare: error: 1 video(s) listed in both trainlist01.txt and testlist01.txt "
                             "(the first: ApplyEyeMakeup/v_ApplyEyeMakeup_g02_c01.avi)"), err
    # the repeat alone: its video's pairs once, as without it
    lines = (splits / "trainlist01.txt").read_text().splitlines()
    (splits / "trainlist01.txt").write_text("\n".join(lines[:-2]) + "\n")
    pairs = run(prepare_pairs(("ucf101", ucf["videos"], splits), "motion"))
    assert len(pairs) == 24 and pairs.meta["split_method"] == "source"


def test_a_listed_path_with_spaces_is_read_whole(ucf, tmp_path):
    """A list line is the path and an optional whole-number label: the path was cut at its first
    space, so "Archery/v_Archery copy.avi 2" named a missing "Archery/v_Archery" and its video,
    present, was dropped."""
    import shutil

    videos = tmp_path / "videos"
    shutil.copytree(ucf["videos"], videos)
    shutil.copy(videos / "Archery" / "v_Archery_g01_c01.avi", videos / "Archery" / "v_Archery copy g05.avi")
    splits = _copy_splits(ucf, tmp_path)
    with open(splits / "trainlist01.txt", "a") as handle:
        handle.write("Archery/v_Archery copy g05.avi 2\n")
    plain = run(prepare_pairs(("ucf101", ucf["videos"], ucf["splits"]), "motion"))
    spaced = run(prepare_pairs(("ucf101", videos, splits), "motion"))
    assert spaced.meta["skipped"] == plain.meta["skipped"]  # nothing more "missing"
    assert len(spaced) == len(plain) + 8  # the copy's pairs, as many as the video it copies gives
    assert read_list(splits / "trainlist01.txt")[-1] == "Archery/v_Archery copy g05.avi"


@pytest.fixture(scope="module")
def groups(tmp_path_factory) -> dict:
    """UCF101 laid out with two clips in each of four groups (c01, c02: one actor and scene)."""
    root = tmp_path_factory.mktemp("ucf_groups")
    videos, splits = root / "UCF-101", root / "splits"
    splits.mkdir()
    photos = [img for _, img in builtin_images()]
    names = []
    for k, (cls, g) in enumerate([("Archery", 1), ("Archery", 2), ("Archery", 3), ("Bowling", 1)]):
        for c in (1, 2):
            name = f"{cls}/v_{cls}_g{g:02d}_c{c:02d}.avi"
            write_pan_video(videos / name, photos[(2 * k + c) % len(photos)], 40, pan=(0.3 * c, 0.1 * k))
            names.append(name)
    (splits / "classInd.txt").write_text("1 Archery\n2 Bowling\n")
    (splits / "trainlist01.txt").write_text("".join(f"{n} 1\n" for n in names))
    (splits / "testlist01.txt").write_text("")
    return {"videos": videos, "splits": splits, "names": names}


def _groups_of(pairs, names) -> dict[str, set]:
    """group name -> the splits its pairs went to (8 pairs per video, in list order)."""
    found: dict[str, set] = {}
    for k, name in enumerate(names):
        found.setdefault(name.rsplit("_c", 1)[0], set()).update(pairs.split[8 * k : 8 * k + 8].tolist())
    return found


def test_a_fallback_split_keeps_each_group_on_one_side_and_the_summary_says_why(groups, tmp_path, capsys):
    """With an empty test list the split fell back to a seeded share of *videos*, which put
    g03_c01 and g03_c02 (same actor, same scene) on both sides, and only meta said it fell back."""
    for seed in range(4):
        pairs = run(prepare_pairs(("ucf101", groups["videos"], groups["splits"]), "motion", seed=seed,
                                  test_fraction=0.5))
        assert len(pairs) == 64 and set(np.unique(pairs.split)) == {0, 1}
        assert all(len(sides) == 1 for sides in _groups_of(pairs, groups["names"]).values()), seed
    assert pairs.meta["split_method"].startswith("seeded fraction of groups, as the source's split was unusable")
    out = tmp_path / "p.npz"
    assert prepare_main(["--task", "motion", "--ucf101", str(groups["videos"]), str(groups["splits"]),
                         "--out", str(out), "--workers", "1", "--quiet"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1] == ("  split fell back to a seeded fraction of groups, as the source's split was unusable: "
                        "testlist01.txt lists no videos"), lines
    assert load_pairs(out).meta["split_fallback"] == "testlist01.txt lists no videos"
    # test videos listed but none found: said so
    (tmp_path / "s").mkdir()
    for name in ("classInd.txt", "trainlist01.txt"):
        (tmp_path / "s" / name).write_bytes((groups["splits"] / name).read_bytes())
    (tmp_path / "s" / "testlist01.txt").write_text("Bowling/v_Bowling_g09_c01.avi\nBowling/v_Bowling_g09_c02.avi\n")
    pairs = run(prepare_pairs(("ucf101", groups["videos"], tmp_path / "s"), "motion"))
    assert pairs.meta["split_fallback"] == "none of the 2 video(s) listed in testlist01.txt could be found (see skipped)"


def test_a_folder_of_ucf101_videos_keeps_groups_and_skips_copies(groups, tmp_path):
    """A folder of UCF101's videos draws its split by group too; a byte-identical copy of a video
    is skipped as a duplicate of the first (it put the same clips on both sides)."""
    import shutil

    folder = tmp_path / "videos"
    shutil.copytree(groups["videos"], folder)
    shutil.copy(folder / groups["names"][0], folder / "copy of first.avi")
    for seed in range(3):
        pairs = run(prepare_pairs(("folder", folder), "motion", seed=seed, test_fraction=0.5))
        assert len(pairs) == 64 and pairs.meta["split_method"] == "seeded fraction of groups"
        assert all(len(sides) == 1 for sides in _groups_of(pairs, groups["names"]).values()), seed
    skipped = pairs.meta["skipped"]
    assert skipped["reasons"] == {"duplicate": 1}
    assert skipped["examples"]["duplicate"] == [f"copy of first.avi (duplicate of {groups['names'][0]})"]

"""The prepare pipeline on the built-in photos: pairs, splits, progress, cancel, workers."""

from __future__ import annotations

import os
import sys
import warnings

import cv2
import numpy as np
import pytest

from cdvae_core.cli.prepare import main as prepare_main
from cdvae_core.data import DataError, builtin_images, prepare_pairs, run
from cdvae_core.data.prepare import assign_split, limit_items
from cdvae_core.data.items import VideoItem
from cdvae_core.orientation import WIDTH as ORIENTATION_WIDTH
from cdvae_core.pairs import TEST, TRAIN, load_pairs
from cdvae_core.progress import Progress
from cdvae_core.tasks import TASK_NAMES, get_task
from helpers import Terminal


def test_builtin_images_are_colour_photos():
    photos = builtin_images()
    assert len(photos) >= 5
    for name, image in photos:
        assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
        assert min(image.shape[:2]) >= 256
        hsv = cv2.cvtColor(image, cv2.COLOR_RGB2HSV)
        assert hsv[:, :, 1].mean() > 20, name  # colour, not grey


@pytest.mark.parametrize("task", TASK_NAMES)
def test_builtin_pairs_every_task(task):
    records = []
    gen = prepare_pairs("builtin", task, limit=30, seed=1)
    while True:
        try:
            records.append(next(gen))
        except StopIteration as stop:
            pairs = stop.value
            break
    assert all(isinstance(r, Progress) for r in records)
    assert [r.stage for r in records][0] == "scan" and records[-1].stage == "done"
    t = get_task(task)
    assert pairs.xc.shape == (30, t.channels_c, 32, 32) and pairs.xg.shape == (30, t.channels_g, 32, 32)
    assert (pairs.split == TEST).sum() == 3 and (pairs.split == TRAIN).sum() == 27
    orientation = ORIENTATION_WIDTH if t.xc_orientation else 0  # motion's f_c also holds the frame's orientation
    assert pairs.fc.shape == (30, orientation + t.channels_c * 1024) and pairs.fg.shape == (30, t.channels_g * 1024)
    lo, hi = t.g_range
    assert pairs.xg.min() >= lo and pairs.xg.max() <= hi
    assert pairs.xg.std() > 0.01  # the layers carry signal
    meta = pairs.meta
    assert meta["task"] == task and meta["source"]["kind"] == "builtin" and meta["skipped"]["count"] == 0
    assert len(meta["labels"]) == 30 and meta["label_names"][meta["labels"][0]]


def test_builtin_motion_flow_follows_synthetic_truth():
    pairs = run(prepare_pairs("builtin", "motion", limit=40, seed=2))
    moving = np.abs(pairs.xg).mean(axis=(1, 2, 3)) > 0.5
    assert 0 < moving.sum() < 40  # some clips pan or zoom, some barely move


@pytest.mark.parametrize("task", ["resaturation", "motion"])  # motion: worker processes rebuild the procedural scenes
def test_workers_give_the_same_pairs(task):
    one = run(prepare_pairs("builtin", task, limit=24, seed=5, workers=1))
    two = run(prepare_pairs("builtin", task, limit=24, seed=5, workers=2))
    np.testing.assert_array_equal(one.xc, two.xc)
    np.testing.assert_array_equal(one.xg, two.xg)
    np.testing.assert_array_equal(one.split, two.split)


def test_a_broken_worker_pool_finishes_in_process_and_says_so(monkeypatch):
    """Workers that die (a crashed decoder, an OOM kill, a worker that cannot import the library)
    break the pool: the items left are made in this process, the same pairs, with a warning that
    says why the run slowed down (it was silent)."""
    import cdvae_core.data.prepare as prepare_module
    from concurrent.futures.process import BrokenProcessPool

    class DyingPool:  # hands back 5 results, then its workers are gone
        def __init__(self, *args, **kwargs):
            pass

        def map(self, fn, jobs, chunksize=1):
            for k, job in enumerate(jobs):
                if k == 5:
                    raise BrokenProcessPool("a process in the process pool was terminated abruptly")
                yield fn(job)

        def shutdown(self, wait=True, cancel_futures=False):
            pass

    one = run(prepare_pairs("builtin", "resaturation", limit=24, seed=5, workers=1))
    monkeypatch.setattr(prepare_module, "ProcessPoolExecutor", DyingPool)
    with pytest.warns(RuntimeWarning, match=r"worker processes stopped \(BrokenProcessPool.*remaining 19 of 24 items"):
        broken = run(prepare_pairs("builtin", "resaturation", limit=24, seed=5, workers=2))
    np.testing.assert_array_equal(one.xc, broken.xc)
    np.testing.assert_array_equal(one.xg, broken.xg)



def test_cdvae_prepare_says_in_one_line_that_its_workers_stopped(monkeypatch, tmp_path, capsys):
    import cdvae_core.data.prepare as prepare_module
    from concurrent.futures.process import BrokenProcessPool

    class NoPool:
        def __init__(self, *args, **kwargs):
            raise BrokenProcessPool("a child process terminated abruptly")

    monkeypatch.setattr(prepare_module, "ProcessPoolExecutor", NoPool)
    with warnings.catch_warnings():
        warnings.simplefilter("default")  # as outside the tests (pyproject makes library warnings errors)
        assert prepare_main(["--task", "resaturation", "--builtin", "--limit", "8", "--workers", "2", "--quiet",
                             "--out", str(tmp_path / "p.npz")]) == 0
    lines = [line for line in capsys.readouterr().err.splitlines() if "warning" in line]
    assert lines == ["cdvae-prepare: warning: the worker processes stopped (BrokenProcessPool: a child process "
                     "terminated abruptly); the remaining 8 of 8 items are processed in this process, one at a time"]


def test_closing_the_generator_cancels():
    gen = prepare_pairs("builtin", "relighting", limit=5000, workers=2)
    seen = []
    for record in gen:
        seen.append(record)
        if record.stage == "prepare":
            break
    gen.close()  # stops the pool; must not raise or hang
    assert seen[-1].done < 5000


def test_split_helpers():
    rng = np.random.default_rng(0)
    owners = np.repeat(np.arange(20), 2)
    split, method = assign_split(owners, None, 0.1, rng)
    assert method == "seeded fraction" and (split == TEST).sum() == 4  # 2 items x 2 pairs
    assert all(len(set(split[owners == i])) == 1 for i in range(20))
    single, _ = assign_split(np.zeros(8, int), None, 0.1, rng)
    assert (single == TEST).sum() == 1
    own = np.array([0, 0, 1, 1], np.int8)
    kept, method = assign_split(np.arange(4), own, 0.1, rng)
    assert method == "source" and (kept == own).all()
    items = [VideoItem(str(i), str(i), TRAIN) for i in range(50)] + [VideoItem("t", "t", TEST)]
    picked = limit_items(items, 5, np.random.default_rng(1))
    assert len(picked) == 5 and any(item.split == TEST for item in picked)


def test_cli_builtin_and_atomic_write(tmp_path, capsys):
    out = tmp_path / "pairs.npz"
    assert prepare_main(["--task", "resaturation", "--builtin", "--limit", "20", "--seed", "3", "--workers", "1",
                         "--test-fraction", "0.25", "--out", str(out)]) == 0
    pairs = load_pairs(out, require_test=True)
    assert len(pairs) == 20 and (pairs.split == TEST).sum() == 5
    before = out.read_bytes()
    # A failing run leaves the old file intact and prints one line.
    assert prepare_main(["--task", "resaturation", "--folder", str(tmp_path / "nope"), "--out", str(out)]) == 2
    assert out.read_bytes() == before
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("cdvae-prepare: error:")
    assert [p.name for p in tmp_path.iterdir()] == ["pairs.npz"]  # no temporary left behind
    # a name without .npz gets it, as numpy.savez gives it (a file "bare" was written: the Studio
    # read it as a photo, not as the nearest-neighbour baseline's pair file)
    assert prepare_main(["--task", "resaturation", "--builtin", "--limit", "8", "--workers", "1", "--quiet",
                         "--out", str(tmp_path / "bare")]) == 0
    assert not (tmp_path / "bare").exists() and len(load_pairs(tmp_path / "bare.npz")) == 8
    assert f"wrote {tmp_path / 'bare.npz'}:" in capsys.readouterr().out


def test_one_image_folder_is_a_clear_error(tmp_path):
    cv2.imwrite(str(tmp_path / "only.png"), np.full((40, 40, 3), 120, np.uint8))
    with pytest.raises(DataError, match="at least two"):
        run(prepare_pairs(("folder", tmp_path), "resaturation"))
    with pytest.raises(DataError, match=r"only.png is a file, not a folder \(--folder takes a folder of them\)$"):
        run(prepare_pairs(("folder", tmp_path / "only.png"), "resaturation"))  # was "no folder at .../only.png"
    with pytest.raises(DataError, match=r"^no folder at .*nope$"):
        run(prepare_pairs(("folder", tmp_path / "nope"), "resaturation"))
    with pytest.raises(DataError, match=r"holds no videos \(searched recursively\); motion pairs are two frames of a "
                                        r"video, and its 1 photo\(s\) have one$"):
        run(prepare_pairs(("folder", tmp_path), "motion"))  # was "holds no videos" beside a photo
    (tmp_path / "sub").mkdir()
    cv2.imwrite(str(tmp_path / "sub" / "x.png"), np.zeros((40, 40, 3), np.uint8))
    pairs = run(prepare_pairs(tmp_path, "resaturation"))  # recursive, and a bare path means a folder
    assert len(pairs) == 2 and set(np.unique(pairs.split)) == {0, 1}


def test_bad_settings():
    with pytest.raises(DataError, match="test fraction"):
        run(prepare_pairs("builtin", "resaturation", limit=4, test_fraction=1.5))
    with pytest.raises(DataError, match="limit"):
        run(prepare_pairs("builtin", "resaturation", limit=0))
    with pytest.raises(DataError, match="seed must be 0 or more"):  # was numpy's traceback
        run(prepare_pairs("builtin", "resaturation", limit=4, seed=-1))
    with pytest.raises(ValueError, match="unknown task"):
        run(prepare_pairs("builtin", "colourise", limit=4))
    with pytest.raises(DataError, match="unknown data source"):
        run(prepare_pairs(("kinetics", "x"), "motion"))


def test_builtin_split_holds_out_a_region_of_every_photo():
    """Test crops and clips never share pixels with training ones (see folders.py)."""
    from cdvae_core.data.builtin import builtin_images
    from cdvae_core.data.folders import builtin_source, held_out_columns

    widths = [photo.shape[1] for _, photo in builtin_images()]
    crops = builtin_source(False, count=300, seed=1, test_fraction=0.2)
    assert crops.has_split and sum(item.split for item in crops.items) == 60
    for item in crops.items:
        start, width = held_out_columns(widths[item.photo], item.split)
        assert start <= item.x0 and item.x0 + item.size <= start + width
    clips = builtin_source(True, count=100, seed=1, test_fraction=0.2)
    photo_clips = [item for item in clips.items if item.scene is None]
    for item in photo_clips:
        start, width = held_out_columns(widths[item.photo], item.split)
        assert start + item.params.view / 2 <= item.params.cx <= start + width - item.params.view / 2
    # half the training clips come from procedural scenes, which are training-only
    scene_clips = [item for item in clips.items if item.scene is not None]
    assert len(scene_clips) == 40 and len(photo_clips) == 60 and sum(item.split for item in photo_clips) == 20
    assert all(item.split == TRAIN for item in scene_clips)
    assert clips.label_names[scene_clips[0].photo] == "procedural"
    assert len({item.scene for item in scene_clips}) == clips.description["procedural_scenes"] == 2


def test_procedural_scenes_are_varied_and_reproducible():
    from cdvae_core.data.procedural import procedural_scene

    first = procedural_scene(0, 0)
    assert first.shape == (384, 384, 3) and first.dtype == np.uint8 and not first.flags.writeable
    procedural_scene.cache_clear()
    np.testing.assert_array_equal(procedural_scene(0, 0), first)  # a pure function of its key
    others = [procedural_scene(0, 1), procedural_scene(1, 0)]
    for other in others:
        assert np.abs(other.astype(int) - first).mean() > 20
    for scene in [first, *others]:
        assert scene.std() > 10  # structure, not a flat field


def test_motion_guidance_features_lead_with_the_orientation_part():
    from cdvae_core.orientation import orientation_features

    pairs = run(prepare_pairs("builtin", "motion", limit=12, seed=4, workers=1))
    parts = {name: (a, b) for name, a, b in pairs.meta["features"]["fc_parts"]}
    assert parts == {"orientation": (0, ORIENTATION_WIDTH), "pixels": (ORIENTATION_WIDTH, ORIENTATION_WIDTH + 3072)}
    weight = pairs.meta["features"]["orientation_weight"]
    np.testing.assert_allclose(pairs.fc[:, :ORIENTATION_WIDTH], weight * orientation_features(pairs.xc), rtol=1e-6)
    np.testing.assert_array_equal(pairs.fc[:, ORIENTATION_WIDTH:], pairs.xc.reshape(12, -1))


def test_cli_refuses_an_unusable_out_before_any_work(tmp_path, capsys, monkeypatch):
    """--out naming a folder, or a path under a file, used to end in a traceback only after the
    whole run (os.replace / mkdir failing in save_pairs); now a one-line error before the work."""
    import cdvae_core.cli.prepare as cli

    photos = tmp_path / "photos"
    photos.mkdir()
    for k in range(2):
        cv2.imwrite(str(photos / f"p{k}.png"), np.full((40, 40, 3), 60 * k, np.uint8))
    started = []
    real = cli.prepare_pairs
    monkeypatch.setattr(cli, "prepare_pairs", lambda *a, **k: started.append(1) or real(*a, **k))
    (tmp_path / "adir").mkdir()
    for out, message in ((tmp_path / "adir", "is a directory"), (photos / "p0.png" / "x.npz", "is not a directory")):
        assert prepare_main(["--task", "resaturation", "--folder", str(photos), "--out", str(out), "--quiet"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("cdvae-prepare: error: --out") and message in err[0]
    assert not started
    # 1e308 overflowed the float32 features to inf: a broken-pair-file traceback after all the work
    for flag, value in (("--orientation-weight", "-1"), ("--label-weight", "nan"), ("--orientation-weight", "1e308"),
                        ("--layout-weight", "inf")):
        out = tmp_path / "w.npz"
        assert prepare_main(["--task", "motion", "--builtin", "--limit", "4", flag, value, "--out", str(out),
                             "--quiet"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert err == [f"cdvae-prepare: error: {flag} must lie in [0, 1e+06], got {float(value)}"]
        assert not out.exists()
    # found by giving every flag odd values (session 18): 2^70 workers were an OverflowError, a
    # built-in run of 2^70 crops ran for ever, and argparse's own errors came with its usage block
    huge = str(2**70)
    for flags, message in ((["--workers", huge], f"--workers must be at most 256, got {huge}"),
                           (["--split", "4"], "argument --split: invalid choice: 4 (choose from 1, 2, 3) (see --help)"),
                           (["--workers", "x"], "argument --workers: invalid int value: 'x' (see --help)")):
        assert prepare_main(["--task", "motion", "--builtin", "--limit", "4", *flags, "--out", str(tmp_path / "w.npz"),
                             "--quiet"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert err == [f"cdvae-prepare: error: {message}"]
    assert not started
    assert prepare_main(["--task", "motion", "--builtin", "--limit", huge, "--out", str(tmp_path / "w.npz"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "the built-in source makes at most 1,000,000 crops or clips" in err[0]


def test_cli_write_failure_is_one_line_and_leaves_nothing(tmp_path, capsys, monkeypatch):
    """A write that fails at the end (disk full) is a one-line error, exit 2, no file left."""
    import errno

    import cdvae_core.cli.prepare as cli

    def full(path, pairs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(cli, "save_pairs", full)
    out = tmp_path / "pairs.npz"
    assert prepare_main(["--task", "resaturation", "--builtin", "--limit", "4", "--workers", "1", "--quiet",
                         "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"cdvae-prepare: error: cannot write {out} (No space left on device); nothing written"]
    assert list(tmp_path.iterdir()) == []


def test_cli_read_failure_names_the_source_not_the_output(tmp_path, capsys):
    """A source path the file system refuses (a name longer than it allows) stopped the run as
    "cannot write pairs.npz (File name too long)": the output was blamed for the input."""
    folder = tmp_path / ("x" * 300)
    out = tmp_path / "pairs.npz"
    assert prepare_main(["--task", "resaturation", "--folder", str(folder), "--quiet", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"cdvae-prepare: error: cannot read {folder} (File name too long); nothing written"]
    assert list(tmp_path.iterdir()) == []


def test_cli_sigterm_is_handled_like_ctrl_c(tmp_path, capsys, monkeypatch):
    """Python's default SIGTERM killed cdvae-prepare on the spot: no worker shutdown, and a pair
    file being written left its temporary file. Now: exit 143, one line, nothing left."""
    import os
    import signal

    import cdvae_core.cli.prepare as cli

    def save_then_terminated(path, pairs):
        def write(tmp):  # the signal arrives while the temporary file is being written
            tmp.write_bytes(b"half a file")
            os.kill(os.getpid(), signal.SIGTERM)

        from cdvae_core.atomic import write_with

        write_with(path, write, suffix=".npz")

    monkeypatch.setattr(cli, "save_pairs", save_then_terminated)
    before = signal.getsignal(signal.SIGTERM)
    out = tmp_path / "pairs.npz"
    assert prepare_main(["--task", "resaturation", "--builtin", "--limit", "4", "--workers", "1", "--quiet",
                         "--out", str(out)]) == 143
    assert capsys.readouterr().err.strip() == "cdvae-prepare: terminated, nothing written"
    assert list(tmp_path.iterdir()) == []
    assert signal.getsignal(signal.SIGTERM) is before  # the handler is the command's only


def test_workers_exit_when_the_parent_is_killed(tmp_path):
    """A pool worker holds its own queue's write end, so it never saw its parent die: after a
    `kill -9` of cdvae-prepare its workers slept on forever."""
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    if not Path("/proc/self/stat").exists():
        pytest.skip("needs /proc to see the worker")
    script = (
        "import multiprocessing, os, sys, time\n"
        "from concurrent.futures import ProcessPoolExecutor\n"
        "from cdvae_core.data.items import init_worker\n"
        "if __name__ == '__main__':\n"
        "    pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context('spawn'), initializer=init_worker)\n"
        "    print(pool.submit(os.getpid).result(), flush=True)\n"
        "    time.sleep(60)\n"
    )
    (tmp_path / "parent.py").write_text(script)
    parent = subprocess.Popen([sys.executable, str(tmp_path / "parent.py")], stdout=subprocess.PIPE, text=True)
    worker = int(parent.stdout.readline())
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    def alive() -> bool:  # a zombie waiting for its new parent to reap it counts as gone
        try:
            return Path(f"/proc/{worker}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
        except (FileNotFoundError, ProcessLookupError):
            return False

    deadline = time.monotonic() + 20
    while alive() and time.monotonic() < deadline:
        time.sleep(0.1)
    if alive():
        os.kill(worker, signal.SIGKILL)
        pytest.fail("the worker outlived its killed parent")


def test_cli_progress_rate_counts_from_the_start_of_the_work(tmp_path, capsys, monkeypatch):
    """The bar used to open at the first "prepare" record (sent after 0.2 s, or at the end), so it
    timed only the last moment: 600 built-in pairs showed 83,886,080 item/s. It opens when the
    scan ends now, so the rate is items over the time the work took."""
    import re
    import time

    import cdvae_core.cli.prepare as cli

    real = cli.prepare_pairs

    def slow(*args, **kwargs):  # every "prepare" record arrives after 0.5 s of work
        gen = real(*args, **kwargs)
        while True:
            try:
                progress = next(gen)
            except StopIteration as stop:
                return stop.value
            if progress.stage == "prepare":
                time.sleep(0.5)
            yield progress

    monkeypatch.setattr(cli, "prepare_pairs", slow)
    terminal = Terminal()  # the bar is drawn on a terminal only
    monkeypatch.setattr(sys, "stderr", terminal)
    assert prepare_main(["--task", "resaturation", "--builtin", "--limit", "4", "--workers", "1",
                         "--out", str(tmp_path / "p.npz")]) == 0
    rates = [float(r) for r in re.findall(r"([\d.]+)item/s", terminal.buffer.getvalue())]
    assert rates and max(rates) < 4 / 0.5 * 1.5, rates
    monkeypatch.undo()
    capsys.readouterr()
    assert prepare_main(["--task", "resaturation", "--builtin", "--limit", "4", "--workers", "1",
                         "--out", str(tmp_path / "q.npz")]) == 0
    assert "item/s" not in capsys.readouterr().err  # a log: no bar


def test_assign_split_draws_groups_and_keeps_a_source_without_groups_as_it_was():
    owners = np.repeat(np.arange(12), 2)
    plain, method = assign_split(owners, None, 0.25, np.random.default_rng(5))
    assert method == "seeded fraction"
    # every item its own group: the same draw, pair for pair
    alone, method = assign_split(owners, None, 0.25, np.random.default_rng(5), groups=owners.copy())
    assert method == "seeded fraction" and (alone == plain).all()
    groups = owners // 3 * 3  # items 0-2, 3-5, 6-8, 9-11 belong together
    for seed in range(6):
        split, method = assign_split(owners, None, 0.25, np.random.default_rng(seed), groups=groups)
        assert method == "seeded fraction of groups" and (split == TEST).sum() == 6
        assert all(len(set(split[groups == g])) == 1 for g in np.unique(groups))
    # the source's own split unusable: the method says why
    own = np.zeros(len(owners), np.int8)
    _, method = assign_split(owners, own, 0.25, np.random.default_rng(0), groups=groups,
                             why="testlist01.txt lists no videos")
    assert method == "seeded fraction of groups, as the source's split was unusable: testlist01.txt lists no videos"


def test_byte_identical_photos_in_a_folder_are_skipped_keeping_the_first(tmp_path, capsys):
    """Copies of photos (a phone sync, a download made twice) put the same pair in train and
    test; each copy is now skipped as a duplicate of the first, found by a hash of the file's
    bytes that the worker reads anyway."""
    photos = [img for _, img in builtin_images()]
    for k, photo in enumerate(photos):
        data = cv2.imencode(".jpg", cv2.resize(photo, (64, 48))[:, :, ::-1])[1].tobytes()
        (tmp_path / f"IMG_{k}.jpg").write_bytes(data)
        (tmp_path / f"IMG_{k} copy.jpg").write_bytes(data)
    results = [run(prepare_pairs(tmp_path, "resaturation", test_fraction=0.5, workers=w)) for w in (1, 2)]
    for pairs in results:
        assert len(pairs) == len(photos) and pairs.meta["skipped"]["reasons"] == {"duplicate": len(photos)}
        train = pairs.xc[pairs.split == TRAIN].reshape(-1, 1024)
        assert not any((train == x.reshape(1, -1)).all(axis=1).any() for x in pairs.xc[pairs.split == TEST])
    np.testing.assert_array_equal(results[0].xc, results[1].xc)
    assert results[0].meta["skipped"]["examples"]["duplicate"][0] == "IMG_0.jpg (duplicate of IMG_0 copy.jpg)"
    assert prepare_main(["--folder", str(tmp_path), "--task", "resaturation", "--workers", "1", "--quiet",
                         "--out", str(tmp_path / "p.npz")]) == 0
    assert f"skipped {len(photos)} x duplicate: IMG_0.jpg (duplicate of IMG_0 copy.jpg)" in capsys.readouterr().out


def test_decoder_messages_are_silenced_in_workers_too_unless_asked_for(tmp_path):
    """OpenCV's and FFmpeg's own lines ("moov atom not found", "[ WARN:0@1.5] ... PNG input buffer
    is incomplete") reached cdvae-prepare's stderr, from worker processes too, although the
    summary reports each of those files. They come back with --verbose."""
    import subprocess

    photos = [img for _, img in builtin_images()]
    for k, photo in enumerate(photos[:4]):
        cv2.imwrite(str(tmp_path / f"p{k}.png"), cv2.resize(photo, (48, 40)))
    png = cv2.imencode(".png", cv2.resize(photos[4], (48, 40)))[1].tobytes()
    (tmp_path / "cut.png").write_bytes(png[: len(png) - 40])  # "PNG input buffer is incomplete"
    (tmp_path / "nomoov.mp4").write_bytes(np.random.default_rng(0).bytes(5000))  # "moov atom not found"
    chatter = ("moov atom", "WARN", "PNG input buffer")

    def stderr(*flags: str) -> str:
        env = {k: v for k, v in os.environ.items() if not k.startswith("OPENCV_")}
        done = subprocess.run([sys.executable, "-c", "import sys; from cdvae_core.cli.prepare import main; "
                               "sys.exit(main(sys.argv[1:]))", "--task", "resaturation", "--folder", str(tmp_path),
                               "--out", str(tmp_path / "out.npz"), "--overwrite", "--quiet", *flags],
                              capture_output=True, text=True, timeout=300, env=env)
        assert done.returncode == 0, done.stderr[-2000:]
        assert "x corrupt image: cut.png" in done.stdout and "x video will not open: nomoov.mp4" in done.stdout
        return done.stderr

    for workers in ("1", "2"):
        err = stderr("--workers", workers)
        assert not any(word in err for word in chatter), err
    loud = stderr("--workers", "2", "--verbose")
    assert all(word in loud for word in chatter), loud


def test_photos_in_formats_opencv_does_not_read_are_counted_not_passed_over(tmp_path):
    """A folder's GIF, HEIC, AVIF and SVG files were ignored without a word: a folder of GIFs said it
    held no images, and beside readable photos they were missing from the skipped counts."""
    only = tmp_path / "gifs"
    only.mkdir()
    (only / "anim.gif").write_bytes(b"GIF89a" + bytes(32))
    with pytest.raises(DataError, match=r"holds no images or videos \(searched recursively\); its 1 \.gif file\(s\) "
                                        r"are in formats not read \(save them as PNG or JPEG\)$"):
        run(prepare_pairs(("folder", only), "resaturation"))
    with pytest.raises(DataError, match=r"holds no videos .*its 1 \.gif file\(s\) are in formats not read "
                                        r"\(save them as MP4\)$"):
        run(prepare_pairs(("folder", only), "motion"))
    for k in range(3):
        cv2.imwrite(str(only / f"p{k}.png"), np.full((40, 40, 3), 60 * k, np.uint8))
    (only / "sub").mkdir()
    (only / "sub" / "phone.HEIC").write_bytes(bytes(32))
    (only / ".hidden.gif").write_bytes(bytes(32))  # hidden names stay out, as for readable photos
    pairs = run(prepare_pairs(("folder", only), "resaturation"))
    assert len(pairs) == 3
    skipped = pairs.meta["skipped"]
    assert skipped["reasons"] == {"format not read": 2}
    assert skipped["examples"]["format not read"] == ["anim.gif (GIF: save it as PNG or JPEG)",
                                                      "sub/phone.HEIC (HEIC: save it as PNG or JPEG)"]


def test_broken_links_in_a_folder_are_counted_as_skipped(tmp_path):
    """A .jpg link whose photo was moved was neither read nor counted nor named among the skipped."""
    photos = [img for _, img in builtin_images()]
    for k, photo in enumerate(photos):
        cv2.imwrite(str(tmp_path / f"p{k}.png"), cv2.resize(photo, (64, 48)))
    (tmp_path / "moved.jpg").symlink_to(tmp_path / "gone" / "moved.jpg")
    (tmp_path / "loop.png").symlink_to(tmp_path / "loop.png")
    pairs = run(prepare_pairs(tmp_path, "resaturation", test_fraction=0.5, workers=1))
    assert len(pairs) == len(photos) and pairs.meta["skipped"]["reasons"] == {"broken link": 2}
    assert pairs.meta["skipped"]["examples"]["broken link"] == ["loop.png (its target is not there)",
                                                                 "moved.jpg (its target is not there)"]

"""Worker semantics, small pure helpers, sessions, and the command line's clean exit."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from PySide6.QtCore import Qt

from cdvae_studio.gif import sweep_codes, write_animation
from cdvae_studio.render import DecodeCache
from cdvae_studio.session import Session, SessionError, load_session, save_session
from cdvae_studio.widgets.flow_view import arrow_segments
from cdvae_studio.worker import LatestWorker


def test_newest_request_wins_and_stale_results_are_dropped(qtbot):
    worker = LatestWorker()
    gate = threading.Event()
    ran: list[int] = []
    applied: list[int] = []

    def slow(tag: int):
        def job():
            gate.wait(5)
            ran.append(tag)
            return tag
        return job

    def on_done(channel, rid, result, seconds, error):
        worker.delivered()
        if worker.is_current(channel, rid):
            applied.append(result)

    worker.done.connect(on_done)
    try:
        worker.submit("grid", slow(1))  # starts running, blocked on the gate
        time.sleep(0.1)
        for tag in (2, 3, 4):  # 2 and 3 are replaced while waiting; 4 is the newest
            worker.submit("grid", slow(tag))
        gate.set()
        qtbot.waitUntil(worker.idle, timeout=5000)
    finally:
        worker.stop()
    assert ran == [1, 4]  # the replaced requests never ran
    assert applied == [4]  # job 1 finished but was stale by then


def test_a_running_job_learns_it_was_superseded_and_may_stop(qtbot, capfd):
    """``superseded()`` is false while the running job is its channel's newest and true once a
    newer request (or ``cancel``) replaces it, whatever other channels do; a job that then raises
    Stopped reports no traceback and its stale result is dropped; the newer job runs next."""
    from cdvae_core.data.errors import Stopped

    worker = LatestWorker()
    seen: list[tuple] = []
    applied: list = []
    started = threading.Event()

    def waits_to_be_replaced():
        started.set()
        before = worker.superseded()
        deadline = time.monotonic() + 5.0
        while not worker.superseded() and time.monotonic() < deadline:
            time.sleep(0.005)
        seen.append((before, worker.superseded()))
        raise Stopped

    def on_done(channel, rid, result, seconds, error):
        worker.delivered()
        if worker.is_current(channel, rid):
            applied.append((channel, result, error))

    worker.done.connect(on_done)
    capfd.readouterr()
    try:
        worker.submit("image", waits_to_be_replaced)
        assert started.wait(5)
        worker.submit("grid", lambda: "grid")  # another channel: not a replacement
        time.sleep(0.05)
        worker.submit("image", lambda: "newer")
        qtbot.waitUntil(worker.idle, timeout=5000)
        started.clear()
        worker.submit("image", waits_to_be_replaced)
        assert started.wait(5)
        worker.cancel("image")
        qtbot.waitUntil(worker.idle, timeout=5000)
    finally:
        worker.stop()
    assert seen == [(False, True), (False, True)]
    assert applied == [("image", "newer", ""), ("grid", "grid", "")]  # the image channel is served first
    assert "Traceback" not in capfd.readouterr().err


def test_worker_reports_errors_as_one_line(qtbot):
    worker = LatestWorker()
    got = []

    def on_done(channel, rid, result, seconds, error):
        worker.delivered()
        got.append(error)

    worker.done.connect(on_done)
    try:
        worker.submit("misc", lambda: (_ for _ in ()).throw(ValueError("bad thing\nmore")))
        qtbot.waitUntil(lambda: bool(got), timeout=5000)
    finally:
        worker.stop()
    assert got == ["ValueError: bad thing"]


class CountingPredictor:
    noise_dim = 0  # no lower layers: the cache keys on the codes alone

    def __init__(self):
        self.rows = 0

    def decode(self, cond, codes, noise=None):
        self.rows += len(codes)
        return np.tanh(codes[:, :1, None, None] * np.ones((1, 1, 32, 32), np.float32))


def test_decode_cache_decodes_only_new_rows():
    p, cache = CountingPredictor(), DecodeCache()
    codes = np.random.default_rng(0).standard_normal((16, 4)).astype(np.float32)
    first = cache.decode(p, None, "m", "img", codes)
    codes2 = codes.copy()
    codes2[3, 0] += 1.0
    second = cache.decode(p, None, "m", "img", codes2)
    assert p.rows == 17
    np.testing.assert_array_equal(second, CountingPredictor().decode(None, codes2))
    np.testing.assert_array_equal(first[[0, 1, 2]], second[[0, 1, 2]])
    cache.decode(p, None, "other-model", "img", codes)
    assert p.rows == 33  # the model is part of the key


def test_arrow_segments_follow_the_flow():
    flow = np.zeros((2, 64, 64), np.float32)
    flow[0] = 3.0  # 3 px to the right everywhere
    pts = arrow_segments(flow, step=16, scale=2.0).reshape(-1, 6, 2)
    assert len(pts) == 16
    np.testing.assert_allclose(pts[:, 1] - pts[:, 0], [[6.0, 0.0]] * 16)
    assert (pts[:, 3, 0] < pts[:, 1, 0]).all()  # heads point back from the tip
    assert len(arrow_segments(np.zeros((2, 64, 64), np.float32), 16, 1.0)) == 0


def test_arrows_are_centred_on_their_points_and_stay_in_the_frame():
    rng = np.random.default_rng(0)
    flow = rng.normal(0, 1, (2, 57, 83)).astype(np.float32)  # sides no multiple of the spacing
    step = 16
    fit = 0.9 * step / np.hypot(flow[0], flow[1]).max()  # the view's 1x: longest arrow 0.9 spacing
    pts = arrow_segments(flow, step, fit, min_len=0.0).reshape(-1, 6, 2)
    assert len(pts) == (57 // step) * (83 // step)
    mids = (pts[:, 0] + pts[:, 1]) / 2
    # centred grid: the margins left and right (and top and bottom) differ by under a pixel
    for axis, side in ((0, 83), (1, 57)):
        assert abs(mids[:, axis].min() - (side - mids[:, axis].max())) <= 1.0
    np.testing.assert_allclose(pts[:, 1] - pts[:, 0], [flow[:, int(y), int(x)] * fit for x, y in mids], atol=1e-4)
    for p in (pts, arrow_segments(flow, step, 20 * fit).reshape(-1, 6, 2)[:, :2]):  # heads too at 1x; shafts at 20x
        assert (p[..., 0] >= -1e-4).all() and (p[..., 0] <= 83 + 1e-4).all()
        assert (p[..., 1] >= -1e-4).all() and (p[..., 1] <= 57 + 1e-4).all()
    long = arrow_segments(flow, step, 20 * fit).reshape(-1, 6, 2)  # cut at the edge, about their centres
    np.testing.assert_allclose((long[:, 0] + long[:, 1]) / 2, mids, atol=1e-3)


def test_sweep_codes_and_gif(tmp_path):
    code = np.zeros(4, np.float32)
    codes = sweep_codes(code, 2, np.full(4, 0.5, np.float32), np.full(4, 0.25, np.float32), frames=10)
    assert codes[:, 2].min() == pytest.approx(0.0) and codes[:, 2].max() == pytest.approx(1.0)
    assert (codes[:, [0, 1, 3]] == 0).all()
    frames = np.random.default_rng(0).integers(0, 255, (len(codes), 20, 24, 3), dtype=np.uint8)
    write_animation(tmp_path / "s.gif", frames)
    import imageio.v3 as iio

    back = iio.imread(tmp_path / "s.gif", index=None)
    assert back.shape[0] == len(codes) and back.shape[1:3] == (20, 24)


def test_session_round_trip(tmp_path):
    s = Session(task="motion", model="/m", image="/a.png", seed=7, code=[0.5, -1.0], current=3, pinned=[1])
    save_session(tmp_path / "s.json", s)
    assert load_session(tmp_path / "s.json") == s
    (tmp_path / "bad.json").write_text('{"format": "other"}')
    with pytest.raises(SessionError, match="not a CDVAE Studio session"):
        load_session(tmp_path / "bad.json")
    data = json.loads(s.to_json())
    del data["model"], data["seed"]
    (tmp_path / "bad.json").write_text(json.dumps(data))
    with pytest.raises(SessionError, match=r"^bad.json: missing field\(s\) model, seed$"):
        load_session(tmp_path / "bad.json")


@pytest.mark.parametrize("key,value,message", [
    ("task", "foo", "unknown task 'foo'; choose one of relighting, resaturation, motion"),
    ("seed", -5, "seed must lie in [0, 2147483647], got -5"),
    ("seed", 2**70, f"seed must lie in [0, 2147483647], got {2**70}"),
    ("temperature", float("nan"), "temperature must lie in [0, 2.0], got nan"),
    ("temperature", 50.0, "temperature must lie in [0, 2.0], got 50.0"),
    ("code", [0.5, float("inf")], "code holds NaN or infinite values"),
    ("noise", [float("nan")], "noise holds NaN or infinite values"),
    ("pinned", [1, -1], "pinned components are numbered from 0, got -1"),
    ("distinct_pool", 16, "distinct_pool must be 0 (plain draws) or lie in (16, 4096]"),
    ("seed", "x", "Session setting seed must be an int, got 'x'"),
    ("seed", True, "Session setting seed must be an int, got True"),
    ("current", 2.0, "Session setting current must be an int, got 2.0"),
    ("current", 16, "current must lie in [0, 15] (one of the grid's 16 samples), got 16"),
    ("component", -2, "component must be -1 (the whole mixture) or a component's number from 0, got -2"),
    ("code", [0.5, "x"], "Session setting code must be a list of numbers, got [0.5, 'x']"),
    ("model", None, "Session setting model must be a string, got None"),
])
def test_a_session_out_of_range_is_refused_before_anything_changes(tmp_path, key, value, message):
    """Found by mutating saved sessions (session 18): each of these was taken in part, then
    failed in the window (an unknown task and a seed past the spin box raised in the GUI thread,
    a temperature out of range failed the model's load after the toolbar had taken it, a NaN code
    broke the sliders, pin -1 pinned the last component, a pool of 16 showed "Distinct results"
    ticked over plain draws). Session 19's edits of every key found more: a current sample of
    1e308 or true put the session's code on one sample and its noise on another, and fields of
    the wrong JSON type were cast (a seed of 1.5 read as 1)."""
    good = Session(task="motion", model="/m", image="/a.png", seed=7, code=[0.5, -1.0], current=3, pinned=[1],
                   noise=[0.1], distinct_pool=256)
    save_session(tmp_path / "s.json", good)
    assert load_session(tmp_path / "s.json") == good
    data = json.loads((tmp_path / "s.json").read_text())
    (tmp_path / "bad.json").write_text(json.dumps({**data, key: value}))
    with pytest.raises(SessionError) as caught:
        load_session(tmp_path / "bad.json")
    assert str(caught.value).startswith("bad.json: ") and message in str(caught.value), caught.value
    assert "\n" not in str(caught.value)


def test_a_refused_session_leaves_the_window_as_it_was(qtbot, make_window, settle, tmp_path):
    win = make_window("resaturation")
    settle(win)
    state = win.state
    state.save_session(str(tmp_path / "s.json"))
    data = json.loads((tmp_path / "s.json").read_text())
    (tmp_path / "bad.json").write_text(json.dumps({**data, "seed": 5, "temperature": 7.0, "task": "motion"}))
    codes, entry = state.codes.copy(), state.entry.key
    state.open_session(str(tmp_path / "bad.json"))
    settle(win)
    assert "temperature must lie in [0, 2.0], got 7.0" in win.banner.text()
    assert (state.task_name, state.entry.key, state.seed, state.temperature) == ("resaturation", entry, 0, 1.0)
    assert (win.seedSpin.value(), win.temperatureSpin.value()) == (0, 1.0)
    np.testing.assert_array_equal(state.codes, codes)


@pytest.mark.parametrize("photo,model", [(None, None), ("bad.jpg", None), (None, "damaged")])
def test_screenshot_command_exits_cleanly(studio_assets, tmp_path, photo, model):
    """Also with a photo that cannot be opened: the window used to wait for it for 120 s and
    exit 1, unsettled; a built-in photo stands in now. And with a model that fails to load in the
    worker (its embedding's codes one column wide): the screenshot waited 120 s for a grid that
    would never come, then exited 1; it shows the banner now."""
    shot = tmp_path / "shot.png"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", CDVAE_STUDIO_ASSETS=str(studio_assets))
    if not (photo or model) and sys.platform.startswith("linux"):
        for name in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY"):  # a server: no display and no
            env.pop(name, None)  # platform set; the screenshot starts offscreen by itself (Qt aborted)
    args = []
    if photo:
        (tmp_path / photo).write_bytes(b"\xff\xd8\xff\xe0 not a JPEG")
        args = [str(tmp_path / photo)]
    if model:
        from safetensors.numpy import load_file, save_file

        shutil.copytree(studio_assets / "models" / "resaturation" / "mdn4", tmp_path / model)
        embedding = tmp_path / model / "embedding.safetensors"
        arrays = load_file(str(embedding))
        save_file({**arrays, "codes_c": np.ascontiguousarray(arrays["codes_c"][:, :1])}, str(embedding))
        args = ["--model", str(tmp_path / model), "--task", "resaturation"]
    # without --settings a screenshot keeps its settings in a temporary folder: removed at exit
    # (one cdvae-shot-* folder was left in /tmp per run)
    settings = ["--settings", str(tmp_path / "s.ini")] if photo or model else []
    env["TMPDIR"] = str(tmp_path / "tmp")
    (tmp_path / "tmp").mkdir()
    proc = subprocess.run([sys.executable, "-m", "cdvae_studio.app", *args, "--screenshot", str(shot),
                           *settings, "--size", "1200x800"],
                          env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    assert not list((tmp_path / "tmp").iterdir())
    assert "had not settled" not in proc.stderr
    for marker in ("Traceback", "Segmentation", "Fatal", "RuntimeError", "QThread: Destroyed"):
        assert marker not in proc.stderr, proc.stderr
    import cv2

    img = cv2.imread(str(shot))
    assert img is not None and img.shape[:2] == (800, 1200)
    assert img.std() > 10  # a rendered window, not a blank


@pytest.mark.parametrize("task_name", ["resaturation", "relighting"])
def test_cell_composer_matches_the_task_compose(task_name):
    from cdvae_core.tasks import get_task

    from cdvae_studio.images import LoadedImage
    from cdvae_studio.render import build_doc, compose_cells, upsample_batch

    rng = np.random.default_rng(3)
    photo = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
    task = get_task(task_name)
    doc = build_doc(task, LoadedImage(photo, "p"))
    xg = rng.random((5, task.channels_g, 32, 32)).astype(np.float32) * 1.2 - 0.1  # overshoots get clipped
    detail = rng.standard_normal((task.channels_g,) + doc.small.shape[:2]).astype(np.float32) * 0.05
    cells = compose_cells(task, doc, xg, detail=detail)
    up = upsample_batch(xg, (doc.small.shape[1], doc.small.shape[0])) + detail[None]
    ref = np.stack([task.compose(doc.xc_small, task.clip_g(u), image=doc.small) for u in up])
    assert np.abs(cells.astype(int) - ref.astype(int)).max() <= 1


def test_cell_composer_gives_back_the_photo_from_its_own_saturation_plus_rounding():
    """Own sample + detail map returns the photo's saturation a float32 ulp high at some pixels;
    ``g > s_old`` took that as a rise and painted near-grey pixels with the borrowed hue (5 grey
    levels seen). CellComposer and task.compose share resaturation.BORROW_TOLERANCE."""
    from cdvae_core.tasks import get_task

    from cdvae_studio.images import LoadedImage
    from cdvae_studio.render import CellComposer, build_doc

    rng = np.random.default_rng(0)
    photo = np.full((48, 64, 3), 128, np.int16)
    photo[:, :20] = (200, 60, 60)  # colour to borrow from, beside near-grey noise
    photo[:, 20:] += rng.integers(-3, 4, (48, 44, 3)).astype(np.int16)
    photo = photo.astype(np.uint8)
    task = get_task("resaturation")
    doc = build_doc(task, LoadedImage(photo, "p"))
    assert doc.small.shape == photo.shape  # cells at the photo's size: the way back is exact
    s_own = task.decompose(doc.small)[1]
    raised = np.nextafter(s_own, np.float32(1))  # one rounding step up everywhere
    cells = CellComposer(task, doc, 1)(raised)
    assert np.abs(cells.astype(int) - photo.astype(int)).max() <= 1
    ref = task.compose(doc.xc_small, raised, image=doc.small)
    assert np.abs(ref.astype(int) - photo.astype(int)).max() <= 1


def test_the_render_worker_reuses_its_cell_composers(qtbot):
    """PySide gives the worker's QThread a fresh Python thread state per job, so a threading.local
    cache there would rebuild the composer on every render; the cache must survive jobs."""
    from cdvae_core.tasks import get_task

    from cdvae_studio.images import LoadedImage
    from cdvae_studio.render import build_doc, composer_for, drag_doc

    task = get_task("resaturation")
    doc = build_doc(task, LoadedImage(np.random.default_rng(0).integers(0, 256, (40, 56, 3), dtype=np.uint8), "p"))
    worker = LatestWorker()
    got = []
    worker.done.connect(lambda channel, rid, result, seconds, error: (worker.delivered(), got.append(result)))
    try:
        for d in (doc, drag_doc(doc), doc, drag_doc(doc)):  # a drag and its release, twice
            n = len(got)  # before submitting: the result may arrive at once
            worker.submit("grid", lambda d=d: (id(composer_for(task, d, 16)), threading.get_ident()))
            qtbot.waitUntil(lambda n=n: len(got) > n, timeout=5000)
    finally:
        worker.stop()
    ids = [g[0] for g in got]
    assert ids[0] == ids[2] and ids[1] == ids[3] and ids[0] != ids[1]
    assert len({g[1] for g in got}) == 1 and got[0][1] != threading.get_ident()  # all in the worker thread
    assert id(composer_for(task, doc, 16)) != ids[0]  # the GUI thread has its own (they cache per-thread state)


def test_startup_objects_are_frozen_once_after_the_first_grid(qtbot, make_window, settle, monkeypatch, tmp_path):
    """app.freeze_when_settled: one collection and one gc.freeze when the first grid has landed,
    none while no model has loaded, none on later settles of the same context, and one collection
    (no freeze) when another model or image has landed (gc.freeze itself is replaced here so the
    test process keeps collecting normally)."""
    import gc

    from cdvae_studio.app import freeze_when_settled

    calls: list[str] = []
    real_collect = gc.collect
    monkeypatch.setattr(gc, "freeze", lambda: calls.append("freeze"))
    monkeypatch.setattr(gc, "collect", lambda *a: calls.append("collect") or 0 if not a else real_collect(*a))
    empty = tmp_path / "assets"
    (empty / "models").mkdir(parents=True)
    bare = make_window("resaturation", assets=empty)
    freeze_when_settled(bare)
    win = make_window("resaturation")
    freeze_when_settled(win)
    qtbot.waitUntil(lambda: bare.centerStack.currentIndex() == 1 and bare.state.is_settled(), timeout=10_000)
    assert bare.state.ctx is None and calls in ([], ["collect", "freeze"])  # only win's settle may have come
    settle(win)
    assert calls == ["collect", "freeze"]
    win.state.resample()
    settle(win)
    win.codeSliders.slider(0).setValue(200)
    settle(win)
    bare.state.set_task("relighting")
    qtbot.waitUntil(lambda: "relighting" in bare.emptyLabel.text() and bare.state.is_settled(), timeout=10_000)
    assert calls == ["collect", "freeze"]
    win.state.set_task("motion")  # another model (and its image): one collection once it has landed
    settle(win)
    assert win.state.ctx.task.name == "motion" and calls == ["collect", "freeze", "collect"]
    win.state.resample()
    settle(win)
    assert calls == ["collect", "freeze", "collect"]


def _report_niceness(_unused: int):
    """A background job (module level, so a spawned process can import it): its own niceness."""
    yield os.nice(0)
    return "ok"


@pytest.mark.skipif(not hasattr(os, "nice"), reason="POSIX process priorities")
def test_background_job_process_runs_below_the_window(qtbot):
    """ProcessJobRunner's child lowers its CPU priority by CHILD_NICENESS (capped at 19), so on a
    2-core machine a training run does not take the core the window needs to draw."""
    from cdvae_studio.worker import CHILD_NICENESS, ProcessJobRunner

    runner = ProcessJobRunner(_report_niceness, (0,), name="cdvae-test-nice")
    seen: list[object] = []
    finished: list[tuple[str, object]] = []
    runner.progress.connect(seen.append)
    runner.finished.connect(lambda status, payload: finished.append((status, payload)))
    runner.start()
    qtbot.waitUntil(lambda: bool(finished), timeout=60_000)
    assert finished == [("done", "ok")]
    assert seen == [min(19, os.nice(0) + CHILD_NICENESS)]


def _fail_at_once(path: str):
    """A background job (module level, for the spawned process) that fails before its first record."""
    raise FileNotFoundError(f"no pair file at {path}")
    yield  # a generator, as every job is


def test_a_process_job_counts_as_running_until_its_end_is_told(qtbot):
    """The reader thread ends once it has queued the job's last message, before the GUI thread
    delivers it. running() said False in that gap, so a dialog (and CI's test of it) saw a failed
    run over while its status still read "Starting…"."""
    from cdvae_studio.worker import ProcessJobRunner

    runner = ProcessJobRunner(_fail_at_once, ("missing.npz",), name="cdvae-test-gap")
    finished: list[tuple[str, object]] = []
    runner.finished.connect(lambda status, payload: finished.append((status, payload)))
    runner.start()
    assert runner._reader.wait(60_000)  # no events handled yet: the end is queued, not told
    assert not finished and runner.running()
    qtbot.waitUntil(lambda: bool(finished), timeout=10_000)
    assert finished == [("failed", "no pair file at missing.npz")] and not runner.running()


def _one_step():
    yield None
    return "ok"


def test_a_job_runner_has_joined_its_thread_when_it_reports_the_end(qtbot):
    """A dialog drops its last runner when the next job starts; a QThread destroyed while its
    thread still runs aborts the whole app (CI saw it on a quick second export). So finished is
    only emitted once the thread has ended, even when the thread is slow to wind down."""
    from cdvae_studio.worker import JobRunner

    runner = JobRunner(_one_step, name="cdvae-test-join")
    # runs in the job's thread after the loop has emitted its end: the thread winds down late
    runner._thread.started.connect(lambda: time.sleep(0.3), Qt.ConnectionType.DirectConnection)
    ended_when_reported: list[bool] = []
    runner.finished.connect(lambda *_: ended_when_reported.append(runner._thread.isFinished()))
    with qtbot.waitSignal(runner.finished, timeout=10_000):
        runner.start()
    assert ended_when_reported == [True]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="POSIX FIFOs")
def test_unusable_settings_and_screenshot_paths_are_refused_before_any_window(tmp_path, capsys):
    """A FIFO as --settings hung the start; a folder was silently ignored (nothing saved); a
    --screenshot into a folder failed only after everything had loaded, naming its temporary file."""
    from cdvae_studio.app import main

    fifo = tmp_path / "fifo.ini"
    os.mkfifo(fifo)
    cases = [(["--settings", str(fifo)], f"--settings {fifo} is not a regular file"),
             (["--settings", str(tmp_path)], f"--settings {tmp_path} is not a regular file"),
             (["--settings", str(tmp_path / "s.ini"), "--screenshot", str(tmp_path)],
              f"--screenshot {tmp_path} is a directory, not a file")]
    for argv, message in cases:
        assert main(argv) == 2
        assert capsys.readouterr().err == f"cdvae-studio: error: {message}\n"
    (tmp_path / "file").write_text("x")  # settings under a file: read as far as they can be, kept nowhere
    from cdvae_studio.app import check_paths, parse_args

    assert check_paths(parse_args(["--settings", str(tmp_path / "file" / "s.ini")])) == ""
    assert "changes will not be saved" in capsys.readouterr().err


def test_the_studio_says_its_version_and_qts_without_starting_qt(capsys, monkeypatch):
    from importlib import metadata

    import cdvae_core
    from cdvae_studio.app import main

    monkeypatch.setenv("COLUMNS", "30")  # one line still
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    out = capsys.readouterr().out
    assert stop.value.code == 0 and out.count("\n") == 1
    assert out.startswith(f"cdvae-studio {cdvae_core.__version__} (Python ")
    assert f"torch {metadata.version('torch')}" in out and f"pyqtgraph {metadata.version('pyqtgraph')}" in out
    assert "PySide6 6." in out


def test_a_window_size_is_checked_before_anything_starts(capsys):
    """--size abc was read after the window existed: its message, then Qt aborted the process
    ("QThread: Destroyed while thread 'cdvae-render' is still running", exit 134); 0x0 gave a
    screenshot of whatever size Qt chose, and 100000x100000 ran past two minutes and was killed."""
    from cdvae_studio.app import MAX_WINDOW_SIDE, main, parse_args

    assert parse_args([]).size is None and parse_args(["--size", "1200X800"]).size == (1200, 800)
    assert parse_args(["--size", f"1x{MAX_WINDOW_SIDE}"]).size == (1, MAX_WINDOW_SIDE)
    for text, why in (("abc", "must look like 1560x960, got 'abc'"), ("1200x", "must look like 1560x960"),
                      ("0x0", f"each side must lie in 1..{MAX_WINDOW_SIDE} px, got '0x0'"),
                      ("100000x100000", "each side must lie in"), ("-5x400", "each side must lie in")):
        with pytest.raises(SystemExit) as stop:
            main([f"--size={text}", "--screenshot", "out.png"])  # "=": argparse reads "-5x400" as an option
        assert stop.value.code == 2
        assert f"cdvae-studio: error: argument --size: {why}" in capsys.readouterr().err


STUDIO_STAND_IN = """
import multiprocessing as mp, sys, time
from cdvae_studio.worker import _child_main
from helpers import endless_job
if __name__ == "__main__":
    ctx = mp.get_context("spawn")
    queue, cancel = ctx.Queue(), ctx.Event()  # kept, as ProcessJobRunner keeps them (start() drops args)
    job = ctx.Process(target=_child_main, args=(endless_job, (sys.argv[1],), queue, cancel), daemon=True)
    job.start()
    print(job.pid, flush=True)
    time.sleep(300)
"""


@pytest.mark.skipif(not hasattr(os, "kill") or sys.platform == "win32", reason="POSIX signals")
def test_a_background_job_stops_when_the_studio_is_killed(tmp_path):
    """A daemon child is ended only by a parent that exits normally: after a kill -9 (or a crash) of
    the Studio its training ran on unseen to the last epoch. The child now closes its job (whose
    finally keeps the checkpoint) once its parent has gone. A stand-in for the Studio starts the
    job as ProcessJobRunner does and is killed."""
    import signal

    marker = tmp_path / "closed"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    studio = subprocess.Popen([sys.executable, "-c", STUDIO_STAND_IN, str(marker)], stdout=subprocess.PIPE, env=env,
                              text=True)
    job_pid = 0
    try:
        job_pid = int(studio.stdout.readline())
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (tmp_path / "closed.started").exists():
            time.sleep(0.1)  # the spawned process imports the worker (Qt) before the job runs
        time.sleep(0.5)
        assert (tmp_path / "closed.started").exists() and not marker.exists()  # it runs while its parent lives
        os.kill(studio.pid, signal.SIGKILL)
        studio.wait(10)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not marker.exists():
            time.sleep(0.1)
        assert marker.read_text() == "closed"
        while time.monotonic() < deadline:
            try:
                os.kill(job_pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            pytest.fail("the orphaned job process is still running")
    finally:
        if studio.poll() is None:
            studio.kill()
        if job_pid:  # a job left running by a failure here must not outlive the test
            try:
                os.kill(job_pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def _catches(pid: int, signum: int) -> bool:
    """Whether process ``pid`` has a handler installed for ``signum`` (Linux: /proc's SigCgt mask)."""
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) >> (signum - 1) & 1)
    return False


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads a process's signal handlers from /proc")
def test_ctrl_c_in_the_terminal_closes_the_studio_as_quit_does(studio_assets, tmp_path):
    """Ctrl+C in the terminal that started cdvae-studio printed a KeyboardInterrupt traceback (from
    a timer's Python callback) and left the window open; SIGTERM ended it without saving its
    settings. Both now close it as Quit does: settings saved, exit status 128 + the signal."""
    import signal

    settings = tmp_path / "s.ini"
    studio, stderr = _run_studio_until_interrupted(studio_assets, settings, "--size", "760x560")  # fits offscreen
    assert studio.returncode == 128 + signal.SIGINT, stderr
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr, stderr
    assert "geometry=" in settings.read_text()  # saved on the way out, as on Quit
    closed_at = _saved_size(settings)
    assert closed_at[1] == 560  # (the width is at least the layout's, about 800 px)
    # started again without --size: the size it was closed at (every start resized it to 1560x960)
    studio, stderr = _run_studio_until_interrupted(studio_assets, settings)
    assert studio.returncode == 128 + signal.SIGINT, stderr
    assert _saved_size(settings) == closed_at


def _run_studio_until_interrupted(assets, settings, *args: str) -> tuple[subprocess.Popen, str]:
    """Start cdvae-studio offscreen on ``assets`` and ``settings``, send Ctrl+C once its window is up;
    (the ended process, its stderr)."""
    import signal

    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", CDVAE_STUDIO_ASSETS=str(assets))
    studio = subprocess.Popen([sys.executable, "-m", "cdvae_studio.app", "--settings", str(settings), *args],
                              env=env, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        # its SIGTERM handler is installed once the window is up (Python's own SIGINT one is there from the start)
        while time.monotonic() < deadline and studio.poll() is None and not _catches(studio.pid, signal.SIGTERM):
            time.sleep(0.1)
        assert studio.poll() is None and _catches(studio.pid, signal.SIGTERM)
        studio.send_signal(signal.SIGINT)
        _, stderr = studio.communicate(timeout=60)
    finally:
        if studio.poll() is None:
            studio.kill()
    return studio, stderr


def _saved_size(settings) -> tuple[int, int]:
    """The window size a settings file's geometry restores."""
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QWidget

    widget = QWidget()
    assert widget.restoreGeometry(QSettings(str(settings), QSettings.Format.IniFormat).value("geometry"))
    return widget.width(), widget.height()


def test_a_first_start_fits_the_window_to_a_smaller_screen(make_window, tmp_path):
    """No size saved: 1560x960, or 95% of the screen's free area where that is less (a 1280x800
    laptop at 2x scaling showed the window's right and bottom off the screen), centred; a
    size saved is kept."""
    from PySide6.QtCore import QSettings

    win = make_window("resaturation")
    screen = win.screen().availableGeometry()  # offscreen: 800x800
    assert screen.width() < 1560 and win.size().toTuple() == (1560, 960)
    win.fit_first_size()
    least = win.minimumSizeHint()  # what the layout needs: Qt keeps the window at least that
    assert win.size().toTuple() == (max(least.width(), min(1560, int(screen.width() * 0.95))),
                                    max(least.height(), min(960, int(screen.height() * 0.95))))
    assert win.height() < 960 and win.x() >= screen.x() and win.y() >= screen.y()
    win.resize(least.width(), 500)
    win.save_settings()
    again = make_window("resaturation", settings=QSettings(win.settings.fileName(), QSettings.Format.IniFormat))
    assert again.geometry_restored
    again.fit_first_size()
    assert again.size().toTuple() == (least.width(), 500)


def test_a_first_starts_window_keeps_its_title_bar_and_status_bar_on_the_screen():
    """Under a window manager the frame (title bar, borders) came on top of the fitted size:
    at 1600x1000 the window's frame began at y=65 and its status bar was cut at the bottom."""
    from PySide6.QtCore import QRect

    from cdvae_studio.window_geometry import within_screen

    screen = QRect(0, 0, 1600, 1000)
    # a 30-px title bar and 1-px borders around a 1520x950 inside placed at (43, 95)
    client = QRect(43, 95, 1520, 950)
    frame = QRect(42, 65, 1522, 981)
    moved = within_screen(frame, client, screen)
    assert moved == QRect(43, 49, 1520, 950)  # moved up just enough: the frame ends at the screen's bottom
    # a frame taller than the screen: the inside shrinks by what is missing
    tall = within_screen(QRect(0, 0, 1522, 1031), QRect(1, 30, 1520, 1000), screen)
    assert tall == QRect(1, 30, 1520, 969)
    assert within_screen(QRect(10, 10, 800, 600), QRect(11, 40, 798, 569), screen) is None


def test_a_stop_signal_closes_the_window_without_the_training_question(qtbot, make_window, settle, monkeypatch):
    """SIGTERM (a logout, a kill) while a model trains: nobody may be there to answer "Stop it
    now?", so the window closes without asking; the training keeps its last finished epoch."""
    import signal

    from PySide6.QtWidgets import QMessageBox

    from cdvae_studio.stop_signals import SignalStop

    win = make_window("resaturation")
    settle(win)
    monkeypatch.setattr(win, "training_running", lambda: True)
    asked: list[str] = []
    monkeypatch.setattr(QMessageBox, "question", staticmethod(lambda *a, **k: asked.append(a[1])))
    before = signal.getsignal(signal.SIGTERM)
    stopper = SignalStop(lambda signum: win.close_on_signal())
    try:
        os.kill(os.getpid(), signal.SIGTERM)
        qtbot.waitUntil(lambda: stopper.received == signal.SIGTERM, timeout=10_000)
    finally:
        stopper.restore()
    assert signal.getsignal(signal.SIGTERM) is before  # put back
    assert asked == [] and not win.isVisible() and getattr(win, "_shut", False)

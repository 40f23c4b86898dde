"""The results pipeline end to end on a tiny budget, and its parts against independent computations."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from cdvae_core.cli import results as cli
from cdvae_core.experiments import report, suite
from cdvae_core.experiments.install import REFERENCE_FILE
from cdvae_core.experiments.data import cache_path
from cdvae_core.pairs import load_pairs

TINY = dataclasses.replace(
    suite.QUICK, mode="quick", pairs=160, epochs=1, eval_pairs=12, nll_pairs=4, nll_k=4, synthetic_pairs=160,
    synthetic_epochs=1, synthetic_eval_pairs=10, synthetic_samples=10, figure_images=1, figure_samples=1, workers=1,
)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """One quick-mode run of the command with the TINY budget (about 30 s on 2 busy cores)."""
    root = tmp_path_factory.mktemp("results")
    patch = pytest.MonkeyPatch()
    patch.setattr(suite, "QUICK", TINY)
    try:
        code = cli.main(["--quick", "--tasks", "resaturation", "--work", str(root / "work"), "--out", str(root / "docs"),
                         "--install-builtin", str(root / "assets" / "models"), "--no-synthetic"])
    finally:
        patch.undo()
    return code, root


def test_command_writes_all_six_rows_figures_and_json(tiny_run):
    code, root = tiny_run
    assert code == 0
    md = (root / "docs" / "results.md").read_text()
    assert report.MARKER in md and "## resaturation" in md and "quick mode" in md
    table = md.split("## resaturation", 1)[1].split("```text", 1)[1].split("```", 1)[0]
    names = [line.split()[0] for line in table.strip().splitlines()[3:]]
    assert names == list(suite.ROWS)
    for image in ("figure4.png", "figure5_resaturation.png"):
        data = (root / "docs" / "images" / image).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    results = json.loads((root / "docs" / "results.json").read_text())
    rows = results["tasks"]["resaturation"]["rows"]
    assert set(rows) == set(suite.ROWS)
    assert rows["NN"]["nll"] is None and rows["CVAE"]["nll"] is None
    assert all(np.isfinite(rows[r]["nll"]) for r in ("Shallow", "Gauss", "MDN4", "MDN12"))
    assert "synthetic" not in results
    # the table in the markdown holds the JSON's numbers x 100
    nn_line = next(line for line in table.splitlines() if line.startswith("NN"))
    assert float(nn_line.split()[1]) == pytest.approx(rows["NN"]["best_error"]["3"] * 100, abs=0.006)


def test_nearest_row_matches_an_independent_computation(tiny_run):
    _, root = tiny_run
    results = json.loads((root / "docs" / "results.json").read_text())
    pairs = load_pairs(cache_path(root / "work", "resaturation", "builtin", TINY))
    train, test = pairs.train(), pairs.test()
    test = test.subset(np.arange(min(TINY.eval_pairs, len(test))))
    # brute force: sort training x_c by distance, smooth the x_g with scipy, take best of N
    from scipy.ndimage import gaussian_filter

    d = ((test.xc.reshape(len(test), 1, -1) - train.xc.reshape(1, len(train), -1)) ** 2).sum(2)
    order = np.argsort(d, axis=1, kind="stable")[:, :100]
    smooth = gaussian_filter(train.xg, sigma=(0, 0, 1.0, 1.0))
    err = ((smooth[order] - test.xg[:, None]) ** 2).mean(axis=(2, 3, 4))  # (B, 100)
    got = results["tasks"]["resaturation"]["rows"]["NN"]["best_error"]
    for n in (3, 30, 100):
        assert got[str(n)] == pytest.approx(err[:, :n].min(1).mean(), rel=1e-4)


def test_install_writes_float16_models_and_a_readme(tiny_run):
    _, root = tiny_run
    from safetensors.numpy import load_file

    from cdvae_core.checkpoint import load_model

    models = root / "assets" / "models"
    assert "cdvae-results --quick" in (models / "README.md").read_text()
    for folder, tie in (("gauss", "gauss"), ("mdn4", "mdn")):
        path = models / "resaturation" / folder
        weights = load_file(str(path / "weights.safetensors"))
        assert all(v.dtype == np.float16 for v in weights.values() if v.dtype.kind == "f")
        predictor = load_model(path)  # float16 weights load into the float32 model
        assert predictor.config.tie == tie and predictor.task == "resaturation"
        import torch

        assert all(p.dtype == torch.float32 for p in predictor.model.parameters())  # upcast on loading
        assert len(predictor.embedding) <= 1500
        ref = load_file(str(path / REFERENCE_FILE))
        assert ref["samples"].shape[:2] == (ref["xc"].shape[0], 4)
        assert sum(p.stat().st_size for p in path.iterdir()) < 5.2e6


def test_synthetic_scores_against_the_true_modes():
    from cdvae_core.experiments.evaluation import synthetic_scores
    from cdvae_core.synthetic import make_mode_pairs, mode_templates

    pairs = make_mode_pairs(40, modes=4, classes=2, detail=1.0, seed=3)
    truth = np.stack([mode_templates(x, modes=4, classes=2, detail=1.0) for x in pairs.xc])  # (B, 4, 1, 32, 32)
    perfect = synthetic_scores(pairs.xc, pairs.xg, truth, pairs.meta)
    assert perfect["coverage"] == 1.0 and perfect["precision"] == 1.0
    # the best of the 4 true modes is within the pixel noise (0.02^2) of each pair's x_g
    assert perfect["best_error"] == pytest.approx(0.02**2, rel=0.35)
    grey = synthetic_scores(pairs.xc, pairs.xg, np.full_like(truth, 0.5), pairs.meta)
    assert grey["coverage"] == 0.0 and grey["precision"] == 0.0


def test_rerun_keeps_the_hand_written_top(tmp_path):
    results = {"mode": "quick", "settings": TINY.to_dict(), "train_config": TINY.train_config().to_dict(),
               "started": "now", "wall_seconds": 1.0, "machine": {"cpus": 2, "torch": "x", "torch_threads": 2,
                                                                   "platform": "p"},
               "tasks": {}}
    path = tmp_path / "results.md"
    path.write_text("# My notes\n\nkept text\n\n" + report.MARKER + "\nold generated part\n")
    report.write_results_md(path, results, {})
    text = path.read_text()
    assert text.startswith("# My notes\n\nkept text") and "old generated part" not in text and "quick mode" in text


def test_ordering_lines_follow_the_numbers():
    rows = {name: {"best_error": {"100": err}, "variance": var} for name, err, var in
            [("NN", 0.02, 0.01), ("CVAE", 0.03, 0.001), ("Shallow", 0.015, 0.005), ("Gauss", 0.01, 0.02),
             ("MDN4", 0.025, 0.02), ("MDN12", 0.01, 0.0001)]}
    lines = report.ordering(rows, 100)
    assert "| Gauss | Shallow, CVAE, NN | Shallow, CVAE, NN | none |" in lines
    assert "| MDN4 | CVAE | Shallow, CVAE, NN | Shallow, NN |" in lines
    assert "| MDN12 | Shallow, CVAE, NN | none | none |" in lines


def test_bad_command_lines_are_one_line_errors(capsys):
    assert cli.main(["--tasks", "painting"]) == 2
    err = capsys.readouterr().err
    assert "error: --tasks must name" in err and "Traceback" not in err
    with pytest.raises(suite.SuiteError):
        dataclasses.replace(TINY, pairs=10)
    with pytest.raises(suite.SuiteError):
        suite.model_overrides("NN")


def test_a_cached_pair_file_of_another_task_is_made_again(tmp_path):
    """A pair file copied over the cache's name of another task was trained and scored as that task."""
    from cdvae_core.experiments.data import task_pairs
    from cdvae_core.pairs import save_pairs
    from cdvae_core.synthetic import make_mode_pairs

    path = cache_path(tmp_path, "resaturation", "builtin", TINY)
    path.parent.mkdir(parents=True)
    save_pairs(path, make_mode_pairs(40, seed=0))  # meta task "synthetic", one grey channel each
    gen = task_pairs(tmp_path, "resaturation", "builtin", TINY)
    records = []
    while True:
        try:
            records.append(next(gen).message)
        except StopIteration as stop:
            pairs = stop.value
            break
    assert "was made for 'synthetic'; making it again" in records[0]
    assert pairs.meta["task"] == "resaturation" and load_pairs(path).meta["task"] == "resaturation"


def test_motion_prepares_its_own_pair_count():
    assert suite.FULL.pairs_for("motion") == 24000 and suite.FULL.pairs_for("relighting") == 6000
    assert TINY.pairs_for("motion") == TINY.pairs == 160  # 0: the same as every task
    with pytest.raises(suite.SuiteError, match="at least 120 pairs"):
        dataclasses.replace(TINY, motion_pairs=50)
    assert report.motion_pairs_note(suite.FULL.to_dict()) == ", motion 24000"
    assert report.motion_pairs_note(TINY.to_dict()) == report.motion_pairs_note({"pairs": 6000}) == ""
    assert cache_path(Path("w"), "motion", "builtin", suite.FULL).name == "motion_builtin_24000_seed0.npz"


def test_motion_trains_with_its_held_guidance_and_the_report_says_so():
    run = suite.FULL.train_config()
    assert (run.guidance_start, run.guidance_end) == (10.0, 1.0)
    assert suite.FULL.train_config(task="relighting") == run
    motion = suite.FULL.train_config(task="motion")
    assert (motion.guidance_start, motion.guidance_end, motion.epochs) == (30.0, 30.0, run.epochs)
    shallow = suite.model_config("Shallow", "motion", (3, 2)).layers
    assert shallow == 1 and suite.FULL.train_config(task="motion", layers=shallow) == run
    note = report.guidance_note({"train_config": motion.to_dict()}, run.to_dict())
    assert note == (" Guidance held at 30 throughout, 10 -> 1 for the one-layer Shallow (the task's defaults, "
                    "docs/model.md).")
    assert report.guidance_note({"train_config": run.to_dict()}, run.to_dict()) == ""
    assert report.guidance_note({}, run.to_dict()) == ""  # results from before per-task configs


def test_method_configs_are_the_papers_rows():
    cfg = {row: suite.model_config(row, "relighting", (3, 1)) for row in suite.TRAINED}
    assert cfg["CVAE"].arch == "cvae"
    assert cfg["Shallow"].layers == 1 and cfg["Shallow"].tie == "gauss"
    assert cfg["Gauss"].layers == 3 and cfg["Gauss"].tie == "gauss"
    assert (cfg["MDN4"].tie, cfg["MDN4"].mixtures, cfg["MDN12"].mixtures) == ("mdn", 4, 12)
    from cdvae_core.cli.common import method_name

    assert [method_name(c) for c in cfg.values()] == list(suite.TRAINED)


def test_unusable_folders_and_flags_are_refused_before_any_work(tmp_path, monkeypatch, capsys):
    """An --out or --install-builtin under a file failed with a traceback only after the whole
    run (about 25 minutes in full mode); a negative seed, a NaN size budget and a source flag for
    a task left out got a traceback or were ignored."""
    from cdvae_core.experiments import runner

    def never(*args, **kwargs):
        raise AssertionError("the suite ran before the command line was checked")

    monkeypatch.setattr(runner, "run_suite", never)
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    ok = ["--quick", "--tasks", "resaturation", "--work", str(tmp_path / "w"), "--out", str(tmp_path / "o")]
    cases = [
        (["--out", str(blocker / "docs")], "--out"),
        (["--out", str(blocker)], "is not a folder"),
        (["--work", str(blocker / "work")], "--work"),
        (["--install-builtin", str(blocker / "models")], "--install-builtin"),
        (["--seed", "-1"], "--seed must be 0 or more"),
        (["--install-max-mb", "nan"], "--install-max-mb must be a number"),
        (["--ucf101", str(tmp_path), str(tmp_path)], "--ucf101 feeds the motion task"),
    ]
    for extra, message in cases:
        assert cli.main(ok + extra) == 2, extra
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    (tmp_path / "o2" / "results.md").mkdir(parents=True)
    assert cli.main(ok[:-1] + [str(tmp_path / "o2")]) == 2
    assert "folder named results.md" in capsys.readouterr().err
    with pytest.raises(suite.SuiteError, match="seed"):
        suite.settings_for(True, -3)
    assert not (tmp_path / "w").exists() and not (tmp_path / "o").exists()  # nothing made


def test_nll_k_is_a_flag_checked_like_cdvae_evals(tiny_run, tmp_path, monkeypatch, capsys):
    """The NLL column's k = 100 estimate has not converged (12-43 nats above k = 2,000), and the
    command had no way to ask for more: --nll-k sets it (0 leaves the column out)."""
    from cdvae_core.experiments import runner

    seen = []

    def capture(settings, *args, **kwargs):
        seen.append(settings)
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "run_suite", capture)
    ok = ["--quick", "--tasks", "resaturation", "--work", str(tmp_path / "w"), "--out", str(tmp_path / "o")]
    for k in ("2000", "0"):
        assert cli.main(ok + ["--nll-k", k]) != 0
    assert [s.nll_k for s in seen] == [2000, 0]
    capsys.readouterr()
    for bad in ("-1", "20000"):
        assert cli.main(ok + ["--nll-k", bad]) == 2
        assert f"--nll-k must lie in [0, 10000], got {bad}" in capsys.readouterr().err
    assert len(seen) == 2
    results = json.loads((tiny_run[1] / "docs" / "results.json").read_text())
    assert "NLL (nats per pair, importance weighted, k = 4) on the first 4" in report.generated_section(results, {})
    results["settings"]["nll_k"] = 0
    assert "variance at 16 grid points over 100 samples; no NLL (--nll-k 0)" in report.generated_section(results, {})


def test_a_killed_model_resumes_from_its_last_epoch(tmp_path):
    """A run killed mid-model restarted that model from scratch; now it continues from the last
    finished epoch and ends with the weights of an unbroken run."""
    from safetensors.numpy import load_file

    from cdvae_core.experiments import runner
    from cdvae_core.synthetic import make_mode_pairs

    pairs = make_mode_pairs(160, seed=1)
    train_cfg = dataclasses.replace(TINY, epochs=2).train_config()
    whole = list(runner.train_row(pairs, "Shallow", "synthetic", train_cfg, tmp_path / "whole"))
    assert not any("resuming" in pr.message for pr in whole)
    gen = runner.train_row(pairs, "Shallow", "synthetic", train_cfg, tmp_path / "killed")
    for pr in gen:
        if pr.message.endswith("epoch 1 saved"):
            break
    next(gen)  # a step of epoch 2, then the "kill": epoch 2's work is lost
    gen.close()
    assert len((tmp_path / "killed" / "metrics.jsonl").read_text().splitlines()) == 1
    again = list(runner.train_row(pairs, "Shallow", "synthetic", train_cfg, tmp_path / "killed"))
    assert "resuming the interrupted run" in again[0].message
    assert not any("epoch 1/2" in pr.message for pr in again)  # epoch 1 was not trained again
    a, b = (load_file(str(tmp_path / d / "weights.safetensors")) for d in ("whole", "killed"))
    assert all(np.allclose(a[k], b[k], atol=1e-6) for k in a)
    # a finished run whose metrics.jsonl was edited is still reused (was a JSONDecodeError)
    metrics = tmp_path / "whole" / "metrics.jsonl"
    rows = metrics.read_text().splitlines()
    metrics.write_text("\n".join([rows[0], '7', '{"epoch": 2, "seconds": "x"}', rows[1], '{"epoch": 3, "sec']) + "\n")
    reused = list(runner.train_row(pairs, "Shallow", "synthetic", train_cfg, tmp_path / "whole"))
    assert "reusing the finished run" in reused[0].message
    assert runner._loop_seconds(tmp_path / "whole") == sum(json.loads(r)["seconds"] for r in rows)
    # a checkpoint of other settings is not resumed: that model starts again
    other = dataclasses.replace(TINY, epochs=3).train_config()
    assert not runner.resumable_run(tmp_path / "killed", runner.model_config("Shallow", "synthetic", pairs.channels), other)

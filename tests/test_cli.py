"""The commands: one-line errors with exit code 2 and nothing overwritten, the eval / sample
contracts, resume after a real kill, and the known-mode quality check through the commands only."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from cdvae_core.checkpoint import load_model, load_state
from cdvae_core.config import ModelConfig, TrainConfig
from cdvae_core.cli import evaluate, sample
from cdvae_core.cli import train as train_cli
from cdvae_core.metrics import best_error, grid_variance
from cdvae_core.nearest import NearestNeighbour
from cdvae_core.pairs import PairFileError, load_pairs, save_pairs
from cdvae_core.synthetic import conditional_mean_error, make_mode_pairs, mode_report

from helpers import TINY, Terminal

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.usefixtures("one_thread")


def write_pairs(path: Path, n: int = 48, **overrides) -> Path:
    rng = np.random.default_rng(0)
    arrays = {
        "xc": rng.random((n, 1, 32, 32), dtype=np.float32),
        "xg": rng.random((n, 1, 32, 32), dtype=np.float32),
        "split": (np.arange(n) >= n - 12).astype(np.int8),
        "meta": np.array(json.dumps({"task": "resaturation"})),
    }
    arrays.update(overrides)
    np.savez(path, **{k: v for k, v in arrays.items() if v is not None})
    return path


def write_config(path: Path, **training) -> Path:
    path.write_text(json.dumps({"model": TINY, "training": {"num_threads": 1, "kl_warmup_epochs": 1, **training}}))
    return path


def digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha1(p.read_bytes()).hexdigest() for p in folder.rglob("*") if p.is_file()}


def one_line_error(capsys, code: int, needle: str) -> None:
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1 and "error:" in err and needle in err, err


def refused_configs(capsys, tmp_path: Path, pairs: Path, cases: list[tuple[object, str]]) -> None:
    """Each (content of a --config file, words of its one-line error): refused, no run folder made."""
    for i, (content, needle) in enumerate(cases):
        (tmp_path / f"{i}.json").write_text(json.dumps(content))
        code = train_cli.main(["--pairs", str(pairs), "--config", str(tmp_path / f"{i}.json"), "--out",
                               str(tmp_path / f"run{i}"), "--quiet"])
        one_line_error(capsys, code, needle)
        assert not (tmp_path / f"run{i}").exists()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny Gaussian-tie model trained for one epoch through cdvae-train."""
    root = tmp_path_factory.mktemp("cli")
    pairs = write_pairs(root / "pairs.npz")
    cfg = write_config(root / "cfg.json")
    code = train_cli.main(["--pairs", str(pairs), "--config", str(cfg), "--epochs", "1", "--batch-size", "12",
                           "--out", str(root / "model"), "--quiet"])
    assert code == 0
    return root


def test_epoch_lines_say_what_the_step_guard_did(tmp_path, capsys):
    """Every norm above the threshold, 3 steps per epoch: skip, skip, then the clipped update."""
    pairs = write_pairs(tmp_path / "pairs.npz")
    cfg = write_config(tmp_path / "cfg.json", skip_threshold=1e-3, spike_patience=2)
    assert train_cli.main(["--pairs", str(pairs), "--config", str(cfg), "--epochs", "1", "--batch-size", "12",
                           "--out", str(tmp_path / "model")]) == 0
    err = capsys.readouterr().err
    assert "epoch 1/1: loss" in err and "2 update(s) skipped" in err, err
    assert "1 applied clipped after spike_patience skips in a row" in err, err


def test_bad_pair_files_are_one_line_errors(tmp_path, capsys):
    cfg = write_config(tmp_path / "cfg.json")
    cases = {
        "shape": (dict(xc=np.zeros((48, 1, 16, 16), np.float32)), "must have shape (N, C, 32, 32)"),
        "nan": (dict(xg=np.full((48, 1, 32, 32), np.nan, np.float32)), "NaN"),
        "key": (dict(xg=None), "lacks the key(s) xg"),
        "count": (dict(split=np.zeros(5, np.int8)), "'split' must have shape (48,)"),
        # text features: np.isfinite raised a TypeError traceback
        "text_fc": (dict(fc=np.array([["a", "b"]] * 48)), "'fc' must hold real numbers"),
        # meta keys the library reads, edited: text labels were a ValueError after the whole run
        # (when the embedding was written), a list as the task a TypeError, an unknown task a model
        # that no command could use
        "labels": (dict(meta=np.array(json.dumps({"task": "resaturation", "labels": ["cat"] * 48}))),
                   "'meta' \"labels\" must hold whole numbers from -1 (unknown) up"),
        "labels_count": (dict(meta=np.array(json.dumps({"labels": [0] * 5}))),
                         "\"labels\" must be a list of one label per pair (48), got a list of 5"),
        "task_list": (dict(meta=np.array(json.dumps({"task": ["resaturation"]}))),
                      "'meta' \"task\" must be a string, got [\"resaturation\"]"),
        "task_unknown": (dict(meta=np.array(json.dumps({"task": "deblurring"}))),
                         "task must be one of relighting, resaturation, motion or synthetic (a known-mode set), "
                         "got 'deblurring'"),
        # layers that are not the task's trained without a sign, and the model failed on every photo
        "channels": (dict(meta=np.array(json.dumps({"task": "relighting"}))),
                     "these pairs do not fit relighting: relighting layers have 3+1 channels (x_c+x_g), these have 1+1"),
        "scale": (dict(xg=np.full((48, 1, 32, 32), 200.0, np.float32)),
                  "these pairs do not fit resaturation: 'xg' values lie in [200, 200], but resaturation's x_g lies "
                  "in [0, 1] (photo values of 0-255 need dividing by 255)"),
        "no_task": (dict(meta=None, xc=np.full((48, 1, 32, 32), -0.5, np.float32)),
                    "the pair file names no task (its meta \"task\"), and its layers do not fit resaturation, the "
                    "default: 'xc' values lie in [-0.5, -0.5], but resaturation's x_c lies in [0, 1]; give --task "
                    "(synthetic for layers of no photo task)"),
    }
    for name, (overrides, needle) in cases.items():
        pairs = write_pairs(tmp_path / f"{name}.npz", **overrides)
        code = train_cli.main(["--pairs", str(pairs), "--config", str(cfg), "--out", str(tmp_path / name), "--quiet"])
        one_line_error(capsys, code, needle)
        assert not (tmp_path / name).exists()
    (tmp_path / "text.npz").write_text("not an archive")  # numpy's own message advised allow_pickle=True
    code = train_cli.main(["--pairs", str(tmp_path / "text.npz"), "--config", str(cfg), "--out", str(tmp_path / "t")])
    one_line_error(capsys, code, "not a zip archive")


def test_bad_output_directories_are_one_line_errors_and_nothing_is_overwritten(trained, tmp_path, capsys):
    pairs, cfg, model = trained / "pairs.npz", trained / "cfg.json", trained / "model"
    before = digest(model)
    base = ["--pairs", str(pairs), "--config", str(cfg), "--epochs", "1", "--batch-size", "12", "--quiet"]
    one_line_error(capsys, train_cli.main(base + ["--out", ""]), "--out is empty")
    (tmp_path / "file").write_text("x")
    one_line_error(capsys, train_cli.main(base + ["--out", str(tmp_path / "file" / "run")]), "is not a directory")
    one_line_error(capsys, train_cli.main(base + ["--out", "/proc/cdvae-test-run"]), "not writable")
    one_line_error(capsys, train_cli.main(base + ["--out", str(model)]), "already holds files")
    one_line_error(capsys, train_cli.main(base + ["--out", str(model), "--resume", "--tie", "mdn"]),
                   "trained with other settings (tie 'gauss' != 'mdn')")
    one_line_error(capsys, train_cli.main(base + ["--out", str(model), "--resume", "--lr", "0.5"]), "lr 0.001 != 0.5")
    one_line_error(capsys, train_cli.main(base + ["--out", str(tmp_path / "x"), "--layers", "0"]), "layers must lie in [1, 13]")
    one_line_error(capsys, train_cli.main(base + ["--out", str(tmp_path / "x"), "--layers", "20"]),
                   "13 layers make it 65536 wide), got 20")
    one_line_error(capsys, train_cli.main(base + ["--out", str(tmp_path / "x"), "--arch", "gan"]), "invalid choice")
    assert digest(model) == before


def test_paths_the_file_system_refuses_are_one_line_errors(trained, tmp_path, capsys):
    """A name longer than the file system allows was an OSError traceback from cdvae-train,
    cdvae-eval and cdvae-results (and cdvae-prepare blamed its --out for it)."""
    from cdvae_core.cli import prepare, results

    long = tmp_path / ("y" * 300)
    pairs, model, image = trained / "pairs.npz", trained / "model", ROOT / "assets" / "images" / "astronaut.jpg"
    runs = [
        (train_cli.main, ["--pairs", str(long / "p.npz"), "--out", str(tmp_path / "o")], f"{long}/p.npz: File name too long"),
        (train_cli.main, ["--pairs", str(pairs), "--out", str(long)], "File name too long"),
        (evaluate.main, ["--model", str(long), "--pairs", str(pairs)], f"{long}: File name too long"),
        (evaluate.main, ["--model", str(model), "--pairs", str(pairs), "--json", str(long)],
         f"--json {long} cannot be used (File name too long)"),
        (sample.main, ["--model", str(model), "--image", f"{long}.png", "--n", "2", "--export", str(tmp_path / "e")],
         "File name too long"),
        (sample.main, ["--model", str(model), "--image", str(image), "--n", "2", "--export", str(long)], "File name too long"),
        (prepare.main, ["--task", "relighting", "--builtin", "--out", str(long)],  # named as it would be written
         f"--out {long}.npz cannot be used (File name too long)"),
        (results.main, ["--quick", "--work", str(long), "--out", str(tmp_path / "r")], "File name too long"),
    ]
    for main, argv, needle in runs:
        one_line_error(capsys, main(argv), needle)
    assert sorted(p.name for p in tmp_path.iterdir()) == []
    # a name with a newline and two spaces is said as it is, escaped (was "a b c.png": no such name)
    odd = tmp_path / "a  b\nc.png"
    one_line_error(capsys, sample.main(["--model", str(model), "--image", str(odd), "--n", "2", "--export",
                                        str(tmp_path / "e")]), "a  b\\nc.png: no such image file")


@pytest.fixture
def odd_files(tmp_path):
    """A FIFO with no writer, a folder, a device that never ends and a file too large to be JSON settings."""
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    big = tmp_path / "big.json"
    with open(big, "wb") as handle:
        handle.truncate(17 * 2**20)  # sparse: no 17 MiB written
    return {"fifo": (fifo, "not a regular file"), "folder": (tmp_path, "a folder, not a file"),
            "zero": (Path("/dev/zero"), "not a regular file"), "big": (big, "larger than 16 MiB")}


@pytest.mark.skipif(not hasattr(os, "mkfifo") or not Path("/dev/zero").exists(), reason="POSIX files")
def test_files_that_are_not_small_text_are_refused_at_once(trained, odd_files, tmp_path, capsys):
    """Reading /dev/zero as --config or --reproduce never ended (a MemoryError), a FIFO blocked for
    ever, and a folder said "[Errno 21] ..."; each now a one-line reason."""
    from cdvae_core.config import read_small_text

    assert read_small_text(trained / "cfg.json") == (trained / "cfg.json").read_text()
    base = ["--pairs", str(trained / "pairs.npz"), "--epochs", "1", "--out", str(tmp_path / "run")]
    for path, why in odd_files.values():
        with pytest.raises(ValueError, match=why):
            read_small_text(path)
        one_line_error(capsys, train_cli.main(base + ["--config", str(path)]), f"cannot read --config {path} ({why})")
        one_line_error(capsys, sample.main(["--reproduce", str(path)]), f"{path}: not a readable sidecar ({why})")
    assert not (tmp_path / "run").exists()


def test_resume_with_nothing_to_resume_is_a_one_line_error_and_changes_nothing(trained, tmp_path, capsys):
    pairs, cfg = trained / "pairs.npz", trained / "cfg.json"
    base = ["--pairs", str(pairs), "--config", str(cfg), "--epochs", "1", "--batch-size", "12", "--quiet", "--resume"]
    finished = tmp_path / "finished"  # a finished run whose checkpoint/ was deleted
    shutil.copytree(trained / "model", finished)
    shutil.rmtree(finished / "checkpoint")
    unrelated = tmp_path / "unrelated"
    unrelated.mkdir()
    (unrelated / "notes.txt").write_text("mine")
    (unrelated / "metrics.jsonl").write_text("{}\n")
    (tmp_path / "empty").mkdir()
    cases = [(finished, "it holds a saved model but no checkpoint"), (unrelated, "it holds neither"),
             (tmp_path / "empty", "it is empty"), (tmp_path / "missing", "it does not exist")]
    for folder, reason in cases:
        before = digest(folder) if folder.exists() else None
        one_line_error(capsys, train_cli.main(base + ["--out", str(folder)]), f"nothing to resume in {folder}: {reason}")
        assert (digest(folder) if folder.exists() else None) == before
    assert not (tmp_path / "missing").exists() and not any((tmp_path / "empty").iterdir())


def test_wrong_value_types_and_stray_sections_in_a_config_file_are_one_line_errors(trained, tmp_path, capsys):
    """A misspelt section ({"model": ..., "train": ...}) or a flat setting beside the sections
    was ignored, and the run trained on the defaults without a word; a saved config.json, with
    the record of its run beside its settings, is still a --config."""
    from cdvae_core.config import RUN_RECORD_KEYS

    pairs = trained / "pairs.npz"
    saved = json.loads((trained / "model" / "config.json").read_text())
    assert set(saved) == {"model", "training", *RUN_RECORD_KEYS}
    assert train_cli.read_config_file(str(trained / "model" / "config.json")) == (saved["model"], saved["training"])
    cases = [({"model": {}, "train": {"epochs": 1}}, "unknown section(s) train; a file with sections holds"),
             ({"training": {"epochs": 1}, "epochs": 1}, "unknown section(s) epochs; a file with sections holds"),
             ({**saved, "notes": "mine", "modle": {}}, "unknown section(s) modle, notes;"),
             ({"training": {"epochs": "3"}}, "TrainConfig setting epochs must be an int, got '3'"),
             ({"model": {"latent_sizes": "abc"}}, "ModelConfig setting latent_sizes must be a list of ints"),
             ({"model": {"latent_sizes": [8, 4.5]}}, "latent_sizes must be a list of ints"),
             ({"training": {"lr": True}}, "lr must be a number"),
             ({"epochs": None}, "epochs must be an int, got None"),
             ({"model": [1, 2]}, "'model' and 'training' must be JSON objects"),
             ({"model": {"tie_conditional": "raw"}}, "tie_conditional must be 'exact', 'paper' or 'auto', got 'raw'")]
    refused_configs(capsys, tmp_path, pairs, cases)
    # an int where a float is expected is fine and stored as a float
    (tmp_path / "ok.json").write_text(json.dumps({"training": {"lr": 1, "kl_warmup_epochs": 2}}))
    args = train_cli.build_parser().parse_args(["--pairs", str(pairs), "--config", str(tmp_path / "ok.json"), "--out", "o"])
    _, train_cfg = train_cli.settings(args, load_pairs(pairs))
    assert isinstance(train_cfg.lr, float) and train_cfg.kl_warmup_epochs == 2.0
    # a wrong value that a flag replaces is still refused (it went unsaid), and a key given twice
    (tmp_path / "typed.json").write_text(json.dumps({"epochs": "2"}))
    one_line_error(capsys, train_cli.main(["--pairs", str(pairs), "--config", str(tmp_path / "typed.json"),
                                           "--epochs", "1", "--out", str(tmp_path / "typed")]),
                   "TrainConfig setting epochs must be an int, got '2'")
    (tmp_path / "twice.json").write_text('{"epochs": 1, "epochs": 2}')
    one_line_error(capsys, train_cli.main(["--pairs", str(pairs), "--config", str(tmp_path / "twice.json"),
                                           "--out", str(tmp_path / "twice")]), "setting 'epochs' is given twice")
    assert not (tmp_path / "typed").exists() and not (tmp_path / "twice").exists()


def test_typed_settings_read_lists_of_any_length_as_their_annotation_says():
    """list[X] took a list of exactly one item (it was read as tuple[X]), so a settings class with
    a list field, such as the Studio's sessions, refused every code longer than one number."""
    from dataclasses import dataclass

    from cdvae_core.config import ConfigError, typed_from_dict

    @dataclass
    class Holder:
        values: list[float]
        sizes: tuple[int, ...] = ()
        pair: tuple[int, str] = (0, "")

    assert typed_from_dict(Holder, {"values": [1, 0.5, 2], "sizes": [3, 4]}) == Holder([1.0, 0.5, 2.0], (3, 4))
    assert typed_from_dict(Holder, {"values": []}).values == []
    assert typed_from_dict(Holder, {"values": [1], "pair": [2, "b"]}).pair == (2, "b")
    for bad in ({"values": [1, "x"]}, {"values": 1.0}, {"values": [True]}, {"values": [], "pair": [1]},
                {"values": [], "sizes": [1.5]}):
        with pytest.raises(ConfigError, match="Holder setting"):
            typed_from_dict(Holder, bad)


def test_bad_schedule_values_are_refused_before_anything_is_written(trained, tmp_path, capsys):
    base = ["--pairs", str(trained / "pairs.npz"), "--config", str(trained / "cfg.json"), "--quiet"]
    cases = [(["--guidance-end", "-1"], "guidance_end must be positive"),
             (["--guidance-start", "-2"], "guidance_start must be a number >= 0"),
             (["--guidance-epochs", "-1"], "guidance_epochs must be a number >= 0"),
             (["--kl-warmup", "-1"], "kl_warmup_epochs must be a number >= 0"),
             (["--ladder-warmup", "nan"], "lower_warmup_epochs must be a number >= 0"),
             (["--epochs", "0"], "epochs and batch_size must be at least 1"),
             (["--batch-size", "0"], "epochs and batch_size must be at least 1"),
             (["--lr", "0"], "lr must be a positive number"),
             (["--threads", "-1"], "num_threads")]
    for flags, needle in cases:
        one_line_error(capsys, train_cli.main(base + flags + ["--out", str(tmp_path / "run")]), needle)
        assert not (tmp_path / "run").exists()  # so the corrected command can use the same --out


def test_counts_past_any_sensible_run_are_refused_at_once(trained, tmp_path, capsys):
    """Found by giving every numeric flag 0, -1, NaN, inf, 1e308, 2^70 and text (session 18):
    --nll-k 2^70 ran for ever, and 2^70 seeds, threads or workers were tracebacks."""
    model, pairs = str(trained / "model"), str(trained / "pairs.npz")
    huge = str(2**70)
    for main, argv, needle in (
            (evaluate.main, ["--model", model, "--pairs", pairs, "--nll-k", huge], "--nll-k must lie in [0, 10000]"),
            (evaluate.main, ["--model", model, "--pairs", pairs, "--samples", f"3,{huge}"], "--samples must lie in [1, 10000]"),
            (sample.main, ["--model", model, "--pairs", pairs, "--n", huge, "--out", str(tmp_path / "s.npz")],
             "--n must lie in [1, 10000]"),
            (sample.main, ["--model", model, "--pairs", pairs, "--n", "0", "--out", str(tmp_path / "s.npz")],
             "--n must lie in [1, 10000], got 0"),
            (sample.main, ["--model", model, "--pairs", pairs, "--n", "2", "--seed", huge, "--out", str(tmp_path / "s.npz")],
             "--seed must lie in [0, 2^62)"),
            (evaluate.main, ["--model", model, "--pairs", pairs, "--seed", "-1"], "--seed must lie in [0, 2^62), got -1"),
            (train_cli.main, ["--pairs", pairs, "--config", str(trained / "cfg.json"), "--seed", huge, "--out",
                              str(tmp_path / "run")], "seed must lie in [0, 2^63)"),
            (train_cli.main, ["--pairs", pairs, "--config", str(trained / "cfg.json"), "--threads", huge, "--out",
                              str(tmp_path / "run")], "at most 4096")):
        one_line_error(capsys, main(argv), needle)
    assert not any(tmp_path.iterdir())


def test_help_states_the_dataclass_defaults():
    helps = {a.dest: a.help for a in train_cli.build_parser()._actions}
    for dest, value in (("guidance_end", TrainConfig.guidance_end), ("guidance_start", TrainConfig.guidance_start),
                        ("guidance_epochs", TrainConfig.guidance_epochs), ("kl_warmup", TrainConfig.kl_warmup_epochs),
                        ("ladder_warmup", TrainConfig.lower_warmup_epochs), ("epochs", TrainConfig.epochs),
                        ("batch_size", TrainConfig.batch_size), ("lr", TrainConfig.lr), ("seed", TrainConfig.seed),
                        ("mixtures", ModelConfig.mixtures), ("layers", len(ModelConfig.latent_sizes)),
                        ("tie", ModelConfig.tie), ("arch", ModelConfig.arch), ("device", TrainConfig.device)):
        shown = f"{value:g}" if isinstance(value, float) else str(value)
        assert any(f"default {shown}{end}" in helps[dest] for end in ");,"), (dest, helps[dest])
    from cdvae_core.config import MOTION_HELD_GUIDANCE

    assert f"motion {MOTION_HELD_GUIDANCE:g};" in helps["guidance_start"] and "motion" in helps["guidance_end"]


def test_flags_the_chosen_model_would_ignore_are_refused(trained, tmp_path, capsys):
    pairs, model = trained / "pairs.npz", trained / "model"
    base = ["--pairs", str(pairs), "--config", str(trained / "cfg.json"), "--quiet", "--out", str(tmp_path / "run")]
    cases = [(["--arch", "cvae", "--tie", "mdn"], "--tie does not apply to the CVAE baseline"),
             (["--arch", "cvae", "--mixtures", "4"], "--mixtures does not apply to the CVAE"),
             (["--arch", "cvae", "--layers", "2"], "--layers does not apply to the CVAE"),
             (["--arch", "cvae", "--ladder-warmup", "2"], "--ladder-warmup does not apply to the CVAE"),
             (["--arch", "cvae", "--guidance-end", "0.5"], "--guidance-end does not apply to the CVAE"),
             (["--arch", "cvae", "--tie", "none", "--layers", "1"], "--tie, --layers do not apply"),
             (["--mixtures", "12"], "--mixtures goes with --tie mdn; the 'gauss' tie"),
             (["--tie", "gauss", "--mixtures", "12"], "--mixtures goes with --tie mdn"),
             (["--tie", "none", "--mixtures", "12"], "--mixtures goes with --tie mdn; the 'none' tie"),
             (["--arch", "cvae", "--top-skip"], "--top-skip does not apply to the CVAE"),
             (["--top-skip"], "top_skip needs the CDVAE with 3 or more latent layers"),  # cfg.json: 2 layers
             (["--limit", "10"], "--limit goes with --builtin or --folder")]
    for flags, needle in cases:
        one_line_error(capsys, train_cli.main(base + flags), needle)
        assert not (tmp_path / "run").exists()
    # the same flags where they apply
    parse = train_cli.build_parser().parse_args
    for flags in (["--tie", "mdn", "--mixtures", "12"], ["--arch", "cvae", "--kl-warmup", "2"], ["--layers", "1"]):
        train_cli.settings(parse(["--pairs", str(pairs), "--out", "o"] + flags), load_pairs(pairs))
    model_cfg, _ = train_cli.settings(parse(["--pairs", str(pairs), "--out", "o", "--layers", "3", "--top-skip"]),
                                      load_pairs(pairs))
    assert model_cfg.top_skip and model_cfg.layers == 3
    one_line_error(capsys, evaluate.main(["--model", str(model), "--pairs", str(pairs), "--sigma", "2"]),
                   "--sigma goes with --nearest-neighbour")
    for flag in ("--seed", "--nll-k"):  # the baseline would silently ignore them
        one_line_error(capsys, evaluate.main(["--nearest-neighbour", "--pairs", str(pairs), flag, "3"]),
                       f"{flag} goes with --model")
    one_line_error(capsys, sample.main(["--model", str(model), "--pairs", str(pairs), "--n", "2", "--out",
                                        str(tmp_path / "s.npz"), "--format", "jpg"]), "--format goes with --image")
    assert not (tmp_path / "s.npz").exists()


def test_resume_from_a_damaged_checkpoint_is_a_one_line_error_and_changes_nothing(trained, tmp_path, capsys):
    """A checkpoint that lost its guidance targets used to train on and fail only at the end (a
    KeyError traceback after the weights were overwritten); one that lost optimizer tensors failed
    with a KeyError traceback."""
    pairs, cfg = trained / "pairs.npz", trained / "cfg.json"
    base = ["--pairs", str(pairs), "--config", str(cfg), "--epochs", "2", "--batch-size", "12", "--quiet", "--resume"]
    for name, dropped, needle in (("targets", "target.", "guidance target 'lpp_all' is missing"),
                                  ("optimizer", "opt.", "incomplete or damaged (missing or malformed 'opt.")):
        run = tmp_path / name
        shutil.copytree(trained / "model", run)
        state = run / "checkpoint" / "state.safetensors"
        with safe_open(str(state), framework="pt") as handle:
            metadata = handle.metadata()
        tensors = {k: v for k, v in load_file(str(state)).items() if not k.startswith(dropped)}
        save_file(tensors, str(state), metadata=metadata)
        before = digest(run)
        one_line_error(capsys, train_cli.main(base + ["--out", str(run)]), needle)
        assert digest(run) == before
    # an edited header (session 18 edited its every key: 650 checkpoints): an optimizer setting
    # that was a TypeError or KeyError in the first step, or NaN that trained on; counters that
    # failed in range() or overflowed
    for name, edit, needle in (
            ("lr", lambda h: h["optimizer"]["param_groups"][0].update(lr="x"), "its optimizer settings"),
            ("eps_nan", lambda h: h["optimizer"]["param_groups"][0].update(eps=float("nan")), "its optimizer settings"),
            ("betas", lambda h: h["optimizer"]["param_groups"][0].pop("betas"), "its optimizer settings"),
            ("epoch", lambda h: h.update(epoch=-1), "epoch must be a whole number >= 0, got -1"),
            ("step", lambda h: h.update(step=2**70), "step must be a whole number >= 0"),
            ("spike_run", lambda h: h["meta"].update(spike_run="x"), 'meta.spike_run must be a whole number >= 0, got "x"'),
            ("skip_streak", lambda h: h["meta"].update(skip_streak=-2), "meta.skip_streak must be a whole number >= 0"),
            ("streak_start", lambda h: h["meta"].update(skip_streak_start=1.5),
             "meta.skip_streak_start must be a whole number >= 0 or null, got 1.5"),
            ("streak_finite", lambda h: h["meta"].update(skip_streak_finite="false"),
             'meta.skip_streak_finite must be true or false, got "false"')):
        run = tmp_path / name
        shutil.copytree(trained / "model", run)
        state = run / "checkpoint" / "state.safetensors"
        with safe_open(str(state), framework="pt") as handle:
            header = json.loads(handle.metadata()["state"])
        header["epoch"] = 0  # mid-run: the resume has an epoch to train
        edit(header)
        save_file(load_file(str(state)), str(state), metadata={"state": json.dumps(header)})
        before = digest(run)
        one_line_error(capsys, train_cli.main(base + ["--out", str(run)]), needle)
        assert digest(run) == before


def test_split_values_are_checked_before_the_int8_cast(tmp_path):
    for name, split in (("wrap", np.where(np.arange(48) >= 36, 257, 256).astype(np.int16)),
                        ("half", np.full(48, 0.5)), ("minus", np.full(48, -1, np.int64))):
        with pytest.raises(PairFileError, match="'split' may hold only 0 \\(train\\) and 1 \\(test\\)"):
            load_pairs(write_pairs(tmp_path / f"{name}.npz", split=split))
    wide = load_pairs(write_pairs(tmp_path / "wide.npz", split=(np.arange(48) >= 36).astype(np.int64)))
    assert wide.split.dtype == np.int8 and int(wide.split.sum()) == 12


def test_sample_batch_gives_what_cdvae_sample_writes(trained, tmp_path):
    model, pairs_path = trained / "model", trained / "pairs.npz"
    out = tmp_path / "s.npz"
    # 200 samples per image: 10 images per batch, so the 12 test pairs take two batches
    assert sample.main(["--model", str(model), "--pairs", str(pairs_path), "--n", "200", "--seed", "3",
                        "--out", str(out)]) == 0
    with np.load(out) as data:
        written, index = data["samples"], data["index"]
    predictor = load_model(model)
    got = predictor.sample_batch(load_pairs(pairs_path).xc[index], 200, seed=3)
    assert got.shape == (12, 200, 1, 32, 32) and got.dtype == np.float32
    np.testing.assert_array_equal(got, written)
    assert not np.array_equal(predictor.sample_batch(load_pairs(pairs_path).xc[index[:2]], 3, seed=4),
                              written[:2, :3])
    with pytest.raises(ValueError, match="x_c must have shape"):
        predictor.sample_batch(np.zeros((2, 3, 32, 32), np.float32), 2, seed=0)


def test_eval_and_sample_refuse_bad_input(trained, tmp_path, capsys):
    model, pairs = trained / "model", trained / "pairs.npz"
    no_test = write_pairs(tmp_path / "no_test.npz", split=np.zeros(48, np.int8))
    one_line_error(capsys, evaluate.main(["--model", str(model), "--pairs", str(no_test)]), "no test split")
    one_line_error(capsys, sample.main(["--model", str(model), "--pairs", str(no_test), "--n", "2", "--out",
                                        str(tmp_path / "s.npz")]), "no test split")
    one_line_error(capsys, evaluate.main(["--model", str(tmp_path), "--pairs", str(pairs)]), "has no config.json")
    one_line_error(capsys, evaluate.main(["--model", str(model), "--pairs", str(pairs), "--samples", "3,x"]),
                   "comma-separated")
    (tmp_path / "file").write_text("x")
    one_line_error(capsys, evaluate.main(["--model", str(model), "--pairs", str(pairs), "--json",
                                          str(tmp_path / "file" / "e.json")]), "not a directory")
    one_line_error(capsys, sample.main(["--model", str(model), "--pairs", str(pairs), "--n", "2", "--out", ""]),
                   "--out is empty")
    rgb = write_pairs(tmp_path / "rgb.npz", xc=np.zeros((48, 3, 32, 32), np.float32))
    one_line_error(capsys, sample.main(["--model", str(model), "--pairs", str(rgb), "--n", "2", "--out",
                                        str(tmp_path / "s.npz")]), "the model expects 1+1")
    relighting = write_pairs(tmp_path / "relighting.npz", xc=np.zeros((48, 3, 32, 32), np.float32),
                             meta=np.array(json.dumps({"task": "relighting"})))
    for command, out in ((evaluate, []), (sample, ["--n", "2", "--out", str(tmp_path / "s.npz")])):
        one_line_error(capsys, command.main(["--model", str(model), "--pairs", str(relighting), *out]),
                       "the pair file was made for relighting, not resaturation")
    scaled = write_pairs(tmp_path / "scaled.npz", xg=np.full((48, 1, 32, 32), 128.0, np.float32))
    for command, out in ((evaluate, []), (sample, ["--n", "2", "--out", str(tmp_path / "s.npz")])):
        # 0-255 layers: best errors of 1e39, and samples of them without a word
        one_line_error(capsys, command.main(["--model", str(model), "--pairs", str(scaled), *out]),
                       "these pairs do not fit resaturation: 'xg' values lie in [128, 128]")
    assert not (tmp_path / "s.npz").exists()


def test_outputs_never_replace_the_commands_inputs_or_files_of_other_kinds(trained, tmp_path, capsys):
    """cdvae-eval --json replaced any file, its own --pairs and the model's config.json among
    them; cdvae-sample --out P --overwrite replaced --pairs P with the samples; cdvae-prepare
    replaced an existing pair file without a word."""
    from cdvae_core.cli import prepare

    model = tmp_path / "model"
    shutil.copytree(trained / "model", model)
    pairs = tmp_path / "pairs.npz"
    shutil.copy(trained / "pairs.npz", pairs)
    kept = {p: p.read_bytes() for p in (pairs, model / "config.json", model / "weights.safetensors")}
    flags = ["--model", str(model), "--pairs", str(pairs), "--samples", "3", "--nll-k", "0"]
    one_line_error(capsys, evaluate.main([*flags, "--json", str(pairs)]), f"would overwrite --pairs {pairs}")
    one_line_error(capsys, evaluate.main([*flags, "--json", str(model / "config.json")]),
                   f"would overwrite --model {model}")
    notes = tmp_path / "notes.json"
    notes.write_text('{"mine": 1}')
    one_line_error(capsys, evaluate.main([*flags, "--json", str(notes)]), "exists and is no cdvae-eval result")
    assert notes.read_text() == '{"mine": 1}'
    result = tmp_path / "e.json"
    for _ in range(2):  # an earlier result is replaced, as before
        assert evaluate.main([*flags, "--json", str(result)]) == 0
    assert evaluate.main([*flags, "--json", str(model / "eval.json")]) == 0  # beside the model's files: fine
    capsys.readouterr()
    for out in (pairs, model / "weights.safetensors"):
        one_line_error(capsys, sample.main(["--model", str(model), "--pairs", str(pairs), "--n", "2", "--out",
                                            str(out), "--overwrite"]), "would overwrite --")
    assert all(path.read_bytes() == data for path, data in kept.items())

    import cv2

    from cdvae_core.data import builtin_images

    folder = tmp_path / "photos"
    folder.mkdir()
    for k, (_, image) in enumerate(builtin_images()[:4]):
        cv2.imwrite(str(folder / f"p{k}.png"), cv2.resize(image, (48, 40)))
    made = tmp_path / "made.npz"
    made.write_bytes(b"an earlier pair file")
    args = ["--task", "resaturation", "--folder", str(folder), "--out", str(made), "--quiet"]
    one_line_error(capsys, prepare.main(args), f"--out {made} exists: pass --overwrite to replace it")
    assert made.read_bytes() == b"an earlier pair file"
    assert prepare.main([*args, "--overwrite"]) == 0 and len(load_pairs(made)) > 0


def test_eval_json_and_samples_follow_the_contract(trained, tmp_path):
    model, pairs_path = trained / "model", trained / "pairs.npz"
    out = tmp_path / "s.npz"
    assert sample.main(["--model", str(model), "--pairs", str(pairs_path), "--n", "7", "--out", str(out)]) == 0
    with np.load(out) as data:
        samples, index = data["samples"], data["index"]
    pairs = load_pairs(pairs_path)
    assert samples.shape == (12, 7, 1, 32, 32) and samples.dtype == np.float32
    np.testing.assert_array_equal(index, np.flatnonzero(pairs.split == 1))
    assert np.isfinite(samples).all() and samples.std(axis=1).mean() > 0  # samples differ

    js = tmp_path / "e.json"
    assert evaluate.main(["--model", str(model), "--pairs", str(pairs_path), "--samples", "3,7", "--json", str(js),
                          "--nll-k", "4"]) == 0
    result = json.loads(js.read_text())
    assert set(result["best_error"]) == {"3", "7"} and result["best_error"]["7"] <= result["best_error"]["3"]
    assert result["variance"] > 0 and np.isfinite(result["nll"]) and result["method"] == "Gauss"
    assert result["seed"] == 0  # the default seed of the samples

    nn_json = tmp_path / "nn.json"
    assert evaluate.main(["--nearest-neighbour", "--pairs", str(pairs_path), "--samples", "3,10", "--json",
                          str(nn_json)]) == 0  # 36 training pairs: the variance is over 36 samples
    assert json.loads(nn_json.read_text())["samples_drawn"] == 36
    big = write_pairs(tmp_path / "big.npz", n=120)
    assert evaluate.main(["--nearest-neighbour", "--pairs", str(big), "--samples", "3,10", "--json", str(nn_json)]) == 0
    nn = json.loads(nn_json.read_text())
    data = load_pairs(big)
    train, test = data.train(), data.test()
    ref = NearestNeighbour.fit(train.xc, train.xg).sample(test.xc, 100)
    assert nn["best_error"]["10"] == pytest.approx(best_error(ref, test.xg, [10])[10], rel=1e-9)
    assert nn["variance"] == pytest.approx(grid_variance(ref), rel=1e-9) and nn["nll"] is None
    assert nn["seed"] is None  # was 0, although the baseline uses no seed


def test_eval_and_sample_conditional_draw_as_an_edited_config_would(trained, tmp_path, capsys):
    """--conditional draws from the other p(z_g | z_c) without copying the model to edit its
    config.json (docs/model.md compares the two); the JSON says which one drew the samples."""
    model, pairs_path = trained / "model", trained / "pairs.npz"
    edited = tmp_path / "paper"
    shutil.copytree(model, edited)
    config = json.loads((edited / "config.json").read_text())
    assert config["model"]["tie_conditional"] == "exact"  # the Gaussian tie's default
    config["model"]["tie_conditional"] = "paper"
    (edited / "config.json").write_text(json.dumps(config))
    results = {}
    for name, argv in (("own", ["--model", str(model)]), ("flag", ["--model", str(model), "--conditional", "paper"]),
                       ("edited", ["--model", str(edited)])):
        js = tmp_path / f"{name}.json"
        assert evaluate.main(argv + ["--pairs", str(pairs_path), "--samples", "3,10", "--nll-k", "4", "--quiet",
                                     "--json", str(js)]) == 0
        results[name] = json.loads(js.read_text())
    flag, edited_run, own = results["flag"], results["edited"], results["own"]
    assert (own["conditional"], flag["conditional"], edited_run["conditional"]) == ("exact", "paper", "paper")
    assert flag["method"] == "Gauss paper" and edited_run["method"] == "Gauss"
    for key in ("best_error", "variance", "nll"):
        assert flag[key] == edited_run[key]
    assert flag["best_error"] != own["best_error"] and flag["nll"] != own["nll"]
    capsys.readouterr()
    one_line_error(capsys, evaluate.main(["--nearest-neighbour", "--pairs", str(pairs_path), "--conditional", "exact"]),
                   "--conditional goes with --model")
    one_line_error(capsys, evaluate.main(["--model", str(model), "--pairs", str(pairs_path), "--conditional", "raw"]),
                   "invalid choice")

    # cdvae-sample --conditional: the samples and exports of the edited model, sidecars saying so
    import cv2

    for name, argv in (("flag", ["--model", str(model), "--conditional", "paper"]), ("edited", ["--model", str(edited)])):
        assert sample.main(argv + ["--pairs", str(pairs_path), "--n", "3", "--out", str(tmp_path / f"{name}.npz")]) == 0
    with np.load(tmp_path / "flag.npz") as flag_npz, np.load(tmp_path / "edited.npz") as edited_npz:
        np.testing.assert_array_equal(flag_npz["samples"], edited_npz["samples"])
    cv2.imwrite(str(tmp_path / "photo.png"), (np.random.default_rng(1).random((48, 64, 3)) * 255).astype(np.uint8))
    for name, argv in (("flag", ["--model", str(model), "--conditional", "paper"]), ("edited", ["--model", str(edited)]),
                       ("own", ["--model", str(model)])):
        assert sample.main(argv + ["--image", str(tmp_path / "photo.png"), "--n", "2", "--export",
                                   str(tmp_path / f"export_{name}")]) == 0
    sides = {name: json.loads((tmp_path / f"export_{name}" / "photo_001.json").read_text())
             for name in ("flag", "edited", "own")}
    assert [sides[n]["model"]["config"]["tie_conditional"] for n in ("flag", "edited", "own")] == ["paper", "paper", "exact"]
    assert sides["flag"]["code"] == sides["edited"]["code"] != sides["own"]["code"]
    capsys.readouterr()
    one_line_error(capsys, sample.main(["--reproduce", str(tmp_path / "export_flag" / "photo_001.json"),
                                        "--conditional", "exact"]), "--conditional does not go with --reproduce")


def test_eval_distinct_scores_the_most_distinct_of_a_pool_in_a_row_of_its_own(trained, tmp_path, capsys):
    from cdvae_core.distinct import distinct_indices

    model, pairs_path = trained / "model", trained / "pairs.npz"
    js = tmp_path / "e.json"
    assert evaluate.main(["--model", str(model), "--pairs", str(pairs_path), "--samples", "3,5", "--json", str(js),
                          "--nll-k", "0", "--distinct", "12", "--seed", "4"]) == 0
    table = capsys.readouterr().out
    result = json.loads(js.read_text())
    assert result["distinct_pool"] == 12 and set(result["best_error_distinct"]) == {"3", "5"}
    assert "Gauss distinct/12" in table.splitlines()[-1]
    # by hand: pair i's 12 full samples (seed 4 + i), their 3 most distinct, the closest to the truth
    predictor, test = load_model(model), load_pairs(pairs_path).test()
    errors = []
    for i, (xc, xg) in enumerate(zip(test.xc, test.xg)):
        cond = predictor.prepare(xc)
        samples = predictor.decode(cond, *predictor.draw(cond, 12, 4 + i)).astype(np.float64)
        rows, _ = distinct_indices(samples, 3, 4 + i)
        errors.append(min(((samples[r] - xg) ** 2).mean() for r in rows))
    assert result["best_error_distinct"]["3"] == pytest.approx(np.mean(errors), rel=1e-6)
    one_line_error(capsys, evaluate.main(["--model", str(model), "--pairs", str(pairs_path), "--samples", "3,30",
                                          "--distinct", "16"]), "the pool must hold at least the largest N (30)")
    one_line_error(capsys, evaluate.main(["--nearest-neighbour", "--pairs", str(pairs_path), "--distinct"]),
                   "--distinct goes with --model")
    one_line_error(capsys, evaluate.main(["--model", str(model), "--pairs", str(pairs_path), "--samples", "3",
                                          "--distinct", "5000"]), "at most 4096 draws are clustered")


def test_eval_json_creates_missing_folders_and_says_so(tmp_path, capsys):
    """cdvae-eval --json made missing parent folders without its --help or docs saying so."""
    assert "missing parent folders are created" in " ".join(evaluate.build_parser().format_help().split())
    pairs = write_pairs(tmp_path / "pairs.npz", n=120)
    out = tmp_path / "tables" / "nn" / "e.json"
    assert evaluate.main(["--nearest-neighbour", "--pairs", str(pairs), "--samples", "3", "--json", str(out)]) == 0
    assert json.loads(out.read_text())["method"] == "NN"
    assert capsys.readouterr().err.strip() == f"wrote {out}"


def test_resume_after_sigkill_matches_an_unbroken_run(tmp_path):
    pairs = write_pairs(tmp_path / "pairs.npz")
    cfg = write_config(tmp_path / "cfg.json")
    args = ["--pairs", str(pairs), "--config", str(cfg), "--epochs", "4", "--batch-size", "6", "--quiet"]
    assert train_cli.main(args + ["--out", str(tmp_path / "whole")]) == 0

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, str(ROOT / "train.py"), *args, "--out", str(tmp_path / "killed")],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    metrics = tmp_path / "killed" / "metrics.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if metrics.exists() and metrics.read_text().count("\n") >= 1:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert 1 <= load_state(tmp_path / "killed").epoch < 4
    assert train_cli.main(args + ["--out", str(tmp_path / "killed"), "--resume"]) == 0
    a = load_file(str(tmp_path / "whole" / "weights.safetensors"))
    b = load_file(str(tmp_path / "killed" / "weights.safetensors"))
    assert a.keys() == b.keys()
    assert max(float((a[k] - b[k]).abs().max()) for k in a if a[k].is_floating_point()) <= 1e-6


def test_sigterm_stops_training_as_ctrl_c_does_and_the_run_resumes(tmp_path, capsys, monkeypatch):
    """SIGTERM (kill, a job scheduler's time limit) ended cdvae-train on the spot, without the
    Ctrl-C message that its last finished epoch is kept. Now: the generator is closed, one line
    says so, exit 143; the SIGTERM handler is put back; --resume finishes the run."""
    before = signal.getsignal(signal.SIGTERM)
    pairs = write_pairs(tmp_path / "pairs.npz")
    cfg = write_config(tmp_path / "cfg.json")
    args = ["--pairs", str(pairs), "--config", str(cfg), "--epochs", "3", "--batch-size", "12", "--quiet",
            "--out", str(tmp_path / "run")]
    shown = train_cli.Display.__call__

    def terminated_after_the_first_epoch(self, record):
        shown(self, record)
        if record.stage == "epoch" and record.done == 1:
            os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(train_cli.Display, "__call__", terminated_after_the_first_epoch)
    assert train_cli.main(args) == 143
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"cdvae-train: terminated; epoch 1 is kept in {tmp_path / 'run'} "
                   "(continue with --resume)"], err
    assert signal.getsignal(signal.SIGTERM) is before
    assert load_state(tmp_path / "run").epoch == 1
    monkeypatch.undo()
    assert train_cli.main(args + ["--resume"]) == 0 and load_state(tmp_path / "run").epoch == 3


QUALITY = {"latent_sizes": [32, 16], "hidden_sizes": [64, 32], "conv_channels": [8, 16, 16], "mdn_hidden": 64}


def train_known_modes(root: Path, family: str, epochs: int, model: dict, flags: list[str]) -> tuple:
    """Train on 1000 known-mode pairs (10% test) through the commands only -> (model dir, pairs
    file, the test split, the eval JSON with best-of-3/30/100 errors)."""
    root.mkdir(parents=True, exist_ok=True)
    pairs = make_mode_pairs(1000, modes=4, classes=2, test_fraction=0.1, seed=0, family=family)
    save_pairs(root / "pairs.npz", pairs)
    (root / "cfg.json").write_text(json.dumps({"model": model, "training": {
        "num_threads": 1, "kl_warmup_epochs": 3, "guidance_start": 10.0, "guidance_end": 1.0, "guidance_epochs": epochs}}))
    out = root / "model"
    assert train_cli.main(["--pairs", str(root / "pairs.npz"), "--config", str(root / "cfg.json"), *flags,
                           "--epochs", str(epochs), "--batch-size", "64", "--lr", "2e-3", "--out", str(out),
                           "--quiet"]) == 0
    assert evaluate.main(["--model", str(out), "--pairs", str(root / "pairs.npz"), "--samples", "3,30,100",
                          "--json", str(root / "e.json"), "--nll-k", "0"]) == 0
    return out, root / "pairs.npz", pairs.test(), json.loads((root / "e.json").read_text())


KNOWN_MODES_TEST = "test_known_modes_are_found_through_the_commands"
# the baseline the rotated cases compare with, at test size; at lr 2e-3 it trains in every seed
# since the spike guard lets high-norm steps through (docs/training.md)
CVAE_RUN = ("cvae", "rotated", 40)


def _warnings_are_errors() -> None:
    """A training worker's warnings from our packages fail it, as pyproject's filterwarnings
    makes them fail a test."""
    import warnings

    for package in ("cdvae_core", "cdvae_studio"):
        warnings.filterwarnings("error", module=package)


@pytest.fixture(scope="module")
def known_mode_runs(request, tmp_path_factory):
    """The trainings of the known-mode cases this session runs, and of the CVAE the rotated ones
    compare with, two at a time in worker processes, the longest first: each trains on one
    thread, and one after another they took 5.4 minutes on 2 cores, 42% of the whole suite; side
    by side 2.9 minutes (the suite: 13.0 -> 11.7 minutes on that machine). -> {(tie or "cvae", family, epochs): Future of train_known_modes'
    tuple}. The workers are spawned: the suite's Qt application must not be forked."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    cases = [tuple(item.callspec.params[name] for name in ("tie", "family", "epochs"))
             for item in request.session.items if item.originalname == KNOWN_MODES_TEST]
    runs = {case: (case[1], case[2], QUALITY, ["--tie", case[0]]) for case in cases}
    if any(family == "rotated" for _, family, _ in cases):
        runs[CVAE_RUN] = ("rotated", 40, {"conv_channels": [8, 16, 16]}, ["--arch", "cvae"])
    pool = ProcessPoolExecutor(max_workers=2, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_warnings_are_errors)
    futures = {case: pool.submit(train_known_modes, tmp_path_factory.mktemp("-".join(map(str, case))), *args)
               for case, args in sorted(runs.items(), key=lambda run: -run[1][1])}
    yield futures
    pool.shutdown(cancel_futures=True)


# Epochs from 4 training seeds each (docs/training.md, "Across training seeds"): on the rotated
# family one seed per tie fell under a bar at 25 epochs, none at 40; on the shared one seed 1 of
# the Gaussian tie at 150 (precision 0.44), none at 200
@pytest.mark.parametrize("tie,family,epochs", [("gauss", "rotated", 40), ("mdn", "rotated", 40),
                                               ("gauss", "shared", 200)])
def test_known_modes_are_found_through_the_commands(tmp_path, known_mode_runs, tie, family, epochs):
    """2 classes x 4 ramp directions (cdvae_core.synthetic), trained, evaluated and sampled through
    the commands only. "rotated": each class its own directions; "shared": the same directions,
    the class sets the brightness, so the choice among modes does not depend on x_c, as the
    Gaussian tie's prior assumes (it needs more epochs to cut its continuous untied code into 4
    modes). About 15-20 s per 25 epochs on an idle 2-core machine (40 s under load); the CVAE
    the rotated cases compare with, 55 s once. Trained two at a time (``known_mode_runs``)."""
    model, pairs_file, test, result = known_mode_runs[(tie, family, epochs)].result()
    assert sample.main(["--model", str(model), "--pairs", str(pairs_file), "--n", "30", "--out",
                        str(tmp_path / "s.npz")]) == 0
    with np.load(tmp_path / "s.npz") as data:
        samples = data["samples"]  # (N_test, 30, 1, 32, 32)
    report = mode_report(test.xc, samples, modes=4, classes=2, family=family)
    cm = conditional_mean_error(test)
    # the 30 samples of a pair hit (within the midpoint threshold) most of its class's modes; a
    # collapsed or mean-seeking model scores 0 here
    assert report["coverage"] >= 0.75, report
    # the bar: best-of-30 at most a third of the conditional-mean regressor's error
    assert result["best_error"]["30"] <= cm / 3, (result, cm)
    assert result["best_error"]["100"] <= result["best_error"]["30"]
    if family == "rotated":
        # and the other bar: best-of-100 below the CVAE's (4 seeds: Gauss 0.44-0.62x the
        # CVAE's median, MDN4 0.23-0.34x). Not asserted on "shared", whose modes do not depend on
        # x_c: there a CVAE is the right model and the Gaussian tie only matches it (1.10x)
        cvae = known_mode_runs[CVAE_RUN].result()[3]
        assert result["best_error"]["100"] < cvae["best_error"]["100"], (result, cvae)
    # samples should follow x_c: land nearer a mode of x_c's class than of the other class
    own_share = report["own_class"]
    if tie == "gauss" and family == "rotated" and own_share < 0.6:
        pytest.xfail(f"gauss: {own_share:.0%} of samples follow x_c's class: the Gaussian tie draws untied "
                     "components independently of x_c (docs/model.md, 'What the Gaussian tie cannot express')")
    assert own_share >= 0.6, own_share
    assert report["precision"] >= 0.5, report  # and rarely elsewhere
    if tie == "mdn":
        # distinct results: 4 of 128 draws per pair (--distinct) hit more of its modes than 4 plain
        # draws (one run: coverage 0.80 against 0.46), each mode about a quarter of the draws
        few = {}
        for name, extra in (("plain", []), ("distinct", ["--distinct", "128"])):
            assert sample.main(["--model", str(model), "--pairs", str(pairs_file), "--n", "4", *extra, "--out",
                                str(tmp_path / f"{name}.npz")]) == 0
            with np.load(tmp_path / f"{name}.npz") as data:
                few[name] = mode_report(test.xc, data["samples"], modes=4, classes=2, family=family)
                shares = data["shares"] if name == "distinct" else None
        assert few["distinct"]["coverage"] >= 0.7 and few["distinct"]["coverage"] > few["plain"]["coverage"] + 0.15, few
        assert shares.shape == (len(test.xc), 4) and np.allclose(shares.sum(1), 1.0, atol=1e-6)
        assert np.all(np.diff(shares, axis=1) <= 0)  # largest cluster first


def test_sample_image_exports_full_resolution_results(trained, tmp_path, capsys):
    import cv2

    photo = (np.random.default_rng(1).random((48, 64, 3)) * 255).astype(np.uint8)
    cv2.imwrite(str(tmp_path / "photo.png"), photo)
    out = tmp_path / "results"
    assert sample.main(["--model", str(trained / "model"), "--image", str(tmp_path / "photo.png"), "--n", "2",
                        "--export", str(out)]) == 0
    pictures = sorted(out.glob("photo_*.png"))
    assert len(pictures) == 2 and len(sorted(out.glob("photo_*.json"))) == 2
    assert cv2.imread(str(pictures[0])).shape == (48, 64, 3)  # full resolution, not 32x32
    assert json.loads((out / "photo_000.json").read_text())["settings"]["temperature"] == 1.0
    cool = tmp_path / "cool"
    assert sample.main(["--model", str(trained / "model"), "--image", str(tmp_path / "photo.png"), "--n", "2",
                        "--export", str(cool), "--temperature", "0.3"]) == 0
    side = json.loads((cool / "photo_001.json").read_text())
    assert side["settings"]["temperature"] == 0.3
    assert side["code"] != json.loads((out / "photo_001.json").read_text())["code"]  # the same draw, pulled in
    # default: full samples (lower layers drawn); --lower-means: the same codes, lower layers at their means
    drawn = json.loads((out / "photo_001.json").read_text())
    assert drawn["settings"]["lower_layers"] is True and len(drawn["lower_noise"]) == load_model(trained / "model").noise_dim > 0
    means = tmp_path / "means"
    assert sample.main(["--model", str(trained / "model"), "--image", str(tmp_path / "photo.png"), "--n", "2",
                        "--export", str(means), "--lower-means"]) == 0
    side = json.loads((means / "photo_001.json").read_text())
    assert side["settings"]["lower_layers"] is False and side["lower_noise"] is None
    assert side["code"] == drawn["code"]
    assert not np.array_equal(cv2.imread(str(means / "photo_001.png")), cv2.imread(str(out / "photo_001.png")))
    assert "--lower-means" in sample.build_parser().format_help()
    capsys.readouterr()
    one_line_error(capsys, sample.main(["--model", str(trained / "model"), "--image", str(tmp_path / "none.png"),
                                        "--n", "2", "--export", str(tmp_path / "r2")]), "no such image")
    one_line_error(capsys, sample.main(["--model", str(trained / "model"), "--image", str(tmp_path / "photo.png"),
                                        "--n", "2", "--export", str(tmp_path / "r3"), "--temperature", "3"]),
                   "--temperature must lie in")
    one_line_error(capsys, sample.main(["--model", str(trained / "model"), "--pairs", str(tmp_path / "x.npz"),
                                        "--n", "2", "--out", str(tmp_path / "s.npz"), "--temperature", "0.5"]),
                   "--temperature goes with --image")
    one_line_error(capsys, sample.main(["--model", str(trained / "model"), "--pairs", str(tmp_path / "x.npz"),
                                        "--n", "2", "--out", str(tmp_path / "s.npz"), "--lower-means"]),
                   "--lower-means goes with --image")
    assert not (tmp_path / "s.npz").exists()


def test_sample_distinct_exports_the_most_distinct_of_a_pool_with_their_shares(trained, tmp_path, capsys):
    import cv2

    from cdvae_core.postprocess.reproduce import reproduce
    from cdvae_core.postprocess.imagefiles import read_image
    from cdvae_core.postprocess.render import get_renderer

    photo = (np.random.default_rng(2).random((40, 56, 3)) * 255).astype(np.uint8)
    cv2.imwrite(str(tmp_path / "photo.png"), photo)
    model = trained / "model"
    assert sample.main(["--model", str(model), "--image", str(tmp_path / "photo.png"), "--n", "3", "--distinct", "24",
                        "--export", str(tmp_path / "out")]) == 0
    err = capsys.readouterr().err
    sides = [json.loads((tmp_path / "out" / f"photo_{i:03d}.json").read_text()) for i in range(3)]
    shares = [side["share"] for side in sides]
    assert sides[0]["distinct_pool"] == 24 and shares == sorted(shares, reverse=True)
    assert all(f"photo_{i:03d}.png: {share:.0%} of 24 samples" in err for i, share in enumerate(shares))
    # each is one of the pool's own draws, and reproduces exactly like any result
    predictor = load_model(model)
    xc = get_renderer(predictor.task, read_image(tmp_path / "photo.png")).xc_model  # as the export computes it
    pool, _ = predictor.draw(predictor.prepare(xc), 24, 0)
    for side in sides:
        assert any(np.array_equal(np.float32(side["code"]), row) for row in pool)
    again = reproduce(tmp_path / "out" / "photo_001.json")
    np.testing.assert_array_equal(again, cv2.imread(str(tmp_path / "out" / "photo_001.png"))[..., ::-1])
    # --pairs: the samples and their shares per test pair
    assert sample.main(["--model", str(model), "--pairs", str(trained / "pairs.npz"), "--n", "2", "--distinct", "8",
                        "--out", str(tmp_path / "d.npz")]) == 0
    with np.load(tmp_path / "d.npz") as data:
        assert data["samples"].shape[:2] == data["shares"].shape and data["shares"].shape[1] == 2
        np.testing.assert_allclose(data["shares"].sum(1), 1.0, atol=1e-6)
    assert "the largest cluster holds" in capsys.readouterr().err
    one_line_error(capsys, sample.main(["--model", str(model), "--image", str(tmp_path / "photo.png"), "--n", "8",
                                        "--distinct", "4", "--export", str(tmp_path / "few")]),
                   "the pool must hold at least the --n 8 results")
    assert not (tmp_path / "few").exists()
    one_line_error(capsys, sample.main(["--model", str(model), "--image", str(tmp_path / "photo.png"), "--n", "8",
                                        "--distinct", "100000", "--export", str(tmp_path / "many")]),
                   "at most 4096 draws are clustered")


def test_sample_image_folder_exports_every_photo_and_names_the_unreadable(trained, tmp_path, capsys):
    """--image FOLDER (docs/postprocess.md): n results per photo; a broken file is listed, exit 1."""
    import cv2

    folder = tmp_path / "photos"
    folder.mkdir()
    rng = np.random.default_rng(2)
    for name in ("a.png", "b.jpg"):
        cv2.imwrite(str(folder / name), (rng.random((40, 56, 3)) * 255).astype(np.uint8))
    (folder / "._a.png").write_bytes(b"\x00\x05\x16\x07 macOS resource fork")  # hidden: skipped, as prepare does
    out = tmp_path / "results"
    capsys.readouterr()
    assert sample.main(["--model", str(trained / "model"), "--image", str(folder), "--n", "2", "--export", str(out)]) == 0
    assert sorted(p.name for p in out.glob("*.png")) == ["a_000.png", "a_001.png", "b_000.png", "b_001.png"]
    assert len(list(out.glob("*.json"))) == 4
    assert "wrote 4 result(s) for 2 of 2 image(s)" in capsys.readouterr().err
    (folder / "c.png").write_bytes(b"not a png at all")
    assert sample.main(["--model", str(trained / "model"), "--image", str(folder), "--n", "1", "--export",
                        str(tmp_path / "again")]) == 1
    err = capsys.readouterr().err
    assert "for 2 of 3 image(s)" in err and f"skipped {folder / 'c.png'}: not a readable image" in err
    empty = tmp_path / "empty"
    empty.mkdir()
    one_line_error(capsys, sample.main(["--model", str(trained / "model"), "--image", str(empty), "--n", "1",
                                        "--export", str(tmp_path / "r4")]), "no image or video files")

def test_motion_pairs_train_in_model_units_with_orientation_unless_the_config_says_otherwise(tmp_path):
    from cdvae_core.cli.train import build_parser, settings

    pairs = load_pairs(write_pairs(tmp_path / "m.npz", xc=np.random.default_rng(0).random((48, 3, 32, 32), np.float32),
                                   xg=np.clip(np.random.default_rng(1).normal(0, 2, (48, 2, 32, 32)), -8, 8).astype(np.float32),
                                   meta=np.array(json.dumps({"task": "motion"}))))
    model, _ = settings(build_parser().parse_args(["--pairs", "m.npz", "--out", "o"]), pairs)
    assert model.task == "motion" and model.g_scale == 8.0 and model.channels_g == 2 and model.xc_orientation
    # a config file (e.g. an older model's) that says otherwise wins
    (tmp_path / "c.json").write_text(json.dumps({"model": {"g_scale": 1.0, "xc_orientation": False}}))
    model, _ = settings(build_parser().parse_args(["--pairs", "m.npz", "--out", "o", "--config", str(tmp_path / "c.json")]),
                        pairs)
    assert model.g_scale == 1.0 and not model.xc_orientation


def test_motion_holds_its_guidance_unless_the_flags_or_config_say_otherwise(tmp_path):
    """Motion's ladders hold their guidance at MOTION_HELD_GUIDANCE (docs/results.md, "Motion"); a
    start given alone is held too; an end given (flag or config) decays as for the other tasks, and
    so does a one-layer model's."""
    from cdvae_core.cli.train import build_parser, settings
    from cdvae_core.config import MOTION_HELD_GUIDANCE, TrainConfig

    rng = np.random.default_rng(0)
    motion = load_pairs(write_pairs(tmp_path / "m.npz", xc=rng.random((48, 3, 32, 32), np.float32),
                                    xg=np.clip(rng.normal(0, 2, (48, 2, 32, 32)), -8, 8).astype(np.float32),
                                    meta=np.array(json.dumps({"task": "motion"}))))
    photo = load_pairs(write_pairs(tmp_path / "r.npz", xc=rng.random((48, 1, 32, 32), np.float32),
                                   xg=rng.random((48, 1, 32, 32), np.float32),
                                   meta=np.array(json.dumps({"task": "resaturation"}))))

    def guidance(pairs, *flags):
        _, train = settings(build_parser().parse_args(["--pairs", "p.npz", "--out", "o", *flags]), pairs)
        return train.guidance_start, train.guidance_end, train.guidance_weight(0.0), train.guidance_weight(30.0)

    assert MOTION_HELD_GUIDANCE == 30.0
    assert guidance(motion) == (30.0, 30.0, 30.0, 30.0)
    assert guidance(motion, "--guidance-start", "5") == (5.0, 5.0, 5.0, 5.0)
    assert guidance(motion, "--guidance-end", "1")[:2] == (30.0, 1.0)
    assert guidance(motion, "--guidance-start", "0")[2:] == (0.0, 0.0)  # off stays off
    (tmp_path / "c.json").write_text(json.dumps({"training": {"guidance_start": 10.0, "guidance_end": 1.0}}))
    assert guidance(motion, "--config", str(tmp_path / "c.json"))[:2] == (10.0, 1.0)  # e.g. an older run's
    assert guidance(photo) == (TrainConfig.guidance_start, TrainConfig.guidance_end, 10.0, 1.0)
    assert guidance(motion, "--layers", "1")[:2] == (10.0, 1.0)  # the Shallow CDVAE keeps the decay


def test_a_motion_run_from_before_the_held_guidance_resumes_with_its_own_config(tmp_path, capsys):
    """An older motion run (guidance 10 -> 1): --resume alone names the difference and changes
    nothing; with the run's own config.json it continues (docs/training.md)."""
    rng = np.random.default_rng(0)
    pairs = write_pairs(tmp_path / "m.npz", xc=rng.random((48, 3, 32, 32), np.float32),
                        xg=np.clip(rng.normal(0, 2, (48, 2, 32, 32)), -8, 8).astype(np.float32),
                        meta=np.array(json.dumps({"task": "motion"})))
    base = ["--pairs", str(pairs), "--config", str(write_config(tmp_path / "cfg.json")), "--batch-size", "12",
            "--out", str(tmp_path / "run"), "--quiet"]
    assert train_cli.main(base + ["--epochs", "1", "--guidance-start", "10", "--guidance-end", "1"]) == 0
    before = digest(tmp_path / "run")
    one_line_error(capsys, train_cli.main(base + ["--epochs", "2", "--resume"]), "guidance_start 10.0 != 30.0")
    assert digest(tmp_path / "run") == before
    own = ["--pairs", str(pairs), "--config", str(tmp_path / "run" / "config.json"), "--out", str(tmp_path / "run")]
    assert train_cli.main(own + ["--epochs", "2", "--resume", "--quiet"]) == 0
    assert len((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()) == 2


def test_a_config_file_for_another_task_is_refused(trained, tmp_path, capsys):
    """--config's task used to win over the pair file's: a relighting config.json on resaturation
    pairs trained a "relighting" model with 1-channel x_c, which then could not sample a photo."""
    (tmp_path / "c.json").write_text(json.dumps({"model": {**TINY, "task": "relighting"}, "training": {"epochs": 1}}))
    base = ["--pairs", str(trained / "pairs.npz"), "--config", str(tmp_path / "c.json"), "--quiet"]
    one_line_error(capsys, train_cli.main(base + ["--out", str(tmp_path / "run")]),
                   "sets task relighting but the pair file was made for resaturation")
    assert not (tmp_path / "run").exists()
    # the --task flag still overrides the file's setting, and the file's own task is fine
    parse = train_cli.build_parser().parse_args
    model_cfg, _ = train_cli.settings(parse(base + ["--task", "resaturation", "--out", "o"]),
                                      load_pairs(trained / "pairs.npz"))
    assert model_cfg.task == "resaturation"
    (tmp_path / "c.json").write_text(json.dumps({"model": {**TINY, "task": "resaturation"}}))
    assert train_cli.settings(parse(base + ["--out", "o"]), load_pairs(trained / "pairs.npz"))[0].task == "resaturation"


def test_sample_output_mistakes_are_named_plainly(trained, tmp_path, capsys):
    """--pairs without --out said "--out is empty"; --export naming a file failed at the first write
    with "FILE/stem_000.png: cannot write"; an unreadable photo's path was printed twice."""
    import cv2

    model, pairs = str(trained / "model"), str(trained / "pairs.npz")
    one_line_error(capsys, sample.main(["--model", model, "--pairs", pairs, "--n", "2"]), "--pairs needs --out FILE.npz")
    cv2.imwrite(str(tmp_path / "photo.png"), np.zeros((40, 40, 3), np.uint8))
    one_line_error(capsys, sample.main(["--model", model, "--image", str(tmp_path / "photo.png"), "--n", "2",
                                        "--export", str(tmp_path / "photo.png")]), "is a file, not a folder")
    one_line_error(capsys, sample.main(["--model", model, "--image", str(tmp_path / "photo.png"), "--n", "2",
                                        "--export", str(tmp_path / "photo.png" / "sub")]), "cannot be created")
    (tmp_path / "notes.txt").write_text("not an image")
    code = sample.main(["--model", model, "--image", str(tmp_path / "notes.txt"), "--n", "2", "--export", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err == f"cdvae-sample: error: {tmp_path / 'notes.txt'}: not a readable image", err
    assert not (tmp_path / "o").exists()


def test_train_from_builtin_shows_one_bar_for_making_the_pairs(tmp_path, capsys, monkeypatch):
    """cdvae-train --builtin / --folder printed a line per prepare record (every 0.2 s, and
    "guidance features" twice): a flood on a large folder. Now cdvae-prepare's bar and one summary,
    and the bars on a terminal only: a log got every redraw of the step bar (81 KB per epoch of
    24,000 pairs) and now gets the epoch lines alone."""
    cfg = write_config(tmp_path / "cfg.json")
    args = ["--builtin", "--task", "resaturation", "--limit", "30", "--config", str(cfg), "--epochs", "2"]
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert train_cli.main(args + ["--out", str(tmp_path / "run")]) == 0
    err = terminal.buffer.getvalue()
    lines = [line for line in err.replace("\r", "\n").splitlines() if line.startswith("prepare")]
    assert "guidance features" not in err and "30/30" in err and "step" in err
    bar = [line for line in err.replace("\r", "\n").splitlines() if "step" in line and "loss=" in line][-1]
    assert bar.index("img/s=") < bar.index("loss=")  # where a narrow terminal cannot cut it off
    assert [line for line in lines if line.startswith("prepare: ")] == ["prepare: 30 pairs (3 test), 0 item(s) skipped"]
    monkeypatch.undo()
    capsys.readouterr()
    assert train_cli.main(args + ["--out", str(tmp_path / "logged")]) == 0  # stderr is not a terminal here
    logged = capsys.readouterr().err
    assert "\r" not in logged and "30/30" not in logged and "step/s" not in logged
    assert [line.split(":")[0] for line in logged.splitlines() if line.startswith(("prepare", "epoch"))] == \
        ["prepare", "epoch 1/2", "epoch 2/2"]


def test_eval_shows_progress_on_a_terminal_only_and_changes_no_output(trained, tmp_path, capsys, monkeypatch):
    """cdvae-eval printed nothing while it scored (minutes on a big test set)."""
    model, pairs = str(trained / "model"), str(trained / "pairs.npz")
    base = ["--model", model, "--pairs", pairs, "--samples", "3,7", "--nll-k", "2"]
    capsys.readouterr()
    # not a terminal (pipes, logs, this capture): no bar, as with --quiet
    assert evaluate.main(base + ["--json", str(tmp_path / "plain.json")]) == 0
    plain = capsys.readouterr()
    assert plain.err.strip() == f"wrote {tmp_path / 'plain.json'}"
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert evaluate.main(base + ["--json", str(tmp_path / "tty.json")]) == 0
    shown = terminal.buffer.getvalue()
    assert "scoring" in shown and "NLL" in shown and "/12" in shown and "pair" in shown
    assert capsys.readouterr().out == plain.out  # the table is unchanged
    assert json.loads((tmp_path / "tty.json").read_text()) == json.loads((tmp_path / "plain.json").read_text())
    quiet = Terminal()
    monkeypatch.setattr(sys, "stderr", quiet)
    assert evaluate.main(base + ["--quiet", "--json", str(tmp_path / "quiet.json")]) == 0
    assert quiet.buffer.getvalue().strip() == f"wrote {tmp_path / 'quiet.json'}"
    assert capsys.readouterr().out == plain.out
    # the nearest neighbour scores with a bar too
    big = write_pairs(tmp_path / "big.npz", n=120)
    assert evaluate.main(["--nearest-neighbour", "--pairs", str(big), "--samples", "3"]) == 0
    assert "scoring" in quiet.buffer.getvalue()


@pytest.mark.parametrize("module", ["train", "evaluate", "sample", "prepare", "results"])
def test_every_command_says_its_version_on_one_line(module, capsys, monkeypatch):
    """--version, for bug reports: ours, Python's and torch's (read from its package record, so
    torch is not imported for it), one line at any terminal width (argparse's own action wrapped it)."""
    import importlib
    from importlib import metadata

    import cdvae_core

    monkeypatch.setenv("COLUMNS", "30")
    command = importlib.import_module(f"cdvae_core.cli.{module}")
    assert command.main(["--version"]) == 0
    out = capsys.readouterr().out
    prog = "cdvae-eval" if module == "evaluate" else f"cdvae-{module}"
    assert out == f"{prog} {cdvae_core.__version__} (Python {sys.version.split()[0]}, torch {metadata.version('torch')})\n"


def test_a_config_file_of_another_format_or_version_is_refused(trained, tmp_path, capsys):
    """cdvae-eval and --resume refuse a config.json of another format_version; --config took one
    and trained on whatever its keys meant here. A plain settings file, without those keys, and
    this version's own config.json still work."""
    pairs = trained / "pairs.npz"
    saved = json.loads((trained / "model" / "config.json").read_text())
    cases = [({**saved, "format_version": 2}, "has format_version 2; this library reads 1"),
             ({**saved, "format_version": True}, "has format_version True; this library reads 1"),
             ({k: v for k, v in saved.items() if k != "format_version"}, "has format_version None"),
             ({**saved, "format": "cdvae-model-next"}, "is not a cdvae-model config (format 'cdvae-model-next')"),
             ({"format_version": 1, "training": {"epochs": 1}}, "is not a cdvae-model config (format None)")]
    refused_configs(capsys, tmp_path, pairs, cases)
    assert train_cli.read_config_file(str(trained / "model" / "config.json")) == (saved["model"], saved["training"])
    (tmp_path / "plain.json").write_text(json.dumps({"training": {"epochs": 1}}))
    assert train_cli.read_config_file(str(tmp_path / "plain.json")) == ({}, {"epochs": 1})


def test_resume_takes_the_runs_own_settings_and_out_is_checked_before_the_source(tmp_path, capsys, monkeypatch):
    """docs/training.md shows "cdvae-train --pairs P --out D --resume": it was refused as "trained
    with other settings" unless every flag of the first run was given again. And --builtin or
    --folder prepared their pairs (1.5 minutes) before saying that --out already held a run."""
    pairs = write_pairs(tmp_path / "p.npz", n=48)
    out = tmp_path / "run"
    first = ["--pairs", str(pairs), "--tie", "mdn", "--mixtures", "2", "--layers", "1", "--lr", "0.0005",
             "--batch-size", "16", "--epochs", "1", "--threads", "1", "--out", str(out), "--quiet"]
    assert train_cli.main(first) == 0
    assert json.loads((out / "config.json").read_text())["model"]["tie_conditional"] == "paper"  # MDN's, by name
    assert train_cli.main(["--pairs", str(pairs), "--out", str(out), "--resume", "--epochs", "2", "--quiet"]) == 0
    saved = json.loads((out / "config.json").read_text())
    assert saved["model"]["tie"] == "mdn" and saved["training"]["lr"] == 0.0005 and saved["training"]["epochs"] == 2
    assert load_state(out).epoch == 2
    capsys.readouterr()
    # a flag given still counts, and is still checked against the run
    one_line_error(capsys, train_cli.main(["--pairs", str(pairs), "--out", str(out), "--resume", "--epochs", "3",
                                           "--tie", "gauss", "--quiet"]), "it was trained with other settings (tie")

    def no_source(args):
        raise AssertionError("the source was read before --out was checked")

    monkeypatch.setattr(train_cli, "load_source", no_source)
    one_line_error(capsys, train_cli.main(["--builtin", "--task", "resaturation", "--out", str(out), "--quiet"]),
                   "already holds files")
    one_line_error(capsys, train_cli.main(["--builtin", "--task", "resaturation", "--out", str(tmp_path / "none"),
                                           "--resume", "--quiet"]), "nothing to resume in")


def test_an_interrupted_run_says_what_its_folder_keeps(tmp_path):
    """Ctrl-C before the first epoch ended said "the last finished epoch is kept"."""
    from cdvae_core.checkpoint import TrainState, save_state

    assert train_cli._kept(tmp_path) == f"no epoch had been saved yet in {tmp_path} (--resume starts it over)"
    import torch

    save_state(tmp_path, TrainState(epoch=4, step=40, model={"w": torch.zeros(2)}, ema=None, targets={},
                                    optimizer={"param_groups": [], "state": {}}, meta={}))
    assert train_cli._kept(tmp_path) == f"epoch 4 is kept in {tmp_path} (continue with --resume)"


def test_an_unknown_task_is_named_as_such(tmp_path, capsys):
    """"--task foo" was blamed on the pair file: "--task foo but the pair file was made for ..."."""
    pairs = write_pairs(tmp_path / "pairs.npz")
    one_line_error(capsys, train_cli.main(["--pairs", str(pairs), "--task", "foo", "--out", str(tmp_path / "run")]),
                   "argument --task: invalid choice: 'foo' (choose from 'relighting', 'resaturation', 'motion', "
                   "'synthetic')")
    assert not (tmp_path / "run").exists()

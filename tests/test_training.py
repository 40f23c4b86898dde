"""The trainer: resume gives the same weights, guarded steps, metrics, closing, sharding, DDP."""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import subprocess
import sys
import weakref
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from cdvae_core import checkpoint as ckpt
from cdvae_core import training
from cdvae_core.config import ConfigError, ModelConfig, TrainConfig
from cdvae_core.distributed import shard_order
from cdvae_core.lpp import fit_lpp
from cdvae_core.model import build_model
from cdvae_core.pairs import PairSet, save_pairs
from cdvae_core.train_dir import OutputDirError, ResumeMismatchError
from cdvae_core.train_targets import compute_targets

from helpers import TINY

pytestmark = pytest.mark.usefixtures("one_thread")


def tiny_pairs(n: int = 64, seed: int = 0) -> PairSet:
    rng = np.random.default_rng(seed)
    xc = rng.random((n, 1, 32, 32), dtype=np.float32)
    xg = np.clip(0.5 * xc + 0.05 * rng.standard_normal((n, 1, 32, 32)), 0, 1).astype(np.float32)  # resaturation's range
    split = np.zeros(n, np.int8)
    split[-n // 4 :] = 1
    return PairSet(xc, xg, split, meta={"task": "resaturation"})


def tiny_cfgs(tie: str = "gauss", **train) -> tuple[ModelConfig, TrainConfig]:
    # one thread: on a shared 2-core machine a tiny model runs far faster without thread hand-offs
    settings = dict(epochs=3, batch_size=16, kl_warmup_epochs=1.0, guidance_epochs=2.0, lr=2e-3, num_threads=1)
    settings.update(train)
    return ModelConfig(tie=tie, **TINY), TrainConfig(**settings)


def run_all(gen) -> list:
    return list(gen)


def weights(path: Path) -> dict[str, torch.Tensor]:
    return load_file(str(path / ckpt.WEIGHTS_FILE))


def metrics_rows(run_dir: Path) -> list[dict]:
    """The rows of a run's metrics.jsonl, one per finished epoch."""
    return [json.loads(line) for line in (run_dir / ckpt.METRICS_FILE).read_text().splitlines()]


def sha(path: Path) -> str:
    return hashlib.sha1(path.read_bytes()).hexdigest()


def train_stopped_in_epoch(pairs, model_cfg, train_cfg, out: Path, epoch: int) -> None:
    """Train until mid-way through ``epoch`` and close the generator: its partial work is lost,
    as in a kill."""
    gen = training.train(pairs, model_cfg, train_cfg, out)
    for pr in gen:
        if pr.stage == "train" and pr.values["epoch"] == epoch and pr.done % 3 == 2:
            break
    gen.close()


def test_resume_after_stop_mid_epoch_gives_the_same_weights(tmp_path):
    pairs = tiny_pairs()
    model_cfg, train_cfg = tiny_cfgs("mdn", ema=0.9)
    run_all(training.train(pairs, model_cfg, train_cfg, tmp_path / "a"))

    train_stopped_in_epoch(pairs, model_cfg, train_cfg, tmp_path / "b", epoch=3)  # the last epoch
    assert ckpt.load_state(tmp_path / "b").epoch == 2
    assert not (tmp_path / "b" / ckpt.EMBEDDING_FILE).exists()
    run_all(training.train(pairs, model_cfg, train_cfg, tmp_path / "b", resume=True))

    wa, wb = weights(tmp_path / "a"), weights(tmp_path / "b")
    assert wa.keys() == wb.keys()
    for key in wa:
        assert torch.allclose(wa[key], wb[key], atol=1e-6, rtol=0), key
    rows_a = metrics_rows(tmp_path / "a")
    rows_b = metrics_rows(tmp_path / "b")
    assert [r["epoch"] for r in rows_b] == [1, 2, 3]
    assert rows_a[-1]["loss"] == pytest.approx(rows_b[-1]["loss"], abs=1e-6)
    emb_a = load_file(str(tmp_path / "a" / ckpt.EMBEDDING_FILE))
    emb_b = load_file(str(tmp_path / "b" / ckpt.EMBEDDING_FILE))
    assert torch.allclose(emb_a["codes_c"], emb_b["codes_c"], atol=1e-6)


class _Killed(BaseException):
    """A kill -9 between two of an epoch's writes (nothing after it runs)."""


@pytest.mark.parametrize("killed_epoch", [2, 3])
def test_resume_after_a_kill_inside_the_checkpoint_write_restores_that_epochs_files(tmp_path, monkeypatch,
                                                                                    killed_epoch):
    """The checkpoint is renamed into place before the weights, config and metrics row: a kill in
    between lost the epoch's metrics row for good, and at the last epoch left the weights of the
    one before (or none) under "model saved". Resuming writes them from the checkpoint."""
    pairs = tiny_pairs()
    model_cfg, train_cfg = tiny_cfgs("mdn", ema=0.9)  # 3 epochs
    run_all(training.train(pairs, model_cfg, train_cfg, tmp_path / "a"))

    real_write_weights = ckpt.write_weights

    def killed_after_the_checkpoint(out, state_dict):
        if ckpt.load_state(out).epoch == killed_epoch:
            raise _Killed
        real_write_weights(out, state_dict)

    monkeypatch.setattr(ckpt, "write_weights", killed_after_the_checkpoint)
    with pytest.raises(_Killed):
        run_all(training.train(pairs, model_cfg, train_cfg, tmp_path / "b"))
    monkeypatch.undo()
    assert [r["epoch"] for r in metrics_rows(tmp_path / "b")] == list(range(1, killed_epoch))
    run_all(training.train(pairs, model_cfg, train_cfg, tmp_path / "b", resume=True))

    wa, wb = weights(tmp_path / "a"), weights(tmp_path / "b")
    assert wa.keys() == wb.keys()
    for key in wa:
        assert torch.allclose(wa[key], wb[key], atol=1e-6, rtol=0), key
    rows_a, rows_b = metrics_rows(tmp_path / "a"), metrics_rows(tmp_path / "b")
    assert [r["epoch"] for r in rows_b] == [1, 2, 3]
    assert [r["loss"] for r in rows_b] == pytest.approx([r["loss"] for r in rows_a], abs=1e-6)


def test_metrics_rows_and_saved_model(tmp_path):
    pairs = tiny_pairs()
    model_cfg, train_cfg = tiny_cfgs(epochs=2)
    records = run_all(training.train(pairs, model_cfg, train_cfg, tmp_path))
    stages = [r.stage for r in records]
    assert stages[0] == "lpp" and stages[-1] == "done" and stages.count("epoch") == 2
    steps = [r for r in records if r.stage == "train"]
    assert [r.done for r in steps] == list(range(1, 7)) and steps[-1].total == 6
    assert {"loss", "rec_c", "rec_g", "kl_c", "tie", "guidance", "images_per_s", "eta_s"} <= set(steps[-1].values)
    rows = metrics_rows(tmp_path)
    assert [r["epoch"] for r in rows] == [1, 2] and rows[-1]["step"] == 6
    for row in rows:
        assert row["images_per_s"] > 0 and row["seconds"] > 0 and row["skipped"] == 0
        assert np.isfinite(row["test_loss"]) and np.isfinite(row["loss"])
        assert row["guidance_weight"] == pytest.approx(train_cfg.guidance_weight(row["epoch"]))
    # the test loss is the mean kl-weight-1 loss on the 16 test pairs, recomputed here
    predictor = ckpt.load_model(tmp_path)
    test = pairs.test()
    torch.manual_seed(0)
    with torch.no_grad():
        terms = predictor.model(torch.from_numpy(test.xc), torch.from_numpy(test.xg))
    # the loss is stochastic (one posterior draw) but both estimate the same expectation
    assert abs(float(terms["loss"]) - rows[-1]["test_loss"]) < 0.05 * abs(rows[-1]["test_loss"])
    emb = predictor.embedding
    assert emb.lpp_c.shape == (64, 4) and emb.codes_c.shape == (64, 4)
    assert emb.xc_thumbs.dtype == np.float16 and emb.xc_thumbs.shape == (64, 1, 32, 32)
    np.testing.assert_array_equal(emb.split, pairs.split)
    # LPP fitted on the training rows only: the targets have unit variance there, not on the rest
    np.testing.assert_allclose(emb.lpp_c[pairs.split == 0].std(0), 1.0, rtol=1e-3)
    np.testing.assert_allclose(emb.project(pairs.xc.reshape(64, -1)), emb.lpp_c, atol=1e-4)
    # each pair's tie drift, as the Studio measures a sample's: its x_g's tied code against the
    # tie's conditional given its x_c's code, recomputed here by hand in numpy
    i = 5
    cond = predictor.prepare(pairs.xc[i])
    np.testing.assert_allclose(emb.tie_drift[i], predictor.tie_drift(cond, pairs.xg[i : i + 1])[0], rtol=1e-5)
    with torch.no_grad():
        mu_g = predictor.model.encode_g(torch.from_numpy(pairs.xg[i : i + 1]))[0].numpy()[0]
        mean, std = (m.numpy()[0] for m in predictor.model.conditional(cond.mu_c).moments())
    t = model_cfg.tied_dims
    assert emb.tie_drift.shape == (64,) and 0 < t < 4
    assert emb.tie_drift[i] == pytest.approx(np.sqrt(np.mean(((mu_g[:t] - mean[:t]) / std[:t]) ** 2)), rel=1e-5)
    train_drift = emb.tie_drift[pairs.split == 0]
    assert predictor.drift_limit == pytest.approx(max(2.0, float(np.quantile(train_drift, 0.99))))
    # x_g's codes are kept too, so that the drift under the other conditional (which the Studio can
    # switch to) is the pairs' own drift under it, as a model trained with it would have recorded
    np.testing.assert_allclose(emb.codes_g[i], mu_g, rtol=1e-5, atol=1e-6)
    other = predictor.with_conditional("paper")
    assert other is not predictor and other.model is not predictor.model
    assert predictor.config.tie_conditional == predictor.model.tie.conditional_kind == "exact"
    assert other.saved_conditional == "exact" and other.config.tie_conditional == "paper"
    expected = [other.tie_drift(other.prepare(pairs.xc[k]), pairs.xg[k : k + 1])[0] for k in range(64)]
    np.testing.assert_allclose(other.train_drift(), expected, rtol=1e-4)
    assert not np.allclose(other.train_drift(), emb.tie_drift)
    assert other.drift_limit == pytest.approx(max(2.0, float(np.quantile(other.train_drift()[pairs.split == 0], 0.99))))
    assert predictor.with_conditional("exact") is predictor


def test_drift_limit_follows_the_training_pairs_drift_where_it_is_larger():
    """Motion's ladders with held guidance: the built-in Gauss's true pairs drift 1.35 sigma (median),
    so 2 sigma flagged about one sample in ten as unusual (docs/studio.md)."""
    from types import SimpleNamespace

    from cdvae_core.model import build_model
    from cdvae_core.predictor import Predictor

    model = build_model(ModelConfig(tie="gauss", channels_c=3))

    def limit(embedding) -> float:
        return Predictor(model, embedding=embedding).drift_limit

    split = np.array([0] * 100 + [1] * 20, np.int8)
    drift = np.r_[np.linspace(0, 3, 100), np.full(20, 50.0)]
    assert limit(SimpleNamespace(split=split, tie_drift=drift)) == pytest.approx(
        np.quantile(np.linspace(0, 3, 100), 0.99))  # test rows left out
    assert limit(SimpleNamespace(split=split, tie_drift=np.full(120, 0.5))) == 2.0  # never below 2 sigma
    assert limit(SimpleNamespace(split=split, tie_drift=None)) == 2.0  # saved before the drift was recorded
    assert limit(None) == 2.0
    # sampled with the other conditional, an embedding saved before it kept x_g's codes has no
    # drift to go by
    other = Predictor(model, embedding=SimpleNamespace(split=split, tie_drift=drift, codes_c=None, codes_g=None))
    assert other.drift_limit > 2.0
    other.use_conditional("paper")
    assert other.train_drift() is None and other.drift_limit == 2.0


def poison_after(monkeypatch, bad_calls: set[int]) -> None:
    """Make the model's loss NaN on the given (1-based) forward calls in training mode."""
    real_build = training.build_model
    calls = {"n": 0}

    def build(cfg):
        model = real_build(cfg)
        forward = model.forward

        def poisoned(*args, **kwargs):
            out = forward(*args, **kwargs)
            if model.training:
                calls["n"] += 1
                if calls["n"] in bad_calls:
                    out["loss"] = out["loss"] * float("nan")
            return out

        model.forward = poisoned
        return model

    monkeypatch.setattr(training, "build_model", build)


def test_nan_loss_stops_naming_the_step_and_keeps_the_last_checkpoint(tmp_path, monkeypatch):
    poison_after(monkeypatch, set(range(5, 100)))  # steps 5, 6, ... are NaN (3 steps per epoch)
    pairs = tiny_pairs()
    model_cfg, train_cfg = tiny_cfgs(max_skips=3)
    seen = {}
    with pytest.raises(training.TrainingError, match=r"step 7 \(epoch 3\).*since step 5.*epoch 2 is kept") as info:
        for pr in training.train(pairs, model_cfg, train_cfg, tmp_path):
            if pr.stage == "epoch":
                seen[pr.done] = (sha(tmp_path / ckpt.WEIGHTS_FILE), sha(tmp_path / ckpt.STATE_FILE))
    assert "skip_threshold" not in str(info.value)  # NaN losses: no hint about thresholds or rates
    # epoch 2 finished with one good step (step 4); step 5, 6 skipped; step 7 is the third skip
    assert ckpt.load_state(tmp_path).epoch == 2
    assert (sha(tmp_path / ckpt.WEIGHTS_FILE), sha(tmp_path / ckpt.STATE_FILE)) == seen[2]
    rows = metrics_rows(tmp_path)
    assert [r["skipped"] for r in rows] == [0, 2]


def test_an_epoch_that_ends_with_a_broken_model_is_not_saved(tmp_path, monkeypatch):
    """An update that breaks the weights makes every later step NaN, each skipped: fewer than
    max_skips in the epoch, the broken model was checkpointed and saved as done (exit 0) and
    could not be loaded. The epoch's model is checked before it is written."""
    real_build, calls = training.build_model, {"n": 0}

    def build(cfg):
        model = real_build(cfg)
        forward = model.forward

        def breaking(*args, **kwargs):
            if model.training:
                calls["n"] += 1
                if calls["n"] == 5:  # epoch 2's second step: as if the first had diverged
                    next(model.parameters()).data.fill_(float("nan"))
            return forward(*args, **kwargs)

        model.forward = breaking
        return model

    monkeypatch.setattr(training, "build_model", build)
    model_cfg, train_cfg = tiny_cfgs(max_skips=50)  # 3 steps per epoch: the streak never reaches it
    seen = {}
    with pytest.raises(training.TrainingError, match=r"after epoch 2 \(step 6\): the model's test loss is nan "
                                                     r"\(2 of 3 updates skipped in the epoch\); the checkpoint of "
                                                     r"epoch 1 is kept .*lower --lr"):
        for pr in training.train(tiny_pairs(), model_cfg, train_cfg, tmp_path):
            if pr.stage == "epoch":
                seen[pr.done] = (sha(tmp_path / ckpt.WEIGHTS_FILE), sha(tmp_path / ckpt.STATE_FILE))
    assert list(seen) == [1] and ckpt.load_state(tmp_path).epoch == 1
    assert (sha(tmp_path / ckpt.WEIGHTS_FILE), sha(tmp_path / ckpt.STATE_FILE)) == seen[1]
    assert len(metrics_rows(tmp_path)) == 1 and not (tmp_path / ckpt.EMBEDDING_FILE).exists()
    # without a test split the same check runs on training pairs
    calls["n"] = 0
    no_test = tiny_pairs()
    no_test = PairSet(no_test.xc, no_test.xg, np.zeros(len(no_test), np.int8), meta=no_test.meta)
    with pytest.raises(training.TrainingError, match=r"after epoch 2 .*the model's training loss is nan"):
        run_all(training.train(no_test, model_cfg, train_cfg, tmp_path / "no_test"))


def test_a_resumed_run_counts_the_skips_in_a_row_on_from_its_checkpoint(tmp_path, monkeypatch):
    """The streak of skipped steps restarted at 0 on --resume: a run killed between two bad steps
    went on where the unbroken run stops."""
    poison_after(monkeypatch, {3, 4})  # epoch 1's last step and epoch 2's first
    model_cfg, train_cfg = tiny_cfgs(max_skips=2)
    with pytest.raises(training.TrainingError, match=r"step 4 \(epoch 2\): 2 updates in a row skipped since step 3"):
        run_all(training.train(tiny_pairs(), model_cfg, train_cfg, tmp_path / "unbroken"))
    poison_after(monkeypatch, {3, 4})  # a fresh count for the run killed after epoch 1
    gen = training.train(tiny_pairs(), model_cfg, train_cfg, tmp_path / "resumed")
    for pr in gen:
        if pr.stage == "epoch":
            break
    gen.close()
    assert ckpt.load_state(tmp_path / "resumed").meta["skip_streak"] == 1
    with pytest.raises(training.TrainingError, match=r"step 4 \(epoch 2\): 2 updates in a row skipped since step 3"):
        run_all(training.train(tiny_pairs(), model_cfg, train_cfg, tmp_path / "resumed", resume=True))


def test_isolated_bad_steps_are_skipped_and_counted(tmp_path, monkeypatch):
    poison_after(monkeypatch, {2, 5})
    model_cfg, train_cfg = tiny_cfgs(epochs=2, max_skips=2)
    run_all(training.train(tiny_pairs(), model_cfg, train_cfg, tmp_path))
    rows = metrics_rows(tmp_path)
    assert [r["skipped"] for r in rows] == [1, 1]
    assert all(torch.isfinite(v).all() for v in weights(tmp_path).values())


def test_gradient_norm_above_threshold_is_skipped(tmp_path):
    # spike_patience 0: every over-threshold norm is skipped, as vdvae's guard does
    model_cfg, train_cfg = tiny_cfgs(skip_threshold=1e-3, max_skips=2, spike_patience=0)
    # finite norms over the threshold: the message says which setting to change
    with pytest.raises(training.TrainingError, match=r"step 2 .*gradient norm .*no checkpoint was written yet"
                                                     r".*stayed above skip_threshold: train again with a lower --lr"):
        run_all(training.train(tiny_pairs(), model_cfg, train_cfg, tmp_path))


def test_norms_that_stay_high_force_a_clipped_update_after_spike_patience_skips(tmp_path):
    """Every norm is above the threshold: skipping cannot change the weights, so after 2 skips the
    third update goes through, clipped (3 steps per epoch: skip, skip, update)."""
    model_cfg, train_cfg = tiny_cfgs(epochs=2, skip_threshold=1e-3, spike_patience=2, max_skips=3)
    run_all(training.train(tiny_pairs(), model_cfg, train_cfg, tmp_path / "forced"))
    rows = metrics_rows(tmp_path / "forced")
    assert [(r["skipped"], r["forced_updates"]) for r in rows] == [(2, 1), (2, 1)]
    # the same run with only skips never updates: its weights stay at their initial values
    always_skip = tiny_cfgs(epochs=1, skip_threshold=1e-3, spike_patience=0, max_skips=10)[1]
    run_all(training.train(tiny_pairs(), model_cfg, always_skip, tmp_path / "skipped"))
    torch.manual_seed(train_cfg.seed)
    initial = build_model(model_cfg).state_dict()
    assert all(torch.equal(initial[k], v) for k, v in weights(tmp_path / "skipped").items())
    forced = weights(tmp_path / "forced")
    assert any(not torch.equal(initial[k], v) for k, v in forced.items())
    assert all(torch.isfinite(v).all() for v in forced.values())


def test_resume_forces_the_same_updates_as_an_unbroken_run(tmp_path):
    """The run of over-threshold skips crosses the epoch boundary (3 skips in epoch 1, the forced
    update is step 4): the checkpoint carries it, so the resumed run forces step 4 too."""
    pairs = tiny_pairs()
    model_cfg, train_cfg = tiny_cfgs(epochs=2, skip_threshold=1e-3, spike_patience=3, max_skips=5)
    run_all(training.train(pairs, model_cfg, train_cfg, tmp_path / "a"))
    run_all(training.train(pairs, model_cfg, replace(train_cfg, epochs=1), tmp_path / "b"))
    run_all(training.train(pairs, model_cfg, train_cfg, tmp_path / "b", resume=True))
    rows = metrics_rows(tmp_path / "b")
    assert [(r["skipped"], r["forced_updates"]) for r in rows] == [(3, 0), (2, 1)]
    wa, wb = weights(tmp_path / "a"), weights(tmp_path / "b")
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_out_dir_and_resume_checks(tmp_path):
    pairs = tiny_pairs()
    model_cfg, train_cfg = tiny_cfgs(epochs=1)
    # a run that samples with the other conditional (as one saved when the defaults differed)
    run_all(training.train(pairs, replace(model_cfg, tie_conditional="paper"), train_cfg, tmp_path / "run"))
    before = {p.name: sha(p) for p in (tmp_path / "run").iterdir() if p.is_file()}
    with pytest.raises(OutputDirError, match="already holds files"):
        run_all(training.train(pairs, model_cfg, train_cfg, tmp_path / "run"))
    other_model, _ = tiny_cfgs("mdn")
    with pytest.raises(ResumeMismatchError, match="tie 'gauss' != 'mdn'"):
        run_all(training.train(pairs, other_model, train_cfg, tmp_path / "run", resume=True))
    with pytest.raises(ckpt.StateLoadError, match="another pair file"):
        run_all(training.train(tiny_pairs(seed=1), model_cfg, train_cfg, tmp_path / "run", resume=True))
    _, two = tiny_cfgs(epochs=2)
    # one more epoch: the sampling conditional is no training setting, so it is not "other settings"
    # (the Studio builds its config afresh) and the run keeps its own
    assert model_cfg.tie_conditional == "exact"
    run_all(training.train(pairs, model_cfg, two, tmp_path / "run", resume=True))
    assert ckpt.read_config(tmp_path / "run")["model"]["tie_conditional"] == "paper"
    before = {p.name: sha(p) for p in (tmp_path / "run").iterdir() if p.is_file()}
    # fewer epochs than trained: it rewrote config.json with them over weights of more, "model saved"
    with pytest.raises(ResumeMismatchError, match=r"has trained 2 epochs already, more than the 1 asked for: "
                                                   r"ask for 2 or more to resume it$"):
        run_all(training.train(pairs, model_cfg, train_cfg, tmp_path / "run", resume=True))
    assert before == {p.name: sha(p) for p in (tmp_path / "run").iterdir() if p.is_file()}
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputDirError, match="not a directory"):
        run_all(training.train(pairs, model_cfg, train_cfg, tmp_path / "file" / "run"))


def test_resume_refuses_a_config_json_edited_away_from_its_checkpoint(tmp_path):
    """--resume compared the run's settings with config.json only: an edited sigma_t resumed at
    the new value, and the checkpoint then recorded it for epochs trained without it."""
    pairs = tiny_pairs()
    model_cfg, train_cfg = tiny_cfgs(epochs=1)
    out = tmp_path / "run"
    run_all(training.train(pairs, model_cfg, train_cfg, out))
    config = ckpt.read_config(out)
    config["model"]["sigma_t"] = model_cfg.sigma_t * 1.4
    (out / ckpt.CONFIG_FILE).write_text(json.dumps(config))
    before = {p.name: sha(p) for p in out.rglob("*") if p.is_file()}
    edited = ModelConfig.from_dict(config["model"])  # what cdvae-train builds from that config.json
    _, two = tiny_cfgs(epochs=2)
    with pytest.raises(ResumeMismatchError, match=r"its checkpoint was trained with other settings than its "
                                                  r"config.json and this run name \(sigma_t .* was config.json edited\?\)"):
        run_all(training.train(pairs, edited, two, out, resume=True))
    assert before == {p.name: sha(p) for p in out.rglob("*") if p.is_file()}
    config["model"]["sigma_t"] = model_cfg.sigma_t  # put back: it resumes
    (out / ckpt.CONFIG_FILE).write_text(json.dumps(config))
    run_all(training.train(pairs, model_cfg, two, out, resume=True))
    assert ckpt.read_state_header(out)["epoch"] == 2


def test_a_finished_run_is_reused_with_the_conditional_asked_for_and_its_drift_redrawn(tmp_path):
    """The results command reuses a finished run that differs only in its sampling conditional
    (training never reads it), gives its config.json the one asked for, and measures the training
    pairs' tie drift (the Studio's drift limit) again under it."""
    from cdvae_core.experiments.runner import _sample_as, finished_run

    pairs = tiny_pairs()
    model_cfg, train_cfg = tiny_cfgs("mdn", epochs=1)
    assert model_cfg.tie_conditional == "paper"
    out = tmp_path / "run"
    run_all(training.train(pairs, replace(model_cfg, tie_conditional="exact"), train_cfg, out))
    before = ckpt.load_embedding_arrays(out)["tie_drift"]
    assert finished_run(out, model_cfg, train_cfg)
    assert not finished_run(out, replace(model_cfg, mixtures=3), train_cfg)
    weights_before = sha(out / ckpt.WEIGHTS_FILE)
    _sample_as(out, model_cfg, pairs)
    config = ckpt.read_config(out)
    assert ModelConfig.from_dict(config["model"]) == model_cfg and config["data"]["pairs"] == len(pairs)
    model, _ = ckpt.load_torch_model(out)
    assert model.tie.conditional_kind == "paper" and sha(out / ckpt.WEIGHTS_FILE) == weights_before
    arrays = ckpt.load_embedding_arrays(out)
    with torch.no_grad():  # the drift of each pair's own x_g, encoded afresh
        expected = model.tie_drift(torch.from_numpy(arrays["codes_c"]), torch.from_numpy(pairs.xg[arrays["index"]]))
    np.testing.assert_allclose(arrays["tie_drift"], expected, rtol=1e-5)
    assert not np.allclose(arrays["tie_drift"], before)


def test_the_tie_drift_is_redrawn_from_the_kept_codes_and_old_embeddings_get_them(tmp_path):
    """refresh_tie_drift needs no pair file where the embedding keeps x_g's codes; one saved before
    it kept them is given them from the pair file, and without one it says so."""
    from cdvae_core.train_targets import refresh_tie_drift

    pairs = tiny_pairs()
    model_cfg, train_cfg = tiny_cfgs("mdn", epochs=1)
    out = tmp_path / "run"
    run_all(training.train(pairs, model_cfg, train_cfg, out))
    saved = ckpt.load_embedding_arrays(out)
    paper = ckpt.load_model(out).embedding.tie_drift
    config = ckpt.read_config(out)
    config["model"]["tie_conditional"] = "exact"
    (out / ckpt.CONFIG_FILE).write_text(json.dumps(config))
    assert refresh_tie_drift(out)
    exact = ckpt.load_model(out)
    rows = saved["index"][:5]
    expected = [exact.tie_drift(exact.prepare(pairs.xc[k]), pairs.xg[k : k + 1])[0] for k in rows]
    np.testing.assert_allclose(exact.embedding.tie_drift[:5], expected, rtol=1e-4)
    assert not np.allclose(exact.embedding.tie_drift, paper)
    np.testing.assert_allclose(exact.with_conditional("paper").train_drift(), paper, rtol=1e-4)
    ckpt.write_embedding(out, {k: v for k, v in saved.items() if k != "codes_g"})  # saved before codes_g
    with pytest.raises(ValueError, match="keeps no x_g codes; give the pair file it was trained on"):
        refresh_tie_drift(out)
    assert refresh_tie_drift(out, pairs)
    again = ckpt.load_embedding_arrays(out)
    np.testing.assert_allclose(again["codes_g"], saved["codes_g"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(again["tie_drift"], exact.embedding.tie_drift, rtol=1e-5)


def test_pairs_that_are_not_the_models_tasks_are_refused_before_anything_is_written(tmp_path):
    """The Train dialog's task comes from its own list: a pair file made for another task, or of
    layers outside the task's ranges, trained a model that could not sample any photo."""
    pairs = tiny_pairs()
    model_cfg, train_cfg = tiny_cfgs(epochs=1)
    other_task = PairSet(pairs.xc, pairs.xg, pairs.split, meta={"task": "synthetic"})
    with pytest.raises(training.TrainInputError, match="^the pair file was made for synthetic, not resaturation$"):
        run_all(training.train(other_task, model_cfg, train_cfg, tmp_path / "a"))
    scaled = PairSet(pairs.xc * 255, pairs.xg, pairs.split, meta=pairs.meta)
    with pytest.raises(training.TrainInputError, match=r"^these pairs do not fit resaturation: 'xc' values lie in "):
        run_all(training.train(scaled, model_cfg, train_cfg, tmp_path / "b"))
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_resume_of_a_run_stopped_in_its_first_epoch_starts_over(tmp_path):
    """Stopped before any checkpoint (config.json and an empty metrics.jsonl only): --resume, as
    the CLI's Ctrl-C message and the Studio's cancel suggest, trains from scratch like a new run."""
    pairs = tiny_pairs()
    model_cfg, train_cfg = tiny_cfgs(epochs=1)
    gen = training.train(pairs, model_cfg, train_cfg, tmp_path / "b")
    for pr in gen:
        if pr.stage == "train":
            break
    gen.close()
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == [ckpt.CONFIG_FILE, ckpt.METRICS_FILE]
    run_all(training.train(pairs, model_cfg, train_cfg, tmp_path / "b", resume=True))
    run_all(training.train(pairs, model_cfg, train_cfg, tmp_path / "a"))
    wa, wb = weights(tmp_path / "a"), weights(tmp_path / "b")
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    # but a config of other settings is still refused
    other_model, _ = tiny_cfgs("mdn")
    gen = training.train(pairs, model_cfg, train_cfg, tmp_path / "c")
    next(pr for pr in gen if pr.stage == "train")
    gen.close()
    with pytest.raises(ResumeMismatchError, match="tie 'gauss' != 'mdn'"):
        run_all(training.train(pairs, other_model, train_cfg, tmp_path / "c", resume=True))


def test_resume_keeps_metric_rows_and_drops_stray_lines(tmp_path):
    """metrics.jsonl lines that parse as JSON but are not row objects (a stray value, an edited
    line) used to stop --resume with an AttributeError traceback; they are dropped like cut lines."""
    pairs = tiny_pairs()
    model_cfg, train_cfg = tiny_cfgs(epochs=1)
    run_all(training.train(pairs, model_cfg, train_cfg, tmp_path / "run"))
    path = tmp_path / "run" / ckpt.METRICS_FILE
    # and bytes that are not UTF-8 (a damaged sector): a UnicodeDecodeError traceback before
    path.write_bytes(path.read_bytes() + b"[1]\n" + b'{"epoch": "x"}\n' + b"7\n" + b"\xff\xfe\x00 garbage\n")
    run_all(training.train(pairs, model_cfg, replace(train_cfg, epochs=2), tmp_path / "run", resume=True))
    assert [r["epoch"] for r in metrics_rows(tmp_path / "run")] == [1, 2]


def test_a_small_training_split_still_gets_guidance_targets(tmp_path):
    """The kNN size is clamped for small training splits; it was clamped to n - 1, which fit_lpp
    always refuses (it needs more than k + 1 points), so any split of 11 or fewer pairs failed."""
    pairs = tiny_pairs(n=8)  # 6 training pairs, a 4-dimensional code
    model_cfg, train_cfg = tiny_cfgs(epochs=1)
    targets, _ = compute_targets(pairs, model_cfg, train_cfg)
    assert targets["c"].shape == (6, 4) and targets["g"].shape == (6, 4)
    # and a split too small for any LPP says what was being fitted
    with pytest.raises(ValueError, match="cannot fit the embedding-guidance targets .* x_c pixels of 3 training pairs"):
        compute_targets(tiny_pairs(n=5), model_cfg, train_cfg)
    # and how many it needs (a folder of a few photos gives a few pairs; the message only spoke LPP's terms)
    with pytest.raises(ValueError, match="it needs at least 6 training pairs$"):
        compute_targets(tiny_pairs(n=5), model_cfg, train_cfg)
    # and training says what to do about it: a 29-photo folder with grey photos failed without a hint
    from cdvae_core.train_dir import Controls

    with pytest.raises(ValueError, match="6 training pairs; more .and more varied. pairs help, or --guidance-start 0 "
                                         "trains without embedding guidance$"):
        run_all(training.train(tiny_pairs(n=5), model_cfg, train_cfg, tmp_path / "few"))
    with pytest.raises(ValueError, match="6 training pairs; add photos$"):
        run_all(training.train(tiny_pairs(n=5), model_cfg, train_cfg, tmp_path / "few",
                               controls=Controls(no_guidance="add photos")))


def test_schedules_from_first_principles():
    cfg = TrainConfig(guidance_start=10.0, guidance_end=0.1, guidance_epochs=4.0, kl_warmup_epochs=2.0,
                      lower_warmup_epochs=8.0)
    # guidance: lambda(0) = start, lambda(T) = end and after, geometric in between
    assert cfg.guidance_weight(0.0) == pytest.approx(10.0)
    assert cfg.guidance_weight(4.0) == pytest.approx(0.1)
    assert cfg.guidance_weight(9.0) == pytest.approx(0.1)
    assert cfg.guidance_weight(2.0) == pytest.approx(math.sqrt(10.0 * 0.1))  # the midpoint: geometric mean
    assert cfg.guidance_weight(1.0) == pytest.approx(10.0 * (0.1 / 10.0) ** 0.25)
    ratios = [cfg.guidance_weight(t + 0.5) / cfg.guidance_weight(t) for t in (0.0, 1.0, 2.5, 3.5)]
    assert ratios == pytest.approx([ratios[0]] * 4)  # a constant factor per half epoch
    assert TrainConfig(guidance_start=0.0).guidance_weight(1.0) == 0.0  # guidance off
    # KL warm-up: 0 at t = 0, linear, 1 from kl_warmup_epochs on
    assert [cfg.kl_weight(t) for t in (0.0, 0.5, 1.0, 1.5, 2.0, 3.0)] == pytest.approx([0, 0.25, 0.5, 0.75, 1, 1])
    # ladder warm-up of the lower layers, likewise over lower_warmup_epochs
    assert [cfg.lower_weight(t) for t in (0.0, 2.0, 4.0, 8.0, 20.0)] == pytest.approx([0, 0.25, 0.5, 1, 1])
    off = TrainConfig(kl_warmup_epochs=0.0, lower_warmup_epochs=0.0)
    assert off.kl_weight(0.0) == 1.0 and off.lower_weight(0.0) == 1.0


@pytest.mark.parametrize("bad, message", [
    (dict(guidance_end=-1.0), "guidance_end must be positive"),
    (dict(guidance_end=0.0), "guidance_end must be positive"),
    (dict(guidance_start=-1.0), "guidance_start must be a number >= 0"),
    (dict(guidance_epochs=-1.0), "guidance_epochs must be a number >= 0"),
    (dict(kl_warmup_epochs=-1.0), "kl_warmup_epochs must be a number >= 0"),
    (dict(lower_warmup_epochs=float("nan")), "lower_warmup_epochs must be a number >= 0"),
    (dict(epochs=0), "epochs and batch_size must be at least 1"),
    (dict(batch_size=0), "epochs and batch_size must be at least 1"),
    (dict(lr=0.0), "lr must be a positive number"),
    (dict(lr=float("nan")), "lr must be a positive number"),
    (dict(ema=1.0), "ema must lie in"),
    (dict(lpp_neighbours=0), "lpp_neighbours and max_skips"),
    (dict(spike_patience=-1), "spike_patience must be 0"),
    (dict(num_threads=-1), "num_threads"),
    (dict(seed=-1), re.escape("seed must lie in [0, 2^63), got -1")),  # was a numpy traceback when the first epoch began
    # found by editing every setting of a --config file (session 18): each was a traceback
    (dict(seed=2**70), re.escape("seed must lie in [0, 2^63)")),
    (dict(num_threads=2**70), "num_threads must be 0 .* at most 4096"),
    (dict(weight_decay=1e308), re.escape("weight_decay must lie in [0, 1]")),
])
def test_train_config_refuses_values_the_schedules_cannot_use(bad, message):
    with pytest.raises(ConfigError, match=message):
        TrainConfig(**bad)
    TrainConfig(guidance_start=0.0, guidance_end=0.0)  # guidance off: no decay to compute


def test_guidance_targets_come_from_the_pair_files_features():
    """fc / fg given: the LPP behind the targets is fitted on them (train rows only), not on pixels."""
    pairs = tiny_pairs()
    rng = np.random.default_rng(5)
    fc = rng.standard_normal((len(pairs), 12)).astype(np.float32)
    fg = rng.standard_normal((len(pairs), 9)).astype(np.float32)
    with_features = PairSet(pairs.xc, pairs.xg, pairs.split, fc=fc, fg=fg, meta=pairs.meta)
    model_cfg, train_cfg = tiny_cfgs("mdn")
    targets, meta = compute_targets(with_features, model_cfg, train_cfg)
    assert meta["lpp_source"] == "fc"
    train_rows = np.flatnonzero(pairs.split == 0)
    neighbours = min(train_cfg.lpp_neighbours, len(train_rows) - 1)
    want_c = fit_lpp(fc[train_rows], model_cfg.code_dim, neighbours, seed=train_cfg.seed).transform(fc[train_rows])
    np.testing.assert_allclose(targets["c"].numpy(), want_c, rtol=1e-5, atol=1e-5)
    want_g = fit_lpp(fg[train_rows], model_cfg.code_dim, neighbours, seed=train_cfg.seed).transform(fg[train_rows])
    np.testing.assert_allclose(targets["g"].numpy(), want_g, rtol=1e-5, atol=1e-5)  # MDN: x_g's own LPP
    pixel_targets, pixel_meta = compute_targets(pairs, model_cfg, train_cfg)
    assert pixel_meta["lpp_source"] == "pixels" and not np.allclose(pixel_targets["c"].numpy(), want_c, atol=1e-2)


def test_shard_order_covers_every_row_once_per_epoch_and_depends_on_seed_and_epoch():
    shards = [shard_order(10, 3, 1, r, 2) for r in range(2)]
    assert len(shards[0]) == len(shards[1]) == 5
    assert sorted(np.concatenate(shards)) == list(range(10))
    padded = [shard_order(7, 3, 1, r, 2) for r in range(2)]
    assert len(padded[0]) == len(padded[1]) == 4 and set(np.concatenate(padded)) == set(range(7))
    np.testing.assert_array_equal(shard_order(10, 3, 1, 0, 1), shard_order(10, 3, 1, 0, 1))
    assert not np.array_equal(shard_order(50, 3, 1, 0, 1), shard_order(50, 3, 2, 0, 1))
    # fewer rows than processes: every rank still gets a full shard (one wrap left ranks 2 and 3 empty)
    few = [shard_order(3, 0, 0, r, 8) for r in range(8)]
    assert all(len(s) == 1 for s in few) and set(np.concatenate(few)) == {0, 1, 2}


def torchrun_two(tmp_path: Path, device: str) -> None:
    """Train the tiny pairs for 2 epochs with 2 processes under torchrun into tmp_path / "ddp"."""
    pairs_path = tmp_path / "pairs.npz"
    save_pairs(pairs_path, tiny_pairs())
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps({"model": TINY, "training": {"kl_warmup_epochs": 1.0, "num_threads": 1}}))
    # TMPDIR: torchrun's agent leaves its log folder (torchelastic_*) there
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TMPDIR": str(tmp_path)}
    # torchrun's module, run by this interpreter: no console script on PATH needed
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--standalone",
           str(Path(__file__).parents[1] / "train.py"),
           "--pairs", str(pairs_path), "--config", str(cfg), "--epochs", "2", "--batch-size", "8",
           "--device", device, "--out", str(tmp_path / "ddp"), "--quiet"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    # torchrun's own report comes last; the ranks' own lines ("[rank0]: ..." tracebacks, a C++
    # "terminate called ..." before a SIGABRT) say why
    assert done.returncode == 0, done.stderr[-6000:]
    # every parameter is in the graph every step: DDP runs without find_unused_parameters
    assert "find_unused_parameters" not in done.stderr


def test_ddp_two_processes_gloo(tmp_path):
    torchrun_two(tmp_path, "cpu")
    rows = metrics_rows(tmp_path / "ddp")
    # 48 training pairs over 2 ranks of batch 8: 3 steps per epoch, each seeing 16 pairs
    assert [r["epoch"] for r in rows] == [1, 2] and rows[-1]["step"] == 6
    assert ckpt.read_state_header(tmp_path / "ddp")["meta"]["world"] == 2
    predictor = ckpt.load_model(tmp_path / "ddp")
    cond = predictor.prepare(tiny_pairs().xc[0])
    assert np.isfinite(predictor.sample(cond, 4, seed=1)).all()


def test_a_failed_checkpoint_write_is_a_training_error(tmp_path, monkeypatch):
    """A full disk at the end of an epoch was an OSError traceback; now a TrainingError that names
    the file and the reason, the previous checkpoint untouched."""
    real = ckpt.save_state

    def save_state(out, state):
        if state.epoch == 2:
            raise OSError(28, "No space left on device")
        return real(out, state)

    monkeypatch.setattr(ckpt, "save_state", save_state)
    model_cfg, train_cfg = tiny_cfgs()
    with pytest.raises(training.TrainingError, match=r"cannot write the checkpoint of epoch 2 in .*No space left "
                       r"on device.*epoch 1 is kept.*--resume"):
        run_all(training.train(tiny_pairs(), model_cfg, train_cfg, tmp_path / "run"))
    assert ckpt.load_state(tmp_path / "run").epoch == 1


FAULTS = '''
import os, sys
from cdvae_core import checkpoint as ckpt, training
from cdvae_core.cli.train import main

fault, rank = os.environ["FAULT"], int(os.environ["RANK"])
if fault == "disk-full":  # rank 0 alone writes: the disk is full when it saves epoch 2
    real_save = ckpt.save_state
    def save_state(out, state):
        if state.epoch == 2:
            raise OSError(28, "No space left on device")
        return real_save(out, state)
    ckpt.save_state = save_state
if fault == "nan":  # rank 1's loss is NaN from its 3rd step on
    real_build, calls = training.build_model, [0]
    def build(cfg):
        model = real_build(cfg)
        forward = model.forward
        def poisoned(*args, **kwargs):
            out = forward(*args, **kwargs)
            if model.training:
                calls[0] += 1
                if rank == 1 and calls[0] >= 3:
                    out["loss"] = out["loss"] * float("nan")
            return out
        model.forward = poisoned
        return model
    training.build_model = build
sys.exit(main())
'''


def run_ranks(tmp_path: Path, fault: str, out: Path, extra: list[str] = (), device: str = "cpu", world: int = 2,
              prelude: str = "") -> list[tuple[int, str]]:
    """Start ``world`` ranks of cdvae-train by hand (torchrun's environment, no torchrun: nothing
    kills a rank left waiting when another stops, so a hang shows as a timeout); (exit code,
    stderr) each. ``prelude`` is Python run in each rank before the trainer (tests/test_cuda.py
    uses it for a one-rank NCCL group)."""
    from torch.distributed import TCPStore

    script = tmp_path / "faulty_train.py"
    script.write_text(prelude + FAULTS)
    pairs_path = tmp_path / "pairs.npz"
    save_pairs(pairs_path, tiny_pairs())
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps({"model": TINY, "training": {"kl_warmup_epochs": 1.0, "num_threads": 1, "max_skips": 3}}))
    # the rendezvous store is this process's, on a port the OS picks as it binds (as torchrun's
    # agent hosts it): a free port chosen by bind-then-close could be taken before rank 0 bound it
    store = TCPStore("127.0.0.1", 0, world_size=world, is_master=True, wait_for_workers=False)
    root = str(Path(__file__).parents[1])
    procs, logs = [], [tmp_path / f"rank{rank}.err" for rank in range(world)]
    for rank in range(world):
        env = {**os.environ, "OMP_NUM_THREADS": "1", "FAULT": fault, "MASTER_ADDR": "127.0.0.1",
               "MASTER_PORT": str(store.port), "TORCHELASTIC_USE_AGENT_STORE": "True",
               "WORLD_SIZE": str(world), "RANK": str(rank), "LOCAL_RANK": str(rank), "LOCAL_WORLD_SIZE": str(world),
               "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
        cmd = [sys.executable, str(script), "--pairs", str(pairs_path), "--config", str(cfg), "--epochs", "3",
               "--batch-size", "8", "--device", device, "--out", str(out), "--quiet", *extra]
        with open(logs[rank], "w") as log:  # files, not pipes: a full pipe would block a rank
            procs.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log, env=env))
    try:
        return [(p.wait(timeout=120), log.read_text()) for p, log in zip(procs, logs)]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        del store  # after the ranks: it serves their rendezvous until they exit


def _one_clear_line(err: str) -> str:
    lines = [line for line in err.splitlines() if "cdvae-train: error:" in line]
    assert len(lines) == 1 and "Traceback" not in err, err[-3000:]
    return lines[0]


def test_ddp_a_refusal_on_rank_0_stops_every_rank_with_its_message(tmp_path):
    """Only rank 0 probes whether --out can be written: rank 1 used to wait at the barrier and die
    in a gloo 'Connection reset by peer' traceback (or, on NCCL, hang until the timeout)."""
    (tmp_path / "a_file").write_text("x")
    results = run_ranks(tmp_path, "none", tmp_path / "a_file" / "out")
    for code, err in results:
        assert code == 2 and "cannot be created" in _one_clear_line(err)


def test_ddp_a_failed_write_on_rank_0_stops_every_rank_with_its_message(tmp_path):
    results = run_ranks(tmp_path, "disk-full", tmp_path / "run")
    for code, err in results:
        assert code == 1 and "cannot write the checkpoint of epoch 2" in _one_clear_line(err)
    assert ckpt.load_state(tmp_path / "run").epoch == 1


def test_ddp_nan_on_one_rank_stops_every_rank(tmp_path):
    """The skip verdict is the worst over ranks: every rank skips the same steps and stops at the
    same one, none is left in a collective."""
    results = run_ranks(tmp_path, "nan", tmp_path / "run")
    lines = [_one_clear_line(err) for _, err in results]
    assert [code for code, _ in results] == [1, 1]
    assert all("training stopped at step 5 (epoch 2): 3 updates in a row skipped since step 3" in line for line in lines)


def _fail_holding_a_ddp_wrapper(refs: list) -> None:
    net = torch.nn.parallel.DistributedDataParallel(torch.nn.Linear(2, 2))
    refs.append(weakref.ref(net))
    raise OSError(28, "No space left on device")


def test_teardown_frees_the_ddp_wrapper_a_failed_run_holds_before_leaving_the_group(tmp_path, monkeypatch):
    """A failed run's traceback holds the training frame, its DDP wrapper and, through the
    reducer, the gloo group; freed only at interpreter exit, the group's threads aborted the rank
    (SIGABRT, exit -6, in CI). teardown clears the error's frames and collects first."""
    import torch.distributed as dist

    from cdvae_core import distributed as D

    D.init_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    refs: list = []
    alive_at_destroy = []
    destroy = dist.destroy_process_group

    def checking_destroy(*args, **kwargs):
        alive_at_destroy.append(refs[0]() is not None)
        destroy(*args, **kwargs)

    monkeypatch.setattr(dist, "destroy_process_group", checking_destroy)
    try:
        _fail_holding_a_ddp_wrapper(refs)
    except OSError as exc:
        error = exc
    assert refs[0]() is not None  # the traceback holds it
    D.teardown(D.Dist(owns_group=True), aligned=True, error=error)
    assert alive_at_destroy == [False] and not dist.is_initialized()
    assert "No space left on device" in str(error) and error.__traceback__.tb_next is not None  # message, lines kept


LEAVE_AFTER_DDP = """
import os, sys, torch
from cdvae_core import distributed as D
D.init_group("gloo", init_method="file://" + os.path.join(sys.argv[1], "store"), rank=0, world_size=1)
net = torch.nn.parallel.DistributedDataParallel(torch.nn.Linear(2, 2))
net(torch.ones(4, 2)).sum().backward()
del net
D.teardown(D.Dist(owns_group=True), aligned=True)
names = sorted(open(f"/proc/self/task/{t}/comm").read().strip() for t in os.listdir("/proc/self/task"))
print(" ".join(name for name in names if "gloo" in name))
"""


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads thread names from Linux's /proc")
def test_leaving_the_group_after_ddp_stops_gloos_threads(tmp_path):
    """DDP's first use imported torch.distributed.nn.functional, whose default arguments then held
    the live group for good: gloo's threads outlived destroy_process_group and still ran at
    interpreter exit (about 1 finished torchrun run in 20 aborted there). init_group imports it
    first. A fresh interpreter, so that nothing else imported it before."""
    done = subprocess.run([sys.executable, "-c", LEAVE_AFTER_DDP, str(tmp_path)], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "", f"gloo threads still running after teardown: {done.stdout.strip()}"


def test_more_processes_than_gpus_is_one_clear_error_before_nccl(monkeypatch):
    """torchrun --nproc_per_node 2 on a one-GPU machine: NCCL failed at the first collective with
    'Duplicate GPU detected' tracebacks on every rank (seen on an H100); now a DeviceError, which
    cdvae-train prints as one line, and no process group is started."""
    import torch.distributed as dist

    from cdvae_core import distributed as D

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    for key, value in {"WORLD_SIZE": "2", "RANK": "1", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2"}.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(D.DeviceError, match=r"2 processes on this machine train on CUDA but it has 1 GPU: NCCL "
                       r"needs a GPU per process; start at most 1 \(torchrun --nproc_per_node 1\) or .*--device cpu"):
        D.setup("auto")
    assert not dist.is_initialized()
    # hand-started ranks without LOCAL_WORLD_SIZE: the local rank alone tells
    monkeypatch.delenv("LOCAL_WORLD_SIZE")
    with pytest.raises(D.DeviceError, match="2 processes"):
        D.setup("cuda")


def test_ranks_leave_the_group_together_only_when_all_got_there_together(tmp_path, monkeypatch):
    """A finished run, or an error every rank raised at the same point, meets at a barrier before
    leaving (a rank exiting while its peer finished the last collective aborted the peer at
    shutdown in about 1 run in 20 under torchrun); a rank that failed alone only leaves, since the
    others may sit in a collective the barrier would be mistaken for."""
    import torch.distributed as dist

    from cdvae_core import distributed as D

    calls = []
    monkeypatch.setattr(dist, "is_initialized", lambda: True)
    monkeypatch.setattr(dist, "barrier", lambda *a, **k: calls.append("barrier"))
    monkeypatch.setattr(dist, "destroy_process_group", lambda *a, **k: calls.append("destroy"))
    D.teardown(D.Dist(0, 2, torch.device("cpu"), owns_group=True), aligned=True)
    D.teardown(D.Dist(0, 2, torch.device("cpu"), owns_group=True), aligned=False)
    D.teardown(D.Dist(0, 2, torch.device("cpu"), owns_group=False), aligned=True)  # a caller's group stays
    assert calls == ["barrier", "destroy", "destroy"]

    seen = []
    monkeypatch.setattr(D, "teardown", lambda env, aligned=False, error=None: seen.append((aligned, type(error).__name__)))
    model_cfg, train_cfg = tiny_cfgs(epochs=1)
    run_all(training.train(tiny_pairs(), model_cfg, train_cfg, tmp_path / "ok"))
    real_save = ckpt.save_state

    def save_state(out, state):  # a local failure, not agreed with other ranks
        raise RuntimeError("a rank's own failure")

    monkeypatch.setattr(ckpt, "save_state", save_state)
    with pytest.raises(RuntimeError, match="own failure"):
        run_all(training.train(tiny_pairs(), model_cfg, train_cfg, tmp_path / "alone"))
    monkeypatch.setattr(ckpt, "save_state", real_save)
    poison_after(monkeypatch, set(range(0, 100)))  # the guard's stop: every rank at the same step
    with pytest.raises(training.TrainingError) as stopped:
        run_all(training.train(tiny_pairs(), model_cfg, replace(train_cfg, max_skips=2), tmp_path / "nan"))
    assert D.on_every_rank(stopped.value)
    # each failure reaches teardown, which frees what its traceback holds before leaving
    assert seen == [(True, "NoneType"), (False, "RuntimeError"), (True, "TrainingError")]
    # an error shared by agree (a refusal or failed write on rank 0) is raised on every rank too
    with pytest.raises(ValueError) as agreed:
        D.agree(D.Dist(), ValueError("x"))
    assert not D.on_every_rank(agreed.value)  # one process: nothing was shared

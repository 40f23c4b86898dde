"""Training on a CUDA GPU: resume equals an unbroken run, a GPU run resumes and loads on the CPU,
the NaN guard, and the command line. Skipped where torch sees no GPU (CI has none); run on a GPU
machine with ``python -m pytest tests/test_cuda.py``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from cdvae_core import checkpoint as ckpt
from cdvae_core import training
from cdvae_core.pairs import save_pairs

from helpers import TINY
from test_training import metrics_rows, poison_after, run_all, tiny_cfgs, tiny_pairs, train_stopped_in_epoch, weights

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def test_resume_on_the_gpu_gives_the_same_weights(tmp_path):
    pairs = tiny_pairs()
    model_cfg, train_cfg = tiny_cfgs("mdn", ema=0.9, device="cuda")
    run_all(training.train(pairs, model_cfg, train_cfg, tmp_path / "a"))
    train_stopped_in_epoch(pairs, model_cfg, train_cfg, tmp_path / "b", epoch=3)
    assert ckpt.load_state(tmp_path / "b").epoch == 2
    run_all(training.train(pairs, model_cfg, train_cfg, tmp_path / "b", resume=True))
    wa, wb = weights(tmp_path / "a"), weights(tmp_path / "b")
    assert wa.keys() == wb.keys()
    worst = max(float((wa[k] - wb[k]).abs().max()) for k in wa)
    assert worst <= 1e-6, f"largest weight difference {worst:.3g}"
    # the cuDNN flags the trainer switched are put back
    assert not torch.backends.cudnn.deterministic


def test_a_gpu_run_resumes_on_the_cpu_and_loads_there(tmp_path):
    """Train on a GPU, continue on a laptop: the checkpoint holds CPU tensors and the device is a
    setting --resume may change."""
    pairs = tiny_pairs()
    model_cfg, gpu_cfg = tiny_cfgs("mdn", ema=0.9, epochs=2, device="cuda")
    run_all(training.train(pairs, model_cfg, gpu_cfg, tmp_path / "run"))
    state = ckpt.load_state(tmp_path / "run")
    assert state.epoch == 2 and all(v.device.type == "cpu" for v in state.model.values())
    _, cpu_cfg = tiny_cfgs("mdn", ema=0.9, epochs=3, device="cpu")
    run_all(training.train(pairs, model_cfg, cpu_cfg, tmp_path / "run", resume=True))
    rows = metrics_rows(tmp_path / "run")
    assert [r["epoch"] for r in rows] == [1, 2, 3] and all(np.isfinite(r["test_loss"]) for r in rows)
    predictor = ckpt.load_model(tmp_path / "run")
    cond = predictor.prepare(pairs.xc[0])
    samples = predictor.sample(cond, 8, seed=3)
    assert samples.shape == (8, 1, 32, 32) and np.isfinite(samples).all()
    np.testing.assert_array_equal(samples, predictor.sample(cond, 8, seed=3))


def test_nan_guard_on_the_gpu_names_the_step(tmp_path, monkeypatch):
    poison_after(monkeypatch, set(range(5, 100)))
    model_cfg, train_cfg = tiny_cfgs(max_skips=3, device="cuda")
    with pytest.raises(training.TrainingError, match=r"step 7 \(epoch 3\).*since step 5.*epoch 2 is kept"):
        run_all(training.train(tiny_pairs(), model_cfg, train_cfg, tmp_path))
    assert ckpt.load_state(tmp_path).epoch == 2


def test_command_line_auto_device_trains_on_the_gpu(tmp_path):
    pairs_path = tmp_path / "pairs.npz"
    save_pairs(pairs_path, tiny_pairs())
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps({"model": TINY, "training": {"kl_warmup_epochs": 1.0}}))
    cmd = [sys.executable, str(Path(__file__).parents[1] / "train.py"), "--pairs", str(pairs_path),
           "--config", str(cfg), "--epochs", "2", "--batch-size", "16", "--tie", "gauss",
           "--out", str(tmp_path / "run"), "--quiet"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env={**os.environ})
    assert done.returncode == 0, done.stderr[-2000:]
    config = json.loads((tmp_path / "run" / ckpt.CONFIG_FILE).read_text())
    assert config["training"]["device"] == "auto"
    assert ckpt.read_state_header(tmp_path / "run")["meta"]["device"] == "cuda:0"
    rows = metrics_rows(tmp_path / "run")
    assert [r["epoch"] for r in rows] == [1, 2] and rows[-1]["step"] == 6

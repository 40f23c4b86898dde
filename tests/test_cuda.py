"""Training on a CUDA GPU: resume equals an unbroken run, a GPU run resumes and loads on the CPU,
the NaN guard, the command line, and DDP over NCCL (every collective through a one-rank NCCL
group on one GPU; two ranks where there are two GPUs). Skipped where torch sees no GPU (CI has
none); run on a GPU machine with ``python -m pytest tests/test_cuda.py``."""

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
from test_training import (_one_clear_line, metrics_rows, poison_after, run_all, run_ranks, tiny_cfgs, tiny_pairs,
                           torchrun_two, train_stopped_in_epoch, weights)

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
two_gpus = pytest.mark.skipif(torch.cuda.device_count() < 2, reason="NCCL puts each rank on its own GPU: needs two")


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


# NCCL refuses two ranks on one GPU ("Duplicate GPU detected"), so on a one-GPU machine the DDP
# path runs as a one-rank NCCL group that the trainer treats as distributed: DDP's gradient
# all-reduce, the loss sums, the skip verdict and agree's all_gather_object then all go through
# NCCL on the GPU there is.
ONE_RANK_NCCL = '''
import torch, torch.distributed as dist
from cdvae_core import distributed as D
D.Dist.enabled = property(lambda self: dist.is_initialized())
def setup(device_name):
    device = D.resolve_device(device_name)
    torch.cuda.set_device(device)
    D.init_group("nccl", rank=0, world_size=1)
    assert dist.get_backend() == "nccl"
    return D.Dist(0, 1, device, True)
D.setup = setup
'''


def test_the_ddp_path_over_nccl_gives_a_plain_gpu_runs_weights(tmp_path):
    [(code, err)] = run_ranks(tmp_path, "none", tmp_path / "nccl", device="cuda", world=1, prelude=ONE_RANK_NCCL)
    assert code == 0, err[-3000:]
    [(code, err)] = run_ranks(tmp_path, "none", tmp_path / "plain", device="cuda", world=1)
    assert code == 0, err[-3000:]
    wa, wb = weights(tmp_path / "nccl"), weights(tmp_path / "plain")
    assert wa.keys() == wb.keys()
    worst = max(float((wa[k] - wb[k]).abs().max()) for k in wa)
    assert worst <= 1e-6, f"largest weight difference {worst:.3g}"
    assert [r["epoch"] for r in metrics_rows(tmp_path / "nccl")] == [1, 2, 3]


def test_a_failed_write_under_nccl_is_one_clear_error(tmp_path):
    [(code, err)] = run_ranks(tmp_path, "disk-full", tmp_path / "run", device="cuda", world=1, prelude=ONE_RANK_NCCL)
    assert code == 1 and "cannot write the checkpoint of epoch 2" in _one_clear_line(err)
    assert ckpt.load_state(tmp_path / "run").epoch == 1


@two_gpus
def test_ddp_two_gpus_nccl(tmp_path):
    torchrun_two(tmp_path, "cuda")
    assert [r["epoch"] for r in metrics_rows(tmp_path / "ddp")] == [1, 2]
    header = ckpt.read_state_header(tmp_path / "ddp")["meta"]
    assert header["world"] == 2 and header["device"] == "cuda:0"


@two_gpus
@pytest.mark.parametrize("fault, code, message", [
    ("disk-full", 1, "cannot write the checkpoint of epoch 2"),
    ("nan", 1, "training stopped at step 5 (epoch 2): 3 updates in a row skipped since step 3"),
])
def test_ddp_faults_on_two_gpus_stop_every_rank_with_one_message(tmp_path, fault, code, message):
    """As the gloo tests in tests/test_training.py, over NCCL, which would otherwise wait for
    its timeout where gloo reports a lost peer."""
    for got, err in run_ranks(tmp_path, fault, tmp_path / "run", device="cuda"):
        assert got == code and message in _one_clear_line(err)

"""The models shipped in assets/models load, match their configs, sample for their task and
reproduce the reference samples stored beside them (catches a silent change of model or weights).

Skips cleanly while assets/models holds no models (they are made by
``cdvae-results --install-builtin assets/models``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "assets" / "models"
FOLDERS = {"gauss": ("gauss", None), "mdn4": ("mdn", 4)}  # folder -> (tie, mixtures)
MODEL_DIRS = sorted(p.parent for p in MODELS.glob("*/*/config.json")) if MODELS.is_dir() else []

pytestmark = pytest.mark.skipif(not MODEL_DIRS, reason="assets/models holds no built-in models yet")


def _id(path: Path) -> str:
    return f"{path.parent.name}/{path.name}"


@pytest.fixture(scope="module", params=MODEL_DIRS, ids=[_id(p) for p in MODEL_DIRS])
def shipped(request):
    from cdvae_core.checkpoint import load_model

    return request.param, load_model(request.param)


def test_model_matches_its_folder_and_task(shipped):
    from cdvae_core.tasks import TASK_NAMES, get_task

    path, predictor = shipped
    task = path.parent.name
    assert task in TASK_NAMES and predictor.task == task
    tie, mixtures = FOLDERS[path.name]
    cfg = predictor.config
    assert cfg.arch == "cdvae" and cfg.tie == tie and cfg.layers == 3
    # each samples with its tie's default conditional (the MDN4s were switched to the raw MDN
    # after they were trained: docs/model.md)
    assert cfg.tie_conditional == ("paper" if tie == "mdn" else "exact")
    if mixtures is not None:
        assert cfg.mixtures == mixtures
    t = get_task(task)
    assert (cfg.channels_c, cfg.channels_g) == (t.channels_c, t.channels_g)


def test_weights_are_float16_and_the_dir_is_small(shipped):
    from safetensors.numpy import load_file

    path, _ = shipped
    weights = load_file(str(path / "weights.safetensors"))
    assert all(v.dtype == np.float16 for v in weights.values() if v.dtype.kind == "f")
    assert sum(p.stat().st_size for p in path.iterdir() if p.is_file()) < 6e6


def test_samples_for_its_task(shipped):
    from cdvae_core.tasks import get_task

    path, predictor = shipped
    task = get_task(predictor.task)
    rng = np.random.default_rng(0)
    xc = rng.uniform(*task.c_range, (task.channels_c, 32, 32)).astype(np.float32)
    cond = predictor.prepare(xc)
    samples = predictor.sample(cond, 5, seed=1)
    assert samples.shape == (5, task.channels_g, 32, 32) and np.isfinite(samples).all()
    lo, hi = task.g_range
    span = hi - lo
    assert samples.min() > lo - span and samples.max() < hi + span  # decoder means near the task's range
    assert np.array_equal(samples, predictor.sample(cond, 5, seed=1))  # seeded


def test_reproduces_the_stored_reference_samples(shipped):
    from safetensors.numpy import load_file

    path, predictor = shipped
    ref = load_file(str(path / "reference_samples.safetensors"))
    xc, expected = ref["xc"], ref["samples"]
    got = predictor.sample_batch(xc, expected.shape[1], 0)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-3)


def test_assets_stay_under_40_mb():
    total = sum(p.stat().st_size for p in (ROOT / "assets").rglob("*") if p.is_file())
    assert total < 40e6


# each model's drift limit (sigma) under its own conditional and the other, from its training pairs
# (max(2, their 99% quantile); measured 2026-11-29 when the embeddings were given x_g's codes)
DRIFT_LIMITS = {"relighting/gauss": (2.0, 2.0), "relighting/mdn4": (2.0, 2.0), "resaturation/gauss": (2.0, 2.0),
                "resaturation/mdn4": (2.0, 2.34), "motion/gauss": (2.67, 2.96), "motion/mdn4": (5.47, 9.36)}


def test_its_drift_limit_under_either_conditional(shipped):
    """The Studio's Model menu switches a model's conditional; the red drift badges' limit under the
    other one comes from the x_g codes its embedding keeps (docs/studio.md)."""
    path, predictor = shipped
    emb = predictor.embedding
    assert emb.codes_g.shape == emb.codes_c.shape and emb.tie_drift.shape == (len(emb),)
    other = predictor.with_conditional("exact" if predictor.config.tie_conditional == "paper" else "paper")
    limits = (predictor.drift_limit, other.drift_limit)
    assert limits == pytest.approx(DRIFT_LIMITS[_id(path)], abs=0.01)
    # the stored drift is the kept codes' under the model's own conditional
    import torch

    assert predictor.with_conditional(predictor.config.tie_conditional) is predictor
    with torch.inference_mode():
        again = predictor.model.code_drift(torch.from_numpy(emb.codes_c), torch.from_numpy(emb.codes_g)).numpy()
    np.testing.assert_allclose(again, emb.tie_drift, atol=0.01)

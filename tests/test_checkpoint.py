"""Saved model directories: round trip, one-line ModelLoadErrors, no unpickling, training state."""

from __future__ import annotations

import json
import pickle
import re
import shutil

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from cdvae_core import checkpoint as ckpt
from cdvae_core.config import ModelConfig, TrainConfig
from cdvae_core.model import build_model

from helpers import TINY

pytestmark = pytest.mark.usefixtures("one_thread")


def saved(tmp_path, tie: str = "mdn", arch: str = "cdvae", embedding: bool = True):
    torch.manual_seed(3)
    model = build_model(ModelConfig(arch=arch, tie=tie, **TINY))
    rng = np.random.default_rng(0)
    arrays = None
    if embedding:
        arrays = {
            "lpp_c": rng.standard_normal((10, 4)).astype(np.float32),
            "codes_c": rng.standard_normal((10, 4)).astype(np.float32),
            "split": (np.arange(10) >= 8).astype(np.int8),
            "labels": np.arange(10, dtype=np.int64) % 3,
            "index": np.arange(10, dtype=np.int64),
            "xc_thumbs": rng.random((10, 1, 32, 32)).astype(np.float16),
        }
    out = ckpt.save_model(tmp_path / "model", model, TrainConfig(epochs=2), {"task": "resaturation"}, arrays)
    return model, out, arrays


def test_round_trip_gives_the_same_samples_and_embedding(tmp_path):
    model, out, arrays = saved(tmp_path)
    config = json.loads((out / ckpt.CONFIG_FILE).read_text())
    assert config["format"] == "cdvae-model" and config["format_version"] == 1
    assert config["model"]["tie"] == "mdn" and config["training"]["epochs"] == 2
    predictor = ckpt.load_model(out)
    assert predictor.config == model.cfg and predictor.mixtures == 4
    xc = torch.rand(3, 1, 32, 32)
    model.eval()
    with torch.no_grad():
        want = model.sample(xc, 5, torch.Generator().manual_seed(7))
        got = predictor.model.sample(xc, 5, torch.Generator().manual_seed(7))
    assert torch.equal(want, got)
    for key, value in model.state_dict().items():
        assert torch.equal(predictor.model.state_dict()[key], value)
    emb = predictor.embedding
    assert len(emb) == 10 and emb.lpp is None
    np.testing.assert_array_equal(emb.lpp_c, arrays["lpp_c"])
    np.testing.assert_array_equal(emb.labels, arrays["labels"])
    assert emb.xc_thumbs.dtype == np.float16


def test_a_model_saved_before_g_scale_existed_loads_in_task_units(tmp_path):
    """Session 1 saved configs without ``g_scale``: they load with scale 1 and decode as before,
    and a saved scale round-trips."""
    model, out, _ = saved(tmp_path)
    config = json.loads((out / ckpt.CONFIG_FILE).read_text())
    assert config["model"].pop("g_scale") == 1.0
    (out / ckpt.CONFIG_FILE).write_text(json.dumps(config))
    predictor = ckpt.load_model(out)
    assert predictor.config.g_scale == 1.0
    z = np.random.default_rng(0).standard_normal((2, predictor.code_dim)).astype(np.float32)
    model.eval()
    with torch.no_grad():
        want = model.decode_g(torch.from_numpy(z)).numpy()
    np.testing.assert_allclose(predictor.decode(predictor.prepare(np.zeros((1, 32, 32), np.float32)), z), want, atol=1e-6)
    scaled = ckpt.save_model(tmp_path / "scaled", build_model(ModelConfig(g_scale=8.0, **TINY)), TrainConfig(epochs=1),
                             {"task": "resaturation"})
    assert ckpt.load_model(scaled).config.g_scale == 8.0


def test_cvae_round_trip_without_embedding(tmp_path):
    model, out, _ = saved(tmp_path, arch="cvae", embedding=False)
    predictor = ckpt.load_model(out)
    assert predictor.embedding is None and predictor.config.arch == "cvae"
    cond = predictor.prepare(np.zeros((1, 32, 32), np.float32))
    assert predictor.sample(cond, 4, seed=1).shape == (4, 1, 32, 32)


def test_loading_never_unpickles(tmp_path, monkeypatch):
    _, out, _ = saved(tmp_path)

    def refuse(*args, **kwargs):
        raise AssertionError("unpickling was attempted")

    monkeypatch.setattr(torch, "load", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    assert ckpt.load_model(out).code_dim == 4


def _edit_config(out, **changes):
    config = json.loads((out / ckpt.CONFIG_FILE).read_text())
    config.update(changes)
    (out / ckpt.CONFIG_FILE).write_text(json.dumps(config))


@pytest.mark.parametrize(
    "damage, message",
    [
        ("not_dir", "is not a model directory"),
        ("no_config", "has no config.json"),
        ("bad_json", "is not valid JSON"),
        ("other_format", "is not a cdvae-model config"),
        ("future_version", "format_version 2; this library reads 1"),
        ("true_version", "format_version True; this library reads 1"),  # true == 1 passed before
        ("float_version", "format_version 1.0; this library reads 1"),
        ("string_version", "format_version '1'; this library reads 1"),
        ("unknown_setting", "bad model settings"),
        ("wrong_type", "latent_sizes must be a list of ints, got \\['a', 'b'\\]"),
        ("no_weights", "weights.safetensors is missing"),
        # a run stopped in its first epoch (or still in it): its checkpoint can finish it
        ("unfinished_run", "is a training run that has not finished \\(no weights.safetensors yet, only its "
                           "checkpoint\\): finish it with cdvae-train --resume"),
        ("truncated", "truncated or not a safetensors file"),
        ("other_shapes", "has shape"),
        ("missing_tensor", "lacks 1 tensor"),
        ("bad_embedding", "'codes_c' has 3 rows"),
        ("scalar_embedding", "'labels' has 0 rows"),
        ("no_conv_tower", "conv_channels needs 1 to 5 entries"),
        ("nan_weights", "holds NaN or infinite values"),
        ("negative_channels", "channels_c and channels_g must be positive"),
        # an edited task: every photo was then blamed ("photo.jpg: x_c must have shape (1, 32, 32)")
        ("other_task", "task relighting takes 3\\+1 channels \\(x_c\\+x_g\\), the model has 1\\+1"),
    ],
)
def test_every_broken_directory_is_a_one_line_model_load_error(tmp_path, damage, message):
    _, out, arrays = saved(tmp_path)
    weights = out / ckpt.WEIGHTS_FILE
    if damage == "not_dir":
        out = out / ckpt.CONFIG_FILE
    elif damage == "no_config":
        (out / ckpt.CONFIG_FILE).unlink()
    elif damage == "bad_json":
        (out / ckpt.CONFIG_FILE).write_text("{not json")
    elif damage == "other_format":
        _edit_config(out, format="something-else")
    elif damage == "future_version":
        _edit_config(out, format_version=2)
    elif damage.endswith("_version"):
        _edit_config(out, format_version={"true": True, "float": 1.0, "string": "1"}[damage.split("_")[0]])
    elif damage == "unknown_setting":
        config = json.loads((out / ckpt.CONFIG_FILE).read_text())
        config["model"]["depth_of_field"] = 3
        (out / ckpt.CONFIG_FILE).write_text(json.dumps(config))
    elif damage == "wrong_type":
        config = json.loads((out / ckpt.CONFIG_FILE).read_text())
        config["model"]["latent_sizes"] = ["a", "b"]
        (out / ckpt.CONFIG_FILE).write_text(json.dumps(config))
    elif damage == "no_weights":
        weights.unlink()
    elif damage == "unfinished_run":
        weights.unlink()
        (out / ckpt.STATE_FILE).parent.mkdir(exist_ok=True)
        (out / ckpt.STATE_FILE).write_bytes(b"")  # only its being there counts
    elif damage == "truncated":
        data = weights.read_bytes()
        weights.write_bytes(data[: len(data) // 2])
    elif damage == "other_shapes":
        config = json.loads((out / ckpt.CONFIG_FILE).read_text())
        config["model"]["latent_sizes"] = [8, 6]  # a 6-dimensional code: the weights hold a 4-dimensional one
        (out / ckpt.CONFIG_FILE).write_text(json.dumps(config))
    elif damage == "missing_tensor":
        state = load_file(str(weights))
        state.pop(sorted(state)[0])
        save_file(state, str(weights))
    elif damage == "bad_embedding":
        tensors = {k: torch.from_numpy(v) for k, v in arrays.items()}
        tensors["codes_c"] = tensors["codes_c"][:3].clone()
        save_file(tensors, str(out / ckpt.EMBEDDING_FILE))
    elif damage == "scalar_embedding":  # a 0-d tensor has no rows: was an IndexError traceback
        tensors = {k: torch.from_numpy(v) for k, v in arrays.items()}
        tensors["labels"] = torch.tensor(3)
        save_file(tensors, str(out / ckpt.EMBEDDING_FILE))
    elif damage == "no_conv_tower":  # no convolutions: building the decoder was an IndexError traceback
        config = json.loads((out / ckpt.CONFIG_FILE).read_text())
        config["model"]["conv_channels"] = []
        (out / ckpt.CONFIG_FILE).write_text(json.dumps(config))
    elif damage == "negative_channels":  # was torch's RuntimeError "negative dimension" (found by editing every key)
        config = json.loads((out / ckpt.CONFIG_FILE).read_text())
        config["model"]["channels_g"] = -1
        (out / ckpt.CONFIG_FILE).write_text(json.dumps(config))
    elif damage == "other_task":
        config = json.loads((out / ckpt.CONFIG_FILE).read_text())
        config["model"]["task"] = "relighting"
        (out / ckpt.CONFIG_FILE).write_text(json.dumps(config))
    elif damage == "nan_weights":  # loaded silently before, and every sample came out NaN
        state = load_file(str(weights))
        key = sorted(state)[0]
        state[key] = torch.full_like(state[key], float("nan"))
        save_file(state, str(weights))
    with pytest.raises(ckpt.ModelLoadError, match=message) as info:
        ckpt.load_model(out)
    assert "\n" not in str(info.value)


def test_training_state_round_trip_restores_the_optimizer_exactly(tmp_path):
    torch.manual_seed(0)
    model = build_model(ModelConfig(tie="gauss", **TINY))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.rand(4, 1, 32, 32)
    for _ in range(2):
        opt.zero_grad()
        model(x, x)["loss"].backward()
        opt.step()
    targets = {"c": torch.randn(5, 4), "lpp.mean": torch.zeros(1024)}
    state = ckpt.TrainState(epoch=3, step=17, model=model.state_dict(), optimizer=opt.state_dict(), ema=None,
                            targets=targets, meta={"data_sha1": "abc", "world": 1})
    ckpt.save_state(tmp_path, state)
    back = ckpt.load_state(tmp_path)
    assert (back.epoch, back.step, back.meta, back.ema) == (3, 17, {"data_sha1": "abc", "world": 1}, None)
    assert torch.equal(back.targets["c"], targets["c"])

    # an optimiser restored from the file takes the very same next step as the original one
    torch.manual_seed(1)
    clone = build_model(ModelConfig(tie="gauss", **TINY))
    clone.load_state_dict(back.model)
    opt2 = torch.optim.Adam(clone.parameters(), lr=1e-3)
    opt2.load_state_dict(back.optimizer)
    for m, o in ((model, opt), (clone, opt2)):
        torch.manual_seed(5)
        o.zero_grad()
        m(x, x)["loss"].backward()
        o.step()
    for (k, a), b in zip(model.state_dict().items(), clone.state_dict().values()):
        assert torch.equal(a, b), k


def test_state_file_of_another_version_is_refused(tmp_path):
    (tmp_path / "checkpoint").mkdir()
    save_file({"x": torch.zeros(1)}, str(tmp_path / ckpt.STATE_FILE),
              metadata={"state": json.dumps({"format": ckpt.STATE_FORMAT, "format_version": 99})})
    with pytest.raises(ckpt.StateLoadError, match="format_version 99"):
        ckpt.load_state(tmp_path)
    save_file({"x": torch.zeros(1)}, str(tmp_path / ckpt.STATE_FILE),  # true == 1 passed before
              metadata={"state": json.dumps({"format": ckpt.STATE_FORMAT, "format_version": True})})
    with pytest.raises(ckpt.StateLoadError, match="format_version True"):
        ckpt.load_state(tmp_path)
    assert ckpt.load_state(tmp_path / "elsewhere") is None


@pytest.mark.parametrize("damage", ["opt_tensor", "header_key", "meta"])
def test_a_damaged_training_state_is_a_state_load_error(tmp_path, damage):
    """Parts missing from checkpoint/state.safetensors: a one-line StateLoadError, not a KeyError."""
    torch.manual_seed(0)
    model = build_model(ModelConfig(tie="gauss", **TINY))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    opt.zero_grad()
    x = torch.rand(2, 1, 32, 32)
    model(x, x)["loss"].backward()
    opt.step()
    ckpt.save_state(tmp_path, ckpt.TrainState(epoch=1, step=1, model=model.state_dict(), optimizer=opt.state_dict(),
                                              ema=None, targets={"c": torch.zeros(2, 4)}, meta={"world": 1}))
    path = tmp_path / ckpt.STATE_FILE
    tensors = load_file(str(path))
    with safe_open(str(path), framework="pt") as handle:
        header = json.loads(handle.metadata()["state"])
    if damage == "opt_tensor":
        tensors.pop(next(k for k in sorted(tensors) if k.startswith("opt.")))
    elif damage == "header_key":
        del header["optimizer"]
    else:
        header["meta"] = [1]
    save_file(tensors, str(path), metadata={"state": json.dumps(header)})
    with pytest.raises(ckpt.StateLoadError, match="incomplete or damaged") as info:
        ckpt.load_state(tmp_path)
    assert "\n" not in str(info.value)


def test_a_folder_of_saved_models_names_them(tmp_path):
    """The models folder given instead of one of its models said only "has no config.json"; it
    names the saved models inside (not the other folders) and one path to give."""
    saved(tmp_path)  # tmp_path/model
    (tmp_path / "photos").mkdir()  # not a model: not named
    with pytest.raises(ckpt.ModelLoadError, match=r"has no config.json; it holds one saved model \(model\): give "
                                                  f"that, {re.escape(str(tmp_path / 'model'))}$"):
        ckpt.load_model(tmp_path)
    for name in ("m2", "m3", "m4"):
        shutil.copytree(tmp_path / "model", tmp_path / name)
    with pytest.raises(ckpt.ModelLoadError, match=r"it holds 4 saved models \(m2, m3, m4 and 1 more\): give one of "
                                                  f"them, such as {re.escape(str(tmp_path / 'm2'))}$"):
        ckpt.load_model(tmp_path)
    with pytest.raises(ckpt.ModelLoadError, match=r"has no config.json$"):  # nothing inside: as before
        ckpt.load_model(tmp_path / "photos")

"""Files edited by hand, key by key: every key of a file the commands read (an export sidecar, a
saved model's config, a training checkpoint's header, a --config file, a pair file's meta and a COCO
annotation file) is deleted or set to null, a string, -1, 0, 1e308, [], {}, true, NaN or 2^70, and
the command or reader must then succeed or refuse in one line. Session 18's scripts found 98
sidecars, 42 checkpoint headers, 6 COCO entries, 5 settings files, 4 configs and 4 pair metas that
ended in a traceback from deep inside. CI runs every SPREAD-th edit; CDVAE_EDITS=all runs them all
(about 2,600 here, two minutes)."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.numpy import load_file as load_numpy
from safetensors.numpy import save_file as save_numpy
from safetensors.torch import load_file, save_file

from cdvae_core.checkpoint import EMBEDDING_FILE, STATE_FILE, load_model, save_model
from cdvae_core.cli import sample
from cdvae_core.cli import train as train_cli
from cdvae_core.cli.prepare import main as prepare_main
from cdvae_core.config import ModelConfig, TrainConfig
from cdvae_core.data.builtin import builtin_images
from cdvae_core.model import build_model
from cdvae_core.pairs import PairSet, save_pairs

from helpers import SPREAD, TINY, array_edits, edits, key_paths

pytestmark = pytest.mark.usefixtures("one_thread")

TRAINING = dict(epochs=1, batch_size=16, num_threads=1)  # one quick epoch of the TINY model


def assert_succeeds_or_one_line(code: int, err: str, prog: str, case: tuple) -> None:
    """A command's exit code and stderr: 0, or 2 with exactly one line naming the command."""
    lines = err.strip().splitlines()
    assert code in (0, 2), (case, code, lines[-5:])
    if code == 2:
        assert len(lines) == 1 and lines[0].startswith(f"{prog}: error: "), (case, lines[-5:])


# ----------------------------------------------------------------------------- reading a model


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> Path:
    """A tiny model, a photo and one result exported through cdvae-sample --image."""
    root = tmp_path_factory.mktemp("edited")
    torch.manual_seed(0)
    save_model(root / "model", build_model(ModelConfig(task="resaturation", channels_c=1, channels_g=1, **TINY)),
               TrainConfig())
    rgb = cv2.GaussianBlur((np.random.default_rng(1).random((40, 56, 3)) * 255).astype(np.uint8), (0, 0), 2)
    cv2.imwrite(str(root / "photo.png"), rgb)
    assert sample.main(["--model", str(root / "model"), "--image", str(root / "photo.png"), "--n", "1",
                        "--export", str(root / "out")]) == 0
    return root


def test_every_edited_sidecar_reproduces_or_says_why_in_one_line(exported, capsys):
    base = json.loads((exported / "out" / "photo_000.json").read_text())
    cases = edits(base)
    assert len(cases) >= 726 // SPREAD
    capsys.readouterr()
    for n, (path, value, edited) in enumerate(cases):
        side = exported / f"edited_{n}.json"
        side.write_text(json.dumps(edited))
        code = sample.main(["--reproduce", str(side), "--out", str(exported / "again.png"), "--overwrite"])
        assert_succeeds_or_one_line(code, capsys.readouterr().err, "cdvae-sample", (path, value))


def test_every_edited_model_config_loads_or_says_why_in_one_line(exported, tmp_path):
    base = json.loads((exported / "model" / "config.json").read_text())
    cases = edits(base)
    assert len(cases) >= 517 // SPREAD
    model = tmp_path / "model"
    shutil.copytree(exported / "model", model)
    for path, value, edited in cases:
        (model / "config.json").write_text(json.dumps(edited))
        try:
            load_model(model)
        except ValueError as exc:  # ModelLoadError: one line naming what is wrong
            assert "\n" not in str(exc) and str(model) in str(exc), (path, value, exc)


def test_every_edited_embedding_array_loads_or_says_why_in_one_line(tmp_path):
    """A shipped model's embedding.safetensors (the scatter plot's rows and the LPP projection)
    with each array damaged: session 19 found a flattened or column-less lpp_c or codes_c, NaN
    thumbnails, codes of another width than the model's, fractional or negative indices, labels
    and splits, and NaN LPP eigenvalues all loading, to fail in the Studio's scatter plot or be
    cast without a word."""
    source = Path(__file__).resolve().parents[1] / "assets" / "models" / "relighting" / "mdn4"
    arrays = load_numpy(str(source / EMBEDDING_FILE))
    cases = array_edits(arrays)
    assert len(cases) >= 103 // SPREAD
    model = tmp_path / "model"
    shutil.copytree(source, model)
    loaded = []
    for case, edited in cases:
        save_numpy(edited, str(model / EMBEDDING_FILE))
        try:
            predictor = load_model(model)
        except ValueError as exc:  # ModelLoadError: one line naming the file
            assert "\n" not in str(exc) and str(model / EMBEDDING_FILE) in str(exc), (case, exc)
            continue
        loaded.append(case)
        emb = predictor.embedding
        assert np.isfinite(emb.lpp_c).all() and emb.lpp_c.ndim == 2 and set(np.unique(emb.split)) <= {0, 1}, case
        for codes in (emb.codes_c, emb.codes_g):
            assert codes is None or codes.shape == (len(emb), predictor.code_dim), case
            assert codes is None or np.isfinite(codes).all(), case
        assert np.isfinite(predictor.drift_limit) and np.isfinite(predictor.with_conditional("exact").drift_limit), case
    assert loaded, "no edit loaded: the test no longer tells a refusal from a load"


# ----------------------------------------------------------------------------- training


def tiny_pairs(root: Path, meta: dict[str, Any], n: int = 32) -> Path:
    """A pair file of ``n`` random one-channel pairs (every 8th a test pair) with ``meta``."""
    rng = np.random.default_rng(0)
    path = root / "pairs.npz"
    save_pairs(path, PairSet(xc=rng.random((n, 1, 32, 32), dtype=np.float32),
                             xg=rng.random((n, 1, 32, 32), dtype=np.float32),
                             split=(np.arange(n) % 8 == 0).astype(np.int8), meta=meta))
    return path


def train(argv: list[str], capsys) -> tuple[int, str]:
    code = train_cli.main([*argv, "--quiet"])
    return code, capsys.readouterr().err


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A pair file, a --config file of the TINY model for one epoch, and a run of it in run/."""
    root = tmp_path_factory.mktemp("trained")
    tiny_pairs(root, {"task": "resaturation"})
    (root / "config.json").write_text(json.dumps({"model": TINY, "training": TRAINING}))
    assert train_cli.main(["--pairs", str(root / "pairs.npz"), "--config", str(root / "config.json"),
                           "--out", str(root / "run"), "--quiet"]) == 0
    return root


def test_every_edited_checkpoint_header_resumes_or_says_why_in_one_line(trained, tmp_path, capsys):
    """--resume from a checkpoint whose JSON header was edited (its optimizer's per-parameter
    slot lists but the first left out: 80 alike entries)."""
    with safe_open(str(trained / "run" / STATE_FILE), framework="pt") as handle:
        header = json.loads(handle.metadata()["state"])
    tensors = load_file(str(trained / "run" / STATE_FILE))
    skip = lambda path: path[:2] == ("optimizer", "state") and path[2:] not in ((), ("0",))  # noqa: E731
    cases = edits(header, list(key_paths(header, skip=skip)))
    assert len(cases) >= 650 // SPREAD
    argv = ["--pairs", str(trained / "pairs.npz"), "--config", str(trained / "config.json"), "--epochs", "2", "--resume"]
    capsys.readouterr()
    for n, (path, value, edited) in enumerate([((), None, header), *cases]):
        run = tmp_path / f"run_{n}"
        shutil.copytree(trained / "run", run)
        save_file(tensors, str(run / STATE_FILE), metadata={"state": json.dumps(edited)})
        code, err = train([*argv, "--out", str(run)], capsys)
        assert_succeeds_or_one_line(code, err, "cdvae-train", (path, value))
        assert code == 0 or n > 0, err  # the unedited checkpoint resumes
        shutil.rmtree(run)


def test_every_edited_setting_of_a_config_file_trains_or_says_why_in_one_line(trained, tmp_path, capsys):
    """cdvae-train --config with every model and training setting written out, then edited."""
    model = dataclasses.asdict(ModelConfig(**TINY))
    model.pop("task")  # set by the pair file; one that disagrees is refused by design
    base = {"model": model, "training": {**dataclasses.asdict(TrainConfig()), **TRAINING}}
    forever = (("training", "epochs"), 2**70)  # accepted, and trains for ever as asked
    cases = [case for case in edits(base) if case[:2] != forever]
    assert len(cases) >= 460 // SPREAD
    for n, (path, value, edited) in enumerate(cases):
        (tmp_path / "config.json").write_text(json.dumps(edited))
        code, err = train(["--pairs", str(trained / "pairs.npz"), "--config", str(tmp_path / "config.json"),
                           "--out", str(tmp_path / f"run_{n}")], capsys)
        assert_succeeds_or_one_line(code, err, "cdvae-train", (path, value))


def test_every_edited_pair_file_meta_trains_or_says_why_in_one_line(trained, tmp_path, capsys):
    """A pair file's meta as cdvae-prepare writes it (task, per-pair labels and their names)."""
    meta = {"task": "resaturation", "labels": [k % 3 for k in range(32)], "label_names": ["a", "b", "c"],
            "source": {"kind": "folder"}}
    cases = edits(meta, [*key_paths(meta), ("labels", 0), ("label_names", 0)])
    for n, (path, value, edited) in enumerate(cases):
        pairs = tiny_pairs(tmp_path, edited)
        code, err = train(["--pairs", str(pairs), "--config", str(trained / "config.json"),
                           "--out", str(tmp_path / f"run_{n}")], capsys)
        assert_succeeds_or_one_line(code, err, "cdvae-train", (path, value))


# ----------------------------------------------------------------------------- preparing data


def test_every_edited_coco_annotation_entry_prepares_or_says_why_in_one_line(tmp_path, capsys):
    """cdvae-prepare --coco with the first image, annotation and category of a small
    instances file edited key by key (and each whole list, and the file's top keys)."""
    width, height = 160, 120
    images = tmp_path / "train2014"
    images.mkdir()
    entries = []
    for k, (_name, rgb) in enumerate(builtin_images()[:3]):
        name = f"COCO_train2014_{k + 1:012d}.jpg"
        cv2.imwrite(str(images / name), cv2.resize(rgb, (width, height))[:, :, ::-1])
        entries.append({"id": k + 1, "file_name": name, "width": width, "height": height})
    base = {
        "images": entries,
        "annotations": [
            {"id": 2, "image_id": 2, "category_id": 1, "bbox": [80, 0, 80, 60], "area": 3000.0, "iscrowd": 0,
             "segmentation": [[80, 0, 160, 0, 160, 60, 80, 60]]},
            {"id": 1, "image_id": 1, "category_id": 17, "bbox": [0, 0, 80, 120], "area": 9600.0, "iscrowd": 0},
        ],
        "categories": [{"id": 1, "name": "person"}, {"id": 17, "name": "cat"}],
    }
    cases = edits(base)
    assert len(cases) >= 200 // SPREAD
    capsys.readouterr()
    for n, (path, value, edited) in enumerate([((), None, base), *cases]):
        (tmp_path / "instances.json").write_text(json.dumps(edited))
        code = prepare_main(["--task", "resaturation", "--coco", str(images), str(tmp_path / "instances.json"),
                             "--out", str(tmp_path / f"p{n}.npz"), "--workers", "1", "--quiet", "--seed", "0"])
        err = capsys.readouterr().err
        assert_succeeds_or_one_line(code, err, "cdvae-prepare", (path, value))
        assert code == 0 or n > 0, err  # the unedited file prepares

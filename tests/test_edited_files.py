"""Files edited by hand, key by key: every key of a sidecar and of a saved model's config is
deleted or set to null, a string, -1, 0, 1e308, [], {}, true, NaN or 2^70, and the command or
reader must then succeed or refuse in one line (session 18 found 98 sidecars and 2 configs that
ended in a traceback from deep inside). CI runs every SPREAD-th edit; CDVAE_EDITS=all runs them all
(726 sidecars and 517 configs here, about 11 s)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any, Iterator

import cv2
import numpy as np
import pytest
import torch

from cdvae_core.checkpoint import load_model, save_model
from cdvae_core.cli import sample
from cdvae_core.config import ModelConfig, TrainConfig
from cdvae_core.model import build_model

from helpers import DELETE, TINY, edited_json

VALUES = [DELETE, None, "x", -1, 0, 1e308, [], {}, True, float("nan"), 2**70]
SPREAD = 1 if os.environ.get("CDVAE_EDITS") == "all" else 9  # every SPREAD-th edit in a default run


def key_paths(doc: dict[str, Any], prefix: tuple = ()) -> Iterator[tuple]:
    """Every key of a JSON object, nested objects' keys included, as paths."""
    for key, value in doc.items():
        yield prefix + (key,)
        if isinstance(value, dict):
            yield from key_paths(value, prefix + (key,))


def edits(doc: dict[str, Any]) -> list[tuple[tuple, Any, dict[str, Any]]]:
    """(path, value, edited copy) for every key and value, every SPREAD-th of them."""
    return [(path, value, edited_json(doc, path, value)) for path in key_paths(doc) for value in VALUES][::SPREAD]


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
        err = capsys.readouterr().err.strip().splitlines()
        assert code in (0, 2), (path, value, code, err)
        if code == 2:
            assert len(err) == 1 and err[0].startswith("cdvae-sample: error: "), (path, value, err)


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

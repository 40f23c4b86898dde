"""What the Train dialog takes from a run it resumes: the settings it derives from Epochs, kept
as the run had them, the check that the form's settings are the run's, made before anything
starts, and the loss curves the run logged so far, which the resumed run's plot continues.

Qt-free; reads only.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

# TrainConfig fields the dialog derives from Epochs (warm-up and guidance decay inside short runs):
# a resumed run with more epochs keeps its own (it was refused as "trained with other settings")
DERIVED_FROM_EPOCHS = ("kl_warmup_epochs", "guidance_epochs")
# metrics.jsonl columns that are no loss term of the plot
NOT_CURVES = {"epoch", "step", "seconds", "forced_updates", "test_loss", "images_per_s", "eta_s", "kl_weight",
              "guidance_weight", "lower_weight", "skipped", "grad_norm"}


def resumed_configs(out: Path, model_cfg: Any, train_cfg: Any) -> tuple[Any, Any]:
    """(model_cfg, train_cfg) to resume the run in ``out`` with: the derived schedule taken from
    its config.json, then checked against it and its checkpoint (``train_dir.check_compatible``).
    ResumeMismatchError (one line) when the form's settings are not the run's. A folder without
    config.json (nothing to resume) is the trainer's to refuse: returned unchanged."""
    from cdvae_core.checkpoint import CONFIG_FILE, read_config
    from cdvae_core.train_dir import ResumeMismatchError, check_checkpoint_settings, check_compatible

    if not (out / CONFIG_FILE).is_file():
        return model_cfg, train_cfg
    try:
        saved = read_config(out).get("training", {})
    except ValueError as exc:  # ModelLoadError: an unreadable config.json
        raise ResumeMismatchError(f"cannot resume {out}: {exc}") from exc
    if isinstance(saved, dict):
        train_cfg = replace(train_cfg, **{k: saved[k] for k in DERIVED_FROM_EPOCHS if isinstance(saved.get(k), (int, float))})
    model_cfg = check_compatible(out, model_cfg, train_cfg)
    header = _state_header(out)
    if header is not None:
        check_checkpoint_settings(out, header.get("meta", {}), model_cfg, train_cfg)
    return model_cfg, train_cfg


def _state_header(out: Path) -> dict | None:
    from cdvae_core.checkpoint import StateLoadError, read_state_header

    try:
        return read_state_header(out)
    except StateLoadError:
        return None  # damaged: the trainer names the damage


def logged_curves(out: Path, upto_epoch: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """term -> (steps, values) of the epochs <= ``upto_epoch`` that ``out/metrics.jsonl`` holds
    (one point per epoch, at its last step); lines that do not read are skipped."""
    from cdvae_core.checkpoint import METRICS_FILE

    path = out / METRICS_FILE
    curves: dict[str, tuple[list[float], list[float]]] = {}
    try:
        lines = path.read_text("utf-8", errors="replace").splitlines()
    except OSError:
        return {}
    for line in lines:
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if not isinstance(row, dict) or not isinstance(row.get("step"), (int, float)) \
                or not isinstance(row.get("epoch"), (int, float)) or row["epoch"] > upto_epoch:
            continue
        for name, value in row.items():
            if name not in NOT_CURVES and isinstance(value, (int, float)) and np.isfinite(value):
                steps, values = curves.setdefault(name, ([], []))
                steps.append(float(row["step"]))
                values.append(float(value))
    return {name: (np.asarray(s), np.asarray(v)) for name, (s, v) in curves.items()}

"""The Train dialog's Qt-free side: the job its spawned training process runs (``training_job``:
pairs prepared or read, then training; the process imports this module, not the dialog's
widgets and pyqtgraph: 0.2 s instead of 0.5 s), and what the dialog reads of a run's folder: what a stopped run kept
(``saved_progress``), what preparing skipped (``skipped_note``), and for a run it resumes the
settings it derives from Epochs, kept as the run had them, the check that the form's settings
are the run's, made before anything starts, and the loss curves the run logged so far, which
the resumed run's plot continues (``resumed_configs``, ``logged_curves``).
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any, Generator, NamedTuple

import numpy as np

# TrainConfig fields the dialog derives from Epochs (warm-up and guidance decay inside short runs):
# a resumed run with more epochs keeps its own (it was refused as "trained with other settings")
DERIVED_FROM_EPOCHS = ("kl_warmup_epochs", "guidance_epochs")
# metrics.jsonl columns and live progress values that are no loss term (schedules, rates, counts):
# never plotted, live or from a resumed run's log (widgets.loss_plot)
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


def dialog_controls():
    """The trainer's advice in the dialog's words ("tick Resume", not "pass --resume")."""
    from cdvae_core.train_dir import Controls

    return Controls(out_hint="", resume="Resume", resume_on="tick Resume", resume_off="untick Resume",
                    no_guidance="more, and more varied, photos or clips help")


class Trained(NamedTuple):
    """What a finished training job hands back: its model folder, and what preparing its source
    skipped (a pair file's ``meta["skipped"]``; None for a pair file, which was prepared before)."""

    out_dir: str
    skipped: dict | None


def training_job(source: tuple, task: str, model_cfg: Any, train_cfg: Any, out_dir: str, resume: bool,
                 limit: int | None) -> Generator[Any, None, Trained]:
    """Pairs (prepared or read) then training, as one generator of Progress."""
    from cdvae_core.pairs import load_pairs
    from cdvae_core.training import train

    if source[0] == "pairs":
        pairs, skipped = load_pairs(source[1], require_test=False), None
    else:
        from cdvae_core.data.prepare import prepare_pairs

        spec = "builtin" if source[0] == "builtin" else source
        pairs = yield from prepare_pairs(spec, task, limit=limit, seed=train_cfg.seed, workers=1)
        skipped = pairs.meta.get("skipped")
    yield from train(pairs, model_cfg, train_cfg, out_dir, resume=resume, controls=dialog_controls())
    return Trained(out_dir, skipped)


def saved_progress(out_dir: str) -> tuple[int | None, bool]:
    """What a stopped run left in ``out_dir``: the number of epochs its checkpoint holds (None:
    no checkpoint yet), and whether Resume applies there (a checkpoint, or a run stopped before
    its first epoch was saved: its config.json, so only a resumed run may start afresh there)."""
    from cdvae_core.train_dir import OutputDirError, check_resumable, saved_epochs

    try:
        resumable = check_resumable(Path(out_dir))
    except OutputDirError:
        return None, False
    return (saved_epochs(out_dir) if resumable else None), True


def skipped_note(skipped: dict | None) -> tuple[str, str]:
    """(a sentence for the dialog's status, the names for its tooltip) of what preparing skipped;
    ("", "") when nothing was. The prepared pairs' skip summary, which cdvae-prepare prints, was
    lost: a folder of which a third would not open trained on the rest without a word."""
    from cdvae_core.data.errors import SkipLog

    log = SkipLog.from_meta(skipped or {})
    if not log.total:
        return "", ""
    return (f" Skipped {log.total} item(s) of the source: {log.counts_text()}.",
            "\n".join(line.strip() for line in log.summary_lines()))

"""Checks on a training output directory before anything is written into it.

A new run needs an empty (or absent) writable directory; resuming needs a directory holding
a training checkpoint (or a run stopped before its first epoch ended) whose config matches the
run's settings, so a run of another configuration, or a model without a checkpoint, is never
overwritten. The errors advise what to do in the caller's terms (``Controls``): cdvae-train's
flags by default, a dialog's checkbox when the Studio passes its own.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from pathlib import Path

from .atomic import unwritable_reason
from .checkpoint import (CONFIG_FILE, STATE_FILE, WEIGHTS_FILE, ModelLoadError, StateLoadError, read_config,
                         read_state_header)
from .config import ConfigError, ModelConfig, TrainConfig

# Training settings that may change between a run and its resumption.
RESUMABLE_CHANGES = ("epochs", "device", "num_threads")
SAMPLING_ONLY = ("tie_conditional",)  # model settings training never reads: a resumed run keeps its own


@dataclass(frozen=True)
class Controls:
    """How the caller's user names the output directory and resuming, for the errors' advice."""

    out_hint: str = "with --out"  # "name a directory {out_hint}"; "" where the control is obvious
    resume: str = "--resume"  # the resume control's name
    resume_on: str = "pass --resume"  # "{resume_on} to continue that run"
    resume_off: str = "leave out --resume"  # "{resume_off} to start a run there"
    # said after an embedding-guidance fit that failed (too few, or too alike, training pairs)
    no_guidance: str = "more (and more varied) pairs help, or --guidance-start 0 trains without embedding guidance"


CLI_CONTROLS = Controls()  # cdvae-train's flags (the default: its messages are tested)


class OutputDirError(ValueError):
    """An output directory that cannot take this run (exists with files, unwritable, a file)."""


class ResumeMismatchError(ValueError):
    """Resuming a directory trained with other settings."""


def check_out_dir(out: Path, resume: bool, write_probe: bool = True, controls: Controls = CLI_CONTROLS) -> None:
    """Raise OutputDirError unless ``out`` can take this run; creates nothing. ``controls``
    names the caller's controls in the advice."""
    if not str(out).strip():
        raise OutputDirError(" ".join(("the output directory is empty: name a directory", controls.out_hint)).rstrip())
    if out.exists() and not out.is_dir():
        raise OutputDirError(f"{out} exists and is not a directory")
    if out.is_dir() and not resume and any(out.iterdir()):
        if not (out / CONFIG_FILE).is_file() and not (out / STATE_FILE).exists():
            # no run to continue there: "tick Resume to continue that run" led to "nothing to resume"
            raise OutputDirError(f"{out} already holds files, and no training run: choose a new directory")
        raise OutputDirError(f"{out} already holds files: {controls.resume_on} to continue that run, or choose a new directory")
    why = unwritable_reason(out) if write_probe else None
    if why is not None:
        raise OutputDirError(f"{out} {why}")


def check_resumable(out: Path, controls: Controls = CLI_CONTROLS) -> bool:
    """For resuming: True when ``out`` holds a training checkpoint, False for a run stopped
    before its first epoch ended (its config.json but no weights yet: it starts over); otherwise
    OutputDirError "nothing to resume in ...". Reads only. ``controls`` as for check_out_dir."""
    if not out.exists():
        raise OutputDirError(f"nothing to resume in {out}: it does not exist ({controls.resume_off} to start a run there)")
    if not any(out.iterdir()):
        raise OutputDirError(f"nothing to resume in {out}: it is empty ({controls.resume_off} to start a run there)")
    if (out / STATE_FILE).exists():
        return True
    if not (out / CONFIG_FILE).is_file():
        raise OutputDirError(f"nothing to resume in {out}: it holds neither {STATE_FILE} nor {CONFIG_FILE} of a "
                             "training run; choose a new directory")
    if (out / WEIGHTS_FILE).exists():
        raise OutputDirError(f"nothing to resume in {out}: it holds a saved model but no {STATE_FILE} (removed "
                             "after training?); train into a new directory")
    return False


def saved_epochs(out: str | os.PathLike) -> int | None:
    """The finished epochs a stopped run's checkpoint in ``out`` holds; None where there is none
    (or it is damaged: resuming names the damage). What the CLI and the Studio tell the user."""
    try:
        header = read_state_header(out)
    except StateLoadError:
        return None
    return None if header is None else int(header["epoch"])


def stopped_early(out: str | os.PathLike) -> tuple[int, int] | None:
    """(epochs trained, epochs asked for) of the run in ``out`` when it stopped before its last
    epoch (cancelled, interrupted, killed): its checkpoint holds fewer epochs than its
    config.json asked for. None for a finished run, or a folder without both (or damaged)."""
    done = saved_epochs(out)
    try:
        planned = read_config(Path(out)).get("training", {}).get("epochs")
    except (ModelLoadError, AttributeError):
        return None
    if done is None or not isinstance(planned, int) or done >= planned:
        return None
    return done, planned


def _differences(a, b, skip: tuple[str, ...] = ()) -> list[str]:
    return [
        f"{f.name} {getattr(a, f.name)!r} != {getattr(b, f.name)!r}"
        for f in fields(a)
        if f.name not in skip and getattr(a, f.name) != getattr(b, f.name)
    ]


def check_compatible(out: Path, model_cfg: ModelConfig, train_cfg: TrainConfig) -> ModelConfig:
    """Raise ResumeMismatchError unless ``out/config.json`` was written for these settings; return
    ``model_cfg`` with the run's own sampling conditional, which training never reads (a run saved
    when the MDN default was "exact" resumes as it was, not refused as other settings)."""
    try:
        config = read_config(out)
        saved_model = ModelConfig.from_dict(config["model"])
        saved_train = TrainConfig.from_dict(config.get("training", {}))
    except (ModelLoadError, ConfigError, TypeError) as exc:
        raise ResumeMismatchError(f"cannot resume from {out}: its {CONFIG_FILE} is unusable ({exc})") from exc
    diff = _setting_differences(saved_model, saved_train, model_cfg, train_cfg)
    if diff:
        raise ResumeMismatchError(f"cannot resume {out}: it was trained with other settings ({diff})")
    return replace(model_cfg, **{name: getattr(saved_model, name) for name in SAMPLING_ONLY})


def _setting_differences(saved_model: ModelConfig, saved_train: TrainConfig, model_cfg: ModelConfig,
                         train_cfg: TrainConfig) -> str:
    """The first few settings a resumed run may not change, "name saved != asked"; "" if none."""
    diff = (_differences(saved_model, model_cfg, SAMPLING_ONLY)
            + _differences(saved_train, train_cfg, RESUMABLE_CHANGES))
    return "; ".join(diff[:3]) + ("; ..." if len(diff) > 3 else "")


def check_checkpoint_settings(out: Path, meta: dict, model_cfg: ModelConfig, train_cfg: TrainConfig) -> None:
    """Raise ResumeMismatchError unless the settings the checkpoint records it was trained with
    (its header's "model" and "training") are this run's. ``config.json`` can be edited: an
    edited sigma_t resumed at the new value, and the checkpoint then claimed every epoch had
    used it. Checkpoints that record none, or none this version reads, are not checked:
    ``config.json``, checked already, is then all there is."""
    if not isinstance(meta.get("model"), dict) or not isinstance(meta.get("training"), dict):
        return
    try:
        saved_model = ModelConfig.from_dict(meta["model"])
        saved_train = TrainConfig.from_dict(meta["training"])
    except (ConfigError, TypeError):
        return
    diff = _setting_differences(saved_model, saved_train, model_cfg, train_cfg)
    if diff:
        raise ResumeMismatchError(f"cannot resume {out}: its checkpoint was trained with other settings than its "
                                  f"{CONFIG_FILE} and this run name ({diff}; was {CONFIG_FILE} edited?)")

"""The paper's three tasks: how a photo (or two frames) becomes an (x_c, x_g) pair and back.

``get_task(name)`` returns a Task (see ``base.Task``); ``TASK_NAMES`` lists them.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from .base import MODEL_SIZE, Task, TaskError
from .motion import MotionTask
from .relighting import RelightingTask
from .resaturation import ResaturationTask

TASK_NAMES = ("relighting", "resaturation", "motion")
_TASKS = {"relighting": RelightingTask, "resaturation": ResaturationTask, "motion": MotionTask}
NO_PHOTO_TASK = "synthetic"  # models of layers that are no photo's (the known-mode sets, --task synthetic)
NO_PHOTO_TEXT = ("the model was trained on synthetic layers (task 'synthetic'), not a photo task's, so it samples "
                 "pair files only (cdvae-sample --pairs, cdvae-eval)")


def get_task(name: str) -> Task:
    """A task by name; TaskError (a ValueError) for an unknown one."""
    try:
        return _TASKS[name]()
    except KeyError:
        if name == NO_PHOTO_TASK:  # was "unknown task 'synthetic'; choose one of ..." to a user who chose none
            raise TaskError(NO_PHOTO_TEXT) from None
        raise TaskError(f"unknown task {name!r}; choose one of {', '.join(TASK_NAMES)}") from None


def g_scale_of(name: str) -> float:
    """x_g units per model unit for models of task ``name`` (motion: 8); 1 for anything else
    (the synthetic set, pair files of unknown tasks)."""
    return _TASKS[name].g_scale if name in _TASKS else 1.0


def model_defaults(name: str) -> dict:
    """ModelConfig settings a task fixes unless a config says otherwise: ``g_scale`` and
    ``xc_orientation`` (motion: 8 and true); the ModelConfig defaults for anything else."""
    return {"g_scale": g_scale_of(name), "xc_orientation": bool(_TASKS[name].xc_orientation) if name in _TASKS else False}


def train_defaults(name: str, given: Mapping[str, Any], layers: int) -> dict:
    """TrainConfig settings a task fixes for a model of ``layers`` latent layers where ``given`` (a
    config file's and flags' training settings) leaves them unset. Motion holds the guidance of
    ladders (``guidance_start`` its held weight, ``guidance_end`` the start, so that a given start
    is held too); a one-layer model, whose one code is also all of its reconstruction, keeps the
    decay (held, the Shallow CDVAE's best-of-100 error doubled: docs/results.md, "Motion"). Empty
    for other tasks."""
    held = _TASKS[name].held_guidance if name in _TASKS else None
    if held is None or layers < 2:
        return {}
    start = given.get("guidance_start", held)
    return {"guidance_start": start, "guidance_end": given.get("guidance_end", start)}


# how far past a task's value range a pair file's layer may reach: prepared files are clipped to
# it, hand-made ones may round; a layer of 0-255 photo values (or of another task) lies far beyond
RANGE_SLACK = 0.01  # of the range's span


def layers_problem(name: str, xc: np.ndarray, xg: np.ndarray) -> str:
    """Why layers xc (N, Cc, 32, 32) and xg (N, Cg, 32, 32) cannot be task ``name``'s, or "": the
    task's channels and value ranges (``Task.c_range``, ``g_range``). A model trained on layers of
    another shape or scale cannot turn a photo into its layers and back, and the training run that
    made it gave no sign. Names that are no task (the synthetic sets) fit any layers."""
    if name not in _TASKS:
        return ""
    task = _TASKS[name]
    if (xc.shape[1], xg.shape[1]) != (task.channels_c, task.channels_g):
        return (f"{name} layers have {task.channels_c}+{task.channels_g} channels (x_c+x_g), these have "
                f"{xc.shape[1]}+{xg.shape[1]}")
    for key, layer, (low, high) in (("xc", xc, task.c_range), ("xg", xg, task.g_range)):
        slack = RANGE_SLACK * (high - low)
        found_low, found_high = float(layer.min()), float(layer.max())
        if found_low < low - slack or found_high > high + slack:
            return (f"'{key}' values lie in [{found_low:.4g}, {found_high:.4g}], but {name}'s x_{key[1]} lies in "
                    f"[{low:g}, {high:g}]" + (" (photo values of 0-255 need dividing by 255)"
                                               if high == 1 and found_high > 2 else ""))
    return ""


__all__ = ["MODEL_SIZE", "NO_PHOTO_TASK", "NO_PHOTO_TEXT", "RANGE_SLACK", "TASK_NAMES", "Task", "TaskError",
           "g_scale_of", "get_task", "layers_problem", "model_defaults", "MotionTask", "RelightingTask",
           "ResaturationTask", "train_defaults"]

"""The paper's three tasks: how a photo (or two frames) becomes an (x_c, x_g) pair and back.

``get_task(name)`` returns a Task (see ``base.Task``); ``TASK_NAMES`` lists them.
"""

from __future__ import annotations

from typing import Any, Mapping

from .base import MODEL_SIZE, Task, TaskError
from .motion import MotionTask
from .relighting import RelightingTask
from .resaturation import ResaturationTask

TASK_NAMES = ("relighting", "resaturation", "motion")
_TASKS = {"relighting": RelightingTask, "resaturation": ResaturationTask, "motion": MotionTask}


def get_task(name: str) -> Task:
    """A task by name; TaskError (a ValueError) for an unknown one."""
    try:
        return _TASKS[name]()
    except KeyError:
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


__all__ = ["MODEL_SIZE", "TASK_NAMES", "Task", "TaskError", "g_scale_of", "get_task", "model_defaults",
           "MotionTask", "RelightingTask", "ResaturationTask", "train_defaults"]

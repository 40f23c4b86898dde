"""x_g's units: the task's (motion: model pixels per second) against the model's (about unit scale)."""

from __future__ import annotations

import math

import torch

from .config import ModelConfig


class GScale:
    """x_g in task units <-> model units (``ModelConfig.g_scale``): the ladder of x_g sees x_g / s,
    its outputs are multiplied back, and densities of x_g gain the Jacobian -D log s (D = Cg 32 32).
    Scale 1 is the identity and adds no tensor operation (the Studio's decode path stays bare)."""

    def __init__(self, cfg: ModelConfig) -> None:
        self.scale = float(cfg.g_scale)
        self.log_det = cfg.channels_g * cfg.image_size * cfg.image_size * math.log(self.scale)

    def to_model(self, xg: torch.Tensor) -> torch.Tensor:
        return xg if self.scale == 1.0 else xg / self.scale

    def to_task(self, xg: torch.Tensor) -> torch.Tensor:
        return xg if self.scale == 1.0 else xg * self.scale

"""Build a model from its config: the CDVAE or the CVAE baseline."""

from __future__ import annotations

from torch import nn

from .cdvae import CDVAE
from .config import ModelConfig
from .cvae import CVAE


def build_model(cfg: ModelConfig) -> nn.Module:
    """A fresh, randomly initialised model (seed torch first for reproducible weights)."""
    if cfg.arch == "cvae":
        return CVAE(cfg)
    return CDVAE(cfg)

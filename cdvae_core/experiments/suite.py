"""What the results command runs: the paper's six methods and the quick / full budgets.

The rows are the paper's Tables 2-4: ``NN`` (nearest neighbour, not trained), ``CVAE``,
``Shallow`` (one latent layer, Gaussian tie), ``Gauss`` (three layers, Gaussian tie), ``MDN4``
and ``MDN12`` (three layers, MDN tie with K = 4 and 12).

Budgets were set by measurement on the 2-core development machine (docs/results.md, "Method"):
the deep CDVAE trains at about 1,500 pairs/s when the machine is idle, the Shallow one about
2,000 and the CVAE about 750. The full mode trains 15 models on 3 x 5,400 pairs for 14 epochs
(about 17 minutes), 5 synthetic models on 2,400 pairs for 20 epochs (about 3 minutes), and
scores, data and figures (about 4 minutes): about 24 minutes on 2 idle cores.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from ..config import ModelConfig, TrainConfig

ROWS = ("NN", "CVAE", "Shallow", "Gauss", "MDN4", "MDN12")
TRAINED = ROWS[1:]
INSTALLED = {"Gauss": "gauss", "MDN4": "mdn4"}  # rows shipped in assets/models, and their folder names


class SuiteError(ValueError):
    """Settings the results command cannot run with, with a one-line reason."""


def model_overrides(row: str) -> dict[str, Any]:
    """ModelConfig settings that make a default CDVAE into the paper's ``row``."""
    if row == "CVAE":
        return {"arch": "cvae", "tie": "none"}
    if row == "Shallow":
        latents, hidden = ModelConfig.sizes_for_layers(1)
        return {"tie": "gauss", "latent_sizes": latents, "hidden_sizes": hidden}
    if row == "Gauss":
        return {"tie": "gauss"}
    if row in ("MDN4", "MDN12"):
        return {"tie": "mdn", "mixtures": int(row[3:])}
    raise SuiteError(f"{row!r} is not a trained method; choose from {', '.join(TRAINED)}")


def g_span(task: str) -> float:
    """Width of the task's x_g range in model units, x_g / g_scale (motion: 2; image layers and synthetic: 1)."""
    from ..tasks import TASK_NAMES, g_scale_of, get_task

    if task not in TASK_NAMES:
        return 1.0
    lo, hi = get_task(task).g_range
    return float(hi - lo) / g_scale_of(task)


def model_config(row: str, task: str, channels: tuple[int, int]) -> ModelConfig:
    """The ModelConfig of one row for a task whose pairs have ``channels`` = (Cc, Cg).

    Every model sees x_g in model units (``g_scale``); the CVAE's fixed pixel sigma (0.1 for
    [0, 1] layers) is scaled with the x_g range in those units: on motion's [-8, 8] flow before
    g_scale existed the default made its L2 loss ~1e7 and training diverged (measured, quick mode).
    """
    over = model_overrides(row)
    if row == "CVAE":
        over["cvae_sigma"] = ModelConfig.cvae_sigma * g_span(task)
    from ..tasks import model_defaults

    return ModelConfig(task=task, channels_c=channels[0], channels_g=channels[1], **{**model_defaults(task), **over})


@dataclass(frozen=True)
class SuiteSettings:
    """One budget of the results command. Every figure in docs/results.md names its settings."""

    mode: str  # "quick", "full" or "custom" (tests)
    pairs: int  # built-in pairs prepared per task (about 10% go to the test split)
    epochs: int  # training epochs of every model on the task pairs
    motion_pairs: int = 0  # motion's pairs instead, when > 0 (its models need more: docs/results.md, "Motion")
    batch_size: int = 64  # pairs per step
    eval_pairs: int = 600  # test pairs scored for best error and variance (at most)
    nll_pairs: int = 100  # test pairs scored for the NLL (importance weighted, CDVAE rows)
    nll_k: int = 100  # importance samples per pair for the NLL
    samples: tuple[int, ...] = (3, 10, 30, 60, 100)  # N of the best-error columns
    synthetic_pairs: int = 3000  # pairs of the known-mode synthetic set (20% test)
    synthetic_epochs: int = 20  # epochs of the synthetic models
    synthetic_eval_pairs: int = 300  # synthetic test pairs scored
    synthetic_samples: int = 30  # samples per pair for coverage, precision and best error
    figure_images: int = 3  # test images in each Figure 5 picture
    figure_samples: int = 2  # samples per method and image in Figure 5
    workers: int = 2  # processes preparing pairs
    threads: int = 0  # torch CPU threads for training (0: torch's default; 1 is far faster on a busy machine)
    seed: int = 0  # seeds the data, the training and the samples

    def __post_init__(self) -> None:
        if min(self.pairs, self.pairs_for("motion")) < 120:
            raise SuiteError("at least 120 pairs per task are needed (the NN draws 100 training pairs), "
                             f"got {min(self.pairs, self.pairs_for('motion'))}")
        if self.epochs < 1 or self.synthetic_epochs < 1:
            raise SuiteError("epochs must be at least 1")
        if min(self.eval_pairs, self.nll_pairs, self.synthetic_eval_pairs, self.figure_images, self.figure_samples) < 1:
            raise SuiteError("evaluation and figure counts must be at least 1")
        if not self.samples or min(self.samples) < 1:
            raise SuiteError("sample counts must be positive")
        if self.seed < 0:  # numpy's seed sequences take none: a traceback deep in the data code before
            raise SuiteError(f"the seed must be 0 or more, got {self.seed}")
        if self.synthetic_pairs < 150:
            raise SuiteError(f"the synthetic set needs at least 150 pairs, got {self.synthetic_pairs}")

    def train_config(self, epochs: int | None = None, task: str = "", layers: int = 3) -> TrainConfig:
        """Training settings: KL warm-up over the first quarter, guidance decays 10 -> 1 over the first
        half (the defaults assume 40 epochs; these keep the same shape for shorter runs), or the
        guidance ``task`` holds for models of ``layers`` latent layers (motion's ladders:
        ``tasks.train_defaults``)."""
        from ..tasks import train_defaults

        e = self.epochs if epochs is None else epochs
        # guidance_end 1 rather than the default 1e-3: docs/training.md measured that the x_g top code
        # collapses when guidance decays to 1e-3 on short runs; at 1 it still pulls each code mean 2/3 of the
        # way to its target against the KL's pull to 0 (docs/model.md, "Guidance kept on").
        return TrainConfig(epochs=e, batch_size=self.batch_size, seed=self.seed, kl_warmup_epochs=max(0.5, e / 4),
                           **{"guidance_start": 10.0, "guidance_end": 1.0, **train_defaults(task, {}, layers)},
                           guidance_epochs=max(0.5, e / 2), num_threads=self.threads)

    def pairs_for(self, task: str) -> int:
        """Pairs prepared for ``task``: ``motion_pairs`` for motion where set, else ``pairs``."""
        return self.motion_pairs if task == "motion" and self.motion_pairs > 0 else self.pairs

    def with_seed(self, seed: int) -> "SuiteSettings":
        return dataclasses.replace(self, seed=int(seed))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


QUICK = SuiteSettings(mode="quick", pairs=1500, epochs=3, eval_pairs=150, nll_pairs=50, nll_k=50,
                      synthetic_pairs=1000, synthetic_epochs=3, synthetic_eval_pairs=100, figure_images=2, threads=1)
FULL = SuiteSettings(mode="full", pairs=6000, epochs=14, motion_pairs=24000)


def settings_for(quick: bool, seed: int = 0) -> SuiteSettings:
    return (QUICK if quick else FULL).with_seed(seed)

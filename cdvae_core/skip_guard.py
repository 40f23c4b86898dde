"""SkipGuard: which training steps update the weights, which are skipped, and when to stop.

The trainer (cdvae_core.training) asks it once per step; it holds the skip state that a
checkpoint carries over to a resumed run.
"""

from __future__ import annotations

import math
from typing import Any

from .config import TrainConfig

UPDATE, SPIKE, NOT_FINITE = 0, 1, 2  # a step's verdict: finite norm within skip_threshold, above it, NaN or inf


class SkipGuard:
    """The guarded-step rules (as vdvae) and the state they keep between steps.

    A step whose loss or gradient norm is not finite, or whose norm is above ``skip_threshold``,
    is skipped. But a skip leaves the weights as they were, so a norm that stays high batch
    after batch comes from the weights and skipping cannot end it: after ``spike_patience``
    over-threshold skips in a row the next such step is applied anyway, clipped to
    ``grad_clip`` like every update (a CVAE at lr 2e-3 recovered so; spike_patience 0 always
    skips). NaN or inf is always skipped. ``max_skips`` skips in a row stop training
    (``exhausted``; ``stop_message`` says why).

    State, all of it in the checkpoint's meta (``meta()``; checked on load by
    checkpoint.load_state), because a resumed run must force and stop at the same steps as an
    unbroken one:

    - ``streak``: skips in a row so far ("skip_streak")
    - ``streak_start``: the step the streak began ("skip_streak_start"; None before any skip,
      and left as it was when an update ends the streak)
    - ``finite_streak``: every skip of the streak had a finite loss and norm ("skip_streak_finite")
    - ``spike_run``: over-threshold verdicts in a row, towards spike_patience ("spike_run")

    ``skipped`` and ``forced`` count the epoch's skipped and forced updates (``new_epoch`` resets
    them). Plain Python numbers only: the per-step calls add no tensor syncs.
    """

    def __init__(self, train_cfg: TrainConfig, meta: dict[str, Any] | None = None):
        self.threshold = train_cfg.skip_threshold
        self.spike_patience = train_cfg.spike_patience
        self.max_skips = train_cfg.max_skips
        meta = {} if meta is None else meta
        self.streak = int(meta.get("skip_streak", 0))
        self.streak_start: int | None = meta.get("skip_streak_start")
        self.finite_streak = bool(meta.get("skip_streak_finite", True))
        self.spike_run = int(meta.get("spike_run", 0))
        self.skipped = self.forced = 0

    def meta(self) -> dict[str, Any]:
        """The state as the checkpoint's meta keys (the reverse of what ``__init__`` reads)."""
        return {"spike_run": self.spike_run, "skip_streak": self.streak,
                "skip_streak_start": self.streak_start, "skip_streak_finite": self.finite_streak}

    def new_epoch(self) -> None:
        self.skipped = self.forced = 0

    def verdict(self, loss: float, grad_norm: float) -> int:
        """This rank's verdict on a step: UPDATE, SPIKE (finite norm above skip_threshold) or
        NOT_FINITE. Under DDP the trainer hands ``allows_update`` the worst over ranks."""
        if not (math.isfinite(loss) and math.isfinite(grad_norm)):
            return NOT_FINITE
        return SPIKE if grad_norm > self.threshold else UPDATE

    def allows_update(self, verdict: int, step: int) -> bool:
        """Whether step ``step`` (1-based, the run's count) with ``verdict`` updates the weights:
        a plain update, or a forced one after spike_patience spikes in a row. After a skip
        (False), ``exhausted`` says whether training must stop."""
        self.spike_run = self.spike_run + 1 if verdict == SPIKE else 0
        forced = verdict == SPIKE and 0 < self.spike_patience < self.spike_run
        if verdict != UPDATE and not forced:
            self.skipped += 1
            self.streak += 1
            if self.streak == 1:
                self.streak_start, self.finite_streak = step, True
            self.finite_streak = self.finite_streak and verdict == SPIKE
            return False
        if forced:
            self.spike_run = 0
            self.forced += 1
        self.streak = 0
        return True

    @property
    def exhausted(self) -> bool:
        """``max_skips`` updates in a row were skipped: training must stop."""
        return self.streak >= self.max_skips

    def stop_message(self, step: int, epoch: int, loss: float, grad_norm: float, kept: str) -> str:
        """The TrainingError's text when ``exhausted`` at step ``step`` of epoch ``epoch`` (1-based);
        ``kept`` says which checkpoint is kept where."""
        # every skip finite (only with spike_patience 0 or >= max_skips): the model left the range
        # the threshold was set for; NaN or inf: a numerical failure, no setting to name
        hint = ("; the gradient norm stayed above skip_threshold: train again with a lower --lr, or "
                "raise skip_threshold or set spike_patience in a --config file") if self.finite_streak else ""
        return (f"training stopped at step {step} (epoch {epoch}): {self.streak} updates in a row skipped "
                f"since step {self.streak_start} (last loss {loss:.4g}, gradient norm {grad_norm:.4g}, limit "
                f"{self.threshold:g}); {kept}{hint}")

"""The paper's evaluation by one command (``cdvae-results``): data, training, scoring, figures,
docs/results.md, and the built-in models. See docs/results.md for what it produced."""

from .runner import run_suite
from .suite import FULL, QUICK, ROWS, SuiteError, SuiteSettings, settings_for

__all__ = ["FULL", "QUICK", "ROWS", "SuiteError", "SuiteSettings", "run_suite", "settings_for"]

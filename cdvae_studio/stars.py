"""A starred sample and how sessions keep it: Qt-free records that the state, its jobs and the
export dialog share."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from .catalog import ModelEntry
from .jobs import Draw
from .session import SessionStar



class RestoredStars(NamedTuple):
    """A worker's result: a session's stars ready to list (jobs.RestoredStar), and one line for
    each that could not be."""

    stars: list[Any]
    failed: list[str]


def saved_star(star: "Star") -> SessionStar:
    """A star as a session keeps it (a star of a scatter-plot example has no photo: image "")."""
    d = star.draw
    return SessionStar(model=star.model.key, image=star.doc.source or "", code=[float(v) for v in star.code],
                       index=star.index, seed=d.seed, temperature=d.temperature,
                       component=-1 if d.component is None else d.component, distinct_pool=d.pool,
                       noise=None if star.noise is None else [float(v) for v in star.noise],
                       conditional=d.conditional or "")


@dataclass
class Star:
    """A starred sample: enough to re-render it at full resolution and to reproduce it."""

    key: int
    model: ModelEntry
    doc: Any
    code: np.ndarray
    xg: np.ndarray
    thumb: np.ndarray
    noise: np.ndarray | None = None  # (E,) the lower-layer draws it was decoded with; None: at the means
    # how its grid's codes and noise were drawn (its sidecar's seed, settings.temperature and
    # settings.component)
    draw: Draw = Draw()
    index: int = 0  # its grid position, from 0 (its sidecar's sample_index; the tray shows index + 1)
    # a distinct result's share of its draw's pool as the grid showed it (its sidecar's share);
    # None: no distinct result, or one a slider or pin had changed
    share: float | None = None

    def is_sample(self, doc: Any, model_key: str, code: np.ndarray, noise: np.ndarray | None) -> bool:
        """True when (doc, model, code, noise) is this very sample."""
        same_noise = (self.noise is None and noise is None) or (
            self.noise is not None and noise is not None and np.array_equal(self.noise, noise))
        return self.doc is doc and self.model.key == model_key and np.array_equal(self.code, code) and same_noise

    def predictor_key(self) -> tuple[str, str | None]:
        """(model key, conditional): the catalog's predictor that drew it (``ModelCatalog.cached``),
        whose config its exports' sidecars record."""
        return self.model.key, self.draw.conditional

"""Scrub prefetch: while a slider is held, the grid at a lattice of that slider's values is
rendered ahead in the background, so a move shows a finished grid without waiting for a decode.

Video editors scrub the same way (frames decoded ahead around the playhead). A held slider
changes one code component of every row and nothing else, so the grids along that axis are
known in advance: ``SCRUB_STEP`` apart over the slider's range, nearest to the thumb first,
``SCRUB_CHUNK`` values per worker job at the lowest priority (a live render waits for at most
one chunk). A move whose nearest lattice value is ready shows that grid (at most
``SCRUB_STEP / 2`` from the slider's value, at drag resolution like every render while a slider
is held); the release renders the exact value at full size. Everything here is Qt-free.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from .jobs import Draw, GridResult
from .render import ImageDoc, compose_cells, spread_map

SCRUB_STEP = 0.05  # code units between prefetched values: 5 slider ticks, about 1 px of the slider
SCRUB_CHUNK = 2  # lattice values per job: 32 decoded rows, about 3 ms on 2 cores
SCRUB_RANGE = 4.0  # the sliders' range (code_sliders.RANGE): the lattice covers it


def lattice_index(value: float) -> int:
    """The lattice point nearest a slider value."""
    return int(round(float(value) / SCRUB_STEP))


def lattice_value(j: int) -> float:
    return float(np.float32(j * SCRUB_STEP))


LATTICE_MAX = lattice_index(SCRUB_RANGE)


def scrub_signature(model_key: str, doc: ImageDoc, codes: np.ndarray, axis: int, noise: np.ndarray | None,
                    lower: bool, flow_scale: float | None, detail: np.ndarray | None) -> bytes:
    """What a drag render along ``axis`` depends on, besides the axis value itself: the model,
    the image and its cell size, every other component of codes (n, D), the lower-layer noise
    (n, E) when decoded with it, the motion colour scale and whether the detail map is added."""
    h = hashlib.blake2b(digest_size=16)
    rest = np.array(codes, np.float32, copy=True)
    rest[:, axis] = 0.0
    for part in (model_key, doc.key, str(doc.small.shape), str(axis), str(bool(lower)), repr(flow_scale),
                 str(detail is not None)):
        h.update(part.encode() + b"\0")
    h.update(rest.tobytes())
    if lower and noise is not None:
        h.update(np.ascontiguousarray(noise, np.float32).tobytes())
    return h.digest()


@dataclass
class ScrubPlan:
    """One held slider's prefetch: the signature its grids belong to and the axis they vary."""

    signature: bytes
    axis: int


class ScrubCache:
    """Drag renders (``GridResult`` at drag size) of one slider's lattice for one grid state.

    Only one plan is kept: holding another slider, or any change to the other components, the
    noise, the image or the model (a new signature) starts afresh. About 0.2 MB per lattice value
    at the default drag size, 161 values at most.
    """

    def __init__(self) -> None:
        self.plan: ScrubPlan | None = None
        self.grids: dict[int, Any] = {}
        self.hits = 0

    def start(self, signature: bytes, axis: int) -> None:
        """Hold ``axis`` of the grid state ``signature``; keeps what was rendered for the same plan."""
        if self.plan is None or self.plan.signature != signature or self.plan.axis != axis:
            self.plan = ScrubPlan(signature, axis)
            self.grids = {}

    def lookup(self, signature: bytes, axis: int, value: float) -> Any | None:
        """The ready grid nearest ``value`` on the lattice of this plan, or None."""
        if self.plan is None or self.plan.signature != signature or self.plan.axis != axis:
            return None
        grid = self.grids.get(lattice_index(value))
        if grid is not None:
            self.hits += 1
        return grid

    def store(self, signature: bytes, axis: int, grids: dict[int, Any]) -> None:
        """Keep a chunk's grids if they belong to the current plan (a stale chunk is dropped)."""
        if self.plan is not None and self.plan.signature == signature and self.plan.axis == axis:
            self.grids.update(grids)

    def missing(self, value: float, count: int = SCRUB_CHUNK) -> list[int]:
        """The next ``count`` lattice points not yet rendered, nearest ``value`` first."""
        if self.plan is None:
            return []
        centre = int(np.clip(lattice_index(value), -LATTICE_MAX, LATTICE_MAX))
        out: list[int] = []
        for step in range(2 * LATTICE_MAX + 1):
            for j in ((centre + step, centre - step) if step else (centre,)):
                if -LATTICE_MAX <= j <= LATTICE_MAX and j not in self.grids and j not in out:
                    out.append(j)
                    if len(out) == count:
                        return out
        return out

    def clear(self) -> None:
        self.plan, self.grids = None, {}


def render_scrub_chunk(task: Any, predictor: Any, cond: Any, doc: ImageDoc, codes: np.ndarray, axis: int,
                       points: list[int], noise: np.ndarray | None, lower: bool, flow_scale: float | None,
                       detail: np.ndarray | None, draw: Draw) -> dict[int, Any]:
    """The grids of codes (n, D) with component ``axis`` at each lattice point: one decode of
    len(points) x n rows (lower-layer noise (n, E) repeated per point when ``lower``), then the
    cells per point with the same composer as a live drag render; each grid carries ``draw``
    (how codes and noise were drawn), as render_grid's do. -> {point: GridResult}."""
    codes = np.asarray(codes, np.float32)
    n = len(codes)
    batch = np.tile(codes, (len(points), 1))  # (m n, D)
    batch[:, axis] = np.repeat(np.array([lattice_value(j) for j in points], np.float32), n)
    # as DecodeCache.decode and render_grid treat noise: without columns it means the lower means
    with_noise = lower and noise is not None
    rows = None
    if with_noise and np.asarray(noise).reshape(n, -1).shape[1] and predictor.noise_dim:
        rows = np.tile(np.asarray(noise, np.float32).reshape(n, -1), (len(points), 1))  # (m n, E)
    t0 = time.perf_counter()
    xg = np.asarray(predictor.decode(cond, batch, rows), np.float32)  # (m n, Cg, 32, 32)
    decode_s = (time.perf_counter() - t0) / len(points)
    out = {}
    for k, j in enumerate(points):
        part = xg[k * n:(k + 1) * n]
        cells = compose_cells(task, doc, part, flow_scale, detail)
        out[j] = GridResult(batch[k * n:(k + 1) * n], part, cells, spread_map(part), decode_s,
                            None if noise is None else np.asarray(noise, np.float32), with_noise, draw)
    return out

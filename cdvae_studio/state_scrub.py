"""The held slider's prefetch for StudioState: grids along its axis rendered ahead (``scrub.py``)
and shown the moment the thumb reaches them.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import numpy as np

from .render import drag_doc, shrink_detail
from .scrub import render_scrub_chunk, scrub_signature

class ScrubMixin:
    """Methods of StudioState that prefetch and show grids along a held slider."""

    # scrub prefetch (scrub.py) ----------------------------------------------------------------
    def _scrub_signature(self, axis: int, doc: Any, detail: Any) -> bytes | None:
        ctx = self.ctx
        if (not self.scrub_enabled or ctx is None or not getattr(ctx.predictor, "has_codes", True)
                or not 0 <= axis < self.codes.shape[1]):
            return None
        return scrub_signature(ctx.entry.key, doc, self.codes, axis, self.noise, self.lower, ctx.flow_scale, detail)

    def start_scrub(self, axis: int) -> None:
        """A slider was pressed: render the grids along its axis ahead, nearest the thumb first."""
        if self.ctx is None:
            return
        doc = drag_doc(self.ctx.doc)
        signature = self._scrub_signature(axis, doc, shrink_detail(self.ctx.detail, doc))
        if signature is not None:
            self.scrub.start(signature, axis)
            self._submit_scrub()

    def _submit_scrub(self) -> None:
        """The next chunk of the held axis (lowest worker priority), while the same plan holds."""
        plan, axis, ctx = self.scrub.plan, self.w.codeSliders.held_index(), self.ctx
        if plan is None or ctx is None or axis != plan.axis:
            return
        doc = drag_doc(ctx.doc)
        detail = shrink_detail(ctx.detail, doc)
        if self._scrub_signature(axis, doc, detail) != plan.signature:
            return  # the grid changed under the held slider (undo, resample): wait for the next press
        points = self.scrub.missing(float(self.codes[0, axis]))
        if not points:
            return
        task, codes, noise, lower = ctx.task, self.codes.copy(), self.noise.copy(), self.lower
        draw, signature = self.codes_draw, plan.signature
        self.worker.submit("scrub", lambda: (signature, axis, render_scrub_chunk(
            task, ctx.predictor, ctx.cond, doc, codes, axis, points, noise, lower, ctx.flow_scale, detail, draw)))

    def _show_prefetched(self, doc: Any, detail: Any) -> bool:
        """Apply the held axis's prefetched grid nearest the slider's value, if it is ready."""
        t0 = time.perf_counter()
        axis = self.w.codeSliders.held_index()
        if 0 <= axis < self.codes.shape[1] and not np.all(self.codes[:, axis] == self.codes[0, axis]):
            # the lattice grids pin the held component in every sample (their signature leaves it
            # out): after an undo, reset, randomise or redraw under the held slider it is free again
            return False
        signature = self._scrub_signature(axis, doc, detail)
        grid = None if signature is None else self.scrub.lookup(signature, axis, float(self.codes[0, axis]))
        if grid is None:
            return False
        if grid.draw != self.codes_draw:
            # the same pixels (the signature), prefetched before an undo or redraw that changed
            # only how the codes were drawn: the grid shown is the state's codes, so its draw
            grid = replace(grid, draw=self.codes_draw)
        self.worker.cancel("grid")  # a live render still on its way shows an older value
        self._draw_pending = False
        self._apply_grid(grid, time.perf_counter() - t0, "prefetched grid")
        self._announce_if_settled()  # answered here, not by a worker result, which announces it otherwise
        return True

    def _drag_finished(self) -> None:
        self.worker.cancel("scrub")  # the plan and its grids stay for the next press of this slider
        self.request_grid()

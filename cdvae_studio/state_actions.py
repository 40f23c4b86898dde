"""User actions on the Studio's grid: code edits, undo and redo, seed, temperature, resample,
the conditional and the MDN component, stars.

A mixin of ``StudioState`` (cdvae_studio.state): it reads and writes the same attributes
(``codes``, ``pinned``, ``current``, ``ctx``, ``grid``, ``worker`` ...) and submits work through
the state's request methods; nothing here calls the model directly.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from cdvae_core.distinct import DISTINCT_POOL

from .jobs import Draw
from .stars import Star

UNDO_GAP_S = 0.6  # slider moves closer together than this are one undo step


class ActionsMixin:
    """Methods of StudioState that act on user input (see the module docstring)."""

    # user actions ----------------------------------------------------------------------------
    def current_code(self) -> np.ndarray:
        return self.codes[self.current] if len(self.codes) else np.zeros(0, np.float32)

    def noise_rows(self) -> np.ndarray | None:
        """The lower-layer noise (n, E) the grid decodes with, or None (off, or no lower layers)."""
        return self.noise if self.lower and self.noise.ndim == 2 and self.noise.shape[1] else None

    def current_noise(self) -> np.ndarray | None:
        """The current sample's lower-layer noise (E,) as decoded, or None (at the means)."""
        rows = self.noise_rows()
        return None if rows is None or not 0 <= self.current < len(rows) else rows[self.current].copy()

    def _lower_toggled(self, on: bool) -> None:
        """Full samples on or off: the same codes and noise, decoded the other way."""
        self.lower = bool(on)
        self.request_grid()

    def _snapshot(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, Draw]:
        """An undo or redo step: the codes, noise, pins and current sample, and how the codes were
        drawn (seed, temperature, component: a step may predate a redraw)."""
        return self.codes.copy(), self.noise.copy(), self.pinned.copy(), self.current, self.codes_draw

    def _push_undo(self) -> None:
        """An edit starts (slider, reset, randomise): a new undo step unless the last edit was
        within UNDO_GAP_S; what was undone can no longer be redone."""
        now = time.perf_counter()
        if now - self._last_edit > UNDO_GAP_S:
            self.undo_stack.append(self._snapshot())
            del self.undo_stack[:-100]
        self.redo_stack.clear()
        self._last_edit = now

    def edit_code(self, index: int, value: float) -> None:
        """A slider moved: pin that component across the grid and re-render (throttled)."""
        if self.ctx is None or index >= self.codes.shape[1]:
            return
        self._push_undo()
        self.pinned[index] = True
        self.w.codeSliders.set_pinned(self.pinned)  # marked at once, not after the throttled render
        self.codes[:, index] = value
        self._grid_due = True
        self._throttled_grid()

    def select_sample(self, index: int) -> None:
        if not 0 <= index < len(self.codes):
            return
        self.current = index
        self.w.sampleGrid.set_current(index)
        self.w.codeSliders.set_code(self.codes[index])
        code = self.ctx.image_code if self.ctx is not None else None
        self.w.lppScatter.set_overlay(self.codes[index], self.codes, code, self.shown_shares())
        self.request_extras()
        self.currentChanged.emit()

    def _drop_draw(self) -> None:
        """Undo, reset and randomise act on the codes shown: a draw still on its way (a new seed,
        temperature or component) is dropped, and the toolbar may stay ahead of the grid, as after
        undoing past a redraw (``codes_draw`` is what stars, exports and sessions record)."""
        self._draw_pending = False

    def reset_code(self) -> None:
        if not len(self.drawn):
            return
        self._drop_draw()
        self._push_undo()
        self.codes = self.drawn.copy()
        self.noise = self.drawn_noise.copy()
        self.codes_draw = self.drawn_draw
        self.pinned[:] = False
        self.request_grid()

    def randomise(self, untied_only: bool) -> None:
        """New values for the current sample's untied (or all) components, from N(0, 1); "all" also
        draws its lower layers afresh. Components pinned by a slider keep their value and pin: a
        pin holds in every sample (cleared here for the grid while the other fifteen samples kept
        the value, nothing said the component was pinned and a session lost it from those)."""
        if self.ctx is None:
            return
        self._drop_draw()
        self._push_undo()
        rng = np.random.default_rng(None if not self.w.seedLock.isChecked() else self.seed + self.current)
        start = self.ctx.predictor.tied_dims if untied_only else 0
        d = self.codes.shape[1]
        fresh = rng.standard_normal(d - start).astype(np.float32)
        row = self.codes[self.current, start:d]
        self.codes[self.current, start:d] = np.where(self.pinned[start:d], row, fresh)
        if not untied_only and self.noise.ndim == 2 and self.current < len(self.noise):
            # scaled as Predictor.draw scales noise, so the row is a draw at the grid's temperature
            self.noise[self.current] = (rng.standard_normal(self.noise.shape[1])
                                        * self.codes_draw.temperature).astype(np.float32)
        self.request_grid()

    def undo(self) -> None:
        self._step(self.undo_stack, self.redo_stack)

    def redo(self) -> None:
        """Back to the state the last undo left (until the next edit or draw)."""
        self._step(self.redo_stack, self.undo_stack)

    def _step(self, source: list, target: list) -> None:
        """Undo (source: the undo steps) or redo: the shown state goes onto ``target``, and the
        newest step of ``source`` is shown."""
        if not source:
            return
        self._drop_draw()
        target.append(self._snapshot())
        # how the codes were drawn too (seed, temperature, component): the step may predate a redraw
        self.codes, self.noise, self.pinned, self.current, self.codes_draw = source.pop()
        self._last_edit = 0.0
        self.request_grid()

    def _next_seed(self, keep: bool = False) -> int:
        if not keep and not self.w.seedLock.isChecked():
            self.seed = int(np.random.default_rng().integers(0, 2**31 - 1))
            self.w.seedSpin.blockSignals(True)
            self.w.seedSpin.setValue(self.seed)
            self.w.seedSpin.blockSignals(False)
        return self.seed

    def _seed_edited(self, value: int) -> None:
        self.seed = int(value)
        self.request_draw()

    def _temperature_edited(self, value: float) -> None:
        """A new spread redraws the grid with the same seed: the same samples, pulled in or out."""
        self.temperature = float(value)
        self.request_draw()

    def _distinct_toggled(self, on: bool) -> None:
        """Distinct results on: the same seed's pool, its most distinct samples; off: its first draws."""
        self.pool = DISTINCT_POOL if on else 0
        self.request_draw()

    def resample(self) -> None:
        self._next_seed()
        self.request_draw()

    def set_conditional(self, kind: str) -> None:
        """Draw from the tie's ``kind`` conditional ("exact" or "paper", Model > Sampling
        conditional) on this model until another model is chosen: the grid is drawn again from the
        seed as a new model's is (the sliders' ranges and the MDN's weights are the conditional's);
        starred samples keep theirs."""
        if self.ctx is None or not getattr(self.ctx.predictor, "has_tie", False) \
                or kind == self.ctx.predictor.config.tie_conditional:
            return
        self.conditional = kind
        self.request_context()

    def _show_conditional(self, predictor: Any) -> None:
        """The Model menu's conditionals as ``predictor`` has them (None: no model): named for its
        tie, the one it samples with checked, the one saved with it marked; disabled without a tie."""
        from cdvae_core.config import conditional_name

        has_tie = getattr(predictor, "has_tie", False)
        for action in self.w.conditionalActions.actions():
            kind = action.data()
            if has_tie:
                own = " (saved with the model)" if kind == predictor.saved_conditional else ""
                action.setText(f"Draw from {conditional_name(predictor.config.tie, kind)}{own}")
            else:
                action.setText(f"Draw from the {kind} conditional")
            action.setToolTip("" if has_tie else "This model has no tie: nothing to choose")
            action.setEnabled(has_tie)
            action.setChecked(has_tie and kind == predictor.config.tie_conditional)

    def set_component(self, component: int) -> None:
        self.component = component
        self.request_draw()

    def toggle_star(self, index: int) -> None:
        if self.grid is None or not 0 <= index < len(self.grid.codes) or self.ctx is None:
            return
        code, noise = self.grid.codes[index], self._grid_noise(index)
        for key, star in list(self.stars.items()):
            if star.is_sample(self.ctx.doc, self.ctx.entry.key, code, noise):
                self.remove_star(key)
                return
        self._star_ids += 1
        star = Star(self._star_ids, self.ctx.entry, self.ctx.doc, code.copy(), self.grid.xg[index].copy(),
                    self.grid.cells[index], noise, self.grid.draw, index, self.cell_shares()[index])
        self.stars[star.key] = star
        # numbered from 1, as the interpolation dialog asks for samples (it read "#1" for the
        # grid's second cell, which that dialog calls sample 2)
        self.w.tray.add(star.key, self.ctx.doc.name, index + 1, star.thumb, self.ctx.doc.frame_time)
        self._mark_stars()
        self.starsChanged.emit()

    def remove_star(self, key: int) -> None:
        """Unstar by tray key (from the grid, or from the tray once the sample has left the grid)."""
        if self.stars.pop(key, None) is None:
            return
        self.w.tray.remove(key)
        self._mark_stars()
        self.starsChanged.emit()

    def _grid_noise(self, index: int) -> np.ndarray | None:
        """The noise row grid sample ``index`` was decoded with (None: at the means)."""
        if self.grid is None or self.grid.noise is None or not self.grid.lower or not self.grid.noise.shape[1]:
            return None
        return self.grid.noise[index].copy()

    def _mark_stars(self) -> None:
        if self.grid is None or self.ctx is None:
            return
        marked = set()
        for star in self.stars.values():
            for i, code in enumerate(self.grid.codes):
                if star.is_sample(self.ctx.doc, self.ctx.entry.key, code, self._grid_noise(i)):
                    marked.add(i)
        self.w.sampleGrid.set_starred(marked)



"""User actions on the Studio's state: code edits, undo, resample, stars, sessions, sweeps.

A mixin of ``StudioState`` (cdvae_studio.state): it reads and writes the same attributes
(``codes``, ``pinned``, ``current``, ``ctx``, ``grid``, ``worker`` ...) and submits work through
the state's request methods; nothing here calls the model directly.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, NamedTuple, Sequence

import numpy as np

from cdvae_core.distinct import DISTINCT_POOL

from .catalog import CatalogError, ModelEntry, is_pair_file
from .jobs import Draw, distinct_pool, restore_star
from .session import Session, SessionError, SessionStar, load_session, save_session, session_from_json
from .worker import report_error

UNDO_GAP_S = 0.6  # slider moves closer together than this are one undo step
LAST_SESSION_KEY = "lastSession"  # QSettings: the session kept at quit, reopened at the next start


class RestoredStars(NamedTuple):
    """A worker's result: a session's stars ready to list (jobs.RestoredStar), and one line for
    each that could not be."""

    stars: list[Any]
    failed: list[str]


def _saved_star(star: "Star") -> SessionStar:
    """A star as a session keeps it (a star of a scatter-plot example has no photo: image "")."""
    d = star.draw
    return SessionStar(model=star.model.key, image=star.doc.source or "", code=[float(v) for v in star.code],
                       index=star.index, seed=d.seed, temperature=d.temperature,
                       component=-1 if d.component is None else d.component, distinct_pool=d.pool,
                       noise=None if star.noise is None else [float(v) for v in star.noise],
                       conditional=d.conditional or "")


class ClipboardPicture(NamedTuple):
    """A worker's result for the clipboard: uint8 (H, W, 3) RGB, and what to say once it is there."""

    rgb: np.ndarray
    message: str


def _photo_stem(doc: Any) -> str:
    """The name a result of ``doc`` is filed under: its photo's stem as exports name it
    (``clip_t2.5s`` for a video's frame), or a scatter-plot example's name."""
    from cdvae_core.postprocess.export import result_stem

    return result_stem(doc.photo, 0) if isinstance(doc.photo, str) else Path(doc.name).stem


class LeftOut(str):
    """A worker's message that some of what was asked was left out (a dragged star whose photo
    has gone): shown on the banner, not only the status line."""


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

    def is_sample(self, doc: Any, model_key: str, code: np.ndarray, noise: np.ndarray | None) -> bool:
        """True when (doc, model, code, noise) is this very sample."""
        same_noise = (self.noise is None and noise is None) or (
            self.noise is not None and noise is not None and np.array_equal(self.noise, noise))
        return self.doc is doc and self.model.key == model_key and np.array_equal(self.code, code) and same_noise

    def predictor_key(self) -> tuple[str, str | None]:
        """(model key, conditional): the catalog's predictor that drew it (``ModelCatalog.cached``),
        whose config its exports' sidecars record."""
        return self.model.key, self.draw.conditional



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
                    self.grid.cells[index], noise, self.grid.draw, index)
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

    def export_items(self) -> dict[str, Any]:
        """What the export dialog offers: starred samples, the grid, the current image's source."""
        predictors = {s.predictor_key(): self.catalog.cached(*s.predictor_key()) for s in self.stars.values()}
        return {"predictors": {k: v for k, v in predictors.items() if v is not None}, "stars": list(self.stars.values()), "ctx": self.ctx, "grid": self.grid,
                "task": self.ctx.task if self.ctx is not None else self.task,
                # the toolbar's seed and temperature, the picker's MDN component and Distinct results
                # draw a batch export; the grid and the stars carry their own draw's
                # (GridResult.draw, Star.draw), which their sidecars record
                "current": self.current, "image_path": self.image_path, "seed": self.seed,
                "temperature": self.temperature, "lower": self.lower, "component": self._picked_component(),
                "pool": 0 if self.ctx is None else distinct_pool(self.ctx.predictor, self.pool),
                "noise": None if self.grid is None else [self._grid_noise(i) for i in range(len(self.grid.codes))]}

    def _picked_component(self) -> int | None:
        """The picker's MDN component, if the current model has it (None: the whole mixture)."""
        mixture = None if self.ctx is None else self.ctx.mixture
        return self.component if mixture is not None and 0 <= self.component < len(mixture) else None

    # sessions --------------------------------------------------------------------------------
    def session(self) -> Session:
        # the grid shown: its context's task, model and image (the toolbar's task and model, and the
        # image just opened, are ahead of it while their context loads, and a session that paired
        # them with the code shown reopened that code on another model's draw)
        ctx = self.ctx
        entry = ctx.entry if ctx is not None else self.entry
        task = ctx.task.name if ctx is not None else self.task_name
        image = ctx.doc.source if ctx is not None else self.image_path
        model = str(entry.path) if entry and entry.kind != "builtin" else (entry.key if entry else "")
        # the grid's own draw: the spin boxes and the component picker may be ahead (a redraw in
        # flight) or undone past
        draw = self.codes_draw
        return Session(task=task, model=model, image=image, seed=draw.seed,
                       code=[float(v) for v in self.current_code()], current=self.current,
                       component=-1 if draw.component is None else draw.component,
                       pinned=[int(i) for i in np.flatnonzero(self.pinned)],
                       temperature=draw.temperature, noise=self._session_noise(), distinct_pool=draw.pool,
                       conditional=draw.conditional or "",
                       stars=self._saved_stars())

    def _saved_stars(self) -> list[SessionStar]:
        """The starred list as sessions keep it: stars of a file's photo (a scatter example's
        cannot be reopened)."""
        return [_saved_star(star) for star in self.stars.values() if star.doc.source]

    def _replace_stars(self, saved: list[SessionStar]) -> None:
        """A session's starred list in place of the window's: each star's model and photo are
        loaded and its sample decoded in the worker (``jobs.restore_star``), then listed."""
        for key in list(self.stars):
            self.remove_star(key)
        if not saved:
            return
        resolved, failed = [], []
        for star in saved:
            try:  # the catalog is the GUI thread's: entries are resolved here, loaded in the worker
                entry = self._session_model(star.model)
            except (CatalogError, ValueError) as exc:
                failed.append(f"{Path(star.image).name} #{star.index + 1}: {exc}")
                continue
            if entry is None:
                failed.append(f"{Path(star.image).name} #{star.index + 1}: no model {star.model!r}")
            else:
                resolved.append((entry, star))
        catalog, docs = self.catalog, self.docs

        def job() -> RestoredStars:
            done = RestoredStars([], failed)
            for entry, star in resolved:
                try:
                    done.stars.append(restore_star(catalog, entry, star, docs))
                except (OSError, ValueError) as exc:
                    done.failed.append(f"{Path(star.image).name} #{star.index + 1}: {report_error(exc)}")
            return done

        self._queue_export(job, "Restoring the session's stars")

    def _apply_restored_stars(self, restored: "RestoredStars") -> None:
        for r in restored.stars:
            s = r.saved
            self._star_ids += 1
            draw = Draw(s.seed, s.temperature, None if s.component < 0 else s.component, s.distinct_pool, r.conditional)
            noise = None if s.noise is None else np.asarray(s.noise, np.float32)
            star = Star(self._star_ids, r.entry, r.doc, np.asarray(s.code, np.float32), r.xg, r.thumb, noise, draw,
                        s.index)
            self.stars[star.key] = star
            self.w.tray.add(star.key, r.doc.name, s.index + 1, star.thumb, r.doc.frame_time)
        self._mark_stars()
        self.starsChanged.emit()
        if restored.failed:
            more = f" (and {len(restored.failed) - 1} more)" if len(restored.failed) > 1 else ""
            self.w.show_error(f"{len(restored.failed)} starred sample(s) of the session could not be listed again: "
                              f"{restored.failed[0]}{more}", about="session")

    def _session_noise(self) -> list[float] | None:
        rows = self.noise
        if rows.ndim != 2 or not rows.shape[1] or not 0 <= self.current < len(rows):
            return None
        return [float(v) for v in rows[self.current]]

    def save_session(self, path: str) -> None:
        session = self.session()
        try:
            save_session(path, session)
        except OSError as exc:  # the reason, not the temporary file's name the write failed on
            self.w.show_error(f"cannot save the session to {Path(path).name}: {exc.strerror or exc}")
            return
        kept = len(session.stars or [])
        left = len(self.stars) - kept  # stars of scatter-plot examples: no photo to keep
        stars = (f" with {kept} starred sample(s)" if kept else "") + \
            (f" ({left} star(s) of scatter-plot examples not kept)" if left else "")
        self.w.statusBar().showMessage(f"session saved to {path}{stars}", 5000)
        self.w.remember_session(path)

    def open_session(self, path: str) -> None:
        try:
            s = load_session(path)
        except SessionError as exc:
            self.w.show_error(str(exc), about="session")
            return
        self.w.remember_session(path)
        self._open_loaded_session(s)

    def start(self, images: Sequence[str] = (), model: str | None = None, session: str | None = None,
              first_start: bool = False) -> None:
        """What a start opens: the command line's model, photos and session; without any, where
        the last run left off (``reopen_last_session``). A start with its own photos or model (a
        file manager's "Open with") keeps the last run's stars: the session saved at quit is this
        run's, and the stars went with it. ``first_start`` (a screenshot): nothing of a last run."""
        if model:
            self.open_model(model)
        if images:
            self.open_paths(list(images))  # the first photo shown, the rest in the gallery
        if session:
            self.open_session(session)
        elif first_start:
            return
        elif images or model:
            last = self._last_session()
            if last is not None and last.stars:
                self._replace_stars(last.stars)
        else:
            self.reopen_last_session()

    def session_to_keep(self) -> Session | None:
        """What the next start reopens: the session shown; with nothing shown (a task without a
        model), the one kept before with this run's stars (quitting there dropped them), or None
        when there are none either: the next start is then a first start's."""
        if self.ctx is not None:
            return self.session()
        kept = self._last_session()
        stars = self._saved_stars()
        if kept is None or not stars:
            return None
        return replace(kept, stars=stars)

    def _last_session(self) -> Session | None:
        """The session kept at quit (``LAST_SESSION_KEY``), or None when there is none or it does
        not read (an edited settings file)."""
        text = self.w.settings.value(LAST_SESSION_KEY, "")
        if not isinstance(text, str) or not text:
            return None
        try:
            return session_from_json(text, "the last session")
        except SessionError:
            return None

    def reopen_last_session(self) -> None:
        """Where the last run left off: its photo, model, grid, current sample and stars. Nothing
        when there is none or it does not read: the start is then a first start's."""
        s = self._last_session()
        if s is not None:
            self._open_loaded_session(s)

    def _open_loaded_session(self, s: Session) -> None:
        if self.restore_session(s) and s.stars is not None:
            self._replace_stars(s.stars)

    def show_star(self, key: int) -> None:
        """Show a starred sample again (a double-click in the tray): its photo, model and draw,
        with its code and lower-layer noise as the current sample in its own grid cell, as a
        session saved when it was starred would reopen it (pins are not kept with a star)."""
        star = self.stars.get(key)
        if star is None:
            return
        doc = star.doc
        if doc.source is None and (self.ctx is None or self.ctx.doc is not doc):
            self.w.show_error(f"{doc.title} was opened from the LPP scatter plot: click its point there, "
                              "then double-click the star again")
            return
        entry = star.model
        predictor = self.catalog.cached(entry.key)
        if predictor is not None and getattr(predictor, "noise_dim", 0):
            self.w.lowerCheck.setChecked(star.noise is not None)  # as it was decoded: full sample or at the means
        self.restore_session(_saved_star(star).as_session(entry.task))
        self.w.statusBar().showMessage(f"Showing the starred sample {doc.title} #{star.index + 1} again", 8000)

    def restore_session(self, s: Session) -> bool:
        """Show what a session holds: its task, photo and model, the grid of its draw, its code and
        noise as the current sample, and its pins; nothing changes when its model is unavailable
        (False)."""
        try:
            entry = self._session_model(s.model)
        except (CatalogError, ValueError) as exc:
            # nothing changes: the session's code means nothing on another model (it used to be
            # restored onto the current one, and the image the session then opened hid this error)
            self.w.show_error(f"session model unavailable: {exc}", about="session")
            return False
        self.w.clear_error("session")
        self.seed = s.seed
        self.w.seedSpin.blockSignals(True)
        self.w.seedSpin.setValue(s.seed)
        self.w.seedSpin.blockSignals(False)
        self.temperature = s.temperature
        self.w.temperatureSpin.blockSignals(True)
        self.w.temperatureSpin.setValue(s.temperature)
        self.w.temperatureSpin.blockSignals(False)
        self.component = s.component
        self.pool = s.distinct_pool
        self.w.distinctAction.blockSignals(True)
        self.w.distinctAction.setChecked(s.distinct_pool > 0)
        self.w.distinctAction.blockSignals(False)
        if s.task != self.task_name:
            self.set_task(s.task)
        if s.image:
            # before the model, so the model's context waits for this image (the _image_pending
            # gate) instead of rendering the old one
            self.open_image(s.image, remember=False)
        # the restore rides with the first context asked of the session's model and image (after
        # set_task's, which is for the old image and perhaps another model): request_context
        self._restore = s
        self._restore_for = (None if entry is None else entry.key, s.image)
        self._restore_draws = self._draws
        if entry is not None:
            self.populate_ties(prefer=entry.key)
        return True

    def _restore_applies(self, model_key: str, image_path: str | None) -> bool:
        """Whether a context of this model and image is the one the session waiting to be
        restored was saved from (a model or image of None: any)."""
        if self._restore is None:
            return False
        model, image = self._restore_for
        return model in (None, model_key) and image in (None, image_path)

    def _forget_restore(self, model_key: str | None = None, image_path: str | None = None) -> None:
        """The user chose another model or image before the session's context came: its code,
        pins and current sample no longer apply (kept, they were restored onto whichever later
        context matched, or onto the next one at all)."""
        if self._restore is None:
            return
        model, image = self._restore_for
        if (model_key is not None and model not in (None, model_key)) or \
                (image_path is not None and image not in (None, image_path)):
            self._restore = None

    def _session_model(self, model: str) -> ModelEntry | None:
        """A session's model: an entry key, a model directory or a pair file (the nearest-neighbour
        baseline, which ``session`` saves as its path and which add_model_dir refused)."""
        entry = self.catalog.find(model) if model.startswith(("builtin:", "path:", "nearest:")) else None
        if entry is not None or not model:
            return entry
        if is_pair_file(model):
            return self.catalog.find(f"nearest:{Path(model).resolve()}") or self.catalog.add_pair_file(model)
        # a directory already offered keeps its loaded model: add_model_dir drops it (a model retrained
        # into its folder must be read again), and until the session's context loaded it again the
        # stars of that model were left out of "Export starred"
        return self.catalog.find(f"path:{Path(model).resolve()}") or self.catalog.add_model_dir(model)

    def interpolation_partner(self) -> int:
        """The grid sample an interpolation from the current one goes to by default: the first
        other starred sample on this grid, else the next sample."""
        n = len(self.codes)
        if n < 2:
            return -1
        others = sorted(i for i in self.w.sampleGrid.starred if i != self.current and i < n)
        return others[0] if others else (self.current + 1) % n

    def _animation_refused(self, path: str, what: str) -> bool:
        """Say why an animation cannot be exported to ``path`` now (no model and image, or a
        folder that cannot be written), before anything is rendered: True when refused."""
        if self.ctx is None:
            self.w.show_error(f"load a model and an image before exporting {what}")
            return True
        from cdvae_core.atomic import unwritable_reason

        why = unwritable_reason(Path(path).absolute().parent)
        if why is not None:
            self.w.show_error(f"cannot write {path}: {Path(path).absolute().parent} {why}")
        return why is not None

    def _queue_export(self, job, what: str = "Export", first: bool = False) -> None:
        """Run ``job`` on the export channel after the ones queued before it (``first``: after the
        one running, ahead of those waiting); ``what`` names it in its failure's message ("Copy of
        sample #3 failed: ...")."""
        # one at a time, in order: the worker's channels keep only the newest waiting job, and a
        # second export asked for while the first runs must not replace it
        self._exports.insert(1 if first and self._exports else len(self._exports), (what, job))
        if len(self._exports) == 1:
            self.worker.submit("misc", job)

    def export_sweep_gif(self, path: str, other: int | None = None) -> None:
        """Write a sweep of the last-moved component (or the interpolation to grid sample ``other``)."""
        from .gif import export_sweep

        if self._animation_refused(path, "a sweep"):
            return
        ctx, task, code, noise = self.ctx, self.ctx.task, self.current_code().copy(), self.current_noise()
        index = self.w.codeSliders.focus_index()
        target = None if other is None else self.codes[other].copy()
        rows = self.noise_rows()
        target_noise = None if other is None or rows is None else rows[other].copy()

        def job() -> str:
            n, stored = export_sweep(path, task, ctx, self.cache, code, index, target, noise=noise,
                                     other_noise=target_noise)
            what = "interpolation" if target is not None else f"sweep of component {index}"
            size = "x".join(map(str, ctx.doc.small.shape[1::-1]))
            merged = "" if stored == n else f" (the GIF holds {stored}: identical neighbouring frames merged, same timing)"
            return f"{n}-frame {what} ({size} px, grid-cell size) written to {path}{merged}"

        self._queue_export(job)

    def export_motion_gif(self, path: str) -> None:
        """Write the current motion sample as an animation: its frame moved along its flow, out to
        one second and back (what the Flow tab's Play shows), at the preview's size."""
        from cdvae_core.postprocess.flowviz import flow_to_pixels

        from .gif import export_motion
        from .jobs import preview_and_layer

        if self._animation_refused(path, "a motion"):
            return
        ctx, code, rows, number = self.ctx, self.current_code().copy(), self.current_noise(), self.current + 1
        if ctx.task.name != "motion":
            self.w.show_error(f"a motion animation needs the motion task; this grid is {ctx.task.name}")
            return
        rows = None if rows is None else rows[None]

        def job() -> str:
            layer = self.cache.decode(ctx.predictor, ctx.cond, ctx.entry.key, ctx.doc.key, code[None], rows)[0]
            flow = flow_to_pixels(preview_and_layer(ctx.task, ctx.doc, layer)[0])  # (2, H, W) px per second
            n, stored = export_motion(path, ctx.doc.rgb, flow)
            merged = "" if stored == n else f" (the GIF holds {stored}: identical neighbouring frames merged, same timing)"
            size = "x".join(map(str, ctx.doc.rgb.shape[1::-1]))
            return f"{n}-frame motion of sample #{number} ({size} px, the preview's size) written to {path}{merged}"

        self._queue_export(job)

    def _picture_job(self, index: int, doing: str):
        """Grid sample ``index``'s result as Export writes it, to render on the worker -> (render,
        doc, number): ``render()`` returns it as uint8 (H, W, 3) at the photo's full resolution (a
        24-megapixel photo takes a second or so), ``doc`` is its photo's document and ``number``
        the sample's number (index + 1). None, after saying why, when there is no such sample;
        ``doing`` ("copying") names the refused action."""
        grid = self.grid
        if self.ctx is None or grid is None or not 0 <= index < len(grid.codes):
            self.w.show_error(f"load a model and an image before {doing} a result")
            return None
        ctx = self.ctx
        code, noise = grid.codes[index].copy(), self._grid_noise(index)
        # the nearest-neighbour baseline has no encoder for the photo's own code: no detail map, as its preview
        settings = grid.draw.export_settings(lower_layers=noise is not None,
                                             detail=getattr(ctx.predictor, "has_codes", True))

        def render() -> np.ndarray:
            from cdvae_core.postprocess.export import exported_picture

            return exported_picture(ctx.predictor, ctx.doc.photo, code, noise, settings)

        return render, ctx.doc, index + 1

    def copy_result(self) -> None:
        """Put the current sample's result on the clipboard as Export writes it, rendered in the worker."""
        made = self._picture_job(self.current, "copying")
        if made is None:
            return
        render, doc, number = made

        def job() -> ClipboardPicture:
            rgb = render()
            return ClipboardPicture(rgb, f"Copied sample #{number} of {doc.title} ({rgb.shape[1]}x{rgb.shape[0]}, "
                                         "full resolution) to the clipboard")

        self.w.statusBar().showMessage(f"Copying sample #{number} at full resolution…")
        self._queue_export(job, f"Copy of sample #{number}")

    def _queue_drag(self, renders: list[tuple[Callable[[], np.ndarray], Any, int, str]]):
        """Start rendering a drag's pictures on the worker, ahead of the exports waiting (a drop may
        be waiting on them) -> their PictureDragData (cdvae_studio.drag_out). ``renders``: per
        picture (render, doc, number, label): ``render()`` returns uint8 (H, W, 3), written to
        "<photo>_sample<number>.png"; ``label`` ("Sample #3 of cat.jpg") names it in messages."""
        from .clipboard import save_png
        from .drag_out import DraggedPicture, PictureDragData, drag_paths

        names = [f"{_photo_stem(doc)}_sample{number}.png" for _, doc, number, _ in renders]
        pictures = [DraggedPicture(path) for path in drag_paths(names)]

        def job() -> str:
            left_out = []
            try:
                for picture, (render, _, _, label) in zip(pictures, renders):
                    try:
                        rgb = render()
                        save_png(picture.path, rgb)
                    except Exception as exc:
                        if len(renders) == 1:
                            raise  # the worker says why, naming the drag
                        left_out.append(f"{label}: {report_error(exc)}")
                        continue
                    picture.finish(rgb)
            finally:
                for picture in pictures:
                    if not picture.done():
                        picture.fail()  # a drop waiting for it gets nothing
            if len(renders) == 1:
                rgb = pictures[0].rgb
                return f"{renders[0][3]} rendered for the drop ({rgb.shape[1]}x{rgb.shape[0]}, full resolution)"
            if len(left_out) == len(renders):
                raise ValueError(f"none of the {len(renders)} samples could be rendered ({left_out[0]})")
            ready = len(renders) - len(left_out)
            if left_out:
                return LeftOut(f"{ready} of {len(renders)} samples rendered for the drop (full resolution); "
                               f"left out {'; '.join(left_out)}")
            return f"{ready} samples rendered for the drop (full resolution)"

        what = renders[0][3] if len(renders) == 1 else f"{len(renders)} starred samples"
        self._queue_export(job, f"Dragging {what[0].lower()}{what[1:]}", first=True)
        return PictureDragData(pictures)

    def use_result_as_photo(self) -> None:
        """Open the current sample's result, at full resolution, as the photo, to go on from it (a
        resaturated photo relit, a relit one's motion): kept as a PNG in the data folder's
        "results" (``<photo>_<task>_sample<number>.png``), written on the worker as a pasted image
        is, so that it is a photo like any other (recent list, sessions, export sidecars)."""
        from .clipboard import free_path, results_folder, save_png

        made = self._picture_job(self.current, "using")
        if made is None:
            return
        render, doc, number = made
        path = free_path(results_folder(), f"{_photo_stem(doc)}_{self.ctx.task.name}_sample{number}.png",
                         taken=self._pasted)
        self._pasted.add(path)
        self.open_image(str(path), write=lambda: save_png(path, render()),
                        keeping=f"sample #{number} of {doc.title} as the photo")

    def drag_result(self, index: int):
        """The data of grid sample ``index`` dragged out of the window: its result at full
        resolution, as Copy renders it, written to a PNG by the worker, which starts now
        (``_queue_drag``); None, after saying why, when there is no grid."""
        made = self._picture_job(index, "dragging")
        if made is None:
            return None
        render, doc, number = made
        return self._queue_drag([(render, doc, number, f"Sample #{number} of {doc.title}")])

    def drag_stars(self, keys: list[int]):
        """The data of starred samples ``keys`` (the starred list's selection) dragged out of the
        window, each rendered as its export renders it, from its own photo, model and draw; None
        when none of them is starred."""
        stars = [self.stars[key] for key in keys if key in self.stars]
        if not stars:
            return None
        catalog = self.catalog

        def star_render(star: "Star") -> Callable[[], np.ndarray]:
            def render() -> np.ndarray:
                from cdvae_core.postprocess.export import exported_picture

                predictor = catalog.load(star.model, star.draw.conditional)  # loaded when it was starred: cached
                settings = star.draw.export_settings(lower_layers=star.noise is not None,
                                                     detail=getattr(predictor, "has_codes", True))
                return exported_picture(predictor, star.doc.photo, star.code, star.noise, settings)

            return render

        return self._queue_drag([(star_render(s), s.doc, s.index + 1, f"{s.doc.title} #{s.index + 1}") for s in stars])

    def drag_sample(self, index: int, source, shown: np.ndarray | None) -> None:
        """Drag grid sample ``index``'s result (``drag_result``) out of widget ``source`` (the grid
        or the Preview) until the drop, ``shown`` (uint8 (h, w, 3)) under the pointer."""
        self._run_drag(self.drag_result(index), source, shown)

    def drag_starred(self, keys: list[int]) -> None:
        """Drag the starred samples ``keys`` out of the starred list until the drop, the first
        one's thumbnail under the pointer."""
        data = self.drag_stars(keys)
        first = next((self.stars[key] for key in keys if key in self.stars), None)
        self._run_drag(data, self.w.tray, None if first is None else first.thumb)

    def _run_drag(self, data, source, shown: np.ndarray | None) -> None:
        from .drag_out import WAIT_SECONDS, run_drag

        if data is None:
            return
        run_drag(source, data, None if shown is None else shown.copy())
        if data.timed_out():
            self.w.show_error(f"the drop got nothing: the result was still rendering {WAIT_SECONDS:.0f} s after it. "
                              "Drag it again once the status bar says it is rendered")

    def _export_done(self) -> None:
        """A queued animation export finished: start the next one."""
        if self._exports:
            self._exports.pop(0)
        if self._exports:
            self.worker.submit("misc", self._exports[0][1])

"""Sessions of StudioState: what a session keeps (the grid shown, its stars, pins and settings),
saving and opening one, the session kept at quit and reopened at the next start, and restoring
a session or a star onto its model and photo once their context has loaded.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Sequence

import numpy as np

from .catalog import CatalogError, ModelEntry, is_pair_file
from .jobs import Draw, restore_star
from .session import Session, SessionError, SessionStar, load_session, save_session, session_from_json
from .stars import RestoredStars, Star, saved_star
from .worker import report_error


LAST_SESSION_KEY = "lastSession"  # QSettings: the session kept at quit, reopened at the next start


class SessionsMixin:
    """Methods of StudioState that save, keep and restore sessions."""

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
        return [saved_star(star) for star in self.stars.values() if star.doc.source]

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
        self.restore_session(saved_star(star).as_session(entry.task))
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
        if model.startswith(("builtin:", "path:", "nearest:")):
            # a model opened in an earlier run is offered again from its folder (its key was read
            # as a folder's name relative to the working directory, and its stars were lost)
            return self.catalog.offer_key(model)
        if not model:
            return None
        if is_pair_file(model):
            return self.catalog.find(f"nearest:{Path(model).resolve()}") or self.catalog.add_pair_file(model)
        # a directory already offered keeps its loaded model: add_model_dir drops it (a model retrained
        # into its folder must be read again), and until the session's context loaded it again the
        # stars of that model were left out of "Export starred"
        return self.catalog.find(f"path:{Path(model).resolve()}") or self.catalog.add_model_dir(model)

"""StudioState: what the window shows (task, model, image, grid codes) and the requests it sends.

Every model call runs in the LatestWorker; this class only submits jobs and applies results
whose request id is still the newest of their channel. Slider input reaches ``request_grid``
through superqt's ``qthrottled`` (one render per display frame at most); the full-resolution
preview and the extras (truth, tie drift, sweeps) follow through ``qdebounced``.

Its methods live in mixins by job: opening photos and the gallery (state_media.py), putting
results on screen (state_apply.py), the held slider's prefetch (state_scrub.py), user actions
on the grid (state_actions.py), sessions (state_sessions.py) and what leaves the app: exports,
animations, the clipboard and drags (state_outputs.py). This module keeps the wiring, the task and
model choice, the requests and the worker's result slots.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal, Slot
from PySide6.QtGui import QGuiApplication
from superqt.utils import qdebounced, qthrottled

from cdvae_core.checkpoint import ModelLoadError
from cdvae_core.distinct import DISTINCT_POOL

from .catalog import CatalogError, ModelEntry, is_pair_file
from .clipboard import rgb_to_qimage
from .images import LoadedImage
from .prefs import string_list
from .jobs import (ContextResult, DocCache, Draw, GridResult, distinct_pool, draw_grid, load_context, own_sample,
                   preview_and_layer, render_grid, render_preview, render_sweeps, render_truth, sampling_conditional)
from .render import DecodeCache, drag_doc, shrink_detail
from .scrub import ScrubCache
from .session import Session
from .stars import RestoredStars, Star
from .state_actions import ActionsMixin
from .state_apply import ApplyMixin
from .state_media import MediaMixin
from .state_outputs import ClipboardPicture, LeftOut, OutputsMixin
from .state_scrub import ScrubMixin
from .state_sessions import SessionsMixin
from .thumbnails import Storyboard, ThumbnailCache
from .widgets.video_time import PREVIEW_SIDE
from .worker import LatestWorker

if TYPE_CHECKING:
    from .main_window import MainWindow

FRAME_MS = 16  # slider renders are rate-limited to a 60 Hz display
# the worker channels of what follows a shown grid; each job's result is (the grid it was made for, value)
EXTRAS = ("preview", "truth", "drift", "sweep")


class StudioState(MediaMixin, ScrubMixin, ApplyMixin, ActionsMixin, SessionsMixin, OutputsMixin, QObject):
    """Signals: gridApplied() after the grid's images have been replaced."""

    gridApplied = Signal()
    starsChanged = Signal()  # a sample was starred or unstarred
    currentChanged = Signal()  # another sample of the grid was made the current one

    def __init__(self, window: "MainWindow") -> None:
        super().__init__(window)
        self.w = window
        self.catalog = window.catalog
        self.worker = LatestWorker()
        self.worker.done.connect(self._on_done)
        self.cache = DecodeCache()
        self.scrub = ScrubCache()  # drag renders of the held slider's axis, prefetched (scrub.py)
        self.scrub_enabled = True
        self.docs = DocCache()
        # the gallery's thumbnails of recent files and the Time bar's previews, read on a thread of
        # their own: a 24-megapixel PNG takes a third of a second, which the render worker's
        # sliders would wait behind
        self.thumbnails = ThumbnailCache()
        self.frame_previews = ThumbnailCache(side=PREVIEW_SIDE, capacity=128)  # the Time bar's hover previews
        self.thumbnail_worker = LatestWorker(channels=("frame", "thumbs"), name="cdvae-thumbnails")
        self.thumbnail_worker.done.connect(self._on_thumbnail)
        # a video that cannot seek is previewed from one pass from its start (thumbnails.Storyboard),
        # on a thread of its own: the pass takes as long as the video's decode
        self.storyboard: Storyboard | None = None
        self.storyboard_worker = LatestWorker(channels=("storyboard",), name="cdvae-storyboard")
        self.storyboard_worker.done.connect(self._on_storyboard)
        self._storyboard_wait = QTimer(self)  # a preview waiting for the pass to get there
        self._storyboard_wait.setInterval(100)
        self._storyboard_wait.timeout.connect(self._storyboard_preview)
        self.task_name = "resaturation"
        self._hue_of: tuple[LoadedImage, bool] | None = None  # a photo and whether it has colour
        self.task: Any = None
        self.entry: ModelEntry | None = None
        self.ctx: ContextResult | None = None
        self.image: LoadedImage | Any = None  # LoadedImage, or an ImageDoc for a scatter example
        self.image_path: str | None = None
        self.grid: GridResult | None = None
        self.codes = np.zeros((0, 0), np.float32)  # (n, D) codes the grid shows
        self.drawn = np.zeros((0, 0), np.float32)  # (n, D) the codes as drawn, before slider edits and pins
        self.noise = np.zeros((0, 0), np.float32)  # (n, E) each sample's lower-layer draws (fixed per sample)
        self.drawn_noise = np.zeros((0, 0), np.float32)  # (n, E) as drawn, before "randomise all"
        # how ``codes`` / ``noise`` were drawn (seed, temperature, MDN component; ``drawn_draw``:
        # ``drawn``'s): the toolbar and the component picker may have moved since (a redraw still
        # in flight, or undone past), and stars, exports and sessions must record the draw's own
        self.codes_draw = self.drawn_draw = Draw(int(window.seedSpin.value()), 1.0, None)
        self.lower = window.lowerCheck.isChecked()  # decode with the noise (full samples) or at the means
        self.pinned = np.zeros(0, bool)  # (D,) components fixed across the grid by the sliders
        self.current = 0
        self.component = -1
        self.seed = int(window.seedSpin.value())
        self.temperature = float(window.temperatureSpin.value())
        self.pool = DISTINCT_POOL if window.distinctAction.isChecked() else 0  # Draw.pool of new draws
        # the tie conditional asked of the model (Model > Sampling conditional); None: the model's own
        self.conditional: str | None = None
        # a distinct draw's shares (n,) of its pool, one per row of ``drawn``: a cell's share is
        # shown while it still holds that drawn sample
        self.shares: np.ndarray | None = None
        self.stars: dict[int, Star] = {}
        self._star_ids = 0
        self.undo_stack: list[tuple[np.ndarray, np.ndarray, np.ndarray, int, Draw]] = []
        self.redo_stack: list[tuple[np.ndarray, np.ndarray, np.ndarray, int, Draw]] = []  # what undo undid
        self._last_edit = 0.0
        self._draw_pending = False
        self._draws = 0  # draws asked for (request_draw), to tell one asked while a context loads
        self._context_draws = 0  # ... from those the newest context request already drew with
        self._restore_draws = 0  # ... from those asked before the session waiting to be restored was opened
        self._extras_due = False
        self._grid_due = False  # a slider move waits in the throttle (request_grid has not run for it)
        self.settled_once = False
        self.context_failed = False  # the newest context request failed (its error is on the banner)
        self._restore: Session | None = None  # a session to restore onto its model's and image's context
        self._restore_for: tuple[str | None, str | None] = (None, None)  # (model key, image path); None: any
        self._image_pending = False  # an image file is being read in the worker
        self._held_error = ""  # a photo's error to show again once the photo on its way has landed
        # the photos open_paths was given (a command line, a drop, Open image) that wait, in order: one
        # that cannot be opened gives way to the next (at start-up it gave way to a built-in photo,
        # later the photo on screen stayed, although the user had named others)
        self._next_given: list[str] = []
        self._given_on_its_way: str | None = None  # the given photo being read, whose failure moves on
        self._given_failures: list[str] = []  # messages of the given photos that could not be opened
        self._builtin_paths: set[str] = set()  # the gallery's built-in photos
        self._exports: list[tuple[str, Any]] = []  # (what, job): exports and copies, run one after another
        self._pasted: set[Path] = set()  # pasted images named this session (their files may still be on their way)
        self._context_deferred = False  # a context was asked for meanwhile
        self._throttled_grid = qthrottled(self.request_grid, timeout=FRAME_MS, leading=True, parent=self)
        self._debounced_extras = qdebounced(self.request_extras, timeout=120, parent=self)
        self._connect()

    def _connect(self) -> None:
        w = self.w
        w.taskCombo.currentTextChanged.connect(self.set_task)
        w.tieCombo.currentIndexChanged.connect(self._tie_changed)
        w.resampleButton.clicked.connect(self.resample)
        w.seedSpin.valueChanged.connect(self._seed_edited)
        w.temperatureSpin.valueChanged.connect(self._temperature_edited)
        w.distinctAction.toggled.connect(self._distinct_toggled)
        w.conditionalActions.triggered.connect(lambda action: self.set_conditional(action.data()))
        w.lowerCheck.toggled.connect(self._lower_toggled)
        w.sampleGrid.sampleClicked.connect(self.select_sample)
        w.sampleGrid.starToggled.connect(self.toggle_star)
        w.sampleGrid.dragStarted.connect(lambda i: self.drag_sample(i, w.sampleGrid, w.sampleGrid.cell_image(i)))
        w.preview.dragStarted.connect(lambda: self.drag_sample(self.current, w.preview, w.preview.image()))
        w.tray.dragRequested.connect(self.drag_starred)
        w.tray.removeRequested.connect(self.remove_star)
        w.tray.showRequested.connect(self.show_star)
        w.sampleGrid.sampleHovered.connect(w.lppScatter.highlight_sample)
        w.codeSliders.codeEdited.connect(self.edit_code)
        w.codeSliders.dragStarted.connect(self.start_scrub)
        w.codeSliders.dragFinished.connect(self._drag_finished)
        w.codeSliders.resetRequested.connect(self.reset_code)
        w.codeSliders.randomiseRequested.connect(self.randomise)
        w.codeSliders.componentChanged.connect(self.set_component)
        w.codeSliders.show_sweeps.toggled.connect(lambda _on: self.request_extras())
        w.lppScatter.exampleClicked.connect(self.open_example)
        w.lppScatter.samplesSelected.connect(lambda rows: w.sampleGrid.set_lassoed(set(np.asarray(rows).tolist())))
        w.imagePanel.openRequested.connect(self.open_image)
        w.imagePanel.forgetRequested.connect(self.forget_recent)
        w.imagePanel.showRequested.connect(w.show_in_folder)
        w.imagePanel.timeBar.frameChosen.connect(self.choose_frame)
        w.imagePanel.timeBar.previewWanted.connect(self.request_frame_preview)

    # task, model, image ----------------------------------------------------------------------
    def set_task(self, name: str) -> None:
        from cdvae_core.tasks import get_task

        if self.task is not None and name == self.task_name and self.w.tieCombo.count():
            return
        changed = name != self.task_name
        self.task_name = name
        self.task = get_task(name)
        self._show_caption()  # the photo's notes for this task
        w = self.w
        if changed:  # another task asked for: a photo that failed to open before is old news
            w.clear_error("image")
        if w.taskCombo.currentText() != name:
            w.taskCombo.blockSignals(True)
            w.taskCombo.setCurrentText(name)
            w.taskCombo.blockSignals(False)
        if w.train_dialog is not None:
            w.train_dialog.set_task(name)
        self._fill_gallery()
        # an example is the old task's x_c: the gallery's first photo replaces it, unless a photo
        # the user chose is still being read (opening the default replaced that photo)
        if not self._image_pending and (self.image is None or not isinstance(self.image, LoadedImage)):
            self._open_default_image()
        prefer = str(w.settings.value(f"model/{name}", ""))
        self._offer_remembered(prefer, name)
        self.populate_ties(prefer=prefer)
        w.views.setCurrentWidget(w.flowView if name == "motion" else w.preview)

    def _offer_remembered(self, key: str, task: str) -> None:
        """The model last used in ``task``, opened from its folder in an earlier run, back in the
        Model list (it fell back to the built-in one without a word); the status bar says why
        when it cannot be."""
        if not key.startswith(("path:", "nearest:")) or self.catalog.find(key) is not None:
            return
        try:
            self.catalog.offer_key(key)
        except (CatalogError, ValueError) as exc:
            self.w.statusBar().showMessage(f"The {task} model used last could not be opened again: {exc}", 20000)

    def populate_ties(self, prefer: str = "") -> None:
        w = self.w
        entries = self.catalog.entries(self.task_name)
        w.tieCombo.blockSignals(True)
        w.tieCombo.clear()
        for e in entries:
            w.tieCombo.addItem(e.label, e.key)
        w.tieCombo.blockSignals(False)
        if not entries:
            self.entry = None
            self.ctx = None
            self.worker.cancel("context")
            w.codeSliders.clear(f"No model for {self.task_name}: train one.")
            self._enable_model_controls(False)
            w.show_empty(f"No model for the {self.task_name} task yet.\n\nTrain one (Ctrl+T) or open a saved "
                         "model directory (Ctrl+M).")
            w.modelLabel.setText("no model")
            self._show_conditional(None)
            w.lppScatter.set_embedding(None, "No model loaded.")
            self.w.settled.emit()
            return
        keys = [e.key for e in entries]
        default = self.catalog.default(self.task_name)
        index = keys.index(prefer) if prefer in keys else keys.index(default.key) if default else 0
        w.tieCombo.blockSignals(True)  # one load: _tie_changed below, not also the signal
        w.tieCombo.setCurrentIndex(index)
        w.tieCombo.blockSignals(False)
        self._tie_changed(index)

    def _tie_changed(self, index: int) -> None:
        key = self.w.tieCombo.itemData(index)
        entry = self.catalog.find(key) if key else None
        if entry is None:
            return
        if self.entry is None or entry.key != self.entry.key:
            self.conditional = None  # another model samples with its own
        self.entry = entry
        self.w.clear_error("model")  # another model asked for: an earlier one's failure is old news
        self._forget_restore(model_key=entry.key)
        self.w.settings.setValue(f"model/{entry.task}", entry.key)
        self.w.modelLabel.setText(f"loading {entry.label}…")
        self.request_context()

    def _say_if_stopped_early(self, entry: ModelEntry) -> None:
        """A run cancelled before its last epoch opens as it was saved: say that it is unfinished
        and how to finish it (it opened as any model, its scatter empty without a word)."""
        from cdvae_core.train_dir import stopped_early

        stopped = stopped_early(entry.path)
        if stopped is not None:
            done, planned = stopped
            self.w.statusBar().showMessage(f"{entry.path.name} stopped after epoch {done} of {planned}: Train with "
                                           "Resume ticked, into that folder, finishes it", 20000)

    def open_model(self, path: str, kind: str = "opened") -> None:
        try:
            entry = (self.catalog.add_pair_file(path) if is_pair_file(path)
                     else self.catalog.add_model_dir(path, kind=kind))
        except (CatalogError, ValueError) as exc:
            self.w.show_error(str(exc), about="model")
            return
        if entry.kind != "nearest" and kind == "opened":
            self._say_if_stopped_early(entry)
        if kind == "trained":
            saved = string_list(self.w.settings, "trainedModels")
            if str(entry.path) not in saved:
                self.w.settings.setValue("trainedModels", saved + [str(entry.path)])
            if entry.task != self.task_name:
                # a run that finished while the user works in another task: it used to switch the
                # window to the model's task under them; the model waits in its own task's list
                self.w.statusBar().showMessage(f"Trained {entry.label}: it is in the {entry.task} Model list "
                                               f"(Task: {entry.task})", 30000)
                return
        if entry.task != self.task_name:
            self.set_task(entry.task)
        self.populate_ties(prefer=entry.key)

    @Slot(str, int, object, float, str)
    def _on_storyboard(self, channel: str, rid: int, result: object, seconds: float, error: str) -> None:
        self.storyboard_worker.delivered()
        if error and self.storyboard_worker.is_current(channel, rid):
            # the pass failed (the video would not open, or broke off): frames are read one by one again
            self.storyboard = None

    @Slot(str, int, object, float, str)
    def _on_thumbnail(self, channel: str, rid: int, result: object, seconds: float, error: str) -> None:
        self.thumbnail_worker.delivered()
        if self.thumbnail_worker.is_current(channel, rid) and not error:  # the jobs report their own errors
            if channel == "frame":
                self.w.imagePanel.timeBar.show_frame(*result)  # type: ignore[misc]
            else:
                self.w.imagePanel.set_thumbnail(*result)  # type: ignore[misc]
                self._read_next_thumbnail()
        self._announce_if_settled()


    # requests --------------------------------------------------------------------------------
    def request_context(self) -> None:
        if self._image_pending:
            self._context_deferred = True  # set_image asks again when the file has been read
            return
        if self.entry is None or self.image is None or self.task is None:
            return
        entry, task, image, path = self.entry, self.task, self.image, self.image_path
        seed = self._next_seed(keep=True)
        component = self.component if self.component >= 0 else None
        restore = self._restore if self._restore_applies(entry.key, path) else None
        temperature, pool, conditional = self.temperature, self.pool, self.conditional
        pinned = np.array([i in restore.pinned for i in range(len(restore.code))], bool) if restore else None
        values = np.asarray(restore.code, np.float32) if restore else None
        catalog, docs, cache = self.catalog, self.docs, self.cache
        # its grid draws with the seed, temperature and component of now: a draw asked later is
        # drawn again when it lands (_apply_context)
        self._context_draws = self._draws
        if restore is not None:
            # a session's grid is its own draw, as saved; a new seed, temperature or component asked
            # since the session was opened is drawn after it is restored, on top of it (drawn with
            # the toolbar's new seed instead, the session's current code sat among another draw's)
            seed, temperature, pool = restore.seed, restore.temperature, restore.distinct_pool
            component = restore.component if restore.component >= 0 else None
            conditional = restore.conditional or None
            self._context_draws = self._restore_draws
        self.w.show_empty(None)
        lower = self.lower

        def job() -> ContextResult:
            ctx = load_context(catalog, entry, task, image, path, docs, cache, seed, component, pinned, values,
                               temperature, lower, pool, conditional)
            ctx.restore = restore
            return ctx

        self.worker.submit("context", job)

    def request_grid(self) -> None:
        """Render the grid's current codes (slider moves arrive here throttled). While a slider is
        held the cells compose at a third of their side (drag resolution); its release renders full size."""
        self._grid_due = False
        if self.ctx is None or not len(self.codes):
            return
        if self._draw_pending:
            # a new seed, temperature or component is still being drawn: a render of the codes of
            # before replaced that draw in the grid channel and it never landed (the toolbar showed
            # the new seed over the old samples); draw it again with the pins and mode of now, as
            # if this edit had come after it (undo, reset and randomise act on the codes shown and
            # drop the draw themselves: ActionsMixin._drop_draw)
            self.request_draw()
            return
        ctx, task, codes, scale = self.ctx, self.ctx.task, self.codes.copy(), self.ctx.flow_scale
        noise, lower, draw = self.noise.copy(), self.lower, self.codes_draw
        doc, detail = ctx.doc, ctx.detail
        if self.w.codeSliders.dragging():
            doc = drag_doc(ctx.doc)
            detail = shrink_detail(ctx.detail, doc)
            if self._show_prefetched(doc, detail):
                return
        self._draw_pending = False
        self.worker.submit("grid", lambda: render_grid(task, ctx.predictor, ctx.cond, ctx.entry.key, doc,
                                                       codes, self.cache, scale, detail, noise, lower, draw))

    def request_draw(self) -> None:
        """Draw a new set of codes (resample, MDN component) keeping pinned components."""
        if self.ctx is None:
            return
        ctx, task = self.ctx, self.ctx.task
        component = self.component if self.component >= 0 and ctx.mixture is not None else None
        pinned, values, lower = self.pinned.copy(), self.current_code().copy(), self.lower
        draw = Draw(int(self.seed), float(self.temperature), component, distinct_pool(ctx.predictor, self.pool),
                    sampling_conditional(ctx.predictor))

        def job() -> GridResult:
            new = draw_grid(ctx.predictor, ctx.cond, draw, pinned, values)
            grid = render_grid(task, ctx.predictor, ctx.cond, ctx.entry.key, ctx.doc, new.codes, self.cache,
                               ctx.flow_scale, ctx.detail, new.noise, lower, draw)
            grid.drawn, grid.shares = new.drawn, new.shares
            return grid

        self._draw_pending = True
        self._draws += 1
        self.worker.submit("grid", job)

    def request_extras(self) -> None:
        """Full-resolution preview, ground truth, tie drift and sweep strips for the current state."""
        self._extras_due = False
        if self.ctx is None or self.grid is None or not len(self.codes):
            return
        ctx, task, grid, cur = self.ctx, self.ctx.task, self.grid, self.current
        code, noise = self.codes[cur].copy(), self.current_noise()
        # the grid's own layer when it was decoded as the current sample is now (code, noise, mode)
        rendered = grid.lower == (noise is not None) and (noise is None or np.array_equal(grid.noise[cur], noise))
        xg = grid.xg[cur].copy() if np.array_equal(grid.codes[cur], code) and rendered else None
        rows = None if noise is None else noise[None]

        doc_is_photo = ctx.doc.source is not None or not ctx.doc.key.startswith("example:")
        has_codes = getattr(ctx.predictor, "has_codes", True)

        def preview() -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
            layer = xg if xg is not None else \
                self.cache.decode(ctx.predictor, ctx.cond, ctx.entry.key, ctx.doc.key, code[None], rows)[0]
            own = own_sample(ctx.predictor, ctx.cond, ctx.entry.key, ctx.doc) if doc_is_photo and has_codes else None
            span = ctx.doc.truth_span  # the Truth tab's later frame lies another time on: move the frame as far
            against_truth = None if span is None else render_preview(task, ctx.doc, layer * span, own)
            full, image = preview_and_layer(task, ctx.doc, layer, own)
            return layer, image, against_truth, full if task.name == "motion" else None

        # each extra comes back with the grid it was made for: one still queued when a new image,
        # model or grid came up runs after that grid's context and must not land on it
        def submit(channel: str, job: Callable[[], Any]) -> None:
            self.worker.submit(channel, lambda: (grid, job()))

        submit("preview", preview)
        if ctx.doc.xg is not None and has_codes:
            submit("truth", lambda: render_truth(task, ctx.predictor, ctx.cond, ctx.doc, grid.xg, ctx.detail,
                                                 ctx.flow_scale))
        drift = getattr(ctx.predictor, "tie_drift", None)
        if drift is not None and ctx.predictor.tied_dims:
            submit("drift", lambda: drift(ctx.cond, grid.xg))
        if self.w.codeSliders.show_sweeps.isChecked():
            mean, std = ctx.mean, ctx.std
            submit("sweep", lambda: render_sweeps(task, ctx.predictor, ctx.cond, ctx.entry.key, ctx.doc, code, mean,
                                                  std, self.cache, detail=ctx.detail, flow_scale=ctx.flow_scale,
                                                  noise=noise))

    # results ---------------------------------------------------------------------------------
    @Slot(str, int, object, float, str)
    def _on_done(self, channel: str, rid: int, result: object, seconds: float, error: str) -> None:
        self.worker.delivered()
        if channel == "scrub" and not error:
            self.scrub.store(*result)  # kept even when cancelled: the grids are right for their plan
            if self.worker.is_current(channel, rid):
                self._submit_scrub()
        if not self.worker.is_current(channel, rid):
            return  # a newer request of this channel is on its way: drop the stale result
        if channel in EXTRAS and not error:
            made_for, result = result  # type: ignore[misc]
            if made_for is not self.grid:  # made for a grid no longer shown: its own extras follow
                self._announce_if_settled()
                return
        if error:
            if channel == "context":  # a model the catalog listed but could not load (its embedding, say)
                self.context_failed = True
                loading = isinstance(result, type) and issubclass(result, ModelLoadError)
                self.w.show_error(f"Cannot load the model: {error}" if loading
                                  else f"Cannot show this model on this image: {error}", about="model")
                self.w.modelLabel.setText("model failed to load" if loading else "model failed on this image")
            else:
                # a queued export or copy is named as it was queued ("Copy of sample #3"); it read "misc: ..."
                what = self._exports[0][0] if channel == "misc" and self._exports else channel
                self.w.show_error(f"{what} failed: {error}" if channel == "misc" else f"{channel}: {error}")
            if channel == "image":  # an unexpected failure: still release the contexts waiting for it
                self._apply_image("", False, f"Cannot open the image: {error}")
        elif channel == "image":
            self._apply_image(*result)  # type: ignore[misc]
        elif channel == "context":
            self._apply_context(result, seconds)  # type: ignore[arg-type]
        elif channel == "grid":
            self._apply_grid(result, seconds)  # type: ignore[arg-type]
        elif channel == "preview":
            self._apply_preview(*result)  # type: ignore[misc]
        elif channel == "truth":
            self._apply_truth(result)
        elif channel == "drift":
            self._apply_drift(np.asarray(result))
        elif channel == "sweep":
            self._apply_sweeps(np.asarray(result))
        elif channel == "misc" and isinstance(result, RestoredStars):
            self._apply_restored_stars(result)
        elif channel == "misc" and isinstance(result, ClipboardPicture):
            QGuiApplication.clipboard().setImage(rgb_to_qimage(result.rgb))  # the GUI thread owns the clipboard
            self.w.statusBar().showMessage(result.message, 8000)
        elif channel == "misc" and isinstance(result, LeftOut):
            self.w.show_error(result)
        elif channel == "misc":
            self.w.statusBar().showMessage(str(result), 8000)
        if channel == "misc":
            self._export_done()  # also after a failed export
        self._announce_if_settled()

    def _announce_if_settled(self) -> None:
        if self.is_settled():
            self.settled_once = self.settled_once or self.ctx is not None
            self.w.settled.emit()

    def is_settled(self) -> bool:
        """No job waiting or running and no throttled or debounced follow-up due (a slider's
        second move within a frame waits in the throttle: while a slider is held no extras are
        due meanwhile, and the window counted itself settled showing the move before)."""
        return (self.worker.idle() and self.thumbnail_worker.idle() and not self._extras_due
                and not self._grid_due)

    def shutdown(self) -> None:
        self.worker.stop()
        self.thumbnail_worker.stop()
        self.storyboard_worker.cancel("storyboard")  # a pass running stops at its next frame
        self.storyboard_worker.stop()



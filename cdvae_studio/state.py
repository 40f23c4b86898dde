"""StudioState: what the window shows (task, model, image, grid codes) and the requests it sends.

Every model call runs in the LatestWorker; this class only submits jobs and applies results
whose request id is still the newest of their channel. Slider input reaches ``request_grid``
through superqt's ``qthrottled`` (one render per display frame at most); the full-resolution
preview and the extras (truth, tie drift, sweeps) follow through ``qdebounced``.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal, Slot
from PySide6.QtGui import QGuiApplication
from superqt.utils import qdebounced, qthrottled

from cdvae_core.checkpoint import ModelLoadError
from cdvae_core.data.errors import Stopped
from cdvae_core.data.video import at_time, release_readers, split_time
from cdvae_core.distinct import DISTINCT_POOL
from cdvae_core.predictor import DRIFT_LIMIT

from .catalog import CatalogError, ModelEntry, is_pair_file
from .clipboard import kept_by_studio, pasted_folder, pasted_path, rgb_to_qimage, save_png
from .images import IMAGE_SUFFIXES, VIDEO_SUFFIXES, ImageLoadError, LoadedImage, load_image
from .jobs import ContextResult, DocCache, Draw, GridResult, distinct_pool, draw_grid, load_context, own_sample
from .jobs import sampling_conditional
from .jobs import render_grid
from .jobs import preview_and_layer, render_preview
from .jobs import render_sweeps, render_truth
from .prefs import string_list
from .render import DecodeCache, doc_from_layer, drag_doc, heat_rgb, shrink_detail
from .scrub import ScrubCache, render_scrub_chunk, scrub_signature
from .session import Session
from .thumbnails import Storyboard, ThumbnailCache
from .widgets.video_time import PREVIEW_SIDE
from .state_actions import ActionsMixin, ClipboardPicture, LeftOut, RestoredStars, Star  # noqa: F401 - Star is part of this module's API
from .worker import LatestWorker, report_error

if TYPE_CHECKING:
    from .main_window import MainWindow

FRAME_MS = 16  # slider renders are rate-limited to a 60 Hz display
RECENT_MAX = 10  # photos the gallery keeps besides the built-in ones
# how the sliders' tooltips state a component's effect on x_g: (unit, x_g units to it)
EFFECT_UNITS = {"relighting": ("grey levels", 255.0), "resaturation": ("levels of saturation", 255.0),
                "motion": ("model px/s of flow", 1.0)}
# the worker channels of what follows a shown grid; each job's result is (the grid it was made for, value)
EXTRAS = ("preview", "truth", "drift", "sweep")


def listed_path(path: str) -> str:
    """How the gallery and the recent list name a file: a video's frame at a time
    (``clip.mp4#t=2.5``, from its Time bar or the command line) as the video itself."""
    return str(split_time(path, strict=False)[0])


class StudioState(ActionsMixin, QObject):
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
        self.last_grid_s = 0.0
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
        self.populate_ties(prefer=str(w.settings.value(f"model/{name}", "")))
        w.views.setCurrentWidget(w.flowView if name == "motion" else w.preview)

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

    def open_model(self, path: str, kind: str = "opened") -> None:
        try:
            entry = (self.catalog.add_pair_file(path) if is_pair_file(path)
                     else self.catalog.add_model_dir(path, kind=kind))
        except (CatalogError, ValueError) as exc:
            self.w.show_error(str(exc), about="model")
            return
        if kind == "trained":
            saved = string_list(self.w.settings, "trainedModels")
            if str(entry.path) not in saved:
                self.w.settings.setValue("trainedModels", saved + [str(entry.path)])
        if entry.task != self.task_name:
            self.set_task(entry.task)
        self.populate_ties(prefer=entry.key)

    def _fill_gallery(self, keep_scroll: bool = False) -> None:
        from .widgets.panels import recent_entries

        entries: list[tuple[str, str, Any]] = []
        try:
            from cdvae_core.data.builtin import builtin_images, builtin_source_paths

            paths = builtin_source_paths()
            self._builtin_paths = set(paths.values())
            from .images import resize_rgb

            entries = [(name, paths[name], resize_rgb(np.asarray(img), 56)) for name, img in builtin_images()
                       if name in paths]
        except ImportError:
            pass
        recent = [p for p in string_list(self.w.settings, "recentFiles")
                  if p not in self._builtin_paths]  # listed once, as the built-in photo
        self.w.imagePanel.builtin = set(self._builtin_paths)
        self.w.imagePanel.set_gallery(entries + recent_entries(recent, self.thumbnails), keep_scroll)
        self._read_next_thumbnail()

    def _read_next_thumbnail(self) -> None:
        """Read the first gallery entry still without a thumbnail, in the thumbnail worker; each
        result asks for the next, so a refilled gallery takes over the queue."""
        wanting = self.w.imagePanel.wanting_thumbnails()
        if not wanting:
            return
        path = wanting[0]
        self.thumbnail_worker.submit("thumbs", _reading(self.thumbnails, path, None, path, "cannot read it"))

    def _start_storyboard(self, path: str | None, clip: Any) -> None:
        """A video that cannot seek gets its storyboard, filled on its worker; another document
        stops a pass still running (the same video's next frame keeps it)."""
        video = None if path is None or clip is None or clip.seekable else str(split_time(path)[0])
        board = self.storyboard
        if board is not None and board.path == video:
            return
        if board is not None:  # its readers, kept for stepping through it, hold a second of frames
            release_readers(board.path)
        self.storyboard_worker.cancel("storyboard")  # a pass running stops at its next frame
        self.storyboard = None if video is None else Storyboard(video, PREVIEW_SIDE)
        if self.storyboard is not None:
            fill, stop = self.storyboard.fill, self.storyboard_worker.superseded
            self.storyboard_worker.submit("storyboard", lambda: fill(stop))

    @Slot(str, int, object, float, str)
    def _on_storyboard(self, channel: str, rid: int, result: object, seconds: float, error: str) -> None:
        self.storyboard_worker.delivered()
        if error and self.storyboard_worker.is_current(channel, rid):
            # the pass failed (the video would not open, or broke off): frames are read one by one again
            self.storyboard = None

    def _storyboard_preview(self) -> None:
        """The preview waiting for the storyboard's pass: shown once the pass has got there."""
        bar, board, clip = self.w.imagePanel.timeBar, self.storyboard, getattr(self.image, "clip", None)
        index = bar.previewed()
        if index is None or board is None or clip is None:
            self._storyboard_wait.stop()
            return
        picture = board.near(clip.time(index))
        if picture is not None:
            self._storyboard_wait.stop()
            bar.show_frame(index, picture)

    def request_frame_preview(self, index: int) -> None:
        """Read the Time bar's preview of frame ``index`` of the video shown (kept ones at once; a
        video that cannot seek: its storyboard's nearest picture, once the pass has got there)."""
        clip = getattr(self.image, "clip", None)
        if clip is None or self.image_path is None:
            return
        path, seconds, previews = str(split_time(self.image_path)[0]), clip.time(index), self.frame_previews
        if self.storyboard is not None and self.storyboard.path == path:
            self._storyboard_wait.start()  # "reading..." until the pass gets there
            self._storyboard_preview()
            return
        kept = previews.peek(path, seconds)
        if kept is not None:
            self.w.imagePanel.timeBar.show_frame(index, kept)
            return
        self.thumbnail_worker.submit("frame", _reading(previews, path, seconds, index, "cannot read this frame",
                                                       stop=self.thumbnail_worker.superseded))

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

    def open_paths(self, paths: Sequence[str]) -> None:
        """Open what the command line, the Open dialog or a drop hands over: saved model folders
        and pair files (the nearest-neighbour baseline) as models, the last one named shown;
        photos into the gallery, the first one shown; a folder that is no model for the photos
        directly inside it, in name order. The gallery keeps RECENT_MAX of them; the status bar
        says so when there were more."""
        models: list[str] = []
        photos: list[str] = []
        for path in map(Path, paths):
            if (path.is_dir() and (path / "config.json").is_file()) or is_pair_file(path):
                models.append(str(path))
            elif path.is_dir():
                found = sorted(str(f) for f in path.iterdir() if f.is_file() and not f.name.startswith(".")
                               and f.suffix.lower() in IMAGE_SUFFIXES + VIDEO_SUFFIXES)
                if not found:
                    self._photo_error(f"{path.name} holds no photos or videos ({' '.join(IMAGE_SUFFIXES)}, "
                                      f"{' '.join(VIDEO_SUFFIXES)}) and is no saved model")
                photos += found
            else:
                photos.append(str(path))
        for model in models:
            self.open_model(model)
        if not photos:
            return
        self.add_recent([listed_path(p) for p in photos[1:RECENT_MAX]])  # the first lands in front once it opens
        self._next_given, self._given_failures = photos[1:RECENT_MAX], []
        self.open_image(photos[0])
        self._given_on_its_way = photos[0]
        if len(photos) > RECENT_MAX:
            self.w.statusBar().showMessage(f"{len(photos)} photos given: the gallery keeps the first {RECENT_MAX}",
                                           15000)

    def open_pasted(self, pixels: np.ndarray) -> None:
        """Open a pasted or dropped image, uint8 (H, W, 3) RGB or (H, W, 4) RGBA: first kept as a
        PNG in the pasted folder (clipboard.py), written in the worker."""
        path = pasted_path(pasted_folder(), taken=self._pasted)
        self._pasted.add(path)
        self.open_image(str(path), write=lambda: save_png(path, pixels))

    def _photo_error(self, text: str) -> None:
        """Say what went wrong with a photo, now and, when a photo is on its way (the start-up
        one), again once it has landed, since landing takes the photo's message down."""
        self.w.show_error(text, about="image")
        if self._image_pending:
            self._held_error = text

    def _open_default_image(self) -> None:
        w = self.w.imagePanel.gallery
        if w.count():
            self.open_image(str(w.item(0).data(0x0100)), remember=False)

    def open_image(self, path: str, remember: bool = True, write: Callable[[], None] | None = None,
                   keeping: str = "the pasted image") -> None:
        """Load a photo (any format OpenCV reads) in the worker (a 24-megapixel JPEG takes most of a
        second to decode); a bad file leaves the current one in place. ``write``, if given, first
        writes the file in the worker (a pasted image, a result used as the photo: ``keeping``
        names it in the message of a write that fails)."""

        def job() -> tuple[str, bool, LoadedImage | str]:
            if write is not None:
                try:
                    write()
                except (OSError, ValueError) as exc:
                    return path, remember, f"Cannot keep {keeping}: {report_error(exc)}"
            try:
                return path, remember, load_image(path, stop=self.worker.superseded)
            except ImageLoadError as exc:
                return path, remember, f"Cannot open {Path(path).name}: {exc}"

        self._image_pending = True  # contexts wait for it: a model switch meanwhile would render the old image
        self._given_on_its_way = None  # this replaces a given photo on its way: the user chose another
        self.worker.submit("image", job)

    def _apply_image(self, path: str, remember: bool, loaded: LoadedImage | str) -> None:
        self._image_pending = False
        deferred, self._context_deferred = self._context_deferred, False
        if isinstance(loaded, str):
            self._held_error = ""  # older news than this
            self.w.show_error(loaded, about="image")
            self.w.imagePanel.timeBar.set_clip(getattr(self.image, "clip", None))  # back to the frame shown
            if self._restore is not None and self._restore_for[1] == path:
                self._restore_for = (self._restore_for[0], None)  # the session's image is gone: any will do
            given = path == self._given_on_its_way
            if given or (self.image is None and path not in self._builtin_paths):
                # the next photo given stands in; where none is left and nothing is on screen yet (a
                # bad file named on the command line replaced the start-up photo's job), the first
                # built-in photo, rather than an empty window
                self._given_failures = (self._given_failures if given else []) + [loaded.rstrip(".")]
                instead = ""
                if given and self._next_given:
                    following = self._next_given.pop(0)
                    self.open_image(following)
                    self._given_on_its_way, instead = following, Path(following).name
                elif self.image is None:
                    self._open_default_image()
                    instead = "a built-in photo"
                more = len(self._given_failures) - 1  # one line: the first reason, a count of the rest
                also = f" (and {more} more of the photos given)" if more else ""
                showing = f" Showing {instead} instead." if instead else ""
                self._photo_error(f"{self._given_failures[0]}{also}.{showing}")
                if instead:
                    return
            # the photo on screen stays
            if self.image is not None and not isinstance(self.image, LoadedImage) \
                    and getattr(self.image, "task", self.task_name) != self.task_name:
                self._open_default_image()  # the task changed while the bad file was read: see set_task
            elif deferred:
                self.request_context()  # the model changed while the bad file was read
            return
        self.set_image(loaded, path)
        if self._held_error:  # said before this photo landed (set_image took the banner down)
            self.w.show_error(self._held_error, about="image")
            self._held_error = ""
        # a built-in photo (a gallery click) is not a recent file, and its folder (inside the
        # installed packages) is no place to start the next Open dialog
        if remember and path not in self._builtin_paths:
            listed = listed_path(path)
            self.add_recent([listed])
            # the folders of pasted images and kept results are no place to start the Open dialog either
            if not kept_by_studio(path):
                self.w._remember_dir(listed)

    def forget_recent(self, paths: list[str]) -> None:
        """Take files off the recent list and the gallery (the files themselves stay); the photo
        shown stays on screen."""
        recent = [p for p in string_list(self.w.settings, "recentFiles") if p not in set(paths)]
        self.w.settings.setValue("recentFiles", recent)
        self._fill_gallery(keep_scroll=True)
        names = ", ".join(Path(p).name for p in paths)
        self.w.statusBar().showMessage(f"{names}: removed from the gallery (file kept)", 8000)

    def add_recent(self, paths: list[str]) -> None:
        """Put files at the front of the recent list (at most RECENT_MAX) and refresh the gallery."""
        new = [str(p) for p in paths]
        if not new:
            return
        recent = [p for p in string_list(self.w.settings, "recentFiles") if p not in new]
        self.w.settings.setValue("recentFiles", (new + recent)[:RECENT_MAX])
        self._fill_gallery()

    def set_image(self, loaded: LoadedImage | Any, path: str | None) -> None:
        self._next_given = []  # a photo landed: the others given wait in the gallery
        self._forget_restore(image_path=path if path is not None else getattr(loaded, "key", ""))
        self.w.clear_error("image")
        self.image, self.image_path = loaded, path
        rgb = loaded.rgb
        self.w.imagePanel.photo.set_image(rgb)
        self.w.imagePanel.timeBar.set_clip(getattr(loaded, "clip", None))
        self._start_storyboard(path, getattr(loaded, "clip", None))
        self.w.imagePanel.mark_current(None if path is None else listed_path(path))
        self._show_caption()
        # the pins stay with the grid shown until the new context lands and clears them (cleared
        # here, a session saved or a resample asked meanwhile lost them from the grid still shown)
        self.request_context()

    def _show_caption(self) -> None:
        """The photo's name, size and notes under it, with what the task cannot do with it."""
        loaded = self.image
        if loaded is None:
            return
        notes = list(getattr(loaded, "notes", []) or [])
        if self.task_name == "resaturation" and not self._has_hue(loaded):
            # 16 identical grey results, and a spread map lit up: the saturation a sample adds
            # has no hue to show in
            notes.append("no colour to resaturate: every result stays grey")
        rgb = loaded.rgb
        self.w.imagePanel.caption.setText(f"{loaded.name} · {rgb.shape[1]}x{rgb.shape[0]}"
                                          + (f" · {'; '.join(notes)}" if notes else ""))

    def _has_hue(self, loaded: LoadedImage) -> bool:
        """resaturation.has_hue of the photo, once per photo (a task switch asks again)."""
        if self._hue_of is None or self._hue_of[0] is not loaded:
            from cdvae_core.tasks.resaturation import has_hue

            self._hue_of = (loaded, has_hue(loaded.rgb))
        return self._hue_of[1]

    def choose_frame(self, index: int) -> None:
        """Open frame ``index`` of the video on screen (its time bar). Its path carries the time
        (``clip.mp4#t=2.5``), so exports, sessions and the document cache all name that frame;
        the recent list keeps the video itself."""
        clip = getattr(self.image, "clip", None)
        if clip is None or self.image_path is None or (index == clip.index and not self._image_pending):
            return
        self.open_image(at_time(self.image_path, clip.time(index)), remember=False)

    def open_example(self, row: int) -> None:
        """Open a training example from the scatter plot (its 32x32 x_c layer)."""
        if self.ctx is not None and self.ctx.task.name != self.task_name:
            return  # the scatter still shows the previous task's model: its examples are another task's x_c
        emb = getattr(self.ctx.predictor, "embedding", None) if self.ctx else None
        thumbs = getattr(emb, "xc_thumbs", None)
        if thumbs is None or not 0 <= row < len(thumbs):
            self.w.show_error("this model keeps no thumbnails of its training examples")
            return
        doc = doc_from_layer(self.ctx.task, np.asarray(thumbs[row], np.float32), f"training example #{row}")
        if self._image_pending:
            # a photo still being read was chosen before this example: landing after it, it
            # replaced the example the user chose last
            self.worker.cancel("image")
            self._image_pending = self._context_deferred = False
        self.set_image(doc, None)

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

    def _enable_model_controls(self, on: bool) -> None:
        w = self.w
        for widget in (w.resampleButton, w.codeSliders.reset_button, w.codeSliders.random_all_button,
                       w.codeSliders.random_untied_button, w.exportAction, w.copyAction, w.useResultAction):
            widget.setEnabled(on)
        w.motionGifAction.setEnabled(on and self.ctx is not None and self.ctx.task.name == "motion")

    def _apply_context(self, ctx: ContextResult, seconds: float = 0.0) -> None:
        w = self.w
        self.context_failed = False
        self.ctx = ctx
        # every grid job still on its way was asked of the previous context (its model, image and
        # codes): shown after this one, the window held this model's codes under the old one's cells
        self.worker.cancel("grid")
        redraw = self._draws != self._context_draws  # a seed, temperature or component asked since
        self._enable_model_controls(True)
        w.setWindowTitle(f"{ctx.doc.title} — CDVAE Studio")  # the taskbar and window switcher name the photo
        self._show_caption()  # its notes for this task
        w.preview.set_photo(ctx.doc.rgb)  # held down, the Preview shows it in place of the result
        # the session this context was asked for (request_context), unless a newer one replaced it;
        # it used to be whichever session waited when any context landed: one for the old image
        # (or the old model) used it up, and one whose image failed left it to a later, unrelated one
        restore = ctx.restore if ctx.restore is not None and ctx.restore is self._restore else None
        if restore is not None:
            self._restore = None
            self.conditional = restore.conditional or None
        p = ctx.predictor
        if getattr(p, "has_codes", True):
            w.codeSliders.set_layout(p.code_dim, p.tied_dims, ctx.mean, ctx.std, ctx.effects,
                                     EFFECT_UNITS.get(ctx.task.name, ("", 1.0)))
        else:
            w.codeSliders.clear(f"{p.name}: sample i is the training x_g of the i-th nearest training x_c; "
                                "there is no code to explore.")
        w.codeSliders.set_mixture(ctx.mixture)
        if ctx.mixture is not None and 0 <= self.component < len(ctx.mixture):
            w.codeSliders.component_combo.blockSignals(True)
            w.codeSliders.component_combo.setCurrentIndex(self.component + 1)
            w.codeSliders.component_combo.blockSignals(False)
        else:
            self.component = -1
        self.drawn = _drawn(ctx.grid)
        self.codes = ctx.grid.codes.copy()
        self._take_noise(ctx.grid)
        self.pinned = np.zeros(p.code_dim, bool)
        self.current = 0
        self.undo_stack.clear()
        self.redo_stack.clear()
        if restore is not None:
            self.pinned[[i for i in restore.pinned if i < p.code_dim]] = True
            self.current = min(max(restore.current, 0), len(self.codes) - 1)
            if len(restore.code) == p.code_dim:
                self.codes[self.current] = np.asarray(restore.code, np.float32)
            if restore.noise is not None and len(restore.noise) == self.noise.shape[1]:
                self.noise[self.current] = np.asarray(restore.noise, np.float32)
        w.imagePanel.layer.set_image(_layer_rgb(ctx.doc.xc_work))
        w.flowView.set_frame(ctx.doc.rgb if ctx.task.name == "motion" else None)
        w.flowView.set_truth(ctx.doc.xg if ctx.task.name == "motion" else None)  # a video's frame has one
        emb = getattr(p, "embedding", None)
        w.lppScatter.set_embedding(emb, "This model was saved without a training embedding.", ctx.components,
                                   label_names=ctx.label_names)
        w.truthView.clear("…" if ctx.doc.xg is not None else _no_truth_reason(ctx.doc, ctx.task.name))
        chosen = getattr(p, "has_tie", False) and p.config.tie_conditional != p.saved_conditional
        w.modelLabel.setText(f"{ctx.entry.label} · D={p.code_dim}, tied {p.tied_dims}"
                             + (f", K={p.mixtures}" if getattr(p, "mixtures", 0) else "")
                             + (f", {p.config.tie_conditional} conditional" if chosen else ""))
        w.modelLabel.setToolTip(p.config.conditional_text if getattr(p, "has_tie", False) else "")  # the NN has none
        self._show_conditional(p)
        self._apply_grid(ctx.grid, seconds, "model, image and grid")  # the whole job (models are cached)
        if redraw:
            self.request_draw()  # with the toolbar's and picker's values (and a session's pins), on this context
        elif restore is not None or ctx.grid.lower != (self.lower and ctx.grid.noise is not None):
            # a session's code, or "Full samples" toggled while the context loaded (its grid was
            # decoded the other way, and shown so under the checkbox's new state)
            self.request_grid()

    def _take_noise(self, grid: GridResult) -> None:
        """Adopt a freshly drawn grid's lower-layer noise (n, E) and how it was drawn (seed,
        temperature, MDN component)."""
        n = len(grid.codes)
        self.codes_draw = self.drawn_draw = grid.draw
        self.noise = np.zeros((n, 0), np.float32) if grid.noise is None else grid.noise.copy()
        self.drawn_noise = self.noise.copy()
        self.shares = None if grid.shares is None else grid.shares.copy()

    def _apply_grid(self, grid: GridResult, seconds: float, job: str = "render") -> None:
        w = self.w
        self.grid = grid
        if self._draw_pending or grid.codes.shape != self.codes.shape:
            # codes drawn in the worker (resample, seed, MDN component): the grid's codes become ours
            self._draw_pending = False
            self.redo_stack.clear()  # a new draw, as an edit, ends what redo could go back to
            self.codes = grid.codes.copy()
            self.drawn = _drawn(grid)
            self._take_noise(grid)
        t0 = time.perf_counter()
        full = self.ctx.doc.small.shape[:2] if self.ctx is not None else None
        # a drag render (smaller cells, slider held): only the cells change on screen; the sliders
        # already show the moved value, and the spread map, scatter overlay and extras follow the
        # full render the release asks for, so a scrub pays for the grid alone
        drag = full is not None and grid.cells.shape[1:3] != full
        w.sampleGrid.set_images(grid.cells, full)
        # the drift badges describe the codes before this grid; the drift job of a full render
        # recomputes them (during a drag, painting 16 stale ones cost 0.4 of each 1.3 ms repaint)
        if drag:
            w.sampleGrid.set_badges([], [])
        else:
            self._show_badges()
            w.sampleGrid.set_current(self.current)
            self._mark_stars()
            w.codeSliders.set_code(self.codes[self.current])
            w.codeSliders.set_pinned(self.pinned)
            self._say_why_shares_are_hidden()
            w.spread.set_spread(heat_rgb(grid.spread, (grid.cells.shape[2], grid.cells.shape[1])),
                                float(grid.spread.max()))
        self.last_grid_s = seconds + (time.perf_counter() - t0)
        colour = "" if self.ctx is None or self.ctx.flow_scale is None else \
            f" · flow colour full at {self.ctx.flow_scale:.1f} model px/s"
        what = f"the {len(grid.codes)} most distinct of {grid.draw.pool}" if self.shares is not None else \
            f"{len(grid.codes)}"
        w.timingLabel.setText(f"{what} samples: decode {grid.decode_s * 1e3:.0f} ms, "
                              f"{job} {seconds * 1e3:.0f} ms · spread max {float(grid.spread.max()):.3f}{colour}")
        if not drag:
            self._extras_due = True
            code = self.ctx.image_code if self.ctx is not None else None
            w.lppScatter.set_overlay(self.codes[self.current], self.codes, code, self.shown_shares())
            self._debounced_extras()
        self.gridApplied.emit()

    def _apply_preview(self, layer: np.ndarray, image: np.ndarray, against_truth: np.ndarray | None = None,
                       full: np.ndarray | None = None) -> None:
        """``against_truth``: the sample as the Truth tab compares it (motion: moved as far as the
        later frame lies on, where that is not the preview's second); ``full``: motion's flow at
        the preview's size (2, H, W), which the Flow tab plays."""
        self.w.preview.set_image(image)
        shown = image if against_truth is None else against_truth
        self.w.truthView.set_current(shown if self.ctx and self.ctx.doc.xg is not None else None)
        if self.ctx is not None and self.ctx.task.name == "motion":
            self.w.flowView.set_flow(layer, full)

    def _apply_truth(self, res: Any) -> None:
        if self.ctx is None:
            return
        self.w.lppScatter.set_truth_code(res.code)  # the star among the samples in the scatter
        # the photo is the truth of its own relighting / resaturation; motion's is the video's later frame
        doc = self.ctx.doc
        later = doc.later
        full_truth = later if later is not None else doc.rgb
        from .images import resize_rgb

        encoded = resize_rgb(res.image, max(full_truth.shape[:2]))
        span = 1.0 if doc.truth_span is None else doc.truth_span
        what = "" if later is None else (f"; truth: the video's frame {doc.gap:.2f} s later; samples and the encoded "
                                         f"truth: the first frame moved along their flow for {span:.2f} s")
        self.w.truthView.set_truth(full_truth, encoded,
                                   f"best-of-{len(self.codes)} error (per-pixel MSE of x_g): {res.best_error:.4f} "
                                   f"(sample #{res.best_index + 1}){what}")  # from 1, as the tray and dialogs

    def _show_badges(self, drift: np.ndarray | None = None) -> None:
        """Each cell's badge: its share of a distinct draw's pool while the cell still shows that
        sample, then the tie drift (n,) once measured, red past the model's limit."""
        texts = self._share_texts()
        alerts = [False] * len(texts)
        if drift is not None:
            shown = np.round(drift, 1)  # flag what the badge reads: 2.04 reads "2.0σ", not past 2
            # the nearest-neighbour baseline has no drift of its own: the library's default limit
            limit = round(getattr(self.ctx.predictor, "drift_limit", DRIFT_LIMIT), 1) if self.ctx is not None \
                else DRIFT_LIMIT
            for i, d in enumerate(shown[: len(texts)]):
                texts[i] = " · ".join(t for t in (texts[i], f"drift {d:.1f}σ") if t)
                alerts[i] = bool(d > limit)
        self.w.sampleGrid.set_badges(texts, alerts)

    def shown_shares(self) -> np.ndarray | None:
        """Each cell's share (n,) of a distinct draw's pool, NaN where the cell no longer holds its
        drawn sample; None when the grid is no distinct draw."""
        if self.shares is None or self.drawn.shape != self.codes.shape or self.drawn_noise.shape != self.noise.shape:
            return None
        same = (self.codes == self.drawn).all(1) & (self.noise == self.drawn_noise).all(1)  # (n,) unedited
        return np.where(same, self.shares, np.nan)

    def _say_why_shares_are_hidden(self) -> None:
        """Distinct results whose every cell a pin changed show no shares: say so, and how to get
        them back (the badges vanished without a word)."""
        shares = self.shown_shares()
        if shares is None or not self.pinned.any() or not np.isnan(shares).all() or self.ctx is None:
            return
        tied = self.ctx.predictor.tied_dims
        names = ", ".join(f"{'t' if i < tied else 'u'}{i}" for i in np.flatnonzero(self.pinned))
        self.w.statusBar().showMessage(f"Shares hidden: pinned {names} changed every sample from its draw; "
                                       "Reset frees the pins and brings the drawn samples back", 10_000)

    def _share_texts(self) -> list[str]:
        shares = self.shown_shares()
        if shares is None:
            return [""] * len(self.codes)
        return ["" if np.isnan(s) else share_text(s) for s in shares]

    def _apply_drift(self, drift: np.ndarray) -> None:
        self._show_badges(drift)

    def _apply_sweeps(self, strips: np.ndarray) -> None:
        from .widgets.lpp_scatter import rgb_pixmap

        for i, strip in enumerate(strips):
            pm = rgb_pixmap(strip, None)
            self.w.codeSliders.set_sweep(i, pm)

    def shutdown(self) -> None:
        self.worker.stop()
        self.thumbnail_worker.stop()
        self.storyboard_worker.cancel("storyboard")  # a pass running stops at its next frame
        self.storyboard_worker.stop()


def _reading(cache: ThumbnailCache, path: str, seconds: float | None, tag: Any, failure: str,
             stop: Callable[[], bool] | None = None) -> Callable[[], tuple[Any, np.ndarray | None, str]]:
    """A thumbnail worker job: (tag, the picture ``cache.read`` gives, "") or, where it cannot be
    read, (tag, None, "<failure>: <reason>"): said where the picture would be, not as an error,
    since only a glance was asked for. A read that ``stop`` stops raises Stopped to the worker."""

    def read() -> tuple[Any, np.ndarray | None, str]:
        try:
            return tag, cache.read(path, seconds, stop), ""
        except Stopped:
            raise
        except Exception as exc:  # noqa: BLE001 - any failure: the reason goes in the picture's place
            return tag, None, f"{failure}: {report_error(exc)}"

    return read


def share_text(share: float) -> str:
    """A distinct sample's share of its pool as its badge reads it: "31%", "<1%"."""
    return "<1%" if share < 0.005 else f"{share:.0%}"


def _drawn(grid: GridResult) -> np.ndarray:
    """A fresh draw's codes as drawn, before the pins kept through it (what "Reset" goes back to)."""
    return (grid.codes if grid.drawn is None else grid.drawn).copy()


def _no_truth_reason(doc: Any, task: str) -> str:
    """Why the Truth tab is empty: a relit or resaturated example showed "motion needs two frames"."""
    if doc.key.startswith("example:"):
        return "No ground truth for a training example: the model keeps only its x_c thumbnail."
    if task == "motion":
        return "No ground truth for this image (motion needs two frames: open a video for its first frame and truth)."
    return "No ground truth for this image."


def _layer_rgb(layer: np.ndarray) -> np.ndarray:
    from .render import layer_to_rgb

    return layer_to_rgb(layer)

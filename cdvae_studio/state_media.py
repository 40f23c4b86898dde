"""What StudioState opens and shows as its photo: paths, folders, pasted pictures, a video's frame,
the gallery of built-in and recent files with their thumbnails, a video's storyboard.

A mixin of ``state.StudioState``: its worker loads the photo (``load_image``, looked up here,
where the tests replace it) and its ``_on_thumbnail`` and ``_on_storyboard`` slots hand the
thumbnails back.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from cdvae_core.data.errors import Stopped
from cdvae_core.data.video import at_time, split_time
from cdvae_core.data.video_frames import release_readers

from .catalog import is_pair_file
from .clipboard import kept_by_studio, pasted_folder, pasted_path, save_png
from .images import IMAGE_SUFFIXES, VIDEO_SUFFIXES, ImageLoadError, LoadedImage, load_image
from .prefs import string_list
from .render import doc_from_layer
from .thumbnails import Storyboard, ThumbnailCache
from .widgets.video_time import PREVIEW_SIDE
from .worker import report_error

RECENT_MAX = 10  # photos the gallery keeps besides the built-in ones


def listed_path(path: str) -> str:
    """How the gallery and the recent list name a file: a video's frame at a time
    (``clip.mp4#t=2.5``, from its Time bar or the command line) as the video itself."""
    return str(split_time(path, strict=False)[0])


class MediaMixin:
    """Methods of StudioState that open photos and videos and keep the gallery."""

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

    def open_paths(self, paths: Sequence[str]) -> None:
        """Open what the command line, the Open dialog or a drop hands over: saved model folders
        and pair files (the nearest-neighbour baseline) as models, the last one named shown;
        photos into the gallery, the first one shown; a folder that is no model for the photos
        directly inside it, in name order. The gallery keeps RECENT_MAX of them; the status bar
        says so when there were more."""
        models: list[str] = []
        photos: list[str] = []
        for path in map(Path, paths):
            folder = _is_folder(path)
            if (folder and (path / "config.json").is_file()) or is_pair_file(path):
                models.append(str(path))
            elif folder:
                try:
                    found = sorted(str(f) for f in path.iterdir() if f.is_file() and not f.name.startswith(".")
                                   and f.suffix.lower() in IMAGE_SUFFIXES + VIDEO_SUFFIXES)
                except OSError as exc:  # a folder that cannot be listed: was a traceback in the GUI thread
                    self._photo_error(f"Cannot open {path.name}: {exc.strerror or exc}")
                    continue
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


def _is_folder(path: Path) -> bool:
    """Path.is_dir, False where the system refuses the name (longer than it allows): the photo
    open then says why in one line. A 300-character name on the command line raised OSError
    here and the app aborted (exit 134)."""
    try:
        return path.is_dir()
    except OSError:
        return False

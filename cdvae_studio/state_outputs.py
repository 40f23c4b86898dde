"""What StudioState hands out of the app: the export dialog's items, sweep and motion animations,
the clipboard, drags of samples and stars as full-resolution PNGs, a result used as the photo;
run one after another on the worker's queue (``_queue_export``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, NamedTuple

import numpy as np

from .jobs import distinct_pool
from .stars import Star
from .worker import report_error


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


class OutputsMixin:
    """Methods of StudioState that export, copy and drag results."""

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
                "noise": None if self.grid is None else [self._grid_noise(i) for i in range(len(self.grid.codes))],
                "shares": self.cell_shares()}

    def _picked_component(self) -> int | None:
        """The picker's MDN component, if the current model has it (None: the whole mixture)."""
        mixture = None if self.ctx is None else self.ctx.mixture
        return self.component if mixture is not None and 0 <= self.component < len(mixture) else None

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
        """A queued job (an animation export, a copy, a drag's renders, a session's stars) finished:
        start the next one."""
        if self._exports:
            self._exports.pop(0)
        if self._exports:
            self.worker.submit("misc", self._exports[0][1])

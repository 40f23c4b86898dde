"""How StudioState shows the worker's results: a model's context on an image, the grid, the
preview, the truth, tie-drift badges, distinct results' shares and sweep strips.

A mixin of ``state.StudioState``, whose ``_on_done`` slot calls these once a result is still
the newest of its channel.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cdvae_core.predictor import DRIFT_LIMIT

from .jobs import ContextResult, GridResult
from .render import heat_rgb

# how the sliders' tooltips state a component's effect on x_g: (unit, x_g units to it)
EFFECT_UNITS = {"relighting": ("grey levels", 255.0), "resaturation": ("levels of saturation", 255.0),
                "motion": ("model px/s of flow", 1.0)}


class ApplyMixin:
    """Methods of StudioState that put results on screen."""

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
        # the baseline has no code: "D=1, tied 0" was its adapter's placeholder shape
        codes = f" · D={p.code_dim}, tied {p.tied_dims}" if getattr(p, "has_codes", True) else ""
        w.modelLabel.setText(f"{ctx.entry.label}{codes}"
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

    def cell_shares(self) -> list[float | None]:
        """Each grid cell's share of its distinct pool as shown, None where there is none (no
        distinct results, or a cell a slider or pin changed): what its export's sidecar records."""
        n = 0 if self.grid is None else len(self.grid.codes)
        shares = self.shown_shares()
        if shares is None or len(shares) != n:
            return [None] * n
        return [None if np.isnan(s) else float(s) for s in shares]

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

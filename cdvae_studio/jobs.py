"""The worker's jobs: plain functions from numpy inputs to plain results (no Qt, no widgets).

Each job returns a small dataclass the window applies; raising is fine (the worker turns the
exception into a one-line status message). Model calls go through the library's Predictor.
"""

from __future__ import annotations

import time
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .catalog import ModelCatalog, ModelEntry
from .images import LoadedImage, resize_layer
from .render import DecodeCache, ImageDoc, build_doc, compose_cells, grid_flow_scale, spread_map

GRID = 16  # samples in the grid (the issue asks for at least 16)
MAX_SEED = 2**31 - 1  # the largest seed the toolbar can show and sessions hold (a Qt spin box holds an int32)


@dataclass(frozen=True)
class Draw:
    """How one draw of the grid's codes and noise was made (``Predictor.draw``'s arguments):
    carried by the grid (``GridResult.draw``), the state's undo steps, stars and sessions, and
    recorded by exports (the sidecar's ``seed``, ``settings.temperature``, ``settings.component``).
    A new provenance field is one more field here (and where exports and sessions write it)."""

    seed: int = 0  # the seed the codes and noise were drawn from
    temperature: float = 1.0  # the spread they were drawn at
    component: int | None = None  # the MDN mixture component they came from; None: the whole mixture
    # > 0: the grid's samples are the most distinct of this many draws (cdvae_core.distinct); 0: the first draws
    pool: int = 0
    # the tie's conditional the codes were drawn from ("exact" or "paper"; None: a model without a
    # tie); exports record it in their sidecar's model config, as the predictor that drew them has it
    conditional: str | None = None

    def export_settings(self, **kwargs: Any) -> Any:
        """``ExportSettings`` recording this draw (codes are given: nothing is redrawn from it)."""
        from cdvae_core.postprocess.export import ExportSettings

        return ExportSettings(temperature=self.temperature, component=self.component, distinct_pool=self.pool,
                              **kwargs)


@dataclass
class GridResult:
    """codes (n, D), xg (n, Cg, 32, 32), cells (n, h, w, 3) uint8, spread (32, 32), decode_s seconds;
    noise (n, E): the rows' lower-layer draws, kept even when the grid was decoded at the means;
    lower: whether the layers were decoded with that noise (full samples)."""

    codes: np.ndarray
    xg: np.ndarray
    cells: np.ndarray
    spread: np.ndarray
    decode_s: float
    noise: np.ndarray | None = None
    lower: bool = False
    draw: Draw = Draw()  # how its codes and noise were drawn: seed, temperature, MDN component (exports record it)
    # a fresh draw's codes before pins were applied (None: ``codes``, or not a draw): what "Reset"
    # goes back to, so that un-pinning frees a component a pin held through a resample
    drawn: np.ndarray | None = None
    # a fresh distinct draw (draw.pool > 0): each row's share (n,) of the pool, largest first
    shares: np.ndarray | None = None


@dataclass
class GridDraw:
    """A new grid's randomness (``draw_grid``): drawn (n, D) codes as drawn, codes (n, D) with the
    pins applied, noise (n, E), and for a distinct draw each row's share (n,) of the pool."""

    drawn: np.ndarray
    codes: np.ndarray
    noise: np.ndarray
    shares: np.ndarray | None = None


def sampling_conditional(predictor: Any) -> str | None:
    """The tie conditional ``predictor`` draws codes from ("exact" or "paper"), None without a tie."""
    return predictor.config.tie_conditional if getattr(predictor, "has_tie", False) else None


def distinct_pool(predictor: Any, pool: int) -> int:
    """The pool a draw of distinct results uses on this predictor: none for the nearest-neighbour
    baseline, whose "samples" are its 64 nearest training pairs in rank order, not draws with a
    probability to share out."""
    return int(pool) if getattr(predictor, "has_codes", True) else 0


def draw_grid(predictor: Any, cond: Any, draw: Draw, pinned: np.ndarray | None = None,
              pin_values: np.ndarray | None = None) -> GridDraw:
    """GRID samples drawn as ``draw`` says, then the pinned components (D,) bool set to pin_values (D,).
    A distinct draw (``draw.pool``) is the library's ``draw_distinct`` of the unpinned full samples,
    so the draw alone says which they are (as a plain draw's seed does); where fewer than GRID of
    the pool differ (temperature 0: all alike) it is the plain draw."""
    shares = None
    if draw.pool > GRID:
        from cdvae_core.distinct import draw_distinct

        drawn, noise, shares = draw_distinct(predictor, cond, GRID, draw.seed, draw.component, draw.temperature,
                                             draw.pool)
    if shares is None or len(shares) < GRID:
        drawn, noise = predictor.draw(cond, GRID, draw.seed, draw.component, temperature=draw.temperature)
        shares = None
    pins = pinned is not None and pin_values is not None and pinned.shape == (drawn.shape[1],) and pinned.any()
    codes = apply_pins(drawn, pinned, pin_values) if pins else drawn
    return GridDraw(np.asarray(drawn, np.float32), np.asarray(codes, np.float32), np.asarray(noise, np.float32),
                    None if shares is None else np.asarray(shares, np.float32))


def cell_detail(task: Any, predictor: Any, cond: Any, model_key: str, doc: ImageDoc) -> np.ndarray | None:
    """The photo's detail map at cell size (Cg, h, w) from the library's Renderer, or None
    (motion, examples without a photo, models without codes)."""
    if doc.xg is None or task.name == "motion" or not getattr(predictor, "has_codes", True):
        return None
    from cdvae_core.postprocess.render import get_renderer

    own = own_sample(predictor, cond, model_key, doc)
    return np.asarray(get_renderer(task, doc.small).detail_map(own), np.float32)


@dataclass
class ContextResult:
    """Everything that changes with the model or the image; ``grid`` is the first render."""

    entry: ModelEntry
    predictor: Any
    doc: ImageDoc
    cond: Any
    mean: np.ndarray  # (D,) conditional mean of each code component
    std: np.ndarray  # (D,) its spread
    image_code: np.ndarray | None  # (D,) the image's own code z_c (the scatter cursor)
    mixture: np.ndarray | None  # (K,) MDN weights for this image
    grid: GridResult
    detail: np.ndarray | None = None  # (Cg, h, w) the photo's detail map at cell size
    flow_scale: float | None = None  # motion: the grid's colour scale, model px/s (render.grid_flow_scale)
    components: np.ndarray | None = None  # MDN: most probable component per scatter point (N,)
    label_names: list[str] | None = None  # the training pairs' category names (the scatter's legend)
    # the task it was loaded for: the window's task moves on as soon as another task is picked, while
    # this context (its model, image and grid) is shown until the next one lands; every job built
    # from the context composes with this task, not the window's
    task: Any = None
    restore: Any = None  # the session (cdvae_studio.session.Session) it was asked to restore, if any
    effects: np.ndarray | None = None  # (D,) how far each component moves x_g per unit (Predictor.component_effects)


class DocCache:
    """Decomposed images by (image key, task, file): switching tie or coming back to a task is
    free. The file is part of the key: a copy of a photo under another name is shown, starred and
    exported under its own name (a video's frame and its PNG also differ: ``loaded_key``)."""

    def __init__(self, capacity: int = 16) -> None:
        self.capacity = capacity
        self._docs: dict[tuple[str, str, str], ImageDoc] = {}

    def get(self, task: Any, loaded: LoadedImage | ImageDoc, source: Any) -> ImageDoc:
        if isinstance(loaded, ImageDoc):
            return loaded
        from .render import loaded_key

        key = (loaded_key(loaded), task.name, str(source))
        doc = self._docs.get(key)
        if doc is None:
            doc = build_doc(task, loaded, source)
            if len(self._docs) >= self.capacity:
                self._docs.pop(next(iter(self._docs)))
            self._docs[key] = doc
        return doc


def apply_pins(codes: np.ndarray, pinned: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Codes (n, D) with the pinned components (D,) bool set to values (D,) in every row."""
    out = np.array(codes, np.float32, copy=True)
    out[:, pinned] = values[pinned]
    return out


def render_grid(task: Any, predictor: Any, cond: Any, model_key: str, doc: ImageDoc, codes: np.ndarray,
                cache: DecodeCache, flow_scale: float | None = None, detail: np.ndarray | None = None,
                noise: np.ndarray | None = None, lower: bool = True, draw: Draw = Draw()) -> GridResult:
    """Decode codes (n, D) with their lower-layer noise (n, E) (cached per row; ``lower`` False or
    no noise: lower layers at their conditional means) and compose the display cells; ``draw``:
    how the codes and noise were drawn (seed, temperature, component), carried for stars and exports."""
    t0 = time.perf_counter()
    xg = cache.decode(predictor, cond, model_key, doc.key, codes, noise if lower else None)  # (n, Cg, 32, 32)
    decode_s = time.perf_counter() - t0
    cells = compose_cells(task, doc, xg, flow_scale, detail)
    return GridResult(np.asarray(codes, np.float32), xg, cells, spread_map(xg), decode_s,
                      None if noise is None else np.asarray(noise, np.float32), lower and noise is not None, draw)


def load_context(catalog: ModelCatalog, entry: ModelEntry, task: Any, image: LoadedImage | ImageDoc,
                 source: Any, docs: DocCache, cache: DecodeCache, seed: int, component: int | None,
                 pinned: np.ndarray | None, pin_values: np.ndarray | None, temperature: float = 1.0,
                 lower: bool = True, pool: int = 0, conditional: str | None = None) -> ContextResult:
    """Load (cached) model, decompose the image (cached), encode it, draw and render the grid
    (``lower``: decode with the drawn lower-layer noise, else at the lower layers' means; ``pool``:
    the grid is the most distinct of that many draws, ``draw_grid``; ``conditional``: the tie's
    conditional to draw from, None: the model's own)."""
    predictor = catalog.load(entry, conditional)
    if getattr(predictor, "has_tie", False):
        predictor.train_drift()  # the drift limit's figures, worked out here rather than in the GUI thread
    if predictor.task != task.name:
        raise ValueError(f"{entry.name} was trained for {predictor.task}, not {task.name}")
    doc = docs.get(task, image, source)
    cond = predictor.prepare(doc.xc)
    mean, std = predictor.code_stats(cond)
    mixture = predictor.mixture(cond)[0] if getattr(predictor, "mixtures", 0) else None
    code_fn = getattr(predictor, "code_of_condition", None)
    image_code = code_fn(cond) if code_fn is not None else None
    if component is not None and (mixture is None or not 0 <= component < len(mixture)):
        component = None  # the picker's component belonged to a model of more components (or none)
    draw = Draw(int(seed), float(temperature), None if component is None else int(component),
                distinct_pool(predictor, pool), sampling_conditional(predictor))
    new = draw_grid(predictor, cond, draw, pinned, pin_values)
    codes, noise = new.codes, new.noise
    detail = cell_detail(task, predictor, cond, entry.key, doc)
    t0 = time.perf_counter()
    # the motion colour scale needs the layers first
    xg = cache.decode(predictor, cond, entry.key, doc.key, codes, noise if lower else None)
    decode_s = time.perf_counter() - t0
    flow_scale = grid_flow_scale(task, xg)
    grid = render_grid(task, predictor, cond, entry.key, doc, codes, cache, flow_scale, detail, noise, lower, draw)
    grid.decode_s = decode_s  # render_grid found the rows cached
    grid.drawn, grid.shares = new.drawn, new.shares
    effects = predictor.component_effects(cond) if hasattr(predictor, "component_effects") else None
    return ContextResult(entry, predictor, doc, cond, np.asarray(mean, np.float32), np.asarray(std, np.float32),
                         image_code, mixture, grid, detail, flow_scale, scatter_components(predictor),
                         model_label_names(predictor), task, effects=effects)


@dataclass
class RestoredStar:
    """A session's starred sample made ready in the worker: its document (from the DocCache, so it
    is the very document of a grid of the same photo), decoded layer (Cg, 32, 32) and a cell-size
    thumbnail (h, w, 3) uint8."""

    saved: Any  # the session.SessionStar
    entry: ModelEntry
    doc: ImageDoc
    xg: np.ndarray
    thumb: np.ndarray
    conditional: str | None = None  # the tie conditional it was drawn from (sampling_conditional)


def restore_star(catalog: ModelCatalog, entry: ModelEntry, saved: Any, docs: DocCache) -> RestoredStar:
    """Load a session star's model (cached) and photo, and decode its code and noise; ValueError
    (a one-line reason) when its photo cannot be read or its code does not fit the model."""
    from cdvae_core.tasks import get_task

    from .images import load_image  # its ImageLoadError is a ValueError

    task = get_task(entry.task)
    # the predictor of its conditional (sessions saved before: the model's own), which its exports use
    predictor = catalog.load(entry, getattr(saved, "conditional", "") or None)
    doc = docs.get(task, load_image(saved.image), saved.image)
    code = np.asarray(saved.code, np.float32)
    if code.shape != (predictor.code_dim,):
        raise ValueError(f"its code has {code.size} values; {entry.name} takes {predictor.code_dim}")
    noise = None
    if saved.noise is not None:  # an edited session may give the nearest-neighbour baseline noise it cannot check
        if not hasattr(predictor, "check_noise"):
            raise ValueError(f"it holds lower-layer noise, which {entry.name} has none of")
        noise = predictor.check_noise(np.asarray(saved.noise, np.float32)[None], 1)
    cond = predictor.prepare(doc.xc)
    xg = np.asarray(predictor.decode(cond, code[None], noise), np.float32)
    thumb = compose_cells(task, doc, xg, grid_flow_scale(task, xg), cell_detail(task, predictor, cond, entry.key, doc))
    return RestoredStar(saved, entry, doc, xg[0], thumb[0], sampling_conditional(predictor))


_COMPONENTS: "weakref.WeakKeyDictionary[Any, np.ndarray]" = weakref.WeakKeyDictionary()


def scatter_components(predictor: Any) -> np.ndarray | None:
    """MDN models: the most probable mixture component of each training code in the model's
    embedding (N,), computed once per loaded model; else None."""
    codes = getattr(getattr(predictor, "embedding", None), "codes_c", None)
    if not getattr(predictor, "mixtures", 0) or codes is None:
        return None
    if predictor not in _COMPONENTS:
        _COMPONENTS[predictor] = predictor.mixture_components(np.asarray(codes, np.float32))
    return _COMPONENTS[predictor]


def model_label_names(predictor: Any) -> list[str] | None:
    """The category names of a saved model's training pairs (its config's ``data.label_names``,
    written by cdvae-prepare), or None; read once per loaded model, in the worker."""
    try:
        return _LABEL_NAMES[predictor]
    except KeyError:
        names = _LABEL_NAMES[predictor] = _read_label_names(getattr(predictor, "path", None))
    except TypeError:  # a predictor without weak references: read each time (a small JSON file)
        names = _read_label_names(getattr(predictor, "path", None))
    return names


_LABEL_NAMES: "weakref.WeakKeyDictionary[Any, list[str] | None]" = weakref.WeakKeyDictionary()


def _read_label_names(path: str | None) -> list[str] | None:
    if not path or not Path(path).is_dir():
        return None  # a nearest-neighbour pair file or an in-memory model
    from cdvae_core.checkpoint import ModelLoadError, read_config

    try:
        names = read_config(path).get("data", {}).get("label_names")
    except (ModelLoadError, AttributeError):
        return None
    return [str(n) for n in names] if isinstance(names, list) and names else None


_OWN: dict[tuple[str, str], np.ndarray] = {}


def own_sample(predictor: Any, cond: Any, model_key: str, doc: ImageDoc) -> np.ndarray | None:
    """Decoder output (Cg, 32, 32) for the photo's own code: the detail map's reference (paper eq. 10)."""
    if doc.xg is None:
        return None
    key = (model_key, doc.key)
    if key not in _OWN:
        if len(_OWN) > 32:
            _OWN.clear()
        code = np.asarray(predictor.encode_target(cond, doc.xg), np.float32)
        _OWN[key] = np.asarray(predictor.decode(cond, code[None]), np.float32)[0]
    return _OWN[key]


def render_preview(task: Any, doc: ImageDoc, xg: np.ndarray, own: np.ndarray | None = None) -> np.ndarray:
    """One decoded layer (Cg, 32, 32) as a work-resolution result (H, W, 3) uint8.

    The post-processing module's Renderer (edge-aware upsampling, detail map when ``own`` is
    given; its operator is cached per photo, so scrubbing pays only the solve). Motion: the
    frame warped along the flow, one second later (arrows are drawn by flowView).
    """
    return preview_and_layer(task, doc, xg, own)[1]


def preview_and_layer(task: Any, doc: ImageDoc, xg: np.ndarray,
                      own: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``render_preview`` with the work-resolution layer it composed: (layer (Cg, H, W) float32,
    result (H, W, 3) uint8). Motion's layer is the edge-aware flow that the Flow tab's Play and
    a motion animation move the frame along."""
    from cdvae_core.postprocess.render import get_renderer

    renderer = get_renderer(task, doc.rgb)
    layer = renderer.layers(np.asarray(xg, np.float32)[None], own)[0]  # (Cg, H, W)
    return layer, renderer.compose(layer)


@dataclass
class TruthResult:
    """The ground-truth view: the true x_g's code (D,), its decoded layer (Cg, 32, 32) and result
    image (the truth itself is the photo, or a video's later frame), best-of-K error."""

    code: np.ndarray
    xg: np.ndarray
    image: np.ndarray
    best_error: float
    best_index: int


def render_truth(task: Any, predictor: Any, cond: Any, doc: ImageDoc, grid_xg: np.ndarray,
                 detail: np.ndarray | None = None, flow_scale: float | None = None) -> TruthResult:
    """Decode the posterior code of the true x_g and score the grid: best-of-K per-pixel MSE.
    Motion (a video's frame): the truth is the frame a second on, and the encoded flow is shown as
    the preview shows samples, the frame moved along it (for ``doc.truth_span`` seconds where the
    later frame lies another time on)."""
    if doc.xg is None:
        raise ValueError("this image has no ground truth for the task")
    code = np.asarray(predictor.encode_target(cond, doc.xg), np.float32)
    xg = np.asarray(predictor.decode(cond, code[None]), np.float32)  # (1, Cg, 32, 32)
    if doc.later is not None:
        cell = render_preview(task, doc, xg[0] * (doc.truth_span or 1.0))
    else:
        cell = compose_cells(task, doc, xg, flow_scale, detail)[0]
    errors = ((grid_xg - doc.xg[None]) ** 2).reshape(len(grid_xg), -1).mean(1)
    best = int(np.argmin(errors))
    return TruthResult(code, xg[0], cell, float(errors[best]), best)


def render_sweeps(task: Any, predictor: Any, cond: Any, model_key: str, doc: ImageDoc, code: np.ndarray,
                  mean: np.ndarray, std: np.ndarray, cache: DecodeCache, steps: int = 5,
                  thumb: int = 28, detail: np.ndarray | None = None, flow_scale: float | None = None,
                  noise: np.ndarray | None = None) -> np.ndarray:
    """Sweep strips: for each component i, the code with z_i at mean_i + k std_i, k in -2..+2,
    decoded with the sample's lower-layer noise (E,) (None: lower layers at their means).

    Returns (D, thumb, steps * thumb, 3) uint8: one horizontal strip per component.
    """
    d = len(code)
    ks = np.linspace(-2.0, 2.0, steps, dtype=np.float32)
    codes = np.repeat(np.asarray(code, np.float32)[None], d * steps, 0).reshape(d, steps, d)
    for i in range(d):
        codes[i, :, i] = mean[i] + ks * max(float(std[i]), 1e-3)
    rows = None if noise is None else np.repeat(np.asarray(noise, np.float32)[None], d * steps, 0)
    xg = cache.decode(predictor, cond, model_key, doc.key, codes.reshape(-1, d), rows)  # (D*steps, Cg, 32, 32)
    small = doc if max(doc.small.shape[:2]) <= thumb else _thumb_doc(doc, thumb)
    from .render import shrink_detail

    cells = compose_cells(task, small, xg, flow_scale, shrink_detail(detail, small))  # (D*steps, h, w, 3)
    h, w = cells.shape[1:3]
    strips = np.zeros((d, thumb, steps * thumb, 3), np.uint8)
    for i in range(d):
        for k in range(steps):
            strips[i, :h, k * thumb : k * thumb + w] = cells[i * steps + k, :thumb, :thumb]
    return strips


def _thumb_doc(doc: ImageDoc, side: int) -> ImageDoc:
    """A copy of doc whose cell-size layers are shrunk to fit ``side`` (sweep thumbnails)."""
    from dataclasses import replace

    import cv2

    from .images import resize_rgb

    small = resize_rgb(doc.small, side)
    size = (small.shape[1], small.shape[0])
    return replace(doc, small=small, xc_small=resize_layer(doc.xc_small, size, cv2.INTER_AREA))

"""What the Studio's worker computes, as plain functions on numpy data (no Qt here).

The Studio holds no model maths: codes, decoding and encoding come from the library's
``Predictor``; full-resolution results from ``cdvae_core.postprocess``; the way a layer goes back
into a photo from the task (``Task.compose``). What lives here is caching and the cheap
display-resolution composition the grid needs at slider speed.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from cdvae_core.data.video import split_time, time_text
from cdvae_core.tasks.resaturation import BORROW_TOLERANCE, RELIABLE_SATURATION, hue_borrowing

from .images import LoadedImage, resize_layer, resize_rgb

CELL_SIDE = 160  # grid cells compose at this size: the model's 32x32 is upsampled 5x
WORK_SIDE = 512  # decomposition and the preview run at this size; export uses full resolution


@dataclass
class ImageDoc:
    """The current image in the task's terms.

    rgb (H, W, 3) uint8 at work size; small (h, w, 3) at cell size;
    xc_work (Cc, H, W), xc_small (Cc, h, w), xc (Cc, 32, 32) float32;
    xg_work / xg ((Cg, H, W), (Cg, 32, 32)) the image's own x_g when it has one (ground truth);
    later (H, W, 3) uint8: motion from a video, the frame that x_g's flow leads to (else None),
    ``gap`` seconds after rgb (1 s at a steady frame rate; less where a variable-rate video pauses).
    """

    key: str
    name: str
    task: str
    rgb: np.ndarray
    small: np.ndarray
    xc_work: np.ndarray
    xc_small: np.ndarray
    xc: np.ndarray
    xg_work: np.ndarray | None
    xg: np.ndarray | None
    source: Any = None  # a path, or None for an example opened from the scatter plot
    notes: list[str] = field(default_factory=list)
    later: np.ndarray | None = None
    gap: float | None = None

    @property
    def truth_span(self) -> float | None:
        """Seconds the Truth tab moves the frame along a flow so that it compares with ``later``:
        the gap, where it differs from the model's second by more than 1% (a variable-rate video's
        pause, a clip of 7.5 fps); None where the second a flow stands for will do."""
        return self.gap if self.later is not None and self.gap and abs(self.gap - 1.0) > 0.01 else None

    @property
    def photo(self) -> Any:
        """What exports read the full-resolution photo from: its file (a video's frame at a time
        too), else its pixels (a training example)."""
        return self.source if self.source else self.rgb

    @property
    def frame_time(self) -> str:
        """For a video's frame past the first, its time ("1.6 s"); else ""."""
        seconds = split_time(self.source, strict=False)[1] if isinstance(self.source, str) else None
        return "" if seconds is None else f"{time_text(seconds)} s"

    @property
    def title(self) -> str:
        """The name, and for a video's frame past the first its time: "clip.mp4 @ 1.6 s" (stars
        from two frames of one video would otherwise read alike)."""
        time = self.frame_time
        return f"{self.name} @ {time}" if time else self.name


DRAG_FACTOR = 3  # while a slider is held, cells compose at a third of their side (a ninth of the pixels)


def drag_doc(doc: "ImageDoc", factor: int = DRAG_FACTOR) -> "ImageDoc":
    """The same image with its cell-size layers shrunk by ``factor`` (same key: decoded rows are
    shared with the full-size grid; only the composition gets cheaper). Cached on the doc."""
    cached = getattr(doc, "_drag", None)
    if cached is not None:
        return cached
    from dataclasses import replace

    small = resize_rgb(doc.small, max(doc.small.shape[:2]) // factor)
    size = (small.shape[1], small.shape[0])
    out = replace(doc, small=small, xc_small=resize_layer(doc.xc_small, size, cv2.INTER_AREA))
    object.__setattr__(doc, "_drag", out)
    return out


def shrink_detail(detail: np.ndarray | None, doc: "ImageDoc") -> np.ndarray | None:
    """A cell-size detail map (Cg, h, w) resized to ``doc``'s cell size. The last result is cached
    on ``doc``: every drag render passes the same map, and the composer's tiled copy of it is
    cached by identity, so a fresh array per render would re-tile it every time."""
    if detail is None:
        return None
    h, w = doc.small.shape[:2]
    if detail.shape[1:] == (h, w):
        return detail
    cached = getattr(doc, "_shrunk", None)
    if cached is not None and cached[0] is detail:
        return cached[1]
    out = resize_layer(detail, (w, h), cv2.INTER_AREA)
    object.__setattr__(doc, "_shrunk", (detail, out))
    return out


def image_key(rgb: np.ndarray) -> str:
    """Content hash of an image: caches stay right when a file changes on disk."""
    return hashlib.blake2b(np.ascontiguousarray(rgb).data, digest_size=12).hexdigest()


def loaded_key(loaded: LoadedImage) -> str:
    """Content hash of a loaded photo and, from a video, of its later frame (the same frame from a
    PNG has no motion truth, so it is another document)."""
    later = getattr(loaded, "later", None)
    return image_key(loaded.rgb) + ("" if later is None else "+" + image_key(later))


def build_doc(task: Any, loaded: LoadedImage, source: Any = None) -> ImageDoc:
    """Decompose a photo into the task's layers at work and cell sizes (runs in the worker)."""
    work = resize_rgb(loaded.rgb, WORK_SIDE)
    later = getattr(loaded, "later", None) if task.name == "motion" else None
    if later is not None:  # a video's first frame: its flow to the frame a second on is the truth
        later = resize_rgb(later, WORK_SIDE)
        xc_work, xg_work = task.decompose_pair(work, later, seconds=loaded.gap)  # (3, H, W), (2, H, W)
    else:
        xc_work, xg_work = task.decompose(work)  # (Cc, H, W), (Cg, H, W)
    xc_work = np.asarray(xc_work, np.float32)
    small = resize_rgb(work, CELL_SIDE)
    size = (small.shape[1], small.shape[0])
    has_truth = task.name != "motion" or later is not None  # a still photo has no flow
    xg_work = np.asarray(xg_work, np.float32) if has_truth else None
    return ImageDoc(
        key=loaded_key(loaded) + f":{task.name}",
        name=loaded.name,
        task=task.name,
        rgb=work,
        small=small,
        xc_work=xc_work,
        xc_small=resize_layer(xc_work, size, cv2.INTER_AREA),
        xc=np.asarray(task.to_model(xc_work), np.float32),
        xg_work=xg_work,
        xg=None if xg_work is None else np.asarray(task.to_model(xg_work), np.float32),
        source=source,
        notes=list(loaded.notes),
        later=later,
        gap=loaded.gap if later is not None else None,
    )


def doc_from_layer(task: Any, xc: np.ndarray, name: str) -> ImageDoc:
    """An ImageDoc from a training example's 32x32 x_c (scatter-plot click): no photo, no truth."""
    xc = np.asarray(xc, np.float32)  # (Cc, 32, 32)
    xc_small = np.clip(resize_layer(xc, (CELL_SIDE, CELL_SIDE), cv2.INTER_CUBIC), 0.0, 1.0)
    rgb = layer_to_rgb(xc_small)
    return ImageDoc(
        key="example:" + hashlib.blake2b(xc.tobytes(), digest_size=12).hexdigest() + f":{task.name}",
        name=name,
        task=task.name,
        rgb=rgb,
        small=rgb,
        xc_work=xc_small,
        xc_small=xc_small,
        xc=xc,
        xg_work=None,
        xg=None,
    )


def layer_to_rgb(layer: np.ndarray) -> np.ndarray:
    """A [0, 1] float (C, H, W) layer with 1 or 3 channels as RGB uint8 (H, W, 3) for display."""
    hwc = np.clip(layer.transpose(1, 2, 0), 0.0, 1.0)
    if hwc.shape[2] == 1:
        hwc = np.repeat(hwc, 3, axis=2)
    return np.ascontiguousarray((hwc[:, :, :3] * 255.0 + 0.5).astype(np.uint8))


def flow_to_rgb(flow_px: np.ndarray, max_mag: float | None = None) -> np.ndarray:
    """Flow (2, H, W) in display pixels as the post-processing module's colour wheel, uint8 (H, W, 3)."""
    from cdvae_core.postprocess.flowviz import flow_color

    return flow_color(np.asarray(flow_px, np.float32), max_mag)


class CellComposer:
    """Puts n decoded layers back into the (cell-size) photo in one vectorised pass.

    Built once per (doc, n): everything about the photo that the task's ``compose`` recomputes
    on every call is precomputed here, so a slider move pays only a multiply-add per pixel.
    Equal to ``task.compose`` up to rounding (tests check this against the library):

    - resaturation: OpenCV's HSV -> RGB is ``v (1 - s K(h))`` per channel, with K from the hue
      sector (the p, q, t table), so RGB = A - B s with A = 255 v, B = 255 v K fixed per photo;
    - relighting: albedo x shading;
    - motion: the library's flow colour wheel (one colour scale for the grid) over the frame.
    """

    def __init__(self, task: Any, doc: "ImageDoc", n: int) -> None:
        self.task, self.n = task, n
        h, w = doc.small.shape[:2]
        self.shape = (h, w)
        if task.name == "resaturation":
            rgb = doc.small.astype(np.float32) * np.float32(1 / 255)
            hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
            hue, s_old, photo_value = hsv[:, :, 0], hsv[:, :, 1], hsv[:, :, 2]
            v = np.clip(doc.xc_small[0], 0.0, 1.0)[:, :, None] * np.float32(255.0)  # (h, w, 1)
            self.a = np.tile(np.repeat(v, 3, axis=2), (n, 1, 1))  # (n h, w, 3)
            self.b = np.tile(v * _sector_weights(hue), (n, 1, 1))  # (n h, w, 3)
            # near-grey pixels gaining saturation take the surroundings' hue (resaturation.stable_hue):
            # s_eff = s_old + (s - s_old) c, so RGB = (A - B' s_old (1 - c)) - (B' c) s, B' from that hue
            borrowed, conf = hue_borrowing(hue, s_old, photo_value)
            b_borrowed = v * _sector_weights(borrowed)
            self.a_borrow = np.tile(np.repeat(v, 3, axis=2) - b_borrowed * (s_old * (1.0 - conf))[:, :, None], (n, 1, 1))
            self.b_borrow = np.tile(b_borrowed * conf[:, :, None], (n, 1, 1))
            # the borrow threshold, as resaturation.borrow_mask computes it (float32 s_old + tolerance)
            limit = np.where(s_old < RELIABLE_SATURATION, s_old + np.float32(BORROW_TOLERANCE), np.float32(np.inf))
            self.s_limit = np.tile(limit.astype(np.float32), (n, 1))
        elif task.name == "relighting":
            self.a = np.tile(doc.xc_small.transpose(1, 2, 0) * np.float32(255.0), (n, 1, 1))  # albedo (n h, w, 3)
        else:
            self.frame = np.tile(doc.small, (n, 1, 1))  # (n h, w, 3)

    def tiled(self, detail: np.ndarray) -> np.ndarray:
        """A detail map (Cg, h, w) stacked n times vertically, (Cg, n h, w), cached by identity."""
        if getattr(self, "_detail_src", None) is not detail:
            self._detail_src = detail
            self._detail_tall = np.tile(detail, (1, self.n, 1))
        return self._detail_tall

    def motion(self, xg: np.ndarray, flow_scale: float | None = None) -> np.ndarray:
        """Flows (n, 2, 32, 32): colour wheel at the model's 32x32 (one scale for the grid),
        upsampled to the cells and blended over the frame -> (n h, w, 3) uint8."""
        n = len(xg)
        h, w = self.shape
        scale = np.array([w / 32.0, h / 32.0], np.float32)[None, :, None, None]
        tall = np.ascontiguousarray((xg * scale).transpose(1, 0, 2, 3).reshape(2, n * 32, 32))
        # one colour scale for the grid, in model px/s (default half the task's flow limit), as cell px
        top = (flow_scale if flow_scale else 0.5 * float(self.task.g_range[1])) * max(w, h) / 32.0
        colour = flow_to_rgb(tall, top).reshape(n, 32, 32, 3)
        up = upsample_batch(colour.transpose(0, 3, 1, 2).astype(np.float32), (w, h))  # (n, 3, h, w)
        up = cv2.convertScaleAbs(up.transpose(0, 2, 3, 1).reshape(n * h, w, 3))
        return cv2.addWeighted(self.frame, 0.35, up, 0.65, 0.0)

    def __call__(self, tall: np.ndarray) -> np.ndarray:
        """tall (Cg, n h, w) layers stacked vertically -> (n h, w, 3) uint8 (not motion)."""
        lo, hi = self.task.g_range
        g = np.clip(tall[0], lo, hi)
        g3 = cv2.merge([g, g, g])  # (n h, w, 3): OpenCV's SIMD ops beat numpy broadcasting 3x here
        if self.task.name == "resaturation":
            out = cv2.subtract(self.a, cv2.multiply(self.b, g3))
            borrow = g > self.s_limit  # (n h, w): only unreliable pixels have a finite limit here
            if borrow.any():
                out = np.where(borrow[:, :, None], cv2.subtract(self.a_borrow, cv2.multiply(self.b_borrow, g3)), out)
        elif self.task.name == "relighting":
            out = cv2.multiply(self.a, g3)
        else:
            raise ValueError("motion cells are composed by CellComposer.motion")
        return cv2.convertScaleAbs(out)  # rounds to nearest and saturates to [0, 255]


def _sector_weights(hue: np.ndarray) -> np.ndarray:
    """OpenCV's HSV -> RGB as RGB = v (1 - s K): K (h, w, 3) per channel from the hue (degrees)."""
    sectors = hue / np.float32(60.0)  # sector units [0, 6)
    sector = np.floor(sectors).astype(np.int64) % 6
    f = sectors - np.floor(sectors)
    one, zero = np.ones_like(f), np.zeros_like(f)
    # K per channel for each sector (R, G, B) = (v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)
    # with p: K = 1, q: K = f, t: K = 1 - f, v: K = 0
    table = {0: (zero, 1 - f, one), 1: (f, zero, one), 2: (one, zero, 1 - f),
             3: (one, f, zero), 4: (1 - f, one, zero), 5: (zero, one, f)}
    k = np.zeros((*hue.shape, 3), np.float32)
    for sec, chans in table.items():
        mask = sector == sec
        for c in range(3):
            k[:, :, c][mask] = chans[c][mask]
    return k


# Composers by (OS thread, task, image, cell shape, n). Not a threading.local: the render worker
# is a QThread, and PySide gives it a fresh Python thread state (so a fresh threading.local) on
# every slot call, which rebuilt the composer on every render (4.7 ms of a 6 ms drag, profiled).
_COMPOSERS: OrderedDict[tuple, CellComposer] = OrderedDict()
_COMPOSERS_LOCK = threading.Lock()
COMPOSERS_KEPT = 8  # the grid at full and drag size, the truth cell, the sweep strips, per thread


def composer_for(task: Any, doc: "ImageDoc", n: int) -> CellComposer:
    """The cached composer of (task, doc, n) for the calling thread (a composer caches a tiled
    detail map, so threads do not share one). A few are kept: a drag and its release alternate
    between two cell sizes, and rebuilding (hue borrowing included) on every move would cost
    more than the move itself."""
    key = (threading.get_ident(), task.name, doc.key, doc.small.shape, n)
    with _COMPOSERS_LOCK:
        composer = _COMPOSERS.get(key)
        if composer is not None:
            _COMPOSERS.move_to_end(key)
            return composer
    composer = CellComposer(task, doc, n)  # outside the lock: tens of ms for a large n
    with _COMPOSERS_LOCK:
        _COMPOSERS[key] = composer
        while len(_COMPOSERS) > COMPOSERS_KEPT:
            _COMPOSERS.popitem(last=False)
    return composer


# channels one cv2.resize takes: 512 (CV_CN_MAX) up to OpenCV 4, 128 in OpenCV 5, where a motion
# sweep (16 components x 5 steps x 3 colour channels = 240) failed with "m->dims <= 2"
RESIZE_CHANNELS = 128


def upsample_batch(xg: np.ndarray, size_wh: tuple[int, int]) -> np.ndarray:
    """Layers (n, Cg, 32, 32) -> (n, Cg, H, W) by bilinear resizing, n * Cg channels per cv2 call."""
    n, cg = xg.shape[:2]
    w, h = size_wh
    flat = np.ascontiguousarray(xg.reshape(n * cg, *xg.shape[2:]).transpose(1, 2, 0))  # (32, 32, n Cg)
    chunks = []
    for start in range(0, n * cg, RESIZE_CHANNELS):
        part = cv2.resize(flat[:, :, start : start + RESIZE_CHANNELS], (w, h), interpolation=cv2.INTER_LINEAR)
        chunks.append(part.reshape(h, w, -1))
    up = np.concatenate(chunks, axis=2) if len(chunks) > 1 else chunks[0]  # (H, W, n Cg)
    return np.ascontiguousarray(up.transpose(2, 0, 1).reshape(n, cg, h, w))


def compose_cells(task: Any, doc: ImageDoc, xg: np.ndarray, flow_scale: float | None = None,
                  detail: np.ndarray | None = None) -> np.ndarray:
    """Decoded layers (n, Cg, 32, 32) as display results (n, h, w, 3) uint8 at cell size.
    ``flow_scale`` (motion): flow speed in model px/s shown at full colour (``grid_flow_scale``).

    Bilinear upsampling, plus the photo's detail map (Cg, h, w) when given (the library's
    ``Renderer.detail_map``, paper eq. 10: what 32x32 cannot carry), then the task's way back
    for all n at once (``CellComposer``). The full-resolution, edge-aware result is the
    preview's job (post-processing module).
    """
    h, w = doc.small.shape[:2]
    n, cg = xg.shape[:2]
    composer = composer_for(task, doc, n)
    if task.name == "motion":
        out = composer.motion(np.asarray(xg, np.float32), flow_scale)
    else:
        up = upsample_batch(np.asarray(xg, np.float32), (w, h))  # (n, Cg, h, w)
        tall = up.transpose(1, 0, 2, 3).reshape(cg, n * h, w)  # (Cg, n h, w)
        if detail is not None and detail.shape == (cg, h, w):
            tall = tall + composer.tiled(detail)
        out = composer(tall)
    return np.ascontiguousarray(out.reshape(n, h, w, 3))


def grid_flow_scale(task: Any, xg: np.ndarray) -> float | None:
    """The colour scale of a motion grid (model px/s at full colour) from its first samples
    (n, 2, 32, 32): ``flowviz.color_scale``, within the task's limit, so a model whose flows are
    small still shows them in colour and a still one stays pale. None for other tasks. The Studio
    fixes it per image and model, so cells keep one scale while sliders move."""
    if task.name != "motion":
        return None
    from cdvae_core.postprocess.flowviz import color_scale

    return color_scale(xg, float(task.g_range[1]))


def spread_map(xg: np.ndarray) -> np.ndarray:
    """Per-pixel spread across samples (n, Cg, 32, 32) -> (32, 32): std over samples, RMS over channels.
    The variance in float64: finite but huge samples (a runaway model's) overflowed float32 to inf."""
    return np.sqrt(np.mean(np.var(xg, axis=0, dtype=np.float64), axis=0)).astype(np.float32)


def heat_rgb(values: np.ndarray, size_wh: tuple[int, int], vmax: float | None = None) -> np.ndarray:
    """A (h, w) float map as an RGB uint8 heat map resized to size_wh (W, H)."""
    vmax = float(values.max()) if vmax is None else vmax
    norm = np.clip(values / max(vmax, 1e-8), 0.0, 1.0)
    u8 = cv2.resize((norm * 255.0).astype(np.uint8), size_wh, interpolation=cv2.INTER_CUBIC)
    return cv2.cvtColor(cv2.applyColorMap(u8, cv2.COLORMAP_INFERNO), cv2.COLOR_BGR2RGB)


class DecodeCache:
    """LRU of decoded layers keyed by (model key, image key, code and noise bytes), one row per sample.

    Sliders often move one component while the rest of the grid stays put; per-row keys let a
    re-render decode only rows not seen before. Thread-safe (the worker writes, tests read).
    """

    def __init__(self, capacity: int = 4096) -> None:
        self.capacity = capacity
        self._rows: OrderedDict[tuple[str, str, bytes], np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def decode(self, predictor: Any, cond: Any, model_key: str, doc_key: str, codes: np.ndarray,
               noise: np.ndarray | None = None) -> np.ndarray:
        """codes (n, D) and lower-layer noise (n, E) or None (lower layers at their means) ->
        layers (n, Cg, 32, 32), calling predictor.decode only for new rows."""
        codes = np.ascontiguousarray(codes, np.float32)
        if noise is not None:
            noise = np.ascontiguousarray(noise, np.float32).reshape(len(codes), -1)
            noise = noise if noise.shape[1] and predictor.noise_dim else None
        # a key with noise is longer than one without, so the two never collide
        keys = [(model_key, doc_key, row.tobytes() + (b"" if noise is None else noise[i].tobytes()))
                for i, row in enumerate(codes)]
        out: list[np.ndarray | None] = []
        missing: list[int] = []
        with self._lock:
            for i, key in enumerate(keys):
                row = self._rows.get(key)
                if row is None:
                    missing.append(i)
                else:
                    self._rows.move_to_end(key)
                out.append(row)
        if missing:
            rows = None if noise is None else noise[missing]
            decoded = np.asarray(predictor.decode(cond, codes[missing], rows), np.float32)  # (m, Cg, 32, 32)
            with self._lock:
                for j, i in enumerate(missing):
                    out[i] = decoded[j]
                    self._rows[keys[i]] = decoded[j]
                while len(self._rows) > self.capacity:
                    self._rows.popitem(last=False)
        return np.stack(out)  # type: ignore[arg-type]

    def clear(self) -> None:
        with self._lock:
            self._rows.clear()


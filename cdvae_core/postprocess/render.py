"""Full-resolution results: upsample generated x_g, add the detail map (eq. 10), compose.

``Renderer(task, image)`` holds everything per image (the task's decomposition, the upsampling
operator, the upsampled own sample of the detail map) so that rendering a batch of samples costs
only the per-sample apply and the task's compose. ``render_results`` keeps a few renderers in a
small cache keyed by the image's pixels, so the Studio and export can call it per slider move.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from ..tasks.base import row_strips
from .errors import PostprocessError
from .flowviz import ARROW_STYLE, color_scale, draw_arrows, flow_arrows, flow_color, flow_to_pixels, scale_to_pixels
from .lru import LRUCache
from .upsample import UpsampleSettings, check_field, get_upsampler

MODEL_SIZE = 32
DETAIL_TASKS = ("relighting", "resaturation")  # eq. 10 needs the photo's own x_g (motion has none)


@dataclass(frozen=True)
class MotionView:
    """Everything the Studio shows for one motion sample.

    flow (2, H, W) float32 full-resolution pixels per second; arrow_xy, arrow_uv (N, 2) float32
    (starts and displacements, pixels); overlay, color, warped uint8 (H, W, 3); color_scale: the
    speed in model px/s that ``color`` shows fully saturated.
    """

    flow: np.ndarray
    arrow_xy: np.ndarray
    arrow_uv: np.ndarray
    overlay: np.ndarray
    color: np.ndarray
    warped: np.ndarray
    color_scale: float


def _check_image(image: np.ndarray) -> np.ndarray:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        shape = getattr(image, "shape", None)
        raise PostprocessError(f"image must be uint8 (H, W, 3) RGB, got {getattr(image, 'dtype', type(image).__name__)} {shape}")
    if min(image.shape[:2]) < 2:
        raise PostprocessError(f"image of {image.shape[1]}x{image.shape[0]} pixels is too small")
    return np.ascontiguousarray(image)


def _rows_of(prepared: Any, rows: slice) -> Any:
    """A pixelwise task's ``prepare_compose`` result (None, an array with rows first or a tuple of
    them) cut to ``rows``."""
    if prepared is None:
        return None
    if isinstance(prepared, tuple):
        return tuple(_rows_of(part, rows) for part in prepared)
    return prepared[rows]


def _digest(array: np.ndarray) -> str:
    return hashlib.blake2b(np.ascontiguousarray(array).tobytes(), digest_size=16).hexdigest()


class Renderer:
    """Per-image rendering state for one task. image uint8 (H, W, 3)."""

    def __init__(self, task, image: np.ndarray, settings: UpsampleSettings | None = None):
        self.task = task
        self.image = _check_image(image)
        self.xc_full, self.xg_full = self._decompose()  # (Cc, H, W), (Cg, H, W)
        self.xc_model = task.to_model(self.xc_full)  # (Cc, 32, 32)
        self.xg_model = task.to_model(self.xg_full)  # (Cg, 32, 32)
        # The upsampler needs at least one pixel per sample. A photo with a side under 32 (a
        # thumbnail, a thin strip; the Studio opens them from 16 px) used to fail with "nothing to
        # upsample": solve on the photo enlarged to 32 on that side, then area-reduce the results.
        H, W = self.image.shape[:2]
        self._solve_shape = (max(H, MODEL_SIZE), max(W, MODEL_SIZE))
        guide = self.image
        if self._solve_shape != (H, W):
            guide = cv2.resize(self.image, self._solve_shape[::-1], interpolation=cv2.INTER_LINEAR)
        self.upsampler = get_upsampler(guide, (MODEL_SIZE, MODEL_SIZE), settings)
        self._own: tuple[str, np.ndarray] | None = None  # (digest of xg_own, its upsampled detail map)
        self._prepared: tuple[Any] | None = None  # (task.prepare_compose(image),) once computed
        self._lock = threading.Lock()

    def _decompose(self) -> tuple[np.ndarray, np.ndarray]:
        strips = row_strips(*self.image.shape[:2])
        if not self.task.pixelwise_decompose or len(strips) == 1:
            return self.task.decompose(self.image)
        H, W = self.image.shape[:2]
        xc = np.empty((self.task.channels_c, H, W), np.float32)
        xg = np.empty((self.task.channels_g, H, W), np.float32)
        for rows in strips:
            xc[:, rows], xg[:, rows] = self.task.decompose(self.image[rows])
        return xc, xg

    @property
    def uses_detail(self) -> bool:
        return self.task.name in DETAIL_TASKS

    def _samples(self, xg_samples: np.ndarray) -> np.ndarray:
        batch = check_field(np.asarray(xg_samples))
        if batch.shape[1:] != (self.task.channels_g, MODEL_SIZE, MODEL_SIZE):
            raise PostprocessError(
                f"samples must be (n, {self.task.channels_g}, 32, 32) for {self.task.name}, got {np.asarray(xg_samples).shape}"
            )
        return batch

    def _upsample(self, batch: np.ndarray) -> np.ndarray:
        """Samples (n, C, 32, 32) -> float32 (n, C, H, W) at the photo's size."""
        up = self.upsampler.apply(batch)
        H, W = self.image.shape[:2]
        if up.shape[2:] != (H, W):  # a photo with a side under 32: area-reduce to it
            up = np.stack([[cv2.resize(p, (W, H), interpolation=cv2.INTER_AREA) for p in planes] for planes in up])
        return up

    def detail_map(self, xg_own: np.ndarray) -> np.ndarray:
        """I_o - up(CDVAE(z_o)) of eq. 10: float32 (Cg, H, W); cached for the last xg_own."""
        own = self._samples(np.asarray(xg_own)[None])[0]
        key = _digest(own)
        with self._lock:
            if self._own is not None and self._own[0] == key:
                return self._own[1]
        detail = (self.xg_full - self._upsample(own[None])[0]).astype(np.float32)
        with self._lock:
            self._own = (key, detail)
        return detail

    def layers(self, xg_samples: np.ndarray, xg_own: np.ndarray | None = None) -> np.ndarray:
        """Full-resolution generated layers float32 (n, Cg, H, W), clipped to the task's range.

        With ``xg_own`` (the decoder's output for the photo's own code, (Cg, 32, 32)) and a task
        that has one, the detail map of eq. 10 is added: up(x_g) + (I_o - up(x_g own)).
        """
        batch = self._samples(xg_samples)
        up = self._upsample(batch)  # (n, Cg, H, W)
        if xg_own is not None and self.uses_detail:
            up += self.detail_map(xg_own)[None]
        return self.task.clip_g(up)

    def compose(self, layer: np.ndarray) -> np.ndarray:
        """One full-resolution layer (Cg, H, W) -> uint8 (H, W, 3) through the task's way back;
        what the task derives from the photo alone (``prepare_compose``) is computed once."""
        with self._lock:
            if self._prepared is None:
                self._prepared = (self.task.prepare_compose(self.image),)
            prepared = self._prepared[0]
        strips = row_strips(*self.image.shape[:2])
        layer = np.asarray(layer, np.float32)
        if not self.task.pixelwise_compose or len(strips) == 1 or layer.shape[1:] != self.image.shape[:2]:
            # (a layer of another size goes whole: the task resizes it to the photo first)
            return self.task.compose(self.xc_full, layer, image=self.image, prepared=prepared)
        out = np.empty(self.image.shape, np.uint8)
        for rows in strips:
            out[rows] = self.task.compose(self.xc_full[:, rows], layer[:, rows], image=self.image[rows],
                                          prepared=_rows_of(prepared, rows))
        return out

    def render(self, xg_samples: np.ndarray, xg_own: np.ndarray | None = None) -> list[np.ndarray]:
        """uint8 (H, W, 3) per sample: relit / resaturated photo, or (motion) arrows over the frame."""
        return [self.picture(layer) for layer in self.layers(xg_samples, xg_own)]

    def picture(self, layer: np.ndarray, arrows: int = ARROW_STYLE) -> np.ndarray:
        """The result one full-resolution layer (Cg, H, W) is, uint8 (H, W, 3): the composed
        photo, or (motion) the frame with the flow's arrows over it, drawn in style ``arrows``
        (``flowviz.ARROW_STYLES``)."""
        return self.arrows_over_frame(layer, style=arrows) if self.task.name == "motion" else self.compose(layer)

    def arrows_over_frame(self, flow_full: np.ndarray, step: int | None = None, min_length: float = 1.0,
                          style: int = ARROW_STYLE) -> np.ndarray:
        """The frame uint8 (H, W, 3) with the arrows of one flow (2, H, W) in model pixels per second."""
        xy, uv = flow_arrows(flow_to_pixels(flow_full), step=step, min_length=min_length, style=style)
        return draw_arrows(self.image, xy, uv, style=style)

    def motion_view(self, flow_full: np.ndarray, step: int | None = None, min_length: float = 1.0, warped: bool = True,
                    scale: float | None = None, style: int = ARROW_STYLE) -> MotionView:
        """Arrows, colour wheel and warped preview of one full-resolution flow (2, H, W) in model
        pixels per second (as ``layers`` returns it). ``scale``: the speed in model px/s shown at
        full colour (default: the flow's own ``color_scale``, within the task's limit); ``style``:
        how the arrows are drawn (``flowviz.ARROW_STYLES``)."""
        flow_px = flow_to_pixels(flow_full)
        xy, uv = flow_arrows(flow_px, step=step, min_length=min_length, style=style)
        top = float(scale) if scale else color_scale(flow_full, float(self.task.g_range[1]))
        return MotionView(
            flow=flow_px,
            arrow_xy=xy,
            arrow_uv=uv,
            overlay=draw_arrows(self.image, xy, uv, style=style),
            color=flow_color(flow_px, scale_to_pixels(top, *flow_px.shape[1:])),
            warped=self.compose(flow_full) if warped else self.image,
            color_scale=top,
        )

    def motion_views(self, xg_samples: np.ndarray, step: int | None = None, min_length: float = 1.0) -> list[MotionView]:
        """MotionView per flow sample (n, 2, 32, 32)."""
        if self.task.name != "motion":
            raise PostprocessError(f"motion views need the motion task, not {self.task.name}")
        return [self.motion_view(layer, step, min_length) for layer in self.layers(xg_samples)]


_RENDERERS: LRUCache[Renderer] = LRUCache(4)


def get_renderer(task, image: np.ndarray, settings: UpsampleSettings | None = None) -> Renderer:
    """The cached Renderer for (task or task name, image pixels, settings); builds one on a miss."""
    if isinstance(task, str):
        from ..tasks import get_task

        task = get_task(task)
    image = _check_image(image)
    settings = settings or UpsampleSettings()
    key = (type(task).__qualname__, task.name, repr(vars(task)), _digest(image), image.shape, settings)
    return _RENDERERS.get(key, lambda: Renderer(task, image, settings))


def render_results(task, image: np.ndarray, xg_samples: np.ndarray, xg_own: np.ndarray | None = None,
                   settings: UpsampleSettings | None = None) -> list[np.ndarray]:
    """Samples (n, Cg, 32, 32) of ``task`` for photo uint8 (H, W, 3) -> list of uint8 (H, W, 3).

    Upsample (edge-aware, guided by the photo), add the detail map when ``xg_own`` is given
    (relighting, resaturation), compose. Motion: the frame with flow arrows; use
    ``get_renderer(...).motion_views`` for arrow arrays, colour wheel and warped preview.
    """
    return get_renderer(task, image, settings).render(xg_samples, xg_own)

"""Optical flow between two frames, in the model's unit: 32x32-grid pixels per second.

OpenCV's DIS (dense inverse search, MEDIUM preset) on grey frames at a working resolution;
Farneback is kept as the baseline the benchmark compares against. A flow of (1, 0) moves a
point one model pixel (1/32 of the frame width) to the right over the frames' time gap, so the
unit does not depend on the video's resolution.
"""

from __future__ import annotations

import threading

import cv2
import numpy as np

from .base import MODEL_SIZE, TaskError, fit_within

FLOW_WORK_SIZE = 160  # longer side (pixels) of the frames the flow is computed on
METHODS = ("dis", "farneback")
MIN_FLOW_SIDE = 16  # pixels; DIS refuses frames smaller than its patches


_LOCAL = threading.local()  # one DIS instance per thread: cheap reuse, no sharing across threads


def _dis() -> cv2.DISOpticalFlow:
    """This thread's DIS instance, set to its preset's pyramid and patches.

    DIS's ``calc`` adapts them to a frame too small for the preset (longer side under about 45
    px: the finest scale drops from 1 to 0; some OpenCV versions also pick the patch size and
    stride) and keeps them: one tiny frame changed every later flow of the thread, so a prepared
    pair set differed with the worker count and the Studio's motion truth with what was opened
    before. They are set back before each use.
    """
    dis = getattr(_LOCAL, "dis", None)
    if dis is None:
        dis = _LOCAL.dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        _LOCAL.preset = dis.getFinestScale(), dis.getPatchSize(), dis.getPatchStride()
    finest, patch, stride = _LOCAL.preset
    dis.setFinestScale(finest)
    dis.setPatchSize(patch)
    dis.setPatchStride(stride)
    return dis


def _grey(frame: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)


def flow_pixels(frame0: np.ndarray, frame1: np.ndarray, method: str = "dis") -> np.ndarray:
    """uint8 (h, w, 3) frames of equal size -> flow float32 (h, w, 2) in pixels, (dx, dy).
    DIS needs both sides at least ``MIN_FLOW_SIDE`` (``flow_model_units`` enlarges smaller
    frames): TaskError for a smaller frame, where OpenCV's DIS (5.0) crashes the process."""
    g0, g1 = _grey(frame0), _grey(frame1)
    if method == "dis":
        if min(g0.shape[:2] + g1.shape[:2]) < MIN_FLOW_SIDE:
            raise TaskError(f"frames of {g0.shape[1]}x{g0.shape[0]} px are too small for DIS flow "
                            f"(at least {MIN_FLOW_SIDE} px a side)")
        return _dis().calc(g0, g1, None)
    if method == "farneback":
        return cv2.calcOpticalFlowFarneback(g0, g1, None, 0.5, 4, 15, 3, 5, 1.2, 0)
    raise TaskError(f"unknown flow method {method!r}; choose from {METHODS}")


def flow_model_units(frame0: np.ndarray, frame1: np.ndarray, seconds: float = 1.0,
                     method: str = "dis", work_size: int = FLOW_WORK_SIZE) -> np.ndarray:
    """Flow from frame0 to frame1 (uint8 (H, W, 3)) -> float32 (2, h, w) in model px per second.

    (h, w) is the working resolution (longer side ``work_size``); the values do not depend on it.
    """
    small0 = fit_within(frame0, work_size)
    h, w = small0.shape[:2]
    small1 = cv2.resize(frame1, (w, h), interpolation=cv2.INTER_AREA)
    if min(h, w) < MIN_FLOW_SIDE:  # DIS needs room for its patches: enlarge tiny frames
        # both frames alike: enlarging only frame0 bilinearly (frame1 by area, i.e. nearest) made
        # two identical thin or tiny frames differ, and DIS saw motion in a still video
        grow = MIN_FLOW_SIDE / min(h, w)
        size = (round(w * grow), round(h * grow))
        small0 = cv2.resize(small0, size, interpolation=cv2.INTER_LINEAR)
        small1 = cv2.resize(small1, size, interpolation=cv2.INTER_LINEAR)
    flow = flow_pixels(small0, small1, method)  # (h, w, 2) working pixels
    h, w = small0.shape[:2]
    scale = np.array([MODEL_SIZE / w, MODEL_SIZE / h], np.float32) / np.float32(seconds)
    return np.ascontiguousarray((flow * scale).transpose(2, 0, 1))  # (2, h, w)


def endpoint_error(flow: np.ndarray, truth: np.ndarray) -> float:
    """Mean endpoint error of (2, H, W) flows."""
    return float(np.sqrt(((flow - truth) ** 2).sum(axis=0)).mean())

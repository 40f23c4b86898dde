"""Fixtures for the Studio's pytest-qt tests: an offscreen Qt platform, a small assets folder
with one model trained by the real trainer and two freshly built ones, and a main window."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before any Qt import

from pathlib import Path

import numpy as np
import pytest

import cv2

import cdvae_studio  # noqa: F401,E402 - first: works around the shiboken6 refcount bug (see _compat)


@pytest.fixture(scope="module", autouse=True)
def _collect_garbage_in_gui_thread(qapp):
    """As the app does (app.collect_garbage_in_gui_thread): cycles holding Qt wrappers must never
    be collected in the render worker's thread (a GIL / Qt mutex deadlock otherwise)."""
    import gc

    from cdvae_studio.app import collect_garbage_in_gui_thread

    guard = collect_garbage_in_gui_thread()
    yield
    guard.timer.stop()
    gc.collect()
    gc.enable()


def _write_pan_video(path, frames: int, fps: int = 10, step=(1.0, -0.5)) -> tuple[float, float]:
    """An MJPG AVI whose content moves ``step`` px per frame (right, up) over a built-in photo;
    returns that motion in model pixels per second (32 across the frame's width and height)."""
    from cdvae_core.data.builtin import builtin_images

    photo = np.asarray(builtin_images()[0][1])[:, :, ::-1]
    w, h = 160, 120
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
    for t in range(frames):
        m = np.float32([[1, 0, 100 - step[0] * t], [0, 1, 150 - step[1] * t]])
        writer.write(np.ascontiguousarray(cv2.warpAffine(photo, m, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)))
    writer.release()
    return step[0] * fps * 32 / w, step[1] * fps * 32 / h


@pytest.fixture()
def pan_video():
    """``pan_video(path, frames, fps=10, step=(1.0, -0.5))``: write an MJPG AVI panning over a
    built-in photo; returns its motion in model pixels per second."""
    return _write_pan_video


def smooth_images(rng: np.random.Generator, n: int, channels: int) -> np.ndarray:
    """Random smooth [0, 1] images (n, C, 32, 32): blurred noise, like photo layers at 32x32."""
    noise = rng.random((n * channels, 8, 8)).astype(np.float32)
    up = np.stack([cv2.resize(a, (32, 32), interpolation=cv2.INTER_CUBIC) for a in noise])
    return np.clip(up, 0, 1).reshape(n, channels, 32, 32).astype(np.float32)


def synthetic_pairs(n: int = 256, seed: int = 0):
    """Resaturation-shaped pairs with two modes: x_g is x_c or 1 - x_c (an ambiguous target)."""
    from cdvae_core.pairs import PairSet

    rng = np.random.default_rng(seed)
    xc = smooth_images(rng, n, 1)
    mode = rng.integers(0, 2, n)[:, None, None, None]
    xg = np.where(mode == 1, xc, 1.0 - xc).astype(np.float32)
    return PairSet(xc=xc, xg=xg, split=(np.arange(n) % 8 == 0).astype(np.int8), meta={"task": "resaturation"})


def small_config(task: str, tie: str, mixtures: int = 4):
    from cdvae_core.config import ModelConfig
    from cdvae_core.tasks import get_task

    t = get_task(task)
    latents, hidden = ModelConfig.sizes_for_layers(2)
    return ModelConfig(task=task, tie=tie, mixtures=mixtures, channels_c=t.channels_c, channels_g=t.channels_g,
                       latent_sizes=latents, hidden_sizes=hidden, conv_channels=(8, 16, 32))


def save_untrained(out: Path, task: str, tie: str, mixtures: int = 4) -> None:
    """A freshly built model saved as a model dir, with a made-up training embedding."""
    import torch

    from cdvae_core.checkpoint import save_model
    from cdvae_core.config import TrainConfig
    from cdvae_core.model import build_model
    from cdvae_core.tasks import get_task

    torch.manual_seed(0)
    cfg = small_config(task, tie, mixtures)
    rng = np.random.default_rng(1)
    n, c = 120, get_task(task).channels_c
    emb = {"lpp_c": rng.standard_normal((n, 16)).astype(np.float32),
           "codes_c": rng.standard_normal((n, 16)).astype(np.float32),
           "split": (np.arange(n) % 5 == 0).astype(np.int8), "labels": (np.arange(n) % 3).astype(np.int64),
           "index": np.arange(n), "xc_thumbs": smooth_images(rng, n, c).astype(np.float16)}
    save_model(out, build_model(cfg), TrainConfig(), {"task": task}, emb)


@pytest.fixture(scope="session")
def studio_assets(tmp_path_factory) -> Path:
    """assets/models/<task>/<name>/ with a trained resaturation MDN and untrained relighting/motion models."""
    import torch

    from cdvae_core.config import TrainConfig
    from cdvae_core.pairs import save_pairs
    from cdvae_core.training import train

    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("assets")
    pairs = synthetic_pairs()
    save_pairs(root / "pairs" / "synthetic.npz", pairs)
    cfg = TrainConfig(epochs=2, batch_size=32, kl_warmup_epochs=0.5, guidance_epochs=1.0)
    for _ in train(pairs, small_config("resaturation", "mdn"), cfg, root / "models" / "resaturation" / "mdn4"):
        pass
    save_untrained(root / "models" / "relighting" / "gauss", "relighting", "gauss")
    save_untrained(root / "models" / "motion" / "gauss", "motion", "gauss")
    return root


@pytest.fixture()
def make_window(qtbot, studio_assets, tmp_path):
    """Factory for main windows on the test assets with throwaway settings; closed at teardown."""
    from PySide6.QtCore import QSettings

    from cdvae_studio.catalog import ModelCatalog
    from cdvae_studio.main_window import MainWindow

    windows = []

    def make(task: str = "resaturation", assets: Path | None = None, settings: QSettings | None = None):
        # a window of its own settings file, or (settings=) one reopening another window's
        settings = settings or QSettings(str(tmp_path / f"settings{len(windows)}.ini"), QSettings.Format.IniFormat)
        win = MainWindow(catalog=ModelCatalog(assets or studio_assets), settings=settings, task=task)
        win.show()
        windows.append(win)
        return win

    yield make
    for win in windows:
        win.close()
        win.shutdown()
        win.deleteLater()
    import gc

    gc.collect()  # the closed windows' cycles go here, in the GUI thread, not in a later test's worker


@pytest.fixture()
def settle(qtbot):
    """settle(win): wait until every render the window asked for has been applied."""

    def wait(win, timeout: int = 60_000) -> None:
        qtbot.waitUntil(lambda: win.state.ctx is not None and win.state.is_settled(), timeout=timeout)

    return wait


@pytest.fixture()
def train_on_pairs(make_window, settle, studio_assets):
    """(window, its open trainDialog) with the test pair file as the source."""
    win = make_window("resaturation")
    settle(win)
    win.open_train_dialog()
    dlg = win.train_dialog
    dlg.source.setCurrentIndex(4)  # pair file
    dlg.path_a.edit.setText(str(studio_assets / "pairs" / "synthetic.npz"))
    return win, dlg


@pytest.fixture(autouse=True, scope="module")
def _restore_torch_threads():
    """The Studio sets torch to one intra-op thread on small machines; give other test modules
    back whatever they had."""
    import torch

    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.fixture()
def untrained_model():
    """save_untrained(out, task, tie) for tests that need one more model on disk."""
    return save_untrained


@pytest.fixture()
def submissions():
    """submissions(win): a live list of the channels of every job the window submits from now on."""

    def spy_on(win) -> list[str]:
        seen: list[str] = []
        submit = win.state.worker.submit

        def spy(channel, job):
            seen.append(channel)
            return submit(channel, job)

        win.state.worker.submit = spy
        return seen

    return spy_on

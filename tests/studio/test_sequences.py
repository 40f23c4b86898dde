"""Random action sequences: a window driven through user actions in a seeded random order,
settled (or deliberately not, to catch races with renders in flight) between them, with the
window's invariants checked after every settle.

The kept run is small (``SEEDS`` x ``STEPS``); more seeds and steps for a local hunt:

    STUDIO_SEQ_SEEDS=0-199 STUDIO_SEQ_STEPS=80 OMP_NUM_THREADS=1 QT_QPA_PLATFORM=offscreen \\
        python -m pytest tests/studio/test_sequences.py -k random -q

A failure prints the seed and the actions up to it (with the settles and waits between them), so
``STUDIO_SEQ_SEEDS=<seed>`` replays the same actions; the worker's timing decides how they
interleave with renders in flight, so a race may need a few runs. ``STUDIO_SEQ_DEBUG=1`` also
prints the state and a trace of the requests, submissions and results around a failure.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from PySide6.QtCore import QPoint
from PySide6.QtGui import QGuiApplication
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QLabel, QSlider

from cdvae_core.data.video import at_time, split_time
from cdvae_core.data.video_frames import frames_at
from cdvae_core.distinct import draw_distinct
from cdvae_core.postprocess.flowviz import flow_to_pixels
from cdvae_core.tasks.motion import move_frame
from cdvae_core.postprocess.imagefiles import read_image
from cdvae_studio import drag_out
from cdvae_studio.clipboard import qimage_pixels
from cdvae_studio.images import resize_rgb
from cdvae_studio.jobs import GRID, own_sample, preview_and_layer, render_preview, render_sweeps
from cdvae_studio.render import DecodeCache, compose_cells
from cdvae_studio.state_apply import share_text
from cdvae_studio.widgets.video_time import PREVIEW_SIDE
from cdvae_studio.widgets.code_sliders import to_ticks


def _seeds() -> list[int]:
    spec = os.environ.get("STUDIO_SEQ_SEEDS", "")
    if not spec:
        return [0, 1, 2]
    out: list[int] = []
    for part in spec.split(","):
        lo, _, hi = part.partition("-")
        out += list(range(int(lo), int(hi or lo) + 1))
    return out


SEEDS = _seeds()
STEPS = int(os.environ.get("STUDIO_SEQ_STEPS", "40"))
TASKS = ("resaturation", "relighting", "motion")


# assets -----------------------------------------------------------------------------------------
def _save_model(out: Path, task: str, arch: str = "cdvae", tie: str = "gauss", layers: int = 2) -> None:
    """A freshly built CVAE or Shallow model dir (save_untrained builds 2-layer CDVAEs only)."""
    import torch

    from cdvae_core.checkpoint import save_model
    from cdvae_core.config import ModelConfig, TrainConfig
    from cdvae_core.model import build_model
    from cdvae_core.tasks import get_task

    torch.manual_seed(0)
    t = get_task(task)
    latents, hidden = ModelConfig.sizes_for_layers(layers)
    cfg = ModelConfig(task=task, arch=arch, tie=tie, channels_c=t.channels_c, channels_g=t.channels_g,
                      latent_sizes=latents, hidden_sizes=hidden, conv_channels=(8, 16, 32))
    save_model(out, build_model(cfg), TrainConfig(), {"task": task}, None)


def _pairs(path: Path, n: int = 96) -> None:
    from cdvae_core.pairs import PairSet, save_pairs

    rng = np.random.default_rng(3)
    xc = np.stack([cv2.resize(a, (32, 32), interpolation=cv2.INTER_CUBIC)
                   for a in rng.random((n, 8, 8)).astype(np.float32)])[:, None].clip(0, 1)
    xg = np.where(rng.integers(0, 2, n)[:, None, None, None] == 1, xc, 1 - xc).astype(np.float32)
    save_pairs(path, PairSet(xc=xc, xg=xg, split=(np.arange(n) % 8 == 0).astype(np.int8),
                             meta={"task": "resaturation"}))


_ASSETS: dict[str, Path] = {}


@pytest.fixture()
def sequence_assets(tmp_path_factory, untrained_model) -> Path:
    """Models of every kind the catalog shows (MDN K=4 and K=12, Gauss, CVAE, Shallow, the
    nearest-neighbour baseline), an opened model and pair file outside them, odd images and a
    video."""
    if "root" in _ASSETS:
        return _ASSETS["root"]
    root = tmp_path_factory.mktemp("sequence_assets")
    res = root / "models" / "resaturation"
    untrained_model(res / "mdn4", "resaturation", "mdn", mixtures=4)
    untrained_model(res / "mdn12", "resaturation", "mdn", mixtures=12)
    untrained_model(res / "gauss", "resaturation", "gauss")
    _save_model(res / "cvae", "resaturation", arch="cvae")
    untrained_model(root / "models" / "relighting" / "gauss", "relighting", "gauss")
    untrained_model(root / "models" / "relighting" / "mdn4", "relighting", "mdn", mixtures=4)
    _save_model(root / "models" / "relighting" / "shallow", "relighting", layers=1)
    untrained_model(root / "models" / "motion" / "gauss", "motion", "gauss")
    _pairs(root / "pairs" / "resaturation.npz")
    extra = root / "extra"
    untrained_model(extra / "opened_mdn12", "resaturation", "mdn", mixtures=12)
    untrained_model(extra / "opened_motion", "motion", "mdn", mixtures=4)
    shutil.copy(root / "pairs" / "resaturation.npz", extra / "more_pairs.npz")
    images = root / "images"
    images.mkdir()
    yy, xx = np.indices((60, 90))
    photo = np.stack([xx * 255 // 89, yy * 255 // 59, (xx + yy) * 7 % 256], -1).astype(np.uint8)
    cv2.imwrite(str(images / "photo.png"), photo)
    cv2.imwrite(str(images / "grey.png"), ((xx * 3 + yy) % 256).astype(np.uint8)[:40, :50])
    cv2.imwrite(str(images / "tiny.png"), photo[:16, :16])  # the smallest image the Studio opens
    writer = cv2.VideoWriter(str(images / "clip.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 10, (90, 60))
    for t in range(30):  # 3 s: its frames open from the Time bar, those past 2 s without a truth
        writer.write(np.ascontiguousarray(np.roll(photo, 2 * t, axis=1)))
    writer.release()
    cv2.imwrite(str(images / "bad_tiny.png"), photo[:8, :8])  # refused: a one-line banner
    (images / "bad_text.png").write_text("not an image")
    _ASSETS["root"] = root
    return root


# the harness ------------------------------------------------------------------------------------
class Harness:
    """Drives one window with seeded random actions; ``check`` asserts the invariants."""

    def __init__(self, win, qtbot, settle, seed: int, assets: Path, tmp: Path, dragged: list | None = None) -> None:
        self.win, self.state, self.qtbot, self._settle = win, win.state, qtbot, settle
        self.dragged = dragged  # the drags' data, appended by a stand-in for drag_out.run_drag (None: no drags)
        self.drag_shapes: list[tuple[int, ...]] = []  # the shapes the last drag's files must have
        self.rng = np.random.default_rng(seed)
        self.assets, self.tmp = assets, tmp
        self.log: list[str] = []
        self.randomised: set[int] = set()  # rows "randomise" changed: exempt from the redraw check
        self.held: int | None = None  # the slider held down (setSliderDown(True))
        self.star_rows: dict[int, tuple[bool, np.ndarray]] = {}  # key -> (row exempt, grid's constant columns)
        self.expected_image: tuple[str, object] | None = None
        self.bad_pending = False  # the last image opened is a refused one
        self.sessions = 0
        self.copied: tuple[int, ...] | None = None  # the shape the last copy asked for puts on the clipboard
        self.strips: np.ndarray | None = None
        apply_sweeps = self.state._apply_sweeps

        def record(strips):
            self.strips = np.asarray(strips).copy()
            apply_sweeps(strips)

        self.state._apply_sweeps = record
        if os.environ.get("STUDIO_SEQ_DEBUG"):
            self._trace()

    def _trace(self) -> None:
        state = self.state
        trace = state._trace = []
        submit, is_current = state.worker.submit, state.worker.is_current

        def spy_submit(channel, job):
            rid = submit(channel, job)
            trace.append(f"    submit {channel} #{rid} (log {len(self.log)})")
            return rid

        def spy_current(channel, rid):
            ok = is_current(channel, rid)
            if channel != "scrub":
                trace.append(f"    done {channel} #{rid} {'current' if ok else 'stale'}")
            return ok

        state.worker.submit, state.worker.is_current = spy_submit, spy_current
        for name in ("_apply_context", "_apply_grid", "_apply_image", "set_image", "request_context", "request_draw",
                     "request_grid", "edit_code", "undo", "open_session"):
            fn = getattr(state, name)

            def wrapped(*a, _fn=fn, _name=name, **k):
                trace.append(f"  {_name} (log {len(self.log)}) image={state.image_path and Path(state.image_path).name}"
                             f" pending={state._image_pending} draw_pending={state._draw_pending}")
                return _fn(*a, **k)

            setattr(state, name, wrapped)

    # actions ----------------------------------------------------------------------------------
    def actions(self):
        return [
            (3, self.switch_task), (6, self.switch_tie), (4, self.pick_component), (4, self.resample),
            (2, self.change_seed), (2, self.change_temperature), (2, self.toggle_lower), (1, self.toggle_lock),
            (2, self.toggle_distinct), (1, self.toggle_play),
            (8, self.move_slider), (3, self.press_slider), (3, self.release_slider), (4, self.undo),
            (2, self.redo), (2, self.reset), (3, self.randomise), (4, self.select), (4, self.star), (1, self.unstar_from_tray),
            (3, self.open_image), (3, self.choose_frame), (2, self.preview_frame), (1, self.open_example), (2, self.session_roundtrip), (2, self.toggle_sweeps),
            (1, self.open_model), (1, self.copy_result), (1, self.show_star),
        ] + ([(1, self.drag_cell)] if self.dragged is not None else [])

    def _sync_held(self) -> None:
        """A context landing rebuilds the sliders: one held then is gone (and no longer held)."""
        if self.held is not None and self.win.codeSliders.held_index() != self.held:
            self.held = None

    def step(self) -> None:
        self._sync_held()
        acts = self.actions()
        weights = np.array([w for w, _ in acts], float)
        _, act = acts[int(self.rng.choice(len(acts), p=weights / weights.sum()))]
        what = act()
        self.log.append(what or act.__name__)
        r = self.rng.random()
        if r < 0.55:
            self.settle_and_check()
        elif r < 0.8:
            ms = int(self.rng.integers(0, 40))
            self.log.append(f"  wait {ms} ms")
            self.qtbot.wait(ms)
        else:
            self.log.append("  (no wait)")

    def sliders(self) -> list[QSlider]:
        cs = self.win.codeSliders
        return [cs.slider(i) for i in range(cs.code_dim)]

    def switch_task(self) -> str:
        task = TASKS[int(self.rng.integers(len(TASKS)))]
        before, pending = self.state.task_name, self.state._image_pending
        example = not self._photo()
        self.win.taskCombo.setCurrentText(task)
        if task != before and example and (not pending or self.bad_pending):
            # an example (of the old task) gives way to the gallery's first photo, unless a photo
            # the user chose is on its way
            self.expected_image = ("path", str(self.win.imagePanel.gallery.item(0).data(0x0100)))
        return f"task {task}"

    def _photo(self) -> bool:
        from cdvae_studio.images import LoadedImage

        return isinstance(self.state.image, LoadedImage)

    def switch_tie(self) -> str:
        combo = self.win.tieCombo
        if not combo.count():
            return "tie: none"
        i = int(self.rng.integers(combo.count()))
        combo.setCurrentIndex(i)
        return f"tie {i} {combo.itemText(i)}"

    def pick_component(self) -> str:
        combo = self.win.codeSliders.component_combo
        if combo.count() < 2:
            return "component: no picker"
        i = int(self.rng.integers(combo.count()))
        combo.setCurrentIndex(i)
        return f"component {i - 1}"

    def resample(self) -> str:
        self.win.resampleButton.click()
        return "resample"

    def change_seed(self) -> str:
        seed = int(self.rng.integers(0, 1000))
        self.win.seedSpin.setValue(seed)
        return f"seed {seed}"

    def change_temperature(self) -> str:
        t = float(self.rng.choice([0.0, 0.3, 0.5, 1.0, 1.5, 2.0]))
        self.win.temperatureSpin.setValue(t)
        return f"temperature {t}"

    def toggle_lower(self) -> str:
        self.win.lowerCheck.toggle()
        return f"full samples {self.win.lowerCheck.isChecked()}"

    def toggle_distinct(self) -> str:
        self.win.distinctAction.trigger()
        return f"distinct results {self.win.distinctAction.isChecked()}"

    def toggle_play(self) -> str:
        self.win.flowView.play.toggle()
        return f"play {self.win.flowView.play.isChecked()}"

    def toggle_lock(self) -> str:
        self.win.seedLock.toggle()
        return f"seed lock {self.win.seedLock.isChecked()}"

    def toggle_sweeps(self) -> str:
        self.win.codeSliders.show_sweeps.toggle()
        return f"sweeps {self.win.codeSliders.show_sweeps.isChecked()}"

    def move_slider(self) -> str:
        sliders = self.sliders()
        if not sliders:
            return "move: no sliders"
        i = self.held if self.held is not None and self.held < len(sliders) and self.rng.random() < 0.7 \
            else int(self.rng.integers(len(sliders)))
        moves = [int(v) for v in self.rng.integers(-400, 401, int(self.rng.integers(1, 4)))]
        for v in moves:
            sliders[i].setValue(v)
        return f"slider {i} -> {moves}"

    def press_slider(self) -> str:
        sliders = self.sliders()
        if not sliders:
            return "press: no sliders"
        if self.held is not None and self.held < len(sliders):
            sliders[self.held].setSliderDown(False)
        i = int(self.rng.integers(len(sliders)))
        sliders[i].setSliderDown(True)
        self.held = i
        return f"press slider {i}"

    def release_slider(self) -> str:
        sliders = self.sliders()
        held, self.held = self.held, None
        if held is None or held >= len(sliders):
            return "release: none held"
        sliders[held].setSliderDown(False)
        return f"release slider {held}"

    def undo(self) -> str:
        self.win.undoAction.trigger()
        return "undo"

    def redo(self) -> str:
        self.win.redoAction.trigger()
        return "redo"

    def reset(self) -> str:
        self.win.codeSliders.reset_button.click()
        return "reset"

    def randomise(self) -> str:
        untied = bool(self.rng.random() < 0.5)
        button = self.win.codeSliders.random_untied_button if untied else self.win.codeSliders.random_all_button
        if button.isEnabled() and self.state.ctx is not None:
            self.randomised.add(self.state.current)
        button.click()
        return f"randomise {'untied' if untied else 'all'} (row {self.state.current})"

    def select(self) -> str:
        i = int(self.rng.integers(GRID))
        self.win.sampleGrid.sampleClicked.emit(i)
        return f"select {i}"

    def star(self) -> str:
        state = self.state
        i = int(self.rng.integers(GRID)) if self.rng.random() < 0.6 else state.current
        before = set(state.stars)
        self.win.sampleGrid.starToggled.emit(i)
        for key in set(state.stars) - before:
            codes = state.grid.codes[[r for r in range(len(state.grid.codes)) if r not in self.randomised]]
            constant = np.all(codes == codes[:1], axis=0)  # pinned, over the rows randomise left alone
            self.star_rows[key] = (i in self.randomised, constant)
        return f"star {i} -> {sorted(state.stars)}"

    def copy_result(self) -> str:
        """Ctrl+C: the clipboard gets the current sample of the grid shown, at its photo's full size."""
        state = self.state
        if state.ctx is None or state.grid is None:
            return "copy: nothing shown yet"
        photo = state.ctx.doc.photo
        self.copied = (read_image(photo) if isinstance(photo, str) else photo).shape
        QGuiApplication.clipboard().clear()
        self.win.copyAction.trigger()
        return f"copy #{state.current + 1} ({self.copied[1]}x{self.copied[0]})"

    def drag_cell(self) -> str:
        """Drag a grid cell, or (half the time, where there are stars) some of the starred list,
        out of the window: a PNG of each result at its photo's full size."""
        state, grid = self.state, self.win.sampleGrid

        def shape(doc) -> tuple[int, ...]:
            return (read_image(doc.photo) if isinstance(doc.photo, str) else doc.photo).shape

        if state.stars and self.rng.random() < 0.5:
            keys = sorted(state.stars)
            keys = [k for k in keys if self.rng.random() < 0.6] or keys[:1]
            self.drag_shapes = [shape(state.stars[k].doc) for k in keys]
            state.drag_starred(keys)
            return f"drag stars {keys}"
        n = len(grid.cell_images())
        if state.ctx is None or not n:
            return "drag: nothing shown yet"
        i = int(self.rng.integers(n))
        self.drag_shapes = [shape(state.ctx.doc)]
        grid.dragStarted.emit(i)
        return f"drag #{i + 1} ({self.drag_shapes[0][1]}x{self.drag_shapes[0][0]})"

    def show_star(self) -> str:
        """Double-click a star in the tray: its photo, model and draw, its code in its own cell."""
        state = self.state
        keys = sorted(state.stars)
        if not keys:
            return "show star: no stars"
        star = state.stars[keys[int(self.rng.integers(len(keys)))]]
        if star.doc.source is None and (state.ctx is None or state.ctx.doc is not star.doc):
            return "show star: an example's, not shown"  # refused, with a banner line (tested on its own)
        row = next(r for r in range(self.win.tray.count()) if self.win.tray.item(r).data(0x0100) == star.key)
        self.win.tray.itemActivated.emit(self.win.tray.item(row))
        if star.doc.source is not None:
            self.expected_image = ("path", star.doc.source)
        self.randomised.add(star.index)  # its code may hold slider edits, whose pins a star does not keep
        return f"show star {star.key} ({star.doc.title} #{star.index + 1}, {star.model.key})"

    def unstar_from_tray(self) -> str:
        keys = sorted(self.state.stars)
        if not keys:
            return "unstar: no stars"
        key = keys[int(self.rng.integers(len(keys)))]
        self.win.tray.removeRequested.emit(key)
        return f"unstar {key}"

    def open_image(self) -> str:
        images = self.assets / "images"
        gallery = self.win.imagePanel.gallery
        choices = [("file", str(images / n)) for n in ("photo.png", "grey.png", "tiny.png", "bad_tiny.png",
                                                         "bad_text.png", "clip.avi", "clip.avi#t=1.5")]
        choices += [("gallery", str(gallery.item(k).data(0x0100))) for k in range(min(gallery.count(), 3))]
        if self.rng.random() < 0.15:  # a drop (or Open image) of a refused file and then a good one
            bad, good = (str(images / n) for n in (("bad_tiny.png", "bad_text.png")[int(self.rng.integers(2))],
                                                    ("photo.png", "grey.png")[int(self.rng.integers(2))]))
            self.state.open_paths([bad, good])  # the good one stands in for the refused one
            self.expected_image, self.bad_pending = ("path", good), False
            return f"drop {Path(bad).name} then {Path(good).name}"
        kind, path = choices[int(self.rng.integers(len(choices)))]
        if Path(path).name.startswith("bad_") and self.state._image_pending:
            self.expected_image = None  # the newest file wins: the photo being read is dropped, and this one refused
        if kind == "gallery":
            self.win.imagePanel.openRequested.emit(path)
        else:
            self.state.open_image(path)
        self.bad_pending = Path(path).name.startswith("bad_")
        if not self.bad_pending:
            self.expected_image = ("path", path)
        return f"open {kind} {Path(path).name}"

    def choose_frame(self) -> str:
        """Move the Time bar of the video shown (as the arrow keys do: it loads at once)."""
        clip = getattr(self.state.image, "clip", None)
        if clip is None:
            return "time bar: no video shown"
        slider = self.win.imagePanel.timeBar.slider
        index, before = int(self.rng.integers(clip.frames)), slider.value()
        slider.setValue(index)
        if index != before and (index != clip.index or self.state._image_pending):
            self.expected_image = ("path", at_time(self.state.image_path, clip.time(index)))
            self.bad_pending = False  # the newest request wins: a refused file on its way is dropped
        return f"time bar frame {index} (from {before}, shown {clip.index})"

    def preview_frame(self) -> str:
        """Point at the Time bar's track: the frame there is previewed, nothing is opened."""
        clip = getattr(self.state.image, "clip", None)
        bar = self.win.imagePanel.timeBar
        if clip is None or not bar.isVisible():
            return "time bar preview: no video shown"
        index = int(self.rng.integers(clip.frames))
        QTest.mouseMove(bar.slider, QPoint(bar.x_of(index), bar.slider.height() // 2))
        return f"time bar preview of frame {index} (previewing {bar.previewed()})"

    def open_example(self) -> str:
        row = int(self.rng.integers(0, 120))
        ctx = self.state.ctx
        thumbs = getattr(getattr(ctx.predictor, "embedding", None), "xc_thumbs", None) if ctx else None
        if thumbs is None:
            return "example: no scatter to click"
        self.win.lppScatter.exampleClicked.emit(row)
        if thumbs is not None and row < len(thumbs) and ctx.task.name == self.state.task_name:
            self.expected_image = ("example", row)
        return f"example {row} ({'has' if thumbs is not None else 'no'} thumbnails)"

    def session_roundtrip(self) -> str:
        self.sessions += 1
        path = self.tmp / f"session{self.sessions}.json"
        self.state.save_session(str(path))
        import json

        data = json.loads(path.read_text())
        if self.rng.random() < 0.5:
            self.settle_and_check()
        self.state.open_session(str(path))
        if data["image"]:
            self.expected_image = ("path", data["image"])
        else:
            # a session of a scatter example keeps no image: its current code is restored onto the
            # image shown, among that image's draw (as an edit would be)
            self.randomised.add(data["current"])
        return f"session {data['model']} image={data['image'] and Path(data['image']).name} seed={data['seed']} " \
               f"component={data['component']} current={data['current']}"

    def open_model(self) -> str:
        extra = self.assets / "extra"
        path = [extra / "opened_mdn12", extra / "opened_motion", extra / "more_pairs.npz"][int(self.rng.integers(3))]
        task = "motion" if path.name == "opened_motion" else "resaturation"
        before, pending, example = self.state.task_name, self.state._image_pending, not self._photo()
        self.state.open_model(str(path))
        if task != before and example and (not pending or self.bad_pending):
            self.expected_image = ("path", str(self.win.imagePanel.gallery.item(0).data(0x0100)))
        return f"open model {path.name}"

    # invariants -------------------------------------------------------------------------------
    def _check_held(self) -> None:
        """A slider is held: the grid is a drag render (prefetched or live) of the state's codes,
        the held component within half a lattice step of the slider's value, or a full render."""
        from cdvae_studio.render import drag_doc, shrink_detail
        from cdvae_studio.scrub import SCRUB_STEP

        state, ctx = self.state, self.state.ctx
        grid, axis = state.grid, self.held
        rest = [j for j in range(state.codes.shape[1]) if j != axis]
        np.testing.assert_array_equal(grid.codes[:, rest], state.codes[:, rest])
        assert np.abs(grid.codes[:, axis] - state.codes[:, axis]).max() <= SCRUB_STEP / 2 + 1e-6
        rows = state.noise_rows()
        np.testing.assert_allclose(grid.xg, ctx.predictor.decode(ctx.cond, grid.codes, rows), atol=1e-4)
        doc = ctx.doc if grid.cells.shape[1:3] == ctx.doc.small.shape[:2] else drag_doc(ctx.doc)
        detail = ctx.detail if doc is ctx.doc else shrink_detail(ctx.detail, doc)
        assert grid.cells.shape[1:3] == doc.small.shape[:2]
        np.testing.assert_array_equal(grid.cells, compose_cells(state.task, doc, grid.xg, ctx.flow_scale, detail))

    def settle_and_check(self) -> None:
        self._settle(self.win)
        self.log.append("  settled")
        self.check()

    def check(self) -> None:
        self._sync_held()
        win, state = self.win, self.state
        ctx = state.ctx
        # 1. no error in the window, other than the refused images the harness opened
        if win.banner.isVisible():
            assert re.match(r"Cannot open bad_", win.banner.text()), win.banner.text()
        assert "failed" not in win.modelLabel.text(), win.modelLabel.text()
        assert win.centerStack.currentIndex() == 0
        # 2. the toolbar names what is shown
        assert win.taskCombo.currentText() == state.task_name == ctx.entry.task == ctx.predictor.task
        assert win.tieCombo.currentData() == ctx.entry.key == state.entry.key, \
            (win.tieCombo.currentData(), ctx.entry.key, state.entry.key)
        assert win.seedSpin.value() == state.seed
        assert win.temperatureSpin.value() == pytest.approx(state.temperature)
        assert win.distinctAction.isChecked() == (state.pool > 0)
        mixture = ctx.mixture
        combo = win.codeSliders.component_combo
        if mixture is not None and len(mixture) > 1:
            assert combo.count() == len(mixture) + 1 and combo.currentIndex() == state.component + 1
        else:
            assert state.component == -1 and combo.count() == 0
        for draw in (state.codes_draw, state.drawn_draw):
            assert draw.component is None or (mixture is not None and 0 <= draw.component < len(mixture)), draw
        # 3. the image the user chose last is the one shown
        if self.expected_image is not None:
            kind, what = self.expected_image
            if kind == "path":
                assert state.image_path == what and ctx.doc.source == what, (state.image_path, what)
            else:
                assert ctx.doc.key.startswith("example:") and ctx.doc.name == f"training example #{what}"
        # 4. a Time bar preview shows a frame of the video shown, once read
        bar = win.imagePanel.timeBar
        if bar.previewed() is not None:
            clip = getattr(state.image, "clip", None)
            assert clip is not None and bar.isVisible()
            frame = frames_at(split_time(state.image_path)[0], clip.time(bar.previewed()), seconds=None)[0]
            np.testing.assert_array_equal(bar.preview.shown, resize_rgb(frame, PREVIEW_SIDE))
        # 5. the grid shows the library's decode of the state's codes and noise
        p = ctx.predictor
        has_codes = getattr(p, "has_codes", True)
        n = len(state.codes)
        assert n == GRID and state.codes.shape[1] == p.code_dim and state.noise.shape == (n, p.noise_dim)
        assert state.pinned.shape == (p.code_dim,)
        assert state.grid.draw == state.codes_draw, (state.grid.draw, state.codes_draw)
        rows = state.noise_rows()
        if self.held is None:
            # the grid's layers are the library's decode of the state's codes and noise (rows decoded
            # one batch or another differ by float rounding), and its cells their composition
            np.testing.assert_array_equal(state.grid.codes, state.codes)
            assert state.grid.lower == (state.lower and state.grid.noise is not None)
            if rows is not None:
                np.testing.assert_array_equal(state.grid.noise, state.noise)
            xg = np.asarray(p.decode(ctx.cond, state.codes, rows), np.float32)
            np.testing.assert_allclose(state.grid.xg, xg, atol=1e-4, err_msg="grid is not the decode of the codes")
            cells = compose_cells(state.task, ctx.doc, state.grid.xg, ctx.flow_scale, ctx.detail)
            np.testing.assert_array_equal(win.sampleGrid.cell_images(), cells)
            assert win.sampleGrid.current == state.current
            # 6. the sliders show the current sample's code
            if has_codes:
                assert [s.value() for s in self.sliders()] == [to_ticks(v) for v in state.codes[state.current]]
            # the preview is the current sample at full resolution (its layer from the grid, as the
            # Studio takes it: a 1e-8 rounding difference can move a resaturation pixel by 4 levels)
            layer = state.grid.xg[state.current]
            doc_is_photo = ctx.doc.source is not None or not ctx.doc.key.startswith("example:")
            own = own_sample(p, ctx.cond, ctx.entry.key, ctx.doc) if doc_is_photo and has_codes else None
            preview = render_preview(state.task, ctx.doc, layer, own)
            shown = win.preview.image()
            assert shown is not None and shown.shape == preview.shape
            assert np.abs(shown.astype(int) - preview.astype(int)).max() <= 1, "stale preview"
            # the Flow tab: the current sample's flow, as arrows or (Play) moving the frame on screen
            view = win.flowView
            if state.task.name == "motion":
                np.testing.assert_allclose(view._flow, layer, atol=1e-5)
            assert view._timer.isActive() == (view.playing() and view.isVisible())
            if view.playing():  # along the Preview's edge-aware flow, in frame pixels
                flow = flow_to_pixels(preview_and_layer(state.task, ctx.doc, layer)[0])
                np.testing.assert_allclose(view._full, flow, atol=1e-3)
                moved = move_frame(ctx.doc.rgb, view._full * view._positions[view._tick])
                np.testing.assert_array_equal(view.image_item.image, moved)
            if win.codeSliders.show_sweeps.isChecked() and has_codes:
                strips = render_sweeps(state.task, p, ctx.cond, ctx.entry.key, ctx.doc, state.codes[state.current],
                                       ctx.mean, ctx.std, DecodeCache(), detail=ctx.detail,
                                       flow_scale=ctx.flow_scale, noise=state.current_noise())
                assert self.strips is not None and self.strips.shape == strips.shape
                off = np.abs(self.strips.astype(int) - strips.astype(int)) > 2  # decoded in other batches
                assert off.mean() < 1e-3, f"stale sweep strips ({off.mean():.2%} of the pixels)"
        else:
            self._check_held()
        # 7. codes_draw redraws the unedited samples (pinned columns are constant, randomised rows
        # exempt), and drawn_draw the codes and noise "Reset" goes back to, all of them
        if has_codes:
            d = state.drawn_draw
            redraw, renoise, shares = _redraw(p, ctx.cond, d)
            np.testing.assert_array_equal(state.drawn, redraw, err_msg=f"drawn is not {d}'s")
            np.testing.assert_array_equal(state.drawn_noise, renoise, err_msg=f"drawn noise is not {d}'s")
            # 7b. a distinct draw's shares are its own, and a cell shows its share while unedited
            np.testing.assert_array_equal(state.shares, shares)
            if self.held is None and shares is not None:
                unedited = [np.array_equal(state.codes[i], redraw[i]) and np.array_equal(state.noise[i], renoise[i])
                            for i in range(n)]
                assert [b.split(" · ")[0] if "%" in b else "" for b in win.sampleGrid.badge_texts()] == \
                    [share_text(s) if kept else "" for s, kept in zip(shares, unedited)]
            for codes, noise, draw in ((state.codes, state.noise, state.codes_draw),):
                redraw, renoise, _ = _redraw(p, ctx.cond, draw)
                keep = np.array([i not in self.randomised for i in range(n)])
                assert np.array_equal(noise[keep], renoise[keep]), f"noise is not {draw}'s"
                same = np.all(codes[keep] == redraw[keep], axis=0)
                pinned_like = np.all(codes[keep] == codes[keep][:1], axis=0)
                rows_off = [i for i in range(n) if keep[i] and not np.array_equal(codes[i], redraw[i])]
                assert np.all(same | pinned_like), \
                    f"codes are not {draw}'s: columns {np.flatnonzero(~(same | pinned_like))}, rows {rows_off}"
        # 8. a copy asked for has put the result on the clipboard, at the photo's full size
        if self.copied is not None:
            copied = qimage_pixels(QGuiApplication.clipboard().image())
            assert copied.shape == self.copied, (copied.shape, self.copied)
            self.copied = None
        # 8b. a drag's files are the results at their photos' full size
        if self.drag_shapes:
            pictures = self.dragged[-1].pictures
            assert len(pictures) == len(self.drag_shapes)
            for picture, expected in zip(pictures, self.drag_shapes):
                assert picture.wait(), "a dragged result was not rendered"
                assert read_image(picture.path).shape == expected
            self.drag_shapes = []
        # 9. stars: what their sidecars record
        assert sorted(state.stars) == sorted(win.tray.item(r).data(0x0100) for r in range(win.tray.count()))
        if self.held is None:  # a drag render updates the cells only, marks follow the release
            marked = {i for i, code in enumerate(state.grid.codes) for s in state.stars.values()
                      if s.is_sample(ctx.doc, ctx.entry.key, code, state._grid_noise(i))}
            assert win.sampleGrid.starred == marked
        for key, star in state.stars.items():
            sp = state.catalog.cached(star.model.key)
            assert sp is not None and 0 <= star.index < GRID
            mix = getattr(sp, "mixtures", 0)
            assert star.draw.component is None or 0 <= star.draw.component < mix, star.draw
            cond = sp.prepare(star.doc.xc)
            assert star.noise is None or star.noise.shape == (sp.noise_dim,)
            xg = sp.decode(cond, star.code[None], None if star.noise is None else star.noise[None])[0]
            np.testing.assert_allclose(xg, star.xg, atol=1e-5)
            exempt, constant = self.star_rows.get(key, (True, None))
            if getattr(sp, "has_codes", True) and not exempt:
                d = star.draw
                redraw, renoise, _ = _redraw(sp, cond, d)
                differ = star.code != redraw[star.index]
                assert not (differ & ~constant).any(), f"star {key}'s code is not from {d}"
                if star.noise is not None:
                    assert np.array_equal(star.noise, renoise[star.index]), f"star {key}'s noise is not from {d}"


def _redraw(predictor, cond, draw) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """The GRID codes, noise and (distinct draws) shares a Draw stands for, from the library alone."""
    if draw.pool:
        codes, noise, shares = draw_distinct(predictor, cond, GRID, draw.seed, draw.component, draw.temperature,
                                             draw.pool)
        if len(codes) == GRID:
            return codes, noise, shares.astype(np.float32)
    return (*predictor.draw(cond, GRID, draw.seed, draw.component, temperature=draw.temperature), None)


def _run(seed, make_window, settle, qtbot, assets, tmp_path, steps, dragged: list | None = None) -> Harness:
    task = TASKS[seed % len(TASKS)]
    win = make_window(task, assets=assets)
    settle(win)
    h = Harness(win, qtbot, settle, seed, assets, tmp_path, dragged)
    h.check()
    try:
        for _ in range(steps):
            h.step()
        if h.held is not None:
            h.release_slider()
            h.log.append("release slider (end)")
        h.settle_and_check()
    except BaseException:
        print(f"seed {seed}, actions:\n" + "\n".join(h.log))
        if os.environ.get("STUDIO_SEQ_DEBUG"):
            s = h.state
            print("DEBUG", s.image_path, s.ctx.doc.name, s.ctx.entry.key, s.codes_draw, s.drawn_draw,
                  "pinned", np.flatnonzero(s.pinned), "current", s.current, "held", h.held,
                  "grid cells", s.grid.cells.shape, "trace:", *getattr(s, "_trace", []), sep="\n")
        raise
    return h


@pytest.mark.parametrize("seed", SEEDS)
def test_random_action_sequences_keep_the_window_consistent(seed, qtbot, make_window, settle, sequence_assets,
                                                            tmp_path, monkeypatch):
    dragged = []  # the data of each drag out of the grid (Qt's drag loop itself needs a pointer)
    monkeypatch.setattr(drag_out, "run_drag", lambda source, data, shown: dragged.append(data) or True)
    _run(seed, make_window, settle, qtbot, sequence_assets, tmp_path, STEPS, dragged)


# defects the sequences found, one test each -----------------------------------------------------
def _tie_index(win, prefix: str) -> int:
    return next(i for i in range(win.tieCombo.count()) if win.tieCombo.itemText(i).startswith(prefix))


def _grid_is_the_states(win) -> None:
    state, ctx = win.state, win.state.ctx
    np.testing.assert_array_equal(state.grid.codes, state.codes)
    xg = np.asarray(ctx.predictor.decode(ctx.cond, state.codes, state.noise_rows()), np.float32)
    cells = compose_cells(state.task, ctx.doc, xg, ctx.flow_scale, ctx.detail)
    assert np.abs(win.sampleGrid.cell_images().astype(int) - cells.astype(int)).max() <= 1


def test_a_new_seed_or_slider_move_before_the_new_model_lands_ends_on_the_new_model(qtbot, make_window, settle,
                                                                                  sequence_assets):
    """A grid job asked of the old model while the new one loads (a seed, a resample, a slider)
    landed after the new model's context and was shown: the K=4's cells under the Gauss's name,
    with the state holding the Gauss's codes."""
    win = make_window("resaturation", assets=sequence_assets)
    settle(win)
    state = win.state
    win.tieCombo.setCurrentIndex(_tie_index(win, "Gauss"))
    win.seedSpin.setValue(state.seed + 7)  # drawn on the K=4, which is still the context
    settle(win)
    assert state.ctx.entry.name == "Gauss" and state.codes_draw.seed == state.seed == win.seedSpin.value()
    _grid_is_the_states(win)
    ctx = state.ctx
    codes, noise = ctx.predictor.draw(ctx.cond, GRID, state.seed, None, temperature=state.temperature)
    np.testing.assert_array_equal(state.codes, codes)  # the new seed, on the new model
    np.testing.assert_array_equal(state.noise, noise)

    win.tieCombo.setCurrentIndex(_tie_index(win, "MDN K=12"))
    win.codeSliders.slider(3).setValue(250)  # the Gauss's slider, still live
    settle(win)
    assert state.ctx.entry.name == "MDN K=12" and not state.pinned.any()
    _grid_is_the_states(win)


def test_from_the_nearest_neighbour_baseline_to_a_model_with_an_embedding(qtbot, make_window, settle,
                                                                          sequence_assets):
    """The scatter kept the baseline's grid overlay (ranks, one column) when the next model's
    embedding arrived, and drawing it on axes 0 and 1 raised IndexError inside _apply_context:
    the window was left with the new context and the old grid, sliders and model label."""
    win = make_window("resaturation", assets=sequence_assets)
    settle(win)
    win.tieCombo.setCurrentIndex(_tie_index(win, "Nearest neighbour"))
    settle(win)
    assert win.state.codes.shape == (GRID, 1)
    # the baseline has no code to describe (its label read "· D=1, tied 0"); found by its objectName
    assert win.findChild(QLabel, "modelLabel") is win.modelLabel and "D=" not in win.modelLabel.text()
    win.tieCombo.setCurrentIndex(_tie_index(win, "MDN K=4"))
    settle(win)
    state = win.state
    assert state.ctx.entry.name == "MDN K=4" and win.modelLabel.text().startswith("MDN K=4")
    _grid_is_the_states(win)
    scatter = win.lppScatter
    x, y = scatter.samples.getData()
    np.testing.assert_array_equal(x, state.codes[:, 0])
    np.testing.assert_array_equal(y, state.codes[:, 1])


def test_actions_between_a_task_switch_and_its_model_use_the_shown_models_task(qtbot, make_window, settle,
                                                                               sequence_assets):
    """The window's task changes at once, the context (model, image, grid) when the new one
    lands; a render or extras asked in between composed the old context with the new task:
    "preview: PostprocessError: samples must be (n, 2, 32, 32) for motion", a sweep's OpenCV
    error or a grid that failed to render."""
    win = make_window("resaturation", assets=sequence_assets)
    settle(win)
    win.codeSliders.show_sweeps.setChecked(True)
    settle(win)
    win.taskCombo.setCurrentText("motion")
    win.sampleGrid.sampleClicked.emit(3)  # preview, truth, drift, sweeps of the resaturation grid
    win.codeSliders.slider(2).setValue(120)  # a grid render of the resaturation model
    settle(win)
    assert not win.banner.isVisible(), win.banner.text()
    state = win.state
    assert state.ctx.entry.task == state.task_name == "motion"
    _grid_is_the_states(win)
    win.taskCombo.setCurrentText("relighting")
    win.resampleButton.click()  # a draw on the motion model
    win.state.open_example(5)  # an example of the motion model's embedding: not a relighting x_c
    settle(win)
    assert not win.banner.isVisible(), win.banner.text()
    assert state.ctx.entry.task == "relighting" and not state.ctx.doc.key.startswith("example:")
    _grid_is_the_states(win)


def test_motion_sweep_strips_render_with_any_opencv_channel_limit(qtbot, make_window, settle, sequence_assets):
    """upsample_batch resized up to 512 channels per cv2.resize, OpenCV 4's limit; OpenCV 5 takes
    128, and a motion sweep (16 components x 5 steps x 3 colours) failed with "m->dims <= 2"."""
    from cdvae_studio.render import upsample_batch

    layers = np.random.default_rng(0).random((80, 3, 32, 32)).astype(np.float32)
    up = upsample_batch(layers, (28, 19))
    one = np.stack([cv2.resize(x.transpose(1, 2, 0), (28, 19), interpolation=cv2.INTER_LINEAR).transpose(2, 0, 1)
                    for x in layers])
    np.testing.assert_allclose(up, one, atol=1e-5)
    win = make_window("motion", assets=sequence_assets)
    settle(win)
    win.codeSliders.show_sweeps.setChecked(True)
    settle(win)
    assert not win.banner.isVisible(), win.banner.text()
    assert all(not win.codeSliders.sweep_pixmap(i).isNull() for i in range(win.codeSliders.code_dim))


def test_a_session_saved_while_another_model_loads_is_the_shown_grids(qtbot, make_window, settle, sequence_assets,
                                                                      tmp_path):
    """The session took the model (and task) from the toolbar, already the next one's, and the
    code, noise, current sample and draw from the grid still shown: reopened, the old model's
    code was pinned onto a draw of the new one."""
    import json

    win = make_window("resaturation", assets=sequence_assets)
    settle(win)
    state = win.state
    win.sampleGrid.sampleClicked.emit(3)
    settle(win)
    shown = state.ctx.entry.key
    codes, noise = state.codes.copy(), state.noise.copy()
    win.tieCombo.setCurrentIndex(_tie_index(win, "Gauss"))  # loading
    state.save_session(str(tmp_path / "s.json"))
    saved = json.loads((tmp_path / "s.json").read_text())
    assert saved["model"] == shown and saved["task"] == "resaturation"
    settle(win)
    win.taskCombo.setCurrentText("relighting")  # the task too: the grid shown stays resaturation's
    state.save_session(str(tmp_path / "t.json"))
    assert json.loads((tmp_path / "t.json").read_text())["task"] == "resaturation"
    settle(win)
    state.open_session(str(tmp_path / "s.json"))
    settle(win)
    assert state.ctx.entry.key == shown and state.current == 3
    np.testing.assert_array_equal(state.codes, codes)
    np.testing.assert_array_equal(state.noise, noise)
    _grid_is_the_states(win)


def test_a_session_of_the_nearest_neighbour_baseline_reopens_it(qtbot, make_window, settle, sequence_assets,
                                                                tmp_path):
    """A session records the baseline as its pair file, which reopening handed to add_model_dir:
    "session model unavailable" flashed, the session's image load cleared it, and the session
    opened on whichever model was current. A model that is really gone now leaves the window as
    it was, with the error."""
    import json

    win = make_window("resaturation", assets=sequence_assets)
    settle(win)
    state = win.state
    win.tieCombo.setCurrentIndex(_tie_index(win, "Nearest neighbour"))
    settle(win)
    nearest = state.ctx.entry.key
    state.save_session(str(tmp_path / "s.json"))
    data = json.loads((tmp_path / "s.json").read_text())
    assert data["model"].endswith("resaturation.npz")
    win.tieCombo.setCurrentIndex(_tie_index(win, "Gauss"))
    settle(win)
    state.open_session(str(tmp_path / "s.json"))
    settle(win)
    assert not win.banner.isVisible(), win.banner.text()
    assert state.ctx.entry.key == nearest == win.tieCombo.currentData()
    assert win.tieCombo.count() == len(state.catalog.entries("resaturation"))  # no second baseline entry

    data["model"] = str(tmp_path / "gone")  # a model directory deleted since
    (tmp_path / "gone.json").write_text(json.dumps(data))
    win.tieCombo.setCurrentIndex(_tie_index(win, "Gauss"))
    settle(win)
    seed = state.seed
    state.open_session(str(tmp_path / "gone.json"))
    settle(win)
    assert win.banner.isVisible() and "session model unavailable" in win.banner.text()
    assert state.ctx.entry.name == "Gauss" and state.seed == seed and state._restore is None


def test_an_example_clicked_while_a_photo_is_read_stays(qtbot, make_window, settle, sequence_assets):
    """A scatter example opens at once, a photo in the worker: a photo chosen just before the
    example landed after it and replaced it."""
    win = make_window("resaturation", assets=sequence_assets)
    settle(win)
    win.state.open_image(str(sequence_assets / "images" / "photo.png"))
    win.lppScatter.exampleClicked.emit(26)
    settle(win)
    doc = win.state.ctx.doc
    assert doc.key.startswith("example:") and doc.name == "training example #26"
    assert win.state.image_path is None and not win.state._image_pending
    _grid_is_the_states(win)
    win.state.open_image(str(sequence_assets / "images" / "photo.png"))  # and a photo after it wins
    settle(win)
    assert win.state.ctx.doc.name == "photo.png"


def test_a_task_switch_keeps_a_photo_still_being_read(qtbot, make_window, settle, sequence_assets):
    """With a scatter example shown (an x_c of the old task), a task switch opens the gallery's
    first photo; it did so also while a photo the user had just chosen was being read, and that
    photo was lost. Refused, the photo leaves the gallery's first in its place (the example
    cannot stay: it is the old task's)."""
    images = sequence_assets / "images"
    win = make_window("resaturation", assets=sequence_assets)
    settle(win)

    def switch_task_while_reading(photo: str, task: str) -> None:
        win.lppScatter.exampleClicked.emit(26)
        settle(win)
        win.state.open_image(str(images / photo))
        win.taskCombo.setCurrentText(task)  # before the photo has been read
        settle(win)

    switch_task_while_reading("photo.png", "relighting")
    assert win.state.ctx.doc.name == "photo.png" and win.state.ctx.task.name == "relighting"
    _grid_is_the_states(win)
    switch_task_while_reading("bad_tiny.png", "motion")  # an unreadable one: the gallery's first
    first = str(win.imagePanel.gallery.item(0).data(0x0100))
    assert win.state.ctx.doc.source == first and win.state.ctx.task.name == "motion"
    assert "bad_tiny.png is too small" in win.statusBar().currentMessage()
    _grid_is_the_states(win)


def test_a_slider_moved_before_a_redraw_lands_pins_the_new_draw(qtbot, make_window, settle, sequence_assets):
    """A new seed (or temperature, component, resample) draws in the worker; a slider moved
    before that draw landed rendered the old codes in its place, so the draw was lost for good:
    the toolbar showed the new seed over the old samples. The move now pins the new draw, as a
    move after it would; "Full samples" toggled meanwhile keeps the draw too."""
    win = make_window("resaturation", assets=sequence_assets)
    settle(win)
    state = win.state
    win.seedSpin.setValue(state.seed + 11)
    win.codeSliders.slider(4).setValue(150)
    settle(win)
    ctx = state.ctx
    assert state.codes_draw.seed == state.seed == win.seedSpin.value()
    codes, noise = ctx.predictor.draw(ctx.cond, GRID, state.seed, None, temperature=state.temperature)
    codes[:, 4] = 1.5
    np.testing.assert_array_equal(state.codes, codes)
    np.testing.assert_array_equal(state.noise, noise)
    assert state.pinned[4] and [s.value() for s in win.codeSliders._sliders][4] == 150
    _grid_is_the_states(win)
    win.temperatureSpin.setValue(0.5)
    win.lowerCheck.toggle()
    settle(win)
    assert state.codes_draw.temperature == 0.5 and state.lower == win.lowerCheck.isChecked()
    codes, noise = ctx.predictor.draw(ctx.cond, GRID, state.seed, None, temperature=0.5)
    codes[:, 4] = 1.5
    np.testing.assert_array_equal(state.codes, codes)
    _grid_is_the_states(win)


def _save_session_then_reseed(win, settle, path) -> np.ndarray:
    """Pick sample 14, pin component 2 at -1.20, save the session to ``path``, then draw the grid
    with another seed; returns the saved codes (16, D)."""
    win.sampleGrid.sampleClicked.emit(14)
    win.codeSliders.slider(2).setValue(-120)
    settle(win)
    saved = win.state.codes.copy()
    win.state.save_session(str(path))
    win.seedSpin.setValue(win.state.seed + 5)
    settle(win)
    return saved


def test_a_session_restores_onto_its_own_context_only(qtbot, make_window, settle, sequence_assets, tmp_path):
    """The session waiting to be restored went to whichever context landed with no image being
    read: its own context, landing while another photo (refused) was read, left it waiting, and
    the next model picked got the session's code, pins and current sample."""
    win = make_window("resaturation", assets=sequence_assets)
    settle(win)
    state = win.state
    shown = state.ctx.entry.key
    saved = _save_session_then_reseed(win, settle, tmp_path / "s.json")
    submit = state.worker.submit

    def open_a_bad_file_once_the_sessions_context_is_asked(channel, job):
        rid = submit(channel, job)
        if channel == "context" and not state._image_pending and state._restore is not None:
            state.worker.submit = submit
            state.open_image(str(sequence_assets / "images" / "bad_tiny.png"))
        return rid

    state.worker.submit = open_a_bad_file_once_the_sessions_context_is_asked
    state.open_session(str(tmp_path / "s.json"))
    settle(win)
    assert state.worker.submit is submit and "bad_tiny.png" in win.banner.text()
    assert state.ctx.entry.key == shown and state.current == 14 and state.pinned[2]
    np.testing.assert_array_equal(state.codes, saved)
    assert state._restore is None
    win.tieCombo.setCurrentIndex(_tie_index(win, "Gauss"))
    settle(win)
    ctx = state.ctx
    assert state.current == 0 and not state.pinned.any()
    np.testing.assert_array_equal(state.codes, ctx.predictor.draw(ctx.cond, GRID, state.seed, None,
                                                                  temperature=state.temperature)[0])


def test_reset_after_a_resample_with_a_pin_frees_the_pinned_component(qtbot, make_window, settle, sequence_assets,
                                                                       tmp_path):
    """Resample keeps pins, so the new draw's pinned column is the slider's value; "Reset" went
    back to that pinned draw with the pin flag cleared: the column stayed fixed in all 16 samples
    while nothing said it was pinned, and a session saved then reopened fifteen samples with the
    column free (only the current sample's code is saved)."""
    win = make_window("resaturation", assets=sequence_assets)
    settle(win)
    state = win.state
    win.codeSliders.slider(3).setValue(-178)
    settle(win)
    win.seedSpin.setValue(210)  # a new draw, keeping component 3 at -1.78
    settle(win)
    assert np.all(state.codes[:, 3] == np.float32(-1.78))
    win.codeSliders.reset_button.click()
    settle(win)
    ctx = state.ctx
    codes, noise = ctx.predictor.draw(ctx.cond, GRID, 210, None, temperature=state.temperature)
    np.testing.assert_array_equal(state.codes, codes)  # un-pinned: the draw's own component 3
    assert not state.pinned.any()
    _grid_is_the_states(win)
    win.sampleGrid.sampleClicked.emit(1)
    state.save_session(str(tmp_path / "s.json"))
    win.seedSpin.setValue(5)
    settle(win)
    state.open_session(str(tmp_path / "s.json"))
    settle(win)
    np.testing.assert_array_equal(state.codes, codes)  # all 16 samples come back
    _grid_is_the_states(win)


@pytest.mark.parametrize("when", ["while its image is read", "while its context loads"])
def test_a_new_seed_before_a_session_lands_is_drawn_after_it(qtbot, make_window, settle, sequence_assets, tmp_path,
                                                             when):
    """A new seed asked between opening a session and its context landing: the context drew
    with the new seed and put the session's current code among those samples (its draw said the
    new seed), or, asked while the context loaded, the new seed was ignored. The session is now
    restored as saved and the new seed drawn on top of it, keeping the session's pins."""
    win = make_window("resaturation", assets=sequence_assets)
    settle(win)
    state = win.state
    _save_session_then_reseed(win, settle, tmp_path / "s.json")
    if when == "while its context loads":
        submit = state.worker.submit

        def new_seed_once_the_sessions_context_is_asked(channel, job):
            rid = submit(channel, job)
            if channel == "context" and state._restore is not None:
                state.worker.submit = submit
                win.seedSpin.setValue(999)
            return rid

        state.worker.submit = new_seed_once_the_sessions_context_is_asked
        state.open_session(str(tmp_path / "s.json"))
    else:
        state.open_session(str(tmp_path / "s.json"))
        win.seedSpin.setValue(999)
    settle(win)
    ctx = state.ctx
    assert state.codes_draw.seed == 999 == state.seed and state.current == 14 and state.pinned[2]
    codes, noise = ctx.predictor.draw(ctx.cond, GRID, 999, None, temperature=state.temperature)
    codes[:, 2] = -1.2
    np.testing.assert_array_equal(state.codes, codes)
    np.testing.assert_array_equal(state.noise, noise)
    _grid_is_the_states(win)


def test_pins_stay_with_the_grid_shown_until_the_next_image_lands(qtbot, make_window, settle, sequence_assets,
                                                                 tmp_path):
    """A photo that had been read cleared the pins at once, while its context (and the grid of
    the photo before, with those pins) was still loading: a session saved then recorded no pins
    beside a pinned code, and reopened fifteen samples with the pinned component free."""
    win = make_window("resaturation", assets=sequence_assets)
    settle(win)
    state = win.state
    win.sampleGrid.sampleClicked.emit(12)
    win.codeSliders.slider(1).setValue(133)
    settle(win)
    codes, noise = state.codes.copy(), state.noise.copy()
    submit = state.worker.submit

    def save_once_the_photos_context_is_asked(channel, job):
        rid = submit(channel, job)
        if channel == "context":
            state.worker.submit = submit
            state.save_session(str(tmp_path / "s.json"))
        return rid

    state.worker.submit = save_once_the_photos_context_is_asked
    state.open_image(str(sequence_assets / "images" / "photo.png"))
    settle(win)
    assert state.worker.submit is submit and state.ctx.doc.name == "photo.png" and not state.pinned.any()
    state.open_session(str(tmp_path / "s.json"))
    settle(win)
    assert state.ctx.doc.name == "astronaut.png" and state.current == 12 and list(np.flatnonzero(state.pinned)) == [1]
    np.testing.assert_array_equal(state.codes, codes)  # all 16 samples, component 1 pinned in each
    np.testing.assert_array_equal(state.noise, noise)
    _grid_is_the_states(win)


def test_full_samples_toggled_while_a_model_loads_decodes_its_grid_that_way(qtbot, make_window, settle,
                                                                            sequence_assets):
    """The context decodes its first grid in the mode asked with it; "Full samples" toggled
    before it landed left that grid decoded the other way under the checkbox's new state."""
    win = make_window("resaturation", assets=sequence_assets)
    settle(win)
    state = win.state
    assert win.lowerCheck.isChecked()
    win.tieCombo.setCurrentIndex(_tie_index(win, "Gauss"))
    win.lowerCheck.setChecked(False)
    settle(win)
    assert state.ctx.entry.name == "Gauss" and not state.lower and not state.grid.lower
    _grid_is_the_states(win)


def test_settled_waits_for_a_slider_move_still_throttled(qtbot, make_window, settle, sequence_assets):
    """Slider moves reach the renderer throttled to one per frame: a second move within 16 ms
    waits in the throttle. While a slider is held (drag renders start no debounced extras) the
    window counted itself settled in that gap, with the grid still showing the first value."""
    win = make_window("resaturation", assets=sequence_assets)
    settle(win)
    state, slider = win.state, win.codeSliders.slider(5)
    slider.setSliderDown(True)
    settle(win)  # the held axis prefetched
    slider.setValue(100)
    slider.setValue(-100)  # throttled: due in up to 16 ms
    assert not state.is_settled()
    settle(win)
    assert abs(float(state.grid.codes[0, 5]) + 1.0) <= 0.025
    slider.setSliderDown(False)
    settle(win)
    _grid_is_the_states(win)


def test_an_undo_while_a_slider_is_held_never_shows_a_prefetched_grid_of_another_state(qtbot, make_window, settle,
                                                                                      sequence_assets):
    """The prefetched grids pin the held component to a lattice value in every sample, and their
    signature leaves that component out. An undo (or reset, randomise, redraw) while the slider
    was held freed the component again, and the move's render showed the lattice grid of the
    first sample's value: all 16 samples pinned where the state had them free."""
    win = make_window("resaturation", assets=sequence_assets)
    settle(win)
    state, slider = win.state, win.codeSliders.slider(3)
    drawn = state.codes.copy()
    slider.setSliderDown(True)
    settle(win)  # the axis prefetched
    slider.setValue(150)
    settle(win)
    assert np.all(state.grid.codes[:, 3] == np.float32(1.5))
    win.undoAction.trigger()  # component 3 free again, the slider still held
    settle(win)
    np.testing.assert_array_equal(state.codes, drawn)
    np.testing.assert_array_equal(state.grid.codes, drawn)
    slider.setSliderDown(False)
    settle(win)
    _grid_is_the_states(win)


def test_reopening_a_session_of_an_opened_model_keeps_its_stars_exportable(qtbot, make_window, settle,
                                                                            sequence_assets, tmp_path):
    """Reopening a session re-added its model directory to the catalog, which drops the loaded
    model (as for a model retrained into its folder); with another model picked before the
    session's context landed it was never loaded again, and the stars of that model were left
    out of "Export starred" without a word."""
    from cdvae_studio.export_dialog import export_groups

    win = make_window("resaturation", assets=sequence_assets)
    settle(win)
    state = win.state
    state.open_model(str(sequence_assets / "extra" / "opened_mdn12"))
    settle(win)
    opened = state.ctx.entry.key
    state.toggle_star(3)
    state.save_session(str(tmp_path / "s.json"))
    state.open_session(str(tmp_path / "s.json"))
    win.tieCombo.setCurrentIndex(_tie_index(win, "Gauss"))  # before the session's model loads
    settle(win)
    assert state.ctx.entry.name == "Gauss"
    groups = export_groups(state.export_items(), 0)
    assert len(groups) == 1 and groups[0].predictor is state.catalog.cached(opened)
    (star,) = state.stars.values()  # the session's own star, listed again (sessions keep stars)
    np.testing.assert_array_equal(groups[0].codes[0], star.code)


@pytest.mark.parametrize("untied_only", [False, True])
def test_randomise_keeps_the_components_pinned_in_every_sample(qtbot, make_window, settle, sequence_assets,
                                                                tmp_path, untied_only):
    """"Randomise" drew new values for the current sample's pinned components too and cleared
    their pins, while the other fifteen samples kept the pinned value: nothing said the
    component was pinned, and a session saved then reopened those fifteen with it free."""
    win = make_window("relighting", assets=sequence_assets)
    settle(win)
    win.tieCombo.setCurrentIndex(_tie_index(win, "Gauss"))
    settle(win)
    state = win.state
    assert state.ctx.entry.name == "Gauss" and state.ctx.predictor.tied_dims == 13
    pinned = 14 if untied_only else 11  # an untied component; a tied one
    win.codeSliders.slider(pinned).setValue(-392)
    settle(win)
    win.sampleGrid.sampleClicked.emit(4)
    before = state.codes.copy()
    (win.codeSliders.random_untied_button if untied_only else win.codeSliders.random_all_button).click()
    settle(win)
    assert state.pinned[pinned] and np.all(state.codes[:, pinned] == np.float32(-3.92))
    start = 13 if untied_only else 0
    free = [j for j in range(start, 16) if j != pinned]
    assert np.all(state.codes[4, free] != before[4, free])
    np.testing.assert_array_equal(np.delete(state.codes, 4, 0), np.delete(before, 4, 0))
    _grid_is_the_states(win)
    state.save_session(str(tmp_path / "s.json"))
    codes, noise = state.codes.copy(), state.noise.copy()
    win.seedSpin.setValue(state.seed + 3)
    settle(win)
    state.open_session(str(tmp_path / "s.json"))
    settle(win)
    np.testing.assert_array_equal(state.codes, codes)  # all 16 samples come back
    np.testing.assert_array_equal(state.noise, noise)


def test_every_edited_session_reopens_or_says_why_in_one_line(qtbot, make_window, settle, sequence_assets,
                                                              tmp_path):
    """Every key of a saved session deleted or set to null, a string, -1, 0, 1e308, [], {}, true,
    NaN or 2^70 (as tests/test_edited_files.py edits the commands' files; every SPREAD-th edit,
    all with CDVAE_EDITS=all): opening it restores a window whose invariants hold, or refuses it
    in a one-line banner and changes nothing."""
    import json

    from helpers import SPREAD, edits

    win = make_window("resaturation", assets=sequence_assets)
    settle(win)
    state = win.state
    h = Harness(win, qtbot, settle, 0, sequence_assets, tmp_path)
    win.tieCombo.setCurrentIndex(_tie_index(win, "MDN K=4"))
    state.open_image(str(sequence_assets / "images" / "photo.png"))
    settle(win)
    win.codeSliders.component_combo.setCurrentIndex(2)
    win.temperatureSpin.setValue(0.5)
    win.distinctAction.trigger()
    settle(win)
    h.sliders()[1].setValue(150)  # an edited code, its component pinned
    settle(win)
    state.save_session(str(tmp_path / "base.json"))
    base = json.loads((tmp_path / "base.json").read_text())
    assert base["pinned"] == [1] and base["component"] == 1 and base["distinct_pool"] > 0 and base["noise"]
    cases = edits(base)
    assert len(cases) >= 143 // SPREAD
    for n, (path, value, edited) in enumerate(cases):
        (tmp_path / f"edited_{n}.json").write_text(json.dumps(edited))
        shown = (state.task_name, state.entry.key, state.seed, state.temperature, state.codes.copy())
        state.open_session(str(tmp_path / f"edited_{n}.json"))
        settle(win)
        case = (path, value, n)
        text = win.banner.text() if win.banner.isVisible() else ""
        assert "\n" not in text, (case, text)
        if text.startswith("Cannot open "):  # the session's image is gone: restored onto the one shown
            h.randomised.add(state.current)
            win.clear_error("image")
        elif text:  # refused: nothing changed
            assert text.startswith(f"edited_{n}.json") or "session" in text, (case, text)
            assert shown[:4] == (state.task_name, state.entry.key, state.seed, state.temperature), case
            np.testing.assert_array_equal(state.codes, shown[4], err_msg=str(case))
            win.clear_error("session")
        elif edited.get("image") is not None:
            h.expected_image = ("path", edited["image"])
        else:  # a scatter example's session: its current code restored among the image shown's draw
            h.randomised.add(state.current)
        try:
            h.check()
        except AssertionError as exc:
            raise AssertionError(f"after {case}: {exc}") from exc

"""``exportDialog``: write starred or chosen samples at full resolution, or a folder in batch.

Rendering and writing are the post-processing module's ``iter_export`` (atomic files, a JSON
sidecar per result that reproduces it). The dialog groups the chosen samples by (model, photo),
chains one ``iter_export`` per group into a single generator and runs it in a ``JobRunner``;
Cancel closes it between two results.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Generator

import numpy as np
from PySide6.QtWidgets import QComboBox, QFormLayout, QLabel, QSpinBox, QWidget

from .job_dialog import JobDialog, PathField
from .worker import JobRunner

WHAT = ("Starred samples", "Current sample", "Whole grid", "Batch: a folder of images")
FORMATS = ("png", "jpg", "png16")


def export_groups(items: dict[str, Any], what: int) -> list[tuple[Any, Any, np.ndarray, np.ndarray | None]]:
    """(predictor, image (path or uint8 (H, W, 3)), codes (n, D), lower-layer noise (n, E) or None
    (decoded at the lower layers' means)) per group to export: each result as it was shown."""
    ctx = items.get("ctx")
    if what == 0:
        groups: dict[tuple[str, str, bool], tuple[Any, Any, list[np.ndarray], list[np.ndarray]]] = {}
        for star in items.get("stars", []):
            source = star.doc.source if star.doc.source else star.doc.rgb
            key = (star.model.key, star.doc.key, star.noise is None)
            predictor = items["predictors"].get(star.model.key)
            if predictor is None:
                continue
            group = groups.setdefault(key, (predictor, source, [], []))
            group[2].append(star.code)
            if star.noise is not None:
                group[3].append(star.noise)
        return [(p, s, np.stack(c), np.stack(n) if n else None) for p, s, c, n in groups.values()]
    if ctx is None or items.get("grid") is None:
        return []
    source = ctx.doc.source if ctx.doc.source else ctx.doc.rgb
    codes = np.asarray(items["grid"].codes, np.float32)
    rows = items.get("noise") or [None] * len(codes)
    chosen = [items["current"]] if what == 1 else list(range(len(codes)))
    noise = None if any(rows[i] is None for i in chosen) else np.stack([rows[i] for i in chosen])
    return [(ctx.predictor, source, codes[chosen], noise)]


def export_job(groups: list[tuple[Any, Any, np.ndarray, np.ndarray | None]], outdir: str,
               fmt: str) -> Generator[Any, None, int]:
    """Chain iter_export over the groups, renumbering progress across them; returns files written."""
    from cdvae_core.postprocess.export import ExportReport, iter_export
    from cdvae_core.progress import Progress

    total = sum(len(g[2]) for g in groups)
    report = ExportReport()
    base = 0
    for predictor, source, codes, noise in groups:
        # numbered on across groups: two groups of one photo (two models, or full and means-decoded
        # samples) must not overwrite each other's files
        for p in iter_export(predictor, [source], len(codes), outdir, fmt=fmt, codes=codes, noise=noise,
                             report=report, first_index=base):
            yield Progress("export", base + p.done, total, p.message, p.values)
        base += len(codes)
    if report.failed:
        raise ValueError("; ".join(f"{name}: {why}" for name, why in report.failed))
    return len(report.results)


def batch_job(predictor: Any, folder: str, n: int, seed: int, outdir: str, fmt: str,
              temperature: float = 1.0, lower: bool = True) -> Generator[Any, None, int]:
    from cdvae_core.postprocess.export import ExportReport, ExportSettings, iter_export
    from cdvae_core.postprocess.imagefiles import list_images

    images = list_images(folder)
    if not images:
        raise ValueError(f"no images in {folder}")
    report = ExportReport()
    yield from iter_export(predictor, images, n, outdir, seed=seed, fmt=fmt, report=report,
                           settings=ExportSettings(temperature=temperature, lower_layers=lower))
    return len(report.results)


class ExportDialog(JobDialog):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, "export", "Export results", "Export")
        self.resize(560, 300)
        self.items: dict[str, Any] = {}
        self.provider: Callable[[], dict[str, Any]] | None = None  # the window's current items, read at start
        self.written = 0
        self.what = QComboBox()
        self.what.setObjectName("exportWhat")
        self.what.addItems(list(WHAT))
        self.fmt = QComboBox()
        self.fmt.setObjectName("exportFormat")
        self.fmt.addItems(list(FORMATS))
        self.folder = PathField(True, "Export folder")
        self.folder.edit.setObjectName("exportFolder")
        self.batch_folder = PathField(True, "Folder of images to export")
        self.batch_folder.edit.setObjectName("exportBatchFolder")
        self.batch_n = QSpinBox()
        self.batch_n.setRange(1, 1000)
        self.batch_n.setValue(8)
        self.summary = QLabel("")
        form = QFormLayout()
        form.addRow("Export", self.what)
        form.addRow("", self.summary)
        form.addRow("Batch: images from", self.batch_folder)
        form.addRow("Batch: results per image", self.batch_n)
        form.addRow("Format", self.fmt)
        form.addRow("Into folder", self.folder)
        self._lay_out(form)
        self.what.currentIndexChanged.connect(self._what_changed)
        self._what_changed(0)

    def refresh(self, items: dict[str, Any], keep_choice: bool = False) -> None:
        """New state from the window: starred samples, the grid, the current model and image.
        Without stars the choice moves from "starred" to "current" unless ``keep_choice``."""
        self.items = items
        stars = len(items.get("stars", []))
        if stars == 0 and self.what.currentIndex() == 0 and not keep_choice:
            self.what.setCurrentIndex(1)
        self._what_changed(self.what.currentIndex())

    def _what_changed(self, index: int) -> None:
        batch = index == 3
        self.batch_folder.setEnabled(batch)
        self.batch_n.setEnabled(batch)
        stars = len(self.items.get("stars", []))
        grid = self.items.get("grid")
        counts = {0: f"{stars} starred sample(s)", 1: "the current sample",
                  2: f"{0 if grid is None else len(grid.codes)} samples of the grid",
                  3: "n results for every image of a folder, with the current model"}
        self.summary.setText(counts[index])

    def start(self) -> None:
        if self.running():
            return
        if self.provider is not None:
            self.refresh(self.provider(), keep_choice=True)  # what is starred now, not when the dialog opened
        outdir, fmt, what = self.folder.text(), self.fmt.currentText(), self.what.currentIndex()
        if not outdir:
            self.status.setText("Choose a folder to export into.")
            return
        if what == 3:
            ctx = self.items.get("ctx")
            folder = self.batch_folder.text()
            if ctx is None or not folder:
                self.status.setText("Batch export needs a loaded model and a folder of images.")
                return
            n, seed, predictor = self.batch_n.value(), int(self.items.get("seed", 0)), ctx.predictor
            temperature, lower = float(self.items.get("temperature", 1.0)), bool(self.items.get("lower", True))
            factory = lambda: batch_job(predictor, folder, n, seed, outdir, fmt, temperature, lower)  # noqa: E731
        else:
            groups = export_groups(self.items, what)
            if any(not getattr(g[0], "has_codes", True) for g in groups):
                self.status.setText("The nearest-neighbour baseline cannot be exported with sidecars; pick a model.")
                return
            if not groups:
                self.status.setText("Nothing to export: star samples (right-click in the grid) or pick another option.")
                return
            factory = lambda: export_job(groups, outdir, fmt)  # noqa: E731
        self._launch(JobRunner(factory, name="cdvae-export"), "Exporting…")

    def _show_result(self, status: str, payload: object) -> None:
        if status == "done":
            self.written = int(payload or 0)
            self.status.setText(f"Wrote {self.written} result(s) with sidecars to {Path(self.folder.text())}.")
        elif status == "cancelled":
            self.status.setText("Export cancelled; files already written are complete.")
        else:
            self.status.setText(f"Export failed: {payload}")

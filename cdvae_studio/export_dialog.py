"""``exportDialog``: write starred or chosen samples at full resolution, or a folder in batch.

Rendering and writing are the post-processing module's ``iter_export`` (atomic files, a JSON
sidecar per result that reproduces it). The dialog groups the chosen samples by (model, photo,
with or without lower-layer noise, the draw they came from: seed, temperature and MDN component,
``jobs.Draw``), chains one ``iter_export`` per group into a single generator and runs it in a
``JobRunner``; Cancel closes it between two results. Each group passes its draw's seed,
``ExportSettings.temperature`` and ``ExportSettings.component`` and each sample's grid position
(``sample_indices``), so a sidecar says how and where its code was drawn (the codes are given:
nothing is redrawn). The export folder is checked before anything
starts (``unwritable_reason``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Generator, NamedTuple

import numpy as np
from PySide6.QtCore import QSettings, QStandardPaths, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QComboBox, QFormLayout, QLabel, QMessageBox, QPushButton, QSpinBox, QWidget

from .job_dialog import JobDialog, PathField
from .worker import JobRunner

WHAT = ("Starred samples", "Current sample", "Whole grid", "Batch: a folder of images")
FORMATS = ("png", "jpg", "png16")
SKIPPED_SHOWN = 5  # unreadable images of a batch named in the status line (the tooltip names all)
FOLDER_KEY = "exportFolder"  # QSettings: the folder the last export went into
FORMAT_KEY = "exportFormat"  # QSettings: the format the last export was written in
NO_BASELINE_EXPORT = ("The nearest-neighbour baseline cannot be exported with sidecars; pick a model "
                      "(Ctrl+C copies the current result).")


def default_export_folder(settings: QSettings | None) -> str:
    """The folder the last export went into, else "CDVAE Studio" in the user's Pictures folder
    (their home where there is none): created when the first export writes into it."""
    last = str(settings.value(FOLDER_KEY, "")) if settings is not None else ""
    if last:
        return last
    pictures = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.PicturesLocation)
    base = Path(pictures) if pictures and Path(pictures).is_dir() else Path.home()
    return str(base / "CDVAE Studio")


class Group(NamedTuple):
    """One ``iter_export`` call: samples of one photo and model from one draw, decoded one way."""

    predictor: Any
    source: Any  # the photo: its path, or uint8 (H, W, 3)
    codes: np.ndarray  # (n, D)
    noise: np.ndarray | None  # (n, E) lower-layer noise, or None: decoded at the lower layers' means
    draw: Any  # jobs.Draw: the seed, temperature and MDN component the codes and noise were drawn with
    cells: list[int]  # the grid position of each code (0-based; the tray's "#k" is k - 1)
    shares: list[float | None]  # each distinct result's share of the draw's pool (None: none shown)


def export_groups(items: dict[str, Any], what: int) -> list[Group]:
    """The ``iter_export`` calls that write the chosen samples (0: starred, 1: current, 2: the
    grid) as they were shown, their sidecars saying how and where each was drawn."""
    ctx = items.get("ctx")
    if what == 0:
        predictors = items["predictors"]
        draws: dict[tuple, list[Any]] = {}
        for star in items.get("stars", []):
            if star.predictor_key() in predictors:
                # a sidecar records one draw (seed, temperature, component) per call: other draws
                # are other calls
                key = (star.model.key, star.doc.key, star.noise is None, star.draw)
                draws.setdefault(key, []).append(star)
        groups = []
        for stars in draws.values():
            first = stars[0]
            noise = None if first.noise is None else np.stack([s.noise for s in stars])
            groups.append(Group(predictors[first.predictor_key()], first.doc.photo, np.stack([s.code for s in stars]),
                                noise, first.draw, [s.index for s in stars], [s.share for s in stars]))
        return groups
    grid = items.get("grid")
    if ctx is None or grid is None:
        return []
    codes = np.asarray(grid.codes, np.float32)
    rows = items.get("noise") or [None] * len(codes)
    chosen = [items["current"]] if what == 1 else list(range(len(codes)))
    noise = None if any(rows[i] is None for i in chosen) else np.stack([rows[i] for i in chosen])
    shares = items.get("shares") or [None] * len(codes)
    return [Group(ctx.predictor, ctx.doc.photo, codes[chosen], noise, grid.draw, chosen, [shares[i] for i in chosen])]


def source_stems(sources: list[Any], dedupe: bool = False) -> list[str]:
    """The file stems ``iter_export`` names its results by (``result_stem``); each source its own
    call, or with ``dedupe`` one call over all of them, where equal stems get a trailing _."""
    from cdvae_core.postprocess.export import result_stem

    stems: list[str] = []
    for index, source in enumerate(sources):
        stem = result_stem(source, index if dedupe else 0)
        while dedupe and stem in stems:
            stem += "_"
        stems.append(stem)
    return stems


def export_job(groups: list[Group], outdir: str,
               fmt: str, first_index: int = 0) -> Generator[Any, None, tuple[int, list[tuple[str, str]]]]:
    """Chain iter_export over the groups, renumbering progress across them; returns (files
    written, []) (a photo that fails here is an error: the user picked these samples)."""
    from cdvae_core.postprocess.export import ExportError, ExportReport, iter_export
    from cdvae_core.progress import Progress

    total = sum(len(g.codes) for g in groups)
    report = ExportReport()
    base = 0
    for g in groups:
        # numbered on across groups: two groups of one photo (two models, or full and means-decoded
        # samples) must not overwrite each other's files. The codes are given, so the draw's seed,
        # temperature and component draw nothing here; they make the sidecar say what the codes
        # were drawn from
        for p in iter_export(g.predictor, [g.source], len(g.codes), outdir, g.draw.seed, fmt, codes=g.codes,
                             noise=g.noise, settings=g.draw.export_settings(), report=report,
                             first_index=first_index + base, sample_indices=g.cells, shares=g.shares):
            yield Progress("export", base + p.done, total, p.message, p.values)
        base += len(g.codes)
    if report.failed:
        raise ExportError("; ".join(f"{name}: {why}" for name, why in report.failed))
    return len(report.results), []


def batch_pool(pool: int, n: int) -> int:
    """The pool a batch export of n results per image draws from: ``pool`` (the grid's Distinct
    results) when it holds more than n draws, else 0, plain draws (n of n would all be kept)."""
    return pool if pool > n else 0


def batch_job(predictor: Any, folder: str, n: int, seed: int, outdir: str, fmt: str,
              temperature: float = 1.0, lower: bool = True, first_index: int = 0,
              component: int | None = None, pool: int = 0) -> Generator[Any, None, tuple[int, list[tuple[str, str]]]]:
    """n results per image of ``folder``, drawn from MDN ``component`` (None: the whole mixture),
    the n most distinct of ``pool`` draws where it is above n; returns (files written, [(image,
    why it was skipped)])."""
    from cdvae_core.postprocess.export import ExportReport, ExportSettings, iter_export
    from cdvae_core.postprocess.imagefiles import list_images

    images = list_images(folder)
    if not images:
        raise ValueError(f"no images in {folder}")
    report = ExportReport()
    yield from iter_export(predictor, images, n, outdir, seed=seed, fmt=fmt, report=report, first_index=first_index,
                           settings=ExportSettings(temperature=temperature, lower_layers=lower,
                                                   component=component, distinct_pool=batch_pool(pool, n)))
    return len(report.results), list(report.failed)


class ExportDialog(JobDialog):
    def __init__(self, parent: QWidget | None = None, settings: QSettings | None = None) -> None:
        super().__init__(parent, "export", "Export results", "Export")
        self.settings = settings
        self.resize(560, 300)
        self.items: dict[str, Any] = {}
        self.provider: Callable[[], dict[str, Any]] | None = None  # the window's current items, read at start
        self.written = 0
        self.failed: list[tuple[str, str]] = []  # (image, reason) a batch skipped
        self._baseline_skipped = 0  # stars of the nearest-neighbour baseline a starred export left out
        self.what = QComboBox()
        self.what.setObjectName("exportWhat")
        self.what.addItems(list(WHAT))
        self.fmt = QComboBox()
        self.fmt.setObjectName("exportFormat")
        self.fmt.addItems(list(FORMATS))
        # the last export's format, as its folder: a user exporting jpg picked it again every session
        last_format = str(settings.value(FORMAT_KEY, "")) if settings is not None else ""
        if last_format in FORMATS:
            self.fmt.setCurrentText(last_format)
        self.folder = PathField(True, "Export folder")
        self.folder.edit.setObjectName("exportFolder")
        self.folder.edit.setText(default_export_folder(settings))
        self.batch_folder = PathField(True, "Folder of images (and videos: their first frame) to export")
        self.batch_folder.edit.setObjectName("exportBatchFolder")
        self.batch_n = QSpinBox()
        self.batch_n.setRange(1, 1000)
        self.batch_n.setValue(8)
        self.summary = QLabel("")
        # wrapped: the batch choice's long line widened the dialog under the pointer, moving Export
        self.summary.setWordWrap(True)
        form = QFormLayout()
        form.addRow("Export", self.what)
        form.addRow("", self.summary)
        form.addRow("Batch: images from", self.batch_folder)
        form.addRow("Batch: results per image", self.batch_n)
        form.addRow("Format", self.fmt)
        form.addRow("Into folder", self.folder)
        # the finished export's folder in the system's file manager: where the user goes next
        self.open_folder_button = QPushButton("Open folder")
        self.open_folder_button.setAutoDefault(False)
        self.open_folder_button.setObjectName("exportOpenFolder")
        self.open_folder_button.setEnabled(False)
        self.open_folder_button.clicked.connect(self.open_folder)
        self._written_to = ""  # the folder of the export that ran last
        self._refusal = ""  # why the last Export press did not start (cleared as the choice changes)
        self._lay_out(form, extra_buttons=(self.open_folder_button,))
        self.what.currentIndexChanged.connect(self._what_changed)
        self.batch_n.valueChanged.connect(lambda _n: self._what_changed(self.what.currentIndex()))
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
        if not self.running() and self._refusal and self.status.text() == self._refusal:
            self.status.setText("Ready.")  # why the last try did not start: another choice now
        self._refusal = ""
        batch = index == 3
        self.batch_folder.setEnabled(batch)
        self.batch_n.setEnabled(batch)
        stars = len(self.items.get("stars", []))
        grid = self.items.get("grid")
        ctx = self.items.get("ctx")
        photo = "" if ctx is None else f" of {ctx.doc.title}"  # which sample of what: it read "the current sample"
        counts = {0: f"{stars} starred sample(s)",
                  1: "the current sample" if grid is None else f"sample #{self.items.get('current', 0) + 1}{photo}",
                  2: f"{0 if grid is None else len(grid.codes)} samples of the grid{photo}",
                  3: f"{self.batch_n.value()} result(s) for every image or video of a folder, with the current model"
                     + ("" if self.items.get("component") is None
                        else f", MDN component {self.items['component']}")
                     + (f", the most distinct of {self.items['pool']} draws"
                        if batch_pool(self.items.get("pool", 0), self.batch_n.value()) else "")}
        self.summary.setText(counts[index])

    def start(self) -> None:
        if self.running():
            return
        self._baseline_skipped = 0
        if self.provider is not None:
            self.refresh(self.provider(), keep_choice=True)  # what is starred now, not when the dialog opened
        outdir, fmt, what = self.folder.text(), self.fmt.currentText(), self.what.currentIndex()
        if not outdir:
            self._refuse("Choose a folder to export into.")
            return
        from cdvae_core.atomic import unwritable_reason

        # before anything starts: an unwritable folder (under a file, /proc) used to surface only
        # as the job's failure. One temporary file in the nearest existing folder, creating
        # nothing: as cheap as the listing _first_index does on this thread anyway
        why = unwritable_reason(outdir)
        if why is not None:
            self._refuse(f"Cannot export: {outdir} {why}. Nothing was written.")
            return
        if what == 3:
            ctx = self.items.get("ctx")
            folder = self.batch_folder.text()
            if ctx is None:
                self._refuse("Batch export needs a loaded model: choose one in the window's Model list.")
                return
            if not folder:
                self._refuse("Choose the folder of images (and videos) to export from.")
                return
            if not getattr(ctx.predictor, "has_codes", True):  # it failed on the photo's own code (no encoder)
                self._refuse(NO_BASELINE_EXPORT)
                return
            from cdvae_core.postprocess.imagefiles import list_images

            try:
                stems = source_stems(list(list_images(folder)), dedupe=True)
            except ValueError as exc:  # ExportError: not a folder
                self._refuse(f"Export failed: {exc}")
                return
            first = self._first_index(outdir, stems)
            if first is None:
                return
            n, seed, predictor = self.batch_n.value(), int(self.items.get("seed", 0)), ctx.predictor
            temperature, lower = float(self.items.get("temperature", 1.0)), bool(self.items.get("lower", True))
            component, pool = self.items.get("component"), int(self.items.get("pool", 0))
            factory = lambda: batch_job(predictor, folder, n, seed, outdir, fmt, temperature, lower,  # noqa: E731
                                        first, component, pool)
        else:
            groups = export_groups(self.items, what)
            exportable = [g for g in groups if getattr(g.predictor, "has_codes", True)]
            if groups and not exportable:
                self._refuse(NO_BASELINE_EXPORT)
                return
            # stars of the baseline among others: the others are written (all of them were refused)
            self._baseline_skipped = sum(len(g.codes) for g in groups) - sum(len(g.codes) for g in exportable)
            groups = exportable
            if not groups:
                self._refuse("Nothing to export: star samples (right-click in the grid) or pick another option.")
                return
            first = self._first_index(outdir, source_stems([g.source for g in groups]))
            if first is None:
                return
            factory = lambda: export_job(groups, outdir, fmt, first)  # noqa: E731
        self._written_to = outdir
        if self.settings is not None:
            self.settings.setValue(FOLDER_KEY, outdir)  # proposed again next time, in this session or the next
            self.settings.setValue(FORMAT_KEY, fmt)
        self.open_folder_button.setEnabled(False)
        self._launch(JobRunner(factory, name="cdvae-export"), "Exporting…")

    def open_folder(self) -> None:
        """Show the last export's folder in the system's file manager."""
        if not QDesktopServices.openUrl(QUrl.fromLocalFile(str(Path(self._written_to).absolute()))):
            self.status.setText(f"Could not open a file manager; the results are in {Path(self._written_to)}.")

    def _first_index(self, outdir: str, stems: list[str]) -> int | None:
        """The number the new files start from: 0, or past earlier results of the same photos in
        ``outdir`` (asked; every export of one photo starts at _000, so a second export into the
        same folder used to replace the first one's files without a word). None: cancelled."""
        from cdvae_core.postprocess.export import existing_results, remove_results

        count, top = existing_results(outdir, stems)
        if not count:
            return 0
        box = QMessageBox(QMessageBox.Icon.Question, "Files already exist",
                          f"{outdir} already holds {count} exported result(s) of "
                          f"{', '.join(sorted(set(stems))[:3])}{' …' if len(set(stems)) > 3 else ''} "
                          f"(up to number {top:03d}).", parent=self)
        box.setObjectName("exportExistsBox")
        keep = box.addButton(f"Keep them, number from {top + 1:03d}", QMessageBox.ButtonRole.AcceptRole)
        replace = box.addButton("Replace them", QMessageBox.ButtonRole.DestructiveRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(keep)
        box.exec()
        clicked = box.clickedButton()
        if clicked is keep:
            return top + 1
        if clicked is replace:
            # all of them: writing from _000 again left those past the new count behind, numbered
            # on as if they were of this export
            try:
                remove_results(outdir, stems)
            except OSError as exc:
                self._refuse(f"Cannot replace the earlier results: {exc}. Nothing was written.")
                return None
            return 0
        self._refuse("Export cancelled; nothing was written.")
        return None

    def _refuse(self, text: str) -> None:
        """Say why an export did not start; the line goes once the choice changes."""
        self._refusal = text
        self.status.setText(text)
        self.progress.setValue(0)  # nothing ran: not the last export's full bar

    def _show_result(self, status: str, payload: object) -> None:
        if status == "done":
            written, failed = payload if isinstance(payload, tuple) else (payload, [])
            self.written, self.failed = int(written or 0), list(failed)
            # the export's own folder: the field may have been edited while it ran
            text = f"Wrote {self.written} result(s) with sidecars to {Path(self._written_to)}."
            if self._baseline_skipped:
                text += (f" Left out {self._baseline_skipped} star(s) of the nearest-neighbour baseline, which has no "
                         "code for a sidecar (Ctrl+C copies its result).")
            skipped = [f"{Path(name).name} ({why})" for name, why in self.failed]
            if skipped:  # a batch skips unreadable images: say which, not just a smaller count
                # the first few: 200 names squashed the form and ran off the dialog; all in the tooltip
                more = len(skipped) - SKIPPED_SHOWN
                text += (f" Skipped {len(skipped)} image(s) that could not be read: "
                         + "; ".join(skipped[:SKIPPED_SHOWN]) + (f"; and {more} more (all in this line's tooltip)"
                                                                   if more > 0 else ""))
            self.status.setText(text)
            self.status.setToolTip("\n".join(skipped))
            self.open_folder_button.setEnabled(self.written > 0)
        elif status == "cancelled":
            self.status.setText("Export cancelled; files already written are complete.")
            self.open_folder_button.setEnabled(Path(self._written_to).is_dir())
        else:
            self.status.setText(f"Export failed: {payload}")

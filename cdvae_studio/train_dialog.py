"""``trainDialog``: train a model from the app, off the GUI thread, with live loss curves.

The job is one generator: make pairs (``cdvae_core.data.prepare.prepare_pairs``) or read a pair
file, then ``cdvae_core.training.train``; a ``ProcessJobRunner`` drives it in a spawned process
(its progress comes back through a queue), so training never holds the GUI's GIL. Cancel
closes the generator between steps: the trainer keeps the last epoch's checkpoint, which
"Resume" continues. When training finishes the model is offered in tieCombo. The job, and what
the dialog reads of a run's folder, are Qt-free, in training_job.py: the spawned process
imports that module, not the widgets. The loss curves and their term list are a widget of their
own, ``widgets.loss_plot.LossPlot``: the dialog hands it the train stage's records.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, NamedTuple

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QFormLayout, QLabel, QSpinBox, QWidget

from .catalog import TASKS
from .job_dialog import JobDialog, PathField, eta_suffix, format_eta
from .prefs import data_folder
from .training_job import (Trained, dialog_controls, logged_curves, resumed_configs, saved_progress, skipped_note,
                           training_job)
from .widgets.loss_plot import CURVES_PER_REFRESH, LossPlot
from .worker import ProcessJobRunner

SOURCES = ("Built-in photos", "Folder of images or videos", "COCO", "UCF101", "Pair file (.npz)")
BUILTIN_MOTION_SOURCE = "Built-in clips (photos and procedural scenes)"  # SOURCES[0]'s name for motion


class SourcePath(NamedTuple):
    """One path a source needs: its label, and whether Browse asks for a folder or a file (pattern)."""

    label: str
    folder: bool
    pattern: str = ""


PAIR_SOURCE = SOURCES.index("Pair file (.npz)")
COCO_SOURCE = SOURCES.index("COCO")  # photos only: no motion pairs (two frames of a video) in it
UCF101_SOURCE = SOURCES.index("UCF101")
PHOTO_TASK = "resaturation"  # the task the form switches to where motion cannot be trained
# index in SOURCES -> the paths it needs (first and second field; None: not shown)
SOURCE_PATHS: dict[int, tuple[SourcePath | None, SourcePath | None]] = {
    1: (SourcePath("Folder", True), None),
    2: (SourcePath("Images folder", True), SourcePath("Annotations JSON", False, "COCO annotations (*.json)")),
    3: (SourcePath("Videos folder", True), SourcePath("Splits folder", True)),
    PAIR_SOURCE: (SourcePath("Pair file", False, "Pair files (*.npz)"), None),
}


def models_root() -> Path:
    """Where the form proposes to keep trained models: "models" in the app's data folder
    (``~/.local/share/CDVAE/CDVAE Studio`` on Linux, Application Support on macOS, AppData on
    Windows). It was the temp dir, which a reboot empties: the model went, and the Studio
    forgot it without a word."""
    return data_folder() / "models"


def default_out_dir(task: str) -> str:
    """A new folder under models_root() for a run of ``task`` (never one that already exists),
    named by the local date and time: "resaturation-2026-11-28-0419", as the Model list shows it
    ("Gauss (trained here · resaturation-2026-11-28-0419)"; it was the Unix time, 1795839679)."""
    root = models_root()
    stamp = time.strftime("%Y-%m-%d-%H%M")
    out, n = root / f"{task}-{stamp}", 1
    while out.exists():
        n += 1
        out = root / f"{task}-{stamp}-{n}"
    return str(out)


def task_item_count(task: str) -> int:
    """The item limit the form proposes for ``task``: the command line's built-in default."""
    from cdvae_core.data.folders import default_item_count
    from cdvae_core.tasks import get_task

    return default_item_count(get_task(task).needs_video)


class TrainDialog(JobDialog):
    """Signals: modelTrained(str model_dir)."""

    modelTrained = Signal(str)
    STOP_WAIT_MS = 120_000
    CANCEL_MESSAGE = "Stopping after the current step…"

    def __init__(self, parent: QWidget | None = None, task: str = "resaturation", settings: Any = None) -> None:
        super().__init__(parent, "train", "Train a model", "Train")
        self.settings = settings  # QSettings: the last run's form is proposed again (None: not kept)
        self.resize(760, 640)
        self._out_dir = ""
        self._run_task = ""  # the task of the run started last

        self.source = QComboBox()
        self.source.setObjectName("trainSource")
        self.source.addItems(list(SOURCES))
        self.path_a = PathField(True, "Folder")
        self.path_b = PathField(False, "Annotations / splits")
        self.path_a_label, self.path_b_label = QLabel("Folder"), QLabel("Annotations")
        from cdvae_core.data.ucf101 import SPLITS

        self.split = QComboBox()  # UCF101's official split (its three train/test lists)
        self.split.setObjectName("trainSplit")
        self.split.addItems([str(n) for n in SPLITS])
        self.split.setToolTip("Which of UCF101's three official train/test splits (trainlist0N.txt, testlist0N.txt)")
        self.split_label = QLabel("Split")
        self.limit = QSpinBox()
        self.limit.setRange(10, 1_000_000)
        self.limit.setSingleStep(1000)
        # the command line's built-in default for the task (motion needs 4x the photo tasks' items
        # to follow the frame), while the user has not typed another; _suggest_for_task sets it
        self._auto_limit = self.limit.value()
        self.limit.setToolTip("At most this many items (crops, images or clips) from the source. Proposed: "
                              "6,000 for the photo tasks, 24,000 for motion, whose models need that many "
                              "clips to follow the frame; fewer train faster")
        self.task = QComboBox()
        self.task.setObjectName("trainTask")
        self.task.addItems(list(TASKS))
        self.task.setCurrentText(task)
        self.arch = QComboBox()
        self.arch.addItems(["cdvae", "cvae"])
        self.tie = QComboBox()
        self.tie.setObjectName("trainTie")
        self.tie.addItems(["gauss", "mdn", "none"])
        self.mixtures = QSpinBox()
        self.mixtures.setRange(1, 32)
        self.mixtures.setValue(4)
        self.layers = QSpinBox()
        self.layers.setRange(1, 5)
        self.layers.setValue(3)
        self.layers.setToolTip("Latent layers L (1 with a Gaussian tie is the paper's Shallow CDVAE)")
        self.epochs = QSpinBox()
        self.epochs.setObjectName("trainEpochs")
        self.epochs.setRange(1, 10_000)
        self.epochs.setValue(40)
        self.batch = QSpinBox()
        self.batch.setRange(1, 4096)
        self.batch.setValue(64)
        self.out = PathField(True, "Output folder")
        self.out.edit.setObjectName("trainOut")
        self._auto_out = self.out.text()  # the suggested folder, while the user has not typed another
        self.resume = QCheckBox("Resume from the output folder's checkpoint")

        form = QFormLayout()
        form.addRow("Source", self.source)
        form.addRow(self.path_a_label, self.path_a)
        form.addRow(self.path_b_label, self.path_b)
        form.addRow(self.split_label, self.split)
        form.addRow("Item limit", self.limit)
        form.addRow("Task", self.task)
        form.addRow("Architecture", self.arch)
        form.addRow("Tie", self.tie)
        form.addRow("MDN components K", self.mixtures)
        form.addRow("Latent layers", self.layers)
        form.addRow("Epochs", self.epochs)
        form.addRow("Batch size", self.batch)
        form.addRow("Output folder", self.out)
        form.addRow("", self.resume)

        self.loss_plot = LossPlot()
        # its pyqtgraph plot and term list, as the dialog's own ("trainPlot", "trainTerms")
        self.plot, self.terms = self.loss_plot.plot, self.loss_plot.terms
        self._lay_out(form, self.loss_plot)

        self._typed: dict[int, tuple[str, str]] = {}  # source index -> its two path fields' texts
        self._source_index: int | None = None
        self.source.currentIndexChanged.connect(self._source_changed)
        self.path_a.edit.textChanged.connect(self._pair_file_named)
        self.task.currentTextChanged.connect(lambda _: self._suggest_for_task())
        self._suggest_for_task()  # the first task's folder, item count and built-in source name
        self.arch.currentTextChanged.connect(self._arch_changed)
        self.tie.currentTextChanged.connect(lambda t: self.mixtures.setEnabled(t == "mdn"))
        self._source_changed(0)
        self.mixtures.setEnabled(False)
        self._restore_form()

    # the last run's form ------------------------------------------------------------------------
    # kept in the settings when a run starts: a user training on their COCO folder typed both paths
    # again in every session. The item limit and output folder are proposed for the task each time.
    FORM_COMBOS = ("arch", "tie")
    FORM_SPINS = ("mixtures", "layers", "epochs", "batch")

    def _remember_form(self) -> None:
        if self.settings is None:
            return
        typed = {**self._typed, self.source.currentIndex(): (self.path_a.text(), self.path_b.text())}
        self.settings.setValue("train/source", self.source.currentIndex())
        for index in SOURCE_PATHS:
            self.settings.setValue(f"train/paths{index}", list(typed.get(index, ("", ""))))
        self.settings.setValue("train/split", self.split.currentText())
        for name in self.FORM_COMBOS:
            self.settings.setValue(f"train/{name}", getattr(self, name).currentText())
        for name in self.FORM_SPINS:
            self.settings.setValue(f"train/{name}", getattr(self, name).value())

    def _restore_form(self) -> None:
        from .prefs import string_list

        s = self.settings
        if s is None or s.value("train/source") is None:
            return
        for index in SOURCE_PATHS:
            paths = string_list(s, f"train/paths{index}")
            if len(paths) == 2:
                self._typed[index] = (paths[0], paths[1])
        for name in ("split", *self.FORM_COMBOS):
            combo, text = getattr(self, name), str(s.value(f"train/{name}", ""))
            if combo.findText(text) >= 0:
                combo.setCurrentText(text)
        for name in self.FORM_SPINS:
            try:
                getattr(self, name).setValue(int(s.value(f"train/{name}")))  # the spin box clamps it
            except (TypeError, ValueError):  # absent, or not a number (a hand-edited file)
                pass
        try:
            index = int(s.value("train/source"))
        except (TypeError, ValueError):
            index = 0
        if 0 <= index < self.source.count():
            self.source.setCurrentIndex(index)  # _source_changed fills its fields (the first has none)

    # form ----------------------------------------------------------------------------------------
    def set_task(self, task: str) -> None:
        # a form whose source decides its task keeps it when the window switches task: COCO has
        # no motion (greyed out), and a pair file was made for one task (the run failed on starting)
        if task == "motion" and self.source.currentIndex() == COCO_SOURCE:
            return
        file_task = self._pair_file_task()
        if file_task is not None and file_task != task:
            return
        if not self.running():
            self.task.setCurrentText(task)
            self._suggest_for_task()

    def _suggest_for_task(self) -> None:
        """A fresh output folder and the item count for the form's task, each unless the user
        chose their own."""
        task = self.task.currentText()
        if self.out.text() == self._auto_out:
            self._auto_out = default_out_dir(task)
            self.out.edit.setText(self._auto_out)
        if self.limit.value() == self._auto_limit:
            self._auto_limit = task_item_count(task)
            self.limit.setValue(self._auto_limit)
        self.source.setItemText(0, BUILTIN_MOTION_SOURCE if task == "motion" else SOURCES[0])

    def _source_changed(self, index: int) -> None:
        # each source keeps the paths typed for it: COCO's images folder and annotation file
        # stayed in the fields as UCF101's videos and splits folders
        if self._source_index is not None and self._source_index != index:
            self._typed[self._source_index] = (self.path_a.text(), self.path_b.text())
        self._source_index = index
        typed = self._typed.get(index, ("", ""))
        for widget, text in zip((self.path_a, self.path_b), typed):
            widget.edit.setText(text)
        a, b = SOURCE_PATHS.get(index, (None, None))
        for widget, label, path in ((self.path_a, self.path_a_label, a), (self.path_b, self.path_b_label, b)):
            widget.setVisible(path is not None)
            label.setVisible(path is not None)
            if path:
                label.setText(path.label)
                # Browse asks for what the label says: it offered a folder for the pair file (which
                # could then not be chosen) and a file for UCF101's splits folder
                widget.set_mode(path.folder, path.label, path.pattern)
        self.limit.setEnabled(index != PAIR_SOURCE)
        for widget in (self.split, self.split_label):
            widget.setVisible(index == UCF101_SOURCE)
        self._motion_fits_source(index)
        self._pair_file_named(self.path_a.text())

    def _motion_fits_source(self, index: int) -> None:
        """Grey out motion for COCO: the run read every photo, only to skip each ("nothing usable
        in the coco source"), 80,000 of them on the real set."""
        motion = self.task.model().item(self.task.findText("motion"))
        photos_only = index == COCO_SOURCE
        motion.setEnabled(not photos_only)
        motion.setToolTip("COCO holds photos, and a motion pair is two frames of a video" if photos_only else "")
        if photos_only and self.task.currentText() == "motion" and not self.running():
            self.set_task(PHOTO_TASK)
            self.status.setText(f"Task set to {PHOTO_TASK}: COCO holds photos, and a motion pair is two frames "
                                "of a video (UCF101, a folder of videos or the built-in clips).")

    def _arch_changed(self, arch: str) -> None:
        cdvae = arch == "cdvae"
        for w in (self.tie, self.layers):
            w.setEnabled(cdvae)
        self.mixtures.setEnabled(cdvae and self.tie.currentText() == "mdn")

    def _pair_file_task(self) -> str | None:
        """The task the chosen pair file was made for; None without a pair source or a readable
        file that names one. Only the file's small meta array is read."""
        from .catalog import CatalogError, read_pairs_task

        path = Path(self.path_a.text())
        if self.source.currentIndex() != PAIR_SOURCE or path.suffix.lower() != ".npz":
            return None
        try:
            if not path.is_file():
                return None
        except OSError:  # a name too long for the file system, typed or pasted: starting says so
            return None
        try:
            return read_pairs_task(path)
        except CatalogError:  # unreadable, or no task named: starting says what is wrong
            return None

    def _pair_file_named(self, text: str) -> None:
        """A pair file chosen for training sets the task it was made for, as cdvae-train takes it
        from the file: the form kept its own, and the run failed on starting ("the pair file was
        made for relighting, not resaturation")."""
        task = None if self.running() else self._pair_file_task()
        if task is not None and task != self.task.currentText():
            self.set_task(task)
            self.status.setText(f"Task set to {task}, which {Path(self.path_a.text()).name} was made for.")

    def source_spec(self) -> tuple:
        """The prepare pipeline's source spec for the form (ValueError with a reason if incomplete)."""
        i = self.source.currentIndex()
        a, b = self.path_a.text(), self.path_b.text()
        if i == 0:
            return ("builtin",)
        two = i in (COCO_SOURCE, UCF101_SOURCE)
        if not a or (two and not b):
            raise ValueError(f"choose the {self.path_a_label.text().lower()}"
                             + (f" and the {self.path_b_label.text().lower()}" if two else ""))
        # a path that is not there, or not of its kind, was said only once the training process
        # had started (seconds later); the sources' own checks of what is inside still run there
        for need, path in zip(SOURCE_PATHS[i], (a, b)):
            if need is not None and not (Path(path).is_dir() if need.folder else Path(path).is_file()):
                kind = "a folder" if need.folder else "a file"
                raise ValueError(f"{need.label.lower()} {path} is not {kind}" if Path(path).exists()
                                 else f"no {need.label.lower()} at {path}")
        return (("folder", a), ("coco", a, b), ("ucf101", a, b, int(self.split.currentText())), ("pairs", a))[i - 1]

    def configs(self) -> tuple[Any, Any]:
        from cdvae_core.config import ModelConfig, TrainConfig
        from cdvae_core.tasks import get_task, model_defaults, train_defaults

        task = get_task(self.task.currentText())
        latents, hidden = ModelConfig.sizes_for_layers(self.layers.value())
        model_cfg = ModelConfig(task=task.name, arch=self.arch.currentText(),
                                tie=self.tie.currentText() if self.arch.currentText() == "cdvae" else "none",
                                channels_c=task.channels_c, channels_g=task.channels_g, **model_defaults(task.name),
                                latent_sizes=latents, hidden_sizes=hidden, mixtures=self.mixtures.value())
        epochs = self.epochs.value()
        # short runs still need their warm-up and guidance decay to finish inside the run
        import os

        cores = os.cpu_count() or 1
        # leave a core to the GUI and the render worker
        train_cfg = TrainConfig(epochs=epochs, batch_size=self.batch.value(), num_threads=max(1, cores - 1),
                                kl_warmup_epochs=min(5.0, epochs / 4), guidance_epochs=min(20.0, epochs / 2),
                                # motion's ladders hold their guidance
                                **train_defaults(task.name, {}, self.layers.value()))
        return model_cfg, train_cfg

    # running -------------------------------------------------------------------------------------
    def start(self) -> None:
        if self.running():
            return
        self.status.setToolTip("")  # the last run's skipped names
        try:
            source = self.source_spec()
            model_cfg, train_cfg = self.configs()
        except ValueError as exc:
            self.status.setText(f"Cannot start: {exc}")
            return
        out = self.out.text()
        if not out:
            self.status.setText("Cannot start: choose an output folder")
            return
        from cdvae_core.train_dir import OutputDirError, ResumeMismatchError, check_out_dir, check_resumable, saved_epochs

        logged: dict = {}
        try:  # the trainer's own checks, said here rather than after the pairs are made
            # an unwritable folder (under a file, /proc) was said only after the pairs were made
            check_out_dir(Path(out), self.resume.isChecked(), write_probe=True, controls=dialog_controls())
            if self.resume.isChecked():
                check_resumable(Path(out), dialog_controls())
                # the run's own warm-up and guidance schedule (derived from Epochs, so more epochs
                # were refused as "other settings"), and a form unlike the run refused up front
                model_cfg, train_cfg = resumed_configs(Path(out), model_cfg, train_cfg)
                logged = logged_curves(Path(out), saved_epochs(out) or 0)
        except OutputDirError as exc:
            self.status.setText(f"Cannot start: {exc}")
            return
        except ResumeMismatchError as exc:
            self.status.setText(f"Cannot start: {exc}; set the form as that run was, or untick Resume")
            return
        self._out_dir = out
        self.loss_plot.clear()
        self.loss_plot.preload(logged)  # a resumed run's plot goes on from its log
        self.progress.setValue(0)
        self._t0 = time.monotonic()
        self._remember_form()
        task, resume, limit = model_cfg.task, self.resume.isChecked(), self.limit.value()
        self._run_task = task  # the form's task may change while it runs
        # a separate process: the trainer's Python work never competes with the GUI for the GIL
        self._launch(ProcessJobRunner(training_job, (source, task, model_cfg, train_cfg, out, resume, limit),
                                      name="cdvae-train"), "Starting…")

    def _on_progress(self, p: Any) -> None:
        """Record every step (cheap); repaint the bar, text and curves at most every 100 ms, so a
        burst of queued steps never stalls the event loop."""
        if p.stage == "train":
            self.loss_plot.set_total_steps(p.total)  # the x axis's span: later stages count epochs or files
            self.loss_plot.record(p.done, p.values)
        super()._on_progress(p)

    def describe(self, p: Any) -> str:
        rate = p.values.get("images_per_s")
        # "epoch 46 saved" already names its stage ("epoch: epoch 46 saved" before)
        stage = "" if p.message.startswith(p.stage) else f"{p.stage}: "
        return f"{stage}{p.message}{eta_suffix(p.values)}" + (f" · {rate:.0f} pairs/s" if rate else "")

    def _refresh(self) -> None:
        super()._refresh()
        if not self.running():
            self.loss_plot.draw()  # the run ended (any stage): every curve, all at once
        elif self._latest is not None and self._latest.stage == "train":
            self.loss_plot.draw(CURVES_PER_REFRESH)

    def kept_note(self, tick_resume: bool = True) -> str:
        """What the last run's folder keeps, for the user; ticks Resume where it applies. A run
        cancelled while its pairs or LPP targets were made has saved nothing, not even its folder."""
        epochs, resumable = saved_progress(self._out_dir)
        if tick_resume:
            self.resume.setChecked(resumable)
        if epochs:
            return (f"Epoch {epochs} is kept in {self._out_dir}"
                    + ("; Resume is ticked: press Train to continue." if tick_resume else " and can be resumed."))
        if resumable:
            return (f"No epoch had been saved yet in {self._out_dir}"
                    + ("; Resume is ticked: press Train to start it again there." if tick_resume else "."))
        return "Nothing had been saved yet" + ("; press Train to start again." if tick_resume else ".")

    def stop_note(self) -> str:
        """What stopping the running training keeps, true whenever the user answers: the run goes
        on while the question is open ("Epoch 16 is kept" was asked while epoch 22 was saved)."""
        return (f"The epochs it has finished by then are kept in {self._out_dir}; Train with Resume "
                "ticked continues from the last.")

    def _show_result(self, status: str, payload: object) -> None:
        took = format_eta(time.monotonic() - getattr(self, "_t0", time.monotonic()))
        if status == "done":
            trained: Trained = payload  # type: ignore[assignment]  # what training_job returns
            note, names = skipped_note(trained.skipped)
            # what matters first: the status bar shows this line cut at its width while the dialog is closed
            self.status.setText(f"Done in {took}: the model is now in the {self._run_task} Model list, saved in "
                                f"{self._out_dir}.{note}")
            self.status.setToolTip(names)
            self.modelTrained.emit(trained.out_dir)
            # the next run gets a folder of its own: the default one now holds this model, and
            # training again into it failed ("already holds files") after making the pairs
            self.resume.setChecked(False)
            if self.out.text() == self._out_dir == self._auto_out:
                self._auto_out = default_out_dir(self.task.currentText())
                self.out.edit.setText(self._auto_out)
        elif status == "cancelled":
            self.status.setText(f"Cancelled after {took}. {self.kept_note()}")
        else:
            self.status.setText(f"Training failed: {payload}")

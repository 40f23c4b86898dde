"""The Studio's main window: layout, actions, menus, dialogs, settings and drops.

State that matters (the model, the image, the grid's codes) lives in ``StudioState``
(cdvae_studio.state), which submits the work and applies the worker's results; this module
builds widgets and forwards user input to the state's methods. It never calls the model itself.
"""

from __future__ import annotations

import html
from pathlib import Path

from PySide6.QtCore import QByteArray, QRect, QSettings, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QAction, QActionGroup, QDesktopServices, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFrame,
    QGraphicsView,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QPushButton,
    QSpinBox,
    QSplitter,
    QStackedWidget,
    QTabWidget,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from cdvae_core.config import CONDITIONALS
from cdvae_core.messages import one_line_text
from cdvae_core.distinct import DISTINCT_POOL
from cdvae_core.predictor import MAX_TEMPERATURE

from .catalog import TASKS, ModelCatalog
from .clipboard import local_paths, qimage_pixels
from .images import IMAGE_SUFFIXES, VIDEO_SUFFIXES
from .jobs import GRID, MAX_SEED
from .prefs import string_list
from .state import StudioState
from .state_sessions import LAST_SESSION_KEY
from .widgets.code_sliders import CodeSliders
from .widgets.flow_view import FlowView
from .widgets.lpp_scatter import LppScatter
from .widgets.panels import (ComparePane, ElidingLabel, ImagePanel, MessageBanner, ModelCombo,
                             SpreadPane, StarTray, TruthView)
from .widgets.sample_grid import SampleGrid

# The model combo's text field in characters: at its widest (the toolbar never moves as models
# change), and the least it narrows to in a window too narrow for the main toolbar (at 1,000 px
# "Full samples" went into the overflow menu); its label is elided in the middle either way.
MODEL_CHARS = (30, 12)
TOOLBAR_SLACK = 12  # pixels kept free, so that rounding never tips the last widget into the overflow


def labelled(text: str, control: QWidget) -> QWidget:
    """``control`` with its label before it, as one toolbar widget (they overflow together)."""
    box = QWidget()
    row = QHBoxLayout(box)
    row.setContentsMargins(0, 0, 0, 0)
    row.setSpacing(0)
    row.addWidget(QLabel(f" {text} "))
    row.addWidget(control)
    return box


def configure_torch() -> None:
    """Small-batch decoding gains nothing from many threads and, on a loaded 2-core machine,
    OpenMP spin-waits cost 50 ms per convolution: keep cores for the GUI and the event loop."""
    import os

    import torch

    cores = os.cpu_count() or 1
    torch.set_num_threads(1 if cores <= 4 else min(8, cores - 2))


RECENT_SESSIONS_KEY = "recentSessions"  # QSettings: File > Open recent session, newest first
RECENT_SESSIONS_MAX = 10


def within_screen(frame: QRect, client: QRect, screen: QRect) -> QRect | None:
    """The window's inside (``client``) moved and shrunk so that its ``frame`` (title bar and
    borders around it) lies within ``screen``; None when it does already."""
    if screen.contains(frame):
        return None
    left, top = client.left() - frame.left(), client.top() - frame.top()
    extra_w, extra_h = frame.width() - client.width(), frame.height() - client.height()
    width = min(client.width(), screen.width() - extra_w)
    height = min(client.height(), screen.height() - extra_h)
    x = min(max(frame.left(), screen.left()), screen.right() + 1 - (width + extra_w))
    y = min(max(frame.top(), screen.top()), screen.bottom() + 1 - (height + extra_h))
    return QRect(x + left, y + top, width, height)


class MainWindow(QMainWindow):
    """CDVAE Studio. ``settled`` is emitted whenever every requested render has been applied."""

    settled = Signal()
    JOB_NAMES = {"train": "Training", "export": "Export"}  # the dialogs whose runs the status bar shows
    DEFAULT_SIZE = (1560, 960)  # px: the first start's size where the screen has room (fit_first_size), and screenshots'

    def __init__(self, catalog: ModelCatalog | None = None, settings: QSettings | None = None,
                 task: str | None = None) -> None:
        super().__init__()
        self.setWindowTitle("CDVAE Studio")
        self.setAcceptDrops(True)
        self.settings = settings if settings is not None else QSettings("CDVAE", "Studio")
        self.catalog = catalog if catalog is not None else ModelCatalog()
        configure_torch()
        self.train_dialog = None
        self._closing_on_signal = False  # close_on_signal: close without the training question
        self.export_dialog = None
        self.shortcuts_dialog = None
        self.about_box = None
        self._build_ui()
        self._build_actions()
        self.state = StudioState(self)
        self._restore_settings()
        start = task or str(self.settings.value("task", "resaturation"))
        self.state.set_task(start if start in TASKS else "resaturation")

    # layout ----------------------------------------------------------------------------------
    def _build_ui(self) -> None:
        bar = QToolBar("Main")
        bar.setObjectName("mainToolbar")
        bar.setMovable(False)
        self.addToolBar(bar)
        self.toolbar = bar
        # Open, Train and Export in a toolbar of their own, which moves to a second row when the
        # window is too narrow for both (_fit_toolbars): in one toolbar they were the first to go
        # into its overflow menu (at 1,280 px wide, the toolbar needs 1,331)
        self.actionsBar = QToolBar("Actions")
        self.actionsBar.setObjectName("actionsToolbar")
        self.actionsBar.setMovable(False)
        self.addToolBar(self.actionsBar)
        self.taskCombo = QComboBox()
        self.taskCombo.setObjectName("taskCombo")
        self.taskCombo.addItems(list(TASKS))
        self.taskCombo.setToolTip("What the model predicts from the photo: relighting (its light), resaturation "
                                  "(its colours) or motion (how the frame moves over the next second)")
        self.tieCombo = ModelCombo(MODEL_CHARS[0])
        self.tieCombo.setObjectName("tieCombo")
        self.resampleButton = QPushButton("Resample")
        self.resampleButton.setObjectName("resampleButton")
        self.resampleButton.setToolTip("Draw a new grid of samples (R)")
        self.seedSpin = QSpinBox()
        self.seedSpin.setObjectName("seedSpin")
        self.seedSpin.setRange(0, MAX_SEED)
        self.seedSpin.setToolTip("The seed the grid is drawn from: the same seed, model and photo give the same samples")
        self.temperatureSpin = QDoubleSpinBox()
        self.temperatureSpin.setObjectName("temperatureSpin")
        self.temperatureSpin.setRange(0.0, MAX_TEMPERATURE)
        self.temperatureSpin.setSingleStep(0.1)
        self.temperatureSpin.setDecimals(2)
        self.temperatureSpin.setValue(1.0)
        self.temperatureSpin.setToolTip("Spread of new draws (temperature, StyleGAN's truncation): 1 is the model's "
                                        "conditional, lower pulls samples toward its means, higher pushes them out; "
                                        "the same seed keeps the same samples")
        self.lowerCheck = QCheckBox("Full samples")
        self.lowerCheck.setObjectName("lowerLayersCheck")
        self.lowerCheck.setChecked(self.settings.value("fullSamples", True, type=bool))
        self.lowerCheck.setToolTip("Draw the lower latent layers of each sample (fixed per sample, so sliders stay "
                                   "smooth): the grid shows the model's own samples, as cdvae-sample and the metrics "
                                   "do. Off: lower layers at their conditional means, smoother and less varied "
                                   "(for motion most of the spread is in the lower layers)")
        self.seedLock = QCheckBox("Lock seed")
        self.seedLock.setObjectName("seedLock")
        self.seedLock.setToolTip("Keep the seed when resampling, changing image or model")
        for label, w in (("Task", self.taskCombo), ("Model", self.tieCombo)):  # first: never in the overflow
            bar.addWidget(QLabel(f" {label} "))
            bar.addWidget(w)
        bar.addSeparator()
        bar.addWidget(self.resampleButton)
        # a label in one widget with its control: in a narrow window the toolbar's overflow menu
        # took "Temperature"'s spin box and left the label behind
        bar.addWidget(labelled("Seed", self.seedSpin))
        bar.addWidget(self.seedLock)
        bar.addWidget(labelled("Temperature", self.temperatureSpin))  # not "Spread": the per-pixel spread map's tab
        bar.addWidget(self.lowerCheck)

        self.imagePanel = ImagePanel()
        self.tray = StarTray()
        left = QWidget()
        lv = QVBoxLayout(left)
        lv.setContentsMargins(0, 0, 0, 0)
        lv.addWidget(self.imagePanel, 1)
        lv.addWidget(QLabel("Starred (right-click a sample)"))
        lv.addWidget(self.tray)

        self.banner = MessageBanner()
        self.sampleGrid = SampleGrid()
        self.emptyLabel = QLabel()
        self.emptyLabel.setObjectName("emptyState")
        self.emptyLabel.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.emptyLabel.setWordWrap(True)
        self.emptyTrain = QPushButton("Train a model…")
        empty = QWidget()
        ev = QVBoxLayout(empty)
        ev.addStretch(1)
        ev.addWidget(self.emptyLabel)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.emptyTrain)
        row.addStretch(1)
        ev.addLayout(row)
        ev.addStretch(1)
        self.centerStack = QStackedWidget()
        self.centerStack.addWidget(self.sampleGrid)
        self.centerStack.addWidget(empty)
        center = QWidget()
        cv = QVBoxLayout(center)
        cv.setContentsMargins(0, 0, 0, 0)
        cv.addWidget(self.banner)
        cv.addWidget(self.centerStack, 1)

        self.views = QTabWidget()
        self.views.setObjectName("viewTabs")
        self.preview = ComparePane()
        self.preview.setObjectName("previewPane")
        self.spread = SpreadPane()
        self.spread.setObjectName("spreadPane")
        self.flowView = FlowView()
        self.lppScatter = LppScatter()
        self.truthView = TruthView()
        self.views.addTab(self.preview, "Preview")
        self.views.addTab(self.flowView, "Flow")
        self.views.addTab(self.lppScatter, "LPP scatter")
        self.views.addTab(self.spread, "Spread")
        self.views.addTab(self.truthView, "Truth")
        self.codeSliders = CodeSliders()
        right = QSplitter(Qt.Orientation.Vertical)
        right.setObjectName("rightSplitter")
        right.addWidget(self.views)
        right.addWidget(self.codeSliders)
        right.setSizes([430, 470])
        self.right_splitter = right

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setObjectName("mainSplitter")
        self.splitter.addWidget(left)
        self.splitter.addWidget(center)
        self.splitter.addWidget(right)
        self.splitter.setSizes([250, 800, 510])
        # a narrower window takes its width from the grid and the views alike (the grid, which
        # can shrink furthest, took it all: two columns of 70-px samples in a 1024-px window)
        for pane, stretch in enumerate((1, 3, 2)):
            self.splitter.setStretchFactor(pane, stretch)
        self.setCentralWidget(self.splitter)

        # a training run or export whose dialog is closed: its progress, a link that shows the dialog
        self.jobLabels: dict[str, QLabel] = {}
        for which in self.JOB_NAMES:
            label = self.jobLabels[which] = QLabel("")
            label.setObjectName(f"{which}JobLabel")
            label.setVisible(False)
            label.linkActivated.connect(self._show_job_dialog)
            self.statusBar().addPermanentWidget(label)
        self.modelLabel = ElidingLabel("no model")
        self.timingLabel = ElidingLabel("")
        self.statusBar().addPermanentWidget(self.modelLabel)
        rule = QFrame()  # keeps "model" and "timing" apart
        rule.setFrameShape(QFrame.Shape.VLine)
        rule.setFrameShadow(QFrame.Shadow.Sunken)
        self.statusBar().addPermanentWidget(rule)
        self.statusBar().addPermanentWidget(self.timingLabel)
        self._timing_rule = rule
        self.statusBar().messageChanged.connect(self._make_room_for_message)
        # drops go to the window, which opens dropped files; a graphics view's own drop handling
        # warned "drag leave received before drag enter" as a drag crossed it without stopping
        for view in self.findChildren(QGraphicsView):
            view.setAcceptDrops(False)
        self.resize(*self.DEFAULT_SIZE)

    def _build_actions(self) -> None:
        def act(text: str, shortcut, slot, toolbar: bool = False) -> QAction:
            a = QAction(text, self)
            if shortcut:
                a.setShortcut(QKeySequence(shortcut))
            if slot is not None:
                a.triggered.connect(slot)
            self.addAction(a)
            if toolbar:
                self.actionsBar.addAction(a)
            return a

        self.openAction = act("Open image…", QKeySequence.StandardKey.Open, self.open_image_dialog, True)
        self.pasteAction = act("Paste image or files", QKeySequence.StandardKey.Paste, self.paste)
        self.pasteAction.setObjectName("pasteAction")
        self.openModelAction = act("Open model…", "Ctrl+M", self.open_model_dialog, True)
        # Open model asks for a folder, which a pair file is not: the baseline was reachable only by
        # a drop, the command line or Open image's "All files"
        self.openPairsAction = act("Open nearest-neighbour baseline (pair file)…", None, self.open_pairs_dialog)
        self.openPairsAction.setObjectName("openPairsAction")
        self.trainAction = act("Train…", "Ctrl+T", self.open_train_dialog, True)
        self.exportAction = act("Export…", "Ctrl+E", self.open_export_dialog, True)
        self.resampleAction = act("Resample", "R", lambda: self.state.resample())
        # checkable; the state follows its toggled signal
        self.distinctAction = act("Distinct results", "D", None)
        self.distinctAction.setObjectName("distinctAction")
        self.distinctAction.setCheckable(True)
        self.distinctAction.setChecked(self.settings.value("distinctResults", False, type=bool))
        # rich text, so that Qt wraps it (a plain tooltip was one 1,170 px line)
        self.distinctAction.setToolTip(f"<p>Show the {GRID} most distinct of {DISTINCT_POOL} samples: k-means groups "
                                       "the samples, each cell is its group's most central sample, and its badge "
                                       "says what share of the samples the group holds (largest first).</p>")
        self.undoAction = act("Undo slider move", QKeySequence.StandardKey.Undo, lambda: self.state.undo())
        self.redoAction = act("Redo slider move", QKeySequence.StandardKey.Redo, lambda: self.state.redo())
        self.redoAction.setShortcuts(QKeySequence.StandardKey.Redo)  # Ctrl+Shift+Z and, where usual, Ctrl+Y
        self.starAction = act("Star current sample", "S", lambda: self.state.toggle_star(self.state.current))
        self.copyAction = act("Copy result (full resolution)", QKeySequence.StandardKey.Copy, lambda: self.state.copy_result())
        self.copyAction.setObjectName("copyAction")
        self.useResultAction = act("Use result as photo", None, lambda: self.state.use_result_as_photo())
        self.useResultAction.setObjectName("useResultAction")
        self.useResultAction.setToolTip("<p>Open the current result, at full resolution, as the photo, to go on from it "
                                        "in this task or another (relight a resaturated photo). It is kept in the "
                                        "app's data folder, as a pasted image is.</p>")
        self.saveSessionAction = act("Save session…", QKeySequence.StandardKey.Save, self.save_session_dialog)
        self.openSessionAction = act("Open session…", "Ctrl+Shift+O", self.open_session_dialog)
        self.gifAction = act("Export sweep as GIF or MP4…", "Ctrl+G", self.export_gif_dialog)
        self.interpolationGifAction = act("Export interpolation as GIF or MP4…", "Ctrl+Shift+G", self.export_interpolation_dialog)
        self.motionGifAction = act("Export motion as GIF or MP4…", None, self.export_motion_dialog)
        self.motionGifAction.setObjectName("motionGifAction")
        self.motionGifAction.setEnabled(False)  # a motion grid enables it
        self.shortcutsAction = act("Keyboard shortcuts…", QKeySequence.StandardKey.HelpContents, self.open_shortcuts_dialog)
        self.aboutAction = act("About CDVAE Studio", None, self.open_about_box)
        # the tie's conditional new draws come from (Predictor.with_conditional); the state follows
        # their triggered signals, and names them for the model shown (StudioState._show_conditional)
        self.conditionalActions = QActionGroup(self)
        self.conditionalActions.setExclusive(True)
        for kind in CONDITIONALS:
            a = act(f"Draw from the {kind} conditional", None, None)
            a.setObjectName(f"conditional{kind.capitalize()}Action")
            a.setCheckable(True)
            a.setEnabled(False)  # a model with a tie enables them
            a.setData(kind)
            self.conditionalActions.addAction(a)
        # StandardKey.Quit is empty on some platforms (offscreen, some X11 desktops): spelled out
        self.quitAction = act("Quit", "Ctrl+Q", self.close)
        self._build_menus()
        self.emptyTrain.clicked.connect(self.open_train_dialog)

    def _build_menus(self) -> None:
        """Every action in a menu, so none is reachable by its shortcut alone."""
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        for a in (self.openAction, self.pasteAction, self.openModelAction, self.openPairsAction, self.openSessionAction):
            file_menu.addAction(a)
        self.recentSessionsMenu = file_menu.addMenu("Open recent session")
        self.recentSessionsMenu.setObjectName("recentSessionsMenu")
        self.recentSessionsMenu.setToolTipsVisible(True)  # an entry's tooltip is its whole path
        self.recentSessionsMenu.aboutToShow.connect(self.fill_recent_sessions)
        file_menu.addAction(self.saveSessionAction)
        file_menu.addSeparator()
        for a in (self.exportAction, self.gifAction, self.interpolationGifAction, self.motionGifAction):
            file_menu.addAction(a)
        file_menu.addSeparator()
        file_menu.addAction(self.quitAction)
        samples = bar.addMenu("&Samples")
        samples.setToolTipsVisible(True)  # Distinct results says what its badges mean
        for a in (self.resampleAction, self.distinctAction, self.starAction, self.copyAction, self.useResultAction,
                  self.undoAction, self.redoAction):
            samples.addAction(a)
        model_menu = bar.addMenu("&Model")
        model_menu.setToolTipsVisible(True)  # each conditional says what it draws from
        model_menu.addAction(self.trainAction)
        model_menu.addSection("Sampling conditional")
        for a in self.conditionalActions.actions():
            model_menu.addAction(a)
        help_menu = bar.addMenu("&Help")
        help_menu.addAction(self.shortcutsAction)
        help_menu.addAction(self.aboutAction)

    def menu_actions(self) -> list[QAction]:
        """Every action of every menu, in menu order (what the shortcuts window lists)."""
        return [a for m in self.menuBar().actions() if m.menu() is not None
                for a in m.menu().actions() if not a.isSeparator()]

    def open_shortcuts_dialog(self) -> None:
        from .help_dialogs import ShortcutsDialog

        if self.shortcuts_dialog is None:  # the actions are fixed once the window is built
            self.shortcuts_dialog = ShortcutsDialog(self, self.menu_actions())
        self.shortcuts_dialog.show()
        self.shortcuts_dialog.raise_()

    def open_about_box(self) -> None:
        from .help_dialogs import about_box

        ctx = self.state.ctx
        if self.about_box is not None:
            self.about_box.deleteLater()  # its text names the model loaded then
        model = None if ctx is None else (ctx.entry.label, str(ctx.entry.path))
        self.about_box = about_box(self, model, self.settings.fileName())
        self.about_box.open()

    def _fit_toolbars(self) -> None:
        """Both toolbars on one row while the window is wide enough for them, else the actions'
        on a second row; below the main toolbar's own width the model combo narrows (its label
        elided, down to MODEL_CHARS[1] characters) before anything goes into the overflow menu."""
        combo = self.tieCombo
        per_char = combo.fontMetrics().horizontalAdvance("x")  # QComboBox's unit for its contents length
        chars = combo.minimumContentsLength()
        others = self.toolbar.sizeHint().width() - chars * per_char  # the toolbar but the combo's text field
        wide, least = MODEL_CHARS
        fit = max(least, min(wide, (self.width() - others - TOOLBAR_SLACK) // per_char))
        if fit != chars:
            combo.setMinimumContentsLength(fit)
            # the toolbar's size hint follows the combo's only once the layout has run, and its
            # width is not quite linear in the characters: decide the row again then (from 700 to
            # 1,330 px the estimate put Export in the overflow menu, until the next resize)
            QTimer.singleShot(0, self, self._fit_toolbars)  # dropped with the window
        need = others + fit * per_char + self.actionsBar.sizeHint().width()
        wrapped = self.toolBarBreak(self.actionsBar)
        if self.width() < need and not wrapped:
            self.insertToolBarBreak(self.actionsBar)
        elif self.width() >= need and wrapped:
            self.removeToolBarBreak(self.actionsBar)

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        self._fit_toolbars()

    # messages --------------------------------------------------------------------------------
    def show_error(self, text: str, about: str = "") -> None:
        """A problem the user should see (bad image, failed load): banner and status bar.
        ``about`` ("image", "model", "session"; "" for anything else) says which success clears it."""
        self.banner.show_message(text, about)
        self.statusBar().showMessage(one_line_text(text), 15000)

    def _make_room_for_message(self, text: str) -> None:
        """The timing line steps aside while the status bar shows a message: the message has the
        room left of the permanent labels, and in a 1200-px window the timing line left it 130 px
        ("Sample #6 of astronau")."""
        for widget in (self.timingLabel, self._timing_rule):
            widget.setVisible(not text)

    def clear_error(self, about: str) -> None:
        """Something about ``about`` went right: the banner goes unless it says what went wrong with
        something else (a model that failed to open stays up while the start-up photo lands)."""
        self.banner.clear(about)

    def show_empty(self, text: str | None) -> None:
        if text is None:
            self.centerStack.setCurrentIndex(0)
        else:
            self.emptyLabel.setText(text)
            self.centerStack.setCurrentIndex(1)

    # dialogs ---------------------------------------------------------------------------------
    def _last_dir(self) -> str:
        return str(self.settings.value("lastFolder", str(Path.home())))

    def _remember_dir(self, path: str) -> None:
        self.settings.setValue("lastFolder", str(Path(path).parent))

    def open_image_dialog(self) -> None:
        """One photo or several (the first is shown, the rest wait in the gallery)."""
        def globs(suffixes: tuple[str, ...]) -> str:
            return " ".join(f"*{s}" for s in suffixes)

        pattern = (f"Images and videos ({globs(IMAGE_SUFFIXES + VIDEO_SUFFIXES)});;Images ({globs(IMAGE_SUFFIXES)});;"
                   f"Videos: the first frame, for motion with its truth ({globs(VIDEO_SUFFIXES)});;All files (*)")
        paths, _ = QFileDialog.getOpenFileNames(self, "Open images or videos", self._last_dir(), pattern)
        if paths:
            self._remember_dir(paths[0])
            self.state.open_paths(paths)

    def open_model_dialog(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open saved model directory", self._last_dir())
        if path:
            self._remember_dir(path)
            self.state.open_model(path)

    def open_pairs_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open pair file (nearest-neighbour baseline)", self._last_dir(),
                                              "Pair files (*.npz)")
        if path:
            self._remember_dir(path)
            self.state.open_model(path)

    def open_train_dialog(self) -> None:
        from .train_dialog import TrainDialog

        if self.train_dialog is None:
            self.train_dialog = TrainDialog(self, task=self.state.task_name, settings=self.settings)
            self.train_dialog.runStatus.connect(lambda text, running: self._job_status("train", text, running))
            self.train_dialog.modelTrained.connect(lambda p: self.state.open_model(p, kind="trained"))
        self._show_job_dialog("train")

    def _refresh_export(self) -> None:
        if self.export_dialog is not None and self.export_dialog.isVisible() and not self.export_dialog.running():
            self.export_dialog.refresh(self.state.export_items(), keep_choice=True)

    def open_export_dialog(self) -> None:
        from .export_dialog import ExportDialog

        if self.export_dialog is None:
            self.export_dialog = ExportDialog(self, self.settings)
            self.export_dialog.runStatus.connect(lambda text, running: self._job_status("export", text, running))
            self.export_dialog.provider = self.state.export_items
            # the dialog is modeless: stars and grids that change while it is open must reach it
            self.state.starsChanged.connect(self._refresh_export)
            self.state.gridApplied.connect(self._refresh_export)
            self.state.currentChanged.connect(self._refresh_export)  # "sample #7 of cat.jpg"
        elif not self.export_dialog.isVisible():
            self.export_dialog.clear_outcome()  # its outcome was shown as it ended; now another photo
        self.export_dialog.refresh(self.state.export_items())
        self._show_job_dialog("export")

    def _job_status(self, which: str, text: str, running: bool) -> None:
        """A job's status line (JobDialog.runStatus) in the status bar while its dialog is closed:
        closed during a run, the dialog left no sign of it until the trained model took over the
        window. Its end is a message there; showing the dialog again takes the label away."""
        dialog = self.train_dialog if which == "train" else self.export_dialog
        label, what = self.jobLabels[which], self.JOB_NAMES[which]
        hidden = dialog is not None and not dialog.isVisible()
        label.setVisible(running and hidden)
        if running and hidden:
            label.setText(f'<a href="{which}">{html.escape(what)}: {html.escape(one_line_text(text))}</a>')
            label.setToolTip(f"{what} runs in the background: click to show its dialog")
        elif not running and hidden:
            self.statusBar().showMessage(f"{what}: {one_line_text(text)}", 15000)

    def _show_job_dialog(self, which: str) -> None:
        dialog = self.train_dialog if which == "train" else self.export_dialog
        if dialog is not None:
            self.jobLabels[which].setVisible(False)
            dialog.show()
            dialog.raise_()

    def save_session_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save session", self._last_dir(), "Session (*.json)")
        if path and Path(path).suffix.lower() != ".json":  # "mine" was saved as such, and Open session's
            path = self._suffixed(path, ".json")  # filter (*.json) then hid it
        if path:
            self._remember_dir(path)
            self.state.save_session(path)

    def _suffixed(self, path: str, suffix: str) -> str:
        """``path`` + ``suffix`` for a name the user gave without it, "" where that file exists and
        the user keeps it: the file dialog asked about the name typed, not this one."""
        path += suffix
        if Path(path).exists():
            answer = QMessageBox.question(self, "Replace file?", f"{Path(path).name} already exists. Replace it?")
            if answer != QMessageBox.StandardButton.Yes:
                return ""
        return path

    def open_session_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open session", self._last_dir(), "Session (*.json)")
        if path:
            self._remember_dir(path)
            self.state.open_session(path)

    def recent_sessions(self) -> list[str]:
        """The sessions saved or opened last, newest first (File > Open recent session)."""
        return string_list(self.settings, RECENT_SESSIONS_KEY)

    def remember_session(self, path: str) -> None:
        """Put the session file ``path`` first in File > Open recent session."""
        path = str(Path(path).absolute())
        kept = [p for p in self.recent_sessions() if p != path]
        self.settings.setValue(RECENT_SESSIONS_KEY, [path, *kept][:RECENT_SESSIONS_MAX])

    def fill_recent_sessions(self) -> None:
        """The submenu as the list is now: each file's name and folder (its tooltip: the whole path)."""
        menu, paths = self.recentSessionsMenu, self.recent_sessions()
        menu.clear()
        for path in paths:
            parent = Path(path).parent
            home = parent.is_relative_to(Path.home())
            folder = str(Path("~") / parent.relative_to(Path.home())) if home else str(parent)
            # "&" marks a menu's shortcut letter: a name holding one is spelt "&&"
            action = menu.addAction(f"{Path(path).name}   ({folder})".replace("&", "&&"))
            action.setToolTip(path)
            action.triggered.connect(lambda _=False, p=path: self.open_recent_session(p))
        if not paths:
            menu.addAction("No sessions saved or opened yet").setEnabled(False)
            return
        menu.addSeparator()
        menu.addAction("Clear the list", lambda: self.settings.setValue(RECENT_SESSIONS_KEY, []))

    def open_recent_session(self, path: str) -> None:
        """Open a listed session; one whose file has gone leaves the list, saying so."""
        if not Path(path).is_file():
            self.settings.setValue(RECENT_SESSIONS_KEY, [p for p in self.recent_sessions() if p != path])
            self.show_error(f"the session {Path(path).name} is no longer in {Path(path).parent}: "
                            "it has left the recent list", about="session")
            return
        self._remember_dir(path)
        self.state.open_session(path)

    def _animation_path(self, title: str) -> str:
        """Ask where to write an animation; a name without .gif / .mp4 takes the chosen filter's."""
        path, chosen = QFileDialog.getSaveFileName(self, title, self._last_dir(), "GIF (*.gif);;MP4 (*.mp4)")
        if path and Path(path).suffix.lower() not in (".gif", ".mp4"):
            path = self._suffixed(path, ".mp4" if "mp4" in (chosen or "").lower() else ".gif")
        if path:
            self._remember_dir(path)
        return path

    def export_gif_dialog(self) -> None:
        path = self._animation_path("Export sweep as GIF or MP4")
        if path:
            self.state.export_sweep_gif(path)

    def export_motion_dialog(self) -> None:
        """The current motion sample's frame moved along its flow and back, as the Flow tab plays it."""
        path = self._animation_path("Export motion as GIF or MP4")
        if path:
            self.state.export_motion_gif(path)

    def export_interpolation_dialog(self) -> None:
        """Interpolate from the current sample to another grid sample (default: a starred one)."""
        state = self.state
        partner = state.interpolation_partner()
        if state.ctx is None or partner < 0:
            self.show_error("load a model and an image before exporting an interpolation")
            return
        n, current = len(state.codes), state.current + 1
        label = f"Interpolate from the current sample #{current} to sample:"
        while True:
            number, ok = QInputDialog.getInt(self, "Export interpolation", label, partner + 1, 1, n)
            if not ok:
                return
            if number != current:
                break
            # picking the current sample used to end the dialog without a word
            label = f"#{current} is the current sample itself. Interpolate from #{current} to another sample:"
        path = self._animation_path("Export interpolation as GIF or MP4")
        if path:
            state.export_sweep_gif(path, number - 1)

    def show_in_folder(self, path: str) -> None:
        """Open the folder holding ``path`` (a video's frame: the video) in the system's file manager."""
        from cdvae_core.data.video import split_time

        folder = split_time(path, strict=False)[0].absolute().parent
        if not folder.is_dir():
            self.show_error(f"{folder} is not there any more", about="image")
        elif not QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder))):
            self.show_error(f"Could not open a file manager; the file is in {folder}")

    # drag and drop, paste ---------------------------------------------------------------------
    def dragEnterEvent(self, event) -> None:  # noqa: N802 - Qt override
        if event.source() is not None:
            return  # a result dragged from the grid (drag_out): for other apps, not a photo to open here
        if event.mimeData().hasUrls() or event.mimeData().hasImage():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802 - Qt override
        """Every dropped file (photos, folders of photos, model folders, pair files: open_paths),
        or an image dragged from a browser."""
        if self.open_mime(event.mimeData()):
            event.acceptProposedAction()

    def paste(self) -> None:
        """Open what the clipboard holds: copied files, an image, or text naming files."""
        mime = QGuiApplication.clipboard().mimeData()
        if mime is None or not self.open_mime(mime):
            self.show_error("The clipboard holds no image and names no file to open. Copy a picture, "
                            "or files in a file manager, then paste.")

    def open_mime(self, mime) -> bool:
        """Open the files a clipboard's or a drop's data names, else its image (kept as a file,
        clipboard.py); False when it has neither."""
        paths = local_paths(mime)
        if paths:
            self.state.open_paths(paths)
            return True
        image = mime.imageData() if mime.hasImage() else None
        if image is None or image.isNull():
            return False
        self.state.open_pasted(qimage_pixels(image))
        return True

    # settings and exit -----------------------------------------------------------------------
    def _restore_settings(self) -> None:
        geometry = self.settings.value("geometry")
        self.geometry_restored = isinstance(geometry, QByteArray) and not geometry.isEmpty() \
            and self.restoreGeometry(geometry)
        for key, splitter in (("splitter", self.splitter), ("rightSplitter", self.right_splitter)):
            sizes = self.settings.value(key)
            if isinstance(sizes, QByteArray) and not sizes.isEmpty():
                splitter.restoreState(sizes)
        trained, gone = string_list(self.settings, "trainedModels"), []
        for path in trained:
            try:
                self.catalog.add_model_dir(path, kind="trained")
            except ValueError:
                gone.append(path)  # deleted or moved since
        if gone:  # they used to be skipped without a word, at every start
            self.settings.setValue("trainedModels", [p for p in trained if p not in gone])
            # the point first: the status line is cut where the window is narrow
            self.statusBar().showMessage(f"{len(gone)} trained model(s) left the Model list, their folder gone: "
                                         f"{', '.join(Path(p).name for p in gone)}", 30000)

    def fit_first_size(self) -> None:
        """With no size saved (a first start): DEFAULT_SIZE, shrunk to 95% of the screen's free
        area where that is smaller (a 1280x800 laptop at 2x scaling showed the window's right
        and bottom off the screen), and centred there. The app used to resize every start to
        1560x960, over the size the window was closed at."""
        if self.geometry_restored:
            return
        screen = self.screen().availableGeometry()
        width = min(self.DEFAULT_SIZE[0], int(screen.width() * 0.95))
        height = min(self.DEFAULT_SIZE[1], int(screen.height() * 0.95))
        self.resize(width, height)  # no smaller than the layout needs (about 900x600)
        self.move(screen.x() + max(0, (screen.width() - self.width()) // 2),
                  screen.y() + max(0, (screen.height() - self.height()) // 2))
        self._fit_frame_pending = True  # the window manager's frame is known once shown

    def showEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        if getattr(self, "_fit_frame_pending", False):
            self._fit_frame_pending = False
            QTimer.singleShot(0, self, self._fit_frame)

    def _fit_frame(self) -> None:
        """A first start's window with its title bar on the screen: the size fitted the window's
        inside, and under a window manager the frame put the status bar below the screen's edge."""
        client = within_screen(self.frameGeometry(), self.geometry(), self.screen().availableGeometry())
        if client is not None:
            self.setGeometry(client)

    def save_settings(self) -> None:
        self.settings.setValue("geometry", self.saveGeometry())
        self.settings.setValue("splitter", self.splitter.saveState())
        self.settings.setValue("rightSplitter", self.right_splitter.saveState())
        self.settings.setValue("task", self.state.task_name)
        self.settings.setValue("fullSamples", self.lowerCheck.isChecked())
        self.settings.setValue("distinctResults", self.distinctAction.isChecked())
        kept = self.state.session_to_keep()  # where this run leaves off, stars included
        if kept is not None:
            self.settings.setValue(LAST_SESSION_KEY, kept.to_json())
        else:  # nothing shown (no model for the task), no stars: the next start is a first start's
            self.settings.remove(LAST_SESSION_KEY)
        self.settings.sync()

    def training_running(self) -> bool:
        return self.train_dialog is not None and self.train_dialog.running()

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt override
        if self.training_running() and not self._closing_on_signal:
            answer = QMessageBox.question(
                self, "Training in progress",
                f"A model is still training. Stop it now? {self.train_dialog.stop_note()}",
            )
            if answer != QMessageBox.StandardButton.Yes:
                event.ignore()
                return
        self.shutdown()
        event.accept()

    def close_on_signal(self) -> None:
        """Ctrl+C or SIGTERM (stop_signals): close as Quit does, without asking about a training run
        (nobody may be at the window to answer; its last finished epoch is kept either way)."""
        self._closing_on_signal = True
        self.close()

    def shutdown(self) -> None:
        """Stop training and exports (keeping their checkpoints), then the render worker. Idempotent."""
        if getattr(self, "_shut", False):
            return
        self._shut = True
        self.save_settings()
        for dialog in (self.train_dialog, self.export_dialog):
            if dialog is not None:
                dialog.stop_and_wait()
                dialog.close()
        self.state.shutdown()

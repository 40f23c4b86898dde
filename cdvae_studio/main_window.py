"""The Studio's main window: layout, actions, menus, dialogs, settings and drops.

State that matters (the model, the image, the grid's codes) lives in ``StudioState``
(cdvae_studio.state), which submits the work and applies the worker's results; this module
builds widgets and forwards user input to the state's methods. It never calls the model itself.
Its file dialogs and job dialogs are in window_dialogs.py, its size and kept settings in
window_geometry.py (mixins).
"""

from __future__ import annotations

from PySide6.QtCore import QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QActionGroup, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFrame,
    QGraphicsView,
    QHBoxLayout,
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
from .jobs import GRID, MAX_SEED
from .state import StudioState
from .widgets.code_sliders import CodeSliders
from .widgets.flow_view import FlowView
from .widgets.lpp_scatter import LppScatter
from .widgets.panels import (ComparePane, ElidingLabel, ImagePanel, MessageBanner, ModelCombo,
                             SpreadPane, StarTray, TruthView)
from .widgets.sample_grid import SampleGrid
from .window_dialogs import DialogsMixin
from .window_geometry import MODEL_CHARS, GeometryMixin


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


class MainWindow(DialogsMixin, GeometryMixin, QMainWindow):
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
        # short titles (the tray says how to star): "Starred (right-click a sample)" held the left
        # pane at 175 px, and an 800-px window's grid got two columns of 62-px samples (now three of 80)
        lv.addWidget(QLabel("Starred"))
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
        self.modelLabel.setObjectName("modelLabel")
        # apart from a long temporary message on its left ("...secmodel failed to load" ran together)
        self.modelLabel.setContentsMargins(8, 0, 0, 0)
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
        # Ctrl+Shift+Z first, as the menu and F1 show it (the docs' key; Linux's binding list put Ctrl+Y
        # first, and Ctrl+Shift+Z worked but was shown nowhere), then the platform's own
        redo_first = QKeySequence("Ctrl+Shift+Z")
        self.redoAction.setShortcuts([redo_first] + [key for key in QKeySequence.keyBindings(QKeySequence.StandardKey.Redo)
                                                     if key != redo_first])
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

    def showEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        if getattr(self, "_fit_frame_pending", False):
            self._fit_frame_pending = False
            QTimer.singleShot(0, self, self._fit_frame)

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

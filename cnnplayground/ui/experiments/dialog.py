"""Help → Experiments: the gallery of ready-made experiments, each run with one click.

The list on the left holds the experiments of :mod:`cnnplayground.experiments.gallery`;
the right side says what each compares, what to watch for and what the literature
found. **Run** trains its arms one after another in the background (an
:class:`~cnnplayground.experiments.base.ExperimentRun` driven by a :class:`~cnnplayground.ui.jobs.GeneratorJob`),
at the quick scale (the built-in synthetic shapes) or the full one (MNIST and
Fashion-MNIST from a folder). Every finished arm enters the dialog's own project,
:attr:`ExperimentsDialog.runs` (the open project's history is left alone); **Open
in New Window** shows those runs in a window of their own, whose Curves panel overlays
them, and **Save Runs As** writes them as a project file. Each run keeps the weights of its
epochs (:func:`~cnnplayground.experiments.arms.arms_project`), so that window's epoch slider and
Compare with show the arms side by side at any epoch. When all have run, the finding
appears: its headline, whether the effect the literature reports showed up (or that the
difference is within seed noise), and its figure, with a table of the arms. The figure
and the table can be saved. Closing the dialog stops a running experiment; the runs that
finished stay in the dialog's project.

The results of each experiment run in this dialog are kept by experiment, so
picking another one in the list and coming back shows them again.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape
from pathlib import Path

from PySide6.QtCore import QSize, Qt, QTimer
from PySide6.QtGui import QBrush, QColor, QFont, QKeySequence, QPalette, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QDialog,
    QFileDialog,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QScrollArea,
    QSizePolicy,
    QSplitter,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ...core.errors import UserError
from ...data.registry import default_data_root
from ...experiments.arms import arms_project
from ...experiments.base import (
    Analysing,
    Context,
    Experiment,
    ExperimentFinished,
    ExperimentRun,
    Finding,
    StageStarted,
)
from ...experiments.gallery import EXPERIMENTS
from ...io.atomic import AtomicWriteError
from ...io.project import save_project
from ...project import Project
from ...train.events import EpochFinished, RunStarted, StepFinished
from ...train.sweep import Variant, VariantEvent, VariantFinished, VariantStarted, sweep_table, to_csv
from ..document.commands import RecordRun
from ..document.document import Document
from ..export.figure_dialog import ExportFigureDialog
from ..export.figures import FigureTarget
from ..jobs import GeneratorJob
from ..shell import theme
from ..sorting import NumberItem, is_number
from .figure import FigurePlot

#: The results table: (key, header, tool tip).
COLUMNS = (
    ("run", "Run", "The arm of the experiment (its record in the project is named “experiment: arm”)"),
    ("outcome", "Outcome", "completed, stopped early (early stopping), or failed with the reason"),
    ("best_val_accuracy", "Best val. acc.", "Best validation accuracy over the epochs"),
    ("final_val_loss", "Final val. loss", "Validation loss after the last epoch"),
    ("final_train_accuracy", "Final train acc.", "Training accuracy of the last epoch"),
    ("seconds", "Seconds", "Time the run took, data loading included"),
)
OUTCOME_TEXT = {"completed": "completed", "early_stopping": "stopped early", "failed": "failed"}
#: Okabe & Ito's green and vermilion, as in the figures: readable on light and dark palettes.
HOLDS_COLOR, NOT_SEEN_COLOR = "#009E73", "#D55E00"
OUTCOME_COLUMN = [key for key, _, _ in COLUMNS].index("outcome")


def minutes_text(minutes: float) -> str:
    """``"under a minute"``, ``"about 3 min"``."""
    return "under a minute" if minutes < 1 else f"about {minutes:g} min"


def percent(share: float) -> str:
    """``"86.0 %"``, as the findings write it."""
    return f"{100 * share:.1f} %"


def duration_text(seconds: float) -> str:
    """``"42 s"``, ``"3 min 5 s"``."""
    seconds = max(0, round(seconds))
    return f"{seconds} s" if seconds < 60 else f"{seconds // 60} min {seconds % 60} s"


def has_data(record) -> bool:
    """Whether a run's record holds any curve (a run that could not start has none)."""
    return any(len(series.y) for series in record.series.values())


@dataclass
class Row:
    """One arm that has ended."""

    arm: str
    finished: VariantFinished
    shown: bool

    @property
    def failed(self) -> bool:
        return self.finished.outcome == "failed"


@dataclass
class Outcome:
    """What one run of an experiment gave so far (kept per experiment while the dialog is open)."""

    experiment: Experiment
    scale: str
    rows: list[Row] = field(default_factory=list)
    finding: Finding | None = None
    #: Why there is no finding (stopped, failed), or a note to the finding.
    message: str = ""
    ended: bool = False
    stopped: bool = False

    @property
    def nothing_finished(self) -> bool:
        return bool(self.rows) and all(row.failed for row in self.rows)


class _TextsArea(QScrollArea):
    """A scroll area that asks for the height of its text at its width (all of it when the screen has room)."""

    def sizeHint(self) -> QSize:
        hint = super().sizeHint()
        content = self.widget()
        if content is None:
            return hint
        layout = content.layout()
        width = max(self.width() - self.verticalScrollBar().sizeHint().width(), 200)
        height = layout.heightForWidth(width) if layout is not None and layout.hasHeightForWidth() else \
            content.sizeHint().height()
        return QSize(hint.width(), height + 2 * self.frameWidth() + self.fontMetrics().height() // 2)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        content = self.widget()
        if content is not None and content.layout() is not None:
            # Scroll only when the text at this width is taller than the area (not at its narrowest width).
            content.setMinimumHeight(content.layout().heightForWidth(self.viewport().width()))
        if event.size().width() != event.oldSize().width():
            self.updateGeometry()  # the text's height at the new width


#: Windows opened on an experiment's runs (kept alive after the dialog that opened them is gone).
_RUN_WINDOWS: set[QWidget] = set()


class ExperimentsDialog(QDialog):
    """Pick an experiment, run it, read its finding. ``document`` is the open project (only read: its data
    folder); the runs go into ``runs``, a project of the dialog's own."""

    def __init__(self, document: Document, parent: QWidget | None = None, *,
                 experiments: Sequence[Experiment] = EXPERIMENTS) -> None:
        super().__init__(parent)
        self.setWindowTitle("Experiments")
        self.document = document
        #: The experiments' runs: a fresh project, not the one open in the window.
        self.runs = Document(Project.new(name="Experiments"), self)
        self.experiments = list(experiments)
        self.runner: ExperimentRun | None = None
        self.job: GeneratorJob | None = None
        self.outcome: Outcome | None = None  # the one shown
        self.outcomes: dict[str, Outcome] = {}
        self._running_outcome: Outcome | None = None
        self._started = 0.0
        self._stage = ""
        #: The arms announced so far (by ``StageStarted``, in run order: index = ``VariantEvent.index``). Not the
        #: runner's own list, which the worker thread may already have grown past the events shown.
        self._arms: list[str] = []
        self._epochs: dict[int, int] = {}
        #: The variant each record of ``runs`` was trained from (by ``id`` of the record): its network, data
        #: and settings, for the project the runs open as.
        self._variants: dict[int, Variant] = {}
        self._val_accuracy: dict[int, float] = {}
        self._divider_moved = False

        # --- the gallery ------------------------------------------------------------------
        self.list = QListWidget(self)
        self.list.setWordWrap(True)
        self.list.setSpacing(2)
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.setToolTip("The experiments: pick one to read about it, double-click or press Enter to run it")
        for experiment in self.experiments:
            item = QListWidgetItem(experiment.title, self.list)
            item.setToolTip(experiment.summary)
        self.list.setMinimumWidth(220)

        # --- the selected experiment -----------------------------------------------------------
        self.title = QLabel(self)
        font = QFont(self.title.font())
        font.setPointSizeF(font.pointSizeF() * 1.35)
        font.setBold(True)
        self.title.setFont(font)
        self.title.setWordWrap(True)
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.summary = QLabel(self)
        self.watch = QLabel(self)
        self.literature = QLabel(self)
        for label in (self.summary, self.watch, self.literature):
            label.setWordWrap(True)
            label.setTextFormat(Qt.TextFormat.RichText)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            label.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)

        # --- how to run it ----------------------------------------------------------------------
        self.quick = QRadioButton(self)
        self.full = QRadioButton(self)
        self.quick.setToolTip("The built-in synthetic shapes: always available, seconds to a minute")
        self.full.setToolTip("MNIST and Fashion-MNIST from the data folder (torchvision's layout): minutes, "
                             "closer to the numbers in the literature")
        self.quick.setChecked(True)
        self.scale_group = QButtonGroup(self)
        self.scale_group.addButton(self.quick)
        self.scale_group.addButton(self.full)
        scale_row = QHBoxLayout()
        scale_row.addWidget(self.quick)
        scale_row.addSpacing(16)
        scale_row.addWidget(self.full)
        scale_row.addStretch(1)
        self.data_root = QLineEdit(self)
        self.data_root.setText(self.default_data_folder())
        self.data_root.setPlaceholderText("the folder holding MNIST/ and FashionMNIST/")
        self.data_root.setToolTip("The folder that holds MNIST and Fashion-MNIST in torchvision's layout "
                                  "(MNIST/raw, FashionMNIST/raw); used by the full scale only")
        self.data_root.setClearButtonEnabled(True)
        self.browse_button = QPushButton("Browse…", self)
        self.browse_button.setToolTip("Choose the data folder")
        self.browse_button.setAutoDefault(False)
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.data_root, 1)
        folder_row.addWidget(self.browse_button)
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.addRow("Scale:", scale_row)
        self.data_label = QLabel("Data folder:", self)
        form.addRow(self.data_label, folder_row)

        self.run_button = QPushButton("Run", self)
        self.run_button.setDefault(True)
        self.run_button.setToolTip("Run the selected experiment (Enter, Ctrl+Return); its runs go into the "
                                   "experiments' own project (Open in New Window compares them)")
        self.stop_button = QPushButton("Stop", self)
        self.stop_button.setEnabled(False)
        self.stop_button.setAutoDefault(False)
        self.stop_button.setToolTip("Stop after the current step: the runs that finished are kept")
        self.progress = QProgressBar(self)
        self.progress.setFormat("%v of %m runs")
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setToolTip("Runs finished of the runs planned so far (a later stage may add more)")
        run_row = QHBoxLayout()
        run_row.addWidget(self.run_button)
        run_row.addWidget(self.stop_button)
        run_row.addWidget(self.progress, 1)
        self.status = QLabel(self)
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        # --- the result ------------------------------------------------------------------------
        self.result_box = QFrame(self)
        self.result_box.setObjectName("experimentResult")
        self.verdict = QLabel(self.result_box)
        verdict_font = QFont(self.verdict.font())
        verdict_font.setBold(True)
        verdict_font.setPointSizeF(verdict_font.pointSizeF() * 1.1)
        self.verdict.setFont(verdict_font)
        self.headline = QLabel(self.result_box)
        self.headline.setWordWrap(True)
        self.headline.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.headline.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)
        box = QVBoxLayout(self.result_box)
        box.setContentsMargins(12, 8, 12, 8)
        box.setSpacing(4)
        box.addWidget(self.verdict)
        box.addWidget(self.headline)

        self.figure_plot = FigurePlot(self)
        self.figure_plot.setMinimumSize(320, 220)
        self.figure_placeholder = QLabel(self)
        self.figure_placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.figure_placeholder.setWordWrap(True)
        self.figure_placeholder.setFrameShape(QFrame.Shape.StyledPanel)
        self.figure_placeholder.setMinimumSize(320, 120)
        self.figure_stack = QStackedWidget(self)
        self.figure_stack.addWidget(self.figure_placeholder)
        self.figure_stack.addWidget(self.figure_plot)
        self.table = QTableWidget(0, len(COLUMNS), self)
        self.table.setSortingEnabled(True)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().setVisible(False)
        self.table.setWordWrap(False)
        self.table.setTextElideMode(Qt.TextElideMode.ElideRight)
        for c, (_, header, tip) in enumerate(COLUMNS):
            item = QTableWidgetItem(header)
            item.setToolTip(tip)
            self.table.setHorizontalHeaderItem(c, item)
        self.table.horizontalHeader().setStretchLastSection(False)
        self.table.setToolTip("Each run of the experiment, in the order they ran; click a header to sort")
        self.table.horizontalHeader().setSortIndicator(-1, Qt.SortOrder.AscendingOrder)  # the run order first
        self.results = QSplitter(Qt.Orientation.Vertical, self)
        self.results.addWidget(self.figure_stack)
        self.results.addWidget(self.table)
        self.results.setStretchFactor(0, 3)
        self.results.setStretchFactor(1, 2)
        self.results.setChildrenCollapsible(False)

        self.figure_button = QPushButton("Save Figure…", self)
        self.figure_button.setToolTip("The figure as PNG, SVG or PDF, or its numbers as CSV")
        self.csv_button = QPushButton("Save Table (CSV)…", self)
        self.csv_button.setToolTip("The table of runs as a CSV file")
        self.open_runs_button = QPushButton("Open in New Window", self)
        self.open_runs_button.setToolTip("The experiments' runs as a project in a window of its own, their "
                                         "curves overlaid in its Curves panel, each arm's epochs in its Inspect "
                                         "panels' epoch slider and Compare with (the open project is not changed)")
        self.save_runs_button = QPushButton("Save Runs As…", self)
        self.save_runs_button.setToolTip("The experiments' runs as a project file")
        self.close_button = QPushButton("Close", self)
        self.close_button.setToolTip("Close (Esc); a running experiment stops, its finished runs stay")
        for button in (self.figure_button, self.csv_button, self.open_runs_button, self.save_runs_button,
                       self.close_button):
            button.setAutoDefault(False)
            button.setEnabled(button is self.close_button)
        bottom = QHBoxLayout()
        bottom.addWidget(self.figure_button)
        bottom.addWidget(self.csv_button)
        bottom.addStretch(1)
        bottom.addWidget(self.open_runs_button)
        bottom.addWidget(self.save_runs_button)
        bottom.addWidget(self.close_button)

        # --- layout -----------------------------------------------------------------------------
        right = QWidget(self)
        column = QVBoxLayout(right)
        column.setContentsMargins(6, 0, 0, 0)
        # The texts scroll when the screen is small (1280×720): word-wrapped at the narrowest width they
        # would otherwise make the dialog taller than the screen, its buttons out of reach.
        texts = QWidget(self)
        text_column = QVBoxLayout(texts)
        text_column.setContentsMargins(0, 0, 0, 0)
        for label in (self.title, self.summary, self.watch, self.literature):
            text_column.addWidget(label)
        text_column.addStretch(1)
        self.texts = _TextsArea(self)
        self.texts.setWidget(texts)
        self.texts.setWidgetResizable(True)
        self.texts.setFrameShape(QFrame.Shape.NoFrame)
        self.texts.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.texts.setMinimumHeight(60)
        self.texts.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
        column.addWidget(self.texts)
        column.addSpacing(4)
        column.addLayout(form)
        column.addLayout(run_row)
        column.addWidget(self.status)
        column.addSpacing(4)
        column.addWidget(self.result_box)
        column.addWidget(self.results, 1)
        self.main = QSplitter(Qt.Orientation.Horizontal, self)
        self.main.addWidget(self.list)
        self.main.addWidget(right)
        self.main.setStretchFactor(1, 1)
        self.main.setChildrenCollapsible(False)
        layout = QVBoxLayout(self)
        layout.addWidget(self.main, 1)
        layout.addLayout(bottom)
        screen = self.screen().availableGeometry() if self.screen() is not None else None
        self.resize(min(1240, int(screen.width() * 0.95)) if screen else 1240,
                    min(900, int(screen.height() * 0.92)) if screen else 900)
        self.main.setSizes([280, 960])
        self.results.setSizes([330, 190])
        self.results.splitterMoved.connect(lambda *_: setattr(self, "_divider_moved", True))

        self.list.currentRowChanged.connect(self._on_selected)
        self.list.itemActivated.connect(lambda _item: self.start())
        self.full.toggled.connect(self._update_controls)
        self.browse_button.clicked.connect(self.browse)
        self.run_button.clicked.connect(self.start)
        self.stop_button.clicked.connect(self.stop)
        self.figure_button.clicked.connect(self.save_figure)
        self.csv_button.clicked.connect(self.save_csv)
        self.open_runs_button.clicked.connect(self.open_runs_window)
        self.save_runs_button.clicked.connect(self.save_runs)
        self.close_button.clicked.connect(self.reject)
        QShortcut(QKeySequence("Ctrl+Return"), self, self.start)
        QShortcut(QKeySequence("Ctrl+Enter"), self, self.start)
        if self.experiments:
            self.list.setCurrentRow(0)
        self._update_controls()
        self.list.setFocus()

    # --- the selection -----------------------------------------------------------------------
    def default_data_folder(self) -> str:
        """The project's dataset folder when it names one, else the app's default data folder."""
        root = self.document.project.dataset.root
        return str(Path(root).expanduser()) if root else str(default_data_root())

    def selected(self) -> Experiment | None:
        row = self.list.currentRow()
        return self.experiments[row] if 0 <= row < len(self.experiments) else None

    def select(self, key: str) -> None:
        """Select the experiment ``key`` (tests, the command line)."""
        for row, experiment in enumerate(self.experiments):
            if experiment.key == key:
                self.list.setCurrentRow(row)
                return
        raise KeyError(key)

    def _on_selected(self, _row: int) -> None:
        experiment = self.selected()
        if experiment is None:
            return
        self.title.setText(experiment.title)
        self.summary.setText(escape(experiment.summary, quote=False))
        self.watch.setText(f"<b>What to watch for</b><br>{escape(experiment.watch, quote=False)}")
        self.literature.setText(f"<b>What the literature found</b><br>{escape(experiment.literature, quote=False)}")
        quick, full = experiment.minutes
        self.quick.setText(f"Quick — synthetic shapes, {minutes_text(quick)}")
        self.full.setText(f"Full — MNIST and Fashion-MNIST, {minutes_text(full)}")
        self.texts.updateGeometry()  # the new texts' height
        if not self.running:
            self._show_outcome(self.outcomes.get(experiment.key))

    def _update_controls(self) -> None:
        running = self.running
        self.list.setEnabled(not running)
        self.quick.setEnabled(not running)
        self.full.setEnabled(not running)
        folder = self.full.isChecked() and not running
        for widget in (self.data_label, self.data_root, self.browse_button):
            widget.setEnabled(folder)
        self.run_button.setEnabled(not running and self.selected() is not None)
        self.stop_button.setEnabled(running)
        shown = self.outcome
        self.figure_button.setEnabled(shown is not None and shown.finding is not None
                                      and bool(self.figure_plot.getPlotItem().listDataItems()))
        self.csv_button.setEnabled(shown is not None and bool(shown.rows))
        for button in (self.open_runs_button, self.save_runs_button):
            button.setEnabled(bool(self.runs.project.history))

    def choose_folder(self) -> str:
        """Ask for the data folder (tests replace this)."""
        return QFileDialog.getExistingDirectory(self, "Data Folder (MNIST and Fashion-MNIST)",
                                                self.data_root.text().strip() or str(Path.home()))

    def browse(self) -> None:
        folder = self.choose_folder()
        if folder:
            self.data_root.setText(folder)

    # --- running -----------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.job is not None and self.job.running

    def context(self) -> Context | None:
        """The scale and data folder chosen, or ``None`` (and a message) when the folder is not usable."""
        if not self.full.isChecked():
            return Context("quick")
        text = self.data_root.text().strip()
        if not text:
            self._say("Choose the data folder that holds MNIST and Fashion-MNIST for the full scale.", error=True)
            return None
        folder = Path(text).expanduser()
        if not folder.is_dir():
            self._say(f"The data folder {folder} does not exist: choose the folder that holds MNIST and "
                      "Fashion-MNIST (torchvision's layout), or run the quick scale.", error=True)
            return None
        return Context("full", str(folder))

    def start(self) -> bool:
        """Run the selected experiment (nothing happens while one runs)."""
        experiment = self.selected()
        if self.running or experiment is None:
            return False
        context = self.context()
        if context is None:
            return False
        self.runner = ExperimentRun(experiment, context)
        outcome = Outcome(experiment, context.scale)
        self.outcomes[experiment.key] = outcome
        self._running_outcome = outcome
        self._epochs.clear()
        self._val_accuracy.clear()
        self._arms = []
        self._stage = ""
        self._started = time.monotonic()
        self._show_outcome(outcome)
        self.progress.setRange(0, 0)  # busy until the first stage says how many runs it has
        self.job = GeneratorJob(self.runner.run(), parent=self)
        self.job.progressed.connect(self._on_events)
        self.job.finished.connect(self._on_done)
        self.job.failed.connect(self._on_failed)
        self.job.start()
        self._say(f"Starting {experiment.title} ({context.scale} scale)…")
        self._update_controls()
        return True

    def stop(self) -> None:
        """Stop at the next step: the runs that finished stay in the project, the interrupted one is dropped."""
        if self.runner is not None and self.running:
            self.runner.stop()
            self.stop_button.setEnabled(False)
            self._say("Stopping after the current step…")

    def _run_label(self, index: int) -> str:
        names = self._arms
        name = names[index] if 0 <= index < len(names) else f"run {index + 1}"
        return f"Run {index + 1} of {max(len(names), index + 1)}{self._stage}: {name}"

    def _on_events(self, events: list) -> None:
        outcome = self._running_outcome
        if outcome is None:
            return
        for event in events:
            if isinstance(event, StageStarted):
                self._arms.extend(event.arms)
                self.progress.setRange(0, max(len(self._arms), 1))
                self.progress.setValue(len(outcome.rows))
                self._stage = f" (stage {event.index + 1} of {event.total}: {event.title})" if event.total > 1 else ""
            elif isinstance(event, VariantStarted):
                self._say(f"{self._run_label(event.index)} — loading the data…")
            elif isinstance(event, VariantEvent):
                self._on_trainer_event(event)
            elif isinstance(event, VariantFinished):
                self._on_arm_finished(outcome, event)
            elif isinstance(event, Analysing):
                self._say("Computing the result…")
            elif isinstance(event, ExperimentFinished):
                outcome.finding = event.finding
                outcome.stopped = event.stopped
                outcome.message = event.message
                outcome.ended = True
                if outcome is self.outcome:
                    self._show_result(outcome)

    def _on_trainer_event(self, wrapped: VariantEvent) -> None:
        event, index = wrapped.event, wrapped.index
        if isinstance(event, RunStarted):
            self._epochs[index] = event.epochs
            return
        if isinstance(event, EpochFinished) and event.val_accuracy is not None:
            self._val_accuracy[index] = event.val_accuracy
        if not isinstance(event, StepFinished | EpochFinished):
            return
        epochs = self._epochs.get(index)
        text = f"{self._run_label(index)} — epoch {event.epoch}" + (f" of {epochs}" if epochs else "")
        if isinstance(event, StepFinished) and event.steps_per_epoch:
            text += f", {round(100 * event.epoch_step / event.steps_per_epoch)} %"
        accuracy = self._val_accuracy.get(index)
        if accuracy is not None:
            text += f", validation accuracy {percent(accuracy)}"
        self._say(text)

    def _on_arm_finished(self, outcome: Outcome, event: VariantFinished) -> None:
        arm = self._arms[event.index] if event.index < len(self._arms) else event.record.name
        shown = self.runner.shown[event.index] if self.runner is not None else True  # set before its stage began
        row = Row(arm, event, shown)
        outcome.rows.append(row)
        self.progress.setValue(len(outcome.rows))
        if row.failed:
            self._say(f"{arm} failed: {event.message}", error=True)
        if shown and has_data(event.record):
            # Into the dialog's own project (one undo step there), never the open one.
            variant = self.runner.results.variants.get(arm) if self.runner is not None else None
            if variant is not None:
                self._variants[id(event.record)] = variant
            self.runs.push(RecordRun(self.runs, None, event.record))
        if outcome is self.outcome:
            self._fill_table(outcome)
            self._update_controls()

    def _on_done(self) -> None:
        outcome = self._running_outcome
        self._running_outcome = None
        if outcome is not None and not outcome.ended:
            outcome.ended = True
            outcome.message = outcome.message or "the experiment ended without a result"
        self._finish(outcome)

    def _on_failed(self, message: str) -> None:
        outcome = self._running_outcome
        self._running_outcome = None
        if outcome is not None:
            outcome.ended = True
            outcome.finding = None
            outcome.message = f"the experiment failed: {message}"
        self._finish(outcome)

    def _finish(self, outcome: Outcome | None) -> None:
        self.progress.setRange(0, max(self.progress.maximum(), 1))
        if outcome is not None:
            if outcome is self.outcome:
                self._show_result(outcome)
            elapsed = duration_text(time.monotonic() - self._started)
            kept = sum(1 for r in outcome.rows if r.shown and has_data(r.finished.record))
            where = (f", {'all' if kept == len(outcome.rows) else kept} kept with the experiments' runs (Open "
                     "in New Window to compare their curves)" if kept else "")
            planned = max(len(self._arms), len(outcome.rows))
            if outcome.stopped:
                self._say(f"Stopped after {elapsed}: {len(outcome.rows)} of {planned} runs "
                          f"finished{where}.")
            elif outcome.finding is None or outcome.nothing_finished:
                self._say(f"Ended after {elapsed} without a result: see the message below.", error=True)
            else:
                runs = f"{len(outcome.rows)} runs" if len(outcome.rows) != 1 else "1 run"
                self._say(f"Done in {elapsed}: {runs}{where}.")
        self._update_controls()

    # --- showing an outcome -----------------------------------------------------------------------
    def _show_outcome(self, outcome: Outcome | None) -> None:
        self.outcome = outcome
        self.progress.setFormat("%v of %m runs" if outcome is not None else "")
        self.progress.setRange(0, max(len(outcome.rows), 1) if outcome else 1)
        self.progress.setValue(len(outcome.rows) if outcome else 0)
        self._fill_table(outcome)
        self._show_result(outcome)
        if outcome is None:
            self._say("")
        self._update_controls()

    def _failure_text(self, outcome: Outcome) -> str:
        if outcome.nothing_finished:
            first = outcome.rows[0]
            return f"no run finished, so there is nothing to compare. {first.arm}: {first.finished.message}"
        return outcome.message or "the experiment ended without a result"

    def _show_result(self, outcome: Outcome | None) -> None:
        finding = outcome.finding if outcome is not None else None
        if outcome is None:
            self._set_verdict("No result yet", None)
            self.headline.setText("Run the experiment: its finding appears here when every run has finished, "
                                  "and the runs join the project's Curves panel as they finish.")
        elif not outcome.ended:
            self._set_verdict("Running…", None)
            self.headline.setText("The finding appears here when every run has finished; each finished run "
                                  "joins the project's Curves panel now.")
        elif outcome.stopped:
            self._set_verdict("Stopped", None)
            self.headline.setText("The experiment was stopped before its last run, so there is no finding. The "
                                  "runs that finished are in the project's runs.")
            finding = None
        elif finding is None or outcome.nothing_finished:
            self._set_verdict("✗ No result", NOT_SEEN_COLOR)
            text = self._failure_text(outcome)
            self.headline.setText(text[:1].upper() + text[1:])
            finding = None
        else:
            if finding.holds:
                self._set_verdict("✓ As in the literature", HOLDS_COLOR)
            elif not finding.clear:
                self._set_verdict("≈ No clear difference (within seed noise)", None)
            else:
                self._set_verdict("✗ Not seen in this run", NOT_SEEN_COLOR)
            scale = "quick scale (synthetic shapes)" if outcome.scale == "quick" else "full scale"
            text, window = (self.palette().color(r) for r in (QPalette.ColorRole.WindowText,
                                                               QPalette.ColorRole.Window))
            muted = QColor.fromRgbF(*((a + b) / 2 for a, b in zip(text.getRgbF()[:3], window.getRgbF()[:3])))
            self.headline.setText(f"{escape(finding.headline, quote=False)}<br><span style='color: {muted.name()}'>"
                                  f"{escape(outcome.experiment.title, quote=False)}, {scale}</span>")
        self.figure_plot.show_figure(finding.figure if finding is not None else None)
        self.figure_stack.setCurrentWidget(self.figure_plot if finding is not None else self.figure_placeholder)
        self.figure_placeholder.setText(
            "The figure appears here when every run has finished." if outcome is None or not outcome.ended else
            "No figure: the experiment did not reach its result.")

    def _set_verdict(self, text: str, color: str | None) -> None:
        self.verdict.setText(text)
        accent = color or self.palette().color(QPalette.ColorRole.Mid).name()
        tint = QColor(accent)
        tint.setAlpha(28 if color else 0)
        self.verdict.setStyleSheet(f"color: {color};" if color else "")
        self.result_box.setStyleSheet(
            f"QFrame#experimentResult {{ border: 1px solid {accent}; border-left: 5px solid {accent}; "
            f"border-radius: 4px; background: rgba({tint.red()}, {tint.green()}, {tint.blue()}, {tint.alpha()}); }}")

    def _fill_table(self, outcome: Outcome | None) -> None:
        rows = outcome.rows if outcome is not None else []
        numbers = sweep_table([row.finished.record for row in rows])
        self.table.setSortingEnabled(False)
        self.table.setRowCount(len(rows))
        error = QBrush(QColor(theme.error_color()))
        for r, (row, values) in enumerate(zip(rows, numbers, strict=True)):
            for c, (key, _, _) in enumerate(COLUMNS):
                item = NumberItem()
                if key == "run":
                    item.setText(row.arm)
                    item.setToolTip(row.finished.record.name if row.shown else
                                    f"{row.arm}: a helper run, not added to the project's runs")
                elif key == "outcome":
                    text = OUTCOME_TEXT.get(row.finished.outcome, row.finished.outcome)
                    if row.failed and row.finished.message:
                        text += f": {row.finished.message}"
                        item.setForeground(error)
                    item.setText(text)
                    item.setToolTip(text)
                else:
                    value = row.finished.seconds if key == "seconds" else values.get(key)
                    if is_number(value):
                        shown = (percent(value) if "accuracy" in key else
                                 f"{value:.1f}" if key == "seconds" else f"{value:.4g}")
                        item.setData(Qt.ItemDataRole.DisplayRole, shown)
                        item.setData(Qt.ItemDataRole.UserRole, float(value))
                        item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                    else:
                        item.setText("—")
                        item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                self.table.setItem(r, c, item)
        self.table.setSortingEnabled(True)
        # Every column fits its numbers; the outcome takes the room left (a failure's message is elided,
        # whole in its tool tip).
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.table.resizeColumnsToContents()
        header.setSectionResizeMode(OUTCOME_COLUMN, QHeaderView.ResizeMode.Stretch)
        self._fit_table()

    def _fit_table(self) -> None:
        """Give the table the height of its rows (3 to 8 shown), the figure the rest, until the user moves
        the divider."""
        if self._divider_moved:
            return
        total = sum(self.results.sizes())
        if total <= 0:
            return
        rows = min(max(self.table.rowCount(), 3), 8)
        wanted = (self.table.horizontalHeader().height() + rows * self.table.verticalHeader().defaultSectionSize()
                  + 2 * self.table.frameWidth() + self.table.horizontalScrollBar().sizeHint().height())
        wanted = min(wanted, total // 2)
        self.results.blockSignals(True)
        self.results.setSizes([total - wanted, wanted])
        self.results.blockSignals(False)

    # --- saving ------------------------------------------------------------------------------
    def table_rows(self) -> list[dict]:
        """The table as plain rows (for CSV): every arm with its outcome and numbers."""
        outcome = self.outcome
        if outcome is None:
            return []
        out = []
        for row, values in zip(outcome.rows, sweep_table([r.finished.record for r in outcome.rows]), strict=True):
            out.append({"experiment": outcome.experiment.key, "scale": outcome.scale, "run": row.arm,
                        "outcome": row.finished.outcome, "message": row.finished.message,
                        "parameters": values.get("parameters"), "epochs": values.get("epochs"),
                        "best_val_accuracy": values.get("best_val_accuracy"),
                        "final_val_accuracy": values.get("final_val_accuracy"),
                        "final_val_loss": values.get("final_val_loss"),
                        "final_train_loss": values.get("final_train_loss"),
                        "final_train_accuracy": values.get("final_train_accuracy"),
                        "seconds": round(row.finished.seconds, 3)})
        return out

    def choose_csv_path(self) -> str:
        """Ask where the CSV goes (tests replace this)."""
        name = f"{self.outcome.experiment.key}.csv" if self.outcome is not None else "experiment.csv"
        path, _ = QFileDialog.getSaveFileName(self, "Save Table", name, "CSV table (*.csv)")
        return path

    def save_csv(self) -> str | None:
        rows = self.table_rows()
        if not rows:
            return None
        path = self.choose_csv_path()
        if not path:
            return None
        try:
            to_csv(rows, path)
        except (AtomicWriteError, OSError) as exc:
            self._say(f"The table was not saved: {exc}", error=True)
            return None
        self._say(f"Saved {path}")
        return path

    def choose_runs_path(self) -> str:
        """Ask where the experiments' project goes (tests replace this)."""
        path, _ = QFileDialog.getSaveFileName(self, "Save Runs As", "experiments.cnnp",
                                              "CNN Playground project (*.cnnp)")
        return path

    def save_runs(self) -> Path | None:
        """The experiments' runs as a project file (the open project is not touched)."""
        path = self.choose_runs_path()
        if not path:
            return None
        target = Path(path) if path.endswith(".cnnp") else Path(path + ".cnnp")
        try:
            save_project(self.runs_project(), target)
        except (UserError, OSError) as exc:
            self._say(f"The runs were not saved: {exc}", error=True)
            return None
        self._say(f"Saved {target}")
        return target

    def runs_project(self) -> Project:
        """A copy of the experiments' project, one run per arm with its epochs, set up (network, data,
        weights) as the first arm."""
        history = self.runs.project.history
        return arms_project([(record, self._variants.get(id(record))) for record in history], "Experiments")

    def open_runs_window(self) -> QWidget:
        """A new window on a copy of the experiments' project: its Curves panel overlays the runs."""
        from ..shell.main_window import MainWindow  # the shell builds on this package, not the reverse

        window = MainWindow()
        window.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        _RUN_WINDOWS.add(window)
        window.destroyed.connect(lambda _obj=None, w=window: _RUN_WINDOWS.discard(w))
        window.document.new(self.runs_project())  # a copy
        window.show_bottom_dock(window.curves_dock)
        window.show()
        return window

    def figure_target(self) -> FigureTarget:
        figure = self.figure_plot.figure
        return FigureTarget(figure.title if figure is not None else "Experiment", self.figure_plot)

    def save_figure(self) -> ExportFigureDialog | None:
        """The figure through File → Export Figure's dialog (format, size, resolution)."""
        if self.figure_plot.figure is None:
            return None
        dialog = ExportFigureDialog([self.figure_target()], parent=self)
        dialog.setWindowTitle("Save Figure")
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.accepted.connect(lambda: self._say(f"Saved {dialog.written}"))
        dialog.open()
        return dialog

    # --- the rest ------------------------------------------------------------------------------
    def showEvent(self, event) -> None:
        super().showEvent(event)
        QTimer.singleShot(0, self, self._fit_table)  # once laid out: the figure gets the room the rows leave

    def _say(self, text: str, error: bool = False) -> None:
        self.status.setText(text)
        self.status.setStyleSheet(f"color: {theme.error_color()};" if error else "")

    def reject(self) -> None:
        if self.running and self.runner is not None:
            self.runner.stop()  # closing stops the experiment; the runs that finished stay in the project
        super().reject()

"""Train → Sweep: train variants of the project that differ in one or two settings, one after another.

Each setting is varied over a range (linear or log scale): every combination of a few
points (grid) or random draws (random search). The variants run in the background;
each finished one enters the project's runs (one undo step each), so the Curves
panel overlays them and its runs table shows how they differ. The results table here
can be saved as CSV.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDoubleSpinBox,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QVBoxLayout,
    QWidget,
)

from ...core.errors import UserError
from ...train.events import EpochFinished
from ...train.sweep import (
    Axis,
    Sweep,
    SweepFinished,
    SweepSpec,
    VariantEvent,
    VariantFinished,
    VariantStarted,
    sweep_table,
    to_csv,
    variants,
)
from ..document.commands import RecordRun
from ..document.document import Document
from ..jobs import GeneratorJob
from ..sorting import NumberItem, format_seconds, is_number

#: (setting, label, default low, default high, default scale, decimals)
SETTINGS = (
    ("learning_rate", "learning rate", 1e-4, 1e-2, "log", 6),
    ("weight_decay", "weight decay", 1e-5, 1e-2, "log", 6),
    ("label_smoothing", "label smoothing", 0.0, 0.2, "linear", 3),
    ("batch_size", "batch size", 32, 512, "log", 0),
    ("epochs", "epochs", 1, 10, "linear", 0),
    ("width", "network width ×", 0.25, 4.0, "log", 3),
    ("dropout", "dropout p", 0.0, 0.6, "linear", 3),
    ("depth", "network depth ×", 1, 3, "linear", 0),
    ("train_fraction", "share of training images", 0.05, 1.0, "log", 3),
)
_BY_KEY = {s[0]: s for s in SETTINGS}
COLUMNS = ("name", "best_val_accuracy", "final_val_loss", "final_train_accuracy", "seconds")


class _AxisRow:
    """Setting, low, high, scale and grid points of one varied setting."""

    def __init__(self, parent: QWidget, grid: QGridLayout, row: int, default: str) -> None:
        self.setting = QComboBox(parent)
        for key, label, *_ in SETTINGS:
            self.setting.addItem(label, key)
        self.low, self.high = QDoubleSpinBox(parent), QDoubleSpinBox(parent)
        for box in (self.low, self.high):
            box.setRange(0.0, 1e6)
        self.scale = QComboBox(parent)
        self.scale.addItem("log scale", "log")
        self.scale.addItem("linear", "linear")
        self.steps = QSpinBox(parent)
        self.steps.setRange(2, 30)
        self.steps.setValue(3)
        self.steps.setSuffix(" values")
        self.steps.setToolTip("Grid: this many values from low to high, ends included")
        for col, widget in enumerate((self.setting, self.low, QLabel("to", parent), self.high, self.scale,
                                      self.steps)):
            grid.addWidget(widget, row, col)
        self.setting.currentIndexChanged.connect(self._defaults)
        self.setting.setCurrentIndex(self.setting.findData(default))
        self._defaults()

    def _defaults(self) -> None:
        _, _, low, high, scale, decimals = _BY_KEY[self.setting.currentData()]
        for box, value in ((self.low, low), (self.high, high)):
            box.setDecimals(max(decimals, 0))
            box.setValue(value)
        self.scale.setCurrentIndex(self.scale.findData(scale))

    def axis(self) -> Axis:
        return Axis.range(self.setting.currentData(), self.low.value(), self.high.value(), self.scale.currentData(),
                          steps=self.steps.value())

    def set_enabled(self, on: bool) -> None:
        for widget in (self.setting, self.low, self.high, self.scale, self.steps):
            widget.setEnabled(on)


class SweepDialog(QDialog):
    """Set up, run and stop a sweep; the finished variants fill the table and the project's runs."""

    def __init__(self, document: Document, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Sweep")
        self.document = document
        self.sweep: Sweep | None = None
        self.job: GeneratorJob | None = None
        self.records: list = []
        self.variant_names: list[str] = []
        self.mode = QComboBox(self)
        self.mode.addItem("grid: every combination", "grid")
        self.mode.addItem("random search", "random")
        self.count = QSpinBox(self)
        self.count.setRange(1, 200)
        self.count.setValue(8)
        self.count.setSuffix(" runs")
        self.seed = QSpinBox(self)
        self.seed.setRange(0, 1_000_000)
        self.seed.setPrefix("seed ")
        grid = QGridLayout()
        self.first = _AxisRow(self, grid, 0, "learning_rate")
        self.use_second = QCheckBox("and", self)
        grid.addWidget(self.use_second, 1, 6)
        self.second = _AxisRow(self, grid, 1, "weight_decay")
        self.preview = QLabel(self)
        self.preview.setWordWrap(True)
        self.run_button = QPushButton("Run", self)
        self.stop_button = QPushButton("Stop", self)
        self.stop_button.setEnabled(False)
        self.csv_button = QPushButton("Save CSV…", self)
        self.csv_button.setEnabled(False)
        self.progress = QProgressBar(self)
        self.status = QLabel(self)
        self.table = QTableWidget(0, len(COLUMNS), self)
        self.table.setSortingEnabled(True)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setToolTip("The finished runs, in the order they ran; click a header to sort")
        self.table.horizontalHeader().setSortIndicator(-1, Qt.SortOrder.AscendingOrder)  # the run order first
        head = QHBoxLayout()
        for w in (QLabel("Mode", self), self.mode, self.count, self.seed):
            head.addWidget(w)
        head.addStretch(1)
        buttons = QHBoxLayout()
        for w in (self.run_button, self.stop_button, self.csv_button, self.progress):
            buttons.addWidget(w)
        layout = QVBoxLayout(self)
        layout.addLayout(head)
        layout.addLayout(grid)
        layout.addWidget(self.preview)
        layout.addLayout(buttons)
        layout.addWidget(self.status)
        layout.addWidget(self.table, 1)
        self.resize(760, 460)
        for signal in (self.mode.currentIndexChanged, self.count.valueChanged, self.seed.valueChanged,
                       self.use_second.toggled):
            signal.connect(self.update_preview)
        for row in (self.first, self.second):
            for signal in (row.setting.currentIndexChanged, row.low.valueChanged, row.high.valueChanged,
                           row.scale.currentIndexChanged, row.steps.valueChanged):
                signal.connect(self.update_preview)
        self.run_button.clicked.connect(self.start)
        self.stop_button.clicked.connect(self.stop)
        self.csv_button.clicked.connect(self.save_csv)
        self.update_preview()

    # --- the spec ---------------------------------------------------------------------------
    def spec(self) -> SweepSpec:
        axes = (self.first.axis(), self.second.axis()) if self.use_second.isChecked() else (self.first.axis(),)
        return SweepSpec(axes, mode=self.mode.currentData(), count=self.count.value(), seed=self.seed.value(),
                         name=f"sweep {sum(1 for r in self.document.project.history if 'sweep' in r.settings) + 1}")

    def update_preview(self) -> list | None:
        random_search = self.mode.currentData() == "random"
        self.count.setVisible(random_search)
        self.seed.setVisible(random_search)
        for row in (self.first, self.second):
            row.steps.setVisible(not random_search)
        self.second.set_enabled(self.use_second.isChecked())
        try:
            found = variants(self.spec(), self.document.project)
        except UserError as exc:
            self.preview.setText(f"<b>Cannot run:</b> {exc}")
            self.run_button.setEnabled(False)
            return None
        names = ", ".join(v.name.split(": ", 1)[-1] for v in found[:6]) + (" …" if len(found) > 6 else "")
        self.preview.setText(f"{len(found)} runs of {self.document.project.training.epochs} epoch(s) each, one "
                             f"after another: {names}")
        self.run_button.setEnabled(not self.running)
        return found

    # --- running ---------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.job is not None and self.job.running

    def start(self) -> None:
        found = self.update_preview()
        if not found or self.running:
            return
        self.records, self.variant_names = [], [v.name for v in found]
        self.table.setRowCount(0)
        self.progress.setRange(0, len(found))
        self.progress.setValue(0)
        self.sweep = Sweep(found)
        self.job = GeneratorJob(self.sweep.run(), parent=self)
        self.job.progressed.connect(self._on_events)
        self.job.finished.connect(self._on_done)
        self.job.failed.connect(lambda message: self._on_done(f"The sweep failed: {message}"))
        self.job.start()
        self.run_button.setEnabled(False)
        self.stop_button.setEnabled(True)
        self.status.setText("Loading the data…")

    def stop(self) -> None:
        """Stop at the next step: finished variants stay, the interrupted one is dropped."""
        if self.sweep is not None and self.running:
            self.sweep.stop()
            self.status.setText("Stopping after the current step…")

    def _on_events(self, events: list) -> None:
        for event in events:
            if isinstance(event, VariantStarted):
                self.status.setText(f"Run {event.index + 1} of {len(self.variant_names)}: {event.name}")
            elif isinstance(event, VariantEvent) and isinstance(event.event, EpochFinished):
                e = event.event
                acc = "" if e.val_accuracy is None else f", validation accuracy {e.val_accuracy:.1%}"
                self.status.setText(f"Run {event.index + 1} of {len(self.variant_names)}: "
                                    f"{self.variant_names[event.index]}, epoch {e.epoch}{acc}")
            elif isinstance(event, VariantFinished):
                self._finished(event)
            elif isinstance(event, SweepFinished):
                self.status.setText(f"{event.completed} of {event.total} runs finished"
                                    + (" (stopped)" if event.stopped else ""))

    def _finished(self, event: VariantFinished) -> None:
        self.progress.setValue(event.index + 1)
        if event.outcome == "failed":
            self.status.setText(f"{self.variant_names[event.index]} failed: {event.message}")
            return
        self.records.append(event.record)
        # Into the project: the Curves panel overlays it with the others (undo removes it).
        self.document.push(RecordRun(self.document, self.document.project.weights, event.record))
        self._fill_table()
        self.csv_button.setEnabled(True)

    def _fill_table(self) -> None:
        rows = sweep_table(self.records)
        varied = [k for k in rows[0] if k not in COLUMNS and k not in ("parameters", "epochs") and not
                  k.startswith(("best_", "final_"))] if rows else []
        columns = [COLUMNS[0], *varied, *COLUMNS[1:]]
        self.table.setSortingEnabled(False)
        self.table.setColumnCount(len(columns))
        self.table.setHorizontalHeaderLabels(["time" if c == "seconds" else c.replace("_", " ") for c in columns])
        self.table.setRowCount(len(rows))
        for r, row in enumerate(rows):
            for c, key in enumerate(columns):
                value = row.get(key)
                item = NumberItem()  # numbers sort as numbers ("9.00%" before "10.00%"), blanks last
                if is_number(value):
                    shown = (f"{value:.2%}" if "accuracy" in key else format_seconds(value) if key == "seconds"
                             else f"{value:.4g}")
                    item.setData(Qt.ItemDataRole.DisplayRole, shown)
                    item.setData(Qt.ItemDataRole.UserRole, value)
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                else:
                    item.setText("" if value is None else str(value))
                self.table.setItem(r, c, item)
        self.table.setSortingEnabled(True)  # sorted again as the user chose (none chosen: the run order)
        self.table.resizeColumnsToContents()

    def _on_done(self, failure: str = "") -> None:
        if failure:
            self.status.setText(failure)
        self.run_button.setEnabled(True)
        self.stop_button.setEnabled(False)

    def choose_csv_path(self) -> str:
        """Ask where the CSV goes (tests replace this)."""
        path, _ = QFileDialog.getSaveFileName(self, "Save Sweep Results", "sweep.csv", "CSV table (*.csv)")
        return path

    def save_csv(self) -> None:
        path = self.choose_csv_path()
        if path:
            to_csv(sweep_table(self.records), path)
            self.status.setText(f"Saved {path}")

    def reject(self) -> None:
        if self.running:
            self.sweep.stop()  # closing the dialog stops the sweep; finished runs stay in the project
        super().reject()

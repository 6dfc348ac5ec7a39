"""Train → Find Learning Rate: Smith's range test on a copy of the network, plotted, with its suggestion.

The sweep (:mod:`cnnplayground.train.lr_find`) runs in the background as a :class:`~..jobs.GeneratorJob`:
the loss (faint) and its smoothed curve are drawn against the rate on a log axis as they come, and the
suggested rate is marked once the sweep ends. "Use 2.6e-3" sets the project's learning rate to it as one
undo step (:class:`~..document.commands.SetLearningRate`). The project is never touched otherwise: the
network trained here is a new one built from the graph, dropped afterwards.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import pyqtgraph as pg
from PySide6.QtCore import QCoreApplication, Qt
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ...core.graph import Graph
from ...data.base import ImageData
from ...data.registry import load_dataset
from ...project import DatasetChoice, TrainingConfig
from ...train.lr_find import DEFAULT_END_LR, DEFAULT_START_LR, LrFindResult, LrStep, find_for_project
from ..document.commands import SetLearningRate
from ..document.document import Document
from ..jobs import GeneratorJob
from ..shell import theme

#: Colours of the raw loss, the smoothed loss and the suggestion mark.
RAW = QColor(120, 140, 170, 110)
SMOOTHED = QColor(31, 119, 180)
SUGGESTED = QColor(214, 39, 40)
STEEPEST = QColor(128, 128, 128)


def _sweep(graph: Graph, choice: DatasetChoice, config: TrainingConfig, data: ImageData | None,
           steps: int) -> Iterator[LrStep | LrFindResult | str]:
    """The job's items: ``"loading"`` while the dataset loads (when not loaded yet), each step, then the result."""
    if data is None:
        yield "loading"
        data = load_dataset(choice, val_fraction=config.val_fraction, seed=config.seed)
    result = yield from find_for_project(graph, data, config, steps=steps)
    yield result


class LrFindDialog(QDialog):
    """Run the range test, show the curve and the suggestion, and set the rate with one click (undoable).

    ``cached_data`` gives the project's dataset when the Training dock has it loaded (else the job loads it).
    """

    def __init__(self, document: Document, cached_data: Callable[[], ImageData | None] = lambda: None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Find Learning Rate")
        self.document = document
        self.cached_data = cached_data
        self.job: GeneratorJob | None = None
        self.result: LrFindResult | None = None
        self._rates: list[float] = []
        self._losses: list[float] = []
        self._smoothed: list[float] = []

        intro = QLabel(
            "Trains a copy of the network for a few steps while the learning rate grows from "
            f"{DEFAULT_START_LR:.0e} to {DEFAULT_END_LR:g}, with the project's optimizer and batch size. "
            "A good rate lies where the loss still falls steeply, before it is lowest; the suggestion is "
            "a tenth of the rate at the lowest smoothed loss (fast.ai's lr_find). The project is not "
            "changed until you press Use.", self)
        intro.setWordWrap(True)
        self.steps = QSpinBox(self)
        self.steps.setRange(10, 10_000)
        self.steps.setValue(100)
        self.steps.setSuffix(" steps")
        self.steps.setToolTip("Optimizer steps of the sweep (fast.ai uses 100)")
        self.find_button = QPushButton("Find", self)
        self.find_button.setDefault(True)
        self.stop_button = QPushButton("Stop", self)
        self.stop_button.setEnabled(False)
        self.progress = QProgressBar(self)
        self.status = QLabel("Press Find to run the sweep.", self)
        self.status.setWordWrap(True)
        self.use_button = QPushButton("Use suggested rate", self)
        self.use_button.setEnabled(False)
        self.use_button.setToolTip("Set the project's learning rate to the suggestion (Edit → Undo takes it back)")
        self.close_button = QPushButton("Close", self)

        self.plot_widget = pg.PlotWidget(self)
        self.plot = self.plot_widget.getPlotItem()
        self.plot.setLogMode(x=True, y=False)
        self.plot.setLabel("bottom", "learning rate")
        self.plot.setLabel("left", "training loss")
        self.plot.showGrid(x=True, y=True, alpha=0.25)
        for axis in ("left", "bottom"):
            self.plot.getAxis(axis).enableAutoSIPrefix(False)
        self.plot.addLegend(offset=(10, 10), labelTextSize="9pt")  # top left: the flat start of the curve
        self.raw_curve = self.plot.plot([], [], pen=pg.mkPen(RAW, width=1), name="loss")
        self.smooth_curve = self.plot.plot([], [], pen=pg.mkPen(SMOOTHED, width=2), name="smoothed loss")
        dashed, dotted = Qt.PenStyle.DashLine, Qt.PenStyle.DotLine
        self.suggest_line = pg.InfiniteLine(angle=90, pen=pg.mkPen(SUGGESTED, width=2, style=dashed), label="",
                                            labelOpts={"position": 0.92, "color": SUGGESTED})
        self.steep_line = pg.InfiniteLine(angle=90, pen=pg.mkPen(STEEPEST, width=1, style=dotted), label="",
                                          labelOpts={"position": 0.08, "color": STEEPEST})
        self.suggest_point = pg.ScatterPlotItem(size=11, pen=pg.mkPen(SUGGESTED), brush=pg.mkBrush(SUGGESTED))
        for item in (self.suggest_line, self.steep_line, self.suggest_point):
            item.setVisible(False)
            self.plot.addItem(item, ignoreBounds=True)

        controls = QHBoxLayout()
        for w in (self.steps, self.find_button, self.stop_button, self.progress):
            controls.addWidget(w)
        buttons = QHBoxLayout()
        buttons.addWidget(self.status, 1)
        buttons.addWidget(self.use_button)
        buttons.addWidget(self.close_button)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(controls)
        layout.addWidget(self.plot_widget, 1)
        layout.addLayout(buttons)
        self.resize(760, 520)

        self.find_button.clicked.connect(self.start)
        self.stop_button.clicked.connect(self.stop)
        self.use_button.clicked.connect(self.use_suggestion)
        self.close_button.clicked.connect(self.close)
        document.graph_replaced.connect(self._on_project_replaced)
        theme.theme_changed().connect(self._apply_theme)
        self._apply_theme()

    # --- running ------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.job is not None and self.job.running

    def start(self) -> None:
        if self.running:
            return
        project = self.document.project
        graph = Graph.from_dict(project.graph.to_dict())  # a private copy: canvas edits cannot reach it
        config = project.training.model_copy(deep=True)
        self._rates, self._losses, self._smoothed = [], [], []
        self.result = None
        self._show_curve()
        for item in (self.suggest_line, self.steep_line, self.suggest_point):
            item.setVisible(False)
        self.use_button.setEnabled(False)
        self.use_button.setText("Use suggested rate")
        self.progress.setRange(0, self.steps.value())
        self.progress.setValue(0)
        self.job = GeneratorJob(_sweep(graph, project.dataset.model_copy(deep=True), config, self.cached_data(),
                                       self.steps.value()), parent=self)
        self.job.progressed.connect(self._on_items)
        self.job.finished.connect(self._on_finished)
        self.job.failed.connect(self._on_failed)
        self.job.start()
        self.find_button.setEnabled(False)
        self.stop_button.setEnabled(True)
        self.status.setText(f"Sweeping the rate, {config.optimizer}, batch size {config.batch_size}…")

    def stop(self) -> None:
        """Cancel the sweep (the copy of the network is dropped; the curve so far stays)."""
        if self.running:
            self._cancel_job()
            self.status.setText(f"Stopped after {len(self._rates)} steps: no rate suggested")
        self._idle()

    def _cancel_job(self) -> None:
        """Cancel the running job and hand it to the application: its worker may still be about to report its
        end, and a job deleted with this dialog meanwhile would crash that report (it emits on a deleted
        object); the cancelled job reports nothing to the dialog."""
        if self.job is not None and self.job.running:
            self.job.cancel()
            self.job.setParent(QCoreApplication.instance())

    def _on_items(self, items: list) -> None:
        for item in items:
            if item == "loading":
                self.status.setText("Loading the dataset…")
            elif isinstance(item, LrStep):
                self._rates.append(item.learning_rate)
                self._losses.append(item.loss)
                self._smoothed.append(item.smoothed)
                self.progress.setValue(item.step)
            elif isinstance(item, LrFindResult):
                self.result = item
        self._show_curve()

    def _on_finished(self) -> None:
        self._idle()
        if self.result is not None:
            self._show_result(self.result)

    def _on_failed(self, message: str) -> None:
        self._idle()
        self.status.setText(f"The sweep failed: {message}")

    def _on_project_replaced(self, _graph: object) -> None:
        """Another project was opened (or a new one started): the sweep and its suggestion were for the old one."""
        self._cancel_job()
        self._idle()
        self.result = None
        self.use_button.setEnabled(False)
        self.use_button.setText("Use suggested rate")
        self.status.setText("Another project was opened: press Find to run the sweep for it.")

    def _idle(self) -> None:
        self.find_button.setEnabled(True)
        self.stop_button.setEnabled(False)

    # --- drawing ------------------------------------------------------------------------
    def _show_curve(self) -> None:
        finite = [i for i, v in enumerate(self._losses) if math.isfinite(v) and math.isfinite(self._smoothed[i])]
        rates = [self._rates[i] for i in finite]
        # A blow-up of the raw loss would flatten the curve: the view stops at 1.5 × the start.
        top = 1.5 * self._smoothed[0] if self._smoothed and math.isfinite(self._smoothed[0]) else math.inf
        self.raw_curve.setData(rates, [min(self._losses[i], top) for i in finite])
        self.smooth_curve.setData(rates, [min(self._smoothed[i], top) for i in finite])

    def _show_result(self, result: LrFindResult) -> None:
        rate = result.suggested_lr
        x = math.log10(rate)
        for item in (self.suggest_line, self.steep_line, self.suggest_point):
            item.setVisible(True)  # first: a hidden line's label ignores new text
        self.suggest_line.label.setFormat(f"suggested {_short(rate)}")
        self.suggest_line.setValue(x)
        self.steep_line.label.setFormat(f"steepest {_short(result.steepest_lr)}")
        self.steep_line.setValue(math.log10(result.steepest_lr))
        nearest = min(range(result.steps), key=lambda i: abs(math.log(result.learning_rates[i] / rate)))
        self.suggest_point.setData([x], [result.smoothed[nearest]])
        fits = rate <= 10.0  # the most a project's learning rate may be
        self.use_button.setEnabled(fits)
        self.use_button.setText(f"Use {_short(rate)}")
        current = self.document.project.training.learning_rate
        stop = f" The loss diverged at {result.learning_rates[-1]:.1e}; the sweep stopped there." if \
            result.diverged else ""
        self.status.setText(
            f"Suggested {_short(rate)}: a tenth of the rate at the lowest smoothed loss ({_short(result.minimum_lr)}). "
            f"The loss falls fastest at {_short(result.steepest_lr)}. The project uses {_short(current)}.{stop}")

    def _apply_theme(self, _dark: bool | None = None) -> None:
        palette = self.palette()
        foreground = palette.color(QPalette.ColorRole.Text)
        self.plot_widget.setBackground(palette.color(QPalette.ColorRole.Base))
        for axis in ("left", "bottom"):
            self.plot.getAxis(axis).setPen(foreground)
            self.plot.getAxis(axis).setTextPen(foreground)
        legend = self.plot.legend
        if legend is not None:
            legend.setLabelTextColor(foreground)

    # --- using it -----------------------------------------------------------------------
    def use_suggestion(self) -> None:
        """Set the project's learning rate to the suggestion: one undo step."""
        if self.result is None or self.result.suggested_lr > 10.0:
            return
        self.document.push(SetLearningRate(self.document, self.result.suggested_lr))
        self.status.setText(f"The learning rate is now {_short(self.result.suggested_lr)} (Edit → Undo takes it back)")

    def reject(self) -> None:
        self._cancel_job()  # closing the dialog stops the sweep; the project was never touched
        super().reject()

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt override)
        self._cancel_job()
        super().closeEvent(event)


def _short(rate: float) -> str:
    """``3.2e-3`` (two significant digits, exponent without padding), as the button says."""
    mantissa, exponent = f"{rate:.1e}".split("e")
    return f"{mantissa}e{int(exponent)}"

"""Live training plots: loss, accuracy, learning rate and throughput over optimizer steps.

Speed by design (see DESIGN.md): every curve is one long-lived :class:`pyqtgraph.PlotDataItem`
fed with ``setData`` from numpy buffers that grow by doubling (appending a batch copies only
the batch), with peak downsampling and clip-to-view on, so a redraw draws a few points per
pixel however long the history is.

Bounded however long a run: a series (a :class:`~cnnplayground.project.curves.GrowingCurve`)
holds at most :data:`MAX_PLOT_POINTS` points. When it is full, neighbouring pairs are merged
(mean value, placed at the later step) and later points are averaged in groups of the same size,
so every point of a long run stands for as many steps as any other, and the cost of a refresh
(proportional to the points handed over) stops growing: 1 million points per series made each
refresh ≈ 50 ms slower than 100,000.

Redraws are the expensive part (axis text above all), so events only extend the buffers; the
curves are given their new data by a single-shot timer :data:`REFRESH_MS` after the first
new point (or by :meth:`TrainingPlots.flush`: the main window flushes a live run's points
itself, in the frames the training session paces, ``worker.py``). While a run trains, the x
axis spans the whole planned run (``RunStarted``: epochs × steps per epoch) and stays put,
and each y axis runs from 0 to a round number above the data, changed only when the data
outgrows it: so the axes (whose text is most of the drawing cost, and which are cached as
pixmaps) are not redrawn at every update, and the curves grow across the plot like a
progress bar. Zooming a plot by hand hands it back to the user; "Reset view" (or the next
run) returns to the steady ranges.

The x axis is the global optimizer step, linked across the four plots. Per-epoch values are
placed at the step where the epoch ended (``EpochFinished.step``). Saved runs
(:class:`~cnnplayground.io.project_schema.RunHistory`) store epoch series with ``x = epoch``;
:meth:`TrainingPlots.load_history` puts them at ``epoch * steps_per_epoch``, taking
``steps_per_epoch`` from the run's settings when it is there, else estimating it from the
run's ``step_loss`` series (last step / last epoch). A run with neither is plotted with
epochs as x.

Series names (``points``/``series_data``): ``step_loss``, ``step_loss_smooth``,
``step_accuracy_smooth``, ``step_learning_rate``, ``images_per_second`` (x = step) and
``train_loss``, ``train_accuracy``, ``val_loss``, ``val_accuracy``, ``learning_rate`` (one
point per epoch). Accuracies are held in percent.

Comparing runs: the runs are a :class:`~.runs_model.RunsModel` (name, settings, colour,
visibility, focus, numbers) that the plots observe, as the runs table does; the plots keep
only each run's curves and their data. The newest run is drawn in the train/validation colours;
each earlier run has a colour of its own (:meth:`TrainingPlots.run_color`), drawn thin and
translucent without its raw per-step loss, unless it is *focused* (:meth:`TrainingPlots.set_focus`),
which draws it strong. Runs can be hidden (:meth:`TrainingPlots.set_run_visible`). Earlier runs
appear in the legends by their short names (:func:`short_run_names`), and only while there are at
most :data:`MAX_LEGEND_RUNS` runs (else only a focused one): the runs table beside the plots is
their legend. :meth:`TrainingPlots.run_metrics` gives each run's numbers, its training time too.
The learning-rate and throughput axes start at zero, so a constant value reads as such.

The best validation epoch is marked (:meth:`TrainingPlots.best_mark`): a star on each shown run's
validation loss and accuracy at that epoch, for the run drawn strong a dotted vertical line there, and for the
newest run a legend entry "best epoch N" (", weights kept" when the run ended with that epoch's weights,
``RunHistory.kept_epoch``).
A live run's marks follow its best epoch so far (``EpochFinished.best``).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QColor, QFontMetrics, QPalette, QPen
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from ...project import RunHistory
from ...project.curves import GrowingCurve
from ...train.events import EpochFinished, RunStarted, StepFinished
from ..shell import theme
from .runs_model import NEWEST_COLORS, RunInfo, RunsModel

#: How long new data waits for the curves (ms): at most 10 refreshes a second.
REFRESH_MS = 100
#: Points a series holds at most (neighbouring pairs are merged beyond it): ≈ 1.6 MB per series.
MAX_PLOT_POINTS = 100_000
#: The smoothed curves follow an exponential moving average spanning about this many steps.
SMOOTHING_STEPS = 50
_TAU = SMOOTHING_STEPS / 2.0  # time constant in steps (an EMA of span N has alpha = 2/(N+1) ≈ 1/τ)

#: Plot key → (title, left axis label).
PLOTS: dict[str, tuple[str, str]] = {
    "loss": ("Loss", "loss"),
    "accuracy": ("Accuracy", "accuracy (%)"),
    "lr": ("Learning rate", "learning rate"),
    "speed": ("Throughput", "images / s"),
}

#: Series → (plot key, legend label, colour role, style). Order = drawing order.
SERIES: dict[str, tuple[str, str, str, str]] = {
    "step_loss": ("loss", "", "train", "raw"),
    "step_loss_smooth": ("loss", "train (smoothed)", "train", "smooth"),
    "train_loss": ("loss", "train (epoch)", "train", "epoch"),
    "val_loss": ("loss", "validation", "val", "val"),
    "step_accuracy_smooth": ("accuracy", "train (smoothed)", "train", "smooth"),
    "train_accuracy": ("accuracy", "train (epoch)", "train", "epoch"),
    "val_accuracy": ("accuracy", "validation", "val", "val"),
    "step_learning_rate": ("lr", "per step", "lr", "line"),
    "learning_rate": ("lr", "per epoch", "lr", "epoch"),
    "images_per_second": ("speed", "images/s", "speed", "line"),
}

#: Colour role → (light palette, dark palette). Earlier runs have colours of their own (``RUN_COLORS``).
_COLORS: dict[str, tuple[str, str]] = {
    "train": ("#1f6fb4", "#62aaff"),
    "val": NEWEST_COLORS,
    "lr": ("#7b3fb5", "#c59dff"),
    "speed": ("#2b8a3e", "#6bdb7e"),
}
_DIM_ALPHA = 0.45
#: The four plots go in one row when at least this wide and this many times as wide as high.
ROW_MIN_WIDTH = 900
ROW_MIN_ASPECT = 3
#: Below this height two rows of plots are too low to read (a 1280×720 window's Curves dock gave 2×2 plots
#: with 60 px of data each): the four go in one row wherever the panel is at least ROW_NARROW_WIDTH wide.
MIN_GRID_HEIGHT = 340
ROW_NARROW_WIDTH = 560
#: Plots at least this high (px) have an x axis title ("step"); lower ones give the line to the data.
MIN_LABELLED_HEIGHT = 260
#: Earlier runs have legend entries while there are at most this many runs (beyond, the runs table
#: beside the plots is their legend; a focused run always has its entry).
MAX_LEGEND_RUNS = 3
#: Legend entries per row, by the number of plot columns (a row above four plots holds them all).
_LEGEND_COLUMNS = {2: 4, 4: 8}
#: The width of a legend entry (sample and text) before any exists.
LEGEND_ENTRY_WIDTH = 150.0


def row_of_plots(width: int, height: int) -> bool:
    """Whether a panel ``width`` × ``height`` shows the four plots in one row (else 2×2): a wide, low panel
    (at least ROW_MIN_WIDTH and ROW_MIN_ASPECT times as wide as high), or one too low for two rows of plots."""
    if width >= ROW_MIN_ASPECT * max(height, 1) and width >= ROW_MIN_WIDTH:
        return True
    return height < MIN_GRID_HEIGHT and width >= ROW_NARROW_WIDTH
#: The newest run's legend entries: one per kind of curve, shared by the plots that draw it.
LEGEND_LABELS: dict[str, str] = {
    "step_loss_smooth": "train (smoothed)",
    "step_accuracy_smooth": "train (smoothed)",
    "train_loss": "train (epoch)",
    "train_accuracy": "train (epoch)",
    "val_loss": "validation",
    "val_accuracy": "validation",
    "step_learning_rate": "learning rate",
    "learning_rate": "learning rate (epoch)",
    "images_per_second": "images / s",
}
_ZERO_BASED = ("lr", "speed")  # y axes that start at 0
_PERCENT = frozenset({"step_accuracy_smooth", "train_accuracy", "val_accuracy"})
_EPOCH_SERIES = ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "learning_rate")
#: The curves that mark a run's best validation epoch (a star at that epoch; see ``TrainingPlots.best_mark``).
_BEST_SERIES = ("val_loss", "val_accuracy")


def short_run_names(names: Sequence[str]) -> list[str]:
    """Run names without a prefix ``"<title>: "`` that two or more of them share.

    An experiment names its runs "Overfitting and the regularizers: dropout 0.5": beside each
    other, "dropout 0.5" says it. Names without a shared prefix stay as they are.
    """
    heads = Counter(name.split(": ", 1)[0] for name in names if ": " in name)
    return [name.split(": ", 1)[1] if ": " in name and heads[name.split(": ", 1)[0]] > 1
            and name.split(": ", 1)[1].strip() else name for name in names]


def _round_up(value: float) -> float:
    """The smallest of 1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8 × 10^k that is ≥ ``value`` (> 0)."""
    exponent = math.floor(math.log10(value))
    for step in (1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0):
        candidate = step * 10.0**exponent
        if candidate >= value * (1 - 1e-12):
            return candidate
    return 10.0 ** (exponent + 1)


@dataclass
class _Run:
    """A run's curves and their data; its other facts are the model's (``info``)."""

    info: RunInfo
    buffers: dict[str, GrowingCurve] = field(default_factory=dict)
    curves: dict[str, pg.PlotDataItem] = field(default_factory=dict)
    ema: dict[str, tuple[float, float]] = field(default_factory=dict)  # series → (last x, last value)
    dimmed: bool = False  # an earlier run (not the newest)
    seconds: float | None = None  # training time: the sum of the epochs' durations (None: not recorded)
    best_epoch: int | None = None  # the best validation epoch (live: the best so far)
    best_x: float | None = None  # its step on the x axis
    kept: bool = False  # the run ended with that epoch's weights (keep-best)
    marks: list[Any] = field(default_factory=list)  # the best epoch's marks: stars on the validation curves, lines

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def color(self) -> str:
        return self.info.color

    @property
    def visible(self) -> bool:
        return self.info.visible

    @property
    def record(self) -> RunHistory | None:
        return self.info.record


def _ema(x: np.ndarray, y: np.ndarray, state: tuple[float, float]) -> tuple[np.ndarray, tuple[float, float]]:
    """Time-aware EMA of ``y`` (weight ``1 - exp(-Δstep/τ)``); non-finite values keep the last average."""
    last_x, value = state
    out = []
    for xi, yi in zip(x.tolist(), y.tolist()):
        if math.isfinite(yi):
            if math.isnan(value):
                value = yi
            else:
                value += (1.0 - math.exp(-max(xi - last_x, 1.0) / _TAU)) * (yi - value)
        out.append(value)
        last_x = xi
    return np.asarray(out, dtype=float), (last_x, value)


def _set_style(curve: pg.PlotDataItem, pen: QPen, symbol: tuple[str, int, QColor] | None) -> None:
    """Give ``curve`` its pen and (shape, size, colour) symbol at once; nothing happens if it has them.

    Each of pyqtgraph's setters (``setPen``, ``setSymbol``, ``setSymbolSize``, ...) rebuilds the curve's
    items (``updateItems``: its scatter's points from scratch); five of them for each of a run's curves
    made its restyle at the first epoch end take 13 ms. The options are the ones those setters set.
    """
    wanted: dict[str, Any] = {"pen": pen}
    if symbol is not None:
        shape, size, color = symbol
        wanted.update(symbol=shape, symbolSize=size, symbolPen=pg.mkPen(color), symbolBrush=pg.mkBrush(color))
    if all(curve.opts.get(key) == value for key, value in wanted.items()):
        return
    curve.opts.update(wanted)
    curve.updateItems(styleUpdate=True)


def _training_seconds(history: RunHistory) -> float | None:
    """A saved run's training time: the sum of ``epoch_seconds``, else the last ``elapsed_seconds``
    (sweep records); None for runs saved before either was recorded.
    """
    for name, total in (("epoch_seconds", sum), ("elapsed_seconds", lambda ys: ys[-1])):
        saved = history.series.get(name)
        values = [] if saved is None else [v for v in saved.y if v is not None and math.isfinite(v)]
        if values:
            return float(total(values))
    return None


class TrainingPlots(QWidget):
    """Four linked plots of the runs of a :class:`~.runs_model.RunsModel` (its own if none is
    given); the newest run is drawn strong, earlier ones dimmed.
    """

    def __init__(self, parent: QWidget | None = None, max_points: int = MAX_PLOT_POINTS,
                 model: RunsModel | None = None) -> None:
        super().__init__(parent)
        self._max_points = max_points
        self.model = model if model is not None else RunsModel(self)
        self._runs: list[_Run] = []  # the model's runs, in its order: their curves
        self._focus: int | None = None  # the focused run as drawn
        self._dirty: set[tuple[int, str]] = set()  # (run id, series) whose curve lacks new data
        self._refresh = QTimer(self)
        self._refresh.setSingleShot(True)
        self._refresh.setInterval(REFRESH_MS)
        self._refresh.timeout.connect(self.flush)
        self._driven = False  # a live run's frames flush the plots in turn (flush_in_turn), not the timer
        self._turn = -1  # the plot flushed last by flush_in_turn (its index in PLOTS)
        self._extent: float | None = None  # the live run's planned steps (x range), None when not live
        self._steady: dict[str, bool] = {}  # plot → its y range is ours (False once the user zooms it)
        self._y_range: dict[str, tuple[float, float]] = {}
        self._legend_reserve = 0  # legend entries a live run will have: their rows are there from its start
        self._row_height: float | None = None  # a legend entry's natural height (measured once)
        self._graphics = pg.GraphicsLayoutWidget()
        self._plots: dict[str, pg.PlotItem] = {}
        self._columns = 2
        #: One legend for the four plots, in a row of its own above them (never over the curves).
        self.legend = pg.LegendItem(labelTextSize="9pt", colCount=_LEGEND_COLUMNS[2])
        self.legend.setCacheMode(pg.QtWidgets.QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self._graphics.addItem(self.legend, row=0, col=0, colspan=2)
        for i, (key, (title, label)) in enumerate(PLOTS.items()):
            plot = self._graphics.addPlot(row=1 + i // 2, col=i % 2, title=title)
            plot.setLabel("left", label)  # the unit (the titles are the plots' names in exported data)
            # The x axis says "step" only where the plots are tall (_fit_labels): a low panel needs the line.
            plot.setLabel("bottom", "step")
            for axis in ("left", "bottom"):
                plot.getAxis(axis).enableAutoSIPrefix(False)
            plot.showGrid(x=True, y=True, alpha=0.25)
            plot.setDownsampling(auto=True, mode="peak")  # the plot's menu shows what the curves do
            plot.setClipToView(True)
            if self._plots:
                plot.setXLink(self._plots["loss"])
            plot.getViewBox().sigRangeChangedManually.connect(lambda _mask, key=key: self._on_zoomed(key))
            # A fixed width: new tick labels must not shift the plot (a relayout redraws every axis).
            metrics = QFontMetrics(self.font())
            plot.getAxis("left").setWidth(metrics.horizontalAdvance("00000.0") + metrics.height() + 10)
            for axis in ("left", "bottom"):  # drawn from a pixmap until the axis changes
                plot.getAxis(axis).setCacheMode(pg.QtWidgets.QGraphicsItem.CacheMode.DeviceCoordinateCache)
                # Major and minor ticks and grid lines, not the third level: an axis then redraws in
                # about half the time (eight axes: 11 instead of 19 ms when a relayout redraws them all).
                plot.getAxis(axis).setStyle(maxTickLevel=1)
            if key in _ZERO_BASED:  # a baseline at 0 keeps 0 in the autoscaled range
                plot.addItem(pg.InfiniteLine(pos=0.0, angle=0, pen=pg.mkPen((128, 128, 128, 90))),
                             ignoreBounds=False)
            self._plots[key] = plot

        self._log_box = QCheckBox("Log scale (loss)")
        self._log_box.toggled.connect(self.set_log_loss)
        self._reset_button = QPushButton("Reset view")
        self._reset_button.clicked.connect(self.reset_view)
        self._readout = QLabel()
        self._readout.setTextFormat(Qt.TextFormat.PlainText)
        self._readout.setToolTip("The x axis of every plot is the optimizer step; hover a plot for its values")
        controls = QHBoxLayout()
        controls.addWidget(self._log_box)
        controls.addWidget(self._reset_button)
        controls.addStretch(1)
        controls.addWidget(self._readout)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(controls)
        layout.addWidget(self._graphics, 1)

        self._mouse_proxy = pg.SignalProxy(self._graphics.scene().sigMouseMoved, rateLimit=30,
                                           slot=self._on_mouse_moved)
        theme.theme_changed().connect(self._apply_theme)
        self._apply_theme()
        self.model.run_added.connect(self._on_run_added)
        self.model.runs_removed.connect(self._on_runs_removed)
        self.model.visibility_changed.connect(self._on_visibility_changed)
        self.model.focus_changed.connect(self._on_focus_changed)

    # ----------------------------------------------------------------- public API

    @property
    def run_count(self) -> int:
        """How many runs are shown."""
        return self.model.count

    def plot(self, key: str) -> pg.PlotItem:
        """The plot ``"loss"``, ``"accuracy"``, ``"lr"`` or ``"speed"``."""
        return self._plots[key]

    def curve(self, run_index: int, series: str) -> pg.PlotDataItem | None:
        """The curve item of ``series`` in run ``run_index`` (None until it has data); flushes first."""
        self.flush()
        return self._runs[run_index].curves.get(series)

    def begin_run(self, name: str, settings: dict[str, Any] | None = None) -> int:
        """Start a new run (returns its index); the curves of earlier runs stay, dimmed."""
        return self.model.add_run(name, settings)

    def run_name(self, run_index: int) -> str:
        return self.model.run(run_index).name

    def run_settings(self, run_index: int) -> dict[str, Any]:
        """The settings the run was started with (as stored in the project)."""
        return dict(self.model.run(run_index).settings)

    def run_color(self, run_index: int) -> QColor:
        """The colour run ``run_index`` is drawn in (the validation colour for the newest run)."""
        return self.model.color(run_index)

    @property
    def graphics(self) -> pg.GraphicsLayoutWidget:
        """The four plots (without the controls above them)."""
        return self._graphics

    def run_metrics(self, run_index: int) -> dict[str, float | None]:
        """``epochs``, ``best_val_accuracy`` and ``final_val_accuracy`` (%), ``last_val_loss``,
        ``last_train_loss`` and ``seconds`` (training time) of a run; None where unknown.
        """
        return dict(self.model.run(run_index).metrics)

    @staticmethod
    def _metrics(run: _Run) -> dict[str, float | None]:
        """A run's numbers from its epoch curves (given to the model when they change)."""

        def values(name: str) -> np.ndarray:
            buffer = run.buffers.get(name)
            return np.empty(0) if buffer is None else buffer.data()[1]

        val_acc, val_loss, train_loss = values("val_accuracy"), values("val_loss"), values("train_loss")
        finite_acc = val_acc[np.isfinite(val_acc)]
        return {
            "epochs": float(max(len(val_loss), len(train_loss))),
            "best_val_accuracy": float(finite_acc.max()) if len(finite_acc) else None,
            "final_val_accuracy": float(val_acc[-1]) if len(val_acc) and np.isfinite(val_acc[-1]) else None,
            "last_val_loss": float(val_loss[-1]) if len(val_loss) and np.isfinite(val_loss[-1]) else None,
            "last_train_loss": float(train_loss[-1]) if len(train_loss) and np.isfinite(train_loss[-1]) else None,
            "seconds": run.seconds,
        }

    def set_focus(self, run_index: int | None) -> None:
        """Draw run ``run_index`` strong although it is an earlier one (None: only the newest)."""
        self.model.set_focus(run_index)

    @property
    def focus(self) -> int | None:
        return self.model.focus

    def set_run_visible(self, run_index: int, visible: bool) -> None:
        """Show or hide every curve of a run."""
        self.model.set_visible(run_index, visible)

    def is_run_visible(self, run_index: int) -> bool:
        return self.model.run(run_index).visible

    # --- the model's changes -------------------------------------------------------------------
    def _on_run_added(self, index: int) -> None:
        self._runs.insert(index, _Run(self.model.run(index)))
        for run in self._runs[:-1]:  # dimmed; their legend entries change with the number of runs
            run.dimmed = True
            if run.curves:
                self._restyle(run)

    def _on_runs_removed(self, first: int) -> None:
        self.flush()
        for run in self._runs[first:]:
            self._remove_curves(run)
        del self._runs[first:]

    def _on_visibility_changed(self, index: int, _visible: bool) -> None:
        self._restyle(self._runs[index])

    def _on_focus_changed(self, index: int | None) -> None:
        old, self._focus = self._focus, index
        for i in (old, index):
            if i is not None and i < len(self._runs):
                self._restyle(self._runs[i])

    def add_events(self, events: Iterable[object]) -> None:
        """Append the metrics of ``StepFinished`` and ``EpochFinished`` events to the newest run.

        Other events are ignored. Meant to be called with batches (a few dozen times a second).
        """
        events = list(events)
        for event in events:
            if isinstance(event, RunStarted):
                self._plan_extent(event.epochs * event.steps_per_epoch)
        steps = [e for e in events if isinstance(e, StepFinished | EpochFinished)]
        if not steps:
            return
        if not self._runs:
            self.begin_run("run 1", {})
        run = self._runs[-1]
        step_events = [e for e in steps if isinstance(e, StepFinished)]
        if step_events:
            x = np.fromiter((e.step for e in step_events), float, len(step_events))
            columns = np.array([(e.loss, e.accuracy * 100.0, e.learning_rate, e.images_per_second)
                                for e in step_events], dtype=float).reshape(-1, 4)
            self._append_steps(run, x, columns[:, 0], columns[:, 1], columns[:, 2], columns[:, 3])
        epoch_events = [e for e in steps if isinstance(e, EpochFinished)]
        if epoch_events:
            run.seconds = (run.seconds or 0.0) + sum(e.seconds for e in epoch_events)
            x = np.fromiter((e.step for e in epoch_events), float, len(epoch_events))
            for name in _EPOCH_SERIES:
                values = [getattr(e, name) for e in epoch_events]
                y = np.array([math.nan if v is None else v for v in values], dtype=float)
                self._append(run, name, x, y * 100.0 if name in _PERCENT else y)
            best = [e for e in epoch_events if e.best]
            if best:  # the best epoch so far (by the run's early-stopping metric) moves its marks at the next flush
                run.best_epoch, run.best_x, run.kept = best[-1].epoch, float(best[-1].step), False
            self.model.set_metrics(len(self._runs) - 1, self._metrics(run))

    def add_step_arrays(self, steps: np.ndarray, loss: np.ndarray, accuracy: np.ndarray,
                        learning_rate: np.ndarray, images_per_second: np.ndarray) -> None:
        """Append per-step metrics given as arrays (accuracy as a fraction) to the newest run."""
        if not self._runs:
            self.begin_run("run 1", {})
        arrays = [np.asarray(a, dtype=float) for a in (steps, loss, accuracy, learning_rate, images_per_second)]
        arrays[2] = arrays[2] * 100.0
        self._append_steps(self._runs[-1], *arrays)

    def load_history(self, runs: Sequence[RunHistory]) -> None:
        """Show saved runs instead of the current ones: all dimmed except the last.

        Epoch series go to ``epoch * steps_per_epoch`` (see the module docstring).
        """
        self._driven = False  # a run's frames (if any) are over: new data waits for the refresh timer again
        self._legend_reserve = 0
        with self.model.changing():  # the runs table is rebuilt once, at the end
            self._load_history(runs)
            self.flush()
            self.reset_view()

    def _load_history(self, runs: Sequence[RunHistory]) -> None:
        # The runs already shown from these very records stay (pressing Train reloads the project's
        # runs: rebuilding every curve and legend entry cost ~50 ms and a relayout of the plots).
        kept = 0
        for run, history in zip(self._runs, runs):
            if run.record is not history:
                break
            kept += 1
        self.flush()
        self.model.remove_runs(kept)  # their curves go
        self.model.set_focus(None)
        self._readout.clear()
        for index, run in enumerate(self._runs):  # as a fresh load: shown, dimmed but for the last
            dimmed = index < len(runs) - 1
            changed = run.dimmed != dimmed
            run.dimmed = dimmed
            if not run.visible:
                self.model.set_visible(index, True)  # restyled as it is shown again
            # A dimmed run's legend name may change; adding runs restyles the earlier ones if new ones follow.
            elif (changed or dimmed) and kept == len(runs):
                self._restyle(run)
        self._extent = None  # not live: the plots autoscale to the saved runs
        for history in runs[kept:]:
            run_index = self.model.add_run(history.name, history.settings, record=history)
            run = self._runs[run_index]
            series = history.series
            run.seconds = _training_seconds(history)
            step = series.get("step_loss")
            scale = 1.0
            spe = history.settings.get("steps_per_epoch")
            if isinstance(spe, int | float) and not isinstance(spe, bool) and spe > 0:
                scale = float(spe)
            elif step is not None and step.x:
                last_epoch = max((max(s.x) for n, s in series.items() if n in _EPOCH_SERIES and s.x), default=0.0)
                if last_epoch > 0:
                    scale = max(step.x) / last_epoch
            if step is not None and step.x:
                x = np.asarray(step.x, dtype=float)
                y = np.array([math.nan if v is None else v for v in step.y], dtype=float)
                self._append(run, "step_loss", x, y)
                self._append_smoothed(run, "step_loss_smooth", x, y)
            accuracy = series.get("step_accuracy")
            if accuracy is not None and accuracy.x:
                y = np.array([math.nan if v is None else v * 100.0 for v in accuracy.y], dtype=float)
                self._append_smoothed(run, "step_accuracy_smooth", np.asarray(accuracy.x, dtype=float), y)
            for name in (*_EPOCH_SERIES, "images_per_second"):  # a saved run's throughput is per epoch
                saved = series.get(name)
                if saved is None or not saved.x:
                    continue
                y = np.array([math.nan if v is None else v for v in saved.y], dtype=float)
                self._append(run, name, np.asarray(saved.x, dtype=float) * scale,
                             y * 100.0 if name in _PERCENT else y)
            if history.best_epoch is not None:
                run.best_epoch, run.best_x = history.best_epoch, history.best_epoch * scale
                run.kept = history.kept_epoch == history.best_epoch
            self.model.set_metrics(run_index, self._metrics(run))

    def flush_in_turn(self) -> str | None:
        """Give one plot's curves their pending data now: the next plot in turn that has any; its key.

        For a live run's frames (the main window calls this once per frame, ~28 a second): each frame
        then sets and repaints one plot, not four, so a frame costs the GUI thread about a quarter as
        much, and each plot still moves ~7 times a second. From the first call until the next
        :meth:`load_history`, new data no longer starts the refresh timer: the frames bring it.
        """
        self._driven = True
        self._refresh.stop()
        if not self._dirty:
            return None
        waiting = {SERIES[name][0] for _, name in self._dirty}
        keys = list(self._plots)
        for i in range(1, len(keys) + 1):
            key = keys[(self._turn + i) % len(keys)]
            if key in waiting:
                self._turn = keys.index(key)
                self.flush(only=key)
                return key
        return None

    def flush(self, only: str | None = None) -> None:
        """Give every curve its pending data now (the refresh timer does this by itself); with ``only``,
        the curves of that plot (the others keep theirs pending)."""
        if only is None:
            self._refresh.stop()
            dirty, self._dirty = self._dirty, set()
        else:
            dirty = {(run_id, name) for run_id, name in self._dirty if SERIES[name][0] == only}
            self._dirty -= dirty
        by_id = {id(run): run for run in self._runs}
        new_curves: set[int] = set()
        for run_id, name in dirty:
            run = by_id.get(run_id)
            if run is None:
                continue
            curve = run.curves.get(name)
            if curve is None:
                curve = self._make_curve(run, name)
                new_curves.add(run_id)
            curve.setData(*run.buffers[name].data())
        # Styled (pens, legend entries) once per run with new curves, not once per curve: a project's
        # saved runs load as ~10 curves each, and every restyle rebuilds the run's legend entries.
        moved = {run_id for run_id, name in dirty if name in _BEST_SERIES}
        for run in self._runs:
            if id(run) in new_curves:
                self._restyle(run)  # places the best epoch's marks too
            elif id(run) in moved:
                self._mark_best(run)
        if dirty and self._extent is not None:
            self._steady_y(only)

    def _plan_extent(self, steps: int) -> None:
        """Fix the x axis to ``[0, steps]`` (or the longest earlier run) for the run now starting."""
        longest = max((float(b.x[b.n - 1]) for r in self._runs for b in r.buffers.values() if b.n), default=0.0)
        extent = max(float(steps), longest)
        # The entries the run will add (its epoch curves at the first epoch's end) get their legend rows
        # now: appearing later, they would move the plots down mid-run, a relayout and repaint of all four.
        self._legend_reserve = len(self.legend.items) + len(set(LEGEND_LABELS.values())) + 1  # + "best epoch N"
        self._fit_legend()
        if extent > 0:
            self._extent = extent
            self._steady = dict.fromkeys(self._plots, True)
            self._y_range.clear()
            for plot in self._plots.values():  # no plot's own x autorange may fight the link
                plot.getViewBox().enableAutoRange(x=False)
            self._plots["loss"].setXRange(0.0, extent, padding=0.02)

    def _steady_y(self, only: str | None = None) -> None:
        """Each steady plot's y range (``only``: that plot's): 0 to a round number above its visible data
        (changed rarely)."""
        for key, plot in self._plots.items():
            if (only is not None and key != only) or not self._steady.get(key) \
                    or (key == "loss" and self.is_log_loss()):
                continue
            top = 0.0
            for run in self._runs:
                if not run.visible:
                    continue
                for name, buffer in run.buffers.items():
                    if SERIES[name][0] == key and buffer.n:
                        y = buffer.data()[1]
                        finite = y[np.isfinite(y)]
                        if len(finite):
                            top = max(top, float(finite.max()))
            if top <= 0:
                continue
            # Accuracy is a percentage: 0-100 from the first step (rescaling it as it climbed redrew the
            # plot's axes several times early in a run); the others: 0 to a round number above the data.
            wanted = (0.0, 100.0 if key == "accuracy" else _round_up(top * 1.05))
            if self._y_range.get(key) != wanted:
                self._y_range[key] = wanted
                plot.getViewBox().setYRange(*wanted, padding=0.02)

    def _on_zoomed(self, key: str) -> None:
        self._steady[key] = False

    def clear(self) -> None:
        """Remove every run and curve."""
        self.flush()
        self.model.clear()  # every run's curves go
        self._readout.clear()

    def _remove_curves(self, run: _Run) -> None:
        for name, curve in run.curves.items():
            self._plots[SERIES[name][0]].removeItem(curve)
            self._legend_entry(curve, None)
        self._unmark_best(run)

    def points(self, run_index: int, series: str) -> int:
        """How many points run ``run_index`` holds in ``series`` (0 if none)."""
        buffer = self._runs[run_index].buffers.get(series)
        return 0 if buffer is None else len(buffer.data()[0])

    def buffer(self, run_index: int, series: str) -> GrowingCurve | None:
        """The bounded history of ``series`` in run ``run_index`` (None if it has no data)."""
        return self._runs[run_index].buffers.get(series)

    def series_data(self, run_index: int, series: str) -> tuple[np.ndarray, np.ndarray]:
        """Copies of the full x and y history of ``series`` (empty arrays if none)."""
        buffer = self._runs[run_index].buffers.get(series)
        if buffer is None:
            return np.empty(0), np.empty(0)
        x, y = buffer.data()
        return x.copy(), y.copy()

    def curve_runs(self) -> list[RunHistory]:
        """The shown runs' epoch series as records, for figures written from data (pgfplots): a saved run's own
        record, a live run's epoch points as plotted (epochs numbered from 1, accuracies as fractions)."""
        out = []
        for index, run in enumerate(self._runs):
            if not run.visible:
                continue
            if run.record is not None:
                out.append(run.record)
                continue
            series = {}
            for name in _EPOCH_SERIES:
                _x, y = self.series_data(index, name)
                values = [None if not math.isfinite(v) else v / 100.0 if name in _PERCENT else v for v in y.tolist()]
                if values:
                    series[name] = {"x": list(range(1, len(values) + 1)), "y": values}
            out.append(RunHistory(name=run.name, series=series))
        return out

    def set_log_loss(self, enabled: bool) -> None:
        """Show the loss on a logarithmic y axis."""
        self._plots["loss"].setLogMode(y=enabled)
        if self._log_box.isChecked() != enabled:
            self._log_box.setChecked(enabled)
        for run in self._runs:  # the marks sit in the view box: its y is log10(loss) now
            self._mark_best(run)

    def is_log_loss(self) -> bool:
        """Whether the loss plot has a logarithmic y axis."""
        return bool(self._plots["loss"].getViewBox().state["logMode"][1])

    def reset_view(self) -> None:
        """Autoscale every plot to its data again (after zooming or panning).

        While a run trains: back to its planned x range and steady y ranges.
        """
        for plot in self._plots.values():
            plot.enableAutoRange()
        if self._extent is not None:
            self._plan_extent(int(self._extent))
            self._steady_y()

    def readout(self, key: str, x: float) -> str:
        """The hover text for plot ``key`` at step ``x``: the newest run's nearest value of each curve."""
        if not self._runs:
            return ""
        run = self._runs[-1]
        parts = [f"step {x:.0f}"]
        for name, buffer in run.buffers.items():
            plot_key, label, _, style = SERIES[name]
            if plot_key != key or buffer.n == 0:
                continue
            xs, ys = buffer.data()
            i = int(np.searchsorted(xs, x))
            if i == len(xs) or (i > 0 and x - xs[i - 1] < xs[i] - x):
                i -= 1
            parts.append(f"{label or 'train (raw)'}: {ys[i]:.4g}")
        return "  ·  ".join(parts)

    @property
    def live(self) -> bool:
        """True while the plots follow a running run (fixed x range, steady y ranges)."""
        return self._extent is not None

    @property
    def columns(self) -> int:
        """How many plots side by side: 4 in a wide, low panel (a bottom dock), else 2 (2×2)."""
        return self._columns

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt override)
        super().resizeEvent(event)
        size = event.size()
        self._arrange(4 if row_of_plots(size.width(), size.height()) else 2)
        self._fit_legend_columns(size.width())
        self._fit_labels(size.height())

    def _fit_legend_columns(self, width: int) -> None:
        """As many legend entries side by side as the width holds whole (at most one row above four plots:
        entries cut off at the right edge, "learning rate (ep", were seen at 1280×720)."""
        preferred = Qt.SizeHint.PreferredSize
        entry = max((sample.effectiveSizeHint(preferred).width() + label.effectiveSizeHint(preferred).width() + 12
                     for sample, label in self.legend.items), default=LEGEND_ENTRY_WIDTH)
        columns = max(1, min(_LEGEND_COLUMNS[self._columns], int(width // max(entry, 1.0))))
        if columns != self.legend.columnCount:
            self.legend.setColumnCount(columns)
            self._relayout_legend()

    def _fit_labels(self, height: int) -> None:
        """The x axes say "step" only where a plot is tall enough to spare the line (≥ MIN_LABELLED_HEIGHT)."""
        tall = height / (4 // self._columns) >= MIN_LABELLED_HEIGHT
        for plot in self._plots.values():
            axis = plot.getAxis("bottom")
            if axis.label.isVisible() != tall:
                axis.showLabel(tall)

    def _arrange(self, columns: int) -> None:
        if columns == self._columns:
            return
        self._columns = columns
        layout = self._graphics.ci
        layout.removeItem(self.legend)
        for plot in self._plots.values():
            layout.removeItem(plot)
        layout.addItem(self.legend, row=0, col=0, colspan=columns)
        for i, plot in enumerate(self._plots.values()):
            layout.addItem(plot, row=1 + i // columns, col=i % columns)
        self.legend.setColumnCount(_LEGEND_COLUMNS[columns])
        self._fit_legend_columns(self.width())
        self._fit_legend()
        # Re-adding the plots shrank the layout to its preferred size (660×88 px in a 1338×418 view: the
        # plots sat in a strip until the next resize, seen in Train mode while a dataset loaded).
        self._graphics.ci.setGeometry(self._graphics.range)
        QTimer.singleShot(0, self._sync_x)  # once the new geometry is in place

    def _sync_x(self) -> None:
        """Give the linked plots the loss plot's x range again (linking depends on their layout)."""
        for key, plot in self._plots.items():
            if key != "loss":
                plot.getViewBox().linkedXChanged()

    # ----------------------------------------------------------------- internals

    def _append_steps(self, run: _Run, x: np.ndarray, loss: np.ndarray, accuracy: np.ndarray,
                      learning_rate: np.ndarray, images_per_second: np.ndarray) -> None:
        self._append(run, "step_loss", x, loss)
        self._append_smoothed(run, "step_loss_smooth", x, loss)
        self._append_smoothed(run, "step_accuracy_smooth", x, accuracy)
        self._append(run, "step_learning_rate", x, learning_rate)
        self._append(run, "images_per_second", x, images_per_second)

    def _append_smoothed(self, run: _Run, name: str, x: np.ndarray, y: np.ndarray) -> None:
        smoothed, run.ema[name] = _ema(x, y, run.ema.get(name, (math.nan, math.nan)))
        self._append(run, name, x, smoothed)

    def _append(self, run: _Run, name: str, x: np.ndarray, y: np.ndarray) -> None:
        buffer = run.buffers.get(name)
        if buffer is None:
            buffer = run.buffers[name] = GrowingCurve(self._max_points)
        buffer.extend(x, y)
        self._dirty.add((id(run), name))
        if not self._refresh.isActive() and not self._driven:
            self._refresh.start()

    def _make_curve(self, run: _Run, name: str) -> pg.PlotDataItem:
        plot_key, label, _, style = SERIES[name]
        # Per-step curves: no antialiasing, and wider than 1 px only when opaque (pyqtgraph then
        # draws line segments): a wide antialiased or translucent pen makes Qt stroke the whole
        # dense zigzag as one outline, ~50x slower (0.5 s instead of 10 ms for 4000 points).
        curve = pg.PlotDataItem(antialias=style in ("epoch", "val"))
        run.curves[name] = curve
        self._plots[plot_key].addItem(curve)
        curve.opts["name"] = f"{run.name}: {label}"  # for exported data (set after addItem: no legend entry)
        # After addItem: PlotItem.addItem overwrites both with the plot's own (menu) settings.
        # At most one bin per pixel column (pyqtgraph's default is 5): peak keeps each column's
        # extremes, so the noisy curves look the same; the smoothed ones change by less than a
        # pixel from column to column and need only one point each. This halved a refresh's
        # painting (3.5 → 2.0 ms for four plots of 2,800 steps), most of it the 2 px smoothed lines.
        curve.opts["autoDownsampleFactor"] = 1.0
        curve.setDownsampling(auto=True, method="subsample" if style == "smooth" else "peak")
        curve.setClipToView(True)
        return curve  # styled by the caller (flush), with the run's other new curves

    def _restyle(self, run: _Run) -> None:
        """Pens, symbols, stacking and legend entries of ``run``'s curves for its state and the theme."""
        dark = theme.is_dark()
        listed: set[str] = set()  # this run's legend texts so far: each once
        focus = self.model.focus
        focused = run.dimmed and focus is not None and focus < len(self._runs) and self._runs[focus] is run
        faint = run.dimmed and not focused
        legend_name = self._legend_name(run) if run.dimmed else ""
        for name in sorted(run.curves, key=list(SERIES).index):  # the legend lists loss curves first
            curve = run.curves[name]
            plot_key, label, role, style = SERIES[name]
            color = QColor(run.color if run.dimmed else _COLORS[role][1 if dark else 0])
            alpha = 0.35 if style == "raw" else 1.0
            if faint:
                alpha *= _DIM_ALPHA
            color.setAlphaF(alpha)
            width = 1.0 if faint or style in ("raw", "line") else (1.5 if style == "epoch" else 2.0)
            dashed = style == "epoch" or (run.dimmed and role == "train" and style == "smooth")
            pen = pg.mkPen(color, width=width, style=Qt.PenStyle.DashLine if dashed else Qt.PenStyle.SolidLine)
            symbol = ("s" if style == "val" else "o", 4 if faint else 7, color) if style in ("epoch", "val") else None
            _set_style(curve, pen, symbol)
            curve.setVisible(run.visible and not (faint and style == "raw"))
            curve.setZValue((-10 if faint else 0) + (0 if style == "raw" else 1))
            wanted: str | None = None
            if not run.visible:
                pass
            elif run.dimmed:  # one entry per earlier run, by its name
                if label and not listed and (focused or len(self._runs) <= MAX_LEGEND_RUNS):
                    wanted = legend_name
            elif name in LEGEND_LABELS and LEGEND_LABELS[name] not in listed:  # the newest run: one entry per
                wanted = LEGEND_LABELS[name]  # kind of curve, for all four plots
            if wanted is not None:
                listed.add(wanted)
            self._legend_entry(curve, wanted)
        self._mark_best(run)

    def best_mark(self, run_index: int) -> tuple[int, float, bool] | None:
        """Run ``run_index``'s best validation epoch as marked: ``(epoch, step, weights kept)``; None if unknown."""
        run = self._runs[run_index]
        if run.best_epoch is None or run.best_x is None:
            return None
        return run.best_epoch, run.best_x, run.kept

    def best_mark_items(self, run_index: int) -> list[Any]:
        """The items that mark run ``run_index``'s best epoch (stars on its validation curves, lines)."""
        return list(self._runs[run_index].marks)

    def _unmark_best(self, run: _Run) -> None:
        for item in run.marks:
            self._legend_entry(item, None)
            view = item.getViewBox()
            if view is not None:
                view.removeItem(item)
        run.marks.clear()

    def _mark_best(self, run: _Run) -> None:
        """Mark ``run``'s best epoch: a star on each validation curve at that epoch (every shown run); for the
        run drawn strong (the newest or the focused one) a dotted vertical line through the loss and accuracy
        plots, and for the newest a legend entry ("best epoch 6, weights kept": the plots may be too narrow
        for a label beside the line)."""
        self._unmark_best(run)
        if run.best_x is None or not run.visible or not run.curves:
            return
        focus = self.model.focus
        strong = not run.dimmed or (focus is not None and focus < len(self._runs) and self._runs[focus] is run)
        color = QColor(run.color if run.dimmed else _COLORS["val"][1 if theme.is_dark() else 0])
        if not strong:
            color.setAlphaF(_DIM_ALPHA)
        text = f"best epoch {run.best_epoch}" + (", weights kept" if run.kept else "")
        for name in _BEST_SERIES:
            buffer, plot = run.buffers.get(name), self._plots[SERIES[name][0]]
            if buffer is None or not buffer.n:
                continue
            xs, ys = buffer.data()
            y = float(ys[int(np.argmin(np.abs(xs - run.best_x)))])
            if name == "val_loss" and self.is_log_loss():
                y = math.log10(y) if y > 0 else math.nan
            if not math.isfinite(y):
                continue
            star = pg.ScatterPlotItem([run.best_x], [y], symbol="star", size=18 if strong else 11,
                                      pen=pg.mkPen(color.darker(130), width=1), brush=pg.mkBrush(color))
            star.setToolTip(f"{run.name}: {text}")
            star.setZValue(5 if strong else -5)
            # In the view box, not the plot: the plot's data items are its curves (exported data, legends).
            plot.getViewBox().addItem(star, ignoreBounds=True)
            if not run.marks and not run.dimmed:
                self._legend_entry(star, text)
            run.marks.append(star)
            if strong:
                line = pg.InfiniteLine(pos=run.best_x, angle=90, movable=False,
                                       pen=pg.mkPen(color, width=1, style=Qt.PenStyle.DotLine))
                line.setToolTip(f"{run.name}: {text}")
                plot.getViewBox().addItem(line, ignoreBounds=True)
                run.marks.append(line)

    def _legend_entry(self, curve: pg.GraphicsObject, wanted: str | None) -> None:
        """Give ``curve`` the legend entry ``wanted`` (None: none); nothing happens if it has it.

        Entries are only added or removed where they change: building one (a text item laid out in
        the legend) takes ~1 ms, and a live run restyles at its first epoch end.
        """
        legend = self.legend
        sample, entry = next(((s, e) for s, e in legend.items if s.item is curve), (None, None))
        current = None if entry is None else entry.text
        if current != wanted:
            if sample is not None:
                legend.items.remove((sample, entry))
                legend._removeItemFromLayout(sample, entry)
            if wanted is not None:
                legend.addItem(curve, wanted)
            self._relayout_legend()
        elif sample is not None:
            sample.update()  # a kept entry draws the curve's new pen

    def _relayout_legend(self) -> None:
        """Lay the entries out again in rows (removing one leaves a hole) and fit the legend's row to them."""
        legend = self.legend
        for i in range(legend.layout.count() - 1, -1, -1):
            legend.layout.removeAt(i)
        for sample, label in legend.items:
            legend._addItemToLayout(sample, label)
        legend.rowCount = math.ceil(len(legend.items) / legend.columnCount) if legend.items else 0
        legend.updateSize()
        self._fit_legend()

    def _fit_legend(self) -> None:
        """The legend's row is as high as its entries (none: no row), so the plots keep the rest."""
        legend = self.legend
        legend.updateSize()
        # A row's natural height (what its sample and text ask for), not its height now: the layout
        # stretches the rows to the legend's height, and fitting to that grew the legend at every entry.
        preferred = Qt.SizeHint.PreferredSize
        height = max((max(sample.effectiveSizeHint(preferred).height(), label.effectiveSizeHint(preferred).height())
                      for sample, label in legend.items), default=0.0) or self._legend_row_height()
        rows = math.ceil(max(len(legend.items), self._legend_reserve) / max(legend.columnCount, 1))
        legend.setFixedHeight(rows * height + (4 if rows else 0))
        legend.setVisible(bool(legend.items) or self._legend_reserve > 0)

    def _legend_row_height(self) -> float:
        """The natural height of one legend entry before any exists: that of a sample entry's text."""
        if self._row_height is None:
            probe = pg.LabelItem("Train (epoch)", size="9pt")
            self._row_height = max(20.0, probe.effectiveSizeHint(Qt.SizeHint.PreferredSize).height())
        return self._row_height

    def _legend_name(self, run: _Run) -> str:
        names = short_run_names([r.name for r in self._runs])
        return next((n for r, n in zip(self._runs, names) if r is run), run.name)

    def _apply_theme(self, _dark: bool | None = None) -> None:
        palette = self.palette()
        foreground = palette.color(QPalette.ColorRole.Text)
        self._graphics.setBackground(palette.color(QPalette.ColorRole.Base))
        for key, plot in self._plots.items():
            for axis in ("left", "bottom"):
                plot.getAxis(axis).setPen(foreground)
                plot.getAxis(axis).setTextPen(foreground)
            plot.setTitle(PLOTS[key][0], color=foreground.name())

        self.legend.setLabelTextColor(foreground)
        self.legend.setBrush(pg.mkBrush(None))
        self.legend.setPen(pg.mkPen(None))
        for _, label in self.legend.items:
            label.setAttr("color", foreground)
            label.setText(label.text)
        for run in self._runs:
            self._restyle(run)

    def _on_mouse_moved(self, args: tuple[Any, ...]) -> None:
        position = args[0]
        for key, plot in self._plots.items():
            if plot.sceneBoundingRect().contains(position):
                self._readout.setText(self.readout(key, plot.getViewBox().mapSceneToView(position).x()))
                return

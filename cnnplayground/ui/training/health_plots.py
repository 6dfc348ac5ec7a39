"""The Health panel's plots: each layer's measures over the epochs, and a layer's distributions.

:class:`MeasurePlots` draws four plots of a run's :class:`~cnnplayground.project.health.RunHealth`, one
line per layer (a legend above names them): activation std, the share of units that never fire, the
gradient norm and the update-to-weight ratio, the last two on a log axis. The ratio is measured over a
whole epoch (``‖w_end − w_start‖ / ‖w_start‖``), while the usual 1e-3 rule of thumb is per step: the
guide line is drawn at 1e-3 × the run's steps per epoch (what steps of 1e-3 that all moved the same way
would add up to) and says so; without the steps per epoch (runs recorded before they were) there is no
guide. Like the Curves panel (``plots.row_of_plots``) the four go in one row when the panel
is low or wide, else 2×2.

:class:`DistributionPlots` draws a chosen layer's weights and activations over the epochs as
TensorBoard's distributions view does: nested shaded bands between the stored percentiles (0–100,
7–93, 16–84, 31–69 %), darker towards the middle, and the median as a line.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtGui import QColor, QFontMetrics, QPalette
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from ...core.text import printable
from ...project.health import PERCENTILES, LayerHealthSeries, RunHealth
from ..shell import theme
from .plots import row_of_plots

#: Measure → (plot title, y axis label, log axis).
MEASURE_PLOTS: dict[str, tuple[str, str, bool]] = {
    "activation_std": ("Activation std", "std", False),
    "dead_share": ("Never fire", "units (%)", False),
    "grad_norm": ("Gradient norm (log)", "norm", True),
    "update_ratio": ("Update / weight per epoch (log)", "ratio per epoch", True),
}
#: The update-to-weight ratio's rule of thumb (about 1e-3 per update is healthy; far below: the layer barely learns).
UPDATE_RATIO_GUIDE = 1e-3
#: The update ratio plot's tool tip (``{steps}``: the run's steps per epoch).
UPDATE_RATIO_TIP = (
    "How far each layer's weights moved in an epoch: ‖w_end − w_start‖ / ‖w_start‖, measured once per epoch, "
    "not per step.\nThe usual rule of thumb, about 1e-3 per step, is drawn as 1e-3 × {steps} steps per epoch: "
    "what steps of 1e-3 that all moved the same way add up to.\nSteps partly cancel, so healthy layers sit "
    "below the line; a layer above it moved more than 1e-3 per step on average (a large learning rate), "
    "one orders of magnitude below it barely learns.")
UPDATE_RATIO_TIP_NO_STEPS = (
    "How far each layer's weights moved in an epoch: ‖w_end − w_start‖ / ‖w_start‖, measured once per epoch, "
    "not per step.\nThis run did not record its steps per epoch, so the per-step rule of thumb (about 1e-3) "
    "has no line here.")
#: One colour per layer (cycled, dashed after the first round).
LAYER_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                "#bcbd22", "#17becf")
#: Band index pairs into PERCENTILES, outermost first (0–100, 7–93, 16–84, 31–69 %), and their opacity.
BANDS: tuple[tuple[int, int, int], ...] = ((0, 8, 40), (1, 7, 60), (2, 6, 80), (3, 5, 100))
MEDIAN = PERCENTILES.index(50)
#: The plots stay readable down to this height (a 1280×720 window's Training dock is about this low).
MIN_PLOT_HEIGHT = 150
#: Plots at least this high have axis titles ("epoch", the unit); lower ones give the lines to the data.
MIN_LABELLED_HEIGHT = 260


def layer_pen(index: int) -> QColor:
    return QColor(LAYER_COLORS[index % len(LAYER_COLORS)])


def _column(values: Sequence[float | None], scale: float = 1.0, positive: bool = False) -> np.ndarray:
    """Stored values as floats (None → NaN; on a log axis, values ≤ 0 → NaN: no point, no warning)."""
    y = np.array([math.nan if v is None else float(v) * scale for v in values], dtype=float)
    if positive:
        y[~(y > 0)] = math.nan
    return y


def _style(graphics: pg.GraphicsLayoutWidget, plots: Sequence[pg.PlotItem], titles: Sequence[str]) -> None:
    """The application palette's background and text, as the Curves panel."""
    palette = graphics.palette()
    foreground = palette.color(QPalette.ColorRole.Text)
    graphics.setBackground(palette.color(QPalette.ColorRole.Base))
    for plot, title in zip(plots, titles):
        for axis in ("left", "bottom"):
            plot.getAxis(axis).setPen(foreground)
            plot.getAxis(axis).setTextPen(foreground)
        plot.setTitle(title, color=foreground.name(), size="9pt")


def _label_axes(plots: Sequence[pg.PlotItem], labels: Sequence[str], height: int) -> None:
    """Axis titles where the panel is high enough (MIN_LABELLED_HEIGHT), else none: a low panel's plots need
    the room."""
    for plot, label in zip(plots, labels):
        shown = height >= MIN_LABELLED_HEIGHT
        plot.setLabel("left", label if shown else None)
        plot.setLabel("bottom", "epoch" if shown else None)
        plot.showLabel("left", shown)
        plot.showLabel("bottom", shown)


class LogAxis(pg.AxisItem):
    """A log axis that labels only 1, 2 and 5 × 10^k where it would label more (pyqtgraph labels every
    minor tick of a range under two decades: 0.04 0.05 … 0.09 on top of each other in a low plot)."""

    def logTickStrings(self, values, scale, spacing):  # noqa: N802 (pyqtgraph's name)
        strings = super().logTickStrings(values, scale, spacing)
        keep = [round(10 ** (v - math.floor(v)), 3) in (1.0, 2.0, 5.0) for v in values]
        if len(values) > 4 and any(keep):
            return [text if kept else "" for text, kept in zip(strings, keep)]
        return strings


class EpochAxis(pg.AxisItem):
    """An epoch axis: ticks at whole epochs only (pyqtgraph put 1.0, 1.5, 2.0 under a two-epoch run)."""

    def tickSpacing(self, minVal, maxVal, size):  # noqa: N802,N803 (pyqtgraph's names)
        levels = super().tickSpacing(minVal, maxVal, size)
        whole = [(float(max(1, math.ceil(spacing))), offset) for spacing, offset in levels]
        return whole[:1]  # the major level, whole; a minor level would fall between epochs


def _new_plot(graphics: pg.GraphicsLayoutWidget, label: str, log: bool) -> pg.PlotItem:
    axes: dict[str, pg.AxisItem] = {"bottom": EpochAxis("bottom")}
    if log:
        axes["left"] = LogAxis("left")
    plot = pg.PlotItem(axisItems=axes)
    plot.setLabel("left", label)
    plot.setLabel("bottom", "epoch")
    for axis in ("left", "bottom"):
        plot.getAxis(axis).enableAutoSIPrefix(False)
        plot.getAxis(axis).setStyle(maxTextLevel=0)  # labelled major ticks only: no crowded log-axis text
    plot.showGrid(x=True, y=True, alpha=0.25)
    plot.setLogMode(y=log)
    metrics = QFontMetrics(graphics.font())
    plot.getAxis("left").setWidth(metrics.horizontalAdvance("0.0000") + metrics.height() + 8)
    plot.setMinimumHeight(MIN_PLOT_HEIGHT * 0.8)
    return plot


class MeasurePlots(QWidget):
    """Four plots of each layer's measures over the epochs; ``curves[measure][layer]`` is a layer's line."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setMinimumSize(1, MIN_PLOT_HEIGHT)
        self.legend = pg.LegendItem(labelTextSize="8pt", colCount=10)
        self.plots: dict[str, pg.PlotItem] = {key: _new_plot(self.graphics, label, log)
                                              for key, (_title, label, log) in MEASURE_PLOTS.items()}
        self.plots["dead_share"].setYRange(0, 100, padding=0.02)
        self.guide = pg.InfiniteLine(pos=math.log10(UPDATE_RATIO_GUIDE), angle=0, label="1e-3 per step",
                                     labelOpts={"position": 0.8, "color": (128, 128, 128)},
                                     pen=pg.mkPen((128, 128, 128, 160), width=1, style=pg.QtCore.Qt.PenStyle.DashLine))
        self.plots["update_ratio"].addItem(self.guide)
        self.set_steps_per_epoch(None)
        self.curves: dict[str, dict[str, pg.PlotDataItem]] = {key: {} for key in MEASURE_PLOTS}
        self._columns = 0
        self._arrange(2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.graphics)
        theme.theme_changed().connect(self._apply_theme)
        self._apply_theme()

    def _apply_theme(self, _dark: bool | None = None) -> None:
        _style(self.graphics, list(self.plots.values()), [title for title, _, _ in MEASURE_PLOTS.values()])
        self.legend.setLabelTextColor(self.graphics.palette().color(QPalette.ColorRole.Text))

    def _arrange(self, columns: int) -> None:
        """The legend in a row of its own, the plots in ``columns`` columns (4: one row; 2: 2×2)."""
        if columns == self._columns:
            return
        self._columns = columns
        layout = self.graphics.ci
        for item in [self.legend, *self.plots.values()]:
            if item in layout.items:
                layout.removeItem(item)
        layout.addItem(self.legend, row=0, col=0, colspan=columns)
        for i, plot in enumerate(self.plots.values()):
            layout.addItem(plot, row=1 + i // columns, col=i % columns)
        self.legend.setColumnCount(10 if columns == 4 else 5)
        self._fit_legend()

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt)
        size = event.size()
        self._arrange(4 if row_of_plots(size.width(), size.height()) else 2)
        _label_axes(list(self.plots.values()), [label for _, label, _ in MEASURE_PLOTS.values()],
                    size.height() // (1 if self._columns == 4 else 2) + 60)
        super().resizeEvent(event)

    def _fit_legend(self) -> None:
        """The legend's row as high as its rows of entries, so the plots keep the rest."""
        legend = self.legend
        preferred = pg.QtCore.Qt.SizeHint.PreferredSize
        height = max((max(sample.effectiveSizeHint(preferred).height(), label.effectiveSizeHint(preferred).height())
                      for sample, label in legend.items), default=0.0)
        rows = math.ceil(len(legend.items) / max(legend.columnCount, 1))
        legend.setFixedHeight(rows * height + (4 if rows else 0))
        legend.setVisible(bool(legend.items))

    def show_health(self, health: RunHealth | None, steps_per_epoch: int | None = None) -> None:
        """One line per layer and measure that applies to it, one point per stored epoch; the update ratio's
        guide at 1e-3 × ``steps_per_epoch`` (none when that is not known)."""
        self.legend.clear()
        self.set_steps_per_epoch(steps_per_epoch)
        for key, plot in self.plots.items():
            for curve in self.curves[key].values():
                plot.removeItem(curve)
            self.curves[key].clear()
        if health is None:
            self._fit_legend()
            return
        x = np.asarray(health.epochs, dtype=float)
        for index, layer in enumerate(health.layers):
            color = layer_pen(index)
            style = pg.QtCore.Qt.PenStyle.SolidLine if index < len(LAYER_COLORS) else pg.QtCore.Qt.PenStyle.DashLine
            pen = pg.mkPen(color, width=1.5, style=style)
            for key, (_title, _label, log) in MEASURE_PLOTS.items():
                values = getattr(layer, key)
                if values is None:
                    continue
                y = _column(values, 100.0 if key == "dead_share" else 1.0, positive=log)
                if not np.isfinite(y).any():
                    continue  # nothing to draw (a dead layer's zero gradient on a log axis)
                curve = pg.PlotDataItem(x, y, pen=pen, symbol="o", symbolSize=4, symbolPen=pen,
                                        symbolBrush=pg.mkBrush(color), connect="finite", name=printable(layer.name))
                self.plots[key].addItem(curve)
                self.curves[key][layer.name] = curve
            sample = self.curves["activation_std"].get(layer.name)
            if sample is not None:
                self.legend.addItem(sample, printable(layer.name))
        self._fit_legend()


    def set_steps_per_epoch(self, steps: int | None) -> None:
        """Put the update ratio's guide at 1e-3 × ``steps`` (the per-step rule over an epoch); hide it if None."""
        plot = self.plots["update_ratio"]
        if steps is None or steps < 1:
            self.guide.hide()
            plot.setToolTip(UPDATE_RATIO_TIP_NO_STEPS)
            return
        self.guide.setValue(math.log10(UPDATE_RATIO_GUIDE * steps))
        self.guide.label.setFormat(f"1e-3 × {steps}")
        self.guide.show()
        plot.setToolTip(UPDATE_RATIO_TIP.format(steps=steps))


class DistributionPlots(QWidget):
    """A chosen layer's weight and activation percentiles over the epochs, as shaded bands.

    ``bands[kind]`` (kind ``"weights"`` or ``"activations"``) lists ``(low percentile, high percentile,
    FillBetweenItem)`` outermost first; ``medians[kind]`` is the median line.
    """

    KINDS = {"weights": ("Weights", "weight_percentiles"), "activations": ("Activations", "activation_percentiles")}

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.chooser = QComboBox(self)
        self.chooser.setToolTip("The layer whose distributions are drawn")
        self.chooser.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.chooser.currentIndexChanged.connect(self._on_layer_changed)
        self.note = QLabel(self)
        self.note.setMinimumWidth(1)
        self.note.setToolTip("Bands: 0–100, 7–93, 16–84 and 31–69 % of the values, darker towards the median "
                             "(the line); weights at each epoch's end, activations on its sampled batch")
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setMinimumSize(1, MIN_PLOT_HEIGHT)
        self.plots: dict[str, pg.PlotItem] = {}
        for column, kind in enumerate(self.KINDS):
            self.plots[kind] = _new_plot(self.graphics, "value", False)
            self.graphics.ci.addItem(self.plots[kind], row=0, col=column)
        self.bands: dict[str, list[tuple[int, int, pg.FillBetweenItem]]] = {kind: [] for kind in self.KINDS}
        self.medians: dict[str, pg.PlotDataItem] = {}
        self._health: RunHealth | None = None
        top = QHBoxLayout()
        top.setContentsMargins(6, 2, 6, 0)
        top.addWidget(QLabel("Layer:"))
        top.addWidget(self.chooser)
        top.addWidget(self.note, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.graphics, 1)
        theme.theme_changed().connect(self._apply_theme)
        self._apply_theme()

    def _apply_theme(self, _dark: bool | None = None) -> None:
        _style(self.graphics, list(self.plots.values()), [title for title, _ in self.KINDS.values()])

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt)
        _label_axes(list(self.plots.values()), ["value"] * len(self.plots), event.size().height())
        super().resizeEvent(event)

    def show_health(self, health: RunHealth | None) -> None:
        """The layers that recorded distributions in the chooser (the chosen one kept where it still is)."""
        self._health = health
        chosen = self.chooser.currentData()
        layers = [layer for layer in health.layers if layer.has_distributions] if health is not None else []
        self.chooser.blockSignals(True)
        self.chooser.clear()
        for layer in layers:
            self.chooser.addItem(printable(layer.name), layer.name)
        found = self.chooser.findData(chosen) if chosen is not None else -1
        self.chooser.setCurrentIndex(found if found >= 0 else 0 if layers else -1)
        self.chooser.blockSignals(False)
        self.chooser.setEnabled(bool(layers))
        if health is None:
            self.note.setText("No run yet")
        elif not layers:
            self.note.setText("No distributions were recorded for this run (it was trained before they were)")
        else:
            self.note.setText("0–100, 7–93, 16–84, 31–69 % and the median")
        self._on_layer_changed()

    def show_layer(self, name: str) -> None:
        self.chooser.setCurrentIndex(self.chooser.findData(name))

    def _on_layer_changed(self, _index: int = -1) -> None:
        for kind, plot in self.plots.items():
            for *_, band in self.bands[kind]:
                plot.removeItem(band)
            self.bands[kind].clear()
            if kind in self.medians:
                plot.removeItem(self.medians.pop(kind))
        name = self.chooser.currentData()
        layer = self._health.layer(name) if self._health is not None and name is not None else None
        if layer is None:
            return
        for kind, (_title, field) in self.KINDS.items():
            self._draw(kind, layer, field)

    def _draw(self, kind: str, layer: LayerHealthSeries, field: str) -> None:
        assert self._health is not None
        rows = getattr(layer, field) or []
        kept = [(epoch, row) for epoch, row in zip(self._health.epochs, rows)
                if row is not None and all(v is not None for v in row)]
        if not kept:
            return
        x = np.array([epoch for epoch, _ in kept], dtype=float)
        table = np.array([row for _, row in kept], dtype=float)  # (epochs, len(PERCENTILES))
        color = QColor(LAYER_COLORS[0] if kind == "weights" else LAYER_COLORS[1])
        plot = self.plots[kind]
        for low, high, alpha in BANDS:
            fill = QColor(color)
            fill.setAlpha(alpha)
            lower = pg.PlotDataItem(x, table[:, low], pen=pg.mkPen(None))
            upper = pg.PlotDataItem(x, table[:, high], pen=pg.mkPen(None))
            band = pg.FillBetweenItem(lower, upper, brush=pg.mkBrush(fill))
            plot.addItem(band)
            self.bands[kind].append((PERCENTILES[low], PERCENTILES[high], band))
        median = pg.PlotDataItem(x, table[:, MEDIAN], pen=pg.mkPen(color.darker(130), width=2), symbol="o",
                                 symbolSize=4, symbolBrush=pg.mkBrush(color.darker(130)), symbolPen=None,
                                 name=f"{printable(layer.name)} median")
        plot.addItem(median)
        self.medians[kind] = median
        plot.enableAutoRange()

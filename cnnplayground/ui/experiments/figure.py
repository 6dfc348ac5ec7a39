"""Draws an experiment's :class:`~cnnplayground.experiments.base.Figure` (plain data) with pyqtgraph.

:class:`FigurePlot` is the plot of the Experiments dialog; :func:`figure_png` writes
the same plot to a PNG for reports and ``docs/EXPERIMENTS.md`` (the CLI calls it
with an offscreen Qt). Curves get distinct colours, a legend names them, shares are
shown in percent, and a log-scale x axis is used where the figure asks for one.
"""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path

import pyqtgraph as pg
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QWidget

from ...experiments.base import Figure
from ...export.style import FigureStyle, figure_style
from ..export.figures import FigureTarget, export_figure
from ..shell import theme

#: Colour-blind-friendly colours (Okabe & Ito), then pyqtgraph's hue wheel.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#882255")


def curve_color(index: int) -> QColor:
    if index < len(PALETTE):
        return QColor(PALETTE[index])
    return pg.intColor(index, hues=12)


class FigurePlot(pg.GraphicsLayoutWidget):
    """A line plot of a :class:`Figure` with its legend beside it (never over the curves);
    :meth:`show_figure` replaces what it shows."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumSize(360, 240)
        self.plot_item: pg.PlotItem = self.addPlot(row=0, col=0)
        self.plot_item.showGrid(x=True, y=True, alpha=0.2)
        for axis in ("left", "bottom"):
            self.plot_item.getAxis(axis).enableAutoSIPrefix(False)  # "loss (x0.001)" reads badly
        # The legend sits in a column of its own, at the top (a stretching row below keeps its rows tight).
        side = self._side = self.addLayout(row=0, col=1)
        side.setContentsMargins(0, 0, 8, 0)
        self.legend = pg.LegendItem(labelTextSize="8pt")
        side.addItem(self.legend, row=0, col=0)
        side.layout.setRowStretchFactor(1, 1)
        side.addLabel("", row=1, col=0)
        self.ci.layout.setColumnStretchFactor(0, 4)
        self.figure: Figure | None = None
        self._apply_theme()
        theme.theme_changed().connect(self._apply_theme)

    def getPlotItem(self) -> pg.PlotItem:  # noqa: N802 - pyqtgraph's PlotWidget spelling, used by figures.py
        return self.plot_item

    def _apply_theme(self, _dark: bool | None = None) -> None:
        """Colours from the palette (Base behind the plot, Text for axes, title and legend)."""
        palette = self.palette()
        background, foreground = palette.color(QPalette.ColorRole.Base), palette.color(QPalette.ColorRole.Text)
        self.setBackground(background)
        for axis in ("left", "bottom"):
            self.plot_item.getAxis(axis).setPen(foreground)
            self.plot_item.getAxis(axis).setTextPen(foreground)
        self.legend.setLabelTextColor(foreground)
        if self.figure is not None:
            self.plot_item.setTitle(self.figure.title, color=foreground.name())

    def show_figure(self, figure: Figure | None) -> None:
        item = self.plot_item
        item.clear()
        self.legend.clear()
        self.figure = figure
        if figure is None:
            item.setTitle("")
            return
        item.setTitle(figure.title, color=self.palette().color(QPalette.ColorRole.Text).name())
        scale = 100.0 if figure.percent else 1.0
        item.setLabel("bottom", figure.x_label)
        item.setLabel("left", figure.y_label + (" (%)" if figure.percent else ""))
        item.setLogMode(x=figure.log_x, y=False)
        for i, curve in enumerate(figure.curves):
            points = [(x, y * scale) for x, y in zip(curve.x, curve.y, strict=True)
                      if y is not None and math.isfinite(y) and (x > 0 or not figure.log_x)]
            if not points:
                continue
            xs, ys = zip(*points, strict=True)
            color = curve_color(i)
            many = len(points) > 60
            line = item.plot(list(xs), list(ys), name=curve.label, pen=pg.mkPen(color, width=2),
                             symbol=None if many else "o",
                             symbolSize=5, symbolBrush=color, symbolPen=None)
            self.legend.addItem(line, curve.label)
        # The legend's column is exactly as wide as its widest entry (the layout alone squeezed or clipped it).
        width = max((sample.boundingRect().width() + label.boundingRect().width()
                     for sample, label in self.legend.items), default=0.0) + 24.0
        self._side.setMinimumWidth(width)
        self._side.setMaximumWidth(width)
        bottom = item.getAxis("bottom")
        if figure.x_label in ("epoch", "step") and not figure.log_x:
            # Whole numbers only: a tick every 1, 2, 5, 10, ... units, about ten of them.
            last = max((max(c.x) for c in figure.curves if c.x), default=1.0)
            step = next(s for s in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10**4, 10**5, 10**6)
                        if last / s <= 10)
            bottom.setTickSpacing(major=step, minor=step)
        else:
            bottom.setTickSpacing()
        item.enableAutoRange()


def figure_png(figure: Figure, path: str | Path, style: FigureStyle | None = None) -> Path:
    """Write ``figure`` to ``path`` as a PNG in ``style`` (default: a full page's, 7 in at its dpi, about half
    as high; a QApplication must exist)."""
    style = style or figure_style("page")
    plot = FigurePlot()
    try:
        plot.resize(round(style.width_in * 96), round(style.width_in * 96 * 0.49))
        plot.show_figure(figure)
        return export_figure(FigureTarget(figure.title, plot), path, "png", style=style)
    finally:
        plot.deleteLater()


def figure_png_headless(figure: Figure, path: str | Path) -> Path:
    """:func:`figure_png` from a command line: makes a QApplication (offscreen without a display) if none."""
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv[:1])
    written = figure_png(figure, path)
    app.processEvents()
    return written

"""The training curves of :func:`~cnnplayground.export.curves.curve_plots` drawn with pyqtgraph: the figure of
``cnnplayground curves`` and of the Curves panel's Export Figure in a figure style (the same plots, lines and
legend as its pgfplots document)."""

from __future__ import annotations

import html
from collections.abc import Sequence

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWidget

from ...export.curves import MAX_MARKED_POINTS, CurvePlot, legend_corner
from ...export.style import FigureStyle
from .styled import LOGICAL_DPI


def curves_figure(plots: Sequence[CurvePlot], style: FigureStyle) -> QWidget:
    """The training curves of :func:`~cnnplayground.export.curves.curve_plots`: a plot per metric (one above the
    other in a paper column, side by side on a page or slide), a run's lines in its colour (training dashed,
    validation solid), a legend of the lines' names; the preset's width (a slide's height too)."""
    view = pg.GraphicsLayoutWidget()
    across = style.name != "paper"
    for k, plot in enumerate(plots):
        item = view.addPlot(row=0 if across else k, col=k if across else 0, title=html.escape(plot.title))
        item.setLabel("left", html.escape(plot.y_label))
        item.setLabel("bottom", html.escape(plot.x_label))
        item.showGrid(x=True, y=True, alpha=0.2)
        for axis in ("left", "bottom"):
            item.getAxis(axis).enableAutoSIPrefix(False)
        # The legend goes in the corner the curves leave most free.
        corner = legend_corner(plot)
        legend = item.addLegend(offset=(-8 if "east" in corner else 8, -8 if "south" in corner else 8))
        for line in plot.lines:
            color = pg.mkColor(line.color)
            marked = len(line.x) <= MAX_MARKED_POINTS
            pen = pg.mkPen(color, width=2, style=Qt.PenStyle.DashLine if line.dashed else Qt.PenStyle.SolidLine)
            curve = item.plot(list(line.x), list(line.y), pen=pen,
                              symbol="o" if marked else None, symbolSize=5, symbolBrush=color, symbolPen=None)
            legend.addItem(curve, html.escape(line.name))
        last = max((max(line.x) for line in plot.lines if line.x), default=1.0)
        step = next(s for s in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10**4) if last / s <= 8)
        item.getAxis("bottom").setTickSpacing(major=step, minor=step)
    width = round(style.width_in * LOGICAL_DPI)
    if style.height_in is not None:
        height = round(style.height_in * LOGICAL_DPI)
    else:
        height = round(width / len(plots) * 0.8) if across else round(width * 0.62 * len(plots))
    view.resize(width, height)
    return view

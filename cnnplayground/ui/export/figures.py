"""Figures for reports and slides: any panel, plot or the network drawn to PNG, SVG or PDF, plot data to CSV.

Everything is drawn by Qt's own painter onto the output device (``QImage``,
``QSvgGenerator``, ``QPdfWriter``): a widget renders itself and its children, so
curves, axes and text come out as vector paths and text in SVG and PDF, and images
(kernels, feature maps) as embedded bitmaps. pyqtgraph's SVG exporter is not used (it
fails on PySide6 6.12), nor its image exporter.

Graphics items cached as pixmaps (the live plots' axes and legends, the canvas's
nodes) are drawn uncached while a figure is made, so vector output stays vector.
The network canvas exports its scene's content (all nodes and wires), not the
visible part of the view.
"""

from __future__ import annotations

import csv
import io
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import (
    QBuffer,
    QByteArray,
    QIODevice,
    QMarginsF,
    QPoint,
    QRect,
    QRectF,
    QSize,
    QSizeF,
    Qt,
    qInstallMessageHandler,
)
from PySide6.QtGui import QImage, QPageLayout, QPageSize, QPainter, QPalette, QPdfWriter, QRegion
from PySide6.QtSvg import QSvgGenerator
from PySide6.QtWidgets import QGraphicsItem, QGraphicsView, QWidget

from ...core.errors import UserError
from ...io.atomic import atomic_write_bytes

FORMATS = {
    "png": "PNG image (*.png)",
    "svg": "SVG vector drawing (*.svg)",
    "pdf": "PDF document (*.pdf)",
    "csv": "CSV table of the plotted data (*.csv)",
}
#: Largest PNG side in pixels (a typo must not allocate gigabytes).
MAX_SIDE = 16_384


class FigureError(UserError, ValueError):
    """A figure cannot be made (no plot data for CSV, an unknown format, a size out of range)."""


@dataclass
class FigureTarget:
    """What a figure shows: a widget (drawn with its children) or a graphics view's whole scene."""

    name: str
    widget: QWidget
    scene_view: QGraphicsView | None = None  # set: draw the scene's items, not the visible viewport
    notes: list[str] = field(default_factory=list)

    def size(self) -> QSize:
        """The figure's natural size in logical pixels."""
        if self.scene_view is not None:
            rect = self.scene_rect()
            return QSize(max(1, round(rect.width())), max(1, round(rect.height())))
        return self.widget.size()

    def scene_rect(self) -> QRectF:
        scene = self.scene_view.scene()
        return scene.itemsBoundingRect().adjusted(-20, -20, 20, 20)

    def plots(self) -> list[pg.PlotItem]:
        """The pyqtgraph plots inside (for CSV)."""
        return plot_items(self.widget)


def plot_items(widget: QWidget) -> list[pg.PlotItem]:
    """Every visible pyqtgraph PlotItem in ``widget``'s tree (itself included), in layout order."""
    views = [widget] if isinstance(widget, pg.GraphicsView) else []
    views += widget.findChildren(pg.GraphicsView)
    found: list[pg.PlotItem] = []
    for view in views:
        if not view.isVisibleTo(widget) and view is not widget:
            continue
        for item in view.scene().items():
            if isinstance(item, pg.PlotItem) and item.isVisible() and item not in found:
                found.append(item)
    found.sort(key=lambda p: (p.scenePos().y(), p.scenePos().x()))
    return found


@contextmanager
def _uncached(widget: QWidget) -> Iterator[None]:
    """Draw every graphics item in ``widget`` without its pixmap cache for the duration."""
    views = ([widget] if isinstance(widget, QGraphicsView) else []) + widget.findChildren(QGraphicsView)
    saved: list[tuple[QGraphicsItem, QGraphicsItem.CacheMode]] = []
    backgrounds = [(view, view.cacheMode()) for view in views]
    scatters: list[pg.ScatterPlotItem] = []
    for view in views:
        view.setCacheMode(QGraphicsView.CacheModeFlag.CacheNone)  # the background too: not as a bitmap
        if view.scene() is None:
            continue
        for item in view.scene().items():
            if isinstance(item, pg.ScatterPlotItem) and item.opts.get("useCache"):
                scatters.append(item)  # symbols drawn as paths, not stamped from a bitmap atlas
                item.opts["useCache"] = False
            mode = item.cacheMode()
            if mode != QGraphicsItem.CacheMode.NoCache:
                saved.append((item, mode))
                item.setCacheMode(QGraphicsItem.CacheMode.NoCache)
    try:
        yield
    finally:
        for item, mode in saved:
            item.setCacheMode(mode)
        for view, mode in backgrounds:
            view.setCacheMode(mode)
        for item in scatters:
            item.opts["useCache"] = True


def _paint(target: FigureTarget, painter: QPainter, area: QRectF) -> None:
    """Draw ``target`` into ``area`` of ``painter``'s device, scaled to fit, on the window background."""
    widget = target.widget
    painter.fillRect(area, widget.palette().color(QPalette.ColorRole.Window))
    with _uncached(widget):
        if target.scene_view is not None:  # the whole network, without grid dots or the selection
            scene = target.scene_view.scene()
            selected = scene.selectedItems()
            for item in selected:
                item.setSelected(False)
            scene.plain_background = True
            try:
                scene.render(painter, area, target.scene_rect(), Qt.AspectRatioMode.KeepAspectRatio)
            finally:
                scene.plain_background = False
                for item in selected:
                    item.setSelected(True)
            return
        size = widget.size()
        scale = min(area.width() / max(size.width(), 1), area.height() / max(size.height(), 1))
        painter.save()
        # Centred in the area when its proportions differ from the widget's.
        painter.translate(area.x() + (area.width() - size.width() * scale) / 2,
                          area.y() + (area.height() - size.height() * scale) / 2)
        painter.scale(scale, scale)
        # QWidget's own render (QGraphicsView overrides render() with a scene-only one).
        QWidget.render(widget, painter, QPoint(0, 0), QRegion(),
                       QWidget.RenderFlag.DrawChildren | QWidget.RenderFlag.DrawWindowBackground)
        painter.restore()


def png_bytes(target: FigureTarget, width: int | None = None, height: int | None = None, dpi: int = 144) -> bytes:
    """The figure as PNG, ``width`` × ``height`` pixels (default: twice the natural size), tagged with ``dpi``."""
    natural = target.size()
    width = width or natural.width() * 2
    height = height or round(width * natural.height() / max(natural.width(), 1))
    if not (1 <= width <= MAX_SIDE and 1 <= height <= MAX_SIDE):
        raise FigureError(f"a PNG side must be between 1 and {MAX_SIDE} pixels, got {width}×{height}")
    image = QImage(width, height, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(target.widget.palette().color(QPalette.ColorRole.Window))
    dots_per_meter = round(dpi / 0.0254)
    image.setDotsPerMeterX(dots_per_meter)
    image.setDotsPerMeterY(dots_per_meter)
    painter = QPainter(image)
    try:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setRenderHint(QPainter.RenderHint.TextAntialiasing)
        _paint(target, painter, QRectF(0, 0, width, height))
    finally:
        painter.end()
    return _encode(image)


def _encode(image: QImage) -> bytes:
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    if not image.save(buffer, "PNG"):
        raise FigureError("the PNG could not be encoded")
    buffer.close()
    return bytes(data.data())


def svg_bytes(target: FigureTarget, title: str = "") -> bytes:
    """The figure as an SVG drawing at its natural size (vector curves and text)."""
    size = target.size()
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    generator = QSvgGenerator()
    generator.setOutputDevice(buffer)
    generator.setSize(size)
    generator.setResolution(96)  # logical pixels, as on screen
    generator.setViewBox(QRect(0, 0, size.width(), size.height()))
    generator.setTitle(title or target.name)
    generator.setDescription(f"{target.name}, exported from CNN Playground")
    painter = QPainter(generator)
    try:
        _paint(target, painter, QRectF(0, 0, size.width(), size.height()))
    finally:
        painter.end()
    buffer.close()
    return bytes(data.data())


@contextmanager
def _quiet_pdf_gradients() -> Iterator[None]:
    """Drop Qt's "QPdfEngine: unable to create a gradient between colors of different spec": the style's
    button gradients mix colour specs; the PDF draws them flat, which is fine, and the warning is noise."""
    previous = None

    def handler(mode, context, message):
        if "unable to create a gradient between colors of different spec" in message:
            return
        if previous is not None:
            previous(mode, context, message)
        else:
            sys.stderr.write(message + "\n")

    previous = qInstallMessageHandler(handler)
    try:
        yield
    finally:
        qInstallMessageHandler(previous)


def pdf_bytes(target: FigureTarget, title: str = "", dpi: int = 300) -> bytes:
    """The figure as a one-page PDF whose page is the figure's size (vector curves and text)."""
    size = target.size()
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    writer = QPdfWriter(buffer)
    writer.setTitle(title or target.name)
    writer.setCreator("CNN Playground")
    writer.setResolution(dpi)
    # One logical pixel is 1/96 inch, as on a screen: the page is the figure's size in points.
    points = QSizeF(size.width() * 72 / 96, size.height() * 72 / 96)
    writer.setPageLayout(QPageLayout(QPageSize(points, QPageSize.Unit.Point, "figure"),
                                     QPageLayout.Orientation.Portrait, QMarginsF(0, 0, 0, 0)))
    with _quiet_pdf_gradients():
        painter = QPainter(writer)
        try:
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            device = painter.device()
            _paint(target, painter, QRectF(0, 0, device.width(), device.height()))
        finally:
            painter.end()
    buffer.close()
    return bytes(data.data())


def csv_text(target: FigureTarget) -> str:
    """The plotted data: one row per point, ``plot, series, x, y`` (long format, any number of curves)."""
    rows = []
    for plot in target.plots():
        title = plot.titleLabel.text or ""
        for item in plot.listDataItems():
            if not item.isVisible():
                continue
            x, y = item.getOriginalDataset() if hasattr(item, "getOriginalDataset") else item.getData()
            if x is None or y is None:
                continue
            name = item.name() or ""
            rows.extend((title, name, repr(float(a)), repr(float(b))) for a, b in zip(x, y))
    if not rows:
        raise FigureError(f"{target.name} has no plotted data to write as CSV: choose PNG, SVG or PDF")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["plot", "series", "x", "y"])
    writer.writerows(rows)
    return out.getvalue()


def export_figure(target: FigureTarget, path: str | Path, fmt: str | None = None, *, width: int | None = None,
                  height: int | None = None, dpi: int = 144) -> Path:
    """Write ``target`` to ``path`` in ``fmt`` (default: from the suffix); atomic, the old file kept on failure."""
    path = Path(path)
    fmt = (fmt or path.suffix.lstrip(".")).lower()
    if fmt not in FORMATS:
        raise FigureError(f"unknown figure format {fmt!r}: choose one of {', '.join(FORMATS)}")
    if fmt == "png":
        data = png_bytes(target, width, height, dpi)
    elif fmt == "svg":
        data = svg_bytes(target)
    elif fmt == "pdf":
        data = pdf_bytes(target)
    else:
        data = csv_text(target).encode("utf-8")
    atomic_write_bytes(path, data)
    return path

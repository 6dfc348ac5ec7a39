"""Figures for reports and slides: any panel, plot or the network drawn to PNG, SVG or PDF, plot data to CSV.

Everything is drawn by Qt's own painter onto the output device (``QImage``,
``QSvgGenerator``, ``QPdfWriter``): a widget renders itself and its children, so
curves, axes and text come out as vector paths and text in SVG and PDF, and images
(kernels, feature maps) as embedded bitmaps. pyqtgraph's SVG exporter is not used (it
fails on PySide6 6.12), nor its image exporter.

Graphics items cached as pixmaps (the live plots' axes and legends, the canvas's
nodes) are drawn uncached while a figure is made, so vector output stays vector.
The network canvas exports its scene's content (all nodes and wires), not the
visible part of the view, with a margin around everything drawn (measured, so text
that overhangs its item is inside). A panel exports its ``figure_widget()``: the
plots or images, not its buttons.

Every device is drawn at the screen's resolution (PNG, PDF) or in logical pixels
(SVG): text given in points then keeps its size relative to the boxes it was elided
for, at any scale; a PNG's dpi is only its print size. SVG hairlines are rewritten in
page coordinates (:mod:`.svg`) so that viewers other than Qt draw them as lines.
"""

from __future__ import annotations

import csv
import io
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import (
    QBuffer,
    QByteArray,
    QEvent,
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
from PySide6.QtGui import QImage, QPageLayout, QPageSize, QPainter, QPalette, QPdfWriter, QRegion, QResizeEvent
from PySide6.QtSvg import QSvgGenerator
from PySide6.QtWidgets import (
    QApplication,
    QGraphicsItem,
    QGraphicsScene,
    QGraphicsView,
    QGraphicsWidget,
    QWidget,
)

from ...core.errors import UserError
from ...export.style import FigureStyle
from ...io.atomic import atomic_write_bytes
from ..inspect.imaging import ImageGrid
from .styled import figure_size, styled
from .svg import plain_strokes

FORMATS = {
    "png": "PNG image (*.png)",
    "svg": "SVG vector drawing (*.svg)",
    "pdf": "PDF document (*.pdf)",
    "csv": "CSV table of the plotted data (*.csv)",
}
#: Largest PNG side in pixels (a typo must not allocate gigabytes).
MAX_SIDE = 16_384
#: A PNG's default size: this many pixels per logical pixel (less where that would pass MAX_SIDE).
DEFAULT_SCALE = 2
#: Blank logical pixels around the network, outside everything drawn.
SCENE_MARGIN = 16
#: How far outside the items' bounding rect the probe drawing looks for overhanging text.
_PROBE_SLACK = 120


class FigureError(UserError, ValueError):
    """A figure cannot be made (no plot data for CSV, an unknown format, a size out of range)."""


@dataclass
class FigureTarget:
    """What a figure shows: a widget (drawn with its children) or a graphics view's whole scene."""

    name: str
    widget: QWidget
    scene_view: QGraphicsView | None = None  # set: draw the scene's items, not the visible viewport
    notes: list[str] = field(default_factory=list)
    #: The panel the figure comes from; one with ``curve_runs()`` (Curves) can be written as pgfplots too.
    source: QWidget | None = None

    def curve_runs(self) -> list | None:
        """The runs a pgfplots figure of this target shows (None: the target is not a plot of runs)."""
        runs = getattr(self.source, "curve_runs", None)
        return runs() if callable(runs) else None

    def size(self) -> QSize:
        """The figure's natural size in logical pixels."""
        if self.scene_view is not None:
            rect = self.scene_rect()
            return QSize(max(1, round(rect.width())), max(1, round(rect.height())))
        return self.widget.size()

    def scene_rect(self) -> QRectF:
        """The part of the scene the figure shows: everything drawn (text that overhangs its item
        included, as measured on a probe drawing), with a margin of :data:`SCENE_MARGIN`."""
        return _drawn_rect(self.scene_view.scene()).adjusted(-SCENE_MARGIN, -SCENE_MARGIN,
                                                             SCENE_MARGIN, SCENE_MARGIN)

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


@contextmanager
def _plain(scene: QGraphicsScene) -> Iterator[None]:
    """The network as a figure: without grid dots or the selection's highlight."""
    selected = scene.selectedItems()
    for item in selected:
        item.setSelected(False)
    plain, scene.plain_background = scene.plain_background, True
    try:
        yield
    finally:
        scene.plain_background = plain
        for item in selected:
            item.setSelected(True)


@contextmanager
def _unselected(widget: QWidget) -> Iterator[None]:
    """A panel as a figure: image grids without the highlight frame of the tile picked in the window."""
    grids = ([widget] if isinstance(widget, ImageGrid) else []) + widget.findChildren(ImageGrid)
    saved = [(grid, grid.selected) for grid in grids]
    for grid, _ in saved:
        grid.selected = None
    try:
        yield
    finally:
        for grid, selected in saved:
            grid.selected = selected


def _drawn_rect(scene: QGraphicsScene) -> QRectF:
    """The scene rectangle that holds every drawn pixel: the items' bounding rect, grown where a drawing
    (an edge's shape label, a long name) reaches past it. Measured on a 1:1 probe drawing."""
    items = scene.itemsBoundingRect()
    if items.isEmpty():
        return items
    probe = items.adjusted(-_PROBE_SLACK, -_PROBE_SLACK, _PROBE_SLACK, _PROBE_SLACK).toAlignedRect()
    image = QImage(probe.width(), probe.height(), QImage.Format.Format_ARGB32)
    background = QApplication.palette().color(QPalette.ColorRole.Window)
    image.fill(background)
    painter = QPainter(image)
    try:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        with _plain(scene):
            scene.render(painter, QRectF(0, 0, probe.width(), probe.height()), QRectF(probe))
    finally:
        painter.end()
    pixels = _argb(image)
    drawn = np.argwhere(pixels != np.uint32(background.rgba()))
    if not len(drawn):
        return items
    (top, left), (bottom, right) = drawn.min(axis=0), drawn.max(axis=0)
    return QRectF(probe.left() + left, probe.top() + top, right - left + 1, bottom - top + 1).united(items)


def _argb(image: QImage) -> np.ndarray:
    """``image``'s pixels as 32-bit ARGB values, shape (height, width)."""
    image = image.convertToFormat(QImage.Format.Format_ARGB32)
    rows = np.frombuffer(image.constBits(), np.uint32, image.sizeInBytes() // 4)
    # A copy: the buffer is the converted image's, freed when it goes on return (the view keeps nothing alive).
    return rows.reshape(image.height(), image.bytesPerLine() // 4)[:, :image.width()].copy()


def _paint(target: FigureTarget, painter: QPainter, area: QRectF) -> None:
    """Draw ``target`` into ``area`` of ``painter``'s device, scaled to fit, on the window background."""
    widget = target.widget
    painter.fillRect(area, widget.palette().color(QPalette.ColorRole.Window))
    with _uncached(widget), _unselected(widget):
        if target.scene_view is not None:  # the whole network, without grid dots or the selection
            scene, shown = target.scene_view.scene(), target.scene_rect()
            with _plain(scene):
                scene.render(painter, area, shown, Qt.AspectRatioMode.KeepAspectRatio)
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


def default_png_size(target: FigureTarget) -> QSize:
    """The PNG size offered first: :data:`DEFAULT_SCALE` times the natural size, within :data:`MAX_SIDE`."""
    natural = target.size()
    scale = min(DEFAULT_SCALE, MAX_SIDE / max(natural.width(), natural.height(), 1))
    return QSize(max(1, int(natural.width() * scale)), max(1, int(natural.height() * scale)))


def png_bytes(target: FigureTarget, width: int | None = None, height: int | None = None, dpi: int = 144) -> bytes:
    """The figure as PNG, ``width`` × ``height`` pixels (default: :func:`default_png_size`), tagged with ``dpi``.

    ``dpi`` is only the PNG's print size: the drawing is the same at any ``dpi``. (Drawn at the image's
    own resolution, text given in points would grow with it and be clipped by its box.)"""
    natural = target.size()
    if width is None:
        width = default_png_size(target).width() if height is None else \
            round(height * natural.width() / max(natural.height(), 1))
    height = height or round(width * natural.height() / max(natural.width(), 1))
    if not (1 <= width <= MAX_SIDE and 1 <= height <= MAX_SIDE):
        raise FigureError(f"a PNG side must be between 1 and {MAX_SIDE} pixels, got {width}×{height}")
    image = QImage(width, height, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(target.widget.palette().color(QPalette.ColorRole.Window))
    _set_dpi(image, target.widget.logicalDpiX(), target.widget.logicalDpiY())  # text as on screen
    painter = QPainter(image)
    try:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setRenderHint(QPainter.RenderHint.TextAntialiasing)
        _paint(target, painter, QRectF(0, 0, width, height))
    finally:
        painter.end()
    _set_dpi(image, dpi, dpi)
    return _encode(image)


def _set_dpi(image: QImage, x: float, y: float) -> None:
    image.setDotsPerMeterX(round(x / 0.0254))
    image.setDotsPerMeterY(round(y / 0.0254))


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
    return plain_strokes(bytes(data.data()))


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


def pdf_bytes(target: FigureTarget, title: str = "", page: QSizeF | None = None) -> bytes:
    """The figure as a one-page PDF whose page is the figure's size (or ``page``, in points), vector curves and text.

    The page's coordinates are the figure's logical pixels (the screen's resolution): at a printer's
    resolution, text given in points would be drawn that many times larger inside boxes that are not."""
    size = target.size()
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    writer = QPdfWriter(buffer)
    writer.setTitle(title or target.name)
    writer.setCreator("CNN Playground")
    writer.setResolution(target.widget.logicalDpiY())
    # One logical pixel is 1/96 inch, as on a screen: the page is the figure's size in points.
    points = page or QSizeF(size.width() * 72 / 96, size.height() * 72 / 96)
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
    """The plotted data: one row per point, ``plot, series, x, y`` (long format, any number of curves).

    A widget with a ``table_rows()`` method (the Results panel's misclassified images) writes those
    rows instead, one column per key.
    """
    table = getattr(target.widget, "table_rows", None)
    if callable(table):
        records = table()
        if not records:
            raise FigureError(f"{target.name} has no images to write as CSV: choose PNG, SVG or PDF")
        out = io.StringIO()
        dict_writer = csv.DictWriter(out, fieldnames=list(records[0]), lineterminator="\n")
        dict_writer.writeheader()
        dict_writer.writerows(records)
        return out.getvalue()
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
            rows.extend((title, name, csv_number(a), csv_number(b)) for a, b in zip(x, y))
    if not rows:
        raise FigureError(f"{target.name} has no plotted data to write as CSV: choose PNG, SVG or PDF")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["plot", "series", "x", "y"])
    writer.writerows(rows)
    return out.getvalue()


def csv_number(value: float) -> str:
    """``value`` as the shortest text that reads back as the number shown: a float32 at float32's
    precision, a float64 at 12 significant digits (33.8, not the 33.800000000000004 that 0.338 × 100 is)."""
    if isinstance(value, np.float32):
        return np.format_float_positional(value, unique=True, trim="0")
    value = float(value)
    if not np.isfinite(value):
        return repr(value)
    return repr(float(f"{value:.12g}"))


def styled_size(target: FigureTarget, style: FigureStyle) -> QSize:
    """The figure's size in logical pixels when drawn in ``style`` (the network's: its scene's)."""
    return target.size() if target.scene_view is not None else figure_size(target.size(), style)


def styled_png_size(target: FigureTarget, style: FigureStyle, dpi: int | None = None) -> QSize:
    """A PNG's pixels in ``style`` at ``dpi`` (default: the style's): the preset's width × dpi, the height in
    the figure's proportions (a slide's height × dpi)."""
    dpi = dpi or style.dpi
    size = styled_size(target, style)
    width = round(style.width_in * dpi)
    height = round(style.height_in * dpi) if style.height_in is not None and target.scene_view is None else \
        round(width * size.height() / max(size.width(), 1))
    return QSize(width, height)


def styled_bytes(target: FigureTarget, fmt: str, style: FigureStyle, dpi: int | None = None) -> bytes:
    """``target`` as PNG, SVG or PDF in ``style`` (:mod:`.styled`): the preset's physical size, dark ink on
    white whatever the window's theme, the style's fonts, line widths and palette; the widget looks as before
    afterwards. A PNG is the preset's width × ``dpi`` (default: the style's) pixels wide."""
    size = styled_size(target, style)
    pixels = styled_png_size(target, style, dpi)
    pen_scale = pixels.width() / max(size.width(), 1) if fmt == "png" else 1.0
    with styled(target.widget, style, pen_scale, resize=target.scene_view is None) as drawn:
        _settle_layouts(target.widget)
        if target.scene_view is None:
            # A first drawing: axes measure their tick labels in the new font as they draw them, and make room.
            png_bytes(target, max(drawn.width(), 1), max(drawn.height(), 1))
            _settle_layouts(target.widget)
        if fmt == "png":
            return png_bytes(target, pixels.width(), pixels.height(), dpi or style.dpi)
        if fmt == "svg":
            return svg_bytes(target)
        shown = drawn if target.scene_view is None else size
        width_pt = style.width_in * 72
        return pdf_bytes(target, page=QSizeF(width_pt, width_pt * shown.height() / max(shown.width(), 1)))


def figure_for(target: FigureTarget, style: FigureStyle) -> FigureTarget:
    """What a style draws of ``target``: for a plot of runs (the Curves panel, built for a window's width, with
    step-level curves, learning rate and throughput), the runs' loss and accuracy per epoch as ``cnnplayground
    curves`` and its pgfplots document draw them; anything else as it is."""
    runs = target.curve_runs()
    if not runs:
        return target
    from ...export.curves import curve_plots
    from .curves_figure import curves_figure

    plots = [plot for plot in curve_plots(runs, ["loss", "accuracy"], style) if plot.lines]
    if not plots:
        return target
    return FigureTarget(target.name, curves_figure(plots, style))


def _settle_layouts(widget: QWidget) -> None:
    """Lay out now what a change of size or font asked ``widget`` and what it holds to lay out later (graphics
    layouts nest: a few rounds). Not its parent: the parent's layout would give it back its size in the window."""
    objects: list = [widget, *widget.findChildren(QWidget)]
    for view in [w for w in objects if isinstance(w, QGraphicsView) and w.scene() is not None]:
        objects += [item for item in view.scene().items() if isinstance(item, QGraphicsWidget)]
    hidden_views = [w for w in objects if isinstance(w, QGraphicsView) and not w.isVisible()]
    for _ in range(4):
        for obj in objects:
            QApplication.sendPostedEvents(obj, QEvent.Type.LayoutRequest)
        for view in hidden_views:
            # A widget never shown gets no resize event: a plot would keep the layout of its first size (drawn
            # narrower, it showed only its left part). Send one, so that it lays out at the size it is given.
            QApplication.sendEvent(view, QResizeEvent(view.size(), view.size()))
    for obj in objects:
        QApplication.sendPostedEvents(obj, QEvent.Type.LayoutRequest)


def export_figure(target: FigureTarget, path: str | Path, fmt: str | None = None, *, width: int | None = None,
                  height: int | None = None, dpi: int | None = None, style: FigureStyle | None = None) -> Path:
    """Write ``target`` to ``path`` in ``fmt`` (default: from the suffix); atomic, the old file kept on failure.

    With ``style``, the figure is drawn in that :class:`FigureStyle` (:func:`styled_bytes`; ``width`` and
    ``height`` are then ignored: the preset sets the size), else as the window shows it."""
    path = Path(path)
    fmt = (fmt or path.suffix.lstrip(".")).lower()
    if fmt not in FORMATS:
        raise FigureError(f"unknown figure format {fmt!r}: choose one of {', '.join(FORMATS)}")
    if style is not None and fmt != "csv":
        figure = figure_for(target, style)
        try:
            data = styled_bytes(figure, fmt, style, dpi)
        finally:
            if figure is not target:
                figure.widget.deleteLater()
    elif fmt == "png":
        data = png_bytes(target, width, height, dpi or 144)
    elif fmt == "svg":
        data = svg_bytes(target)
    elif fmt == "pdf":
        data = pdf_bytes(target)
    else:
        data = csv_text(target).encode("utf-8")
    atomic_write_bytes(path, data)
    return path

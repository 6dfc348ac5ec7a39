"""A figure in the :class:`~cnnplayground.export.style.FigureStyle`, whatever the window's theme.

:func:`styled` changes a widget for the time a figure is drawn and puts everything back afterwards, so the
window looks as before: the widget gets the preset's size (its width in inches at the screen's logical dpi,
so that text in points has its printed size), dark ink on white, the style's font and sizes; pyqtgraph plots
get a white background, dark axes, titles and legends in the style's sizes, curves in the style's line
width, and the series' colours replaced by the palette's (the first colour drawn becomes ``palette[0]``,
the next ``palette[1]``…, the same in every plot of the figure, transparency kept).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager

import pyqtgraph as pg
from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPalette, QPen
from PySide6.QtWidgets import QGraphicsView, QSplitter, QWidget

from ...export.style import FigureStyle

#: Logical pixels per inch of a figure drawn by Qt (the screen's logical dpi on every platform Qt draws for).
LOGICAL_DPI = 96


def figure_size(widget_size: QSize, style: FigureStyle) -> QSize:
    """The logical-pixel size a widget is given for ``style``: the preset's width (its height too for a slide),
    else the height that keeps the widget's proportions."""
    width = round(style.width_in * LOGICAL_DPI)
    if style.height_in is not None:
        return QSize(width, round(style.height_in * LOGICAL_DPI))
    aspect = widget_size.height() / max(widget_size.width(), 1)
    return QSize(width, max(1, round(width * aspect)))


def light_palette(style: FigureStyle) -> QPalette:
    """A palette of the style's ink on its background (every role a figure's widgets paint with)."""
    palette = QPalette()
    background, ink = QColor(style.background), QColor(style.ink)
    for role in (QPalette.ColorRole.Window, QPalette.ColorRole.Base, QPalette.ColorRole.AlternateBase,
                 QPalette.ColorRole.Button, QPalette.ColorRole.Light, QPalette.ColorRole.Midlight):
        palette.setColor(role, background)
    for role in (QPalette.ColorRole.WindowText, QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText,
                 QPalette.ColorRole.PlaceholderText):
        palette.setColor(role, ink)
    palette.setColor(QPalette.ColorRole.Mid, QColor("#b0b0b0"))
    palette.setColor(QPalette.ColorRole.Dark, QColor("#808080"))
    return palette


def font(style: FigureStyle, size: float) -> QFont:
    result = QFont(style.font_family)
    result.setPointSizeF(size)
    return result


class _Undo:
    """What :func:`styled` changed, to put back in reverse order."""

    def __init__(self) -> None:
        self.steps: list[Callable[[], None]] = []

    def add(self, step: Callable[[], None]) -> None:
        self.steps.append(step)

    def run(self) -> None:
        for step in reversed(self.steps):
            step()


@contextmanager
def styled(widget: QWidget, style: FigureStyle, pen_scale: float = 1.0, resize: bool = True) -> Iterator[QSize]:
    """``widget`` drawn as a figure in ``style`` for the duration; yields its size in logical pixels.

    ``pen_scale``: device pixels per logical pixel of the output (a PNG drawn larger than the widget), so that
    curves (cosmetic pens, drawn in device pixels) get the style's line width on the page. ``resize=False``
    keeps the widget's size (a graphics scene's figure: its size is the scene's)."""
    undo = _Undo()
    with ExitStack() as stack:
        stack.callback(undo.run)
        if resize:
            _resize(widget, figure_size(widget.size(), style), undo)
        _restyle_widget(widget, style, undo)
        _hide_splitter_handles(widget, undo)
        colors: dict[str, QColor] = {}
        views = ([widget] if isinstance(widget, QGraphicsView) else []) + widget.findChildren(QGraphicsView)
        for view in views:
            if isinstance(view, pg.GraphicsView):
                _restyle_plots(view, style, pen_scale, colors, undo)
        yield widget.size()


def _resize(widget: QWidget, size: QSize, undo: _Undo) -> None:
    old_size, old_min, old_max = widget.size(), widget.minimumSize(), widget.maximumSize()
    widget.setMinimumSize(0, 0)
    widget.setMaximumSize(16_777_215, 16_777_215)
    widget.resize(size)
    if widget.layout() is not None:
        widget.layout().activate()

    def back() -> None:
        widget.setMinimumSize(old_min)
        widget.setMaximumSize(old_max)
        widget.resize(old_size)
        if widget.layout() is not None:
            widget.layout().activate()

    undo.add(back)


def _hide_splitter_handles(widget: QWidget, undo: _Undo) -> None:
    """No splitter grip (the window's dotted handle between two parts) on the page."""
    handles = [splitter.handle(i) for splitter in widget.findChildren(QSplitter) for i in range(1, splitter.count())]
    shown = [h for h in handles if not h.isHidden()]
    for handle in shown:
        handle.hide()

    def back() -> None:
        for handle in shown:
            handle.show()

    undo.add(back)


def _restyle_widget(widget: QWidget, style: FigureStyle, undo: _Undo) -> None:
    """The widget and its children: the style's palette and font (children that set their own keep theirs)."""
    had_palette = widget.testAttribute(Qt.WidgetAttribute.WA_SetPalette)
    had_font = widget.testAttribute(Qt.WidgetAttribute.WA_SetFont)
    old_palette, old_font = QPalette(widget.palette()), QFont(widget.font())
    widget.setPalette(light_palette(style))
    widget.setFont(font(style, style.font_size))

    def back() -> None:
        widget.setPalette(old_palette if had_palette else QPalette())
        widget.setFont(old_font if had_font else QFont())
        widget.setAttribute(Qt.WidgetAttribute.WA_SetPalette, had_palette)
        widget.setAttribute(Qt.WidgetAttribute.WA_SetFont, had_font)

    undo.add(back)


def _html_size(size: float) -> str:
    return f"{size:g}pt"


def _restyle_label(label: pg.LabelItem, style: FigureStyle, size: float, undo: _Undo) -> None:
    text, opts = label.text, dict(label.opts)
    if not text:
        return
    label.setText(text, color=style.ink, size=_html_size(size))
    label.item.setFont(font(style, size))

    def back() -> None:
        label.opts = opts
        label.setText(text)

    undo.add(back)


def _restyle_plots(view: pg.GraphicsView, style: FigureStyle, pen_scale: float, colors: dict[str, QColor],
                   undo: _Undo) -> None:
    old_brush = view.backgroundBrush()
    view.setBackground(style.background)
    undo.add(lambda: view.setBackgroundBrush(old_brush))
    ink = QColor(style.ink)
    items = view.scene().items()
    plots = sorted((item for item in items if isinstance(item, pg.PlotItem)),
                   key=lambda p: (p.scenePos().y(), p.scenePos().x()))
    for item in items:
        if isinstance(item, pg.AxisItem):
            _restyle_axis(item, style, ink, undo)
        elif isinstance(item, pg.LegendItem):
            _restyle_legend(item, style, undo)
    for plot in plots:  # in reading order, each plot's curves in drawing order: the palette's order
        _restyle_label(plot.titleLabel, style, style.title_size, undo)
        for curve in plot.listDataItems():
            if isinstance(curve, pg.PlotDataItem):
                _restyle_curve(curve, style, pen_scale, colors, undo)


def _restyle_axis(axis: pg.AxisItem, style: FigureStyle, ink: QColor, undo: _Undo) -> None:
    old_pen, old_text_pen = QPen(axis.pen()), QPen(axis.textPen())
    old_style, old_label_style = dict(axis.style), dict(axis.labelStyle)
    axis.setPen(ink)
    axis.setTextPen(ink)
    axis.setStyle(tickFont=font(style, style.tick_size))
    axis.labelStyle = {"color": style.ink, "font-size": _html_size(style.font_size),
                       "font-family": style.font_family}
    axis.label.setHtml(axis.labelString())
    old_text_height = axis.textHeight
    if axis.orientation in ("bottom", "top"):
        # Room for a line of tick labels in the new font at the screen's dpi (an axis measures the labels as it
        # draws them, on a device that may resolve points at another dpi: a slide's 18 pt names lost their
        # descenders at the figure's bottom edge).
        axis._updateMaxTextSize(QFontMetrics(font(style, style.tick_size)).height())
    axis._adjustSize()

    def back() -> None:
        axis.textHeight = old_text_height
        axis.setPen(old_pen)
        axis.setTextPen(old_text_pen)
        axis.style = old_style
        axis.labelStyle = old_label_style
        axis.label.setHtml(axis.labelString())
        axis.picture = None
        axis._adjustSize()
        axis.update()

    undo.add(back)


def _restyle_legend(legend: pg.LegendItem, style: FigureStyle, undo: _Undo) -> None:
    for _sample, label in legend.items:
        _restyle_label(label, style, style.font_size, undo)
    old_brush, old_pen = legend.opts.get("brush"), legend.opts.get("pen")
    legend.setBrush(pg.mkBrush(255, 255, 255, 200) if old_brush is not None else None)
    legend.setPen(None)

    def back() -> None:
        legend.opts["brush"], legend.opts["pen"] = old_brush, old_pen
        legend.update()

    undo.add(back)


def _palette_color(color: QColor, style: FigureStyle, colors: dict[str, QColor]) -> QColor:
    key = color.name()  # opaque colour: the series' identity; its alpha (dimmed runs) is kept
    if key not in colors:
        colors[key] = QColor(style.palette[len(colors) % len(style.palette)])
    mapped = QColor(colors[key])
    mapped.setAlpha(color.alpha())
    return mapped


def _restyle_curve(item: pg.PlotDataItem, style: FigureStyle, pen_scale: float, colors: dict[str, QColor],
                   undo: _Undo) -> None:
    opts = item.opts
    old = {key: opts.get(key) for key in ("pen", "symbolBrush", "symbolSize")}
    pen = pg.mkPen(opts.get("pen"))
    if pen.style() != Qt.PenStyle.NoPen:
        pen = QPen(pen)
        pen.setColor(_palette_color(pen.color(), style, colors))
        # The style's width in points as device pixels (a thin dimmed run stays thinner, in proportion).
        thin = min(pen.widthF() or 1.0, 2.0) / 2.0
        pen.setWidthF(style.line_width * LOGICAL_DPI / 72 * pen_scale * (0.6 if thin < 0.75 else 1.0))
        pen.setCosmetic(True)
    symbol_brush = opts.get("symbolBrush")
    if symbol_brush is not None:
        brush = pg.mkBrush(symbol_brush)
        brush.setColor(_palette_color(brush.color(), style, colors))
        symbol_brush = brush
    item.setPen(pen)
    if opts.get("symbol") is not None:
        item.setSymbolBrush(symbol_brush)
        # Marks three line widths across (symbols scale with the drawing, unlike cosmetic pens).
        item.setSymbolSize(max(3.0 * style.line_width * LOGICAL_DPI / 72, 4.0))

    def back() -> None:
        item.setPen(old["pen"])
        if opts.get("symbol") is not None:
            item.setSymbolBrush(old["symbolBrush"])
            item.setSymbolSize(old["symbolSize"])

    undo.add(back)

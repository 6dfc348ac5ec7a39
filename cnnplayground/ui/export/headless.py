"""Panel figures without a window: ``cnnplayground figure`` draws them with an offscreen Qt.

The figure is made by the window's own widgets and drawn by the window's Export Figure code
(:mod:`.figures`): the Kernels panel's tiles (``kernels_panel.layer_tiles`` in an :class:`ImageGrid`, the
panel's ``figure_widget()``), the Feature Maps panel's (``feature_maps_panel.map_tiles``), and the Results
panel itself (``ResultsPanel.show_epoch``, its ``figure_widget()``: matrix and per-class accuracy), each
under a one-line title that names the run and the epoch. No second copy of the drawing: a change to a
panel's look changes its command-line figure too. The widgets are never shown; only a
:class:`QApplication` is needed (offscreen without a display).
"""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import QApplication, QLabel, QVBoxLayout, QWidget

from ...export.style import DEFAULT_STYLE, FigureStyle, figure_style
from ...io.atomic import atomic_write_bytes
from ...train.events import EpochFinished
from ..inspect.feature_maps_panel import map_tiles
from ..inspect.imaging import ColorBar, ImageGrid, grey_image
from ..inspect.kernels_panel import layer_tiles
from ..training.results import ResultsPanel
from .curves_figure import curves_figure  # noqa: F401  (re-exported: the curves command draws with it)
from .figures import FigureError, FigureTarget, export_figure, png_bytes
from .styled import LOGICAL_DPI, font, light_palette

#: Width of a figure in logical pixels (PNGs are drawn at twice that) where no style is given.
FIGURE_WIDTH = 640


def application() -> QApplication:
    """The running QApplication, or a new one (offscreen when there is no display)."""
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    return app


def style_width(style: FigureStyle | None, default: int = FIGURE_WIDTH) -> int:
    """A figure's width in logical pixels: the style's width in inches (``default`` without a style)."""
    return default if style is None else round(style.width_in * LOGICAL_DPI)


def _in_style(frame: QWidget, style: FigureStyle | None) -> QWidget:
    """``frame`` with the style's font and colours before it is laid out (its text then takes the room it will
    have in the figure)."""
    if style is not None:
        frame.setFont(font(style, style.font_size))
        frame.setPalette(light_palette(style))
        for bar in frame.findChildren(ColorBar):  # its labels' line in the new font
            bar.setMinimumHeight(bar.fontMetrics().height() + 16)
    return frame


def _fill_slide(frame: QWidget, grid: ImageGrid, style: FigureStyle | None, width: int) -> None:
    """On a slide (a fixed height), tiles as large as fit: the grid gets the height the rest leaves."""
    if style is None or style.height_in is None:
        return
    layout = frame.layout()
    others = sum(layout.itemAt(i).sizeHint().height() for i in range(layout.count())
                 if layout.itemAt(i).widget() is not grid)
    margins = layout.contentsMargins()
    room = round(style.height_in * LOGICAL_DPI) - others - margins.top() - margins.bottom() \
        - layout.spacing() * layout.count()
    inner = width - margins.left() - margins.right()
    grid.set_tile(grid.best_tile(inner, room, largest=240, smallest=grid.tile))


def _titled(title: str, widget: QWidget, *extra: QWidget) -> QWidget:
    """``widget`` under a one-line ``title`` (and ``extra`` widgets below it), laid out at its final size."""
    frame = QWidget()
    layout = QVBoxLayout(frame)
    label = QLabel(title, frame)
    label.setWordWrap(True)
    layout.addWidget(label, 0)
    layout.addWidget(widget, 1)
    for w in extra:
        layout.addWidget(w)
    return frame


def _laid_out(frame: QWidget, width: int, height: int | None = None) -> QWidget:
    """``frame`` sized to ``width`` and the height its layout needs there (or ``height``)."""
    layout = frame.layout()
    layout.activate()
    needed = layout.totalHeightForWidth(width) if layout.hasHeightForWidth() else layout.sizeHint().height()
    frame.resize(width, height or max(needed, 1))
    layout.activate()
    return frame


def kernels_figure(weight, title: str, mode: str = "auto", scale: str = "shared", tile: int = 48,
                   width: int | None = None, style: FigureStyle | None = None) -> QWidget:
    """The Kernels panel's tiles of one conv ``weight`` ``(out, in, kh, kw)`` with its colour bar, titled."""
    if mode == "rgb" and weight.shape[1] != 3:
        raise FigureError(f"colour display needs 3 input channels, this layer has {weight.shape[1]}")
    kernels, images, _histogram, _ = layer_tiles(weight, mode, scale)
    grid = ImageGrid(tile)
    grid.set_images(images, [f"#{i}" for i in range(len(images))])
    bar = ColorBar()
    top = float(kernels.scale.max(initial=0.0))
    bar.set_range(-top, top) if scale == "shared" else bar.set_range(-1.0, 1.0)
    frame, width = _in_style(_titled(title, grid, bar), style), width or style_width(style)
    _fill_slide(frame, grid, style, width)
    return _laid_out(frame, width)


def feature_maps_figure(maps, title: str, image=None, tile: int = 64, width: int | None = None,
                        style: FigureStyle | None = None) -> QWidget:
    """The Feature Maps panel's tiles of one layer's maps ``(C, H, W)`` (each channel on its own scale, as the
    panel shows them by default), titled, with the input ``image`` (``(C, H, W)`` in [0, 1]) beside the title."""
    _channels, images, captions = map_tiles(maps)
    grid = ImageGrid(tile)
    grid.set_images(images, captions)
    frame = _titled(title, grid)
    if image is not None:  # the input, as the panel shows it beside its maps
        picture = QLabel(frame)
        picture.setPixmap(QPixmap.fromImage(grey_image(image)).scaled(2 * tile, 2 * tile))
        frame.layout().insertWidget(1, picture)
    frame, width = _in_style(frame, style), width or style_width(style)
    _fill_slide(frame, grid, style, width)
    return _laid_out(frame, width)


def confusion_figure(confusion: Sequence[Sequence[int]], per_class: Sequence[float | None],
                     class_names: Sequence[str], epoch: int, title: str, width: int | None = None,
                     style: FigureStyle | None = None) -> QWidget:
    """The Results panel's confusion matrix and per-class accuracy for one epoch's evaluation, titled."""
    panel = ResultsPanel()
    panel.set_class_names(class_names)
    panel.show_epoch(EpochFinished(
        epoch=epoch, step=0, train_loss=0.0, train_accuracy=0.0, val_loss=None, val_accuracy=None,
        per_class_accuracy=tuple(per_class), confusion=tuple(tuple(int(v) for v in row) for row in confusion),
        learning_rate=0.0, seconds=0.0, images_per_second=0.0))
    body = panel.figure_widget()  # the tab's page: taken out of the panel into the figure
    caption = panel.caption.text()
    frame = _titled(f"{title}\n{caption}", body)
    body.setHidden(False)  # a new parent hides a widget (and a tab page was hidden until its tab showed)
    frame._panel = panel  # type: ignore[attr-defined]  # keeps the panel (and its signals) alive with the figure
    width = width or style_width(style, 2 * FIGURE_WIDTH)
    if style is not None and style.height_in is not None:
        height = round(style.height_in * LOGICAL_DPI)
    else:  # matrix and per-class bars side by side: a narrow column needs more height for the caption's lines
        height = round(width * (0.55 if width >= 600 else 1.0))
    return _laid_out(_in_style(frame, style), width, height)


def write_figure(widget: QWidget, path: str | Path, style: FigureStyle | None = None) -> Path:
    """``widget`` to ``path`` as PNG, SVG or PDF (by its suffix), by Export Figure's code, in ``style``
    (default: the paper column's)."""
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix not in ("png", "svg", "pdf"):
        raise FigureError(f"a figure is written as .png, .svg or .pdf, not {Path(path).name!r}")
    return export_figure(FigureTarget(Path(path).stem, widget), path, suffix,
                         style=style or figure_style(DEFAULT_STYLE))


def write_animation(frames: Sequence[QWidget], path: str | Path, frame_ms: int = 700) -> Path:
    """One frame per widget (all drawn at the first one's size) as an animated GIF, looping."""
    from PIL import Image

    if not frames:
        raise FigureError("there is no frame to animate")
    size = frames[0].size()
    images = []
    for widget in frames:
        widget.resize(size)
        png = png_bytes(FigureTarget("frame", widget), size.width() * 2, size.height() * 2)
        images.append(Image.open(io.BytesIO(png)).convert("RGB"))
    out = io.BytesIO()
    images[0].save(out, format="GIF", save_all=True, append_images=images[1:], duration=frame_ms, loop=0,
                   optimize=False, disposal=1)
    atomic_write_bytes(Path(path), out.getvalue())
    return Path(path)

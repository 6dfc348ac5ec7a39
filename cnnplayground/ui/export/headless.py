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

import dataclasses
import io
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QPoint, QRect, Qt
from PySide6.QtGui import QPixmap, QResizeEvent
from PySide6.QtWidgets import QApplication, QGraphicsView, QLabel, QVBoxLayout, QWidget

from ...export.style import DEFAULT_STYLE, FigureStyle, figure_style
from ...io.atomic import atomic_write_bytes
from ...train.events import EpochFinished
from ..inspect.feature_maps_panel import map_tiles
from ..inspect.imaging import SEQUENTIAL_LUT, ColorBar, ImageGrid, grey_image
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
                   width: int | None = None, magnitude: float | None = None,
                   style: FigureStyle | None = None) -> QWidget:
    """The Kernels panel's tiles of one conv ``weight`` ``(out, in, kh, kw)`` with its colour bar, titled
    (``magnitude``: the weight drawn as ±1, fixed, e.g. for every frame of an animation)."""
    if mode == "rgb" and weight.shape[1] != 3:
        raise FigureError(f"colour display needs 3 input channels, this layer has {weight.shape[1]}")
    kernels, images, _histogram, _ = layer_tiles(weight, mode, scale, magnitude)
    grid = ImageGrid(tile)
    grid.set_images(images, [f"#{i}" for i in range(len(images))])
    bar = ColorBar()
    top = float(kernels.scale.max(initial=0.0))
    bar.set_range(-top, top) if scale == "shared" or magnitude is not None else bar.set_range(-1.0, 1.0)
    frame, width = _in_style(_titled(title, grid, bar), style), width or style_width(style)
    _fill_slide(frame, grid, style, width)
    return _laid_out(frame, width)


def feature_maps_figure(maps, title: str, image=None, tile: int = 64, width: int | None = None,
                        value_range: tuple[float, float] | None = None,
                        style: FigureStyle | None = None) -> QWidget:
    """The Feature Maps panel's tiles of one layer's maps ``(C, H, W)`` (each channel on its own scale, as the
    panel shows them by default, or all on ``value_range`` with its colour bar), titled, with the input
    ``image`` (``(C, H, W)`` in [0, 1]) beside the title."""
    _channels, images, captions = map_tiles(maps, value_range=value_range)
    grid = ImageGrid(tile)
    grid.set_images(images, captions)
    extra = []
    if value_range is not None:
        bar = ColorBar()
        bar.set_range(*value_range, SEQUENTIAL_LUT)
        extra.append(bar)
    frame = _titled(title, grid, *extra)
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


#: What ``--animate`` writes, by suffix.
ANIMATION_FORMATS = (".gif", ".apng", ".mp4")


def ffmpeg_program() -> str | None:
    """The ffmpeg program for MP4: ``ffmpeg`` on PATH, else imageio-ffmpeg's own; None when neither is there."""
    found = shutil.which("ffmpeg")
    if found:
        return found
    try:
        import imageio_ffmpeg  # type: ignore[import-not-found]
    except ImportError:
        return None
    try:
        return str(imageio_ffmpeg.get_ffmpeg_exe())
    except (RuntimeError, OSError):
        return None


def write_animation(frames: Sequence[QWidget], path: str | Path, frame_ms: int = 700) -> Path:
    """One frame per widget (all drawn at the first one's size), looping: an animated GIF, an APNG (both by
    Pillow) or an MP4 (H.264, by ffmpeg), by ``path``'s suffix."""
    from PIL import Image

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in ANIMATION_FORMATS:
        raise FigureError(f"an animation is written as .gif, .apng or .mp4, not {path.name!r}")
    program = ffmpeg_program() if suffix == ".mp4" else None
    if suffix == ".mp4" and program is None:
        raise FigureError("writing .mp4 needs ffmpeg: install it (apt install ffmpeg, or pip install "
                          "imageio-ffmpeg), or write .gif or .apng")
    if not frames:
        raise FigureError("there is no frame to animate")
    size = frames[0].size()
    pngs = []
    for widget in frames:
        widget.resize(size)
        pngs.append(png_bytes(FigureTarget("frame", widget), size.width() * 2, size.height() * 2))
    if suffix == ".mp4":
        assert program is not None
        atomic_write_bytes(path, _mp4_bytes(program, pngs, frame_ms))
        return path
    images = [Image.open(io.BytesIO(png)).convert("RGB") for png in pngs]
    out = io.BytesIO()
    if suffix == ".gif":
        images[0].save(out, format="GIF", save_all=True, append_images=images[1:], duration=frame_ms, loop=0,
                       optimize=False, disposal=1)
    else:
        images[0].save(out, format="PNG", save_all=True, append_images=images[1:], duration=frame_ms, loop=0,
                       default_image=False)
    atomic_write_bytes(path, out.getvalue())
    return path


def _mp4_bytes(program: str, pngs: Sequence[bytes], frame_ms: int) -> bytes:
    """The frames (PNG bytes) as an H.264 MP4 by ``program`` (ffmpeg), in a scratch folder."""
    with tempfile.TemporaryDirectory(prefix="cnnplayground-mp4-") as scratch:
        folder = Path(scratch)
        for k, png in enumerate(pngs):
            (folder / f"frame_{k:05d}.png").write_bytes(png)
        out = folder / "animation.mp4"
        command = [program, "-v", "error", "-y", "-framerate", f"{1000 / frame_ms:.6g}", "-i",
                   str(folder / "frame_%05d.png"), "-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2:color=white",
                   "-c:v", "libx264", "-pix_fmt", "yuv420p", "-movflags", "+faststart", str(out)]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise FigureError(f"ffmpeg did not run: {exc}") from None
        if done.returncode != 0 or not out.is_file():
            last = (done.stderr.strip().splitlines() or ["no message"])[-1]
            raise FigureError(f"ffmpeg failed (exit {done.returncode}): {last[:200]}")
        return out.read_bytes()


def fitting_style(widget: QWidget, style: FigureStyle) -> FigureStyle:
    """``style``, or the same style as wide as ``widget`` needs where the preset is narrower than the
    least width its parts take in the style's font (a panel's three images side by side in a 3.5 in column):
    wider, rather than clipped at the preset's edge. A paper then scales it to the column. A figure with a plot
    (the receptive field's sizes per layer) keeps the width it was drawn at: a plot drawn narrower than that
    shows only part of itself."""
    preset = style
    widget.setFont(font(preset, preset.font_size))
    for bar in widget.findChildren(ColorBar):  # its labels' line in the style's font (as headless does)
        bar.setMinimumHeight(bar.fontMetrics().height() + 16)
    layout = widget.layout()
    if layout is not None:
        layout.activate()
    needed = widget.minimumSizeHint().width()
    if widget.findChildren(QGraphicsView):  # plots are not laid out again when narrowed: keep their width
        needed = max(needed, widget.width())
    style = preset
    if needed > round(preset.width_in * LOGICAL_DPI):
        style = dataclasses.replace(preset, width_in=round(needed / LOGICAL_DPI + 0.05, 1))
    if style.height_in is None:
        # The height the parts need at the figure's width (a grid of tiles wraps into more rows; labels
        # under images need their lines): the style keeps the widget's proportions, so set them here.
        width = round(style.width_in * LOGICAL_DPI)
        height = round(width * widget.height() / max(widget.width(), 1))
        if layout is not None and layout.hasHeightForWidth() and widget.findChildren(ImageGrid):
            # (only a grid of tiles: square image views would ask for their column's width in height
            # and leave gaps around images drawn smaller)
            height = max(height, layout.totalHeightForWidth(width))
        height = max(height, widget.minimumSizeHint().height())
        widget.resize(width, height)
        if layout is not None:
            layout.activate()
        # A wrapped label's least height is for a guessed width: at its real width it needs more lines (the
        # lines under the attribution's images, a heading wrapped to two), and a layout short of room drew
        # them over the image next to them. Taller, a few pixels at a time (the room goes to the images as
        # much as to the labels), until no two parts overlap.
        _lay_out(widget)
        for _ in range(200):
            if overlap(widget) <= 0:
                break
            height += 4
            widget.resize(width, height)
            _lay_out(widget)
    else:  # a slide: its 16:9 page made larger (and so shown smaller) until the parts fit its height
        width = round(style.width_in * LOGICAL_DPI)
        needed_height = widget.minimumSizeHint().height()
        if layout is not None and layout.hasHeightForWidth():
            needed_height = max(needed_height, layout.totalHeightForWidth(width))
        page_height = style.height_in * LOGICAL_DPI
        if needed_height > page_height:
            scale = needed_height / page_height
            style = dataclasses.replace(style, width_in=round(style.width_in * scale + 0.05, 1),
                                        height_in=round(style.height_in * scale + 0.05, 2))
    return style


def _lay_out(widget: QWidget) -> None:
    """``widget`` and the widgets inside it laid out at their sizes, top down: a widget never shown gets no
    resize event, so the layouts inside it would keep the geometry of an earlier size."""
    layout = widget.layout()
    if layout is not None:
        layout.activate()
    QApplication.sendEvent(widget, QResizeEvent(widget.size(), widget.size()))
    for child in widget.findChildren(QWidget, options=Qt.FindChildOption.FindDirectChildrenOnly):
        if child.isVisibleTo(widget):
            _lay_out(child)


def overlap(widget: QWidget) -> int:
    """The most pixels by which two of ``widget``'s shown parts (text, images, plots: children with no shown
    child of their own) cover each other; 0 when none does."""
    leaves = [child for child in widget.findChildren(QWidget)
              if child.isVisibleTo(widget) and not isinstance(child.parentWidget(), QGraphicsView)
              and not any(c.isVisibleTo(widget) for c in child.findChildren(QWidget))]
    rects = [QRect(c.mapTo(widget, QPoint(0, 0)), c.size()) for c in leaves]
    most = 0
    for i, a in enumerate(rects):
        for b in rects[i + 1:]:
            both = a.intersected(b)
            if not both.isEmpty():
                most = max(most, min(both.width(), both.height()))
    return most

"""Arrays to images: colour maps, QImages, a wrapping grid of captioned tiles, and a colour bar."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from PySide6.QtCore import QEvent, QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QImage, QMouseEvent, QPainter, QPaintEvent, QPalette
from PySide6.QtWidgets import QScrollArea, QSizePolicy, QWidget

# Diverging map (blue → white → red), anchors of ColorBrewer's RdBu.
_DIVERGING = np.array([[33, 102, 172], [103, 169, 207], [209, 229, 240], [247, 247, 247],
                       [253, 219, 199], [239, 138, 98], [178, 24, 43]], dtype=float)
# Sequential map for activations (black → magenta-ish → yellow, like "inferno").
_SEQUENTIAL = np.array([[0, 0, 4], [40, 11, 84], [101, 21, 110], [159, 42, 99], [212, 72, 66],
                        [245, 125, 21], [250, 193, 39], [252, 255, 164]], dtype=float)


def _lut(anchors: np.ndarray, n: int = 256) -> np.ndarray:
    positions = np.linspace(0, 1, len(anchors))
    t = np.linspace(0, 1, n)
    return np.stack([np.interp(t, positions, anchors[:, c]) for c in range(3)], axis=1).round().astype(np.uint8)


DIVERGING_LUT = _lut(_DIVERGING)
SEQUENTIAL_LUT = _lut(_SEQUENTIAL)
#: The colours of :func:`heat_overlay` from 0 to 1 (as they look at full opacity), for its colour bar.
HEAT_LUT = SEQUENTIAL_LUT[np.round(96 + np.linspace(0.0, 1.0, 256) * 159).astype(int)]


def diverging(values: np.ndarray) -> np.ndarray:
    """Values in ``[-1, 1]`` → ``(…, 3)`` uint8 RGB (0 is white)."""
    index = np.clip(np.round((np.asarray(values, dtype=float) + 1) * 127.5), 0, 255).astype(int)
    return DIVERGING_LUT[index]


def sequential(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """Values on ``[low, high]`` → ``(…, 3)`` uint8 RGB (a flat map shows as the lowest colour)."""
    span = high - low
    t = (np.asarray(values, dtype=float) - low) / span if span > 0 else np.zeros(np.shape(values))
    return SEQUENTIAL_LUT[np.clip(np.round(t * 255), 0, 255).astype(int)]


def rgb_image(rgb: np.ndarray) -> QImage:
    """``(H, W, 3)`` uint8 (or floats in [0, 1]) → a QImage that owns its pixels."""
    a = np.asarray(rgb)
    if a.dtype != np.uint8:
        a = np.clip(np.round(a * 255), 0, 255).astype(np.uint8)
    a = np.ascontiguousarray(a)
    h, w, _ = a.shape
    return QImage(a.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


def heat_overlay(values: np.ndarray) -> QImage:
    """Values in ``[0, 1]`` → a translucent warm overlay: 0 is clear, 1 bright yellow and nearly opaque."""
    v = np.clip(np.nan_to_num(np.asarray(values, dtype=float)), 0.0, 1.0)
    rgba = np.empty((*v.shape, 4), dtype=np.uint8)
    rgba[..., :3] = SEQUENTIAL_LUT[np.round(96 + v * 159).astype(int)]
    rgba[..., 3] = np.round(v * 230).astype(np.uint8)
    rgba = np.ascontiguousarray(rgba)
    h, w = v.shape
    return QImage(rgba.data, w, h, 4 * w, QImage.Format.Format_RGBA8888).copy()


def grey_image(image: np.ndarray) -> QImage:
    """A ``(C, H, W)`` or ``(H, W)`` image in [0, 1] or uint8: first channel grey, or RGB for 3 channels."""
    a = np.asarray(image)
    if a.ndim == 3 and a.shape[0] == 3:
        return rgb_image(a.transpose(1, 2, 0))
    if a.ndim == 3:
        a = a[0]
    return rgb_image(np.repeat(a[..., None], 3, axis=2))


class ImageGrid(QWidget):
    """Square tiles of images with a caption under each, wrapping to the width; click to pick one.

    Images are scaled with nearest-neighbour sampling (pixels stay sharp). Signal
    ``clicked(index)``.
    """

    clicked = Signal(int)
    GAP = 6

    def __init__(self, tile: int = 64, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.tile = tile
        self.images: list[QImage] = []
        self.captions: list[str] = []
        self.selected: int | None = None
        policy = QSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        policy.setHeightForWidth(True)
        self.setSizePolicy(policy)
        self.setMouseTracking(True)

    def set_images(self, images: Sequence[QImage], captions: Sequence[str]) -> None:
        self.images, self.captions = list(images), list(captions)
        if self.selected is not None and self.selected >= len(self.images):
            self.selected = None
        self.updateGeometry()
        self.update()

    def set_tile(self, tile: int) -> None:
        self.tile = max(8, tile)
        self.updateGeometry()
        self.update()

    def best_tile(self, width: int, height: int, largest: int = 160, smallest: int = 24) -> int:
        """The largest tile (≤ ``largest``) that shows every image within ``width`` × ``height``."""
        n = max(len(self.images), 1)
        caption = self.fontMetrics().height() + 2
        for tile in range(largest, smallest - 1, -2):
            columns = max(1, (width - self.GAP) // (tile + self.GAP))
            rows = math.ceil(n / columns)
            if rows * (tile + caption + self.GAP) + self.GAP <= height:
                return tile
        return smallest

    def fit(self, width: int, height: int) -> None:
        """Size the tiles so that all images fit ``width`` × ``height`` (the visible area)."""
        self.set_tile(self.best_tile(width, height))

    def _cell(self) -> QSize:
        return QSize(self.tile, self.tile + self.fontMetrics().height() + 2)

    def columns(self, width: int | None = None) -> int:
        width = self.width() if width is None else width
        return max(1, (width - self.GAP) // (self._cell().width() + self.GAP))

    def hasHeightForWidth(self) -> bool:  # noqa: N802 (Qt override)
        return True

    def heightForWidth(self, width: int) -> int:  # noqa: N802 (Qt override)
        rows = math.ceil(len(self.images) / self.columns(width)) if self.images else 0
        return rows * (self._cell().height() + self.GAP) + self.GAP

    def sizeHint(self) -> QSize:
        width = 6 * (self._cell().width() + self.GAP) + self.GAP
        return QSize(width, self.heightForWidth(width))

    def tile_rect(self, index: int) -> QRectF:
        cell, cols = self._cell(), self.columns()
        row, col = divmod(index, cols)
        return QRectF(self.GAP + col * (cell.width() + self.GAP), self.GAP + row * (cell.height() + self.GAP),
                      self.tile, self.tile)

    def index_at(self, point: QPointF) -> int | None:
        for i in range(len(self.images)):
            if self.tile_rect(i).contains(point):
                return i
        return None

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt override)
        index = self.index_at(event.position())
        if index is not None:
            self.selected = index
            self.update()
            self.clicked.emit(index)

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt override)
        p = QPainter(self)
        try:
            p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
            fm, pal = self.fontMetrics(), self.palette()
            for i, image in enumerate(self.images):
                rect = self.tile_rect(i)
                if not rect.intersects(QRectF(event.rect())):
                    continue
                scale = min(rect.width() / max(image.width(), 1), rect.height() / max(image.height(), 1))
                w, h = image.width() * scale, image.height() * scale
                target = QRectF(rect.x() + (rect.width() - w) / 2, rect.y() + (rect.height() - h) / 2, w, h)
                p.drawImage(target, image)
                p.setPen(pal.color(QPalette.ColorRole.Mid))
                p.drawRect(target.adjusted(-0.5, -0.5, 0.5, 0.5))
                if i == self.selected:
                    p.setPen(pal.color(QPalette.ColorRole.Highlight))
                    p.drawRect(target.adjusted(-2, -2, 2, 2))
                p.setPen(pal.color(QPalette.ColorRole.WindowText))
                caption = fm.elidedText(self.captions[i] if i < len(self.captions) else "",
                                        Qt.TextElideMode.ElideRight, int(rect.width()) + self.GAP)
                p.drawText(QRectF(rect.x() - self.GAP / 2, rect.bottom() + 1, rect.width() + self.GAP,
                                  fm.height()), Qt.AlignmentFlag.AlignCenter, caption)
        finally:
            p.end()


def theme_plot(widget) -> None:
    """A pyqtgraph ``PlotWidget`` in the window's palette (its default is white on black)."""
    palette = widget.palette()
    foreground = palette.color(QPalette.ColorRole.Text)
    widget.setBackground(palette.color(QPalette.ColorRole.Base))
    plot = widget.getPlotItem()
    for name in ("left", "bottom"):
        plot.getAxis(name).setPen(foreground)
        plot.getAxis(name).setTextPen(foreground)
    plot.titleLabel.setText(plot.titleLabel.text, color=foreground.name())


class ColorBar(QWidget):
    """A horizontal colour bar with its low, middle and high values."""

    def __init__(self, parent: QWidget | None = None, label_format: str = "{:.3g}") -> None:
        super().__init__(parent)
        self.lut = DIVERGING_LUT
        self.low, self.high = -1.0, 1.0
        self.label_format = label_format  # e.g. "{:.0%}" for probabilities
        self.setMinimumHeight(self.fontMetrics().height() + 16)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def set_range(self, low: float, high: float, lut: np.ndarray | None = None) -> None:
        self.low, self.high = low, high
        if lut is not None:
            self.lut = lut
        self.update()

    def labels(self) -> tuple[str, str, str]:
        fmt = self.label_format.format
        return fmt(self.low), fmt((self.low + self.high) / 2), fmt(self.high)

    def paintEvent(self, _event: QPaintEvent) -> None:  # noqa: N802 (Qt override)
        p = QPainter(self)
        try:
            bar = QRectF(4, 2, self.width() - 8, 10)
            strip = rgb_image(self.lut[None, :, :])
            p.drawImage(bar, strip)
            p.setPen(QColor(self.palette().color(QPalette.ColorRole.WindowText)))
            fm = self.fontMetrics()
            y = bar.bottom() + 2
            low, mid, high = self.labels()
            p.drawText(QRectF(bar.left(), y, bar.width(), fm.height()), Qt.AlignmentFlag.AlignLeft, low)
            p.drawText(QRectF(bar.left(), y, bar.width(), fm.height()), Qt.AlignmentFlag.AlignHCenter, mid)
            p.drawText(QRectF(bar.left(), y, bar.width(), fm.height()), Qt.AlignmentFlag.AlignRight, high)
        finally:
            p.end()


class FittedGrid(QScrollArea):
    """An :class:`ImageGrid` in a scroll area whose tiles grow to fill the visible area (up to ``largest``)."""

    def __init__(self, tile: int = 64, largest: int = 160, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.largest = largest
        self.grid = ImageGrid(tile=tile, parent=self)
        self.setWidgetResizable(True)
        self.setWidget(self.grid)
        self.viewport().installEventFilter(self)

    def set_images(self, images: Sequence[QImage], captions: Sequence[str]) -> None:
        self.grid.set_images(images, captions)
        self.fit()

    def fit(self) -> None:
        viewport = self.viewport()
        self.grid.set_tile(self.grid.best_tile(viewport.width(), viewport.height(), largest=self.largest))

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 (Qt override)
        if watched is self.viewport() and event.type() == QEvent.Type.Resize:
            self.fit()
        return super().eventFilter(watched, event)

"""After-epoch views: confusion matrix, per-class accuracy bars (the mistakes: :mod:`.mistakes_grid`).

Both paint from data cached by their ``set_*`` method, with colours taken from the
widget palette at paint time, so they follow the light and dark themes without rebuilding.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PySide6.QtCore import QEvent, QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QHelpEvent, QImage, QPainter, QPaintEvent, QPalette, QPixmap
from PySide6.QtWidgets import QFrame, QScrollArea, QSizePolicy, QToolTip, QWidget

#: Colour stops (fraction → colour) of the sequential map, from the background to a strong blue.
_LIGHT_STOPS = ("#c6dbef", "#6baed6", "#2171b5", "#08306b")
_DARK_STOPS = ("#173a63", "#1f63a8", "#4a9be8", "#b3dbff")
_MAX_LABEL = 110  # widest class name label, in pixels
_PAD = 4


def _is_dark(palette: QPalette) -> bool:
    return palette.color(QPalette.ColorRole.Base).lightness() < 128


def _colormap(fractions: np.ndarray, palette: QPalette) -> np.ndarray:
    """``fractions`` (0..1) as uint8 RGB (``(..., 3)``) on a sequential map from the base colour
    to a strong blue. The square root spreads small fractions (typical off-diagonal confusion) apart."""
    stops = [palette.color(QPalette.ColorRole.Base)] + [QColor(c) for c in (_DARK_STOPS if _is_dark(palette)
                                                                            else _LIGHT_STOPS)]
    rgb = np.array([[c.red(), c.green(), c.blue()] for c in stops], dtype=np.float64)
    x = np.sqrt(np.clip(fractions, 0.0, 1.0)) * (len(stops) - 1)
    i = np.minimum(x.astype(np.int64), len(stops) - 2)
    t = (x - i)[..., None]
    return np.rint(rgb[i] + (rgb[i + 1] - rgb[i]) * t).astype(np.uint8)


def _contrast_text(background: QColor) -> QColor:
    r, g, b = background.getRgbF()[:3]
    return QColor("#000000") if 0.2126 * r + 0.7152 * g + 0.0722 * b > 0.45 else QColor("#ffffff")


def _tooltip(widget: QWidget, e: QHelpEvent, text: str | None) -> bool:
    """Show ``text`` for a tooltip event (hide any tooltip for ``None``); the event is handled."""
    if text is None:
        QToolTip.hideText()
        e.ignore()
    else:
        QToolTip.showText(e.globalPos(), text, widget)
    return True


@dataclass(frozen=True)
class _Geometry:
    left: float  # x of the matrix
    top: float  # y of the matrix
    cell: float
    label_width: float
    use_names: bool
    rotated: bool  # column labels drawn vertically
    step: int  # label every ``step``-th class
    show_counts: bool


class ConfusionMatrixView(QWidget):
    """A K×K heat map of ``confusion[true][predicted]``, coloured by row-normalized fraction."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.set_matrix((), ())
        self.setMinimumSize(160, 160)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def set_matrix(self, confusion: Sequence[Sequence[int]] | Any, class_names: Sequence[str]) -> None:
        """Show ``confusion`` (K×K, rows = true class); missing names become indices."""
        counts = np.asarray(confusion, dtype=np.int64)
        if counts.size == 0:
            counts = np.zeros((0, 0), dtype=np.int64)
        elif counts.ndim != 2 or counts.shape[0] != counts.shape[1]:
            raise ValueError(f"confusion must be K×K, got shape {counts.shape}")
        k = counts.shape[0]
        self._counts = counts
        totals = counts.sum(axis=1, keepdims=True)
        self._fractions = np.divide(counts, totals, out=np.zeros(counts.shape), where=totals > 0)
        self._heat: tuple[int, QImage] | None = None  # (base colour, K×K image) painted last
        self._names = [str(class_names[i]) if i < len(class_names) else str(i) for i in range(k)]
        self.updateGeometry()
        self.update()

    def class_count(self) -> int:
        return self._counts.shape[0]

    def fraction(self, row: int, col: int) -> float:
        """The share of true class ``row`` predicted as ``col`` (0 for an empty row)."""
        return float(self._fractions[row, col])

    def cell_text(self, row: int, col: int) -> str:
        """The count shown in (or, for small cells, in the tooltip of) a cell."""
        return str(int(self._counts[row, col]))

    def cell_color(self, row: int, col: int) -> QColor:
        r, g, b = _colormap(self._fractions[row, col], self.palette()).tolist()
        return QColor(r, g, b)

    def cell_tooltip(self, row: int, col: int) -> str:
        n = int(self._counts[row, col])
        true, pred = self._names[row], self._names[col]
        noun = "image" if n == 1 else "images"
        return f"true: {true} → predicted: {pred}: {n} {noun} ({self.fraction(row, col) * 100:.1f} % of {true})"

    def cell_rect(self, row: int, col: int, geometry: _Geometry | None = None) -> QRectF:
        """Where cell ``(row, col)`` is painted, in widget coordinates."""
        g = geometry or self._geometry()
        return QRectF(g.left + col * g.cell, g.top + row * g.cell, g.cell, g.cell)

    def cell_at(self, pos: QPointF) -> tuple[int, int] | None:
        """``(row, col)`` of the cell under ``pos``, or ``None``."""
        k, g = self.class_count(), self._geometry()
        if not k or g.cell <= 0:
            return None
        col, row = math.floor((pos.x() - g.left) / g.cell), math.floor((pos.y() - g.top) / g.cell)
        return (row, col) if 0 <= row < k and 0 <= col < k else None

    def sizeHint(self) -> QSize:
        k = max(self.class_count(), 1)
        g = self._label_widths()
        cell = min(max(480 / k, 8), 44)
        side = int(self.fontMetrics().height() + 2 * _PAD + g[0] + k * cell + _PAD)
        return QSize(side, side)

    def _label_widths(self) -> tuple[float, float]:
        fm = self.fontMetrics()
        names = min(max((fm.horizontalAdvance(n) for n in self._names), default=0) + 2, _MAX_LABEL)
        return float(names), float(fm.horizontalAdvance(str(max(self.class_count() - 1, 0))) + 2)

    def _geometry(self) -> _Geometry:
        k = max(self.class_count(), 1)
        fm = self.fontMetrics()
        line = fm.height()
        title = line + _PAD
        w, h = self.width(), self.height()
        for use_names, lw in zip((True, False), self._label_widths()):
            # Class names where a cell is a text line high, else every ``step``-th index;
            # column labels vertical where horizontal ones would overlap.
            left = title + lw + _PAD
            for rotated in (False, True):
                top = title + (lw if rotated else line) + _PAD
                cell = max(min((w - left - _PAD) / k, (h - top - _PAD) / k), 0.0)
                step = 1 if use_names else next((s for s in (1, 2, 5, 10, 20, 25, 50) if s * cell >= line), 100)
                if step * cell >= lw + _PAD:
                    break
            if not use_names or cell >= line:
                break
        widest = fm.horizontalAdvance(str(int(self._counts.max()))) if self._counts.size else 0
        show = k <= 30 and cell >= max(line, widest + _PAD)
        return _Geometry(left, top, cell, lw, use_names, rotated, step, show)

    def event(self, e: QEvent) -> bool:
        if e.type() == QEvent.Type.ToolTip and isinstance(e, QHelpEvent):
            cell = self.cell_at(QPointF(e.pos()))
            return _tooltip(self, e, None if cell is None else self.cell_tooltip(*cell))
        return super().event(e)

    def _heat_image(self) -> QImage:
        """The K×K cell colours as an image, one pixel per cell, cached per base colour."""
        base = self.palette().color(QPalette.ColorRole.Base).rgb()
        if self._heat is None or self._heat[0] != base:
            k = self.class_count()
            rgb = np.ascontiguousarray(_colormap(self._fractions, self.palette()))
            self._heat = (base, QImage(rgb.data, k, k, 3 * k, QImage.Format.Format_RGB888).copy())
        return self._heat[1]

    def paintEvent(self, event: QPaintEvent) -> None:
        k = self.class_count()
        if not k:
            return
        g, pal, fm = self._geometry(), self.palette(), self.fontMetrics()
        line = fm.height()
        text = pal.color(QPalette.ColorRole.WindowText)
        p = QPainter(self)
        try:
            p.setRenderHint(QPainter.RenderHint.Antialiasing, False)
            side = k * g.cell
            heat = self._heat_image()
            p.drawImage(QRectF(g.left, g.top, side, side), heat)  # scaled nearest-neighbour: one pixel per cell
            for r, c in np.ndindex(k, k) if g.show_counts else ():
                p.setPen(_contrast_text(heat.pixelColor(c, r)))
                p.drawText(self.cell_rect(r, c, g), Qt.AlignmentFlag.AlignCenter, self.cell_text(r, c))
            p.setPen(pal.color(QPalette.ColorRole.Mid))
            p.drawRect(QRectF(g.left, g.top, side, side))
            p.setPen(text)
            for i in range(0, k, g.step):
                label = fm.elidedText(self._names[i], Qt.TextElideMode.ElideRight, int(g.label_width)) \
                    if g.use_names else str(i)
                y = g.top + (i + 0.5) * g.cell
                p.drawText(QRectF(0, y - line / 2, g.left - _PAD, line),
                           Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, label)
                x = g.left + (i + 0.5) * g.cell
                if g.rotated:
                    p.save()
                    p.translate(x, g.top - _PAD)
                    p.rotate(-90)
                    p.drawText(QRectF(0, -line / 2, g.label_width + 1, line),
                               Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, label)
                    p.restore()
                else:
                    span = g.cell * g.step
                    p.drawText(QRectF(x - span / 2, g.top - line - _PAD, span, line),
                               Qt.AlignmentFlag.AlignCenter, label)
            p.drawText(QRectF(g.left, 0, side, line), Qt.AlignmentFlag.AlignCenter, "predicted class")
            p.translate(0, g.top + side / 2)
            p.rotate(-90)
            p.drawText(QRectF(-side / 2, 0, side, line), Qt.AlignmentFlag.AlignCenter, "true class")
        finally:
            p.end()


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f} %"


class _Bars(QWidget):
    """The painted rows of :class:`PerClassAccuracyView`."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.values: list[float | None] = []
        self.names: list[str] = []

    def row_height(self) -> int:
        return self.fontMetrics().height() + 6

    def content_height(self) -> int:
        return len(self.values) * self.row_height() + 2 * _PAD

    def sizeHint(self) -> QSize:
        return QSize(320, min(self.content_height(), 400))

    def minimumSizeHint(self) -> QSize:
        return QSize(160, self.content_height())

    def event(self, e: QEvent) -> bool:
        if e.type() == QEvent.Type.ToolTip and isinstance(e, QHelpEvent):
            row = (e.pos().y() - _PAD) // self.row_height()
            ok = 0 <= row < len(self.values)
            return _tooltip(self, e, f"{self.names[row]}: {_percent(self.values[row])}" if ok else None)
        return super().event(e)

    def paintEvent(self, event: QPaintEvent) -> None:
        pal, fm = self.palette(), self.fontMetrics()
        name_w = min(max((fm.horizontalAdvance(n) for n in self.names), default=0) + 2, _MAX_LABEL + 30)
        pct_w = fm.horizontalAdvance("100.0 %") + 2 * _PAD
        bar_x = _PAD + name_w + 2 * _PAD
        bar_w = max(self.width() - bar_x - pct_w - _PAD, 20)
        rh = self.row_height()
        text = pal.color(QPalette.ColorRole.WindowText)
        track_colour = QColor(text)
        track_colour.setAlphaF(0.12)  # a faint shade of the text colour on the window
        p = QPainter(self)
        try:
            for i, (name, value) in enumerate(zip(self.names, self.values)):
                y = _PAD + i * rh
                p.setPen(text)
                p.drawText(QRectF(_PAD, y, name_w, rh), Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                           fm.elidedText(name, Qt.TextElideMode.ElideRight, name_w))
                track = QRectF(bar_x, y + 3, bar_w, rh - 6)
                p.fillRect(track, track_colour)
                if value is not None:
                    p.fillRect(QRectF(track.x(), track.y(), track.width() * min(max(value, 0.0), 1.0),
                                      track.height()), pal.color(QPalette.ColorRole.Highlight))
                p.drawText(QRectF(bar_x + bar_w + _PAD, y, pct_w, rh),
                           Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, _percent(value))
        finally:
            p.end()


class PerClassAccuracyView(QScrollArea):
    """One horizontal bar per class (name, bar, percentage; "—" for a class without images)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._bars = _Bars(self)
        self.setWidget(self._bars)
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)

    def set_accuracy(self, values: Sequence[float | None], class_names: Sequence[str]) -> None:
        """Show ``values`` (0..1 or ``None``) in the given order; missing names become indices."""
        self._bars.values = list(values)
        self._bars.names = [str(class_names[i]) if i < len(class_names) else str(i) for i in range(len(values))]
        self._bars.updateGeometry()
        self._bars.update()

    def row_texts(self) -> list[str]:
        """``["ring 98.2 %", "pear —", ...]``, one per row as shown."""
        return [f"{n} {_percent(v)}" for n, v in zip(self._bars.names, self._bars.values)]

    def sizeHint(self) -> QSize:
        return self._bars.sizeHint()


def image_pixmap(image: np.ndarray, target: int = 84) -> QPixmap:
    """A (C, H, W) image as a pixmap about ``target`` px wide: nearest-neighbour up, smooth down."""
    if image.dtype != np.uint8:
        image = image.astype(np.float64)
        image = np.clip(image * 255 if image.size and image.max() <= 1.0 else image, 0, 255).astype(np.uint8)
    c, h, w = image.shape
    if c >= 3:
        data = np.ascontiguousarray(image[:3].transpose(1, 2, 0))
        qimage = QImage(data.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
    else:
        data = np.ascontiguousarray(image[0])
        qimage = QImage(data.data, w, h, w, QImage.Format.Format_Grayscale8).copy()
    side = max(h, w)
    factor = max(1, round(target / side))
    if side * factor > 2 * target:  # large images: scale down smoothly instead
        return QPixmap.fromImage(qimage.scaled(target, target, Qt.AspectRatioMode.KeepAspectRatio,
                                               Qt.TransformationMode.SmoothTransformation))
    return QPixmap.fromImage(qimage.scaled(w * factor, h * factor, Qt.AspectRatioMode.IgnoreAspectRatio,
                                           Qt.TransformationMode.FastTransformation))

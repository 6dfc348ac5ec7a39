"""The preset gallery: a thumbnail and a description of every network preset."""

from __future__ import annotations

import html
import math

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPen, QPixmap
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QListView,
    QListWidget,
    QListWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ...core.graph import Graph
from ...core.inference import infer
from ...core.presets import list_presets
from ...core.shapes import format_shape, numel
from ..editor.palette import CATEGORY_COLORS


def graph_thumbnail(graph: Graph, size: tuple[int, int] = (96, 160), device_pixel_ratio: float = 2.0) -> QPixmap:
    """A tiny diagram: one block per layer in canvas order (rows by y, columns by x), coloured
    by category, wider where the layer's output holds more values, wires in grey."""
    result = infer(graph)
    ys = sorted({n.position[1] for n in graph.nodes.values()})
    xs = sorted({n.position[0] for n in graph.nodes.values()})
    (w, h), margin = size, 4.0
    row_h = (h - 2 * margin) / max(len(ys), 1)
    # The busiest column (the main path) gets most of the width; branches share the rest.
    per_x = [sum(n.position[0] == x for n in graph.nodes.values()) for x in xs]
    main = per_x.index(max(per_x, default=0)) if xs else 0
    col_w = [(w - 2 * margin) * (1.0 if len(xs) < 2 else 0.62 if i == main else 0.38 / (len(xs) - 1))
             for i in range(len(xs))]
    col_left = [margin + sum(col_w[:i]) for i in range(len(xs))]
    logs = {nid: math.log(numel(i.shape)) for nid, i in result.infos.items() if i.shape}
    lo, hi = min(logs.values(), default=0.0), max(logs.values(), default=1.0)
    rects: dict[str, QRectF] = {}
    for node in graph.nodes.values():
        col, row = xs.index(node.position[0]), ys.index(node.position[1])
        share = 0.5 if node.id not in logs else 0.35 + 0.65 * (logs[node.id] - lo) / ((hi - lo) or 1.0)
        bw, bh = col_w[col] * share, max(1.0, row_h * (0.72 if row_h >= 3 else 1.0))
        rects[node.id] = QRectF(col_left[col] + (col_w[col] - bw) / 2, margin + row * row_h + (row_h - bh) / 2,
                                bw, bh)
    pixmap = QPixmap(round(w * device_pixel_ratio), round(h * device_pixel_ratio))
    pixmap.setDevicePixelRatio(device_pixel_ratio)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    try:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QPen(QColor(128, 128, 128, 160), 0.8))
        for e in graph.edges:
            a, b = rects[e.source], rects[e.target]
            painter.drawLine(QPointF(a.center().x(), a.bottom()), QPointF(b.center().x(), b.top()))
        painter.setPen(Qt.PenStyle.NoPen)
        for nid, rect in rects.items():
            painter.setBrush(QColor(CATEGORY_COLORS.get(graph.nodes[nid].layer.category, "#9e9e9e")))
            painter.drawRoundedRect(rect, min(2.0, rect.height() / 2), min(2.0, rect.height() / 2))
    finally:
        painter.end()
    return pixmap


def compact_count(n: int) -> str:
    """``61.7 K``, ``11.7 M``, ``138.4 M`` (exact below 1,000)."""
    for div, unit in ((1e9, "G"), (1e6, "M"), (1e3, "K")):
        if n >= div:
            return f"{n / div:.1f} {unit}"
    return str(n)


class PresetGallery(QDialog):
    """Every preset as a picture with its title, input shape and size; the chosen one's
    description beside the grid. Double-click or OK chooses (:meth:`selected_name`)."""

    NAME_ROLE = Qt.ItemDataRole.UserRole

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("New from Preset")
        self.list = QListWidget(self)
        self.list.setViewMode(QListView.ViewMode.IconMode)
        self.list.setMovement(QListView.Movement.Static)
        self.list.setResizeMode(QListView.ResizeMode.Adjust)
        self.list.setIconSize(QSize(96, 160))
        self.list.setGridSize(QSize(150, 224))
        self.list.setWordWrap(True)
        self.list.setMinimumWidth(3 * 150 + 30)
        self.details = QLabel(self)
        self.details.setWordWrap(True)
        self.details.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.details.setMinimumWidth(240)
        self._details: dict[str, str] = {}
        for preset in list_presets():
            graph = preset.factory()
            params = infer(graph).total_params
            shape = format_shape(preset.input_shape)
            item = QListWidgetItem(QIcon(graph_thumbnail(graph)), f"{preset.title}\n{shape} · "
                                   f"{compact_count(params)} params")
            item.setData(self.NAME_ROLE, preset.name)
            item.setToolTip(preset.description)
            self.list.addItem(item)
            self._details[preset.name] = (
                f"<h3>{html.escape(preset.title)}</h3><p>{html.escape(preset.description)}</p>"
                f"<p>Input: {shape}<br>Layers: {len(graph)}<br>Parameters: {params:,}</p>")
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel,
                                        self)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.list.currentItemChanged.connect(self._on_current_changed)
        self.list.itemDoubleClicked.connect(lambda _item: self.accept())
        body = QHBoxLayout()
        body.addWidget(self.list, 1)
        body.addWidget(self.details)
        layout = QVBoxLayout(self)
        layout.addLayout(body)
        layout.addWidget(self.buttons)
        self.list.setCurrentRow(0)
        self.resize(820, 560)

    def names(self) -> list[str]:
        return [self.list.item(i).data(self.NAME_ROLE) for i in range(self.list.count())]

    def select(self, name: str) -> None:
        self.list.setCurrentRow(self.names().index(name))

    def selected_name(self) -> str | None:
        item = self.list.currentItem()
        return None if item is None else str(item.data(self.NAME_ROLE))

    def _on_current_changed(self, item: QListWidgetItem | None, _previous: QListWidgetItem | None) -> None:
        self.details.setText(self._details[item.data(self.NAME_ROLE)] if item is not None else "")
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(item is not None)

    @classmethod
    def choose(cls, parent: QWidget | None = None) -> str | None:
        """Show the gallery modally; the chosen preset's name, or None when cancelled."""
        dialog = cls(parent)
        try:
            return dialog.selected_name() if dialog.exec() == QDialog.DialogCode.Accepted else None
        finally:
            dialog.deleteLater()

"""The Receptive fields panel: click a unit of a layer; see its theoretical field and its effective one.

The theoretical field (the core's arithmetic) is drawn as a rectangle on the input
image; the effective field (mean absolute input gradient of that unit over a batch of
validation images) as a heat map over it. A bar chart gives the theoretical field size
of every layer, which shows how stride and dilation grow it.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
import torch
from PySide6.QtCore import QPointF, QRectF, QSize, Signal
from PySide6.QtGui import QColor, QImage, QMouseEvent, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QSizePolicy, QSpinBox, QVBoxLayout, QWidget

from ...core.inference import infer
from ...core.progress import Progress
from ...inspect.receptive import effective_field, field_sizes, theoretical_region
from ...inspect.snapshot import prepare
from .compare import (
    CompareChooser,
    CompareColumns,
    ElidedLabel,
    compared_network,
    difference_image,
    shape_text,
    symmetric_difference,
)
from .imaging import ColorBar, grey_image, heat_overlay, rgb_image, sequential, theme_plot
from .panel import InspectPanel
from .source import ModelSource


class PixelView(QWidget):
    """An image scaled to fit with sharp pixels; optional heat overlay, rectangle and marked cell.

    Signal ``clicked(row, col)`` in image pixels.
    """

    clicked = Signal(int, int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.image: QImage | None = None
        self.overlay: QImage | None = None
        self.overlay_opacity = 1.0
        self.rect_cells: tuple[int, int, int, int] | None = None  # top, left, bottom, right (inclusive)
        self.marker: tuple[int, int] | None = None
        self.size_hw = (1, 1)
        self.hint = 280  # the preferred side; a panel with many views asks for less (it still grows to fill)
        self.setMinimumSize(160, 160)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def sizeHint(self) -> QSize:
        return QSize(self.hint, self.hint)

    def set_image(self, image: QImage, size_hw: tuple[int, int]) -> None:
        self.image, self.size_hw = image, size_hw
        self.update()

    def target(self) -> QRectF:
        h, w = self.size_hw
        scale = min(self.width() / w, self.height() / h)
        return QRectF((self.width() - w * scale) / 2, (self.height() - h * scale) / 2, w * scale, h * scale)

    def cell_at(self, point: QPointF) -> tuple[int, int] | None:
        t = self.target()
        h, w = self.size_hw
        row = int((point.y() - t.y()) / t.height() * h)
        col = int((point.x() - t.x()) / t.width() * w)
        return (row, col) if 0 <= row < h and 0 <= col < w else None

    def cell_center(self, row: int, col: int) -> QPointF:
        t = self.target()
        h, w = self.size_hw
        return QPointF(t.x() + (col + 0.5) * t.width() / w, t.y() + (row + 0.5) * t.height() / h)

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt override)
        cell = self.cell_at(event.position())
        if cell is not None:
            self.clicked.emit(*cell)

    def paintEvent(self, _event: QPaintEvent) -> None:  # noqa: N802 (Qt override)
        p = QPainter(self)
        try:
            if self.image is None:
                return
            t = self.target()
            p.drawImage(t, self.image)
            if self.overlay is not None:
                p.setOpacity(self.overlay_opacity)
                p.drawImage(t, self.overlay)
                p.setOpacity(1.0)
            h, w = self.size_hw
            cw, ch = t.width() / w, t.height() / h
            if self.rect_cells is not None:
                top, left, bottom, right = self.rect_cells
                p.setPen(QPen(QColor(0, 220, 120), 2))
                width, height = (right - left + 1) * cw, (bottom - top + 1) * ch
                p.drawRect(QRectF(t.x() + left * cw, t.y() + top * ch, width, height))
            if self.marker is not None:
                r, c = self.marker
                p.setPen(QPen(QColor(0, 220, 120), 2))
                p.drawRect(QRectF(t.x() + c * cw, t.y() + r * ch, cw, ch))
        finally:
            p.end()


def _fields(model, shown: torch.Tensor, batch: torch.Tensor, mean, std, name: str, row: int, col: int,
            channel: int | None, progress: Progress | None = None):
    """The layer's ``(H, W)`` map for the shown image (one channel, or their sum) and the effective field of
    its unit ``(row, col)`` over ``batch`` (uint8 ``(N, C, H, W)``, normalized here with ``mean``/``std``;
    run in the thread pool)."""
    shown, batch = prepare(shown, mean, std), prepare(batch, mean, std)
    with torch.no_grad():
        out = model.forward_all(shown)[name][0]
    unit_map = (out[channel] if channel is not None else out.sum(dim=0)).numpy()
    return unit_map, effective_field(model, batch, name, row, col, channel, progress=progress)


def compared_field(model, batch: torch.Tensor, mean, std, name: str, shape: tuple[int, ...], row: int, col: int,
                   channel: int | None) -> tuple[np.ndarray | None, str]:
    """The effective field of unit ``(row, col)`` of layer ``name`` of the compared network over ``batch``
    (uint8 ``(N, C, H, W)``), or None and why not: no such layer, or its output is not ``shape`` as here
    (run in the thread pool)."""
    x = prepare(batch, mean, std)
    if name not in model.layer_ids:
        return None, f"no layer {name}"
    with torch.no_grad():
        theirs = tuple(model.forward_all(x[:1])[name].shape[1:])
    if theirs != tuple(shape):
        return None, f"{name} gives {shape_text(shape)} here, {shape_text(theirs)} there"
    return effective_field(model, x, name, row, col, channel), ""


class ReceptiveFieldPanel(InspectPanel):
    """Theoretical and effective receptive field of a clicked unit, and field sizes per layer."""

    def __init__(self, source: ModelSource, parent: QWidget | None = None) -> None:
        super().__init__(source, parent)
        self._layer_shown = ""  # the layer whose unit and channel choices are kept across refreshes
        self.erf: np.ndarray | None = None
        self.region: tuple[int, int, int, int] | None = None
        self.position = (0, 0)
        #: ``(low, high)`` of the unit map's colours and the effective field's brightest heat; None: each
        #: map's own. Fixed values give several images (the frames of an animation) one colour scale.
        self.map_range: tuple[float, float] | None = None
        self.field_peak: float | None = None
        self.unit_map: np.ndarray | None = None
        self.caption = QLabel(self)
        self.caption.setWordWrap(True)
        self.layer = QComboBox(self)
        self.layer.setToolTip("The layer whose unit is studied")
        self.channel = QComboBox(self)
        self.channel.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.channel.setToolTip("One channel of the unit's position, or all channels summed")
        self.images = QSpinBox(self)
        self.images.setRange(1, 512)
        self.images.setValue(64)
        self.images.setSuffix(" images")
        self.images.setToolTip("Validation images the effective field is averaged over")
        self.image_index = QSpinBox(self)
        self.image_index.setPrefix("shown image ")
        self.unit_view = PixelView(self)
        self.unit_view.setToolTip("The layer's output for the shown image: click a unit")
        self.input_view = PixelView(self)
        self.input_view.setToolTip("Green frame: theoretical field. Heat: effective field (mean |gradient|)")
        self.summary = QLabel(self)
        self.summary.setWordWrap(True)
        self.sizes = pg.PlotWidget(self)
        # (its title is a heading above it, as the images' are: a plot's own title does not wrap, and in a
        # narrow column or a slide's large font it was cut to "Theoretic")
        self.sizes.setLabel("left", "field (input pixels)")
        self.sizes.setMinimumHeight(180)
        theme_plot(self.sizes)
        self._bars: pg.BarGraphItem | None = None
        # Compare with: the same unit's effective field in a stored epoch's network, and B − A.
        self.compare = CompareChooser(source, self)
        self.compare_erf: np.ndarray | None = None
        self.difference_erf: np.ndarray | None = None  # B − A of the fields as shown (each ÷ its peak)
        self.compare_reason = ""
        self.compare_title = ElidedLabel(parent=self)
        self.compare_view = PixelView(self)
        self.compare_view.setToolTip("The compared network's effective field of the same unit (heat)")
        self.compare_label = QLabel(self)
        self.compare_label.setWordWrap(True)
        self.difference_title = ElidedLabel(parent=self)
        self.difference_view = PixelView(self)
        self.difference_view.setToolTip("Its field minus this one, each divided by its peak: red where the "
                                        "compared field is stronger")
        self.difference_bar = ColorBar(self)

        controls = QHBoxLayout()
        for label, widget in (("Layer", self.layer), ("Channel", self.channel), ("Average over", self.images),
                              ("", self.image_index)):
            if label:
                controls.addWidget(QLabel(label, self))
            controls.addWidget(widget)
        controls.addStretch(1)
        compare_row = self.compare.row(self)
        compare_row.addStretch(1)
        self.figure = CompareColumns(420, self)  # the views, as Export Figure draws them
        main = QWidget(self)
        self.figure.add(main, 3)
        views = QHBoxLayout(main)
        views.setContentsMargins(0, 0, 0, 0)
        left, right = QVBoxLayout(), QVBoxLayout()
        self.unit_heading = QLabel("Layer output (click a unit)", self)
        self.input_heading = QLabel("Input: theoretical (frame) and effective (heat) field", self)
        self.sizes_area = QWidget(main)  # the plot and its heading (a figure puts it below the images)
        sizes_column = QVBoxLayout(self.sizes_area)
        sizes_column.setContentsMargins(0, 0, 0, 0)
        sizes_column.addWidget(QLabel("Theoretical field size per layer", self.sizes_area))
        sizes_column.addWidget(self.sizes, 1)
        for heading in (self.unit_heading, self.input_heading, sizes_column.itemAt(0).widget()):
            heading.setWordWrap(True)
        left.addWidget(self.unit_heading)
        left.addWidget(self.unit_view, 1)
        right.addWidget(self.input_heading)
        right.addWidget(self.input_view, 1)
        views.addLayout(left, 1)
        views.addLayout(right, 1)
        views.addWidget(self.sizes_area, 1)
        self.compare_area = QWidget(self)
        compare_views = QHBoxLayout(self.compare_area)
        compare_views.setContentsMargins(0, 0, 0, 0)
        for title, view, below in ((self.compare_title, self.compare_view, self.compare_label),
                                   (self.difference_title, self.difference_view, self.difference_bar)):
            column = QVBoxLayout()
            column.addWidget(title)
            column.addWidget(view, 1)
            column.addWidget(below)
            compare_views.addLayout(column, 1)
        self.figure.add(self.compare_area, 2)
        self.compare_area.setVisible(False)
        for view in (self.unit_view, self.input_view, self.compare_view, self.difference_view):
            view.setMinimumSize(96, 96)  # side by side they fit a 1280-pixel window; narrower, they go below
            view.hint = 160  # with the compared field below, the panel still fits a 720-pixel window
        layout = QVBoxLayout(self)
        layout.addWidget(self.caption)
        layout.addLayout(controls)
        layout.addLayout(compare_row)
        layout.addWidget(self.figure, 1)
        layout.addWidget(self.summary)

        self.layer.currentIndexChanged.connect(self._on_layer)
        self.channel.currentIndexChanged.connect(lambda _i: self.compute())
        self.images.valueChanged.connect(lambda _v: self.compute())
        self.image_index.valueChanged.connect(lambda _v: self.compute())
        self.unit_view.clicked.connect(self.select_unit)
        self.compare.choice_changed.connect(self.compute_compare)

    def _spatial_layers(self) -> list[str]:
        graph = self.source.graph
        if graph is None:
            return []
        return [f.node_id for f in field_sizes(graph) if graph.node(f.node_id).kind != "Input"]

    def figure_widget(self) -> QWidget:
        """What Export Figure draws: the views, without the controls above them."""
        return self.figure

    def refresh(self) -> None:
        model = self.source.model
        self.cancel_background()  # a field of the previous model must not arrive after this
        self.erf, self.region = None, None
        self.compare_erf = None
        self._show_compare()
        for view in (self.unit_view, self.input_view):
            view.image, view.overlay, view.marker, view.rect_cells = None, None, None, None
            view.update()
        self.summary.setText("")
        if model is None:
            self.caption.setText(self.source.problem or "No network")
            self._layer_shown = ""
            self.layer.clear()
            return
        missing = self.data_missing()
        self.caption.setText(missing or f"Receptive fields with {self.source.description}")
        layers = self._spatial_layers()
        current = self.layer.currentText()
        self.layer.blockSignals(True)
        self.layer.clear()
        self.layer.addItems(layers)
        self.layer.setCurrentText(current if current in layers else (layers[-1] if layers else ""))
        self.layer.blockSignals(False)
        self._plot_sizes()
        self._on_layer()

    def _plot_sizes(self) -> None:
        graph = self.source.graph
        fields = [f for f in field_sizes(graph) if graph.node(f.node_id).kind != "Input"] if graph else []
        if self._bars is not None:
            self.sizes.removeItem(self._bars)
        x = np.arange(len(fields))
        self._bars = pg.BarGraphItem(x=x, height=[f.size[0] for f in fields], width=0.7, brush=(31, 111, 180, 200))
        self.sizes.addItem(self._bars)
        self.sizes.getAxis("bottom").setTicks([[(i, f.node_id) for i, f in enumerate(fields)]])
        self.field_sizes = [(f.node_id, f.size[0]) for f in fields]

    def _on_layer(self) -> None:
        model, data, split = self.source.model, self.source.data, self.source.split()
        name = self.layer.currentText()
        if model is None or data is None or split is None or not name:
            return
        shape = self.source.layer_shape(name)
        if shape is None or len(shape) != 3:
            return
        channels, h, w = shape
        same_layer = name == self._layer_shown
        kept_channel = self.channel.currentIndex() if same_layer else 0
        self.channel.blockSignals(True)
        self.channel.clear()
        self.channel.addItem("all channels (sum)", None)
        for c in range(channels):
            self.channel.addItem(f"channel {c}", c)
        self.channel.setCurrentIndex(kept_channel if 0 <= kept_channel < self.channel.count() else 0)
        self.channel.blockSignals(False)
        if not same_layer:
            self.position = (h // 2, w // 2)
        self._layer_shown = name
        self.image_index.setRange(0, len(split) - 1)
        self.compute()

    def select_unit(self, row: int, col: int) -> None:
        """Study the unit at ``(row, col)`` of the layer's output."""
        self.position = (row, col)
        self.compute()

    def compute(self) -> None:
        """Recompute the fields for the current layer, unit, channel and images."""
        model, data, graph, split = self.source.model, self.source.data, self.source.graph, self.source.split()
        name = self.layer.currentText()
        if model is None or data is None or graph is None or split is None or not name:
            return
        shown = split.images[self.image_index.value():self.image_index.value() + 1]
        shape = self.source.layer_shape(name)
        if shape is None or len(shape) != 3:
            return
        _, h, w = shape
        row, col = min(self.position[0], h - 1), min(self.position[1], w - 1)
        self.position = (row, col)
        channel = self.channel.currentData()
        batch = split.images[: self.images.value()]
        self.summary.setText(f"Computing the effective field of {name} unit ({row}, {col})…")
        self.run_in_background("field", _fields, model, shown, batch, data.mean, data.std, name, row, col, channel,
                               done=lambda found: self._show_fields(found, name, row, col, len(batch)),
                               failed=lambda message: self.summary.setText(f"The field failed: {message}"),
                               progress=True)
        self.compute_compare()

    # --- Compare with -------------------------------------------------------------------------
    def compute_compare(self) -> None:
        """The same unit's effective field (layer, position, channel, images) in the compared network, in the
        background; the panel's own choices stay."""
        self.cancel_background("compare")
        self.compare_erf, self.compare_reason = None, ""
        chosen, data, split = self.compare.chosen(), self.source.data, self.source.split()
        name = self.layer.currentText()
        shape = self.source.layer_shape(name)
        if chosen is None or data is None or split is None or not name or shape is None:
            self._show_compare()
            return
        label = self.compare.label
        model, _graph, reason = compared_network(self.source, chosen, label, data.input_shape)
        if model is None:
            self._show_compare(reason)
            return
        row, col = self.position
        self._show_compare()
        self.run_in_background("compare", compared_field, model, split.images[: self.images.value()], data.mean,
                               data.std, name, shape, row, col, self.channel.currentData(),
                               done=self._on_compare_field,
                               failed=lambda message: self._show_compare(f"Comparison failed: {message}"))

    def _on_compare_field(self, found) -> None:
        self.compare_erf, problem = found
        self._show_compare(f"{self.compare.label}: {problem}" if problem else "")

    def _show_compare(self, problem: str = "") -> None:
        label = self.compare.label
        self.compare_area.setVisible(bool(label))
        self.difference_erf = None
        if problem:
            self.compare_reason = problem
        if not label:
            return
        self.compare_title.setText(f"Effective field, {label}")
        self.compare_label.setText(self.compare_reason or ("" if self.compare_erf is not None else "…"))
        data, split = self.source.data, self.source.split()
        for view in (self.compare_view, self.difference_view):
            view.overlay, view.image, view.rect_cells = None, None, None
            view.update()
        self.difference_title.setText("Difference")
        self.difference_bar.setVisible(False)
        if self.compare_erf is None or self.compare_reason or data is None or split is None:
            return
        _, ih, iw = data.input_shape
        self.compare_view.set_image(grey_image(split.images[self.image_index.value()].numpy()), (ih, iw))
        self.compare_view.overlay = heat_overlay(self.compare_erf / (float(self.compare_erf.max()) or 1.0))
        self.compare_view.rect_cells = self.region
        if self.erf is None:
            return
        mine = self.erf / (float(self.erf.max()) or 1.0)
        self.difference_erf, top = symmetric_difference(self.compare_erf / (float(self.compare_erf.max()) or 1.0),
                                                        mine)
        self.difference_view.set_image(difference_image(self.difference_erf, top), (ih, iw))
        self.difference_view.rect_cells = self.region
        self.difference_bar.set_range(-top, top)
        self.difference_bar.setVisible(True)
        self.difference_title.setText(f"Difference ±{top:.3g} ({label} − this, each ÷ its peak)")

    def _show_fields(self, found, name: str, row: int, col: int, images: int) -> None:
        """The unit's map and effective field (computed in the background) on show."""
        unit_map, self.erf = found
        self.unit_map = unit_map
        data, graph, split = self.source.data, self.source.graph, self.source.split()
        if data is None or graph is None or split is None:
            return
        h, w = unit_map.shape
        low, high = self.map_range or (float(unit_map.min()), float(unit_map.max()))
        self.unit_view.set_image(rgb_image(sequential(unit_map, low, high)), (h, w))
        self.unit_view.marker = (row, col)
        _, ih, iw = data.input_shape
        result = infer(graph)
        self.region = theoretical_region(result, name, row, col, (ih, iw))
        peak = float(self.erf.max()) or 1.0
        self.input_view.set_image(grey_image(split.images[self.image_index.value()].numpy()), (ih, iw))
        self.input_view.overlay = heat_overlay(np.clip(self.erf / (self.field_peak or peak), 0.0, 1.0))
        self.input_view.rect_cells = self.region
        self.input_view.update()
        self.unit_view.update()
        self._show_compare()
        rf = result.infos[name].receptive_field
        head = f"{name} unit ({row}, {col}): theoretical field {rf.size_text()} (jump {rf.jump[0]:g})"
        if self.region is None:
            self.summary.setText(f"{head}, entirely in the padding: no pixel of the image reaches this unit.")
            return
        top, left, bottom, right = self.region
        inside = float(self.erf[top:bottom + 1, left:right + 1].sum() / max(self.erf.sum(), 1e-30))
        rows, cols = np.nonzero(self.erf >= 0.5 * peak)
        half = f"{rows.max() - rows.min() + 1}×{cols.max() - cols.min() + 1}" if len(rows) else "—"
        self.summary.setText(
            f"{head}, on the image rows {top}–{bottom}, columns {left}–{right}. Effective field over {images} "
            f"images: {inside:.0%} of the gradient inside the theoretical field; half of the peak or more "
            f"within {half}.")

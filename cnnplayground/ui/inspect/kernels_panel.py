"""The Kernels panel: a convolution layer's filters as images, one filter's numbers, and the weight histogram."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QScrollArea,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ...core.errors import UserError
from ...inspect.kernels import KernelImages, conv_weights, kernel_images, weight_histogram
from ...io.project_epochs import snapshot_weights
from .compare import CompareChooser, ElidedLabel
from .imaging import ColorBar, ImageGrid, diverging, rgb_image, theme_plot
from .panel import InspectPanel
from .source import ModelSource

MODES = (("Automatic", "auto"), ("Each input channel", "channels"), ("Summed over inputs", "sum"),
         ("Colour (RGB input)", "rgb"))
SCALES = (("One scale for the layer", "shared"), ("A scale per filter", "per_filter"))


def filter_image(kernels: KernelImages, index: int):
    """One filter as RGB: input channels side by side (1 px gaps), or in colour for RGB display."""
    if kernels.mode == "rgb":
        return rgb_image(kernels.values[index])
    rows = kernels.values[index]  # (channels, kh, kw)
    channels, kh, kw = rows.shape
    canvas = np.full((kh, channels * (kw + 1) - 1, 3), 128, dtype=np.uint8)
    for c in range(channels):
        canvas[:, c * (kw + 1):c * (kw + 1) + kw] = diverging(rows[c])
    return rgb_image(canvas)


def layer_tiles(weight, mode: str, scale: str, magnitude: float | None = None) -> tuple:
    """Background part of drawing a layer: the normalized filters, one image per filter, the histogram
    (``magnitude``: a fixed weight for ±1, as :func:`kernel_images` takes it)."""
    kernels = kernel_images(weight, mode, scale, magnitude)
    images = [filter_image(kernels, i) for i in range(len(kernels.values))]
    return kernels, images, weight_histogram(weight), weight


def compare_tiles(current, other, mode: str, scale: str) -> tuple:
    """Background part of "Compare with…": the other weights' tiles and, where the shapes match, those of
    the difference ``other − current`` (one symmetric scale: ±its largest magnitude) or why there are none.

    Returns ``(kernels, images, difference kernels or None, their images, reason)``.
    """
    if mode == "rgb" and other.shape[1] != 3:
        mode = "auto"
    kernels = kernel_images(other, mode, scale)
    images = [filter_image(kernels, i) for i in range(len(kernels.values))]
    if tuple(other.shape) != tuple(current.shape):
        shape = "×".join(map(str, current.shape)), "×".join(map(str, other.shape))
        return kernels, images, None, [], f"No difference: the layer's weights are {shape[0]} here, {shape[1]} there"
    difference = kernel_images(other - current, mode if mode != "rgb" else "auto", "shared")
    return kernels, images, difference, [filter_image(difference, i) for i in range(len(difference.values))], ""


class KernelsPanel(InspectPanel):
    """Filters of the chosen conv layer of :class:`ModelSource`'s snapshot."""

    def __init__(self, source: ModelSource, parent: QWidget | None = None) -> None:
        super().__init__(source, parent)
        self.kernels: KernelImages | None = None
        self.caption = QLabel(self)
        self.caption.setWordWrap(True)
        self.layer = QComboBox(self)
        self.layer.setToolTip("The convolution layer whose filters are shown")
        self.mode = QComboBox(self)
        for text, value in MODES:
            self.mode.addItem(text, value)
        self.mode.setToolTip("Deeper layers have many input channels: show each, or their sum")
        self.scale = QComboBox(self)
        for text, value in SCALES:
            self.scale.addItem(text, value)
        self.scale.setToolTip("One colour scale for all filters (compare them), or one per filter (see each "
                              "pattern)")
        self.zoom = QSpinBox(self)
        self.zoom.setRange(16, 256)
        self.zoom.setSingleStep(8)
        self.zoom.setSuffix(" px")
        self.zoom.setSpecialValueText("fit")  # the minimum: tiles as large as the panel allows
        self.zoom.setValue(16)
        self.zoom.setToolTip("Size of each filter tile (fit: as large as the panel allows)")
        self.grid = ImageGrid(56, self)
        self.grid.setToolTip("Click a filter to see its numbers")
        scroll = QScrollArea(self)
        self._scroll = scroll
        scroll.viewport().installEventFilter(self)
        scroll.setWidget(self.grid)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.colorbar = ColorBar(self)
        self.compare = CompareChooser(source, self)
        self.compare.setToolTip("Show the same layer of a stored epoch of a run beside these filters, and the "
                                "difference (that epoch − these)")
        self.compare_kernels: KernelImages | None = None
        self.difference: KernelImages | None = None
        self.compare_title = ElidedLabel(parent=self)  # one line whatever the panel's width
        self.compare_grid = ImageGrid(56, self)
        self.difference_title = ElidedLabel(parent=self)
        self.difference_grid = ImageGrid(56, self)
        self.difference_reason = QLabel(self)
        self.difference_reason.setWordWrap(True)
        self.compare_columns: list[QWidget] = []
        for title, grid, extra in ((self.compare_title, self.compare_grid, None),
                                   (self.difference_title, self.difference_grid, self.difference_reason)):
            column = QWidget(self)
            column_layout = QVBoxLayout(column)
            column_layout.setContentsMargins(0, 0, 0, 0)
            column_layout.addWidget(title)
            if extra is not None:
                column_layout.addWidget(extra)
            area = QScrollArea(column)
            area.setWidget(grid)
            area.setWidgetResizable(True)
            area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
            column_layout.addWidget(area, 1)
            column.setVisible(False)
            self.compare_columns.append(column)
        self.detail_title = QLabel("Click a filter to see its weights", self)
        self.channel = QSpinBox(self)
        self.channel.setPrefix("input channel ")
        self.channel.setToolTip("Which input channel of the filter the table shows")
        self.table = QTableWidget(self)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.histogram = pg.PlotWidget(self)
        self.histogram.setTitle("Weights of the layer")
        self.histogram.setLabel("bottom", "weight")
        self.histogram.setLabel("left", "count")
        self.histogram.setMinimumHeight(160)
        self.histogram.getAxis("bottom").enableAutoSIPrefix(False)
        theme_plot(self.histogram)
        self._bars: pg.BarGraphItem | None = None

        controls = QHBoxLayout()
        for label, widget in (("Layer", self.layer), ("Show", self.mode), ("Scale", self.scale),
                              ("Tiles", self.zoom)):
            controls.addWidget(QLabel(label, self))
            controls.addWidget(widget)
        controls.addStretch(1)
        compare_row = self.compare.row(self)
        compare_row.addStretch(1)
        current = QWidget(self)
        current_layout = QVBoxLayout(current)
        current_layout.setContentsMargins(0, 0, 0, 0)
        current_layout.addWidget(scroll, 1)
        current_layout.addWidget(self.colorbar)
        left = QWidget(self)
        left_layout = QHBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(current, 1)
        for column in self.compare_columns:
            left_layout.addWidget(column, 1)
        right = QWidget(self)
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addWidget(self.detail_title)
        right_layout.addWidget(self.channel)
        right_layout.addWidget(self.table, 1)
        right_layout.addWidget(self.histogram, 1)
        splitter = QSplitter(self)
        splitter.addWidget(left)
        splitter.addWidget(right)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        layout = QVBoxLayout(self)
        layout.addWidget(self.caption)
        layout.addLayout(controls)
        layout.addLayout(compare_row)
        layout.addWidget(splitter, 1)

        self._weights: dict = {}
        self.layer.currentIndexChanged.connect(self._show)
        self.mode.currentIndexChanged.connect(self._show)
        self.scale.currentIndexChanged.connect(self._show)
        self.zoom.valueChanged.connect(lambda _v: self._fit())
        self.compare.choice_changed.connect(self._show_compare)
        self.grid.clicked.connect(self.show_filter)
        self.channel.valueChanged.connect(lambda _c: self.show_filter(self.grid.selected))

    def figure_widget(self) -> QWidget:
        """Every tile of the grid (also those scrolled out of sight)."""
        return self.grid

    def refresh(self) -> None:
        """Follow the source: new model or weights (keeps the chosen layer when it still exists).

        The weights are read, and each layer's tiles drawn, in the background (ResNet-18's conv weights
        are 11 M numbers); the grid keeps its previous filters until the new ones are ready.
        """
        model = self.source.model
        if model is None:
            self.cancel_background()
            self._on_weights({})
            return
        self.run_in_background("weights", conv_weights, model, done=self._on_weights)

    def clear_results(self) -> None:
        self.kernels = None
        self._weights = {}
        self.layer.clear()
        self.grid.set_images([], [])
        self.table.clear()
        self._clear_compare()
        if self._bars is not None:
            self.histogram.removeItem(self._bars)
            self._bars = None

    def _on_weights(self, weights: dict) -> None:
        self._weights = weights
        current = self.layer.currentText()
        self.layer.blockSignals(True)
        self.layer.clear()
        for name, w in self._weights.items():
            self.layer.addItem(name)
            self.layer.setItemData(self.layer.count() - 1,
                                   f"{w.shape[0]} filters of {w.shape[1]}×{w.shape[2]}×{w.shape[3]}",
                                   Qt.ItemDataRole.ToolTipRole)
        if current in self._weights:
            self.layer.setCurrentText(current)
        self.layer.blockSignals(False)
        if self.source.model is None:
            self.caption.setText(self.source.problem or "No network")
        elif not self._weights:
            self.caption.setText("This network has no convolution layer")
        else:
            self.caption.setText(f"Filters with {self.source.description}")
        self._show()

    def _show(self) -> None:
        name = self.layer.currentText()
        weight = self._weights.get(name)
        if weight is None:
            self.cancel_background("tiles")
            self.kernels = None
            self.grid.set_images([], [])
            self.table.clear()
            self._show_compare()
            return
        mode = self.mode.currentData()
        if mode == "rgb" and weight.shape[1] != 3:
            mode = "auto"
        self.run_in_background("tiles", layer_tiles, weight, mode, self.scale.currentData(), done=self._on_tiles)

    def _on_tiles(self, tiles: tuple) -> None:
        self.kernels, images, (counts, edges), weight = tiles
        self.grid.set_images(images, [f"#{i}" for i in range(len(images))])
        self._fit()
        top = float(self.kernels.scale.max(initial=0.0))
        if self.scale.currentData() == "shared":
            self.colorbar.set_range(-top, top)
        else:
            self.colorbar.set_range(-1.0, 1.0)  # each filter's own ±max
        self.colorbar.setToolTip("Weight colours" if self.scale.currentData() == "shared" else
                                 "Each filter scaled to its own largest weight (±1)")
        if self._bars is not None:
            self.histogram.removeItem(self._bars)
        self._bars = pg.BarGraphItem(x0=edges[:-1], x1=edges[1:], height=counts, brush=(31, 111, 180, 200),
                                     pen=None)
        self.histogram.addItem(self._bars)
        self.channel.setRange(0, int(weight.shape[1]) - 1)
        self.channel.setVisible(weight.shape[1] > 1)
        self.show_filter(self.grid.selected if self.grid.selected is not None else 0)
        self._show_compare()

    # --- "Compare with…" ----------------------------------------------------------------------
    def compared(self) -> tuple[int, int] | None:
        """``(run index, epoch)`` chosen in "Compare with…"; None: no comparison."""
        return self.compare.chosen()

    def _clear_compare(self) -> None:
        self.cancel_background("compare")
        self.compare_kernels = self.difference = None
        self.compare_grid.set_images([], [])
        self.difference_grid.set_images([], [])
        for column in self.compare_columns:
            column.setVisible(False)

    def _show_compare(self) -> None:
        chosen = self.compared()
        name = self.layer.currentText()
        weight = self._weights.get(name)
        if chosen is None or weight is None:
            self._clear_compare()
            return
        run, epoch = chosen
        label = self.compare.currentText()
        try:
            other = snapshot_weights(self.source.document.project, run, epoch).get(f"layers.{name}.weight")
        except UserError as exc:
            other, problem = None, str(exc)
        else:
            problem = f"{label} has no layer {name}"
        for column in self.compare_columns:
            column.setVisible(True)
        self.difference_reason.setVisible(other is None)
        if other is None:
            self.cancel_background("compare")
            self.compare_kernels = self.difference = None
            self.compare_grid.set_images([], [])
            self.difference_grid.set_images([], [])
            self.compare_title.setText(label)
            self.difference_title.setText("Difference")
            self.difference_reason.setText(f"No difference: {problem}")
            return
        self.compare_title.setText(f"{label}")
        self.run_in_background("compare", compare_tiles, weight, other.detach().to("cpu", weight.dtype),
                               self.mode.currentData(), self.scale.currentData(), done=self._on_compare)

    def _on_compare(self, tiles: tuple) -> None:
        self.compare_kernels, images, self.difference, difference_images, reason = tiles
        self.compare_grid.set_images(images, [f"#{i}" for i in range(len(images))])
        self.difference_grid.set_images(difference_images, [f"#{i}" for i in range(len(difference_images))])
        if self.difference is not None:
            top = float(self.difference.scale.max(initial=0.0))
            self.difference_title.setText(f"Difference ±{top:.3g} ({self.compare.currentText()} − these)")
        else:
            self.difference_title.setText("Difference")
        self.difference_reason.setText(reason)
        self.difference_reason.setVisible(bool(reason))
        self._fit()

    def _fit(self) -> None:
        if self.zoom.value() == self.zoom.minimum():
            viewport = self._scroll.viewport()
            self.grid.fit(viewport.width(), viewport.height())
        else:
            self.grid.set_tile(self.zoom.value())
        for grid in (self.compare_grid, self.difference_grid):
            grid.set_tile(self.grid.tile)

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 (Qt override)
        if event.type() == QEvent.Type.Resize:
            self._fit()
        return super().eventFilter(watched, event)

    def show_filter(self, index: int | None) -> None:
        """Fill the table with the numbers of filter ``index`` (the chosen input channel)."""
        if self.kernels is None or index is None or index >= len(self.kernels.weights):
            self.table.clear()
            return
        self.grid.selected = index
        self.grid.update()
        numbers = self.kernels.weights[index, self.channel.value()]
        scale = float(np.abs(numbers).max(initial=0.0)) or 1.0
        kh, kw = numbers.shape
        self.table.setRowCount(kh)
        self.table.setColumnCount(kw)
        for r in range(kh):
            for c in range(kw):
                value = float(numbers[r, c])
                item = QTableWidgetItem(f"{value:+.3f}")
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                rgb = diverging(np.array(value / scale))
                item.setBackground(QBrush(QColor(int(rgb[0]), int(rgb[1]), int(rgb[2]))))
                item.setForeground(QBrush(QColor("black")))
                self.table.setItem(r, c, item)
        self.detail_title.setText(f"{self.layer.currentText()} filter #{index}: weights of input channel "
                                  f"{self.channel.value()} (bias not shown)")

    def table_values(self) -> list[list[float]]:
        """The numbers shown in the table (for tests)."""
        return [[float(self.table.item(r, c).text()) for c in range(self.table.columnCount())]
                for r in range(self.table.rowCount())]

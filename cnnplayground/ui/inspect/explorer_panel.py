"""The Convolution explorer: type an input and a kernel, step the window along, see the products and the sum.

1-D and 2-D, convolution (cross-correlation, or flipped: true convolution), max and
average pooling, with stride, padding and dilation. The input table shows padding cells
(grey zeros) so the window can be seen reaching into them.
"""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ...core.errors import UserError
from ...inspect.explorer import EXAMPLE_1D, EXAMPLE_2D, Step, convolve, pool

WINDOW = QColor(255, 196, 0, 150)
OUTPUT = QColor(64, 160, 255, 150)
PADDING = QColor(128, 128, 128, 60)
EXPLANATION = ("Deep-learning layers compute cross-correlation: the kernel slides over the input as written. "
               "Convolution in signal processing flips the kernel first. For learned kernels it makes no "
               "difference: the network simply learns the flipped kernel.")


def _number(value: float) -> str:
    return f"{value:g}" if math.isfinite(value) else "−∞"


def _term(v: float, w: float) -> str:
    v_text = f"({_number(v)})" if v < 0 else _number(v)
    w_text = f"({_number(w)})" if w < 0 else _number(w)
    return f"{v_text}×{w_text}"


def describe(step: Step, operation: str) -> str:
    """The arithmetic of one step: ``"1×1 + 4×2 + (-1)×0 + 0×(-1) = 9"``."""
    if operation == "max":
        return f"max({', '.join(_number(v) for v in step.values)}) = {_number(step.result)}"
    if operation == "avg":
        return f"({' + '.join(_number(v) for v in step.values)}) / {len(step.values)} = {step.result:.4g}"
    return " + ".join(_term(v, w) for v, w in zip(step.values, step.weights)) + f" = {_number(step.result)}"


class ExplorerPanel(QWidget):
    """Interactive 1-D / 2-D convolution and pooling, one output value at a time."""

    def figure_widget(self) -> QWidget:
        """What Export Figure draws: the input, kernel and output tables, without the settings and buttons."""
        return self.figure

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.steps: list[Step] = []
        self.output = np.zeros(0)
        self.current = 0
        self.dims = QComboBox(self)
        self.dims.addItem("1-D", 1)
        self.dims.addItem("2-D", 2)
        self.operation = QComboBox(self)
        for text, value in (("Convolution", "conv"), ("Max pooling", "max"), ("Average pooling", "avg")):
            self.operation.addItem(text, value)
        self.stride = self._spin(1, 8, 1, "How far the window moves between outputs")
        self.padding = self._spin(0, 8, 0, "Zero cells added on each side of the input")
        self.dilation = self._spin(1, 8, 1, "Spacing between kernel taps (1 = adjacent cells)")
        self.pool_size = self._spin(1, 8, 2, "Window size of the pooling")
        self.flip = QCheckBox("Flip the kernel (true convolution)", self)
        self.flip.setToolTip(EXPLANATION)
        self.explanation = QLabel(EXPLANATION, self)
        self.explanation.setWordWrap(True)
        self.input = QTableWidget(self)
        self.kernel = QTableWidget(self)
        self.result = QTableWidget(self)
        self.result.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        for table in (self.input, self.kernel, self.result):
            table.horizontalHeader().setDefaultSectionSize(44)
            table.verticalHeader().setDefaultSectionSize(28)
        self.arithmetic = QLabel(self)
        self.arithmetic.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        font = self.arithmetic.font()
        font.setPointSizeF(font.pointSizeF() * 1.25)
        self.arithmetic.setFont(font)
        self.error = QLabel(self)
        self.error.setStyleSheet("color: #d64545;")
        self.previous_button = QPushButton("◀ Previous", self)
        self.next_button = QPushButton("Next ▶", self)
        self.play_button = QPushButton("Play", self)
        self.play_button.setCheckable(True)
        self.example_button = QPushButton("Lecture example", self)
        self.example_button.setToolTip("Input 1 4 −1 0 2 −2 1 3 3 1 with kernel 1 2 0 −1 (2-D: a vertical edge)")
        self._timer = QTimer(self)
        self._timer.setInterval(700)
        self._timer.timeout.connect(self._advance)

        settings = QFormLayout()
        settings.addRow("Input", self.dims)
        settings.addRow("Operation", self.operation)
        settings.addRow("Stride", self.stride)
        settings.addRow("Padding", self.padding)
        settings.addRow("Dilation", self.dilation)
        settings.addRow("Pool size", self.pool_size)
        settings.addRow("", self.flip)
        settings.addRow("", self.example_button)
        tables = QVBoxLayout()
        self.figure = QWidget(self)  # the three tables, as Export Figure draws them
        figure = QVBoxLayout(self.figure)
        figure.setContentsMargins(0, 0, 0, 0)
        self.input_title = QLabel("Input (edit the numbers)", self)
        self.kernel_title = QLabel("Kernel", self)
        for widget in (self.input_title, self.input, self.kernel_title, self.kernel, QLabel("Output", self),
                       self.result):
            figure.addWidget(widget)
        tables.addWidget(self.figure)
        steps = QHBoxLayout()
        for b in (self.previous_button, self.next_button, self.play_button):
            steps.addWidget(b)
        steps.addStretch(1)
        tables.addLayout(steps)
        tables.addWidget(self.arithmetic)
        tables.addWidget(self.error)
        tables.addWidget(self.explanation)
        layout = QHBoxLayout(self)
        layout.addLayout(settings)
        layout.addLayout(tables, 1)

        self.previous_button.clicked.connect(lambda: self.show_step(self.current - 1))
        self.next_button.clicked.connect(lambda: self.show_step(self.current + 1))
        self.play_button.toggled.connect(self._on_play)
        self.example_button.clicked.connect(self.load_example)
        self.dims.currentIndexChanged.connect(self.load_example)
        for widget in (self.stride, self.padding, self.dilation, self.pool_size):
            widget.valueChanged.connect(self.recompute)
        self.flip.toggled.connect(self.recompute)
        self.operation.currentIndexChanged.connect(self.recompute)
        self.input.itemChanged.connect(self._on_edited)
        self.kernel.itemChanged.connect(self._on_edited)
        self.load_example()

    def _spin(self, low: int, high: int, value: int, tip: str) -> QSpinBox:
        spin = QSpinBox(self)
        spin.setRange(low, high)
        spin.setValue(value)
        spin.setToolTip(tip)
        return spin

    # --- values ----------------------------------------------------------------------------
    def load_example(self) -> None:
        """The lecture's 1-D example, or a 2-D edge example."""
        x, k = EXAMPLE_1D if self.dims.currentData() == 1 else EXAMPLE_2D
        self._x, self._k = np.asarray(x, dtype=float), np.asarray(k, dtype=float)
        self.recompute()

    def set_values(self, x, kernel) -> None:
        self._x, self._k = np.asarray(x, dtype=float), np.asarray(kernel, dtype=float)
        self.recompute()

    def _on_edited(self, item: QTableWidgetItem) -> None:
        if getattr(self, "_filling", False):
            return
        try:
            value = float(item.text().replace("−", "-"))
        except ValueError:
            self.error.setText(f"“{item.text()}” is not a number (the previous value is kept)")
            return
        if item.tableWidget() is self.input:
            pad = self.padding.value()
            index = (item.column() - pad,) if self._x.ndim == 1 else (item.row() - pad, item.column() - pad)
            target = self._x
        else:
            index = (item.column(),) if self._k.ndim == 1 else (item.row(), item.column())
            target = self._k
        if all(0 <= i < n for i, n in zip(index, target.shape)):
            target[index] = value
            self.error.clear()
        self.recompute()

    def recompute(self) -> None:
        op = self.operation.currentData()
        conv = op == "conv"
        for widget in (self.kernel, self.kernel_title, self.flip, self.dilation):
            widget.setVisible(conv)
        self.pool_size.setEnabled(not conv)
        try:
            if conv:
                self.output, self.steps = convolve(self._x, self._k, self.stride.value(), self.padding.value(),
                                                   self.dilation.value(), self.flip.isChecked())
            else:
                self.output, self.steps = pool(self._x, self.pool_size.value(), self.stride.value(),
                                               self.padding.value(), op)
        except UserError as exc:
            self.error.setText(str(exc))
            self.output, self.steps = np.zeros(0), []
        else:
            self.error.clear()  # the cells are refilled from the numbers below: a bad entry is gone
        if not self.steps and not self.error.text():
            self.error.setText("The window does not fit the input: add padding or shrink the kernel")
        self._fill()
        self.show_step(min(self.current, max(len(self.steps) - 1, 0)))

    # --- display ---------------------------------------------------------------------------
    def _fill(self) -> None:
        self._filling = True
        try:
            pad = self.padding.value()
            x = np.atleast_2d(self._x)
            rows, cols = x.shape
            prows = rows + (2 * pad if self._x.ndim == 2 else 0)
            self.input.setRowCount(prows)
            self.input.setColumnCount(cols + 2 * pad)
            for r in range(prows):
                for c in range(cols + 2 * pad):
                    xr = r - pad if self._x.ndim == 2 else r
                    xc = c - pad
                    inside = 0 <= xr < rows and 0 <= xc < cols
                    item = QTableWidgetItem(_number(x[xr, xc]) if inside else "0")
                    item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                    if not inside:
                        item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
                        item.setForeground(QBrush(QColor(128, 128, 128)))
                        item.setToolTip("padding")
                    self.input.setItem(r, c, item)
            # Indices as the arithmetic line gives them (from 0); padding columns say so.
            self.input.setHorizontalHeaderLabels([str(c - pad) if 0 <= c - pad < cols else "pad"
                                                  for c in range(cols + 2 * pad)])
            if self._x.ndim == 2:
                self.input.setVerticalHeaderLabels([str(r - pad) if 0 <= r - pad < rows else "pad"
                                                    for r in range(prows)])
            else:
                self.input.setVerticalHeaderLabels([""])
            k = np.atleast_2d(self._k)
            self.kernel.setRowCount(k.shape[0])
            self.kernel.setColumnCount(k.shape[1])
            for r in range(k.shape[0]):
                for c in range(k.shape[1]):
                    item = QTableWidgetItem(_number(k[r, c]))
                    item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                    self.kernel.setItem(r, c, item)
            out = np.atleast_2d(self.output) if self.output.size else np.zeros((1, 0))
            self.result.setRowCount(out.shape[0])
            self.result.setColumnCount(out.shape[1])
            for table, shape in ((self.kernel, k.shape), (self.result, out.shape)):
                table.setHorizontalHeaderLabels([str(i) for i in range(shape[1])])
                table.setVerticalHeaderLabels([str(i) for i in range(shape[0])] if self._x.ndim == 2 else [""])
            for r in range(out.shape[0]):
                for c in range(out.shape[1]):
                    item = QTableWidgetItem(f"{out[r, c]:.4g}")
                    item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                    self.result.setItem(r, c, item)
            for table in (self.input, self.kernel, self.result):
                height = table.horizontalHeader().height() + table.rowCount() * 28 + 4
                table.setMaximumHeight(height)
                table.setMinimumHeight(min(height, 200))
        finally:
            self._filling = False

    def show_step(self, index: int) -> None:
        """Highlight the window of output ``index`` and show its arithmetic."""
        self._filling = True  # colouring cells emits itemChanged: not an edit
        try:
            self._show_step(index)
        finally:
            self._filling = False

    def _show_step(self, index: int) -> None:
        if not self.steps:
            self.arithmetic.clear()
            return
        self.current = max(0, min(index, len(self.steps) - 1))
        step = self.steps[self.current]
        pad = self.padding.value()
        two_d = self._x.ndim == 2
        for table in (self.input, self.result):
            for r in range(table.rowCount()):
                for c in range(table.columnCount()):
                    item = table.item(r, c)
                    if item is not None:
                        padding = table is self.input and item.toolTip() == "padding"
                        item.setBackground(QBrush(PADDING if padding else QColor(0, 0, 0, 0)))
        op = self.operation.currentData()
        for cell in self._window_cells(step, pad):
            r, c = cell if two_d else (0, cell[0])
            item = self.input.item(r, c)
            if item is not None:
                item.setBackground(QBrush(WINDOW))
        out = step.output if two_d else (0, step.output[0])
        item = self.result.item(*out)
        if item is not None:
            item.setBackground(QBrush(OUTPUT))
        position = ", ".join(str(i) for i in step.output)
        self.arithmetic.setText(f"output[{position}] = {describe(step, op)}")
        self.previous_button.setEnabled(self.current > 0)
        self.next_button.setEnabled(self.current < len(self.steps) - 1)

    def _window_cells(self, step: Step, pad: int) -> list[tuple[int, ...]]:
        """Table cells under the window, padding included (input index + padding)."""
        stride = self.stride.value()
        if self.operation.currentData() == "conv":
            shape, dilation = self._k.shape, self.dilation.value()
        else:
            shape, dilation = (self.pool_size.value(),) * self._x.ndim, 1
        cells = []
        for offset in np.ndindex(*shape):
            cells.append(tuple(o * stride + dilation * j for o, j in zip(step.output, offset)))
        return cells

    def _on_play(self, playing: bool) -> None:
        self.play_button.setText("Pause" if playing else "Play")
        if playing:
            if self.current >= len(self.steps) - 1:
                self.show_step(0)
            self._timer.start()
        else:
            self._timer.stop()

    def _advance(self) -> None:
        if self.current >= len(self.steps) - 1:
            self.play_button.setChecked(False)
            return
        self.show_step(self.current + 1)

"""The Feature maps panel: an input (drawn by hand or from the dataset), every channel of a layer, the prediction.

Drawing: the left button paints soft white strokes on a black image of the network's
input size (like an MNIST digit), the right button erases; each change recomputes the
maps and the top-5 prediction (LeNet-5: ≈ 1 ms). The statistics table gives, for every
layer, the mean and spread of its outputs and the share of zeros and of dead channels
over a batch of dataset images: the "good versus bad training" view of hidden units.
"""

from __future__ import annotations

import numpy as np
import torch
from PySide6.QtCore import QEvent, QPointF, QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QMouseEvent, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ...inspect.activations import activation_stats, dead_channels, feature_maps, predict
from ...inspect.digits import center_digit
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
from .imaging import ColorBar, FittedGrid, ImageGrid, grey_image, rgb_image, sequential
from .panel import InspectPanel
from .source import ModelSource

#: Dataset images the activation statistics are computed over.
STATS_IMAGES = 256


class DrawingCanvas(QWidget):
    """A small grey image the user draws on (left button paints, right button erases).

    ``image``: ``(H, W)`` floats in ``[0, 1]``. Signal ``changed()`` after every stroke segment.
    """

    changed = Signal()

    def __init__(self, size: tuple[int, int] = (28, 28), parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.image = np.zeros(size)
        self.brush = 1.1  # Gaussian σ in image pixels: strokes about 3 px wide, like MNIST
        self._last: QPointF | None = None
        self.setMinimumSize(168, 168)
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.setToolTip("Draw with the left mouse button, erase with the right one")

    def sizeHint(self) -> QSize:
        return QSize(224, 224)

    def set_size(self, height: int, width: int) -> None:
        if self.image.shape != (height, width):
            self.image = np.zeros((height, width))
            self.update()
            self.changed.emit()

    def set_image(self, image: np.ndarray) -> None:
        self.image = np.clip(np.asarray(image, dtype=float), 0.0, 1.0)
        self.update()
        self.changed.emit()

    def clear(self) -> None:
        self.set_image(np.zeros_like(self.image))

    def _rect(self) -> QRectF:
        h, w = self.image.shape
        scale = min(self.width() / w, self.height() / h)
        return QRectF((self.width() - w * scale) / 2, (self.height() - h * scale) / 2, w * scale, h * scale)

    def to_image(self, point: QPointF) -> tuple[float, float]:
        """Widget point → (row, column) in image pixels (pixel centres at integers)."""
        rect = self._rect()
        h, w = self.image.shape
        return ((point.y() - rect.y()) / rect.height() * h - 0.5, (point.x() - rect.x()) / rect.width() * w - 0.5)

    def _stamp(self, row: float, col: float, erase: bool) -> None:
        h, w = self.image.shape
        rr, cc = np.mgrid[0:h, 0:w]
        blob = np.exp(-((rr - row) ** 2 + (cc - col) ** 2) / (2 * self.brush**2))
        self.image = np.clip(self.image - blob, 0, 1) if erase else np.maximum(self.image, blob)

    def _paint_to(self, point: QPointF, erase: bool) -> None:
        start = self._last or point
        distance = max(abs(point.x() - start.x()), abs(point.y() - start.y()))
        pixel = self._rect().width() / self.image.shape[1]
        steps = max(1, int(distance / max(pixel / 2, 1e-6)))
        for i in range(1, steps + 1):  # a stamp every half pixel: continuous strokes
            p = start + (point - start) * (i / steps)
            self._stamp(*self.to_image(p), erase)
        self._last = point
        self.update()
        self.changed.emit()

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt override)
        if event.button() in (Qt.MouseButton.LeftButton, Qt.MouseButton.RightButton):
            self._last = None
            self._paint_to(event.position(), event.button() == Qt.MouseButton.RightButton)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt override)
        if event.buttons() & (Qt.MouseButton.LeftButton | Qt.MouseButton.RightButton):
            self._paint_to(event.position(), bool(event.buttons() & Qt.MouseButton.RightButton))

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt override)
        self._last = None

    def paintEvent(self, _event: QPaintEvent) -> None:  # noqa: N802 (Qt override)
        p = QPainter(self)
        try:
            p.fillRect(self.rect(), self.palette().window())
            p.drawImage(self._rect(), grey_image(self.image))
            p.setPen(QPen(QColor(128, 128, 128), 1))
            p.drawRect(self._rect())
        finally:
            p.end()


def _maps_and_prediction(model, x: torch.Tensor):
    """Every layer's output for ``x`` ``(1, C, H, W)`` and the top-5 prediction (run in the thread pool)."""
    return feature_maps(model, x), predict(model, x, k=5)


def _stats(model, images: torch.Tensor, mean, std):
    """Per-layer activation statistics over uint8 ``images`` ``(N, C, H, W)`` (run in the thread pool)."""
    return activation_stats(model, prepare(images, mean, std))


def map_tiles(maps: np.ndarray, hide_dead: bool = False, shared_scale: bool = False,
              value_range: tuple[float, float] | None = None) -> tuple[list, list, list]:
    """A layer's maps ``(C, H, W)`` as tiles: ``(channels shown, images, captions)``; a dead channel (no
    positive value) is left out with ``hide_dead``; each channel on its own scale unless ``shared_scale``
    (one scale for the layer) or ``value_range`` (one given scale ``(low, high)``, e.g. for every frame of
    an animation)."""
    dead = dead_channels(maps)
    channels = [c for c in range(len(maps)) if not (hide_dead and dead[c])]
    low, high = value_range if value_range is not None else (float(maps.min()), float(maps.max()))
    shared_scale = shared_scale or value_range is not None
    images = []
    for c in channels:
        lo, hi = (low, high) if shared_scale else (float(maps[c].min()), float(maps[c].max()))
        images.append(rgb_image(sequential(maps[c], lo, hi)))
    return channels, images, [f"#{c}" + (" dead" if dead[c] else "") for c in channels]


class FeatureMapsPanel(InspectPanel):
    """Every channel of a layer for one input, with the prediction and per-layer statistics."""

    def __init__(self, source: ModelSource, parent: QWidget | None = None) -> None:
        super().__init__(source, parent)
        self._dataset_image: np.ndarray | None = None
        self.maps: dict[str, np.ndarray] = {}
        self.prediction: list[tuple[int, float]] = []
        self.caption = QLabel(self)
        self.caption.setWordWrap(True)
        self.input_kind = QComboBox(self)
        self.input_kind.addItem("Drawn by hand", "draw")
        self.input_kind.addItem("Dataset image", "dataset")
        self.input_kind.addItem("Image file…", "file")
        self._file_image: np.ndarray | None = None
        self.index = QSpinBox(self)
        self.index.setPrefix("validation image ")
        self.index.setToolTip("Which validation image to feed the network")
        self.canvas = DrawingCanvas(parent=self)
        self.centred_note = QLabel("Fed centred, 20×20, as MNIST's digits", self)
        self.centred_note.setToolTip("The network gets the drawing scaled to a 20×20 box and centred by its "
                                     "centre of mass in 28×28, as MNIST's digits were (LeCun et al. 1998)")
        self.centred_note.setEnabled(False)  # the palette's muted text: a note, not a control
        self.clear_button = QPushButton("Clear", self)
        self.clear_button.setToolTip("Start the drawing again")
        self.canvas.setToolTip("Draw a digit: the network sees it scaled to a 20×20 box and centred by its "
                               "centre of mass, as MNIST's digits were")
        self.predictions = QTableWidget(5, 2, self)
        self.predictions.setHorizontalHeaderLabels(["class", "probability"])
        self.predictions.verticalHeader().hide()
        self.predictions.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.predictions.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.predictions.setMaximumHeight(self.predictions.verticalHeader().defaultSectionSize() * 6 + 4)
        self.layer = QComboBox(self)
        self.layer.setToolTip("The layer whose channels are shown")
        self.hide_dead = QCheckBox("Hide dead channels", self)
        self.hide_dead.setToolTip("Leave out channels with no positive value for this input")
        self.shared_scale = QCheckBox("One scale for all channels", self)
        self.grid = ImageGrid(72, self)
        scroll = QScrollArea(self)
        self._scroll = scroll
        scroll.viewport().installEventFilter(self)
        scroll.setWidget(self.grid)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.stats = QTableWidget(0, 5, self)
        self.stats.setHorizontalHeaderLabels(["layer", "mean", "std", "zeros", "dead channels"])
        self.stats.verticalHeader().hide()
        self.stats.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.stats.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.stats.setToolTip(f"Over {STATS_IMAGES} validation images: healthy layers have spread-out "
                              "activations; many zeros or dead channels mean units that stopped learning")
        self.stats_title = QLabel("Activation statistics", self)
        # Compare with: the same input and layer through a stored epoch's network, and B − A.
        self.compare = CompareChooser(source, self)
        self.compare_all: dict[str, np.ndarray] = {}  # every layer's output of the compared network
        self.compare_prediction: list[tuple[int, float]] = []
        self.compare_maps: np.ndarray | None = None  # the shown layer's maps there (C, H, W)
        self.difference_maps: np.ndarray | None = None  # B − A of the shown layer, or None (see compare_reason)
        self.compare_reason = ""
        self.current_title = ElidedLabel("These weights", self)
        self.compare_title = ElidedLabel(parent=self)
        self.compare_reason_label = QLabel(self)
        self.compare_reason_label.setWordWrap(True)
        self.compare_grid = FittedGrid(72, parent=self)
        self.difference_title = ElidedLabel(parent=self)
        self.difference_grid = FittedGrid(72, parent=self)
        self.difference_bar = ColorBar(self)
        self.columns = CompareColumns(160, self)
        current = QWidget(self)
        current_layout = QVBoxLayout(current)
        current_layout.setContentsMargins(0, 0, 0, 0)
        current_layout.addWidget(self.current_title)
        current_layout.addWidget(scroll, 1)
        other = QWidget(self)
        other_layout = QVBoxLayout(other)
        other_layout.setContentsMargins(0, 0, 0, 0)
        other_layout.addWidget(self.compare_title)
        other_layout.addWidget(self.compare_reason_label)
        other_layout.addWidget(self.compare_grid, 1)
        difference = QWidget(self)
        difference_layout = QVBoxLayout(difference)
        difference_layout.setContentsMargins(0, 0, 0, 0)
        difference_layout.addWidget(self.difference_title)
        difference_layout.addWidget(self.difference_grid, 1)
        difference_layout.addWidget(self.difference_bar)
        self.compare_columns = [other, difference]
        for column in (current, other, difference):
            self.columns.add(column)
        self._show_compare_columns(False)

        left = QWidget(self)
        lv = QVBoxLayout(left)
        lv.setContentsMargins(0, 0, 0, 0)
        lv.addWidget(self.input_kind)
        lv.addWidget(self.index)
        lv.addWidget(self.canvas, 1)
        lv.addWidget(self.centred_note)
        lv.addWidget(self.clear_button)
        lv.addWidget(QLabel("Prediction (top 5)", self))
        lv.addWidget(self.predictions)
        right = QWidget(self)
        rv = QVBoxLayout(right)
        rv.setContentsMargins(0, 0, 0, 0)
        controls = QHBoxLayout()
        controls.addWidget(QLabel("Layer", self))
        controls.addWidget(self.layer)
        controls.addWidget(self.hide_dead)
        controls.addWidget(self.shared_scale)
        controls.addStretch(1)
        rv.addLayout(controls)
        compare_row = self.compare.row(self)
        compare_row.addStretch(1)
        rv.addLayout(compare_row)
        rv.addWidget(self.columns, 3)
        rv.addWidget(self.stats_title)
        rv.addWidget(self.stats, 1)
        splitter = QSplitter(self)
        splitter.addWidget(left)
        splitter.addWidget(right)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([260, 800])
        layout = QVBoxLayout(self)
        layout.addWidget(self.caption)
        layout.addWidget(splitter, 1)

        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(30)  # drawing fires many events: compute once per frame or so
        self._timer.timeout.connect(self.recompute)
        self.canvas.changed.connect(self._timer.start)
        self.clear_button.clicked.connect(self.canvas.clear)
        self.input_kind.currentIndexChanged.connect(self._on_input_kind)
        self.index.valueChanged.connect(lambda _i: self._load_dataset_image())
        self.layer.currentIndexChanged.connect(self._show_maps)
        self.hide_dead.toggled.connect(self._show_maps)
        self.shared_scale.toggled.connect(self._show_maps)
        self.compare.choice_changed.connect(self._recompute_compare)
        self._on_input_kind()

    # --- inputs ----------------------------------------------------------------------------
    def _on_input_kind(self) -> None:
        kind = self.input_kind.currentData()
        drawing = kind == "draw"
        self.index.setVisible(kind == "dataset")
        self.clear_button.setVisible(drawing)
        self.centred_note.setVisible(drawing)
        self.canvas.setEnabled(drawing)
        if kind == "dataset":
            self._load_dataset_image()
        elif kind == "file":
            path = self._choose_image_path()
            if path:
                self.load_file(path)

    def show_validation_image(self, index: int) -> bool:
        """The input becomes validation image ``index`` ("Dataset image" chosen)."""
        if not super().show_validation_image(index):
            return False
        self.input_kind.blockSignals(True)
        self.input_kind.setCurrentIndex(self.input_kind.findData("dataset"))
        self.input_kind.blockSignals(False)
        self._on_input_kind()  # its spin box shown, the image loaded (also when a drawing was on show)
        return True

    def _choose_image_path(self) -> str:
        from PySide6.QtWidgets import QFileDialog

        name, _ = QFileDialog.getOpenFileName(self, "Open Image", "", "Images (*.png *.jpg *.jpeg *.bmp *.gif)")
        return name

    def load_file(self, path: str) -> bool:
        """Use an image file as the input: converted to the network's channels and size."""
        from PySide6.QtGui import QImage

        image = QImage(path)
        if image.isNull():
            self.caption.setText(f"Cannot read {path}: not an image this program knows")
            return False
        c, h, w = self._input_shape()
        image = image.scaled(w, h, Qt.AspectRatioMode.IgnoreAspectRatio, Qt.TransformationMode.SmoothTransformation)
        image = image.convertToFormat(QImage.Format.Format_RGB888)
        rgb = np.frombuffer(image.constBits(), np.uint8).reshape(h, image.bytesPerLine())[:, : 3 * w]
        rgb = rgb.reshape(h, w, 3).transpose(2, 0, 1).astype(float) / 255.0
        self._file_image = rgb if c == 3 else rgb.mean(axis=0, keepdims=True).repeat(c, axis=0)
        self.canvas.set_image(self._file_image.mean(axis=0))
        return True

    def _load_dataset_image(self) -> None:
        split = self.source.split()
        if split is None or self.input_kind.currentData() != "dataset":
            return
        data = self.source.data
        self.index.setRange(0, len(split) - 1)
        image = split.images[self.index.value()].float().numpy() / 255.0
        self.canvas.set_image(image.mean(axis=0))
        self._label = data.class_names[int(split.labels[self.index.value()])]
        self._dataset_image = image

    def input_tensor(self) -> torch.Tensor | None:
        """The normalized ``(1, C, H, W)`` input the network gets now."""
        model = self.source.model
        if model is None:
            return None
        c, h, w = self._input_shape()
        data = self.source.data
        if self.input_kind.currentData() == "dataset" and self._dataset_image is not None:
            image = torch.as_tensor(self._dataset_image, dtype=torch.float32)
        elif self.input_kind.currentData() == "file" and self._file_image is not None:
            image = torch.as_tensor(self._file_image, dtype=torch.float32)
        else:  # a drawing: scaled and centred as MNIST's digits were (wherever and however large it was drawn)
            image = torch.as_tensor(center_digit(self.canvas.image), dtype=torch.float32)[None].repeat(c, 1, 1)
        if image.shape != (c, h, w):
            return None
        mean, std = (data.mean, data.std) if data is not None and len(data.mean) == c else ((0.5,) * c, (0.5,) * c)
        return prepare(image, mean, std)

    def _input_shape(self) -> tuple[int, int, int]:
        return self.source.input_shape or (1, 28, 28)

    # --- model -----------------------------------------------------------------------------
    def figure_widget(self) -> QWidget:
        """Every tile of the grid (also those scrolled out of sight); with a comparison, the three columns."""
        return self.columns if self.compare.chosen() is not None else self.grid

    def clear_results(self) -> None:
        """Another project or other weights: the maps, the prediction and the statistics go."""
        self.maps, self.prediction = {}, []
        self.grid.set_images([], [])
        self.stats.setRowCount(0)
        self.layer_stats = {}
        self._show_prediction()
        self.compare_all, self.compare_prediction = {}, []
        self._show_compare()

    def refresh(self) -> None:
        """A new model (or data): update the layer list, the maps and the statistics."""
        model = self.source.model
        self.cancel_background()  # results for the previous model must not arrive after this
        if model is None:
            self.caption.setText(self.source.problem or "No network")
            self.maps, self.prediction = {}, []
            self.grid.set_images([], [])
            self.layer.clear()
            self.stats.setRowCount(0)
            self._show_prediction()
            return
        _, h, w = self._input_shape()
        self.canvas.set_size(h, w)
        missing = self.data_missing()
        self.caption.setText(f"Feature maps with {self.source.description}" + (f". {missing}" if missing else ""))
        self._dataset_image = None
        self._load_dataset_image()
        self.recompute()
        self._compute_stats()

    def recompute(self) -> None:
        """Run the input through the snapshot in the background: every layer's output and the prediction."""
        model, x = self.source.model, self.input_tensor()
        if model is None or x is None:
            return
        self.run_in_background("maps", _maps_and_prediction, model, x, done=self._on_maps,
                               failed=lambda message: self.caption.setText(f"Feature maps failed: {message}"))
        self._recompute_compare()

    def _on_maps(self, found) -> None:
        model = self.source.model
        self.maps, self.prediction = found
        spatial = [nid for nid, v in self.maps.items() if v.ndim == 3 and (model is None or nid != model.input_id)]
        current = self.layer.currentText()
        self.layer.blockSignals(True)
        self.layer.clear()
        self.layer.addItems(spatial)
        self.layer.setCurrentText(current if current in spatial else (spatial[0] if spatial else ""))
        self.layer.blockSignals(False)
        self._show_prediction()
        self._show_maps()

    def _show_prediction(self) -> None:
        names = self.source.data.class_names if self.source.data is not None else ()
        for row in range(5):
            if row < len(self.prediction):
                cls, p = self.prediction[row]
                name = names[cls] if cls < len(names) else str(cls)
                self.predictions.setItem(row, 0, QTableWidgetItem(name))
                self.predictions.setItem(row, 1, QTableWidgetItem(f"{p:.1%}"))
            else:
                self.predictions.setItem(row, 0, QTableWidgetItem(""))
                self.predictions.setItem(row, 1, QTableWidgetItem(""))

    def _show_maps(self) -> None:
        maps = self.maps.get(self.layer.currentText())
        if maps is None:
            self.grid.set_images([], [])
            self.shown_channels: list[int] = []
            self._show_compare()
            return
        dead = dead_channels(maps)
        channels, images, captions = map_tiles(maps, self.hide_dead.isChecked(), self.shared_scale.isChecked())
        self.shown_channels = channels
        self.grid.set_images(images, captions)
        self._fit()
        self.grid.setToolTip(f"{len(channels)} of {len(maps)} channels; {int(dead.sum())} without a positive "
                             "value for this input. Bright = strong activation (each channel on its own scale "
                             "unless one scale is chosen)")
        self._show_compare()

    def _fit(self) -> None:
        viewport = self._scroll.viewport()
        self.grid.fit(viewport.width(), viewport.height())

    # --- Compare with -------------------------------------------------------------------------
    def _show_compare_columns(self, shown: bool) -> None:
        self.current_title.setVisible(shown)
        for column in self.compare_columns:
            column.setVisible(shown)

    def _recompute_compare(self) -> None:
        """The same input through the chosen epoch's network, in the background (the input, layer and
        options stay as they are)."""
        self.cancel_background("compare")
        self.compare_all, self.compare_prediction = {}, []
        chosen, x = self.compare.chosen(), self.input_tensor()
        if chosen is None or x is None:
            self._show_compare()
            return
        label = self.compare.label
        model, _graph, reason = compared_network(self.source, chosen, label, x.shape[1:])
        if model is None:
            self._show_compare(reason)
            return
        self._show_compare()  # the columns appear at once, filled when the maps are there
        self.run_in_background("compare", _maps_and_prediction, model, x, done=self._on_compare_maps,
                               failed=lambda message: self._show_compare(f"Comparison failed: {message}"))

    def _on_compare_maps(self, found) -> None:
        self.compare_all, self.compare_prediction = found
        self._show_compare()

    def _show_compare(self, problem: str = "") -> None:
        """The compared network's maps of the shown layer (the channels shown here, on the same kind of
        scale) and B − A on one symmetric scale for the whole layer; or the reason there are none."""
        label, name = self.compare.label, self.layer.currentText()
        self.compare_maps = self.difference_maps = None
        self._show_compare_columns(bool(label))
        if not label:
            self.compare_reason = ""
            self.compare_grid.set_images([], [])
            self.difference_grid.set_images([], [])
            return
        mine, theirs = self.maps.get(name), self.compare_all.get(name)
        if not problem and self.compare_all and mine is not None:
            if theirs is None:
                problem = f"{label}'s network has no layer {name}"
            elif theirs.shape != mine.shape:
                problem = f"{name} gives {shape_text(mine.shape)} maps here, {shape_text(theirs.shape)} in {label}"
        self.compare_reason = problem
        self.compare_reason_label.setText(problem)
        self.compare_reason_label.setVisible(bool(problem))
        names = self.source.data.class_names if self.source.data is not None else ()
        says = ""
        if self.compare_prediction:
            cls, p = self.compare_prediction[0]
            says = f": says {names[cls] if cls < len(names) else cls} ({p:.0%})"
        self.compare_title.setText(f"{label}{says}")
        self.current_title.setText("These weights" + (f": say {self._top_name(names)}" if self.prediction else ""))
        if problem or theirs is None or mine is None:
            self.compare_grid.set_images([], [])
            self.difference_grid.set_images([], [])
            self.difference_title.setText("Difference")
            return
        self.compare_maps = theirs
        channels = getattr(self, "shown_channels", list(range(len(mine))))
        low, high = float(theirs.min()), float(theirs.max())
        shared = self.shared_scale.isChecked()
        images = [rgb_image(sequential(theirs[c], *((low, high) if shared else (float(theirs[c].min()),
                                                                                  float(theirs[c].max())))))
                  for c in channels]
        captions = [f"#{c}" for c in channels]
        self.compare_grid.set_images(images, captions)
        self.difference_maps, top = symmetric_difference(theirs, mine)
        self.difference_grid.set_images([difference_image(self.difference_maps[c], top) for c in channels], captions)
        self.difference_bar.set_range(-top, top)
        self.difference_title.setText(f"Difference ±{top:.3g} ({label} − these)")

    def _top_name(self, names) -> str:
        cls, p = self.prediction[0]
        return f"{names[cls] if cls < len(names) else cls} ({p:.0%})"

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 (Qt override)
        if event.type() == QEvent.Type.Resize:
            self._fit()
        return super().eventFilter(watched, event)

    def _compute_stats(self) -> None:
        model, data, split = self.source.model, self.source.data, self.source.split()
        if model is None or data is None or split is None:
            self.stats.setRowCount(0)
            return
        images = split.images[:STATS_IMAGES]
        if tuple(images.shape[1:]) != self._input_shape():
            self.stats.setRowCount(0)
            return
        self._stats_count = len(images)
        self.run_in_background("stats", _stats, model, images, data.mean, data.std, done=self._on_stats)

    def _on_stats(self, stats) -> None:
        self.stats.setRowCount(len(stats))
        for row, (nid, s) in enumerate(stats.items()):
            for col, text in enumerate((nid, f"{s.mean:.3f}", f"{s.std:.3f}", f"{s.zero_fraction:.0%}",
                                        f"{s.dead_fraction:.0%}")):
                self.stats.setItem(row, col, QTableWidgetItem(text))
        self.layer_stats = stats
        self.stats_title.setText(f"Activation statistics over {self._stats_count} "
                                 "validation images")

"""The Feature Space panel: a layer's features of up to 2,000 validation images, projected by PCA.

Each point is one image, coloured by its true class (the legend names them); the misclassified
ones have a black outline. The features are computed a batch at a time in a background job
(:class:`~..jobs.GeneratorJob`) with a progress bar; hovering a point says which image it is, its
class and the network's answer.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QProgressBar, QSpinBox, QVBoxLayout, QWidget

from ...inspect.embedding import MAX_IMAGES, Embedding, default_layer, embedding_steps
from .imaging import theme_plot
from .panel import InspectPanel
from .source import ModelSource

#: Ten distinct class colours (Tableau 10), repeated for more classes.
CLASS_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
#: How near (in pixels) the pointer must be to a point for the hover text.
HOVER_PX = 8.0


def class_color(label: int) -> str:
    return CLASS_COLORS[label % len(CLASS_COLORS)]


class EmbeddingPanel(InspectPanel):
    """A PCA scatter of a layer's features, one point per validation image."""

    def __init__(self, source: ModelSource, parent: QWidget | None = None) -> None:
        super().__init__(source, parent)
        self.result: Embedding | None = None
        self.class_names: tuple[str, ...] = ()
        self.caption = QLabel(self)
        self.caption.setWordWrap(True)
        self.layer = QComboBox(self)
        self.layer.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.layer.setToolTip("The layer whose output is projected (default: the input of the last Linear layer)")
        self.count = QSpinBox(self)
        self.count.setRange(10, MAX_IMAGES)
        self.count.setValue(MAX_IMAGES)
        self.count.setSuffix(" images")
        self.count.setToolTip("How many validation images to project (the first ones)")
        self.progress = QProgressBar(self)
        self.progress.setRange(0, 100)
        self.progress.setMaximumWidth(160)
        controls = QHBoxLayout()
        for widget in (QLabel("layer", self), self.layer, self.count, self.progress):
            controls.addWidget(widget)
        controls.addStretch(1)
        self.plot = pg.PlotWidget(self)
        theme_plot(self.plot)
        self.plot.setMinimumHeight(160)
        self.plot.getPlotItem().setLabel("bottom", "PC 1")
        self.plot.getPlotItem().setLabel("left", "PC 2")
        palette = self.plot.palette()
        base = palette.color(QPalette.ColorRole.Base)
        base.setAlpha(210)  # the points behind the legend show through a little
        self.legend = self.plot.getPlotItem().addLegend(
            offset=(-10, 10), labelTextColor=palette.color(QPalette.ColorRole.Text), brush=pg.mkBrush(base))
        self.scatters: list[pg.ScatterPlotItem] = []
        self.hover = QLabel(self)
        self.summary = QLabel(self)
        self.summary.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(self.caption)
        layout.addLayout(controls)
        layout.addWidget(self.plot, 1)
        layout.addWidget(self.hover)
        layout.addWidget(self.summary)
        self.layer.currentIndexChanged.connect(lambda _i: self.start())
        self.count.editingFinished.connect(self.start)
        self.plot.scene().sigMouseMoved.connect(self._on_mouse_moved)

    def _stop(self) -> None:
        self.stop_job()
        self.progress.setValue(0)
        self.unsetCursor()

    def on_hidden_change(self) -> None:
        self._stop()

    def hideEvent(self, event) -> None:  # noqa: N802 (Qt override)
        super().hideEvent(event)
        if self.running:
            self._stop()
            self.stale = True

    def figure_widget(self) -> QWidget:
        return self.plot

    def clear(self) -> None:
        self._stop()
        self.result = None
        for item in self.scatters:
            self.plot.removeItem(item)
        self.scatters = []
        self.legend.clear()
        self.hover.setText("")
        self.summary.setText("")

    def clear_results(self) -> None:
        self.clear()

    def refresh(self) -> None:
        self.clear()
        parts = self.ready(self.caption, "Feature space (PCA)")
        if parts is None:
            self.layer.clear()
            return
        model, data, _ = parts
        self.class_names = tuple(data.class_names)
        ids = [nid for nid in model.layer_ids if nid != model.output_id]
        if [self.layer.itemText(i) for i in range(self.layer.count())] != ids:
            self.layer.blockSignals(True)
            self.layer.clear()
            self.layer.addItems(ids)
            self.layer.setCurrentText(default_layer(model))
            self.layer.blockSignals(False)
        self.start()

    def start(self) -> None:
        """(Re)compute the map for the chosen layer and number of images (cancelling a running one)."""
        self._stop()
        model, data, split = self.source.model, self.source.data, self.source.split()
        if model is None or data is None or split is None or not self.layer.currentText():
            return
        n = min(self.count.value(), len(split))
        layer = self.layer.currentText()
        self.setCursor(Qt.CursorShape.BusyCursor)
        self.start_job(lambda _progress: embedding_steps(model, split.images[:n], split.labels[:n], data.mean,
                                                         data.std, layer, limit=n),
                       items=self._on_items, finished=self.unsetCursor, failed=self._on_failed)

    def _on_items(self, items: list) -> None:
        for done, result in items:
            self.progress.setValue(round(done * 100))
            if result is not None:
                self.show_embedding(result)

    def _on_failed(self, message: str) -> None:
        self.unsetCursor()
        self.summary.setText(f"The feature map failed: {message}")

    def show_embedding(self, result: Embedding) -> None:
        """Draw ``result``: one scatter per class, misclassified points outlined in black."""
        for item in self.scatters:
            self.plot.removeItem(item)
        self.scatters = []
        self.legend.clear()
        self.result = result
        wrong = result.labels != result.predictions
        outline = pg.mkPen("k", width=1.5)
        for label in np.unique(result.labels):
            rows = np.flatnonzero(result.labels == label)
            name = self.class_names[label] if label < len(self.class_names) else str(label)
            item = pg.ScatterPlotItem(size=7, brush=pg.mkBrush(class_color(int(label))), name=f"{label}: {name}")
            item.setData(pos=result.points[rows], data=rows,
                         pen=[outline if wrong[i] else pg.mkPen(None) for i in rows])
            self.plot.addItem(item)
            self.scatters.append(item)
        n, w = len(result.labels), int(wrong.sum())
        a, b = result.explained
        self.summary.setText(
            f"{n} images, {result.layer} ({result.dims} values each). PC 1 explains {a:.1%} of the variance, "
            f"PC 2 {b:.1%}. {w} misclassified ({w / max(n, 1):.1%}), outlined in black.")

    def describe(self, index: int) -> str:
        """The hover text of image ``index``."""
        r = self.result
        assert r is not None
        names = self.class_names

        def name(c: int) -> str:
            return f"{c}: {names[c]}" if c < len(names) else str(c)
        verdict = "right" if r.labels[index] == r.predictions[index] else "wrong"
        return (f"validation image {index}: class {name(int(r.labels[index]))}, "
                f"predicted {name(int(r.predictions[index]))} ({verdict})")

    def point_near(self, scene_pos: QPointF) -> int | None:
        """The image whose point is within :data:`HOVER_PX` of ``scene_pos`` (the nearest), or None."""
        if self.result is None or len(self.result.labels) == 0:
            return None
        view = self.plot.getPlotItem().getViewBox()
        at = view.mapSceneToView(scene_pos)
        px, py = view.viewPixelSize()
        pts = self.result.points
        d = ((pts[:, 0] - at.x()) / max(px, 1e-12)) ** 2 + ((pts[:, 1] - at.y()) / max(py, 1e-12)) ** 2
        best = int(d.argmin())
        return best if d[best] <= HOVER_PX ** 2 else None

    def _on_mouse_moved(self, scene_pos) -> None:
        index = self.point_near(scene_pos)
        self.hover.setText("" if index is None else self.describe(index))

"""The Feature Space panel: a layer's features of up to 2,000 validation images, projected by PCA or t-SNE.

Each point is one image, coloured by its true class (the legend names them); the misclassified
ones have a black outline. The features are computed a batch at a time in a background job
(:class:`~..jobs.GeneratorJob`) with a progress bar, then projected (t-SNE in the same job: a newer
request drops it); hovering a point shows the image (a small thumbnail) and says which it is, its class
and the network's answer, and
clicking it sends the image to the panels that look at one image (signal ``image_chosen(index)``).
The map follows the model source: another stored epoch on the epoch slider computes it anew.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPoint, QPointF, Qt, Signal
from PySide6.QtGui import QPalette, QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ...inspect.embedding import (
    DEFAULT_PERPLEXITY,
    MAX_IMAGES,
    METHODS,
    TSNE_PCA_DIMS,
    Embedding,
    default_layer,
    embedding_steps,
    usable_perplexity,
)
from .imaging import grey_image, theme_plot
from .panel import InspectPanel
from .source import ModelSource

#: Ten distinct class colours (Tableau 10), repeated for more classes.
CLASS_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
#: How near (in pixels) the pointer must be to a point for the hover text.
HOVER_PX = 8.0
#: The side of the hovered image's thumbnail in the hover line (pixels).
HOVER_THUMB_PX = 64
#: The hover line while the pointer is on no point.
HOVER_HINT = ("Point at an image for its class and the network's answer; click it to look at it in Feature Maps, "
              "Attribution and Adversarial")


def class_color(label: int) -> str:
    return CLASS_COLORS[label % len(CLASS_COLORS)]


class EmbeddingPanel(InspectPanel):
    """A PCA or t-SNE scatter of a layer's features, one point per validation image.

    Signal ``image_chosen(index)``: a point was clicked (``index`` of the validation image)."""

    image_chosen = Signal(int)

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
        self.method = QComboBox(self)
        for key, name in METHODS:
            self.method.addItem(name, key)
        self.method.setToolTip("PCA: the two directions of most variance (a linear view; distances mean something). "
                               f"t-SNE: after PCA to {TSNE_PCA_DIMS} dimensions, a map that keeps each image's "
                               "nearest neighbours together (clusters show; distances between them and cluster "
                               "sizes mean little); seconds to a minute for 2,000 images")
        self.perplexity = QDoubleSpinBox(self)
        self.perplexity.setRange(2.0, 100.0)
        self.perplexity.setDecimals(0)
        self.perplexity.setValue(DEFAULT_PERPLEXITY)
        self.perplexity.setPrefix("perplexity ")
        self.perplexity.setToolTip("t-SNE's perplexity: about how many neighbours each image keeps close (5-50 is "
                                   f"usual; default {DEFAULT_PERPLEXITY:.0f}). Small: many small clumps; large: "
                                   "the broad layout. Lowered to (images − 1) / 3 for few images")
        self.progress = QProgressBar(self)
        self.progress.setRange(0, 100)
        self.progress.setMaximumWidth(160)
        self.state = QLabel(self)
        controls = QHBoxLayout()
        for widget in (QLabel("layer", self), self.layer, self.count, self.method, self.perplexity, self.progress,
                       self.state):
            controls.addWidget(widget)
        controls.addStretch(1)
        self.plot = pg.PlotWidget(self)
        theme_plot(self.plot)
        self.plot.setMinimumHeight(160)
        palette = self.plot.palette()
        # Beside the view, not over it: a legend inside hid whole clusters of a t-SNE map.
        self.legend = pg.LegendItem(labelTextColor=palette.color(QPalette.ColorRole.Text))
        self.plot.getPlotItem().layout.addItem(self.legend, 2, 3)
        self.scatters: list[pg.ScatterPlotItem] = []
        self.hover = QLabel(self)
        #: The hovered image, :data:`HOVER_THUMB_PX` square (pixels kept sharp), floating beside the pointer
        #: over the map (in the layout it resized the map under the pointer); hidden on no point.
        self.hover_image = QLabel(self.plot.viewport())
        self.hover_image.setFixedSize(HOVER_THUMB_PX + 2, HOVER_THUMB_PX + 2)
        self.hover_image.setFrameShape(QFrame.Shape.Box)
        self.hover_image.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.hover_image.hide()
        #: The validation image under the pointer (None: on no point).
        self.hover_index: int | None = None
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
        self.method.currentIndexChanged.connect(self._on_method_changed)
        self.perplexity.editingFinished.connect(self._on_perplexity_changed)
        self.plot.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self.plot.scene().sigMouseClicked.connect(self._on_mouse_clicked)
        self._on_method_changed(start=False)

    def _stop(self) -> None:
        self.stop_job()
        self.progress.setValue(0)
        self.state.setText("")
        self.unsetCursor()

    def _on_method_changed(self, _index: int = 0, start: bool = True) -> None:
        tsne = self.method.currentData() == "tsne"
        self.perplexity.setVisible(tsne)
        plot = self.plot.getPlotItem()
        plot.setLabel("bottom", "t-SNE 1" if tsne else "PC 1")
        plot.setLabel("left", "t-SNE 2" if tsne else "PC 2")
        if start:
            self.start()

    def _on_perplexity_changed(self) -> None:
        r = self.result
        if self.method.currentData() == "tsne" and (
                r is None or r.perplexity != usable_perplexity(self.perplexity.value(), len(r.labels))):
            self.start()

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
        self.hover_image.hide()
        self.summary.setText("")

    def clear_results(self) -> None:
        self.clear()

    def refresh(self) -> None:
        self.clear()
        parts = self.ready(self.caption, f"Feature space ({self.method.currentText()})")
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
        layer, method, perplexity = self.layer.currentText(), self.method.currentData(), self.perplexity.value()
        self.setCursor(Qt.CursorShape.BusyCursor)
        self.state.setText("computing features…")

        def finished() -> None:
            self.unsetCursor()
            self.state.setText("")

        self.start_job(lambda _progress: embedding_steps(model, split.images[:n], split.labels[:n], data.mean,
                                                         data.std, layer, limit=n, method=method,
                                                         perplexity=perplexity),
                       items=self._on_items, finished=finished, failed=self._on_failed)

    def _on_items(self, items: list) -> None:
        for done, result in items:
            self.progress.setValue(round(done * 100))
            if isinstance(result, str):  # the projection's one long step begins
                self.state.setText(f"computing {result}…")
            elif result is not None:
                self.state.setText("")
                self.show_embedding(result)

    def _on_failed(self, message: str) -> None:
        self.unsetCursor()
        self.state.setText("")
        self.summary.setText(f"The feature map failed: {message}")

    def show_embedding(self, result: Embedding) -> None:
        """Draw ``result``: one scatter per class, misclassified points outlined in black."""
        for item in self.scatters:
            self.plot.removeItem(item)
        self.scatters = []
        self.legend.clear()
        self.result = result
        self.show_hover(None)
        wrong = result.labels != result.predictions
        outline = pg.mkPen("k", width=1.5)
        for label in np.unique(result.labels):
            rows = np.flatnonzero(result.labels == label)
            name = self.class_names[label] if label < len(self.class_names) else str(label)
            item = pg.ScatterPlotItem(size=7, brush=pg.mkBrush(class_color(int(label))), name=f"{label}: {name}")
            item.setData(pos=result.points[rows], data=rows,
                         pen=[outline if wrong[i] else pg.mkPen(None) for i in rows])
            self.plot.addItem(item)
            self.legend.addItem(item, f"{label}: {name}")
            self.scatters.append(item)
        # The view's range follows its items at the next paint; now, so that a point's place on screen is
        # known (hover, click) as soon as the map is there.
        self.plot.getPlotItem().getViewBox().updateAutoRange()
        n, w = len(result.labels), int(wrong.sum())
        a, b = result.explained
        if result.method == "tsne":
            how = (f"t-SNE (perplexity {result.perplexity:.0f}) of {min(TSNE_PCA_DIMS, result.dims)} principal "
                   f"components ({result.kept:.1%} of the variance): neighbours stay near; distances between "
                   "clusters mean little.")
        else:
            how = f"PC 1 explains {a:.1%} of the variance, PC 2 {b:.1%}."
        self.summary.setText(
            f"{n} images, {result.layer} ({result.dims} values each). {how} {w} misclassified "
            f"({w / max(n, 1):.1%}), outlined in black.")

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
        self.show_hover(self.point_near(scene_pos), self.plot.mapFromScene(scene_pos))

    def show_hover(self, index: int | None, at: QPoint | None = None) -> None:
        """The hover line for image ``index`` (its index, class and prediction; None: the hint), and the
        image itself as a thumbnail beside ``at`` (the pointer, in the map's viewport)."""
        self.hover_index = index
        self.hover.setText(HOVER_HINT if index is None else self.describe(index))
        split = self.source.split()
        if index is None or split is None or index >= len(split):
            self.hover_image.hide()
            return
        image = grey_image(split.images[index].numpy())
        self.hover_image.setPixmap(QPixmap.fromImage(image.scaled(
            HOVER_THUMB_PX, HOVER_THUMB_PX, Qt.AspectRatioMode.KeepAspectRatio,
            Qt.TransformationMode.FastTransformation)))
        if at is not None:  # below right of the pointer, flipped where that leaves the map
            room = self.plot.viewport().rect()
            size = self.hover_image.size()
            x = at.x() + 14 if at.x() + 14 + size.width() <= room.right() else at.x() - 14 - size.width()
            y = at.y() + 14 if at.y() + 14 + size.height() <= room.bottom() else at.y() - 14 - size.height()
            self.hover_image.move(max(0, x), max(0, y))
        self.hover_image.show()
        self.hover_image.raise_()

    def _on_mouse_clicked(self, event) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            return
        index = self.point_near(event.scenePos())
        if index is not None:
            event.accept()
            self.image_chosen.emit(index)

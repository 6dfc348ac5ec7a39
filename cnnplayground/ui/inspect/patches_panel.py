"""The Top Patches panel: which dataset images excite a channel most, and which part of them.

One background pass over the validation images records every channel's peak of the
chosen layer on every image; it is kept per weight snapshot and layer, so switching
channels afterwards is instant. The tiles are the receptive-field crops around each
image's strongest unit (or the whole images); clicking one shows it whole with the
field framed.
"""

from __future__ import annotations

from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ...core.inference import infer
from ...core.progress import Progress
from ...inspect.patches import LayerPeaks, TopPatches, layer_peaks
from ...inspect.receptive import theoretical_region
from .compare import CompareChooser, CompareColumns, ElidedLabel, compared_unit
from .imaging import FittedGrid, grey_image
from .panel import InspectPanel
from .receptive_panel import PixelView
from .source import ModelSource

#: Validation images searched at most.
MAX_IMAGES = 10_000


def _peaks(model, images01, mean, std, layer: str, progress: Progress | None = None) -> LayerPeaks:
    """The whole pass of :func:`layer_peaks` at once (the compared network's, in the thread pool)."""
    *_, (_fraction, peaks) = layer_peaks(model, images01, mean, std, layer, progress=progress)
    return peaks


class PatchesPanel(InspectPanel):
    """The k validation images (and crops) with the largest activation of one channel."""

    def __init__(self, source: ModelSource, parent: QWidget | None = None) -> None:
        super().__init__(source, parent)
        self.cache: dict[str, LayerPeaks] = {}  # layer → peaks, for the current snapshot only
        self._cache_model: int | None = None
        self._pass_layer = ""
        self.top: TopPatches | None = None
        self.caption = QLabel(self)
        self.caption.setWordWrap(True)
        self.layer = QComboBox(self)
        self.layer.setToolTip("The layer whose channel is studied")
        self.layer.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.channel = QSpinBox(self)
        self.channel.setPrefix("channel ")
        self.channel.setToolTip("Switching channels is instant once the layer's pass is done")
        self.k = QSpinBox(self)
        self.k.setRange(1, 64)
        self.k.setValue(16)
        self.k.setPrefix("top ")
        self.k.setToolTip("How many images to show")
        self.show_as = QComboBox(self)
        self.show_as.addItem("receptive-field crops", "crops")
        self.show_as.addItem("whole images", "whole")
        self.show_as.setToolTip("Crops: the part of each image the strongest unit sees")
        self.find_button = QPushButton("Find", self)
        self.find_button.setToolTip("Run the pass over the validation images for this layer")
        self.stop_button = QPushButton("Stop", self)
        self.stop_button.setEnabled(False)
        self.progress = QProgressBar(self)
        self.progress.setRange(0, 100)
        self.progress.setMaximumWidth(160)
        self.tiles = FittedGrid(tile=64, largest=128, parent=self)
        self.grid = self.tiles.grid
        self.grid.setToolTip("Click a tile: the whole image with the unit's field framed")
        self.image_view = PixelView(self)
        self.image_view.setToolTip("The chosen image; green frame: the receptive field of its strongest unit")
        self.image_label = QLabel(self)
        self.image_label.setWordWrap(True)
        # Compare with: the same layer and channel's top patches over the same images, in a stored epoch.
        self.compare = CompareChooser(source, self)
        self.compare.setToolTip("The same channel's top images through a stored epoch of a run, beside these "
                                "(matched by layer id)")
        self.compare_cache: dict[tuple, tuple[LayerPeaks, object]] = {}  # (run, epoch, layer) → peaks, graph
        self._compare_pending: tuple | None = None
        self.compare_top: TopPatches | None = None
        self.compare_reason = ""
        #: (layer, channel, text): why the panel shows another channel than 0 after a search (a dead channel 0).
        self._channel_note: tuple[str, int, str] | None = None
        #: Whether a search ending on a dead channel 0 shows the strongest channel (off for figures: every frame
        #: of an animation shows the same channel, the one asked for).
        self.skip_dead_first_channel = True
        #: Whether the user has chosen a channel of the current layer (then a search keeps it, dead or not).
        self._channel_chosen = False
        self.compare_title = ElidedLabel(parent=self)
        self.compare_tiles = FittedGrid(tile=64, largest=128, parent=self)
        self.compare_label = QLabel(self)
        self.compare_label.setWordWrap(True)

        controls = QHBoxLayout()
        for w in (self.layer, self.channel, self.k, self.show_as, self.find_button, self.stop_button,
                  self.progress):
            controls.addWidget(w)
        controls.addStretch(1)
        side = QVBoxLayout()
        side.addWidget(self.image_view, 1)
        side.addWidget(self.image_label)
        main = QWidget(self)
        body = QHBoxLayout(main)
        body.setContentsMargins(0, 0, 0, 0)
        body.addWidget(self.tiles, 3)
        body.addLayout(side, 1)
        self.compare_area = QWidget(self)
        compare_column = QVBoxLayout(self.compare_area)
        compare_column.setContentsMargins(0, 0, 0, 0)
        compare_column.addWidget(self.compare_title)
        compare_column.addWidget(self.compare_tiles, 1)
        compare_column.addWidget(self.compare_label)
        self.compare_area.setVisible(False)
        self.figure = CompareColumns(320, self)  # these beside the compared network's, below when narrow
        self.figure.add(main, 3)
        self.figure.add(self.compare_area, 2)
        compare_row = self.compare.row(self)
        compare_row.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.caption)
        layout.addLayout(controls)
        layout.addLayout(compare_row)
        layout.addWidget(self.figure, 1)

        self.layer.currentIndexChanged.connect(self._on_layer_changed)
        self.channel.valueChanged.connect(self._on_channel_chosen)
        self.k.valueChanged.connect(lambda _v: self.show_top())
        self.show_as.currentIndexChanged.connect(lambda _i: self.show_top())
        self.find_button.clicked.connect(self.find)
        self.stop_button.clicked.connect(self.stop)
        self.grid.clicked.connect(self._show_image)
        self.compare.choice_changed.connect(self.show_compare)

    def figure_widget(self) -> QWidget:
        """All the tiles (also those scrolled out of sight)."""
        return self.grid

    def on_hidden_change(self) -> None:
        self.stop()

    def hideEvent(self, event) -> None:  # noqa: N802 (Qt override)
        super().hideEvent(event)
        self.stop()

    def clear_results(self) -> None:
        """Another project or other weights: the found images and the one looked at go."""
        self.stop()
        self.cache.clear()
        self.compare_cache.clear()
        self.compare_top = None
        self.grid.set_images([], [])
        self.compare_tiles.set_images([], [])
        self.image_view.image, self.image_view.overlay, self.image_view.rect_cells = None, None, None
        self.image_view.update()
        self.image_label.setText("")

    def refresh(self) -> None:
        self.stop()
        model = self.source.model
        if id(model) != self._cache_model:  # new weights: earlier passes no longer hold
            self.cache.clear()
            self._cache_model = id(model)
        parts = self.ready(self.caption, "Top dataset images")
        if parts is None:
            self.layer.clear()
            self.grid.set_images([], [])
            return
        _, _, split = parts
        self.caption.setText(self.caption.text() + f", searched over {min(len(split), MAX_IMAGES)} "
                             "validation images")
        current = self.layer.currentData()
        self.layer.blockSignals(True)
        self.layer.clear()
        for nid in [*self.source.map_layers(), model.output_id]:
            shape = self.source.layer_shape(nid)
            self.layer.addItem(f"{nid}  ({'×'.join(map(str, shape))})", nid)
        index = self.layer.findData(current)
        self.layer.setCurrentIndex(index if index >= 0 else 0)
        self.layer.blockSignals(False)
        chosen = self._channel_chosen and index >= 0  # the same layer at another epoch: the user's channel stays
        self._on_layer_changed()
        self._channel_chosen = chosen

    def _on_channel_chosen(self, _value: int) -> None:
        self._channel_chosen = True
        self.show_top()

    def _on_layer_changed(self) -> None:
        layer = self.layer.currentData()
        if layer is None:
            return
        shape = self.source.layer_shape(layer)
        self.channel.setRange(0, (shape[0] if shape else 1) - 1)
        self._channel_chosen = False  # (after the range, which can move the value)
        self.channel.setPrefix("class " if layer == getattr(self.source.model, "output_id", None) else "channel ")
        if layer in self.cache:
            self.show_top()
        else:
            self.find()

    def find(self) -> None:
        """Start the pass over the validation images for the chosen layer (unless it is cached)."""
        model, split, data = self.source.model, self.source.split(), self.source.data
        layer = self.layer.currentData()
        if model is None or split is None or data is None or layer is None:
            return
        self.stop()
        if layer in self.cache:
            self.show_top()
            return
        self.grid.set_images([], [])
        self.progress.setValue(0)
        self._pass_layer = layer
        device = self.source.device
        model_on, images = self.source.model_on(device), split.images[:MAX_IMAGES]
        self.start_job(lambda progress: layer_peaks(model_on, images, data.mean, data.std, layer, progress=progress),
                       items=self._on_items, finished=self._sync_buttons, failed=self._on_failed)
        self.image_label.setText(f"Searching the validation images on {device.type.upper()}…")
        self._sync_buttons()

    def stop(self) -> None:
        if self.stop_job():
            self.image_label.setText("Stopped: press Find to search again")
        self.cancel_background("compare")
        self._compare_pending = None
        self._sync_buttons()

    def on_cancelled(self) -> None:
        super().on_cancelled()
        self._sync_buttons()

    def _sync_buttons(self) -> None:
        self.find_button.setEnabled(not self.running)
        self.stop_button.setEnabled(self.running)

    def _on_items(self, items: list) -> None:
        fraction, peaks = items[-1]
        self.progress.setValue(round(100 * fraction))
        if peaks is not None:
            self.cache[self._pass_layer] = peaks
            if self.layer.currentData() == self._pass_layer:
                self._skip_a_dead_first_channel(peaks)
                self.show_top()

    def _skip_a_dead_first_channel(self, peaks: LayerPeaks) -> None:
        """A search that ends on channel 0, not chosen by the user, where channel 0 is the same on every image
        (a ReLU channel that never fires: sixteen crops labelled 0) shows the strongest channel instead and says
        so; a channel the user picks is shown as it is."""
        self._channel_note = None
        layer = self.layer.currentData()
        if not self.skip_dead_first_channel or self._channel_chosen or self.channel.value() != 0:
            return
        if not peaks.constant(0) or layer == getattr(self.source.model, "output_id", None):  # (a class score)
            return
        live = peaks.strongest_channel()
        if live == 0 or peaks.constant(live):
            return
        self.channel.blockSignals(True)  # (show_top follows)
        self.channel.setValue(live)
        self.channel.blockSignals(False)
        value = float(peaks.values[0, 0]) if peaks.values.size else 0.0
        self._channel_note = (layer, live, f"Channel 0 of {layer} is {value:.3g} on every image: showing channel "
                                           f"{live}, the strongest")

    def _on_failed(self, message: str) -> None:
        self.image_label.setText(f"The search failed: {message}")
        self._sync_buttons()

    def show_top(self) -> None:
        """The chosen channel's top k from the cached pass (nothing while the pass runs)."""
        peaks = self.cache.get(self.layer.currentData())
        split = self.source.split()
        if peaks is None or split is None:
            return
        channel = min(self.channel.value(), peaks.channels - 1)
        self.top = peaks.top(channel, self.k.value())
        images = split.images.numpy() if hasattr(split.images, "numpy") else split.images
        if self.show_as.currentData() == "crops" and len(self.source.layer_shape(self.layer.currentData())) == 3:
            tiles = self.top.crops(infer(self.source.graph), self.layer.currentData(), images)
        else:
            tiles = [images[int(i)] for i in self.top.indices]
        self.tiles.set_images([grey_image(t) for t in tiles],
                             [f"#{int(i)}  {v:.3g}" for i, v in zip(self.top.indices, self.top.values)])
        self.progress.setValue(100)
        self._show_image(self.grid.selected if self.grid.selected is not None else 0)
        self.show_compare()

    # --- Compare with -------------------------------------------------------------------------
    def show_compare(self) -> None:
        """The compared network's top patches of the shown layer and channel over the same images: from its
        pass (cached per epoch and layer) or a pass of its own in the background."""
        chosen, label, layer = self.compare.chosen(), self.compare.label, self.layer.currentData()
        self.compare_area.setVisible(bool(label))
        self.compare_top, self.compare_reason = None, ""
        self.compare_tiles.set_images([], [])
        model, data, split = self.source.model, self.source.data, self.source.split()
        if chosen is None or model is None or data is None or split is None or layer is None:
            self.compare_label.setText("")
            return
        self.compare_title.setText(label)
        unit = None if layer == model.output_id else layer
        other, graph, reason = compared_unit(self.source, chosen, label, data.input_shape, unit,
                                             [self.channel.value()])
        if other is None:
            self.compare_reason = reason
            self.compare_label.setText(reason)
            return
        key = (*chosen, layer)
        if key not in self.compare_cache:
            if self._compare_pending != key:
                self._compare_pending = key
                self.run_in_background(
                    "compare", _peaks, other, split.images[:MAX_IMAGES], data.mean, data.std,
                    model.output_id if unit is None else unit, progress=True,
                    done=lambda peaks: self._on_compare_peaks(key, peaks, graph),
                    failed=lambda message: self._compare_failed(f"Comparison failed: {message}"))
            self.compare_label.setText("Searching the validation images…")
            return
        peaks, graph = self.compare_cache[key]
        self.compare_top = top = peaks.top(self.channel.value(), self.k.value())
        images = split.images.numpy() if hasattr(split.images, "numpy") else split.images
        if self.show_as.currentData() == "crops" and len(self.source.layer_shape(layer)) == 3:
            tiles = top.crops(infer(graph), layer, images)
        else:
            tiles = [images[int(i)] for i in top.indices]
        self.compare_tiles.set_images([grey_image(t) for t in tiles],
                                      [f"#{int(i)}  {v:.3g}" for i, v in zip(top.indices, top.values)])
        shared = len(set(map(int, top.indices)) & set(map(int, self.top.indices))) if self.top is not None else 0
        self.compare_label.setText(f"{shared} of its top {len(top.indices)} images are among these")

    def _on_compare_peaks(self, key: tuple, peaks: LayerPeaks, graph) -> None:
        if self._compare_pending == key:
            self._compare_pending = None
        self.compare_cache[key] = (peaks, graph)
        self.show_compare()

    def _compare_failed(self, message: str) -> None:
        self._compare_pending = None
        self.compare_reason = message
        self.compare_label.setText(message)

    def _show_image(self, index: int) -> None:
        split, top = self.source.split(), self.top
        if split is None or top is None or index >= len(top.indices):
            return
        i = int(top.indices[index])
        image = split.images[i].numpy()
        _, h, w = image.shape
        self.image_view.set_image(grey_image(image), (h, w))
        layer = self.layer.currentData()
        region = None
        if len(self.source.layer_shape(layer)) == 3:
            row, col = (int(v) for v in top.positions[index])
            region = theoretical_region(infer(self.source.graph), layer, row, col, (h, w))
        self.image_view.rect_cells = region
        self.image_view.update()
        names = self.source.data.class_names
        label = names[int(split.labels[i])] if self.source.data is not None else "?"
        where = f", strongest at row {int(top.positions[index][0])}, column {int(top.positions[index][1])}" \
            if region is not None else ""
        text = f"Validation image #{i} ({label}): peak {float(top.values[index]):.3g}{where}"
        note = self._channel_note
        if note is not None and note[:2] == (layer, self.channel.value()):
            text = f"{note[2]}.\n{text}"
        self.image_label.setText(text)

"""The Attribution panel: which pixels a class score depends on, by three methods side by side.

For one validation image and a class (the predicted one by default): saliency (the size of
the input gradient), Grad-CAM on a chosen convolutional layer, and integrated gradients
from a black or mean-grey baseline, each as a heat map over the image with an opacity
slider. The maps are computed in the background (integrated gradients reports its
progress); a new choice cancels the running computation.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ...core.progress import Progress
from ...inspect.activations import predict
from ...inspect.attribution import (
    grad_cam,
    integrated_gradients_delta,
    integrated_gradients_steps,
    saliency,
)
from ...inspect.snapshot import prepare
from .imaging import grey_image, heat_overlay
from .panel import InspectPanel
from .receptive_panel import PixelView
from .source import ModelSource

PREDICTED = -1
METHODS = (
    ("saliency", "Saliency", "|∂ score / ∂ pixel| (Simonyan et al. 2013): where a small change moves the score most"),
    ("gradcam", "Grad-CAM", "Feature-map channels weighted by their mean gradient (Selvaraju et al. 2017): where "
                            "the evidence for the class lies, at the layer's resolution"),
    ("ig", "Integrated gradients", "Gradients averaged along the path from the baseline to the image, times the "
                                   "difference (Sundararajan et al. 2017); they add up to the change in score"),
)


def _work(model, x01, chosen, mean, std, layer, steps, baseline,
          progress: Progress | None = None) -> Iterator[tuple[str, object]]:
    """``("saliency", ((class, probability), explained class, map))``, ``("gradcam", map)``, then
    ``("progress", fraction)`` … ``("ig", (map, gap))``.

    ``chosen``: the class to explain, or None for the predicted one. The prediction comes with the
    first map (one item: the job hands on the first item at once, later ones at its pace).
    """
    top = predict(model, prepare(x01, mean, std), k=1)[0]
    target = torch.tensor([top[0] if chosen is None else int(chosen)])
    yield "saliency", (top, int(target[0]), saliency(model, x01, target, mean, std)[0].numpy())
    if layer:
        yield "gradcam", grad_cam(model, x01, target, mean, std, layer)[0].numpy()
    for fraction, attributions in integrated_gradients_steps(model, x01, target, mean, std, baseline=baseline,
                                                              steps=steps, progress=progress):
        if attributions is None:
            yield "progress", fraction
            continue
        gap = integrated_gradients_delta(model, x01, target, mean, std, attributions, baseline=baseline)
        total = float(attributions.sum())
        yield "ig", (attributions[0].numpy(), float(gap[0]), total)


def _unit(values: np.ndarray, peak: float | None = None) -> np.ndarray:
    """Scale a non-negative map to [0, 1] by ``peak`` (by default its maximum; a flat map stays 0)."""
    if peak is None:
        peak = float(values.max()) if values.size else 0.0
    return np.clip(values / peak, 0.0, 1.0) if peak > 0 else np.zeros_like(values)


class AttributionPanel(InspectPanel):
    """Saliency, Grad-CAM and integrated gradients of one image, overlaid on it."""

    def __init__(self, source: ModelSource, parent: QWidget | None = None) -> None:
        super().__init__(source, parent)
        self.maps: dict[str, np.ndarray] = {}  # method → map as shown, in [0, 1], (H, W)
        self.raw_maps: dict[str, np.ndarray] = {}  # method → map before scaling, non-negative, (H, W)
        #: Per method, the value the brightest heat means; a method not in it: its map's own maximum.
        #: Fixed values give several images (the frames of an animation) one colour scale.
        self.peaks: dict[str, float] = {}
        self.ig_gap: tuple[float, float] | None = None  # (completeness gap, sum of attributions)
        self.target_class = 0
        self.caption = QLabel(self)
        self.caption.setWordWrap(True)
        self.index = QSpinBox(self)
        self.index.setPrefix("validation image ")
        self.target = QComboBox(self)
        self.target.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.target.setToolTip("The class whose score is explained (the network's answer by default)")
        self.layer = QComboBox(self)
        self.layer.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.layer.setToolTip("Grad-CAM's layer: the last convolutional map is the usual choice")
        self.steps = QSpinBox(self)
        self.steps.setRange(2, 1024)
        self.steps.setValue(64)
        self.steps.setSuffix(" IG steps")
        self.steps.setToolTip("Points on the path from the baseline: more steps, smaller completeness gap")
        self.baseline = QComboBox(self)
        self.baseline.addItem("black baseline", "black")
        self.baseline.addItem("mean-grey baseline", "mean")
        self.baseline.setToolTip("Integrated gradients' reference image: what 'no information' looks like")
        self.opacity = QSlider(Qt.Orientation.Horizontal, self)
        self.opacity.setRange(0, 100)
        self.opacity.setValue(90)
        self.opacity.setMaximumWidth(140)
        self.opacity.setToolTip("Opacity of the heat maps over the image")
        self.progress = QProgressBar(self)
        self.progress.setRange(0, 100)
        self.progress.setMaximumWidth(140)
        self.prediction = QLabel(self)
        self.prediction.setWordWrap(True)

        self.original_view = PixelView(self)
        self.views: dict[str, PixelView] = {}
        self.labels: dict[str, QLabel] = {}
        self.figure = QWidget(self)  # the image and the three maps, as Export Figure draws them
        grid = QGridLayout(self.figure)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.addWidget(QLabel("Image", self), 0, 0)
        grid.addWidget(self.original_view, 1, 0)
        grid.addWidget(self.prediction, 2, 0)
        for column, (key, title, tip) in enumerate(METHODS, start=1):
            header = QLabel(title, self)
            header.setToolTip(tip)
            view = PixelView(self)
            view.setToolTip(tip)
            label = QLabel(self)
            label.setWordWrap(True)
            self.views[key], self.labels[key] = view, label
            grid.addWidget(header, 0, column)
            grid.addWidget(view, 1, column)
            grid.addWidget(label, 2, column)
        for column in range(4):
            grid.setColumnStretch(column, 1)
        grid.setRowStretch(1, 1)

        controls = QHBoxLayout()
        for w in (self.index, QLabel("class", self), self.target, QLabel("Grad-CAM layer", self), self.layer,
                  self.steps, self.baseline, QLabel("opacity", self), self.opacity, self.progress):
            controls.addWidget(w)
        controls.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.caption)
        layout.addLayout(controls)
        layout.addWidget(self.figure, 1)

        self._debounce = QTimer(self)  # arrows held on the image number compute once
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(120)
        self._debounce.timeout.connect(self.compute)
        for signal in (self.index.valueChanged, self.target.currentIndexChanged, self.layer.currentIndexChanged,
                       self.steps.valueChanged, self.baseline.currentIndexChanged):
            signal.connect(self._on_choice)
        self.opacity.valueChanged.connect(lambda _v: self._show_maps())

    def on_hidden_change(self) -> None:
        self._cancel()

    def hideEvent(self, event) -> None:  # noqa: N802 (Qt override)
        super().hideEvent(event)
        self._cancel()

    def _on_choice(self, *_args) -> None:
        """A new image, class or setting: the running maps are of no use any more; compute anew shortly."""
        self._cancel()
        self._debounce.start()

    def _cancel(self) -> None:
        self._debounce.stop()
        if self.running:
            self.job.cancel()

    def figure_widget(self) -> QWidget:
        """What Export Figure draws: the views, without the controls above them."""
        return self.figure

    def refresh(self) -> None:
        self._cancel()
        self.maps, self.raw_maps, self.ig_gap = {}, {}, None  # of the previous model: nothing of it stays on show
        for view in (self.original_view, *self.views.values()):
            view.image, view.overlay = None, None
            view.update()
        for label in self.labels.values():
            label.setText("")
        self.prediction.setText("")
        parts = self.ready(self.caption, "Attribution")
        if parts is None:
            return
        model, data, split = parts
        self.caption.setText(self.caption.text() + ". Brighter = the class score depends more on those pixels.")
        self.index.blockSignals(True)
        self.index.setRange(0, len(split) - 1)
        self.index.blockSignals(False)
        labels = ["predicted class"] + [f"{i}: {name}" for i, name in enumerate(data.class_names)]
        if [self.target.itemText(i) for i in range(self.target.count())] != labels:
            self.target.blockSignals(True)
            self.target.clear()
            self.target.addItem(labels[0], PREDICTED)
            for i, text in enumerate(labels[1:]):
                self.target.addItem(text, i)
            self.target.blockSignals(False)
        layers = self.source.map_layers()
        current = self.layer.currentData()
        self.layer.blockSignals(True)
        self.layer.clear()
        for nid in layers:
            self.layer.addItem(nid, nid)
        preferred = current if current in layers else self._default_layer(layers)
        self.layer.setCurrentIndex(max(self.layer.findData(preferred), 0))
        self.layer.blockSignals(False)
        self.compute()

    def _default_layer(self, layers: list[str]) -> str | None:
        """``default_cam_layer``'s choice (the last map with more than one position) from the source's
        shapes: no forward pass on the GUI thread."""
        spatial = [nid for nid in layers if (shape := self.source.layer_shape(nid)) and shape[1] * shape[2] > 1]
        return spatial[-1] if spatial else (layers[-1] if layers else None)

    def compute(self) -> None:
        """Start the three maps for the current image, class and settings (cancelling any running)."""
        model, data, split = self.source.model, self.source.data, self.source.split()
        if model is None or data is None or split is None:
            return
        self._cancel()
        i = self.index.value()
        image = split.images[i]
        x01 = image[None].float() / 255.0
        chosen = self.target.currentData()
        chosen = None if chosen in (None, PREDICTED) else int(chosen)
        self._true_class = int(split.labels[i])
        self.prediction.setText("…")
        _, h, w = data.input_shape
        self.original_view.set_image(grey_image(image.numpy()), (h, w))
        self.maps, self.raw_maps, self.ig_gap = {}, {}, None
        dimmed = grey_image((image.numpy() * 0.4).astype(np.uint8))  # the heat stands out over a dark image
        for key, view in self.views.items():
            view.set_image(dimmed, (h, w))
            view.overlay = None
            self.labels[key].setText("…")
        baseline = None if self.baseline.currentData() == "black" else \
            torch.tensor(data.mean, dtype=torch.float32).view(-1, 1, 1).expand(*data.input_shape).clone()
        self.progress.setValue(0)
        args = (model, x01, chosen, data.mean, data.std, self.layer.currentData(), self.steps.value(), baseline)
        self.start_job(lambda progress: _work(*args, progress), items=self._on_items,
                       failed=lambda message: self.caption.setText(f"Attribution failed: {message}"))

    def _on_items(self, items: list) -> None:
        for key, value in items:
            if key == "saliency":
                (predicted, probability), self.target_class, value = value
                names = tuple(self.source.data.class_names) if self.source.data is not None else ()
                true, says, explained = (names[c] if c < len(names) else str(c)
                                         for c in (self._true_class, predicted, self.target_class))
                self.prediction.setText(f"true: {true}\nsays: {says} ({probability:.1%})\nexplaining: {explained}")
                self.raw_maps["saliency"] = value
                self.labels["saliency"].setText(f"largest |gradient| {float(value.max()):.3g} per pixel unit")
            elif key == "progress":
                self.progress.setValue(round(100 * value))
            elif key == "gradcam":
                self.raw_maps["gradcam"] = value
                layer = self.layer.currentData()
                size = "×".join(map(str, (self.source.layer_shape(layer) or (0, 0, 0))[1:]))
                self.labels["gradcam"].setText(f"on {layer} ({size} map, upsampled)" if value.max() > 0
                                               else f"no positive evidence for the class in {layer}")
            elif key == "ig":
                attributions, gap, total = value
                self.raw_maps["ig"] = np.abs(attributions).sum(axis=0)
                self.ig_gap = (gap, total)
                change = total - gap
                relative = abs(gap) / max(abs(change), 1e-12)
                self.labels["ig"].setText(f"sum {total:.3g} vs score change {change:.3g} "
                                          f"(gap {relative:.1%}: {'fine' if relative < 0.05 else 'add steps'})")
                self.progress.setValue(100)
        self._show_maps()

    def _show_maps(self) -> None:
        for key, view in self.views.items():
            raw = self.raw_maps.get(key)
            if raw is not None:
                self.maps[key] = _unit(raw, self.peaks.get(key))
            values = self.maps.get(key)
            view.overlay = heat_overlay(values) if values is not None else None
            view.overlay_opacity = self.opacity.value() / 100
            view.update()

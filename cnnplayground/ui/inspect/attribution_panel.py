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
from ..jobs import GeneratorJob
from .compare import (
    CompareChooser,
    CompareColumns,
    ElidedLabel,
    compared_network,
    difference_image,
    symmetric_difference,
)
from .imaging import ColorBar, grey_image, heat_overlay
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


def compared_map(model, x01, target: int, mean, std, method: str, layer: str | None, steps: int,
                 baseline) -> Iterator[tuple[str, object]]:
    """One method's map of the compared network for class ``target``, scaled to [0, 1] as the panel shows
    it: ``("progress", fraction)`` … then ``("map", (H, W) array)`` (a generator: IG can be cancelled)."""
    t = torch.tensor([int(target)])
    if method == "saliency":
        yield "map", _unit(saliency(model, x01, t, mean, std)[0].numpy())
    elif method == "gradcam":
        yield "map", grad_cam(model, x01, t, mean, std, str(layer))[0].numpy()
    else:
        for fraction, attributions in integrated_gradients_steps(model, x01, t, mean, std, baseline=baseline,
                                                                  steps=steps):
            if attributions is None:
                yield "progress", fraction
            else:
                yield "map", _unit(np.abs(attributions[0].numpy()).sum(axis=0))


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
        # Compare with: one method's map of a stored epoch's network, same image and class, and B − A.
        self.compare = CompareChooser(source, self)
        self.compare_method = QComboBox(self)
        for key, title, _tip in METHODS:
            self.compare_method.addItem(title, key)
        self.compare_method.setToolTip("The method whose map is compared")
        self.compare_job: GeneratorJob | None = None
        self.compare_map: np.ndarray | None = None  # the compared network's map in [0, 1], (H, W)
        self.difference_map: np.ndarray | None = None  # B − A of the maps as shown
        self.compare_reason = ""
        self.compare_title = ElidedLabel(parent=self)
        self.compare_view = PixelView(self)
        self.compare_label = QLabel(self)
        self.compare_label.setWordWrap(True)
        self.difference_title = ElidedLabel(parent=self)
        self.difference_view = PixelView(self)
        self.difference_bar = ColorBar(self)

        self.original_view = PixelView(self)
        self.views: dict[str, PixelView] = {}
        self.labels: dict[str, QLabel] = {}
        self.figure = CompareColumns(480, self)  # the image and the maps, as Export Figure draws them
        #: The image and the three maps (a grid: a row of titles, of views, of numbers), beside the comparison.
        self.maps_area = maps = QWidget(self)
        self.figure.add(maps, 2)
        grid = QGridLayout(maps)
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
        self.compare_area = QWidget(self)
        compare_grid = QGridLayout(self.compare_area)
        compare_grid.setContentsMargins(0, 0, 0, 0)
        for column, (title, view, below) in enumerate(((self.compare_title, self.compare_view, self.compare_label),
                                                       (self.difference_title, self.difference_view,
                                                        self.difference_bar))):
            compare_grid.addWidget(title, 0, column)
            compare_grid.addWidget(view, 1, column)
            compare_grid.addWidget(below, 2, column)
            compare_grid.setColumnStretch(column, 1)
        compare_grid.setRowStretch(1, 1)
        self.figure.add(self.compare_area, 1)
        self.compare_area.setVisible(False)
        for view in (self.original_view, *self.views.values(), self.compare_view, self.difference_view):
            view.setMinimumSize(96, 96)  # side by side they fit a 1280-pixel window; narrower, they go below
            view.hint = 160  # with the compared maps below, the panel still fits a 720-pixel window

        controls = QHBoxLayout()
        for w in (self.index, QLabel("class", self), self.target, QLabel("Grad-CAM layer", self), self.layer,
                  self.steps, self.baseline):
            controls.addWidget(w)
        controls.addStretch(1)
        compare_row = self.compare.row(self)
        compare_row.addWidget(self.compare_method)
        compare_row.addStretch(1)
        for w in (QLabel("opacity", self), self.opacity, self.progress):  # here, the first row fits 1280 pixels
            compare_row.addWidget(w)
        layout = QVBoxLayout(self)
        layout.addWidget(self.caption)
        layout.addLayout(controls)
        layout.addLayout(compare_row)
        layout.addWidget(self.figure, 1)

        self._debounce = QTimer(self)  # arrows held on the image number compute once
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(120)
        self._debounce.timeout.connect(self.compute)
        for signal in (self.index.valueChanged, self.target.currentIndexChanged, self.layer.currentIndexChanged,
                       self.steps.valueChanged, self.baseline.currentIndexChanged):
            signal.connect(self._on_choice)
        self.opacity.valueChanged.connect(lambda _v: self._show_maps())
        self.compare.choice_changed.connect(self.compute_compare)
        self.compare_method.currentIndexChanged.connect(lambda _i: self.compute_compare())

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
        if self.compare_job is not None:
            self.compare_job.cancel()
            self.compare_job = None

    def figure_widget(self) -> QWidget:
        """What Export Figure draws: the views, without the controls above them."""
        return self.figure

    def refresh(self) -> None:
        self._cancel()
        self.maps, self.raw_maps, self.ig_gap = {}, {}, None  # of the previous model: nothing of it stays on show
        self.compare_map = None
        self._show_compare()
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
        self.compare_map = None
        self._dimmed = dimmed = grey_image((image.numpy() * 0.4).astype(np.uint8))  # the heat stands out
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
                self.compute_compare()  # the class to explain is known now
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
        self._show_compare()

    # --- Compare with -------------------------------------------------------------------------
    def compute_compare(self) -> None:
        """The compared network's map of the chosen method for the same image and class (the class these
        weights explain), in the background; the image, class and settings stay."""
        if self.compare_job is not None:
            self.compare_job.cancel()
            self.compare_job = None
        self.compare_map, self.compare_reason = None, ""
        chosen, data, split = self.compare.chosen(), self.source.data, self.source.split()
        if chosen is None or data is None or split is None or "saliency" not in self.maps:
            self._show_compare()  # without the class explained here (it comes with the first map): later
            return
        label, method = self.compare.label, self.compare_method.currentData()
        model, _graph, reason = compared_network(self.source, chosen, label, data.input_shape)
        if model is None:
            self._show_compare(reason)
            return
        layer = self.layer.currentData()
        classes = model.output_shape[-1] if model.output_shape else None
        if method == "gradcam" and layer not in model.layer_ids:
            problem = f"{label}'s network has no layer {layer} for Grad-CAM"
        elif classes is not None and self.target_class >= classes:
            problem = f"{label}'s network has no class {self.target_class}"
        else:
            problem = ""
        if problem:
            self._show_compare(problem)
            return
        image = split.images[self.index.value()]
        baseline = None if self.baseline.currentData() == "black" else \
            torch.tensor(data.mean, dtype=torch.float32).view(-1, 1, 1).expand(*data.input_shape).clone()
        work = compared_map(model, image[None].float() / 255.0, self.target_class, data.mean, data.std, method,
                            layer, self.steps.value(), baseline)
        self.compare_job = GeneratorJob(work, parent=self)
        self.compare_job.progressed.connect(self._on_compare_items)
        self.compare_job.failed.connect(lambda message: self._show_compare(f"Comparison failed: {message}"))
        self.compare_job.start()
        self._show_compare()

    def _on_compare_items(self, items: list) -> None:
        for key, value in items:
            if key == "map":
                self.compare_map = value
        self._show_compare()

    def _show_compare(self, problem: str = "") -> None:
        label = self.compare.label
        self.compare_area.setVisible(bool(label))
        self.difference_map = None
        if problem:
            self.compare_reason = problem
        if not label:
            return
        method = self.compare_method.currentData()
        title = self.compare_method.currentText()
        self.compare_title.setText(f"{title}, {label}")
        self.compare_label.setText(self.compare_reason or ("" if self.compare_map is not None else "…"))
        mine = self.maps.get(method)
        image = getattr(self, "_dimmed", None)
        size = tuple(self.source.data.input_shape[1:]) if self.source.data is not None else (1, 1)
        for view in (self.compare_view, self.difference_view):
            view.overlay = None
            if image is not None and not self.compare_reason:
                view.set_image(image, size)
            else:
                view.image = None
        if self.compare_map is not None and not self.compare_reason:
            self.compare_view.overlay = heat_overlay(self.compare_map)
            self.compare_view.overlay_opacity = self.opacity.value() / 100
        if self.compare_map is not None and mine is not None and not self.compare_reason:
            self.difference_map, top = symmetric_difference(self.compare_map, mine)
            self.difference_view.image = difference_image(self.difference_map, top)
            self.difference_bar.set_range(-top, top)
            self.difference_title.setText(f"Difference ±{top:.3g} ({label} − these)")
        else:
            self.difference_title.setText("Difference")
        self.difference_bar.setVisible(self.difference_map is not None)
        self.compare_view.update()
        self.difference_view.update()

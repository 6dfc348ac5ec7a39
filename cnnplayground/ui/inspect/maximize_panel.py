"""The Max Activation panel: what image makes a unit fire hardest?

Choose a layer and a channel (or a class of the output) and press Visualize: an image
grows from faint noise by gradient ascent, shown as it forms, with the unit's value
per step. The regularizers (L2, total variation, jitter, scale, rotation, blur, and the
decorrelated Fourier parameterization) can be switched and weighed. Gallery renders the
first channels of the layer side by side, all optimized in one batch. The work runs in
the background on the project's training device; Stop ends it at the next step.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
import torch
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from ...core.progress import Progress
from ...data.augment import normalize
from ...inspect.maximize import MaximizeSettings, maximize_many, objective_layer
from ..jobs import GeneratorJob
from .compare import CompareChooser, CompareColumns, ElidedLabel, compared_unit
from .imaging import FittedGrid, grey_image, theme_plot
from .panel import InspectPanel
from .receptive_panel import PixelView
from .source import ModelSource

#: Channels a gallery shows at most (the first ones of the layer).
GALLERY_MAX = 64
#: Validation images the unit's typical value is measured on.
REFERENCE_IMAGES = 256
OUTPUT = "__output__"


@dataclass(frozen=True)
class Reference:
    """The unit's value on dataset images: the bar a maximized image is judged by."""

    mean: np.ndarray  # (K,)
    max: np.ndarray  # (K,)


def _work(model, shape, layer, channels, mean, std, settings, images01,
          progress: Progress | None = None) -> Iterator[object]:
    """The job: the units' values on dataset images first (if any), then every optimization step."""
    unit_layer = None if layer == OUTPUT else objective_layer(model, layer)
    if images01 is not None:
        device = next((p.device for p in model.parameters()), torch.device("cpu"))
        parts = []
        with torch.no_grad():
            for start in range(0, len(images01), 64):
                x = normalize(images01[start:start + 64].to(device).float() / 255.0, mean, std)
                out = model(x) if unit_layer is None else model.forward_all(x)[unit_layer]
                parts.append((out.flatten(2).mean(dim=2) if out.dim() == 4 else out)[:, channels].float().cpu())
                yield None  # a point where Stop is heard
        values = torch.cat(parts).numpy()
        yield Reference(values.mean(axis=0), values.max(axis=0))
    yield from maximize_many(model, shape, unit_layer, channels, mean, std, settings, progress=progress)


class MaximizePanel(InspectPanel):
    """Activation maximization of one unit, or a gallery of a layer's channels."""

    def __init__(self, source: ModelSource, parent: QWidget | None = None) -> None:
        super().__init__(source, parent)
        self.mode = ""  # "unit" or "gallery" while a job runs or after it
        self.history: list[float] = []  # the unit's value per step (single unit)
        self.reference: Reference | None = None
        self.last = None  # the newest GalleryStep
        self.channels: list[int] = []
        self._caption_text = ""
        self.note = ""  # which layer is really optimized, when not the chosen one
        #: The last optimization asked for: ``(mode, layer, channels, settings, mean, std)`` (to compare it).
        self.request: tuple | None = None

        self.caption = QLabel(self)
        self.caption.setWordWrap(True)
        self.layer = QComboBox(self)
        self.layer.setToolTip("The layer whose unit is maximized; the output maximizes a class score (logit)")
        self.channel = QSpinBox(self)
        self.channel.setPrefix("channel ")
        self.channel.setToolTip("The channel whose mean activation over the map is maximized")
        self.target = QComboBox(self)
        self.target.setToolTip("The class whose score (before softmax) is maximized")
        self.steps = QSpinBox(self)
        self.steps.setRange(1, 5000)
        self.steps.setValue(MaximizeSettings.steps)
        self.steps.setToolTip("Gradient-ascent steps (Adam)")
        self.learning_rate = self._number(MaximizeSettings.learning_rate, 1e-4, 10.0, 4,
                                          "Adam's step size on the image parameters")
        self.fourier = QCheckBox("Fourier (decorrelated) image", self)
        self.fourier.setChecked(MaximizeSettings.fourier)
        self.fourier.setToolTip("Optimize the image's spectrum scaled by 1/frequency: low frequencies move "
                                "first, so the image stays smooth (Olah et al. 2017)")
        self.l2 = self._number(MaximizeSettings.l2, 0.0, 1.0, 5, "Pull towards grey (0 = off)")
        self.tv = self._number(MaximizeSettings.total_variation, 0.0, 1.0, 5,
                               "Total variation: penalize differences between neighbours (0 = off)")
        self.jitter = QSpinBox(self)
        self.jitter.setRange(0, 32)
        self.jitter.setValue(MaximizeSettings.jitter)
        self.jitter.setSuffix(" px")
        self.jitter.setToolTip("Shift the image randomly by up to this many pixels each step (0 = off)")
        self.scale = self._number(MaximizeSettings.scale, 0.0, 0.5, 3, "Random zoom of ± this fraction each step")
        self.rotate = self._number(MaximizeSettings.rotate, 0.0, 45.0, 1, "Random rotation of ± this many degrees")
        self.blur_every = QSpinBox(self)
        self.blur_every.setRange(0, 1000)
        self.blur_every.setValue(8)
        self.blur_every.setSpecialValueText("never")
        self.blur_every.setToolTip("Blur the image every this many steps (pixel images only; the Fourier "
                                   "image is smooth already)")
        self.run_button = QPushButton("Visualize", self)
        self.run_button.setToolTip("Optimize an image for the chosen unit, from faint noise")
        self.gallery_button = QPushButton("Gallery", self)
        self.gallery_button.setToolTip(f"One image for each of the layer's first {GALLERY_MAX} channels, "
                                       "all optimized together")
        self.stop_button = QPushButton("Stop", self)
        self.stop_button.setToolTip("Stop after the current step; the image so far stays")
        self.stop_button.setEnabled(False)
        self.progress = QProgressBar(self)
        self.progress.setRange(0, 100)
        self.status = QLabel(self)
        self.status.setWordWrap(True)
        # Compare with: the same unit(s), settings and seed optimized through a stored epoch's network.
        self.compare = CompareChooser(source, self)
        self.compare.setToolTip("Optimize the same unit with the same settings and seed through a stored epoch "
                                "of a run, shown beside this (matched by layer id)")
        self.compare_job: GeneratorJob | None = None
        self.compare_last = None  # the compared network's newest GalleryStep
        self.compare_reason = ""
        self.compare_title = ElidedLabel(parent=self)
        self.compare_view = PixelView(self)
        self.compare_view.setMinimumSize(96, 96)
        self.compare_view.hint = 160  # below the image when narrow, the panel still fits a 720-pixel window
        self.compare_view.setToolTip("The image optimized for the same unit through the compared network")
        self.compare_gallery = FittedGrid(tile=72, parent=self)
        self.compare_label = QLabel(self)
        self.compare_label.setWordWrap(True)

        form = QFormLayout()
        form.addRow("Layer", self.layer)
        unit = QHBoxLayout()
        unit.addWidget(self.channel)
        unit.addWidget(self.target)
        form.addRow("Unit", unit)
        form.addRow("Steps", self.steps)
        form.addRow("Learning rate", self.learning_rate)
        form.addRow("", self.fourier)
        form.addRow("L2", self.l2)
        form.addRow("Total variation", self.tv)
        form.addRow("Jitter", self.jitter)
        form.addRow("Scale ±", self.scale)
        form.addRow("Rotate ±°", self.rotate)
        form.addRow("Blur every", self.blur_every)
        form.addRow("Compare with", self.compare)
        buttons = QHBoxLayout()
        for w in (self.run_button, self.gallery_button, self.stop_button):
            buttons.addWidget(w)
        left = QVBoxLayout()
        left.addLayout(form)
        left.addLayout(buttons)
        left.addWidget(self.progress)
        left.addWidget(self.status)
        left.addStretch(1)
        controls = QWidget(self)
        controls.setLayout(left)
        controls.setMaximumWidth(330)

        self.image_view = PixelView(self)
        self.image_view.setToolTip("The image so far (shown in pixel units, 0..1)")
        self.plot = pg.PlotWidget(self)
        self.plot.setTitle("Unit value per step")
        self.plot.setLabel("bottom", "step")
        self.plot.setMinimumWidth(220)
        theme_plot(self.plot)
        self.curve = self.plot.plot([], [], pen=pg.mkPen("#1f6fb4", width=2))
        self.mean_line = pg.InfiniteLine(angle=0, pen=pg.mkPen("#888", style=Qt.PenStyle.DashLine),
                                         label="dataset mean", labelOpts={"position": 0.85, "color": "#666"})
        self.max_line = pg.InfiniteLine(angle=0, pen=pg.mkPen("#d9480f", style=Qt.PenStyle.DashLine),
                                        label="dataset max", labelOpts={"position": 0.85, "color": "#d9480f"})
        for line in (self.mean_line, self.max_line):
            line.hide()
            self.plot.addItem(line)
        single = QWidget(self)
        single_layout = QHBoxLayout(single)
        single_layout.setContentsMargins(0, 0, 0, 0)
        single_layout.addWidget(self.image_view, 3)
        single_layout.addWidget(self.plot, 2)
        self.gallery = FittedGrid(tile=72, parent=self)
        self.grid = self.gallery.grid
        self.grid.setToolTip("Click a channel to visualize it on its own")
        self.views = QStackedWidget(self)
        self.views.addWidget(single)
        self.views.addWidget(self.gallery)
        self.compare_area = QWidget(self)
        compare_column = QVBoxLayout(self.compare_area)
        compare_column.setContentsMargins(0, 0, 0, 0)
        compare_column.addWidget(self.compare_title)
        compare_column.addWidget(self.compare_view, 1)
        compare_column.addWidget(self.compare_gallery, 1)
        compare_column.addWidget(self.compare_label)
        self.compare_area.setVisible(False)
        self.figure = CompareColumns(300, self)  # this beside the compared network's, below when narrow
        self.figure.add(self.views, 3)
        self.figure.add(self.compare_area, 2)

        body = QHBoxLayout()
        body.addWidget(controls)
        body.addWidget(self.figure, 1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.caption)
        layout.addLayout(body, 1)

        self.layer.currentIndexChanged.connect(self._on_layer_changed)
        self.fourier.toggled.connect(self._sync_enabled)
        self.run_button.clicked.connect(self.run_unit)
        self.gallery_button.clicked.connect(self.run_gallery)
        self.stop_button.clicked.connect(self.stop)
        self.grid.clicked.connect(self._on_tile_clicked)
        self.compare.choice_changed.connect(self.start_compare)
        self._sync_enabled()

    def _number(self, value: float, low: float, high: float, decimals: int, tip: str) -> QDoubleSpinBox:
        box = QDoubleSpinBox(self)
        box.setRange(low, high)
        box.setDecimals(decimals)
        box.setSingleStep(10 ** -(decimals - 1) if decimals > 1 else 1.0)
        box.setValue(value)
        box.setToolTip(tip)
        return box

    def figure_widget(self) -> QWidget:
        """The image with its value curve, or the gallery (without the controls); with the compared
        network's beside them when comparing."""
        if self.compare_area.isVisible():
            return self.figure
        return self.grid if self.views.currentIndex() == 1 else self.views.currentWidget()

    # --- state ------------------------------------------------------------------------------
    def settings(self) -> MaximizeSettings:
        """The optimization as the controls describe it."""
        return MaximizeSettings(steps=self.steps.value(), learning_rate=self.learning_rate.value(),
                                l2=self.l2.value(), total_variation=self.tv.value(), jitter=self.jitter.value(),
                                scale=self.scale.value(), rotate=self.rotate.value(),
                                blur_every=self.blur_every.value(), fourier=self.fourier.isChecked())

    def unit(self) -> tuple[str, int]:
        """``(layer, channel)``; the layer is ``OUTPUT`` for a class score."""
        layer = self.layer.currentData()
        return layer, (self.target.currentData() or 0) if layer == OUTPUT else self.channel.value()

    def _sync_enabled(self) -> None:
        output = self.layer.currentData() == OUTPUT
        self.channel.setVisible(not output)
        self.target.setVisible(output)
        self.blur_every.setEnabled(not self.fourier.isChecked())
        has_model = self.source.has_model and self.layer.count() > 0
        self.run_button.setEnabled(has_model and not self.running)
        self.gallery_button.setEnabled(has_model and not self.running)
        self.stop_button.setEnabled(self.running)

    def on_hidden_change(self) -> None:
        self.stop()

    def on_cancelled(self) -> None:
        super().on_cancelled()
        self._sync_enabled()

    def hideEvent(self, event) -> None:  # noqa: N802 (Qt override)
        super().hideEvent(event)
        self.stop()  # nobody is watching: no work for nothing

    # --- following the model ------------------------------------------------------------------
    def clear_results(self) -> None:
        """Another project or other weights: the optimized images and their curve go."""
        self.stop_job()
        self._stop_compare()
        self.mode, self.history, self.reference, self.last, self.channels, self.note = "", [], None, None, [], ""
        self.request, self.compare_last, self.compare_reason = None, None, ""
        self._show_compare()
        self.image_view.image = None
        self.image_view.update()
        self.curve.setData([], [])
        self.mean_line.hide()
        self.max_line.hide()
        self.gallery.set_images([], [])
        self.progress.setValue(0)
        self.status.setText("")
        self._sync_enabled()

    def refresh(self) -> None:
        """A new model (or data): the layer list; a running optimization keeps the weights it started with."""
        model = self.source.model
        if model is None:
            self.caption.setText(self.source.problem or "No network")
            self.layer.clear()
            self._sync_enabled()
            return
        self._caption_text = f"Max activation with {self.source.description}"
        missing = self.data_missing()
        self.caption.setText(self._caption_text + (f". {missing}" if missing else ""))
        current = self.layer.currentData()
        layers = self.source.map_layers()
        self.layer.blockSignals(True)
        self.layer.clear()
        for nid in layers:
            c, h, w = self.source.layer_shape(nid)
            self.layer.addItem(f"{nid}  ({c}×{h}×{w})", nid)
        self.layer.addItem(f"output: class score  ({model.output_id})", OUTPUT)
        index = self.layer.findData(current)
        self.layer.setCurrentIndex(index if index >= 0 else 0)
        self.layer.blockSignals(False)
        names = self.source.data.class_names if self.source.data is not None else None
        count = model.output_shape[0]
        labels = [f"{i}: {names[i]}" if names and i < len(names) else f"class {i}" for i in range(count)]
        if [self.target.itemText(i) for i in range(self.target.count())] != labels:
            self.target.blockSignals(True)
            self.target.clear()
            for i, text in enumerate(labels):
                self.target.addItem(text, i)
            self.target.blockSignals(False)
        self._on_layer_changed()

    def _on_layer_changed(self) -> None:
        layer = self.layer.currentData()
        if layer is not None and layer != OUTPUT:
            shape = self.source.layer_shape(layer)
            self.channel.setRange(0, (shape[0] if shape else 1) - 1)
        self._sync_enabled()

    # --- running --------------------------------------------------------------------------------
    def run_unit(self) -> None:
        """Optimize one image for the chosen unit."""
        layer, channel = self.unit()
        self._start("unit", layer, [channel])

    def run_gallery(self) -> None:
        """Optimize one image for each of the layer's first channels (a class each, for the output)."""
        layer = self.layer.currentData()
        count = self.source.model.output_shape[0] if layer == OUTPUT else self.source.layer_shape(layer)[0]
        self._start("gallery", layer, list(range(min(count, GALLERY_MAX))))

    def _start(self, mode: str, layer, channels: list[int]) -> None:
        model = self.source.model
        if model is None or layer is None:
            return
        self.stop()
        device = self.source.device
        data, split = self.source.data, self.source.split()
        mean = data.mean if data is not None else (0.5,) * model.input_shape[0]
        std = data.std if data is not None else (0.5,) * model.input_shape[0]
        images = split.images[:REFERENCE_IMAGES] if split is not None else None
        self.mode, self.channels, self.history, self.reference, self.last = mode, channels, [], None, None
        self.curve.setData([], [])
        for line in (self.mean_line, self.max_line):
            line.hide()
        self.views.setCurrentIndex(1 if mode == "gallery" else 0)
        if mode == "gallery":
            self.grid.set_images([], [])
        self.progress.setValue(0)
        what = "the class score" if layer == OUTPUT else f"{len(channels)} channels of {layer}" \
            if mode == "gallery" else f"{layer} channel {channels[0]}"
        through = objective_layer(model, None if layer == OUTPUT else layer)
        self.note = "" if through in (None, layer) else \
            f" ({layer} through its input {through}: a ReLU passes no gradient where it is 0)"
        self.status.setText(f"Optimizing {what}{self.note} on {device.type.upper()}…")
        settings = self.settings()
        args = (self.source.model_on(device), model.input_shape, layer, channels, mean, std, settings, images)
        self.start_job(lambda progress: _work(*args, progress), items=self._on_items,
                       finished=self._on_done, failed=self._on_failed)
        self.request = (mode, layer, channels, settings, mean, std)
        self.start_compare()
        self._sync_enabled()

    def stop(self) -> None:
        if self.stop_job():
            step = self.last.step if self.last is not None else 0
            self.status.setText(f"Stopped after {step} steps")
        self._stop_compare()
        self._sync_enabled()

    # --- Compare with -------------------------------------------------------------------------
    def _stop_compare(self) -> None:
        if self.compare_job is not None:
            self.compare_job.cancel()
            self.compare_job = None

    def start_compare(self) -> None:
        """The last optimization asked for (same unit(s), settings and seed) through the chosen epoch's
        network: a job of its own, the panel's own goes on."""
        self._stop_compare()
        self.compare_last, self.compare_reason = None, ""
        chosen, model = self.compare.chosen(), self.source.model
        if chosen is None or self.request is None or model is None:
            self._show_compare()
            return
        mode, layer, channels, settings, mean, std = self.request
        unit = None if layer == OUTPUT else layer
        other, _graph, reason = compared_unit(self.source, chosen, self.compare.label, model.input_shape, unit,
                                              channels)
        if other is None:
            self._show_compare(reason)
            return
        progress = Progress()
        work = maximize_many(other, model.input_shape, objective_layer(other, unit), channels, mean, std, settings,
                             progress=progress)
        self.compare_job = GeneratorJob(work, parent=self, progress=progress)
        self.compare_job.progressed.connect(self._on_compare_items)
        self.compare_job.failed.connect(lambda message: self._show_compare(f"Comparison failed: {message}"))
        self.compare_job.start()
        self.track_job(self.compare_job)
        self._show_compare()

    def _on_compare_items(self, items: list) -> None:
        self.compare_last = items[-1]
        self._show_compare()

    def _show_compare(self, problem: str = "") -> None:
        label = self.compare.label
        self.compare_area.setVisible(bool(label))
        if problem:
            self.compare_reason = problem
        if not label:
            return
        gallery = self.request is not None and self.request[0] == "gallery"
        self.compare_view.setVisible(not gallery)
        self.compare_gallery.setVisible(gallery)
        self.compare_title.setText(label)
        item = self.compare_last
        if item is None or self.compare_reason:
            self.compare_view.image = None
            self.compare_view.update()
            self.compare_gallery.set_images([], [])
            self.compare_label.setText(self.compare_reason or ("…" if self.request is not None else
                                                               "Press Visualize or Gallery"))
            return
        if gallery:
            self.compare_gallery.set_images([grey_image(im) for im in item.images],
                                            [f"{c}: {v:.2g}" for c, v in zip(self.request[2], item.activations)])
            self.compare_label.setText(f"{len(item.images)} images after {item.step} steps")
        else:
            image = item.images[0]
            self.compare_view.set_image(grey_image(image), image.shape[1:])
            self.compare_label.setText(f"Value {float(item.activations[0]):.3g} after {item.step} steps")

    def _on_items(self, items: list) -> None:
        steps = []
        for item in items:
            if isinstance(item, Reference):
                self.reference = item
            elif item is not None:
                steps.append(item)
        if not steps:
            return
        self.last = steps[-1]
        self.progress.setValue(round(100 * self.last.step / max(self.steps.value(), 1)))
        if self.mode == "unit":
            self.history.extend(float(step.activations[0]) for step in steps)
            self._show_unit()
        else:
            self._show_gallery()

    def _show_unit(self) -> None:
        item = self.last
        image = item.images[0]
        self.image_view.set_image(grey_image(image), image.shape[1:])
        self.curve.setData(np.arange(1, len(self.history) + 1), np.asarray(self.history))
        if self.reference is not None:
            self.mean_line.setValue(float(self.reference.mean[0]))
            self.max_line.setValue(float(self.reference.max[0]))
            self.mean_line.show()
            self.max_line.show()

    def _show_gallery(self) -> None:
        item = self.last
        names = self.source.data.class_names if self.source.data is not None else None
        layer = self.layer.currentData()
        captions = [(names[c] if names and layer == OUTPUT and c < len(names) else f"{c}") + f": {v:.2g}"
                    for c, v in zip(self.channels, item.activations)]
        self.gallery.set_images([grey_image(im) for im in item.images], captions)

    def _on_done(self) -> None:
        self.progress.setValue(100)
        item = self.last
        if item is not None:
            if self.mode == "unit":
                text = f"Value {float(item.activations[0]):.3g} after {item.step} steps{self.note}"
                if self.reference is not None:
                    text += (f" (dataset images: mean {float(self.reference.mean[0]):.3g}, "
                             f"max {float(self.reference.max[0]):.3g})")
            else:
                text = f"{len(self.channels)} images after {item.step} steps{self.note}; click one to look closer"
                if self.reference is not None:
                    beat = int((item.activations > self.reference.max).sum())
                    text += f". {beat} of {len(self.channels)} beat every dataset image"
            self.status.setText(text)
        self._sync_enabled()

    def _on_failed(self, message: str) -> None:
        self.status.setText(f"The optimization failed: {message}")
        self._sync_enabled()

    def _on_tile_clicked(self, index: int) -> None:
        if index >= len(self.channels):
            return
        channel = self.channels[index]
        if self.layer.currentData() == OUTPUT:
            self.target.setCurrentIndex(self.target.findData(channel))
        else:
            self.channel.setValue(channel)
        self.run_unit()

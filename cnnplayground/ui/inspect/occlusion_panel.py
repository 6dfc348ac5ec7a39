"""The Occlusion panel (Zeiler & Fergus): hide a patch of the image everywhere in turn; where does it hurt?

The map is computed a batch of patch positions at a time in a background job
(:class:`~..jobs.GeneratorJob`), so the window stays responsive; the map fills in as the
batches arrive and a new choice cancels the running computation. Two colour bars give the
maps' scales: the drop in probability over the image, and the probability itself.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QProgressBar, QSpinBox, QVBoxLayout, QWidget

from ...core.progress import Progress
from ...inspect.activations import predict
from ...inspect.occlusion import OcclusionMap, occlusion_steps
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
from .imaging import HEAT_LUT, SEQUENTIAL_LUT, ColorBar, grey_image, heat_overlay, rgb_image, sequential
from .panel import InspectPanel, fill_classes
from .receptive_panel import PixelView
from .source import ModelSource


def _occlusion_work(model, image: torch.Tensor, target: int, patch: int, stride: int,
                    progress: Progress | None = None) -> Iterator[tuple]:
    """``("prediction", (class, probability))``, then ``("map", (fraction done, OcclusionMap))`` per batch."""
    yield "prediction", predict(model, image, k=1)[0]
    for done, result in occlusion_steps(model, image, target, patch, stride, progress=progress):
        yield "map", (done, result)


class OcclusionPanel(InspectPanel):
    """Probability of a class as a grey patch slides over a validation image."""

    def __init__(self, source: ModelSource, parent: QWidget | None = None) -> None:
        super().__init__(source, parent)
        self.result: OcclusionMap | None = None
        self._prediction: tuple[int, float] | None = None
        #: The drop in probability the brightest heat means; None: the map's own largest drop.
        #: A fixed value gives several maps (the frames of an animation) one colour scale.
        self.drop_scale: float | None = None
        self.caption = QLabel(self)
        self.caption.setWordWrap(True)
        self.index = QSpinBox(self)
        self.index.setPrefix("validation image ")
        self.target = QComboBox(self)
        self.target.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.target.setToolTip("The class whose probability is mapped (the true class by default)")
        self.patch = QSpinBox(self)
        self.patch.setRange(1, 64)
        self.patch.setValue(7)
        self.patch.setSuffix(" px patch")
        self.patch.setToolTip("Side of the grey square (the training mean after normalization)")
        self.stride = QSpinBox(self)
        self.stride.setRange(1, 32)
        self.stride.setValue(2)
        self.stride.setPrefix("stride ")
        self.progress = QProgressBar(self)
        self.progress.setRange(0, 100)
        self.progress.setMaximumWidth(160)
        self.image_view = PixelView(self)
        self.image_view.setToolTip("The image with the drop in probability over it: red = hiding this hurts")
        self.map_view = PixelView(self)
        self.map_view.setToolTip("Probability of the class with the patch at each position (dark = low)")
        self.drop_bar = ColorBar(self, label_format="{:.1%}")
        self.drop_bar.setToolTip("Drop in the class's probability when the patch hides that place")
        self.drop_bar.set_range(0.0, 1.0, HEAT_LUT)
        self.probability_bar = ColorBar(self, label_format="{:.0%}")
        self.probability_bar.setToolTip("Probability of the class with the patch at each position")
        self.probability_bar.set_range(0.0, 1.0, SEQUENTIAL_LUT)
        self.summary = QLabel(self)
        self.summary.setWordWrap(True)
        # Compare with: the same image, class, patch and stride through a stored epoch's network, and B − A.
        self.compare = CompareChooser(source, self)
        self.compare_job: GeneratorJob | None = None
        self.compare_result: OcclusionMap | None = None
        self.difference_probability: np.ndarray | None = None  # B − A of the probability maps
        self.compare_reason = ""
        self.compare_title = ElidedLabel(parent=self)
        self.compare_view = PixelView(self)
        self.compare_view.setToolTip("The compared network's probability of the class with the patch at each "
                                     "position")
        self.compare_label = QLabel(self)
        self.compare_label.setWordWrap(True)
        self.difference_title = ElidedLabel(parent=self)
        self.difference_view = PixelView(self)
        self.difference_view.setToolTip("Its probability map minus this one: red where the compared network "
                                        "keeps more of the class with the patch there")
        self.difference_bar = ColorBar(self, label_format="{:.0%}")  # narrow: the title has ±2 decimals
        controls = QHBoxLayout()
        for widget in (self.index, QLabel("class", self), self.target, self.patch, self.stride, self.progress):
            controls.addWidget(widget)
        controls.addStretch(1)
        compare_row = self.compare.row(self)
        compare_row.addStretch(1)
        self.figure = CompareColumns(360, self)  # the views, as Export Figure draws them
        main = QWidget(self)
        self.figure.add(main, 2)
        views = QHBoxLayout(main)
        views.setContentsMargins(0, 0, 0, 0)
        left, right = QVBoxLayout(), QVBoxLayout()
        left.addWidget(QLabel("Where hiding hurts (drop in probability)", self))
        left.addWidget(self.image_view, 1)
        left.addWidget(self.drop_bar)
        right.addWidget(QLabel("Probability with the patch at each position", self))
        right.addWidget(self.map_view, 1)
        right.addWidget(self.probability_bar)
        views.addLayout(left, 1)
        views.addLayout(right, 1)
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
        for view in (self.image_view, self.map_view, self.compare_view, self.difference_view):
            view.setMinimumSize(96, 96)  # side by side they fit a 1280-pixel window; narrower, they go below
            view.hint = 160  # with the compared maps below, the panel still fits a 720-pixel window
        layout = QVBoxLayout(self)
        layout.addWidget(self.caption)
        layout.addLayout(controls)
        layout.addLayout(compare_row)
        layout.addWidget(self.figure, 1)
        layout.addWidget(self.summary)

        self.index.valueChanged.connect(self._on_image)
        for widget in (self.patch, self.stride):
            widget.valueChanged.connect(lambda _v: self.start())
        self.target.currentIndexChanged.connect(lambda _i: self.start())
        self.compare.choice_changed.connect(self.start_compare)

    def _stop(self) -> None:
        self.stop_job()
        if self.compare_job is not None:
            self.compare_job.cancel()
            self.compare_job = None
        self.progress.setValue(0)
        self.unsetCursor()

    def on_hidden_change(self) -> None:
        self._stop()  # a hidden panel computes nothing; it starts again when shown

    def hideEvent(self, event) -> None:  # noqa: N802 (Qt override)
        super().hideEvent(event)
        if self.running:
            self._stop()
            self.stale = True  # the map was not finished: redo it when shown

    def figure_widget(self) -> QWidget:
        """What Export Figure draws: the views, without the controls above them."""
        return self.figure

    def clear(self) -> None:
        """Nothing shown: no image, no map (another model, or none)."""
        self._stop()
        self.result, self._prediction = None, None
        self.compare_result = None
        self._show_compare()
        for view in (self.image_view, self.map_view):
            view.image = None
            view.overlay = None
            view.update()
        self.summary.setText("")

    def refresh(self) -> None:
        self.clear()
        parts = self.ready(self.caption, "Occlusion sensitivity")
        if parts is None:
            return
        _, data, split = parts
        self.index.setRange(0, len(split) - 1)
        fill_classes(self.target, data.class_names)
        self._on_image()

    def _on_image(self) -> None:
        split = self.source.split()
        if split is None:
            return
        label = int(split.labels[self.index.value()])
        self.target.blockSignals(True)
        self.target.setCurrentIndex(label)
        self.target.blockSignals(False)
        self.start()

    def start(self) -> None:
        """(Re)start the map for the current image, class, patch and stride (cancelling a running one)."""
        self._stop()
        model, data, split = self.source.model, self.source.data, self.source.split()
        if model is None or data is None or split is None or self.target.currentIndex() < 0:
            return
        image = prepare(split.images[self.index.value()], data.mean, data.std)[0]
        self._image = split.images[self.index.value()].numpy()
        self._data = data
        patch = min(self.patch.value(), *data.input_shape[1:])
        self.result, self._prediction = None, None
        target, stride = self.target.currentData(), self.stride.value()
        self.setCursor(Qt.CursorShape.BusyCursor)
        job = self.start_job(lambda progress: _occlusion_work(model, image, target, patch, stride, progress),
                             items=self._on_items, finished=lambda: self._show(final=True), failed=self._on_failed)
        job.finished.connect(self.unsetCursor)
        self.start_compare()

    # --- Compare with -------------------------------------------------------------------------
    def start_compare(self) -> None:
        """The compared network's map for the same image, class, patch and stride (a job of its own: the
        panel's own map goes on)."""
        if self.compare_job is not None:
            self.compare_job.cancel()
            self.compare_job = None
        self.compare_result, self.compare_reason = None, ""
        chosen, data, split = self.compare.chosen(), self.source.data, self.source.split()
        if chosen is None or data is None or split is None or self.target.currentIndex() < 0:
            self._show_compare()
            return
        label = self.compare.label
        model, _graph, reason = compared_network(self.source, chosen, label, data.input_shape)
        if model is None:
            self._show_compare(reason)
            return
        target = int(self.target.currentData())
        if model.output_shape and target >= model.output_shape[-1]:
            self._show_compare(f"{label}'s network has no class {target}")
            return
        image = prepare(split.images[self.index.value()], data.mean, data.std)[0]
        patch = min(self.patch.value(), *data.input_shape[1:])
        self.compare_job = GeneratorJob(occlusion_steps(model, image, target, patch, self.stride.value()),
                                        parent=self)
        self.compare_job.progressed.connect(self._on_compare_items)
        self.compare_job.failed.connect(lambda message: self._show_compare(f"Comparison failed: {message}"))
        self.compare_job.start()
        self._show_compare()

    def _on_compare_items(self, items: list) -> None:
        self.compare_result = items[-1][1]
        self._show_compare()

    def _show_compare(self, problem: str = "") -> None:
        label = self.compare.label
        self.compare_area.setVisible(bool(label))
        self.difference_probability = None
        if problem:
            self.compare_reason = problem
        if not label:
            return
        self.compare_title.setText(f"Probability, {label}")
        theirs = self.compare_result
        self.compare_label.setText(self.compare_reason or ("" if theirs is not None else "…"))
        for view in (self.compare_view, self.difference_view):
            view.image = None
            view.update()
        self.difference_title.setText("Difference")
        self.difference_bar.setVisible(False)
        if theirs is None or self.compare_reason:
            return
        probability = np.nan_to_num(theirs.probability, nan=theirs.baseline)
        self.compare_view.set_image(rgb_image(sequential(probability, 0.0, 1.0)), probability.shape)
        mine = self.result
        if mine is None or mine.probability.shape != theirs.probability.shape:
            return
        self.difference_probability, top = symmetric_difference(
            probability, np.nan_to_num(mine.probability, nan=mine.baseline))
        self.difference_view.set_image(difference_image(self.difference_probability, top), probability.shape)
        self.difference_bar.set_range(-top, top)
        self.difference_bar.setVisible(True)
        self.difference_title.setText(f"Difference ±{top:.2%} ({label} − this)")

    def _on_items(self, items: list) -> None:
        for kind, value in items:
            if kind == "prediction":
                self._prediction = value
            else:
                done, self.result = value
                self.progress.setValue(round(done * 100))
        self._show(final=False)

    def _on_failed(self, message: str) -> None:
        self.unsetCursor()
        self.summary.setText(f"The occlusion map failed: {message}")

    def _show(self, final: bool) -> None:
        r = self.result
        if r is None or self._prediction is None:
            return
        _, h, w = self._data.input_shape
        drop = r.heat(h, w)
        top = float(drop.max()) if self.drop_scale is None else self.drop_scale
        scale = top if top > 0 else 1.0
        self.image_view.set_image(grey_image(self._image), (h, w))
        self.image_view.overlay = heat_overlay(np.clip(drop / scale, 0.0, 1.0))  # where hiding lowers it
        self.drop_bar.set_range(0.0, top if top > 0 else 0.0, HEAT_LUT)
        probability = np.nan_to_num(r.probability, nan=r.baseline)
        self.map_view.set_image(rgb_image(sequential(probability, 0.0, 1.0)), probability.shape)
        self._show_compare()
        names = self._data.class_names
        cls, p = self._prediction
        i, j = np.unravel_index(np.argmin(probability), probability.shape)
        self.summary.setText(
            f"The network says {names[cls]} ({p:.0%}). Probability of {names[self.target.currentData()]}: "
            f"{r.baseline:.1%} without a patch; lowest {probability.min():.1%} with the {r.patch}×{r.patch} "
            f"patch at row {r.rows[i]}, column {r.cols[j]}.")

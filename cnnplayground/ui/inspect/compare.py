"""Compare with: a stored (run, epoch) of the project beside what a panel shows, and the difference.

:class:`CompareChooser` is the "Compare with" list every comparing panel shows (Kernels, Feature Maps,
Attribution, Receptive Fields): "none", then each stored epoch of each run that keeps epochs. It refills
itself when the runs change (``ModelSource.epoch_changed``), keeping the choice while it is still stored,
and emits ``choice_changed`` when the choice changes (also when a refill drops it).
:meth:`~.source.ModelSource.compared_model` builds the chosen epoch's network (that run's own network,
which may differ from the canvas's: panels compare by layer id and say why when a layer is missing or
of another shape).

A difference is always ``B − A`` (the chosen epoch minus what the panel shows) on one symmetric colour
scale: ±its largest magnitude (:func:`symmetric_difference`, :func:`difference_image`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QImage, QPainter, QPaintEvent
from PySide6.QtWidgets import QBoxLayout, QComboBox, QHBoxLayout, QLabel, QSizePolicy, QWidget

from ...core.inference import infer
from .imaging import diverging, rgb_image
from .source import ModelSource

NONE_TEXT = "none"


class CompareChooser(QComboBox):
    """The "Compare with" list: ``chosen()`` is ``(run index, epoch)`` or None ("none")."""

    choice_changed = Signal()

    def __init__(self, source: ModelSource, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.source = source
        self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.setToolTip("Show a stored epoch of a run beside this, for the same input, layer and unit, and the "
                        "difference (that epoch − this)")
        self.addItem(NONE_TEXT, None)
        self.refill()
        source.epoch_changed.connect(self.refill)
        self.currentIndexChanged.connect(lambda _i: self.choice_changed.emit())

    def refill(self) -> None:
        """Offer every stored epoch of every run (keeping the choice while it is still stored)."""
        chosen = self.currentData()
        items = [(NONE_TEXT, None)] + [(f"{name}, epoch {epoch}", f"{run}:{epoch}")
                                       for run, name, epochs in self.source.stored_runs() for epoch in epochs]
        if items == [(self.itemText(i), self.itemData(i)) for i in range(self.count())]:
            return
        self.blockSignals(True)
        self.clear()
        for text, data in items:
            self.addItem(text, data)
        index = self.findData(chosen) if chosen is not None else 0
        self.setCurrentIndex(max(index, 0))
        self.blockSignals(False)
        if self.currentData() != chosen:
            self.choice_changed.emit()

    def chosen(self) -> tuple[int, int] | None:
        """``(run index, epoch)`` chosen; None: no comparison."""
        data = self.currentData()
        if not data:
            return None
        run, epoch = str(data).split(":")
        return int(run), int(epoch)

    @property
    def label(self) -> str:
        """The chosen epoch's name ("run 2, epoch 3"), "" for none."""
        return self.currentText() if self.chosen() is not None else ""

    def row(self, parent: QWidget) -> QHBoxLayout:
        """"Compare with [this list]" as a layout for the panel's controls."""
        layout = QHBoxLayout()
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(QLabel("Compare with", parent))
        layout.addWidget(self)
        return layout


class ElidedLabel(QLabel):
    """A one-line title that never widens its column: cut with "…" when narrow (all of it in the tool tip)."""

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(text, parent)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.setToolTip(text)

    def setText(self, text: str) -> None:  # noqa: N802 (Qt override)
        super().setText(text)
        self.setToolTip(text)

    def paintEvent(self, _event: QPaintEvent) -> None:  # noqa: N802 (Qt override)
        p = QPainter(self)
        try:
            shown = self.fontMetrics().elidedText(self.text(), Qt.TextElideMode.ElideRight, self.width())
            p.drawText(self.rect(), int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter), shown)
        finally:
            p.end()


class CompareColumns(QWidget):
    """Columns side by side (this, the chosen epoch, the difference) when the panel is wide enough, else one
    below the other: each column keeps at least ``narrowest`` pixels."""

    def __init__(self, narrowest: int = 180, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.narrowest = narrowest
        self.box = QBoxLayout(QBoxLayout.Direction.LeftToRight, self)
        self.box.setContentsMargins(0, 0, 0, 0)

    def add(self, widget: QWidget, stretch: int = 1) -> None:
        self.box.addWidget(widget, stretch)

    def _arrange(self) -> None:
        shown = sum(1 for i in range(self.box.count()) if (w := self.box.itemAt(i).widget()) and not w.isHidden())
        wide = self.width() >= self.narrowest * max(shown, 1)
        direction = QBoxLayout.Direction.LeftToRight if wide else QBoxLayout.Direction.TopToBottom
        if self.box.direction() != direction:
            self.box.setDirection(direction)

    @property
    def side_by_side(self) -> bool:
        return self.box.direction() == QBoxLayout.Direction.LeftToRight

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt override)
        super().resizeEvent(event)
        self._arrange()

    def event(self, event) -> bool:
        if event.type() == event.Type.LayoutRequest:
            self._arrange()
        return super().event(event)


def symmetric_difference(b: np.ndarray, a: np.ndarray) -> tuple[np.ndarray, float]:
    """``B − A`` and its scale: the largest magnitude (1.0 when the two are equal, so 0 stays white)."""
    difference = np.asarray(b, dtype=np.float64) - np.asarray(a, dtype=np.float64)
    top = float(np.abs(difference).max(initial=0.0))
    return difference, (top if top > 0 else 1.0)


def difference_image(values: np.ndarray, top: float) -> QImage:
    """A 2-D difference on the symmetric scale ±``top`` (blue negative, white 0, red positive)."""
    return rgb_image(diverging(np.asarray(values, dtype=float) / top))


def shape_text(shape) -> str:
    return "×".join(map(str, shape))


def compared_network(source: ModelSource, chosen: tuple[int, int], label: str,
                     input_shape) -> tuple[Any, Any, str]:
    """The chosen epoch's network and graph when it takes images of ``input_shape``; or
    ``(None, None, a one-line reason)``."""
    try:
        model, graph = source.compared_model(*chosen)
    except ValueError:
        return None, None, f"{label} is no longer stored"
    inputs = graph.input_nodes()
    theirs = tuple(int(inputs[0].params[k]) for k in ("channels", "height", "width")) if inputs else ()
    if theirs != tuple(input_shape):
        return None, None, (f"{label}'s network takes {shape_text(theirs)} images, this one "
                            f"{shape_text(input_shape)}")
    return model, graph, ""


def compared_unit(source: ModelSource, chosen: tuple[int, int], label: str, input_shape, layer: str | None,
                  channels) -> tuple[object, object, str]:
    """The chosen epoch's network and graph for ``channels`` of ``layer`` (None: the output's classes) on
    images of ``input_shape``, matched by layer id; or ``(None, None, a one-line reason)``."""
    model, graph, reason = compared_network(source, chosen, label, input_shape)
    if model is None:
        return None, None, reason
    if layer is not None and layer not in graph:
        return None, None, f"{label}'s network has no layer {layer}"
    info = infer(graph).infos.get(layer if layer is not None else model.output_id)
    count = int(info.shape[0]) if info is not None and info.shape else 0
    missing = [c for c in channels if c >= count]
    if missing:
        what = f"class {missing[0]}" if layer is None else f"channel {missing[0]} in {layer}"
        return None, None, f"{label}'s network has no {what}"
    return model, graph, ""

"""The Adversarial panel: fool the network with a perturbation too small to see.

For one validation image: the original, the perturbation (amplified to be visible, with
its true scale given), the adversarial image, and what the network says about each. An
epsilon sweep plots accuracy under FGSM and PGD against ε on a subset of the validation
images, one ε at a time from a timer (Stop ends it). ε is in pixel units (the image's
0..1 range); the gradient goes through the input normalization and the result is clipped
to valid pixels.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
import torch
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ...inspect.adversarial import compare, epsilon_sweep, fgsm, pgd
from .imaging import diverging, grey_image, rgb_image, theme_plot
from .panel import InspectPanel, fill_classes
from .receptive_panel import PixelView
from .source import ModelSource

SWEEP_EPSILONS = (0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3)
SWEEP_IMAGES = 500


class AdversarialPanel(InspectPanel):
    """FGSM / PGD on one image, and accuracy against ε."""

    def __init__(self, source: ModelSource, parent: QWidget | None = None) -> None:
        super().__init__(source, parent)
        self.adversarial: torch.Tensor | None = None
        self.sweep: dict[str, list[tuple[float, float]]] = {}
        self._sweeps = None
        self.caption = QLabel(self)
        self.caption.setWordWrap(True)
        self.index = QSpinBox(self)
        self.index.setPrefix("validation image ")
        self.attack = QComboBox(self)
        for text, value in (("FGSM", "fgsm"), ("FGSM, targeted", "fgsm_targeted"), ("PGD (L∞)", "pgd"),
                            ("PGD (L2)", "pgd_l2")):
            self.attack.addItem(text, value)
        self.attack.setToolTip("FGSM: one signed gradient step. PGD: several small steps, kept within ε")
        self.target = QComboBox(self)
        self.target.setToolTip("The class a targeted attack pushes the image towards")
        self.epsilon = QDoubleSpinBox(self)
        self.epsilon.setRange(0.0, 1.0)
        self.epsilon.setDecimals(3)
        self.epsilon.setSingleStep(0.01)
        self.epsilon.setValue(0.1)
        self.epsilon.setPrefix("ε ")
        self.epsilon.setToolTip("Largest change per pixel (L∞) or of the whole image (L2), in pixel units 0..1")
        self.steps = QSpinBox(self)
        self.steps.setRange(1, 200)
        self.steps.setValue(10)
        self.steps.setSuffix(" steps")
        self.original_view, self.perturbation_view, self.adversarial_view = PixelView(self), PixelView(self), \
            PixelView(self)
        self.original_label, self.perturbation_label, self.adversarial_label = QLabel(self), QLabel(self), \
            QLabel(self)
        for label in (self.original_label, self.perturbation_label, self.adversarial_label):
            label.setWordWrap(True)
        self.sweep_button = QPushButton("Run ε sweep", self)
        self.sweep_button.setToolTip(f"Accuracy under FGSM and PGD-10 for ε = "
                                     f"{', '.join(f'{e:g}' for e in SWEEP_EPSILONS)} on {SWEEP_IMAGES} images")
        self.stop_button = QPushButton("Stop", self)
        self.stop_button.setEnabled(False)
        self.progress = QProgressBar(self)
        self.progress.setMaximumWidth(160)
        self.plot = pg.PlotWidget(self)
        self.plot.setTitle("Accuracy under attack")
        self.plot.setLabel("bottom", "ε (pixel units)")
        self.plot.setLabel("left", "accuracy (%)")
        self.plot.setYRange(0, 100)
        self.plot.getAxis("bottom").enableAutoSIPrefix(False)
        self.plot.addLegend(offset=(-8, 8))
        self.plot.setMinimumHeight(200)
        theme_plot(self.plot)
        self._curves = {name: self.plot.plot([], [], pen=pg.mkPen(color, width=2), symbol="o", symbolSize=6,
                                             symbolBrush=color, name=label)
                        for name, color, label in (("fgsm", "#1f6fb4", "FGSM"), ("pgd", "#d9480f", "PGD-10"))}

        controls = QHBoxLayout()
        for w in (self.index, self.attack, self.target, self.epsilon, self.steps):
            controls.addWidget(w)
        controls.addStretch(1)
        views = QHBoxLayout()
        for title, view, label in (("Original", self.original_view, self.original_label),
                                   ("Perturbation (amplified)", self.perturbation_view, self.perturbation_label),
                                   ("Adversarial", self.adversarial_view, self.adversarial_label)):
            column = QVBoxLayout()
            column.addWidget(QLabel(title, self))
            column.addWidget(view, 1)
            column.addWidget(label)
            views.addLayout(column, 1)
        sweep = QVBoxLayout()
        buttons = QHBoxLayout()
        for w in (self.sweep_button, self.stop_button, self.progress):
            buttons.addWidget(w)
        sweep.addLayout(buttons)
        sweep.addWidget(self.plot, 1)
        views.addLayout(sweep, 2)
        layout = QVBoxLayout(self)
        layout.addWidget(self.caption)
        layout.addLayout(controls)
        layout.addLayout(views, 1)

        self._timer = QTimer(self)
        self._timer.setInterval(0)
        self._timer.timeout.connect(self._next_sweep_value)
        self.index.valueChanged.connect(lambda _v: self.run_attack())
        self.attack.currentIndexChanged.connect(lambda _i: self.run_attack())
        self.target.currentIndexChanged.connect(lambda _i: self.run_attack())
        self.epsilon.valueChanged.connect(lambda _v: self.run_attack())
        self.steps.valueChanged.connect(lambda _v: self.run_attack())
        self.sweep_button.clicked.connect(self.start_sweep)
        self.stop_button.clicked.connect(self.stop_sweep)

    @property
    def sweeping(self) -> bool:
        return self._timer.isActive()

    def on_hidden_change(self) -> None:
        self.stop_sweep()

    def refresh(self) -> None:
        self.stop_sweep()
        parts = self.ready(self.caption, "Adversarial examples")
        if parts is None:
            return
        _, data, split = parts
        self.caption.setText(self.caption.text() + ". ε is in pixel units (0..1); the gradient goes through the "
                             "input normalization and pixels stay in 0..1.")
        self.index.setRange(0, len(split) - 1)
        fill_classes(self.target, data.class_names)
        self.run_attack()

    def run_attack(self) -> None:
        """Attack the chosen image with the chosen settings and show the three images."""
        model, data, split = self.source.model, self.source.data, self.source.split()
        if model is None or data is None or split is None:
            return
        kind = self.attack.currentData()
        self.target.setEnabled(kind == "fgsm_targeted")
        self.steps.setEnabled(kind.startswith("pgd"))
        i = self.index.value()
        x = split.images[i:i + 1].float() / 255.0
        y = split.labels[i:i + 1]
        eps = self.epsilon.value()
        if kind == "fgsm":
            adv = fgsm(model, x, y, eps, data.mean, data.std)
        elif kind == "fgsm_targeted":
            adv = fgsm(model, x, y, eps, data.mean, data.std, target=torch.tensor([self.target.currentData()]))
        else:
            adv = pgd(model, x, y, eps, data.mean, data.std, steps=self.steps.value(),
                      norm="l2" if kind == "pgd_l2" else "linf", generator=torch.Generator().manual_seed(0))
        self.adversarial = adv
        delta = (adv - x)[0].numpy()
        scale = float(np.abs(delta).max())
        _, h, w = data.input_shape
        self.original_view.set_image(grey_image(split.images[i].numpy()), (h, w))
        shown = delta.mean(axis=0) / scale if scale > 0 else delta.mean(axis=0)
        self.perturbation_view.set_image(rgb_image(diverging(shown)), (h, w))
        self.adversarial_view.set_image(grey_image(adv[0].numpy()), (h, w))
        c = compare(model, x, adv, data.mean, data.std)
        names = data.class_names
        self.original_label.setText(f"true: {names[int(y)]}\nsays: {names[int(c.clean_class)]} "
                                    f"({float(c.clean_probability):.1%})")
        self.perturbation_label.setText(f"largest change {scale:.3f} of the pixel range (shown ×"
                                        f"{1 / scale if scale else 1:.0f}, blue darker, red brighter)")
        flipped = bool(c.flipped)
        self.adversarial_label.setText(f"says: {names[int(c.adversarial_class)]} "
                                       f"({float(c.adversarial_probability):.1%})"
                                       + ("  — fooled" if flipped else ""))

    # --- the epsilon sweep -------------------------------------------------------------------
    def start_sweep(self) -> None:
        model, data, split = self.source.model, self.source.data, self.source.split()
        if model is None or data is None or split is None:
            return
        x = split.images[:SWEEP_IMAGES].float() / 255.0
        y = split.labels[:SWEEP_IMAGES]
        self.sweep = {"fgsm": [], "pgd": []}
        self._sweeps = [("fgsm", epsilon_sweep(model, x, y, SWEEP_EPSILONS, data.mean, data.std, "fgsm")),
                        ("pgd", epsilon_sweep(model, x, y, SWEEP_EPSILONS, data.mean, data.std, "pgd", steps=10,
                                              generator=torch.Generator().manual_seed(0)))]
        self.progress.setValue(0)
        self.sweep_button.setEnabled(False)
        self.stop_button.setEnabled(True)
        self._show_sweep()
        self._timer.start()

    def stop_sweep(self) -> None:
        self._timer.stop()
        if self._sweeps is not None:
            for _, run in self._sweeps:
                run.close()
        self._sweeps = None
        self.sweep_button.setEnabled(True)
        self.stop_button.setEnabled(False)

    def _next_sweep_value(self) -> None:
        while self._sweeps:
            name, run = self._sweeps[0]
            try:
                self.sweep[name].append(next(run))
                break
            except StopIteration:
                self._sweeps.pop(0)
        done = sum(len(v) for v in self.sweep.values())
        self.progress.setValue(round(100 * done / (2 * len(SWEEP_EPSILONS))))
        self._show_sweep()
        if not self._sweeps:
            self.stop_sweep()

    def _show_sweep(self) -> None:
        for name, curve in self._curves.items():
            points = self.sweep.get(name, [])
            curve.setData([e for e, _ in points], [a * 100 for _, a in points])

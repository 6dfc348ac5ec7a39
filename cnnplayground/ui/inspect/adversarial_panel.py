"""The Adversarial panel: fool the network with a perturbation too small to see.

For one validation image: the original, the perturbation (amplified to be visible, with
its true scale given), the adversarial image, and what the network says about each. An
epsilon sweep plots accuracy under FGSM and PGD against ε on a subset of the validation
images, in the background (Stop ends it). Each model's finished sweep stays in the plot,
named after its run, so a plain and an adversarially trained model can be compared. The
gallery collects validation images the chosen attack fools. ε is in pixel units (the
image's 0..1 range); the gradient goes through the input normalization and the result is
clipped to valid pixels.
"""

from __future__ import annotations

from functools import partial

import numpy as np
import pyqtgraph as pg
import torch
from PySide6.QtCore import Qt
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ...core.progress import Progress
from ...inspect.adversarial import compare, epsilon_sweep, fgsm, label_flips, pgd
from ..jobs import GeneratorJob
from .compare import CompareChooser, ElidedLabel, compared_unit
from .imaging import FittedGrid, diverging, grey_image, rgb_image, theme_plot
from .panel import InspectPanel, fill_classes
from .receptive_panel import PixelView
from .source import ModelSource

SWEEP_EPSILONS = (0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3)
SWEEP_IMAGES = 500
#: Validation images the gallery searches, and how many fooled ones it shows at most.
GALLERY_SEARCH, GALLERY_SIZE = 2000, 32
#: Colours of earlier models' sweeps in the plot (the current model's are blue and orange).
KEPT_COLORS = ("#2b8a3e", "#862e9c", "#5c940d", "#c2255c", "#0b7285", "#e67700")


def _sweep_work(model, x, y, mean, std, progress: Progress | None = None):
    """FGSM then PGD-10 accuracy for each ε: ``(attack, ε, accuracy)`` items."""
    for epsilon, accuracy in epsilon_sweep(model, x, y, SWEEP_EPSILONS, mean, std, "fgsm", progress=progress):
        yield "fgsm", epsilon, accuracy
    for epsilon, accuracy in epsilon_sweep(model, x, y, SWEEP_EPSILONS, mean, std, "pgd", steps=10,
                                           generator=torch.Generator().manual_seed(0), progress=progress):
        yield "pgd", epsilon, accuracy


def _attack(kind: str, epsilon: float, steps: int, target: int | None, model, x, y, mean, std):
    """The panel's attack on a batch (``target``: the class of a targeted FGSM)."""
    if kind == "fgsm":
        return fgsm(model, x, y, epsilon, mean, std)
    if kind == "fgsm_targeted":
        return fgsm(model, x, y, epsilon, mean, std, target=torch.full_like(y, int(target or 0)))
    return pgd(model, x, y, epsilon, mean, std, steps=steps, norm="l2" if kind == "pgd_l2" else "linf",
               generator=torch.Generator().manual_seed(0))


def _attack_one(kind: str, epsilon: float, steps: int, target: int | None, model, x, y, mean, std):
    """One image's attack and how the network sees both (run in the thread pool): ``(adversarial, compare)``."""
    adv = _attack(kind, epsilon, steps, target, model, x, y, mean, std)
    return adv, compare(model, x, adv, mean, std)


class SquareView(PixelView):
    """A pixel view as tall as it is wide (its text sits right under it)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumSize(120, 120)
        policy = QSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        policy.setHeightForWidth(True)
        self.setSizePolicy(policy)

    def hasHeightForWidth(self) -> bool:  # noqa: N802 (Qt override)
        return True

    def heightForWidth(self, width: int) -> int:  # noqa: N802 (Qt override)
        return width


class AdversarialPanel(InspectPanel):
    """FGSM / PGD on one image, and accuracy against ε."""

    def __init__(self, source: ModelSource, parent: QWidget | None = None) -> None:
        super().__init__(source, parent)
        self.adversarial: torch.Tensor | None = None
        #: The change of a pixel the strongest perturbation colour means; None: the image's own largest.
        #: A fixed value gives several attacks (the frames of an animation) one colour scale.
        self.perturbation_scale: float | None = None
        #: The attack on show: ``_show_attack``'s arguments (to draw it again on another scale).
        self.shown_attack: tuple | None = None
        self.sweep: dict[str, list[tuple[float, float]]] = {}  # the current model's, by attack
        self.sweep_label = ""  # which weights it was run on
        self._sweep_model: int | None = None
        #: Finished sweeps of other weights, by label: kept in the plot for comparison.
        self.kept: dict[str, dict[str, list[tuple[float, float]]]] = {}
        self.job: GeneratorJob | None = None  # the sweep
        self.gallery_job: GeneratorJob | None = None
        self.flips: list = []
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
        self.original_view, self.perturbation_view, self.adversarial_view = SquareView(self), SquareView(self), \
            SquareView(self)
        self.original_label, self.perturbation_label, self.adversarial_label = QLabel(self), QLabel(self), \
            QLabel(self)
        for label in (self.original_label, self.perturbation_label, self.adversarial_label):
            label.setWordWrap(True)
            label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
            label.setMinimumHeight(4 * label.fontMetrics().lineSpacing())  # its numbers are never cut off
        self.sweep_button = QPushButton("Run ε sweep", self)
        self.sweep_button.setToolTip(f"Accuracy under FGSM and PGD-10 for ε = "
                                     f"{', '.join(f'{e:g}' for e in SWEEP_EPSILONS)} on {SWEEP_IMAGES} images")
        self.stop_button = QPushButton("Stop", self)
        self.stop_button.setEnabled(False)
        self.clear_button = QPushButton("Clear", self)
        self.clear_button.setToolTip("Forget the sweeps of earlier weights kept in the plot")
        self.progress = QProgressBar(self)
        self.progress.setMaximumWidth(160)
        self.gallery_button = QPushButton("Find fooled images", self)
        self.gallery_button.setToolTip(f"Attack the first {GALLERY_SEARCH} validation images with the settings "
                                       f"above; show up to {GALLERY_SIZE} that were right and now are wrong")
        self.gallery_stop = QPushButton("Stop", self)
        self.gallery_stop.setEnabled(False)
        self.gallery_progress = QProgressBar(self)
        self.gallery_progress.setMaximumWidth(160)
        self.gallery_status = QLabel(self)
        self.gallery = FittedGrid(tile=64, largest=112, parent=self)
        self.gallery.grid.setToolTip("true → what the network says under attack; click to show it above")
        self.plot = pg.PlotWidget(self)
        self.plot.setTitle("Accuracy under attack")
        self.plot.setLabel("bottom", "ε (pixel units)")
        self.plot.setLabel("left", "accuracy (%)")
        self.plot.setYRange(0, 100)
        self.plot.getAxis("bottom").enableAutoSIPrefix(False)
        palette = self.palette()
        base = palette.color(QPalette.ColorRole.Base)
        base.setAlpha(220)
        # Bottom left: the corner the curves leave free (accuracy starts high and falls with ε).
        self.plot.addLegend(offset=(8, -8), brush=base, pen=palette.color(QPalette.ColorRole.Mid),
                            labelTextColor=palette.color(QPalette.ColorRole.Text))
        self.plot.setMinimumHeight(200)
        theme_plot(self.plot)
        self._curves = {name: self.plot.plot([], [], pen=pg.mkPen(color, width=2), symbol="o", symbolSize=6,
                                             symbolBrush=color, name=label)
                        for name, color, label in (("fgsm", "#1f6fb4", "FGSM"), ("pgd", "#d9480f", "PGD-10"))}
        self._kept_curves: list = []
        # Compare with: the same attack (method, ε, steps, image, target) on a stored epoch's network.
        self.compare = CompareChooser(source, self)
        self.compare.setToolTip("Run the same attack on the same image against a stored epoch of a run, shown "
                                "below; Run ε sweep then sweeps that network too, a second line in the plot")
        self.compare_found: tuple | None = None  # (adversarial, Comparison) of the compared network
        self._compare_x: torch.Tensor | None = None  # the image it attacked
        self.compare_reason = ""
        self.compare_sweep: dict[str, list[tuple[float, float]]] = {}
        self.compare_sweep_label = ""
        self.compare_sweep_job: GeneratorJob | None = None
        self.compare_title = ElidedLabel(parent=self)
        self.compare_views = (SquareView(self), SquareView(self), SquareView(self))
        self.compare_labels = (QLabel(self), QLabel(self), QLabel(self))
        for label in self.compare_labels:
            label.setWordWrap(True)
            label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
            label.setMinimumHeight(3 * label.fontMetrics().lineSpacing())
        self.compare_area = QWidget(self)
        compare_column = QVBoxLayout(self.compare_area)
        compare_column.setContentsMargins(0, 0, 0, 0)
        compare_column.addWidget(self.compare_title)
        compare_row = QHBoxLayout()
        for view, label in zip(self.compare_views, self.compare_labels):
            column = QVBoxLayout()
            column.addWidget(view)
            column.addWidget(label)
            compare_row.addLayout(column, 1)
        compare_column.addLayout(compare_row)
        self.compare_area.setVisible(False)

        controls = QHBoxLayout()
        for w in (self.index, self.attack, self.target, self.epsilon, self.steps):
            controls.addWidget(w)
        controls.addSpacing(12)
        controls.addLayout(self.compare.row(self))
        controls.addStretch(1)
        views = QHBoxLayout()
        #: The three images with their titles and numbers: a figure of its own (Export Figure offers it).
        self.images_row = QWidget(self)
        row = QHBoxLayout(self.images_row)
        row.setContentsMargins(0, 0, 0, 0)
        for title, view, label in (("Original", self.original_view, self.original_label),
                                   ("Perturbation (amplified)", self.perturbation_view, self.perturbation_label),
                                   ("Adversarial", self.adversarial_view, self.adversarial_label)):
            column = QVBoxLayout()
            heading = QLabel(title, self.images_row)
            heading.setWordWrap(True)  # the three columns stay equally wide
            column.addWidget(heading)
            column.addWidget(view)
            column.addWidget(label)
            row.addLayout(column, 1)
        images = QVBoxLayout()
        images.addWidget(self.images_row)
        images.addWidget(self.compare_area)
        images.addStretch(1)  # the figure is as tall as its images and their text, the space below
        views.addLayout(images, 3)
        sweep_page, gallery_page = QWidget(self), QWidget(self)
        sweep = QVBoxLayout(sweep_page)
        buttons = QHBoxLayout()
        for w in (self.sweep_button, self.stop_button, self.clear_button, self.progress):
            buttons.addWidget(w)
        buttons.addStretch(1)
        sweep.addLayout(buttons)
        sweep.addWidget(self.plot, 1)
        gallery = QVBoxLayout(gallery_page)
        buttons = QHBoxLayout()
        for w in (self.gallery_button, self.gallery_stop, self.gallery_progress):
            buttons.addWidget(w)
        buttons.addStretch(1)
        gallery.addLayout(buttons)
        gallery.addWidget(self.gallery_status)
        gallery.addWidget(self.gallery, 1)
        self.tabs = QTabWidget(self)
        self.tabs.addTab(sweep_page, "Accuracy against ε")
        self.tabs.addTab(gallery_page, "Fooled images")
        views.addWidget(self.tabs, 2)
        layout = QVBoxLayout(self)
        layout.addWidget(self.caption)
        layout.addLayout(controls)
        layout.addLayout(views, 1)

        self.index.valueChanged.connect(lambda _v: self.run_attack())
        self.attack.currentIndexChanged.connect(lambda _i: self.run_attack())
        self.target.currentIndexChanged.connect(lambda _i: self.run_attack())
        self.epsilon.valueChanged.connect(lambda _v: self.run_attack())
        self.steps.valueChanged.connect(lambda _v: self.run_attack())
        self.sweep_button.clicked.connect(self.start_sweep)
        self.stop_button.clicked.connect(self.stop_sweep)
        self.clear_button.clicked.connect(self.clear_kept)
        self.gallery_button.clicked.connect(self.find_flips)
        self.gallery_stop.clicked.connect(self.stop_gallery)
        self.gallery.grid.clicked.connect(self._show_flip)
        self.compare.choice_changed.connect(self._on_compare_chosen)

    @property
    def sweeping(self) -> bool:
        return self.job is not None and self.job.running

    @property
    def searching(self) -> bool:
        return self.gallery_job is not None and self.gallery_job.running

    def on_hidden_change(self) -> None:
        self.stop_sweep()
        self.stop_gallery()

    def hideEvent(self, event) -> None:  # noqa: N802 (Qt override)
        super().hideEvent(event)
        self.stop_sweep()
        self.stop_gallery()

    def figure_widget(self) -> QWidget:
        """What Export Figure draws: the sweep's plot or the fooled images, without the buttons above them."""
        return self.plot if self.tabs.currentIndex() == 0 else self.gallery

    def extra_figures(self) -> list[tuple[str, QWidget]]:
        """More figures of this panel for Export Figure: (name, widget)."""
        return [("Adversarial images", self.images_row)]

    def refresh(self) -> None:
        self.stop_sweep()
        self.stop_gallery()
        label, model = self.source.weights_label, id(self.source.model)
        if model != self._sweep_model:  # other weights: a finished sweep stays in the plot, for comparison
            if len(self.sweep.get("pgd", [])) == len(SWEEP_EPSILONS):
                kept = self.sweep_label if self.sweep_label != label else f"{self.sweep_label} (earlier)"
                self.kept[kept] = self.sweep
            self.sweep, self.sweep_label, self._sweep_model = {}, label, model
            self.compare_sweep, self.compare_sweep_label = {}, ""
            self._show_sweep()
        self.flips = []
        self.gallery.set_images([], [])
        self.gallery_status.setText("")
        self.cancel_background()  # an attack on the previous model must not arrive after this
        self.adversarial, self.shown_attack = None, None
        for view in (self.original_view, self.perturbation_view, self.adversarial_view):
            view.image, view.overlay = None, None
            view.update()
        for label in (self.original_label, self.perturbation_label, self.adversarial_label):
            label.setText("")
        self.compare_found = None
        self._show_compare_attack()
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
        target = self.target.currentData() if kind == "fgsm_targeted" else None
        self.run_in_background("attack", _attack_one, kind, self.epsilon.value(), self.steps.value(), target, model,
                               x, y, data.mean, data.std,
                               done=lambda found: self._show_attack(found, x, y, i),
                               failed=lambda message: self.adversarial_label.setText(f"The attack failed: {message}"))
        self.run_compare_attack()

    # --- Compare with -------------------------------------------------------------------------
    def _on_compare_chosen(self) -> None:
        self._stop_compare_sweep()
        self.compare_sweep, self.compare_sweep_label = {}, ""
        self._show_sweep()
        self.run_compare_attack()

    def _attack_request(self):
        """``(kind, ε, steps, target, x, y, i)`` of the attack the controls describe; None without data."""
        split = self.source.split()
        if split is None or self.source.data is None:
            return None
        kind, i = self.attack.currentData(), self.index.value()
        target = self.target.currentData() if kind == "fgsm_targeted" else None
        return kind, self.epsilon.value(), self.steps.value(), target, split.images[i:i + 1].float() / 255.0, \
            split.labels[i:i + 1], i

    def _compared(self, classes: list[int]):
        """The chosen epoch's network for these classes (None and the reason shown when it cannot be)."""
        data = self.source.data
        other, _graph, reason = compared_unit(self.source, self.compare.chosen(), self.compare.label,
                                              data.input_shape, None, classes)
        self.compare_reason = reason
        return other

    def run_compare_attack(self) -> None:
        """The same attack on the same image against the chosen epoch's network (beside this one's)."""
        self.cancel_background("compare")
        self.compare_found, self.compare_reason = None, ""
        request = self._attack_request()
        if self.compare.chosen() is None or request is None:
            self._show_compare_attack()
            return
        kind, epsilon, steps, target, x, y, i = request
        other = self._compared([int(y[0])] + ([int(target)] if target is not None else []))
        if other is not None:
            data = self.source.data
            self.run_in_background("compare", _attack_one, kind, epsilon, steps, target, other, x, y, data.mean,
                                   data.std, done=lambda found: self._on_compare_attack(found, x, i),
                                   failed=lambda message: self._show_compare_attack(f"The attack failed: {message}"))
        self._show_compare_attack()

    def _on_compare_attack(self, found, x: torch.Tensor, i: int) -> None:
        self.compare_found, self._compare_x = found, x
        self._show_compare_attack()

    def _show_compare_attack(self, problem: str = "", x: torch.Tensor | None = None) -> None:
        label = self.compare.label
        self.compare_area.setVisible(bool(label))
        if problem:
            self.compare_reason = problem
        if not label:
            return
        self.compare_title.setText(f"{label}: the same attack")
        for view in self.compare_views:
            view.image = None
            view.update()
        for text in self.compare_labels:
            text.setText("")
        data, x = self.source.data, x if x is not None else self._compare_x
        if self.compare_reason or self.compare_found is None or data is None or x is None:
            self.compare_labels[0].setText(self.compare_reason or "…")
            return
        adv, c = self.compare_found
        delta = (adv - x)[0].numpy()
        largest = float(np.abs(delta).max())
        _, h, w = data.input_shape
        original, perturbation, adversarial = self.compare_views
        original.set_image(grey_image(x[0].numpy()), (h, w))
        shown = np.clip(delta.mean(axis=0) / largest, -1.0, 1.0) if largest > 0 else delta.mean(axis=0)
        perturbation.set_image(rgb_image(diverging(shown)), (h, w))
        adversarial.set_image(grey_image(adv[0].numpy()), (h, w))
        names = data.class_names
        self.compare_labels[0].setText(f"says: {names[int(c.clean_class)]} ({float(c.clean_probability):.1%})")
        self.compare_labels[1].setText(f"at most ±{largest:.3f}")
        self.compare_labels[2].setText(f"says: {names[int(c.adversarial_class)]} "
                                       f"({float(c.adversarial_probability):.1%})"
                                       + ("  — fooled" if bool(c.flipped) else ""))

    def _stop_compare_sweep(self) -> None:
        if self.compare_sweep_job is not None:
            self.compare_sweep_job.cancel()
            self.compare_sweep_job = None

    def _start_compare_sweep(self, x: torch.Tensor, y: torch.Tensor) -> None:
        """The sweep on the same images against the chosen epoch's network: a job of its own."""
        self._stop_compare_sweep()
        self.compare_sweep, self.compare_sweep_label = {}, ""
        if self.compare.chosen() is None or self.source.data is None:
            return
        other = self._compared([int(y.max())] if len(y) else [])
        if other is None:
            self._show_compare_attack()
            return
        data, self.compare_sweep_label = self.source.data, self.compare.label
        progress = Progress()
        self.compare_sweep_job = GeneratorJob(_sweep_work(other, x, y, data.mean, data.std, progress), parent=self,
                                              progress=progress)
        self.compare_sweep_job.progressed.connect(self._on_compare_sweep_values)
        self.compare_sweep_job.start()
        self.track_job(self.compare_sweep_job)

    def _on_compare_sweep_values(self, items: list) -> None:
        for attack, epsilon, accuracy in items:
            self.compare_sweep.setdefault(attack, []).append((epsilon, accuracy))
        self._show_sweep()

    def _show_attack(self, found, x: torch.Tensor, y: torch.Tensor, i: int) -> None:
        """The attack's result (computed in the background): the three images and what the network says."""
        data, split = self.source.data, self.source.split()
        if data is None or split is None:
            return
        adv, c = found
        self.adversarial, self.shown_attack = adv, (found, x, y, i)
        delta = (adv - x)[0].numpy()
        largest = float(np.abs(delta).max())
        scale = self.perturbation_scale if self.perturbation_scale is not None else largest
        _, h, w = data.input_shape
        self.original_view.set_image(grey_image(split.images[i].numpy()), (h, w))
        shown = np.clip(delta.mean(axis=0) / scale, -1.0, 1.0) if scale > 0 else delta.mean(axis=0)
        self.perturbation_view.set_image(rgb_image(diverging(shown)), (h, w))
        self.adversarial_view.set_image(grey_image(adv[0].numpy()), (h, w))
        names = data.class_names
        self.original_label.setText(f"true: {names[int(y)]}\nsays: {names[int(c.clean_class)]} "
                                    f"({float(c.clean_probability):.1%})")
        self.perturbation_label.setText(f"at most ±{largest:.3f} (shown ×{1 / scale if scale else 1:.0f}):\n"
                                        "blue darker, red brighter")
        self.perturbation_label.setToolTip(f"The largest change of a pixel is {largest:.3f} of the pixel range "
                                           "(0..1)")
        flipped = bool(c.flipped)
        self.adversarial_label.setText(f"says: {names[int(c.adversarial_class)]} "
                                       f"({float(c.adversarial_probability):.1%})"
                                       + ("  — fooled" if flipped else ""))

    # --- the epsilon sweep -------------------------------------------------------------------
    def start_sweep(self) -> None:
        model, data, split = self.source.model, self.source.data, self.source.split()
        if model is None or data is None or split is None:
            return
        self.stop_sweep()
        x = split.images[:SWEEP_IMAGES].float() / 255.0
        y = split.labels[:SWEEP_IMAGES]
        self.sweep, self.sweep_label = {"fgsm": [], "pgd": []}, self.source.weights_label
        self._sweep_model = id(model)
        self.progress.setValue(0)
        self._show_sweep()
        self.start_job(lambda progress: _sweep_work(model, x, y, data.mean, data.std, progress),
                       items=self._on_sweep_values, finished=self._sync_buttons, failed=self._on_failed)
        self._start_compare_sweep(x, y)
        self._sync_buttons()

    def stop_sweep(self) -> None:
        if self.sweeping:
            self.job.cancel()
        self._stop_compare_sweep()
        self._sync_buttons()

    def clear_kept(self) -> None:
        self.kept.clear()
        self._show_sweep()

    def on_cancelled(self) -> None:
        super().on_cancelled()
        self._sync_buttons()

    def _sync_buttons(self) -> None:
        self.sweep_button.setEnabled(not self.sweeping)
        self.stop_button.setEnabled(self.sweeping)
        self.gallery_button.setEnabled(not self.searching)
        self.gallery_stop.setEnabled(self.searching)

    def _on_failed(self, message: str) -> None:
        self.caption.setText(f"The attack failed: {message}")
        self._sync_buttons()

    def _on_sweep_values(self, items: list) -> None:
        for attack, epsilon, accuracy in items:
            self.sweep.setdefault(attack, []).append((epsilon, accuracy))
        done = sum(len(v) for v in self.sweep.values())
        self.progress.setValue(round(100 * done / (2 * len(SWEEP_EPSILONS))))
        self._show_sweep()

    def _show_sweep(self) -> None:
        for name, curve in self._curves.items():
            points = self.sweep.get(name, [])
            curve.setData([e for e, _ in points], [a * 100 for _, a in points])
        legend = self.plot.getPlotItem().legend
        for curve in self._kept_curves:
            self.plot.removeItem(curve)
            legend.removeItem(curve)
        self._kept_curves = []
        for name, curve in self._curves.items():  # name the current model's curves once others are shown
            legend.removeItem(curve)
            attack = "FGSM" if name == "fgsm" else "PGD-10"
            legend.addItem(curve, f"{attack}, {self.sweep_label}" if self.kept or self.compare_sweep else attack)
        for name, color, symbol in (("fgsm", "#1f6fb4", "s"), ("pgd", "#d9480f", "d")):  # the compared network
            points = self.compare_sweep.get(name, [])
            if points:
                curve = self.plot.plot([e for e, _ in points], [a * 100 for _, a in points],
                                       pen=pg.mkPen(color, width=2, style=Qt.PenStyle.DotLine), symbol=symbol,
                                       symbolSize=6, symbolBrush=color,
                                       name=f"{'FGSM' if name == 'fgsm' else 'PGD-10'}, {self.compare_sweep_label}")
                self._kept_curves.append(curve)
        for i, (label, sweep) in enumerate(self.kept.items()):
            color = KEPT_COLORS[i % len(KEPT_COLORS)]
            for name, style, symbol in (("fgsm", Qt.PenStyle.SolidLine, "o"), ("pgd", Qt.PenStyle.DashLine, "t")):
                points = sweep.get(name, [])
                curve = self.plot.plot([e for e, _ in points], [a * 100 for _, a in points],
                                       pen=pg.mkPen(color, width=2, style=style), symbol=symbol, symbolSize=6,
                                       symbolBrush=color, name=f"{'FGSM' if name == 'fgsm' else 'PGD-10'}, {label}")
                self._kept_curves.append(curve)

    # --- the gallery of fooled images ----------------------------------------------------------
    def find_flips(self) -> None:
        """Search validation images the current attack fools, in the background."""
        model, data, split = self.source.model, self.source.data, self.source.split()
        if model is None or data is None or split is None:
            return
        self.stop_gallery()
        kind = self.attack.currentData()
        attack = partial(_attack, kind, self.epsilon.value(), self.steps.value(), self.target.currentData(),
                         mean=data.mean, std=data.std)
        self.flips = []
        self.gallery.set_images([], [])
        self.gallery_progress.setValue(0)
        self.gallery_status.setText(f"Attacking with {self.attack.currentText()}, ε {self.epsilon.value():g}…")
        work = label_flips(model, split.images[:GALLERY_SEARCH], split.labels[:GALLERY_SEARCH], data.mean, data.std,
                           lambda m, x, y: attack(m, x, y), limit=GALLERY_SIZE, progress=(progress := Progress()))
        self.gallery_job = GeneratorJob(work, parent=self, progress=progress)
        self.gallery_job.progressed.connect(self._on_flips)
        self.gallery_job.finished.connect(self._on_gallery_done)
        self.gallery_job.failed.connect(self._on_failed)
        self.gallery_job.start()
        self.track_job(self.gallery_job)
        self._sync_buttons()

    def stop_gallery(self) -> None:
        if self.searching:
            self.gallery_job.cancel()
            self.gallery_status.setText(f"Stopped: {len(self.flips)} fooled images so far")
        self._sync_buttons()

    def _on_flips(self, items: list) -> None:
        fraction, flips = items[-1]
        self.gallery_progress.setValue(round(100 * fraction))
        if len(flips) != len(self.flips):
            self.flips = flips
            names = [name.split(" - ")[0] for name in self.source.data.class_names]  # MNIST: "3 - three" → "3"
            self.gallery.set_images([grey_image(f.image.numpy()) for f in flips],
                                    [f"{names[f.true_class]} → {names[f.adversarial_class]}" for f in flips])

    def _on_gallery_done(self) -> None:
        searched = round(self.gallery_progress.value() / 100 * min(GALLERY_SEARCH, len(self.source.split() or [])))
        self.gallery_progress.setValue(100)
        self.gallery_status.setText(f"{len(self.flips)} images fooled" + (f" (the first {GALLERY_SIZE} found)"
                                    if len(self.flips) >= GALLERY_SIZE else f" among {searched} searched")
                                    + ": each was classified right before the attack")
        self._sync_buttons()

    def _show_flip(self, index: int) -> None:
        if index < len(self.flips):
            self.index.setValue(self.flips[index].index)

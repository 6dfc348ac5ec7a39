"""The training settings form: dataset choice and the most used training settings.

Edits go straight into the document's project (``project.dataset`` and
``project.training``, both validated pydantic models) and mark the project
modified; invalid values are refused by the models and shown inline.
"""

from __future__ import annotations

from pydantic import ValidationError
from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QWidget,
)

from ...data.registry import list_datasets
from ..commands import SetSettings
from ..document import Document

OPTIMIZERS = (("Adam", "adam"), ("AdamW", "adamw"), ("SGD (momentum)", "sgd"), ("RMSprop", "rmsprop"))
SCHEDULES = (("Constant", "constant"), ("Cosine", "cosine"), ("One-cycle", "onecycle"), ("Step", "step"),
             ("On plateau", "plateau"))
DEVICES = (("Automatic (GPU if present)", "auto"), ("CPU", "cpu"), ("CUDA GPU", "cuda"), ("Apple MPS", "mps"))


class TrainingSettingsForm(QWidget):
    """Dataset and training settings bound to ``document.project``.

    Signal ``settings_changed()`` after any accepted edit.
    """

    settings_changed = Signal()

    def __init__(self, document: Document, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.document = document
        self._loading = False
        form = QFormLayout(self)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)

        self.dataset = QComboBox(self)
        for info in list_datasets():
            self.dataset.addItem(info.title, info.name)
            self.dataset.setItemData(self.dataset.count() - 1, info.description, 3)  # ToolTipRole
        form.addRow("Dataset", self.dataset)
        root_row = QHBoxLayout()
        self.root = QLineEdit(self)
        self.root.setPlaceholderText("default data folder")
        self.root.setToolTip("Folder holding the dataset files (torchvision layout) or your image folder")
        browse = QPushButton("…", self)
        browse.setToolTip("Choose the data folder")
        browse.setMaximumWidth(32)
        browse.clicked.connect(self._on_browse_clicked)
        root_row.addWidget(self.root, 1)
        root_row.addWidget(browse)
        form.addRow("Data folder", root_row)

        self.epochs = _spin(self, 1, 10_000, "Passes over the training set")
        self.batch_size = _spin(self, 1, 65_536, "Images per optimizer step")
        self.optimizer = _combo(self, OPTIMIZERS, "Update rule")
        self.learning_rate = _double(self, 1e-6, 10.0, 6, "Step size (peak of the schedule)")
        self.schedule = _combo(self, SCHEDULES, "How the learning rate changes over the run")
        self.weight_decay = _double(self, 0.0, 1.0, 6, "L2 penalty on the weights")
        self.label_smoothing = _double(self, 0.0, 0.99, 3, "Soften the one-hot targets")
        self.flip = QCheckBox("Random horizontal flips", self)
        self.crop = _spin(self, 0, 16, "Random crops after this much zero padding (0 = off)")
        self.random_labels = _double(self, 0.0, 1.0, 2,
                                     "Share of training labels replaced by random ones (Zhang et al. 2017)")
        self.device = _combo(self, DEVICES, "Where to train")
        self.mixed_precision = QCheckBox("Mixed precision on the GPU", self)
        for label, widget in (("Epochs", self.epochs), ("Batch size", self.batch_size),
                              ("Optimizer", self.optimizer), ("Learning rate", self.learning_rate),
                              ("Schedule", self.schedule), ("Weight decay", self.weight_decay),
                              ("Label smoothing", self.label_smoothing), ("Augment", self.flip),
                              ("Crop padding", self.crop), ("Random labels", self.random_labels),
                              ("Device", self.device), ("", self.mixed_precision)):
            form.addRow(label, widget)
        self.error = QLabel(self)
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #d64545;")
        form.addRow(self.error)

        self.load_from_project()
        self.dataset.currentIndexChanged.connect(self._on_edit)
        self.root.editingFinished.connect(self._on_edit)
        for w in (self.epochs, self.batch_size, self.crop):
            w.valueChanged.connect(self._on_edit)
        for w in (self.learning_rate, self.weight_decay, self.label_smoothing, self.random_labels):
            w.valueChanged.connect(self._on_edit)
        for w in (self.optimizer, self.schedule, self.device):
            w.currentIndexChanged.connect(self._on_edit)
        for w in (self.flip, self.mixed_precision):
            w.toggled.connect(self._on_edit)
        document.graph_replaced.connect(self._on_graph_replaced)
        document.settings_changed.connect(self.load_from_project)

    # --- model → widgets -----------------------------------------------------------------
    def load_from_project(self) -> None:
        p = self.document.project
        cfg, ds = p.training, p.dataset
        self._loading = True
        try:
            self.dataset.setCurrentIndex(max(self.dataset.findData(ds.name), 0))
            self.root.setText(ds.root or "")
            self.epochs.setValue(cfg.epochs)
            self.batch_size.setValue(cfg.batch_size)
            self.optimizer.setCurrentIndex(max(self.optimizer.findData(cfg.optimizer), 0))
            self.learning_rate.setValue(cfg.learning_rate)
            self.schedule.setCurrentIndex(max(self.schedule.findData(cfg.schedule), 0))
            self.weight_decay.setValue(cfg.weight_decay)
            self.label_smoothing.setValue(cfg.label_smoothing)
            self.flip.setChecked(cfg.augment.hflip)
            self.crop.setValue(cfg.augment.crop_padding)
            self.random_labels.setValue(float(ds.options.get("random_labels", 0.0)))
            self.device.setCurrentIndex(max(self.device.findData(cfg.device), 0))
            self.mixed_precision.setChecked(cfg.mixed_precision)
        finally:
            self._loading = False

    def _on_graph_replaced(self, _graph) -> None:
        self.load_from_project()

    # --- widgets → model -----------------------------------------------------------------
    def _on_edit(self, *_args) -> None:
        if self._loading:
            return
        p = self.document.project
        try:
            training = p.training.model_copy(deep=True)
            training.epochs = self.epochs.value()
            training.batch_size = self.batch_size.value()
            training.optimizer = self.optimizer.currentData()
            training.learning_rate = self.learning_rate.value()
            training.schedule = self.schedule.currentData()
            training.weight_decay = self.weight_decay.value()
            training.label_smoothing = self.label_smoothing.value()
            training.augment = training.augment.model_copy(
                update={"hflip": self.flip.isChecked(), "crop_padding": self.crop.value()})
            training.device = self.device.currentData()
            training.mixed_precision = self.mixed_precision.isChecked()
            dataset = p.dataset.model_copy(deep=True)
            if dataset.name != self.dataset.currentData():
                dataset.name = self.dataset.currentData()
                dataset.options = {}
            dataset.root = self.root.text().strip() or None
            labels = round(self.random_labels.value(), 4)
            options = {k: v for k, v in dataset.options.items() if k != "random_labels"}
            dataset.options = {**options, **({"random_labels": labels} if labels else {})}
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            self.error.setText(f"{'.'.join(map(str, first['loc']))}: {first['msg']}")
            return
        self.error.clear()
        if training != p.training or dataset != p.dataset:
            self.document.push(SetSettings(self.document, training, dataset))
            self.settings_changed.emit()

    def _on_browse_clicked(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Data folder", self.root.text() or "")
        if folder:
            self.root.setText(folder)
            self._on_edit()


def _spin(parent: QWidget, lo: int, hi: int, tip: str) -> QSpinBox:
    w = QSpinBox(parent)
    w.setRange(lo, hi)
    w.setToolTip(tip)
    return w


def _double(parent: QWidget, lo: float, hi: float, decimals: int, tip: str) -> QDoubleSpinBox:
    w = QDoubleSpinBox(parent)
    w.setRange(lo, hi)
    w.setDecimals(decimals)
    w.setSingleStep(10 ** -min(decimals, 4))
    w.setToolTip(tip)
    return w


def _combo(parent: QWidget, items: tuple[tuple[str, str], ...], tip: str) -> QComboBox:
    w = QComboBox(parent)
    for text, value in items:
        w.addItem(text, value)
    w.setToolTip(tip)
    return w

"""The training settings form: dataset choice and every training setting, in sections.

The form is declared as a table (:data:`FIELDS`): each row names a setting of
``project.training`` (``("augment", "hflip")`` for nested ones) or of the dataset's
options (``("options", "random_pixels")``), its widget and range. Tool tips come from
the settings' own descriptions. A row may depend on a choice (``enabled_when``): the
adversarial-training rows are greyed out while adversarial training is off, PGD steps
unless the attack is PGD. A row may belong to some datasets only (``datasets``): the image folder's
size, channels and test share are shown (and written) for the folder dataset alone, and a share whose
split the folder's layout gives (``test/``, ``val/``) is greyed out with a tool tip saying so
(:meth:`TrainingSettingsForm.show_folder_summary`). Edits go straight into the document's project as one
undoable :class:`~..commands.SetSettings` each and mark the project modified; values the
models refuse are shown inline.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ...data.folder_layout import FolderSummary
from ...data.image_size import ImageSize
from ...data.registry import dataset_info, list_datasets
from ...project import AugmentConfig, TrainingConfig
from ..document.commands import SetSettings
from ..document.document import Document

OPTIMIZERS = (("Adam", "adam"), ("AdamW", "adamw"), ("SGD (momentum)", "sgd"), ("RMSprop", "rmsprop"))
SCHEDULES = (("Constant", "constant"), ("Cosine", "cosine"), ("One-cycle", "onecycle"), ("Step", "step"),
             ("On plateau", "plateau"))
ADVERSARIAL = (("Off", "none"), ("FGSM", "fgsm"), ("PGD (L∞)", "pgd"))
BEST_METRICS = (("Validation loss", "val_loss"), ("Validation accuracy", "val_accuracy"))
CLASS_WEIGHTS = (("None (every image counts the same)", "none"), ("Balanced (n / (classes × count))", "balanced"))
DEVICES = (("Automatic (GPU if present)", "auto"), ("CPU", "cpu"), ("CUDA GPU", "cuda"), ("Apple MPS", "mps"))
#: The image folder's channels; the first entry's text is replaced by what the images give.
CHANNELS = (("Auto (1 when all images are grey, else 3)", "auto"), ("1 (grey)", 1), ("3 (colour)", 3))
#: The image-size spin box's value that stands for "auto" (one below the smallest side).
AUTO_SIZE = 7
#: The narrowest a field with a long text (a choice, the "Auto (…)" image size) is made in a narrow dock.
NARROW_FIELD_WIDTH = 110


def _narrow(combo: QComboBox) -> None:
    """A choice list as wide as the form gives it, not as its longest item ("None (every image counts the
    same)" had widened the form past the dock, cutting off its right edge); the list itself shows items whole."""
    combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
    combo.setMinimumContentsLength(10)


AUTO_SIZE_TEXT = "Auto (the size most images have)"
FOLDER_TIPS = {
    "size": "The size the images are read at. Auto: the size most images have, read from the files "
            "(non-square sizes are kept). A number: every image is scaled and center-cropped to that square.",
    "channels": "Auto: 1 channel when every image is grey (read from the files), else 3. "
                "1 reads every image as grey, 3 as colour.",
    "test_fraction": "Share of each class held out as the test split (0: no test split), drawn before the "
                     "validation share.",
}
#: Tool tips of the shares the folder's layout gives instead (split → text; ``{}`` is the folder's name).
LAYOUT_TIPS = {"test": "The folder has {}/: its images are the test split, so no test share is drawn.",
               "val": "The folder has {}/: its images are the validation split, so no validation share is "
                      "drawn."}


@dataclass(frozen=True)
class FormField:
    """One setting in the form.

    ``path``: keys into ``project.training`` (``("epochs",)``, ``("augment", "hflip")``), or
    ``("options", key)`` for a dataset option. ``kind``: ``int``, ``float``, ``bool`` or
    ``choice``. For ``bool``, ``label`` is the check box's text and the row has none.
    ``step``: the spin box's arrow step (0: from the range and decimals). ``enabled_when``:
    ``(name of a choice field, values)``; the row is enabled only while that field holds one
    of the values. ``datasets``: the datasets whose form shows the row (``()``: every one);
    ``default``: the value that leaves a dataset option out of the project. Kind ``size``: a spin
    box whose lowest value (:data:`AUTO_SIZE`) is ``"auto"``.
    """

    name: str
    section: str
    label: str
    path: tuple[str, ...]
    kind: str
    low: float = 0
    high: float = 1
    decimals: int = 3
    choices: tuple[tuple[str, Any], ...] = ()
    suffix: str = ""
    step: float = 0
    enabled_when: tuple[str, tuple[str, ...]] | None = None
    datasets: tuple[str, ...] = ()
    default: Any = 0


SECTIONS = ("Data", "Optimization", "Regularization", "Augmentation", "Adversarial training",
            "Corruption experiments", "Hardware")

FIELDS: tuple[FormField, ...] = (
    FormField("image_size", "Data", "Image size", ("options", "size"), "size", AUTO_SIZE, 512, suffix=" px",
              datasets=("folder",), default="auto"),
    FormField("channels", "Data", "Channels", ("options", "channels"), "choice", choices=CHANNELS,
              datasets=("folder",), default="auto"),
    FormField("val_fraction", "Data", "Validation share", ("val_fraction",), "float", 0.0, 0.5, 2),
    FormField("test_share", "Data", "Test share", ("options", "test_fraction"), "float", 0.0, 0.9, 2,
              datasets=("folder",), default=0.0),
    FormField("class_weights", "Data", "Class weights", ("class_weights",), "choice", choices=CLASS_WEIGHTS),
    FormField("epochs", "Optimization", "Epochs", ("epochs",), "int", 1, 10_000),
    FormField("batch_size", "Optimization", "Batch size", ("batch_size",), "int", 1, 65_536),
    FormField("optimizer", "Optimization", "Optimizer", ("optimizer",), "choice", choices=OPTIMIZERS),
    FormField("learning_rate", "Optimization", "Learning rate", ("learning_rate",), "float", 1e-6, 10.0, 6),
    FormField("momentum", "Optimization", "Momentum", ("momentum",), "float", 0.0, 0.999, 3),
    FormField("schedule", "Optimization", "Schedule", ("schedule",), "choice", choices=SCHEDULES),
    FormField("warmup_epochs", "Optimization", "Warm-up", ("warmup_epochs",), "float", 0.0, 1000.0, 1,
              suffix=" epochs"),
    FormField("weight_decay", "Regularization", "Weight decay", ("weight_decay",), "float", 0.0, 1.0, 6),
    FormField("label_smoothing", "Regularization", "Label smoothing", ("label_smoothing",), "float", 0.0, 0.99, 3),
    FormField("grad_clip", "Regularization", "Gradient clip", ("grad_clip",), "float", 0.0, 1e6, 2),
    FormField("early_stopping", "Regularization", "Early stopping", ("early_stopping_patience",), "int", 0, 10_000,
              suffix=" epochs"),
    FormField("keep_best", "Regularization", "Keep the best epoch", ("restore_best",), "bool"),
    FormField("best_metric", "Regularization", "Best epoch by", ("early_stopping_metric",), "choice",
              choices=BEST_METRICS),
    FormField("flip", "Augmentation", "Mirror left-right", ("augment", "hflip"), "bool"),
    FormField("vflip", "Augmentation", "Mirror top-bottom", ("augment", "vflip"), "bool"),
    FormField("crop", "Augmentation", "Crop padding", ("augment", "crop_padding"), "int", 0, 16, suffix=" px"),
    FormField("rotate", "Augmentation", "Rotation", ("augment", "rotate_degrees"), "float", 0.0, 45.0, 1,
              suffix=" °"),
    FormField("translate", "Augmentation", "Shift", ("augment", "translate"), "float", 0.0, 0.5, 2),
    FormField("color_jitter", "Augmentation", "Colour jitter", ("augment", "color_jitter"), "float", 0.0, 1.0, 2),
    FormField("erasing", "Augmentation", "Erasing", ("augment", "erasing"), "float", 0.0, 1.0, 2),
    FormField("noise", "Augmentation", "Noise", ("augment", "noise_std"), "float", 0.0, 2.0, 2),
    FormField("adversarial", "Adversarial training", "Attack", ("adversarial",), "choice", choices=ADVERSARIAL),
    FormField("adversarial_epsilon", "Adversarial training", "Epsilon (pixels)", ("adversarial_epsilon",), "float",
              0.0001, 1.0, 4, step=0.001, enabled_when=("adversarial", ("fgsm", "pgd"))),
    FormField("adversarial_steps", "Adversarial training", "PGD steps", ("adversarial_steps",), "int", 1, 100,
              enabled_when=("adversarial", ("pgd",))),
    FormField("adversarial_fraction", "Adversarial training", "Share of each batch", ("adversarial_fraction",),
              "float", 0.01, 1.0, 2, enabled_when=("adversarial", ("fgsm", "pgd"))),
    FormField("random_labels", "Corruption experiments", "Random labels", ("options", "random_labels"), "float",
              0.0, 1.0, 2),
    FormField("random_pixels", "Corruption experiments", "Random pixels", ("options", "random_pixels"), "float",
              0.0, 1.0, 2),
    FormField("device", "Hardware", "Device", ("device",), "choice", choices=DEVICES),
    FormField("mixed_precision", "Hardware", "Mixed precision on the GPU", ("mixed_precision",), "bool"),
    FormField("compile", "Hardware", "Compile (torch.compile)", ("compile",), "bool"),
    FormField("tta_flip", "Regularization", "Test-time mirror", ("tta_flip",), "bool"),
    FormField("seed", "Hardware", "Seed", ("seed",), "int", 0, 2**31 - 1),
)


def _description(path: tuple[str, ...]) -> str:
    if path[0] == "options":
        return FOLDER_TIPS.get(path[1]) or dataset_info("synthetic").options[path[1]][1]
    model: Any = AugmentConfig if path[0] == "augment" else TrainingConfig
    return model.model_fields[path[-1]].description or ""


class TrainingSettingsForm(QWidget):
    """Dataset and training settings bound to ``document.project``.

    Each field's widget is an attribute named after it (``form.epochs``, ``form.flip``, ...).
    Signal ``settings_changed()`` after any accepted edit.
    """

    settings_changed = Signal()

    def __init__(self, document: Document, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.document = document
        self._loading = False
        self.widgets: dict[str, QWidget] = {}
        self._folders: dict[str, str] = {}  # split → the folder of the layout that gives it (last summary)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        forms: dict[str, QFormLayout] = {}
        self._forms: dict[str, QFormLayout] = {}  # field → the form of its section
        self._labels: dict[str, QWidget] = {}
        for title in SECTIONS:
            box = QGroupBox(title, self)
            form = QFormLayout(box)
            form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
            forms[title] = form
            layout.addWidget(box)

        data = forms["Data"]
        self.dataset = QComboBox(self)
        for info in list_datasets():
            self.dataset.addItem(info.title, info.name)
            self.dataset.setItemData(self.dataset.count() - 1, info.description, 3)  # ToolTipRole
        self.dataset.setToolTip("What to train on: the built-in synthetic shapes work offline")
        _narrow(self.dataset)
        data.addRow("Dataset", self.dataset)
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
        data.addRow("Data folder", root_row)

        for spec in FIELDS:
            widget = self._make_widget(spec)
            self.widgets[spec.name] = widget
            setattr(self, spec.name, widget)
            self._forms[spec.name] = forms[spec.section]
            if spec.kind == "bool":
                forms[spec.section].addRow("", widget)
            else:
                label = QLabel(spec.label, self)
                label.setBuddy(widget)
                self._labels[spec.name] = label
                forms[spec.section].addRow(label, widget)
        self.error = QLabel(self)
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #d64545;")
        layout.addWidget(self.error)

        self.load_from_project()
        self.dataset.currentIndexChanged.connect(self._on_edit)
        self.root.editingFinished.connect(self._on_edit)
        for spec in FIELDS:
            widget = self.widgets[spec.name]
            signal = {"int": "valueChanged", "size": "valueChanged", "float": "valueChanged", "bool": "toggled",
                      "choice": "currentIndexChanged"}[spec.kind]
            getattr(widget, signal).connect(self._on_edit)
        document.graph_replaced.connect(self._on_graph_replaced)
        document.settings_changed.connect(self.load_from_project)

    def _make_widget(self, spec: FormField) -> QWidget:
        tip = _description(spec.path)
        widget: QWidget
        if spec.kind in ("int", "size"):
            widget = QSpinBox(self)
            widget.setRange(int(spec.low), int(spec.high))
            widget.setSuffix(spec.suffix)
            if spec.kind == "size":
                widget.setSpecialValueText(AUTO_SIZE_TEXT)
                # Its long "Auto (…)" text must not widen the form past a narrow dock (the dock's buttons and
                # fields were cut off at its right edge at 1280×720): the text shows in the width there is.
                widget.setMinimumWidth(NARROW_FIELD_WIDTH)
        elif spec.kind == "float":
            widget = QDoubleSpinBox(self)
            widget.setRange(spec.low, spec.high)
            widget.setDecimals(spec.decimals)
            widget.setSingleStep(spec.step or (10 ** -min(spec.decimals, 4) if spec.high <= 1 else 1.0))
            widget.setSuffix(spec.suffix)
        elif spec.kind == "bool":
            widget = QCheckBox(spec.label, self)
        else:
            widget = QComboBox(self)
            for text, value in spec.choices:
                widget.addItem(text, value)
            _narrow(widget)
        if spec.kind in ("int", "float") and spec.low == 0:
            widget.setSpecialValueText("off" if spec.section in ("Augmentation", "Regularization",
                                                                  "Corruption experiments") else "")
        widget.setToolTip(tip)
        return widget

    # --- model → widgets -----------------------------------------------------------------
    def _value(self, spec: FormField) -> Any:
        p, path = self.document.project, spec.path
        if path[0] == "options":
            if spec.datasets and p.dataset.name not in spec.datasets:
                return spec.default
            return p.dataset.options.get(path[1], spec.default)
        value: Any = p.training
        for key in path:
            value = getattr(value, key)
        return value

    def load_from_project(self) -> None:
        p = self.document.project
        self._loading = True
        try:
            self.dataset.setCurrentIndex(max(self.dataset.findData(p.dataset.name), 0))
            self.root.setText(p.dataset.root or "")
            for spec in FIELDS:
                widget, value = self.widgets[spec.name], self._value(spec)
                if spec.kind == "bool":
                    widget.setChecked(bool(value))
                elif spec.kind == "choice":
                    widget.setCurrentIndex(max(widget.findData(value), 0))
                elif spec.kind == "int":
                    widget.setValue(int(value))
                elif spec.kind == "size":
                    widget.setValue(AUTO_SIZE if value == "auto" else int(value))
                else:
                    widget.setValue(float(value))
        finally:
            self._loading = False
        self._update_enabled()

    def _update_enabled(self) -> None:
        """Show the rows of the chosen dataset; grey out the rows whose ``enabled_when`` choice does not
        hold, and the shares whose split the image folder's layout gives (their values are kept)."""
        dataset = self.dataset.currentData()
        folders = self._folders if dataset == "folder" else {}
        for spec in FIELDS:
            if spec.datasets:
                self._forms[spec.name].setRowVisible(self.widgets[spec.name], dataset in spec.datasets)
            on = True
            if spec.enabled_when is not None:
                name, values = spec.enabled_when
                on = self.widgets[name].currentData() in values
            split = {"val_fraction": "val", "test_share": "test"}.get(spec.name)
            if split is not None:
                tip = _description(spec.path)
                if split in folders:
                    on, tip = False, LAYOUT_TIPS[split].format(folders[split])
                self.widgets[spec.name].setToolTip(tip)
            elif spec.enabled_when is None:
                continue
            self.widgets[spec.name].setEnabled(on)
            if spec.name in self._labels:
                self._labels[spec.name].setEnabled(on)

    def show_folder_summary(self, summary: FolderSummary | None) -> None:
        """Say what "auto" gives for the image folder of ``summary`` (its size and channels), and grey out
        the shares whose split its layout gives (``None``: nothing is known about the folder)."""
        self._folders = dict(summary.plan.folders) if summary is not None else {}
        size = summary.auto_size if summary is not None else None
        self.image_size.setSpecialValueText(_auto_size_text(size) if size is not None else AUTO_SIZE_TEXT)
        tip = _description(("options", "size"))
        self.image_size.setToolTip(f"{tip}\n{_auto_size_reason(size)}" if size is not None else tip)
        colour = summary.colour if summary is not None and summary.colour.total else None
        self.channels.setItemText(0, f"Auto: {colour.channels} ({colour.reason})" if colour is not None
                                  else CHANNELS[0][0])
        self._update_enabled()

    def _on_graph_replaced(self, _graph) -> None:
        self.load_from_project()

    # --- widgets → model -----------------------------------------------------------------
    def _widget_value(self, spec: FormField) -> Any:
        widget = self.widgets[spec.name]
        if spec.kind == "bool":
            return widget.isChecked()
        if spec.kind == "choice":
            return widget.currentData()
        if spec.kind == "float":
            return round(widget.value(), spec.decimals)
        if spec.kind == "size":
            return "auto" if widget.value() == AUTO_SIZE else widget.value()
        return widget.value()

    def _on_edit(self, *_args) -> None:
        if self._loading:
            return
        self._update_enabled()
        p = self.document.project
        try:
            training = p.training.model_copy(deep=True)
            augment = training.augment.model_dump()
            dataset = p.dataset.model_copy(deep=True)
            if dataset.name != self.dataset.currentData():
                dataset.name = self.dataset.currentData()
                dataset.options = {k: v for k, v in dataset.options.items() if k in ("random_labels", "random_pixels")}
            dataset.root = self.root.text().strip() or None
            options = dict(dataset.options)
            for spec in FIELDS:
                value = self._widget_value(spec)
                if spec.path[0] == "options":
                    if spec.datasets and dataset.name not in spec.datasets:
                        continue
                    options.pop(spec.path[1], None)
                    if value != spec.default:
                        options[spec.path[1]] = value
                elif spec.path[0] == "augment":
                    augment[spec.path[1]] = value
                else:
                    setattr(training, spec.path[0], value)
            training.augment = AugmentConfig(**augment)
            dataset.options = options
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            where = ".".join(map(str, first["loc"])) or "settings"
            self.error.setText(f"{where}: {first['msg']}")
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


def _auto_size_text(size: ImageSize) -> str:
    """``Auto (32×32)``: what the image-size spin box's "auto" gives (why: :func:`_auto_size_reason`, in its
    tool tip; the whole sentence did not fit a 360 px dock and showed as "28×28, the size of all images)")."""
    return f"Auto ({size.height}×{size.width})"


def _auto_size_reason(size: ImageSize) -> str:
    """``Auto gives 32×32, the size of all images.``"""
    why = ("the size of all images" if size.count == size.total else
           "the most common size, scaled" if size.largest is not None else "the most common size")
    return f"Auto gives {size.height}×{size.width}, {why}."

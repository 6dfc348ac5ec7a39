"""Sample images of the chosen dataset with their class names, and the same images augmented.

The preview shows what the network will be trained on: labels and pixels after the
corruption experiments (random labels, random pixels), and a second row of the same
images passed through the current augmentation settings, redrawn whenever they change.
Under the dataset's description, the per-channel mean/std the images are normalized with and
the images per class (details in the tool tip), with a warning line when the classes are
unbalanced (the rule of ``data/balance.py``).
"""

from __future__ import annotations

import html

import numpy as np
import torch
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QGridLayout, QGroupBox, QHBoxLayout, QLabel, QToolButton, QVBoxLayout, QWidget

from ...data.augment import augment_batch
from ...data.balance import UNBALANCED_RATIO, ClassCounts, class_counts, normalization_text
from ...data.base import ImageData
from ...project import AugmentConfig
from .epoch_views import image_pixmap

#: How many images each row of the preview shows (one per class while there are classes).
SAMPLES = 8
COLUMNS = 4
THUMB = 52
#: The colour of the unbalanced-classes warning (as the canvas' warnings).
WARNING_COLOUR = "#b07d00"
#: At most this many classes in the tool tip's table (the largest and smallest halves beyond).
TIP_CLASSES = 24


def pick_samples(labels: torch.Tensor, count: int, seed: int) -> list[int]:
    """``count`` indices: one image of each class first (in class order), then random others."""
    g = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(labels), generator=g)
    shuffled = labels[order]
    chosen: list[int] = []
    for cls in torch.unique(labels).tolist():
        if len(chosen) == count:
            break
        chosen.append(int(order[int((shuffled == cls).nonzero()[0])]))
    taken = set(chosen)
    chosen += [int(i) for i in order.tolist() if int(i) not in taken][: count - len(chosen)]
    return chosen


class _Grid(QWidget):
    """Thumbnails with a caption under each, ``COLUMNS`` to a row."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._layout = QGridLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(4)
        self.images: list[QLabel] = []
        self.captions: list[QLabel] = []

    def show_images(self, images: np.ndarray, captions: list[str]) -> None:
        while len(self.images) < len(images):
            i = len(self.images)
            image, caption = QLabel(self), QLabel(self)
            image.setAlignment(Qt.AlignmentFlag.AlignCenter)
            image.setFixedSize(THUMB + 4, THUMB + 4)
            caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
            caption.setMaximumWidth(THUMB + 16)
            row, col = divmod(i, COLUMNS)
            self._layout.addWidget(image, 2 * row, col, Qt.AlignmentFlag.AlignHCenter)
            self._layout.addWidget(caption, 2 * row + 1, col, Qt.AlignmentFlag.AlignHCenter)
            self.images.append(image)
            self.captions.append(caption)
        for i, (image, caption) in enumerate(zip(self.images, self.captions)):
            shown = i < len(images)
            image.setVisible(shown)
            caption.setVisible(shown)
            if shown:
                image.setPixmap(image_pixmap(images[i], THUMB))
                text = captions[i]
                caption.setText(caption.fontMetrics().elidedText(text, Qt.TextElideMode.ElideRight, THUMB + 16))
                caption.setToolTip(text)
                image.setToolTip(text)


class SamplePreview(QGroupBox):
    """Training images with class names; with augmentation on, the same images augmented.

    Signal ``shown()`` when the preview becomes visible (the dock loads the data then), and
    ``load_requested()`` when the user presses "Load samples" (datasets read only on request).
    """

    shown = Signal()
    load_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Samples", parent)
        self.data: ImageData | None = None
        self.augment = AugmentConfig()
        self.indices: list[int] = []
        self._seed = 0
        self._augment_seed = 0
        self.info = QLabel("", self)
        self.info.setWordWrap(True)
        self.class_weights = "none"
        self.counts: ClassCounts | None = None
        #: Normalization and images per class, compact; the details in its tool tip.
        self.stats = QLabel("", self)
        self.stats.setWordWrap(True)
        #: "Unbalanced classes: …" when the training split's largest class has ≥ 3 × the smallest's images.
        self.balance = QLabel("", self)
        self.balance.setWordWrap(True)
        self.balance.setTextFormat(Qt.TextFormat.PlainText)  # class names are the user's folder names
        self.shuffle_button = QToolButton(self)
        self.shuffle_button.setText("New samples")
        self.shuffle_button.setToolTip("Show other images of the training set")
        self.shuffle_button.clicked.connect(self.new_samples)
        self.again_button = QToolButton(self)
        self.again_button.setText("Augment again")
        self.again_button.setToolTip("Draw new random augmentations of the same images")
        self.again_button.clicked.connect(self.augment_again)
        self.load_button = QToolButton(self)
        self.load_button.setText("Load samples")
        self.load_button.setToolTip("Read the dataset's images now to show samples of them")
        self.load_button.clicked.connect(self.load_requested)
        self.originals = _Grid(self)
        self.augmented_title = QLabel("Augmented, as the network sees them:", self)
        self.augmented = _Grid(self)
        buttons = QHBoxLayout()
        buttons.addWidget(self.shuffle_button)
        buttons.addWidget(self.again_button)
        buttons.addWidget(self.load_button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.info)
        layout.addWidget(self.stats)
        layout.addWidget(self.balance)
        layout.addWidget(self.originals)
        layout.addWidget(self.augmented_title)
        layout.addWidget(self.augmented)
        layout.addLayout(buttons)
        self.set_message("Open the Training dock to see samples")

    # --- state ---------------------------------------------------------------------------
    def set_message(self, text: str, error: bool = False, load_button: bool = False) -> None:
        """No images: just ``text`` (loading, or why the dataset cannot be shown), with the
        "Load samples" button when ``load_button``."""
        self.data = None
        self.counts = None
        self.info.setText(text)
        self.info.setStyleSheet("color: #d64545;" if error else "")
        for widget in (self.originals, self.augmented, self.augmented_title, self.shuffle_button,
                       self.again_button, self.stats, self.balance):
            widget.hide()
        self.load_button.setVisible(load_button)

    def set_data(self, data: ImageData) -> None:
        """Show samples of ``data``'s training split (labels and pixels as training sees them)."""
        self.data = data
        c, h, w = data.input_shape
        self.info.setStyleSheet("")
        skipped = f"; {data.skipped.message()}" if data.skipped is not None else ""
        self.info.setText(f"{data.name}: {len(data.train):,} training and {len(data.val):,} validation images, "
                          f"{data.num_classes} classes, {c}×{h}×{w}{skipped}")
        self.load_button.hide()
        self._show_stats(data)
        self.originals.show()
        self.shuffle_button.show()
        self._pick()

    def set_class_weights(self, mode: str) -> None:
        """The project's ``class_weights`` setting: the balance line advises it, or says it is on."""
        if mode != self.class_weights:
            self.class_weights = mode
            self._show_balance()

    def set_augment(self, config: AugmentConfig) -> None:
        """Redraw the augmented row for new settings."""
        if config != self.augment:
            self.augment = config.model_copy()
            self._show_augmented()

    def new_samples(self) -> None:
        self._seed += 1
        self._pick()

    def augment_again(self) -> None:
        self._augment_seed += 1
        self._show_augmented()

    # --- what is shown (for tests) -------------------------------------------------------
    def captions(self) -> list[str]:
        return [c.toolTip() for c in self.originals.captions if not c.isHidden()]

    def augmented_images(self) -> np.ndarray | None:
        """The augmented images shown, ``(N, C, H, W)`` floats in ``[0, 1]`` (None when off)."""
        return getattr(self, "_augmented_images", None) if not self.augmented.isHidden() else None

    # --- internals -----------------------------------------------------------------------
    def _show_stats(self, data: ImageData) -> None:
        counts = self.counts = class_counts(data)
        low, high = min(counts.train, default=0), max(counts.train, default=0)
        per_class = f"{low:,}" if low == high else f"{low:,}–{high:,}"
        self.stats.setText(f"Normalized with {normalization_text(data)}; {per_class} training images per class")
        self.stats.setToolTip(_stats_tip(data, counts))
        self.stats.show()
        self._show_balance()

    def _show_balance(self) -> None:
        counts = self.counts
        if counts is None or not counts.unbalanced:
            self.balance.hide()
            self.balance.clear()
            return
        if self.class_weights == "none":
            self.balance.setText(f"⚠ Unbalanced classes: {counts.extremes()}. Consider Class weights: Balanced "
                                 "(in Data above).")
            self.balance.setStyleSheet(f"color: {WARNING_COLOUR};")
        else:
            self.balance.setText(f"Unbalanced classes: {counts.extremes()}; the training loss is weighted by "
                                 "class.")
            self.balance.setStyleSheet("")
        self.balance.setToolTip(f"A dataset is called unbalanced when its largest class has at least "
                                f"{UNBALANCED_RATIO:g} times the training images of its smallest: a network can "
                                "then score well by favouring the large classes. Class weights: Balanced gives "
                                "each class the weight n / (classes × its images) in the training loss.")
        self.balance.show()

    def _pick(self) -> None:
        data = self.data
        if data is None:
            return
        self.indices = pick_samples(data.train.labels, min(SAMPLES, len(data.train)), self._seed)
        images = data.train.images[self.indices].numpy()
        names = [self._name(int(data.train.labels[i])) for i in self.indices]
        self.originals.show_images(images, names)
        self._show_augmented()

    def _name(self, label: int) -> str:
        names = self.data.class_names if self.data else ()
        return str(names[label]) if 0 <= label < len(names) else str(label)

    def _show_augmented(self) -> None:
        on = self.data is not None and self.augment.enabled and bool(self.indices)
        for widget in (self.augmented, self.augmented_title, self.again_button):
            widget.setVisible(on)
        if not on:
            self._augmented_images = None
            return
        x = self.data.train.images[self.indices].float() / 255.0
        g = torch.Generator().manual_seed(1000 + self._augment_seed)
        with torch.no_grad():
            out = augment_batch(x, self.augment, g).clamp(0.0, 1.0)
        self._augmented_images = out.numpy()
        names = [self._name(int(self.data.train.labels[i])) for i in self.indices]
        self.augmented.show_images(self._augmented_images, names)

    def showEvent(self, event) -> None:  # noqa: N802 (Qt override)
        super().showEvent(event)
        self.shown.emit()


def _stats_tip(data: ImageData, counts: ClassCounts) -> str:
    """The tool tip of the statistics line: mean/std per channel (4 decimals) and images per class per split."""
    channels = ("grey",) if len(data.mean) == 1 else ("red", "green", "blue") if len(data.mean) == 3 else \
        tuple(f"channel {i + 1}" for i in range(len(data.mean)))
    rows = "".join(f"<tr><td>{name}</td><td align=right>{m:.4f}</td><td align=right>{s:.4f}</td></tr>"
                   for name, m, s in zip(channels, data.mean, data.std))
    head = "<tr><th align=left>class</th><th align=right>train</th><th align=right>validation</th>" + \
        ("<th align=right>test</th>" if counts.test is not None else "") + "</tr>"
    order = list(range(len(counts.class_names)))
    if len(order) > TIP_CLASSES:  # the largest and the smallest classes, so the tip stays on the screen
        order.sort(key=lambda i: -counts.train[i])
        order = order[: TIP_CLASSES // 2] + [-1] + order[-(TIP_CLASSES // 2):]
    body = ""
    for i in order:
        if i < 0:
            body += f"<tr><td>… {len(counts.class_names) - TIP_CLASSES // 2 * 2} more</td></tr>"
            continue
        cells = [counts.train[i], counts.val[i]] + ([counts.test[i]] if counts.test is not None else [])
        body += (f"<tr><td>{html.escape(counts.class_names[i])}</td>"
                 + "".join(f"<td align=right>{c:,}</td>" for c in cells) + "</tr>")
    return (f"<p>Each channel is normalized, (pixel − mean) / std,<br>with the statistics of the "
            f"{len(data.train):,} training images only<br>(validation and test images stay unseen):</p>"
            f"<table cellpadding=2><tr><th align=left>channel</th><th align=right>mean</th>"
            f"<th align=right>std</th></tr>{rows}</table>"
            f"<p>Images per class:</p><table cellpadding=2>{head}{body}</table>")

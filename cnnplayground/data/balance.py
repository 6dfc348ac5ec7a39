"""Class balance of a dataset: images per class in each split, the "unbalanced" rule, class weights.

The rule (:data:`UNBALANCED_RATIO`): a dataset is *unbalanced* when, in its training split, the
largest class has at least 3 times the images of the smallest (a class with no training image
counts as infinitely outnumbered). Below that, an unweighted loss rarely needs help; above it,
a network can score well by favouring the large classes, and weighting the loss by class
(``TrainingConfig.class_weights = "balanced"``) is worth a try.

``balanced`` weights are scikit-learn's ``class_weight="balanced"``: ``n / (k · count_c)`` for ``n``
training images in ``k`` classes, so that every class weighs as much in the loss as a class of
average size (the weights, averaged over the images, are exactly 1). A class without training
images gets weight 0 (scikit-learn refuses such a class; here it has nothing to weigh, and with
label smoothing its share of the smoothed target is dropped rather than blown up).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .base import ImageData

#: Largest / smallest class in the training split at or above which a dataset is called unbalanced.
UNBALANCED_RATIO = 3.0


def count_classes(labels: torch.Tensor, num_classes: int) -> tuple[int, ...]:
    """Images per class of ``(N,)`` int64 ``labels`` (every class ``0..num_classes-1``, zeros included)."""
    if num_classes <= 0:
        return ()
    return tuple(int(c) for c in torch.bincount(labels, minlength=num_classes)[:num_classes].tolist())


def balanced_weights(counts: tuple[int, ...] | list[int]) -> tuple[float, ...]:
    """scikit-learn's ``balanced`` class weights ``n / (k · count_c)``; 0 for a class with no image."""
    n, k = sum(counts), len(counts)
    return tuple(n / (k * c) if c > 0 else 0.0 for c in counts)


def loss_weights(mode: str, labels: torch.Tensor, num_classes: int) -> torch.Tensor | None:
    """The ``weight=`` of the training loss for ``TrainingConfig.class_weights``: ``(num_classes,)`` float32
    on the CPU for ``"balanced"`` (from the training labels), ``None`` for ``"none"``."""
    if mode == "none":
        return None
    if mode == "balanced":
        return torch.tensor(balanced_weights(count_classes(labels, num_classes)), dtype=torch.float32)
    raise ValueError(f"unknown class weighting {mode!r}")


@dataclass(frozen=True)
class ClassCounts:
    """Images per class in each split of a dataset (``test`` is ``None`` without a test split)."""

    class_names: tuple[str, ...]
    train: tuple[int, ...]
    val: tuple[int, ...]
    test: tuple[int, ...] | None

    @property
    def ratio(self) -> float:
        """Largest / smallest class of the training split (``inf`` when a class has no image; 1 for < 2 classes)."""
        if len(self.train) < 2 or max(self.train) == 0:
            return 1.0
        smallest = min(self.train)
        return math.inf if smallest == 0 else max(self.train) / smallest

    @property
    def unbalanced(self) -> bool:
        """The training split's largest class has at least :data:`UNBALANCED_RATIO` × the smallest's images."""
        return self.ratio >= UNBALANCED_RATIO

    def listing(self, split: str = "train", limit: int = 10) -> str:
        """``cat 900, dog 850, emu 120``: the images per class of a split, by class; with more than
        ``limit`` classes the largest and smallest few, ``…`` between them (largest first)."""
        counts = getattr(self, split) or ()
        pairs = list(zip(self.class_names, counts))
        if len(pairs) > limit:
            ranked = sorted(pairs, key=lambda p: -p[1])
            half = max(limit // 2, 1)
            return (", ".join(f"{n} {c:,}" for n, c in ranked[:half]) + ", …, "
                    + ", ".join(f"{n} {c:,}" for n, c in ranked[-half:]))
        return ", ".join(f"{n} {c:,}" for n, c in pairs)

    def extremes(self) -> str:
        """``cat 900 … emu 120 (7.5×)``: the largest and smallest class of the training split and their ratio."""
        pairs = list(zip(self.class_names, self.train))
        big = max(pairs, key=lambda p: p[1])
        small = min(pairs, key=lambda p: p[1])
        ratio = "no images" if math.isinf(self.ratio) else f"{self.ratio:.1f}×"
        return f"{big[0]} {big[1]:,} … {small[0]} {small[1]:,} ({ratio})"


def class_counts(data: ImageData) -> ClassCounts:
    """The images per class of every split of ``data`` (labels as training sees them, corruption included)."""
    k = data.num_classes
    return ClassCounts(
        class_names=tuple(data.class_names),
        train=count_classes(data.train.labels, k),
        val=count_classes(data.val.labels, k),
        test=None if data.test is None else count_classes(data.test.labels, k),
    )


def normalization_text(data: ImageData, digits: int = 2) -> str:
    """``mean 0.49 0.48 0.45, std 0.25 0.24 0.26``: the per-channel statistics the images are normalized with."""
    mean = " ".join(f"{m:.{digits}f}" for m in data.mean)
    std = " ".join(f"{s:.{digits}f}" for s in data.std)
    return f"mean {mean}, std {std}"

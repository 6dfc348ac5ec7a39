"""Evaluation: loss, accuracy, per-class accuracy, confusion matrix, worst mistakes.

Everything is accumulated on the device and read back once at the end.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class Mistake:
    """A misclassified image: its index in the split, true and predicted class, confidence (0..1)."""

    index: int
    true: int
    predicted: int
    confidence: float


@dataclass(frozen=True)
class Evaluation:
    count: int
    loss: float
    accuracy: float
    #: Accuracy of each class (``None`` for a class with no images in the split).
    per_class_accuracy: tuple[float | None, ...]
    #: ``confusion[true, predicted]`` counts, ``(K, K)`` int64 on the CPU.
    confusion: torch.Tensor
    #: The most confidently misclassified images, most confident first.
    mistakes: tuple[Mistake, ...] = ()


def flip_averaged_logits(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Test-time flip augmentation: the mean of ``model(x)`` and ``model(x mirrored left-right)``, float32."""
    return (model(x).float() + model(x.flip(3)).float()) / 2


@torch.no_grad()
def evaluate(
    model: nn.Module,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    num_classes: int,
    *,
    autocast_dtype: torch.dtype | None = None,
    top_mistakes: int = 0,
    tta_flip: bool = False,
) -> Evaluation:
    """Evaluate ``model`` on ``batches`` of ``(x (B, C, H, W), y (B,))`` in a fixed order.

    The model is put in eval mode and restored to its previous mode afterwards.
    Indices of mistakes count images in the order the batches come. ``tta_flip``:
    the logits of each image are :func:`flip_averaged_logits` (two passes).
    """
    was_training = model.training
    model.eval()
    try:
        device = next((p.device for p in model.parameters()), torch.device("cpu"))
        k = num_classes
        loss_sum = torch.zeros((), device=device, dtype=torch.float64)
        confusion = torch.zeros(k * k, device=device, dtype=torch.int64)
        confidences: list[torch.Tensor] = []
        predictions: list[torch.Tensor] = []
        truths: list[torch.Tensor] = []
        for x, y in batches:
            ctx = torch.autocast(device.type, dtype=autocast_dtype) if autocast_dtype else contextlib.nullcontext()
            with ctx:
                logits = flip_averaged_logits(model, x) if tta_flip else model(x)
            logits = logits.float()
            loss_sum += nn.functional.cross_entropy(logits, y, reduction="sum").double()
            pred = logits.argmax(1)
            confusion += torch.bincount(y * k + pred, minlength=k * k)
            if top_mistakes:
                confidences.append(logits.softmax(1).gather(1, pred[:, None])[:, 0])
                predictions.append(pred)
                truths.append(y)
        conf_matrix = confusion.view(k, k).cpu()
        total = int(conf_matrix.sum())
        correct = int(conf_matrix.diag().sum())
        per_class = tuple(
            int(conf_matrix[c, c]) / int(conf_matrix[c].sum()) if conf_matrix[c].sum() > 0 else None
            for c in range(k)
        )
        mistakes: tuple[Mistake, ...] = ()
        if top_mistakes and confidences:
            conf, pred, true = torch.cat(confidences), torch.cat(predictions), torch.cat(truths)
            wrong = (pred != true).nonzero()[:, 0]
            n = min(top_mistakes, len(wrong))
            # Stable sort: equally confident mistakes keep their dataset order.
            top = torch.sort(conf[wrong], descending=True, stable=True).indices[:n]
            chosen = wrong[top]
            mistakes = tuple(
                Mistake(index=i, true=t, predicted=p, confidence=c)
                for i, t, p, c in zip(
                    chosen.tolist(), true[chosen].tolist(), pred[chosen].tolist(), conf[chosen].tolist()
                )
            )
        return Evaluation(
            count=total,
            loss=float(loss_sum) / max(total, 1),
            accuracy=correct / max(total, 1),
            per_class_accuracy=per_class,
            confusion=conf_matrix,
            mistakes=mistakes,
        )
    finally:
        model.train(was_training)

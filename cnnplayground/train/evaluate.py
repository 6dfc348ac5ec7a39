"""Evaluation: loss, accuracy, per-class accuracy, confusion matrix, worst mistakes, per-image results.

Everything is accumulated on the device and read back once at the end.
"""

from __future__ import annotations

import contextlib
import csv
import io
from collections.abc import Iterable, Sequence
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
    #: With ``per_image``: the predicted class of every image, ``(N,)`` int64 on the CPU, in batch order.
    predicted: torch.Tensor | None = None
    #: With ``per_image``: the softmax probability of each predicted class, ``(N,)`` float32 (0..1).
    confidence: torch.Tensor | None = None


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
    per_image: bool = False,
) -> Evaluation:
    """Evaluate ``model`` on ``batches`` of ``(x (B, C, H, W), y (B,))`` in a fixed order.

    The model is put in eval mode and restored to its previous mode afterwards.
    Indices of mistakes count images in the order the batches come. ``tta_flip``:
    the logits of each image are :func:`flip_averaged_logits` (two passes). ``per_image``: the
    result also holds every image's predicted class and its confidence (for a per-image table).
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
            if top_mistakes or per_image:
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
        conf = torch.cat(confidences) if confidences else torch.zeros(0, device=device)
        pred = torch.cat(predictions) if predictions else torch.zeros(0, dtype=torch.int64, device=device)
        if top_mistakes and confidences:
            true = torch.cat(truths)
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
            predicted=pred.cpu() if per_image else None,
            confidence=conf.cpu() if per_image else None,
        )
    finally:
        model.train(was_training)


def per_image_csv(result: Evaluation, labels: torch.Tensor, class_names: Sequence[str],
                  files: Sequence[str] | None = None) -> str:
    """One CSV row per image of an evaluation made with ``per_image``: ``index`` (position in the split),
    ``file`` (only where the split has files: the path relative to the image folder), ``true`` and
    ``predicted`` class names, ``confidence`` (softmax probability of the predicted class, 0..1).

    ``labels`` ``(N,)`` are the split's true classes in the evaluated order.
    """
    if result.predicted is None or result.confidence is None:
        raise ValueError("the evaluation holds no per-image results: evaluate with per_image=True")
    header = ["index", *(["file"] if files is not None else []), "true", "predicted", "confidence"]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for i, (t, p, c) in enumerate(zip(labels.tolist(), result.predicted.tolist(), result.confidence.tolist(),
                                      strict=True)):
        writer.writerow([i, *([files[i]] if files is not None else []), class_names[t], class_names[p], f"{c:.6f}"])
    return out.getvalue()

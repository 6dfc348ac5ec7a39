"""Adversarial examples on a trained model: FGSM (untargeted and targeted), PGD under L∞ and L2,
before/after comparisons and epsilon sweeps.

Scales: images go in as pixels in ``[0, 1]`` and the bound ``epsilon`` is in the same pixel
units (MNIST's classic ε = 0.25 means a quarter of the full grey range). The gradient is taken
through the network's input normalization (``(x − mean) / std``), i.e. on the model's input
scale, but every step is made and clipped in pixel space: the adversarial image is always a
valid image (``0 ≤ x ≤ 1``) within ε of the original (per pixel for L∞, in Euclidean norm over
the image for L2).

The attacks themselves (:func:`fgsm`, :func:`pgd`) live in :mod:`cnnplayground.train.adversarial`,
because adversarial training crafts them for every batch; they are re-exported here unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

import torch

from ..core.progress import Progress, report
from ..data.augment import normalize
from ..train.adversarial import Norm, fgsm, pgd

__all__ = ["Comparison", "Flip", "Norm", "compare", "epsilon_sweep", "fgsm", "label_flips", "pgd"]


@dataclass(frozen=True)
class Comparison:
    """Predictions on the original and the adversarial images (class and its probability)."""

    clean_class: torch.Tensor
    clean_probability: torch.Tensor
    adversarial_class: torch.Tensor
    adversarial_probability: torch.Tensor

    @property
    def flipped(self) -> torch.Tensor:
        return self.clean_class != self.adversarial_class


@torch.no_grad()
def compare(model, x01: torch.Tensor, adversarial: torch.Tensor, mean, std) -> Comparison:
    """What the model says before and after the perturbation."""
    p_clean = torch.softmax(model(normalize(x01, mean, std)).float(), dim=1)
    p_adv = torch.softmax(model(normalize(adversarial, mean, std)).float(), dim=1)
    c_clean, c_adv = p_clean.argmax(1), p_adv.argmax(1)
    return Comparison(c_clean, p_clean.gather(1, c_clean[:, None])[:, 0], c_adv,
                      p_adv.gather(1, c_adv[:, None])[:, 0])


def epsilon_sweep(model, x01: torch.Tensor, labels: torch.Tensor, epsilons: Sequence[float],
                  mean: Sequence[float], std: Sequence[float], attack: Literal["fgsm", "pgd"] = "fgsm",
                  batch_size: int = 256, progress: Progress | None = None, **options) -> Iterator[tuple[float, float]]:
    """Accuracy under attack for each ε, yielded as ``(ε, accuracy)`` (cancellable between values, and by
    ``progress``, told each batch of each ε).

    ``options`` go to :func:`pgd` (steps, step_size, norm, random_start, generator).
    """
    batches = max(1, math.ceil(len(x01) / batch_size))
    for e, epsilon in enumerate(epsilons):
        correct = 0
        for start in range(0, len(x01), batch_size):
            report(progress, (e + start / batch_size / batches) / max(len(epsilons), 1))
            xb, yb = x01[start:start + batch_size], labels[start:start + batch_size]
            adv = fgsm(model, xb, yb, epsilon, mean, std) if attack == "fgsm" else \
                pgd(model, xb, yb, epsilon, mean, std, **options)
            with torch.no_grad():
                correct += int((model(normalize(adv, mean, std)).argmax(1) == yb).sum())
        yield float(epsilon), correct / max(len(x01), 1)


@dataclass(frozen=True)
class Flip:
    """An image the attack fooled: it was classified right, and its adversarial version is not."""

    index: int  # into the images searched
    image: torch.Tensor  # (C, H, W) adversarial, pixels in [0, 1]
    true_class: int
    adversarial_class: int
    adversarial_probability: float


def label_flips(model, x01: torch.Tensor, labels: torch.Tensor, mean, std, attack, limit: int = 32,
                batch_size: int = 128, progress: Progress | None = None) -> Iterator[tuple[float, list[Flip]]]:
    """Search ``x01`` batch by batch for images that ``attack(model, xb, yb)`` fools.

    ``attack`` returns the adversarial batch (e.g. a partial :func:`fgsm` or :func:`pgd`); images
    the model already gets wrong do not count. Yields ``(fraction searched, flips so far)`` after
    each batch and stops once ``limit`` flips are found (or when ``progress`` is cancelled).
    """
    flips: list[Flip] = []
    n = len(x01)
    for start in range(0, n, batch_size):
        report(progress, start / n)
        xb = x01[start:start + batch_size].float()
        xb = xb / 255.0 if x01.dtype == torch.uint8 else xb
        yb = labels[start:start + batch_size]
        adv = attack(model, xb, yb)
        c = compare(model, xb, adv, mean, std)
        fooled = (c.clean_class == yb) & (c.adversarial_class != yb)
        for i in torch.nonzero(fooled).flatten().tolist():
            flips.append(Flip(start + i, adv[i].detach(), int(yb[i]), int(c.adversarial_class[i]),
                              float(c.adversarial_probability[i])))
            if len(flips) >= limit:
                yield 1.0, flips
                return
        yield min(1.0, (start + batch_size) / n), list(flips)

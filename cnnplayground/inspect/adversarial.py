"""Adversarial examples: FGSM (untargeted and targeted), PGD under L∞ and L2, and epsilon sweeps.

Scales: images go in as pixels in ``[0, 1]`` and the bound ``epsilon`` is in the same pixel
units (MNIST's classic ε = 0.25 means a quarter of the full grey range). The gradient is taken
through the network's input normalization (``(x − mean) / std``), i.e. on the model's input
scale, but every step is made and clipped in pixel space: the adversarial image is always a
valid image (``0 ≤ x ≤ 1``) within ε of the original (per pixel for L∞, in Euclidean norm over
the image for L2).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F

from ..data.augment import normalize

Norm = Literal["linf", "l2"]


def _loss_gradient(model, x01: torch.Tensor, labels: torch.Tensor, mean, std,
                   target: torch.Tensor | None) -> torch.Tensor:
    """∂loss/∂x in pixel space; for a targeted attack the loss is minus the target's log-likelihood."""
    x = x01.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        logits = model(normalize(x, mean, std))
        loss = -F.cross_entropy(logits, target, reduction="sum") if target is not None else \
            F.cross_entropy(logits, labels, reduction="sum")
        (grad,) = torch.autograd.grad(loss, x)
    return grad


def fgsm(model, x01: torch.Tensor, labels: torch.Tensor, epsilon: float, mean: Sequence[float],
         std: Sequence[float], target: torch.Tensor | None = None) -> torch.Tensor:
    """Fast gradient sign method (Goodfellow et al. 2014): ``x + ε·sign(∇ loss)``, clipped to ``[0, 1]``.

    With ``target`` (class indices) the step goes towards the target class instead.
    """
    if epsilon < 0:
        raise ValueError("epsilon must be at least 0")
    if epsilon == 0:
        return x01.detach().clone()
    grad = _loss_gradient(model, x01, labels, mean, std, target)
    return (x01.detach() + epsilon * grad.sign()).clamp(0.0, 1.0)


def _project(delta: torch.Tensor, epsilon: float, norm: Norm) -> torch.Tensor:
    if norm == "linf":
        return delta.clamp(-epsilon, epsilon)
    flat = delta.flatten(1).norm(dim=1).clamp_min(1e-12)
    factor = torch.clamp(epsilon / flat, max=1.0).view(-1, *([1] * (delta.dim() - 1)))
    return delta * factor


def pgd(model, x01: torch.Tensor, labels: torch.Tensor, epsilon: float, mean: Sequence[float],
        std: Sequence[float], steps: int = 10, step_size: float | None = None, norm: Norm = "linf",
        random_start: bool = True, target: torch.Tensor | None = None,
        generator: torch.Generator | None = None) -> torch.Tensor:
    """Projected gradient descent (Madry et al. 2018): ``steps`` steps of size ``step_size``
    (default 2.5 ε / steps), each projected back onto the ε-ball around ``x01`` and into ``[0, 1]``."""
    if epsilon < 0 or steps < 1:
        raise ValueError("epsilon must be at least 0 and steps at least 1")
    x0 = x01.detach()
    if epsilon == 0:
        return x0.clone()
    alpha = step_size if step_size is not None else 2.5 * epsilon / steps
    delta = torch.zeros_like(x0)
    if random_start:
        noise = torch.rand(x0.shape, generator=generator, dtype=x0.dtype) * 2 - 1
        delta = _project(noise.to(x0.device) * epsilon, epsilon, norm)
    x = (x0 + delta).clamp(0.0, 1.0)
    for _ in range(steps):
        grad = _loss_gradient(model, x, labels, mean, std, target)
        if norm == "linf":
            step = alpha * grad.sign()
        else:
            step = alpha * grad / grad.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, *([1] * (grad.dim() - 1)))
        x = (x0 + _project(x + step - x0, epsilon, norm)).clamp(0.0, 1.0)
    return x.detach()


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
                  batch_size: int = 256, **options) -> Iterator[tuple[float, float]]:
    """Accuracy under attack for each ε, yielded as ``(ε, accuracy)`` (cancellable between values).

    ``options`` go to :func:`pgd` (steps, step_size, norm, random_start, generator).
    """
    for epsilon in epsilons:
        correct = 0
        for start in range(0, len(x01), batch_size):
            xb, yb = x01[start:start + batch_size], labels[start:start + batch_size]
            adv = fgsm(model, xb, yb, epsilon, mean, std) if attack == "fgsm" else \
                pgd(model, xb, yb, epsilon, mean, std, **options)
            with torch.no_grad():
                correct += int((model(normalize(adv, mean, std)).argmax(1) == yb).sum())
        yield float(epsilon), correct / max(len(x01), 1)

"""Adversarial examples for training and for inspection: FGSM and PGD in pixel units.

Scales: images go in as pixels in ``[0, 1]`` and the bound ``epsilon`` is in the same pixel
units (MNIST's classic ε = 0.25 means a quarter of the full grey range). The gradient is taken
through the network's input normalization (``(x − mean) / std``), i.e. on the model's input
scale, but every step is made and clipped in pixel space: the adversarial image is always a
valid image (``0 ≤ x ≤ 1``) within ε of the original (per pixel for L∞, in Euclidean norm over
the image for L2).

The attacks live here, in the training engine, because adversarial training crafts them for
every batch; :mod:`cnnplayground.inspect.adversarial` builds its comparisons and ε sweeps on
them (inspect depends on train, never the other way round). Gradients are taken with
``torch.autograd.grad`` with respect to the image only: crafting never writes a parameter's
``.grad``.

:func:`adversarial_batch` is the training side: it replaces a share of a *normalized* training
batch by adversarial versions crafted against the model being trained.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from ..data.augment import normalize

Norm = Literal["linf", "l2"]


#: Per-channel mean or standard deviation, in pixel units: a sequence, or a tensor :func:`normalize` takes.
Stats = Sequence[float] | torch.Tensor


def _loss_gradient(model: nn.Module, x01: torch.Tensor, labels: torch.Tensor, mean: Stats, std: Stats,
                   target: torch.Tensor | None) -> torch.Tensor:
    """∂loss/∂x in pixel space; for a targeted attack the loss is minus the target's log-likelihood."""
    x = x01.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        logits = model(normalize(x, mean, std))
        loss = -F.cross_entropy(logits, target, reduction="sum") if target is not None else \
            F.cross_entropy(logits, labels, reduction="sum")
        (grad,) = torch.autograd.grad(loss, x)
    return grad


def fgsm(model: nn.Module, x01: torch.Tensor, labels: torch.Tensor, epsilon: float, mean: Stats,
         std: Stats, target: torch.Tensor | None = None) -> torch.Tensor:
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


def pgd(model: nn.Module, x01: torch.Tensor, labels: torch.Tensor, epsilon: float, mean: Stats,
        std: Stats, steps: int = 10, step_size: float | None = None, norm: Norm = "linf",
        random_start: bool = True, target: torch.Tensor | None = None,
        generator: torch.Generator | None = None) -> torch.Tensor:
    """Projected gradient descent (Madry et al. 2018): ``steps`` steps of size ``step_size``
    (default 2.5 ε / steps), each projected back onto the ε-ball around ``x01`` and into ``[0, 1]``.

    The random start draws from ``generator`` (on its device), else from the global
    generator of ``x01``'s device, so training on a GPU copies nothing from the host.
    """
    if epsilon < 0 or steps < 1:
        raise ValueError("epsilon must be at least 0 and steps at least 1")
    x0 = x01.detach()
    if epsilon == 0:
        return x0.clone()
    alpha = step_size if step_size is not None else 2.5 * epsilon / steps
    delta = torch.zeros_like(x0)
    if random_start:
        where = generator.device if generator is not None else x0.device
        noise = torch.rand(x0.shape, generator=generator, dtype=x0.dtype, device=where) * 2 - 1
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


def adversarial_count(fraction: float, batch: int) -> int:
    """How many images of a batch of ``batch`` become adversarial: ``fraction·batch`` rounded half up."""
    return min(batch, math.floor(fraction * batch + 0.5))


def adversarial_batch(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, method: Literal["fgsm", "pgd"],
                      epsilon: float, fraction: float, mean: torch.Tensor, std: torch.Tensor,
                      steps: int = 7) -> torch.Tensor:
    """The normalized batch ``x`` with its first :func:`adversarial_count` images replaced by adversarial ones.

    ``x`` is what the :class:`~cnnplayground.data.loader.DeviceLoader` yields, ``(x01 − mean) / std``
    (``mean``/``std``: ``(1, C, 1, 1)`` tensors on ``x``'s device, pixel units). The images are taken
    back to pixels, attacked there with ε in pixel units (FGSM, or L∞ PGD with ``steps`` steps of
    2.5 ε / steps from a random start) and clipped to ``[0, 1]``, then normalized again. Loader
    batches are shuffled, so the first images are a random share. The other images are returned
    bit for bit. With Gaussian-noise augmentation the noisy pixels may leave ``[0, 1]``; the
    adversarial images are clipped back into it.

    The model is put in eval mode while crafting and returned to its mode afterwards. Why eval
    mode: crafting forwards in train mode would update BatchNorm's running statistics once per
    attack step (with partly perturbed images) and draw fresh dropout masks, so the statistics the
    network is evaluated with would drift with the attack's step count; in eval mode the only
    forward that touches the buffers is the training step on the mixed batch, and the examples
    are crafted against the function that is evaluated (and attacked by the inspection's ε sweep).
    The cost: early in training the running statistics lag behind, so the first attacks are a
    little weaker than train-mode ones. Madry et al. craft in train mode; both are common.

    Only the image gets a gradient (``torch.autograd.grad``): parameters' ``.grad`` are untouched.
    Call it inside the training step's autocast context to craft in mixed precision too.
    """
    k = adversarial_count(fraction, len(x))
    if k == 0:
        return x
    was_training = model.training
    model.eval()
    try:
        x01 = (x[:k] * std + mean).detach()
        if method == "fgsm":
            adv01 = fgsm(model, x01, y[:k], epsilon, mean, std)
        else:
            adv01 = pgd(model, x01, y[:k], epsilon, mean, std, steps=steps, norm="linf", random_start=True)
    finally:
        model.train(was_training)
    adv = ((adv01 - mean) / std).to(x.dtype)
    if k == len(x):
        return adv
    out = torch.cat([adv, x[k:]])
    if x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous():
        out = out.contiguous(memory_format=torch.channels_last)
    return out

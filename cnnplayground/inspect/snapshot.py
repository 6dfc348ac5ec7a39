"""Model snapshots and input preparation for the analyses.

Every analysis works on a snapshot: a CPU copy of the network in eval mode whose
parameters do not require gradients, never the module being trained (DESIGN.md:
inspection reads weights copied at an epoch boundary or on request).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
from torch import nn

from ..data.augment import normalize


def snapshot(model: nn.Module) -> nn.Module:
    """A detached CPU copy of ``model`` in eval mode (training it further leaves the copy alone)."""
    was_training = model.training
    copied = copy.deepcopy(model).to("cpu").eval()
    model.train(was_training)
    for p in copied.parameters():
        p.requires_grad_(False)
    return copied


def prepare(images: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """uint8 ``(N, C, H, W)`` or ``(C, H, W)`` images → the normalized float batch the network takes."""
    x = images.unsqueeze(0) if images.dim() == 3 else images
    x = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
    return normalize(x, mean, std)

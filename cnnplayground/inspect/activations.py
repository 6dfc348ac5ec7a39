"""Feature maps, predictions and per-layer activation statistics of a snapshot.

``model`` is a built network (:class:`~..core.builder.GraphModule`, whose
``forward_all`` gives every node's output); inputs are normalized float batches
(:func:`.snapshot.prepare`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch


@torch.no_grad()
def feature_maps(model, x: torch.Tensor) -> dict[str, np.ndarray]:
    """Every node's output for one input ``x`` (``(C, H, W)`` or ``(1, C, H, W)``), batch axis removed."""
    batch = x.unsqueeze(0) if x.dim() == 3 else x
    if batch.shape[0] != 1:
        raise ValueError(f"feature maps are for one image, got a batch of {batch.shape[0]}")
    outputs = model.forward_all(batch.float())
    return {nid: value[0].detach().cpu().numpy() for nid, value in outputs.items()}


@torch.no_grad()
def predict(model, x: torch.Tensor, k: int = 5) -> list[tuple[int, float]]:
    """The ``k`` most probable classes for one input, ``[(class, probability), ...]`` best first."""
    batch = x.unsqueeze(0) if x.dim() == 3 else x
    probabilities = torch.softmax(model(batch.float()).float(), dim=1)[0]
    top = torch.topk(probabilities, min(k, probabilities.numel()))
    return [(int(i), float(p)) for p, i in zip(top.values, top.indices)]


def dead_channels(maps: np.ndarray, eps: float = 0.0) -> np.ndarray:
    """Per channel: True when no value exceeds ``eps`` (``(C, H, W)`` or ``(N, C, H, W)`` maps)."""
    a = np.asarray(maps)
    if a.ndim == 3:
        a = a[None]
    if a.ndim != 4:
        raise ValueError(f"need (C, H, W) or (N, C, H, W) maps, got shape {a.shape}")
    return ~(a > eps).any(axis=(0, 2, 3))


@dataclass(frozen=True)
class LayerStats:
    """Activation statistics of one layer over a batch of inputs.

    ``zero_fraction``: share of outputs that are exactly 0 (after a ReLU: inactive
    units); ``dead_fraction``: share of channels (or units, for flat outputs) never
    above 0 for any input of the batch.
    """

    mean: float
    std: float
    zero_fraction: float
    dead_fraction: float


@torch.no_grad()
def activation_stats(model, x: torch.Tensor, layers: Sequence[str] | None = None) -> dict[str, LayerStats]:
    """:class:`LayerStats` of every layer (or of ``layers``) for the batch ``x``."""
    outputs = model.forward_all(x.float())
    stats: dict[str, LayerStats] = {}
    for nid, value in outputs.items():
        if (layers is not None and nid not in layers) or nid == model.input_id:
            continue
        v = value.detach().float()
        per_unit = v.transpose(0, 1).reshape(v.shape[1], -1) if v.dim() >= 2 else v.reshape(1, -1)
        stats[nid] = LayerStats(
            mean=float(v.mean()),
            std=float(v.std(unbiased=False)),
            zero_fraction=float((v == 0).float().mean()),
            dead_fraction=float((per_unit <= 0).all(dim=1).float().mean()),
        )
    return stats

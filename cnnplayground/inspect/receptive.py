"""Theoretical and effective receptive fields.

The theoretical field of a unit is the input region that can affect it, from the
core's receptive-field arithmetic (:class:`~..core.shapes.ReceptiveField`). The
effective field (Luo et al., "Understanding the effective receptive field in deep
convolutional neural networks", 2016) is how much each input pixel actually moves
the unit: the absolute gradient of the unit with respect to the input, summed over
input channels and averaged over a batch of images. It is exactly zero outside the
theoretical field and, in trained and random networks alike, concentrated near its
centre.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..core.graph import Graph
from ..core.inference import InferenceResult, infer
from ..core.progress import Progress, report


@dataclass(frozen=True)
class LayerField:
    """The theoretical field of one layer: size and jump per axis, as the core computes them."""

    node_id: str
    kind: str
    size: tuple[int, int]
    jump: tuple[float, float]


def field_sizes(graph: Graph, result: InferenceResult | None = None) -> list[LayerField]:
    """The receptive field of every spatial layer, in execution order (how stride and dilation grow it)."""
    result = result or infer(graph)
    order, _ = graph.topological_order()
    fields = []
    for nid in order:
        info = result.infos.get(nid)
        rf = info.receptive_field if info else None
        if rf is None or rf.flat or info.shape is None or len(info.shape) != 3:
            continue
        fields.append(LayerField(nid, graph.node(nid).kind, rf.size, rf.jump))
    return fields


def theoretical_region(result: InferenceResult, node_id: str, row: int, col: int,
                       input_hw: tuple[int, int]) -> tuple[int, int, int, int] | None:
    """``(top, left, bottom, right)`` input pixels (inclusive) of unit ``(row, col)``'s field, clipped to the image.

    The field may extend into the padding: the clipped region is what the image holds of it.
    None when the field lies entirely in the padding (no image pixel reaches the unit).
    """
    info = result.infos.get(node_id)
    rf = info.receptive_field if info else None
    if rf is None:
        raise ValueError(f"{node_id} has no receptive field (not a valid spatial layer)")
    top, left, bottom, right = rf.region(row, col)
    h, w = input_hw
    region = (max(0, int(np.ceil(top))), max(0, int(np.ceil(left))),
              min(h - 1, int(np.floor(bottom))), min(w - 1, int(np.floor(right))))
    if region[0] > region[2] or region[1] > region[3]:
        return None
    return region


def effective_field(model, images: torch.Tensor, node_id: str, row: int, col: int,
                    channel: int | None = None, batch_size: int = 16,
                    progress: Progress | None = None) -> np.ndarray:
    """Mean absolute input gradient of unit ``(row, col)`` of layer ``node_id``, ``(H, W)``.

    ``images``: a normalized float batch ``(N, C, H, W)``, taken ``batch_size`` at a time (each image's
    gradient is its own: the model is in eval mode). The unit is channel ``channel`` at that position, or
    the sum over the layer's channels when ``channel`` is None. ``progress`` is told each batch and stops
    the work when cancelled (:class:`~..core.progress.Cancelled`).
    """
    n = len(images)
    total: torch.Tensor | None = None
    for start in range(0, max(n, 1), batch_size):
        report(progress, start / max(n, 1))
        x = images[start:start + batch_size].detach().float().clone().requires_grad_(True)
        with torch.enable_grad():
            outputs = model.forward_all(x)
            if node_id not in outputs:
                raise ValueError(f"no layer {node_id!r} in this network")
            out = outputs[node_id]
            if out.dim() != 4:
                raise ValueError(f"{node_id} has a flat output: pick a layer with a spatial map")
            _, channels, height, width = out.shape
            if not (0 <= row < height and 0 <= col < width):
                raise ValueError(f"position ({row}, {col}) is outside {node_id}'s {height}×{width} map")
            unit = out[:, channel, row, col] if channel is not None else out[:, :, row, col].sum(dim=1)
            (grad,) = torch.autograd.grad(unit.sum(), x)
        part = grad.abs().sum(dim=1).sum(dim=0)
        total = part if total is None else total + part
    assert total is not None  # noqa: S101 - the loop ran at least once
    return (total / max(n, 1)).cpu().numpy()

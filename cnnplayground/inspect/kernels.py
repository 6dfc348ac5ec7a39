"""Convolution kernels as images, and weight histograms.

Weights are shown on a scale symmetric around zero (a diverging colour map: negative
blue, zero white, positive red), either shared by all filters of the layer (filters
compare with each other) or per filter (each filter's pattern is visible even when
its weights are small). A first layer on RGB input can be shown in colour instead:
each filter as an RGB image, 0.5 grey meaning zero weight.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch import nn

Mode = Literal["channels", "sum", "rgb"]
Scale = Literal["shared", "per_filter"]


def conv_weights(model: nn.Module) -> dict[str, torch.Tensor]:
    """Every 2-D convolution's weight ``(out, in/groups, kh, kw)`` by layer name (node id), detached on the CPU.

    For a built network (:class:`~..core.builder.GraphModule`) the names are the node ids.
    """
    layers = getattr(model, "layers", None)
    named = layers.items() if isinstance(layers, nn.ModuleDict) else model.named_modules()
    return {name: module.weight.detach().to("cpu", torch.float32).clone()
            for name, module in named if isinstance(module, nn.Conv2d)}


@dataclass(frozen=True)
class KernelImages:
    """Filters ready to draw.

    ``values``: ``(filters, rows, kh, kw)`` in ``[-1, 1]`` (weight / scale) for the
    diverging map, one row per input channel (``channels``) or one summed row (``sum``);
    for ``rgb`` ``(filters, kh, kw, 3)`` in ``[0, 1]``. ``scale``: per filter, the weight
    that maps to ±1 (equal for all filters with a shared scale). ``weights``: the raw
    numbers, ``(filters, in, kh, kw)``.
    """

    mode: Mode
    values: np.ndarray
    scale: np.ndarray
    weights: np.ndarray


def kernel_images(weight: torch.Tensor, mode: Mode | Literal["auto"] = "auto",
                  scale: Scale = "shared", magnitude: float | None = None) -> KernelImages:
    """Normalize a conv weight for display (see the module docstring).

    ``auto`` is ``rgb`` for three input channels, ``channels`` for one, else ``sum``. ``magnitude``: a
    fixed weight that maps to ±1 for every filter (one scale for several layers or epochs), instead of
    ``scale``'s choice.
    """
    w = weight.detach().to("cpu", torch.float64).numpy()
    if w.ndim != 4:
        raise ValueError(f"need a (out, in, kh, kw) conv weight, got shape {tuple(w.shape)}")
    if mode == "auto":
        mode = "rgb" if w.shape[1] == 3 else ("channels" if w.shape[1] == 1 else "sum")
    if mode == "rgb" and w.shape[1] != 3:
        raise ValueError(f"colour display needs 3 input channels, this layer has {w.shape[1]}")
    shown = w.sum(axis=1, keepdims=True) if mode == "sum" else w
    largest = np.abs(shown).reshape(len(shown), -1).max(axis=1) if len(shown) else np.zeros(0)
    if magnitude is not None:
        largest = np.full_like(largest, magnitude)
    elif scale == "shared":
        largest = np.full_like(largest, largest.max(initial=0.0))
    safe = np.where(largest > 0, largest, 1.0)
    normalized = shown / safe[:, None, None, None]
    if mode == "rgb":
        values = np.clip(normalized.transpose(0, 2, 3, 1) * 0.5 + 0.5, 0.0, 1.0)
    else:
        values = np.clip(normalized, -1.0, 1.0)
    return KernelImages(mode, values, largest, w)


def weight_histogram(weight: torch.Tensor, bins: int = 41) -> tuple[np.ndarray, np.ndarray]:
    """Counts and bin edges of a layer's weights on a range symmetric around 0."""
    w = weight.detach().to("cpu", torch.float64).numpy().ravel()
    top = float(np.abs(w).max(initial=0.0)) or 1.0
    counts, edges = np.histogram(w, bins=bins, range=(-top, top))
    return counts, edges

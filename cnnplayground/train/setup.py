"""Putting a run together: fit a network to a dataset, record a run in a project.

Shared by the command line and the GUI, so both refuse the same mistakes with
the same words.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from ..core.builder import BuildError, GraphModule, build
from ..core.graph import Graph
from ..core.inference import infer
from ..core.shapes import format_shape
from ..data.base import ImageData
from .trainer import TrainingSetupError


def adapt_input(graph: Graph, data: ImageData) -> Graph:
    """A copy of ``graph`` whose Input layer takes ``data``'s image shape.

    Used for presets, which are drawn for one input size but work on others.
    """
    g = graph.copy()
    c, h, w = data.input_shape
    for node in g.input_nodes():
        g.set_params(node.id, {"channels": c, "height": h, "width": w})
    return g


def build_for_data(graph: Graph, data: ImageData) -> GraphModule:
    """Build ``graph`` after checking it takes ``data``'s images and predicts its classes."""
    result = infer(graph)
    if not result.ok:
        raise TrainingSetupError(f"the network is not valid: {result.first_error()}")
    if result.input_shape != data.input_shape:
        raise TrainingSetupError(
            f"the network takes {format_shape(result.input_shape)} images but {data.name} has "
            f"{format_shape(data.input_shape)}: change the Input layer"
        )
    out = result.output_shape
    if out != (data.num_classes,):
        raise TrainingSetupError(
            f"the network outputs {format_shape(out)} values but {data.name} has {data.num_classes} classes: "
            f"end with Linear({data.num_classes})"
        )
    try:
        return build(graph, result=result)
    except BuildError as exc:  # pragma: no cover - infer().ok already checked
        raise TrainingSetupError(str(exc)) from None


def non_finite_weights(state: Mapping[str, torch.Tensor]) -> list[str]:
    """Names of the floating-point tensors of ``state`` (a ``state_dict``) that hold a NaN or an infinity."""
    return [name for name, tensor in state.items()
            if (tensor.is_floating_point() or tensor.is_complex()) and not bool(torch.isfinite(tensor).all())]


def describe_tensors(names: list[str], shown: int = 3) -> str:
    """``"conv1.weight, conv1.bias, fc1.weight and 5 more"``: ``state_dict`` names as the layers are named."""
    text = ", ".join(name.removeprefix("layers.") for name in names[:shown])
    return text + (f" and {len(names) - shown} more" if len(names) > shown else "")

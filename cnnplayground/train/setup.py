"""Putting a run together: fit a network to a dataset, record a run in a project.

Shared by the command line and the GUI, so both refuse the same mistakes with
the same words.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from ..core.builder import BuildError, GraphModule, build
from ..core.graph import Graph
from ..core.inference import InferenceResult, infer
from ..core.memory import MemoryNeed, NotEnoughMemoryError, check_memory
from ..core.shapes import format_shape
from ..data.base import ImageData
from ..project import TrainingConfig
from .trainer import TrainingSetupError, resolve_device


class TrainingMemoryError(TrainingSetupError, NotEnoughMemoryError):
    """The run would need more memory than there is; refused before the network is built."""


def adapt_input(graph: Graph, data: ImageData) -> Graph:
    """A copy of ``graph`` whose Input layer takes ``data``'s image shape.

    Used for presets, which are drawn for one input size but work on others.
    """
    g = graph.copy()
    c, h, w = data.input_shape
    for node in g.input_nodes():
        g.set_params(node.id, {"channels": c, "height": h, "width": w})
    return g


def optimizer_values(config: TrainingConfig) -> int:
    """Values of optimizer state kept per weight: Adam's two moments, a momentum buffer, a square average."""
    if config.optimizer in ("adam", "adamw"):
        return 2
    momentum = 1 if config.momentum > 0 else 0
    return momentum + (1 if config.optimizer == "rmsprop" else 0)


def check_training_memory(graph: Graph, config: TrainingConfig, result: InferenceResult | None = None,
                          available: int | None = None) -> MemoryNeed:
    """Raise :class:`TrainingMemoryError` unless training ``graph`` with ``config`` fits in memory.

    On the CPU the whole run (weights, gradients, optimizer state, activations at the batch size) must
    fit in the memory available; on a CUDA device the run must fit in the GPU's free memory and the
    weights, which are built on the CPU first, in the machine's. ``available`` (bytes) replaces the
    figure of the device that holds the run (tests).
    """
    device = resolve_device(config.device)
    values = optimizer_values(config)
    try:
        if device.type == "cuda":
            check_memory(graph, "inference", 1, result=result)
        return check_memory(graph, "training", config.batch_size, result=result, available=available,
                            device=str(device) if device.type == "cuda" else "cpu", optimizer_values=values)
    except NotEnoughMemoryError as exc:
        raise TrainingMemoryError(str(exc)) from None


def training_memory_problem(graph: Graph, config: TrainingConfig,
                            result: InferenceResult | None = None) -> str | None:
    """Why training ``graph`` with ``config`` would not fit in memory (:func:`check_training_memory`'s
    message), or None: when it fits, when the network is not valid yet, or when the device is missing
    (said when a run starts)."""
    if result is None:
        result = infer(graph)
    if not result.ok:
        return None
    try:
        check_training_memory(graph, config, result)
    except TrainingMemoryError as exc:
        return str(exc)
    except TrainingSetupError:
        return None
    return None


def build_for_data(graph: Graph, data: ImageData, config: TrainingConfig | None = None) -> GraphModule:
    """Build ``graph`` after checking it takes ``data``'s images, predicts its classes and fits in memory.

    With ``config``, the memory for training with it (:func:`check_training_memory`); without, for
    running the network on one image.
    """
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
    if config is not None:
        check_training_memory(graph, config, result)
    else:
        try:
            check_memory(graph, "inference", 1, result=result)
        except NotEnoughMemoryError as exc:
            raise TrainingMemoryError(str(exc)) from None
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

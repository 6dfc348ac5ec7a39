"""Initialize a network from another project's trained weights, layer by layer.

:func:`init_from_project` copies every layer of the other project's weights
that fits (same node id by default, or the same position in execution order,
with equal parameter shapes) and leaves the others at their fresh
initialization; the :class:`InitReport` says which layers were copied and why
the others were not. Qt-free, like the rest of :mod:`cnnplayground.io`; every
problem is a one-line :class:`~.weights_import.WeightsImportError`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch
from torch import nn

from ..core.builder import BuildError, build
from ..core.graph import Graph
from ..core.memory import check_memory
from ..project import Project
from .project import ProjectError, load_project
from .weights_import import WeightsImportError, match_layers

__all__ = ["InitReport", "init_from_project"]

_PREFIX = "layers."
#: Layers named in :meth:`InitReport.summary`; the rest are counted.
_SHOWN = 3


@dataclass
class InitReport:
    """What :func:`init_from_project` did.

    ``copied``: our layer ids whose tensors came from the other project (with
    ``pairs`` naming the other layer each came from); ``skipped``: our layer
    ids that kept their fresh values, with the reason; ``unused``: the other
    project's layers that went nowhere.
    """

    source: str
    copied: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    unused: list[str] = field(default_factory=list)
    pairs: dict[str, str] = field(default_factory=dict)

    def summary(self) -> str:
        """One line for the user: "Copied 4 of 5 layers from base.cnnp; kept fc3 as initialized (…)"."""
        total = len(self.copied) + len(self.skipped)
        text = f"Copied {len(self.copied)} of {total} layers with weights from {self.source}"
        if self.skipped:
            items = [f"{nid} ({why})" for nid, why in self.skipped.items()]
            more = len(items) - _SHOWN
            text += "; kept as initialized: " + "; ".join(items[:_SHOWN]) + (f" (and {more} more)" if more > 0 else "")
        return text


def init_from_project(
    graph: Graph,
    other: Project | str | os.PathLike[str],
    *,
    fresh: nn.Module | Mapping[str, torch.Tensor] | None = None,
    match: Literal["id", "order"] = "id",
) -> tuple[dict[str, torch.Tensor], InitReport]:
    """Weights for ``graph``'s network: the other project's where a layer fits, fresh ones elsewhere.

    ``other``: a :class:`Project` or the path of a project file; it must hold
    trained weights. ``fresh``: the starting weights (a module built from
    ``graph`` or its state dict); by default the network is built now, with
    torch's current random state. ``match="id"`` pairs layers by node id (a
    project derived from the other: a changed classifier, an added layer);
    ``match="order"`` pairs them in execution order while the kinds agree
    (:func:`~.weights_import.match_layers`; renamed layers). A layer is copied
    whole (weights, bias, BatchNorm statistics) only when every tensor's shape
    agrees. Returns ``(state dict with the app's keys on the CPU, report)``.
    """
    project, source = _project(other)
    if project.weights is None:
        raise WeightsImportError(f"{source} has no trained weights to start from: train it first")
    if match not in ("id", "order"):
        raise WeightsImportError(f"match must be 'id' or 'order', got {match!r}")
    start = _fresh_state(graph, fresh)
    theirs = project.weights
    ours_layers = _group(start)
    their_layers = _group(theirs)
    report = InitReport(source=source)
    if match == "order":
        mapping, reasons = match_layers({k: tuple(v.shape) for k, v in start.items()},
                                        {k: tuple(v.shape) for k, v in theirs.items()})
        pairs = {_layer_of(ours): _layer_of(their) for ours, their in mapping.items()}
        # A layer of which one tensor differs is not copied at all (match_layers already says why).
        for layer in ours_layers:
            if layer not in pairs and layer not in reasons:
                reasons[layer] = "no counterpart in the other project"
        pairs = {ours: their for ours, their in pairs.items() if ours not in reasons}
    else:
        pairs, reasons = {}, {}
        for layer, params in ours_layers.items():
            why = _mismatch(layer, params, their_layers.get(layer), project.graph, graph)
            if why is None:
                pairs[layer] = layer
            else:
                reasons[layer] = why
    weights = {k: v.detach().to("cpu", copy=True) for k, v in start.items()}
    for ours, their in pairs.items():
        for param, ref in ours_layers[ours].items():
            weights[f"{_PREFIX}{ours}.{param}"] = theirs[f"{_PREFIX}{their}.{param}"].detach().to(
                device="cpu", dtype=ref.dtype, copy=True).contiguous()
    report.copied = [layer for layer in ours_layers if layer in pairs]
    report.pairs = {layer: pairs[layer] for layer in report.copied}
    report.skipped = {layer: reasons[layer] for layer in ours_layers if layer in reasons}
    used = set(pairs.values())
    report.unused = [layer for layer in their_layers if layer not in used]
    return weights, report


# --- helpers -------------------------------------------------------------------------------


def _project(other: Project | str | os.PathLike[str]) -> tuple[Project, str]:
    if isinstance(other, Project):
        return other, repr(other.name)
    path = Path(other)
    try:
        return load_project(path), path.name
    except ProjectError as exc:
        raise WeightsImportError(f"cannot start from {path.name}: {exc}") from None


def _fresh_state(graph: Graph, fresh: nn.Module | Mapping[str, torch.Tensor] | None) -> dict[str, torch.Tensor]:
    if fresh is None:
        try:
            check_memory(graph, "inference", 1)  # NotEnoughMemoryError before anything is allocated
            fresh = build(graph)
        except (BuildError, ValueError, RuntimeError) as exc:
            raise WeightsImportError(f"the network is not valid ({exc})") from None
    state = dict(fresh.state_dict() if isinstance(fresh, nn.Module) else fresh)
    if not state:
        raise WeightsImportError("the network has no weights to initialize")
    return state


def _mismatch(layer: str, params: dict[str, torch.Tensor], theirs: dict[str, torch.Tensor] | None,
              their_graph: Graph, our_graph: Graph) -> str | None:
    """Why our ``layer`` cannot take the other project's layer of the same id, or ``None``."""
    if theirs is None:
        if layer in their_graph.nodes:
            return f"{layer} has no weights in the other project"
        return "no layer of that name in the other project"
    their_node, our_node = their_graph.nodes.get(layer), our_graph.nodes.get(layer)
    if their_node is not None and our_node is not None and their_node.kind != our_node.kind:
        return f"it is a {their_node.kind} in the other project, a {our_node.kind} here"
    if set(params) != set(theirs):
        return f"its tensors differ ({', '.join(sorted(set(params) ^ set(theirs)))})"
    for param, ref in params.items():
        got = theirs[param]
        if tuple(got.shape) != tuple(ref.shape):
            return (f"{param}: the other project has {_shape_text(got.shape)}, this network needs "
                    f"{_shape_text(ref.shape)}")
        if got.is_floating_point() != ref.is_floating_point():
            return f"{param}: the other project has {got.dtype} values, this network needs {ref.dtype}"
    return None


def _group(state: Mapping[str, torch.Tensor]) -> dict[str, dict[str, torch.Tensor]]:
    """``{"layers.a.weight": t}`` → ``{"a": {"weight": t}}``, in order."""
    layers: dict[str, dict[str, torch.Tensor]] = {}
    for key, tensor in state.items():
        layer, _, param = key.removeprefix(_PREFIX).rpartition(".")
        layers.setdefault(layer, {})[param] = tensor
    return layers


def _layer_of(key: str) -> str:
    return key.removeprefix(_PREFIX).rpartition(".")[0]


def _shape_text(shape: Iterable[int]) -> str:
    dims = tuple(shape)
    return "×".join(str(d) for d in dims) if dims else "a scalar"

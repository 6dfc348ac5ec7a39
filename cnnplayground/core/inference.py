"""Shape inference: every node's output shape, parameter count and receptive field.

Pure arithmetic over the graph — no tensors — so it runs after every edit (a
200-node graph takes well under 10 ms). A node that cannot work gets a precise
message saying why and what to do; nodes downstream of it are *blocked* (no shape,
no message of their own), so the error is shown exactly once, where it is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import cast

from .graph import Graph
from .registry import get_kind
from .shapes import ReceptiveField, Shape, ShapeError, numel

#: Bytes per value of the default training precision (float32).
BYTES_PER_VALUE = 4
#: Most values one layer may output per image (the largest Input, 4096×16384×16384,
#: is exactly this). Beyond it a network is refused: no machine could hold it, and
#: doubling chains (Concat(x, x) repeated) would otherwise grow numbers without bound.
MAX_ELEMENTS = 2**40


@dataclass(frozen=True)
class NodeInfo:
    """What inference knows about one node."""

    shape: Shape | None = None
    params: int = 0
    receptive_field: ReceptiveField | None = None
    #: Why this node cannot work (shown on the node and in the property panel).
    error: str | None = None
    #: The upstream node whose problem keeps this one from having a shape.
    blocked_by: str | None = None
    #: Problems that do not stop building (e.g. an output nobody uses).
    warning: str | None = None

    @property
    def ok(self) -> bool:
        return self.shape is not None and self.error is None


@dataclass
class InferenceResult:
    infos: dict[str, NodeInfo] = field(default_factory=dict)
    #: Topological order of the nodes that can be ordered.
    order: list[str] = field(default_factory=list)
    input_id: str | None = None
    output_id: str | None = None
    #: Problems of the whole network that belong to no single node.
    graph_errors: list[str] = field(default_factory=list)

    def __getitem__(self, node_id: str) -> NodeInfo:
        return self.infos[node_id]

    @property
    def ok(self) -> bool:
        """True when the network can be built: no errors anywhere, one input, one output."""
        return (
            not self.graph_errors
            and self.input_id is not None
            and self.output_id is not None
            and all(i.error is None and i.blocked_by is None for i in self.infos.values())
        )

    @property
    def errors(self) -> list[tuple[str | None, str]]:
        """``(node id or None, message)`` for every error, graph-level first."""
        out: list[tuple[str | None, str]] = [(None, m) for m in self.graph_errors]
        out += [(nid, i.error) for nid in self.order_all() for i in [self.infos[nid]] if i.error]
        return out

    def order_all(self) -> list[str]:
        return self.order + [nid for nid in self.infos if nid not in self.order]

    def first_error(self) -> str | None:
        errs = self.errors
        if not errs:
            return None
        nid, msg = errs[0]
        return msg if nid is None else f"{nid}: {msg}"

    @property
    def total_params(self) -> int:
        return sum(i.params for i in self.infos.values())

    @property
    def output_shape(self) -> Shape | None:
        return self.infos[self.output_id].shape if self.output_id else None

    @property
    def input_shape(self) -> Shape | None:
        return self.infos[self.input_id].shape if self.input_id else None

    def activation_values(self) -> int:
        """Values produced per sample by all layers (the activation memory of one image)."""
        return sum(numel(i.shape) for i in self.infos.values() if i.shape is not None)

    def memory_estimate(self, batch_size: int = 1, bytes_per_value: int = BYTES_PER_VALUE) -> dict[str, int]:
        """Rough training memory in bytes: weights, gradients, Adam state, activations.

        Activations are counted once for the forward pass and once for their
        gradients; real frameworks keep somewhat less (in-place ReLU) or more
        (workspace), so treat it as an order of magnitude.
        """
        weights = self.total_params * bytes_per_value
        acts = self.activation_values() * batch_size * bytes_per_value
        return {
            "weights": weights,
            "gradients": weights,
            "optimizer": 2 * weights,
            "activations": 2 * acts,
            "total": 4 * weights + 2 * acts,
        }


def infer(graph: Graph, input_shape: Shape | None = None) -> InferenceResult:
    """Infer shapes for ``graph``.

    ``input_shape`` ``(C, H, W)`` overrides the Input node's own parameters (e.g. to
    check a network against a dataset's image size).
    """
    result = InferenceResult()
    order, cyclic = graph.topological_order()
    result.order = order
    infos = result.infos

    if cyclic:
        cycle = graph.find_cycle()
        path = " → ".join(cycle) if cycle else ", ".join(sorted(cyclic))
        for nid in cyclic:
            infos[nid] = NodeInfo(error=f"part of a cycle ({path}): remove one of its wires")

    inputs = graph.input_nodes()
    if not inputs:
        result.graph_errors.append("the network has no Input layer: add one from the palette")
    else:
        result.input_id = inputs[0].id
        for extra in inputs[1:]:
            infos[extra.id] = NodeInfo(error=f"only one Input layer is allowed ({inputs[0].id} is the first)")

    for nid in order:
        if nid in infos:  # already marked (extra Input)
            continue
        node = graph.nodes[nid]
        layer = get_kind(node.kind)
        sources = graph.inputs_of(nid)

        if layer.min_inputs and len(sources) < layer.min_inputs:
            if layer.min_inputs == 1:
                msg = f"{layer.name} has no input: draw a wire into it"
            else:
                msg = f"{layer.name} needs at least {layer.min_inputs} inputs, has {len(sources)}"
            infos[nid] = NodeInfo(error=msg)
            continue
        if layer.max_inputs is not None and len(sources) > layer.max_inputs:
            infos[nid] = NodeInfo(error=f"{layer.name} takes {layer.arity_text()}, has {len(sources)}")
            continue

        blocked = next((s for s in sources if not infos[s].ok), None)
        if blocked is not None:
            root = infos[blocked].blocked_by or blocked
            infos[nid] = NodeInfo(blocked_by=root)
            continue

        # Every source is ok (checked just above), so each has a shape.
        in_shapes = [cast(Shape, infos[s].shape) for s in sources]
        source_fields = [infos[s].receptive_field for s in sources]
        in_fields = [f for f in source_fields if f is not None]
        p = node.params
        if node.kind == "Input" and input_shape is not None:
            p = {**p, "channels": input_shape[0], "height": input_shape[1], "width": input_shape[2]}
        try:
            shape = layer.output_shape(p, in_shapes)
        except ShapeError as exc:
            infos[nid] = NodeInfo(error=str(exc))
            continue
        if any(d < 1 for d in shape):
            infos[nid] = NodeInfo(error=f"{layer.name} would produce an empty output ({shape})")
            continue
        size = numel(shape)
        if size > MAX_ELEMENTS:
            infos[nid] = NodeInfo(
                error=f"{layer.name} would produce {_count_text(size)} values per image, too many "
                f"(at most 2^40 = {MAX_ELEMENTS:,})"
            )
            continue
        count = layer.param_count(p, in_shapes)
        field_ = layer.receptive_field(p, in_shapes, in_fields) if len(in_fields) == len(sources) else None
        infos[nid] = NodeInfo(shape=tuple(int(d) for d in shape), params=int(count), receptive_field=field_)

    _find_output(graph, result)
    return result


def _count_text(n: int) -> str:
    """``1,234,567``; beyond 10^18 only the order of magnitude (messages stay short)."""
    if n < 10**18:
        return f"{n:,}"
    return f"about 2^{n.bit_length() - 1}"


def _find_output(graph: Graph, result: InferenceResult) -> None:
    """The output is the one layer whose result nobody consumes.

    Several such layers are ambiguous: the deepest is taken as the output and the
    others are flagged, since their work would be thrown away.
    """
    infos = result.infos
    sinks = [nid for nid in result.order if not graph.consumers_of(nid) and graph.nodes[nid].kind != "Input"]
    if not sinks:
        if result.input_id is not None and not result.graph_errors:
            result.graph_errors.append("the network has no layers after its Input")
        return
    # The deepest sink (longest path from a source) is the output; on a tie the
    # earlier-added one stays the output, so wiring a new side layer does not move it.
    depth: dict[str, int] = {}
    for nid in result.order:
        depth[nid] = 1 + max((depth[s] for s in graph.inputs_of(nid) if s in depth), default=0)
    output = max(sinks, key=depth.__getitem__)
    result.output_id = output
    for nid in sinks:
        if nid == output:
            continue
        info = infos[nid]
        if info.error is None and info.blocked_by is None:
            infos[nid] = NodeInfo(
                shape=info.shape,
                params=info.params,
                receptive_field=info.receptive_field,
                error=f"output of {nid} is not used (the network's output is {result.output_id}): "
                "wire it to a later layer or delete it",
            )

"""The network as a graph of layer nodes: the single source of truth.

Nodes are layers (a kind from the registry plus validated parameters); edges are
the tensors flowing between them, each ending at a numbered input *port* of its
target (ports order the inputs of Concat). Every node has one output, which may
feed any number of nodes.

The graph refuses edits that can never be valid (unknown kinds, bad parameter
values, a second wire into a one-input port, cycles) with :class:`GraphError`.
Edits that are merely *not yet* valid — a dangling layer, a Linear after a conv
without Flatten — are allowed; shape inference (:mod:`.inference`) reports them
on the node that is wrong, so the canvas can show them while the user works.

Besides its kind's parameters, a node has *attributes* that are not part of the
layer's definition but of how it is trained (:data:`NODE_ATTRIBUTES`: ``frozen``,
``lr_scale``). They are declared like parameters, only layers with weights may
change them from their defaults, and they never change shapes.

Views follow the graph through its :class:`~.events.Signal` attributes.
"""

from __future__ import annotations

import bisect
import heapq
import math
import re
from collections.abc import Hashable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from .errors import UserError
from .events import Signal
from .params import ParamError, ParamSet, ParamSpec, ParamValue
from .registry import LayerKind, UnknownKindError, get_kind

_ID_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
#: Names a layer cannot have: the built network keeps its layers in a ``torch.nn.ModuleDict``
#: keyed by name, whose own attributes these are (``tests/core`` checks the list against torch).
RESERVED_IDS = frozenset({
    "T_destination", "add_module", "apply", "bfloat16", "buffers", "call_super_init", "children", "clear", "compile",
    "cpu", "cuda", "double", "dump_patches", "eval", "extra_repr", "float", "forward", "get_buffer",
    "get_extra_state", "get_parameter", "get_submodule", "half", "ipu", "items", "keys", "load_state_dict",
    "modules", "mtia", "named_buffers", "named_children", "named_modules", "named_parameters", "parameters", "pop",
    "register_backward_hook", "register_buffer", "register_forward_hook", "register_forward_pre_hook",
    "register_full_backward_hook", "register_full_backward_pre_hook", "register_load_state_dict_post_hook",
    "register_load_state_dict_pre_hook", "register_module", "register_parameter", "register_state_dict_post_hook",
    "register_state_dict_pre_hook", "requires_grad_", "set_extra_state", "set_submodule", "share_memory",
    "state_dict", "to", "to_empty", "train", "training", "type", "update", "values", "xpu", "zero_grad",
})

#: A project with more nodes than this is refused (memory-exhaustion guard).
MAX_NODES = 10_000


#: The common per-node attributes: how training treats a layer with weights (its kind's
#: ``has_weights``). Saved in project files only where they differ from the defaults.
NODE_ATTRIBUTES = ParamSet(
    (
        ParamSpec("frozen", "bool", False,
                  "Keep this layer fixed while training: its weights are not updated and a BatchNorm's "
                  "running statistics stay as they are (the layer runs in evaluation mode).", label="Frozen"),
        ParamSpec("lr_scale", "float", 1.0,
                  "Multiplies the learning rate for this layer's weights, through the whole schedule "
                  "(0: the weights never change, but a BatchNorm still updates its statistics).",
                  minimum=0.0, maximum=100.0, label="LR ×"),
    )
)


class GraphError(UserError, ValueError):
    """An edit or a file describes something the graph cannot hold."""


@dataclass
class Node:
    id: str
    kind: str
    params: dict[str, ParamValue]
    position: tuple[float, float] = (0.0, 0.0)
    #: :data:`NODE_ATTRIBUTES` values, all of them (defaults filled in).
    attributes: dict[str, ParamValue] = field(default_factory=NODE_ATTRIBUTES.defaults)

    @property
    def layer(self) -> LayerKind:
        return get_kind(self.kind)

    @property
    def frozen(self) -> bool:
        return bool(self.attributes.get("frozen", False))

    @property
    def lr_scale(self) -> float:
        return float(self.attributes.get("lr_scale", 1.0))


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    port: int = 0


class Graph:
    """Nodes in insertion order, and the edges between them.

    Edges are indexed by source and target, so neighbour look-ups are O(degree)
    and inference over a large (or hostile) graph stays linear.
    """

    def __init__(self) -> None:
        self.nodes: dict[str, Node] = {}
        self._edges: list[Edge] = []
        self._in: dict[str, list[Edge]] = {}
        self._out: dict[str, list[Edge]] = {}
        self._next_index: dict[str, int] = {}
        self.node_added = Signal("node_added")  # (node)
        self.node_removed = Signal("node_removed")  # (node)
        self.node_changed = Signal("node_changed")  # (node, {name: old value})
        #: Attribute edits (frozen, lr_scale): they never change shapes, so no structure_changed.
        self.node_attributes_changed = Signal("node_attributes_changed")  # (node, {name: old value})
        self.node_moved = Signal("node_moved")  # (node, old position)
        self.node_renamed = Signal("node_renamed")  # (node, old id)
        self.edge_added = Signal("edge_added")  # (edge)
        self.edge_removed = Signal("edge_removed")  # (edge)
        #: Any change that can affect shapes (not moves): re-run inference.
        self.structure_changed = Signal("structure_changed")  # ()

    @property
    def edges(self) -> list[Edge]:
        """All wires, in the order they were made (a copy: edit through connect/disconnect)."""
        return list(self._edges)

    # --- queries ----------------------------------------------------------------------
    def __contains__(self, node_id: object) -> bool:
        return node_id in self.nodes

    def __len__(self) -> int:
        return len(self.nodes)

    def node(self, node_id: str) -> Node:
        try:
            return self.nodes[node_id]
        except KeyError:
            raise GraphError(f"no layer named {node_id!r}") from None

    def in_edges(self, node_id: str) -> list[Edge]:
        """Edges into ``node_id``, ordered by port."""
        return list(self._in.get(node_id, ()))

    def out_edges(self, node_id: str) -> list[Edge]:
        return list(self._out.get(node_id, ()))

    def inputs_of(self, node_id: str) -> list[str]:
        return [e.source for e in self.in_edges(node_id)]

    def consumers_of(self, node_id: str) -> list[str]:
        return [e.target for e in self.out_edges(node_id)]

    def input_nodes(self) -> list[Node]:
        return [n for n in self.nodes.values() if n.kind == "Input"]

    def topological_order(self) -> tuple[list[str], set[str]]:
        """Kahn's algorithm, stable in insertion order.

        Returns ``(order, cyclic)``: the nodes that can be ordered, and the nodes on
        or behind a cycle (empty for a valid graph).
        """
        indeg = {nid: 0 for nid in self.nodes}
        succ: dict[str, list[str]] = {nid: [] for nid in self.nodes}
        for e in self._edges:
            indeg[e.target] += 1
            succ[e.source].append(e.target)
        rank = {nid: i for i, nid in enumerate(self.nodes)}
        ready = [rank[nid] for nid, d in indeg.items() if d == 0]
        heapq.heapify(ready)
        names = list(self.nodes)
        order: list[str] = []
        while ready:
            nid = names[heapq.heappop(ready)]
            order.append(nid)
            for t in succ[nid]:
                indeg[t] -= 1
                if indeg[t] == 0:
                    heapq.heappush(ready, rank[t])
        cyclic = set(self.nodes) - set(order)
        return order, cyclic

    def find_cycle(self) -> list[str] | None:
        """One cycle as a list of node ids (first repeated at the end), or ``None``."""
        succ: dict[str, list[str]] = {nid: [] for nid in self.nodes}
        for e in self._edges:
            succ[e.source].append(e.target)
        color: dict[str, int] = {}
        for root in self.nodes:
            if root in color:
                continue
            stack: list[tuple[str, Iterator[str]]] = [(root, iter(succ[root]))]
            path = [root]
            color[root] = 1
            while stack:
                nid, it = stack[-1]
                nxt = next(it, None)
                if nxt is None:
                    color[nid] = 2
                    stack.pop()
                    path.pop()
                elif color.get(nxt) == 1:
                    return path[path.index(nxt):] + [nxt]
                elif nxt not in color:
                    color[nxt] = 1
                    path.append(nxt)
                    stack.append((nxt, iter(succ[nxt])))
        return None

    def has_path(self, source: str, target: str) -> bool:
        seen = {source}
        todo = [source]
        while todo:
            nid = todo.pop()
            if nid == target:
                return True
            for t in self.consumers_of(nid):
                if t not in seen:
                    seen.add(t)
                    todo.append(t)
        return False

    def unique_id(self, prefix: str) -> str:
        """The first free ``prefix1``, ``prefix2``, ... (remembering where the last search ended)."""
        n = self._next_index.get(prefix, 1)
        if f"{prefix}{n - 1}" not in self.nodes:
            n = 1  # a name below the hint may have been freed: start over
        while f"{prefix}{n}" in self.nodes:
            n += 1
        self._next_index[prefix] = n + 1
        return f"{prefix}{n}"

    # --- edits --------------------------------------------------------------------------
    def add_node(
        self,
        kind: str,
        params: dict[str, Any] | None = None,
        *,
        id: str | None = None,
        position: tuple[float, float] = (0.0, 0.0),
        attributes: dict[str, Any] | None = None,
    ) -> Node:
        try:
            layer = get_kind(kind)
        except UnknownKindError as exc:
            raise GraphError(str(exc)) from None
        if len(self.nodes) >= MAX_NODES:
            raise GraphError(f"a network may have at most {MAX_NODES} layers")
        node_id = id if id is not None else self.unique_id(layer.id_prefix)
        self._check_new_id(node_id)
        try:
            values = layer.validate_params(params or {})
        except ParamError as exc:
            raise GraphError(f"{node_id} ({kind}): {exc}") from None
        attrs = validate_attributes(node_id, layer, attributes or {})
        node = Node(node_id, kind, values, _position(position), attrs)
        self.nodes[node_id] = node
        self.node_added.emit(node)
        self.structure_changed.emit()
        return node

    def remove_node(self, node_id: str) -> Node:
        node = self.node(node_id)
        for e in self.in_edges(node_id) + self.out_edges(node_id):
            self.disconnect(e, _notify_structure=False)
        del self.nodes[node_id]
        self.node_removed.emit(node)
        self.structure_changed.emit()
        return node

    def set_params(self, node_id: str, changes: dict[str, Any]) -> dict[str, ParamValue]:
        """Validate and apply parameter changes; returns the old values of the changed names."""
        node = self.node(node_id)
        merged = {**node.params, **changes}
        try:
            values = node.layer.validate_params(merged)
        except ParamError as exc:
            raise GraphError(f"{node_id} ({node.kind}): {exc}") from None
        old = {k: node.params[k] for k in changes if node.params.get(k) != values[k]}
        if not old:
            return {}
        node.params = values
        self.node_changed.emit(node, old)
        self.structure_changed.emit()
        return old

    def set_attributes(self, node_id: str, changes: dict[str, Any]) -> dict[str, ParamValue]:
        """Validate and apply attribute changes (:data:`NODE_ATTRIBUTES`); returns the old values of the
        changed names. Emits ``node_attributes_changed`` only (shapes do not depend on attributes)."""
        node = self.node(node_id)
        values = validate_attributes(node_id, node.layer, {**node.attributes, **changes})
        old = {k: node.attributes[k] for k in changes if node.attributes.get(k) != values[k]}
        if not old:
            return {}
        node.attributes = values
        self.node_attributes_changed.emit(node, old)
        return old

    def move_node(self, node_id: str, position: tuple[float, float]) -> None:
        node = self.node(node_id)
        old = node.position
        node.position = _position(position)
        self.node_moved.emit(node, old)

    def rename_node(self, node_id: str, new_id: str) -> None:
        if new_id == node_id:
            return
        node = self.node(node_id)
        self._check_new_id(new_id)
        # Rebuild the dict so order is kept, and re-point the wires at the new name.
        self.nodes = {(new_id if k == node_id else k): v for k, v in self.nodes.items()}
        node.id = new_id
        old_edges = self._edges
        self._edges, self._in, self._out = [], {}, {}
        for e in old_edges:
            src = new_id if e.source == node_id else e.source
            dst = new_id if e.target == node_id else e.target
            self._add_edge_unchecked(Edge(src, dst, e.port))
        self.node_renamed.emit(node, node_id)
        self.structure_changed.emit()

    def can_connect(self, source: str, target: str, port: int | None = None) -> str | None:
        """Why ``source → target`` is refused, or ``None`` if it is allowed."""
        if source not in self.nodes or target not in self.nodes:
            missing = source if source not in self.nodes else target
            return f"no layer named {missing!r}"
        if source == target:
            return "a layer cannot feed itself"
        layer = self.nodes[target].layer
        if not layer.takes_inputs:
            return f"{target} ({layer.name}) takes no inputs"
        ins = self.in_edges(target)
        if any(e.source == source for e in ins) and layer.max_inputs == 1:
            return f"{source} already feeds {target}"
        if layer.max_inputs is not None and len(ins) >= layer.max_inputs and port is None:
            return f"{target} ({layer.name}) takes {layer.arity_text()} and already has one"
        if port is not None:
            if port < 0 or (layer.max_inputs is not None and port >= layer.max_inputs):
                return f"{target} ({layer.name}) has no input port {port}"
            if any(e.port == port for e in ins):
                return f"input port {port} of {target} is already connected"
        if self.has_path(target, source):
            return f"connecting {source} → {target} would make a cycle"
        return None

    def connect(self, source: str, target: str, port: int | None = None) -> Edge:
        reason = self.can_connect(source, target, port)
        if reason:
            raise GraphError(reason)
        if port is None:
            used = {e.port for e in self.in_edges(target)}
            port = next(i for i in range(len(used) + 1) if i not in used)
        edge = Edge(source, target, port)
        self._add_edge_unchecked(edge)
        self.edge_added.emit(edge)
        self.structure_changed.emit()
        return edge

    def disconnect(self, edge: Edge, *, _notify_structure: bool = True) -> None:
        try:
            self._edges.remove(edge)
        except ValueError:
            raise GraphError(f"no wire {edge.source!r} → {edge.target!r}") from None
        self._in[edge.target].remove(edge)
        self._out[edge.source].remove(edge)
        self.edge_removed.emit(edge)
        if _notify_structure:
            self.structure_changed.emit()

    def _add_edge_unchecked(self, edge: Edge) -> None:
        """Record a wire without checks (loading, renaming); keeps the indexes sorted by port."""
        self._edges.append(edge)
        # Binary insertion after equal ports (like a stable sort): loading a merge with
        # many ports stays O(n log n) comparisons instead of a sort per wire.
        bisect.insort(self._in.setdefault(edge.target, []), edge, key=_port_of)
        self._out.setdefault(edge.source, []).append(edge)

    def chain(self, *node_ids: str) -> None:
        """Connect ``a → b → c ...``."""
        for a, b in zip(node_ids, node_ids[1:]):
            self.connect(a, b)

    def check_new_id(self, node_id: str) -> None:
        """Raise :class:`GraphError` unless ``node_id`` is a valid, unused layer name."""
        self._check_new_id(node_id)

    def _check_new_id(self, node_id: str) -> None:
        if not isinstance(node_id, str) or not _ID_RE.match(node_id):
            raise GraphError(
                f"layer name {node_id!r} is not valid: use letters, digits and _ (not first), at most 64"
            )
        if node_id.startswith("_"):
            raise GraphError(f"layer name {node_id!r} may not start with _")
        if node_id in RESERVED_IDS:
            raise GraphError(f"layer name {node_id!r} is reserved by PyTorch: choose another name")
        if node_id in self.nodes:
            raise GraphError(f"a layer named {node_id!r} already exists")

    def structure_key(self) -> Hashable:
        """A value equal for two graphs exactly when they describe the same network.

        It holds each layer's name, kind and parameters and each wire with its port: what
        decides the layers the network builds and how they are connected, and so whether
        trained weights fit it. Positions are not part of it, nor are the training attributes
        (``frozen``, ``lr_scale``: how a layer is trained, not what it is), nor the order the
        layers and wires were added in (a deleted layer put back by undo is the same network).
        """
        nodes = frozenset((n.id, n.kind, tuple(sorted(n.params.items()))) for n in self.nodes.values())
        edges = frozenset((e.source, e.target, e.port) for e in self._edges)
        return nodes, edges

    # --- (de)serialization ------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain data; a node's ``attributes`` are written only when some differ from the defaults."""
        return {
            "nodes": [_node_dict(n) for n in self.nodes.values()],
            "edges": [{"source": e.source, "target": e.target, "port": e.port} for e in self._edges],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Graph:
        """Build a graph from :meth:`to_dict` output, refusing anything it cannot hold.

        The input is expected to be structurally typed already (see
        :mod:`cnnplayground.io.project`); this checks the meaning: known kinds,
        valid parameters, unique names, wires between existing layers, no cycles.
        """
        g = cls()
        nodes = data.get("nodes", [])
        if len(nodes) > MAX_NODES:
            raise GraphError(f"a network may have at most {MAX_NODES} layers, this one has {len(nodes)}")
        for n in nodes:
            g.add_node(n["kind"], n.get("params", {}), id=n["id"], position=tuple(n.get("position", (0, 0))),
                       attributes=n.get("attributes") or None)
        ports_seen: set[tuple[str, int]] = set()
        for e in data.get("edges", []):
            src, dst, port = e["source"], e["target"], int(e.get("port", 0))
            for end in (src, dst):
                if end not in g.nodes:
                    raise GraphError(f"wire {src!r} → {dst!r} refers to a missing layer {end!r}")
            if (dst, port) in ports_seen:
                raise GraphError(f"input port {port} of {dst} has two wires")
            ports_seen.add((dst, port))
            layer = g.nodes[dst].layer
            if port < 0 or (layer.max_inputs is not None and port >= layer.max_inputs):
                raise GraphError(f"{dst} ({layer.name}) takes {layer.arity_text()}; wire from {src} is extra")
            if src == dst:
                raise GraphError(f"{src} is wired to itself")
            g._add_edge_unchecked(Edge(src, dst, port))
        cycle = g.find_cycle()
        if cycle:
            raise GraphError("the network has a cycle: " + " → ".join(cycle))
        return g

    def copy(self) -> Graph:
        """An independent copy (no subscribers)."""
        return Graph.from_dict(self.to_dict())

    def iter_nodes(self) -> Iterable[Node]:
        return self.nodes.values()


def _node_dict(node: Node) -> dict[str, Any]:
    out: dict[str, Any] = {"id": node.id, "kind": node.kind, "params": dict(node.params),
                           "position": list(node.position)}
    defaults = NODE_ATTRIBUTES.defaults()
    changed = {k: v for k, v in node.attributes.items() if v != defaults.get(k)}
    if changed:
        out["attributes"] = changed
    return out


def validate_attributes(node_id: str, layer: LayerKind, values: dict[str, Any]) -> dict[str, ParamValue]:
    """All attributes, validated; only a layer with weights may differ from the defaults."""
    try:
        attrs = NODE_ATTRIBUTES.validate(values)
    except ParamError as exc:
        raise GraphError(f"{node_id} ({layer.name}): {str(exc).replace('parameter', 'attribute', 1)}") from None
    if not layer.has_weights:
        changed = next((s for s in NODE_ATTRIBUTES if attrs[s.name] != s.default), None)
        if changed is not None:
            raise GraphError(f"{node_id} ({layer.name}) has no weights: {changed.name} applies only to layers "
                             "with weights (Conv2d, Linear, BatchNorm2d, PReLU)")
    return attrs


def _port_of(edge: Edge) -> int:
    return edge.port


def _position(position: tuple[float, float]) -> tuple[float, float]:
    try:
        x, y = float(position[0]), float(position[1])
    except OverflowError:  # an int beyond float range
        raise GraphError("a layer position must be finite, got a number too large to use") from None
    if not (math.isfinite(x) and math.isfinite(y)):
        raise GraphError(f"a layer position must be finite, got ({x}, {y})")
    return x, y

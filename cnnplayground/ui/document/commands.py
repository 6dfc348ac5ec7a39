"""Undo commands: every edit of the project is one of these, and all of them live here.

Each command only calls the graph's edit methods (the graph is the truth; the
canvas follows its notifications) or, for the rest of the project (settings,
runs, weights), the :class:`~.document.Document`'s methods, which announce the
change themselves; no command assigns a project field. Compound edits are built
from child commands; a drag is one :class:`MoveNodes` pushed on release;
consecutive edits of the same parameter merge into one step.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from PySide6.QtGui import QUndoCommand

from ...core.graph import NODE_ATTRIBUTES, Edge, Graph, GraphError, validate_attributes
from ...core.registry import get_kind
from ...project import DatasetChoice, RunHistory, TrainingConfig

if TYPE_CHECKING:
    import torch

    from .document import Document

#: Command ids for QUndoCommand.mergeWith.
_ID_SET_PARAMS = 1001
#: Edits of the same parameter closer together than this are one undo step (typing "128").
MERGE_WINDOW_S = 1.5


class Compound(QUndoCommand):
    """Several commands as one undo step.

    The children are kept as Python objects and run in order (undone in
    reverse). Qt's own parent/child commands are not used: a child created
    only on the C++ side would lose its Python ``redo``/``undo``.
    """

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.children: list[QUndoCommand] = []

    def add(self, command: QUndoCommand) -> QUndoCommand:
        self.children.append(command)
        return command

    def redo(self) -> None:
        for c in self.children:
            c.redo()

    def undo(self) -> None:
        for c in reversed(self.children):
            c.undo()


class AddNode(QUndoCommand):
    def __init__(self, graph: Graph, kind: str, position: tuple[float, float],
                 params: dict[str, Any] | None = None, node_id: str | None = None,
                 attributes: dict[str, Any] | None = None) -> None:
        super().__init__(f"Add {kind}")
        # Validate before the stack runs redo(): an exception there cannot be undone cleanly.
        try:
            get_kind(kind).validate_params(dict(params or {}))
            validate_attributes(node_id or "the new layer", get_kind(kind), dict(attributes or {}))
        except (KeyError, ValueError) as exc:
            raise GraphError(str(exc).strip("'")) from None
        self.graph, self.kind, self.position, self.params = graph, kind, position, dict(params or {})
        self.attributes = dict(attributes or {})
        # Fix the id on first redo so redo after undo recreates the same node.
        self.node_id = node_id

    def redo(self) -> None:
        node = self.graph.add_node(self.kind, self.params, id=self.node_id, position=self.position,
                                   attributes=self.attributes)
        self.node_id = node.id

    def undo(self) -> None:
        self.graph.remove_node(self.node_id)


class Connect(QUndoCommand):
    def __init__(self, graph: Graph, source: str, target: str, port: int | None = None, *,
                 check: bool = True) -> None:
        super().__init__(f"Connect {source} → {target}")
        if check:  # inside a compound command the earlier children create the ends: check=False
            reason = graph.can_connect(source, target, port)
            if reason:
                raise GraphError(reason)
        self.graph, self.source, self.target, self.port = graph, source, target, port
        self.edge: Edge | None = None

    def redo(self) -> None:
        self.edge = self.graph.connect(self.source, self.target, self.port)
        self.port = self.edge.port

    def undo(self) -> None:
        self.graph.disconnect(self.edge)


class Disconnect(QUndoCommand):
    def __init__(self, graph: Graph, edge: Edge) -> None:
        super().__init__(f"Disconnect {edge.source} → {edge.target}")
        self.graph, self.edge = graph, edge

    def redo(self) -> None:
        self.graph.disconnect(self.edge)

    def undo(self) -> None:
        self.graph.connect(self.edge.source, self.edge.target, self.edge.port)


class RemoveNode(QUndoCommand):
    """Removes a node and its wires; undo restores both, ports included."""

    def __init__(self, graph: Graph, node_id: str) -> None:
        super().__init__(f"Delete {node_id}")
        graph.node(node_id)  # raises GraphError for an unknown id, before the stack runs redo()
        self.graph, self.node_id = graph, node_id
        self.snapshot: dict[str, Any] = {}
        self.edges: list[Edge] = []

    def redo(self) -> None:
        node = self.graph.node(self.node_id)
        self.snapshot = {"kind": node.kind, "params": dict(node.params), "position": node.position,
                         "attributes": dict(node.attributes)}
        self.edges = self.graph.in_edges(self.node_id) + self.graph.out_edges(self.node_id)
        self.graph.remove_node(self.node_id)

    def undo(self) -> None:
        s = self.snapshot
        self.graph.add_node(s["kind"], s["params"], id=self.node_id, position=s["position"],
                            attributes=s["attributes"])
        for e in self.edges:
            self.graph.connect(e.source, e.target, e.port)


def remove_selection(graph: Graph, node_ids: list[str], edges: list[Edge]) -> Compound:
    """One undo step deleting the given wires, then the given nodes (with their wires)."""
    compound = Compound(_plural("Delete", len(node_ids), "layer", len(edges), "wire"))
    gone = set(node_ids)
    for e in edges:
        if e.source not in gone and e.target not in gone:
            compound.add(Disconnect(graph, e))
    for nid in node_ids:
        compound.add(RemoveNode(graph, nid))
    return compound


def _merge_node_edit(command, other: QUndoCommand) -> bool:
    """``mergeWith`` of the node edits: a quick follow-up edit of the same values of the same layer merges."""
    if (
        type(other) is not type(command)
        or other.node_id != command.node_id
        or set(other.changes) != set(command.changes)
        or other.created - command.last_edit > MERGE_WINDOW_S
    ):
        return False
    command.changes = dict(other.changes)
    command.last_edit = other.created
    if command.changes == command.old:
        command.setObsolete(True)  # back where it started: no step at all
    return True


class SetParams(QUndoCommand):
    """Change parameters of one node. Consecutive changes of the same parameters merge."""

    def __init__(self, graph: Graph, node_id: str, changes: dict[str, Any]) -> None:
        names = ", ".join(changes)
        super().__init__(f"Set {names} of {node_id}")
        self.graph, self.node_id, self.changes = graph, node_id, dict(changes)
        self.created = self.last_edit = time.monotonic()
        node = graph.node(node_id)
        self.old = {k: node.params[k] for k in changes}
        # Refuse invalid values now, before the command reaches the stack.
        try:
            get_kind(node.kind).validate_params({**node.params, **changes})
        except ValueError as exc:
            raise GraphError(f"{node_id} ({node.kind}): {exc}") from None

    def id(self) -> int:
        return _ID_SET_PARAMS

    def mergeWith(self, other: QUndoCommand) -> bool:
        """Absorb a quick follow-up edit of the same parameters of the same layer."""
        return _merge_node_edit(self, other)

    def redo(self) -> None:
        self.graph.set_params(self.node_id, self.changes)

    def undo(self) -> None:
        self.graph.set_params(self.node_id, self.old)


class SetAttributes(QUndoCommand):
    """Change training attributes of one node (frozen, lr_scale). Consecutive changes of the same ones merge."""

    def __init__(self, graph: Graph, node_id: str, changes: dict[str, Any]) -> None:
        labels = ", ".join(spec.label if (spec := NODE_ATTRIBUTES.get(k)) else k for k in changes)
        super().__init__(f"Set {labels} of {node_id}")
        self.graph, self.node_id, self.changes = graph, node_id, dict(changes)
        self.created = self.last_edit = time.monotonic()
        node = graph.node(node_id)
        # Refuse invalid values (or a layer without weights) now, before the command reaches the stack.
        validate_attributes(node_id, node.layer, {**node.attributes, **changes})
        self.old = {k: node.attributes[k] for k in changes}

    def id(self) -> int:
        return _ID_SET_PARAMS + 2

    def mergeWith(self, other: QUndoCommand) -> bool:
        """Absorb a quick follow-up edit of the same attributes of the same layer."""
        return _merge_node_edit(self, other)

    def redo(self) -> None:
        self.graph.set_attributes(self.node_id, self.changes)

    def undo(self) -> None:
        self.graph.set_attributes(self.node_id, self.old)


class MoveNodes(QUndoCommand):
    """Moves of one drag (or one auto-layout): ``{node id: (old position, new position)}``."""

    def __init__(self, graph: Graph, moves: dict[str, tuple[tuple[float, float], tuple[float, float]]],
                 text: str = "") -> None:
        super().__init__(text or _plural("Move", len(moves), "layer"))
        self.graph, self.moves = graph, dict(moves)

    def redo(self) -> None:
        for nid, (_, new) in self.moves.items():
            self.graph.move_node(nid, new)

    def undo(self) -> None:
        for nid, (old, _) in self.moves.items():
            self.graph.move_node(nid, old)


class SetSettings(QUndoCommand):
    """Change the project's training settings and dataset choice (quick successive edits merge)."""

    def __init__(self, document: Document, training: TrainingConfig, dataset: DatasetChoice) -> None:
        super().__init__("Change training settings")
        self.document = document
        self.old = (document.project.training, document.project.dataset)
        self.new = (training, dataset)
        self.created = self.last_edit = time.monotonic()

    def id(self) -> int:
        return _ID_SET_PARAMS + 1

    def mergeWith(self, other: QUndoCommand) -> bool:
        if not isinstance(other, SetSettings) or other.created - self.last_edit > MERGE_WINDOW_S:
            return False
        self.new, self.last_edit = other.new, other.created
        if self.new == self.old:
            self.setObsolete(True)
        return True

    def redo(self) -> None:
        self.document.set_settings(*self.new)

    def undo(self) -> None:
        self.document.set_settings(*self.old)


class SetLearningRate(SetSettings):
    """Set the learning rate (Train → Find Learning Rate's "Use" button): one undo step of its own, which never
    merges with the settings edits before or after it."""

    def __init__(self, document: Document, learning_rate: float) -> None:
        training = TrainingConfig.model_validate({**document.project.training.model_dump(),
                                                  "learning_rate": learning_rate})
        super().__init__(document, training, document.project.dataset)
        self.setText(f"Set learning rate to {learning_rate:.2g}")

    def id(self) -> int:
        return -1  # Qt never merges a command whose id is -1


class RenameNode(QUndoCommand):
    def __init__(self, graph: Graph, old_id: str, new_id: str) -> None:
        super().__init__(f"Rename {old_id} to {new_id}")
        graph.node(old_id)
        if new_id != old_id:
            graph.check_new_id(new_id)  # the graph's own rule and message
        self.graph, self.old_id, self.new_id = graph, old_id, new_id

    def redo(self) -> None:
        self.graph.rename_node(self.old_id, self.new_id)

    def undo(self) -> None:
        self.graph.rename_node(self.new_id, self.old_id)


def paste_fragment(graph: Graph, fragment: dict[str, Any], offset: tuple[float, float]) -> tuple[Compound, list]:
    """One undo step adding a copied fragment (``Graph.to_dict`` form) shifted by ``offset``.

    Node ids are renamed where they clash; only wires between pasted nodes are kept.
    Returns the command and the list that will hold the new ids once it has run.
    """
    compound = Compound(_plural("Paste", len(fragment.get("nodes", [])), "layer"))
    taken = set(graph.nodes)
    renamed: dict[str, str] = {}
    new_ids: list[str] = []
    for n in fragment.get("nodes", []):
        kind = get_kind(n["kind"])
        new_id = n["id"] if n["id"] not in taken else _free_id(kind.id_prefix, taken)
        taken.add(new_id)
        renamed[n["id"]] = new_id
        new_ids.append(new_id)
        x, y = n.get("position", (0.0, 0.0))
        compound.add(AddNode(graph, n["kind"], (x + offset[0], y + offset[1]), n.get("params", {}), new_id,
                             n.get("attributes")))
    for e in fragment.get("edges", []):
        if e["source"] in renamed and e["target"] in renamed:
            compound.add(Connect(graph, renamed[e["source"]], renamed[e["target"]], e.get("port", 0), check=False))
    return compound, new_ids


def fragment_of(graph: Graph, node_ids: list[str]) -> dict[str, Any]:
    """The selected nodes and the wires between them, in ``Graph.to_dict`` form."""
    chosen = set(node_ids)
    full = graph.to_dict()
    return {
        "nodes": [n for n in full["nodes"] if n["id"] in chosen],
        "edges": [e for e in full["edges"] if e["source"] in chosen and e["target"] in chosen],
    }


def _free_id(prefix: str, taken: set[str]) -> str:
    n = 1
    while f"{prefix}{n}" in taken:
        n += 1
    return f"{prefix}{n}"


def _plural(verb: str, n: int, noun: str, m: int = 0, noun2: str = "") -> str:
    parts = []
    if n:
        parts.append(f"{n} {noun}{'s' if n != 1 else ''}")
    if m:
        parts.append(f"{m} {noun2}{'s' if m != 1 else ''}")
    return f"{verb} {' and '.join(parts) or 'nothing'}"


__all__ = [
    "Compound", "AddNode", "Connect", "Disconnect", "RemoveNode", "remove_selection", "SetParams", "SetAttributes",
    "MoveNodes", "SetSettings",
    "RenameNode", "paste_fragment", "fragment_of", "GraphError", "SetWeights", "RecordRun", "ReplaceNetwork",
]


class SetWeights(QUndoCommand):
    """Replace the project's weights (an import); undo puts the previous ones back."""

    def __init__(self, document: Document, weights: dict[str, torch.Tensor] | None, text: str) -> None:
        super().__init__(text)
        self.document, self.weights = document, weights
        self.old = document.project.weights

    def redo(self) -> None:
        self.document.set_weights(self.weights)

    def undo(self) -> None:
        self.document.set_weights(self.old)


class ReplaceNetwork(QUndoCommand):
    """Put another network (``Graph.to_dict`` form) and its weights in place of the document's, in the same
    graph object (the canvas follows its signals); undo restores the previous nodes in their order, their
    wires and the weights. The weights are cleared before the nodes change and set after, so they never
    meet the other network."""

    def __init__(self, document: Document, network: dict[str, Any], weights: dict[str, torch.Tensor] | None,
                 text: str) -> None:
        super().__init__(text)
        self.document, self.network, self.weights = document, network, weights
        self.old_network = document.graph.to_dict()
        self.old_weights = document.project.weights

    def _put(self, network: dict[str, Any], weights: dict[str, torch.Tensor] | None) -> None:
        graph = self.document.graph
        self.document.set_weights(None)
        for edge in graph.edges:
            graph.disconnect(edge)
        for nid in list(graph.nodes):
            graph.remove_node(nid)
        for n in network["nodes"]:
            graph.add_node(n["kind"], n.get("params", {}), id=n["id"], position=tuple(n.get("position", (0, 0))),
                           attributes=n.get("attributes"))
        for e in network["edges"]:
            graph.connect(e["source"], e["target"], e.get("port", 0))
        self.document.set_weights(weights)

    def redo(self) -> None:
        self._put(self.network, self.weights)

    def undo(self) -> None:
        self._put(self.old_network, self.old_weights)


class RecordRun(QUndoCommand):
    """Store a finished run's metric history in the project, with the weights the project keeps
    after it (the run's, or the ones it had); undo removes the run and puts the old weights back."""

    def __init__(self, document: Document, weights: dict[str, torch.Tensor] | None, record: RunHistory) -> None:
        super().__init__(f"Training run: {record.name}")
        self.document, self.weights, self.record = document, weights, record
        self.old_weights = document.project.weights
        self.index: int | None = None

    def redo(self) -> None:
        self.index = self.document.add_run(self.record, self.weights)

    def undo(self) -> None:
        self.document.remove_run(self.index, self.old_weights)

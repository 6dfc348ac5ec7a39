"""Automatic layout of a network drawing: layers flow top to bottom.

A simple layered (Sugiyama-style) layout: each node's row is its depth (the
longest path from a source), then side branches move down to just above the
layer they feed; nodes within a row are ordered by the mean column of the
nodes feeding them, so a residual branch sits beside the main path.
Pure arithmetic on the graph, in canvas units.
"""

from __future__ import annotations

from .graph import Graph

#: Distance between rows and columns, in canvas units (a node is about 176 × 66).
ROW_HEIGHT = 120.0
COLUMN_WIDTH = 220.0


def layered_layout(graph: Graph, origin: tuple[float, float] = (0.0, 0.0)) -> dict[str, tuple[float, float]]:
    """Positions ``{node id: (x, y)}`` of the top-left corners of every node."""
    order, cyclic = graph.topological_order()
    depth: dict[str, int] = {}
    for nid in order:
        depth[nid] = 1 + max((depth[s] for s in graph.inputs_of(nid) if s in depth), default=-1)
    # Side branches (a ResNet projection shortcut) sit just above the layer they
    # feed, not next to where they start, so their wires do not cross the main path.
    for nid in reversed(order):
        consumers = [depth[c] for c in graph.consumers_of(nid) if c in depth]
        if consumers and graph.nodes[nid].kind != "Input":
            depth[nid] = max(depth[nid], min(consumers) - 1)
    for nid in cyclic:  # cannot be ordered: park them below everything
        depth[nid] = max(depth.values(), default=-1) + 1
    rows: dict[int, list[str]] = {}
    for nid in [*order, *sorted(cyclic)]:
        rows.setdefault(depth[nid], []).append(nid)
    column: dict[str, float] = {}
    for d in sorted(rows):
        members = rows[d]

        def barycenter(nid: str) -> float:
            cols = [column[s] for s in graph.inputs_of(nid) if s in column]
            return sum(cols) / len(cols) if cols else 0.0

        # Stable: ties keep insertion order, so the main path stays on the left.
        members.sort(key=barycenter)
        centre = sum(barycenter(n) for n in members) / len(members)
        first = round(centre - (len(members) - 1) / 2)
        for i, nid in enumerate(members):
            column[nid] = first + i
    x0, y0 = origin
    return {nid: (x0 + column[nid] * COLUMN_WIDTH, y0 + depth[nid] * ROW_HEIGHT) for nid in graph.nodes}

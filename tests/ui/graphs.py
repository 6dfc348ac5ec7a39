"""Small networks the GUI tests build by hand."""

from __future__ import annotations

from cnnplayground.core.graph import Graph


def chain_graph(*layers: tuple[str, dict], shape: tuple[int, int, int] = (1, 28, 28)) -> Graph:
    """An Input of ``shape`` followed by ``layers`` ``(kind, params)`` in a line."""
    c, h, w = shape
    g = Graph()
    prev = g.add_node("Input", {"channels": c, "height": h, "width": w}).id
    for kind, params in layers:
        node = g.add_node(kind, params).id
        g.connect(prev, node)
        prev = node
    return g


#: Four Linear layers with nothing between them: SGD at a high learning rate diverges within steps.
DEEP_LINEAR = (("Flatten", {}), *(("Linear", {"out_features": n}) for n in (64, 64, 64, 10)))

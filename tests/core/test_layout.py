"""Auto-layout: every wire points down, no two layers overlap."""

from __future__ import annotations

import pytest

from cnnplayground.core.graph import Graph
from cnnplayground.core.layout import COLUMN_WIDTH, ROW_HEIGHT, layered_layout
from cnnplayground.core.presets import list_presets


@pytest.mark.parametrize("preset", [p.name for p in list_presets()])
def test_presets_lay_out_downwards_without_overlap(preset):
    from cnnplayground.core.presets import get_preset

    g = get_preset(preset).factory()
    pos = layered_layout(g)
    assert set(pos) == set(g.nodes)
    assert len(set(pos.values())) == len(pos)
    for e in g.edges:
        assert pos[e.target][1] > pos[e.source][1]


def test_branches_sit_side_by_side_and_the_main_path_stays_left():
    g = Graph()
    g.add_node("Input", id="x")
    for nid in ("a", "b"):
        g.add_node("ReLU", id=nid)
        g.connect("x", nid)
    g.add_node("Add", id="sum")
    g.connect("a", "sum")
    g.connect("b", "sum")
    pos = layered_layout(g)
    assert pos["x"] == (0.0, 0.0)
    assert pos["a"] == (0.0, ROW_HEIGHT) and pos["b"] == (COLUMN_WIDTH, ROW_HEIGHT)
    assert pos["sum"][1] == 2 * ROW_HEIGHT

"""The flow-style architecture diagram (export/diagram/flow.py): every layer (or block) a box in order,
shapes on the arrows, every edge drawn once, skip connections routed around boxes, nothing overlapping."""

from __future__ import annotations

import pytest
from diagram_checks import dense_net, problems

from cnnplayground.core.presets import get_preset
from cnnplayground.export.diagram.flow import flow_layout, flow_scene
from cnnplayground.export.diagram.scene import DiagramOptions, Line, Polygon, Text
from cnnplayground.export.style import figure_style

PRESETS = ("lenet5", "alexnet", "vgg16", "resnet18")


def _graph(name: str):
    return dense_net() if name == "dense" else get_preset(name).factory()


@pytest.mark.parametrize("name", [*PRESETS, "dense"])
@pytest.mark.parametrize("orientation", ["horizontal", "vertical"])
@pytest.mark.parametrize("blocks", [False, True])
def test_nothing_overlaps_or_leaves_the_canvas(name, orientation, blocks):
    """No text outside the canvas, over other text, cut by a box's border or crossed by a line; no line
    through a box; no two boxes overlap."""
    for style in ("paper", "slide"):
        scene = flow_scene(_graph(name), DiagramOptions(orientation=orientation, blocks=blocks), figure_style(style))
        assert problems(scene) == []


@pytest.mark.parametrize("name", [*PRESETS, "dense"])
def test_every_edge_is_drawn_once_and_every_layer_has_a_box(name):
    graph = _graph(name)
    layout = flow_layout(graph, DiagramOptions(), figure_style("page"))
    drawn = [(s, t) for s, t, _ in layout.skips + layout.arrows]
    assert sorted(drawn) == sorted((e.source, e.target) for e in graph.edges)
    assert set(layout.boxes) == set(graph.nodes)
    assert len({layout.boxes[n] for n in graph.nodes}) == len(graph)  # one box per layer
    texts = {i.text for i in layout.scene.items if isinstance(i, Text)}
    assert set(graph.nodes) <= texts  # each box names its layer


def test_resnet18_has_one_skip_line_per_add():
    graph = get_preset("resnet18").factory()
    adds = [n for n, node in graph.nodes.items() if node.kind == "Add"]
    assert len(adds) == 8
    for orientation in ("horizontal", "vertical"):
        layout = flow_layout(graph, DiagramOptions(orientation=orientation), figure_style("paper"))
        for add in adds:
            into = [line for s, t, line in layout.skips if t == add]
            assert len(into) == 1, add
            # the skip ends on the Add box's border, with an arrow head
            left, top, right, bottom = layout.boxes[add]
            x, y = into[0].points[-1]
            assert into[0].arrow and left <= x <= right and top - 0.01 <= y <= bottom + 0.01
            assert (x, y) in {(x, top), (left, y)}  # its top (horizontal) or its left side (vertical)
        assert all(isinstance(line, Line) and line in layout.scene.items for _, _, line in layout.skips)


def test_dense_concat_inputs_are_all_drawn_and_lines_of_different_sources_do_not_run_together():
    graph = dense_net(layers=4)
    layout = flow_layout(graph, DiagramOptions(), figure_style("paper"))
    for node_id, node in graph.nodes.items():
        if node.kind == "Concat":
            inputs = sorted(graph.inputs_of(node_id))
            drawn = sorted(s for s, t, _ in layout.skips + layout.arrows if t == node_id)
            assert drawn == inputs and len(inputs) >= 2
    assert len(layout.skips) == 10  # cat2: 1 skip, cat3: 2, cat4: 3, cat_out: 4
    # horizontal and vertical runs of skip lines from different sources never lie on each other, except
    # the last one into a shared target (where they join)
    runs = []
    for source, target, line in layout.skips:
        for k, (p, q) in enumerate(zip(line.points, line.points[1:], strict=False)):
            last = k == len(line.points) - 2
            runs.append((source, target if last else None, p, q))
    for i, (s1, t1, p1, q1) in enumerate(runs):
        for s2, t2, p2, q2 in runs[i + 1:]:
            if s1 == s2 or (t1 is not None and t1 == t2):
                continue
            for axis in (0, 1):
                if p1[axis] == q1[axis] == p2[axis] == q2[axis]:
                    other = 1 - axis
                    lo = max(min(p1[other], q1[other]), min(p2[other], q2[other]))
                    hi = min(max(p1[other], q1[other]), max(p2[other], q2[other]))
                    assert hi - lo <= 0.01, (s1, s2, p1, q1, p2, q2)


def test_blocks_draw_a_residual_or_dense_block_as_one_box():
    resnet = flow_layout(get_preset("resnet18").factory(), DiagramOptions(blocks=True), figure_style("page"))
    titles = [i.text for i in resnet.scene.items if isinstance(i, Text) and i.bold]
    assert titles.count("Residual block") == 8
    assert resnet.skips == []  # every skip is inside its block
    # the block's box holds its conv, its Add, and not the fork before it
    assert resnet.boxes["layer1_0_conv1"] == resnet.boxes["layer1_0_add"] != resnet.boxes["pool1"]
    # and the ReLU after its Add, as torchvision's BasicBlock has it
    assert resnet.boxes["layer1_0_relu2"] == resnet.boxes["layer1_0_add"]
    assert len(resnet.units) == 5 + 8 + 3  # input, conv1, bn1, relu1, pool1; 8 blocks; avgpool, flatten, fc
    dense = flow_layout(dense_net(), DiagramOptions(blocks=True), figure_style("page"))
    titles = [i.text for i in dense.scene.items if isinstance(i, Text) and i.bold]
    assert titles.count("Dense block") == 1
    assert len(dense.units) < len(dense_net()) / 3


def test_rows_wrap_to_the_figure_width_and_keep_the_text_size():
    graph = get_preset("vgg16").factory()
    for name in ("paper", "page", "slide"):
        style = figure_style(name)
        layout = flow_layout(graph, DiagramOptions(), style)
        assert layout.rows > 1
        assert layout.scene.width <= style.width_in * 72 + 1
        sizes = {i.size for i in layout.scene.items if isinstance(i, Text)}
        assert sizes == {style.font_size, style.tick_size}
    vertical = flow_layout(graph, DiagramOptions(orientation="vertical"), figure_style("page"))
    assert vertical.scene.height <= 9 * 72 + 1 and vertical.rows > 1


def test_a_new_row_starts_between_blocks_when_one_is_near():
    """Vertical ResNet-18 on a page: each column break falls where one arrow alone crosses, so that no
    skip line has to run from one column to the next."""
    layout = flow_layout(get_preset("resnet18").factory(), DiagramOptions(orientation="vertical"),
                         figure_style("page"))
    assert layout.rows > 2
    for _, _, line in layout.skips:
        xs = [p[0] for p in line.points]
        assert max(xs) - min(xs) < 200  # stays beside its own column


def test_labels_options_choose_what_boxes_and_arrows_say():
    graph = get_preset("lenet5").factory()
    style = figure_style("paper")

    def texts(labels):
        scene = flow_scene(graph, DiagramOptions(labels=frozenset(labels)), style)
        return {i.text for i in scene.items if isinstance(i, Text)}

    everything = texts({"names", "shapes", "kernels", "params"})
    assert {"conv1", "6×28×28", "5×5", "156 params", "Conv2d"} <= everything
    bare = texts(set())
    assert "conv1" not in bare and "6×28×28" not in bare and "5×5" not in bare and "Conv2d" in bare
    assert "156 params" not in texts({"names", "shapes", "kernels"})


def test_grey_fills_are_grey_and_colour_fills_are_not():
    graph = get_preset("resnet18").factory()

    def fills(grey):
        scene = flow_scene(graph, DiagramOptions(grey=grey), figure_style("paper"))
        return {i.fill for i in scene.items if isinstance(i, Polygon) and i.fill}

    assert all(f[1:3] == f[3:5] == f[5:7] for f in fills(True))
    assert len(fills(True)) >= 4  # the kinds stay told apart
    assert any(f[1:3] != f[3:5] for f in fills(False))


def test_an_empty_network_is_a_user_error_not_a_crash():
    from cnnplayground.core.errors import UserError
    from cnnplayground.core.graph import Graph

    with pytest.raises(UserError, match="no layers: there is nothing to draw"):
        flow_scene(Graph(), DiagramOptions(), figure_style("paper"))


def test_disconnected_and_unordered_layers_still_get_a_box_each():
    from cnnplayground.core.graph import Graph

    g = Graph()
    for node_id, kind in (("a", "ReLU"), ("b", "ReLU"), ("c", "Add"), ("lonely", "Conv2d")):
        g.add_node(kind, id=node_id)
    g.connect("a", "c", 0)
    g.connect("b", "c", 1)
    layout = flow_layout(g, DiagramOptions(), figure_style("paper"))
    assert set(layout.boxes) == {"a", "b", "c", "lonely"} and problems(layout.scene) == []
    assert sorted((s, t) for s, t, _ in layout.skips + layout.arrows) == [("a", "c"), ("b", "c")]


@pytest.mark.parametrize("name,style", [("lenet5", "paper"), ("lenet5", "page"), ("alexnet", "paper"),
                                        ("alexnet", "page"), ("vgg16", "page")])
def test_rows_are_evened_out(name, style):
    """No last row of one box under full rows (where rows hold three boxes or more): the rows' box counts
    stay within a factor of two."""
    layout = flow_layout(_graph(name), DiagramOptions(), figure_style(style))
    per_row = [sum(u.row == r for u in layout.units) for r in range(layout.rows)]
    assert min(per_row) * 2 >= max(per_row), per_row


def test_a_deep_network_is_drawn_per_block_by_default_where_per_layer_is_pages_tall():
    """ResNet-18 one box per layer in a 3.5 in paper column is 38.9 in tall (rows of one or two boxes):
    by default it is one box per block, at most 1.5 column heights (13.5 in) tall and less than 3 times as
    tall as wide; LeNet-5 (no blocks) and VGG-16 (no blocks) stay one box per layer."""
    from dataclasses import replace

    from cnnplayground.export.diagram.write import PAGE_HEIGHT_IN, PAGES_ABOVE, blocks_by_default

    paper = figure_style("paper")
    resnet = _graph("resnet18")
    per_layer = flow_scene(resnet, DiagramOptions(), paper)
    assert per_layer.height / 72 > 30
    on, why = blocks_by_default(resnet, DiagramOptions(), paper)
    assert on and why == f"per layer it would be {per_layer.height / 72:.0f} in tall"
    scene = flow_scene(resnet, replace(DiagramOptions(), blocks=on), paper)
    assert scene.height < PAGES_ABOVE * PAGE_HEIGHT_IN * 72 and scene.height / scene.width < 3
    for name in ("lenet5", "vgg16"):
        assert blocks_by_default(_graph(name), DiagramOptions(), paper) == (False, "")
    # a wide page fits ResNet-18 per block too, and a vertical paper column drawn per layer is 14 in wide
    assert blocks_by_default(resnet, DiagramOptions(orientation="vertical"), paper)[1].endswith("in wide")


def test_rows_start_between_blocks_only_where_the_block_then_fits():
    """Moving a block's first boxes to a new row keeps the block together only if it fits a row; a block
    longer than a row used to leave rows of one box (ResNet-18 per layer in a page: 25 rows, now 23)."""
    layout = flow_layout(_graph("resnet18"), DiagramOptions(), figure_style("page"))
    sizes = [sum(1 for u in layout.units if u.row == r) for r in range(layout.rows)]
    assert layout.rows <= 23 and sizes.count(1) <= 2

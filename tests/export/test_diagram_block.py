"""The block-style architecture diagram (export/diagram/block.py): numbers about its geometry.

Boxes are found by their polygons' tags (``box:KIND:NODE``: top, side and front face, in that order),
arcs and joins by their lines' tags; a stub that draws nothing fails every test here.
"""

from __future__ import annotations

import functools

import pytest

from cnnplayground.core import presets
from cnnplayground.core.graph import Graph
from cnnplayground.core.inference import infer
from cnnplayground.export.diagram.block import block_scene
from cnnplayground.export.diagram.scene import DiagramOptions, Line, Polygon, Scene, Text
from cnnplayground.export.style import figure_style

HORIZONTAL = DiagramOptions()
VERTICAL = DiagramOptions(orientation="vertical")
ALL_LABELS = frozenset({"names", "shapes", "kernels", "params"})


def mini_densenet(blocks: tuple[int, ...] = (3, 4), growth: int = 8) -> Graph:
    """DenseNet's structure as torchvision's traced densenet121 has it (pre-activation dense layers, each
    Concat taking the block input and every earlier layer's new maps, a transition conv + avg pool)."""
    g = Graph()
    g.add_node("Input", {"channels": 3, "height": 32, "width": 32}, id="input")

    def add(nid: str, kind: str, inputs: list[str], **params: object) -> str:
        g.add_node(kind, dict(params), id=nid)
        for port, src in enumerate(inputs):
            g.connect(src, nid, port if kind == "Concat" else None)
        return nid

    add("conv0", "Conv2d", ["input"], out_channels=16, kernel_size=3, padding=1)
    last = add("pool0", "MaxPool2d", ["conv0"], kernel_size=2, stride=2)
    for b, layers in enumerate(blocks, 1):
        block_in, new = last, []
        for i in range(1, layers + 1):
            x = block_in if not new else add(f"b{b}_l{i}_concat", "Concat", [block_in, *new])
            x = add(f"b{b}_l{i}_norm1", "BatchNorm2d", [x])
            x = add(f"b{b}_l{i}_relu1", "ReLU", [x])
            x = add(f"b{b}_l{i}_conv1", "Conv2d", [x], out_channels=4 * growth, kernel_size=1)
            x = add(f"b{b}_l{i}_relu2", "ReLU", [x])
            new.append(add(f"b{b}_l{i}_conv2", "Conv2d", [x], out_channels=growth, kernel_size=3, padding=1))
        x = add(f"b{b}_concat", "Concat", [block_in, *new])
        if b < len(blocks):
            x = add(f"t{b}_conv", "Conv2d", [x], out_channels=16, kernel_size=1)
            x = add(f"t{b}_pool", "AvgPool2d", [x], kernel_size=2, stride=2)
        last = x
    add("pool", "AdaptiveAvgPool2d", [last], output_size=1)
    add("flatten", "Flatten", ["pool"])
    add("fc", "Linear", ["flatten"], out_features=10)
    return g


def mini_inception() -> Graph:
    """Two GoogLeNet modules: four branches (1×1; 1×1, 3×3; 1×1, 5×5; 3×3 max pool, 1×1) into a Concat."""
    g = Graph()
    g.add_node("Input", {"channels": 3, "height": 32, "width": 32}, id="input")

    def add(nid: str, kind: str, inputs: list[str], **params: object) -> str:
        g.add_node(kind, dict(params), id=nid)
        for port, src in enumerate(inputs):
            g.connect(src, nid, port if kind == "Concat" else None)
        return nid

    add("stem", "Conv2d", ["input"], out_channels=32, kernel_size=3, padding=1)
    last = add("stem_pool", "MaxPool2d", ["stem"], kernel_size=2, stride=2)
    for m in (1, 2):
        b1 = add(f"inc{m}_b1", "Conv2d", [last], out_channels=16, kernel_size=1)
        b2 = add(f"inc{m}_b2_reduce", "Conv2d", [last], out_channels=16, kernel_size=1)
        b2 = add(f"inc{m}_b2", "Conv2d", [b2], out_channels=32, kernel_size=3, padding=1)
        b3 = add(f"inc{m}_b3_reduce", "Conv2d", [last], out_channels=8, kernel_size=1)
        b3 = add(f"inc{m}_b3", "Conv2d", [b3], out_channels=16, kernel_size=5, padding=2)
        b4 = add(f"inc{m}_b4_pool", "MaxPool2d", [last], kernel_size=3, stride=1, padding=1)
        b4 = add(f"inc{m}_b4", "Conv2d", [b4], out_channels=16, kernel_size=1)
        last = add(f"inc{m}", "Concat", [b1, b2, b3, b4])
    add("gap", "AdaptiveAvgPool2d", [last], output_size=1)
    add("flatten", "Flatten", ["gap"])
    add("fc", "Linear", ["flatten"], out_features=10)
    return g


NETS = {
    "lenet5": presets.lenet5,
    "alexnet": presets.alexnet,
    "vgg16": presets.vgg16,
    "resnet18": presets.resnet18,
    "densenet": mini_densenet,
    "inception": mini_inception,
}


@functools.cache
def scene_of(net: str, options: DiagramOptions = HORIZONTAL, style: str = "paper") -> Scene:
    return block_scene(NETS[net](), options, figure_style(style))


def boxes(scene: Scene) -> dict[str, list[Polygon]]:
    """Polygons per box tag, in drawing order (top, side, front)."""
    out: dict[str, list[Polygon]] = {}
    for item in scene.items:
        if isinstance(item, Polygon) and item.tag.startswith("box:"):
            out.setdefault(item.tag, []).append(item)
    return out


def front(scene: Scene, node: str) -> tuple[float, float]:
    """(width, height) of the front face of ``node``'s box."""
    [tag] = [t for t in boxes(scene) if t.endswith(f":{node}")]
    face = boxes(scene)[tag][2]
    xs = [p[0] for p in face.points]
    ys = [p[1] for p in face.points]
    assert len(set(xs)) == 2 and len(set(ys)) == 2, "the front face is an upright rectangle"
    return max(xs) - min(xs), max(ys) - min(ys)


def texts(scene: Scene) -> list[Text]:
    return [i for i in scene.items if isinstance(i, Text)]


def lines(scene: Scene, tag: str) -> list[Line]:
    return [i for i in scene.items if isinstance(i, Line) and i.tag == tag]


def _rect_meets_segment(rect: tuple[float, float, float, float], p: tuple[float, float],
                        q: tuple[float, float]) -> bool:
    """Whether the segment p–q passes through the inside of the rectangle (sampled finely)."""
    x0, y0, x1, y1 = rect
    return any(x0 < p[0] + (q[0] - p[0]) * t / 200 < x1 and y0 < p[1] + (q[1] - p[1]) * t / 200 < y1
               for t in range(201))


CASES = [(net, opts) for net in NETS for opts in (HORIZONTAL, VERTICAL)]


@pytest.mark.parametrize(("net", "options"), CASES, ids=[f"{n}-{o.orientation}" for n, o in CASES])
def test_every_item_lies_inside_the_scene(net: str, options: DiagramOptions) -> None:
    scene = scene_of(net, options)
    assert len(boxes(scene)) >= 5 and len(texts(scene)) >= 5
    for item in scene.items:
        if isinstance(item, Text):
            left, top, right, bottom = item.box()
            assert left >= 0 and top >= 0 and right <= scene.width and bottom <= scene.height, item
        else:
            for x, y in item.points:
                assert 0 <= x <= scene.width and 0 <= y <= scene.height, item


@pytest.mark.parametrize(("net", "options"), CASES, ids=[f"{n}-{o.orientation}" for n, o in CASES])
def test_no_text_overlaps_text_or_crosses_a_box_edge(net: str, options: DiagramOptions) -> None:
    scene = scene_of(net, options)
    labels = texts(scene)
    assert len(labels) >= 5
    rects = [t.box() for t in labels]
    for i, a in enumerate(rects):
        for b in rects[i + 1:]:
            assert not (a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]), (a, b)
    for poly in (i for i in scene.items if isinstance(i, Polygon)):
        edges = list(zip(poly.points, poly.points[1:] + poly.points[:1]))
        xs, ys = [p[0] for p in poly.points], [p[1] for p in poly.points]
        for t, r in zip(labels, rects):
            if r[2] < min(xs) or r[0] > max(xs) or r[3] < min(ys) or r[1] > max(ys):
                continue
            assert not any(_rect_meets_segment(r, p, q) for p, q in edges), (t.text, poly.tag)


def test_lenet5_boxes_follow_the_maps_spatial_size_and_channels() -> None:
    scene = scene_of("lenet5")
    # conv1: 6@28×28, pool1: 6@14×14, conv2: 16@10×10, pool2: 16@5×5
    heights = [front(scene, n)[1] for n in ("conv1", "pool1", "conv2", "pool2")]
    assert heights == sorted(heights, reverse=True) and len(set(heights)) == 4
    assert front(scene, "conv1")[0] == pytest.approx(front(scene, "pool1")[0])  # both 6 channels
    assert front(scene, "conv2")[0] > front(scene, "conv1")[0]  # 16 channels thicker than 6
    # fc bars: thinner than any map, height growing with units (120 > 84 > 10)
    bars = [front(scene, n) for n in ("fc1", "fc2", "fc3")]
    assert all(w < front(scene, "conv1")[0] for w, _ in bars)
    assert bars[0][1] > bars[1][1] > bars[2][1]


@pytest.mark.parametrize("net", ["alexnet", "vgg16", "resnet18"])
def test_box_sizes_are_monotone_in_spatial_size_and_channels(net: str) -> None:
    graph = NETS[net]()
    result = infer(graph)
    scene = scene_of(net)
    spatial = [n for n in (t.rsplit(":", 1)[1] for t in boxes(scene) if not t.startswith("box:shortcut"))
               if len(result[n].shape or ()) == 3]
    assert len(spatial) >= 8
    for a in spatial:
        for b in spatial:
            (ca, ha, _), (cb, hb, _) = result[a].shape, result[b].shape  # type: ignore[misc]
            if ha > hb:
                assert front(scene, a)[1] >= front(scene, b)[1], (a, b)
            if ca > cb:
                assert front(scene, a)[0] >= front(scene, b)[0], (a, b)


def test_lenet5_labels_name_the_layers_their_shapes_and_kernels() -> None:
    words = {t.text for t in texts(scene_of("lenet5"))}
    assert {"6@28×28", "6@14×14", "16@10×10", "16@5×5", "120", "84", "10"} <= words
    assert {"conv1", "pool1", "conv2", "fc3"} <= words
    assert "5×5 conv" in words and "2×2 max pool, /2" in words


def test_kernels_are_drawn_as_small_boxes_with_projection_lines_only_when_asked() -> None:
    with_kernels = scene_of("lenet5")
    kernels = [i for i in with_kernels.items if isinstance(i, Polygon) and i.tag == "kernel"]
    assert len(kernels) == 4  # conv1, pool1, conv2, pool2 each read a window of the map before
    assert len(lines(with_kernels, "kernel")) == 8
    bare = block_scene(presets.lenet5(), DiagramOptions(labels=frozenset({"names", "shapes"})))
    assert not [i for i in bare.items if i.tag == "kernel"]
    assert "5×5 conv" not in {t.text for t in texts(bare)}


@pytest.mark.parametrize("options", [HORIZONTAL, VERTICAL], ids=["horizontal", "vertical"])
def test_resnet18_draws_one_skip_arc_per_add_with_its_projections(options: DiagramOptions) -> None:
    graph = presets.resnet18()
    adds = [n for n in graph.nodes.values() if n.kind == "Add"]
    scene = block_scene(graph, options)
    arcs = lines(scene, "skip")
    assert len(adds) == 8 and len(arcs) == len(adds)
    assert sum(a.dashed for a in arcs) == 3  # the 1×1 projection shortcuts, each on its arc
    shortcuts = [t for t in boxes(scene) if t.startswith("box:shortcut:")]
    assert sorted(t.rsplit(":", 1)[1] for t in shortcuts) == [f"layer{s}_0_downsample_conv" for s in (2, 3, 4)]
    assert "1×1, /2" in {t.text for t in texts(scene)}
    # the row of maps: the input, conv1, 16 block convs, the max and the avg pool, the fc bar; and 3 shortcuts
    assert len(boxes(scene)) == 21 + 3


def test_densenet_concats_are_drawn_with_summed_channels_and_every_connection() -> None:
    graph = mini_densenet()
    concats = [n for n in graph.nodes if graph.nodes[n].kind == "Concat"]
    in_edges = sum(len(graph.inputs_of(n)) for n in concats)
    # per layer: every Concat input comes from another box (the convs have their own)
    scene = block_scene(graph, HORIZONTAL)
    assert len(lines(scene, "join")) == in_edges == 2 + 3 + 4 + 2 + 3 + 4 + 5
    widths = [front(scene, n)[0] for n in ("b1_l2_concat", "b1_l3_concat", "b1_concat")]  # 24, 32, 40 ch
    assert widths[0] < widths[1] < widths[2]
    # by blocks: each dense layer's convs fold into the Concat that takes them in, which then holds one
    # of its own inputs; every other input is a join
    grouped = block_scene(graph, DiagramOptions(blocks=True))
    assert len(lines(grouped, "join")) == in_edges - len(concats)
    assert not any(t.endswith(":b1_l2_conv2") for t in boxes(grouped))
    assert "3 dense layers" in {t.text for t in texts(grouped)}


def test_grey_uses_only_greys() -> None:
    def colours(scene: Scene) -> set[str]:
        out: set[str] = set()
        for item in scene.items:
            if isinstance(item, Polygon):
                out |= {c for c in (item.fill, item.stroke) if c}
            elif isinstance(item, Line):
                out.add(item.stroke)
            else:
                out.add(item.colour)
        return out

    def grey(c: str) -> bool:
        return c[1:3] == c[3:5] == c[5:7]

    for net in ("lenet5", "resnet18", "densenet"):
        assert not all(grey(c) for c in colours(scene_of(net)))
        scene = scene_of(net, DiagramOptions(grey=True))
        assert len(colours(scene)) >= 4 and all(grey(c) for c in colours(scene)), net


def test_vertical_orientation_runs_downwards() -> None:
    for net in ("lenet5", "vgg16"):
        across, down = scene_of(net), scene_of(net, VERTICAL)
        assert across.width > 1.5 * across.height and down.height > 1.5 * down.width
        # the maps follow one another to the right, or downwards
        xs = [min(p[0] for p in f[2].points) for f in boxes(across).values()]
        ys = [min(p[1] for p in f[2].points) for f in boxes(down).values()]
        assert xs == sorted(xs) and ys == sorted(ys, reverse=True)  # vertical: drawn bottom (back) first


def test_long_networks_fit_a_page_width_with_unshrunk_text() -> None:
    style = figure_style("page")
    for net in ("vgg16", "resnet18", "alexnet"):
        scene = scene_of(net, HORIZONTAL, "page")
        assert scene.width <= style.width_in * 72 + 0.5, net
        assert min(t.size for t in texts(scene)) >= style.tick_size
    # VGG-16 by stages: one label block per stage, not per layer
    names = {t.text for t in texts(scene_of("vgg16", HORIZONTAL, "page"))}
    assert {"conv1 + pool1", "3×3 conv ×3"} <= names and "conv3_2" not in names


def test_a_slide_draws_the_same_diagram_larger() -> None:
    paper, slide = scene_of("lenet5"), scene_of("lenet5", HORIZONTAL, "slide")
    assert len(slide.items) == len(paper.items)
    assert slide.width > 2 * paper.width and slide.height > 2 * paper.height


@pytest.mark.parametrize("options", [HORIZONTAL, VERTICAL], ids=["horizontal", "vertical"])
def test_googlenet_branches_are_drawn_side_by_side(options: DiagramOptions) -> None:
    scene = block_scene(mini_inception(), options)
    vertical = options.orientation == "vertical"

    def corner(node: str) -> tuple[float, float]:
        [tag] = [t for t in boxes(scene) if t.endswith(f":{node}")]
        face = boxes(scene)[tag][2]
        return min(p[0] for p in face.points), min(p[1] for p in face.points)

    for m in (1, 2):
        firsts = [corner(f"inc{m}_{b}") for b in ("b1", "b2_reduce", "b3_reduce", "b4_pool")]
        along = [c[1] if vertical else c[0] for c in firsts]
        across = [c[0] if vertical else c[1] for c in firsts]
        assert max(along) - min(along) < 1e-6  # the four branches start together
        assert across == sorted(across) and len(set(across)) == 4  # one beside the other
        # each branch's second box follows its first along the drawing
        a, b = corner(f"inc{m}_b2_reduce"), corner(f"inc{m}_b2")
        assert (b[1] > a[1]) if vertical else (b[0] > a[0])
    assert len(lines(scene, "branch")) == 8  # from the map the module reads to each branch
    joins = lines(scene, "join")
    assert len(joins) == 8 and all(len(j.points) == 2 and j.arrow for j in joins)  # straight into the Concat
    assert {"1×1", "3×3", "5×5", "3×3 max"} <= {t.text for t in texts(scene)}

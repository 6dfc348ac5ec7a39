"""The block style of architecture diagram: the LeNet (1998) and AlexNet (2012) figures, as NN-SVG and
PlotNeuralNet draw them. Each feature map is a 3-D box; fully connected layers are thin bars at the end.

**Which layers get a box.** One box per *feature map that a layer makes*: the Input, every convolution,
every pool and every Concat (whose map is drawn with its channels summed). Layers that keep the map —
activations, BatchNorm / LocalResponseNorm, dropout — are folded into the box before them (they change
no shape, so a box of their own would repeat the one before it, as the 1998 and 2012 figures never do);
an Add (or Multiply) is folded into the box of its main-path input and drawn as a skip arc from the box
where its shortcut starts, with a 1×1 projection shortcut drawn as a small box on the arc. Flatten makes
no box; each Linear is a bar.

**The box's size.** Along the drawing (x when horizontal) a box is as thick as its channels, on a log
scale (1 channel 2 pt … 4096 channels 26 pt at 8 pt type); its height follows the map's height and its
oblique depth the map's width, on a square-root scale (a 5×5 map is about 18 pt high, 224×224 is capped
at 100 pt). Everything scales with the figure style's font size, so a slide's diagram is a paper
column's enlarged.

**Long networks.** Up to :data:`DETAIL_BOXES` boxes each gets its own place, labels and kernel drawing
(LeNet-5, AlexNet), unless that is still :data:`CROWDED` too wide for the style's width with its boxes
shrunk. Beyond that, or with ``options.blocks``, the maps of one *stage* (consecutive maps of
the same spatial size) are drawn as touching slabs with one label for the stage (VGG-16, ResNet-18): the
figure stays about a page wide and keeps every map and every skip arc. Beyond :data:`STAGE_BOXES` (DenseNet-121
has 180 maps) a dense block's convolutions are folded too, into the Concat that takes them in: one
slab per dense layer, whose thickness grows with its concatenated channels, with every Concat input
drawn as an arc from the slab that holds it.

**Branches.** GoogLeNet-like modules — chains of boxes that leave one map and meet in one Concat —
are drawn side by side across the drawing, each box labelled with its kernel only (the Concat carries
the module's name and shape). Concat inputs that are not such branches (DenseNet) are arcs over the
boxes; Add shortcuts are rectilinear arcs, raised above any arc they overlap.

Kernels are drawn in horizontal diagrams of separate maps (in a vertical one the map a layer reads is
the underside of the box above it, which cannot be seen).

Pure geometry (no Qt, no torch): :func:`block_scene` returns a :class:`~.scene.Scene`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from ...core.graph import Graph
from ...core.inference import InferenceResult, infer
from ..style import FigureStyle
from .scene import LINE_HEIGHT, DiagramOptions, Item, Line, Polygon, Scene, Text, text_width

#: At most this many boxes: each drawn apart, with its own labels and kernel.
DETAIL_BOXES = 14
#: The smallest scale of boxes and gaps when a horizontal diagram is shrunk to the style's width.
MIN_SCALE = 0.6
#: A diagram of maps drawn apart that is still this much wider than the style is drawn by stages.
CROWDED = 1.25
#: Beyond this many boxes, convolutions that only feed Concats are folded into them.
STAGE_BOXES = 80

#: Fill colour of each kind of box (faces are shaded from it).
COLOURS = {
    "input": "#d9d9d9",
    "conv": "#f2c45a",
    "pool": "#e0664a",
    "concat": "#79b4e0",
    "merge": "#9fd08c",
    "fc": "#a68bd1",
    "other": "#c8c8c8",
}
INK = "#000000"
SKIP_INK = "#333333"
CONCAT_INK = "#7fa6c9"
KERNEL_INK = "#555555"

_FOLDED_CATEGORIES = {"Activation", "Normalization", "Regularization"}
_ARC_MERGES = {"Add", "Multiply"}


# --- colours ----------------------------------------------------------------------------------------


def _rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def _hex(r: float, g: float, b: float) -> str:
    return "#{:02x}{:02x}{:02x}".format(*(max(0, min(255, round(v))) for v in (r, g, b)))


def grey_of(colour: str) -> str:
    """The grey of the same lightness (Rec. 601 luma): r = g = b."""
    r, g, b = _rgb(colour)
    y = 0.299 * r + 0.587 * g + 0.114 * b
    return _hex(y, y, y)


def _shade(colour: str, factor: float) -> str:
    """Lighter (factor > 1: towards white) or darker (factor < 1), keeping a grey grey."""
    r, g, b = _rgb(colour)
    if factor >= 1:
        t = factor - 1
        return _hex(*(v + (255 - v) * t for v in (r, g, b)))
    return _hex(*(v * factor for v in (r, g, b)))


# --- what is drawn ------------------------------------------------------------------------------------


@dataclass
class _Box:
    """One feature map (or fc bar) and the nodes folded into it."""

    node: str
    kind: str  # a COLOURS key
    shape: tuple[int, ...]
    nodes: list[str] = field(default_factory=list)
    #: A projection shortcut: drawn on its skip arc, not in the row.
    side: bool = False
    # geometry, filled by the layout (screen coordinates of the front face and the oblique offset)
    x: float = 0.0
    y: float = 0.0
    w: float = 0.0
    h: float = 0.0
    ox: float = 0.0
    oy: float = 0.0

    @property
    def fc(self) -> bool:
        return self.kind == "fc"

    def bounds(self) -> tuple[float, float, float, float]:
        return self.x, self.y - self.oy, self.x + self.w + self.ox, self.y + self.h


@dataclass
class _Model:
    boxes: list[_Box]
    owner: dict[str, _Box]
    #: (from box, to box, side box or None) per Add / Multiply node.
    skips: list[tuple[_Box, _Box, _Box | None]]
    #: (from box, to box) per Concat input that is not the Concat's own box.
    joins: list[tuple[_Box, _Box]]


def _box_kind(graph: Graph, nid: str) -> str | None:
    """The COLOURS key of a node that gets a box, or None for a node folded into one."""
    node = graph.nodes[nid]
    layer = node.layer
    if node.kind == "Input":
        return "input"
    if node.kind == "Linear":
        return "fc"
    if node.kind == "Concat":
        return "concat"
    if node.kind in _ARC_MERGES or node.kind == "Flatten" or layer.category in _FOLDED_CATEGORIES:
        return None
    if layer.category == "Convolution":
        return "conv"
    if layer.category == "Pooling":
        return "pool"
    return "other"


def _model(graph: Graph, result: InferenceResult, fold_into_concat: bool) -> _Model:
    order = [nid for nid in result.order if result[nid].shape is not None]
    rank = {nid: i for i, nid in enumerate(order)}
    # Longest path from the input, in layers: an Add's main path is its deeper input (a shortcut,
    # projected or not, is the shorter way round), whatever order the layers were added in.
    depth: dict[str, int] = {}
    for nid in order:
        depth[nid] = 1 + max((depth[s] for s in graph.inputs_of(nid) if s in depth), default=0)
    owner: dict[str, _Box] = {}
    boxes: list[_Box] = []
    merges: list[str] = []
    for nid in order:
        kind = _box_kind(graph, nid)
        inputs = [s for s in graph.inputs_of(nid) if s in owner]
        shape = tuple(result[nid].shape or ())
        if kind is None and inputs:
            if graph.nodes[nid].kind in _ARC_MERGES:
                main = max(inputs, key=lambda s: (depth[s], rank[s]))
                merges.append(nid)
            else:
                main = inputs[0]
            box = owner[main]
            box.nodes.append(nid)
            owner[nid] = box
            continue
        if kind is None:
            kind = "other"
        box = _Box(nid, kind, shape, [nid])
        owner[nid] = box
        boxes.append(box)

    # Projection shortcuts: conv boxes whose every consumer is an Add that they do not lead into.
    skips: list[tuple[_Box, _Box, _Box | None]] = []
    for nid in merges:
        target = owner[nid]
        for src in graph.inputs_of(nid):
            if src not in owner or owner[src] is target:
                continue
            start, side = owner[src], None
            feeds = [c for n in start.nodes for c in graph.consumers_of(n) if owner.get(c) is not start]
            first_in = [s for s in graph.inputs_of(start.node) if s in owner]
            if start.kind == "conv" and feeds and all(graph.nodes[c].kind in _ARC_MERGES for c in feeds) \
                    and first_in:
                side, start = start, owner[first_in[0]]
                side.side = True
            skips.append((start, target, side))

    if fold_into_concat:
        boxes = _fold_into_concats(graph, boxes, owner)

    joins: list[tuple[_Box, _Box]] = []
    for box in boxes:
        if box.kind != "concat":
            continue
        for src in graph.inputs_of(box.node):
            if src in owner and owner[src] is not box:
                joins.append((owner[src], box))
    return _Model(boxes, owner, skips, joins)


def _fold_into_concats(graph: Graph, boxes: list[_Box], owner: dict[str, _Box]) -> list[_Box]:
    """Fold every convolution whose map only feeds (through other such convs) Concats into the first
    Concat that takes it: a dense layer becomes the slab of its Concat."""
    kept: list[_Box] = []
    pending: list[_Box] = []
    for box in boxes:
        if box.kind == "conv" and not box.side:
            consumers = {owner[c].kind for n in box.nodes for c in graph.consumers_of(n)
                         if c in owner and owner[c] is not box}
            if consumers and consumers <= {"concat", "conv"}:
                pending.append(box)
                continue
        if box.kind == "concat" and pending:
            for p in pending:
                for n in p.nodes:
                    owner[n] = box
                box.nodes[:0] = p.nodes
            pending = []
        elif pending:
            kept.extend(pending)
            pending = []
        kept.append(box)
    kept.extend(pending)
    return kept


def _branches(graph: Graph, model: _Model) -> dict[str, list[list[_Box]]]:
    """GoogLeNet-like modules: per Concat box, its parallel branches (chains of boxes that each start
    after one common box and lead only into that Concat), when at least two of them are not empty."""
    row = [b for b in model.boxes if not b.side]
    ins: dict[int, list[_Box]] = {}
    outs: dict[int, list[_Box]] = {}
    for box in row:
        srcs = [model.owner[s] for s in graph.inputs_of(box.node) if s in model.owner]
        srcs = [b for b in srcs if b is not box]
        ins[id(box)] = list({id(b): b for b in srcs}.values())
        for b in ins[id(box)]:
            outs.setdefault(id(b), []).append(box)
    modules: dict[str, list[list[_Box]]] = {}
    for merge in row:
        if merge.kind != "concat" or len(ins[id(merge)]) < 2:
            continue
        chains: list[list[_Box]] = []
        starts: set[int] = set()
        for end in ins[id(merge)]:
            chain: list[_Box] = []
            box = end
            while (len(outs.get(id(box), [])) == 1 and len(ins[id(box)]) == 1 and box.kind not in ("concat", "input")
                   and len(chain) < 50):
                chain.insert(0, box)
                box = ins[id(box)][0]
            starts.add(id(box))
            chains.append(chain)
        if len(starts) == 1 and sum(1 for c in chains if c) >= 2:
            modules[merge.node] = [c for c in chains if c]
    return modules


# --- labels -------------------------------------------------------------------------------------------


def shape_text(shape: Sequence[int]) -> str:
    """``6@28×28`` for a map (LeNet's figure), ``120`` for a vector."""
    if len(shape) == 3:
        return f"{shape[0]}@{shape[1]}×{shape[2]}"
    return "×".join(str(s) for s in shape)


def kernel_text(graph: Graph, box: _Box) -> str:
    """``5×5 conv`` / ``3×3 max pool, /2``: what makes the map, or ``""``."""
    node = graph.nodes[box.node]
    p = node.params
    if box.kind == "conv":
        k, s = int(p["kernel_size"]), int(p["stride"])
        return f"{k}×{k} conv" + (f", /{s}" if s > 1 else "")
    if box.kind == "pool":
        if node.kind == "AdaptiveAvgPool2d":
            return "global avg pool" if int(p["output_size"]) == 1 else f"avg pool to {p['output_size']}"
        k, s = int(p["kernel_size"]), int(p["stride"])
        what = "max" if node.kind == "MaxPool2d" else "avg"
        return f"{k}×{k} {what} pool" + (f", /{s}" if s > 1 else "")
    if box.kind == "concat":
        return f"concat of {len(graph.inputs_of(box.node))}"
    return ""


def _short(text: str, limit: int = 22) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _group_name(ids: Sequence[str]) -> str:
    """One name for a stage: its ids' distinct first words after their common prefix (``conv1 + pool1``,
    ``denseblock1 + transition1``, ``layer2``), or ``first–last``."""
    if len(ids) == 1:
        return _short(ids[0])
    prefix = ids[0]
    for nid in ids[1:]:
        while not nid.startswith(prefix):
            prefix = prefix[:-1]
    prefix = prefix[: prefix.rfind("_") + 1] if "_" in prefix else ""
    words = list(dict.fromkeys(nid[len(prefix):].split("_")[0] or nid for nid in ids))
    if prefix and any(w.isdigit() for w in words):  # layer2_0_conv1 … layer2_1_conv2: "layer2"
        return _short(prefix.rstrip("_"), 30)
    if len(words) <= 2:
        return _short(" + ".join(words), 30)
    return f"{_short(words[0], 14)}–{_short(words[-1], 14)}"


# --- geometry -----------------------------------------------------------------------------------------


def _thickness(channels: int, unit: float) -> float:
    """Along-the-drawing size of ``channels``: log scale, 2 … 26 units (8 pt type)."""
    return unit * min(26.0, max(1.5, 2.2 * math.log2(channels + 1)))


def _side(size: int, unit: float) -> float:
    """Height of a map ``size`` pixels high: square-root scale, 8 … 100 units."""
    return unit * min(100.0, max(8.0, 8.0 * math.sqrt(size)))


def _bar(units: int, unit: float) -> float:
    """Height of a fully connected layer of ``units``: square-root scale, 10 … 80 units."""
    return unit * min(80.0, max(10.0, 3.0 * math.sqrt(units)))


def _size(box: _Box, unit: float, thin: float) -> None:
    """Fill the box's w, h (front face) and ox, oy (oblique depth at 45°, half length)."""
    if box.fc:
        n = box.shape[0] if box.shape else 1
        box.w, box.h = 3.0 * unit, _bar(n, unit)
        depth = 3.0 * unit
    elif len(box.shape) == 3:
        c, hh, ww = box.shape
        box.w, box.h = _thickness(c, unit) * thin, _side(hh, unit)
        depth = _side(ww, unit) * 0.5
    else:
        box.w, box.h = 4.0 * unit, 10.0 * unit
        depth = 4.0 * unit
    if box.side:
        box.w, box.h, depth = box.w * 0.6, box.h * 0.35, depth * 0.35
    box.ox = box.oy = depth * math.sqrt(0.5)


def _faces(box: _Box, colour: str, line: float, tag: str) -> list[Item]:
    """The top, the side and the front face (tagged ``box:KIND:NODE``), back to front."""
    x, y, w, h, ox, oy = box.x, box.y, box.w, box.h, box.ox, box.oy
    front = ((x, y), (x + w, y), (x + w, y + h), (x, y + h))
    top = ((x, y), (x + ox, y - oy), (x + w + ox, y - oy), (x + w, y))
    side = ((x + w, y), (x + w + ox, y - oy), (x + w + ox, y + h - oy), (x + w, y + h))
    return [
        Polygon(top, _shade(colour, 1.35), INK, line, tag=tag),
        Polygon(side, _shade(colour, 0.8), INK, line, tag=tag),
        Polygon(front, colour, INK, line, tag=tag),
    ]


def _transpose_box(box: _Box) -> None:
    """Vertical orientation: the drawing runs downwards, so the box's thickness is its height."""
    box.x, box.y, box.w, box.h = box.y, box.x, box.h, box.w


# --- text placement -----------------------------------------------------------------------------------

Rect = tuple[float, float, float, float]


def _overlap(a: Rect, b: Rect, pad: float = 0.0) -> bool:
    return a[0] < b[2] + pad and b[0] < a[2] + pad and a[1] < b[3] + pad and b[1] < a[3] + pad


def _segment_hits(rect: Rect, p: tuple[float, float], q: tuple[float, float]) -> bool:
    """Whether the segment p–q meets the rectangle (Liang–Barsky clipping)."""
    x0, y0, x1, y1 = rect
    dx, dy = q[0] - p[0], q[1] - p[1]
    t0, t1 = 0.0, 1.0
    for pk, qk in ((-dx, p[0] - x0), (dx, x1 - p[0]), (-dy, p[1] - y0), (dy, y1 - p[1])):
        if pk == 0:
            if qk < 0:
                return False
        else:
            t = qk / pk
            if pk < 0:
                t0 = max(t0, t)
            else:
                t1 = min(t1, t)
            if t0 > t1:
                return False
    return True


class _Placer:
    """Puts blocks of text lines where they touch no other text, box or line."""

    def __init__(self, items: Iterable[Item], pad: float) -> None:
        self.pad = pad
        self.rects: list[Rect] = []
        #: Per line: its bounding box and its segments (most lines are far from a label: one test).
        self.lines: list[tuple[Rect, list[tuple[tuple[float, float], tuple[float, float]]]]] = []
        for item in items:
            if isinstance(item, Polygon):
                xs = [p[0] for p in item.points]
                ys = [p[1] for p in item.points]
                self.rects.append((min(xs), min(ys), max(xs), max(ys)))
            elif isinstance(item, Line):
                xs = [p[0] for p in item.points]
                ys = [p[1] for p in item.points]
                self.lines.append(((min(xs), min(ys), max(xs), max(ys)), list(zip(item.points, item.points[1:]))))

    def free(self, rect: Rect) -> bool:
        grown = (rect[0] - self.pad, rect[1] - self.pad, rect[2] + self.pad, rect[3] + self.pad)
        if any(_overlap(grown, r) for r in self.rects):
            return False
        return not any(_overlap(grown, box) and any(_segment_hits(grown, p, q) for p, q in segments)
                       for box, segments in self.lines)

    def place(self, texts: list[Text], step: tuple[float, float], other_side: tuple[float, float] | None = None,
              tries: int = 200) -> list[Text]:
        """``texts`` moved by k·step (k = 0, 1, ...), or by ``other_side`` − k·step (the other side of the
        boxes, tried in turn), the first place where all of them are free."""
        offsets = [(k * step[0], k * step[1]) for k in range(tries)]
        if other_side is not None:
            away = [(other_side[0] - k * step[0], other_side[1] - k * step[1]) for k in range(tries)]
            offsets = [o for pair in zip(offsets, away) for o in pair]
        for dx, dy in offsets:
            moved = [Text(t.x + dx, t.y + dy, t.text, t.size, t.anchor, t.bold, t.colour, tag=t.tag)
                     for t in texts]
            if all(self.free(t.box()) for t in moved):
                break
        for t in moved:
            self.rects.append(t.box())
        return moved


# --- the scene ----------------------------------------------------------------------------------------


def block_scene(graph: Graph, options: DiagramOptions | None = None, style: FigureStyle | None = None) -> Scene:
    """The block-style diagram of ``graph`` (see the module's doc for what gets a box and how big).

    A horizontal diagram wider than the style's width is drawn again with its boxes and gaps (not its
    text) shrunk, down to :data:`MIN_SCALE` of their size, so that VGG-16 fits a page's width.
    """
    from ..style import figure_style

    options = options or DiagramOptions()
    style = style or figure_style("paper")
    result = infer(graph)
    target = style.width_in * 72
    scene = _fitted(graph, result, options, style, target, stages=False)
    if options.orientation == "horizontal" and scene.width > target * CROWDED:
        # Too many maps apart for this width (their labels would stack deep): draw them by stages.
        scene = _fitted(graph, result, options, style, target, stages=True)
    return scene


def _fitted(graph: Graph, result: InferenceResult, options: DiagramOptions, style: FigureStyle, target: float,
            stages: bool) -> Scene:
    scale = 1.0
    for _ in range(6):
        scene = _block_scene(graph, result, options, style, scale, stages)
        if options.orientation == "vertical" or scene.width <= target * 1.001 or scale <= MIN_SCALE:
            break
        scale = max(MIN_SCALE, scale * 0.99 * target / scene.width)
    return scene


def _block_scene(graph: Graph, result: InferenceResult, options: DiagramOptions, style: FigureStyle,
                 scale: float, stages_only: bool) -> Scene:
    unit = style.font_size / 8.0
    geo = unit * scale
    font = style.font_size
    small = max(5.0, style.tick_size)
    line_w = 0.6 * style.line_width
    vertical = options.orientation == "vertical"

    probe = _model(graph, result, fold_into_concat=False)
    n_maps = sum(1 for b in probe.boxes if not b.side)
    fold = options.blocks and any(b.kind == "concat" for b in probe.boxes) or n_maps > STAGE_BOXES
    model = _model(graph, result, fold_into_concat=True) if fold else probe
    row = [b for b in model.boxes if not b.side]
    detail = len(row) <= DETAIL_BOXES and not options.blocks and not stages_only
    thin = 1.0 if detail else 0.45

    def colour(kind: str) -> str:
        base = COLOURS.get(kind, COLOURS["other"])
        return grey_of(base) if options.grey else base

    def ink(c: str) -> str:
        return grey_of(c) if options.grey else c

    for box in model.boxes:
        _size(box, geo, 0.2 if fold and box.kind == "concat" else thin)
        if fold and box.kind == "concat":
            box.w = max(box.w, 2.0 * geo)

    # Stages: consecutive maps of one spatial size, and the pools that end them (never across the Input
    # or the fc bars, and not in detail).
    modules = _branches(graph, model)
    in_module = {id(b): merge for merge, chains in modules.items() for chain in chains for b in chain}
    stages: list[list[_Box]] = []
    for box in row:
        prev = stages[-1][-1] if stages else None
        same = (prev is not None and not detail and id(box) not in in_module and id(prev) not in in_module
                and len(box.shape) == 3 and len(prev.shape) == 3
                and prev.kind != "input"
                and (box.kind == "pool" or (prev.kind != "pool" and box.shape[1:] == prev.shape[1:])))
        if same:
            stages[-1].append(box)
        else:
            stages.append([box])

    # Place along the drawing: x (horizontal) with the boxes' middles on y = 0; in vertical the same
    # layout is made with x and y exchanged (thickness downwards), the oblique depth still up-right.
    gap_detail = 16.0 * geo
    gap_stage = 10.0 * geo
    touch = 0.8 * geo
    pos = 0.0
    def label_width(box: _Box) -> float:
        """The widest of a box's own labels (shape, name, kernel)."""
        return max(text_width(shape_text(box.shape), font), text_width(box.node, small, True),
                   text_width(kernel_text(graph, box), small))

    placed_modules: set[str] = set()

    def branch_text(box: _Box) -> str:
        """A branch box's kernel, short: ``1×1``, ``3×3 max``."""
        return kernel_text(graph, box).replace(" conv", "").replace(" pool", "")

    def place_module(chains: list[list[_Box]], start: float) -> float:
        """Branches side by side across the drawing, each a row of boxes from ``start``; returns the end."""
        sizes = []
        for chain in chains:
            for box in chain:
                if vertical:
                    box.w, box.h = box.h, box.w
            depth = max((b.oy if not vertical else 0.0) for b in chain)
            sizes.append(max((b.w if vertical else b.h) for b in chain) + depth)
        label_room = 0.0
        if "kernels" in options.labels:  # room for the boxes' kernel labels between the branches
            label_room = (max(text_width(branch_text(b), small) for chain in chains for b in chain) if vertical
                          else small * LINE_HEIGHT) + 3 * unit
        branch_gap = 6.0 * geo + label_room
        across = sum(sizes) + branch_gap * (len(chains) - 1)
        c = -across / 2
        end = start
        for chain, size in zip(chains, sizes):
            depth = max((b.oy if not vertical else 0.0) for b in chain)
            a = start
            for box in chain:
                if vertical:
                    box.y, box.x = a, c + (size - box.w) / 2
                    a += box.h + box.oy + gap_detail * 0.6
                else:
                    box.x, box.y = a, c + depth + (size - depth - box.h) / 2
                    a += box.w + box.ox + gap_detail * 0.6
            end = max(end, a)
            c += size + branch_gap
        return end

    for si, stage in enumerate(stages):
        module = in_module.get(id(stage[0]))
        if module is not None:
            if module not in placed_modules:
                placed_modules.add(module)
                pos = place_module(modules[module], pos) + gap_detail * 0.4
            continue
        for bi, box in enumerate(stage):
            if bi and box.shape[1:] != stage[bi - 1].shape[1:]:  # a pool: after the side of the map it reads
                pos += stage[bi - 1].oy if vertical else stage[bi - 1].ox
            if vertical:
                box.w, box.h = box.h, box.w  # across: the map's side; along: its channels
                box.y, box.x = pos, -box.w / 2
                pos += box.h + (touch if bi < len(stage) - 1 else 0.0)
            else:
                box.x, box.y = pos, -box.h / 2
                pos += box.w + (touch if bi < len(stage) - 1 else 0.0)
        last = stage[-1]
        depth = last.oy if vertical else last.ox
        gap = gap_detail if detail else gap_stage if not last.fc else 12.0 * geo
        following = stages[si + 1][0] if si + 1 < len(stages) else None
        if not vertical and following is not None and following.fc:  # fc bars are thin: labels set the gap
            # (a stage's labels centre on the whole stage: only a lone box's reach past its end)
            mine = label_width(last) if len(stage) == 1 else 0.0
            gap = max(gap, (mine + label_width(following)) / 2 + 3 * unit - last.w - depth)
        pos += depth + gap

    items: list[Item] = []
    # Back to front: the oblique depth points up, so in a vertical drawing the lower boxes are behind.
    for box in reversed(row) if vertical else row:
        items += _faces(box, colour(box.kind), line_w, f"box:{box.kind}:{box.node}")

    # Skip arcs (Add): over the boxes (left of them when vertical), one level per overlapping span.
    def top_point(box: _Box) -> tuple[float, float]:
        if vertical:
            return box.x, box.y + box.h / 2
        return box.x + box.w / 2 + box.ox / 2, box.y - box.oy

    def along(box: _Box) -> float:
        return box.y + box.h / 2 if vertical else box.x + box.w / 2

    def top_of(box: _Box) -> float:
        return box.x if vertical else box.y - box.oy

    def local_top(a0: float, a1: float) -> float:
        spanned = [top_of(b) for b in row if a0 - 1 <= along(b) <= a1 + 1]
        return min(spanned) if spanned else 0.0

    arc_gap = 8.0 * geo
    placed: list[tuple[float, float, float]] = []  # (along from, along to, across level) of each arc
    skip_items: list[Item] = []
    side_items: list[Item] = []
    skip_ink = ink(SKIP_INK)
    for start, end, side in sorted(model.skips, key=lambda s: (along(s[0]), along(s[1]))):
        a0, a1 = along(start) + 1.5 * unit, along(end) - 1.5 * unit
        room = 0.0 if side is None else (side.w + side.ox if vertical else side.h + side.oy) / 2 + 2 * unit
        c = min([local_top(a0, a1)] + [lv for f, t, lv in placed if f < a1 and a0 < t]) - arc_gap - room
        placed.append((a0, a1, c))
        p0, p1 = top_point(start), top_point(end)
        across = ((p0[0], a0), (c, a0), (c, a1), (p1[0], a1))
        pts = across if vertical else ((a0, p0[1]), (a0, c), (a1, c), (a1, p1[1]))
        skip_items.append(Line(pts, skip_ink, 0.8 * style.line_width, arrow=True, dashed=side is not None,
                               tag="skip"))
        if side is not None:
            mid = (a0 + a1) / 2
            if vertical:
                side.x, side.y = c - side.w / 2 + side.ox / 2, mid - side.h / 2
            else:
                side.x, side.y = mid - side.w / 2 - side.ox / 2, c - side.h / 2 + side.oy / 2
            side_items += _faces(side, colour(side.kind), line_w, f"box:shortcut:{side.node}")

    # Concat joins: a curve from each input's box, its height growing with its span.
    join_items: list[Item] = []
    concat_ink = ink(CONCAT_INK)
    ends = {(id(chain[-1]), merge) for merge, chains in modules.items() for chain in chains}
    for src, dst in model.joins:
        if (id(src), dst.node) in ends:  # a branch into its Concat: straight across
            if vertical:
                p, q = (src.x + src.w / 2, src.y + src.h), (dst.x + dst.w / 2, dst.y)
            else:
                p, q = (src.x + src.w, src.y + src.h / 2), (dst.x, dst.y + dst.h / 2)
            join_items.append(Line((p, q), concat_ink, 0.5 * style.line_width, arrow=True, tag="join"))
            continue
        a0, a1 = along(src), along(dst)
        base = local_top(min(a0, a1), max(a0, a1)) - 2.0 * unit
        span = abs(a1 - a0)
        height = 4.0 * geo + 1.2 * math.sqrt(span * geo)
        p0, p1 = top_point(src), top_point(dst)
        curve: list[tuple[float, float]] = []
        for i in range(13):
            t = i / 12
            a = a0 + (a1 - a0) * t
            bump = 4 * t * (1 - t) * height
            edge = (p0[0] if vertical else p0[1]) * (1 - t) + (p1[0] if vertical else p1[1]) * t
            c = min(edge, base) - bump if 0 < i < 12 else edge
            curve.append((c, a) if vertical else (a, c))
        join_items.append(Line(tuple(curve), concat_ink, 0.25 * style.line_width, arrow=False, tag="join"))

    # Branches: a line from the map they all read to the first box of each.
    for chains in modules.values():
        for chain in chains:
            first = chain[0]
            srcs = [model.owner[n] for n in graph.inputs_of(first.node) if n in model.owner]
            if not srcs:
                continue
            src = srcs[0]
            if vertical:
                p, q = (src.x + src.w / 2, src.y + src.h), (first.x + first.w / 2, first.y)
            else:
                p, q = (src.x + src.w + src.ox, src.y + src.h / 2 - src.oy / 2), (first.x, first.y + first.h / 2)
            join_items.append(Line((p, q), ink(SKIP_INK), 0.5 * style.line_width, arrow=True, tag="branch"))

    # Kernels: a small box on the map a layer reads, with lines to the point it makes in its map.
    kernel_items: list[Item] = []
    if detail and "kernels" in options.labels:
        for prev, box in zip(row, row[1:]):
            if box.kind not in ("conv", "pool") or len(prev.shape) != 3 or vertical:
                continue
            if model.owner.get(next(iter(graph.inputs_of(box.node)), "")) is not prev:
                continue  # a branch: its map is not the box before it
            node = graph.nodes[box.node]
            k = int(node.params.get("kernel_size", 1) or 1)
            _, hh, ww = prev.shape
            kv = min(0.6, max(3.0 * geo / prev.h, k / hh))
            ku = min(0.6, max(3.0 * geo / max(prev.ox, 1e-6), k / ww))
            u0, v0 = 0.55 - ku / 2, 0.4 - kv / 2

            def on_side(b: _Box, u: float, v: float) -> tuple[float, float]:
                return b.x + b.w + u * b.ox, b.y + v * b.h - u * b.oy

            corners = (on_side(prev, u0, v0), on_side(prev, u0 + ku, v0), on_side(prev, u0 + ku, v0 + kv),
                       on_side(prev, u0, v0 + kv))
            kernel_items.append(Polygon(corners, ink("#ffffff"), ink(KERNEL_INK), line_w, 0.85, tag="kernel"))
            target = (box.x + 0.55 * box.ox, box.y + 0.4 * box.h - 0.55 * box.oy)
            for corner in (corners[0], corners[2]):
                kernel_items.append(Line((corner, target), ink(KERNEL_INK), 0.4 * style.line_width, tag="kernel"))

    items = join_items + items + kernel_items + skip_items + side_items

    # Labels: per box in detail, per stage otherwise; shapes above in detail (as LeNet's figure), the
    # rest below (to the right when vertical), each block moved away until it touches nothing.
    placer = _Placer(items, 1.5 * unit)
    texts: list[Text] = []
    lh = LINE_HEIGHT
    # Labels of projection shortcuts: their kernel, beside the little box.
    for _start, _end, side in model.skips:
        if side is None or "kernels" not in options.labels:
            continue
        text = kernel_text(graph, side).replace(" conv", "")
        if vertical:
            label = Text(side.x - 3 * unit, side.y + side.h / 2 + small * 0.35, text, small, "end", False, ink(INK),
                     tag="label")
            texts += placer.place([label], (0.0, small * LINE_HEIGHT * 0.5))
        else:
            label = Text(side.x + side.w / 2 + side.ox / 2, side.y - side.oy - 2 * unit, text, small, "middle", False,
                     ink(INK), tag="label")
            texts += placer.place([label], (0.0, -small * LINE_HEIGHT * 0.5))
    for stage in stages:
        last = stage[-1]
        if id(last) in in_module:  # a branch's box: only its kernel, beside it (its Concat has the rest)
            if "kernels" in options.labels and branch_text(last):
                if vertical:
                    label = Text(last.x + last.w + last.ox + 2 * unit, last.y + last.h / 2 + small * 0.35,
                                 branch_text(last), small, "start", False, ink(INK), tag="label")
                    texts += placer.place([label], (0.0, small * LINE_HEIGHT * 0.5))
                else:
                    label = Text(last.x, last.y + last.h + 2 * unit + small * 0.76,
                                 branch_text(last), small, "start", False, ink(INK), tag="label")
                    texts += placer.place([label], (unit, 0.0))
            continue
        ids = [b.node for b in stage]
        lines_above: list[tuple[str, float, bool]] = []
        lines_below: list[tuple[str, float, bool]] = []
        maps = [b for b in stage if b.kind != "pool"] or stage
        shape = shape_text(maps[-1].shape)
        if "shapes" in options.labels:
            (lines_above if detail and not vertical else lines_below).append((shape, font, False))
        if "names" in options.labels:
            lines_below.append((_group_name(ids), small, True))
        if "kernels" in options.labels:
            kinds = [kernel_text(graph, b) for b in stage if not b.fc and b.kind != "concat"]
            dense = sum(1 for b in stage if b.kind == "concat")
            kernel_lines = [f"{dense} dense layers"] if fold and dense else []
            for kt in dict.fromkeys(kt for kt in kinds if kt):
                count = kinds.count(kt)
                kernel_lines.append(f"{kt} ×{count}" if count > 1 else kt)
            if len(kernel_lines) > 3:
                kernel_lines = kernel_lines[:2] + ["…"]
            lines_below += [(k, small, False) for k in kernel_lines]
        if "params" in options.labels:
            n = sum(result[nid].params for b in stage for nid in b.nodes)
            if n:
                lines_below.append((f"{n:,} params", small, False))
        x1 = max(b.x + b.w + b.ox for b in stage)
        y0 = min(b.y - b.oy for b in stage)
        y1 = max(b.y + b.h for b in stage)
        if vertical:
            lx, ly = x1 + 4 * unit, (y0 + y1) / 2 - (len(lines_below) - 1) * small * lh / 2
            block = []
            for text, size, bold in lines_below:
                block.append(Text(lx, ly + size * 0.35, text, size, "start", bold, ink(INK), tag="label"))
                ly += size * lh
            texts += placer.place(block, (6.0 * unit, 0.0)) if block else []
            continue
        cx = (min(b.x for b in stage) + max(b.x + b.w for b in stage)) / 2
        if lines_above:
            block = []
            ly = y0 - 3 * unit - font * 0.24
            for text, size, bold in reversed(lines_above):
                block.insert(0, Text(cx + last.ox / 2, ly, text, size, "middle", bold, ink(INK), tag="label"))
                ly -= size * lh
            texts += placer.place(block, (0.0, -font * lh * 0.5))
        if lines_below:
            block = []
            ly = y1 + 3 * unit
            for text, size, bold in lines_below:
                ly += size * 0.76
                block.append(Text(cx, ly, text, size, "middle", bold, ink(INK), tag="label"))
                ly += size * (lh - 0.76)
            above = -(ly - y0 + 3 * unit)  # the block's top at y1 + 3, its bottom at ly: over the boxes instead
            texts += placer.place(block, (0.0, small * lh * 0.5), None if detail else (0.0, above))
    items += texts
    return _framed(items, 6.0 * unit, "")


def _framed(items: list[Item], margin: float, title: str) -> Scene:
    """Move everything so that the top-left of what is drawn is at (margin, margin)."""
    xs: list[float] = []
    ys: list[float] = []
    for item in items:
        if isinstance(item, Text):
            left, top, right, bottom = item.box()
            xs += [left, right]
            ys += [top, bottom]
        else:
            xs += [p[0] for p in item.points]
            ys += [p[1] for p in item.points]
    if not xs:
        return Scene(2 * margin, 2 * margin, [], title)
    dx, dy = margin - min(xs), margin - min(ys)
    moved: list[Item] = []
    for item in items:
        if isinstance(item, Text):
            moved.append(Text(item.x + dx, item.y + dy, item.text, item.size, item.anchor, item.bold, item.colour,
                              item.rotate, tag=item.tag))
        elif isinstance(item, Polygon):
            moved.append(Polygon(tuple((x + dx, y + dy) for x, y in item.points), item.fill, item.stroke,
                                 item.width, item.opacity, tag=item.tag))
        else:
            moved.append(Line(tuple((x + dx, y + dy) for x, y in item.points), item.stroke, item.width,
                              item.arrow, item.dashed, tag=item.tag))
    return Scene(max(xs) - min(xs) + 2 * margin, max(ys) - min(ys) + 2 * margin, moved, title)

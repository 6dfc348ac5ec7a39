"""The flow style of architecture diagram: one box per layer (or per block), in the network's order.

Boxes follow each other along the orientation (left to right, or top to bottom) and **wrap into rows**
(columns when vertical) as long as the figure style's page: the text keeps its printed size however long
the network is, so a VGG-16 or a ResNet-18 reads at the size of the paper's own text. Rows break where one
arrow alone crosses (between blocks) when such a place is near, so that a residual block stays on one row.
With ``options.blocks`` a residual or dense block (the layers after a fork up to its join) is one box:
DenseNet-121's ~430 layers become ~20 boxes.

Arrows: the arrow from a unit to the next carries the unit's output shape; when the next unit starts a new
row the arrow leaves the row's end, runs back in the gap above the next row and enters its first box from
the side. Every other edge (a skip connection into an Add, an input of a Concat, a side branch) is routed
in the *lane band* above its row: up from the source box's top, along a track of its own, and down into
the target's top; an edge that spans rows runs down a track in the right margin, past the rows' ends. Edges
from one source share a track (DenseNet's many inputs of each Concat read as one bus). Tracks are assigned
as intervals are coloured, so no two lines run along each other and no line crosses a box.

Vertical orientation is the same layout with the axes swapped (lanes to the left of each column, the margin
below); text stays horizontal.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ...core.graph import Graph
from ...core.inference import infer
from ...core.shapes import format_shape
from ..style import FigureStyle
from .scene import ASCENT, DESCENT, LINE_HEIGHT, DiagramOptions, Line, Polygon, Scene, Text, text_width
from .write import DiagramError

#: Fill colour of a layer's box by its kind's category (light, so that black text reads on it).
CATEGORY_FILL: dict[str, str] = {
    "Input": "#e0e0e0",
    "Convolution": "#a6cee3",
    "Pooling": "#fdbf6f",
    "Normalization": "#fff2a8",
    "Activation": "#b2df8a",
    "Regularization": "#cab2d6",
    "Dense": "#fb9a99",
    "Merge": "#f4cae4",
    "Block": "#c6dbef",
}
#: Grey scale fills, all light enough for black text and told apart from each other.
CATEGORY_GREY: dict[str, str] = {
    "Input": "#ffffff",
    "Convolution": "#c8c8c8",
    "Pooling": "#e6e6e6",
    "Normalization": "#f2f2f2",
    "Activation": "#dcdcdc",
    "Regularization": "#ebebeb",
    "Dense": "#b4b4b4",
    "Merge": "#d2d2d2",
    "Block": "#bebebe",
}
MERGE_KINDS = ("Add", "Concat", "Multiply")


@dataclass
class Unit:
    """One box: a layer, or a block of layers (``nodes`` in order)."""

    nodes: list[str]
    lines: list[tuple[str, bool]]  # (text, bold)
    category: str
    shape: str
    # layout, in (main, cross) coordinates: main along the flow, cross across it
    main: float = 0.0
    cross: float = 0.0
    row: int = 0
    u: float = 0.0  # start on the main axis
    center: float = 0.0  # centre on the cross axis


@dataclass
class FlowLayout:
    """A laid-out flow diagram: the scene, and what it shows (for tests and the window's preview)."""

    scene: Scene
    #: node id → the rectangle ``(left, top, right, bottom)`` of its box (a block's nodes share theirs).
    boxes: dict[str, tuple[float, float, float, float]] = field(default_factory=dict)
    #: ``(source, target, line)`` of every edge drawn as a skip (not from a box to the next one).
    skips: list[tuple[str, str, Line]] = field(default_factory=list)
    #: ``(source, target, line)`` of every arrow from a box to the next one.
    arrows: list[tuple[str, str, Line]] = field(default_factory=list)
    units: list[Unit] = field(default_factory=list)
    rows: int = 0


def flow_scene(graph: Graph, options: DiagramOptions, style: FigureStyle) -> Scene:
    """The flow diagram of ``graph`` (see the module's description)."""
    return flow_layout(graph, options, style).scene


def _kernel_text(node) -> str:
    p = node.params
    if "kernel_size" in p:
        text = f"{p['kernel_size']}×{p['kernel_size']}"
        stride = p.get("stride")
        if stride not in (None, 0, 1, "", "none", "None"):
            text += f" /{stride}"
        return text
    if "output_size" in p:
        return f"→ {p['output_size']}"
    if node.kind == "Linear":
        return f"{p['out_features']} out"
    return ""


def _param_text(n: int) -> str:
    if n >= 1_000_000:
        return f"{n / 1e6:.1f}M params"
    if n >= 10_000:
        return f"{n / 1e3:.0f}k params"
    return f"{n:,} params"


def _common_prefix(ids: Sequence[str]) -> str:
    first, last = ids[0], ids[-1]
    n = 0
    while n < min(len(first), len(last)) and first[n] == last[n]:
        n += 1
    prefix = first[:n].rstrip("_.-")
    if len(prefix) >= 3 and all(i.startswith(first[:n]) for i in ids):
        return prefix
    return f"{first} … {last}"


def _order(graph: Graph, result) -> list[str]:
    order = [n for n in result.order if n in graph]
    seen = set(order)
    return order + [n for n in graph.nodes if n not in seen]


def _segments(graph: Graph, order: list[str]) -> list[list[str]]:
    """``order`` split where one edge alone crosses (from a node to the next): the places between blocks."""
    pos = {n: i for i, n in enumerate(order)}
    crossing = [0] * (len(order) + 1)
    for e in graph.edges:
        a, b = pos[e.source], pos[e.target]
        if a < b:
            crossing[a] += 1
            crossing[b] -= 1
    segments: list[list[str]] = []
    current: list[str] = []
    live = 0
    for i, n in enumerate(order):
        current.append(n)
        live += crossing[i]
        nxt = order[i + 1] if i + 1 < len(order) else None
        if nxt is None or (live == 1 and any(e.target == nxt for e in graph.out_edges(n))) or live == 0:
            segments.append(current)
            current = []
    if current:
        segments.append(current)
    return segments


def _units(graph: Graph, options: DiagramOptions, result, order: list[str]) -> list[Unit]:
    labels = options.labels

    def shape_of(node_id: str) -> str:
        info = result.infos.get(node_id)
        return format_shape(info.shape) if info is not None and info.shape is not None else "?"

    def params_of(node_id: str) -> int:
        info = result.infos.get(node_id)
        return info.params if info is not None else 0

    def layer_unit(node_id: str) -> Unit:
        node = graph.node(node_id)
        lines = [(node.kind, True)]
        if "names" in labels:
            lines.append((node_id, False))
        if "kernels" in labels and (k := _kernel_text(node)):
            lines.append((k, False))
        if "params" in labels and params_of(node_id):
            lines.append((_param_text(params_of(node_id)), False))
        return Unit([node_id], lines, node.layer.category, shape_of(node_id))

    if not options.blocks:
        return [layer_unit(n) for n in order]
    units: list[Unit] = []

    def add_layer(node_id: str) -> None:
        """A box of its own, except an activation right after a block's join: a ResNet block's last ReLU
        (after its Add) is part of the block, as torchvision's BasicBlock has it."""
        before = units[-1] if units else None
        if (before is not None and before.category == "Block" and graph.node(node_id).layer.category == "Activation"
                and graph.inputs_of(node_id) == [before.nodes[-1]]):
            before.nodes.append(node_id)
            before.lines = _block_lines(graph, before.nodes, labels, params_of)
            before.shape = shape_of(node_id)
        else:
            units.append(layer_unit(node_id))

    for segment in _segments(graph, order):
        if len(segment) > 1 and len(graph.consumers_of(segment[0])) > 1:
            add_layer(segment[0])  # the fork is not in the block that follows it
            segment = segment[1:]
        if len(segment) == 1:
            add_layer(segment[0])
            continue
        units.append(Unit(segment, _block_lines(graph, segment, labels, params_of), "Block", shape_of(segment[-1])))
    return units


def _block_lines(graph: Graph, segment: list[str], labels: frozenset[str], params_of) -> list[tuple[str, bool]]:
    kinds = {graph.node(n).kind for n in segment}
    title = "Dense block" if "Concat" in kinds else "Residual block" if "Add" in kinds else "Block"
    lines = [(title, True)]
    if "names" in labels:
        lines.append((_common_prefix(segment), False))
    if "kernels" in labels:
        convs = sum(graph.node(n).kind == "Conv2d" for n in segment)
        lines.append((f"{len(segment)} layers, {convs} conv" if convs else f"{len(segment)} layers", False))
    if "params" in labels:
        lines.append((_param_text(sum(params_of(n) for n in segment)), False))
    return lines


def flow_layout(graph: Graph, options: DiagramOptions, style: FigureStyle) -> FlowLayout:
    """Lay ``graph`` out as a flow diagram; see :func:`flow_scene`."""
    if not len(graph):
        raise DiagramError("the network has no layers: there is nothing to draw")
    result = infer(graph)
    order = _order(graph, result)
    units = _units(graph, options, result, order)
    horizontal = options.orientation == "horizontal"
    fs, ss = style.font_size, style.tick_size  # box text, shape labels on arrows
    lw = style.line_width
    pad = 0.45 * fs  # inside a box, around its text
    track = max(0.7 * fs, 3.0 * lw)  # spacing of skip tracks
    arrow_pad = 0.5 * fs
    show_shapes = "shapes" in options.labels
    margin = 0.75 * fs
    fills = CATEGORY_GREY if options.grey else CATEGORY_FILL

    # --- sizes of boxes and gaps --------------------------------------------------------------
    for unit in units:
        w = max(text_width(t, fs, bold) for t, bold in unit.lines) + 2 * pad
        h = len(unit.lines) * LINE_HEIGHT * fs + 2 * pad - (LINE_HEIGHT - 1) * fs
        w, h = max(w, 2.5 * fs), max(h, 2.5 * fs)
        unit.main, unit.cross = (w, h) if horizontal else (h, w)

    def label_width(unit: Unit) -> float:
        return text_width(unit.shape, ss) if show_shapes else 0.0

    def gap_after(unit: Unit) -> float:
        """The main-axis room for the arrow after ``unit`` (and its shape label)."""
        if horizontal:
            return max(2.0 * fs, label_width(unit) + 2 * arrow_pad)
        return max(2.0 * fs, (LINE_HEIGHT * ss + 2 * arrow_pad) if show_shapes else 0.0)

    pos = {n: i for i, u in enumerate(units) for n in u.nodes}
    unit_edges: set[tuple[int, int]] = set()
    edge_nodes: dict[tuple[int, int], list[tuple[str, str]]] = {}
    for e in graph.edges:
        if e.source in pos and e.target in pos and pos[e.source] != pos[e.target]:
            a, b = pos[e.source], pos[e.target]
            if a > b:
                a, b = b, a
            unit_edges.add((a, b))
            edge_nodes.setdefault((a, b), []).append((e.source, e.target))
    consecutive = {a for a, b in unit_edges if b == a + 1}
    # a place between unit i and i+1 where only their arrow crosses: a good place to start a new row
    crossing = [0] * (len(units) + 1)
    for a, b in unit_edges:
        crossing[a] += 1
        crossing[b] -= 1
    cut_after: set[int] = set()
    live = 0
    for i in range(len(units)):
        live += crossing[i]
        if live <= 1:
            cut_after.add(i)

    # --- rows ----------------------------------------------------------------------------------
    page = style.width_in * 72 if horizontal else (style.height_in or 9.0) * 72
    limit = max(page - 2 * margin - 1.5 * fs, 1.0)
    def block_length(i: int) -> float:
        """The main-axis length of the units from ``i`` up to the next place between blocks."""
        total = 0.0
        for j in range(i, len(units)):
            total += units[j].main + gap_after(units[j])
            if j in cut_after:
                break
        return total

    def pack(limit: float) -> list[list[int]]:
        rows: list[list[int]] = [[]]
        length = 0.0
        for i, unit in enumerate(units):
            need = unit.main + gap_after(unit)
            row = rows[-1]
            if row and length + need > limit:
                # start the new row at the last place between blocks, if that is in the row's second half
                back = len(row)
                if row[-1] not in cut_after:
                    cuts = [k + 1 for k, j in enumerate(row[:-1]) if j in cut_after and k + 1 >= len(row) / 2]
                    # only when the block then fits on the new row: a block longer than a row breaks anyway,
                    # and moving its start down would leave rows of one or two boxes (ResNet-18 in a column)
                    if cuts and block_length(row[cuts[-1]]) <= limit:
                        back = cuts[-1]
                moved = row[back:]
                del row[back:]
                rows.append(moved)
                length = sum(units[j].main + gap_after(units[j]) for j in moved)
            rows[-1].append(i)
            length += need
        return [r for r in rows if r]

    rows = pack(limit)
    # even the rows out (no last row of one box under full ones): the shortest limit that packs into as
    # many rows
    lo, hi = sum(u.main + gap_after(u) for u in units) / len(rows), limit
    for _ in range(16):
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if len(pack(mid)) <= len(rows) else (mid, hi)
    if len(even := pack(hi)) == len(rows):
        rows = even
    for r, row in enumerate(rows):
        for j in row:
            units[j].row = r

    # --- skip edges: which band (the lane space above a row) and which track -------------------
    skip_edges = sorted(e for e in unit_edges if e[1] != e[0] + 1)
    ustart: list[float] = [0.0] * len(units)
    entry = 1.5 * fs if len(rows) > 1 else 0.0  # room for the arrow that enters a row from the side
    for row in rows:
        u = margin + entry
        for j in row:
            ustart[j] = u
            u += units[j].main + gap_after(units[j])
    row_end = [max(ustart[j] + units[j].main + gap_after(units[j]) for j in row) for row in rows]
    margin_u = max(row_end) + margin

    def out_u(j: int) -> float:
        return ustart[j] + units[j].main * 0.65

    def in_u(j: int) -> float:
        return ustart[j] + units[j].main * 0.35

    # per band: source unit → [lo, hi] on the main axis
    band_spans: list[dict[int, list[float]]] = [{} for _ in rows]

    def span(r: int, src: int, lo: float, hi: float) -> None:
        s = band_spans[r].setdefault(src, [lo, hi])
        s[0], s[1] = min(s[0], lo), max(s[1], hi)

    for a, b in skip_edges:
        ra, rb = units[a].row, units[b].row
        if ra == rb:
            span(ra, a, out_u(a), in_u(b))
        else:
            span(ra, a, out_u(a), margin_u)
            span(rb, a, in_u(b), margin_u)
    band_track: list[dict[int, int]] = []
    for spans in band_spans:
        ends: list[float] = []
        assigned: dict[int, int] = {}
        for src, (lo, hi) in sorted(spans.items(), key=lambda kv: (kv[1][0], kv[1][1])):
            k = next((k for k, end in enumerate(ends) if end < lo - track), len(ends))
            if k == len(ends):
                ends.append(hi)
            else:
                ends[k] = hi
            assigned[src] = k
        band_track.append(assigned)

    # --- cross-axis positions: each row is its band, then its boxes ------------------------------
    row_center: list[float] = []
    row_top: list[float] = []
    band_base: list[float] = []  # the cross coordinate of track 0 (tracks go away from the row)
    v = margin
    for r, row in enumerate(rows):
        tracks = max(band_track[r].values(), default=-1) + 1
        wraps = r > 0 and (rows[r - 1][-1] in consecutive)
        band = tracks * track + (track if tracks else 0) + (2 * track if wraps else 0)
        v += band
        half_lo = max(units[j].cross / 2 for j in row)
        half_hi = half_lo
        if show_shapes and not horizontal:
            half_hi = max(half_hi, max(arrow_pad + label_width(units[j]) for j in row))
        if horizontal and show_shapes:
            half_lo = max(half_lo, 2 + (ASCENT + DESCENT) * ss)
        band_base.append(v - track)
        row_top.append(v)
        center = v + half_lo
        row_center.append(center)
        for j in row:
            units[j].center = center
        v = center + half_hi + margin
    # margin tracks for edges that span rows: one per source
    margin_spans: dict[int, list[float]] = {}
    for a, b in skip_edges:
        ra, rb = units[a].row, units[b].row
        if ra != rb:
            lo = band_base[ra] - band_track[ra][a] * track
            hi = band_base[rb] - band_track[rb][a] * track
            s = margin_spans.setdefault(a, [lo, hi])
            s[0], s[1] = min(s[0], lo, hi), max(s[1], lo, hi)
    margin_track: dict[int, int] = {}
    ends = []
    for src, (lo, hi) in sorted(margin_spans.items(), key=lambda kv: kv[1][0]):
        k = next((k for k, end in enumerate(ends) if end < lo - track), len(ends))
        if k == len(ends):
            ends.append(hi)
        else:
            ends[k] = hi
        margin_track[src] = k
    main_extent = margin_u + len(ends) * track + margin
    cross_extent = v

    # --- drawing ---------------------------------------------------------------------------------
    def pt(u: float, c: float) -> tuple[float, float]:
        return (u, c) if horizontal else (c, u)

    width, height = (main_extent, cross_extent) if horizontal else (cross_extent, main_extent)
    scene = Scene(width, height, title=graph_title(graph), font=f"{style.font_family}, Helvetica, Arial, sans-serif")
    layout = FlowLayout(scene, units=units, rows=len(rows))
    items = scene.items
    ink = style.ink

    def box_of(j: int) -> tuple[float, float, float, float]:
        u0, c0 = ustart[j], units[j].center - units[j].cross / 2
        x0, y0 = pt(u0, c0)
        w, h = (units[j].main, units[j].cross) if horizontal else (units[j].cross, units[j].main)
        return x0, y0, x0 + w, y0 + h

    def shape_label(j: int, u_from: float, u_to: float, c: float) -> None:
        if not show_shapes:
            return
        mid = (u_from + u_to) / 2
        if horizontal:
            items.append(Text(mid, c - 2 - DESCENT * ss, units[j].shape, ss, "middle", colour=ink))
        else:
            items.append(Text(c + arrow_pad, mid + (ASCENT - DESCENT) * ss / 2, units[j].shape, ss, "start",
                              colour=ink))

    # skip lines first (behind boxes and arrows)
    for a, b in skip_edges:
        ra, rb = units[a].row, units[b].row
        top_a = units[a].center - units[a].cross / 2
        top_b = units[b].center - units[b].cross / 2
        la = band_base[ra] - band_track[ra][a] * track
        if ra == rb:
            path = [(out_u(a), top_a), (out_u(a), la), (in_u(b), la), (in_u(b), top_b)]
        else:
            lb = band_base[rb] - band_track[rb][a] * track
            mu = margin_u + margin_track[a] * track
            path = [(out_u(a), top_a), (out_u(a), la), (mu, la), (mu, lb), (in_u(b), lb), (in_u(b), top_b)]
        line = Line(tuple(pt(u, c) for u, c in path), ink, lw * 0.8, arrow=True)
        items.append(line)
        for source, target in edge_nodes[(a, b)]:
            layout.skips.append((source, target, line))

    # boxes
    for j, unit in enumerate(units):
        x0, y0, x1, y1 = box_of(j)
        items.append(Polygon(((x0, y0), (x1, y0), (x1, y1), (x0, y1)), fills.get(unit.category, "#ffffff"), ink,
                             lw * 0.7))
        for n in unit.nodes:
            layout.boxes[n] = (x0, y0, x1, y1)
        cx = (x0 + x1) / 2
        block_h = len(unit.lines) * LINE_HEIGHT * fs - (LINE_HEIGHT - 1) * fs
        top = (y0 + y1) / 2 - block_h / 2
        for k, (text, bold) in enumerate(unit.lines):
            base = top + k * LINE_HEIGHT * fs + ASCENT * fs
            items.append(Text(cx, base, text, fs, "middle", bold=bold, colour=ink))

    # arrows from each unit to the next, and out of the last
    for j, unit in enumerate(units):
        u_end = ustart[j] + unit.main
        c = unit.center
        g = gap_after(unit)
        if j == len(units) - 1:
            line = Line((pt(u_end, c), pt(u_end + g - arrow_pad * 0.3, c)), ink, lw, arrow=True)
            items.append(line)
            shape_label(j, u_end, u_end + g, c)
            continue
        if j not in consecutive:
            continue
        nxt = units[j + 1]
        if nxt.row == unit.row:
            path = [(u_end, c), (ustart[j + 1], c)]
        else:
            r = nxt.row
            wrap_c = row_top[r] - (max(band_track[r].values(), default=-1) + 2) * track
            back_u = margin * 0.7
            path = [(u_end, c), (u_end + g, c), (u_end + g, wrap_c), (back_u, wrap_c),
                    (back_u, nxt.center), (ustart[j + 1], nxt.center)]
        line = Line(tuple(pt(u, cc) for u, cc in path), ink, lw, arrow=True)
        items.append(line)
        shape_label(j, u_end, u_end + g, c)
        for source, target in edge_nodes[(j, j + 1)]:
            layout.arrows.append((source, target, line))
    return layout


def graph_title(graph: Graph) -> str:
    return f"Network of {len(graph)} layers"

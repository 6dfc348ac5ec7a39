"""Automatic layout of a network drawing: layers flow top to bottom, wrapped into columns.

First a layered (Sugiyama-style) layout: each node's level is its depth (the
longest path from a source), side branches move down to just above the layer
they feed, and nodes within a level are ordered by the mean lane of the nodes
feeding them, so a residual branch sits beside the main path.

A deep network as one column is far taller than a screen, so the levels are
then wrapped into columns placed side by side (and the columns into bands, one
below the other), like text in a newspaper. A column ends where a single wire
crosses to the next level (between residual blocks, or anywhere in a plain
chain), so a block with its shortcut stays whole in one column, as in the
figures of He et al. (2016). The column height is chosen so that the whole
drawing fits a canvas of :data:`VIEW_SIZE` at the largest zoom.

Pure arithmetic on the graph, in canvas units.
"""

from __future__ import annotations

from dataclasses import dataclass

from .graph import Graph

#: The size of a node on the canvas (the canvas draws nodes this size).
NODE_WIDTH = 128.0
NODE_HEIGHT = 50.0
#: Distance between levels and between lanes inside a column (the gaps hold the wires and a
#: shortcut's arc on the right of the main path).
ROW_HEIGHT = NODE_HEIGHT + 22.0
COLUMN_WIDTH = NODE_WIDTH + 20.0
#: Space between wrapped columns (a wire climbs to the next column's top in it) and between bands.
COLUMN_GAP = 28.0
BAND_GAP = 40.0
#: The canvas the layout is fitted to: about the canvas of the Build mode at 1280×800 (the window
#: less the layer palette, the Properties dock, the tool bar and the status bar), in pixels.
VIEW_SIZE = (690.0, 640.0)
#: The zoom a layout should reach on :data:`VIEW_SIZE` if any can (node text stays readable): it comes
#: first, then keeping blocks whole (fewest columns that end where more than one wire crosses),
#: then more zoom up to :data:`READABLE_ZOOM`, then the fewest columns and bands.
MIN_ZOOM = 0.6
#: Zoom at which node text reads well: a network that fits at this zoom in fewer columns is not wrapped further.
READABLE_ZOOM = 0.8
#: Margin :func:`fit_zoom` keeps around the drawing, in canvas units.
FIT_MARGIN = 16.0


@dataclass(frozen=True)
class _Levels:
    """The layered layout before wrapping: ``level[nid]``, ``lane[nid]`` and the levels' members."""

    level: dict[str, int]
    lane: dict[str, int]
    rows: list[list[str]]
    #: The smallest and largest lane of each level (a column's width is read from these).
    row_lanes: list[tuple[int, int]]


def _levels(graph: Graph) -> _Levels:
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
    for nid in sorted(cyclic):  # cannot be ordered: park them below everything, one per level
        depth[nid] = max(depth.values(), default=-1) + 1
    by_level: dict[int, list[str]] = {}
    for nid in [*order, *sorted(cyclic)]:
        by_level.setdefault(depth[nid], []).append(nid)
    lane: dict[str, int] = {}
    rows = []
    for d in sorted(by_level):
        members = by_level[d]

        def barycenter(nid: str) -> float:
            lanes = [lane[s] for s in graph.inputs_of(nid) if s in lane]
            return sum(lanes) / len(lanes) if lanes else 0.0

        # Stable: ties keep insertion order, so the main path stays on the left.
        members.sort(key=barycenter)
        centre = sum(barycenter(n) for n in members) / len(members)
        first = round(centre - (len(members) - 1) / 2)
        for i, nid in enumerate(members):
            lane[nid] = first + i
        rows.append(members)
    # Levels renumbered 0, 1, 2... (no gaps).
    level = {nid: i for i, members in enumerate(rows) for nid in members}
    row_lanes = [(min(lane[n] for n in row), max(lane[n] for n in row)) for row in rows]
    return _Levels(level, lane, rows, row_lanes)


def _cut_costs(graph: Graph, levels: _Levels) -> list[int]:
    """``cost[i]``: how many wires cross from level ``i`` (or above) to below it (a column may end there)."""
    n = len(levels.rows)
    diff = [0] * (n + 1)
    for e in graph.edges:
        a, b = levels.level[e.source], levels.level[e.target]
        lo, hi = min(a, b), max(a, b)
        diff[lo] += 1
        diff[hi] -= 1
    costs, running = [], 0
    for i in range(n):
        running += diff[i]
        costs.append(running)
    return costs


def _columns(costs: list[int], height: int) -> list[tuple[int, int]]:
    """Levels wrapped into columns of at most ``height`` levels: ``[(first, last), ...]``.

    Each column ends at the cheapest cut in reach (fewest wires across; the latest of equals),
    so residual blocks are not split when a single-wire cut is in reach.
    """
    n = len(costs)
    spans, first = [], 0
    while first < n:
        last = first + height - 1
        if last >= n - 1:
            spans.append((first, n - 1))
            break
        cheapest = min(costs[first:last + 1])
        end = max(i for i in range(first, last + 1) if costs[i] == cheapest)
        spans.append((first, end))
        first = end + 1
    return spans


@dataclass(frozen=True)
class _Arrangement:
    spans: list[tuple[int, int]]
    bands: list[list[int]]  # column indices per band
    size: tuple[float, float]


def fit_zoom(size: tuple[float, float], view: tuple[float, float]) -> float:
    """The zoom at which a drawing of ``size`` (canvas units) fits ``view`` (pixels) with :data:`FIT_MARGIN`."""
    width, height = size
    return min(view[0] / (width + 2 * FIT_MARGIN), view[1] / (height + 2 * FIT_MARGIN))


def _arrange(levels: _Levels, spans: list[tuple[int, int]], per_band: int,
             widths: list[tuple[int, int]] | None = None) -> _Arrangement:
    if widths is None:
        widths = [_lane_range(levels, span) for span in spans]
    bands = [list(range(i, min(i + per_band, len(spans)))) for i in range(0, len(spans), per_band)]
    band_widths = [sum((hi - lo + 1) * COLUMN_WIDTH - (COLUMN_WIDTH - NODE_WIDTH) for lo, hi in
                       (widths[c] for c in band)) + COLUMN_GAP * (len(band) - 1) for band in bands]
    band_heights = [max(spans[c][1] - spans[c][0] for c in band) * ROW_HEIGHT + NODE_HEIGHT for band in bands]
    size = (max(band_widths), sum(band_heights) + BAND_GAP * (len(bands) - 1))
    return _Arrangement(spans, bands, size)


def _lane_range(levels: _Levels, span: tuple[int, int]) -> tuple[int, int]:
    rows = levels.row_lanes[span[0]:span[1] + 1]
    return min(lo for lo, _ in rows), max(hi for _, hi in rows)


def _best_arrangement(graph: Graph, levels: _Levels, view: tuple[float, float]) -> _Arrangement:
    """The wrapping that shows the whole network at the largest zoom (see :data:`MIN_ZOOM` for the
    order of the goals)."""
    costs = _cut_costs(graph, levels)
    n = len(levels.rows)
    best: _Arrangement | None = None
    best_key: tuple[float, int, float, int, int] | None = None
    seen: set[tuple[tuple[int, int], ...]] = set()
    for height in range(n, 0, -1):
        spans = _columns(costs, height)
        if tuple(spans) in seen:
            continue
        seen.add(tuple(spans))
        split_blocks = sum(costs[last] > 1 for _, last in spans[:-1])
        widths = [_lane_range(levels, span) for span in spans]
        for per_band in range(len(spans), 0, -1):
            arrangement = _arrange(levels, spans, per_band, widths)
            # Above the readable zoom more does not help: then fewer columns and bands win.
            zoom = fit_zoom(arrangement.size, view)
            # Last, the shortest columns: the same columns balanced (no column of one layer at the end).
            key = (min(zoom, MIN_ZOOM), -split_blocks, min(zoom, READABLE_ZOOM), -len(spans) - len(arrangement.bands),
                   -height)
            if best_key is None or key > best_key:
                best, best_key = arrangement, key
    assert best is not None
    return best


def layered_layout(graph: Graph, origin: tuple[float, float] = (0.0, 0.0),
                   view: tuple[float, float] = VIEW_SIZE) -> dict[str, tuple[float, float]]:
    """Positions ``{node id: (x, y)}`` of the top-left corners of every node, wrapped to fit
    a canvas of ``view`` pixels (width, height) at the largest zoom.

    Every node's box (:data:`NODE_WIDTH` × :data:`NODE_HEIGHT`) is apart from every other's;
    within a column wires point down, from one column to the next they climb in the gap between.
    """
    if not graph.nodes:
        return {}
    levels = _levels(graph)
    arrangement = _best_arrangement(graph, levels, view)
    x0, y0 = origin
    positions: dict[str, tuple[float, float]] = {}
    top = y0
    for band in arrangement.bands:
        left, band_height = x0, 0.0
        for c in band:
            first, last = arrangement.spans[c]
            lo, hi = _lane_range(levels, (first, last))
            for level in range(first, last + 1):
                for nid in levels.rows[level]:
                    positions[nid] = (left + (levels.lane[nid] - lo) * COLUMN_WIDTH,
                                      top + (level - first) * ROW_HEIGHT)
            left += (hi - lo) * COLUMN_WIDTH + NODE_WIDTH + COLUMN_GAP
            band_height = max(band_height, (last - first) * ROW_HEIGHT + NODE_HEIGHT)
        top += band_height + BAND_GAP
    return positions


def layout_size(positions: dict[str, tuple[float, float]]) -> tuple[float, float]:
    """Width and height of the boxes of nodes at ``positions`` (top-left corners), in canvas units."""
    xs = [x for x, _ in positions.values()]
    ys = [y for _, y in positions.values()]
    return max(xs) - min(xs) + NODE_WIDTH, max(ys) - min(ys) + NODE_HEIGHT

"""Geometric checks of a diagram scene, shared by the flow (and block) diagram tests."""

from __future__ import annotations

from cnnplayground.core.graph import Graph
from cnnplayground.export.diagram.scene import Line, Polygon, Scene, Text

EPS = 0.01


def rect_of(polygon: Polygon) -> tuple[float, float, float, float]:
    xs = [p[0] for p in polygon.points]
    ys = [p[1] for p in polygon.points]
    return min(xs), min(ys), max(xs), max(ys)


def overlap(a, b, slack: float = EPS) -> bool:
    """Whether rectangles ``(l, t, r, b)`` share more than ``slack`` in both directions."""
    return min(a[2], b[2]) - max(a[0], b[0]) > slack and min(a[3], b[3]) - max(a[1], b[1]) > slack


def inside(inner, outer, slack: float = EPS) -> bool:
    return (inner[0] >= outer[0] - slack and inner[1] >= outer[1] - slack and inner[2] <= outer[2] + slack
            and inner[3] <= outer[3] + slack)


def segment_hits(p, q, rect, shrink: float = 0.3) -> bool:
    """Whether the segment ``p``–``q`` passes through ``rect``'s inside (shrunk by ``shrink``)."""
    left, t, r, b = rect[0] + shrink, rect[1] + shrink, rect[2] - shrink, rect[3] - shrink
    if left >= r or t >= b:
        return False
    # Liang–Barsky clipping
    x0, y0 = p
    dx, dy = q[0] - x0, q[1] - y0
    lo, hi = 0.0, 1.0
    for pk, qk in ((-dx, x0 - left), (dx, r - x0), (-dy, y0 - t), (dy, b - y0)):
        if pk == 0:
            if qk < 0:
                return False
        else:
            u = qk / pk
            if pk < 0:
                lo = max(lo, u)
            else:
                hi = min(hi, u)
    return lo < hi


def problems(scene: Scene) -> list[str]:
    """Everything wrong with ``scene``'s geometry: text off the canvas, text over text, text cut by a box's
    border, a line through a box or through text."""
    found: list[str] = []
    canvas = (0.0, 0.0, scene.width, scene.height)
    texts = [i for i in scene.items if isinstance(i, Text)]
    boxes = [rect_of(i) for i in scene.items if isinstance(i, Polygon)]
    lines = [i for i in scene.items if isinstance(i, Line)]
    for t in texts:
        box = t.box()
        if not inside(box, canvas):
            found.append(f"text {t.text!r} at {box} is outside the canvas {canvas}")
        for r in boxes:
            if overlap(box, r) and not inside(box, r):
                found.append(f"text {t.text!r} at {box} is cut by the border of the box {r}")
        for line in lines:
            for p, q in zip(line.points, line.points[1:], strict=False):
                if segment_hits(p, q, box, shrink=0.0):
                    found.append(f"a line {p}–{q} crosses the text {t.text!r} at {box}")
    ordered = sorted(texts, key=lambda t: t.box()[0])
    for i, a in enumerate(ordered):
        ba = a.box()
        for b in ordered[i + 1:]:
            bb = b.box()
            if bb[0] >= ba[2]:
                break
            if overlap(ba, bb):
                found.append(f"texts {a.text!r} {ba} and {b.text!r} {bb} overlap")
    for line in lines:
        for p, q in zip(line.points, line.points[1:], strict=False):
            for r in boxes:
                if segment_hits(p, q, r):
                    found.append(f"a line {p}–{q} passes through the box {r}")
            for x, y in (p, q):
                if not (-EPS <= x <= scene.width + EPS and -EPS <= y <= scene.height + EPS):
                    found.append(f"a line's point {(x, y)} is outside the canvas")
    for r in boxes:
        if not inside(r, canvas):
            found.append(f"a box {r} is outside the canvas")
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            if overlap(a, b):
                found.append(f"boxes {a} and {b} overlap")
    return found


def dense_net(layers: int = 4, growth: int = 4) -> Graph:
    """A small DenseNet: each layer's Concat takes the block's input and every earlier layer's output."""
    g = Graph()
    g.add_node("Input", {"channels": 3, "height": 16, "width": 16}, id="input")
    g.add_node("Conv2d", {"out_channels": 8, "kernel_size": 3, "padding": 1}, id="stem")
    g.connect("input", "stem")
    features = ["stem"]
    for i in range(1, layers + 1):
        source = features[0]
        if len(features) > 1:
            source = f"cat{i}"
            g.add_node("Concat", {}, id=source)
            for k, f in enumerate(features):
                g.connect(f, source, k)
        g.add_node("BatchNorm2d", {}, id=f"bn{i}")
        g.add_node("ReLU", {}, id=f"relu{i}")
        g.add_node("Conv2d", {"out_channels": growth, "kernel_size": 3, "padding": 1}, id=f"conv{i}")
        g.chain(source, f"bn{i}", f"relu{i}", f"conv{i}")
        features.append(f"conv{i}")
    g.add_node("Concat", {}, id="cat_out")
    for k, f in enumerate(features):
        g.connect(f, "cat_out", k)
    g.add_node("AdaptiveAvgPool2d", {"output_size": 1}, id="pool")
    g.add_node("Flatten", {}, id="flatten")
    g.add_node("Linear", {"out_features": 10}, id="fc")
    g.chain("cat_out", "pool", "flatten", "fc")
    return g

"""A :class:`~.scene.Scene` as plain SVG 1.1 (polygons, polylines and text as text), for browsers, Inkscape,
cairosvg and rsvg alike: no CSS, no markers, no fonts embedded (the scene names the family)."""

from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr

from .scene import Line, Point, Polygon, Scene, Text


def _n(value: float) -> str:
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _points(points: tuple[Point, ...] | list[Point]) -> str:
    return " ".join(f"{_n(x)},{_n(y)}" for x, y in points)


def arrow_head(line: Line) -> tuple[tuple[Point, ...], Point]:
    """The triangle of ``line``'s arrow head at its last point, and where the line's stroke should stop."""
    (x0, y0), (x1, y1) = line.points[-2], line.points[-1]
    dx, dy = x1 - x0, y1 - y0
    length = (dx * dx + dy * dy) ** 0.5 or 1.0
    ux, uy = dx / length, dy / length
    size = min(2.5 + 2.5 * line.width, max(length * 0.9, 1.0))
    half = size * 0.45
    bx, by = x1 - ux * size, y1 - uy * size
    return ((x1, y1), (bx - uy * half, by + ux * half), (bx + uy * half, by - ux * half)), (bx + ux * 0.3,
                                                                                            by + uy * 0.3)


def scene_svg(scene: Scene) -> str:
    """The SVG document of ``scene``: ``width``/``height`` in points, the scene's units as user units."""
    w, h = scene.width, scene.height
    out = ['<?xml version="1.0" encoding="UTF-8"?>',
           f'<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="{_n(w)}pt" height="{_n(h)}pt" '
           f'viewBox="0 0 {_n(w)} {_n(h)}">']
    if scene.title:
        out.append(f"<title>{escape(scene.title)}</title>")
    out.append(f'<rect x="0" y="0" width="{_n(w)}" height="{_n(h)}" fill="#ffffff"/>')
    font = quoteattr(scene.font)
    for item in scene.items:
        if isinstance(item, Polygon):
            attrs = [f'points="{_points(item.points)}"', f'fill="{item.fill or "none"}"']
            if item.stroke:
                attrs += [f'stroke="{item.stroke}"', f'stroke-width="{_n(item.width)}"', 'stroke-linejoin="round"']
            if item.opacity < 1:
                attrs.append(f'opacity="{_n(item.opacity)}"')
            out.append(f"<polygon {' '.join(attrs)}/>")
        elif isinstance(item, Line):
            points = list(item.points)
            head = None
            if item.arrow and len(points) >= 2:
                head, stop = arrow_head(item)
                points[-1] = stop
            dash = f' stroke-dasharray="{_n(3 * item.width)},{_n(2 * item.width)}"' if item.dashed else ""
            out.append(f'<polyline points="{_points(points)}" fill="none" stroke="{item.stroke}" '
                       f'stroke-width="{_n(item.width)}" stroke-linejoin="round"{dash}/>')
            if head:
                out.append(f'<polygon points="{_points(head)}" fill="{item.stroke}" stroke="none"/>')
        elif isinstance(item, Text):
            anchor = "" if item.anchor == "start" else f' text-anchor="{item.anchor}"'
            bold = ' font-weight="bold"' if item.bold else ""
            rotate = f' transform="rotate({_n(-item.rotate)} {_n(item.x)} {_n(item.y)})"' if item.rotate else ""
            out.append(f'<text x="{_n(item.x)}" y="{_n(item.y)}" font-family={font} font-size="{_n(item.size)}"'
                       f'{anchor}{bold} fill="{item.colour}"{rotate}>{escape(item.text)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"

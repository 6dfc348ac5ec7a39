"""SVG written by Qt, made plain for other viewers: hairlines in page coordinates.

Qt's SVG generator writes a cosmetic pen (a plot's curve, an axis line) as geometry in data
units inside a group scaled to the page, marked ``vector-effect: non-scaling-stroke``. Qt
honours that; cairo, librsvg, browsers' print paths and most editors do not, and draw the
stroke scaled with the group (a 2-pixel line under a 1271× scale is a blob).
:func:`plain_strokes` applies such a group's transform to the coordinates themselves.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

_SVG_NS = "http://www.w3.org/2000/svg"
_MATRIX = re.compile(r"^\s*matrix\(([^)]*)\)\s*$")
_PATH_TOKEN = re.compile(r"[A-Za-z]|[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def plain_strokes(svg: bytes) -> bytes:
    """``svg`` with every hairline in plain page coordinates.

    Qt writes a cosmetic pen (a plot's curve, an axis) as ``vector-effect: non-scaling-stroke`` geometry
    inside a group scaled from data to page units (1271× for an accuracy axis). Viewers other than Qt
    ignore the vector effect and draw the stroke 1271× wide: blobs. Here such geometry gets its group's
    transform applied to its coordinates, so its stroke width is in page units as written."""
    ET.register_namespace("", _SVG_NS)
    ET.register_namespace("xlink", "http://www.w3.org/1999/xlink")
    root = ET.fromstring(svg)
    for group in root.iter(f"{{{_SVG_NS}}}g"):
        matrix = _matrix(group.get("transform"))
        if matrix is None or not any(child.get("vector-effect") == "non-scaling-stroke" for child in group):
            continue
        for child in group:
            if child.get("vector-effect") == "non-scaling-stroke" and child.get("transform") is None \
                    and _transform_geometry(child, matrix):
                del child.attrib["vector-effect"]
            else:
                own = child.get("transform")
                child.set("transform", group.get("transform") + (f" {own}" if own else ""))
        del group.attrib["transform"]
    return b'<?xml version="1.0" encoding="UTF-8" standalone="no"?>\n' + ET.tostring(root, encoding="utf-8",
                                                                                    xml_declaration=False)


def _matrix(text: str | None) -> tuple[float, ...] | None:
    """The six numbers of an SVG ``matrix(a,b,c,d,e,f)`` transform (None for none or another form)."""
    found = _MATRIX.match(text or "")
    if not found:
        return None
    numbers = tuple(float(n) for n in re.split(r"[\s,]+", found.group(1).strip()))
    return numbers if len(numbers) == 6 else None


def _num(v: float) -> str:
    return f"{v:.3f}".rstrip("0").rstrip(".") or "0"


def _transform_geometry(element: ET.Element, m: tuple[float, ...]) -> bool:
    """Apply ``m`` to ``element``'s coordinates in place; False (untouched) for a shape it cannot map."""
    a, b, c, d, e, f = m

    def point(x: float, y: float) -> str:
        return f"{_num(a * x + c * y + e)},{_num(b * x + d * y + f)}"

    tag = element.tag.rsplit("}", 1)[-1]
    if tag in ("polyline", "polygon"):
        values = [float(v) for v in re.split(r"[\s,]+", element.get("points", "").strip()) if v]
        if len(values) % 2:
            return False
        element.set("points", " ".join(point(x, y) for x, y in zip(values[::2], values[1::2])))
        return True
    if tag == "line":
        x1, y1, x2, y2 = (float(element.get(k, "0")) for k in ("x1", "y1", "x2", "y2"))
        for (kx, ky), (x, y) in zip((("x1", "y1"), ("x2", "y2")), ((x1, y1), (x2, y2))):
            px, py = point(x, y).split(",")
            element.set(kx, px)
            element.set(ky, py)
        return True
    if tag == "rect" and b == c == 0 and "rx" not in element.attrib:
        x, y, w, h = (float(element.get(k, "0")) for k in ("x", "y", "width", "height"))
        x0, x1 = sorted((a * x + e, a * (x + w) + e))
        y0, y1 = sorted((d * y + f, d * (y + h) + f))
        for key, value in (("x", x0), ("y", y0), ("width", x1 - x0), ("height", y1 - y0)):
            element.set(key, _num(value))
        return True
    if tag == "path":
        tokens = _PATH_TOKEN.findall(element.get("d", ""))
        out: list[str] = []
        pending: list[float] = []
        for token in tokens:
            if token.isalpha():
                if pending or token not in "MLCQSTZ":  # relative, H, V or arcs: not written by Qt
                    return False
                out.append(token)
            else:
                pending.append(float(token))
                if len(pending) == 2:
                    out.append(point(*pending))
                    pending = []
        if pending:
            return False
        element.set("d", " ".join(out))
        return True
    return False

"""A diagram as plain geometry: what every writer (SVG, TikZ, PDF, PNG) draws, the same way.

A layout (``flow.py``: one box per layer or block, ``block.py``: the LeNet/AlexNet style of feature-map
boxes) turns a network into a :class:`Scene`; a writer turns the scene into a file. Coordinates are in
points (1/72 in), x to the right, y **down**, origin at the top left of the page; every item lies inside
``(0, 0, width, height)``. Colours are ``#rrggbb`` strings (``None``: not filled / not stroked).

Text is laid out with :func:`text_width`, the advance widths of DejaVu Sans (the font every figure of the
app names first, installed with Qt and on most Linux systems); other sans-serif fonts are narrower, so a
label measured here fits when drawn in them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Anchor = Literal["start", "middle", "end"]
Point = tuple[float, float]

#: Advance widths of DejaVu Sans in thousandths of the font size (measured from DejaVuSans.ttf).
_WIDTHS: dict[str, int] = {
    ' ': 318, '!': 401, '"': 460, '#': 838, '$': 636, '%': 950, '&': 780, "'": 275, '(': 390, ')': 390,
    '*': 500, '+': 838, ',': 318, '-': 361, '.': 318, '/': 337, '0': 636, '1': 636, '2': 636, '3': 636,
    '4': 636, '5': 636, '6': 636, '7': 636, '8': 636, '9': 636, ':': 337, ';': 337, '<': 838, '=': 838,
    '>': 838, '?': 531, '@': 1000, 'A': 684, 'B': 686, 'C': 698, 'D': 770, 'E': 632, 'F': 575, 'G': 775,
    'H': 752, 'I': 295, 'J': 295, 'K': 656, 'L': 557, 'M': 863, 'N': 748, 'O': 787, 'P': 603, 'Q': 787,
    'R': 695, 'S': 635, 'T': 611, 'U': 732, 'V': 684, 'W': 989, 'X': 685, 'Y': 611, 'Z': 685, '[': 390,
    '\\': 337, ']': 390, '^': 838, '_': 500, '`': 500, 'a': 613, 'b': 635, 'c': 550, 'd': 635, 'e': 615,
    'f': 352, 'g': 635, 'h': 634, 'i': 278, 'j': 278, 'k': 579, 'l': 278, 'm': 974, 'n': 634, 'o': 612,
    'p': 635, 'q': 635, 'r': 411, 's': 521, 't': 392, 'u': 634, 'v': 592, 'w': 818, 'x': 592, 'y': 592,
    'z': 525, '{': 636, '|': 337, '}': 636, '~': 838, '×': 838, '→': 838, '…': 1000, '·': 318, '−': 838,
    'ε': 541, '²': 401, '³': 401, '⁻': 528, '¹': 401, '₀': 401, '₁': 401, '₂': 401, '₃': 401,
}
#: Characters not in the table count as the widest ("M"-like) glyph.
_WIDEST = 1000
#: DejaVu Sans Bold is about 8 % wider than the book weight.
BOLD_FACTOR = 1.08
#: Line height as a multiple of the font size.
LINE_HEIGHT = 1.25
#: The font's ascent and descent (of the font size), for text boxes.
ASCENT = 0.76
DESCENT = 0.24


def text_width(text: str, size: float, bold: bool = False) -> float:
    """The width in points of one line of ``text`` at ``size`` points in DejaVu Sans."""
    width = sum(_WIDTHS.get(c, _WIDEST) for c in text) * size / 1000
    return width * BOLD_FACTOR if bold else width


@dataclass(frozen=True)
class Polygon:
    """A closed shape: a box's face (a rectangle is four points), a 3-D box's top or side."""

    points: tuple[Point, ...]
    fill: str | None = "#ffffff"
    stroke: str | None = "#000000"
    width: float = 0.6
    opacity: float = 1.0
    #: What the shape is part of (e.g. ``"box:conv"``, ``"kernel"``): for tests and writers' class names.
    tag: str = ""


@dataclass(frozen=True)
class Line:
    """An open polyline; ``arrow``: an arrow head at its last point."""

    points: tuple[Point, ...]
    stroke: str = "#000000"
    width: float = 0.8
    arrow: bool = False
    dashed: bool = False
    #: What the line is (e.g. ``"skip"``, ``"join"``, ``"kernel"``): for tests and writers' class names.
    tag: str = ""


@dataclass(frozen=True)
class Text:
    """One line of text; ``(x, y)`` is the anchor point on the baseline, ``rotate`` degrees counter-clockwise."""

    x: float
    y: float
    text: str
    size: float = 8.0
    anchor: Anchor = "middle"
    bold: bool = False
    colour: str = "#000000"
    rotate: float = 0.0
    #: What the text is (e.g. ``"label"``): for tests and writers' class names.
    tag: str = ""

    def box(self) -> tuple[float, float, float, float]:
        """``(left, top, right, bottom)`` of the unrotated text, in points."""
        w = text_width(self.text, self.size, self.bold)
        left = self.x - {"start": 0.0, "middle": w / 2, "end": w}[self.anchor]
        return left, self.y - ASCENT * self.size, left + w, self.y + DESCENT * self.size


Item = Polygon | Line | Text


@dataclass
class Scene:
    """A page of ``width`` × ``height`` points and what is drawn on it, back to front."""

    width: float
    height: float
    items: list[Item] = field(default_factory=list)
    title: str = ""
    #: The font family writers name (DejaVu Sans first: the metrics of :func:`text_width`).
    font: str = "DejaVu Sans, Helvetica, Arial, sans-serif"


Orientation = Literal["horizontal", "vertical"]


@dataclass(frozen=True)
class DiagramOptions:
    """What a diagram shows and how (shared by the flow and block layouts, the CLI and the window).

    ``labels``: any of ``"names"`` (layer ids), ``"shapes"`` (output shapes ``C×H×W``), ``"kernels"``
    (kernel size and stride of convolutions and pools), ``"params"`` (parameter counts).
    ``grey``: grey scale instead of colour (for print). ``blocks``: the flow style draws a residual or
    dense block as one box (per layer when False).
    """

    orientation: Orientation = "horizontal"
    labels: frozenset[str] = frozenset({"names", "shapes", "kernels"})
    grey: bool = False
    blocks: bool = False


LABELS = ("names", "shapes", "kernels", "params")

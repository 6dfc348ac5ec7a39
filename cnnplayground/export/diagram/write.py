"""Which writer a diagram file's suffix asks for (the Qt-free part: SVG and TikZ)."""

from __future__ import annotations

from pathlib import Path

from ...core.errors import UserError
from ...core.graph import Graph
from ..style import FigureStyle
from .scene import DiagramOptions, Orientation, Scene
from .svg import scene_svg
from .tikz import scene_tikz

#: Suffixes a diagram is written as; PDF and PNG are drawn by Qt (``ui/export/diagram_render.py``).
FORMATS = ("svg", "pdf", "png", "tex")


def diagram_format(path: str | Path) -> str | None:
    """``svg``, ``pdf``, ``png`` or ``tex`` from ``path``'s suffix (``.tikz`` counts as ``tex``); None if none."""
    suffix = Path(path).suffix.lower().lstrip(".")
    suffix = "tex" if suffix == "tikz" else suffix
    return suffix if suffix in FORMATS else None


def text_of(scene: Scene, fmt: str) -> str:
    """The SVG or TikZ source of ``scene`` (``fmt``: ``svg`` or ``tex``)."""
    return scene_svg(scene) if fmt == "svg" else scene_tikz(scene)


#: The diagram styles: ``flow`` (one box per layer or block) and ``block`` (feature maps as boxes).
STYLES = ("flow", "block")
#: Above this many layers a diagram is drawn one box per block unless asked otherwise (the CLI and window).
BLOCKS_ABOVE = 100
#: A flow diagram drawn one box per layer that would be taller than this many of the style's pages (its
#: ``height_in``, or 9 in: a column's text height) or wider than this many of its widths is drawn one box
#: per block by default, when the network has blocks: ResNet-18 per layer in a paper column is 38.9 in tall
#: (rows of one or two boxes), per block 7.8 in. 1.5 pages, not 1: a figure up to a page and a half is
#: still read as one figure (a full-page figure plus its caption), and VGG-like nets without blocks are
#: untouched anyway.
PAGES_ABOVE = 1.5
#: The page height of a style that has none (paper, page): the text height of a journal column.
PAGE_HEIGHT_IN = 9.0


def blocks_by_default(graph: Graph, options: DiagramOptions, figure: FigureStyle) -> tuple[bool, str]:
    """Whether the flow style draws ``graph`` one box per block when neither blocks nor layers is asked,
    and why (a few words for the CLI's line and the window's tool tip; empty when per layer).

    Per block when the network has blocks and it has more than :data:`BLOCKS_ABOVE` layers, or its
    per-layer drawing in ``figure`` is taller than :data:`PAGES_ABOVE` pages or wider than
    :data:`PAGES_ABOVE` times the style's width (``options.blocks`` is ignored).
    """
    from dataclasses import replace

    from .flow import flow_layout

    if not len(graph):
        return False, ""
    per_block = flow_layout(graph, replace(options, blocks=True), figure)
    if len(per_block.units) == len(graph):
        return False, ""  # no blocks: nothing to fold
    if len(graph) > BLOCKS_ABOVE:
        return True, f"more than {BLOCKS_ABOVE} layers"
    scene = flow_layout(graph, replace(options, blocks=False), figure).scene
    page_h = (figure.height_in or PAGE_HEIGHT_IN) * 72
    if scene.height > PAGES_ABOVE * page_h:
        return True, f"per layer it would be {scene.height / 72:.0f} in tall"
    if scene.width > PAGES_ABOVE * figure.width_in * 72:
        return True, f"per layer it would be {scene.width / 72:.0f} in wide"
    return False, ""


def default_orientation(diagram_style: str, figure: FigureStyle, graph: Graph | None = None,
                        options: DiagramOptions | None = None) -> Orientation:
    """The direction a diagram runs when none is asked. The block style runs across, as the LeNet and AlexNet
    figures do, and so does the flow style on a slide (a wide page). In a column or a page (no page height) the
    flow style takes, of the directions whose drawing fits the style's width, the one that needs less height,
    each drawn as `diagram` would draw it (per block where :func:`blocks_by_default` says so): across a 3.5 in
    column a row holds one or two boxes and ResNet-18 snakes down 7.8 in, while down the column it stacks in
    two columns of 6 in; LeNet-5 is 3.6 in across but 8.8 in down; VGG-16 down would be 5.4 in wide."""
    if diagram_style != "flow" or figure.height_in is not None or graph is None or not len(graph):
        return "horizontal"
    from dataclasses import replace

    from .flow import flow_layout

    base = options or DiagramOptions()
    sizes = {}
    for orientation in ("horizontal", "vertical"):
        chosen = replace(base, orientation=orientation)
        blocks = blocks_by_default(graph, chosen, figure)[0] if options is None or not options.blocks else True
        scene = flow_layout(graph, replace(chosen, blocks=blocks), figure).scene
        sizes[orientation] = (scene.width, scene.height)
    fitting = [o for o, (w, _h) in sizes.items() if w <= figure.width_in * 72 + 0.5]
    if not fitting:  # neither fits the width: the narrower (the less it is scaled down)
        return min(sizes, key=lambda o: sizes[o][0])  # type: ignore[return-value]
    return min(fitting, key=lambda o: (sizes[o][1], o != "horizontal"))  # type: ignore[return-value]


class DiagramError(UserError):
    """A diagram cannot be drawn or written as asked."""


def diagram_scene(graph: Graph, style: str, options: DiagramOptions, figure: FigureStyle) -> Scene:
    """The scene of ``graph`` in ``style`` (``flow`` or ``block``)."""
    if style == "flow":
        from .flow import flow_scene

        return flow_scene(graph, options, figure)
    if style == "block":
        from .block import block_scene

        return block_scene(graph, options, figure)
    raise DiagramError(f"no diagram style {style!r}: choose {' or '.join(STYLES)}")

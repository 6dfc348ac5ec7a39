"""Which writer a diagram file's suffix asks for (the Qt-free part: SVG and TikZ)."""

from __future__ import annotations

from pathlib import Path

from ...core.errors import UserError
from ...core.graph import Graph
from ..style import FigureStyle
from .scene import DiagramOptions, Scene
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

"""``cnnplayground diagram``: an architecture diagram of a project's (or preset's) network, headless.

::

    cnnplayground diagram my.cnnp --out net.svg                       # flow style, one box per layer
    cnnplayground diagram resnet18 --out r18.pdf --blocks --orientation vertical
    cnnplayground diagram my.cnnp --out net.tex --labels names,shapes --grey --figure-style page

SVG and TikZ (``.tex``) are written without Qt; PDF and PNG are drawn from the SVG by Qt's SVG renderer
(offscreen). Without ``--blocks`` or ``--layers``, a network with residual or dense blocks is drawn one box
per block when it has more than 100 layers or when, one box per layer, the drawing would be taller than 1.5
of the figure style's pages (9 in for paper and page) or wider than 1.5 times its width (ResNet-18 in a paper
column: 38.9 in tall per layer, 7.8 in per block).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..core.text import printable
from .common import CliError, load_target, say

LABEL_CHOICES = ("names", "shapes", "kernels", "params")


def _labels(text: str) -> frozenset[str]:
    words = {w.strip() for w in text.split(",") if w.strip()}
    wrong = sorted(words - set(LABEL_CHOICES))
    if wrong:
        raise argparse.ArgumentTypeError(f"unknown label {', '.join(wrong)}: choose from {','.join(LABEL_CHOICES)}")
    return frozenset(words)


def add_diagram_parser(sub) -> None:
    from ..export.style import STYLES

    p = sub.add_parser("diagram", help="draw the network's architecture diagram (SVG, PDF, PNG or TikZ)",
                       description="Draw an architecture diagram of a project's or preset's network: the flow "
                       "style (one box per layer or block, shapes on the arrows, skip connections drawn) or the "
                       "block style (feature maps as boxes), as SVG, PDF, PNG or TikZ source (.tex).")
    from ..core.presets import PRESETS

    p.add_argument("project", metavar="PROJECT", help="a project file or a preset name: " + ", ".join(PRESETS))
    p.add_argument("--out", required=True, metavar="FILE.{svg,pdf,png,tex}", help="where to write the diagram")
    p.add_argument("--style", choices=("flow", "block"), default="flow", help="diagram style (default: flow)")
    p.add_argument("--orientation", choices=("horizontal", "vertical"), default=None,
                   help="the direction the network flows (default: across, except the flow style in a paper column "
                   "or a page, which takes the direction that fits the width in the least height)")
    p.add_argument("--labels", type=_labels, default=frozenset({"names", "shapes", "kernels"}),
                   metavar="LIST", help="comma-separated: names,shapes,kernels,params (default: names,shapes,kernels)")
    p.add_argument("--grey", action="store_true", help="grey scale instead of colour (for print)")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--blocks", action="store_true", default=None,
                       help="flow style: one box per residual or dense block (default when the network has "
                       "blocks and more than 100 layers, or one box per layer would be taller than 1.5 pages "
                       "of the figure style (9 in for paper and page) or wider than 1.5 times its width)")
    group.add_argument("--layers", dest="blocks", action="store_false",
                       help="flow style: one box per layer, however many")
    p.add_argument("--figure-style", choices=tuple(STYLES), default="paper",
                   help="fonts and width: a paper column, a full page or a 16:9 slide (default: paper)")
    p.add_argument("--dpi", type=int, default=None, help="PNG resolution (default: the figure style's)")
    p.set_defaults(func=cmd_diagram)


def cmd_diagram(args: argparse.Namespace) -> int:
    from ..core.errors import UserError
    from ..export.diagram.scene import DiagramOptions
    from ..export.diagram.write import (
        blocks_by_default,
        default_orientation,
        diagram_format,
        diagram_scene,
        text_of,
    )
    from ..export.style import figure_style
    from ..io.atomic import atomic_write_bytes

    fmt = diagram_format(args.out)
    if fmt is None:
        raise CliError(f"--out writes .svg, .pdf, .png or .tex, not {printable(Path(args.out).name)}")
    graph, title, _ = load_target(args.project, load_weights=False)
    style = figure_style(args.figure_style)
    orientation = args.orientation or default_orientation(
        args.style, style, graph, DiagramOptions(labels=args.labels, blocks=bool(args.blocks)))
    options = DiagramOptions(orientation=orientation, labels=args.labels, grey=args.grey)
    why = ""
    if args.blocks is not None:
        blocks = args.blocks
    elif args.style == "flow":
        blocks, why = blocks_by_default(graph, options, style)
    else:
        blocks = False
    options = DiagramOptions(orientation=orientation, labels=args.labels, grey=args.grey, blocks=blocks)
    try:
        scene = diagram_scene(graph, args.style, options, style)
        if fmt in ("svg", "tex"):
            data = text_of(scene, fmt).encode("utf-8")
        else:
            from ..ui.export.diagram_render import diagram_bytes

            data = diagram_bytes(scene, fmt, title, args.dpi or style.dpi)
        atomic_write_bytes(Path(args.out), data)
    except (UserError, OSError, ValueError) as exc:
        raise CliError(f"the diagram was not written: {exc}") from None
    how = "one box per block" if blocks and args.style == "flow" else f"{args.style} style"
    note = f" ({why}; --layers draws each)" if why else ""
    say(f"wrote {printable(args.out)}: {len(graph)} layers, {how}{note}, {scene.width / 72:.1f} × "
        f"{scene.height / 72:.1f} in")
    return 0

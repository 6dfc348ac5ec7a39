"""``cnnplayground figures``: a run's whole figure set in a folder, with an ``index.html`` that shows it.

::

    cnnplayground figures my.cnnp --out figures/                        # the last run, its last epoch
    cnnplayground figures my.cnnp --out figures/ --run 2 --epochs 0,5,last --style slide

For one run: the architecture diagram, the training curves, the confusion matrix and every Inspect panel's
figure at each chosen epoch the run kept, as SVG, PNG and PDF (TikZ/pgfplots where there is a writer), named
``NN_kind_detail_epochK``; then ``index.html`` and ``index.md`` with each figure's caption and the numbers
behind it. A figure that cannot be drawn (no convolution layer: no kernels) is skipped with its reason in the
index. Drawn by the window's own panels with an offscreen Qt (``ui/export/figure_set.py``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..core.text import printable
from .common import CliError, positive_int, say


def _epochs(text: str) -> list[int | str]:
    from ..export.figure_set import parse_epochs

    try:
        return parse_epochs(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _index(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"an index is 0 or more, got {value}")
    return value


#: What --only may name (ui/export/figure_set.KINDS, repeated here: the parser loads no Qt).
KINDS = ("architecture", "curves", "confusion", "kernels", "feature-maps", "receptive-field", "occlusion",
         "attribution", "adversarial", "max-activation", "top-patches")


def _kinds(text: str) -> list[str]:
    chosen = [word.strip() for word in text.split(",") if word.strip()]
    wrong = [word for word in chosen if word not in KINDS]
    if wrong or not chosen:
        raise argparse.ArgumentTypeError(f"no kind of figure {wrong[0] if wrong else text!r}: choose from "
                                         f"{', '.join(KINDS)}")
    return chosen


def add_figures_parser(sub) -> None:
    from ..export.style import DEFAULT_STYLE, STYLES

    p = sub.add_parser("figures", help="write a run's whole figure set (diagram, curves, confusion, every panel) "
                       "with an index.html",
                       description="Write one run's figures into a folder: the architecture diagram, the training "
                       "curves, the confusion matrix and every Inspect panel's figure at the chosen epochs, as "
                       "SVG, PNG and PDF, and an index.html (and index.md) that shows them with captions and the "
                       "numbers behind them.")
    p.add_argument("project", metavar="PROJECT")
    p.add_argument("--out", required=True, metavar="DIR", help="the folder to write (made if missing)")
    p.add_argument("--run", type=positive_int, metavar="R",
                   help="run number, as in 'run 2' (default: the last run that keeps its epochs)")
    p.add_argument("--epochs", type=_epochs, default=["last"], metavar="0,1,last",
                   help="the stored epochs whose panels are drawn, numbers or 'last' (default: last)")
    p.add_argument("--style", "--figure-style", dest="style", choices=tuple(STYLES), default=DEFAULT_STYLE,
                   help=f"paper (a 3.5 in column), page (7 in) or slide (16:9); default {DEFAULT_STYLE}")
    p.add_argument("--image", type=_index, default=0, metavar="I",
                   help="the validation image of the panels that show one (default 0)")
    p.add_argument("--steps", type=positive_int, metavar="N",
                   help="max-activation, attribution and PGD steps (default: each panel's own; fewer is faster)")
    p.add_argument("--only", type=_kinds, metavar="LIST",
                   help="only these kinds of figure, comma-separated: architecture, curves, confusion, kernels, "
                   "feature-maps, receptive-field, occlusion, attribution, adversarial, max-activation, top-patches")
    p.set_defaults(func=cmd_figures)


def cmd_figures(args: argparse.Namespace) -> int:
    from ..core.errors import UserError
    from ..export.panel_options import FigureOptions
    from ..io.project import ProjectError, load_project

    try:
        project = load_project(args.project)
    except ProjectError as exc:
        raise CliError(f"cannot open {printable(args.project)}: {exc}") from None
    from ..ui.export.figure_set import FigureSet, SetRequest

    request = SetRequest(Path(args.out), args.run, args.epochs, args.style,
                         FigureOptions(image=args.image, steps=args.steps), args.only)
    try:
        figure_set = FigureSet(project, request)
        width = len(str(len(figure_set.entries)))
        for step in figure_set.steps():
            result = step.result
            head = f"[{step.done:>{width}}/{step.total}]"
            if result.skipped is not None:
                say(f"{head} not drawn: {result.title}: {result.skipped}")
            else:
                stem = Path(result.files[0]).stem if result.files else ""
                suffixes = ", ".join(Path(name).suffix.lstrip(".") for name in result.files)
                say(f"{head} {stem} ({suffixes}): {result.caption}")
    except (UserError, OSError) as exc:
        raise CliError(str(exc)) from None
    drawn = sum(r.skipped is None for r in figure_set.results)
    say(f"wrote {printable(Path(args.out) / 'index.html')}: {drawn} figures of {figure_set.title()}, "
        f"{len(figure_set.written)} files"
        + (f"; removed {figure_set.removed} files of the figure set that was there" if figure_set.removed else ""))
    return 0

"""``cnnplayground curves``: a project's training curves as a figure, headless.

::

    cnnplayground curves my.cnnp --out curves.tex                      # pgfplots, data inline
    cnnplayground curves my.cnnp --out curves.tex --data csv           # pgfplots reading curves.csv beside it
    cnnplayground curves my.cnnp --out loss.pdf --metric loss --runs 1,3 --figure-style slide

One plot per metric (loss, accuracy), one line per run (its validation curve, else its training curve) over
the epochs, named as the run, in the figure style's palette (``export/style.py``). ``.tex`` and ``.csv`` are
written without Qt (``export/curves.py``); ``.pdf``, ``.svg`` and ``.png`` are drawn by the window's figure
export with an offscreen Qt (``ui/export/headless.py``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..core.text import printable
from .common import CliError, say

FORMATS = (".tex", ".pdf", ".svg", ".png", ".csv")


def _run_numbers(text: str) -> list[int]:
    try:
        numbers = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"runs are numbers separated by commas (1,3), not {text!r}") from None
    if not numbers or min(numbers) < 1:
        raise argparse.ArgumentTypeError(f"runs are numbered from 1, got {text!r}")
    return numbers


def add_curves_parser(sub) -> None:
    from ..export.style import DEFAULT_STYLE, STYLES

    p = sub.add_parser("curves", help="write the runs' training curves as pgfplots (.tex), PDF, SVG, PNG or CSV",
                       description="Write a project's training curves (loss, accuracy; one line per run, named as "
                       "the run) as a pgfplots LaTeX document, or as a PDF, SVG, PNG or CSV, in one figure style.")
    p.add_argument("project", metavar="PROJECT")
    p.add_argument("--out", required=True, metavar="FILE.{tex,pdf,svg,png,csv}", help="the file to write")
    p.add_argument("--metric", choices=("loss", "accuracy", "all"), default="all",
                   help="which plots (default: all: loss and accuracy)")
    p.add_argument("--runs", type=_run_numbers, metavar="1,3", help="which runs, by number (default: all)")
    p.add_argument("--figure-style", choices=tuple(STYLES), default=DEFAULT_STYLE,
                   help=f"paper (a 3.5 in column), page (7 in) or slide (16:9); default {DEFAULT_STYLE}")
    p.add_argument("--data", choices=("inline", "csv"), default="inline",
                   help=".tex: the numbers inside the file, or in a .csv beside it (default: inline)")
    p.set_defaults(func=cmd_curves)


def cmd_curves(args: argparse.Namespace) -> int:
    from ..core.errors import UserError
    from ..export.curves import curve_plots, curves_csv, metric_keys, write_pgfplots
    from ..export.style import figure_style
    from ..io.atomic import atomic_write_bytes
    from ..io.project import ProjectError, load_project

    out = Path(args.out)
    suffix = out.suffix.lower()
    if suffix not in FORMATS:
        raise CliError(f"--out writes {', '.join(FORMATS)}, not {printable(out.name)}")
    try:
        project = load_project(args.project, load_weights=False)
    except ProjectError as exc:
        raise CliError(f"cannot open {printable(args.project)}: {exc}") from None
    count = len(project.history)
    if not count:
        raise CliError("this project has no runs: train it first (cnnplayground train PROJECT --save PROJECT)")
    numbers = args.runs or list(range(1, count + 1))
    missing = [n for n in numbers if n > count]
    if missing:
        raise CliError(f"there is no run {missing[0]}: the project has {count} run{'s' * (count != 1)}")
    style = figure_style(args.figure_style)
    runs = [project.history[n - 1] for n in numbers]
    plots = [p for p in curve_plots(runs, metric_keys(args.metric), style) if p.lines]
    if not plots:
        raise CliError(f"the chosen runs recorded no {args.metric if args.metric != 'all' else 'loss or accuracy'} "
                       "per epoch")
    title = f"{project.name}: {', '.join(run.name for run in runs)}"
    what = f"{' and '.join(p.key for p in plots)} of {len(runs)} run{'s' * (len(runs) != 1)}"
    try:
        if suffix == ".tex":
            written = write_pgfplots(plots, out, style, args.data, title)
            beside = f", data in {printable(written[1].name)}" if len(written) > 1 else ""
            say(f"wrote {printable(out)}: pgfplots, {what}{beside}")
        elif suffix == ".csv":
            atomic_write_bytes(out, curves_csv(plots).encode("utf-8"))
            say(f"wrote {printable(out)}: {what}")
        else:
            from ..ui.export.headless import application, curves_figure, write_figure

            app = application()
            try:
                write_figure(curves_figure(plots, style), out, style)
            finally:
                app.processEvents()
            say(f"wrote {printable(out)}: {what}, {style.name} style")
    except (UserError, OSError) as exc:
        raise CliError(str(exc)) from None
    return 0

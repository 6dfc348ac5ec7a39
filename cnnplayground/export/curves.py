"""A project's training curves as data and as a pgfplots (LaTeX) figure, without Qt.

:func:`curve_plots` picks, for each metric (loss, accuracy), the lines of each run from the runs' stored history
(``RunHistory.series``: its validation series solid and its training series dashed, both where the run stored
both, so that the gap between them shows; x = epoch; accuracy in percent); :func:`pgfplots_document` writes them
as a standalone LaTeX document with one pgfplots ``axis`` per metric that compiles with pdflatex and pgfplots,
coloured by the :class:`~.style.FigureStyle`'s palette and as wide as its preset. The data go inline
(``\\addplot coordinates``) or beside the ``.tex`` as a CSV file (``\\addplot table``) that
:func:`curves_csv_wide` writes. :func:`curves_csv` is the long CSV (``plot, series, x, y``) that Export Figure
writes for any plot.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..io.atomic import atomic_write_bytes
from ..project import RunHistory
from .style import FigureStyle

#: Metric → (title, y label, the series drawn (validation, training), factor applied to the stored values).
METRICS: dict[str, tuple[str, str, tuple[str, str], float]] = {
    "loss": ("Loss", "loss", ("val_loss", "train_loss"), 1.0),
    "accuracy": ("Accuracy", "accuracy (%)", ("val_accuracy", "train_accuracy"), 100.0),
}
#: Significant digits of the coordinates written (a float32 metric has about 7).
DIGITS = 6
#: Lines with at most this many points get a mark at each point.
MAX_MARKED_POINTS = 30


@dataclass(frozen=True)
class CurveLine:
    """One run's line in one plot: ``y[i]`` at epoch ``x[i]`` (missing values left out). ``name``: the legend's
    entry (the run's name, with "(training)" or "(validation)" where the plot draws both kinds); ``dashed``: a
    training line in a plot that also draws validation; ``run``: the run's place in the runs drawn."""

    name: str
    color: str  # "#rrggbb"
    series: str  # the stored series it shows ("val_loss", ...)
    x: tuple[float, ...]
    y: tuple[float, ...]
    dashed: bool = False
    run: int = 0

    @property
    def training(self) -> bool:
        return self.series.startswith("train_")


@dataclass(frozen=True)
class CurvePlot:
    """One plot (one metric) with a line per run."""

    key: str
    title: str
    y_label: str
    lines: tuple[CurveLine, ...]
    x_label: str = "epoch"


def metric_keys(choice: str) -> list[str]:
    """The metrics of ``--metric`` ``loss``, ``accuracy`` or ``all``."""
    if choice == "all":
        return list(METRICS)
    if choice not in METRICS:
        raise ValueError(f"no metric {choice!r}: choose {', '.join(METRICS)} or all")
    return [choice]


def curve_plots(runs: Sequence[RunHistory], metrics: Sequence[str], style: FigureStyle) -> list[CurvePlot]:
    """One :class:`CurvePlot` per metric: for each run its validation line and its training line, those it
    recorded (validation first); run ``i`` (in ``runs``' order) has the style's ``palette[i]`` in every plot.
    Where a plot draws both kinds, training lines are dashed and every legend entry says which it is; else the
    y label does ("validation loss")."""
    plots = []
    for key in metrics:
        title, label, candidates, factor = METRICS[key]
        found = []
        for i, run in enumerate(runs):
            for name in candidates:
                series = run.series.get(name)
                if series is None:
                    continue
                points = [(float(x), float(y) * factor) for x, y in zip(series.x, series.y)
                          if y is not None and math.isfinite(y)]
                if points:
                    found.append((i, run.name, name, points))
        used = {name for _i, _run, name, _p in found}
        both = len(used) == 2
        lines = []
        for i, run_name, name, points in found:
            xs, ys = zip(*points)
            training = name == candidates[1]
            entry = f"{run_name} ({'training' if training else 'validation'})" if both else run_name
            lines.append(CurveLine(entry, style.palette[i % len(style.palette)], name, xs, ys,
                                   dashed=both and training, run=i))
        which = ("validation " if used == {candidates[0]} else "training " if used == {candidates[1]} else "")
        plots.append(CurvePlot(key, title, which + label, tuple(lines)))
    return plots


def legend_corner(plot: CurvePlot) -> str:
    """Where the legend covers the fewest points: ``"north east"``, ``"south east"``, ``"north west"`` or
    ``"south west"`` (each corner a box of 45 % of the width and 40 % of the height of the data's range)."""
    xs = [x for line in plot.lines for x in line.x]
    ys = [y for line in plot.lines for y in line.y]
    if not xs:
        return "north east"
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    dx, dy = (x1 - x0) or 1.0, (y1 - y0) or 1.0
    corners = {"north east": (0.55, 1.0, 0.6, 1.0), "south east": (0.55, 1.0, 0.0, 0.4),
               "north west": (0.0, 0.45, 0.6, 1.0), "south west": (0.0, 0.45, 0.0, 0.4)}

    def covered(box: tuple[float, float, float, float]) -> int:
        return sum(box[0] <= (x - x0) / dx <= box[1] and box[2] <= (y - y0) / dy <= box[3] for x, y in zip(xs, ys))

    return min(corners, key=lambda name: covered(corners[name]))  # ties: the order above


def number(value: float) -> str:
    """``value`` as written in the figure's data: :data:`DIGITS` significant digits."""
    return f"{value:.{DIGITS}g}"


# Characters LaTeX reads as commands (or prints as others in its standard OT1 fonts), and what prints them.
_LATEX_SPECIAL = {
    "\\": r"\ensuremath{\backslash}", "{": r"\{", "}": r"\}", "$": r"\$", "&": r"\&", "#": r"\#", "%": r"\%",
    "_": r"\_", "~": r"\~{}", "^": r"\^{}", "<": r"\ensuremath{<}", ">": r"\ensuremath{>}",
    "|": r"\ensuremath{|}", '"': "''",
}
# Beyond ASCII, the accented Latin letters of Latin-1 (a standard pdflatex prints them with its own fonts) and these.
_LATEX_EXTRA = {"\u2013": "--", "\u2014": "---", "\u2018": "`", "\u2019": "'", "\u201c": "``", "\u201d": "''",
                "\u2026": r"\dots{}", "\u00d7": r"\ensuremath{\times}", "\u00b7": r"\ensuremath{\cdot}",
                "\u00a0": "~"}
_NO_OT1 = frozenset("\u00d0\u00f0\u00de\u00fe\u00f7")  # Ð ð Þ þ ÷: not in LaTeX's standard fonts


def latex_text(text: str) -> str:
    """``text`` as LaTeX prints it: special characters escaped, control characters dropped, and characters a
    standard pdflatex (its OT1 fonts, no extra packages) cannot print written as ``?``."""
    out = []
    for ch in text:
        if ch in _LATEX_SPECIAL:
            out.append(_LATEX_SPECIAL[ch])
        elif ch in _LATEX_EXTRA:
            out.append(_LATEX_EXTRA[ch])
        elif ch in "\t\n\r":
            out.append(" ")
        elif ord(ch) < 32 or ord(ch) == 0x7F:
            continue
        elif ord(ch) < 0x7F or (0xC0 <= ord(ch) <= 0xFF and ch not in _NO_OT1):
            out.append(ch)
        else:
            out.append("?")
    return "".join(out)


def _column(line: CurveLine, plot: CurvePlot) -> str:
    """``loss1val``, ``loss1train``, ``accuracy2val``…: the metric, the run's number, the kind."""
    return f"{plot.key}{line.run + 1}{'train' if line.training else 'val'}"


def curves_csv_wide(plots: Sequence[CurvePlot]) -> str:
    """The data of every line as one CSV table for pgfplots' ``table``: an ``epoch`` column and a column per
    plot, run and kind (``loss1val``, ``loss1train``, ``accuracy2val``…), ``nan`` where a run has no value at
    an epoch."""
    epochs = sorted({x for plot in plots for line in plot.lines for x in line.x})
    columns = ["epoch"]
    values: list[dict[float, float]] = []
    for plot in plots:
        for line in plot.lines:
            columns.append(_column(line, plot))
            values.append(dict(zip(line.x, line.y)))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for epoch in epochs:
        writer.writerow([number(epoch)] + [number(v[epoch]) if epoch in v else "nan" for v in values])
    return out.getvalue()


def curves_csv(plots: Sequence[CurvePlot]) -> str:
    """The data as a long CSV table: ``plot, series, x, y`` (as Export Figure's CSV), ``series`` = run name."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["plot", "series", "x", "y"])
    for plot in plots:
        for line in plot.lines:
            writer.writerows((plot.title, line.name, number(x), number(y)) for x, y in zip(line.x, line.y))
    return out.getvalue()


def _pt(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".") + "pt"


def _font(size: float) -> str:
    return rf"\fontsize{{{_pt(size)}}}{{{_pt(size * 1.2)}}}\selectfont"


def pgfplots_document(plots: Sequence[CurvePlot], style: FigureStyle, csv_name: str | None = None,
                      title: str = "") -> str:
    """A standalone LaTeX document (pdflatex, pgfplots) with one ``axis`` per plot.

    The axes sit side by side on a page or slide and one above the other in a paper column; together they are
    the preset's width (a slide's axes its height too). Legend entries are the lines' names, colours the style's
    palette (a run's training line dashed beside its solid validation line). ``csv_name``: read the data from
    that CSV file (:func:`curves_csv_wide`) instead of inline."""
    if not plots:
        raise ValueError("there is no plot to write")
    across = style.name != "paper" and len(plots) > 1
    gap = 0.25  # inches between axes
    n = len(plots)
    # Each axis' share of the width (less the document's 4 pt border on either side), and the room its y label
    # and tick labels take left of its box (measured with pdflatex on the three presets: 1.75 tick sizes + 17.5 pt).
    share = (style.width_in - 8 / 72 - (gap * (n - 1) if across else 0)) / (n if across else 1)
    room = (1.75 * style.tick_size + 17.5) / 72
    width = share - room
    if style.height_in is not None:  # a slide: the axes, their titles and x labels fill its height
        rows = 1 if across else n
        below_above = (1.4 * style.title_size + 1.2 * style.font_size + 1.2 * style.tick_size + 6) / 72
        height = (style.height_in - 8 / 72 - gap * (rows - 1)) / rows - below_above
    else:
        height = width * 0.55
    colors = {}
    for plot in plots:
        for line in plot.lines:
            colors.setdefault(line.color.lstrip("#").upper(), f"run{len(colors) + 1}")
    lines = [
        "% Training curves written by CNN Playground: pdflatex this file (needs pgfplots).",
        *([f"% {latex_text(title)}"] if title else []),
        r"\RequirePackage{fix-cm}",  # Computer Modern at any size (a slide's 24 pt)
        r"\documentclass[border=4pt]{standalone}",
        r"\renewcommand{\familydefault}{\sfdefault}",
        r"\usepackage{pgfplots}",
        r"\pgfplotsset{compat=1.16}",
        *(rf"\definecolor{{{name}}}{{HTML}}{{{hex_}}}" for hex_, name in colors.items()),
        r"\pgfplotsset{every axis/.append style={",
        rf"  scale only axis, width={width:.3f}in, "
        rf"height={height:.3f}in,",
        rf"  font={_font(style.font_size)},",
        rf"  title style={{font={_font(style.title_size)}}},",
        rf"  tick label style={{font={_font(style.tick_size)}}},",
        rf"  legend style={{font={_font(style.tick_size)}, draw=none, fill=white, fill opacity=0.8, "
        r"text opacity=1},",
        r"  legend cell align=left, grid=major, grid style={gray!25},",
        rf"  every axis plot/.append style={{line width={_pt(style.line_width)}}},",
        r"}}",
        r"\begin{document}",
        r"\begin{tikzpicture}",
    ]
    for k, plot in enumerate(plots):
        place = ""
        if k:
            previous = plots[k - 1].key
            place = (f"name={plot.key}, at={{({previous}.outer east)}}, anchor=outer west, xshift={gap}in, "
                     if across else
                     f"name={plot.key}, at={{({previous}.below south west)}}, anchor=above north west, "
                     f"yshift=-{gap}in, ")
        else:
            place = f"name={plot.key}, "
        legend = legend_corner(plot)
        last = max((max(line.x) for line in plot.lines if line.x), default=1.0)
        # Whole epochs on the x axis: a tick every 1, 2, 5, 10… epochs, at most about eight.
        step = next(s for s in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10**4) if last / s <= 8)
        lines += [
            r"\begin{axis}[",
            f"  {place}",
            rf"  title={{{latex_text(plot.title)}}}, xlabel={{{latex_text(plot.x_label)}}}, "
            rf"ylabel={{{latex_text(plot.y_label)}}},",
            rf"  legend pos={legend}, unbounded coords=jump, xtick distance={step},",
            r"]",
        ]
        for line in plot.lines:
            color = colors[line.color.lstrip("#").upper()] + (", dashed" if line.dashed else "")
            mark = f"mark=*, mark size={_pt(1.25 * style.line_width)}" if len(line.x) <= MAX_MARKED_POINTS \
                else "no marks"
            if csv_name is None:
                coords = " ".join(f"({number(x)},{number(y)})" for x, y in zip(line.x, line.y))
                lines.append(rf"\addplot[color={color}, {mark}] coordinates {{{coords}}};")
            else:
                lines.append(rf"\addplot[color={color}, {mark}] table[col sep=comma, x=epoch, "
                             rf"y={_column(line, plot)}] {{{csv_name}}};")
            lines.append(rf"\addlegendentry{{{latex_text(line.name)}}}")
        lines.append(r"\end{axis}")
    lines += [r"\end{tikzpicture}", r"\end{document}", ""]
    return "\n".join(lines)


def csv_beside(tex: Path) -> Path:
    """The CSV a ``.tex`` reads its data from: its name with ``.csv``, or ``curves-data.csv`` where LaTeX would
    misread the name (spaces, braces, non-ASCII)."""
    name = tex.with_suffix(".csv").name
    return tex.with_name(name if re.fullmatch(r"[A-Za-z0-9._-]+", name) else "curves-data.csv")


def write_pgfplots(plots: Sequence[CurvePlot], path: str | Path, style: FigureStyle, data: str = "inline",
                   title: str = "") -> list[Path]:
    """Write the pgfplots document to ``path`` (and with ``data="csv"`` its data to :func:`csv_beside`), each
    atomically; the files written, the ``.tex`` first."""
    path = Path(path)
    if data not in ("inline", "csv"):
        raise ValueError(f"data goes 'inline' or in a 'csv' file, not {data!r}")
    written = [path]
    csv_name = None
    if data == "csv":
        table = csv_beside(path)
        atomic_write_bytes(table, curves_csv_wide(plots).encode("utf-8"))
        written.append(table)
        csv_name = table.name
    atomic_write_bytes(path, pgfplots_document(plots, style, csv_name, title).encode("utf-8"))
    return written

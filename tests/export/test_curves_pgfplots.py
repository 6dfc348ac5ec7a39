"""Training curves as pgfplots (issue 26): the document's structure, its legend names escaped for LaTeX, its
coordinates equal to the stored history at the printed precision, the data inline or in a CSV beside it, and a
compile with pdflatex where one is installed."""

from __future__ import annotations

import csv
import re
import shutil
import subprocess

import pytest
from helpers import latex_missing
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnplayground.export.curves import (
    DIGITS,
    curve_plots,
    latex_text,
    legend_corner,
    pgfplots_document,
    write_pgfplots,
)
from cnnplayground.export.style import STYLES, figure_style
from cnnplayground.project import RunHistory

NASTY = "lr_0.1 & 50% {#1} $x^2$ ~a\\b"


def runs() -> list[RunHistory]:
    return [
        RunHistory(name=NASTY, series={
            "val_loss": {"x": [1, 2, 3], "y": [2.302585093, 1.2345678901, 0.87654321]},
            "train_loss": {"x": [1, 2, 3], "y": [2.5, 1.5, 1.0]},
            "val_accuracy": {"x": [1, 2, 3], "y": [0.1, 0.51234567, 0.7]}}),
        RunHistory(name="run 2", series={  # no validation: its training curves stand in
            "train_loss": {"x": [1, 2], "y": [2.1, None]},
            "train_accuracy": {"x": [1, 2], "y": [0.2, 0.3333333333]}}),
    ]


def _braces_balanced(text: str) -> bool:
    depth = 0
    for match in re.finditer(r"\\.|[{}]", text):  # an escaped \{ or \} is text, not a group
        token = match.group()
        if token == "{":
            depth += 1
        elif token == "}":
            depth -= 1
            if depth < 0:
                return False
    return depth == 0


def _axes(tex: str) -> list[str]:
    return re.findall(r"\\begin\{axis\}(.*?)\\end\{axis\}", tex, re.S)


def _legend_entries(axis: str) -> list[str]:
    """The legend entries' LaTeX (an entry's braces may hold escaped braces)."""
    out = []
    for start in (m.end() for m in re.finditer(r"\\addlegendentry\{", axis)):
        depth, i = 1, start
        while depth:
            if axis[i] == "\\":
                i += 2
                continue
            depth += {"{": 1, "}": -1}.get(axis[i], 0)
            i += 1
        out.append(axis[start:i - 1])
    return out


def test_one_axis_per_metric_and_an_addplot_per_run_and_kind_named_as_the_run():
    """Issue 26: a run's training line (dashed) beside its validation line (solid) where it stored both, so the
    gap between them shows; each legend entry says which where a plot draws both kinds."""
    style = figure_style("paper")
    tex = pgfplots_document(curve_plots(runs(), ["loss", "accuracy"], style), style)
    assert _braces_balanced(tex)
    assert tex.count(r"\begin{document}") == tex.count(r"\end{document}") == 1
    axes = _axes(tex)
    assert len(axes) == 2
    nasty = latex_text(NASTY)
    # Loss: the first run's validation and training, run 2's training (it has no validation).
    assert axes[0].count(r"\addplot") == 3
    assert _legend_entries(axes[0]) == [f"{nasty} (validation)", f"{nasty} (training)", "run 2 (training)"]
    assert re.findall(r"\\addplot\[color=(run\d)(, dashed)?,", axes[0]) == [("run1", ""), ("run1", ", dashed"),
                                                                         ("run2", ", dashed")]
    # Accuracy: the first run's validation, run 2's training.
    assert axes[1].count(r"\addplot") == 2
    assert _legend_entries(axes[1]) == [f"{nasty} (validation)", "run 2 (training)"]
    assert axes[1].count("dashed") == 1
    assert latex_text(NASTY) == (r"lr\_0.1 \& 50\% \{\#1\} \$x\^{}2\$ \~{}a\ensuremath{\backslash}b")
    assert "ylabel={loss}" in axes[0] and "ylabel={accuracy (\\%)}" in axes[1]  # both kinds: the legend says
    # Only one kind in a plot: solid lines named as the runs, the y label says which.
    only_validation = curve_plots(runs()[:1], ["accuracy"], style)[0]
    assert only_validation.y_label == "validation accuracy (%)"
    assert [(line.name, line.dashed) for line in only_validation.lines] == [(NASTY, False)]
    # The run's colours are the style's palette, in the runs' order.
    assert rf"\definecolor{{run1}}{{HTML}}{{{style.palette[0][1:].upper()}}}" in tex
    assert rf"\definecolor{{run2}}{{HTML}}{{{style.palette[1][1:].upper()}}}" in tex
    assert "anchor=above north west" in tex  # one above the other in a paper column


def test_the_coordinates_are_the_history_at_the_printed_precision():
    style = figure_style("page")
    tex = pgfplots_document(curve_plots(runs(), ["loss", "accuracy"], style), style)
    found = [[tuple(float(v) for v in pair.split(",")) for pair in re.findall(r"\(([^()]*)\)", coords)]
             for coords in re.findall(r"coordinates \{([^}]*)\}", tex)]

    def printed(v: float) -> float:
        return float(f"{v:.{DIGITS}g}")

    expected = [
        [(1, printed(2.302585093)), (2, printed(1.2345678901)), (3, printed(0.87654321))],  # val_loss
        [(1, 2.5), (2, 1.5), (3, 1.0)],  # the same run's train_loss
        [(1, 2.1)],  # run 2's training loss; its missing epoch 2 is left out
        [(1, 10.0), (2, printed(51.234567)), (3, 70.0)],  # percent
        [(1, 20.0), (2, printed(33.33333333))],
    ]
    assert found == expected
    assert found[0][1][1] == 1.23457  # 6 significant digits


def test_the_data_can_go_in_a_csv_beside_the_tex(tmp_path):
    style = figure_style("slide")
    plots = curve_plots(runs(), ["loss", "accuracy"], style)
    written = write_pgfplots(plots, tmp_path / "curves.tex", style, "csv")
    assert written == [tmp_path / "curves.tex", tmp_path / "curves.csv"]
    tex = written[0].read_text()
    assert "coordinates" not in tex and tex.count(r"table[col sep=comma, x=epoch") == 5
    columns = re.findall(r"y=(\w+)\] \{curves\.csv\}", tex)
    rows = list(csv.DictReader(written[1].read_text().splitlines()))
    assert columns == ["loss1val", "loss1train", "loss2train", "accuracy1val", "accuracy2train"]
    assert list(rows[0]) == ["epoch", *columns]
    assert [r["epoch"] for r in rows] == ["1", "2", "3"]
    assert [r["loss1val"] for r in rows] == ["2.30259", "1.23457", "0.876543"]
    assert [r["loss1train"] for r in rows] == ["2.5", "1.5", "1"]
    assert [r["loss2train"] for r in rows] == ["2.1", "nan", "nan"] and rows[1]["accuracy2train"] == "33.3333"
    # A name LaTeX would misread gets a plain one.
    assert write_pgfplots(plots, tmp_path / "my curves.tex", style, "csv")[1].name == "curves-data.csv"


def test_the_legend_goes_where_the_curves_leave_room():
    style = figure_style("paper")
    loss, accuracy = curve_plots(runs()[:1], ["loss", "accuracy"], style)
    assert legend_corner(loss) == "north east"  # a falling curve leaves the top right free
    assert legend_corner(accuracy) == "south east"  # a rising one the bottom right


@settings(max_examples=150, derandomize=True, deadline=None)
@given(st.text(max_size=30))
def test_any_run_name_makes_balanced_latex_without_active_characters(name):
    text = latex_text(name)
    assert _braces_balanced(text)
    unescaped = re.sub(r"\\[a-z~^]+\{\}|\\ensuremath\{\\?[a-z<>|]*\}|\\.", "", text)
    assert not set(unescaped) & set("&%$#_{}~^\\")
    assert all(ord(c) < 0x100 for c in text)


PDFLATEX = shutil.which("pdflatex")


@pytest.mark.skipif(latex_missing() is not None, reason=str(latex_missing()))
@pytest.mark.parametrize("name", list(STYLES))
def test_the_document_compiles_with_pdflatex_to_the_presets_width(name, tmp_path):
    style = figure_style(name)
    data = "csv" if name == "page" else "inline"
    hostile = runs()
    hostile.append(RunHistory(name="Ünïcödé · 中文 <b>|</b> \"q\"", series=hostile[0].series))
    write_pgfplots(curve_plots(hostile, ["loss", "accuracy"], style), tmp_path / "curves.tex", style, data)
    done = subprocess.run([PDFLATEX, "-interaction=nonstopmode", "-halt-on-error", "curves.tex"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout[-2000:]
    assert "Missing character" not in (tmp_path / "curves.log").read_text(errors="replace")
    info = subprocess.run(["pdfinfo", str(tmp_path / "curves.pdf")], capture_output=True, text=True).stdout
    width, _height = (float(v) for v in re.search(r"Page size:\s+([\d.]+) x ([\d.]+) pts", info).groups())
    # The room of the tick labels is estimated: the figure is the preset's width within 5 %.
    assert abs(width - style.width_in * 72) <= 0.05 * style.width_in * 72, (width, style.width_in * 72)

"""``cnnplayground curves``: a project's training curves as pgfplots, PDF, SVG, PNG or CSV, headless (issue 26)."""

from __future__ import annotations

import csv
import io
import re
import shutil
import subprocess

import pytest
from helpers import latex_missing
from PIL import Image

from cnnplayground.app import CLI_COMMANDS
from cnnplayground.cli import main
from cnnplayground.core.presets import get_preset
from cnnplayground.export.style import figure_style
from cnnplayground.io.project import save_project
from cnnplayground.project import Project, RunHistory


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    out = tmp_path_factory.mktemp("curves") / "two runs.cnnp"
    project = Project.new(graph=get_preset("lenet5").factory(), name="LeNet-5")
    for name, f in (("lr_0.1 & 50%", 1.0), ("lr 0.01", 0.8), ("third", 0.5)):
        project.history.append(RunHistory(name=name, series={
            "train_loss": {"x": [1, 2, 3], "y": [2.3 * f, 1.5 * f, 1.1 * f]},
            "val_loss": {"x": [1, 2, 3], "y": [2.2 * f, 1.6 * f, 1.3 * f]},
            "val_accuracy": {"x": [1, 2, 3], "y": [0.3 * f, 0.6 * f, 0.7 * f]}}))
    save_project(project, out)
    return out


def test_curves_is_a_command():
    assert "curves" in CLI_COMMANDS


def test_tex_with_the_chosen_runs_and_metric(project, tmp_path, capsys):
    out = tmp_path / "loss.tex"
    assert main(["curves", str(project), "--out", str(out), "--metric", "loss", "--runs", "1,3"]) == 0
    assert capsys.readouterr().out == f"wrote {out}: pgfplots, loss of 2 runs\n"
    tex = out.read_text()
    assert tex.count(r"\begin{axis}") == 1 and tex.count(r"\addplot") == 4  # each run's validation and training
    first = r"lr\_0.1 \& 50\%"
    assert re.findall(r"\\addlegendentry\{(.*)\}", tex) == [f"{first} (validation)", f"{first} (training)",
                                                         "third (validation)", "third (training)"]
    assert tex.count("dashed") == 2  # the training lines
    assert "coordinates {(1,2.2) (2,1.6) (3,1.3)}" in tex and "coordinates {(1,1.1) (2,0.8) (3,0.65)}" in tex
    assert "coordinates {(1,2.3) (2,1.5) (3,1.1)}" in tex  # the first run's training loss
    assert "scale only axis, width=2.976in" in tex  # the paper column (3.5 in) less the border and labels


def test_tex_with_its_data_beside_it_and_the_slide_style(project, tmp_path, capsys):
    out = tmp_path / "curves.tex"
    assert main(["curves", str(project), "--out", str(out), "--data", "csv", "--figure-style", "slide"]) == 0
    assert capsys.readouterr().out.endswith("data in curves.csv\n")
    rows = list(csv.DictReader((tmp_path / "curves.csv").read_text().splitlines()))
    assert list(rows[0]) == ["epoch", "loss1val", "loss1train", "loss2val", "loss2train", "loss3val", "loss3train",
                             "accuracy1val", "accuracy2val", "accuracy3val"]  # (no training accuracy stored)
    assert [r["accuracy2val"] for r in rows] == ["24", "48", "56"]
    assert [r["loss1train"] for r in rows] == ["2.3", "1.5", "1.1"]
    assert out.read_text().count("{curves.csv}") == 9
    if latex_missing() is None:
        done = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", out.name], cwd=tmp_path,
                              capture_output=True, text=True, timeout=180)
        assert done.returncode == 0, done.stdout[-1500:]


@pytest.mark.parametrize("name", ["paper", "slide"])
def test_pdf_svg_png_and_csv(project, tmp_path, name):
    style = figure_style(name)
    for suffix in ("pdf", "svg", "png", "csv"):
        out = tmp_path / f"c.{suffix}"
        assert main(["curves", str(project), "--out", str(out), "--figure-style", name]) == 0
    png = Image.open(io.BytesIO((tmp_path / "c.png").read_bytes()))
    assert png.width == round(style.width_in * style.dpi)
    svg = (tmp_path / "c.svg").read_bytes()
    assert b"lr_0.1 &amp; 50%" in svg and style.palette[2].lower().encode() in svg.lower()
    if shutil.which("pdfinfo"):
        info = subprocess.run(["pdfinfo", str(tmp_path / "c.pdf")], capture_output=True, text=True).stdout
        assert abs(float(re.search(r"Page size:\s+([\d.]+)", info).group(1)) - style.width_in * 72) < 0.5
    # The training lines dashed, each in the plot and its legend sample (loss: one per run; no training accuracy
    # stored), the validation ones solid.
    assert svg.count(b"stroke-dasharray") == 2 * 3 and b"(training)" in svg and b"(validation)" in svg
    rows = (tmp_path / "c.csv").read_text().splitlines()
    # Loss: 3 runs × (validation, training); accuracy: 3 runs × validation; 3 epochs each.
    assert rows[0] == "plot,series,x,y" and rows[1] == "Loss,lr_0.1 & 50% (validation),1,2.2"
    assert "Loss,lr_0.1 & 50% (training),1,2.3" in rows and len(rows) == 1 + (3 * 2 + 3) * 3


def test_mistakes_are_one_line(project, tmp_path, capsys):
    assert main(["curves", str(project), "--out", str(tmp_path / "x.gif")]) == 2
    assert main(["curves", str(project), "--out", str(tmp_path / "x.tex"), "--runs", "4"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("cnnplayground: --out writes .tex, .pdf, .svg, .png, .csv, not x.gif")
    assert err[1] == "cnnplayground: there is no run 4: the project has 3 runs"
    empty = tmp_path / "empty.cnnp"
    save_project(Project.new(graph=get_preset("lenet5").factory(), name="x"), empty)
    assert main(["curves", str(empty), "--out", str(tmp_path / "x.tex")]) == 2
    assert "has no runs" in capsys.readouterr().err

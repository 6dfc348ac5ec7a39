"""``cnnplayground diagram``: a project's or preset's architecture diagram as SVG, PDF, PNG or TikZ."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from cnnplayground.app import CLI_COMMANDS, wants_cli
from cnnplayground.cli import main
from cnnplayground.io.project import save_project
from cnnplayground.project import Project


@pytest.mark.parametrize("suffix,magic", [("svg", b"<?xml"), ("tex", b"% An"), ("pdf", b"%PDF"),
                                          ("png", b"\x89PNG")])
def test_each_format_is_written(tmp_path, capsys, suffix, magic):
    out = tmp_path / f"lenet.{suffix}"
    assert main(["diagram", "lenet5", "--out", str(out)]) == 0
    assert out.read_bytes().startswith(magic)
    said = capsys.readouterr().out
    assert said.startswith(f"wrote {out}") and "13 layers" in said


def test_options_reach_the_diagram(tmp_path):
    project = tmp_path / "r.cnnp"
    assert main(["new", "resnet18", str(project)]) == 0
    out = tmp_path / "r.svg"
    assert main(["diagram", str(project), "--out", str(out), "--blocks", "--orientation", "vertical",
                 "--labels", "names,params", "--grey", "--figure-style", "slide"]) == 0
    root = ET.parse(out).getroot()
    texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert texts.count("Residual block") == 8
    assert any(t.endswith("params") for t in texts) and "64×56×56" not in texts  # no shapes
    assert {t.get("font-size") for t in root.iter("{http://www.w3.org/2000/svg}text")} == {"20"}
    fills = {p.get("fill") for p in root.iter("{http://www.w3.org/2000/svg}polygon")} - {"#000000"}
    assert all(f[1:3] == f[3:5] == f[5:7] for f in fills)


def test_a_long_network_is_drawn_per_block_unless_layers_asked(tmp_path, capsys, monkeypatch):
    import cnnplayground.export.diagram.write as write

    monkeypatch.setattr(write, "BLOCKS_ABOVE", 50)  # ResNet-18's 70 layers count as long here
    out = tmp_path / "r.svg"
    assert main(["diagram", "resnet18", "--out", str(out)]) == 0
    assert "one box per block (more than 50 layers; --layers draws each)" in capsys.readouterr().out
    assert out.read_text().count(">Residual block<") == 8
    assert main(["diagram", "resnet18", "--out", str(out), "--layers"]) == 0
    assert "Residual block" not in out.read_text() and ">layer1_0_add<" in out.read_text()


def test_mistakes_are_one_line_errors(tmp_path, capsys):
    assert main(["diagram", "lenet5", "--out", str(tmp_path / "x.jpg")]) == 2
    assert "--out writes .svg, .pdf, .png or .tex, not x.jpg" in capsys.readouterr().err
    with pytest.raises(SystemExit) as stop:
        main(["diagram", "lenet5", "--out", str(tmp_path / "x.svg"), "--labels", "names,colours"])
    assert stop.value.code == 2 and "unknown label colours" in capsys.readouterr().err
    assert main(["diagram", str(tmp_path / "missing.cnnp"), "--out", str(tmp_path / "x.svg")]) == 2
    assert "no such project file" in capsys.readouterr().err
    assert not (tmp_path / "x.svg").exists()


def test_block_style_writes_every_format(tmp_path):
    from xml.etree import ElementTree

    for suffix in ("svg", "tex", "png", "pdf"):
        out = tmp_path / f"b.{suffix}"
        assert main(["diagram", "lenet5", "--style", "block", "--out", str(out)]) == 0
        assert out.stat().st_size > 500
    svg = ElementTree.parse(tmp_path / "b.svg").getroot()
    texts = "".join(t.text or "" for t in svg.iter("{http://www.w3.org/2000/svg}text"))
    assert "6@28×28" in texts  # the block style's map label, not the flow style's


def test_a_network_with_a_shape_error_is_still_drawn_with_unknown_shapes(tmp_path):
    from cnnplayground.core.presets import get_preset

    graph = get_preset("lenet5").factory()
    graph.remove_node("flatten")  # Linear after a 16×5×5 map: a shape error from fc1 on
    graph.connect("pool2", "fc1")
    path = tmp_path / "broken.cnnp"
    save_project(Project.new(graph=graph, name="broken"), path)
    out = tmp_path / "broken.svg"
    assert main(["diagram", str(path), "--out", str(out)]) == 0
    texts = [t.text for t in ET.parse(out).getroot().iter("{http://www.w3.org/2000/svg}text")]
    assert "16×5×5" in texts and "?" in texts and "fc3" in texts


def test_registered_as_a_command():
    assert "diagram" in CLI_COMMANDS and wants_cli(["diagram", "x", "--out", "y.svg"])


def test_resnet18_in_a_paper_column_is_drawn_per_block_by_default(tmp_path, capsys):
    out = tmp_path / "r.svg"
    assert main(["diagram", "resnet18", "--out", str(out)]) == 0
    said = capsys.readouterr().out
    # down the column (the default there), per block: 2.9 in wide, 6 in tall; per layer it would be 14 in wide
    assert "one box per block (per layer it would be 14 in wide; --layers draws each), 2.9 × 6.0 in" in said
    assert main(["diagram", "resnet18", "--orientation", "horizontal", "--out", str(out)]) == 0
    said = capsys.readouterr().out  # across the column: rows of one or two boxes, 39 in tall per layer
    assert "one box per block (per layer it would be 39 in tall; --layers draws each), 3.6 × 7.8 in" in said
    assert main(["diagram", "lenet5", "--orientation", "horizontal", "--out", str(out)]) == 0
    assert "flow style, 3.3 × 3.6 in" in capsys.readouterr().out


def test_the_flow_style_runs_down_a_paper_column_and_across_a_page_or_slide(tmp_path, capsys):
    import re

    sizes = {}
    for style in ("paper", "page", "slide"):
        assert main(["diagram", "resnet18", "--figure-style", style, "--out", str(tmp_path / "r.svg")]) == 0
        w, h = map(float, re.search(r"([\d.]+) × ([\d.]+) in$", capsys.readouterr().out.strip()).groups())
        sizes[style] = (w, h)
    assert sizes["paper"][0] <= 3.5 and sizes["paper"][1] > sizes["paper"][0]  # fits the column, runs down it
    assert sizes["slide"][0] > sizes["slide"][1]  # across a slide
    assert main(["diagram", "resnet18", "--style", "block", "--out", str(tmp_path / "b.svg")]) == 0
    w, h = map(float, re.search(r"([\d.]+) × ([\d.]+) in$", capsys.readouterr().out.strip()).groups())
    assert w > h  # the block style runs across, as the LeNet and AlexNet figures do

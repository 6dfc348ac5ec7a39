"""The diagram writers: SVG that parses and renders (cairosvg) with every label drawn inside its box on the
canvas, and TikZ that is well formed, escapes LaTeX's specials and compiles with pdflatex where installed."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET

import pytest
from diagram_checks import dense_net
from helpers import latex_missing

from cnnplayground.core.presets import get_preset
from cnnplayground.export.diagram.flow import flow_scene
from cnnplayground.export.diagram.scene import DiagramOptions, Line, Polygon, Scene, Text
from cnnplayground.export.diagram.svg import scene_svg
from cnnplayground.export.diagram.tikz import scene_tikz, tex_escape
from cnnplayground.export.diagram.write import diagram_format
from cnnplayground.export.style import figure_style

SVG = "{http://www.w3.org/2000/svg}"
HOSTILE = "a_b & 50% #1 {x} ~y ^z \\w $5 <i> |o| 3×3 → ε² conv5–pool ±0.1 Café"


def _scene(name: str, **options) -> Scene:
    graph = dense_net() if name == "dense" else get_preset(name).factory()
    return flow_scene(graph, DiagramOptions(**options), figure_style("paper"))


def _hostile_scene() -> Scene:
    scene = Scene(200, 60)
    scene.items += [Polygon(((10, 10), (190, 10), (190, 50), (10, 50)), "#a6cee3"),
                    Line(((5, 55), (100, 55)), arrow=True, dashed=True),
                    Text(100, 34, HOSTILE, 8, "middle", bold=True), Text(12, 8, "start", 6, "start"),
                    Text(188, 8, "end", 6, "end", rotate=0)]
    return scene


@pytest.mark.parametrize("name", ["lenet5", "resnet18", "dense"])
def test_svg_parses_and_holds_every_item_as_text_polygons_and_polylines(name):
    scene = _scene(name)
    root = ET.fromstring(scene_svg(scene))
    assert root.tag == f"{SVG}svg"
    assert root.get("viewBox").split()[:2] == ["0", "0"] and root.get("width").endswith("pt")
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert texts == [i.text for i in scene.items if isinstance(i, Text)]
    assert all(t.get("font-family") == scene.font for t in root.iter(f"{SVG}text"))
    lines = [i for i in scene.items if isinstance(i, Line)]
    assert len(list(root.iter(f"{SVG}polyline"))) == len(lines)
    boxes = [i for i in scene.items if isinstance(i, Polygon)]
    heads = sum(line.arrow for line in lines)
    assert len(list(root.iter(f"{SVG}polygon"))) == len(boxes) + heads


def test_svg_escapes_markup_in_labels():
    root = ET.fromstring(scene_svg(_hostile_scene()))
    assert HOSTILE in [t.text for t in root.iter(f"{SVG}text")]


@pytest.mark.parametrize("name,options", [("lenet5", {}), ("resnet18", {"orientation": "vertical"}),
                                          ("dense", {"grey": True}), ("alexnet", {"blocks": True})])
def test_svg_renders_in_cairosvg_with_ink_in_every_text_box(name, options):
    """Render-based: each label's box (measured with DejaVu Sans) holds dark pixels in the rendered PNG, and
    every box lies on the canvas: no label is clipped or lost."""
    cairosvg = pytest.importorskip("cairosvg", reason="cairosvg (a test extra) renders the SVG a second way")
    from PIL import Image

    scene = _scene(name, **options)
    scale = 3.0  # pixels per point
    png = cairosvg.svg2png(bytestring=scene_svg(scene).encode(), output_width=round(scene.width * scale),
                           output_height=round(scene.height * scale))
    image = Image.open(io.BytesIO(png)).convert("L")
    assert image.size == (round(scene.width * scale), round(scene.height * scale))
    pixels = image.load()
    texts = [i for i in scene.items if isinstance(i, Text)]
    assert texts
    for t in texts:
        left, top, right, bottom = t.box()
        assert left >= 0 and right <= scene.width and top >= 0 and bottom <= scene.height, t.text
        x0, y0, x1, y1 = (round(v * scale) for v in (left, top, right, bottom))
        # the label's two halves both hold ink: the text is there, and not cut short
        for a, b in ((x0, (x0 + x1) // 2), ((x0 + x1) // 2, x1)):
            dark = sum(pixels[x, y] < 110 for x in range(a, min(b, image.width)) for y in range(y0, min(y1,
                       image.height)))
            assert dark > 0, f"no ink where {t.text!r} is drawn"


def test_tex_escape_makes_every_special_printable():
    escaped = tex_escape(HOSTILE)
    bare = re.sub(r"\\[a-zA-Z]+(\{\})?|\\[{}#$%&_]|\$[^$]*\$", "", escaped)
    assert not set(bare) & set("\\{}#$%&_^~")
    assert tex_escape("layer1_0_conv1") == r"layer1\_0\_conv1"
    assert tex_escape("日本") == "??"
    # the block style's stage names ("conv5–avgpool") and other text LaTeX can print keep their characters
    assert tex_escape("conv5–avgpool ±0.1 ≤ Café “x”") == r"conv5--avgpool $\pm$0.1 $\le$ Café ``x''"


def _balanced(source: str) -> bool:
    depth = 0
    for m in re.finditer(r"\\.|[{}]", source):
        if m.group() == "{":
            depth += 1
        elif m.group() == "}":
            depth -= 1
            if depth < 0:
                return False
    return depth == 0


@pytest.mark.parametrize("name", ["lenet5", "resnet18", "dense"])
def test_tikz_is_well_formed_with_every_label_escaped(name):
    scene = _scene(name)
    source = scene_tikz(scene)
    assert source.startswith("%") and "\\documentclass[border=0pt]{standalone}" in source
    assert source.count("\\begin{tikzpicture}") == source.count("\\end{tikzpicture}") == 1
    assert source.index("\\begin{document}") < source.index("\\begin{tikzpicture}") < source.index(
        "\\end{tikzpicture}") < source.index("\\end{document}")
    assert _balanced(source)
    for item in scene.items:
        if isinstance(item, Text):
            assert "{" + tex_escape(item.text) + "};" in source
    colours = set(re.findall(r"\\definecolor\{(dc\d+)\}\{HTML\}\{[0-9A-F]{6}\}", source))
    used = set(re.findall(r"(?:draw|fill|text)=(dc\d+)|\\fill\[(dc\d+)\]", source))
    assert {c for pair in used for c in pair if c} <= colours
    # y is flipped: every coordinate's y is zero or below
    ys = [float(y) for y in re.findall(r"\([-\d.]+pt,([-\d.]+)pt\)", source)]
    assert ys and max(ys) <= 0 and min(ys) >= -scene.height - 0.01
    picture = scene_tikz(scene, standalone=False)
    assert picture.startswith("\\begin{tikzpicture}") and "\\documentclass" not in picture


def test_diagram_format_comes_from_the_suffix():
    assert [diagram_format(p) for p in ("a.svg", "b.PDF", "c.png", "d.tex", "e.tikz", "f.jpg", "g")] == [
        "svg", "pdf", "png", "tex", "tex", None, None]


def _pdflatex(tmp_path, source: str) -> None:
    if latex_missing():
        pytest.skip(latex_missing())
    tex = tmp_path / "diagram.tex"
    tex.write_text(source, encoding="utf-8")
    done = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "-no-shell-escape",
                           tex.name], cwd=tmp_path, capture_output=True, text=True, timeout=240)
    log = done.stdout[-3000:]
    assert done.returncode == 0, log
    assert (tmp_path / "diagram.pdf").stat().st_size > 1000
    assert "Missing character" not in (tmp_path / "diagram.log").read_text(errors="replace")


@pytest.mark.parametrize("name", ["lenet5", "resnet18"])
def test_tikz_compiles_with_pdflatex(tmp_path, name):
    scene = _scene(name)
    _pdflatex(tmp_path, scene_tikz(scene))
    if shutil.which("pdfinfo"):
        info = subprocess.run(["pdfinfo", str(tmp_path / "diagram.pdf")], capture_output=True, text=True,
                              check=True).stdout
        w, h = map(float, re.search(r"Page size:\s+([\d.]+) x ([\d.]+) pts", info).groups())
        # standalone's page is the picture's bounding box: the scene's size (pt vs bp: 0.4 %)
        assert abs(w - scene.width) < scene.width * 0.01 + 1 and abs(h - scene.height) < scene.height * 0.01 + 1


def test_tikz_of_hostile_labels_compiles(tmp_path):
    _pdflatex(tmp_path, scene_tikz(_hostile_scene()))

"""``cnnplayground figure`` for every Inspect panel (issue 24): the file formats, the epoch's weights in the
numbers drawn, APNG/MP4 animations, one colour scale across frames, and one-line messages for impossible
choices. A tiny LeNet-5 on synthetic shapes, 3 epochs (4 stored: 0 to 3)."""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import torch
from PIL import Image

from cnnplayground.cli import main
from cnnplayground.data.registry import load_dataset
from cnnplayground.export.panel_options import FigureOptions, FigureWeights
from cnnplayground.inspect.attribution import saliency
from cnnplayground.inspect.occlusion import occlusion_steps
from cnnplayground.inspect.receptive import effective_field
from cnnplayground.inspect.snapshot import prepare
from cnnplayground.io.project import load_project
from cnnplayground.io.project_epochs import snapshot_weights, stored_epochs
from cnnplayground.ui.export import headless
from cnnplayground.ui.export.panel_figures import model_of, panel_figure
from cnnplayground.ui.inspect.imaging import ColorBar

TRAIN = ["--dataset", "synthetic", "--train-size", "320", "--test-size", "0", "--batch-size", "64", "--epochs", "3",
         "--seed", "5"]
NEW_PANELS = ("receptive-field", "occlusion", "max-activation", "top-patches", "attribution", "adversarial")
FAST = {"max-activation": ["--steps", "4"], "attribution": ["--steps", "8"]}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("panels") / "lenet.cnnp"
    assert main(["train", "--preset", "lenet5", *TRAIN, "--save", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def project(trained):
    return load_project(trained)


def _weights(project, *epochs: int) -> list[FigureWeights]:
    graph = project.history[0].epochs.graph
    return [FigureWeights(graph, snapshot_weights(project, 0, k), f"epoch {k}", k) for k in epochs]


def _data(project):
    return load_dataset(project.dataset, val_fraction=project.training.val_fraction, seed=project.training.seed)


@pytest.mark.parametrize("panel", NEW_PANELS)
def test_every_panel_writes_png_svg_and_pdf(trained, tmp_path, capsys, panel):
    for suffix in ("png", "svg", "pdf"):
        out = tmp_path / f"{panel}.{suffix}"
        assert main(["figure", str(trained), "--panel", panel, "--epoch", "2", *FAST.get(panel, []),
                     "--out", str(out)]) == 0
        assert capsys.readouterr().out.startswith(f"wrote {out}: LeNet-5 · run 1 · epoch 2 · ")
    with Image.open(tmp_path / f"{panel}.png") as png:
        assert png.format == "PNG" and png.width >= 1000 and png.height >= 300
    svg = (tmp_path / f"{panel}.svg").read_bytes()
    assert ET.fromstring(svg).tag.endswith("svg")
    cairosvg = pytest.importorskip("cairosvg")
    with Image.open(io.BytesIO(cairosvg.svg2png(bytestring=svg))) as drawn:
        grey = np.asarray(drawn.convert("L"))
    assert grey.shape[1] > 100 and len(np.unique(grey)) > 10  # a picture, not a blank page
    pdf = (tmp_path / f"{panel}.pdf").read_bytes()
    assert pdf.startswith(b"%PDF")
    if shutil.which("pdfinfo"):
        info = subprocess.run(["pdfinfo", str(tmp_path / f"{panel}.pdf")], capture_output=True, text=True)
        assert info.returncode == 0 and re.search(r"^Pages:\s+1$", info.stdout, re.M)


def test_the_numbers_drawn_come_from_the_chosen_epoch(project):
    """Each panel's figure at epoch k shows the analysis of epoch k's stored state dict."""
    data = _data(project)
    image, label = data.val.images[3], int(data.val.labels[3])
    options = FigureOptions(image=3, steps=8, frame_scale="per-frame")
    drawn = {}
    for epoch in (0, 3):
        [weights] = _weights(project, epoch)
        model = model_of(weights)
        x = prepare(image, data.mean, data.std)[0]
        [occlusion] = panel_figure(project, "occlusion", [weights], options)
        *_, expected = occlusion_steps(model, x, label, 7, 2)
        np.testing.assert_allclose(occlusion.values["probability"], expected[1].probability, atol=1e-6)
        [attribution] = panel_figure(project, "attribution", [weights], options)
        predicted = int(model(x[None]).argmax())
        expected = saliency(model, image[None].float() / 255.0, torch.tensor([predicted]), data.mean, data.std)
        np.testing.assert_allclose(attribution.values["saliency"], expected[0].numpy(), atol=1e-6)
        [field] = panel_figure(project, "receptive-field", [weights], FigureOptions(layer="conv2", unit=1))
        expected = effective_field(model, prepare(data.val.images[:64], data.mean, data.std), "conv2", 5, 5, 1)
        np.testing.assert_allclose(field.values["field"], expected, rtol=1e-5, atol=1e-9)
        drawn[epoch] = occlusion.values["probability"]
    assert not np.allclose(drawn[0], drawn[3])  # training changed what the figure shows


def test_apng_has_one_frame_per_stored_epoch(trained, tmp_path, capsys):
    apng = tmp_path / "maps.apng"
    assert main(["figure", str(trained), "--panel", "occlusion", "--animate", str(apng)]) == 0
    assert capsys.readouterr().out == f"wrote {apng}: 4 frames (epochs 0, 1, 2, 3)\n"
    with Image.open(apng) as im:
        assert im.format == "PNG" and getattr(im, "is_animated", False)
        assert im.n_frames == len(stored_epochs(load_project(trained), 0)) == 4
        frames = []
        for k in range(im.n_frames):
            im.seek(k)
            frames.append(im.convert("RGB").tobytes())
    assert len(set(frames)) == 4


def test_mp4_without_ffmpeg_says_what_to_install(trained, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(headless, "ffmpeg_program", lambda: None)
    assert main(["figure", str(trained), "--panel", "kernels", "--animate", str(tmp_path / "k.mp4")]) == 2
    assert capsys.readouterr().err == ("cnnplayground: writing .mp4 needs ffmpeg: install it (apt install ffmpeg, or "
                                       "pip install imageio-ffmpeg), or write .gif or .apng\n")
    assert not (tmp_path / "k.mp4").exists()


def test_mp4_is_made_by_ffmpeg_from_one_png_per_epoch(trained, tmp_path, capsys, monkeypatch):
    """A fake ffmpeg on PATH: it gets the frames as numbered PNGs and writes what it was given to its output."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "ffmpeg"
    fake.write_text('#!/bin/sh\nfor last; do :; done\npattern=""\nprev=""\nfor a; do [ "$prev" = "-i" ] && '
                    'pattern="$a"; prev="$a"; done\nls "$(dirname "$pattern")"/frame_*.png | wc -l > "$last"\n'
                    'echo "$@" >> "$last"\n')
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    mp4 = tmp_path / "kernels.mp4"
    assert main(["figure", str(trained), "--panel", "kernels", "--animate", str(mp4), "--frame-ms", "500"]) == 0
    assert capsys.readouterr().out == f"wrote {mp4}: 4 frames (epochs 0, 1, 2, 3)\n"
    count, args = mp4.read_text().splitlines()
    assert int(count) == 4
    assert "-framerate 2 " in args and "-c:v libx264 -pix_fmt yuv420p" in args


def test_one_colour_scale_across_the_frames(project):
    weights = _weights(project, 0, 1, 3)
    kernels = [snapshot_weights(project, 0, k)["layers.conv1.weight"] for k in (0, 1, 3)]
    top = max(float(w.abs().max()) for w in kernels)
    frames = panel_figure(project, "kernels", weights, FigureOptions(layer="conv1"))
    bars = [(bar.low, bar.high) for bar in (f.widget.findChild(ColorBar) for f in frames)]
    assert bars == [pytest.approx((-top, top), rel=1e-9)] * 3
    assert all(f"±{top:.3g}" in f.title for f in frames)
    own = panel_figure(project, "kernels", weights, FigureOptions(layer="conv1", frame_scale="per-frame"))
    assert [f.widget.findChild(ColorBar).high for f in own] == pytest.approx([float(w.abs().max()) for w in kernels])

    maps = panel_figure(project, "feature-maps", weights, FigureOptions(layer="conv2"))
    low = min(float(f.values["maps"].min()) for f in maps)
    high = max(float(f.values["maps"].max()) for f in maps)
    assert [(b.low, b.high) for b in (f.widget.findChild(ColorBar) for f in maps)] == [(low, high)] * 3

    occlusion = panel_figure(project, "occlusion", weights[::2])
    top_drop = max(float(f.values["drop"].max()) for f in occlusion)
    assert [f.widget._panel.drop_bar.high for f in occlusion] == [top_drop, top_drop]
    assert [f.widget._panel.drop_scale for f in occlusion] == [top_drop, top_drop]

    attribution = panel_figure(project, "attribution", weights[::2], FigureOptions(steps=8, method="saliency"))
    peak = max(float(f.values["saliency"].max()) for f in attribution)
    for f in attribution:
        panel = f.widget._panel
        assert panel.peaks["saliency"] == peak
        np.testing.assert_allclose(panel.maps["saliency"], f.values["saliency"] / peak)  # drawn on that scale
    assert min(float(f.widget._panel.maps["saliency"].max()) for f in attribution) < 1.0  # not each its own


def test_impossible_choices_get_one_line(trained, tmp_path, capsys):
    out = str(tmp_path / "x.png")
    cases = [
        (["--panel", "receptive-field", "--layer", "fc9"], "no layer with a spatial output 'fc9'; the network has "
                                                           "conv1, relu1, pool1, conv2, relu2, pool2"),
        (["--panel", "receptive-field", "--layer", "conv1", "--unit", "6"],
         "conv1 has no channel 6: it has 6 (0 to 5)"),
        (["--panel", "receptive-field", "--layer", "pool2", "--at", "5,0"],
         "pool2's output is 5×5: there is no unit at (5, 0)"),
        (["--panel", "occlusion", "--image", "99999"], "there is no validation image 99999: there are 32 (0 to 31)"),
        (["--panel", "attribution", "--class", "40"], "there is no class 40: the dataset has 10 (0 to 9)"),
        (["--panel", "attribution", "--layer", "fc1"], "no layer with feature maps for Grad-CAM 'fc1'; the network has "
                                                       "conv1, relu1, pool1, conv2, relu2, pool2"),
        (["--panel", "adversarial", "--attack", "fgsm_targeted"],
         "a targeted attack needs the class it pushes the image towards: --class C"),
        (["--panel", "max-activation", "--layer", "conv2", "--unit", "16"], "conv2 has no channel 16: it has 16 "
                                                                             "(0 to 15)"),
        (["--panel", "top-patches", "--layer", "nope"], "no layer 'nope'; the network has conv1, relu1, pool1, conv2, "
                                                        "relu2, pool2, fc3"),
        (["--panel", "kernels", "--animate", str(tmp_path / "x.webm")], "--animate writes a .gif, .apng or .mp4, not "
                                                                        "x.webm"),
    ]
    for extra, message in cases:
        assert main(["figure", str(trained), *extra, *([] if "--animate" in extra else ["--out", out])]) == 2, extra
        assert capsys.readouterr().err == f"cnnplayground: {message}\n"
    assert not (tmp_path / "x.png").exists()


def test_a_network_without_convolutions_says_so(tmp_path, capsys):
    mlp = tmp_path / "mlp.cnnp"
    assert main(["train", "--preset", "mlp", "--dataset", "synthetic", "--train-size", "64", "--test-size", "0",
                 "--epochs", "1", "--save", str(mlp)]) == 0
    capsys.readouterr()
    for panel, message in (("kernels", "this network has no convolution layer: it has no kernels to draw"),
                           ("attribution", "this network has no layer with feature maps: Grad-CAM has no layer to "
                                           "look at")):
        assert main(["figure", str(mlp), "--panel", panel, "--out", str(tmp_path / "x.png")]) == 2
        assert capsys.readouterr().err == f"cnnplayground: {message}\n"


def test_a_panel_wider_than_the_paper_column_is_drawn_wider_not_clipped(trained, tmp_path, capsys):
    """Occlusion's image, drop map and probability map side by side need more than a 3.5 in column: the figure
    is drawn as wide as its parts need (a paper then scales it to the column) and the command says so."""
    from cnnplayground.export.style import figure_style

    out = tmp_path / "occlusion.png"
    assert main(["figure", str(trained), "--panel", "occlusion", "--figure-style", "paper", "--out", str(out)]) == 0
    line = capsys.readouterr().out
    wide = re.search(r"\(drawn ([\d.]+) in wide: its parts need more than the paper style's 3\.5 in\)", line)
    assert wide, line
    paper = figure_style("paper")
    with Image.open(out) as png:
        assert png.width == pytest.approx(float(wide.group(1)) * paper.dpi, abs=2)
        assert png.width > paper.width_in * paper.dpi


def _drawn_parts(widget, style):
    """``widget`` as a figure in ``style`` is drawn (laid out in the style, one drawing made), then each shown
    child's rectangle in the figure, and the figure's size (issue 26)."""
    from PySide6.QtCore import QRect
    from PySide6.QtWidgets import QWidget

    from cnnplayground.ui.export.figures import FigureTarget, _settle_layouts, png_bytes
    from cnnplayground.ui.export.styled import styled

    with styled(widget, style) as drawn:
        _settle_layouts(widget)
        png_bytes(FigureTarget("f", widget), drawn.width(), drawn.height())
        _settle_layouts(widget)
        parts = [(child, QRect(child.mapTo(widget, child.rect().topLeft()), child.size()))
                 for child in widget.findChildren(QWidget) if child.isVisibleTo(widget)]
        yield from ((child, rect, widget.rect()) for child, rect in parts)


@pytest.mark.parametrize("style_name", ["paper", "slide"])
def test_the_receptive_field_figure_is_laid_out_for_its_width_nothing_cut(project, style_name):
    """Issue 26: the slide figure showed two bars of six and a title cut to "Theoretic" (a plot never shown
    kept the layout of its first width), the paper one was 11.5 in wide with "(click a unit)" in a heading.
    Now every part lies inside the figure, every label's text fits its box, the plot shows every layer, and
    the paper figure is the column's 3.5 in."""
    import pyqtgraph as pg
    from PySide6.QtGui import QFontMetrics
    from PySide6.QtWidgets import QLabel

    from cnnplayground.export.style import figure_style

    frames = panel_figure(project, "receptive-field", _weights(project, 3), FigureOptions(style=style_name))
    widget = frames[0].widget
    style = headless.fitting_style(widget, figure_style(style_name))
    assert style.width_in == figure_style(style_name).width_in
    plots = 0
    for child, rect, page in _drawn_parts(widget, style):
        assert page.contains(rect), (type(child).__name__, rect, page)
        if isinstance(child, QLabel) and child.text():
            assert "click" not in child.text()
            if child.wordWrap():
                assert child.heightForWidth(rect.width()) <= rect.height() + 1, child.text()
            else:
                assert child.fontMetrics().horizontalAdvance(child.text()) <= rect.width(), child.text()
        if isinstance(child, pg.PlotWidget):
            plots += 1
            item = child.getPlotItem()
            assert item.geometry().width() <= rect.width() + 1  # the plot is laid out at the width it is given
            low, high = item.viewRange()[0]
            layers = len(widget._panel.field_sizes)
            assert low <= -0.35 and high >= layers - 1 + 0.35  # every layer's bar is in view
            # The layers' names keep their descenders: the axis is a line of the tick font high (a slide's 18 pt
            # names were measured at another dpi and cut at the figure's bottom edge).
            axis = item.getAxis("bottom")
            assert axis.geometry().height() >= QFontMetrics(axis.style["tickFont"]).height()
    assert plots == 1


@pytest.mark.parametrize("style_name", ["paper", "slide"])
@pytest.mark.parametrize("panel", ["attribution", "adversarial"])
def test_no_text_is_drawn_over_an_image(project, panel, style_name):
    """Issue 26: in a paper column the lines under the attribution's images sat on the images' bottom, and the
    adversarial "Perturbation (amplified)" heading wrapped to two lines and pushed its image onto the line
    below (heights fixed before the labels' lines at their real width were known). No two shown parts (text,
    images) of the drawn figure overlap, in paper and slide."""
    from PySide6.QtWidgets import QGraphicsView

    from cnnplayground.export.style import figure_style

    options = FigureOptions(style=style_name, steps=8) if panel == "attribution" else FigureOptions(style=style_name)
    widget = panel_figure(project, panel, _weights(project, 3), options)[0].widget
    style = headless.fitting_style(widget, figure_style(style_name))
    parts = list(_drawn_parts(widget, style))
    leaves = [(child, rect) for child, rect, _page in parts
              if not isinstance(child.parentWidget(), QGraphicsView)
              and not any(other.parentWidget() is child for other, _r, _p in parts)]
    assert len(leaves) >= 6
    for i, (a, ra) in enumerate(leaves):
        for b, rb in leaves[i + 1:]:
            both = ra.intersected(rb)
            assert both.isEmpty(), (type(a).__name__, getattr(a, "text", str)(), ra, type(b).__name__,
                                    getattr(b, "text", str)(), rb)

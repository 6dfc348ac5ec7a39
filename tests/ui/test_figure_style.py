"""One figure style for every figure (issue 26): a figure takes its preset's physical size (a PDF's page, a PNG's
pixels at the dpi), is dark ink on white whatever the window's theme, and the window looks as before afterwards;
Export Figure offers the style and, for the Curves panel, a pgfplots document."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET

import pytest
from PIL import Image
from PySide6.QtCore import QSettings
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QApplication, QLabel

from cnnplayground.export.style import STYLES, figure_style
from cnnplayground.project import RunHistory
from cnnplayground.ui.export.figure_dialog import ExportFigureDialog
from cnnplayground.ui.export.figures import FigureTarget, export_figure
from cnnplayground.ui.export.headless import kernels_figure
from cnnplayground.ui.shell import theme
from cnnplayground.ui.training.runs import CurvesPanel

SVG = "{http://www.w3.org/2000/svg}"
NAMES = ("lr_0.1 & 50%", "lr 0.01")


def _runs() -> list[RunHistory]:
    return [RunHistory(name=name, settings={"steps_per_epoch": 10}, series={
        "train_loss": {"x": [1, 2, 3, 4], "y": [2.3 * f, 1.6 * f, 1.2 * f, 1.0 * f]},
        "val_loss": {"x": [1, 2, 3, 4], "y": [2.2 * f, 1.7 * f, 1.4 * f, 1.3 * f]},
        "val_accuracy": {"x": [1, 2, 3, 4], "y": [0.2 * f, 0.5 * f, 0.6 * f, 0.7 * f]},
    }) for name, f in zip(NAMES, (1.0, 0.9))]


@pytest.fixture
def curves(qtbot):
    panel = CurvesPanel()
    qtbot.addWidget(panel)
    panel.resize(1000, 420)
    panel.plots.load_history(_runs())
    panel.show()
    qtbot.waitExposed(panel)
    return panel


@pytest.fixture
def dark(qapp):
    """The window in its dark theme for the test (the scheme in use before is put back)."""
    before = theme._scheme
    theme.apply_theme(qapp, "dark")
    yield
    theme.apply_theme(qapp, before)


def _target(panel: CurvesPanel) -> FigureTarget:
    return FigureTarget("Curves", panel.figure_widget(), source=panel)


def _page_size(pdf) -> tuple[float, float]:
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    width, height = re.search(r"Page size:\s+([\d.]+) x ([\d.]+) pts", info).groups()
    return float(width), float(height)


def _opens_in_pdftoppm(pdf) -> Image.Image:
    png = subprocess.run(["pdftoppm", "-png", "-r", "40", "-singlefile", str(pdf)], capture_output=True,
                         check=True).stdout
    return Image.open(io.BytesIO(png))


@pytest.mark.skipif(shutil.which("pdfinfo") is None, reason="poppler-utils (pdfinfo, pdftoppm) is not installed")
@pytest.mark.parametrize("name", list(STYLES))
def test_a_pdf_page_and_a_png_are_the_presets_size(curves, tmp_path, name):
    style = figure_style(name)
    target = _target(curves)
    shown = curves.figure_widget().size()
    pdf = export_figure(target, tmp_path / "c.pdf", style=style)
    width, height = _page_size(pdf)
    assert abs(width - style.width_in * 72) < 0.5
    if style.height_in is not None:
        assert abs(height - style.height_in * 72) < 0.5  # a slide is 16:9
    assert _opens_in_pdftoppm(pdf).width > 0
    png = _png(export_figure(target, tmp_path / "c.png", style=style))
    assert png.width == round(style.width_in * style.dpi)
    assert abs(png.info["dpi"][0] - style.dpi) < 1
    if style.height_in is not None:
        assert png.height == round(style.height_in * style.dpi)
    png = _png(export_figure(target, tmp_path / "c2.png", dpi=100, style=style))
    assert png.width == round(style.width_in * 100)
    assert curves.figure_widget().size() == shown  # the window's panel is as it was


def _png(path) -> Image.Image:
    return Image.open(io.BytesIO(path.read_bytes()))


def _luminance(color: str) -> float:
    c = QColor(color)
    return 0.2126 * c.redF() + 0.7152 * c.greenF() + 0.0722 * c.blueF()


def _text_fills(svg: bytes) -> list[str]:
    """The fill of every text element, as inherited from its groups."""
    fills: list[str] = []

    def walk(element: ET.Element, fill: str) -> None:
        fill = element.get("fill", fill)
        if element.tag == f"{SVG}text":
            fills.append(fill)
        for child in element:
            walk(child, fill)

    walk(ET.fromstring(svg), "#000000")
    return fills


def _rendered(svg: bytes) -> Image.Image:
    cairosvg = pytest.importorskip("cairosvg")
    return Image.open(io.BytesIO(cairosvg.svg2png(bytestring=svg))).convert("RGB")


def test_a_figure_exported_in_the_dark_theme_is_dark_on_white(qtbot, dark, curves, tmp_path):
    graphics = curves.figure_widget()
    background = graphics.backgroundBrush().color().name()
    assert _luminance(background) < 0.2  # the window is dark
    svg = export_figure(_target(curves), tmp_path / "c.svg", style=figure_style("paper")).read_bytes()
    fills = _text_fills(svg)
    assert len(fills) > 10  # titles, tick labels, legend
    assert all(_luminance(f) < 0.3 for f in fills), sorted(set(fills))
    assert b"#1f1f22" not in svg and b"#2b2b2e" not in svg  # no dark theme colour is drawn
    root = ET.fromstring(svg)
    assert root.get("width") == "88.9mm"  # 3.5 in
    image = _rendered(svg)
    assert image.getpixel((2, 2)) == image.getpixel((image.width - 3, image.height - 3)) == (255, 255, 255)
    # The runs are in the style's palette, in order.
    palette = figure_style("paper").palette
    assert palette[0].lower().encode() in svg.lower() and palette[1].lower().encode() in svg.lower()
    # The panel's own plots (a target that is not a plot of runs) drawn in the style: dark on white too.
    svg = export_figure(FigureTarget("plots", graphics), tmp_path / "p.svg", style=figure_style("page")).read_bytes()
    assert all(_luminance(f) < 0.3 for f in _text_fills(svg)) and b"#1f1f22" not in svg
    assert _rendered(svg).getpixel((2, 2)) == (255, 255, 255)
    # The window looks as before.
    assert graphics.backgroundBrush().color().name() == background
    assert graphics.size() == curves.figure_widget().size()


def test_headless_kernels_figure_in_paper_and_slide(qtbot, dark, tmp_path):
    import torch

    weight = torch.linspace(-1, 1, 6 * 1 * 5 * 5).reshape(6, 1, 5, 5)
    for name in ("paper", "slide"):
        style = figure_style(name)
        widget = kernels_figure(weight, "conv1: 6 filters of 1×5×5", style=style)
        qtbot.addWidget(widget)
        title = widget.findChild(QLabel)
        assert title.font().pointSizeF() == style.font_size and title.font().family() == style.font_family
        svg = export_figure(FigureTarget("k", widget), tmp_path / f"k_{name}.svg", style=style).read_bytes()
        assert all(_luminance(f) < 0.3 for f in _text_fills(svg))
        assert _rendered(svg).getpixel((1, 1)) == (255, 255, 255)
        png = _png(export_figure(FigureTarget("k", widget), tmp_path / f"k_{name}.png", style=style))
        assert png.width == round(style.width_in * style.dpi)


@pytest.fixture
def fresh_figure_settings():
    """Export Figure's remembered choices start empty and are forgotten after the test."""
    QSettings().remove("figures")
    yield
    QSettings().remove("figures")


def test_export_figure_offers_the_style_and_pgfplots_for_the_curves(qtbot, curves, tmp_path, monkeypatch,
                                                                    fresh_figure_settings):
    network = QLabel("network")
    qtbot.addWidget(network)
    targets = [FigureTarget("Network", network), _target(curves)]
    dialog = ExportFigureDialog(targets, "Curves")
    qtbot.addWidget(dialog)
    assert [dialog.preset.itemText(i) for i in range(3)] == ["Paper column", "Full page", "Slide 16:9"]
    formats = [dialog.format.itemData(i) for i in range(dialog.format.count())]
    assert formats == ["png", "svg", "pdf", "csv", "tex"]
    dialog.preset.setCurrentIndex(dialog.preset.findData("slide"))
    dialog.format.setCurrentIndex(dialog.format.findData("png"))
    assert (dialog.width_px.value(), dialog.height_px.value()) == (2000, 1125)  # 13.33 × 7.5 in at 150 dpi
    dialog.format.setCurrentIndex(dialog.format.findData("pdf"))
    monkeypatch.setattr(ExportFigureDialog, "choose_path", lambda self, *a: str(tmp_path / "curves.pdf"))
    dialog.export()
    assert dialog.written == tmp_path / "curves.pdf", dialog.note.text()
    if shutil.which("pdfinfo"):
        assert abs(_page_size(dialog.written)[0] - 13.33 * 72) < 0.5

    again = ExportFigureDialog(targets, "Curves")  # the choices are remembered
    qtbot.addWidget(again)
    assert again.preset.currentData() == "slide" and again.format.currentData() == "pdf"
    again.format.setCurrentIndex(again.format.findData("tex"))
    again.tex_data.setCurrentIndex(again.tex_data.findData("csv"))
    monkeypatch.setattr(ExportFigureDialog, "choose_path", lambda self, *a: str(tmp_path / "curves.tex"))
    again.export()
    tex = (tmp_path / "curves.tex").read_text()
    # 2 runs × loss (validation and training), 2 runs × accuracy (validation only: no training accuracy stored)
    assert tex.count(r"\addplot") == 6 and (tmp_path / "curves.csv").exists()
    assert tex.count(r"\addlegendentry{lr\_0.1 \& 50\% (training)}") == 1 and tex.count("dashed") == 2
    assert tex.count(r"\addlegendentry{lr\_0.1 \& 50\%}") == 1 and r"width=" in tex

    network_first = ExportFigureDialog(targets, "Network")  # no runs: no pgfplots
    qtbot.addWidget(network_first)
    assert network_first.format.findData("tex") == -1
    QApplication.processEvents()


def test_no_splitter_grip_on_the_page_and_the_window_keeps_it(qtbot):
    """The Results figure (matrix above per-class bars) sits in a splitter: its dotted grip is window furniture,
    hidden while the figure is drawn and back afterwards."""
    from PySide6.QtWidgets import QSplitter, QVBoxLayout, QWidget

    from cnnplayground.ui.export.styled import styled

    frame = QWidget()
    qtbot.addWidget(frame)
    split = QSplitter(frame)
    split.addWidget(QLabel("matrix"))
    split.addWidget(QLabel("bars"))
    QVBoxLayout(frame).addWidget(split)
    frame.show()
    qtbot.waitExposed(frame)
    assert not split.handle(1).isHidden()
    with styled(frame, figure_style("paper")):
        assert split.handle(1).isHidden()
    assert not split.handle(1).isHidden()

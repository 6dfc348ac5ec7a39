"""File → Export Diagram and the Qt rendering of diagrams: a PDF page of the diagram's size that pdfinfo and
pdftoppm read, a PNG at the asked DPI, and a dialog whose preview follows its options and whose Save as…
writes the format of the file name's extension."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
from PySide6.QtGui import QImage

from cnnplayground.core.presets import get_preset
from cnnplayground.export.diagram.flow import flow_scene
from cnnplayground.export.diagram.scene import DiagramOptions
from cnnplayground.export.style import figure_style
from cnnplayground.project import Project
from cnnplayground.ui.export.diagram_dialog import ExportDiagramDialog
from cnnplayground.ui.export.diagram_render import diagram_pdf, diagram_png


def _scene():
    return flow_scene(get_preset("lenet5").factory(), DiagramOptions(), figure_style("paper"))


def test_pdf_is_one_page_of_the_diagrams_size_that_poppler_reads_and_renders(qapp, tmp_path):
    scene = _scene()
    pdf = tmp_path / "d.pdf"
    pdf.write_bytes(diagram_pdf(scene, "LeNet-5"))
    assert pdf.read_bytes().startswith(b"%PDF")
    if shutil.which("pdfinfo") is None or shutil.which("pdftoppm") is None:
        pytest.skip("pdfinfo/pdftoppm (poppler-utils) are not installed: the PDF is not read by a second tool")
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    assert re.search(r"Pages:\s+1\b", info) and "LeNet-5" in info
    w, h = map(float, re.search(r"Page size:\s+([\d.]+) x ([\d.]+) pts", info).groups())
    assert abs(w - scene.width) < 1 and abs(h - scene.height) < 1
    subprocess.run(["pdftoppm", "-png", "-r", "72", "-singlefile", str(pdf), str(tmp_path / "page")], check=True)
    page = QImage(str(tmp_path / "page.png"))
    assert abs(page.width() - scene.width) <= 2 and abs(page.height() - scene.height) <= 2
    dark = sum(page.pixelColor(x, y).lightness() < 100 for x in range(0, page.width(), 2)
               for y in range(0, page.height(), 2))
    assert dark > 200  # the boxes' borders, arrows and text are drawn
    fonts = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True).stdout \
        if shutil.which("pdffonts") else "DejaVu"
    assert "DejaVu" in fonts or "Type" in fonts  # text stays text


def test_png_is_drawn_at_the_asked_resolution(qapp):
    scene = _scene()
    image = QImage.fromData(diagram_png(scene, dpi=144))
    assert (image.width(), image.height()) == (round(scene.width * 2), round(scene.height * 2))
    assert round(image.dotsPerMeterX() * 0.0254) == 144
    corner = image.pixelColor(0, 0)
    assert (corner.red(), corner.green(), corner.blue()) == (255, 255, 255)


def test_dialog_preview_follows_the_options_and_save_writes_by_extension(qtbot, tmp_path, monkeypatch):
    dialog = ExportDiagramDialog(get_preset("resnet18").factory(), "resnet")
    qtbot.addWidget(dialog)
    # ResNet-18 in a paper column runs down it (across, rows of one or two boxes made it 7.8 in tall), and per
    # layer down the column it would be 14 in wide: one box per block to begin with, and why
    assert dialog.orientation.currentData() == "vertical" and not dialog.orientation_chosen
    assert dialog.blocks.isChecked() and "14 in wide" in dialog.blocks.toolTip()
    dialog.figure_style.setCurrentIndex(dialog.figure_style.findData("slide"))
    assert dialog.orientation.currentData() == "horizontal"  # across a slide, until the user picks one
    dialog.figure_style.setCurrentIndex(dialog.figure_style.findData("paper"))
    dialog.orientation.setCurrentIndex(dialog.orientation.findData("horizontal"))
    dialog.orientation_chosen = True  # as the combo's activated() sets it when the user picks
    dialog.blocks.setChecked(False)
    first = dialog.preview.pixmap().size()
    assert first.width() > 100 and first.height() > 100
    dialog.blocks.setChecked(True)
    assert dialog.preview.pixmap().size().height() < first.height()  # 16 boxes instead of 70
    dialog.orientation.setCurrentIndex(dialog.orientation.findData("vertical"))
    vertical = dialog.preview.pixmap().size()
    assert vertical != first
    dialog.labels["params"].setChecked(True)
    assert any(getattr(i, "text", "").endswith("params") for i in dialog.scene.items)
    for suffix, magic in ((".pdf", b"%PDF"), (".png", b"\x89PNG"), (".svg", b"<?xml"), (".tex", b"% An")):
        path = tmp_path / f"net{suffix}"
        monkeypatch.setattr(dialog, "choose_path", lambda suggested, p=path: str(p))
        dialog.export()
        assert dialog.written == path and path.read_bytes().startswith(magic)
        dialog.setResult(0)
    # a name without a known extension is written as SVG
    monkeypatch.setattr(dialog, "choose_path", lambda suggested: str(tmp_path / "plain"))
    dialog.export()
    assert dialog.written == tmp_path / "plain.svg" and dialog.written.exists()


def test_block_style_missing_is_said_in_the_dialog(qtbot):
    dialog = ExportDiagramDialog(get_preset("lenet5").factory())
    qtbot.addWidget(dialog)
    dialog.style.setCurrentIndex(dialog.style.findData("block"))
    try:
        import cnnplayground.export.diagram.block  # noqa: F401
    except ImportError:
        assert not dialog.save_button.isEnabled() and "block style" in dialog.note.text()
    else:
        assert dialog.save_button.isEnabled()
    dialog.style.setCurrentIndex(dialog.style.findData("flow"))
    assert dialog.save_button.isEnabled()


def test_file_menu_opens_the_dialog_on_the_canvas_network(qtbot, window):  # noqa: F811
    window.document.new(Project.new(graph=get_preset("alexnet").factory(), name="alex"))
    assert window.acts.export_diagram in window.menus["File"].actions()
    window.acts.export_diagram.trigger()
    dialog = window.open_dialogs.get("diagram")
    assert isinstance(dialog, ExportDiagramDialog)
    assert set(dialog.graph.nodes) == set(window.document.project.graph.nodes)
    assert "conv1" in {getattr(i, "text", None) for i in dialog.scene.items}


def test_an_empty_canvas_says_so_instead_of_a_preview(qtbot):
    from cnnplayground.core.graph import Graph

    dialog = ExportDiagramDialog(Graph())
    qtbot.addWidget(dialog)
    assert "no layers" in dialog.note.text() and not dialog.save_button.isEnabled()


def test_dialog_starts_per_layer_for_a_short_network(qtbot):
    dialog = ExportDiagramDialog(get_preset("lenet5").factory(), "lenet")
    qtbot.addWidget(dialog)
    assert not dialog.blocks.isChecked() and "begin" not in dialog.blocks.toolTip()

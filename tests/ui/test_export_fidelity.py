"""Exported figures opened in a second tool: the network never clips, a panel exports its figure only,
SVGs draw the same in cairosvg as in Qt, PDFs the same in poppler, CSV numbers read back as shown."""

from __future__ import annotations

import csv
import io
import shutil
import subprocess

import numpy as np
import pyqtgraph as pg
import pytest
from PIL import Image
from PySide6.QtCore import QPoint, QRect, Qt
from PySide6.QtGui import QFontMetricsF, QImage
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QLineEdit,
    QSlider,
)

from cnnplayground.core.presets import get_preset
from cnnplayground.project import Project
from cnnplayground.ui.document.document import Document
from cnnplayground.ui.editor.canvas.items import NodeItem
from cnnplayground.ui.editor.canvas.view import CanvasView
from cnnplayground.ui.export.figure_dialog import front_panel
from cnnplayground.ui.export.figures import (
    FigureTarget,
    csv_text,
    default_png_size,
    export_figure,
    pdf_bytes,
    png_bytes,
    svg_bytes,
)

from .test_figures import trained_window  # noqa: F401 - a window that trained LeNet-5 for one epoch
from .test_inspect_panels import open_project, trained_lenet

#: The resolutions the figure dialog's spin box spans, ends and common values.
DPIS = (36, 72, 144, 300, 600, 1200)


def _grey(data: bytes | Image.Image, size: tuple[int, int] | None = None) -> np.ndarray:
    """An image as greyscale floats in [0, 1], optionally resized (area average) to ``size``."""
    image = data if isinstance(data, Image.Image) else Image.open(io.BytesIO(data))
    image = image.convert("RGBA")
    flat = Image.new("RGBA", image.size, (255, 255, 255, 255))  # transparent parts on white, as a viewer shows
    image = Image.alpha_composite(flat, image).convert("L")
    if size is not None and image.size != size:
        image = image.resize(size, Image.Resampling.BOX)
    return np.asarray(image, dtype=np.float64) / 255.0


def _border_is_background(image: QImage) -> bool:
    pixels = _grey(Image.open(io.BytesIO(_png(image))))
    background = pixels[0, 0]
    edges = np.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]])
    return bool(np.all(np.abs(edges - background) < 1 / 255))


def _png(image: QImage) -> bytes:
    from PySide6.QtCore import QBuffer, QByteArray, QIODevice

    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")
    return bytes(data.data())


@pytest.fixture
def network(qtbot):
    """A canvas on a document; ``load(preset)`` opens a preset in it and returns the network's figure target."""
    document = Document(Project.new(name="t"))
    view = CanvasView(document)
    qtbot.addWidget(view)
    view.resize(900, 700)
    view.show()

    def load(name: str) -> FigureTarget:
        document.new(Project.new(graph=get_preset(name).factory(), name=name))
        QApplication.processEvents()
        return FigureTarget("Network", view, scene_view=view)

    return load


@pytest.mark.parametrize("preset", ["lenet5", "resnet20_cifar"])
def test_the_network_png_never_clips_at_any_dpi_or_scale(network, monkeypatch, preset):
    target = network(preset)
    drawn: list[tuple[str, float, float]] = []
    real = NodeItem._draw_elided

    def record(painter, rect, text, align):
        shown = QFontMetricsF(painter.font()).elidedText(text, pg.QtCore.Qt.TextElideMode.ElideRight, rect.width())
        # The width the text takes on the device it is drawn on (the PNG), against the box it must fit.
        drawn.append((shown, QFontMetricsF(painter.font(), painter.device()).horizontalAdvance(shown), rect.width()))
        real(painter, rect, text, align)

    monkeypatch.setattr(NodeItem, "_draw_elided", staticmethod(record))
    natural = target.size()
    default = default_png_size(target)
    assert max(default.width(), default.height()) <= 16_384
    pixels_by_scale = {}
    for dpi in DPIS:
        for width in ({natural.width(), default.width()} if dpi in (72, 600) else {default.width()}):
            drawn.clear()
            data = png_bytes(target, width=width, dpi=dpi)
            image = QImage.fromData(data)
            assert round(image.dotsPerMeterX() * 0.0254) == dpi
            assert _border_is_background(image), (preset, dpi, width)  # nothing touches the edge
            assert drawn, "no node text was drawn"
            overflow = [(text, round(w, 1), round(box, 1)) for text, w, box in drawn if w > box + 0.5]
            assert not overflow, (dpi, width, overflow[:3])  # every node's text fits its box
            grey = _grey(data)
            if width in pixels_by_scale:  # the dpi is the print size only: the same pixels at any dpi
                assert np.abs(grey - pixels_by_scale[width]).mean() < 1e-3, (dpi, width)
            pixels_by_scale[width] = grey
    # Drawn at twice the size, the network is the 1:1 drawing, sharper: text does not grow with the scale.
    if default.width() != natural.width():
        small = pixels_by_scale[natural.width()]
        large = _grey(Image.fromarray((pixels_by_scale[default.width()] * 255).astype(np.uint8)),
                      (small.shape[1], small.shape[0]))
        assert np.abs(large - small).mean() < 0.02


def test_the_network_keeps_a_margin_around_edge_labels(network):
    target = network("lenet5")
    items = target.scene_view.scene().itemsBoundingRect()
    shown = target.scene_rect()
    assert shown.contains(items) and shown.width() >= items.width() + 2 * 16


def _controls(widget) -> list:
    """The visible input controls inside ``widget`` (a table's corner button is part of the table)."""
    found = []
    for kind in (QAbstractButton, QComboBox, QAbstractSpinBox, QSlider, QLineEdit):
        for child in widget.findChildren(kind):
            inside_table = isinstance(child.parent(), QAbstractItemView) or any(
                isinstance(p, QAbstractItemView) for p in _ancestors(child, widget))
            if child.isVisibleTo(widget) and not inside_table:
                found.append(child)
    return found


def _ancestors(child, top):
    parent = child.parentWidget()
    while parent is not None and parent is not top:
        yield parent
        parent = parent.parentWidget()


def test_every_figure_panel_exports_its_figure_not_its_controls(qtbot, window):  # noqa: F811
    _, weights = trained_lenet()
    open_project(window, weights)
    for dock in window.figure_docks():
        dock.show()
    qtbot.waitUntil(lambda: window.model_source.data is not None, timeout=30_000)
    targets = {t.name: t for t in window.figure_targets()}
    panels = {window.panel_dock(spec.key): window.panel(spec.key) for spec in window.panel_specs}
    for dock in window.figure_docks():
        panel = panels[dock]  # the panel itself (its dock holds it in a scroll area)
        assert hasattr(panel, "figure_widget"), f"{dock.windowTitle()} names no figure part"
        target = targets[dock.windowTitle()]
        assert target.widget is panel.figure_widget() and target.widget is not panel, dock.windowTitle()
        assert panel.isAncestorOf(target.widget)
        assert not _controls(target.widget), (dock.windowTitle(), _controls(target.widget))
        size = target.widget.size()
        assert size.width() < panel.width() or size.height() < panel.height(), dock.windowTitle()
        image = QImage.fromData(png_bytes(target))
        assert (image.width(), image.height()) == (size.width() * 2, size.height() * 2), dock.windowTitle()


def _cairo_png(svg: bytes, width: int, height: int) -> bytes:
    """``svg`` drawn by a renderer other than Qt: cairosvg (the test extra), else ``rsvg-convert``."""
    try:
        import cairosvg
    except (ImportError, OSError):  # OSError: cairocffi without the system's cairo library
        cairosvg = None
    if cairosvg is not None:
        return cairosvg.svg2png(bytestring=svg, output_width=width, output_height=height)
    if shutil.which("rsvg-convert"):
        return subprocess.run(["rsvg-convert", "-w", str(width), "-h", str(height)], input=svg,
                              capture_output=True, check=True).stdout
    pytest.skip("neither cairosvg (pip install -e '.[test]', needs libcairo2) nor rsvg-convert is installed")


def _dark(grey: np.ndarray) -> float:
    return float((grey < 0.35).mean())


def _same_drawing(name: str, qt_png: bytes, other_png: bytes) -> None:
    """Two renderings of one figure agree: small mean difference of downscaled greyscale images, and no
    blobs (the share of dark pixels is about the same: a stroke drawn 1000× wide covers the background)."""
    qt = _grey(qt_png)
    size = (qt.shape[1] // 2, qt.shape[0] // 2)
    a, b = _grey(qt_png, size), _grey(other_png, size)
    assert np.abs(a - b).mean() < 0.06, (name, np.abs(a - b).mean())
    assert abs(_dark(b) - _dark(a)) <= _dark(a) * 0.5 + 0.01, (name, _dark(a), _dark(b))


def test_every_svg_draws_the_same_in_cairosvg_as_in_qt(qtbot, trained_window):  # noqa: F811
    w = trained_window
    for dock in w.figure_docks():
        dock.show()
    qtbot.waitUntil(lambda: w.model_source.data is not None, timeout=30_000)
    w.curves_dock.raise_()
    qtbot.waitUntil(w.curves.plots.isVisible)
    checked = []
    for target in w.figure_targets():
        if not target.widget.isVisible() and target.scene_view is None:
            continue  # a panel tabbed behind another has no on-screen size to compare
        size = target.size()
        svg = svg_bytes(target)
        assert b"non-scaling-stroke" not in svg, target.name  # plain coordinates and stroke widths
        qt = png_bytes(target, size.width(), size.height())
        _same_drawing(target.name, qt, _cairo_png(svg, size.width(), size.height()))
        checked.append(target.name)
    assert {"Network", "Curves"} <= set(checked)


def test_a_plot_svg_has_plain_strokes_in_another_renderer(qtbot):
    """A plot whose axis scales data 1000× (an accuracy from 0 to 1): Qt writes its curve as a hairline under
    that scale; cairosvg must draw the same thin line, not a 1000×-wide blob."""
    plot = pg.PlotWidget()
    qtbot.addWidget(plot)
    plot.resize(500, 320)
    x = np.arange(1, 21)
    plot.plot(x, 0.9 - 0.4 * np.exp(-x / 4), pen=pg.mkPen("#1f6fb4", width=2), name="validation")
    plot.plot(x, 0.95 - 0.5 * np.exp(-x / 3), pen=pg.mkPen("#d9480f", width=1), name="training")
    plot.show()
    qtbot.waitExposed(plot)
    target = FigureTarget("Accuracy", plot)
    svg = svg_bytes(target)
    assert b"vector-effect=\"non-scaling-stroke\"" not in svg
    _same_drawing("plot", png_bytes(target, 500, 320), _cairo_png(svg, 500, 320))


def test_every_format_opens_in_a_second_tool(qtbot, network, tmp_path):
    target = network("lenet5")
    size = target.size()
    png = export_figure(target, tmp_path / "n.png").read_bytes()
    with Image.open(io.BytesIO(png)) as image:  # Pillow reads what QImage wrote
        assert image.size == (default_png_size(target).width(), default_png_size(target).height())
        assert round(image.info["dpi"][0]) == 144
    svg = export_figure(target, tmp_path / "n.svg").read_bytes()
    _same_drawing("svg", png_bytes(target, size.width(), size.height()), _cairo_png(svg, size.width(),
                                                                                    size.height()))
    pdf = export_figure(target, tmp_path / "n.pdf")
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm (poppler-utils) is not installed: the PDF is not rendered by a second tool")
    subprocess.run(["pdftoppm", "-png", "-r", "96", "-singlefile", str(pdf), str(tmp_path / "pdf")], check=True)
    rendered = (tmp_path / "pdf.png").read_bytes()
    with Image.open(io.BytesIO(rendered)) as page:
        assert abs(page.size[0] - size.width()) <= 2 and abs(page.size[1] - size.height()) <= 2
        page = page.resize((size.width(), size.height()))
        out = io.BytesIO()
        page.save(out, "PNG")
    _same_drawing("pdf", png_bytes(target, size.width(), size.height()), out.getvalue())
    assert pdf_bytes(target).startswith(b"%PDF-")


def test_csv_writes_the_numbers_as_shown(qtbot, tmp_path):
    plot = pg.PlotWidget(title="Accuracy")
    qtbot.addWidget(plot)
    plot.plot([1.0, 2.0], [0.338 * 100, 0.5 * 100], name="validation (%)")  # 33.800000000000004 in float64
    plot.plot(np.array([1, 2], np.float32), np.array([0.338, 0.1], np.float32), name="share")
    plot.show()
    target = FigureTarget("Accuracy", plot)
    text = export_figure(target, tmp_path / "a.csv").read_text()
    assert "validation (%),1.0,33.8\n" in text and "33.800000000000004" not in text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["y"] for r in rows] == ["33.8", "50.0", "0.338", "0.1"]
    assert [r["x"] for r in rows] == ["1.0", "2.0", "1.0", "2.0"]
    assert [float(r["y"]) for r in rows[:2]] == [33.8, 50.0]
    assert np.float32(float(rows[2]["y"])) == np.float32(0.338)  # the float32 read back exactly
    assert csv_text(target) == text


@pytest.mark.qt_log_ignore("This plugin does not support raise")  # offscreen: a floating dock
def test_the_figure_dialog_opens_on_the_panel_in_front(qtbot, window):  # noqa: F811
    _, weights = trained_lenet()
    open_project(window, weights)
    for dock in window.figure_docks():
        dock.hide()
    dialog = window.export_figure()
    assert dialog.current.name == "Network"  # nothing else in front
    dialog.close()
    window.acts.show_kernels.trigger()
    window.kernels_dock.raise_()
    qtbot.waitUntil(window.kernels_dock.isVisible)
    window.canvas.setFocus()
    dialog = window.export_figure()
    assert dialog.current.name == "Kernels"
    dialog.close()
    window.kernels_dock.hide()
    window.acts.show_occlusion.trigger()
    window.occlusion_dock.raise_()
    qtbot.waitUntil(window.occlusion_dock.isVisible)
    dialog = window.export_figure()
    assert dialog.current.name == "Occlusion"
    dialog.close()
    window.acts.show_kernels.trigger()  # two panels on screen: the one holding the keyboard focus is in front
    # Kernels moves to the left: both panels are on screen (Occlusion in front in its own area again).
    window.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, window.kernels_dock)
    window.occlusion_dock.raise_()
    qtbot.waitUntil(lambda: window.kernels_dock.isVisible() and window.occlusion_dock.isVisible())
    docks = [window.occlusion_dock, window.kernels_dock]
    panels = {window.occlusion_dock: window.occlusion, window.kernels_dock: window.kernels}
    qtbot.waitUntil(lambda: not any(dock.visibleRegion().isEmpty() for dock in docks))
    for dock in docks:
        assert front_panel(docks, panels[dock].figure_widget()) == dock.windowTitle()
    assert front_panel(docks, window.canvas) in ("Occlusion", "Kernels")  # focus elsewhere: the larger one


def test_a_tall_network_exports_and_goes_into_a_report(qtbot, tmp_path):
    from cnnplayground.core.graph import Graph
    from cnnplayground.ui.export.report import export_report

    graph = Graph()
    graph.add_node("Input", {"channels": 1, "height": 28, "width": 28}, id="input", position=(0, 0))
    last = "input"
    for i in range(1, 80):  # a chain 80 layers long: 9,600 px
        graph.add_node("ReLU", id=f"relu{i}", position=(0, 120 * i))
        graph.connect(last, f"relu{i}")
        last = f"relu{i}"
    project = Project.new(graph=graph, name="tall")
    view = CanvasView(Document(project))
    qtbot.addWidget(view)
    target = FigureTarget("Network", view, scene_view=view)
    assert target.size().height() * 2 > 16_384  # twice its size would not fit a PNG
    image = QImage.fromData(png_bytes(target))
    assert image.height() <= 16_384 and _border_is_background(image)
    path = export_report(project, [target], tmp_path / "r.html")
    assert path.read_text(encoding="utf-8").count("data:image/png;base64,") == 1


def test_the_kernels_figure_has_no_selection_frame(qtbot, window):  # noqa: F811
    """The frame around the filter picked in the window is not part of the exported figure."""
    _, weights = trained_lenet()
    open_project(window, weights)
    window.acts.show_kernels.trigger()
    grid = window.kernels.grid
    qtbot.waitUntil(lambda: len(grid.images) == 6, timeout=10_000)
    target = FigureTarget("Kernels", grid)
    grid.selected = None
    plain = QImage.fromData(png_bytes(target, dpi=96))
    grid.selected = 4
    picked = QImage.fromData(png_bytes(target, dpi=96))
    assert grid.selected == 4  # the window keeps its selection
    assert _png(picked) == _png(plain)
    grid.repaint()  # and the window still draws it: a grab differs where the frame is
    assert grid.grab().toImage() != _grab_without_selection(grid)


def _grab_without_selection(grid) -> QImage:
    selected, grid.selected = grid.selected, None
    try:
        return grid.grab().toImage()
    finally:
        grid.selected = selected


def test_the_adversarial_images_are_a_figure_of_their_own(qtbot, window):  # noqa: F811
    """Export Figure offers the original, the amplified perturbation and the adversarial image, without
    the controls around them."""
    _, weights = trained_lenet()
    open_project(window, weights)
    window.acts.show_adversarial.trigger()
    panel = window.panel("adversarial")
    qtbot.waitUntil(lambda: panel.adversarial is not None and not panel.busy, timeout=60_000)
    targets = {t.name: t for t in window.figure_targets()}
    row = targets["Adversarial images"].widget
    assert row is panel.images_row and not _controls(row)
    views = (panel.original_view, panel.perturbation_view, panel.adversarial_view)
    assert all(row.isAncestorOf(view) for view in views)
    image = QImage.fromData(png_bytes(targets["Adversarial images"]))
    scale = image.width() / row.width()
    assert image.height() == round(row.height() * scale)
    for view in views:  # each of the three images is in the figure, where the panel shows it
        box = QRect(view.mapTo(row, QPoint(0, 0)) * scale, view.size() * scale)
        part = _grey(_png(image.copy(box)))
        assert part.std() > 0.02, view
    assert "Adversarial" in targets  # the panel's own figure is still offered

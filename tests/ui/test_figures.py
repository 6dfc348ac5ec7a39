"""Figure export: panels to PNG, SVG and PDF (parsed back), plot data to CSV, from the menu and right-click."""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET

import pytest
from PySide6.QtGui import QImage

from cnnplayground.ui.export.figure_dialog import ExportFigureDialog
from cnnplayground.ui.export.figures import FigureError, csv_text, export_figure, pdf_bytes, png_bytes, svg_bytes

from .test_inspect_panels import open_project, trained_lenet

SVG = "{http://www.w3.org/2000/svg}"


def _svg(data: bytes) -> ET.Element:
    root = ET.fromstring(data)
    assert root.tag == f"{SVG}svg"
    return root


def _texts(root: ET.Element) -> str:
    return " ".join("".join(e.itertext()) for e in root.iter(f"{SVG}text"))


def _vectors(root: ET.Element) -> int:
    return sum(len(root.findall(f".//{SVG}{tag}")) for tag in ("path", "polyline", "polygon", "rect"))


def _check_pdf(data: bytes) -> None:
    assert data.startswith(b"%PDF-") and b"/Type /Page" in data and data.rstrip().endswith(b"%%EOF")


@pytest.fixture
def trained_window(qtbot, window):  # noqa: F811
    _, weights = trained_lenet()
    open_project(window, weights, epochs=1)
    with qtbot.waitSignal(window.training.run_ended, timeout=120_000):
        window.acts.train.trigger()
    qtbot.waitUntil(lambda: window.curves.plots.run_count == 1, timeout=30_000)
    return window


def _target(w, name):
    return next(t for t in w.figure_targets() if t.name == name)


def test_curves_export_as_vector_bitmap_and_data(qtbot, trained_window):
    w = trained_window
    w.curves_dock.show()
    w.curves_dock.raise_()
    qtbot.waitUntil(w.curves.plots.isVisible)
    target = _target(w, "Curves")
    assert target.widget is w.curves.plots.graphics  # the plots, not the runs table or the buttons

    image = QImage.fromData(png_bytes(target, 1200, 700, dpi=300))
    assert (image.width(), image.height()) == (1200, 700)
    assert round(image.dotsPerMeterX() * 0.0254) == 300
    # Drawn, not one flat colour (three rows: one of them may fall between two rows of plots).
    assert len({image.pixel(x, y) for x in range(0, 1200, 3) for y in (175, 350, 525)}) > 3

    root = _svg(svg_bytes(target))
    assert "loss" in _texts(root).lower() and "accuracy" in _texts(root).lower()
    assert _vectors(root) > 20 and not root.findall(f".//{SVG}image")  # curves and axes as vectors, no bitmap
    _check_pdf(pdf_bytes(target))

    rows = list(csv.DictReader(io.StringIO(csv_text(target))))
    assert {"plot", "series", "x", "y"} <= set(rows[0])
    val = [float(r["y"]) for r in rows if r["plot"] == "Accuracy" and r["series"] == "run 1: validation"]
    assert val and max(val) == pytest.approx(w.curves.plots.run_metrics(0)["best_val_accuracy"], rel=1e-6)


def test_network_and_image_panels_export_in_every_format(qtbot, trained_window, tmp_path):
    w = trained_window
    w.acts.show_kernels.trigger()
    qtbot.waitUntil(lambda: len(w.kernels.grid.images) == 6, timeout=30_000)
    w.acts.show_attribution.trigger()
    qtbot.waitUntil(lambda: "ig" in w.attribution.maps, timeout=60_000)

    network = _target(w, "Network")
    root = _svg(svg_bytes(network))
    text = _texts(root)
    assert all(node in text for node in ("conv1", "conv2", "fc3"))  # every layer's label, as text
    kernels = _target(w, "Kernels")
    assert kernels.widget is w.kernels.grid
    assert len(_svg(svg_bytes(kernels)).findall(f".//{SVG}image")) >= 6  # the six filters, as images
    for target in (network, kernels, _target(w, "Attribution")):
        for fmt in ("png", "svg", "pdf"):
            path = export_figure(target, tmp_path / f"{target.name}.{fmt}")
            data = path.read_bytes()
            if fmt == "png":
                image = QImage.fromData(data)
                size = target.size()
                assert (image.width(), image.height()) == (size.width() * 2, size.height() * 2)
            elif fmt == "svg":
                _svg(data)
            else:
                _check_pdf(data)
    with pytest.raises(FigureError, match="no plotted data"):
        csv_text(kernels)
    with pytest.raises(FigureError, match="between 1 and"):
        png_bytes(kernels, 100_000, 10)


def test_export_figure_dialog_and_right_click(qtbot, trained_window, tmp_path, monkeypatch):
    w = trained_window
    w.curves_dock.show()
    chosen: list[str] = []

    def choose(self, suggested, file_filter):
        chosen.append(suggested)
        return str(tmp_path / "curves")  # no suffix typed: the format's is added

    monkeypatch.setattr(ExportFigureDialog, "choose_path", choose)
    dialog = w.export_figure("Curves")
    assert dialog.current.name == "Curves"
    names = [dialog.target.itemText(i) for i in range(dialog.target.count())]
    assert names[0] == "Network" and "Curves" in names and "Max Activation" not in names  # only open panels
    dialog.format.setCurrentIndex(dialog.format.findData("svg"))
    assert not dialog.width_px.isEnabled()  # a size is for PNG only
    dialog.export()
    assert dialog.written == tmp_path / "curves.svg" and chosen[0].endswith("curves.svg")
    _svg(dialog.written.read_bytes())

    # Right-click: the panel's context menu and pyqtgraph's own Export… entry both lead to this dialog.
    panel_actions = [a.text() for a in w.curves.actions()]
    assert "Export Figure…" in panel_actions
    entry = w.curves.plots._graphics.scene().contextMenu[0]
    assert entry.text() == "Export Figure…"
    entry.trigger()
    assert w.open_dialogs.get("figure").current.name == "Curves"
    w.open_dialogs.get("figure").close()


def test_every_panel_exports_in_every_format(qtbot, window, tmp_path):  # noqa: F811
    _, weights = trained_lenet()
    open_project(window, weights)
    for dock in window.figure_docks():
        dock.show()
    qtbot.waitUntil(lambda: window.model_source.data is not None, timeout=30_000)
    targets = window.figure_targets()
    names = ["Network"] + [d.windowTitle() for d in window.figure_docks()]
    names.insert(names.index("Adversarial") + 1, "Adversarial images")  # a second figure of that panel
    assert [t.name for t in targets] == names
    with_plots = set()
    for target in targets:
        for fmt in ("png", "svg", "pdf"):
            data = export_figure(target, tmp_path / f"{target.name}.{fmt}").read_bytes()
            if fmt == "png":
                assert not QImage.fromData(data).isNull(), target.name
            elif fmt == "svg":
                assert _vectors(_svg(data)) > 0 or _svg(data).findall(f".//{SVG}image"), target.name
            else:
                _check_pdf(data)
        if target.plots():
            with_plots.add(target.name)
            if _has_points(target):  # a plot still empty (no sweep run yet) has nothing to write
                rows = export_figure(target, tmp_path / f"{target.name}.csv").read_text().splitlines()
                assert rows[0] == "plot,series,x,y" and len(rows) > 1
    assert {"Curves", "Receptive Fields", "Adversarial", "Max Activation"} <= with_plots


def _has_points(target) -> bool:
    try:
        csv_text(target)
    except FigureError:
        return False
    return True


def test_report_is_one_html_page_with_the_architecture_runs_and_a_figure_per_open_panel(qtbot, trained_window,
                                                                                        tmp_path, monkeypatch):
    w = trained_window
    w.curves_dock.show()
    w.kernels_dock.show()
    monkeypatch.setattr(w, "choose_report_path", lambda suggested: str(tmp_path / "report"))
    path = w.export_report()
    assert path == tmp_path / "report.html"
    text = path.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and text.rstrip().endswith("</html>")
    for layer in ("conv1", "pool2", "fc3"):
        assert f"<td>{layer}</td>" in text
    assert "61,706 parameters" in text  # LeNet-5
    run = w.document.project.history[-1]
    assert f"{run.series['val_accuracy'].y[-1]:.2%}" in text  # the run's last validation accuracy
    figures = text.count("<figure>")
    assert figures == len(w.figure_targets()) and text.count("data:image/png;base64,") == figures
    for name in ("Network", "Curves", "Kernels"):
        assert f"<figcaption>{name}</figcaption>" in text


def test_results_of_an_opened_projects_weights_are_evaluated_once(qtbot, window, monkeypatch):  # noqa: F811
    _, weights = trained_lenet()
    open_project(window, weights)
    calls = []
    real = window.results.find_mistakes
    monkeypatch.setattr(window.results, "find_mistakes", lambda *a, **k: (calls.append(1), real(*a, **k)))
    window.results_dock.show()
    qtbot.waitUntil(lambda: "weights stored in the project" in window.results.caption.text(), timeout=30_000)
    split = window.model_source.split()
    assert f"of {len(split):,} classified correctly" in window.results.caption.text()
    assert window.results.confusion.class_count() == len(window.model_source.data.class_names)
    window.model_source.changed.emit()  # the same weights again: not evaluated twice
    window.results_dock.hide()
    window.results_dock.show()
    assert calls == [1]

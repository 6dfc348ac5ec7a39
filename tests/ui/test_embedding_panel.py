"""The Feature Space panel: one point per validation image, coloured by class, the misclassified outlined."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PySide6.QtCore import QPointF, Qt
from PySide6.QtWidgets import QMessageBox

from cnnplayground.inspect.embedding import pca_2d
from cnnplayground.inspect.snapshot import prepare
from cnnplayground.ui.inspect.embedding_panel import class_color
from cnnplayground.ui.shell.main_window import MainWindow
from tests.ui.test_inspect_panels import open_project, trained_lenet


@pytest.fixture
def window(qtbot, monkeypatch):
    w = MainWindow()
    qtbot.addWidget(w)
    monkeypatch.setattr(w.files, "ask_save_changes", lambda: QMessageBox.StandardButton.Discard)
    w.resize(1280, 720)
    w.show()
    qtbot.waitExposed(w)
    yield w
    w.training.shutdown()


def test_the_map_shows_every_image_by_class_and_outlines_exactly_the_misclassified(qtbot, window):
    _, weights = trained_lenet()  # random weights: many answers are wrong
    open_project(window, weights)
    window.acts.show_embedding.trigger()
    panel = window.embedding
    qtbot.waitUntil(lambda: panel.result is not None, timeout=20_000)
    model, data, split = window.model_source.model, window.model_source.data, window.model_source.split()
    n = len(split)
    assert n == 60 and panel.layer.currentText() == panel.result.layer
    with torch.no_grad():
        x = prepare(split.images, data.mean, data.std)
        predictions = model(x).argmax(1).numpy()
        features = model.forward_all(x)[panel.result.layer].flatten(1)
    labels = split.labels.numpy()
    wrong = predictions != labels
    assert 0 < wrong.sum() < n

    shown, outlined, colours = [], [], {}
    for item in panel.scatters:
        for spot in item.points():
            index = int(spot.data())
            shown.append(index)
            colours[index] = spot.brush().color().name()
            if spot.pen().style() != Qt.PenStyle.NoPen:
                assert spot.pen().color().name() == "#000000"
                outlined.append(index)
            assert np.allclose([spot.pos().x(), spot.pos().y()], panel.result.points[index])
    assert sorted(shown) == list(range(n))
    assert all(colours[i] == class_color(int(labels[i])) for i in range(n))
    assert sorted(outlined) == list(np.flatnonzero(wrong))
    assert np.allclose(panel.result.points, pca_2d(features)[0], atol=1e-4)
    assert len(panel.legend.items) == len(np.unique(labels))
    assert f"{int(wrong.sum())} misclassified" in panel.summary.text()

    # Hovering a point names it: its index, class and the network's answer.
    i = int(np.flatnonzero(wrong)[0])
    view = panel.plot.getPlotItem().getViewBox()
    at = view.mapViewToScene(QPointF(*panel.result.points[i]))
    nearest = panel.point_near(at)
    assert nearest is not None and np.allclose(panel.result.points[nearest], panel.result.points[i])
    qtbot.mouseMove(panel.plot.viewport(), panel.plot.mapFromScene(at))
    qtbot.waitUntil(lambda: panel.hover.text() != "", timeout=5_000)
    assert panel.hover.text() == panel.describe(panel.point_near(at))
    assert f"class {labels[nearest]}" in panel.hover.text() and "(wrong)" in panel.hover.text()

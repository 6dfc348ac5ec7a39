"""The after-epoch views: confusion matrix, per-class accuracy bars, mistakes grid."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PySide6.QtCore import QEvent, QPointF
from PySide6.QtGui import QColor, QHelpEvent, QPalette
from PySide6.QtWidgets import QApplication, QToolTip

from cnnplayground.ui.training.epoch_views import ConfusionMatrixView, PerClassAccuracyView
from cnnplayground.ui.training.mistakes_grid import MistakesGrid

CONFUSION = ((5, 0, 0), (2, 7, 1), (0, 3, 9))
NAMES = ("ring", "pear", "cat")


def _distance(a: QColor, b: QColor) -> float:
    return sum((x - y) ** 2 for x, y in zip(a.getRgbF()[:3], b.getRgbF()[:3]))


@pytest.fixture
def matrix(qtbot) -> ConfusionMatrixView:
    view = ConfusionMatrixView()
    qtbot.addWidget(view)
    view.set_matrix(CONFUSION, NAMES)
    view.resize(400, 400)
    return view


def test_confusion_cells_show_counts(matrix):
    assert [[matrix.cell_text(r, c) for c in range(3)] for r in range(3)] == [
        ["5", "0", "0"], ["2", "7", "1"], ["0", "3", "9"]]


def test_perfect_class_has_the_strongest_colour_of_its_row(matrix):
    base = matrix.palette().color(QPalette.ColorRole.Base)
    strength = [_distance(matrix.cell_color(0, c), base) for c in range(3)]
    assert strength[0] > strength[1] and strength[0] > strength[2]
    assert matrix.cell_color(0, 1) == matrix.cell_color(0, 2)
    # A larger share of the row is a stronger colour, in any row.
    assert _distance(matrix.cell_color(1, 1), base) > _distance(matrix.cell_color(1, 0), base) \
        > _distance(matrix.cell_color(1, 2), base)


def test_confusion_tooltip_and_cell_lookup(matrix):
    assert matrix.cell_tooltip(1, 0) == "true: pear → predicted: ring: 2 images (20.0 % of pear)"
    assert matrix.cell_tooltip(1, 2) == "true: pear → predicted: cat: 1 image (10.0 % of pear)"
    assert matrix.cell_at(matrix.cell_rect(2, 1).center()) == (2, 1)
    assert matrix.cell_at(QPointF(1, 1)) is None  # the label margin


@pytest.mark.qt_log_ignore("This plugin does not support raise")  # the offscreen platform, showing a tooltip
def test_hovering_a_cell_shows_its_tooltip(qtbot, matrix):
    matrix.show()
    qtbot.waitExposed(matrix)
    pos = matrix.cell_rect(2, 1).center().toPoint()
    QApplication.sendEvent(matrix, QHelpEvent(QEvent.Type.ToolTip, pos, matrix.mapToGlobal(pos)))
    assert QToolTip.text() == "true: cat → predicted: pear: 3 images (25.0 % of cat)"
    QToolTip.hideText()


def test_confusion_paints_in_light_and_dark(qtbot, matrix):
    from cnnplayground.ui.shell import theme

    matrix.show()
    qtbot.waitExposed(matrix)
    for palette in (theme.light_palette(), theme.dark_palette()):
        matrix.setPalette(palette)
        assert not matrix.grab().isNull()


def test_confusion_with_100_classes_renders(qtbot):
    view = ConfusionMatrixView()
    qtbot.addWidget(view)
    counts = torch.eye(100, dtype=torch.int64) * 40 + 1  # a tensor works as well as nested tuples
    view.set_matrix(counts, [f"class_with_a_long_name_{i}" for i in range(100)])
    view.resize(500, 500)
    view.show()
    qtbot.waitExposed(view)
    assert not view.grab().isNull()
    assert view.cell_text(42, 42) == "41" and view.cell_text(42, 7) == "1"
    assert "41 images (29.3 % of class_with_a_long_name_42)" in view.cell_tooltip(42, 42)


def test_per_class_rows(qtbot):
    view = PerClassAccuracyView()
    qtbot.addWidget(view)
    view.set_accuracy([0.982, None, 0.5], NAMES)
    assert view.row_texts() == ["ring 98.2 %", "pear —", "cat 50.0 %"]
    view.show()
    qtbot.waitExposed(view)
    assert not view.grab().isNull()


def _images(n: int, channels: int, side: int) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (n, channels, side, side), dtype=np.uint8)


def test_mistakes_captions(qtbot):
    grid = MistakesGrid()
    qtbot.addWidget(grid)
    grid.set_mistakes(_images(3, 1, 28), [0, 1, 2], [1, 2, 0], [0.93, 0.5, 0.999], NAMES)
    assert grid.captions() == ["ring → pear (93 %)", "pear → cat (50 %)", "cat → ring (100 %)"]


@pytest.mark.parametrize(("channels", "side"), [(1, 28), (3, 32)])
def test_mistakes_grey_and_rgb_render(qtbot, channels, side):
    grid = MistakesGrid()
    qtbot.addWidget(grid)
    grid.resize(300, 300)
    grid.show()
    qtbot.waitExposed(grid)
    grid.set_mistakes(torch.from_numpy(_images(7, channels, side)), [0] * 7, [1] * 7, [0.9] * 7, NAMES)
    assert not grid.empty_label.isVisible()
    assert not grid.grab().isNull()


def test_mistakes_empty_state(qtbot):
    grid = MistakesGrid()
    qtbot.addWidget(grid)
    grid.set_mistakes(np.zeros((0, 1, 28, 28), np.uint8), [], [], [], NAMES)
    grid.show()
    qtbot.waitExposed(grid)
    assert grid.captions() == []
    assert grid.empty_label.isVisible() and grid.empty_label.text() == "No mistakes"

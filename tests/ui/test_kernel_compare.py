"""Kernels panel "Compare with…" (issue 24): a stored (run, epoch) beside the filters on show, and B − A."""

from __future__ import annotations

import numpy as np
import torch

from cnnplayground.core.presets import get_preset
from cnnplayground.io.project_epochs import snapshot_weights
from cnnplayground.project import RunHistory
from cnnplayground.project.epochs import RunEpochs

from .test_epoch_slider import kernels_at, lenet_weights, open_project


def compared_at(qtbot, panel, expected: torch.Tensor) -> None:
    qtbot.waitUntil(lambda: panel.compare_kernels is not None
                    and np.array_equal(panel.compare_kernels.weights, expected.numpy()), timeout=10_000)


def test_compare_shows_the_chosen_epoch_and_the_difference(qtbot, window):  # noqa: F811
    project = open_project(window, runs=2)
    window.acts.show_kernels.trigger()
    panel = window.kernels
    a = project.weights["layers.conv2.weight"]
    kernels_at(qtbot, panel, project.weights["layers.conv1.weight"])
    panel.layer.setCurrentText("conv2")
    kernels_at(qtbot, panel, a)
    assert not any(c.isVisible() for c in panel.compare_columns)  # "none": only today's grid
    labels = [panel.compare.itemText(i) for i in range(panel.compare.count())]
    assert labels == ["none"] + [f"run 1, epoch {e}" for e in (0, 1, 2, 4)] + [f"run 2, epoch {e}" for e in (0, 1, 2)]
    for run, epoch in ((0, 2), (1, 1), (0, 4)):
        panel.compare.setCurrentIndex(panel.compare.findData(f"{run}:{epoch}"))
        b = snapshot_weights(project, run, epoch)["layers.conv2.weight"]
        compared_at(qtbot, panel, b)
        assert all(c.isVisible() for c in panel.compare_columns)
        assert len(panel.compare_grid.images) == b.shape[0] == len(panel.difference_grid.images)
        assert panel.difference is not None
        np.testing.assert_allclose(panel.difference.weights, (b - a).numpy(), rtol=0, atol=1e-7)
        scale, values = panel.difference.scale, panel.difference.values
        assert np.all(scale == scale[0])  # one scale for the layer, symmetric: the largest |value| maps to ±1
        assert float(np.abs(values).max()) == 1.0 and float(values.min()) >= -1.0
        np.testing.assert_array_equal(panel.kernels.weights, a.numpy())  # the first grid is unchanged
    # another layer: the comparison follows it
    panel.layer.setCurrentText("conv1")
    compared_at(qtbot, panel, snapshot_weights(project, 0, 4)["layers.conv1.weight"])
    panel.compare.setCurrentIndex(0)
    assert panel.compare_kernels is None and panel.difference is None
    assert not any(c.isVisible() for c in panel.compare_columns)
    assert panel.compare_grid.images == [] and panel.difference_grid.images == []
    np.testing.assert_array_equal(panel.kernels.weights, project.weights["layers.conv1.weight"].numpy())


def test_a_differently_shaped_layer_says_why_there_is_no_difference(qtbot, window):  # noqa: F811
    project = open_project(window)
    graph = get_preset("lenet5").factory()
    wide = lenet_weights(7)
    wide["layers.conv1.weight"] = torch.randn(8, 1, 5, 5)  # not the canvas network's 6 filters
    run = RunHistory(name="wide")
    run.keep_epochs(RunEpochs(graph.copy(), {3: wide}))
    project.history.append(run)
    window.document.new(project)  # opened with the third run in its history
    window.acts.show_kernels.trigger()
    panel = window.kernels
    kernels_at(qtbot, panel, project.weights["layers.conv1.weight"])
    qtbot.waitUntil(lambda: panel.compare.findData("1:3") > 0, timeout=10_000)
    panel.compare.setCurrentIndex(panel.compare.findData("1:3"))
    compared_at(qtbot, panel, wide["layers.conv1.weight"])
    assert panel.difference is None and panel.difference_grid.images == []
    assert panel.difference_reason.text() == "No difference: the layer's weights are 6×1×5×5 here, 8×1×5×5 there"
    assert panel.difference_reason.isVisible()

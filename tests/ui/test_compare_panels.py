"""Compare with (issue 24) beyond Kernels: a stored (run, epoch) beside Feature Maps, Attribution and
Receptive Fields on the same input, layer and unit, with B − A; runs of different networks compare by layer id.

The project: the canvas is LeNet-5 (its latest weights seed 99); run 1 is LeNet-5 (epochs 0 and 2), run 2
LeNet-5 with a BatchNorm after conv1 (epochs 0 and 2): the conv ids are the same, "bn1" exists only there.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PySide6.QtWidgets import QWidget

from cnnplayground.core.builder import build
from cnnplayground.core.graph import Graph
from cnnplayground.core.presets import get_preset
from cnnplayground.inspect.activations import feature_maps
from cnnplayground.inspect.attribution import grad_cam, integrated_gradients, saliency
from cnnplayground.inspect.occlusion import occlusion_steps
from cnnplayground.inspect.receptive import effective_field
from cnnplayground.inspect.snapshot import prepare
from cnnplayground.io.project import weights_from_module
from cnnplayground.io.project_epochs import snapshot_model
from cnnplayground.project import Project, RunHistory, TrainingConfig
from cnnplayground.project.epochs import RunEpochs
from cnnplayground.ui.inspect.attribution_panel import _unit
from cnnplayground.ui.inspect.compare import CompareColumns

from .test_epoch_slider import SMALL, lenet_weights


def lenet_with_batch_norm() -> Graph:
    """LeNet-5 with a BatchNorm2d ("bn1") between conv1 and relu1."""
    graph = get_preset("lenet5").factory()
    edge = next(e for e in graph.edges if e.source == "conv1" and e.target == "relu1")
    graph.disconnect(edge)
    graph.add_node("BatchNorm2d", id="bn1")
    graph.chain("conv1", "bn1", "relu1")
    return graph


def weights_of(graph: Graph, seed: int) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    model = build(graph)
    for name, buffer in model.named_buffers():  # batch-norm statistics that are not the defaults
        if name.endswith("running_mean") or name.endswith("running_var"):
            buffer.copy_(torch.rand_like(buffer) + (0.5 if name.endswith("var") else -0.5))
    return weights_from_module(model)


def open_two_networks(window) -> Project:  # noqa: F811
    lenet, with_bn = get_preset("lenet5").factory(), lenet_with_batch_norm()
    config = TrainingConfig(epochs=2, batch_size=64, device="cpu", checkpoint_every=0)
    project = Project.new(graph=lenet.copy(), name="t", dataset=SMALL, training=config)
    project.weights = lenet_weights(99)
    project.history = []
    for n, graph in ((1, lenet), (2, with_bn)):
        run = RunHistory(name=f"run {n}")
        run.keep_epochs(RunEpochs(graph.copy(), {k: weights_of(graph, 10 * n + k) for k in (0, 2)}))
        project.history.append(run)
    window.document.new(project)
    return project


def choose(panel, run: int, epoch: int) -> None:
    panel.compare.setCurrentIndex(panel.compare.findData(f"{run}:{epoch}"))
    assert panel.compare.currentData() == f"{run}:{epoch}"


def test_feature_maps_compare_two_runs_of_different_networks(qtbot, window):  # noqa: F811
    project = open_two_networks(window)
    window.acts.show_feature_maps.trigger()
    panel = window.feature_maps
    qtbot.waitUntil(lambda: window.model_source.data is not None and bool(panel.maps) and not panel.busy,
                    timeout=20_000)
    panel.input_kind.setCurrentIndex(panel.input_kind.findData("dataset"))
    panel.index.setValue(5)
    panel.layer.setCurrentText("conv2")
    qtbot.waitUntil(lambda: not panel._timer.isActive() and not panel.busy, timeout=20_000)  # the image's maps
    assert not any(c.isVisible() for c in panel.compare_columns)  # "none": the maps alone
    x = panel.input_tensor()
    mine = panel.maps["conv2"].copy()
    for run, epoch in ((1, 2), (0, 0), (1, 0)):
        choose(panel, run, epoch)
        qtbot.waitUntil(lambda: not panel.busy and panel.compare_maps is not None, timeout=20_000)
        expected = feature_maps(snapshot_model(project, run, epoch), x)["conv2"]
        assert torch.allclose(torch.as_tensor(panel.compare_maps), torch.as_tensor(expected), atol=1e-6)
        assert not np.allclose(panel.compare_maps, mine, atol=1e-3)  # another network's maps indeed
        np.testing.assert_allclose(panel.difference_maps, expected - mine, atol=1e-6)
        assert all(c.isVisible() for c in panel.compare_columns)
        assert len(panel.compare_grid.grid.images) == len(panel.difference_grid.grid.images) == len(mine)
        top = float(np.abs(expected - mine).max())
        assert panel.difference_bar.high == -panel.difference_bar.low == pytest.approx(top)  # one symmetric scale
        # the panel keeps its image and layer, and its own maps
        assert panel.index.value() == 5 and panel.layer.currentText() == "conv2"
        np.testing.assert_array_equal(panel.maps["conv2"], mine)
    panel.compare.setCurrentIndex(0)
    assert panel.compare_maps is None and not any(c.isVisible() for c in panel.compare_columns)


def test_feature_maps_of_a_layer_the_other_network_lacks_say_why(qtbot, window):  # noqa: F811
    open_two_networks(window)
    window.model_source.select_epoch(1, 2)  # the panels look at the batch-norm network...
    window.acts.show_feature_maps.trigger()
    panel = window.feature_maps
    qtbot.waitUntil(lambda: window.model_source.data is not None and "bn1" in panel.maps and not panel.busy,
                    timeout=20_000)
    panel.layer.setCurrentText("bn1")
    choose(panel, 0, 2)  # ... compared with plain LeNet-5
    qtbot.waitUntil(lambda: not panel.busy and bool(panel.compare_all), timeout=20_000)
    assert panel.compare_maps is None and panel.difference_maps is None
    assert panel.compare_reason == "run 1, epoch 2's network has no layer bn1"
    assert panel.compare_reason_label.isVisible() and panel.compare_grid.grid.images == []
    panel.layer.setCurrentText("conv1")  # a layer both have: the comparison follows at once
    assert panel.compare_maps is not None and panel.compare_reason == ""


def test_attribution_compares_one_method_for_the_same_image_and_class(qtbot, window):  # noqa: F811
    project = open_two_networks(window)
    window.acts.show_attribution.trigger()
    panel = window.attribution
    panel.steps.setValue(8)
    qtbot.waitUntil(lambda: window.model_source.data is not None and "ig" in panel.maps and not panel.running,
                    timeout=20_000)
    panel.index.setValue(3)
    qtbot.waitUntil(lambda: not panel._debounce.isActive() and "ig" in panel.maps and not panel.running,
                    timeout=20_000)
    data, split = window.model_source.data, window.model_source.split()
    x01 = split.images[3][None].float() / 255.0
    target = torch.tensor([panel.target_class])
    mine = {key: value.copy() for key, value in panel.maps.items()}
    for (run, epoch), method in (((1, 2), "saliency"), ((0, 0), "ig"), ((1, 0), "gradcam")):
        panel.compare_method.setCurrentIndex(panel.compare_method.findData(method))
        choose(panel, run, epoch)
        qtbot.waitUntil(lambda: panel.difference_map is not None, timeout=20_000)
        other = snapshot_model(project, run, epoch)
        if method == "saliency":
            expected = _unit(saliency(other, x01, target, data.mean, data.std)[0].numpy())
        elif method == "gradcam":
            expected = grad_cam(other, x01, target, data.mean, data.std, panel.layer.currentData())[0].numpy()
        else:
            ig = integrated_gradients(other, x01, target, data.mean, data.std, steps=8)
            expected = _unit(np.abs(ig[0].numpy()).sum(axis=0))
        assert torch.allclose(torch.as_tensor(panel.compare_map), torch.as_tensor(expected), atol=1e-5)
        assert not np.allclose(expected, mine[method], atol=1e-3)
        np.testing.assert_allclose(panel.difference_map, expected - mine[method], atol=1e-5)
        assert panel.compare_area.isVisible() and panel.index.value() == 3
        assert all(np.array_equal(panel.maps[k], v) for k, v in mine.items())  # these maps were not redone


def test_attribution_says_why_a_grad_cam_layer_is_missing(qtbot, window):  # noqa: F811
    open_two_networks(window)
    window.model_source.select_epoch(1, 2)  # the batch-norm network, Grad-CAM on bn1
    window.acts.show_attribution.trigger()
    panel = window.attribution
    panel.steps.setValue(8)
    qtbot.waitUntil(lambda: "saliency" in panel.maps and panel.layer.findData("bn1") >= 0, timeout=20_000)
    panel.layer.setCurrentIndex(panel.layer.findData("bn1"))
    panel.compare_method.setCurrentIndex(panel.compare_method.findData("gradcam"))
    choose(panel, 0, 2)
    qtbot.waitUntil(lambda: panel.compare_reason != "", timeout=20_000)
    assert panel.compare_reason == "run 1, epoch 2's network has no layer bn1 for Grad-CAM"
    assert panel.compare_label.text() == panel.compare_reason and panel.difference_map is None


def test_receptive_fields_compare_the_same_units_effective_field(qtbot, window):  # noqa: F811
    project = open_two_networks(window)
    window.acts.show_receptive.trigger()
    panel = window.receptive
    panel.images.setValue(8)
    qtbot.waitUntil(lambda: window.model_source.data is not None and panel.layer.findText("conv2") >= 0,
                    timeout=20_000)
    panel.layer.setCurrentText("conv2")
    panel.select_unit(3, 4)
    panel.channel.setCurrentIndex(2)  # channel 1
    qtbot.waitUntil(lambda: panel.erf is not None and not panel.busy, timeout=20_000)
    data, split = window.model_source.data, window.model_source.split()
    batch = prepare(split.images[:8], data.mean, data.std)
    mine = panel.erf.copy()
    np.testing.assert_allclose(mine, effective_field(window.model_source.model, batch, "conv2", 3, 4, 1), atol=1e-7)
    for run, epoch in ((1, 2), (0, 0)):
        choose(panel, run, epoch)
        qtbot.waitUntil(lambda: panel.difference_erf is not None and not panel.busy, timeout=20_000)
        expected = effective_field(snapshot_model(project, run, epoch), batch, "conv2", 3, 4, 1)
        assert torch.allclose(torch.as_tensor(panel.compare_erf), torch.as_tensor(expected), atol=1e-7)
        np.testing.assert_allclose(panel.difference_erf, expected / expected.max() - mine / mine.max(), atol=1e-6)
        assert float(np.abs(panel.difference_erf).max()) > 0.01
        assert panel.position == (3, 4) and panel.channel.currentData() == 1 and panel.layer.currentText() == "conv2"
        np.testing.assert_array_equal(panel.erf, mine)


def test_receptive_fields_of_a_layer_the_other_network_lacks_say_why(qtbot, window):  # noqa: F811
    open_two_networks(window)
    window.model_source.select_epoch(1, 2)
    window.acts.show_receptive.trigger()
    panel = window.receptive
    panel.images.setValue(4)
    qtbot.waitUntil(lambda: window.model_source.data is not None and panel.layer.findText("bn1") >= 0,
                    timeout=20_000)
    panel.layer.setCurrentText("bn1")
    choose(panel, 0, 2)
    qtbot.waitUntil(lambda: panel.compare_reason != "" and not panel.busy, timeout=20_000)
    assert panel.compare_reason == "run 1, epoch 2: no layer bn1"
    assert panel.compare_erf is None and panel.difference_erf is None and panel.compare_view.image is None


def test_occlusion_compares_the_same_image_class_and_patch(qtbot, window):  # noqa: F811
    project = open_two_networks(window)
    window.acts.show_occlusion.trigger()
    panel = window.occlusion
    panel.stride.setValue(4)
    qtbot.waitUntil(lambda: window.model_source.data is not None and panel.result is not None
                    and not panel.running, timeout=20_000)
    panel.index.setValue(2)
    qtbot.waitUntil(lambda: panel.result is not None and not panel.running, timeout=20_000)
    data, split = window.model_source.data, window.model_source.split()
    image = prepare(split.images[2], data.mean, data.std)[0]
    target = int(panel.target.currentData())
    mine = panel.result.probability.copy()
    choose(panel, 1, 2)
    qtbot.waitUntil(lambda: panel.compare_job is not None and not panel.compare_job.running
                    and panel.difference_probability is not None, timeout=20_000)
    *_, (_done, expected) = occlusion_steps(snapshot_model(project, 1, 2), image, target, 7, 4)
    assert torch.allclose(torch.as_tensor(panel.compare_result.probability), torch.as_tensor(expected.probability))
    np.testing.assert_allclose(panel.difference_probability, expected.probability - mine, atol=1e-7)
    assert panel.compare_area.isVisible() and panel.index.value() == 2
    np.testing.assert_array_equal(panel.result.probability, mine)


def test_compare_columns_go_below_when_the_panel_is_narrow(qtbot):
    columns = CompareColumns(200)
    qtbot.addWidget(columns)
    for _ in range(3):
        columns.add(QWidget())
    columns.resize(900, 300)
    columns.show()
    qtbot.waitUntil(lambda: columns.side_by_side)
    columns.resize(500, 300)  # less than 3 × 200: one below the other
    qtbot.waitUntil(lambda: not columns.side_by_side)
    columns.box.itemAt(2).widget().hide()  # two columns fit 500 pixels
    qtbot.waitUntil(lambda: columns.side_by_side)


def test_the_kernels_difference_title_stays_one_line_in_a_narrow_panel(qtbot, window):  # noqa: F811
    open_two_networks(window)
    window.acts.show_kernels.trigger()
    panel = window.kernels
    qtbot.waitUntil(lambda: panel.kernels is not None, timeout=20_000)
    choose(panel, 1, 2)
    qtbot.waitUntil(lambda: panel.difference is not None, timeout=20_000)
    window.resize(1000, 720)
    qtbot.waitUntil(lambda: panel.difference_title.width() < panel.fontMetrics().horizontalAdvance(
        panel.difference_title.text()), timeout=5_000)  # narrower than its text...
    line = panel.difference_title.fontMetrics().lineSpacing()
    assert panel.difference_title.height() < 2 * line  # ... and still one line (cut, all of it in the tip)
    assert panel.difference_title.toolTip() == panel.difference_title.text()
    assert panel.difference_title.text().startswith("Difference ±")

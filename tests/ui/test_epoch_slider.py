"""The epoch slider of the Inspect panels (issue 24): a stored epoch of a run in every panel, Play, "latest"."""

from __future__ import annotations

import numpy as np
import torch
from PySide6.QtCore import Qt

from cnnplayground.core.builder import build
from cnnplayground.core.presets import get_preset
from cnnplayground.io.project import weights_from_module
from cnnplayground.io.project_epochs import snapshot_model, snapshot_weights
from cnnplayground.project import DatasetChoice, Project, RunHistory, TrainingConfig
from cnnplayground.project.epochs import RunEpochs
from cnnplayground.ui.inspect.epoch_bar import NO_EPOCHS_TIP
from cnnplayground.ui.inspect.feature_maps_panel import _maps_and_prediction
from cnnplayground.ui.shell.main_window import MainWindow
from cnnplayground.ui.training.results import _find_mistakes

SMALL = DatasetChoice(name="synthetic", options={"train_size": 300, "test_size": 60})
EPOCHS = [0, 1, 2, 4]  # as a budget thins them: epoch 3 not kept




def lenet_weights(seed: int) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    return weights_from_module(build(get_preset("lenet5").factory()))


def open_project(window: MainWindow, stored: list[int] | None = EPOCHS, runs: int = 1) -> Project:
    """LeNet-5 with one run whose epochs are distinct (seeded) weights; its latest weights another seed."""
    graph = get_preset("lenet5").factory()
    config = TrainingConfig(epochs=4, batch_size=64, device="cpu", checkpoint_every=0)
    project = Project.new(graph=graph, name="t", dataset=SMALL, training=config)
    project.weights = lenet_weights(99)
    project.history = []
    for n in range(1, runs + 1):
        run = RunHistory(name=f"run {n}")
        if stored:
            kept = stored[:len(stored) - n + 1]  # the second run keeps one epoch fewer
            run.keep_epochs(RunEpochs(graph.copy(), {k: lenet_weights(10 * n + k) for k in kept}))
        project.history.append(run)
    window.document.new(project)
    return project


def kernels_at(qtbot, panel, expected: torch.Tensor) -> None:
    qtbot.waitUntil(lambda: panel.kernels is not None and panel.kernels.weights.shape == tuple(expected.shape)
                    and np.array_equal(panel.kernels.weights, expected.numpy()), timeout=10_000)


def test_the_slider_shows_each_stored_epochs_kernels_and_keeps_the_layer(qtbot, window):
    project = open_project(window)
    window.acts.show_kernels.trigger()
    panel = window.kernels
    bar = panel.epoch_bar
    assert bar.isVisible() and bar.slider.isEnabled()
    assert bar.slider.maximum() == len(EPOCHS) and bar.slider.value() == len(EPOCHS)  # "latest" at the right end
    kernels_at(qtbot, panel, project.weights["layers.conv1.weight"])
    panel.layer.setCurrentText("conv2")
    kernels_at(qtbot, panel, project.weights["layers.conv2.weight"])
    bar.slider.setFocus()
    for position, epoch in enumerate(EPOCHS):
        bar.slider.setValue(position)
        assert window.model_source.selected_epoch == (0, epoch)
        kernels_at(qtbot, panel, snapshot_weights(project, 0, epoch)["layers.conv2.weight"])
        assert panel.layer.currentText() == "conv2"  # the panel keeps its layer
        assert bar.label.text().startswith(f"epoch {epoch} of 4 (stored: 0, 1, 2, 4)")
        assert panel.caption.text().startswith("Filters with run 1: ")
    qtbot.keyClick(bar.slider, Qt.Key.Key_Left)  # arrow keys move it: back to epoch 2
    kernels_at(qtbot, panel, snapshot_weights(project, 0, 2)["layers.conv2.weight"])
    # every bar shows the one choice (a hidden one when it is shown)
    window.acts.show_feature_maps.trigger()
    assert window.feature_maps.epoch_bar.slider.value() == 2
    window.acts.show_results.trigger()
    assert window.results.epoch_bar.label.text().startswith("epoch 2 of 4")


def test_latest_restores_the_current_weights(qtbot, window):
    project = open_project(window)
    window.acts.show_kernels.trigger()
    panel, bar = window.kernels, window.kernels.epoch_bar
    bar.slider.setValue(0)
    kernels_at(qtbot, panel, snapshot_weights(project, 0, 0)["layers.conv1.weight"])
    bar.slider.setValue(bar.slider.maximum())
    assert window.model_source.selected_epoch is None
    kernels_at(qtbot, panel, project.weights["layers.conv1.weight"])
    assert panel.caption.text() == "Filters with trained weights stored in the project"
    assert bar.label.text() == "latest weights (stored epochs: 0, 1, 2, 4)"
    # the autosave copy takes the latest weights, never those of the epoch on show
    bar.slider.setValue(1)
    latest = window.model_source.latest_weights()
    assert torch.equal(latest["layers.conv1.weight"], project.weights["layers.conv1.weight"])


def test_play_steps_through_every_stored_epoch(qtbot, window):
    project = open_project(window)
    window.acts.show_kernels.trigger()
    source, bar = window.model_source, window.kernels.epoch_bar
    source.player.timer.setInterval(20)
    shown: list[tuple[int, int] | None] = []
    source.epoch_changed.connect(lambda: shown.append(source.selected_epoch))
    buttons: list[tuple[bool, str]] = []  # (playing, the Play button's text) at each start and stop
    source.player.playing_changed.connect(lambda playing: buttons.append((playing, bar.play.text())))
    bar.slider.setFocus()
    qtbot.keyClick(bar.slider, Qt.Key.Key_Space)  # Space on the slider plays
    qtbot.waitUntil(lambda: not source.player.playing, timeout=10_000)
    assert buttons == [(True, "Pause"), (False, "Play")]
    assert shown == [(0, e) for e in EPOCHS]  # from epoch 0 to the last, each once, then it stops
    assert bar.play.text() == "Play" and bar.slider.value() == len(EPOCHS) - 1
    kernels_at(qtbot, window.kernels, snapshot_weights(project, 0, 4)["layers.conv1.weight"])


def test_without_stored_epochs_the_bar_is_disabled_and_says_why(qtbot, window):
    open_project(window, stored=None)
    window.acts.show_kernels.trigger()
    bar = window.kernels.epoch_bar
    assert not bar.slider.isEnabled() and not bar.play.isEnabled()
    assert bar.slider.toolTip() == NO_EPOCHS_TIP and bar.play.toolTip() == NO_EPOCHS_TIP
    bar.play.setEnabled(True)  # even if pressed, Play has nothing to play
    window.model_source.player.play()
    assert not window.model_source.player.playing and window.model_source.selected_epoch is None


def test_feature_maps_and_results_follow_the_epoch(qtbot, window):
    project = open_project(window)
    source = window.model_source
    window.acts.show_results.trigger()
    results = window.results
    results.epoch_bar.slider.setValue(1)
    qtbot.waitUntil(lambda: "run 1: weights after epoch 1" in results.caption.text(), timeout=20_000)
    model = build(project.history[0].epochs.graph)
    model.load_state_dict(snapshot_weights(project, 0, 1))
    expected, _data = _find_mistakes(model.eval(), source.data, tta_flip=False)
    correct, total = int(expected.confusion.trace()), int(expected.confusion.sum())
    assert f"{correct:,} of {total:,} classified correctly" in results.caption.text()
    assert np.array_equal(results.confusion._counts, expected.confusion)
    assert source.model is not None and all(
        torch.equal(t, snapshot_weights(project, 0, 1)[k]) for k, t in source.model.state_dict().items())


def test_feature_maps_keep_their_image_and_layer_at_another_epoch(qtbot, window):
    project = open_project(window)
    window.acts.show_feature_maps.trigger()
    panel = window.feature_maps
    qtbot.waitUntil(lambda: window.model_source.data is not None and bool(panel.maps) and not panel.busy,
                    timeout=20_000)
    panel.index.setValue(7)
    assert panel.index.value() == 7
    panel.layer.setCurrentText("conv2")
    qtbot.waitUntil(lambda: not panel.busy, timeout=20_000)
    x = panel.input_tensor()
    for epoch, position in ((1, 1), (4, 3)):
        panel.epoch_bar.slider.setValue(position)
        expected, _prediction = _maps_and_prediction(snapshot_model(project, 0, epoch), x)
        qtbot.waitUntil(lambda e=expected: not panel.busy and "conv2" in panel.maps  # noqa: B023
                        and np.array_equal(panel.maps["conv2"], e["conv2"]), timeout=20_000)
        assert panel.index.value() == 7 and panel.layer.currentText() == "conv2"
        assert torch.equal(panel.input_tensor(), x)  # the same image


def test_another_run_and_another_project(qtbot, window):
    project = open_project(window, runs=2)  # run 1 keeps epochs 0, 1, 2, 4; run 2 keeps 0, 1, 2
    window.acts.show_kernels.trigger()
    panel, bar, source = window.kernels, window.kernels.epoch_bar, window.model_source
    assert bar.run.isVisible() and [bar.run.itemText(i) for i in range(bar.run.count())] == ["run 1", "run 2"]
    assert bar.run.currentText() == "run 2" and bar.slider.maximum() == 3  # the newest run's epochs, then latest
    bar.slider.setValue(2)
    kernels_at(qtbot, panel, snapshot_weights(project, 1, 2)["layers.conv1.weight"])
    bar.run.setCurrentIndex(0)
    bar.run.activated.emit(0)  # the user picks run 1: its epoch 2
    assert source.selected_epoch == (0, 2) and bar.slider.maximum() == 4
    kernels_at(qtbot, panel, snapshot_weights(project, 0, 2)["layers.conv1.weight"])
    open_project(window, stored=None)  # another project: its latest weights, nothing to choose
    assert source.selected_epoch is None and not bar.slider.isEnabled() and not bar.run.isVisible()
    kernels_at(qtbot, panel, window.document.project.weights["layers.conv1.weight"])

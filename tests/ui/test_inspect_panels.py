"""The Inspect panels on real networks: what they show follows the model source, the choices and training."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PySide6.QtCore import QPoint, Qt, QThreadPool
from PySide6.QtWidgets import QApplication

from cnnplayground.core.builder import build
from cnnplayground.core.presets import get_preset
from cnnplayground.io.project import weights_from_module
from cnnplayground.project import DatasetChoice, Project, TrainingConfig
from cnnplayground.train.events import WeightsSnapshot
from cnnplayground.ui.shell.main_window import MainWindow

SMALL = DatasetChoice(name="synthetic", options={"train_size": 600, "test_size": 100})




def trained_lenet() -> tuple[object, dict]:
    torch.manual_seed(3)
    model = build(get_preset("lenet5").factory())
    return model, weights_from_module(model)


def open_project(window: MainWindow, weights=None, epochs: int = 1) -> None:
    config = TrainingConfig(epochs=epochs, batch_size=64, device="cpu", checkpoint_every=0)
    project = Project.new(graph=get_preset("lenet5").factory(), name="t", dataset=SMALL, training=config)
    project.weights = weights
    window.document.new(project)


def test_kernels_panel_shows_the_projects_weights_and_one_filters_numbers(qtbot, window):
    _, weights = trained_lenet()
    open_project(window, weights)
    window.acts.show_kernels.trigger()
    panel = window.kernels
    assert window.kernels_dock.isVisible()
    qtbot.waitUntil(lambda: len(panel.grid.images) == 6, timeout=10_000)  # read and drawn in the background
    assert panel.caption.text() == "Filters with trained weights stored in the project"
    assert [panel.layer.itemText(i) for i in range(panel.layer.count())] == ["conv1", "conv2"]
    assert len(panel.grid.images) == 6 and panel.kernels.mode == "channels"
    qtbot.mouseClick(panel.grid, Qt.MouseButton.LeftButton, pos=panel.grid.tile_rect(4).center().toPoint())
    expected = weights["layers.conv1.weight"][4, 0].numpy()
    assert np.allclose(panel.table_values(), expected, atol=5e-4)
    assert "filter #4" in panel.detail_title.text()
    shared = panel.colorbar.labels()
    assert float(shared[2]) == pytest.approx(float(weights["layers.conv1.weight"].abs().max()), rel=1e-2)

    panel.layer.setCurrentText("conv2")
    qtbot.waitUntil(lambda: len(panel.grid.images) == 16, timeout=10_000)
    assert panel.kernels.mode == "sum" and panel.grid.images[0].width() == 5  # automatic: 6 inputs summed
    panel.mode.setCurrentIndex(panel.mode.findData("channels"))
    qtbot.waitUntil(lambda: panel.grid.images[0].width() == 6 * 6 - 1, timeout=10_000)  # six 5×5 channels, 1 px gaps
    panel.channel.setValue(5)
    assert np.allclose(panel.table_values(), weights["layers.conv2.weight"][4, 5].numpy(), atol=5e-4)
    panel.scale.setCurrentIndex(panel.scale.findData("per_filter"))
    qtbot.waitUntil(lambda: panel.colorbar.labels() == ("-1", "0", "1"), timeout=10_000)


def test_kernels_follow_training_snapshots_and_the_canvas(qtbot, window):
    open_project(window, epochs=2)
    window.acts.show_kernels.trigger()
    panel = window.kernels
    qtbot.waitUntil(lambda: panel.kernels is not None, timeout=10_000)
    assert panel.caption.text() == "Filters with untrained (random weights)"
    before = panel.kernels.weights.copy()
    snapshots: list = []
    window.training.events_arrived.connect(lambda ev: snapshots.extend(e for e in ev if isinstance(e, WeightsSnapshot)))
    with qtbot.waitSignal(window.training.run_ended, timeout=120_000):
        window.acts.train.trigger()
    assert len(snapshots) == 2  # one per epoch, refreshed live without errors
    trained = window.document.project.weights["layers.conv1.weight"].numpy()
    qtbot.waitUntil(lambda: not panel.busy and np.allclose(panel.kernels.weights, trained), timeout=10_000)
    assert panel.caption.text() == "Filters with trained weights stored in the project"
    assert not np.allclose(panel.kernels.weights, before)
    # Deleting the first conv layer: the panel follows the canvas.
    window.canvas.select_nodes(["conv1"])
    window.canvas.delete_selection()
    qtbot.waitUntil(lambda: panel.caption.text().startswith("The network is not ready"), timeout=3000)
    assert panel.grid.images == []


def _mouse(widget, kind, point, button, buttons):
    from PySide6.QtCore import QEvent, QPointF
    from PySide6.QtGui import QMouseEvent
    from PySide6.QtWidgets import QApplication

    event = QMouseEvent(getattr(QEvent.Type, kind), QPointF(point), QPointF(widget.mapToGlobal(point)), button,
                        buttons, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, event)


def draw_stroke(canvas, points: list[tuple[float, float]]) -> None:
    """Press, move through and release at ``points`` given in image pixels (row, column)."""
    rect = canvas._rect()
    h, w = canvas.image.shape

    def at(row, col):
        x = rect.x() + (col + 0.5) * rect.width() / w
        return QPoint(round(x), round(rect.y() + (row + 0.5) * rect.height() / h))

    left, none = Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton
    _mouse(canvas, "MouseButtonPress", at(*points[0]), left, left)
    for p in points[1:]:
        _mouse(canvas, "MouseMove", at(*p), none, left)
    _mouse(canvas, "MouseButtonRelease", at(*points[-1]), left, none)


def test_feature_maps_follow_a_drawing_and_the_prediction_changes(qtbot, window):
    _, weights = trained_lenet()
    open_project(window, weights)
    window.acts.show_feature_maps.trigger()
    panel = window.feature_maps
    qtbot.waitUntil(lambda: window.model_source.data is not None, timeout=30_000)  # normalization and images
    assert panel.input_kind.currentData() == "draw" and panel.canvas.image.shape == (28, 28)
    assert panel.layer.currentText() == "conv1"
    assert len(panel.grid.images) == 6
    blank = list(panel.prediction)
    assert len(blank) == 5 and sum(p for _, p in blank) <= 1.0 + 1e-6

    draw_stroke(panel.canvas, [(4, 14), (10, 14), (16, 14), (23, 14)])  # a vertical bar: "1"-ish
    assert panel.canvas.image[4:24, 13:16].min() > 0.5 and panel.canvas.image[:, :6].max() < 0.01
    # computed in the background: the drawing's last state, once the debounce and the job are over
    qtbot.waitUntil(lambda: panel.prediction != blank and not panel._timer.isActive() and not panel.busy,
                    timeout=10_000)
    x = panel.input_tensor()
    expected = torch.softmax(window.model_source.model(x), 1)[0]
    best, p = panel.prediction[0]
    assert best == int(expected.argmax()) and p == pytest.approx(float(expected.max()), abs=1e-6)
    assert panel.predictions.item(0, 1).text() == f"{p:.1%}"
    manual = torch.relu(window.model_source.model.layers["conv1"](x))  # conv1 then ReLU, by hand
    assert np.allclose(panel.maps["relu1"], manual[0].numpy(), atol=1e-5)

    panel.layer.setCurrentText("conv2")
    assert len(panel.grid.images) == 16
    panel.layer.setCurrentText("relu2")
    panel.hide_dead.setChecked(True)
    dead = int((panel.maps["relu2"].reshape(16, -1).max(axis=1) <= 0).sum())
    assert len(panel.grid.images) == 16 - dead
    qtbot.waitUntil(lambda: not panel.busy, timeout=10_000)
    stats = panel.layer_stats
    assert set(stats) >= {"conv1", "relu1", "fc3"} and 0.0 < stats["relu1"].zero_fraction < 1.0
    assert panel.stats.rowCount() == len(stats)

    panel.input_kind.setCurrentIndex(1)  # a validation image instead
    panel.index.setValue(3)
    data = window.model_source.data
    assert np.allclose(panel.canvas.image, data.val.images[3, 0].numpy() / 255.0)
    pixel = float(data.val.images[3, 0, 0, 0]) / 255.0
    assert float(panel.input_tensor()[0, 0, 0, 0]) == pytest.approx((pixel - data.mean[0]) / data.std[0], abs=1e-5)


def test_an_image_file_becomes_the_input(qtbot, window, tmp_path, monkeypatch):
    from PySide6.QtGui import QColor, QImage

    _, weights = trained_lenet()
    open_project(window, weights)
    panel = window.feature_maps
    qtbot.waitUntil(lambda: window.model_source.data is not None, timeout=30_000)
    image = QImage(56, 56, QImage.Format.Format_RGB888)
    image.fill(QColor(0, 0, 0))
    for y in range(56):
        for x in range(20, 36):
            image.setPixelColor(x, y, QColor(255, 255, 255))  # a white vertical bar, twice the input size
    path = tmp_path / "bar.png"
    assert image.save(str(path))
    monkeypatch.setattr(panel, "_choose_image_path", lambda: str(path))
    panel.input_kind.setCurrentIndex(panel.input_kind.findData("file"))
    assert panel.canvas.image.shape == (28, 28)
    assert panel.canvas.image[:, 12:16].min() > 0.9 and panel.canvas.image[:, :8].max() < 0.1
    qtbot.waitUntil(lambda: bool(panel.maps) and np.allclose(panel.input_tensor()[0, 0].numpy(),
                                                       (panel.canvas.image - data_mean(window)) / data_std(window),
                                                       atol=1e-5), timeout=2000)
    (tmp_path / "bad.png").write_text("not an image")
    assert not panel.load_file(str(tmp_path / "bad.png"))
    assert "Cannot read" in panel.caption.text()


def data_mean(window) -> float:
    return window.model_source.data.mean[0]


def data_std(window) -> float:
    return window.model_source.data.std[0]


def test_receptive_field_panel_frames_the_theoretical_field_and_the_gradient_stays_inside(qtbot, window):
    _, weights = trained_lenet()
    open_project(window, weights)
    window.acts.show_receptive.trigger()
    panel = window.receptive
    qtbot.waitUntil(lambda: panel.erf is not None, timeout=30_000)
    assert panel.layer.currentText() == "pool2"  # the deepest spatial layer by default
    assert [name for name, _ in panel.field_sizes][:3] == ["conv1", "relu1", "pool1"]
    sizes = dict(panel.field_sizes)
    assert (sizes["conv1"], sizes["pool1"], sizes["conv2"], sizes["pool2"]) == (5, 6, 14, 16)
    panel.layer.setCurrentText("conv2")
    view = panel.unit_view
    qtbot.waitUntil(lambda: not panel.busy, timeout=10_000)
    qtbot.mouseClick(view, Qt.MouseButton.LeftButton, pos=view.cell_center(2, 3).toPoint())
    assert panel.position == (2, 3)
    qtbot.waitUntil(lambda: not panel.busy, timeout=10_000)  # the field is computed in the background
    top, left, bottom, right = panel.region
    assert (bottom - top + 1, right - left + 1) == (14, 14) and (top, left) == (2, 4)  # 2 px padding, jump 2
    erf = panel.erf
    assert erf.shape == (28, 28) and erf.sum() > 0
    inside = erf[top:bottom + 1, left:right + 1].sum()
    assert inside == pytest.approx(erf.sum())  # nothing outside the theoretical field
    assert "100% of the gradient inside" in panel.summary.text()
    panel.channel.setCurrentIndex(3)  # channel 2
    panel.images.setValue(8)
    qtbot.waitUntil(lambda: not panel.busy, timeout=10_000)
    assert panel.erf.shape == (28, 28) and panel.input_view.rect_cells == panel.region


def test_occlusion_panel_maps_the_true_class_probability(qtbot, window):
    _, weights = trained_lenet()
    open_project(window, weights)
    window.acts.show_occlusion.trigger()
    panel = window.occlusion
    qtbot.waitUntil(lambda: panel.result is not None and not panel.running, timeout=30_000)
    data = window.model_source.data
    assert panel.target.currentData() == int(data.val.labels[0])  # the true class by default
    r = panel.result
    expected = [*range(0, 21, 2), 21]  # 7 px patch, stride 2, and the last one touching the border
    assert r.rows.tolist() == expected and r.cols.tolist() == expected
    assert np.isfinite(r.probability).all() and panel.progress.value() == 100
    from cnnplayground.inspect.snapshot import prepare

    occluded = prepare(data.val.images[0], data.mean, data.std)[0].clone()
    occluded[:, 4:11, 6:13] = 0.0  # the patch at row 4, column 6
    p = torch.softmax(window.model_source.model(occluded[None]), 1)[0, panel.target.currentData()]
    assert r.probability[2, 3] == pytest.approx(float(p), abs=1e-6)
    # The colour scales: the drop in probability (0 to the largest drop) and the probability (0 to 100 %).
    drop = r.heat(28, 28)
    assert panel.drop_bar.isVisible() and panel.probability_bar.isVisible()
    assert panel.drop_bar.labels()[0] == "0.0%" and panel.drop_bar.labels()[2] == f"{float(drop.max()):.1%}"
    assert float(drop.max()) > 0
    assert panel.probability_bar.labels() == ("0%", "50%", "100%")
    panel.patch.setValue(14)
    panel.stride.setValue(14)
    qtbot.waitUntil(lambda: not panel.running and panel.result.patch == 14, timeout=30_000)
    assert panel.result.probability.shape == (2, 2)
    assert "without a patch" in panel.summary.text()


def test_every_panel_follows_a_run_epoch_by_epoch(qtbot, window):
    open_project(window, epochs=2)
    for action in (window.acts.show_kernels, window.acts.show_feature_maps, window.acts.show_receptive,
                   window.acts.show_occlusion):
        action.trigger()
    qtbot.waitUntil(lambda: window.model_source.data is not None, timeout=30_000)
    seen: list[str] = []
    window.model_source.changed.connect(lambda: seen.append(window.model_source.description))
    with qtbot.waitSignal(window.training.run_ended, timeout=120_000):
        window.acts.train.trigger()
    assert "training: weights after epoch 1" in seen and "training: weights after epoch 2" in seen
    assert seen[-1] == "trained weights stored in the project"
    model = window.model_source.model
    fm = window.feature_maps
    qtbot.waitUntil(lambda: not fm.busy, timeout=30_000)  # the maps are computed in the background
    expected = torch.softmax(model(fm.input_tensor()), 1)[0]
    assert fm.prediction[0][0] == int(expected.argmax())
    assert fm.caption.text() == "Feature maps with trained weights stored in the project"
    assert window.receptive.caption.text() == "Receptive fields with trained weights stored in the project"
    qtbot.waitUntil(lambda: not window.occlusion.running, timeout=30_000)
    assert window.occlusion.caption.text() == "Occlusion sensitivity with trained weights stored in the project"


def test_hidden_panels_do_no_work_until_shown(qtbot, window):
    _, weights = trained_lenet()
    open_project(window, weights)
    window.acts.show_feature_maps.trigger()
    panel = window.feature_maps
    qtbot.waitUntil(lambda: window.model_source.data is not None and bool(panel.maps), timeout=30_000)
    window.feature_maps_dock.hide()
    before = panel.maps
    window.document.set_weights(None)  # new (random) weights while the panel is hidden
    assert panel.stale and not panel.busy  # the old maps are dropped, no new ones computed
    assert panel.maps == {} and len(panel.grid.images) == 0
    window.feature_maps_dock.show()
    assert not panel.stale and panel.busy  # computing in the background
    qtbot.waitUntil(lambda: bool(panel.maps) and panel.maps is not before, timeout=10_000)
    assert panel.caption.text().startswith("Feature maps with untrained")


def test_data_that_does_not_fit_the_network_is_explained_not_raised(qtbot, window):
    open_project(window)
    window.document.set_dataset(DatasetChoice(name="synthetic-rgb", options={"train_size": 200, "test_size": 50}))
    window.acts.show_receptive.trigger()
    qtbot.waitUntil(lambda: "images but" in window.receptive.caption.text(), timeout=30_000)
    assert window.receptive.caption.text() == (
        "The network takes 1×28×28 images but synthetic-rgb has 3×32×32: change the Input layer or the dataset")
    assert window.model_source.data is None
    window.acts.show_occlusion.trigger()
    assert "images but" in window.occlusion.caption.text() and not window.occlusion.running


def test_panels_use_the_training_split_when_there_is_no_validation_split(qtbot, window):
    open_project(window)
    window.document.set_training(window.document.project.training.model_copy(update={"val_fraction": 0.0}))
    window.acts.show_occlusion.trigger()
    qtbot.waitUntil(lambda: window.occlusion.result is not None and not window.occlusion.running, timeout=30_000)
    assert len(window.model_source.data.val) == 0
    window.acts.show_receptive.trigger()
    qtbot.waitUntil(lambda: window.receptive.erf is not None, timeout=30_000)


def test_a_dataset_that_cannot_load_is_explained(qtbot, window, tmp_path):
    open_project(window)
    window.document.set_dataset(DatasetChoice(name="mnist", root=str(tmp_path)))
    window.acts.show_feature_maps.trigger()
    qtbot.waitUntil(lambda: "cannot be loaded" in window.feature_maps.caption.text(), timeout=30_000)
    assert str(tmp_path) in window.feature_maps.caption.text()
    assert window.training.data_error is not None and window.training._loading_key is None  # not retried
    window.training_dock.show()  # the sample preview shown again: it says why, and does not load again
    window.training.preview.show()
    window.training.refresh_preview()
    assert window.training._loading_key is None
    assert str(tmp_path) in window.training.preview.info.text()


def test_opening_another_project_while_train_waits_for_data_calls_it_off(qtbot, window):
    open_project(window)
    window.training.start()
    assert window.training.state == "loading"
    started: list = []
    window.training.run_started.connect(started.append)
    other = Project.new(graph=get_preset("mlp").factory(), name="other", dataset=SMALL)
    window.document.new(other)
    assert window.training.state == "idle" and "called off" in window.training.status.text()
    QThreadPool.globalInstance().waitForDone(30_000)  # the old load finishes...
    QApplication.processEvents()  # ...and reports (queued signals): nothing may start
    assert started == [] and window.training.session is None
    assert window.document.project.history == []


def test_a_run_does_not_pull_another_tab_over_the_panel_being_watched(qtbot, window):
    open_project(window, epochs=1)
    window.acts.show_curves.trigger()
    window.acts.show_kernels.trigger()
    window.kernels_dock.raise_()
    qtbot.waitUntil(window.kernels.isVisible)
    with qtbot.waitSignal(window.training.run_ended, timeout=120_000):
        window.acts.train.trigger()
    assert window.kernels.isVisible()
    qtbot.waitUntil(lambda: window.kernels.caption.text() == "Filters with trained weights stored in the project",
                    timeout=10_000)  # read in the background


def test_adversarial_panel_attacks_and_sweeps_with_stop_and_rerun(qtbot, window):
    _, weights = trained_lenet()
    open_project(window, weights)
    window.acts.show_adversarial.trigger()
    panel = window.adversarial
    qtbot.waitUntil(lambda: panel.adversarial is not None, timeout=30_000)
    split = window.model_source.split()
    x = split.images[:1].float() / 255.0
    assert float((panel.adversarial - x).abs().max()) <= 0.1 + 1e-6  # FGSM, ε 0.1
    assert float(panel.adversarial.min()) >= 0 and float(panel.adversarial.max()) <= 1
    panel.epsilon.setValue(0.0)
    qtbot.waitUntil(lambda: not panel.busy, timeout=30_000)  # the attack runs in the background
    assert torch.equal(panel.adversarial, x) and "fooled" not in panel.adversarial_label.text()
    panel.attack.setCurrentIndex(panel.attack.findData("pgd_l2"))
    panel.epsilon.setValue(1.0)
    qtbot.waitUntil(lambda: not panel.busy, timeout=30_000)
    assert float((panel.adversarial - x).flatten().norm()) <= 1.0 + 1e-5 and panel.steps.isEnabled()

    panel.sweep_button.click()
    assert panel.sweeping and not panel.sweep_button.isEnabled()
    qtbot.waitUntil(lambda: len(panel.sweep["fgsm"]) >= 2, timeout=30_000)
    panel.stop_button.click()  # cancel mid-way
    assert not panel.sweeping and panel.sweep_button.isEnabled()
    partial = len(panel.sweep["fgsm"]) + len(panel.sweep["pgd"])
    assert partial < 14
    panel.sweep_button.click()  # rerun to the end
    qtbot.waitUntil(lambda: not panel.sweeping, timeout=120_000)
    fg, pg_ = dict(panel.sweep["fgsm"]), dict(panel.sweep["pgd"])
    assert len(fg) == len(pg_) == 7 and fg[0.0] == pg_[0.0]
    assert all(pg_[e] <= fg[e] + 0.02 for e in fg)
    assert panel.progress.value() == 100
    xs, ys = panel._curves["fgsm"].getData()
    assert list(xs) == sorted(fg) and ys[0] == pytest.approx(fg[0.0] * 100)


def test_a_live_runs_snapshots_are_built_only_when_a_panel_asks(qtbot, window, monkeypatch):
    """In Train mode no Inspect panel looks: an epoch's weights snapshot is kept, not built into a model on
    the GUI thread; the first panel that asks gets the model, with that epoch's weights."""
    from cnnplayground.train.events import WeightsSnapshot
    from cnnplayground.ui.inspect import source as source_module

    open_project(window, epochs=2)
    source = window.model_source
    builds: list[bool] = []  # for each build: was it of a live run's snapshot
    real_build = source_module.build
    monkeypatch.setattr(source_module, "build", lambda *a, **k: (builds.append(source._live), real_build(*a, **k))[1])
    snapshots: list = []
    window.training.events_arrived.connect(lambda ev: snapshots.extend(e for e in ev if isinstance(e, WeightsSnapshot)))
    with qtbot.waitSignal(window.training.run_ended, timeout=120_000):
        window.acts.train.trigger()
    assert window.modes.current == "train" and len(snapshots) == 2
    assert True not in builds  # no snapshot was built while the run went on (only the end's rebuild, if any)
    model = source.model  # the run has ended: the project's trained weights, built once
    assert model is not None and source.model is model
    trained = window.document.project.weights["layers.conv1.weight"]
    assert torch.equal(model.state_dict()["layers.conv1.weight"], trained)

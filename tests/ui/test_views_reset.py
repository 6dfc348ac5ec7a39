"""Nothing stale: New, Open, New from Preset, Revert and undoing a run bring every view to the new state.

After a real run (LeNet-5 on a small synthetic set) every view holds something of it: the Results
panel its confusion matrix and mistakes, the Training dock its status, the Curves its run, and each
Inspect panel a result of the trained model. Each way of leaving that state is then checked view by
view, on the concrete state each keeps.
"""

from __future__ import annotations

import pytest
import torch

from cnnplayground.core.presets import get_preset
from cnnplayground.io.project import save_project
from cnnplayground.project import Project, TrainingConfig
from cnnplayground.ui.shell.main_window import MainWindow
from cnnplayground.ui.training.results import EMPTY_CAPTION

from .test_inspect_panels import SMALL

#: The Inspect panels that show a model (the convolution explorer shows its own numbers only).
MODEL_PANELS = ("kernels", "feature_maps", "receptive", "occlusion", "adversarial", "maximize", "patches",
                "attribution")


def lenet_project(name: str = "t") -> Project:
    config = TrainingConfig(epochs=1, batch_size=64, device="cpu", checkpoint_every=0)
    return Project.new(graph=get_preset("lenet5").factory(), name=name, dataset=SMALL, training=config)


def settled(window: MainWindow) -> bool:  # noqa: F811 - the window fixture
    """No Inspect panel is computing and no evaluation is running."""
    return not any(getattr(window.panel(key), "busy", False) or getattr(window.panel(key), "running", False)
                   for key in MODEL_PANELS)


def show_everything(qtbot, window: MainWindow) -> None:  # noqa: F811 - the window fixture
    """Bring each model panel to the front in turn and let it finish its work (results stay when hidden)."""
    for key in MODEL_PANELS:
        getattr(window.acts, f"show_{key}").trigger()
        qtbot.waitUntil(lambda k=key: not getattr(window.panel(k), "busy", False)
                        and not getattr(window.panel(k), "running", False), timeout=60_000)


def train_and_fill_every_view(qtbot, window: MainWindow, path) -> None:  # noqa: F811 - the window fixture
    """Save the project (for Revert), train one epoch and give each panel a result of the trained model."""
    window.document.new(lenet_project())
    window.files.save_to(path)
    window.acts.show_results.trigger()
    with qtbot.waitSignal(window.results.mistakes_shown, timeout=120_000), \
            qtbot.waitSignal(window.training.run_ended, timeout=120_000):
        window.acts.train.trigger()
    assert window.model_source.description == "trained weights stored in the project"
    maximize = window.panel("maximize")
    window.acts.show_maximize.trigger()
    maximize.steps.setValue(3)
    maximize.run_unit()
    qtbot.waitUntil(lambda: not maximize.running and maximize.last is not None, timeout=60_000)
    show_everything(qtbot, window)
    # Every view shows the run now (the state the checks below must see go).
    results = window.results
    assert results.confusion.class_count() == 10 and results.class_names
    assert results.mistakes.captions() and results.tabs.tabText(1) != "Misclassified"
    assert window.training.status.text() != "Ready" and window.training.speed_label.text()
    assert window.curves.plots.run_count == 1
    assert window.panel("feature_maps").maps and window.panel("adversarial").adversarial is not None
    assert window.panel("occlusion").result is not None and window.panel("receptive").erf is not None
    assert window.panel("attribution").maps and maximize.history
    assert len(window.panel("patches").grid.images) > 0


def check_results_and_dock_reset(window: MainWindow) -> None:  # noqa: F811 - the window fixture
    results = window.results
    assert results.confusion.class_count() == 0 and results.class_names == ()
    assert results.per_class._bars.values == [] and results.mistakes.captions() == []
    assert results.tabs.tabText(1) == "Misclassified" and results.caption.text() == EMPTY_CAPTION
    dock = window.training
    assert dock.status.text() == "Ready" and dock.speed_label.text() == "" and dock.accuracy_label.text() == ""
    assert dock.progress.value() == 0 and dock.progress.format() == ""


def check_panels_show_no_model(qtbot, window: MainWindow) -> None:  # noqa: F811 - the window fixture
    """An unfinished network (File → New): each panel says why there is nothing and keeps nothing."""
    problem = window.model_source.problem
    assert window.model_source.model is None and problem.startswith("The network is not ready")
    show_everything(qtbot, window)
    for key in ("kernels", "feature_maps", "receptive", "occlusion", "adversarial", "maximize", "patches",
                "attribution"):
        assert window.panel(key).caption.text() == problem, key
    assert len(window.panel("kernels").grid.images) == 0
    fm = window.panel("feature_maps")
    assert fm.maps == {} and len(fm.grid.images) == 0 and fm.stats.rowCount() == 0
    assert fm.predictions.item(0, 0).text() == ""
    assert window.panel("receptive").erf is None and window.panel("receptive").unit_view.image is None
    occlusion = window.panel("occlusion")
    assert occlusion.result is None and occlusion.image_view.image is None and occlusion.summary.text() == ""
    adversarial = window.panel("adversarial")
    assert adversarial.adversarial is None and adversarial.adversarial_view.image is None
    assert adversarial.adversarial_label.text() == ""
    maximize = window.panel("maximize")
    assert maximize.history == [] and maximize.last is None and maximize.image_view.image is None
    assert maximize.status.text() == "" and len(maximize.gallery.grid.images) == 0
    assert len(window.panel("patches").grid.images) == 0 and window.panel("patches").cache == {}
    attribution = window.panel("attribution")
    assert attribution.maps == {} and attribution.original_view.image is None


def check_panels_show_the_new_model(qtbot, window: MainWindow, description: str) -> None:  # noqa: F811 - the window fixture
    """A valid network with other weights: each panel shows the new model, nothing of the trained one."""
    source = window.model_source
    assert source.description == description
    maximize = window.panel("maximize")  # its images of the trained model went; it runs only when asked
    assert maximize.history == [] and maximize.last is None and maximize.image_view.image is None
    source.ensure_data()  # another dataset (a preset's own) may be loading still
    qtbot.waitUntil(lambda: source.data is not None, timeout=120_000)
    show_everything(qtbot, window)
    assert window.panel("kernels").caption.text() == f"Filters with {description}"
    fm = window.panel("feature_maps")
    x = fm.input_tensor()
    expected = torch.softmax(source.model(x), 1)[0]
    assert fm.prediction[0][1] == pytest.approx(float(expected.max()), abs=1e-6)  # the new model's
    assert window.panel("receptive").caption.text() == f"Receptive fields with {description}"
    occlusion = window.panel("occlusion")
    assert occlusion.caption.text() == f"Occlusion sensitivity with {description}"
    if occlusion.result is not None:  # the new model's map (its data may still be loading)
        image = occlusion._data.val.images[occlusion.index.value()]
        from cnnplayground.inspect.snapshot import prepare

        x = prepare(image, occlusion._data.mean, occlusion._data.std)
        p = torch.softmax(source.model(x), 1)[0, occlusion.target.currentData()]
        assert occlusion.result.baseline == pytest.approx(float(p), abs=1e-5)
    adversarial = window.panel("adversarial")
    assert adversarial.caption.text().startswith(f"Adversarial examples with {description}")
    assert window.panel("attribution").caption.text().startswith(f"Attribution with {description}")


@pytest.mark.parametrize("how", ["new", "open", "new_from_preset", "revert", "undo_run"])
def test_every_view_resets_when_the_project_or_its_run_goes(qtbot, window, monkeypatch, tmp_path, how):  # noqa: F811 - the window fixture
    path = tmp_path / "saved.cnnp"
    train_and_fill_every_view(qtbot, window, path)
    if how == "new":
        window.acts.new.trigger()
    elif how == "open":
        other = tmp_path / "other.cnnp"
        save_project(lenet_project("other"), other)
        monkeypatch.setattr(window.files, "choose_open_path", lambda: other)
        window.acts.open.trigger()
    elif how == "new_from_preset":
        monkeypatch.setattr(window.files, "choose_preset", lambda: "lenet5")
        window.acts.new_from_preset.trigger()
    elif how == "revert":  # the file as saved before the run: read again
        assert window.files.open_path(path, ask=False)
    else:
        assert window.document.undo_stack.undoText().startswith("Training run")
        window.acts.undo.trigger()
        assert window.document.project.history == [] and window.document.project.weights is None

    check_results_and_dock_reset(window)
    assert window.curves.plots.run_count == 0  # the Curves show the new project's runs: none
    if how == "new":
        check_panels_show_no_model(qtbot, window)
    else:
        check_panels_show_the_new_model(qtbot, window, "untrained (random weights)")
    # Nothing of the old model arrives later either (a job started before the change is dropped).
    qtbot.waitUntil(lambda: settled(window), timeout=60_000)
    check_results_and_dock_reset(window)

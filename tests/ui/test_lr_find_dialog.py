"""Train → Find Learning Rate: the sweep runs in the background, its suggestion is marked, and "Use" sets the
learning rate as one undo step; the project's weights are not touched."""

from __future__ import annotations

import pytest
import torch

from cnnplayground.core.presets import get_preset
from cnnplayground.project import DatasetChoice, Project, TrainingConfig

from .test_inspect_panels import trained_lenet

TINY = DatasetChoice(name="synthetic", options={"train_size": 400, "test_size": 0})


def _open(window, weights=None) -> None:  # noqa: F811
    config = TrainingConfig(epochs=1, batch_size=32, device="cpu", checkpoint_every=0, learning_rate=1e-3)
    project = Project.new(graph=get_preset("lenet5").factory(), name="lr", dataset=TINY, training=config)
    project.weights = weights
    window.document.new(project)


def test_the_dialog_finds_a_rate_and_use_sets_it_as_one_undo_step(qtbot, window):  # noqa: F811
    _, weights = trained_lenet()
    before = {k: v.clone() for k, v in weights.items()}
    _open(window, weights)
    assert window.acts.lr_find in window.menus["Train"].actions()
    window.acts.lr_find.trigger()
    dialog = window.open_dialogs.get("lr_find")
    assert dialog is not None and not dialog.use_button.isEnabled()
    dialog.steps.setValue(30)
    dialog.find_button.click()
    assert dialog.running and not dialog.find_button.isEnabled()
    qtbot.waitUntil(lambda: not dialog.running, timeout=120_000)
    result = dialog.result
    assert result is not None and result.steps == 30 and dialog.progress.value() == 30
    rate = result.suggested_lr
    assert dialog.raw_curve.getData()[0] is not None and len(dialog.smooth_curve.getData()[0]) == 30
    assert dialog.suggest_line.isVisible() and dialog.suggest_line.value() == pytest.approx(torch.log10(
        torch.tensor(rate)).item())
    assert dialog.use_button.isEnabled() and dialog.use_button.text() == f"Use {rate:.1e}".replace("e-0", "e-")
    assert window.document.project.training.learning_rate == 1e-3  # nothing set before Use
    assert all(torch.equal(window.document.project.weights[k], before[k]) for k in before)
    steps = window.document.undo_stack.count()
    dialog.use_button.click()
    assert window.document.project.training.learning_rate == rate
    assert window.document.undo_stack.count() == steps + 1 and window.document.modified
    assert window.document.undo_stack.undoText() == f"Set learning rate to {rate:.2g}"
    window.document.undo_stack.undo()
    assert window.document.project.training.learning_rate == 1e-3
    window.document.undo_stack.redo()
    assert window.document.project.training.learning_rate == rate
    dialog.close()


def test_stop_cancels_the_sweep_and_suggests_nothing(qtbot, window):  # noqa: F811
    _open(window)
    dialog = window.show_lr_find()
    dialog.steps.setValue(5000)
    dialog.find_button.click()
    qtbot.waitUntil(lambda: dialog.progress.value() >= 3, timeout=60_000)
    dialog.stop_button.click()
    assert not dialog.running and dialog.find_button.isEnabled() and not dialog.use_button.isEnabled()
    assert dialog.job.wait(30) and dialog.result is None
    assert "Stopped" in dialog.status.text()
    dialog.close()


def test_opening_another_project_withdraws_the_suggestion(qtbot, window):  # noqa: F811
    _open(window)
    dialog = window.show_lr_find()
    dialog.steps.setValue(20)
    dialog.find_button.click()
    qtbot.waitUntil(lambda: not dialog.running, timeout=120_000)
    assert dialog.use_button.isEnabled()
    _open(window)  # a new project: the suggestion was for the old one
    assert not dialog.use_button.isEnabled() and dialog.result is None
    dialog.close()

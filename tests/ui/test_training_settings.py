"""The training settings form edits the project through undoable commands."""

from __future__ import annotations

from cnnplayground.ui.training.settings_form import TrainingSettingsForm


def test_edits_are_undoable_and_the_form_follows(qtbot, document):
    form = TrainingSettingsForm(document)
    qtbot.addWidget(form)
    assert form.epochs.value() == document.project.training.epochs == 5
    form.epochs.setValue(12)
    form.optimizer.setCurrentIndex(form.optimizer.findData("sgd"))
    assert document.project.training.epochs == 12 and document.project.training.optimizer == "sgd"
    assert document.modified
    while document.undo_stack.canUndo():
        document.undo_stack.undo()
    assert document.project.training.epochs == 5 and document.project.training.optimizer == "adam"
    assert form.epochs.value() == 5 and form.optimizer.currentData() == "adam"


def test_dataset_choice_and_corruption_go_into_the_dataset_options(qtbot, document):
    form = TrainingSettingsForm(document)
    qtbot.addWidget(form)
    form.dataset.setCurrentIndex(form.dataset.findData("fashion-mnist"))
    form.random_labels.setValue(0.5)
    assert document.project.dataset.name == "fashion-mnist"
    assert document.project.dataset.options == {"random_labels": 0.5}
    form.flip.setChecked(True)
    form.crop.setValue(4)
    aug = document.project.training.augment
    assert aug.hflip and aug.crop_padding == 4

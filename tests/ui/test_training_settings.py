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


def test_every_setting_has_a_widget_in_its_section_with_the_settings_own_help(qtbot, document):
    from cnnplayground.train.config import TrainingConfig
    from cnnplayground.ui.training.settings_form import FIELDS, SECTIONS

    form = TrainingSettingsForm(document)
    qtbot.addWidget(form)
    assert {f.section for f in FIELDS} <= set(SECTIONS)
    assert form.rotate.toolTip() == "Random rotation up to ± this angle."
    assert form.epochs.toolTip() == TrainingConfig.model_fields["epochs"].description
    assert "noise" in form.random_pixels.toolTip()
    form.rotate.setValue(15.0)
    form.noise.setValue(0.1)
    form.vflip.setChecked(True)
    form.random_pixels.setValue(0.25)
    aug = document.project.training.augment
    assert (aug.rotate_degrees, aug.noise_std, aug.vflip) == (15.0, 0.1, True)
    assert document.project.dataset.options == {"random_pixels": 0.25}
    form.random_pixels.setValue(0.0)  # off: the option leaves the project instead of storing 0
    assert document.project.dataset.options == {}
    assert form.random_pixels.text() == "off"


def test_a_combination_the_settings_refuse_is_shown_inline_and_not_applied(qtbot, document):
    form = TrainingSettingsForm(document)
    qtbot.addWidget(form)
    form.val_fraction.setValue(0.0)
    form.early_stopping.setValue(3)
    assert "early stopping watches the validation split" in form.error.text()
    assert document.project.training.early_stopping_patience == 0
    form.early_stopping.setValue(0)
    assert form.error.text() == ""

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
    from cnnplayground.project import TrainingConfig
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


def test_adversarial_training_rows_follow_the_attack_choice_and_edit_the_project(qtbot, document):
    from cnnplayground.project import TrainingConfig

    form = TrainingSettingsForm(document)
    qtbot.addWidget(form)
    assert form.adversarial.currentData() == "none"
    rows = (form.adversarial_epsilon, form.adversarial_steps, form.adversarial_fraction)
    assert not any(w.isEnabled() for w in rows)  # off: nothing to set
    assert form.adversarial_epsilon.toolTip() == TrainingConfig.model_fields["adversarial_epsilon"].description
    assert form.adversarial_epsilon.value() == 0.1 and form.adversarial_steps.value() == 7

    form.adversarial.setCurrentIndex(form.adversarial.findData("fgsm"))
    assert document.project.training.adversarial == "fgsm"
    assert [w.isEnabled() for w in rows] == [True, False, True]  # FGSM takes no steps
    form.adversarial_epsilon.setValue(0.0314)
    form.adversarial_fraction.setValue(0.25)
    form.adversarial.setCurrentIndex(form.adversarial.findData("pgd"))
    form.adversarial_steps.setValue(10)
    t = document.project.training
    assert (t.adversarial, t.adversarial_epsilon, t.adversarial_steps, t.adversarial_fraction) == (
        "pgd", 0.0314, 10, 0.25)
    assert all(w.isEnabled() for w in rows)

    while document.undo_stack.canUndo():
        document.undo_stack.undo()
    assert document.project.training.adversarial == "none" and form.adversarial.currentData() == "none"
    assert not any(w.isEnabled() for w in rows)

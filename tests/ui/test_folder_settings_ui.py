"""The settings form's image-folder rows: image size, channels and test share, shown for the folder
dataset alone, each edit undoable; a share whose split the folder's layout gives is greyed out (issue 22)."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from cnnplayground.core.presets import get_preset
from cnnplayground.project import DatasetChoice, Project, TrainingConfig
from cnnplayground.ui.document.document import Document
from cnnplayground.ui.training.dock import TrainingDock
from cnnplayground.ui.training.settings_form import TrainingSettingsForm

FOLDER_ROWS = ("image_size", "channels", "test_share")
AUTO_SIZE = 7  # the image-size spin box's "auto" (settings_form.AUTO_SIZE)


def write(root: Path, splits: tuple[str, ...], mode: str = "RGB", size: tuple[int, int] = (16, 12)) -> Path:
    """Two classes of 6 images in each of ``splits`` (``""``: class folders right under ``root``)."""
    for split in splits:
        for cls in ("cat", "dog"):
            (root / split / cls).mkdir(parents=True)
            for i in range(6):
                Image.new(mode, size, 30 * i if mode == "L" else (200, 30 * i, 9)).save(root / split / cls / f"{i}.png")
    return root


def folder_document(root: Path | None, **options) -> Document:
    config = TrainingConfig(epochs=1, batch_size=16, device="cpu", checkpoint_every=0, val_fraction=0.1)
    choice = DatasetChoice(name="folder", root=str(root) if root else None, options=options)
    return Document(Project.new(graph=get_preset("lenet5").factory(num_classes=2), name="t", dataset=choice,
                                training=config))


def make_dock(qtbot, document: Document) -> TrainingDock:
    dock = TrainingDock(document)
    qtbot.addWidget(dock)
    dock.resize(400, 1400)
    dock.show()
    qtbot.waitUntil(lambda: dock.folder_summary.summary is not None, timeout=30_000)
    return dock


def test_each_folder_field_writes_its_option_and_undo_restores_it(qtbot):
    document = folder_document(None, channels=3)  # an old project with explicit channels keeps them
    form = TrainingSettingsForm(document)
    qtbot.addWidget(form)
    assert form.image_size.value() == AUTO_SIZE and form.image_size.text().startswith("Auto")
    assert form.channels.currentData() == 3 and form.test_share.value() == 0.0
    edits = [
        (lambda: form.image_size.setValue(32), {"channels": 3, "size": 32}),
        (lambda: form.channels.setCurrentIndex(form.channels.findData(1)), {"channels": 1}),
        (lambda: form.channels.setCurrentIndex(form.channels.findData("auto")), {}),  # the default: left out
        (lambda: form.test_share.setValue(0.2), {"channels": 3, "test_fraction": 0.2}),
    ]
    for edit, options in edits:
        edit()
        assert document.project.dataset.options == options and document.modified
        document.undo_stack.undo()  # one step
        assert document.project.dataset.options == {"channels": 3}
        assert form.image_size.value() == AUTO_SIZE and form.channels.currentData() == 3
        assert form.test_share.value() == 0.0


def test_the_folder_rows_are_shown_and_written_for_the_folder_dataset_alone(qtbot, document):
    form = TrainingSettingsForm(document)
    qtbot.addWidget(form)
    form.show()
    assert document.project.dataset.name == "synthetic"
    assert not any(form.widgets[name].isVisible() for name in FOLDER_ROWS)
    form.dataset.setCurrentIndex(form.dataset.findData("folder"))
    assert all(form.widgets[name].isVisible() for name in FOLDER_ROWS)
    form.image_size.setValue(20)
    form.random_labels.setValue(0.5)
    assert document.project.dataset.options == {"size": 20, "random_labels": 0.5}
    form.dataset.setCurrentIndex(form.dataset.findData("synthetic-rgb"))  # the folder's size does not go along
    assert document.project.dataset.options == {"random_labels": 0.5}
    assert not form.image_size.isVisible() and form.image_size.value() == AUTO_SIZE
    assert all(form.widgets[name].toolTip() for name in FOLDER_ROWS)


@pytest.mark.parametrize("splits, disabled", [
    (("train", "test"), {"test_share": "The folder has test/"}),
    (("train", "val"), {"val_fraction": "The folder has val/"}),
    (("train", "validation", "test"), {"val_fraction": "The folder has validation/",
                                       "test_share": "The folder has test/"}),
    (("",), {}),
])
def test_a_share_the_layout_gives_is_greyed_out_with_a_tool_tip(qtbot, tmp_path, splits, disabled):
    dock = make_dock(qtbot, folder_document(write(tmp_path / "pets", splits)))
    form = dock.form
    for name in ("val_fraction", "test_share"):
        widget = form.widgets[name]
        assert widget.isEnabled() == (name not in disabled)
        if name in disabled:
            assert widget.toolTip().startswith(disabled[name])
        else:
            assert "The folder has" not in widget.toolTip()
    form.dataset.setCurrentIndex(form.dataset.findData("synthetic"))  # no layout: every share applies
    assert form.val_fraction.isEnabled()


def test_auto_says_what_the_images_give_and_the_summary_says_grey(qtbot, tmp_path):
    dock = make_dock(qtbot, folder_document(write(tmp_path / "grey", ("",), mode="L")))
    form, view = dock.form, dock.folder_summary
    assert form.image_size.text() == "Auto (12×16)"
    assert "Auto gives 12×16, the size of all images." in form.image_size.toolTip()
    assert form.channels.itemText(0) == "Auto: 1 (all images are grey)"
    assert view.size.text().endswith("; 1 channel (all images are grey)")
    assert view.summary.input_shape == (1, 12, 16)
    with qtbot.waitSignal(view.updated, timeout=30_000):
        form.channels.setCurrentIndex(form.channels.findData(3))
    assert view.summary.input_shape == (3, 12, 16) and view.size.text().endswith("; 3 channels (set)")


def test_the_folder_rows_fit_a_narrow_dock(qtbot, tmp_path):
    """At 1280×720 the Training dock is about 400 px wide: the long "Auto (…)" image size and the class-weights
    choice ("None (every image counts the same)") had made the form 404 px at least, cutting off the dock's
    buttons and fields at its right edge."""
    dock = make_dock(qtbot, folder_document(write(tmp_path / "grey", ("train", "test"), mode="L")))
    assert dock.form.image_size.isVisible() and dock.form.channels.isVisible()
    assert dock.form.minimumSizeHint().width() <= 320, dock.form.minimumSizeHint()
    assert dock.minimumSizeHint().width() <= 340, dock.minimumSizeHint()

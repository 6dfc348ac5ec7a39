"""The Training dock shows an image folder's splits per class and its image size before training, and
offers the images' shape to a network whose Input takes another (issue 22)."""

from __future__ import annotations

import pytest
from PIL import Image

from cnnplayground.core.presets import get_preset
from cnnplayground.project import DatasetChoice, Project, TrainingConfig
from cnnplayground.ui.document.document import Document
from cnnplayground.ui.training.dock import TrainingDock


@pytest.fixture
def pets(tmp_path):
    """train/ with 30 cats and 20 dogs, test/ with 10 of each; 16 wide and 12 high."""
    root = tmp_path / "pets"
    for split, counts in (("train", {"cat": 30, "dog": 20}), ("test", {"cat": 10, "dog": 10})):
        for cls, n in counts.items():
            (root / split / cls).mkdir(parents=True)
            for i in range(n):
                Image.new("RGB", (16, 12), (200, 40 * (cls == "dog"), 9)).save(root / split / cls / f"{i}.png")
    return root


@pytest.fixture
def dock(qtbot, pets) -> TrainingDock:
    config = TrainingConfig(epochs=1, batch_size=16, device="cpu", checkpoint_every=0, val_fraction=0.1)
    choice = DatasetChoice(name="folder", root=str(pets))
    doc = Document(Project.new(graph=get_preset("lenet5").factory(num_classes=2), name="t", dataset=choice,
                               training=config))
    widget = TrainingDock(doc)
    qtbot.addWidget(widget)
    widget.resize(360, 1400)
    widget.show()
    return widget


def test_the_splits_per_class_and_the_image_size_are_shown_before_training(dock, qtbot):
    view = dock.folder_summary
    qtbot.waitUntil(lambda: view.summary is not None, timeout=30_000)
    assert view.isVisible() and dock.data is None  # nothing was decoded
    assert view.splits.text() == ("<b>Splits</b> From the folder's layout: train 45 (the rest of train/), "
                                  "validation 5 (10 % of train/), test 20 (test/)")
    table = view.table.text()
    assert "<td>cat</td><td align='right'>27</td><td align='right'>3</td><td align='right'>10</td>" in table
    assert "<td>dog</td><td align='right'>18</td><td align='right'>2</td><td align='right'>10</td>" in table
    assert view.size.text() == "<b>Image size</b> 12×16, the size of all 70 images; 3 channels (the images are colour)"
    assert not view.notes.isVisible()
    with qtbot.waitSignal(view.updated, timeout=30_000):
        dock.form.val_fraction.setValue(0.2)  # 20 % of each class of train/
    assert "<td>cat</td><td align='right'>24</td><td align='right'>6</td>" in view.table.text()


def test_the_images_shape_is_offered_to_the_input_layer(dock, qtbot):
    view, doc = dock.folder_summary, dock.document
    qtbot.waitUntil(lambda: view.summary is not None, timeout=30_000)
    assert doc.result.input_shape == (1, 28, 28)
    assert view.use_shape.isVisible()
    assert view.use_shape.text() == "Use 3×12×16 for the Input"
    assert view.shape_note.text() == "The network takes 1×28×28 images; the folder's are 3×12×16."
    view.use_shape.click()
    assert doc.result.input_shape == (3, 12, 16) and not view.use_shape.isVisible()
    doc.undo_stack.undo()  # one step
    assert doc.result.input_shape == (1, 28, 28) and view.use_shape.isVisible()


def test_other_datasets_hide_the_view_and_a_broken_folder_says_why(dock, qtbot, tmp_path):
    view, form = dock.folder_summary, dock.form
    qtbot.waitUntil(lambda: view.summary is not None, timeout=30_000)
    form.dataset.setCurrentIndex(form.dataset.findData("synthetic"))
    qtbot.waitUntil(lambda: not view.isVisible(), timeout=5_000)
    form.dataset.setCurrentIndex(form.dataset.findData("folder"))
    form.root.setText(str(tmp_path / "nowhere"))
    form.root.editingFinished.emit()
    qtbot.waitUntil(lambda: "does not exist" in view.splits.text(), timeout=30_000)
    assert view.isVisible() and view.summary is None and not view.use_shape.isVisible()

"""The dataset preview in the Training dock: samples with class names, live augmentation, corruption."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cnnplayground.core.presets import get_preset
from cnnplayground.data.synthetic import CLASS_NAMES
from cnnplayground.project import DatasetChoice, Project, TrainingConfig
from cnnplayground.ui.document.document import Document
from cnnplayground.ui.training.dock import TrainingDock
from cnnplayground.ui.training.preview import SAMPLES, pick_samples

SMALL = DatasetChoice(name="synthetic", options={"train_size": 600, "test_size": 100})


@pytest.fixture
def dock(qtbot) -> TrainingDock:
    config = TrainingConfig(epochs=1, batch_size=64, device="cpu", checkpoint_every=0)
    doc = Document(Project.new(graph=get_preset("lenet5").factory(), name="t", dataset=SMALL, training=config))
    widget = TrainingDock(doc)
    qtbot.addWidget(widget)
    widget.resize(340, 1400)
    widget.show()
    qtbot.waitUntil(lambda: widget.preview.data is not None, timeout=30_000)
    return widget


def test_pick_samples_shows_every_class_first():
    labels = torch.arange(10).repeat(50)
    picked = pick_samples(labels, 8, seed=3)
    assert [int(labels[i]) for i in picked] == list(range(8))
    assert len(set(picked)) == 8
    assert pick_samples(labels, 8, seed=3) == picked and pick_samples(labels, 8, seed=4) != picked
    two_classes = torch.tensor([0, 1] * 10)
    picked = pick_samples(two_classes, 8, seed=0)
    assert len(set(picked)) == 8 and {int(two_classes[i]) for i in picked[:2]} == {0, 1}


def test_samples_show_the_class_names_of_their_labels(dock):
    preview = dock.preview
    data = preview.data
    assert data.name == "synthetic" and len(data.train) == 540  # 600 minus the 10 % validation hold-out
    assert preview.captions() == [CLASS_NAMES[int(data.train.labels[i])] for i in preview.indices]
    assert preview.captions() == list(CLASS_NAMES[:SAMPLES])  # one of each class, in order
    assert "540 training and 60 validation images, 10 classes, 1×28×28" in preview.info.text()
    assert preview.augmented_images() is None and preview.augmented.isHidden()  # no augmentation set
    before = list(preview.indices)
    preview.shuffle_button.click()
    assert preview.indices != before and preview.captions() == list(CLASS_NAMES[:SAMPLES])


def test_augmentation_settings_redraw_the_augmented_row(dock, qtbot):
    preview, form = dock.preview, dock.form
    form.flip.setChecked(True)
    assert preview.augmented_images() is not None
    dock.document.undo_stack.undo()  # the preview follows the project, also on undo
    assert preview.augmented_images() is None and not form.flip.isChecked()
    form.flip.setChecked(True)
    form.rotate.setValue(30.0)
    shown = preview.augmented_images()
    assert shown is not None and shown.shape == (SAMPLES, 1, 28, 28) and preview.augmented.isVisible()
    originals = dock.preview.data.train.images[preview.indices].float().numpy() / 255.0
    assert np.abs(shown - originals).mean() > 0.01  # rotated up to 30° and flipped: visibly different
    preview.again_button.click()
    assert not np.array_equal(preview.augmented_images(), shown)  # new random draws
    form.rotate.setValue(0.0)
    form.flip.setChecked(False)
    assert preview.augmented_images() is None and not preview.augmented.isVisible()


def test_random_pixels_show_as_noise_in_the_samples(dock, qtbot):
    clean = dock.preview.data.train.images.float()
    dock.form.random_pixels.setValue(1.0)
    assert dock.document.project.dataset.options["random_pixels"] == 1.0
    qtbot.waitUntil(lambda: dock.preview.data is not None and dock.preview.data.train.images.float().std()
                    != clean.std(), timeout=30_000)
    noisy = dock.preview.data.train.images.float()
    # Uniform noise over 0..255: mean 127.5, standard deviation 73.9; the shapes are far from that.
    assert abs(noisy.mean() - 127.5) < 2 and abs(noisy.std() - 73.9) < 1.5
    assert abs(clean.mean() - 127.5) > 20


def test_a_missing_dataset_is_explained_in_the_preview(dock, qtbot, tmp_path):
    dock.form.root.setText(str(tmp_path))
    dock.form.dataset.setCurrentIndex(dock.form.dataset.findData("mnist"))
    qtbot.waitUntil(lambda: str(tmp_path) in dock.preview.info.text(), timeout=30_000)
    assert dock.preview.data is None and "d64545" in dock.preview.info.styleSheet()
    assert dock.preview.originals.isHidden()


def test_train_reuses_the_previewed_data(dock, qtbot):
    previewed = dock.preview.data
    with qtbot.waitSignal(dock.run_ended, timeout=120_000):
        dock.train_button.click()
    assert dock.data is previewed  # no second load


def _folder(root, classes=("cat", "dog"), bad: int = 1):
    from PIL import Image

    for cls in classes:
        (root / cls).mkdir(parents=True)
        for i in range(4):
            Image.new("RGB", (10, 8), (40 * i, 100, 200)).save(root / cls / f"{i}.png")
    for i in range(bad):
        (root / "cat" / f"broken{i}.png").write_bytes(b"\x89PNG not really")
    return root


def test_opening_a_project_with_a_folder_dataset_reads_nothing_until_asked(dock, qtbot, tmp_path, monkeypatch):
    """Issue 21: opening a project whose dataset is an image folder, with the Training dock (and its sample
    preview) visible, used to start reading the folder in the background. Now it waits for "Load samples"
    or Train; the skipped files are counted in the preview and in the run's status line."""
    import cnnplayground.ui.training.dock as dock_module

    loads = []
    real = dock_module.load_dataset
    monkeypatch.setattr(dock_module, "load_dataset", lambda *a, **k: loads.append(a[0].name) or real(*a, **k))
    root = _folder(tmp_path / "pets")
    choice = DatasetChoice(name="folder", root=str(root), options={"size": 28, "channels": 1})
    graph = get_preset("lenet5").factory(num_classes=2)
    from cnnplayground.io.project import save_project

    save_project(Project.new(graph=graph, name="pets", dataset=choice, training=dock.document.project.training),
                 tmp_path / "pets.cnnp")
    dock.document.open(tmp_path / "pets.cnnp")
    qtbot.waitUntil(lambda: not dock.preview.load_button.isHidden(), timeout=10_000)
    assert "read when you ask" in dock.preview.info.text() and dock.preview.data is None
    assert dock.ensure_data() is None and dock.waits_for_request
    from cnnplayground.ui.inspect.source import ModelSource

    source = ModelSource(dock.document, dock)  # what the Inspect panels ask before they call ensure_data
    assert source.data_problem == ("The images of the folder are read when you ask: press Load samples in the "
                                   "Training dock, or Train")
    source.ensure_data()
    assert loads == []  # nothing was read: not by the preview, not by an Inspect panel's ensure_data
    dock.preview.load_button.click()
    qtbot.waitUntil(lambda: dock.preview.data is not None, timeout=30_000)
    assert loads == ["folder"] and dock.preview.load_button.isHidden()
    assert dock.preview.info.text().endswith("; skipped 1 unreadable file: first cat/broken0.png "
                                             "(not a readable PNG, JPEG, BMP, GIF, WebP or TIFF image)")
    statuses = []
    dock.message.connect(statuses.append)
    with qtbot.waitSignal(dock.run_ended, timeout=60_000):
        dock.train_button.click()
    assert loads == ["folder"], dock.status.text()  # Train used the loaded data
    assert any(s.startswith("Training on CPU (") and "skipped 1 unreadable file: first cat/broken0.png" in s
               for s in statuses), statuses

"""The Training dock's sample preview shows the normalization (per-channel mean/std of the training split) and
the images per class, warns when the classes are unbalanced, and the settings form sets the class weights."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image
from PySide6.QtCore import Qt

from cnnplayground.core.presets import get_preset
from cnnplayground.data.balance import class_counts
from cnnplayground.data.base import channel_stats
from cnnplayground.project import DatasetChoice, Project, TrainingConfig
from cnnplayground.ui.document.document import Document
from cnnplayground.ui.training.dock import TrainingDock
from cnnplayground.ui.training.preview import WARNING_COLOUR


def _folder(root: Path, counts: dict[str, int]) -> Path:
    for c, (cls, n) in enumerate(counts.items()):
        (root / cls).mkdir(parents=True)
        for i in range(n):
            Image.new("RGB", (8, 8), (30 + 70 * c, (11 * i) % 256, 220 - 60 * c)).save(root / cls / f"{i}.png")
    return root


@pytest.fixture
def make_dock(qtbot):
    """A shown Training dock on a project with ``choice``, its samples loaded. The docks stay referenced until
    the test's teardown (a shown dock dropped at the end of a test function, before pytest-qt closes it, made
    a later test abort in the offscreen backing store's free: malloc_consolidate(), on today's code too)."""
    docks: list[TrainingDock] = []

    def make(choice: DatasetChoice, classes: int) -> TrainingDock:
        config = TrainingConfig(epochs=1, batch_size=64, device="cpu", checkpoint_every=0)
        graph = get_preset("lenet5").factory(num_classes=classes, in_channels=3)
        doc = Document(Project.new(graph=graph, name="t", dataset=choice, training=config))
        dock = TrainingDock(doc)
        docks.append(dock)
        qtbot.addWidget(dock)
        dock.resize(360, 1400)
        dock.show()
        if choice.name == "folder":  # read on request only
            qtbot.waitUntil(lambda: not dock.preview.load_button.isHidden(), timeout=10_000)
            dock.preview.load_button.click()
        qtbot.waitUntil(lambda: dock.preview.data is not None, timeout=30_000)
        return dock

    yield make


def test_the_preview_shows_mean_std_and_warns_about_unbalanced_classes(make_dock, tmp_path):
    root = _folder(tmp_path / "pets", {"cat": 60, "dog": 30, "emu": 8})
    dock = make_dock(DatasetChoice(name="folder", root=str(root), options={"size": 28}), 3)
    preview, data = dock.preview, dock.preview.data
    mean, std = channel_stats(data.train.images)
    assert (data.mean, data.std) == (mean, std)
    stats = preview.stats.text()
    assert stats.startswith("Normalized with mean " + " ".join(f"{m:.2f}" for m in mean)
                            + ", std " + " ".join(f"{s:.2f}" for s in std) + ";")
    c = class_counts(data).train
    assert f"{min(c)}–{max(c)} training images per class" in stats and preview.stats.isVisible()
    tip = preview.stats.toolTip()  # the details: four decimals per channel, the counts of every split
    for name, m, s in zip(("red", "green", "blue"), mean, std):
        assert f"<td>{name}</td><td align=right>{m:.4f}</td><td align=right>{s:.4f}</td>" in tip
    val = class_counts(data).val
    assert f"<td>emu</td><td align=right>{c[2]}</td><td align=right>{val[2]}</td>" in tip
    # The warning line: visible, in the warning colour, naming the largest and smallest class.
    assert preview.balance.isVisible() and WARNING_COLOUR in preview.balance.styleSheet()
    assert preview.balance.text() == (f"⚠ Unbalanced classes: cat {c[0]} … emu {c[2]} ({c[0] / c[2]:.1f}×). "
                                      "Consider Class weights: Balanced (in Data above).")
    # Taking the advice in the form: the setting goes into the project, the line says the loss is weighted.
    form = dock.form
    form.class_weights.setCurrentIndex(form.class_weights.findData("balanced"))
    assert dock.document.project.training.class_weights == "balanced"
    assert preview.balance.text().endswith("the training loss is weighted by class.")
    assert WARNING_COLOUR not in preview.balance.styleSheet() and preview.balance.isVisible()
    dock.document.undo_stack.undo()
    assert dock.document.project.training.class_weights == "none" and preview.balance.text().startswith("⚠")
    assert form.class_weights.toolTip() == TrainingConfig.model_fields["class_weights"].description


def test_class_names_in_the_warning_are_shown_as_written(make_dock, tmp_path):
    root = _folder(tmp_path / "pets", {"<u>cat": 40, "dog": 6})
    dock = make_dock(DatasetChoice(name="folder", root=str(root), options={"size": 28}), 2)
    balance = dock.preview.balance
    assert balance.isVisible() and balance.text().startswith("⚠ Unbalanced classes: <u>cat ")
    assert balance.textFormat() == Qt.TextFormat.PlainText  # not underlined: the folder's name, character for character


@pytest.mark.parametrize("counts", [{"cat": 20, "dog": 20, "emu": 20}, {"cat": 29, "dog": 10, "emu": 20}])
def test_balanced_classes_show_no_warning(make_dock, tmp_path, counts):
    root = _folder(tmp_path / "pets", counts)
    dock = make_dock(DatasetChoice(name="folder", root=str(root), options={"size": 28}), 3)
    counted = class_counts(dock.preview.data)
    assert not counted.unbalanced
    assert dock.preview.stats.isVisible() and dock.preview.balance.isHidden()

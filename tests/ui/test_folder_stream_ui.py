"""The Training dock with an image folder larger than memory: it streams from disk, says how far the caching is,
and trains. The folder's memory budget is injected (``folder.memory``); decoding stays in the test's process."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from PIL import Image

from cnnplayground.core.presets import get_preset
from cnnplayground.data import folder, stream
from cnnplayground.data.stream import StreamedSplit
from cnnplayground.project import DatasetChoice, Project, TrainingConfig
from cnnplayground.ui.document.document import Document
from cnnplayground.ui.training.dock import TrainingDock


@pytest.fixture
def pets_dock(qtbot, tmp_path, monkeypatch) -> TrainingDock:
    root = tmp_path / "pets"
    for c, cls in enumerate(("cat", "dog")):
        (root / cls).mkdir(parents=True)
        for i in range(40):
            Image.new("RGB", (10, 8), (60 * c, 5 * i, 200)).save(root / cls / f"{i:02}.png")
    monkeypatch.setenv("CNNPLAYGROUND_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(folder, "memory", SimpleNamespace(available_memory=lambda device="cpu": 10 * 2**10))
    monkeypatch.setattr(stream, "worker_count", lambda workers, tasks: 0)
    monkeypatch.setattr(stream, "CHUNK_BYTES", 10 * 28 * 28)  # eight chunks: several reports
    monkeypatch.setattr(stream, "PROGRESS_INTERVAL", 0.0)
    choice = DatasetChoice(name="folder", root=str(root), options={"size": 28, "channels": 1})
    config = TrainingConfig(epochs=1, batch_size=16, device="cpu", checkpoint_every=0)
    doc = Document(Project.new(graph=get_preset("lenet5").factory(num_classes=2), name="pets", dataset=choice,
                               training=config))
    widget = TrainingDock(doc)
    qtbot.addWidget(widget)
    widget.resize(340, 1000)
    widget.show()
    return widget


def test_train_on_a_folder_larger_than_memory_shows_the_caching_and_trains_from_disk(pets_dock, qtbot):
    statuses: list[str] = []
    pets_dock.message.connect(statuses.append)
    with qtbot.waitSignal(pets_dock.run_ended, timeout=60_000):
        pets_dock.train_button.click()
    loading = [s for s in statuses if s.startswith("Loading the dataset: ")]
    assert "Loading the dataset: decoding images into the cache: 80 of 80 (100%)" in loading, statuses
    assert len([s for s in loading if "decoding" in s]) >= 3  # it moves: the first, some between, the last
    assert isinstance(pets_dock.cached_data.train, StreamedSplit)
    assert statuses[-1].startswith("Finished 1 epochs"), statuses


def test_load_samples_shows_the_caching_in_the_preview(pets_dock, qtbot):
    shown: list[str] = []
    real = pets_dock.preview.set_message
    pets_dock.preview.set_message = lambda text, **kw: shown.append(text) or real(text, **kw)
    qtbot.waitUntil(lambda: not pets_dock.preview.load_button.isHidden(), timeout=10_000)
    pets_dock.preview.load_button.click()
    qtbot.waitUntil(lambda: pets_dock.preview.data is not None, timeout=30_000)
    assert "Loading samples: decoding images into the cache: 80 of 80 (100%)" in shown, shown
    assert isinstance(pets_dock.preview.data.train, StreamedSplit)

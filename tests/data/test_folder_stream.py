"""Image folders larger than memory stream from a cache of decoded images on disk (``data/stream.py``).

The memory budget is always injected (a monkeypatched ``available_memory`` or the ``available_memory``
parameter): the folders are a few hundred tiny images written by the test. Each test's cache lives in
its ``tmp_path``; decodes are counted by wrapping ``folder.read_image``.
"""

from __future__ import annotations

import os
import shutil
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from cnnplayground.core import memory
from cnnplayground.data import base, folder, stream
from cnnplayground.data.base import DatasetMemoryError, channel_stats
from cnnplayground.data.folder import load_folder
from cnnplayground.data.registry import load_dataset
from cnnplayground.data.stream import LoadProgress, StreamedSplit
from cnnplayground.project import DatasetChoice, TrainingConfig
from cnnplayground.train.events import EpochFinished, Finished
from cnnplayground.train.trainer import Trainer

CLASSES = ("ant", "bee", "cow")
PER_CLASS = 100
SIZE = 12
#: Far below what the folders need (300 images × 3×12×12 bytes, twice: 260 KB).
TINY_BUDGET = 50 * 2**10


def _image(label: int, i: int, rng: np.random.Generator) -> Image.Image:
    """A learnable image: a bright bar whose place depends on the class, on noise; sizes vary."""
    h, w = 14 + i % 5, 12 + i % 7
    pixels = rng.integers(0, 90, (h, w, 3), dtype=np.uint8)
    pixels[:, :, label] += 80
    pixels[label * h // 3 : (label + 1) * h // 3] = 230
    return Image.fromarray(pixels)


@pytest.fixture
def animals(tmp_path: Path) -> Path:
    rng = np.random.default_rng(7)
    root = tmp_path / "animals"
    for label, name in enumerate(CLASSES):
        (root / name).mkdir(parents=True)
        for i in range(PER_CLASS):
            _image(label, i, rng).save(root / name / f"{i:03}.png")
    (root / "bee" / "broken.png").write_bytes(b"\x89PNG not really")
    return root


@pytest.fixture
def cache(tmp_path: Path, monkeypatch) -> Path:
    where = tmp_path / "cache"
    monkeypatch.setenv("CNNPLAYGROUND_CACHE", str(where))
    return where


@pytest.fixture
def decodes(monkeypatch) -> list[Path]:
    """Every image decoded (in this process: the tests load with ``workers=0``)."""
    seen: list[Path] = []
    real = folder.read_image

    def counting(path, **kwargs):
        seen.append(path)
        return real(path, **kwargs)

    monkeypatch.setattr(folder, "read_image", counting)
    return seen


def _streamed(root: Path, **kwargs) -> folder.FolderImages:
    return load_folder(root, size=SIZE, available_memory=TINY_BUDGET, workers=0, **kwargs)


def _same(a: base.Split, b: base.Split) -> None:
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels) and a.files == b.files


def test_a_folder_over_the_memory_budget_streams_the_same_images_labels_and_splits(animals, cache, monkeypatch):
    """Was: DatasetMemoryError. Now every split, the statistics and the skipped file match the in-memory load."""
    choice = DatasetChoice(name="folder", root=str(animals), options={"size": SIZE, "test_fraction": 0.2})
    in_memory = load_dataset(choice, val_fraction=0.1, seed=3)
    monkeypatch.setattr(memory, "available_memory", lambda device="cpu": TINY_BUDGET)
    streamed = load_dataset(choice, val_fraction=0.1, seed=3)
    assert not isinstance(in_memory.train, StreamedSplit)
    assert all(isinstance(s, StreamedSplit) for s in (streamed.train, streamed.val, streamed.test))
    assert (len(streamed.train), len(streamed.val), len(streamed.test)) == (216, 24, 60)
    for a, b in ((in_memory.train, streamed.train), (in_memory.val, streamed.val), (in_memory.test, streamed.test)):
        _same(a, b)
    assert streamed.mean == in_memory.mean and streamed.std == in_memory.std
    assert streamed.skipped == in_memory.skipped and streamed.skipped.first[0][0] == "bee/broken.png"
    assert (cache / "folders").is_dir() and len(list((cache / "folders").iterdir())) == 1


def test_random_labels_and_pixels_on_a_streamed_folder_match_the_in_memory_ones(animals, cache, monkeypatch):
    choice = DatasetChoice(name="folder", root=str(animals),
                           options={"size": SIZE, "random_labels": 0.3, "random_pixels": 0.2})
    in_memory = load_dataset(choice, seed=1)
    monkeypatch.setattr(memory, "available_memory", lambda device="cpu": TINY_BUDGET)
    streamed = load_dataset(choice, seed=1)
    assert isinstance(streamed.train, StreamedSplit)
    _same(in_memory.train, streamed.train)
    # The cache itself is untouched: a clean load gives the clean images.
    clean = load_dataset(DatasetChoice(name="folder", root=str(animals), options={"size": SIZE}), seed=1)
    assert not torch.equal(clean.train.images, streamed.train.images)
    assert torch.equal(clean.train.images, load_dataset(DatasetChoice(
        name="folder", root=str(animals), options={"size": SIZE}), seed=1).train.images)


def _net() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(16, 3))


def test_training_on_the_streamed_folder_gives_the_in_memory_accuracy(animals, cache, monkeypatch):
    """Same seed, same batches: every epoch's losses and accuracies are equal, and the network learns."""
    choice = DatasetChoice(name="folder", root=str(animals), options={"size": SIZE})
    config = TrainingConfig(epochs=3, batch_size=32, learning_rate=0.05, device="cpu", checkpoint_every=0, seed=5)
    results = []
    for budget in (None, TINY_BUDGET):
        if budget is not None:
            monkeypatch.setattr(memory, "available_memory", lambda device="cpu": TINY_BUDGET)
        data = load_dataset(choice, val_fraction=0.2, seed=5)
        assert isinstance(data.train, StreamedSplit) == (budget is not None)
        torch.manual_seed(0)
        events = list(Trainer(_net(), data, config).run())
        assert isinstance(events[-1], Finished)
        results.append([(e.train_loss, e.train_accuracy, e.val_loss, e.val_accuracy)
                        for e in events if isinstance(e, EpochFinished)])
    assert results[0] == results[1]
    assert len(results[1]) == 3 and results[1][-1][3] > 0.6  # three classes: chance is 1/3


def test_the_cache_is_reused_on_the_second_load_without_decoding(animals, cache, decodes):
    first = _streamed(animals)
    assert len(decodes) == 3 * PER_CLASS + 1
    progress: list[LoadProgress] = []
    again = _streamed(animals, progress=progress.append)
    assert len(decodes) == 3 * PER_CLASS + 1  # nothing decoded the second time
    _same(first.split, again.split)
    assert again.skipped == first.skipped and again.skipped.count == 1
    stages = [p.stage for p in progress]
    assert "decoding" not in stages and stages[0] == "scanning" and "checking" in stages
    assert progress[-1] == LoadProgress("checking", 3 * PER_CLASS, 3 * PER_CLASS)


def _change(root: Path, how: str) -> None:
    path = root / "cow" / "005.png"
    if how == "edited":
        Image.new("RGB", (12, 12), (1, 2, 3)).save(path)
        os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    elif how == "removed":
        path.unlink()
    else:
        Image.new("RGB", (12, 12), (1, 2, 3)).save(root / "cow" / "new.png")


@pytest.mark.parametrize("how", ["edited", "removed", "added"])
def test_a_changed_folder_rebuilds_its_cache(animals, cache, decodes, how):
    _streamed(animals)
    _change(animals, how)
    decodes.clear()
    changed = _streamed(animals)
    assert len(decodes) == len(list(animals.glob("*/*.png")))  # every file decoded again
    _same(load_folder(animals, size=SIZE).split, changed.split)
    assert len(list((cache / "folders").iterdir())) == 1  # replaced, not added beside the old one


def _damage(where: Path, how: str) -> None:
    images, manifest = where / "images.u8", where / "manifest.json"
    if how == "truncated":
        os.truncate(images, images.stat().st_size - 100)
    elif how == "bit flipped":
        with open(images, "r+b") as f:
            f.seek(5000)
            byte = f.read(1)
            f.seek(5000)
            f.write(bytes([byte[0] ^ 0x10]))
    elif how == "images missing":
        images.unlink()
    elif how == "manifest garbled":
        manifest.write_text(manifest.read_text()[:200])
    else:  # the manifest claims fewer images than the file holds
        text = manifest.read_text().replace("\"count\": 300", "\"count\": 299")
        manifest.write_text(text)


@pytest.mark.parametrize("how", ["truncated", "bit flipped", "images missing", "manifest garbled", "count wrong"])
def test_a_damaged_cache_is_rebuilt_not_trusted(animals, cache, decodes, how):
    expected = load_folder(animals, size=SIZE).split  # in memory: the damage below reaches into the map
    _streamed(animals)
    (where,) = (cache / "folders").iterdir()
    _damage(where, how)
    decodes.clear()
    again = _streamed(animals)
    assert len(decodes) == 3 * PER_CLASS + 1
    _same(expected, again.split)
    assert len(_streamed(animals).split) == 300 and len(decodes) == 3 * PER_CLASS + 1  # and then it holds


def test_worker_processes_decode_the_images_this_process_does(animals, tmp_path, monkeypatch):
    monkeypatch.setattr(stream, "CHUNK_BYTES", 40 * 3 * SIZE * SIZE)  # 8 tasks for two workers
    in_memory = load_folder(animals, size=SIZE)
    streamed = load_folder(animals, size=SIZE, available_memory=TINY_BUDGET, workers=2, cache_dir=tmp_path / "c")
    _same(in_memory.split, streamed.split)
    assert streamed.skipped == in_memory.skipped


def test_streaming_holds_a_few_chunks_not_the_folder(animals, cache, monkeypatch):
    """At 64 px the decoded set is 3.7 MB; the allocations tracemalloc sees (numpy's and Python's) stay below a
    quarter of it while the cache is written, read back, and copied for the validation and test splits."""
    row = 3 * 64 * 64
    monkeypatch.setattr(stream, "CHUNK_BYTES", 5 * row)
    monkeypatch.setattr(stream, "COPY_BYTES", 5 * row)
    monkeypatch.setattr(stream, "worker_count", lambda workers, tasks: 0)  # decoded here, where tracemalloc sees it
    monkeypatch.setattr(memory, "available_memory", lambda device="cpu": TINY_BUDGET)
    choice = DatasetChoice(name="folder", root=str(animals), options={"size": 64, "test_fraction": 0.3})
    load_dataset(choice.model_copy(update={"options": {"size": 8}}))  # imports the decoders (1.7 MB of code)
    for _ in range(2):  # build, then reuse
        tracemalloc.start()
        try:
            data = load_dataset(choice, val_fraction=0.3, seed=0)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert isinstance(data.val, StreamedSplit) and len(data.val) == 63
        assert peak < 300 * row / 4, peak


def test_channel_stats_reads_a_chunk_at_a_time_and_gives_the_same_statistics(monkeypatch):
    images = torch.randint(0, 256, (50, 3, 8, 8), dtype=torch.uint8)
    whole = channel_stats(images)
    seen: list[int] = []
    real = torch.bincount
    monkeypatch.setattr(base.torch, "bincount", lambda x, **kw: seen.append(x.numel()) or real(x, **kw))
    monkeypatch.setattr(base, "STATS_CHUNK_BYTES", 8 * 3 * 8 * 8)
    assert channel_stats(images) == whole
    assert max(seen) == 8 * 8 * 8 and sum(seen) == images.numel()


def test_without_room_on_disk_either_the_folder_is_refused_before_writing(animals, cache, monkeypatch):
    monkeypatch.setattr(stream.shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(10**9, 10**9, 10_000))
    with pytest.raises(DatasetMemoryError) as info:
        _streamed(animals)
    needed = 2 * (3 * PER_CLASS + 1) * 3 * SIZE * SIZE
    assert str(info.value) == (
        f"image folder {animals} needs 259 KB of memory (301 images at 12×12×3); 50 KB is available, and streaming "
        f"it from disk fails: its cache needs {needed / 2**10:.0f} KB of disk in {cache / 'folders'}, where 10 KB "
        "is free: free disk space, set CNNPLAYGROUND_CACHE to a larger disk, or choose a smaller image size or "
        "fewer images")
    assert not (cache / "folders").exists()


def test_progress_counts_every_file_while_scanning_and_decoding(animals, cache):
    progress: list[LoadProgress] = []
    _streamed(animals, progress=progress.append)
    ends = {p.stage: p for p in progress}
    assert ends["scanning"] == LoadProgress("scanning", 301, 301) and ends["decoding"] == LoadProgress(
        "decoding", 301, 301)
    assert progress[0] == LoadProgress("scanning", 0, 301)
    assert LoadProgress("decoding", 150, 301).message() == "decoding images into the cache: 150 of 301 (50%)"


def test_a_build_killed_midway_leaves_nothing_that_lasts(animals, cache):
    """A partial file of a killed build (no manifest names it) is removed by the next build once an hour old."""
    _streamed(animals)
    (where,) = (cache / "folders").iterdir()
    abandoned, fresh = where / "images.abc.part", where / "images.def.part"
    abandoned.write_bytes(b"\0" * 1000)
    fresh.write_bytes(b"\0" * 1000)  # perhaps another process's build in progress
    os.utime(abandoned, (0, os.path.getmtime(abandoned) - 3601))
    (where / "manifest.json").unlink()
    _streamed(animals)
    assert not abandoned.exists() and fresh.exists()
    assert sorted(p.name for p in where.iterdir()) == ["images.def.part", "images.u8", "manifest.json"]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_a_streamed_split_too_large_for_the_gpu_is_never_pinned_whole(animals, cache, monkeypatch):
    """Pinning copies the whole split into page-locked memory: for a split streamed because it does not fit in
    memory, each batch is pinned instead. The batches match the in-memory split's."""
    from cnnplayground.data.loader import DeviceLoader

    in_memory = load_folder(animals, size=SIZE).split
    streamed = _streamed(animals).split
    pinned: list[int] = []
    real = torch.Tensor.pin_memory
    monkeypatch.setattr(torch.Tensor, "pin_memory", lambda self, *a: pinned.append(self.shape[0]) or real(self, *a))
    kwargs = {"mean": (0.5,) * 3, "std": (0.25,) * 3, "batch_size": 32, "device": "cuda", "max_device_bytes": 1}
    batches = [(x.cpu(), y.cpu()) for x, y in DeviceLoader(streamed, **kwargs)]
    assert pinned and max(pinned) == 32
    for (xa, ya), (xb, yb) in zip(DeviceLoader(in_memory, **kwargs), batches, strict=True):
        assert torch.equal(xa.cpu(), xb) and torch.equal(ya.cpu(), yb)


def test_a_subset_of_a_streamed_split_is_streamed_and_equal_to_the_in_memory_subset(animals, cache):
    in_memory, streamed = load_folder(animals, size=SIZE).split, _streamed(animals).split
    for index in (torch.tensor([5, 3, 299, 3]), torch.arange(0, 300, 7), torch.tensor([], dtype=torch.int64)):
        part = streamed.subset(index)
        assert isinstance(part, StreamedSplit)
        _same(in_memory.subset(index), part)


def test_a_disk_that_fills_up_before_the_cache_is_written_is_a_message_not_a_crash(animals, cache, monkeypatch):
    """Writing through a memory map into a sparse file on a full disk is a SIGBUS that ends the process; the
    files are given their disk first. A full disk is simulated (``posix_fallocate`` raises ENOSPC)."""
    import errno

    def full(fd, offset, length):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(stream.os, "posix_fallocate", full)
    with pytest.raises(base.DatasetError, match=r"^cannot write the image cache in .* \(No space left on device\): "
                       "free disk space or set CNNPLAYGROUND_CACHE to another folder$"):
        _streamed(animals)
    (where,) = (cache / "folders").iterdir()
    assert list(where.iterdir()) == []  # no partial file left
    monkeypatch.undo()
    monkeypatch.setenv("CNNPLAYGROUND_CACHE", str(cache))
    split = _streamed(animals).split
    monkeypatch.setattr(stream.os, "posix_fallocate", full)
    with pytest.raises(base.DatasetError, match=r"^cannot copy images for a split into .* \(No space left on device\)"):
        split.subset(torch.arange(10))


@pytest.fixture
def layout(tmp_path: Path) -> Path:
    """train/ and test/ (no cow in test/), images 8 wide and 12 high (a few 10×16, fitted), a broken file in each."""
    rng = np.random.default_rng(11)
    root = tmp_path / "layout"
    for split, count, classes in (("train", 40, CLASSES), ("test", 10, CLASSES[:2])):
        for label, name in enumerate(classes):
            (root / split / name).mkdir(parents=True)
            for i in range(count):
                w, h = (10, 16) if i % 9 == 0 else (8, 12)
                pixels = rng.integers(0, 200, (h, w, 3), dtype=np.uint8)
                pixels[:, :, label] = 255
                Image.fromarray(pixels).save(root / split / name / f"{i:03}.png")
    (root / "train" / "cow" / "broken.png").write_bytes(b"\x89PNG not really")
    (root / "test" / "ant" / "broken.png").write_bytes(b"not an image")
    return root


def test_a_train_test_layout_at_a_non_square_own_size_streams_each_split_from_its_own_cache(
        layout, cache, decodes, monkeypatch):
    """Issue 22's folder layouts and own image sizes, streamed: train/ and test/ each get a cache of their own
    (neither overwrites the other), at 12×8, and every split equals the in-memory load."""
    choice = DatasetChoice(name="folder", root=str(layout))  # size "auto": the images' own 12×8
    in_memory = load_dataset(choice, val_fraction=0.25, seed=4)
    assert in_memory.input_shape == (3, 12, 8)
    monkeypatch.setattr(memory, "available_memory", lambda device="cpu": 10 * 2**10)  # injected: 10 KB
    progress: list[LoadProgress] = []
    streamed = load_dataset(choice, val_fraction=0.25, seed=4, progress=progress.append)
    assert all(isinstance(s, StreamedSplit) for s in (streamed.train, streamed.val, streamed.test))
    assert (len(streamed.train), len(streamed.val), len(streamed.test)) == (90, 30, 20)
    for a, b in ((in_memory.train, streamed.train), (in_memory.val, streamed.val), (in_memory.test, streamed.test)):
        _same(a, b)
    assert streamed.input_shape == (3, 12, 8) and streamed.test.files[0] == "test/ant/000.png"
    assert streamed.mean == in_memory.mean and streamed.std == in_memory.std
    assert streamed.skipped == in_memory.skipped and streamed.skipped.count == 2
    assert [p for p in progress if p.stage == "decoding" and p.done == p.total] == [
        LoadProgress("decoding", 121, 121, "train"), LoadProgress("decoding", 21, 21, "test")]
    assert len(list((cache / "folders").iterdir())) == 2  # one cache per split
    decodes.clear()
    again = load_dataset(choice, val_fraction=0.25, seed=4)  # both caches still valid: nothing decoded
    assert decodes == []
    for a, b in ((in_memory.train, again.train), (in_memory.val, again.val), (in_memory.test, again.test)):
        _same(a, b)

"""``cnnplayground train`` shows the normalization and the images per class of the training split, warns when
the classes are unbalanced, and ``--class-weights balanced`` weighs the loss and is saved with the project."""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path

import pytest
import torch
from PIL import Image

from cnnplayground.cli import main
from cnnplayground.data.balance import class_counts
from cnnplayground.data.base import channel_stats
from cnnplayground.data.registry import load_dataset
from cnnplayground.io.project import load_project, save_project
from cnnplayground.project import DatasetChoice

RUN = ["train", "--preset", "lenet5", "--dataset", "folder", "--image-size", "12", "--epochs", "1",
       "--batch-size", "32", "--device", "cpu", "--seed", "0"]


def write_folder(root: Path, counts: dict[str, int]) -> Path:
    """A generated image folder: ``counts[class]`` solid-colour 8×8 PNGs per class (as tests/data's)."""
    for c, (cls, n) in enumerate(counts.items()):
        (root / cls).mkdir(parents=True)
        for i in range(n):
            Image.new("RGB", (8, 8), (30 + 70 * c, (11 * i) % 256, 220 - 60 * c)).save(root / cls / f"{i}.png")
    return root


def _train(root: Path, *flags: str) -> int:
    return main([*RUN, "--data-root", str(root), *flags])


def test_the_printed_normalization_is_the_training_splits_channel_stats(tmp_path, capsys):
    root = write_folder(tmp_path / "pets", {"cat": 40, "dog": 40, "emu": 40})
    assert _train(root, "--no-save") == 0
    out, err = capsys.readouterr()
    data = load_dataset(DatasetChoice(name="folder", root=str(root), options={"size": 12}), val_fraction=0.1, seed=0)
    mean, std = channel_stats(data.train.images)
    line = next(x for x in out.splitlines() if x.startswith("normalization"))
    assert line.startswith(f"normalization (from the {len(data.train):,} training images): mean ")
    printed = [float(v) for v in re.findall(r"\d+\.\d+", line)]
    assert printed == [round(v, 2) for v in (*mean, *std)]
    assert len(set(printed[:3])) == 3  # three different channel means: the order of the channels is checked
    counts = class_counts(data).train
    assert f"classes (training images): cat {counts[0]}, dog {counts[1]}, emu {counts[2]}" in out
    assert "unbalanced" not in out + err  # 40 of each class


def test_an_unbalanced_folder_is_warned_about_once(tmp_path, capsys):
    root = write_folder(tmp_path / "pets", {"cat": 60, "dog": 30, "emu": 8})
    assert _train(root, "--no-save") == 0
    out, err = capsys.readouterr()
    data = load_dataset(DatasetChoice(name="folder", root=str(root), options={"size": 12}), val_fraction=0.1, seed=0)
    c = class_counts(data).train
    warning = (f"warning: classes are unbalanced: cat {c[0]} … emu {c[2]} ({c[0] / c[2]:.1f}×); "
               "consider --class-weights balanced")
    assert err.splitlines().count(warning) == 1 and warning not in out
    assert _train(root, "--no-save", "--json") == 0  # JSON on stdout: the warning still goes to stderr
    out, err = capsys.readouterr()
    assert warning in err.splitlines()
    events = [json.loads(line)["event"] for line in out.splitlines()]
    assert "RunStarted" in events and warning not in out
    assert all(event == "Note" for event in events[:events.index("RunStarted")])  # only notes come before the run


def test_class_weights_balanced_weighs_the_loss_and_is_saved(tmp_path, capsys, monkeypatch):
    root = write_folder(tmp_path / "pets", {"cat": 60, "dog": 30, "emu": 8})
    seen: list[torch.Tensor | None] = []
    real = torch.nn.CrossEntropyLoss

    def spy(*args, **kwargs):
        seen.append(kwargs.get("weight"))
        return real(*args, **kwargs)

    monkeypatch.setattr(torch.nn, "CrossEntropyLoss", spy)
    out = tmp_path / "run.cnnp"
    assert _train(root, "--class-weights", "balanced", "--save", str(out)) == 0
    text, err = capsys.readouterr()
    assert "consider --class-weights" not in err
    assert "the training loss is weighted by class (--class-weights balanced)" in text
    project = load_project(out)
    assert project.training.class_weights == "balanced"
    data = load_dataset(project.dataset, val_fraction=project.training.val_fraction, seed=project.training.seed)
    c = class_counts(data).train
    n = sum(c)
    assert len(seen) == 1 and seen[0] is not None
    assert seen[0].tolist() == pytest.approx([n / (3 * k) for k in c], rel=1e-6)
    assert project.history[-1].settings["class_weights"] == "balanced"


def test_a_project_saved_before_class_weights_loads_with_them_off(tmp_path):
    from cnnplayground.core.presets import get_preset
    from cnnplayground.project import Project

    path = tmp_path / "new.cnnp"
    save_project(Project.new(graph=get_preset("lenet5").factory(), name="old"), path)
    with zipfile.ZipFile(path) as zf:
        entries = {name: zf.read(name) for name in zf.namelist()}
    doc = json.loads(entries["project.json"])
    assert doc["training"].pop("class_weights") == "none"
    entries["project.json"] = json.dumps(doc).encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, blob in entries.items():
            zf.writestr(name, blob)
    old = tmp_path / "old.cnnp"
    old.write_bytes(buffer.getvalue())
    assert load_project(old).training.class_weights == "none"

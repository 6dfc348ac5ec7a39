"""``cnnplayground train --preset speedrun_cifar`` starts from the preset's recommended settings (issue 10)."""

from __future__ import annotations

import json

import pytest
import torch

from cnnplayground.cli import main
from cnnplayground.core.presets import get_preset
from cnnplayground.data.base import ImageData, Split, channel_stats
from cnnplayground.io.project import load_project


@pytest.fixture
def tiny_rgb(monkeypatch):
    """Stand in for CIFAR-10 (not available offline): 48 + 16 random 3×32×32 images; records the choice."""
    asked: list = []

    def fake_load_dataset(choice, *, val_fraction=0.1, seed=0, download=False, progress=None):
        asked.append((choice.model_copy(deep=True), val_fraction))
        gen = torch.Generator().manual_seed(0)
        images = torch.randint(0, 256, (64, 3, 32, 32), dtype=torch.uint8, generator=gen)
        labels = torch.arange(64) % 10
        train, val = Split(images[:48], labels[:48]), Split(images[48:], labels[48:])
        mean, std = channel_stats(train.images)
        return ImageData(choice.name, tuple(str(i) for i in range(10)), train, val, None, mean, std)

    monkeypatch.setattr("cnnplayground.data.registry.load_dataset", fake_load_dataset)
    return asked


def test_the_speedrun_preset_trains_with_its_recommended_settings(tmp_path, capsys, tiny_rgb):
    out = tmp_path / "speedrun.cnnp"
    code = main(["train", "--preset", "speedrun_cifar", "--epochs", "1", "--device", "cpu", "--json",
                 "--save", str(out)])
    assert code == 0, capsys.readouterr().err
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert events[0]["event"] == "RunStarted" and events[0]["parameters"] == 2_015_008
    (choice, val_fraction), = tiny_rgb
    recommended = get_preset("speedrun_cifar").recommended_settings()
    assert choice.name == "cifar10" and val_fraction == recommended["training"]["val_fraction"]
    training = load_project(out).training
    for key, value in recommended["training"].items():
        if key == "augment":
            assert training.augment.model_dump(exclude_defaults=True) == value
        elif key != "epochs":
            assert getattr(training, key) == value, key
    assert training.epochs == 1  # the command line wins


def test_command_line_switches_override_the_recommendation(tmp_path, capsys, tiny_rgb):
    out = tmp_path / "speedrun.cnnp"
    assert main(["train", "--preset", "speedrun_cifar", "--epochs", "1", "--device", "cpu", "--no-tta-flip",
                 "--dataset", "synthetic-rgb", "--batch-size", "16", "--lr", "0.01", "--save", str(out)]) == 0
    training = load_project(out).training
    assert not training.tta_flip and training.batch_size == 16 and training.optimizer == "sgd"
    assert tiny_rgb[0][0].name == "synthetic-rgb"
    assert "epoch 1/1" in capsys.readouterr().out


def test_presets_without_recommendations_keep_the_defaults(tmp_path, capsys, tiny_rgb):
    out = tmp_path / "small.cnnp"
    assert main(["train", "--preset", "vgg_small", "--epochs", "1", "--device", "cpu", "--save", str(out)]) == 0
    training = load_project(out).training
    assert training.optimizer == "adam" and not training.tta_flip and not training.compile
    assert tiny_rgb[0][0].name == "synthetic-rgb"  # the dataset its 3×32×32 input needs (issue 20)


def test_the_recommended_dataset_is_what_a_missing_file_names(tmp_path, capsys):
    assert main(["train", "--preset", "speedrun_cifar", "--data-root", str(tmp_path / "nothing")]) == 2
    assert "CIFAR-10 files not found" in capsys.readouterr().err

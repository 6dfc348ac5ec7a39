"""A LeNet-5 trained on the synthetic set, shared by the inspection tests that need a trained net."""

from __future__ import annotations

import pytest
import torch

from cnnplayground.core.builder import build
from cnnplayground.core.presets import get_preset
from cnnplayground.data.registry import load_dataset
from cnnplayground.inspect.snapshot import snapshot
from cnnplayground.project import DatasetChoice, TrainingConfig
from cnnplayground.train.trainer import Trainer


@pytest.fixture(scope="session")
def trained():
    """(model snapshot, 200 validation images in [0, 1], their labels, mean, std)."""
    data = load_dataset(DatasetChoice(name="synthetic", options={"train_size": 8000, "test_size": 200}),
                        val_fraction=0.1, seed=0)
    torch.manual_seed(0)
    model = build(get_preset("lenet5").factory())
    list(Trainer(model, data, TrainingConfig(epochs=3, batch_size=64, device="cpu", checkpoint_every=0)).run())
    model = snapshot(model)
    x = data.val.images[:200].float() / 255.0
    return model, x, data.val.labels[:200], data.mean, data.std

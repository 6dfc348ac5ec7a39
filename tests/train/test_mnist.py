"""LeNet-5 on the real MNIST files: the classic >= 98.5 % test accuracy."""

from __future__ import annotations

import pytest
import torch

from cnnplayground.core.presets import get_preset
from cnnplayground.data.loader import DeviceLoader
from cnnplayground.data.registry import load_dataset
from cnnplayground.project import DatasetChoice, TrainingConfig
from cnnplayground.train.evaluate import evaluate
from cnnplayground.train.events import Finished
from cnnplayground.train.setup import build_for_data
from cnnplayground.train.trainer import Trainer


@pytest.mark.data
@pytest.mark.slow
def test_lenet5_reaches_98_5_percent_test_accuracy_on_mnist(shared_datasets):
    config = TrainingConfig(epochs=4, batch_size=128, learning_rate=2e-3, schedule="cosine", device="cpu",
                            checkpoint_every=0, val_fraction=0.05)
    data = load_dataset(DatasetChoice(name="mnist", root=str(shared_datasets)), val_fraction=0.05, seed=0)
    assert len(data.test) == 10_000
    torch.manual_seed(0)
    model = build_for_data(get_preset("lenet5").factory(), data)
    events = list(Trainer(model, data, config).run())
    assert isinstance(events[-1], Finished) and events[-1].reason == "completed"
    test = DeviceLoader(data.test, mean=data.mean, std=data.std, batch_size=1000, shuffle=False)
    result = evaluate(model, test, data.num_classes)
    assert result.count == 10_000
    assert result.accuracy >= 0.985, f"test accuracy {result.accuracy:.2%}"

"""Zhang et al. 2017, small scale: a network fits random labels, and learns nothing that generalizes."""

from __future__ import annotations

import torch
from torch import nn

from cnnplayground.data.registry import load_dataset
from cnnplayground.project import DatasetChoice, TrainingConfig
from cnnplayground.train.events import EpochFinished
from cnnplayground.train.trainer import Trainer


def final_epoch(random_labels: float) -> EpochFinished:
    choice = DatasetChoice(name="synthetic", options={"train_size": 600, "test_size": 100,
                                                      "random_labels": random_labels})
    config = TrainingConfig(epochs=25, batch_size=50, learning_rate=2e-3, device="cpu", checkpoint_every=0,
                            val_fraction=0.5)
    data = load_dataset(choice, val_fraction=config.val_fraction, seed=0)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 512), nn.ReLU(), nn.Linear(512, 10))
    return [e for e in Trainer(model, data, config).run() if isinstance(e, EpochFinished)][-1]


def test_random_labels_are_memorized_but_validation_stays_at_chance():
    noisy = final_epoch(1.0)
    assert noisy.train_accuracy >= 0.95  # 300 random labels fitted
    assert noisy.val_accuracy <= 0.2  # chance is 0.1
    clean = final_epoch(0.0)
    assert clean.val_accuracy >= 0.4  # the same net, real labels: it generalizes

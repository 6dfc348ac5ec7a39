"""The model card: architecture table, dataset, non-default settings and final metrics of the last run."""

from __future__ import annotations

import re
from datetime import date

import torch

from cnnplayground.core.inference import infer
from cnnplayground.core.presets import lenet5, resnet20_cifar
from cnnplayground.data.base import ImageData, Split
from cnnplayground.export.card import model_card
from cnnplayground.project import DatasetChoice, Project, TrainingConfig, run_record
from cnnplayground.train.events import EpochFinished


def _epoch(epoch: int, val_acc: float, val_loss: float) -> EpochFinished:
    return EpochFinished(
        epoch=epoch, step=100 * epoch, train_loss=1.0 / epoch, train_accuracy=0.5 + 0.1 * epoch,
        val_loss=val_loss, val_accuracy=val_acc, per_class_accuracy=(), confusion=(), learning_rate=0.01,
        seconds=1.0, images_per_second=1000.0,
    )


def _trained_project() -> Project:
    config = TrainingConfig(epochs=3, optimizer="sgd", learning_rate=0.05, batch_size=64, weight_decay=5e-4,
                            nesterov=True)
    config.augment.hflip = True
    project = Project.new(lenet5(), name="Digits | LeNet", dataset=DatasetChoice(name="mnist"), training=config)
    epochs = [_epoch(1, 0.9012, 0.35), _epoch(2, 0.9876, 0.0412), _epoch(3, 0.9811, 0.0598)]
    first = run_record("run 1", TrainingConfig(), epochs[:1], dataset="mnist", network=project.graph)
    last = run_record("run 2", config, epochs, dataset="mnist", network=project.graph)
    project.history = [first, last]
    return project


def test_card_has_every_layer_the_totals_and_the_last_runs_numbers():
    project = _trained_project()
    card = model_card(project, today=date(2025, 3, 14))

    assert card.startswith("# Digits | LeNet: model card\n")
    assert "on 2025-03-14." in card
    # One table row per layer, with its kind, key parameters, output shape and parameters.
    result = infer(project.graph)
    rows = {m[0]: m for m in re.findall(r"^\| `(\w+)` \| (\w+) \| (.*?) \| (.*?) \| (.*?) \|$", card, re.M)}
    assert set(rows) == set(project.graph.nodes)
    for nid, info in result.infos.items():
        assert rows[nid][1] == project.graph.node(nid).kind
        assert rows[nid][3] == "×".join(map(str, info.shape))
        assert rows[nid][4] == (f"{info.params:,}" if project.graph.node(nid).kind != "Input" else "0")
    assert rows["conv1"][2] == "6 @ 5×5, p2"
    assert "| `fc1` | Linear |" in card and "| 48,120 |" in card
    assert "**Total parameters:** 61,706" in card
    assert "**Input shape:** 1×28×28" in card

    # Dataset: name and class count (names are known only once the data is loaded).
    assert "- **Name:** MNIST (`mnist`)" in card
    assert "- **Classes:** 10" in card

    # Training: the main settings always, then what differs from the defaults; not the first run's.
    for row in ("| Epochs | 3 |", "| Optimizer | sgd |", "| Learning rate | 0.05 |", "| Batch size | 64 |",
                "| `weight_decay` | 0.0005 |", "| `nesterov` | yes |", "| `augment.hflip` | yes |",
                "| `dataset` | mnist |"):
        assert row in card, row
    assert "`momentum`" not in card and "`seed`" not in card  # defaults are left out
    assert "*run 2*" in card

    # Results of the last run: final and best validation numbers, with the best epoch.
    for row in ("| Epochs trained | 3 |", "| Final validation accuracy | 98.11 % |",
                "| Final validation loss | 0.0598 |", "| Best validation accuracy | 98.76 % (epoch 2) |",
                "| Lowest validation loss | 0.0412 (epoch 2) |", "| Final training accuracy | 80.00 % |",
                "| Final training loss | 0.3333 |"):
        assert row in card, row
    assert "## Intended use" in card and "## Limitations" in card
    assert "not trained to resist" in card


def test_card_with_data_and_extra_metrics():
    project = _trained_project()
    images = torch.zeros(4, 1, 28, 28, dtype=torch.uint8)
    labels = torch.zeros(4, dtype=torch.int64)
    data = ImageData("mnist", tuple(str(i) for i in range(10)), Split(images, labels), Split(images[:2], labels[:2]),
                     Split(images[:3], labels[:3]), mean=(0.1307,), std=(0.3081,))
    project.history[-1].settings.update(adversarial="fgsm", adversarial_epsilon=0.1)
    card = model_card(project, {"test_accuracy": 0.9802, "test_loss": 0.0631}, data=data)
    assert "- **Classes (10):** 0, 1, 2, 3, 4, 5, 6, 7, 8, 9" in card
    assert "mean (0.1307) and std (0.3081)" in card
    assert "4 training, 2 validation, 3 test images" in card
    assert "| Test accuracy | 98.02 % |" in card and "| Test loss | 0.0631 |" in card
    assert "trained against FGSM examples (ε = 0.1)" in card


def test_card_of_an_untrained_dag_project():
    project = Project.new(resnet20_cifar(depth=8), name="Tiny ResNet", dataset=DatasetChoice(name="synthetic-rgb"),
                          training=TrainingConfig(learning_rate=0.1))
    card = model_card(project)
    assert "| `layer1_0_add` | Add |" in card
    assert f"**Total parameters:** {infer(project.graph).total_params:,}" in card
    assert "- **Classes (10):** ring, disk, square" in card
    assert "not been trained yet" in card
    assert "| Learning rate | 0.1 |" in card


def test_card_notes_a_network_edited_after_the_run():
    project = _trained_project()
    project.graph.set_params("fc1", {"out_features": 100})
    card = model_card(project)
    assert "the last run trained a network with 61,706 parameters" in card

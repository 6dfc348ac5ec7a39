"""Keep the best epoch (``restore_best``, on by default): the saved weights are those of the best validation
epoch, checked by evaluating them against the run's stored history; ``--no-keep-best`` keeps the last epoch's."""

from __future__ import annotations

import json
import math

import pytest

from cnnplayground.cli import main
from cnnplayground.data.loader import DeviceLoader
from cnnplayground.data.registry import load_dataset
from cnnplayground.io.project import load_project
from cnnplayground.train.evaluate import evaluate
from cnnplayground.train.setup import build_for_data

# Overfitting on purpose: 30 training images, 15 epochs. Once the network has learnt them by heart its
# validation loss climbs (it is ever more sure of its mistakes): on several seeds the best epoch was the 4th to
# the 7th, with a validation loss about 2.2, and the last epoch's was above 3.5.
WORSENING_RUN = ["train", "--preset", "lenet5", "--train-size", "60", "--test-size", "10", "--val-share", "0.5",
                 "--epochs", "15", "--batch-size", "10", "--lr", "0.003", "--device", "cpu", "--seed", "0"]


def _saved_run(tmp_path, *flags: str):
    """Train, save, load: the project, the validation loss of its saved weights, the run's epoch val losses."""
    path = tmp_path / "run.cnnp"
    assert main([*WORSENING_RUN, *flags, "--save", str(path)]) == 0
    project = load_project(path)
    config = project.training
    data = load_dataset(project.dataset, val_fraction=config.val_fraction, seed=config.seed)
    model = build_for_data(project.graph, data)
    model.load_state_dict(project.weights)
    # As the trainer's validation: the same split, statistics and batch size.
    loader = DeviceLoader(data.val, mean=data.mean, std=data.std, batch_size=max(config.batch_size, 512),
                          device="cpu", shuffle=False)
    result = evaluate(model, loader, data.num_classes)
    return project, result, project.history[-1].series["val_loss"].y


def test_the_saved_weights_are_the_best_epochs_checked_against_the_history(tmp_path, capsys):
    project, result, val_losses = _saved_run(tmp_path)
    record = project.history[-1]
    best = min(range(len(val_losses)), key=lambda i: val_losses[i]) + 1
    # The run really ended worse than its best epoch (else this test would prove nothing).
    assert best < len(val_losses) and val_losses[-1] > val_losses[best - 1] * 1.3, val_losses
    assert record.best_epoch == best and record.kept_epoch == best
    assert project.training.restore_best  # on by default
    # The saved weights give exactly the best epoch's validation loss, not the last epoch's.
    assert result.loss == pytest.approx(val_losses[best - 1], rel=1e-5)
    assert not math.isclose(result.loss, val_losses[-1], rel_tol=1e-3)
    out = capsys.readouterr().out
    assert (f"finished 15 epochs; kept the weights of epoch {best}, the best by validation loss "
            f"({val_losses[best - 1]:.4f})") in out


def test_without_keep_best_the_saved_weights_are_the_last_epochs(tmp_path, capsys):
    project, result, val_losses = _saved_run(tmp_path, "--no-keep-best")
    record = project.history[-1]
    best = min(range(len(val_losses)), key=lambda i: val_losses[i]) + 1
    assert best < len(val_losses)
    assert not project.training.restore_best
    assert record.best_epoch == best and record.kept_epoch is None
    assert result.loss == pytest.approx(val_losses[-1], rel=1e-5)
    assert not math.isclose(result.loss, val_losses[best - 1], rel_tol=1e-3)
    assert f"epoch {best} was the best by validation loss" in capsys.readouterr().out


def test_the_json_end_event_names_the_kept_epoch(tmp_path, capsys):
    assert main([*WORSENING_RUN, "--best-metric", "val_accuracy", "--json", "--no-save"]) == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    epochs = [e for e in events if e["event"] == "EpochFinished"]
    end = next(e for e in events if e["event"] == "Finished")
    best = max(epochs, key=lambda e: (e["val_accuracy"], -e["epoch"]))["epoch"]  # the first of the highest
    assert end["best_epoch"] == end["kept_epoch"] == best
    assert "the best by validation accuracy" in end["message"]

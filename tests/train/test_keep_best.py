"""Keep the best epoch in the trainer: a completed, stopped or early-stopped run ends with its best validation
epoch's weights (``restore_best``, on by default) and its ``Finished`` event says which epoch."""

from __future__ import annotations

import torch
from helpers import synthetic_data
from torch import nn

from cnnplayground.project import TrainingConfig
from cnnplayground.train.events import EpochFinished, Finished, StepFinished, WeightsSnapshot
from cnnplayground.train.trainer import Trainer


def small_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 5, stride=2), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 12 * 12, 10))


def cfg(**kw) -> TrainingConfig:
    return TrainingConfig(**{"epochs": 3, "batch_size": 16, "device": "cpu", "checkpoint_every": 0, **kw})


def test_a_run_stopped_by_the_user_ends_with_its_best_epochs_weights():
    data = synthetic_data(64, 64)
    model = small_net()
    trainer = Trainer(model, data, cfg(epochs=5), step_event_every=1, snapshot_every_epoch=True)
    events = []
    for event in trainer.run():
        events.append(event)
        if isinstance(event, StepFinished) and event.epoch == 3 and event.epoch_step == 2:
            stepped = {k: v.clone() for k, v in model.state_dict().items()}
            trainer.stop()
    end = events[-1]
    assert isinstance(end, Finished) and end.reason == "stopped" and end.epochs_completed == 2
    epochs = [e for e in events if isinstance(e, EpochFinished)]
    best = min(epochs, key=lambda e: e.val_loss).epoch  # the first of the lowest
    assert end.best_epoch == end.kept_epoch == best
    snapshot = next(e.state for e in events if isinstance(e, WeightsSnapshot) and e.epoch == best)
    final = model.state_dict()
    assert all(torch.equal(final[k], snapshot[k]) for k in final)
    assert not all(torch.equal(final[k], stepped[k]) for k in final)  # not the weights at the stop
    assert end.message.startswith(f"stopped by the user during epoch 3; kept the weights of epoch {best}, ")


def test_without_a_validation_split_the_last_weights_stay():
    data = synthetic_data(64, 0)
    events = list(Trainer(small_net(), data, cfg(epochs=2, val_fraction=0.0)).run())
    end = events[-1]
    assert isinstance(end, Finished) and end.best_epoch is None and end.kept_epoch is None
    assert end.message == "finished 2 epochs"

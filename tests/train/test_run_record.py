"""What a project stores of a run: settings that tell runs apart and bounded per-step curves."""

from __future__ import annotations

import math

from cnnplayground.core.presets import get_preset
from cnnplayground.project import TrainingConfig, run_record
from cnnplayground.project.history import MAX_STEP_POINTS, network_description
from cnnplayground.train.events import EpochFinished, StepFinished


def _step(step: int, loss: float, spe: int = 100) -> StepFinished:
    return StepFinished(epoch=(step - 1) // spe + 1, step=step, epoch_step=(step - 1) % spe + 1,
                        steps_per_epoch=spe, loss=loss, accuracy=0.5, learning_rate=0.1,
                        images_per_second=1.0, elapsed=0.0)


def _epoch(epoch: int) -> EpochFinished:
    return EpochFinished(epoch=epoch, step=epoch * 100, train_loss=1.0, train_accuracy=0.5, val_loss=1.0,
                         val_accuracy=0.4, per_class_accuracy=(), confusion=(), learning_rate=0.1,
                         seconds=1.0, images_per_second=1.0)


def test_settings_name_the_network_and_the_steps_per_epoch():
    graph = get_preset("lenet5").factory()
    record = run_record("run 1", TrainingConfig(learning_rate=0.01), [_epoch(1)], [_step(1, 2.0), _step(2, 1.0)],
                        dataset="synthetic", network=graph)
    s = record.settings
    assert s["learning_rate"] == 0.01 and s["dataset"] == "synthetic" and s["steps_per_epoch"] == 100
    assert s["network.parameters"] == 61_706
    assert s["network.layers"] == network_description(graph)["network.layers"]
    assert "Conv2d×2" in s["network.layers"] and "Dropout" not in s["network.layers"]
    assert record.series["step_loss"].y == [2.0, 1.0] and record.series["step_accuracy"].y == [0.5, 0.5]


def test_long_step_curves_are_bucket_averaged_to_the_limit():
    n = MAX_STEP_POINTS * 3 + 7
    steps = [_step(i, float(i) if i != 5 else math.nan) for i in range(1, n + 1)]
    record = run_record("long", TrainingConfig(), [_epoch(1)], steps)
    loss = record.series["step_loss"]
    assert len(loss.x) == len(loss.y) == MAX_STEP_POINTS
    assert loss.x[-1] == float(n)  # the last bucket ends at the last step
    assert loss.x == sorted(loss.x)
    # Each point is the mean of its bucket; the NaN in the first bucket is skipped, not propagated.
    assert loss.y[0] is not None and 1.0 <= loss.y[0] <= 4.0
    assert abs(loss.y[-1] - (n - 1)) < 3.0


def test_each_epochs_duration_is_recorded():
    epochs = [EpochFinished(epoch=i, step=i * 100, train_loss=1.0, train_accuracy=0.5, val_loss=1.0,
                            val_accuracy=0.4, per_class_accuracy=(), confusion=(), learning_rate=0.1,
                            seconds=seconds, images_per_second=1.0) for i, seconds in ((1, 2.5), (2, 3.25), (3, 4.0))]
    record = run_record("timed", TrainingConfig(), epochs)
    series = record.series["epoch_seconds"]
    assert len(series.x) == len(series.y) == 3
    assert series.x == [1.0, 2.0, 3.0] and series.y == [2.5, 3.25, 4.0]
    assert all(v > 0 for v in series.y) and sum(series.y) == 9.75


def test_dropout_probabilities_tell_otherwise_equal_networks_apart():
    from cnnplayground.experiments import nets

    assert "network.dropout" not in network_description(get_preset("lenet5").factory())
    plain, dropped = (network_description(nets.mlp((1, 28, 28), 10, [64, 64], dropout=p)) for p in (0.0, 0.5))
    assert plain["network.layers"] == dropped["network.layers"] == "Dropout×2, Flatten, Linear×3, ReLU×2"
    assert plain["network.dropout"] == 0.0 and dropped["network.dropout"] == 0.5

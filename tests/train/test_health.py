"""Layer health recorded while training, and the diagnoses on networks built to show each problem."""

from __future__ import annotations

import json

import pytest
import torch
from helpers import synthetic_data as synthetic
from torch import nn

from cnnplayground.core.builder import build
from cnnplayground.core.presets import get_preset
from cnnplayground.data.base import ImageData
from cnnplayground.project import RunHistory, TrainingConfig, run_record
from cnnplayground.project.diagnoses import diagnose
from cnnplayground.train.events import EpochFinished, Failed, Finished, StepFinished, to_dict
from cnnplayground.train.trainer import Trainer


@pytest.fixture(scope="module")
def small_data() -> ImageData:
    return synthetic(1024, 256)


def lenet() -> nn.Module:
    return build(get_preset("lenet5").factory())


def train(model: nn.Module, data: ImageData, every: int = 4, **kw) -> tuple[RunHistory, list]:
    config = TrainingConfig(**{"epochs": 1, "batch_size": 64, "device": "cpu", "checkpoint_every": 0, **kw})
    torch.manual_seed(0)
    events = list(Trainer(model, data, config, step_event_every=every).run())
    epochs = [e for e in events if isinstance(e, EpochFinished)]
    steps = [e for e in events if isinstance(e, StepFinished)]
    return run_record("run 1", config, epochs, steps, end=events[-1]), events


def hooks_left(model: nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._backward_hooks) for m in model.modules())


def test_each_epoch_carries_the_health_of_every_layer_and_no_hook_stays(small_data):
    torch.manual_seed(0)
    model = lenet()
    record, events = train(model, small_data, epochs=2)
    epochs = [e for e in events if isinstance(e, EpochFinished)]
    assert [h.name for h in epochs[0].health] == ["conv1", "relu1", "conv2", "relu2", "fc1", "relu3", "fc2",
                                                  "relu4", "fc3"]
    assert hooks_left(model) == 0
    for layer in epochs[-1].health:
        assert (layer.dead_share is not None) == (layer.kind == "ReLU")
        assert (layer.grad_norm is not None) == (layer.kind != "ReLU")
        if layer.dead_share is not None:
            assert 0.0 <= layer.dead_share <= 1.0
            assert layer.activation_mean >= 0.0  # a ReLU's output
        if layer.grad_norm is not None:
            assert 0.0 < layer.grad_norm < 100.0
            assert 1e-4 < layer.update_ratio < 10.0  # the weights moved in the epoch, not beyond recognition
    # Stored with the history: small and JSON-ready, and read back equal; the event's --json form too.
    assert record.health is not None and record.health.epochs == [1, 2]
    text = record.model_dump_json()
    assert RunHistory.model_validate_json(text) == record
    assert len(record.health.model_dump_json()) < 8_000  # distributions included: ~1.5 KB an epoch
    json.dumps(to_dict(epochs[0]), allow_nan=False)


def test_a_history_without_health_still_loads():
    old = {"name": "run 1", "series": {"train_loss": {"x": [1.0], "y": [0.5]}}}
    run = RunHistory.model_validate(old)
    assert run.health is None and run.diverged_step is None


def test_recording_health_can_be_turned_off(small_data):
    config = TrainingConfig(epochs=1, batch_size=64, device="cpu", checkpoint_every=0)
    events = list(Trainer(lenet(), small_data, config, record_health=False).run())
    assert [e.health for e in events if isinstance(e, EpochFinished)] == [()]


def test_a_conv_with_a_large_negative_bias_has_a_dead_relu(small_data):
    torch.manual_seed(0)
    model = lenet()
    with torch.no_grad():
        model.layers["conv1"].bias.fill_(-100.0)  # every pre-activation is far below 0
    record, _ = train(model, small_data)
    findings = {f.layer: f for f in diagnose(record) if f.rule == "dead_relus"}
    assert findings["relu1"].value == 1.0
    assert findings["relu1"].text() == ("relu1: 100% of units never fire — lower the learning rate, use LeakyReLU, "
                                        "or add batch norm")
    assert not [f for f in diagnose(record) if f.rule == "vanishing_gradients"]  # conv1's zero gradient is death


def test_a_deep_plain_sigmoid_network_has_vanishing_gradients(small_data):
    torch.manual_seed(0)
    layers: list[nn.Module] = [nn.Flatten(), nn.Linear(784, 32)]
    for _ in range(10):
        layers += [nn.Sigmoid(), nn.Linear(32, 32)]
    layers += [nn.Sigmoid(), nn.Linear(32, 10)]
    record, _ = train(nn.Sequential(*layers), small_data)
    [finding] = [f for f in diagnose(record) if f.rule == "vanishing_gradients"]
    assert finding.layer == "1" and finding.value < 1e-5  # 11 sigmoids: each passes at most 1/4 on
    assert finding.message.startswith("gradients vanish: 1 receives 1/") and "of 23's gradient norm" in finding.message


def test_a_far_too_high_learning_rate_diverges_and_says_so(small_data):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    record, events = train(model, small_data, every=1, learning_rate=10.0, optimizer="sgd", momentum=0.0)
    assert isinstance(events[-1], Failed) and events[-1].kind == "nan"
    assert record.diverged_step == events[-1].step
    [finding] = [f for f in diagnose(record) if f.rule == "divergence"]
    assert finding.step == events[-1].step
    assert finding.text() == (f"the loss diverged at step {events[-1].step} — the learning rate (10) is about "
                              "10× too high: try 1, or add gradient clipping or batch norm")


def test_a_far_too_low_learning_rate_learns_too_slowly(small_data):
    torch.manual_seed(0)
    record, events = train(lenet(), small_data, every=1, epochs=2, learning_rate=1e-6)
    assert isinstance(events[-1], Finished)
    [finding] = [f for f in diagnose(record) if f.rule == "slow_learning"]
    assert abs(finding.value) < 0.05
    assert "the learning rate (1e-06) is probably too low: try 1e-05" in finding.advice


def test_a_tiny_training_set_over_many_epochs_overfits():
    data = synthetic(64, 512, seed=1)
    torch.manual_seed(0)
    record, _ = train(lenet(), data, epochs=30, learning_rate=3e-3, batch_size=32, restore_best=False)
    [finding] = [f for f in diagnose(record) if f.rule == "overfitting"]
    train_acc, val_acc = record.series["train_accuracy"].y[-1], record.series["val_accuracy"].y[-1]
    assert train_acc >= 0.95 and train_acc - val_acc >= 0.10
    assert finding.value == pytest.approx(train_acc - val_acc)
    assert finding.message.startswith(f"training accuracy {train_acc:.0%}, validation {val_acc:.0%}")


@pytest.mark.slow
def test_a_healthy_lenet5_run_on_the_synthetic_set_raises_no_finding():
    data = synthetic(6000, 1000)
    torch.manual_seed(0)
    record, events = train(lenet(), data, every=5, epochs=3, batch_size=64, learning_rate=2e-3)
    assert record.series["val_accuracy"].y[-1] >= 0.75
    assert diagnose(record) == []


@pytest.mark.data
@pytest.mark.slow
def test_a_healthy_lenet5_run_on_mnist_raises_no_finding(shared_datasets):
    from cnnplayground.data.registry import load_dataset
    from cnnplayground.project import DatasetChoice

    full = load_dataset(DatasetChoice(name="mnist", root=str(shared_datasets)), val_fraction=0.1, seed=0)
    train_part, val_part = full.train.subset(torch.arange(12_000)), full.val.subset(torch.arange(2_000))
    data = ImageData(full.name, full.class_names, train_part, val_part, None, full.mean, full.std)
    torch.manual_seed(0)
    record, _ = train(lenet(), data, every=10, epochs=2, batch_size=64, learning_rate=2e-3)
    assert record.series["val_accuracy"].y[-1] >= 0.95
    assert diagnose(record) == []


def test_layer_health_counts_towards_the_history_size_limit_of_a_project_file():
    from cnnplayground.io.project_schema import count_history_points

    layer = {"name": "relu1", "kind": "ReLU", "activation_mean": [0.1] * 7, "activation_std": [0.2] * 7,
             "dead_share": [0.0] * 7, "grad_norm": None, "update_ratio": None}
    history = [{"name": "run 1", "series": {"train_loss": {"x": [1.0, 2.0], "y": [0.5, 0.4]}},
                "health": {"epochs": list(range(1, 8)), "layers": [layer, layer]}}]
    assert count_history_points(history) == 2 + 2 * 3 * 7

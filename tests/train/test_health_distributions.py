"""Weight and activation distributions recorded with layer health: the stored percentiles are torch.quantile's,
of the layer's weights at the epoch's end and of its output on the epoch's sampled batch; project files keep
them, refuse hostile ones, and open without them."""

from __future__ import annotations

import json

import pytest
import torch
from helpers import synthetic_data as synthetic
from torch import nn

from cnnplayground.core.builder import build
from cnnplayground.core.presets import get_preset
from cnnplayground.io.project import project_from_bytes, project_to_json
from cnnplayground.io.project_schema import ProjectError, count_history_points
from cnnplayground.project import Project, RunHistory, TrainingConfig, run_record
from cnnplayground.project.health import MAX_HEALTH_EPOCHS, PERCENTILES, RunHealth
from cnnplayground.train import health as health_module
from cnnplayground.train.events import EpochFinished, StepFinished
from cnnplayground.train.health import percentiles, sample_values
from cnnplayground.train.trainer import Trainer

Q = torch.tensor([p / 100 for p in PERCENTILES])
PARAM_LAYERS = ("conv1", "conv2", "fc1", "fc2", "fc3")


def test_recorded_percentiles_are_torch_quantile_of_the_weights_and_of_the_sampled_batch(monkeypatch):
    """Each epoch: weights' percentiles = torch.quantile of the layer's weight at the epoch's end; activations'
    = torch.quantile of the layer's output on the sampled step, caught here by a forward hook of our own."""
    monkeypatch.setattr(health_module, "MAX_PERCENTILE_VALUES", 1 << 20)  # no sampling: exact quantiles
    data = synthetic(256, 64)
    config = TrainingConfig(epochs=2, batch_size=32, device="cpu", checkpoint_every=0, restore_best=False)
    torch.manual_seed(0)
    model = build(get_preset("lenet5").factory())
    outputs: dict[str, list[torch.Tensor]] = {name: [] for name in model.layers}

    def catch(name: str):
        def hook(module, _inputs, output):
            if module.training:  # training steps only (validation runs in eval mode)
                outputs[name].append(output.detach().clone())
        return hook

    handles = [module.register_forward_hook(catch(name)) for name, module in model.layers.items()]
    expected_weights: dict[int, dict[str, torch.Tensor]] = {}
    events = []
    for event in Trainer(model, data, config, step_event_every=4).run():
        events.append(event)
        if isinstance(event, EpochFinished):  # the generator waits here: the model holds this epoch's weights
            expected_weights[event.epoch] = {name: torch.quantile(model.layers[name].weight.detach().flatten(), Q)
                                             for name in PARAM_LAYERS}
    for handle in handles:
        handle.remove()
    epochs = [e for e in events if isinstance(e, EpochFinished)]
    assert [e.epoch for e in epochs] == [1, 2]
    steps = 256 // 32  # the sampled step is the last full batch: step 8 of each epoch
    for event in epochs:
        by_name = {layer.name: layer for layer in event.health}
        assert set(by_name) == {"conv1", "relu1", "conv2", "relu2", "fc1", "relu3", "fc2", "relu4", "fc3"}
        for name, layer in by_name.items():
            sampled = outputs[name][(event.epoch - 1) * steps + steps - 1]
            want = torch.quantile(sampled.flatten().float(), Q)
            assert layer.activation_percentiles == pytest.approx(want.tolist(), rel=1e-5, abs=1e-6), name
            if name in PARAM_LAYERS:
                assert layer.weight_percentiles == pytest.approx(expected_weights[event.epoch][name].tolist(),
                                                                 rel=1e-5, abs=1e-7), name
            else:
                assert layer.weight_percentiles is None
        # the weights moved between the epochs: the two epochs' percentiles differ
    assert epochs[0].health[0].weight_percentiles != epochs[1].health[0].weight_percentiles
    # Stored with the run (7 significant digits) and read back from its JSON equal.
    record = run_record("run 1", config, epochs, [e for e in events if isinstance(e, StepFinished)], end=events[-1])
    stored = record.health.layer("conv2")
    assert stored.weight_percentiles[1] == pytest.approx(expected_weights[2]["conv2"].tolist(), rel=1e-6)
    assert stored.activation_percentiles[0] == pytest.approx(list(epochs[0].health[2].activation_percentiles),
                                                             rel=1e-6)
    assert record.health.layer("relu1").weight_percentiles is None
    assert RunHistory.model_validate_json(record.model_dump_json()) == record


def test_a_huge_layer_is_summarised_from_an_even_sample_of_every_image_channel_and_position():
    torch.manual_seed(0)
    # 64 images, 6 channels of 28×28: channel c holds values around 10·c, so a sample that missed a channel
    # would shift the percentiles by whole tens.
    out = torch.randn(64, 6, 28, 28) + 10 * torch.arange(6).view(1, 6, 1, 1)
    sample = sample_values(out, 16_384)
    assert 15_000 <= sample.numel() <= 16_384  # a stride of 19 (coprime with 6·784): 15,846 values
    index = torch.arange(out.numel()).view_as(out)
    picked = sample_values(index, 16_384)
    image, rest = picked // (6 * 784), picked % (6 * 784)
    channel, position = rest // 784, rest % 784
    assert len(image.unique()) == 64 and len(channel.unique()) == 6
    assert len(position.unique()) == 784  # every position of the map, not the same column again and again
    full, summary = torch.quantile(out.flatten(), Q), percentiles(out)
    assert (summary - full)[1:-1].abs().max() < 0.5  # of a spread of 50; the median lies in a gap between channels
    assert full[0] <= summary[0] and summary[-1] <= full[-1]  # a sample's extremes lie within the layer's
    small = torch.randn(100, 10)
    assert torch.equal(sample_values(small, 16_384), small.flatten())


def _project_json(health: dict | None) -> bytes:
    project = Project.new(graph=get_preset("lenet5").factory(), name="p")
    project.history = [RunHistory(name="run 1")]
    doc = json.loads(project_to_json(project))
    if health is not None:
        doc["history"][0]["health"] = health
    return json.dumps(doc).encode()


def _layer(**extra) -> dict:
    return {"name": "conv1", "kind": "Conv2d", "activation_mean": [0.1, 0.2], "activation_std": [1.0, 1.1],
            "grad_norm": [0.5, 0.4], "update_ratio": [1e-3, 1e-3], **extra}


def test_project_files_keep_distributions_and_refuse_hostile_ones():
    nine = [float(i) for i in range(9)]
    good = {"epochs": [1, 2], "layers": [_layer(weight_percentiles=[nine, None], activation_percentiles=[nine, nine])]}
    run = project_from_bytes(_project_json(good)).history[0]
    layer = run.health.layer("conv1")
    assert layer.weight_percentiles == [nine, None] and layer.activation_percentiles == [nine, nine]
    assert run.health.has_distributions
    # A diverged run's NaN percentiles are stored as no value (None), as its other measures.
    diverged = RunHealth.model_validate({"epochs": [1], "layers": [
        {"name": "conv1", "kind": "Conv2d", "activation_mean": [0.0], "activation_std": [1.0],
         "activation_percentiles": [[float("nan")] + nine[1:]], "weight_percentiles": [[float("inf")] * 9]}]})
    assert diverged.layers[0].activation_percentiles == [[None] + nine[1:]]
    assert diverged.layers[0].weight_percentiles == [[None] * 9]
    hostile = {
        "ten percentiles": _layer(weight_percentiles=[nine + [9.0], nine]),
        "a number for a list": _layer(weight_percentiles=[1.0, 2.0]),
        "a NaN": _layer(activation_percentiles=[[float("nan")] + nine[1:], nine]),
        "a string NaN": _layer(activation_percentiles=[["nan"] + nine[1:], nine]),
        "an infinite string": _layer(activation_percentiles=[["inf"] + nine[1:], nine]),
        "one epoch too many": _layer(activation_percentiles=[nine, nine, nine]),
    }
    for why, layer_doc in hostile.items():
        with pytest.raises(ProjectError):
            project_from_bytes(_project_json({"epochs": [1, 2], "layers": [layer_doc]}))
            pytest.fail(why)
    many = {"epochs": list(range(1, MAX_HEALTH_EPOCHS + 2)),
            "layers": [_layer(activation_percentiles=[nine] * (MAX_HEALTH_EPOCHS + 1))]}
    with pytest.raises(ProjectError):
        project_from_bytes(_project_json(many))
    # Every percentile counts towards the file's bound on points (checked before validation copies them).
    history = [{"name": "run 1", "health": {"epochs": [1, 2], "layers": [_layer(weight_percentiles=[nine, nine])]}}]
    assert count_history_points(history) == 4 * 2 + 2 + 2 * 9


def test_a_project_saved_before_distributions_opens_without_them():
    old = {"epochs": [1, 2], "layers": [_layer()]}  # health as written before distributions were recorded
    run = project_from_bytes(_project_json(old)).history[0]
    assert run.health.layer("conv1").weight_percentiles is None
    assert not run.health.has_distributions


def test_a_layer_without_trainable_weights_has_activation_percentiles_only():
    recorder = health_module.HealthRecorder(nn.Sequential(nn.Flatten(), nn.Linear(4, 3), nn.ReLU()))
    recorder.start_epoch()
    with recorder.sampling():
        recorder_model_out = recorder.layers[1][1](recorder.layers[0][1](torch.ones(2, 4)))
    assert recorder_model_out.shape == (2, 3)
    linear, relu = recorder.end_epoch()
    assert linear.weight_percentiles is not None and relu.weight_percentiles is None
    assert relu.activation_percentiles is not None and len(relu.activation_percentiles) == len(PERCENTILES)

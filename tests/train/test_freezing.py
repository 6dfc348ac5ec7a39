"""Frozen layers and per-layer learning-rate factors in training: parameter groups that follow the schedule."""

from __future__ import annotations

import pytest
import torch
from helpers import synthetic_data as synthetic

from cnnplayground.core.builder import build
from cnnplayground.core.graph import Graph
from cnnplayground.core.presets import get_preset
from cnnplayground.data.base import ImageData
from cnnplayground.project import TrainingConfig
from cnnplayground.train.events import EpochFinished, Finished, StepFinished
from cnnplayground.train.optim import param_groups
from cnnplayground.train.trainer import Trainer, TrainingSetupError


@pytest.fixture(scope="module")
def data() -> ImageData:
    return synthetic(512, 128)


def cfg(**kw) -> TrainingConfig:
    return TrainingConfig(**{"epochs": 1, "batch_size": 64, "device": "cpu", "checkpoint_every": 0,
                             "learning_rate": 3e-3, **kw})


def lenet(**attributes: dict) -> Graph:
    g = get_preset("lenet5").factory()
    for node_id, attrs in attributes.items():
        g.set_attributes(node_id, attrs)
    return g


def train(graph: Graph, data: ImageData, config: TrainingConfig, **kw):
    torch.manual_seed(0)
    model = build(graph)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    trainer = Trainer(model, data, config, **kw)
    events = list(trainer.run())
    assert isinstance(events[-1], Finished) and events[-1].reason == "completed", events[-1]
    return model, before, trainer, events


def changed(model, before, layer: str) -> bool:
    return any(not torch.equal(v, before[k]) for k, v in model.state_dict().items() if k.startswith(f"layers.{layer}."))


@pytest.mark.parametrize("attrs", [{"frozen": True}, {"lr_scale": 0.0}], ids=["frozen", "lr_scale_0"])
def test_lenet_with_frozen_convolutions_keeps_them_bit_identical(data, attrs):
    model, before, trainer, _ = train(lenet(conv1=attrs, conv2=attrs), data, cfg(weight_decay=1e-3))
    for layer in ("conv1", "conv2"):
        assert not changed(model, before, layer), layer
    for layer in ("fc1", "fc2", "fc3"):
        assert changed(model, before, layer), layer
    groups = trainer.optimizer.param_groups
    in_optimizer = {id(p) for g in groups for p in g["params"]}
    assert not any(id(p) in in_optimizer for p in model.layers["conv1"].parameters())
    assert all(g["weight_decay"] == 1e-3 for g in groups)  # weight decay per group, as before
    assert not any(p.requires_grad for p in model.layers["conv2"].parameters())


def test_lr_scale_multiplies_the_learning_rate_at_every_step_of_the_schedule(data):
    graph = lenet(fc3={"lr_scale": 10.0}, conv1={"lr_scale": 0.5})
    config = cfg(epochs=2, schedule="cosine", warmup_epochs=0.5, optimizer="sgd", learning_rate=0.01)
    seen: list[float] = []
    torch.manual_seed(0)
    model = build(graph)
    trainer = Trainer(model, data, config, step_event_every=1)
    for event in trainer.run():
        if isinstance(event, StepFinished | EpochFinished):
            groups = {g["lr_scale"]: g["lr"] for g in trainer.optimizer.param_groups}
            assert set(groups) == {1.0, 10.0, 0.5}
            assert groups[1.0] == pytest.approx(event.learning_rate, rel=1e-12)
            assert groups[10.0] == pytest.approx(10 * event.learning_rate, rel=1e-12)
            assert groups[0.5] == pytest.approx(0.5 * event.learning_rate, rel=1e-12)
            seen.append(event.learning_rate)
    assert len(seen) == 16 and len({round(v, 12) for v in seen}) > 8  # it followed the schedule
    # Group of factor 1 first; each layer's parameters in its own factor's group.
    groups = trainer.optimizer.param_groups
    assert groups[0]["lr_scale"] == 1.0
    fc3 = {id(p) for p in model.layers["fc3"].parameters()}
    assert {id(p) for p in next(g for g in groups if g["lr_scale"] == 10.0)["params"]} == fc3


def test_frozen_batchnorm_keeps_its_statistics_and_lr_scale_0_does_not(data):
    def net(bn_attrs):
        g = Graph()
        g.add_node("Input", {"channels": 1, "height": 28, "width": 28}, id="input")
        g.add_node("Conv2d", {"out_channels": 4, "kernel_size": 5, "stride": 2}, id="conv1")
        g.add_node("BatchNorm2d", id="bn1", attributes=bn_attrs)
        g.add_node("ReLU", id="relu1")
        g.add_node("Flatten", id="flatten")
        g.add_node("Linear", {"out_features": 10}, id="fc")
        g.chain("input", "conv1", "bn1", "relu1", "flatten", "fc")
        return g

    model, before, _, _ = train(net({"frozen": True}), data, cfg())
    assert not changed(model, before, "bn1")  # weights, bias, running statistics, batch counter
    assert changed(model, before, "conv1")
    model, before, _, _ = train(net({"lr_scale": 0.0}), data, cfg())
    bn = model.layers["bn1"]
    assert torch.equal(bn.weight, before["layers.bn1.weight"]) and torch.equal(bn.bias, before["layers.bn1.bias"])
    assert not torch.equal(bn.running_mean, before["layers.bn1.running_mean"])


def test_nothing_to_train_is_refused_with_a_message(data):
    attrs = {"frozen": True}
    graph = lenet(conv1=attrs, conv2=attrs, fc1=attrs, fc2=attrs, fc3={"lr_scale": 0})
    with pytest.raises(TrainingSetupError, match="nothing to train: every layer with weights is frozen"):
        Trainer(build(graph), data, cfg())


def test_param_groups_of_a_plain_module_are_one_group():
    module = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Linear(3, 1))
    module[0].weight.requires_grad_(False)
    groups = param_groups(module)
    assert len(groups) == 1 and groups[0]["lr_scale"] == 1.0 and len(groups[0]["params"]) == 3

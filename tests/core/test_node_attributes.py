"""Node attributes (frozen, lr_scale): edits, refusals, serialization, and what the built network does."""

from __future__ import annotations

import pytest
import torch

from cnnplayground.core.builder import build
from cnnplayground.core.graph import NODE_ATTRIBUTES, Graph, GraphError
from cnnplayground.core.presets import get_preset
from cnnplayground.core.registry import all_kinds


def bn_net() -> Graph:
    g = Graph()
    g.add_node("Input", {"channels": 1, "height": 8, "width": 8}, id="input")
    g.add_node("Conv2d", {"out_channels": 4, "padding": 1}, id="conv1")
    g.add_node("BatchNorm2d", id="bn1")
    g.add_node("ReLU", id="relu1")
    g.add_node("Dropout", {"p": 0.5}, id="drop1")
    g.add_node("Flatten", id="flatten")
    g.add_node("Linear", {"out_features": 3}, id="fc")
    g.chain("input", "conv1", "bn1", "relu1", "drop1", "flatten", "fc")
    return g


def test_every_node_has_the_default_attributes_and_kinds_with_weights_are_marked():
    g = bn_net()
    assert all(n.attributes == {"frozen": False, "lr_scale": 1.0} for n in g.nodes.values())
    assert NODE_ATTRIBUTES.names() == ["frozen", "lr_scale"]
    assert {k.name for k in all_kinds() if k.has_weights} == {"Conv2d", "BatchNorm2d", "PReLU", "Linear"}


def test_set_attributes_validates_notifies_and_reports_old_values():
    g = bn_net()
    seen = []
    g.node_attributes_changed.connect(lambda node, old: seen.append((node.id, old)))
    g.structure_changed.connect(lambda: seen.append("structure"))
    g.node_changed.connect(lambda *a: seen.append("params"))
    assert g.set_attributes("conv1", {"frozen": True, "lr_scale": 1}) == {"frozen": False}
    assert g.set_attributes("conv1", {"frozen": True}) == {}
    assert g.nodes["conv1"].frozen and g.nodes["conv1"].lr_scale == 1.0
    assert g.set_attributes("fc", {"lr_scale": 10}) == {"lr_scale": 1.0}
    assert g.nodes["fc"].attributes["lr_scale"] == 10.0 and isinstance(g.nodes["fc"].attributes["lr_scale"], float)
    # Attributes never change shapes: no structure_changed, no node_changed.
    assert seen == [("conv1", {"frozen": False}), ("fc", {"lr_scale": 1.0})]
    with pytest.raises(GraphError, match=r"fc \(Linear\): lr_scale must be at most 100, got 101"):
        g.set_attributes("fc", {"lr_scale": 101})
    with pytest.raises(GraphError, match="lr_scale must be at least 0"):
        g.set_attributes("fc", {"lr_scale": -1})
    with pytest.raises(GraphError, match="frozen must be true or false"):
        g.set_attributes("fc", {"frozen": 1})
    with pytest.raises(GraphError, match=r"unknown attribute 'speed'"):
        g.set_attributes("fc", {"speed": 2})
    with pytest.raises(GraphError, match=r"relu1 \(ReLU\) has no weights: frozen applies only to layers with"):
        g.set_attributes("relu1", {"frozen": True})
    assert g.nodes["fc"].lr_scale == 10.0 and not g.nodes["relu1"].frozen


def test_attributes_are_written_only_when_set_and_old_dicts_load_with_defaults():
    g = bn_net()
    plain = g.to_dict()
    assert all("attributes" not in n for n in plain["nodes"])  # unchanged format for untouched graphs
    g.set_attributes("conv1", {"frozen": True})
    g.set_attributes("fc", {"lr_scale": 0.5})
    d = g.to_dict()
    attrs = {n["id"]: n.get("attributes") for n in d["nodes"]}
    assert attrs["conv1"] == {"frozen": True} and attrs["fc"] == {"lr_scale": 0.5} and attrs["bn1"] is None
    g2 = Graph.from_dict(d)
    assert g2.to_dict() == d and g2.nodes["conv1"].frozen and g2.nodes["fc"].lr_scale == 0.5
    assert g.copy().nodes["fc"].lr_scale == 0.5
    assert Graph.from_dict(plain).nodes["conv1"].attributes == {"frozen": False, "lr_scale": 1.0}
    bad = g.to_dict()
    bad["nodes"][3]["attributes"] = {"frozen": True}  # relu1
    with pytest.raises(GraphError, match="relu1 .ReLU. has no weights"):
        Graph.from_dict(bad)


def test_built_network_freezes_gradients_and_keeps_frozen_layers_in_eval_mode():
    g = bn_net()
    g.set_attributes("bn1", {"frozen": True})
    g.set_attributes("conv1", {"lr_scale": 0})
    g.set_attributes("fc", {"lr_scale": 3})
    model = build(g)
    assert model.frozen == {"bn1"} and model.lr_scales == {"conv1": 0.0, "fc": 3.0}
    frozen = sorted(n for n, p in model.named_parameters() if not p.requires_grad)
    assert frozen == ["layers.bn1.bias", "layers.bn1.weight", "layers.conv1.bias", "layers.conv1.weight"]
    model.train()
    assert model.training and not model.layers["bn1"].training
    assert model.layers["conv1"].training and model.layers["drop1"].training
    model.eval()
    assert not model.layers["fc"].training
    model.train()
    stats = model.layers["bn1"].running_mean.clone()
    model(torch.randn(4, 1, 8, 8) * 3 + 2)
    assert torch.equal(model.layers["bn1"].running_mean, stats)  # frozen statistics


def test_presets_build_as_before_without_attributes():
    model = build(get_preset("lenet5").factory())
    assert model.frozen == set() and model.lr_scales == {}
    assert all(p.requires_grad for p in model.parameters())

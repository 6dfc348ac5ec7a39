"""Layer attributes in project files, and initializing a network from another project's weights."""

from __future__ import annotations

import json

import pytest
import torch

from cnnplayground.core.builder import build
from cnnplayground.core.presets import get_preset, lenet5
from cnnplayground.io.project import load_project, project_to_json, save_project
from cnnplayground.io.transfer import init_from_project
from cnnplayground.io.weights_import import WeightsImportError
from cnnplayground.project import Project


def trained_lenet(num_classes: int = 10) -> Project:
    graph = lenet5(num_classes=num_classes)
    torch.manual_seed(1)
    weights = {k: v.detach().clone() for k, v in build(graph).state_dict().items()}
    return Project(graph=graph, name="base", weights=weights)


def test_frozen_and_lr_scale_are_saved_and_loaded(tmp_path):
    project = trained_lenet()
    project.graph.set_attributes("conv1", {"frozen": True})
    project.graph.set_attributes("fc3", {"lr_scale": 10.0})
    path = tmp_path / "p.cnnp"
    save_project(project, path)
    back = load_project(path)
    assert back.graph.nodes["conv1"].frozen and back.graph.nodes["fc3"].lr_scale == 10.0
    assert back.graph.nodes["conv2"].attributes == {"frozen": False, "lr_scale": 1.0}
    assert back.graph.to_dict() == project.graph.to_dict()
    doc = json.loads(project_to_json(project))
    assert [n["id"] for n in doc["graph"]["nodes"] if "attributes" in n] == ["conv1", "fc3"]


def test_a_project_without_attributes_writes_and_reads_as_before(tmp_path):
    project = Project.new(get_preset("lenet5").factory())
    doc = json.loads(project_to_json(project))
    assert all(set(n) == {"id", "kind", "params", "position"} for n in doc["graph"]["nodes"])
    path = tmp_path / "old.json"
    path.write_text(json.dumps(doc))
    assert all(not n.frozen and n.lr_scale == 1.0 for n in load_project(path).graph.nodes.values())


def test_init_from_a_lenet_with_another_classifier_copies_all_but_the_head(tmp_path):
    other = trained_lenet(num_classes=10)
    path = tmp_path / "base.cnnp"
    save_project(other, path)
    graph = lenet5(num_classes=5)
    torch.manual_seed(2)
    fresh = build(graph)
    weights, report = init_from_project(graph, path, fresh=fresh)
    assert report.copied == ["conv1", "conv2", "fc1", "fc2"]
    assert list(report.skipped) == ["fc3"]
    assert report.skipped["fc3"] == "weight: the other project has 10×84, this network needs 5×84"
    assert report.unused == ["fc3"] and report.source == "base.cnnp"
    assert "Copied 4 of 5 layers with weights from base.cnnp" in report.summary()
    for key, value in weights.items():
        source = other.weights if not key.startswith("layers.fc3.") else fresh.state_dict()
        assert torch.equal(value, source[key]), key
    build(graph).load_state_dict(weights)  # fits exactly


def test_init_by_id_reports_missing_and_different_layers_and_order_matching_pairs_renamed_ones():
    other = trained_lenet()
    graph = lenet5(num_classes=10)
    graph.rename_node("fc1", "hidden")
    graph.set_params("fc2", {"out_features": 42})
    weights, report = init_from_project(graph, other)
    assert report.copied == ["conv1", "conv2"]
    assert report.skipped["hidden"] == "no layer of that name in the other project"
    assert report.skipped["fc2"].startswith("weight: the other project has 84×120, this network needs 42×120")
    assert report.skipped["fc3"].startswith("weight: the other project has 10×84, this network needs 10×42")
    weights, report = init_from_project(graph, other, match="order")
    assert report.copied == ["conv1", "conv2", "hidden"] and report.pairs["hidden"] == "fc1"
    assert torch.equal(weights["layers.hidden.weight"], other.weights["layers.fc1.weight"])
    assert set(report.skipped) == {"fc2", "fc3"}


def test_init_from_a_project_without_weights_or_a_bad_file_is_refused(tmp_path):
    with pytest.raises(WeightsImportError, match="has no trained weights to start from"):
        init_from_project(lenet5(), Project.new(lenet5(), name="empty"))
    bad = tmp_path / "bad.cnnp"
    bad.write_bytes(b"nonsense")
    with pytest.raises(WeightsImportError, match="cannot start from bad.cnnp: "):
        init_from_project(lenet5(), bad)

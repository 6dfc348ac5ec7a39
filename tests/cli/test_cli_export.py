"""``cnnplayground export``: PyTorch code and the training script from a project file or a preset."""

from __future__ import annotations

import importlib.util
import json
import sys

import pytest
import torch

import cnnplayground.export
from cnnplayground.app import wants_cli
from cnnplayground.cli import main
from cnnplayground.core.builder import build
from cnnplayground.core.presets import PRESETS
from cnnplayground.io.project import save_project, weights_from_module
from cnnplayground.project import Project


@pytest.fixture
def trained(tmp_path):
    """A LeNet-5 project file with (random) weights, and the app's network holding them."""
    graph = PRESETS["lenet5"].factory()
    torch.manual_seed(0)
    model = build(graph).eval()
    project = Project.new(graph, name="LeNet for export")
    project.weights = weights_from_module(model)
    path = tmp_path / "lenet.cnnp"
    save_project(project, path)
    return path, model


def _import(path):
    spec = importlib.util.spec_from_file_location(f"cli_generated_{abs(hash(str(path)))}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_export_pytorch_of_a_project_file(tmp_path, trained, capsys):
    path, model = trained
    out = tmp_path / "exported"
    assert main(["export", str(path), "--format", "pytorch", "--out", str(out)]) == 0
    stdout = capsys.readouterr().out
    assert f"wrote {out / 'model.py'}" in stdout and f"wrote {out / 'model.safetensors'}" in stdout
    net = _import(out / "model.py").load(out / "model.safetensors")
    x = torch.randn(2, 1, 28, 28)
    with torch.no_grad():
        torch.testing.assert_close(net(x), model(x))
    assert "LeNet for export" in (out / "model.py").read_text(encoding="utf-8")
    assert wants_cli(["export", str(path)])  # the launcher routes it to the command line, not the window

    # Existing files are kept unless --force.
    assert main(["export", str(path), "--format", "pytorch", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.strip() == f"cnnplayground: {out / 'model.py'} exists; pass --force to overwrite"
    assert main(["export", str(path), "--format", "pytorch", "--out", str(out), "--force"]) == 0


def test_export_script_of_a_preset(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["export", "resnet20_cifar", "--format", "script", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "model.py", "train.py"]  # no weights: none
    assert "no trained weights" in captured.err
    for name in ("train.py", "model.py", "config.json"):
        assert f"wrote {out / name}" in captured.out
    config = json.loads((out / "config.json").read_text(encoding="utf-8"))
    assert config["project"] == "ResNet-20 for CIFAR" and config["input_shape"] == [3, 32, 32]
    assert config["dataset"]["name"] == "synthetic" and config["training"]["optimizer"] == "adam"
    compile((out / "train.py").read_text(encoding="utf-8"), "train.py", "exec")


def test_export_script_of_a_project_keeps_its_weights(tmp_path, trained, capsys):
    path, _ = trained
    out = tmp_path / "run"
    assert main(["export", str(path), "--format", "script", "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "model.py", "model.safetensors", "train.py"]
    assert capsys.readouterr().err == ""


def test_errors_are_one_line(tmp_path, capsys):
    from cnnplayground.core.graph import Graph

    g = Graph()
    g.add_node("Input", {"channels": 1, "height": 28, "width": 28}, id="input")
    g.add_node("Linear", {"out_features": 10}, id="fc")
    g.connect("input", "fc")
    bad = tmp_path / "bad.json"
    save_project(Project.new(graph=g, name="bad"), bad)
    assert main(["export", str(bad), "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "cannot be exported: fc: Linear expects a flat input" in err
    assert not (tmp_path / "x").exists()

    assert main(["export", "lenet6", "--out", str(tmp_path / "x")]) == 2
    assert "is neither a project file nor a preset" in capsys.readouterr().err


def test_formats_whose_exporter_is_missing_are_not_available(tmp_path, monkeypatch, capsys):
    for name in ("formats", "card"):  # as if export/formats.py and export/card.py were not installed
        monkeypatch.setitem(sys.modules, f"cnnplayground.export.{name}", None)
        monkeypatch.delattr(cnnplayground.export, name, raising=False)
    for fmt in ("onnx", "pt2", "card"):
        assert main(["export", "lenet5", "--format", fmt, "--out", str(tmp_path / fmt)]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"cnnplayground: --format {fmt} is not available") and err.count("\n") == 1
    out = tmp_path / "all"
    assert main(["export", "lenet5", "--format", "all", "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "skipped onnx (not available" in err and "skipped pt2" in err and "skipped card" in err
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "model.py", "train.py"]

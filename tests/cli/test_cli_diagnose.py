"""``cnnplayground diagnose``: the findings of a recorded run, as text and one JSON object per finding."""

from __future__ import annotations

import json

import pytest

from cnnplayground.cli import main
from cnnplayground.core.presets import get_preset
from cnnplayground.io.project import load_project, save_project
from cnnplayground.project import Project, RunHistory, Series

TRAIN = ["--dataset", "synthetic", "--train-size", "320", "--test-size", "0", "--batch-size", "64", "--epochs", "2",
         "--seed", "5"]


def overfitting_run(name: str) -> RunHistory:
    """A run recorded before layer health was (no ``health``): training accuracy 100 %, validation falling."""
    x = [1.0, 2.0, 3.0, 4.0]
    return RunHistory(name=name, settings={"learning_rate": 0.001}, series={
        "train_loss": Series(x=x, y=[1.2, 0.4, 0.1, 0.01]),
        "train_accuracy": Series(x=x, y=[0.6, 0.9, 0.98, 1.0]),
        "val_loss": Series(x=x, y=[1.0, 0.8, 0.9, 1.1]),
        "val_accuracy": Series(x=x, y=[0.65, 0.75, 0.73, 0.71]),
    })


@pytest.fixture
def project_file(tmp_path):
    path = tmp_path / "old.cnnp"
    project = Project(graph=get_preset("lenet5").factory(), name="old")
    project.history = [RunHistory(name="run 1", settings={"learning_rate": 0.001}), overfitting_run("run 2")]
    save_project(project, path)
    return path


def test_diagnose_names_the_overfitting_of_the_last_run(project_file, capsys):
    assert main(["diagnose", str(project_file)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "run 2: 1 finding",
        "- training accuracy 100%, validation 71% and falling: overfitting — add augmentation, dropout or "
        "weight decay (or keep the best epoch)",
        "(this run has no layer health recorded: dead units and vanishing gradients were not checked)",
    ]


def test_diagnose_json_prints_one_object_per_finding(project_file, capsys):
    assert main(["diagnose", str(project_file), "--json"]) == 0
    [line] = capsys.readouterr().out.splitlines()
    finding = json.loads(line)
    assert finding["run"] == "run 2" and finding["rule"] == "overfitting" and finding["layer"] is None
    assert finding["measure"] == "accuracy_gap" and finding["value"] == pytest.approx(0.29)
    assert finding["advice"].startswith("add augmentation")
    assert main(["diagnose", str(project_file), "--json", "--run", "1"]) == 0
    assert capsys.readouterr().out == ""  # nothing to say about a run without curves


def test_diagnose_refuses_a_run_that_is_not_there(project_file, capsys):
    assert main(["diagnose", str(project_file), "--run", "3"]) == 2
    assert "there is no run 3: the project has 2 runs" in capsys.readouterr().err


def test_a_trained_project_keeps_its_layer_health_and_diagnose_reads_it(tmp_path, capsys):
    out = tmp_path / "lenet.cnnp"
    assert main(["train", "--preset", "lenet5", *TRAIN, "--save", str(out)]) == 0
    capsys.readouterr()
    run = load_project(out).history[-1]
    assert run.health is not None and run.health.epochs == [1, 2]
    assert [layer.name for layer in run.health.layers][:2] == ["conv1", "relu1"]
    assert main(["diagnose", str(out), "--json"]) == 0
    for line in capsys.readouterr().out.splitlines():  # whatever it finds, each line is a whole finding
        assert set(json.loads(line)) == {"run", "rule", "layer", "measure", "value", "message", "advice", "epoch",
                                         "step"}

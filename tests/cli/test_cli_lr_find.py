"""``cnnplayground lr-find``: the curve and ``suggested_lr`` as JSON, a readable summary, ``--apply`` writes the
rate into the project atomically and changes nothing else."""

from __future__ import annotations

import json

import pytest
import torch

from cnnplayground.app import CLI_COMMANDS, wants_cli
from cnnplayground.cli import main
from cnnplayground.core.builder import build
from cnnplayground.core.presets import get_preset
from cnnplayground.io.project import load_project, save_project, weights_from_module
from cnnplayground.project import DatasetChoice, Project, TrainingConfig

TINY = DatasetChoice(name="synthetic", options={"train_size": 300, "test_size": 0})


@pytest.fixture
def project_file(tmp_path):
    torch.manual_seed(5)
    graph = get_preset("lenet5").factory()
    project = Project.new(graph=graph, name="lr", dataset=TINY,
                          training=TrainingConfig(batch_size=32, device="cpu", learning_rate=0.05, epochs=1))
    project.weights = weights_from_module(build(graph))
    path = tmp_path / "p.cnnp"
    save_project(project, path)
    return path


def test_json_has_the_whole_curve_and_the_suggestion(project_file, capsys):
    before = project_file.read_bytes()
    assert main(["lr-find", str(project_file), "--json", "--steps", "20", "--end-lr", "1"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["steps"] == len(out["curve"]) == 20 and out["steps_planned"] == 20
    rates = [p["learning_rate"] for p in out["curve"]]
    assert rates[0] == pytest.approx(1e-7) and rates[-1] == pytest.approx(1.0) and rates == sorted(rates)
    assert all(isinstance(p["loss"], float) and isinstance(p["smoothed"], float) for p in out["curve"])
    assert 1e-8 < out["suggested_lr"] < 1 and out["suggested_lr"] == pytest.approx(out["minimum_lr"] / 10, rel=0.06)
    assert {"steepest_lr", "tenth_of_minimum_lr", "diverged", "rule"} <= out.keys() and out["applied"] is False
    assert project_file.read_bytes() == before  # without --apply nothing is written


def test_the_summary_names_the_suggested_rate(project_file, capsys):
    assert main(["lr-find", str(project_file), "--steps", "20", "--end-lr", "1"]) == 0
    out = capsys.readouterr().out
    assert "← suggested" in out and "suggested_lr " in out and "fresh weights" in out


def test_apply_writes_the_rate_and_keeps_everything_else(project_file, capsys):
    before = load_project(project_file)
    assert main(["lr-find", str(project_file), "--json", "--steps", "20", "--end-lr", "1", "--apply"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["applied"] is True
    after = load_project(project_file)
    assert after.training.learning_rate == out["suggested_lr"] != before.training.learning_rate
    assert after.training.model_copy(update={"learning_rate": 0.05}) == before.training
    assert after.graph.to_dict() == before.graph.to_dict() and after.dataset == before.dataset
    assert all(torch.equal(after.weights[k], before.weights[k]) for k in before.weights)  # weights kept, unchanged
    assert not list(project_file.parent.glob(".*.tmp"))  # written atomically: no temporary file left
    # --apply again round-trips: the same seed gives the same suggestion.
    assert main(["lr-find", str(project_file), "--json", "--steps", "20", "--end-lr", "1", "--apply"]) == 0
    assert json.loads(capsys.readouterr().out)["suggested_lr"] == out["suggested_lr"]
    assert load_project(project_file).training.learning_rate == out["suggested_lr"]


def test_from_weights_starts_from_the_projects_weights(project_file, capsys):
    assert main(["lr-find", str(project_file), "--json", "--steps", "10", "--from-weights"]) == 0
    assert json.loads(capsys.readouterr().out)["start"] == "project"


def test_mistakes_are_one_line_errors(project_file, tmp_path, capsys):
    assert main(["lr-find", str(project_file), "--start-lr", "1", "--end-lr", "0.1"]) == 2
    assert "start rate < end rate" in capsys.readouterr().err
    assert main(["lr-find", "lenet5", "--apply"]) == 2
    assert "give one, not a preset" in capsys.readouterr().err


def test_lr_find_is_a_command_of_the_launcher():
    assert "lr-find" in CLI_COMMANDS and wants_cli(["lr-find", "x.cnnp"])


def test_a_failed_apply_leaves_the_file_as_it_was(project_file, monkeypatch, capsys):
    before = project_file.read_bytes()

    def refuse(*_args, **_kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("os.replace", refuse)  # the atomic write's last step fails (a full disk)
    assert main(["lr-find", str(project_file), "--steps", "10", "--apply"]) == 2
    assert "left as it was" in capsys.readouterr().err
    assert project_file.read_bytes() == before and not list(project_file.parent.glob(".*.tmp"))

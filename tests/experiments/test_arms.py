"""The experiment gallery's arms keep their epochs, and open as a project of one run per arm (issue 24)."""

from __future__ import annotations

import pytest
import torch

from cnnplayground.cli import main
from cnnplayground.experiments import gallery, nets
from cnnplayground.experiments.arms import experiment_project
from cnnplayground.experiments.base import Context, Curve, Experiment, ExperimentRun, Figure, Finding, Stage, arm
from cnnplayground.io.project import load_project, save_project
from cnnplayground.io.project_epochs import snapshot_model
from cnnplayground.project import DatasetChoice, TrainingConfig
from cnnplayground.project.epochs import state_bytes
from cnnplayground.train.sweep import Sweep, VariantFinished

SHAPE = (1, 28, 28)
TINY = DatasetChoice(name="synthetic", options={"train_size": 160, "test_size": 40})


def _config(**changes) -> TrainingConfig:
    return TrainingConfig(**{"epochs": 2, "batch_size": 40, "checkpoint_every": 0, **changes})


def _experiment(budget_arms=None) -> Experiment:
    arms = budget_arms or {
        "plain": arm("plain", nets.lenet(SHAPE, 10), _config(), TINY, sweep="t"),
        "bn": arm("bn", nets.lenet(SHAPE, 10, batch_norm=True), _config(), TINY, sweep="t"),
    }

    def conclude(results):
        return Finding("done", True, {}, Figure("t", "epoch", "accuracy", (Curve("a", (1.0,), (0.5,)),)))

    return Experiment("tiny", "Tiny", "s", "w", "l", lambda ctx: [Stage("one", arms, keep_weights=True)], conclude)


def _run_tiny(**options) -> tuple[ExperimentRun, dict[str, dict[str, torch.Tensor]]]:
    """The tiny experiment, run; and each arm's weights as built, before its first step."""
    initial: dict[str, dict[str, torch.Tensor]] = {}

    def prepare(name, model, results):  # called after the build, before the trainer: the initialization
        initial[name] = {k: v.detach().clone() for k, v in model.state_dict().items()}

    stage = _experiment().plan(Context())[0]
    stage.prepare = prepare
    experiment = Experiment("tiny", "Tiny", "s", "w", "l", lambda ctx: [stage], _experiment().conclude)
    run = ExperimentRun(experiment, Context("quick"), device="cpu", **options)
    for _event in run.run():
        pass
    return run, initial


@pytest.fixture(scope="module")
def tiny_run():
    return _run_tiny()


def _equal(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k].to(a[k].dtype)) for k in a)


def test_an_arms_epoch_0_is_its_initialization_and_its_last_epoch_its_final_weights(tiny_run):
    run, initial = tiny_run
    assert set(initial) == {"plain", "bn"}
    for name in ("plain", "bn"):
        finished = run.results.arms[name]
        epochs = finished.record.epochs
        assert epochs is not None and epochs.epochs() == [0, 1, 2]
        assert _equal(epochs.weights[0], initial[name])  # exactly the weights it started from
        assert _equal(epochs.weights[2], finished.weights)  # exactly the weights it ended with
        assert not _equal(epochs.weights[1], epochs.weights[0])
    # Each arm keeps its own network: with and without batch norm.
    kinds = {name: [n.kind for n in run.results.arms[name].record.epochs.graph.nodes.values()]
             for name in ("plain", "bn")}
    assert "BatchNorm2d" in kinds["bn"] and "BatchNorm2d" not in kinds["plain"]


def test_the_arms_project_saves_and_opens_with_one_run_per_arm(tiny_run, tmp_path):
    run, _initial = tiny_run
    project = experiment_project(run)
    assert [r.name for r in project.history] == ["Tiny: plain", "Tiny: bn"]
    path = tmp_path / "arms.cnnp"
    save_project(project, path)
    opened = load_project(path)
    assert len(opened.history) == 2
    for index, name in enumerate(("plain", "bn")):
        record, finished = opened.history[index], run.results.arms[name]
        assert record.epochs is not None and record.epochs.epochs() == [0, 1, 2]
        assert record.epochs.graph.to_dict() == finished.record.epochs.graph.to_dict()
        assert _equal(record.epochs.weights[2], finished.weights)
        model = snapshot_model(opened, index, 2)  # the panels' model of (run, epoch): the arm's own network
        assert _equal(model.state_dict(), finished.weights)
    # The project opens on the first arm: its network, data and final weights.
    assert opened.graph.to_dict() == run.results.variants["plain"].graph.to_dict()
    assert opened.dataset == TINY and _equal(opened.weights, run.results.arms["plain"].weights)


def test_each_arm_keeps_its_epochs_within_the_budget():
    variant = arm("plain", nets.mlp(SHAPE, 10, [8]), _config(epochs=5), TINY, sweep="t")
    one = state_bytes({k: v for k, v in torch.nn.Linear(784, 8).state_dict().items()}) + (8 * 10 + 10) * 4
    finished = [e for e in Sweep([variant], device="cpu", epochs_budget_bytes=3 * one).run()
                if isinstance(e, VariantFinished)]
    epochs = finished[0].record.epochs
    assert epochs is not None and epochs.snapshot_bytes() == one
    assert epochs.epochs() == [0, 2, 5] and epochs.nbytes() <= 3 * one  # thinned, never epoch 0 or the last
    # A budget of 0 keeps none; so does an experiment given none.
    none = [e for e in Sweep([variant], device="cpu").run() if isinstance(e, VariantFinished)]
    assert none[0].record.epochs is None
    plain = _experiment({"plain": arm("plain", nets.mlp(SHAPE, 10, [8]), _config(epochs=1), TINY, sweep="t")})
    run = ExperimentRun(plain, Context("quick"), device="cpu", snapshot_budget_mb=0)
    list(run.run())
    assert run.results.arms["plain"].record.epochs is None


def test_cli_saves_an_experiments_arms_as_a_project(tmp_path, capsys, monkeypatch):
    tiny = _experiment({"plain": arm("plain", nets.mlp(SHAPE, 10, [8]), _config(), TINY, sweep="t")})
    monkeypatch.setattr(gallery, "get_experiment", lambda key: tiny)
    out = tmp_path / "arms.cnnp"
    assert main(["experiment", "tiny", "--device", "cpu", "--save-project", str(out)]) == 0
    assert f"wrote {out}: 1 run with the weights of 3 epochs" in capsys.readouterr().out
    opened = load_project(out)
    assert [r.name for r in opened.history] == ["Tiny: plain"] and opened.history[0].epochs.epochs() == [0, 1, 2]
    assert main(["experiment", "tiny", "tiny", "--save-project", str(out)]) == 2
    assert "name one experiment, not 2" in capsys.readouterr().err
    assert main(["experiment", "tiny", "--save-project", str(tmp_path / "missing" / "a.cnnp")]) == 2
    assert "does not exist" in capsys.readouterr().err

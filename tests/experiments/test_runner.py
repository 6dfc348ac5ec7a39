"""The experiment machinery: contexts, stages, stopping, failures, distillation, the CLI."""

from __future__ import annotations

import json
import math

import pytest
import torch
from helpers import synthetic_data

from cnnplayground.cli import main
from cnnplayground.data.base import ImageData, Split
from cnnplayground.experiments import gallery, nets
from cnnplayground.experiments.base import (
    Context,
    Curve,
    Experiment,
    ExperimentError,
    ExperimentFinished,
    ExperimentRun,
    Figure,
    Finding,
    Stage,
    StageStarted,
    arm,
)
from cnnplayground.project import DatasetChoice, TrainingConfig
from cnnplayground.train.events import Finished
from cnnplayground.train.setup import build_for_data
from cnnplayground.train.sweep import VariantFinished
from cnnplayground.train.trainer import Trainer, TrainingSetupError

SHAPE = (1, 28, 28)
TINY = DatasetChoice(name="synthetic", options={"train_size": 240, "test_size": 60})


def _config(**changes) -> TrainingConfig:
    return TrainingConfig(**{"epochs": 1, "batch_size": 32, "checkpoint_every": 0, **changes})


def _tiny_experiment(stages, conclude=None) -> Experiment:
    def default(results):
        names = list(results.arms)
        return Finding("done", True, {n: results.last(n, "val_accuracy") for n in names},
                       Figure("t", "epoch", "accuracy", tuple(Curve(n, (1.0,), (0.5,)) for n in names)))

    return Experiment("tiny", "Tiny", "s", "w", "l", lambda ctx: stages, conclude or default)


def _events(run: ExperimentRun, stop_after: int | None = None) -> list:
    out = []
    for event in run.run():
        out.append(event)
        if stop_after is not None and isinstance(event, VariantFinished) and len(
                [e for e in out if isinstance(e, VariantFinished)]) == stop_after:
            run.stop()
    return out


def test_context_picks_the_share_of_training_images():
    config = _config(val_fraction=0.1)
    full = Context("full", "/data")
    assert full.dataset().name == "mnist" and full.dataset("clothes").name == "fashion-mnist"
    assert full.dataset().root == "/data"
    assert full.fraction(1000, config, full.dataset()) == pytest.approx(1000 / 54_000)
    quick = Context("quick")
    choice = quick.dataset(quick_images=2500)
    assert choice.name == "synthetic" and choice.options["train_size"] == 2500
    assert quick.fraction(300, _config(val_fraction=0.2), choice) == pytest.approx(300 / 2000)
    assert quick.fraction(10_000, config, choice) == 1.0
    assert quick.dataset("clothes").options["noise"] > quick.dataset("digits").options.get("noise", 0.08)
    with pytest.raises(ExperimentError, match="scale"):
        Context("huge")


def test_arms_run_in_stages_and_a_later_stage_uses_the_earlier_weights():
    seen = {}

    def second(results):
        seen["first weights"] = results.arms["a"].weights
        return {"b": arm("b", nets.mlp(SHAPE, 10, [8]), _config(), TINY, sweep="t")}

    def prepare(name, model, results):
        seen["prepared"] = name  # the arm's name, not the record's ("Tiny: b")
        model.load_state_dict(results.arms["a"].weights)

    stages = [Stage("one", {"a": arm("a", nets.mlp(SHAPE, 10, [8]), _config(), TINY, sweep="t")},
                    keep_weights=True),
              Stage("two", make=second, prepare=prepare, keep_weights=True, show=False)]
    run = ExperimentRun(_tiny_experiment(stages), Context("quick"), device="cpu")
    events = _events(run)
    starts = [e for e in events if isinstance(e, StageStarted)]
    assert [(s.index, s.total, s.arms) for s in starts] == [(0, 2, ("a",)), (1, 2, ("b",))]
    finished = [e for e in events if isinstance(e, VariantFinished)]
    assert [f.index for f in finished] == [0, 1] and run.arm_names == ["a", "b"] and run.shown == [True, False]
    assert [f.record.name for f in finished] == ["Tiny: a", "Tiny: b"]
    assert seen["first weights"] is not None and seen["prepared"] == "b"
    end = events[-1]
    assert isinstance(end, ExperimentFinished) and end.finding is not None and end.finding.headline == "done"
    # b started from a's weights (one epoch later they differ, but less than two fresh inits would).
    a, b = run.results.arms["a"].weights, run.results.arms["b"].weights
    fresh = build_for_data(nets.mlp(SHAPE, 10, [8]), run.results.data("a")).state_dict()
    assert (b["layers.fc1.weight"] - a["layers.fc1.weight"]).abs().mean() < (
        fresh["layers.fc1.weight"] - a["layers.fc1.weight"]).abs().mean()


def test_stop_ends_the_experiment_after_the_current_run_without_a_finding():
    arms = {n: arm(n, nets.mlp(SHAPE, 10, [8]), _config(), TINY, sweep="t") for n in ("a", "b", "c")}
    run = ExperimentRun(_tiny_experiment([Stage("s", arms)]), Context("quick"), device="cpu")
    events = _events(run, stop_after=1)
    end = events[-1]
    assert isinstance(end, ExperimentFinished) and end.stopped and end.finding is None
    assert list(run.results.arms) == ["a"]


def test_missing_full_size_data_is_a_clear_message(tmp_path):
    run = ExperimentRun(gallery.get_experiment("batch-norm"), Context("full", str(tmp_path)), device="cpu")
    events = _events(run)
    failed = [e for e in events if isinstance(e, VariantFinished)]
    assert len(failed) == 2 and all(f.outcome == "failed" for f in failed)
    assert "MNIST" in failed[0].message and "Traceback" not in failed[0].message
    end = events[-1]
    assert isinstance(end, ExperimentFinished) and end.finding is None and not end.stopped
    assert end.message.startswith("no run finished: ") and "MNIST" in end.message


def test_a_stage_that_needs_a_failed_run_says_so(tmp_path):
    experiment = gallery.get_experiment("ensemble")
    stages = experiment.plan(Context("quick"))
    bad = DatasetChoice(name="mnist", root=str(tmp_path))
    for variant in stages[0].arms.values():
        variant.dataset = bad
    run = ExperimentRun(_tiny_experiment(stages), Context("quick"), device="cpu")
    end = _events(run)[-1]
    assert isinstance(end, ExperimentFinished) and end.finding is None
    assert "no member of the ensemble finished" in end.message


def test_interior_peak():
    assert gallery._interior_peak([0.5, 0.4, 0.45, 0.3]) == 2
    assert gallery._interior_peak([0.5, 0.4, 0.35, 0.3]) is None
    assert gallery._interior_peak([0.5, 0.4, 0.405, 0.3]) is None  # within the margin
    assert gallery._interior_peak([0.5, 0.3, 0.42, 0.35, 0.5, 0.2]) == 4


def test_the_ensemble_averages_probabilities():
    torch.manual_seed(0)
    members = [torch.nn.Linear(4, 3) for _ in range(3)]
    x = torch.randn(5, 4)
    expected = torch.stack([torch.softmax(m(x), 1) for m in members]).mean(0)
    assert torch.allclose(gallery.Ensemble(members)(x).exp(), expected, atol=1e-6)


def test_distillation_teaches_the_student_the_teachers_answers():
    data = synthetic_data(1000, 200)
    # The teacher answers "the next class": trained on labels shifted by one.
    shifted = ImageData(data.name, data.class_names, Split(data.train.images, (data.train.labels + 1) % 10),
                        Split(data.val.images, (data.val.labels + 1) % 10), None, data.mean, data.std)
    torch.manual_seed(1)
    teacher = build_for_data(nets.lenet(SHAPE, 10), shifted)
    assert isinstance(list(Trainer(teacher, shifted, _config(epochs=6), device="cpu").run())[-1], Finished)
    before = {k: v.clone() for k, v in teacher.state_dict().items()}
    torch.manual_seed(2)
    student = build_for_data(nets.lenet(SHAPE, 10), data)
    # The last epoch's weights: validation scores the true labels, which this student is taught to unlearn, so
    # its "best" epoch would be its first.
    config = _config(epochs=6, restore_best=False)
    trainer = Trainer(student, data, config, device="cpu", teacher=teacher, distill_alpha=1.0,
                      distill_temperature=2.0)
    assert isinstance(list(trainer.run())[-1], Finished)
    x = (data.val.images.float() / 255 - data.mean[0]) / data.std[0]
    with torch.no_grad():
        teacher_says = teacher.eval()(x).argmax(1)
        student_says = student.eval()(x).argmax(1)
    agree_teacher = (student_says == teacher_says).float().mean().item()
    agree_labels = (student_says == data.val.labels).float().mean().item()
    # Trained only on the teacher's answers (alpha 1), it learned those, not the true labels it was given.
    assert agree_teacher > 0.6 and agree_labels < 0.2
    assert all(torch.equal(before[k], v) for k, v in teacher.state_dict().items())  # the teacher never trains
    with pytest.raises(TrainingSetupError, match="alpha"):
        Trainer(student, data, config, teacher=teacher, distill_alpha=1.5)


def test_cli_lists_and_runs_an_experiment(tmp_path, capsys):
    assert main(["experiment", "--list"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in listed] == [e.key for e in gallery.EXPERIMENTS]
    assert main(["experiment", "nope"]) == 2
    assert "unknown experiment 'nope'" in capsys.readouterr().err
    assert main(["experiment", "batch-norm", "--device", "cpu", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "[as in the literature]" in out
    record = json.loads((tmp_path / "batch-norm.json").read_text())
    assert record["holds"] is True and record["scale"] == "quick"
    assert [a["outcome"] for a in record["arms"]] == ["completed", "completed"]
    assert all(math.isfinite(v) for v in record["numbers"].values())
    png = (tmp_path / "batch-norm.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000

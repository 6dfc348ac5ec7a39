"""Sweeps: grid and random variants, a generator of tagged events, cancelling, the comparison table."""

from __future__ import annotations

import csv
import io
import math
import statistics

import pytest

from cnnplayground.core.graph import Graph
from cnnplayground.core.presets import get_preset
from cnnplayground.data.base import DatasetError
from cnnplayground.io.project import load_project, save_project
from cnnplayground.project import DatasetChoice, Project, TrainingConfig
from cnnplayground.train.events import Finished, RunStarted, StepFinished
from cnnplayground.train.sweep import (
    GRAPH_KNOBS,
    Axis,
    Sweep,
    SweepError,
    SweepFinished,
    SweepSpec,
    SweepStarted,
    VariantEvent,
    VariantFinished,
    VariantStarted,
    default_data_loader,
    run_sweep,
    sweep_table,
    to_csv,
    variants,
)


def project(graph: Graph | None = None, **training) -> Project:
    config = TrainingConfig(**{"epochs": 1, "batch_size": 64, "device": "cpu", "checkpoint_every": 0,
                               "val_fraction": 0.2, **training})
    dataset = DatasetChoice(name="synthetic", options={"train_size": 400, "test_size": 0})
    return Project.new(graph or get_preset("lenet5").factory(), name="sweep test", dataset=dataset, training=config)


class CountingLoader:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, choice, config):
        self.calls += 1
        return default_data_loader(choice, config)


def grid_spec() -> SweepSpec:
    return SweepSpec((Axis.grid("learning_rate", 1e-3, 3e-3), Axis.grid("weight_decay", 0.0, 1e-4)), name="lr-wd")


@pytest.fixture(scope="module")
def grid_run():
    vs = variants(grid_spec(), project())
    loader = CountingLoader()
    events = list(run_sweep(vs, loader, step_event_every=2))
    return vs, loader, events


def test_a_2x2_grid_of_learning_rate_and_weight_decay_makes_four_records(grid_run):
    vs, loader, events = grid_run
    assert [v.settings for v in vs] == [
        {"learning_rate": 1e-3, "weight_decay": 0.0}, {"learning_rate": 1e-3, "weight_decay": 1e-4},
        {"learning_rate": 3e-3, "weight_decay": 0.0}, {"learning_rate": 3e-3, "weight_decay": 1e-4},
    ]
    finished = [e for e in events if isinstance(e, VariantFinished)]
    assert [f.index for f in finished] == [0, 1, 2, 3]
    assert all(f.outcome == "completed" for f in finished)
    records = [f.record for f in finished]
    assert len({r.name for r in records}) == 4
    assert records[1].name == "lr-wd 2: learning_rate=0.001, weight_decay=0.0001"
    for variant, record in zip(vs, records, strict=True):
        assert record.settings["learning_rate"] == variant.settings["learning_rate"]
        assert record.settings["weight_decay"] == variant.settings["weight_decay"]
        assert record.settings["sweep.learning_rate"] == variant.settings["learning_rate"]
        assert record.settings["sweep"] == "lr-wd" and record.settings["dataset"] == "synthetic"
        assert len(record.series["val_accuracy"].y) == 1 and record.series["elapsed_seconds"].y[0] > 0
    assert loader.calls == 1  # the variants share one load of the data
    # Event stream: started, then per variant: started, its trainer's events tagged with its index, finished.
    assert isinstance(events[0], SweepStarted) and len(events[0].names) == 4
    assert events[-1] == SweepFinished(completed=4, total=4, stopped=False)
    index = -1
    for e in events[1:-1]:
        if isinstance(e, VariantStarted):
            index += 1
            assert e.index == index
        else:
            assert e.index == index
    tagged = [e.event for e in events if isinstance(e, VariantEvent) and e.index == 2]
    assert isinstance(tagged[0], RunStarted) and isinstance(tagged[-1], Finished)
    assert any(isinstance(t, StepFinished) for t in tagged)


def test_the_table_and_csv_have_one_row_per_variant_with_the_varied_settings(grid_run, tmp_path):
    _, _, events = grid_run
    records = [e.record for e in events if isinstance(e, VariantFinished)]
    rows = sweep_table(records)
    assert [r["name"] for r in rows] == [r.name for r in records]
    assert rows[3]["learning_rate"] == 3e-3 and rows[3]["weight_decay"] == 1e-4
    assert rows[0]["epochs"] == 1 and rows[0]["best_epoch"] == 1 and rows[0]["parameters"] == 61_706
    assert 0 <= rows[0]["final_val_accuracy"] == rows[0]["best_val_accuracy"] <= 1
    assert rows[0]["seconds"] > 0 and rows[0]["final_val_loss"] == rows[0]["best_val_loss"]
    path = tmp_path / "sweep.csv"
    text = to_csv(rows, path)
    assert path.read_text() == text
    parsed = list(csv.DictReader(io.StringIO(text)))
    assert len(parsed) == 4
    assert list(parsed[0])[:3] == ["name", "learning_rate", "weight_decay"]
    assert [float(r["learning_rate"]) for r in parsed] == [1e-3, 1e-3, 3e-3, 3e-3]
    assert [float(r["weight_decay"]) for r in parsed] == [0.0, 1e-4, 0.0, 1e-4]


def test_sweep_records_can_be_added_to_the_project_history_and_saved(grid_run, tmp_path):
    _, _, events = grid_run
    p = project()
    p.history.extend(e.record for e in events if isinstance(e, VariantFinished))
    save_project(p, tmp_path / "p.cnnp")
    back = load_project(tmp_path / "p.cnnp")
    assert [r.model_dump() for r in back.history] == [r.model_dump() for r in p.history]
    assert back.history[2].settings["sweep.learning_rate"] == 3e-3


def test_random_search_is_reproducible_log_uniform_and_within_bounds():
    spec = SweepSpec((Axis.range("learning_rate", 1e-5, 1e-1, "log"), Axis.range("batch_size", 16, 128, "log")),
                     mode="random", count=200, seed=7)
    first = [v.settings for v in variants(spec, project())]
    assert first == [v.settings for v in variants(spec, project())]
    other = [v.settings for v in variants(SweepSpec(spec.axes, mode="random", count=200, seed=8), project())]
    assert other != first
    lrs = [s["learning_rate"] for s in first]
    assert all(1e-5 <= lr <= 1e-1 for lr in lrs)
    logs = [math.log10(lr) for lr in lrs]
    # Uniform in log10 over [-5, -1]: median near -3, each decade about a quarter of the draws.
    assert abs(statistics.median(logs) + 3) < 0.35
    for decade in (-5, -4, -3, -2):
        share = sum(decade <= x < decade + 1 for x in logs) / len(logs)
        assert 0.15 < share < 0.35, (decade, share)
    sizes = [s["batch_size"] for s in first]
    assert all(isinstance(b, int) and 16 <= b <= 128 for b in sizes)
    assert len(set(sizes)) > 20


def test_cancelling_stops_at_the_next_step_and_no_variant_finishes_after():
    vs = variants(SweepSpec((Axis.grid("learning_rate", 1e-3, 2e-3, 3e-3),)), project())
    sweep = Sweep(vs, step_event_every=1)
    events, stop_step = [], None
    for event in sweep.run():
        events.append(event)
        step = event.event if isinstance(event, VariantEvent) and event.index == 1 else None
        if isinstance(step, StepFinished) and step.step == 2:
            sweep.stop()
            stop_step = len(events)
    after = events[stop_step:]
    assert [type(e) for e in after] == [VariantEvent, SweepFinished]
    assert isinstance(after[0].event, Finished) and after[0].event.reason == "stopped"
    assert after[0].event.step == 2  # no step after the one where stop() was called
    assert events[-1] == SweepFinished(completed=1, total=3, stopped=True)
    assert [e.index for e in events if isinstance(e, VariantFinished)] == [0]
    assert len(sweep.records) == 1


def test_closing_the_generator_stops_the_sweep():
    vs = variants(SweepSpec((Axis.grid("learning_rate", 1e-3, 2e-3),)), project())
    gen = run_sweep(vs, step_event_every=1)
    seen = [next(gen) for _ in range(5)]
    assert isinstance(seen[0], SweepStarted) and isinstance(seen[1], VariantStarted)
    gen.close()
    with pytest.raises(StopIteration):
        next(gen)


def test_width_knob_doubles_conv_channels_and_hidden_linears_but_not_the_classifier():
    v = variants(SweepSpec((Axis.grid("width", 2.0, 0.5),)), project())
    wide = v[0].graph.nodes
    assert (wide["conv1"].params["out_channels"], wide["conv2"].params["out_channels"]) == (12, 32)
    assert (wide["fc1"].params["out_features"], wide["fc2"].params["out_features"]) == (240, 168)
    assert wide["fc3"].params["out_features"] == 10
    narrow = v[1].graph.nodes
    assert (narrow["conv1"].params["out_channels"], narrow["conv2"].params["out_channels"]) == (3, 8)
    assert project().graph.nodes["conv1"].params["out_channels"] == 6  # the project is not changed
    assert {"width", "dropout"} <= set(GRAPH_KNOBS)


def test_dropout_knob_sets_every_dropout_and_needs_one():
    with pytest.raises(SweepError, match="the network has no Dropout layer"):
        variants(SweepSpec((Axis.grid("dropout", 0.2),)), project())
    g = get_preset("lenet5").factory()
    g.add_node("Dropout", {"p": 0.5}, id="drop1")
    fc1_out = g.out_edges("fc1")[0]
    g.disconnect(fc1_out)
    g.chain("fc1", "drop1", fc1_out.target)
    v = variants(SweepSpec((Axis.grid("dropout", 0.1, 0.3),)), project(g))
    assert [x.graph.nodes["drop1"].params["p"] for x in v] == [0.1, 0.3]


def test_depth_knob_repeats_every_size_keeping_conv_block():
    from cnnplayground.core.inference import infer
    from cnnplayground.experiments import nets

    graph = nets.conv_stack((1, 28, 28), 10, (8, 8, 16, 16), batch_norm=True)
    v = variants(SweepSpec((Axis.grid("depth", 1, 3),)), project(graph))
    same, deep = v[0].graph, v[1].graph
    assert len(same.nodes) == len(graph.nodes)  # depth 1: unchanged
    # conv2 (8 -> 8) and conv4 (16 -> 16) keep their size; conv1 and conv3 change channels and stay single.
    order, _ = deep.topological_order()
    chain = [n for n in order if deep.nodes[n].kind in ("Conv2d", "BatchNorm2d", "ReLU")]
    assert chain[3:12] == ["conv2", "bn2", "relu2", "conv2_x2", "bn2_x2", "relu2_x2", "conv2_x3", "bn2_x3",
                           "relu2_x3"]
    assert deep.consumers_of("relu2_x3") == ["pool1"] and "conv1_x2" not in deep.nodes
    assert sum(deep.nodes[n].kind == "Conv2d" for n in deep.nodes) == 4 + 2 * 2
    # Each copy adds one conv (c*c*9, no bias) and one BatchNorm (2c) per repeated block.
    added = infer(deep).total_params - infer(same).total_params
    assert added == 2 * (8 * 8 * 9 + 16) + 2 * (16 * 16 * 9 + 32)
    with pytest.raises(SweepError, match="no size-keeping convolution"):
        variants(SweepSpec((Axis.grid("depth", 2),)), project())  # LeNet-5: every conv changes the size
    # Drawn or spread values are rounded to whole repeats (random search over 1..3 works).
    drawn = variants(SweepSpec((Axis.range("depth", 1, 3),), mode="random", count=6, seed=3), project(graph))
    assert {v.settings["depth"] for v in drawn} <= {1, 2, 3} and len({v.settings["depth"] for v in drawn}) > 1
    with pytest.raises(SweepError, match="depth must be from 1 to 8"):
        variants(SweepSpec((Axis.grid("depth", 9),)), project(graph))
    # A copy of a frozen block trains: frozen, its fresh weights would stay random.
    graph.set_attributes("conv2", {"frozen": True, "lr_scale": 0.5})
    copied = variants(SweepSpec((Axis.grid("depth", 2),)), project(graph))[0].graph.nodes["conv2_x2"]
    assert copied.attributes["frozen"] is False and copied.attributes["lr_scale"] == 0.5
    records = [e for e in run_sweep(v, step_event_every=4) if isinstance(e, VariantFinished)]
    assert [r.outcome for r in records] == ["completed", "completed"]
    assert records[1].record.settings["network.parameters"] > records[0].record.settings["network.parameters"]


def test_settings_are_checked_before_anything_runs():
    p = project()
    with pytest.raises(SweepError, match="unknown setting 'speed'"):
        variants(SweepSpec((Axis.grid("speed", 1),)), p)
    with pytest.raises(SweepError, match="learning_rate: "):
        variants(SweepSpec((Axis.grid("learning_rate", 20.0),)), p)
    with pytest.raises(SweepError, match="option 'train_size' of dataset 'synthetic' must be from 1"):
        variants(SweepSpec((Axis.grid("train_size", 0),)), p)
    with pytest.raises(SweepError, match="a log scale needs a positive range"):
        variants(SweepSpec((Axis.range("learning_rate", 0, 1, "log"),), mode="random"), p)
    with pytest.raises(SweepError, match="one or two settings"):
        variants(SweepSpec(()), p)
    with pytest.raises(SweepError, match="needs steps"):
        variants(SweepSpec((Axis.range("learning_rate", 1e-4, 1e-2, "log"),)), p)
    grid = variants(SweepSpec((Axis.range("learning_rate", 1e-4, 1e-2, "log", steps=3),)), p)
    assert [v.config.learning_rate for v in grid] == pytest.approx([1e-4, 1e-3, 1e-2])
    sizes = variants(SweepSpec((Axis.grid("train_size", 200), Axis.grid("dataset.noise", 0.1))), p)
    assert sizes[0].dataset.options == {"train_size": 200, "test_size": 0, "noise": 0.1}
    assert p.dataset.options == {"train_size": 400, "test_size": 0}


def test_train_fraction_and_a_failing_variant():
    spec = SweepSpec((Axis.grid("train_fraction", 0.5), Axis.grid("dataset.noise", 0.08, 0.2)))
    vs = variants(spec, project())

    def loader(choice, config):
        if choice.options["noise"] == 0.2:
            raise DatasetError("no such data")
        return default_data_loader(choice, config)

    sweep = Sweep(vs, loader)
    finished = [e for e in sweep.run() if isinstance(e, VariantFinished)]
    assert finished[0].outcome == "completed" and finished[0].record.settings["train_images"] == 160
    assert finished[1].outcome == "failed" and finished[1].message == "no such data"
    assert finished[1].record.series["val_accuracy"].y == [] and len(sweep.records) == 2

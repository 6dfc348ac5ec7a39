"""The learning-rate finder (Smith's range test): its suggestion against real short runs, a copy only,
early stop on divergence, seeded."""

from __future__ import annotations

import math

import pytest
import torch

from cnnplayground.core.presets import get_preset
from cnnplayground.data.registry import load_dataset
from cnnplayground.project import DatasetChoice, TrainingConfig
from cnnplayground.train.events import EpochFinished
from cnnplayground.train.lr_find import (
    LrFindError,
    LrStep,
    find_for_project,
    make_result,
    run_to_end,
    suggest,
    sweep_rates,
)
from cnnplayground.train.setup import build_for_data
from cnnplayground.train.trainer import Trainer

SYNTHETIC = DatasetChoice(name="synthetic", options={"train_size": 3000, "test_size": 0})


@pytest.fixture(scope="module")
def data():
    return load_dataset(SYNTHETIC, val_fraction=0.2, seed=0)


def _config(**changes) -> TrainingConfig:
    return TrainingConfig(**{"batch_size": 64, "device": "cpu", "checkpoint_every": 0, "val_fraction": 0.2,
                             "epochs": 5, "restore_best": False, **changes})


def _final_train_loss(graph, data, config: TrainingConfig) -> float:
    """The training loss of the last epoch of a real short run (5 epochs of 38 steps: 190 steps); infinite when
    the run diverged (ended with ``Failed`` before its last epoch)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        model = build_for_data(graph, data, config)
    epochs = [e for e in Trainer(model, data, config).run() if isinstance(e, EpochFinished)]
    return epochs[-1].train_loss if len(epochs) == config.epochs else math.inf


# Measured on this set (5 epochs of 38 steps, final-epoch training loss, seeds 0, 1 and 2), SGD with momentum:
# the best of 4.6e-3 … 1e-1 was 2.2e-2 for every seed; the finder suggested 1.4e-2, 1.7e-2, 1.7e-2 (its steepest
# descent 0.11-0.14, 5-6x too high: why the suggestion is a tenth of the minimum, see train/lr_find.py).
def test_the_suggestion_is_within_3x_of_the_best_rate_of_short_real_runs(data):
    graph = get_preset("lenet5").factory()
    config = _config(optimizer="sgd", momentum=0.9)
    result = run_to_end(find_for_project(graph, data, config))
    rates = (4.6e-3, 1e-2, 2.2e-2, 4.6e-2, 1e-1)  # a factor 2.15 apart
    losses = {lr: _final_train_loss(graph, data, config.model_copy(update={"learning_rate": lr})) for lr in rates}
    best = min(losses, key=losses.__getitem__)
    assert best not in (rates[0], rates[-1]), losses  # the sweep brackets the best rate (else it proves little)
    ratio = max(result.suggested_lr / best, best / result.suggested_lr)
    assert ratio <= 3.0, (result.describe(), losses)
    assert result.suggested_lr == pytest.approx(result.minimum_lr / 10, rel=0.06)
    assert result.tenth_of_minimum_lr == result.suggested_lr and result.steepest_lr > 0


# With Adam (the default optimizer) the short runs' losses are flat from 2.2e-3 to 1e-2 and which of them is
# lowest depends on the seed: the best was 1e-2 for seed 0 and 4.6e-3 for seeds 1 and 2 (the mean over the three:
# 4.6e-3), the finder suggested 2.6e-3, 2.6e-3 and 3.8e-3: 3.85x off the best for seed 0, 1.8x and 1.2x for the
# others. What holds for every seed is that the suggested rate trains as well as the best of the sweep, within 15 %.
def test_with_adam_the_suggested_rate_trains_about_as_well_as_the_best_of_a_sweep(data):
    graph = get_preset("lenet5").factory()
    config = _config(optimizer="adam")
    result = run_to_end(find_for_project(graph, data, config))
    rates = (1e-3, 2.2e-3, 4.6e-3, 1e-2, 2.2e-2)
    losses = {lr: _final_train_loss(graph, data, config.model_copy(update={"learning_rate": lr})) for lr in rates}
    best = min(losses, key=losses.__getitem__)
    assert best not in (rates[0], rates[-1]), losses
    suggested = _final_train_loss(graph, data, config.model_copy(update={"learning_rate": result.suggested_lr}))
    assert suggested <= 1.15 * losses[best], (result.describe(), suggested, losses)
    assert suggested < losses[rates[0]] and suggested < losses[rates[-1]]


def test_the_projects_weights_are_unchanged_by_a_find(data):
    graph = get_preset("lenet5").factory()
    config = _config()
    torch.manual_seed(1)
    weights = {k: v.clone() for k, v in build_for_data(graph, data, config).state_dict().items()}
    before = {k: v.clone() for k, v in weights.items()}
    graph_before = graph.to_dict()
    result = run_to_end(find_for_project(graph, data, config, weights=weights, steps=30, end_lr=1.0))
    assert result.start == "project" and result.steps == 30
    assert weights.keys() == before.keys()
    assert all(torch.equal(weights[k], before[k]) for k in before)  # not one value of the project changed
    assert graph.to_dict() == graph_before and config == _config()


def test_divergence_stops_the_sweep_early(data):
    config = _config(optimizer="sgd", momentum=0.9)
    steps: list[LrStep] = []
    sweep = find_for_project(get_preset("lenet5").factory(), data, config, steps=100, start_lr=1e-3, end_lr=1e3)
    while True:
        try:
            steps.append(next(sweep))
        except StopIteration as done:
            result = done.value
            break
    assert result.diverged and result.steps == len(steps) < 100
    best = min(s.smoothed for s in steps[:-1])
    last = steps[-1].smoothed
    assert not math.isfinite(last) or last > 4 * best  # it stopped at the first step past 4 × the best
    assert all(s.smoothed <= 4 * best for s in steps[:-1])
    assert result.learning_rates == tuple(sweep_rates(1e-3, 1e3, 100)[: result.steps])
    assert result.to_dict()["diverged"] is True


def test_two_finds_on_the_cpu_give_the_same_curve(data):
    graph = get_preset("lenet5").factory()
    first = run_to_end(find_for_project(graph, data, _config(), steps=20))
    second = run_to_end(find_for_project(graph, data, _config(), steps=20))
    assert first.losses == second.losses and first.suggested_lr == second.suggested_lr


def test_the_rates_grow_exponentially_and_bad_ranges_are_refused():
    rates = sweep_rates(1e-7, 10.0, 100)
    assert rates[0] == 1e-7 and rates[-1] == pytest.approx(10.0)
    assert all(b / a == pytest.approx(10 ** (8 / 99)) for a, b in zip(rates, rates[1:]))
    for start, end, steps in ((1e-2, 1e-3, 100), (0.0, 1.0, 100), (1e-7, 10.0, 3), (1e-7, math.inf, 100)):
        with pytest.raises(LrFindError):
            sweep_rates(start, end, steps)


def test_the_rules_on_a_known_curve():
    # A loss that falls fastest at 1e-3 and is lowest at 1e-1, then rises: 61 points, 10 a decade.
    rates = [10 ** (-6 + i / 10) for i in range(61)]
    smoothed = [2.0 - 1.0 / (1 + math.exp(-(math.log10(r) + 3) * 3)) + max(0.0, math.log10(r) + 1) ** 2
                for r in rates]
    steepest, minimum = suggest(rates, smoothed)
    assert steepest == pytest.approx(1e-3, rel=0.3) and minimum == pytest.approx(1e-1, rel=0.3)
    result = make_result(rates, smoothed, smoothed, diverged=False, steps_planned=61, start_lr=1e-6, end_lr=1.0)
    assert result.suggested_lr == pytest.approx(1e-2, rel=0.3) and result.steepest_lr == pytest.approx(1e-3, rel=0.3)
    # A blow-up to infinity is left out of the suggestion.
    blown = smoothed[:40] + [math.inf] * 5
    assert suggest(rates[:45], blown)[1] <= rates[39]

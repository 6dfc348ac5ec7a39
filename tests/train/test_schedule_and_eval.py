"""Learning-rate schedules, optimizers and evaluation, with exact numbers."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from cnnplayground.project import TrainingConfig
from cnnplayground.train.evaluate import evaluate
from cnnplayground.train.optim import l1_penalty, lr_factor, make_optimizer


def factors(steps_per_epoch=10, **kw):
    cfg = TrainingConfig(epochs=10, **kw)
    return [lr_factor(cfg, s, steps_per_epoch) for s in range(100)]


def test_constant_and_warmup():
    assert set(factors()) == {1.0}
    f = factors(warmup_epochs=2)
    assert f[0] == pytest.approx(1 / 20) and f[9] == pytest.approx(10 / 20) and f[19] == 1.0 and f[50] == 1.0


def test_step_schedule_decays_every_step_size_epochs():
    f = factors(schedule="step", step_size=3, step_gamma=0.5)
    assert f[29] == 1.0 and f[30] == 0.5 and f[59] == 0.5 and f[60] == 0.25 and f[99] == 0.125


def test_cosine_goes_from_one_to_zero():
    f = factors(schedule="cosine")
    assert f[0] == 1.0 and f[50] == pytest.approx(0.5) and f[99] == pytest.approx(0.5 * (1 + math.cos(math.pi * .99)))
    assert all(a >= b for a, b in zip(f, f[1:]))


def test_onecycle_peaks_at_30_percent():
    f = factors(schedule="onecycle")
    assert f[0] == pytest.approx(1 / 25) and f[30] == pytest.approx(1.0) and max(f) == f[30]
    assert f[99] < 1e-3


def test_plateau_uses_the_given_factor():
    cfg = TrainingConfig(schedule="plateau")
    assert lr_factor(cfg, 5, 10, plateau_factor=0.01) == 0.01


@pytest.mark.parametrize("name", ["sgd", "adam", "adamw", "rmsprop"])
def test_every_optimizer_lowers_a_quadratic_loss(name):
    torch.manual_seed(0)
    model = nn.Linear(4, 1)
    opt = make_optimizer(model, TrainingConfig(optimizer=name, learning_rate=0.05, nesterov=True), torch.device("cpu"))
    x = torch.randn(64, 4)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]])
    first = None
    for _ in range(50):
        loss = ((model(x) - y) ** 2).mean()
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.5 * first


def test_l1_penalty_counts_weights_not_biases():
    model = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[1.0, -2.0], [3.0, -4.0]]))
    assert l1_penalty(model).item() == 10.0


class _Fixed(nn.Module):
    """Predicts class 0 with probability 0.9 for every input of a 3-class problem."""

    def __init__(self) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.log(torch.tensor([0.9, 0.05, 0.05])))

    def forward(self, x):
        return self.bias.expand(x.shape[0], 3)


def test_evaluate_counts_exactly():
    y = torch.tensor([0, 0, 1, 2, 2, 2])
    batches = [(torch.zeros(4, 1), y[:4]), (torch.zeros(2, 1), y[4:])]
    result = evaluate(_Fixed(), batches, 3, top_mistakes=2)
    assert result.count == 6 and result.accuracy == pytest.approx(2 / 6)
    assert result.confusion.tolist() == [[2, 0, 0], [1, 0, 0], [3, 0, 0]]
    assert result.per_class_accuracy == (1.0, 0.0, 0.0)
    expected_loss = -(2 * math.log(0.9) + 4 * math.log(0.05)) / 6
    assert result.loss == pytest.approx(expected_loss, rel=1e-5)
    assert [(m.index, m.true, m.predicted) for m in result.mistakes] == [(2, 1, 0), (3, 2, 0)]
    assert result.mistakes[0].confidence == pytest.approx(0.9)


def test_evaluate_restores_training_mode():
    model = _Fixed().train()
    evaluate(model, [(torch.zeros(1, 1), torch.tensor([0]))], 3)
    assert model.training

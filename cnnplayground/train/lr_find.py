"""The learning-rate finder: Smith's range test (2017), as fast.ai's ``lr_find``.

A copy of the network trains for a short while (``steps`` optimizer steps, default 100, over
as many epochs of the training split as that takes) while the learning rate grows
exponentially from ``start_lr`` to ``end_lr``: step ``i`` of ``n`` uses
``start_lr · (end_lr / start_lr) ** (i / (n - 1))``. The run uses the project's optimizer
(momentum, weight decay, layer LR factors), batch size, loss (label smoothing, class weights,
L1), gradient clipping and augmentation, on the training split through the trainer's batch
path (:class:`~cnnplayground.data.loader.DeviceLoader`) and device; the project's schedule and
warm-up are not used (the rate is the sweep's). Each step's loss is smoothed by a debiased
exponential moving average (``beta`` 0.98, fast.ai's ``smooth_loss``) and the sweep stops early
when the smoothed loss exceeds ``diverge_factor`` (4) times the best so far or the loss is not
finite. The copy is discarded afterwards: nothing is restored, because nothing of the project
was touched.

The suggestion. Two rules are computed on the smoothed curve, without its first tenth and its
last five points (fast.ai does the same: the start is the smoothing settling, the end the
blow-up):

- ``steepest_lr``: the rate where the smoothed loss falls fastest per decade of the rate, before its
  minimum;
- ``minimum_lr / 10``: a tenth of the rate at the lowest smoothed loss (``tenth_of_minimum_lr``).

``suggested_lr`` is a tenth of the rate at the minimum. fast.ai's current default is
"valley" (``suggest_funcs=(SuggestionMethod.Valley)`` in ``fastai/callback/schedule.py``), a
steepest-slope rule, and the steepest descent is what Smith's paper reads off the curve. Measured
against real runs of LeNet-5 (docs/EXPERIMENTS.md; tests/train/test_lr_find.py), the steepest
descent of the smoothed curve lands near the minimum, because the smoothing lags a rate that grows
1.2× per step: on MNIST it was 6× above the best rate of one-epoch runs with Adam and with SGD,
next to rates that diverged, while a tenth of the minimum was within 2.2× of it (on the synthetic
set, SGD: 5-6× against 1.6×). So the cautious rule is the suggestion; the steepest descent is in the
result (``steepest_lr``) for those who want the bolder rate.

Seeded (``config.seed``: the initial weights of a fresh copy, the batch order, augmentation), so
on the CPU two finds give the same curve.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Generator, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..core.errors import UserError
from ..core.graph import Graph
from ..data.balance import loss_weights
from ..data.base import ImageData
from ..data.loader import DeviceLoader
from ..project import TrainingConfig
from .optim import l1_penalty, make_optimizer, set_learning_rate
from .setup import build_for_data
from .trainer import _autocast_dtype, resolve_device

#: fast.ai's defaults: 100 steps from 1e-7 to 10, smoothing 0.98, stop at 4 × the best smoothed loss.
DEFAULT_STEPS = 100
DEFAULT_START_LR = 1e-7
DEFAULT_END_LR = 10.0
SMOOTHING = 0.98
DIVERGE_FACTOR = 4.0
#: Points left out at the end of the curve when suggesting (the blow-up), as fast.ai.
SKIP_END = 5


class LrFindError(UserError, ValueError):
    """The range test cannot run (bad range, no training images); one line for the user."""


@dataclass(frozen=True)
class LrStep:
    """One step of the sweep: ``step`` of ``total`` (1-based), its rate, loss and smoothed loss."""

    step: int
    total: int
    learning_rate: float
    loss: float
    smoothed: float


@dataclass(frozen=True)
class LrFindResult:
    """The curve (one entry per step taken) and the suggestions; rates are rounded to 2 significant digits.

    ``diverged``: the sweep stopped early because the loss blew up (at ``learning_rates[-1]``).
    ``start``: ``"fresh"`` (seeded initial weights, as a new run starts) or ``"project"`` (the project's
    trained weights, copied).
    """

    learning_rates: tuple[float, ...]
    losses: tuple[float, ...]
    smoothed: tuple[float, ...]
    suggested_lr: float
    steepest_lr: float
    minimum_lr: float
    tenth_of_minimum_lr: float
    diverged: bool
    steps_planned: int
    start_lr: float
    end_lr: float
    start: str = "fresh"
    rule: str = "a tenth of the rate at the lowest smoothed loss"

    @property
    def steps(self) -> int:
        return len(self.learning_rates)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data (a non-finite loss becomes ``None``)."""
        return {
            "suggested_lr": self.suggested_lr, "rule": self.rule, "steepest_lr": self.steepest_lr,
            "minimum_lr": self.minimum_lr, "tenth_of_minimum_lr": self.tenth_of_minimum_lr,
            "diverged": self.diverged, "steps": self.steps, "steps_planned": self.steps_planned,
            "start_lr": self.start_lr, "end_lr": self.end_lr, "start": self.start,
            "curve": [{"learning_rate": lr, "loss": _finite(loss), "smoothed": _finite(s)}
                      for lr, loss, s in zip(self.learning_rates, self.losses, self.smoothed)],
        }

    def describe(self) -> str:
        """``suggested learning rate 2.6e-03 (a tenth of …); steepest descent at 8.5e-03``."""
        stop = (f"; the loss diverged at {self.learning_rates[-1]:.1e}, the sweep stopped there" if self.diverged
                else "")
        return (f"suggested learning rate {self.suggested_lr:.1e} ({self.rule}, {self.minimum_lr:.1e}); the loss "
                f"falls fastest at {self.steepest_lr:.1e}{stop}")


def sweep_rates(start_lr: float, end_lr: float, steps: int) -> list[float]:
    """The sweep's rates: ``steps`` values growing exponentially from ``start_lr`` to ``end_lr`` (both included)."""
    check_range(start_lr, end_lr, steps)
    ratio = end_lr / start_lr
    return [start_lr * ratio ** (i / (steps - 1)) for i in range(steps)]


def check_range(start_lr: float, end_lr: float, steps: int) -> None:
    if not (math.isfinite(start_lr) and math.isfinite(end_lr) and 0 < start_lr < end_lr):
        raise LrFindError(f"the sweep needs 0 < start rate < end rate, got {start_lr:g} and {end_lr:g}")
    if not 6 <= steps <= 100_000:
        raise LrFindError(f"the sweep needs 6 to 100,000 steps, got {steps}")


def lr_range_test(
    model: nn.Module, data: ImageData, config: TrainingConfig, *, start_lr: float = DEFAULT_START_LR,
    end_lr: float = DEFAULT_END_LR, steps: int = DEFAULT_STEPS, device: str | torch.device | None = None,
    beta: float = SMOOTHING, diverge_factor: float = DIVERGE_FACTOR, start: str = "fresh",
) -> Generator[LrStep, None, LrFindResult]:
    """Train ``model`` **in place** (pass a copy) through the sweep; yields an :class:`LrStep` per step and
    returns the :class:`LrFindResult` (``StopIteration.value``; :func:`run_to_end` gives it). Closing the
    generator stops the sweep between two steps."""
    rates = sweep_rates(start_lr, end_lr, steps)
    if len(data.train) == 0:
        raise LrFindError(f"{data.name} has no training images to run the learning-rate finder on")
    cfg = config
    dev = resolve_device(device if device is not None else cfg.device)
    torch.manual_seed(cfg.seed)
    model.to(dev)
    channels_last = dev.type == "cuda"
    if channels_last and any(isinstance(m, nn.Conv2d) for m in model.modules()):
        model.to(memory_format=torch.channels_last)
    loader = DeviceLoader(data.train, mean=data.mean, std=data.std, batch_size=cfg.batch_size, device=dev,
                          shuffle=True, augment=cfg.augment if cfg.augment.enabled else None, seed=cfg.seed,
                          channels_last=channels_last)
    opt = make_optimizer(model, cfg, dev)
    amp_dtype = _autocast_dtype(cfg, dev)
    scaler = torch.amp.GradScaler("cuda") if amp_dtype == torch.float16 else None
    weight = loss_weights(cfg.class_weights, data.train.labels, data.num_classes)
    criterion = nn.CrossEntropyLoss(weight=None if weight is None else weight.to(dev),
                                    label_smoothing=cfg.label_smoothing)
    losses: list[float] = []
    smoothed: list[float] = []
    average, best, diverged = 0.0, math.inf, False
    model.train()
    for i, (x, y) in enumerate(_batches(loader, steps)):
        lr = rates[i]
        set_learning_rate(opt, lr)
        ctx = torch.autocast(dev.type, dtype=amp_dtype) if amp_dtype else contextlib.nullcontext()
        with ctx:
            loss = criterion(model(x), y)
            if cfg.l1 > 0:
                loss = loss + cfg.l1 * l1_penalty(model)
        opt.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(loss).backward()
            if cfg.grad_clip > 0:
                scaler.unscale_(opt)
                nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            scaler.step(opt)
            scaler.update()
        else:
            loss.backward()
            if cfg.grad_clip > 0:
                nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            opt.step()
        value = float(loss.detach())  # one read-back per step: the sweep needs every point
        average = beta * average + (1 - beta) * value
        smooth = average / (1 - beta ** (i + 1))
        losses.append(value)
        smoothed.append(smooth)
        yield LrStep(i + 1, steps, lr, value, smooth)
        if not math.isfinite(smooth) or smooth > diverge_factor * best:
            diverged = True
            break
        best = min(best, smooth)
    return make_result(rates[: len(losses)], losses, smoothed, diverged=diverged, steps_planned=steps,
                       start_lr=start_lr, end_lr=end_lr, start=start)


def _batches(loader: DeviceLoader, steps: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """``steps`` training batches, over as many epochs as that takes."""
    taken = 0
    while taken < steps:
        for batch in loader:
            yield batch
            taken += 1
            if taken == steps:
                return


def make_result(rates: list[float], losses: list[float], smoothed: list[float], *, diverged: bool,
                steps_planned: int, start_lr: float, end_lr: float, start: str = "fresh") -> LrFindResult:
    """The suggestions for a recorded curve (see the module docstring)."""
    if not rates:
        raise LrFindError("the learning-rate finder took no step")
    steepest, minimum = suggest(rates, smoothed)
    return LrFindResult(
        learning_rates=tuple(rates), losses=tuple(losses), smoothed=tuple(smoothed),
        suggested_lr=_round(minimum / 10), steepest_lr=_round(steepest), minimum_lr=_round(minimum),
        tenth_of_minimum_lr=_round(minimum / 10), diverged=diverged, steps_planned=steps_planned,
        start_lr=start_lr, end_lr=end_lr, start=start,
    )


def suggest(rates: list[float], smoothed: list[float]) -> tuple[float, float]:
    """``(steepest, minimum)``: the rate where the smoothed loss falls fastest per decade (before its lowest
    value), and the rate of its lowest value, on the curve without its first tenth and last :data:`SKIP_END`
    points (fewer when the curve is short). Non-finite points (a blow-up) and all after them are left out."""
    n = next((i for i, s in enumerate(smoothed) if not math.isfinite(s)), len(smoothed))
    lo = len(rates) // 10 if n - len(rates) // 10 - SKIP_END >= 3 else 0
    hi = n - SKIP_END if n - SKIP_END - lo >= 3 else n
    r, s = rates[lo:hi], smoothed[lo:hi]
    if len(r) < 2:
        return r[0] if r else rates[0], r[0] if r else rates[0]
    lowest = min(range(len(s)), key=s.__getitem__)
    # The fastest fall before the minimum: after it, a drop is the loss recovering from a blow-up, not learning.
    slopes = [(s[i + 1] - s[i]) / (math.log10(r[i + 1]) - math.log10(r[i])) for i in range(max(lowest, 1))]
    steepest = r[min(range(len(slopes)), key=slopes.__getitem__)]
    return steepest, r[lowest]


def find_for_project(
    graph: Graph, data: ImageData, config: TrainingConfig, *, weights: Mapping[str, torch.Tensor] | None = None,
    start_lr: float = DEFAULT_START_LR, end_lr: float = DEFAULT_END_LR, steps: int = DEFAULT_STEPS,
    device: str | torch.device | None = None,
) -> Generator[LrStep, None, LrFindResult]:
    """The range test for a project: a new network built from ``graph`` (seeded by ``config.seed``, as a run
    starts), or with a copy of ``weights`` (the project's trained ones) when given. The project is never
    touched; the network is dropped afterwards."""
    check_range(start_lr, end_lr, steps)
    with torch.random.fork_rng(devices=[]):  # the run's seed decides its initial weights, as Train does
        torch.manual_seed(config.seed)
        model = build_for_data(graph, data, config)
    if weights is not None:
        model.load_state_dict(dict(weights))  # copies the values into the new network's own tensors
    return (yield from lr_range_test(model, data, config, start_lr=start_lr, end_lr=end_lr, steps=steps,
                                     device=device, start="fresh" if weights is None else "project"))


def run_to_end(sweep: Generator[LrStep, None, LrFindResult]) -> LrFindResult:
    """Drain a sweep generator and return its result."""
    while True:
        try:
            next(sweep)
        except StopIteration as done:
            result: LrFindResult = done.value
            return result


def _round(value: float) -> float:
    """Two significant digits: ``0.0031622`` → ``0.0032`` (what the window's button says, and sets)."""
    return float(f"{value:.1e}")


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None

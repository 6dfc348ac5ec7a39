"""What is wrong with a run, in plain words and with the fix: small rules over a :class:`RunHistory`.

Each rule is a function ``rule(run) -> list[Finding]``; :func:`diagnose` runs them all (:data:`RULES`).
Rules that read layer health (``run.health``) find nothing in runs recorded without it; the others
need only the curves. The thresholds (module constants) are chosen so that a healthy LeNet-5 run on
MNIST or the synthetic set raises none (tests/project/test_diagnoses.py):

- dead ReLUs: at the last measured epoch, at least :data:`DEAD_SHARE` of a ReLU layer's units
  (channels of a conv output) never fired on the sampled batch;
- vanishing gradients: at the last measured epoch, the first layer with weights gets less than
  :data:`VANISHING_RATIO` of the gradient norm of the last one (layers with a gradient of exactly 0
  are left out: their cause is dead units or a detached branch, not depth);
- divergence: the run failed with a NaN/infinite/exploded loss, a recorded loss is not finite, or
  a step loss rose above :data:`BLOW_UP` × the lowest loss before it and above the first one;
- too-slow learning: over at least :data:`SLOW_MIN_POINTS` step points (or 3 epochs), the mean loss
  of the last tenth is less than :data:`SLOW_DROP` below that of the first tenth, and the training
  accuracy is under :data:`SLOW_ACCURACY`;
- overfitting: at the last epoch the training accuracy is :data:`OVERFIT_GAP` or more above the
  validation accuracy, and validation got worse since its best epoch (accuracy
  :data:`OVERFIT_DROP` lower, or loss :data:`OVERFIT_LOSS_RISE` × higher).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .history import RunHistory

DEAD_SHARE = 0.5
VANISHING_RATIO = 1e-3
BLOW_UP = 5.0
SLOW_DROP = 0.05
SLOW_MIN_POINTS = 20
SLOW_ACCURACY = 0.9
OVERFIT_GAP = 0.10
OVERFIT_DROP = 0.02
OVERFIT_LOSS_RISE = 1.10


@dataclass(frozen=True)
class Finding:
    """One diagnosis: what was measured where, and what to do.

    ``rule``: the rule's name (``"dead_relus"``, ...); ``layer``: the layer it concerns, or None for the
    whole run; ``measure`` and ``value``: the number behind it (a share, a ratio, a step, an accuracy
    gap); ``message``: what is wrong, ``advice``: the fix, both one plain sentence.
    """

    rule: str
    layer: str | None
    measure: str
    value: float
    message: str
    advice: str
    epoch: int | None = None
    step: int | None = None

    def text(self) -> str:
        return f"{self.message} — {self.advice}"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def dead_relus(run: RunHistory) -> list[Finding]:
    if run.health is None or not run.health.epochs:
        return []
    epoch = run.health.epochs[-1]
    findings = []
    for layer in run.health.layers:
        share = layer.dead_share[-1] if layer.dead_share else None
        if share is not None and share >= DEAD_SHARE:
            findings.append(Finding(
                "dead_relus", layer.name, "dead_share", share,
                f"{layer.name}: {share:.0%} of units never fire",
                "lower the learning rate, use LeakyReLU, or add batch norm", epoch=epoch))
    return findings


def vanishing_gradients(run: RunHistory) -> list[Finding]:
    if run.health is None or not run.health.epochs:
        return []
    norms: list[tuple[str, float]] = []
    for layer in run.health.layers:
        g = layer.grad_norm[-1] if layer.grad_norm else None
        if g is not None and g > 0:
            norms.append((layer.name, g))
    if len(norms) < 2:
        return []
    (first, g_first), (last, g_last) = norms[0], norms[-1]
    ratio = g_first / g_last
    if ratio >= VANISHING_RATIO:
        return []
    return [Finding("vanishing_gradients", first, "gradient_ratio", ratio,
                    f"gradients vanish: {first} receives 1/{1 / ratio:,.0f} of {last}'s gradient norm",
                    "add batch norm or residual connections, or use ReLU instead of sigmoid/tanh",
                    epoch=run.health.epochs[-1])]


def _learning_rate(run: RunHistory) -> float | None:
    lr = run.settings.get("learning_rate")
    return float(lr) if isinstance(lr, int | float) and not isinstance(lr, bool) else None


def divergence(run: RunHistory) -> list[Finding]:
    step: int | None = run.diverged_step
    epoch: int | None = None
    if step is None:
        curve = run.series.get("step_loss")
        if curve is not None:
            lowest, first = math.inf, None
            for x, y in zip(curve.x, curve.y):
                if y is None or (first is not None and y > BLOW_UP * lowest and y > first):
                    step = int(x)
                    break
                first = y if first is None else first
                lowest = min(lowest, y)
    if step is None:
        curve = run.series.get("train_loss")
        if curve is not None:
            epoch = next((int(x) for x, y in zip(curve.x, curve.y) if y is None), None)
    if step is None and epoch is None:
        return []
    lr = _learning_rate(run)
    where = f"step {step:,}" if step is not None else f"epoch {epoch}"
    advice = (f"the learning rate ({lr:g}) is about 10× too high: try {lr / 10:g}" if lr is not None
              else "the learning rate is about 10× too high")
    return [Finding("divergence", None, "step" if step is not None else "epoch",
                    float(step if step is not None else epoch),  # type: ignore[arg-type]
                    f"the loss diverged at {where}", advice + ", or add gradient clipping or batch norm",
                    epoch=epoch, step=step)]


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def slow_learning(run: RunHistory) -> list[Finding]:
    steps, epochs = run.series.get("step_loss"), run.series.get("train_loss")
    if steps is not None and len(steps.y) >= SLOW_MIN_POINTS:
        values, unit, span = steps.y, "steps", int(steps.x[-1])
    elif epochs is not None and len(epochs.y) >= 3:
        values, unit, span = epochs.y, "epochs", len(epochs.y)
    else:
        return []
    if any(v is None for v in values):
        return []  # diverged: that rule speaks
    finite = [float(v) for v in values if v is not None]
    tenth = max(len(finite) // 10, 1)
    head, tail = _mean(finite[:tenth]), _mean(finite[-tenth:])
    if head <= 0:
        return []
    drop = (head - tail) / head
    accuracy = run.series.get("train_accuracy")
    last_accuracy = next((y for y in reversed(accuracy.y) if y is not None), None) if accuracy else None
    if drop >= SLOW_DROP or (last_accuracy is not None and last_accuracy >= SLOW_ACCURACY):
        return []
    lr = _learning_rate(run)
    advice = (f"the learning rate ({lr:g}) is probably too low: try {lr * 10:g}" if lr is not None
              else "the learning rate is probably too low: try 10× higher")
    return [Finding("slow_learning", None, "loss_drop", drop,
                    f"the loss barely moves: it fell by {max(drop, 0):.0%} over {span:,} {unit}",
                    advice + " (or find one with the learning-rate finder)")]


def overfitting(run: RunHistory) -> list[Finding]:
    train, val = run.series.get("train_accuracy"), run.series.get("val_accuracy")
    if train is None or val is None or len(val.y) < 2:
        return []
    pairs = [(int(x), t, v) for x, t, v in zip(val.x, train.y, val.y) if t is not None and v is not None]
    if len(pairs) < 2:
        return []
    epoch, t_last, v_last = pairs[-1]
    if t_last - v_last < OVERFIT_GAP:
        return []
    v_best = max(v for _, _, v in pairs)
    falling = v_last <= v_best - OVERFIT_DROP
    val_loss = [y for y in run.series["val_loss"].y if y is not None] if "val_loss" in run.series else []
    rising = len(val_loss) >= 2 and val_loss[-1] >= OVERFIT_LOSS_RISE * min(val_loss[:-1])
    if not (falling or rising):
        return []
    trend = "and falling" if falling else "with its loss rising"
    return [Finding("overfitting", None, "accuracy_gap", t_last - v_last,
                    f"training accuracy {t_last:.0%}, validation {v_last:.0%} {trend}: overfitting",
                    "add augmentation, dropout or weight decay (or keep the best epoch)", epoch=epoch)]


#: Every rule, in the order findings are listed.
RULES: tuple[Callable[[RunHistory], list[Finding]], ...] = (
    divergence, dead_relus, vanishing_gradients, slow_learning, overfitting)


def diagnose(run: RunHistory) -> list[Finding]:
    """The findings of every rule for ``run`` (empty: nothing looks wrong)."""
    return [finding for rule in RULES for finding in rule(run)]

"""The experiment gallery: the lecture's claims as ready-made comparisons.

Each :class:`~.base.Experiment` builds its arms for a :class:`~.base.Context`
(quick: the synthetic shapes; full: MNIST / Fashion-MNIST) and turns their
results into a :class:`~.base.Finding`. Numbers here (subset sizes, epochs,
learning rates) are chosen so the quick version runs in well under a minute on
two CPU cores and the full one in a few minutes, while the effect stays visible;
``docs/EXPERIMENTS.md`` records what the full runs gave.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from ..inspect.adversarial import epsilon_sweep
from ..project import TrainingConfig
from ..train.sweep import train_subset
from . import nets
from .base import (
    Context,
    Curve,
    Experiment,
    ExperimentError,
    Figure,
    Finding,
    Results,
    Stage,
    arm,
    compare,
    curves_figure,
    noise_margin,
    predict,
)

SHAPE = (1, 28, 28)  # MNIST, Fashion-MNIST and the grey synthetic shapes
CLASSES = 10
CHANCE = 1.0 / CLASSES


def _config(ctx: Context, **changes: Any) -> TrainingConfig:
    """The gallery's defaults (Adam 1e-3, batch 128, no checkpoints, the last epoch's weights) with ``changes``
    (dotted keys allowed for nested settings: ``augment.rotate_degrees``). The experiments compare how runs
    end, so they keep the last epoch's weights unless an arm asks for the best (``restore_best``)."""
    doc: dict[str, Any] = {"epochs": 3, "batch_size": 128, "optimizer": "adam", "learning_rate": 1e-3,
                           "checkpoint_every": 0, "seed": ctx.seed, "val_fraction": ctx.pick(0.2, 0.1),
                           "restore_best": False, "augment": {}}
    for key, value in changes.items():
        if "." in key:
            head, tail = key.split(".", 1)
            doc.setdefault(head, {})[tail] = value
        else:
            doc[key] = value
    return TrainingConfig.model_validate(doc)


def _pct(value: float) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{100 * value:.1f} %"


def _params(results: Results, name: str) -> int:
    return int(results.record(name).settings.get("network.parameters", 0))


# --- 1. convolutional vs fully connected ---------------------------------------------------------------

CONV, FC_SMALL, FC_LARGE = "LeNet-5 (convolutional)", "MLP 784-64-10", "MLP 784-512-256-10"


def _conv_vs_fc_plan(ctx: Context) -> list[Stage]:
    data = ctx.dataset(quick_images=6000)
    config = _config(ctx, epochs=ctx.pick(10, 5))
    graphs = {CONV: nets.lenet(SHAPE, CLASSES), FC_SMALL: nets.mlp(SHAPE, CLASSES, [64]),
              FC_LARGE: nets.mlp(SHAPE, CLASSES, [512, 256])}
    return [Stage("convolutional vs fully connected",
                  {name: arm(name, g, config, data, sweep="conv vs fc") for name, g in graphs.items()})]


def _conv_vs_fc(results: Results) -> Finding:
    acc = {n: results.last(n, "val_accuracy") for n in (CONV, FC_SMALL, FC_LARGE)}
    params = {n: _params(results, n) for n in acc}
    best_fc = max(acc[FC_SMALL], acc[FC_LARGE])
    margin = noise_margin(results.context.scale)
    against_fc = compare(acc[CONV], best_fc, margin)
    holds = against_fc == "higher" and params[CONV] < params[FC_LARGE]
    headline = (f"LeNet-5 reached {_pct(acc[CONV])} validation accuracy with {params[CONV]:,} parameters; the "
                f"fully connected nets reached {_pct(acc[FC_SMALL])} ({params[FC_SMALL]:,} parameters) and "
                f"{_pct(acc[FC_LARGE])} ({params[FC_LARGE]:,}).")
    if against_fc == "unclear":
        gap = (acc[CONV] - best_fc) * 100
        headline += (f" A gap of {abs(gap):.1f} points {'for' if gap >= 0 else 'against'} LeNet-5 is within the "
                     f"{margin * 100:.1f} points that seeds alone can change: no clear difference in accuracy, "
                     f"with {params[FC_LARGE] / params[CONV]:.0f}× fewer parameters for LeNet-5.")
    figure = curves_figure(results, list(acc), title="Validation accuracy: convolutional vs fully connected")
    numbers = {f"accuracy {n}": v for n, v in acc.items()} | {f"parameters {n}": float(p) for n, p in params.items()}
    numbers["noise margin"] = margin
    return Finding(headline, holds, numbers, figure, clear=against_fc != "unclear")


CONV_VS_FC = Experiment(
    "conv-vs-fc", "Convolutional vs fully connected",
    "LeNet-5 against two fully connected nets, one of about its size and one almost ten times larger.",
    "Watch the validation accuracy: the convolutional net shares each small filter across the whole image, "
    "so it gets more out of fewer parameters. The large fully connected net fits the training set well but "
    "has to learn every position of every stroke separately.",
    "LeCun et al. (1998) report 0.95 % test error for LeNet-5 on MNIST against 2.95 % to 4.7 % for fully "
    "connected nets of 300 to 1,000 hidden units, with far fewer parameters.",
    _conv_vs_fc_plan, _conv_vs_fc, minutes=(0.3, 2.0),
)


# --- 2. overfitting and regularizers ------------------------------------------------------------------

BASELINE = "no regularization"
REGULARIZERS = ("weight decay (L2)", "L1 penalty", "dropout 0.5", "augmentation", "input noise",
                "early stopping")


def _overfitting_plan(ctx: Context) -> list[Stage]:
    data = ctx.dataset(quick_images=2500)
    images = ctx.pick(300, 1000)
    epochs = ctx.pick(40, 40)
    base = {"epochs": epochs, "batch_size": 64}
    net = nets.mlp(SHAPE, CLASSES, [512, 512], dropout=0.0)
    arms: dict[str, tuple[Any, dict[str, Any]]] = {
        BASELINE: (net, {}),
        "weight decay (L2)": (net, {"weight_decay": 1e-3}),
        "L1 penalty": (net, {"l1": 3e-5}),
        "dropout 0.5": (nets.mlp(SHAPE, CLASSES, [512, 512], dropout=0.5), {}),
        "augmentation": (net, {"augment.rotate_degrees": 12.0, "augment.translate": 0.1}),
        "input noise": (net, {"augment.noise_std": 0.6}),
        "early stopping": (net, {"early_stopping_patience": 4, "early_stopping_metric": "val_loss",
                                 "restore_best": True}),
    }
    out = {}
    for name, (graph, changes) in arms.items():
        config = _config(ctx, **base, **changes)
        out[name] = arm(name, graph, config, data, sweep="regularizers",
                        train_fraction=ctx.fraction(images, config, data), settings={"train_images": images})
    return [Stage(f"{images} training images: each regularizer alone", out)]


def _kept_val(results: Results, name: str, series: str) -> float:
    """The value at the end, or for early stopping at the best epoch (whose weights it keeps)."""
    if name == "early stopping":
        x, loss = results.series(name, "val_loss")
        values = [(v, i) for i, v in enumerate(loss) if v is not None]
        if values:
            best = min(values)[1]
            return float(results.series(name, series)[1][best])
    return results.last(name, series)


def _overfitting(results: Results) -> Finding:
    train = results.last(BASELINE, "train_accuracy")
    val = results.last(BASELINE, "val_accuracy")
    val_losses = [v for v in results.series(BASELINE, "val_loss")[1] if v is not None]
    lowest, final = (min(val_losses), val_losses[-1]) if val_losses else (math.nan, math.nan)
    gap = train - val
    rows = {name: (_kept_val(results, name, "val_accuracy"), _kept_val(results, name, "val_loss"))
            for name in REGULARIZERS if results.finished(name)}
    helped = [n for n, (_, loss) in rows.items() if loss < final]
    best = max(rows, key=lambda n: rows[n][0]) if rows else "none"
    holds = gap >= 0.05 and final > lowest and len(helped) >= 4
    headline = (f"Without regularization the net fits its training images ({_pct(train)}) but reaches only "
                f"{_pct(val)} on validation (a gap of {100 * gap:.1f} points) and its validation loss climbs "
                f"from {lowest:.3f} to {final:.3f}. {len(helped)} of {len(rows)} regularizers end with a lower "
                f"validation loss; the best validation accuracy is {best}'s {_pct(rows[best][0]) if rows else ''}.")
    numbers = {"baseline train accuracy": train, "baseline validation accuracy": val, "baseline gap": gap,
               "baseline lowest validation loss": lowest, "baseline final validation loss": final}
    for name, (acc, loss) in rows.items():
        numbers[f"validation accuracy {name}"] = acc
        numbers[f"validation loss {name}"] = loss
    figure = curves_figure(results, [BASELINE, *REGULARIZERS], "val_loss", title="Validation loss on a small "
                           "training set", y_label="validation loss", percent=False)
    return Finding(headline, holds, numbers, figure)


OVERFITTING = Experiment(
    "regularization", "Overfitting and the regularizers",
    "A large fully connected net on a few hundred training images, alone and with each regularizer.",
    "Without regularization, training accuracy reaches 100 % while the validation loss turns and climbs: the "
    "net memorizes. Each regularizer (L2 or L1 weight penalty, dropout, augmentation, input noise, early "
    "stopping) should slow that climb or keep the weights of the best epoch.",
    "Srivastava et al. (2014) cut MNIST test error of large fully connected nets from 1.6 % to 1.25 % with "
    "dropout; Krogh & Hertz (1992) showed weight decay suppresses irrelevant weights and noise; early stopping "
    "acts like an L2 penalty (Bishop, 1995).",
    _overfitting_plan, _overfitting, minutes=(0.3, 1.0),
)


# --- 3. learning rate -----------------------------------------------------------------------------------

LR_HIGH, LR_LOW, LR_GOOD, LR_SCHEDULE = ("too high (SGD 1.0)", "too low (SGD 0.0001)", "good (SGD 0.05)",
                                         "cosine schedule (from 0.05)")


def _learning_rate_plan(ctx: Context) -> list[Stage]:
    data = ctx.dataset(quick_images=4000)
    images = ctx.pick(3200, 12000)
    base = {"epochs": ctx.pick(8, 4), "optimizer": "sgd", "momentum": 0.9}
    settings = {LR_HIGH: {"learning_rate": 1.0}, LR_LOW: {"learning_rate": 1e-4},
                LR_GOOD: {"learning_rate": 0.05}, LR_SCHEDULE: {"learning_rate": 0.05, "schedule": "cosine"}}
    out = {}
    for name, changes in settings.items():
        config = _config(ctx, **base, **changes)
        out[name] = arm(name, nets.lenet(SHAPE, CLASSES), config, data, sweep="learning rate",
                        train_fraction=ctx.fraction(images, config, data))
    return [Stage("four learning rates", out)]


def _learning_rate(results: Results) -> Finding:
    high = results.arms.get(LR_HIGH)
    diverged = high is not None and high.outcome == "failed"
    acc = {n: results.last(n, "val_accuracy") for n in (LR_HIGH, LR_LOW, LR_GOOD, LR_SCHEDULE)}
    high_bad = diverged or not acc[LR_HIGH] > CHANCE + 0.1
    holds = high_bad and acc[LR_LOW] < acc[LR_GOOD] - 0.05 and acc[LR_SCHEDULE] >= acc[LR_GOOD]
    high_text = (f"the run at 1.0 diverged ({high.message.split(':')[0]})" if diverged and high is not None else
                 f"the run at 1.0 ended at {_pct(acc[LR_HIGH])}")
    headline = (f"With SGD, {high_text}; 0.0001 crawled to {_pct(acc[LR_LOW])}; 0.05 reached "
                f"{_pct(acc[LR_GOOD])} and the same rate annealed by a cosine schedule {_pct(acc[LR_SCHEDULE])}.")
    numbers = {f"validation accuracy {n}": v for n, v in acc.items()} | {"diverged": float(diverged)}
    curves = []
    for name in acc:
        if name in results.arms:
            x, y = results.series(name, "step_loss")
            finite = [(a, b) for a, b in zip(x, y, strict=True) if b is not None and math.isfinite(b)]
            curves.append(Curve(name, tuple(a for a, _ in finite), tuple(min(b, 10.0) for _, b in finite)))
    figure = Figure("Training loss per step (clipped at 10)", "step", "training loss", tuple(curves))
    return Finding(headline, holds, numbers, figure)


LEARNING_RATE = Experiment(
    "learning-rate", "Learning rate: too high, too low, and a schedule",
    "LeNet-5 with plain SGD at three constant learning rates, and the good one annealed to zero by a cosine "
    "schedule.",
    "Too high and the loss explodes in the first steps (the run stops with a NaN, keeping the last good "
    "weights) or the net dies at chance; too low and the loss barely moves; annealing the rate towards the "
    "end lets the weights settle where a constant rate keeps them bouncing.",
    "Goodfellow et al., Deep Learning (2016), ch. 8: the learning rate is the most important hyperparameter; "
    "Loshchilov & Hutter (2017, SGDR) and Smith & Topin (2019): annealed or cyclical schedules reach a given "
    "accuracy in fewer epochs than a constant rate.",
    _learning_rate_plan, _learning_rate, minutes=(0.3, 0.5),
)


# --- 4. batch normalization ----------------------------------------------------------------------------

NO_BN, WITH_BN = "6 conv layers, no BatchNorm", "6 conv layers with BatchNorm"


def _batch_norm_plan(ctx: Context) -> list[Stage]:
    data = ctx.dataset(quick_images=3000)
    images = ctx.pick(2400, 10000)
    config = _config(ctx, epochs=ctx.pick(4, 4), optimizer="sgd", learning_rate=0.02, momentum=0.9)
    widths = (8, 8, 16, 16, 32, 32)
    fraction = ctx.fraction(images, config, data)
    return [Stage("with and without batch normalization", {
        NO_BN: arm(NO_BN, nets.conv_stack(SHAPE, CLASSES, widths, batch_norm=False), config, data,
                   sweep="batch norm", train_fraction=fraction),
        WITH_BN: arm(WITH_BN, nets.conv_stack(SHAPE, CLASSES, widths, batch_norm=True), config, data,
                     sweep="batch norm", train_fraction=fraction),
    })]


def _batch_norm(results: Results) -> Finding:
    first = {n: results.at_epoch(n, "val_accuracy", 1) for n in (NO_BN, WITH_BN)}
    final = {n: results.last(n, "val_accuracy") for n in (NO_BN, WITH_BN)}
    holds = first[WITH_BN] > first[NO_BN] + 0.02
    headline = (f"After one epoch the net with BatchNorm is at {_pct(first[WITH_BN])} validation accuracy, "
                f"the same net without it at {_pct(first[NO_BN])}; at the end {_pct(final[WITH_BN])} against "
                f"{_pct(final[NO_BN])}.")
    numbers = {f"epoch 1 {n}": v for n, v in first.items()} | {f"final {n}": v for n, v in final.items()}
    return Finding(headline, holds, numbers, curves_figure(results, [NO_BN, WITH_BN], title="Validation "
                                                           "accuracy with and without batch normalization"))


BATCH_NORM = Experiment(
    "batch-norm", "Batch normalization vs none",
    "The same six-layer convolutional net and the same SGD settings, with and without BatchNorm.",
    "Watch the first epoch: with BatchNorm each layer's inputs keep a steady scale, so the same learning rate "
    "makes fast progress; without it the deep stack starts slowly and may stall for a while.",
    "Ioffe & Szegedy (2015) reached Inception's accuracy in 14 times fewer steps with batch normalization.",
    _batch_norm_plan, _batch_norm, minutes=(0.3, 0.5),
)


# --- 5. plain vs residual -------------------------------------------------------------------------------

def _depth_arms(ctx: Context) -> tuple[int, int]:
    return 8, ctx.pick(20, 32)


def _residual_names(ctx: Context) -> tuple[str, str, str]:
    shallow, deep = _depth_arms(ctx)
    return f"plain {shallow} layers", f"plain {deep} layers", f"residual {deep} layers"


def _residual_plan(ctx: Context) -> list[Stage]:
    data = ctx.dataset(quick_images=2000)
    images = ctx.pick(1600, 5000)
    config = _config(ctx, epochs=ctx.pick(3, 4), optimizer="sgd", learning_rate=ctx.pick(0.05, 0.02), momentum=0.9,
                     weight_decay=1e-4, warmup_epochs=ctx.pick(0.0, 0.5))
    fraction = ctx.fraction(images, config, data)
    shallow, deep = _depth_arms(ctx)
    plain_shallow, plain_deep, res_deep = _residual_names(ctx)
    return [Stage("plain and residual nets", {
        plain_shallow: arm(plain_shallow, nets.deep_net(SHAPE, CLASSES, shallow, residual=False), config, data,
                           sweep="residual", train_fraction=fraction),
        plain_deep: arm(plain_deep, nets.deep_net(SHAPE, CLASSES, deep, residual=False), config, data,
                        sweep="residual", train_fraction=fraction),
        res_deep: arm(res_deep, nets.deep_net(SHAPE, CLASSES, deep, residual=True), config, data,
                      sweep="residual", train_fraction=fraction),
    })]


def _residual(results: Results) -> Finding:
    names = list(results.variants)
    plain_shallow, plain_deep, res_deep = names
    # A run that diverged counts as training worst (infinite loss).
    loss = {n: results.last(n, "train_loss") if results.finished(n) else math.inf for n in names}
    acc = {n: results.last(n, "val_accuracy") if results.finished(n) else math.nan for n in names}
    holds = loss[plain_deep] > loss[res_deep]
    degradation = loss[plain_deep] > loss[plain_shallow]

    def shown(name: str) -> str:
        return f"{loss[name]:.3f}" if math.isfinite(loss[name]) else "diverged"

    headline = (f"Final training loss: {plain_deep} {shown(plain_deep)}, {res_deep} {shown(res_deep)}, "
                f"{plain_shallow} {shown(plain_shallow)} "
                f"({'the deeper plain net trains worse: degradation' if degradation else 'no degradation here'}). "
                f"Validation accuracy {_pct(acc[plain_deep])}, {_pct(acc[res_deep])} and {_pct(acc[plain_shallow])}.")
    numbers = {f"train loss {n}": v for n, v in loss.items()} | {f"validation accuracy {n}": v for n, v in acc.items()}
    numbers["degradation"] = float(degradation)
    figure = curves_figure(results, names, "train_loss", title="Training loss: plain vs residual",
                           y_label="training loss", percent=False)
    return Finding(headline, holds, numbers, figure)


RESIDUAL = Experiment(
    "residual", "Plain deep net vs residual net",
    "Two nets of the same depth and layers (3×3 convs with BatchNorm), one with identity shortcuts, and a "
    "shallow plain net.",
    "Compare the training loss, not only validation: the deep plain net trains worse than the shallow one "
    "(the degradation problem, not overfitting), while the residual net of the same depth trains best.",
    "He et al. (2016): on CIFAR-10 a plain 56-layer net has higher training error than a plain 20-layer net, "
    "and residual nets reverse this (ResNet-56 6.97 % test error vs 8.75 % for ResNet-20).",
    _residual_plan, _residual, minutes=(0.5, 3.0),
)


# --- 6. random labels and pixels ------------------------------------------------------------------------

TRUE, RANDOM_LABELS, RANDOM_PIXELS = "true labels", "random labels", "random pixels"


def _random_labels_plan(ctx: Context) -> list[Stage]:
    images = ctx.pick(500, 2000)
    config = _config(ctx, epochs=ctx.pick(60, 100))
    net = nets.mlp(SHAPE, CLASSES, [512, 512])
    out = {}
    for name, option in ((TRUE, {}), (RANDOM_LABELS, {"random_labels": 1.0}),
                         (RANDOM_PIXELS, {"random_pixels": 1.0})):
        data = ctx.dataset(quick_images=2500, **option)
        out[name] = arm(name, net, config, data, sweep="random labels",
                        train_fraction=ctx.fraction(images, config, data))
    return [Stage("true, random labels, random pixels", out)]


def _random_labels(results: Results) -> Finding:
    names = (TRUE, RANDOM_LABELS, RANDOM_PIXELS)
    train = {n: results.last(n, "train_accuracy") for n in names}
    val = {n: results.last(n, "val_accuracy") for n in names}
    holds = (train[RANDOM_LABELS] >= 0.9 and abs(val[RANDOM_LABELS] - CHANCE) <= 0.05
             and val[TRUE] > val[RANDOM_LABELS] + 0.3)
    headline = (f"With random labels the net still fits {_pct(train[RANDOM_LABELS])} of its training images, "
                f"while validation stays at {_pct(val[RANDOM_LABELS])} (chance is {_pct(CHANCE)}); random "
                f"pixels: {_pct(train[RANDOM_PIXELS])} train, {_pct(val[RANDOM_PIXELS])} validation; true "
                f"labels: {_pct(train[TRUE])} and {_pct(val[TRUE])}.")
    numbers = {f"train accuracy {n}": v for n, v in train.items()} | {f"validation accuracy {n}": v
                                                                      for n, v in val.items()}
    curves = []
    for n in names:
        for series, label in (("train_accuracy", "train"), ("val_accuracy", "validation")):
            x, y = results.series(n, series)
            curves.append(Curve(f"{n}, {label}", tuple(x), tuple(y)))
    figure = Figure("Fitting random labels: train vs validation accuracy", "epoch", "accuracy", tuple(curves),
                    percent=True)
    return Finding(headline, holds, numbers, figure)


RANDOM_LABELS_EXPERIMENT = Experiment(
    "random-labels", "Fitting random labels and random pixels",
    "The same large net on the true labels, on labels drawn at random, and on images of pure noise.",
    "Training accuracy climbs towards 100 % on all three, later for random labels: the net memorizes. "
    "Validation accuracy on random labels or pixels stays at chance, 10 %. Capacity alone cannot explain "
    "why the net generalizes on true labels.",
    "Zhang et al. (2017), 'Understanding deep learning requires rethinking generalization': CIFAR-10 nets "
    "reach 100 % training accuracy on random labels, with test accuracy at chance.",
    _random_labels_plan, _random_labels, minutes=(0.3, 1.0),
)


# --- 7. double descent -----------------------------------------------------------------------------------

def _widths(ctx: Context) -> list[int]:
    return ctx.pick([25, 100, 200, 300, 400, 600, 1000, 3000],
                    [25, 50, 100, 200, 400, 700, 1000, 1500, 2000, 4000, 10000])


def _double_descent_plan(ctx: Context) -> list[Stage]:
    images = ctx.pick(300, 1000)
    config = _config(ctx, epochs=300, val_fraction=ctx.pick(0.1, 0.02))
    noise = ctx.pick(0.2, 0.4)
    data = ctx.dataset(quick_images=1500, random_labels=noise, test_size=3000)  # a steadier test error
    out = {}
    for width in _widths(ctx):
        name = f"width {width}"
        graph = nets.mlp(SHAPE, CLASSES, [width])
        graph.set_attributes("fc1", {"frozen": True})  # random ReLU features; only the last layer learns
        out[name] = arm(name, graph, config, data, sweep="double descent",
                        train_fraction=ctx.fraction(images, config, data), settings={"width": width})
    return [Stage(f"{images} images with {noise:.0%} random labels, random features of growing width", out,
                  keep_weights=True)]


def _double_descent(results: Results) -> Finding:
    names = [n for n in results.variants if results.finished(n)]
    if len(names) < 3:
        raise ExperimentError("fewer than three widths finished")
    params, test_err, train_err = [], [], []
    for name in names:
        images, labels, data = results.test_split(name)
        probs = predict(results.model(name), images, data)
        test_err.append(float((probs.argmax(1) != labels).float().mean()))
        train_err.append(1.0 - results.last(name, "train_accuracy"))
        params.append(float(_params(results, name)))
    peak = _interior_peak(test_err)
    holds = peak is not None
    n_train = int(results.record(names[0]).settings.get("train_images", 0))
    where = (f"test error rises to {_pct(test_err[peak])} at {names[peak]} ({int(params[peak]):,} parameters) "
             f"and falls again to {_pct(test_err[-1])} at {names[-1]}" if peak is not None else
             f"no second descent: test error goes {', '.join(_pct(e) for e in test_err)}")
    headline = (f"Widths {names[0].split()[-1]} to {names[-1].split()[-1]}: {where}; the training error falls from "
                f"{_pct(train_err[0])} to {_pct(train_err[-1])}.")
    numbers = {f"test error {n}": e for n, e in zip(names, test_err, strict=True)}
    numbers |= {f"train error {n}": e for n, e in zip(names, train_err, strict=True)}
    numbers["training images"] = float(n_train)
    figure = Figure("Double descent: error against parameters", "parameters", "error",
                    (Curve("test error", tuple(params), tuple(test_err)),
                     Curve("training error", tuple(params), tuple(train_err))), log_x=True, percent=True)
    return Finding(headline, holds, numbers, figure)


def _interior_peak(errors: Sequence[float], margin: float = 0.01) -> int | None:
    """Index of the highest error that has a lower error (by ``margin``) both before and after it."""
    best = None
    for j in range(1, len(errors) - 1):
        rises = min(errors[:j]) < errors[j] - margin and min(errors[j + 1:]) < errors[j] - margin
        if rises and (best is None or errors[j] > errors[best]):
            best = j
    return best


DOUBLE_DESCENT = Experiment(
    "double-descent", "Model width and double descent",
    "Two-layer nets of growing width on a small training set with noisy labels (a random label for 20 % of "
    "the images at the quick scale, 40 % at full size). The first layer is "
    "frozen at its random start (random ReLU features, as in Belkin et al.), so only the classifier learns, "
    "each until it fits what it can.",
    "Test error first falls with width, then rises as the net becomes just wide enough to fit every (noisy) "
    "training label (the interpolation threshold: training error reaches zero), then falls again for much "
    "wider nets, past where classical theory says overfitting only gets worse.",
    "Belkin et al. (2019), 'Reconciling modern machine learning practice and the bias-variance trade-off': "
    "random-feature models on MNIST peak in test error at the interpolation threshold and improve beyond it; "
    "Nakkiran et al. (2020) show the same for deep nets, stronger with label noise.",
    _double_descent_plan, _double_descent, minutes=(0.5, 5.0),
)


# --- 8. transfer learning --------------------------------------------------------------------------------

SOURCE = "pretrain on the first dataset"
FROZEN, FINETUNE, SCRATCH = ("frozen conv layers, new classifier", "fine-tune all, conv LR ×0.1",
                             "from scratch")
CONV_LAYERS = ("conv1", "conv2")


def _transfer_plan(ctx: Context) -> list[Stage]:
    source = ctx.dataset("digits", quick_images=6000)
    target = ctx.dataset("clothes", quick_images=2500)
    images = ctx.pick(100, 200)
    pre = _config(ctx, epochs=ctx.pick(8, 2))
    config = _config(ctx, epochs=ctx.pick(20, 15), batch_size=ctx.pick(32, 64))
    fraction = ctx.fraction(images, config, target)
    frozen = nets.lenet(SHAPE, CLASSES)
    finetune = nets.lenet(SHAPE, CLASSES)
    for nid in CONV_LAYERS:
        frozen.set_attributes(nid, {"frozen": True})
        finetune.set_attributes(nid, {"lr_scale": 0.1})
    return [
        Stage("pretraining", {SOURCE: arm(SOURCE, nets.lenet(SHAPE, CLASSES), pre, source, sweep="transfer")},
              keep_weights=True),
        Stage(f"{images} images of the second dataset", {
            FROZEN: arm(FROZEN, frozen, config, target, sweep="transfer", train_fraction=fraction),
            FINETUNE: arm(FINETUNE, finetune, config, target, sweep="transfer", train_fraction=fraction),
            SCRATCH: arm(SCRATCH, nets.lenet(SHAPE, CLASSES), config, target, sweep="transfer",
                         train_fraction=fraction),
        }, prepare=_load_conv_weights, keep_weights=True),
    ]


def _conv_state(weights: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v for k, v in weights.items() if k.split(".")[1] in CONV_LAYERS}


def _load_conv_weights(name: str, model: nn.Module, results: Results) -> None:
    """The two transfer arms start from the pretrained convolutions (the classifier starts fresh)."""
    if name == SCRATCH:
        return
    pretrained = results.arms[SOURCE].weights
    if pretrained is None or results.arms[SOURCE].outcome == "failed":
        raise ExperimentError("the pretraining run did not finish")
    model.load_state_dict(_conv_state(pretrained), strict=False)


def _settled(results: Results, name: str, series: str = "val_accuracy", epochs: int = 3) -> float:
    """The mean of the last ``epochs`` values: on a few hundred images one epoch's value is noisy."""
    values = [v for v in results.series(name, series)[1] if v is not None][-epochs:]
    return sum(values) / len(values) if values else math.nan


def _transfer(results: Results) -> Finding:
    acc = {n: _settled(results, n) for n in (FROZEN, FINETUNE, SCRATCH)}
    source = _conv_state(results.arms[SOURCE].weights or {})
    after = _conv_state(results.arms[FROZEN].weights or {})
    change = max((float((after[k] - v).abs().max()) for k, v in source.items() if k in after), default=math.nan)
    holds = change == 0.0 and max(acc[FROZEN], acc[FINETUNE]) > acc[SCRATCH]
    headline = (f"On the second dataset (validation accuracy, mean of the last 3 epochs): frozen pretrained "
                f"convolutions {_pct(acc[FROZEN])}, fine-tuned {_pct(acc[FINETUNE])}, from scratch "
                f"{_pct(acc[SCRATCH])}. The frozen layers' weights changed by at most {change:g}.")
    numbers = {f"validation accuracy {n}": v for n, v in acc.items()} | {"frozen weight change": change,
                                                                          "pretraining validation accuracy":
                                                                          results.last(SOURCE, "val_accuracy")}
    figure = curves_figure(results, [FROZEN, FINETUNE, SCRATCH], title="Transfer: validation accuracy on the "
                           "second dataset")
    return Finding(headline, holds, numbers, figure)


TRANSFER = Experiment(
    "transfer", "Transfer learning: freeze, fine-tune or start over",
    "LeNet-5 trained on digits, then on a small set of clothing images: with its convolutions frozen, "
    "fine-tuned at a tenth of the learning rate, or trained from scratch.",
    "With few images of the new task, the pretrained edge and stroke detectors give a head start: both "
    "transfer arms beat training from scratch early on. Freezing keeps the pretrained filters exactly (their "
    "weights do not change at all); fine-tuning adapts them slowly.",
    "Yosinski et al. (2014): features of the first layers are general and transfer between tasks; "
    "fine-tuning transferred features beats training from scratch, most clearly when the new set is small.",
    _transfer_plan, _transfer, minutes=(0.3, 1.0),
)


# --- 9. ensemble and distillation ------------------------------------------------------------------------

STUDENT, DISTILLED = "small student alone", "small student distilled from the ensemble"
#: Weight of the soft targets and their temperature.
DISTILL_ALPHA, DISTILL_TEMPERATURE = 0.7, 4.0


Stats = tuple[Sequence[float], Sequence[float]]


class Ensemble(nn.Module):
    """The mean of the members' class probabilities, returned as log-probabilities (usable as logits).

    ``input_stats`` and ``member_stats`` (per-channel mean and std): the input arrives normalized with
    ``input_stats`` (a distilled student's, computed from its own images) and each member gets it
    normalized with the statistics it was trained with."""

    def __init__(self, members: Sequence[nn.Module], input_stats: Stats | None = None,
                 member_stats: Sequence[Stats] | None = None) -> None:
        super().__init__()
        self.members = nn.ModuleList(members)
        self.input_stats, self.member_stats = input_stats, member_stats
        # Re-normalizing is x·scale + shift per member: (x·std + mean − m_mean) / m_std, made once here (buffers
        # follow the module to the training device) rather than from lists at every teacher step.
        self._renormalize = input_stats is not None and member_stats is not None
        if self._renormalize:
            mean, std = (torch.tensor(v, dtype=torch.float32).view(1, -1, 1, 1) for v in input_stats)
            for i, stats in enumerate(member_stats):
                m_mean, m_std = (torch.tensor(v, dtype=torch.float32).view(1, -1, 1, 1) for v in stats)
                self.register_buffer(f"scale{i}", std / m_std, persistent=False)
                self.register_buffer(f"shift{i}", (mean - m_mean) / m_std, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        probs = []
        for i, member in enumerate(self.members):
            inputs = x
            if self._renormalize:
                inputs = x * getattr(self, f"scale{i}").to(x.dtype) + getattr(self, f"shift{i}").to(x.dtype)
            probs.append(torch.softmax(member(inputs).float(), dim=1))
        return torch.log(torch.stack(probs).mean(0).clamp_min(1e-12))


def _members(results: Results) -> list[str]:
    return [n for n in results.variants if n.startswith("member")]


def _fresh_init(name: str, model: nn.Module, results: Results) -> None:
    """Members differ only in their initial weights (seeded by ``init_seed``); data, split and batch order
    are shared, so every member is validated on the same images, and none has seen the students'."""
    torch.manual_seed(int(results.variants[name].settings["init_seed"]))
    for module in model.modules():
        if module is not model and hasattr(module, "reset_parameters"):
            module.reset_parameters()


def _ensemble_plan(ctx: Context) -> list[Stage]:
    data = ctx.dataset(quick_images=2500)
    count = ctx.pick(3, 5)
    members = {}
    config = _config(ctx, epochs=ctx.pick(8, 2))
    for i in range(count):  # members see every training image; the students only a share of them
        seed = ctx.seed + i
        name = f"member {i + 1} (init seed {seed})"
        members[name] = arm(name, nets.lenet(SHAPE, CLASSES), config, data, sweep="ensemble",
                            settings={"init_seed": seed})
    student_config = _config(ctx, epochs=ctx.pick(10, 15), batch_size=ctx.pick(32, 64))
    student = nets.lenet(SHAPE, CLASSES, width=0.34)
    fraction = ctx.fraction(ctx.pick(500, 2000), student_config, data)

    def students(results: Results) -> dict[str, Any]:
        finished = [n for n in _members(results) if results.finished(n)]
        if not finished:
            raise ExperimentError("no member of the ensemble finished")
        own = train_subset(results.loader(data, student_config), fraction, student_config.seed)
        teacher = Ensemble([results.model(n) for n in finished], (own.mean, own.std),
                           [(results.data(n).mean, results.data(n).std) for n in finished])
        return {
            STUDENT: arm(STUDENT, student, student_config, data, sweep="ensemble", train_fraction=fraction),
            DISTILLED: arm(DISTILLED, student, student_config, data, sweep="ensemble", train_fraction=fraction,
                           trainer_options={"teacher": teacher, "distill_alpha": DISTILL_ALPHA,
                                            "distill_temperature": DISTILL_TEMPERATURE}),
        }

    return [Stage(f"{count} members", members, prepare=_fresh_init, keep_weights=True),
            Stage("a small student on a share of the images, alone and distilled", make=students,
                  keep_weights=True)]


def _ensemble(results: Results) -> Finding:
    members = [n for n in _members(results) if results.finished(n)]
    images, labels, _ = results.test_split(members[0])
    probs = [predict(results.model(n), images, results.data(n)) for n in members]
    member_acc = [float((p.argmax(1) == labels).float().mean()) for p in probs]
    ensemble_acc = float((torch.stack(probs).mean(0).argmax(1) == labels).float().mean())
    student_acc = {}
    for name in (STUDENT, DISTILLED):
        if results.finished(name):
            p = predict(results.model(name), images, results.data(name))
            student_acc[name] = float((p.argmax(1) == labels).float().mean())
    mean_member = sum(member_acc) / len(member_acc)
    holds = ensemble_acc >= mean_member
    headline = (f"Test accuracy of the {len(members)} members: {', '.join(_pct(a) for a in member_acc)} (mean "
                f"{_pct(mean_member)}); the ensemble: {_pct(ensemble_acc)}. The small student "
                f"({_params(results, STUDENT):,} parameters) reaches {_pct(student_acc.get(STUDENT, math.nan))} "
                f"alone and {_pct(student_acc.get(DISTILLED, math.nan))} distilled from the ensemble.")
    numbers = {"ensemble test accuracy": ensemble_acc, "mean member test accuracy": mean_member,
               "best member test accuracy": max(member_acc)}
    numbers |= {f"test accuracy {n}": v for n, v in student_acc.items()}
    figure = curves_figure(results, [*members, STUDENT, DISTILLED], title="Validation accuracy of the members "
                           "and the students")
    epochs = max((max(c.x) for c in figure.curves if c.x), default=1.0)
    extra = Curve("ensemble (test)", (1.0, epochs), (ensemble_acc, ensemble_acc))
    figure = Figure(figure.title, figure.x_label, figure.y_label, (*figure.curves, extra), percent=True)
    return Finding(headline, holds, numbers, figure)


ENSEMBLE = Experiment(
    "ensemble", "Ensembles and knowledge distillation",
    "Several LeNet-5s that differ only in their initial weights, their averaged prediction, and a small "
    "student that sees only a share of the training images, trained on the labels alone or also on the "
    "ensemble's softened outputs.",
    "The ensemble's accuracy is at least that of its average member, usually above the best one, because "
    "the members err on different images. The distilled student learns from the ensemble's soft probabilities "
    "('a 7 that looks like a 1') as well as the labels, so some of what the ensemble learned from all the "
    "images reaches it through the few it sees.",
    "Hansen & Salamon (1990) and Dietterich (2000) on ensembles; Hinton, Vinyals & Dean (2015) distilled an "
    "ensemble of 10 speech models into one that kept most of the gain.",
    _ensemble_plan, _ensemble, minutes=(0.7, 2.0),
)


# --- 10. adversarial training -----------------------------------------------------------------------------

PLAIN, ROBUST = "plain training", "adversarial training"


def _epsilons(ctx: Context) -> list[float]:
    return ctx.pick([0.0, 0.05, 0.1, 0.15, 0.2], [0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3])


def _adversarial_plan(ctx: Context) -> list[Stage]:
    data = ctx.dataset(quick_images=3000)
    images = ctx.pick(2400, 20000)
    plain = _config(ctx, epochs=ctx.pick(6, 3))
    robust = _config(ctx, epochs=ctx.pick(6, 3), adversarial=ctx.pick("fgsm", "pgd"),
                     adversarial_epsilon=ctx.pick(0.1, 0.3), adversarial_steps=7, adversarial_fraction=0.5)
    return [Stage("plain and adversarial training", {
        PLAIN: arm(PLAIN, nets.lenet(SHAPE, CLASSES), plain, data, sweep="adversarial",
                   train_fraction=ctx.fraction(images, plain, data)),
        ROBUST: arm(ROBUST, nets.lenet(SHAPE, CLASSES), robust, data, sweep="adversarial",
                    train_fraction=ctx.fraction(images, robust, data)),
    }, keep_weights=True)]


def _adversarial(results: Results) -> Finding:
    epsilons = _epsilons(results.context)
    limit = results.context.pick(500, 2000)
    curves, table = [], {}
    for name in (PLAIN, ROBUST):
        images, labels, data = results.test_split(name, limit)
        sweep = list(epsilon_sweep(results.model(name), images, labels, epsilons, data.mean, data.std, "fgsm"))
        table[name] = dict(sweep)
        curves.append(Curve(f"{name}, FGSM", tuple(e for e, _ in sweep), tuple(a for _, a in sweep)))
    trained_eps = results.variants[ROBUST].config.adversarial_epsilon
    probe = min(epsilons[1:], key=lambda e: abs(e - trained_eps))
    holds = table[ROBUST][probe] > table[PLAIN][probe] + 0.05
    headline = (f"Under FGSM at ε {probe:g} the plainly trained net keeps {_pct(table[PLAIN][probe])} accuracy, "
                f"the adversarially trained one {_pct(table[ROBUST][probe])}; on clean images "
                f"{_pct(table[PLAIN][0.0])} and {_pct(table[ROBUST][0.0])}.")
    numbers = {f"{n} accuracy at eps {e:g}": a for n, row in table.items() for e, a in row.items()}
    figure = Figure("Accuracy under FGSM attack", "ε (pixel units)", "test accuracy", tuple(curves), percent=True)
    return Finding(headline, holds, numbers, figure)


ADVERSARIAL = Experiment(
    "adversarial", "Adversarial training vs plain training",
    "LeNet-5 trained plainly and with adversarial examples (FGSM on the quick set, PGD-7 at ε 0.3 on MNIST), "
    "both attacked with FGSM at growing ε.",
    "The plainly trained net's accuracy collapses as ε grows: tiny, structured pixel changes flip its "
    "answers. The adversarially trained net holds on much longer, at some cost in clean accuracy.",
    "Goodfellow et al. (2015): FGSM fools a plain MNIST net on most images at ε 0.25; Madry et al. (2018): "
    "PGD adversarial training gives about 89 % accuracy under PGD at ε 0.3 on MNIST.",
    _adversarial_plan, _adversarial, minutes=(0.3, 1.0),
)


#: The gallery, in the order shown.
EXPERIMENTS: tuple[Experiment, ...] = (
    CONV_VS_FC, OVERFITTING, LEARNING_RATE, BATCH_NORM, RESIDUAL, RANDOM_LABELS_EXPERIMENT, DOUBLE_DESCENT,
    TRANSFER, ENSEMBLE, ADVERSARIAL,
)


def get_experiment(key: str) -> Experiment:
    for experiment in EXPERIMENTS:
        if experiment.key == key:
            return experiment
    raise ExperimentError(f"unknown experiment {key!r}; available: {', '.join(e.key for e in EXPERIMENTS)}")

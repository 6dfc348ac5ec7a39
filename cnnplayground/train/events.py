"""Events the trainer yields. Past-tense names; plain frozen dataclasses.

The CLI prints them, the GUI forwards them as queued Qt signals, tests assert
on them. :func:`to_dict` turns any event into JSON-ready data (``--json``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal


@dataclass(frozen=True)
class RunStarted:
    epochs: int
    steps_per_epoch: int
    device: str
    train_images: int
    val_images: int
    parameters: int
    #: Epochs already done when resuming from a checkpoint (0 for a new run).
    start_epoch: int = 0
    precision: str = "float32"
    #: ``config.compile``: a :class:`Compiled` event follows before the first step (compiling can take a while).
    compiling: bool = False


@dataclass(frozen=True)
class Compiled:
    """``torch.compile`` ran (``config.compile``), after :class:`RunStarted` and before the first step.

    ``compile_seconds`` is the compilation time, which no epoch's ``seconds`` or
    ``images_per_second`` includes. ``compiled`` is False when compiling failed or was
    skipped: the run then goes on uncompiled and ``message`` (one line) says why.
    """

    compile_seconds: float
    compiled: bool
    message: str


@dataclass(frozen=True)
class StepFinished:
    """Metrics since the previous step event (emitted a bounded number of times per second)."""

    epoch: int
    step: int  # global optimizer step, 1-based
    epoch_step: int
    steps_per_epoch: int
    loss: float
    accuracy: float
    learning_rate: float
    images_per_second: float
    elapsed: float  # seconds since the run (or resume) started


@dataclass(frozen=True)
class LayerHealth:
    """One layer's health on the epoch's sampled batch (:mod:`.health`).

    ``activation_mean`` / ``activation_std``: of the layer's output on the sampled batch.
    ``dead_share``: share of units (channels of a conv output) of a ReLU-like layer that never
    fired (output > 0) on any image of the sample; None for other layers. ``grad_norm``: L2 norm
    of the layer's parameter gradients at the sampled step; ``update_ratio``: ``‖w_end − w_start‖ /
    ‖w_start‖`` over the epoch; both None for layers without trainable parameters. Any value may be
    NaN when the run diverged. ``activation_percentiles``: the ``project.health.PERCENTILES`` (0, 7, …,
    100 %) of the output on the sampled batch; ``weight_percentiles``: of the layer's weights at the
    epoch's end (None without trainable parameters); both None when not recorded.
    """

    name: str
    kind: str
    activation_mean: float
    activation_std: float
    dead_share: float | None = None
    grad_norm: float | None = None
    update_ratio: float | None = None
    weight_percentiles: tuple[float, ...] | None = None
    activation_percentiles: tuple[float, ...] | None = None


@dataclass(frozen=True)
class EpochFinished:
    epoch: int
    step: int
    train_loss: float
    train_accuracy: float
    val_loss: float | None
    val_accuracy: float | None
    per_class_accuracy: tuple[float | None, ...]
    #: ``confusion[true][predicted]`` counts on the validation split.
    confusion: tuple[tuple[int, ...], ...]
    learning_rate: float
    seconds: float
    images_per_second: float
    #: True when this epoch is the best so far by the early-stopping metric.
    best: bool = False
    #: Layer health on the epoch's sampled batch (empty when not recorded).
    health: tuple[LayerHealth, ...] = ()


@dataclass(frozen=True)
class CheckpointSaved:
    epoch: int
    path: str


@dataclass(frozen=True)
class CheckpointFailed:
    """A checkpoint could not be written; training goes on."""

    epoch: int
    path: str
    message: str


@dataclass(frozen=True)
class WeightsSnapshot:
    """A CPU copy of the weights, safe to inspect while training continues."""

    epoch: int
    step: int
    state: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class Paused:
    epoch: int
    step: int


@dataclass(frozen=True)
class Resumed:
    epoch: int
    step: int


@dataclass(frozen=True)
class Finished:
    reason: Literal["completed", "stopped", "early_stopping"]
    epochs_completed: int
    step: int
    best_epoch: int | None
    best_value: float | None
    message: str
    #: The best epoch whose weights the model holds at the end (``config.restore_best``); None when the
    #: model holds the last step's weights (keep-best off, no validation split, no epoch finished).
    kept_epoch: int | None = None


@dataclass(frozen=True)
class Failed:
    """The run ended with a problem; the model holds the last good weights."""

    kind: Literal["nan", "out_of_memory", "error"]
    message: str
    epoch: int
    step: int


Event = (
    RunStarted | Compiled | StepFinished | EpochFinished | CheckpointSaved | CheckpointFailed | WeightsSnapshot
    | Paused | Resumed | Finished | Failed
)


def to_dict(event: Event) -> dict[str, Any]:
    """``{"event": "EpochFinished", ...fields}``, with weight tensors left out."""
    data = {f.name: getattr(event, f.name) for f in dataclasses.fields(event) if f.name != "state"}
    if "health" in data:
        data["health"] = [dataclasses.asdict(layer) for layer in data["health"]]
    return {"event": type(event).__name__, **data}

"""A project's record of its training runs: metric curves and the settings each run used.

Plain data (pydantic, the standard library): a run is recorded from the trainer's events by
:func:`run_record`, which reads the events' fields and imports nothing of the trainer.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, Protocol

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    FiniteFloat,
    PrivateAttr,
    StringConstraints,
    field_validator,
)

from ..core.inference import infer
from .health import RunHealth, run_health
from .settings import Scalar, TrainingConfig

if TYPE_CHECKING:
    from ..core.graph import Graph
    from .epochs import RunEpochs

MAX_NAME = 200
#: Points per metric series (x and y each).
MAX_SERIES_POINTS = 1_000_000
MAX_SERIES_PER_RUN = 256

_Key = Annotated[str, StringConstraints(min_length=1, max_length=64)]


def _iso_timestamp(value: str) -> str:
    try:
        datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"must be an ISO 8601 date and time, got {value[:40]!r}") from None
    return value


#: An ISO 8601 timestamp such as ``2024-05-01T12:30:00+00:00``, kept as text.
Timestamp = Annotated[str, StringConstraints(max_length=64), AfterValidator(_iso_timestamp)]


class Series(BaseModel):
    """One metric curve: ``y[i]`` measured at ``x[i]`` (x in steps or epochs, as the run chose).

    Missing or non-finite measurements (a diverged loss) are ``None`` in memory
    and ``null`` in the file: JSON has no NaN. NaN and ±inf given here are
    turned into ``None``.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    x: list[FiniteFloat] = Field(default_factory=list, max_length=MAX_SERIES_POINTS)
    y: list[float | None] = Field(default_factory=list, max_length=MAX_SERIES_POINTS)

    @field_validator("y", mode="before")
    @classmethod
    def _non_finite_to_none(cls, value: Any) -> Any:
        if isinstance(value, list | tuple):
            return [None if isinstance(v, float) and not math.isfinite(v) else v for v in value]
        return value

    @field_validator("y")
    @classmethod
    def _same_length(cls, value: list[float | None], info: Any) -> list[float | None]:
        x = info.data.get("x")
        if x is not None and len(x) != len(value):
            raise ValueError(f"x has {len(x)} values but y has {len(value)}; they must match")
        return value


class RunHistory(BaseModel):
    """The record of one training run: its settings and metric curves."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    name: Annotated[str, StringConstraints(max_length=MAX_NAME)]
    #: When the run started (ISO 8601), if known.
    started: Timestamp | None = None
    #: The settings the run used (learning rate, batch size, ...), flattened to scalars.
    settings: dict[_Key, Scalar] = Field(default_factory=dict, max_length=256)
    #: Curves by metric name, e.g. ``"train_loss"``, ``"val_accuracy"``.
    series: dict[_Key, Series] = Field(default_factory=dict, max_length=MAX_SERIES_PER_RUN)
    #: The run's best validation epoch by its ``early_stopping_metric`` (None: no validation, or not recorded:
    #: files written before it was).
    best_epoch: int | None = Field(None, ge=1, le=1_000_000)
    #: The best epoch whose weights the run ended with (``restore_best``); None when it ended with its last
    #: step's weights or was recorded before this was.
    kept_epoch: int | None = Field(None, ge=1, le=1_000_000)
    #: The step at which the loss diverged (became NaN, infinite or exploded) and the run failed; None when it
    #: did not (or was recorded before this was).
    diverged_step: int | None = Field(None, ge=0)
    #: Layer health over the epochs (:mod:`.health`); None when not recorded (older files, or turned off).
    health: RunHealth | None = None
    #: The weights of the run's epochs (:mod:`.epochs`), stored beside ``project.json`` in the project file.
    _epochs: RunEpochs | None = PrivateAttr(None)

    @property
    def epochs(self) -> RunEpochs | None:
        """The stored weights of the run's epochs, or None (none stored, or an older file)."""
        return self._epochs

    def keep_epochs(self, epochs: RunEpochs | None) -> RunHistory:
        """Attach the weights of the run's epochs (before the record enters a project: records are not
        changed once they are in one); returns the record."""
        self._epochs = epochs
        return self


class EpochRecord(Protocol):
    """What :func:`run_record` reads of an epoch's end (``train.events.EpochFinished``).

    Read-only members (properties), as the events are frozen dataclasses; so for :class:`StepRecord`.
    """

    @property
    def epoch(self) -> int: ...
    @property
    def train_loss(self) -> float: ...
    @property
    def train_accuracy(self) -> float: ...
    @property
    def val_loss(self) -> float | None: ...
    @property
    def val_accuracy(self) -> float | None: ...
    @property
    def learning_rate(self) -> float: ...
    @property
    def images_per_second(self) -> float: ...
    @property
    def seconds(self) -> float: ...
    # Optional: ``health`` (a sequence of ``health.LayerRecord``), read with getattr.


class EndRecord(Protocol):
    """What :func:`run_record` reads of a run's end (``train.events.Finished``)."""

    @property
    def best_epoch(self) -> int | None: ...
    @property
    def kept_epoch(self) -> int | None: ...


class FailureRecord(Protocol):
    """What :func:`run_record` reads of a failed run's end (``train.events.Failed``)."""

    @property
    def kind(self) -> str: ...
    @property
    def step(self) -> int: ...


class StepRecord(Protocol):
    """What :func:`run_record` reads of a step (``train.events.StepFinished``)."""

    @property
    def step(self) -> int: ...
    @property
    def steps_per_epoch(self) -> int: ...
    @property
    def loss(self) -> float: ...
    @property
    def accuracy(self) -> float: ...


#: Per-step curves are stored with at most this many points (bucket means beyond it).
MAX_STEP_POINTS = 20_000
#: Points a saved history holds at most over all its series (≈ 30 MB of JSON at worst).
MAX_SAVED_POINTS = 1_000_000


def bounded_history(
    runs: Sequence[RunHistory], per_series: int = MAX_STEP_POINTS, total: int = MAX_SAVED_POINTS
) -> list[RunHistory]:
    """``runs`` with every series cut to a common length limit, as saved in a project file.

    No series keeps more than ``per_series`` points, and all series together at most ``total``
    (when they hold more, the longest ones — the per-step curves of long runs — are shortened to
    the one limit that fits, shorter series stay whole). Shortening takes bucket means
    (:func:`~cnnplayground.project.curves.bucket_means`, the app's one decimation rule), so a
    curve keeps its shape and its last point. Runs that need no change are returned as they are;
    the others are new objects (``runs`` is not changed).
    """
    from .curves import bucket_means  # numpy, only when a history is long

    lengths = [len(curve.x) for run in runs for curve in run.series.values()]
    limit = max(1, per_series)
    if sum(min(n, limit) for n in lengths) > total:
        low, high = 1, limit  # the largest limit whose total fits (1 if none does)
        while low < high:
            middle = (low + high + 1) // 2
            if sum(min(n, middle) for n in lengths) <= total:
                low = middle
            else:
                high = middle - 1
        limit = low
    bounded: list[RunHistory] = []
    for run in runs:
        if all(len(curve.x) <= limit for curve in run.series.values()):
            bounded.append(run)
            continue
        series = {}
        for key, curve in run.series.items():
            if len(curve.x) > limit:
                xs, ys = bucket_means(list(curve.x), curve.y, limit)
                curve = Series.model_construct(x=xs, y=ys)  # valid by construction: means of valid points
            series[key] = curve
        bounded.append(run.model_copy(update={"series": series}))
    return bounded


def network_description(graph: Graph) -> dict[str, int | float | str]:
    """Run settings that tell networks apart: parameter count, layer kinds with counts and the
    dropout probabilities.

    E.g. ``{"network.parameters": 61706, "network.layers": "Conv2d×2, Flatten, Linear×3, ..."}``,
    so that two runs' settings show "with and without Dropout"; a network with dropout layers adds
    ``"network.dropout"``: their ``p`` (one number, or the distinct values as text: "0.2, 0.5"),
    so that the same layers with another ``p`` tell apart too.
    """
    result = infer(graph)
    kinds = Counter(node.kind for node in graph.iter_nodes() if node.kind != "Input")
    layers = ", ".join(f"{kind}×{n}" if n > 1 else kind for kind, n in sorted(kinds.items()))
    description: dict[str, int | float | str] = {"network.parameters": result.total_params,
                                                 "network.layers": layers[:200]}
    rates = sorted({float(node.params["p"]) for node in graph.iter_nodes() if node.kind in ("Dropout", "Dropout2d")})
    if rates:
        description["network.dropout"] = rates[0] if len(rates) == 1 else ", ".join(f"{p:g}" for p in rates)[:200]
    return description


def run_record(
    name: str,
    config: TrainingConfig,
    epochs: Sequence[EpochRecord],
    steps: Sequence[StepRecord] | None = None,
    *,
    dataset: str = "",
    started: datetime | None = None,
    network: Graph | None = None,
    end: EndRecord | FailureRecord | None = None,
) -> RunHistory:
    """A project's record of one run: its settings and per-epoch (and per-step) curves.

    Settings are the training config flattened to scalars, plus ``dataset``,
    ``steps_per_epoch`` and (given ``network``) :func:`network_description`.
    Per-step loss and accuracy keep at most :data:`MAX_STEP_POINTS` points. ``epoch_seconds``
    holds each epoch's duration (its sum is the run's training time; older project files lack it).
    ``end`` (the run's ``Finished``) gives the best epoch and the one whose weights were kept; a ``Failed``
    end of kind ``"nan"`` gives ``diverged_step``. The epochs' ``health`` (when they have it) becomes ``health``.
    """
    from .curves import bucket_means  # numpy, only when a run is recorded

    settings: dict[str, int | float | bool | str] = {}
    for key, value in config.model_dump(mode="json").items():
        if isinstance(value, dict):
            settings.update({f"{key}.{k}": v for k, v in value.items() if isinstance(v, int | float | bool | str)})
        elif isinstance(value, int | float | bool | str):
            settings[key] = value
    if dataset:
        settings["dataset"] = dataset
    if steps:
        settings["steps_per_epoch"] = steps[-1].steps_per_epoch
    if network is not None:
        settings.update(network_description(network))
    x = [float(e.epoch) for e in epochs]
    series = {
        "train_loss": Series(x=x, y=[e.train_loss for e in epochs]),
        "train_accuracy": Series(x=x, y=[e.train_accuracy for e in epochs]),
        "val_loss": Series(x=x, y=[e.val_loss for e in epochs]),
        "val_accuracy": Series(x=x, y=[e.val_accuracy for e in epochs]),
        "learning_rate": Series(x=x, y=[e.learning_rate for e in epochs]),
        "images_per_second": Series(x=x, y=[e.images_per_second for e in epochs]),
        "epoch_seconds": Series(x=x, y=[e.seconds for e in epochs]),
    }
    if steps:
        x_steps = [float(s.step) for s in steps]
        for key, values in (("step_loss", [s.loss for s in steps]), ("step_accuracy", [s.accuracy for s in steps])):
            xs, ys = bucket_means(x_steps, values, MAX_STEP_POINTS)
            series[key] = Series(x=xs, y=ys)
    when = (started or datetime.now(UTC)).isoformat(timespec="seconds")
    return RunHistory(name=name, started=when, settings=settings, series=series,
                      best_epoch=getattr(end, "best_epoch", None), kept_epoch=getattr(end, "kept_epoch", None),
                      diverged_step=end.step if getattr(end, "kind", None) == "nan" else None,  # type: ignore[union-attr]
                      health=run_health([(e.epoch, getattr(e, "health", ())) for e in epochs]))

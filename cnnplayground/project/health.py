"""A run's layer health over its epochs, as stored with its history (plain data, JSON-ready).

The trainer measures it (``train/health.py``: one sampled step per epoch) and puts it on each
epoch's event; :func:`run_health` turns those into one :class:`RunHealth` per run. Non-finite
values (a diverged run) are ``None``, as in :class:`~.history.Series`. Files written before
health was recorded have none (``RunHistory.health`` is ``None``).

Distributions: ``weight_percentiles`` and ``activation_percentiles`` hold, per stored epoch, the
:data:`PERCENTILES` of the layer's weights (at the epoch's end) and of its output (on the sampled step),
or ``None`` for an epoch without them; a whole field is ``None`` when never recorded (files written before
distributions were, and parameter-free layers' weights). Values are kept to :data:`PERCENTILE_DIGITS`
significant digits (a LeNet-5 epoch's distributions: ~2 KB of JSON).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Annotated, Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

#: Stored epochs per run at most (evenly spaced, the last always kept, when a run has more).
MAX_HEALTH_EPOCHS = 200
MAX_HEALTH_LAYERS = 512

_Values = Annotated[list[float | None], Field(max_length=MAX_HEALTH_EPOCHS)]
MEASURES = ("activation_mean", "activation_std", "dead_share", "grad_norm", "update_ratio")
#: The percentiles a distribution is summarised by (TensorBoard's distributions view draws the same).
PERCENTILES = (0, 7, 16, 31, 50, 69, 84, 93, 100)
DISTRIBUTIONS = ("weight_percentiles", "activation_percentiles")
#: Significant digits a stored percentile keeps.
PERCENTILE_DIGITS = 7

_Summary = Annotated[list[float | None], Field(min_length=len(PERCENTILES), max_length=len(PERCENTILES))]
_Summaries = Annotated[list[_Summary | None], Field(max_length=MAX_HEALTH_EPOCHS)]


def _finite_or_none(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return [None if isinstance(v, float) and not math.isfinite(v) else v for v in value]
    return value


def _summaries_finite_or_none(value: Any) -> Any:
    """Non-finite percentiles become None; finite ones keep :data:`PERCENTILE_DIGITS` digits. Anything that is
    not a list of lists is left for validation to refuse."""
    if not isinstance(value, list | tuple):
        return value
    out = []
    for row in value:
        if isinstance(row, list | tuple):
            row = [None if isinstance(v, float) and not math.isfinite(v)
                   else float(f"{v:.{PERCENTILE_DIGITS}g}") if isinstance(v, float) else v for v in row]
        out.append(row)
    return out


class LayerHealthSeries(BaseModel):
    """One layer's measures, one value per stored epoch (``RunHealth.epochs``); a measure that does not
    apply to the layer (``dead_share`` of a conv, ``grad_norm`` of a ReLU) is ``None`` as a whole."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, StringConstraints(max_length=200)]
    kind: Annotated[str, StringConstraints(max_length=64)]
    activation_mean: _Values
    activation_std: _Values
    dead_share: _Values | None = None
    grad_norm: _Values | None = None
    update_ratio: _Values | None = None
    weight_percentiles: _Summaries | None = None
    activation_percentiles: _Summaries | None = None

    @field_validator(*MEASURES, mode="before")
    @classmethod
    def _non_finite_to_none(cls, value: Any) -> Any:
        return _finite_or_none(value)

    @field_validator(*DISTRIBUTIONS, mode="before")
    @classmethod
    def _summaries_non_finite_to_none(cls, value: Any) -> Any:
        return _summaries_finite_or_none(value)

    @property
    def has_distributions(self) -> bool:
        """Whether any epoch recorded a weight or activation distribution."""
        return any(v is not None for field in DISTRIBUTIONS for v in getattr(self, field) or ())


class RunHealth(BaseModel):
    """Layer health of one run: ``layers[i].<measure>[j]`` was measured at the end of ``epochs[j]``."""

    model_config = ConfigDict(extra="forbid")

    epochs: list[Annotated[int, Field(ge=1, le=1_000_000)]] = Field(max_length=MAX_HEALTH_EPOCHS)
    layers: list[LayerHealthSeries] = Field(default_factory=list, max_length=MAX_HEALTH_LAYERS)

    @model_validator(mode="after")
    def _lengths_match(self) -> RunHealth:
        n = len(self.epochs)
        for layer in self.layers:
            for measure in (*MEASURES, *DISTRIBUTIONS):
                values = getattr(layer, measure)
                if values is not None and len(values) != n:
                    raise ValueError(f"layer {layer.name[:40]!r}: {measure} has {len(values)} values for {n} epochs")
        return self

    def layer(self, name: str) -> LayerHealthSeries | None:
        return next((layer for layer in self.layers if layer.name == name), None)

    @property
    def has_distributions(self) -> bool:
        """Whether any layer recorded a distribution (runs recorded before they were have none)."""
        return any(layer.has_distributions for layer in self.layers)


class LayerRecord(Protocol):
    """What :func:`run_health` reads of a layer's measures (``train.events.LayerHealth``)."""

    @property
    def name(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def activation_mean(self) -> float: ...
    @property
    def activation_std(self) -> float: ...
    @property
    def dead_share(self) -> float | None: ...
    @property
    def grad_norm(self) -> float | None: ...
    @property
    def update_ratio(self) -> float | None: ...
    # Optional (records made before distributions were lack them, read with getattr):
    # weight_percentiles, activation_percentiles: Sequence[float] | None.


def run_health(epochs: Sequence[tuple[int, Sequence[LayerRecord]]]) -> RunHealth | None:
    """The run's health from ``(epoch, layers)`` pairs; None when no epoch has any. At most
    :data:`MAX_HEALTH_EPOCHS` epochs are kept (evenly spaced, first and last included)."""
    measured = [(epoch, layers) for epoch, layers in epochs if layers]
    if not measured:
        return None
    if len(measured) > MAX_HEALTH_EPOCHS:
        last = len(measured) - 1
        keep = sorted({round(i * last / (MAX_HEALTH_EPOCHS - 1)) for i in range(MAX_HEALTH_EPOCHS)})
        measured = [measured[i] for i in keep]
    names: dict[str, str] = {}
    for _, layers in measured:
        for layer in layers:
            names.setdefault(layer.name, layer.kind)
    series = []
    for name, kind in list(names.items())[:MAX_HEALTH_LAYERS]:
        by_epoch = [next((layer for layer in layers if layer.name == name), None) for _, layers in measured]
        values: dict[str, Any] = {}
        for measure in MEASURES:
            column = [None if layer is None else getattr(layer, measure) for layer in by_epoch]
            values[measure] = column if any(v is not None for v in column) or measure.startswith("act") else None
        for field in DISTRIBUTIONS:
            rows = [None if layer is None else getattr(layer, field, None) for layer in by_epoch]
            summaries = [None if row is None or len(row) != len(PERCENTILES) else list(row) for row in rows]
            values[field] = summaries if any(row is not None for row in summaries) else None
        series.append(LayerHealthSeries(name=name[:200], kind=kind[:64], **values))
    return RunHealth(epochs=[epoch for epoch, _ in measured], layers=series)

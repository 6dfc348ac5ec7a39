"""A run's layer health over its epochs, as stored with its history (plain data, JSON-ready).

The trainer measures it (``train/health.py``: one sampled step per epoch) and puts it on each
epoch's event; :func:`run_health` turns those into one :class:`RunHealth` per run. Non-finite
values (a diverged run) are ``None``, as in :class:`~.history.Series`. Files written before
health was recorded have none (``RunHistory.health`` is ``None``).
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


def _finite_or_none(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return [None if isinstance(v, float) and not math.isfinite(v) else v for v in value]
    return value


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

    @field_validator(*MEASURES, mode="before")
    @classmethod
    def _non_finite_to_none(cls, value: Any) -> Any:
        return _finite_or_none(value)


class RunHealth(BaseModel):
    """Layer health of one run: ``layers[i].<measure>[j]`` was measured at the end of ``epochs[j]``."""

    model_config = ConfigDict(extra="forbid")

    epochs: list[Annotated[int, Field(ge=1, le=1_000_000)]] = Field(max_length=MAX_HEALTH_EPOCHS)
    layers: list[LayerHealthSeries] = Field(default_factory=list, max_length=MAX_HEALTH_LAYERS)

    @model_validator(mode="after")
    def _lengths_match(self) -> RunHealth:
        n = len(self.epochs)
        for layer in self.layers:
            for measure in MEASURES:
                values = getattr(layer, measure)
                if values is not None and len(values) != n:
                    raise ValueError(f"layer {layer.name[:40]!r}: {measure} has {len(values)} values for {n} epochs")
        return self

    def layer(self, name: str) -> LayerHealthSeries | None:
        return next((layer for layer in self.layers if layer.name == name), None)


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
        values: dict[str, list[float | None] | None] = {}
        for measure in MEASURES:
            column = [None if layer is None else getattr(layer, measure) for layer in by_epoch]
            values[measure] = column if any(v is not None for v in column) or measure.startswith("act") else None
        series.append(LayerHealthSeries(name=name[:200], kind=kind[:64], **values))
    return RunHealth(epochs=[epoch for epoch, _ in measured], layers=series)

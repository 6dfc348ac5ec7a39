"""Sweeps: train a few variants of a project that differ in one or two settings.

A :class:`SweepSpec` names the settings to vary (:class:`Axis`: a list of
values, or a range on a linear or log scale) and how: every combination
(``"grid"``) or ``count`` random draws from a seeded generator (``"random"``).
A setting is any of

- a :class:`~.config.TrainingConfig` field (``learning_rate``, ``weight_decay``,
  ``label_smoothing``, ``batch_size``, ``epochs``, ``seed``...; nested ones
  dotted: ``augment.rotation``);
- a dataset option (``dataset.train_size``, or the bare option name when it is
  not a training setting);
- ``train_fraction``: the share (0..1] of the training images kept (a seeded
  subset; validation is untouched), for any dataset;
- a network knob of :data:`GRAPH_KNOBS`, a function of the graph: ``width``
  (scale every Conv2d's filters and every hidden Linear's outputs), ``dropout``
  (set every Dropout's p), ``depth`` (repeat every size-keeping conv block). :func:`register_knob` adds more.

:func:`variants` turns a spec and a project into :class:`Variant` s (checked:
a value out of range is a :class:`SweepError` before anything runs);
:class:`Sweep` trains them one after another, a generator of plain events (each
trainer event wrapped in :class:`VariantEvent` with the variant's index, then
:class:`VariantFinished` with the project record of the run), stoppable from
any thread between two steps. With ``epochs_budget_bytes`` each record keeps the
weights of its epochs (``RunHistory.epochs``: epoch 0, the weights it started from, and the end of every
epoch, thinned to that budget per variant), so a sweep's or an experiment's runs open in the epoch slider
and in Compare like a trained run. :func:`sweep_table` and :func:`to_csv` compare the
records. Qt-free, so the GUI drives it from a worker thread like the trainer.
"""

from __future__ import annotations

import csv
import io
import math
import random
import threading
import time
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import product
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import torch
from pydantic import ValidationError

from ..core.errors import UserError
from ..core.graph import Graph, GraphError
from ..core.inference import infer
from ..data.base import DatasetError, ImageData, channel_stats
from ..io.project_schema import describe_validation_error
from ..project import DatasetChoice, RunHistory, Series, TrainingConfig, run_record
from ..project.epochs import EpochCollector
from .events import EpochFinished, Event, Failed, Finished, StepFinished, WeightsSnapshot
from .setup import build_for_data, check_training_memory
from .trainer import Trainer, TrainingSetupError

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn

    from ..project import Project

Value = int | float | bool | str
#: Most variants one sweep may have (a grid of two 30-value axes is 900).
MAX_VARIANTS = 1000
#: Prefix of the varied settings in a record's settings (``sweep.learning_rate``); ``sweep`` holds the sweep's name.
SETTING_PREFIX = "sweep."
#: Setting that keeps a share of the training images.
TRAIN_FRACTION = "train_fraction"


class SweepError(UserError, ValueError):
    """A sweep cannot be set up; ``str()`` is one line for the user."""


# --- network knobs -------------------------------------------------------------------------------


@dataclass(frozen=True)
class GraphKnob:
    """A network setting that is a function of the graph: ``apply(graph, value)`` edits ``graph`` in place.

    ``minimum``/``maximum`` bound the values (inclusive); ``apply`` raises
    :class:`SweepError` when the graph has nothing to apply it to.
    """

    name: str
    description: str
    apply: Callable[[Graph, float], None]
    minimum: float
    maximum: float
    #: Whole numbers only: a drawn or spread value is rounded (like a batch size).
    integer: bool = False


#: Network knobs by name; :func:`register_knob` adds one.
GRAPH_KNOBS: dict[str, GraphKnob] = {}


def register_knob(knob: GraphKnob) -> GraphKnob:
    if knob.name in GRAPH_KNOBS:
        raise ValueError(f"network knob {knob.name!r} registered twice")
    GRAPH_KNOBS[knob.name] = knob
    return knob


def _head_layers(graph: Graph) -> set[str]:
    """The layer that makes the network's output (its size is the class count): never widened."""
    output = infer(graph).output_id
    node = graph.nodes.get(output or "")
    while node is not None:
        if node.kind in ("Conv2d", "Linear"):
            return {node.id}
        sources = graph.inputs_of(node.id)
        node = graph.nodes[sources[0]] if len(sources) == 1 else None
    return set()


def scale_width(graph: Graph, factor: float) -> None:
    """Multiply every Conv2d's filters and every Linear's outputs by ``factor`` (rounded, at least 1, a
    multiple of the conv's groups), except the layer that makes the output."""
    head = _head_layers(graph)
    for node in list(graph.nodes.values()):
        if node.id in head:
            continue
        if node.kind == "Conv2d":
            groups = int(node.params["groups"])
            width = max(groups, round(int(node.params["out_channels"]) * factor / groups) * groups)
            _edit(graph, node.id, {"out_channels": width})
        elif node.kind == "Linear":
            _edit(graph, node.id, {"out_features": max(1, round(int(node.params["out_features"]) * factor))})


def set_dropout(graph: Graph, p: float) -> None:
    """Set ``p`` of every Dropout and Dropout2d."""
    layers = [n.id for n in graph.nodes.values() if n.kind in ("Dropout", "Dropout2d")]
    if not layers:
        raise SweepError("the network has no Dropout layer: add one to sweep dropout")
    for nid in layers:
        _edit(graph, nid, {"p": float(p)})


def _edit(graph: Graph, node_id: str, changes: dict[str, Any]) -> None:
    try:
        graph.set_params(node_id, changes)
    except GraphError as exc:
        raise SweepError(str(exc)) from None


#: Layers that keep their input's shape and act per element or per channel: they belong to the conv block
#: before them when depth repeats it.
_BLOCK_TAIL = frozenset({"BatchNorm2d", "ReLU", "LeakyReLU", "PReLU", "ELU", "GELU", "SiLU", "Sigmoid", "Tanh",
                         "Dropout", "Dropout2d"})
MAX_DEPTH = 8


def repeat_blocks(graph: Graph, factor: float) -> None:
    """Depth ×``factor`` (a whole number): every size-keeping convolution (output shape = input shape, e.g.
    3×3 with padding 1) and the BatchNorm/activation/Dropout layers right after it form a block, repeated
    ``factor`` times in a row (new layers ``<id>_x2``, ``<id>_x3``...). 1 leaves the network as it is."""
    depth = round(factor)
    if abs(depth - factor) > 1e-9 or not 1 <= depth <= MAX_DEPTH:
        raise SweepError(f"depth must be a whole number from 1 to {MAX_DEPTH}, got {factor:g}")
    result = infer(graph)
    blocks: list[list[str]] = []
    for nid in result.order:
        node = graph.nodes[nid]
        sources = graph.inputs_of(nid)
        if node.kind != "Conv2d" or len(sources) != 1:
            continue
        shape_in, shape_out = result.infos[sources[0]].shape, result.infos[nid].shape
        if shape_in is None or shape_in != shape_out:
            continue
        block = [nid]
        while True:
            consumers = graph.consumers_of(block[-1])
            if len(consumers) != 1 or graph.nodes[consumers[0]].kind not in _BLOCK_TAIL \
                    or len(graph.inputs_of(consumers[0])) != 1:
                break
            block.append(consumers[0])
        blocks.append(block)
    if not blocks:
        raise SweepError("the network has no size-keeping convolution (e.g. 3×3 with padding 1) to repeat: depth "
                         "needs one")
    for block in blocks:
        out_edges = graph.out_edges(block[-1])
        last = block[-1]
        for copy in range(2, depth + 1):
            for nid in block:
                node = graph.nodes[nid]
                new_id = f"{nid}_x{copy}"
                x, y = node.position
                try:
                    # A copy starts from fresh weights: frozen it would stay random, so it trains (its LR × is kept).
                    graph.add_node(node.kind, dict(node.params), id=new_id, position=(x + 40.0 * (copy - 1), y),
                                   attributes={**node.attributes, "frozen": False})
                    graph.connect(last, new_id)
                except GraphError as exc:  # the id is taken, too long, or the network too large
                    raise SweepError(f"depth: {exc}") from exc
                last = new_id
        for edge in out_edges:
            graph.disconnect(edge)
            graph.connect(last, edge.target, edge.port)


register_knob(GraphKnob("width", "Multiplies the filters of every Conv2d and the outputs of every hidden Linear "
                        "(not the last layer).", scale_width, minimum=1e-3, maximum=64.0))
register_knob(GraphKnob("dropout", "Sets p of every Dropout and Dropout2d layer.", set_dropout,
                        minimum=0.0, maximum=1.0))
register_knob(GraphKnob("depth", "Repeats every size-keeping convolution block (the conv and the BatchNorm, "
                        "activation and Dropout right after it) this many times.", repeat_blocks,
                        minimum=1.0, maximum=float(MAX_DEPTH), integer=True))


# --- the spec ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Axis:
    """One setting to vary: ``values``, or the range ``low``..``high`` on a ``scale``.

    A grid takes ``values``, or ``steps`` points spread over the range (ends
    included); random search draws from ``values`` or uniformly from the range
    (``"log"``: uniform in the logarithm; both ends must then be positive).
    Whole-number settings (batch size, epochs) are rounded.
    """

    setting: str
    values: tuple[Value, ...] = ()
    low: float | None = None
    high: float | None = None
    scale: Literal["linear", "log"] = "linear"
    steps: int = 0

    @classmethod
    def grid(cls, setting: str, *values: Value) -> Axis:
        return cls(setting, tuple(values))

    @classmethod
    def range(cls, setting: str, low: float, high: float, scale: Literal["linear", "log"] = "linear",
              steps: int = 0) -> Axis:
        return cls(setting, (), float(low), float(high), scale, steps)

    def check(self, mode: str) -> None:
        name = self.setting
        if not isinstance(name, str) or not 1 <= len(name) <= 64 - len(SETTING_PREFIX):
            raise SweepError(f"a setting name must be 1 to {64 - len(SETTING_PREFIX)} characters, got {name!r}")
        if self.values:
            if len(self.values) > MAX_VARIANTS:
                raise SweepError(f"{name}: at most {MAX_VARIANTS} values")
            return
        if self.low is None or self.high is None:
            raise SweepError(f"{name}: give a list of values or a range (low and high)")
        if not (math.isfinite(self.low) and math.isfinite(self.high)) or self.low >= self.high:
            raise SweepError(f"{name}: the range needs low < high, got {self.low:g} and {self.high:g}")
        if self.scale not in ("linear", "log"):
            raise SweepError(f"{name}: scale must be 'linear' or 'log', got {self.scale!r}")
        if self.scale == "log" and self.low <= 0:
            raise SweepError(f"{name}: a log scale needs a positive range, got low = {self.low:g}")
        if mode == "grid" and not 2 <= self.steps <= MAX_VARIANTS:
            raise SweepError(f"{name}: a grid over a range needs steps (2 to {MAX_VARIANTS}), or give values")

    def grid_values(self) -> list[Value]:
        if self.values:
            return list(self.values)
        lo, hi, n = float(self.low), float(self.high), self.steps  # type: ignore[arg-type]
        if self.scale == "log":
            return [math.exp(math.log(lo) + (math.log(hi) - math.log(lo)) * i / (n - 1)) for i in range(n)]
        return [lo + (hi - lo) * i / (n - 1) for i in range(n)]

    def draw(self, rng: random.Random) -> Value:
        if self.values:
            return self.values[rng.randrange(len(self.values))]
        lo, hi = float(self.low), float(self.high)  # type: ignore[arg-type]
        if self.scale == "log":
            return math.exp(rng.uniform(math.log(lo), math.log(hi)))
        return rng.uniform(lo, hi)


@dataclass(frozen=True)
class SweepSpec:
    """What to vary (one or two :class:`Axis`) and how: ``"grid"`` (every combination, first axis
    slowest) or ``"random"`` (``count`` draws from a generator seeded with ``seed``). ``name`` prefixes the
    variants' names."""

    axes: tuple[Axis, ...]
    mode: Literal["grid", "random"] = "grid"
    count: int = 8
    seed: int = 0
    name: str = "sweep"

    def check(self) -> None:
        if not 1 <= len(self.axes) <= 2:
            raise SweepError(f"a sweep varies one or two settings, got {len(self.axes)}")
        if len({a.setting for a in self.axes}) != len(self.axes):
            raise SweepError(f"{self.axes[0].setting} is varied twice")
        if self.mode not in ("grid", "random"):
            raise SweepError(f"mode must be 'grid' or 'random', got {self.mode!r}")
        if self.mode == "random" and not 1 <= self.count <= MAX_VARIANTS:
            raise SweepError(f"random search needs a count from 1 to {MAX_VARIANTS}, got {self.count}")
        for axis in self.axes:
            axis.check(self.mode)
        if not isinstance(self.name, str) or len(self.name) > 60:
            raise SweepError("a sweep name must be text of at most 60 characters")


@dataclass
class Variant:
    """One run of a sweep: its settings (the varied ones, by name) and everything needed to train it."""

    index: int
    name: str
    settings: dict[str, Value]
    config: TrainingConfig
    dataset: DatasetChoice
    graph: Graph
    #: Share of the training images kept (setting ``train_fraction``).
    train_fraction: float = 1.0
    sweep: str = "sweep"
    #: More keyword arguments for this variant's :class:`Trainer` (e.g. a distillation ``teacher``).
    trainer_options: dict[str, Any] = field(default_factory=dict)


def variants(spec: SweepSpec, project: Project) -> list[Variant]:
    """The variants of ``spec`` applied to ``project`` (its graph, training settings and dataset, which are
    copied, never changed). Every value is checked here: :class:`SweepError` names the first bad one."""
    spec.check()
    if spec.mode == "grid":
        grids = [axis.grid_values() for axis in spec.axes]
        total = math.prod(len(g) for g in grids)
        if total > MAX_VARIANTS:
            raise SweepError(f"the grid has {total} variants; at most {MAX_VARIANTS}")
        combos = [tuple(c) for c in product(*grids)]
    else:
        rng = random.Random(spec.seed)
        combos = [tuple(axis.draw(rng) for axis in spec.axes) for _ in range(spec.count)]
    out = []
    for i, combo in enumerate(combos):
        settings = {axis.setting: value for axis, value in zip(spec.axes, combo, strict=True)}
        out.append(_variant(i, spec.name, settings, project))
    return out


def _variant(index: int, sweep: str, settings: dict[str, Value], project: Project) -> Variant:
    config = project.training.model_copy(deep=True)
    dataset = project.dataset.model_copy(deep=True)
    graph = project.graph.copy()
    fraction = 1.0
    applied: dict[str, Value] = {}
    for setting, raw in settings.items():
        where = _where(setting, config, dataset)
        value: Value
        if where == "knob":
            knob = GRAPH_KNOBS[setting]
            value = _number(setting, raw)
            if knob.integer:
                value = int(round(value))
            if not knob.minimum <= value <= knob.maximum:
                raise SweepError(f"{setting} must be from {knob.minimum:g} to {knob.maximum:g}, got {value:g}")
            knob.apply(graph, value)
        elif where == "fraction":
            value = _number(setting, raw)
            if not 0 < value <= 1:
                raise SweepError(f"{TRAIN_FRACTION} must be above 0 and at most 1, got {value:g}")
            fraction = value
        elif where == "config":
            value = _like(raw, _config_value(config, setting))
            config = _set_config(config, setting, value)
        else:
            option = setting.removeprefix("dataset.")
            value = _set_option(dataset, option, raw)
        applied[setting] = value
    result = infer(graph)
    if not result.ok:
        raise SweepError(f"variant {index + 1} ({_describe(applied)}): the network is not valid: "
                         f"{result.first_error()}")
    name = f"{sweep} {index + 1}: {_describe(applied)}"[:200]
    return Variant(index, name, applied, config, dataset, graph, fraction, sweep)


def _where(setting: str, config: TrainingConfig, dataset: DatasetChoice) -> str:
    if setting in GRAPH_KNOBS:
        return "knob"
    if setting == TRAIN_FRACTION:
        return "fraction"
    if setting.startswith("dataset."):
        return "dataset"
    head = setting.split(".", 1)[0]
    if head in TrainingConfig.model_fields:
        return "config"
    from ..data.registry import dataset_info

    try:
        if setting in dataset_info(dataset.name).options:
            return "dataset"
    except DatasetError:
        pass
    raise SweepError(
        f"unknown setting {setting!r}: use a training setting (learning_rate, weight_decay, batch_size, ...), "
        f"a dataset option (dataset.train_size), {TRAIN_FRACTION}, or a network knob ({', '.join(GRAPH_KNOBS)})"
    )


def _number(setting: str, value: Value) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise SweepError(f"{setting} must be a number, got {value!r}")
    return float(value)


def _like(value: Value, current: Any) -> Value:
    """Round a drawn float for a whole-number setting (batch size, epochs)."""
    if isinstance(current, int) and not isinstance(current, bool) and isinstance(value, float):
        return int(round(value))
    return value


def _config_value(config: TrainingConfig, setting: str) -> Any:
    value: Any = config.model_dump()
    for part in setting.split("."):
        if not isinstance(value, dict) or part not in value:
            raise SweepError(f"unknown training setting {setting!r}")
        value = value[part]
    return value


def _set_config(config: TrainingConfig, setting: str, value: Value) -> TrainingConfig:
    doc = config.model_dump()
    *path, last = setting.split(".")
    target = doc
    for part in path:
        target = target[part]
    target[last] = value
    try:
        return TrainingConfig.model_validate(doc)
    except ValidationError as exc:
        raise SweepError(describe_validation_error(exc.errors(include_url=False))) from None


def _set_option(dataset: DatasetChoice, option: str, value: Value) -> Value:
    from ..data.registry import dataset_info, resolve_options

    try:
        info = dataset_info(dataset.name)
        if option in info.options:
            value = _like(value, info.options[option][0])
        resolve_options(info, {**dataset.options, option: value})
    except DatasetError as exc:
        raise SweepError(str(exc)) from None
    dataset.options = {**dataset.options, option: value}
    return value


def _fmt(value: Value) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def _describe(settings: Mapping[str, Value]) -> str:
    return ", ".join(f"{k}={_fmt(v)}" for k, v in settings.items())


# --- events --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SweepStarted:
    names: tuple[str, ...]


@dataclass(frozen=True)
class VariantStarted:
    index: int
    name: str
    settings: dict[str, Value]


@dataclass(frozen=True)
class VariantEvent:
    """An event of variant ``index``'s trainer (``RunStarted``, ``StepFinished``, ``EpochFinished``, ...)."""

    index: int
    event: Event


@dataclass(frozen=True)
class VariantFinished:
    """Variant ``index`` has ended: ``record`` is its project record (settings, curves; empty curves when
    it could not start). ``outcome``: ``completed``, ``early_stopping``, or ``failed`` with ``message``
    saying why. ``weights``: the final weights (CPU) when the sweep keeps them."""

    index: int
    record: RunHistory
    outcome: Literal["completed", "early_stopping", "failed"]
    message: str
    seconds: float
    weights: dict[str, torch.Tensor] | None = None


@dataclass(frozen=True)
class SweepFinished:
    """The sweep has ended: ``completed`` variants of ``total`` gave a record; ``stopped`` by :meth:`Sweep.stop`."""

    completed: int
    total: int
    stopped: bool


SweepEvent = SweepStarted | VariantStarted | VariantEvent | VariantFinished | SweepFinished


# --- running -------------------------------------------------------------------------------------


def default_data_loader(choice: DatasetChoice, config: TrainingConfig) -> ImageData:
    """The dataset of ``choice`` with ``config``'s validation hold-out and seed (nothing is downloaded)."""
    from ..data.registry import load_dataset

    return load_dataset(choice, val_fraction=config.val_fraction, seed=config.seed)


class Sweep:
    """Trains ``variants`` one after another; :meth:`run` is the generator of events.

    ``data_loader_fn(dataset_choice, config) -> ImageData`` loads a variant's data
    (consecutive variants with the same choice, hold-out and seed share one load).
    ``prepare_model(variant, model)`` may change a freshly built model before it
    trains (e.g. load starting weights); each model is built after
    ``torch.manual_seed(config.seed)``, so variants start alike. ``device``,
    ``step_event_every`` and ``events_per_second`` go to each :class:`Trainer`;
    ``keep_weights`` puts the final weights in :class:`VariantFinished`. ``epochs_budget_bytes`` > 0: each
    variant's record keeps its epochs within that many bytes (:class:`~..project.epochs.EpochCollector`;
    epoch 0 is the model as built and prepared, before the first step).

    :meth:`stop`, :meth:`pause` and :meth:`resume` may be called from any thread
    and act before the current variant's next step; after :meth:`stop` no
    :class:`VariantFinished` follows (the interrupted variant is dropped), only
    :class:`SweepFinished`. Closing the generator stops too.
    """

    def __init__(
        self,
        variants: Sequence[Variant],
        data_loader_fn: Callable[[DatasetChoice, TrainingConfig], ImageData] | None = None,
        *,
        device: str | torch.device | None = None,
        step_event_every: int | None = None,
        events_per_second: float = 20.0,
        keep_weights: bool = False,
        prepare_model: Callable[[Variant, nn.Module], None] | None = None,
        epochs_budget_bytes: int = 0,
    ) -> None:
        self.variants = list(variants)
        self.data_loader_fn = data_loader_fn or default_data_loader
        self.trainer_options: dict[str, Any] = {"device": device, "step_event_every": step_event_every,
                                                "events_per_second": events_per_second}
        self.keep_weights = keep_weights
        self.prepare_model = prepare_model
        self.epochs_budget_bytes = max(0, epochs_budget_bytes)
        #: Records of the variants finished so far, in order.
        self.records: list[RunHistory] = []
        self._lock = threading.Lock()
        self._trainer: Trainer | None = None
        self._stop = False
        self._paused = False
        self._cache: tuple[str, ImageData] | None = None

    # --- control (any thread) ----------------------------------------------------------------
    def stop(self) -> None:
        with self._lock:
            self._stop = True
            if self._trainer is not None:
                self._trainer.stop()

    def pause(self) -> None:
        with self._lock:
            self._paused = True
            if self._trainer is not None:
                self._trainer.pause()

    def resume(self) -> None:
        with self._lock:
            self._paused = False
            if self._trainer is not None:
                self._trainer.resume()

    @property
    def stop_requested(self) -> bool:
        return self._stop

    # --- the run -------------------------------------------------------------------------------
    def run(self) -> Iterator[SweepEvent]:
        total = len(self.variants)
        yield SweepStarted(tuple(v.name for v in self.variants))
        completed = 0
        try:
            for variant in self.variants:
                if self._stop:
                    break
                finished = yield from self._run_variant(variant)
                if finished is None:  # stopped
                    break
                completed += 1
                yield finished
        finally:
            with self._lock:
                self._trainer = None
            self._cache = None
        yield SweepFinished(completed, total, self._stop)

    def _run_variant(self, variant: Variant) -> Generator[SweepEvent, None, VariantFinished | None]:
        """Train one variant (a sub-generator); returns its :class:`VariantFinished`, or ``None`` when stopped."""
        yield VariantStarted(variant.index, variant.name, dict(variant.settings))
        started = datetime.now(UTC)
        t0 = time.perf_counter()
        data: ImageData | None = None
        try:
            if infer(variant.graph).ok:  # a variant too large for the memory: refused before loading its data
                check_training_memory(variant.graph, variant.config)
            data = self._data(variant)
            torch.manual_seed(variant.config.seed)
            model = build_for_data(variant.graph, data, variant.config)
            if self.prepare_model is not None:
                self.prepare_model(variant, model)
            collector = None
            if self.epochs_budget_bytes:
                collector = EpochCollector(variant.graph, variant.config.epochs, self.epochs_budget_bytes)
                collector.start(_cpu_copy(model))  # epoch 0: the weights it starts from, before the trainer
            trainer = Trainer(model, data, variant.config, snapshot_every_epoch=collector is not None,
                              **{**self.trainer_options, **variant.trainer_options})
        except (DatasetError, TrainingSetupError, SweepError, ValueError) as exc:
            if self._stop:
                return None
            record = self._record(variant, [], [], data, started)
            self.records.append(record)
            return VariantFinished(variant.index, record, "failed", str(exc), time.perf_counter() - t0)
        with self._lock:
            self._trainer = trainer
            if self._stop:
                trainer.stop()
            if self._paused:
                trainer.pause()
        steps: list[StepFinished] = []
        end: Finished | Failed | None = None
        events = trainer.run()
        try:
            for event in events:
                if isinstance(event, StepFinished):
                    steps.append(event)
                elif isinstance(event, Finished | Failed):
                    end = event
                elif collector is not None and isinstance(event, EpochFinished):
                    collector.epoch_finished(event)
                elif collector is not None and isinstance(event, WeightsSnapshot):
                    collector.snapshot(event)
                yield VariantEvent(variant.index, event)
        finally:
            events.close()
            with self._lock:
                self._trainer = None
        if self._stop:
            return None
        epochs = [e for e in trainer.history if isinstance(e, EpochFinished)]
        record = self._record(variant, epochs, steps, data, started, end if isinstance(end, Finished) else None)
        if collector is not None and epochs:  # the weights it ended with are the kept epoch's, else the last's
            record.keep_epochs(collector.result(getattr(end, "kept_epoch", None), epochs[-1].epoch))
        self.records.append(record)
        outcome: Literal["completed", "stopped", "early_stopping", "failed"]
        if isinstance(end, Finished):
            outcome, message = end.reason, end.message
        else:
            outcome, message = "failed", end.message if end is not None else "the run ended without a result"
        weights = None
        if self.keep_weights:
            weights = _cpu_copy(model)
        # Never "stopped" here: only Sweep.stop stops the trainer, and a stopped sweep returned above.
        return VariantFinished(variant.index, record, outcome, message,  # type: ignore[arg-type]
                               time.perf_counter() - t0, weights)

    def _data(self, variant: Variant) -> ImageData:
        cfg = variant.config
        key = f"{variant.dataset.model_dump_json()}|{cfg.val_fraction}|{cfg.seed}"
        if self._cache is not None and self._cache[0] == key:
            data = self._cache[1]
        else:
            self._cache = None  # free the previous set before loading the next
            data = self.data_loader_fn(variant.dataset, cfg)
            self._cache = (key, data)
        if variant.train_fraction < 1.0:
            data = train_subset(data, variant.train_fraction, cfg.seed)
        return data

    def _record(self, variant: Variant, epochs: list[EpochFinished], steps: list[StepFinished],
                data: ImageData | None, started: datetime, end: Finished | None = None) -> RunHistory:
        record = run_record(variant.name, variant.config, epochs, steps,
                            dataset=data.name if data is not None else variant.dataset.name, started=started,
                            network=variant.graph, end=end)
        settings: dict[str, Value] = {"sweep": variant.sweep}
        settings.update({SETTING_PREFIX + k: v for k, v in variant.settings.items()})
        if variant.train_fraction < 1.0 and data is not None:
            settings["train_images"] = len(data.train)
        record.settings = {**record.settings, **settings}
        elapsed = list(_cumulative([e.seconds for e in epochs]))
        record.series = {**record.series, "elapsed_seconds": Series(x=[float(e.epoch) for e in epochs], y=elapsed)}
        return record


def _cpu_copy(model: nn.Module) -> dict[str, torch.Tensor]:
    """``model``'s state dict as CPU copies (safe to keep while it trains on)."""
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


def run_sweep(
    variants: Sequence[Variant],
    data_loader_fn: Callable[[DatasetChoice, TrainingConfig], ImageData] | None = None,
    **options: Any,
) -> Iterator[SweepEvent]:
    """``Sweep(variants, data_loader_fn, **options).run()``; close the generator to stop between steps."""
    return Sweep(variants, data_loader_fn, **options).run()


def train_subset(data: ImageData, fraction: float, seed: int) -> ImageData:
    """``data`` with ``round(fraction · N)`` (at least 1) training images, chosen by a seeded permutation;
    normalization recomputed from them."""
    n = len(data.train)
    k = max(1, round(fraction * n))
    index = torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:k].sort().values
    train = data.train.subset(index)
    mean, std = channel_stats(train.images)
    return ImageData(data.name, data.class_names, train, data.val, data.test, mean, std)


def _cumulative(values: list[float]) -> Iterator[float]:
    total = 0.0
    for v in values:
        total += v
        yield total


# --- comparing -----------------------------------------------------------------------------------


def sweep_table(records: Sequence[RunHistory]) -> list[dict[str, Any]]:
    """One row per record: name, the varied settings (without the ``sweep.`` prefix), parameters,
    epochs, final and best validation accuracy and loss (best accuracy's epoch), final training loss and
    accuracy, and the training time in seconds (``None`` where a record lacks it)."""
    rows = []
    for record in records:
        row: dict[str, Any] = {"name": record.name}
        row.update({k.removeprefix(SETTING_PREFIX): v for k, v in record.settings.items()
                    if k.startswith(SETTING_PREFIX)})
        row["parameters"] = record.settings.get("network.parameters")
        val_acc = _series(record, "val_accuracy")
        row["epochs"] = len(_series(record, "train_loss")[0])
        row["final_val_accuracy"] = _last(val_acc[1])
        best = [(y, x) for x, y in zip(*val_acc, strict=True) if y is not None]
        row["best_val_accuracy"] = max(best)[0] if best else None
        row["best_epoch"] = int(max(best, key=lambda p: (p[0], -p[1]))[1]) if best else None
        val_loss = [y for y in _series(record, "val_loss")[1] if y is not None]
        row["final_val_loss"] = _last(_series(record, "val_loss")[1])
        row["best_val_loss"] = min(val_loss) if val_loss else None
        row["final_train_loss"] = _last(_series(record, "train_loss")[1])
        row["final_train_accuracy"] = _last(_series(record, "train_accuracy")[1])
        row["seconds"] = _last(_series(record, "elapsed_seconds")[1])
        rows.append(row)
    return rows


def _series(record: RunHistory, name: str) -> tuple[list[float], list[float | None]]:
    s = record.series.get(name)
    return (list(s.x), list(s.y)) if s is not None else ([], [])


def _last(values: list[float | None]) -> float | None:
    return values[-1] if values else None


def to_csv(rows: Sequence[Mapping[str, Any]], path: str | Path | None = None) -> str:
    """``rows`` (e.g. :func:`sweep_table`'s) as CSV text, columns in order of first appearance, ``None``
    as an empty cell; written atomically to ``path`` when given."""
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, restval="", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
    text = buffer.getvalue()
    if path is not None:
        from ..io.atomic import atomic_write_text

        atomic_write_text(path, text)
    return text


__all__ = [
    "GRAPH_KNOBS", "Axis", "GraphKnob", "Sweep", "SweepError", "SweepEvent", "SweepFinished", "SweepSpec",
    "SweepStarted", "Variant", "VariantEvent", "VariantFinished", "VariantStarted", "default_data_loader",
    "register_knob", "repeat_blocks", "run_sweep", "scale_width", "set_dropout", "sweep_table", "to_csv",
    "train_subset", "variants",
]

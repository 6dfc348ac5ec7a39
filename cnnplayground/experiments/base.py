"""What an experiment is, and how one runs: stages of runs, then a finding.

An :class:`Experiment` of the gallery has a title, a few sentences on what to
watch for and what the literature found, and a plan made for a
:class:`Context` (``"quick"``: the built-in synthetic shapes, seconds to a
minute; ``"full"``: MNIST and Fashion-MNIST from a folder, minutes). The plan is
a list of :class:`Stage` s, each a set of :class:`~..train.sweep.Variant` s
trained one after another by a :class:`~..train.sweep.Sweep`; a later stage may
use what an earlier one left (weights to start from, a teacher). When every
stage has run, the experiment's ``conclude`` turns the results into a
:class:`Finding`: one headline sentence with its numbers, whether the effect the
literature reports appeared, and a :class:`Figure` (plain data: the GUI draws it,
the CLI writes it to a PNG).

:class:`ExperimentRun` is the generator of events (the sweep's own, wrapped with
stage and analysis events) that the CLI iterates and the GUI runs in a worker;
:meth:`ExperimentRun.stop` may be called from any thread. Whatever goes wrong (a missing
dataset, a stage that needs a run that failed, an error while the finding is computed)
ends the run with an :class:`ExperimentFinished` whose ``message`` says why. Qt-free.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import torch
from torch import nn

from ..core.errors import UserError
from ..core.graph import Graph
from ..data.augment import normalize
from ..data.base import DatasetError, ImageData
from ..project import DatasetChoice, TrainingConfig
from ..project.epochs import MB
from ..train.setup import build_for_data
from ..train.sweep import (
    Sweep,
    SweepEvent,
    SweepFinished,
    Value,
    Variant,
    VariantFinished,
    default_data_loader,
    train_subset,
)

if TYPE_CHECKING:  # pragma: no cover
    from ..project import RunHistory

log = logging.getLogger(__name__)

Scale = Literal["quick", "full"]
SCALES: tuple[Scale, ...] = ("quick", "full")

#: Room for the weights of the arms' epochs, per stage, in MB (as a project's ``snapshot_budget_mb``).
DEFAULT_SNAPSHOT_BUDGET_MB = 200

#: Images per split of the full-size sources (before the validation hold-out).
FULL_TRAIN_IMAGES = {"mnist": 60_000, "fashion-mnist": 60_000}


class ExperimentError(UserError, ValueError):
    """An experiment cannot run (bad scale, missing data folder); ``str()`` is one line for the user."""


# --- context -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Context:
    """Where and how big: ``scale`` and, for ``"full"``, the folder holding MNIST and Fashion-MNIST
    (torchvision's layout). ``seed`` is every run's seed (members of an ensemble add to it)."""

    scale: Scale = "quick"
    data_root: str | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if self.scale not in SCALES:
            raise ExperimentError(f"scale must be one of {', '.join(SCALES)}, got {self.scale!r}")

    @property
    def full(self) -> bool:
        return self.scale == "full"

    def pick(self, quick: Any, full: Any) -> Any:
        """``quick`` or ``full``, by scale."""
        return full if self.full else quick

    def dataset(self, which: Literal["digits", "clothes"] = "digits", *, quick_images: int = 2000,
                **options: Value) -> DatasetChoice:
        """MNIST (``digits``) or Fashion-MNIST (``clothes``) at full scale; at quick scale the synthetic
        shapes with ``quick_images`` training images (``clothes``: the same shapes with more pixel noise, a
        harder version of the same task rather than a new one)."""
        if self.full:
            return DatasetChoice(name="mnist" if which == "digits" else "fashion-mnist", root=self.data_root,
                                 options=dict(options))
        base: dict[str, Value] = {"train_size": int(quick_images), "test_size": 1000}
        if which == "clothes":
            base["noise"] = 0.18
        return DatasetChoice(name="synthetic", options={**base, **options})

    def fraction(self, images: int, config: TrainingConfig, dataset: DatasetChoice) -> float:
        """The ``train_fraction`` that keeps ``images`` of ``dataset``'s training images (after
        ``config``'s validation hold-out)."""
        total = FULL_TRAIN_IMAGES.get(dataset.name, dataset.options.get("train_size"))
        if not isinstance(total, int) or total <= 0:
            return 1.0
        kept = total - min(round(config.val_fraction * total), total - 1)
        return min(1.0, images / kept)


# --- results --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Curve:
    label: str
    x: tuple[float, ...]
    y: tuple[float | None, ...]


@dataclass(frozen=True)
class Figure:
    """A line plot as data: ``curves`` over a shared x axis."""

    title: str
    x_label: str
    y_label: str
    curves: tuple[Curve, ...]
    log_x: bool = False
    percent: bool = False  # y values are shares (0..1), shown as percentages


@dataclass(frozen=True)
class Finding:
    """The outcome: ``headline`` (one or two sentences with the numbers), ``holds`` (whether the effect
    the literature reports appeared here), ``numbers`` (the figures quoted, by name) and ``figure``.
    ``clear`` is False when the difference the verdict rests on is within seed noise (see
    :func:`compare`): then ``holds`` is False too and the verdict is "no clear difference"."""

    headline: str
    holds: bool
    numbers: dict[str, float]
    figure: Figure
    clear: bool = True

    @property
    def verdict(self) -> str:
        """"as in the literature", "no clear difference (within seed noise)" or "NOT as in the literature"."""
        if self.holds:
            return "as in the literature"
        return "NOT as in the literature" if self.clear else "no clear difference (within seed noise)"


#: Seed-to-seed standard deviation of a final validation accuracy, by scale. Quick: measured on the
#: conv-vs-fc experiment, seeds 0-3 (LeNet-5 3.1 points, the MLPs 1.2 and 1.5; the largest is kept).
#: Full (MNIST, Fashion-MNIST, thousands of test images): an estimate, not measured here.
SEED_NOISE = {"quick": 0.03, "full": 0.01}
#: A difference counts when it exceeds this many standard deviations of a difference of two runs.
NOISE_MARGIN = 2.0


def noise_margin(scale: str) -> float:
    """The smallest difference of two runs' accuracies that is not seed noise at ``scale``:
    ``NOISE_MARGIN`` × the standard deviation of a difference of two independent runs (√2 σ)."""
    return NOISE_MARGIN * math.sqrt(2.0) * SEED_NOISE[scale]


def compare(a: float, b: float, margin: float) -> Literal["higher", "lower", "unclear"]:
    """Whether ``a`` is clearly above or below ``b``: by more than ``margin``; "unclear" within it (or NaN)."""
    if not (math.isfinite(a) and math.isfinite(b)) or abs(a - b) <= margin:
        return "unclear"
    return "higher" if a > b else "lower"


@dataclass
class Results:
    """What the stages produced: each arm's :class:`VariantFinished` by arm name, and the data each used."""

    context: Context
    arms: dict[str, VariantFinished] = field(default_factory=dict)
    variants: dict[str, Variant] = field(default_factory=dict)
    loader: Callable[[DatasetChoice, TrainingConfig], ImageData] = default_data_loader
    _data: dict[str, ImageData] = field(default_factory=dict, repr=False)

    def record(self, arm: str) -> RunHistory:
        return self.arms[arm].record

    def finished(self, arm: str) -> bool:
        return arm in self.arms and self.arms[arm].outcome != "failed"

    def series(self, arm: str, name: str) -> tuple[list[float], list[float | None]]:
        s = self.arms[arm].record.series.get(name) if arm in self.arms else None
        return (list(s.x), list(s.y)) if s is not None else ([], [])

    def last(self, arm: str, name: str) -> float:
        """The last value of series ``name`` of ``arm`` (NaN when there is none)."""
        values = [v for v in self.series(arm, name)[1] if v is not None]
        return float(values[-1]) if values else math.nan

    def at_epoch(self, arm: str, name: str, epoch: int) -> float:
        for x, y in zip(*self.series(arm, name), strict=True):
            if int(x) == epoch and y is not None:
                return float(y)
        return math.nan

    def model(self, arm: str) -> nn.Module:
        """``arm``'s network with its final weights, in eval mode on the CPU (its stage kept weights)."""
        finished, variant = self.arms[arm], self.variants[arm]
        if finished.weights is None:
            raise ExperimentError(f"{arm}: its weights were not kept")
        model = build_for_data(variant.graph, self.data(arm))
        model.load_state_dict(finished.weights)
        return model.eval()

    def data(self, arm: str) -> ImageData:
        """The data ``arm`` trained on (its share of the training images, normalized as it was); made once
        per arm, however often the analysis asks."""
        if arm not in self._data:
            variant = self.variants[arm]
            data = self.loader(variant.dataset, variant.config)
            if variant.train_fraction < 1.0:
                data = train_subset(data, variant.train_fraction, variant.config.seed)
            self._data[arm] = data
        return self._data[arm]

    def test_split(self, arm: str, limit: int | None = None) -> tuple[torch.Tensor, torch.Tensor, ImageData]:
        """The images (``[0, 1]`` floats) and labels ``arm`` is tested on: the test split (the validation
        split when there is none), at most ``limit`` of them."""
        data = self.data(arm)
        split = data.test if data.test is not None and len(data.test) else data.val
        images, labels = split.images, split.labels
        if limit is not None:
            images, labels = images[:limit], labels[:limit]
        return images.float() / 255.0, labels, data


def curves_figure(results: Results, arms: Sequence[str], series: str = "val_accuracy", *,
                  title: str, y_label: str = "validation accuracy", percent: bool = True) -> Figure:
    """One curve per arm (those that produced a record) of ``series`` against the epoch."""
    curves = []
    for arm in arms:
        if arm in results.arms:
            x, y = results.series(arm, series)
            curves.append(Curve(arm, tuple(x), tuple(y)))
    return Figure(title, "epoch", y_label, tuple(curves), percent=percent)


@torch.no_grad()
def predict(model: nn.Module, images01: torch.Tensor, data: ImageData, batch_size: int = 1000) -> torch.Tensor:
    """Class probabilities ``(N, K)`` of ``images01`` (``[0, 1]``), normalized as ``data``'s training images."""
    out = []
    for start in range(0, len(images01), batch_size):
        x = normalize(images01[start:start + batch_size], data.mean, data.std)
        out.append(torch.softmax(model(x).float(), dim=1))
    return torch.cat(out) if out else torch.zeros(0, data.num_classes)


# --- plans ---------------------------------------------------------------------------------------


@dataclass
class Stage:
    """Runs trained one after another. ``arms`` maps each arm's name to its variant; or ``make(results)``
    makes them from the earlier stages' results. ``prepare(arm, model, results)`` may change a freshly
    built model (load weights). ``keep_weights``: the arms' final weights stay in the results.
    ``show``: the arms' records go to the project's runs (the comparison view)."""

    title: str
    arms: dict[str, Variant] | None = None
    make: Callable[[Results], dict[str, Variant]] | None = None
    prepare: Callable[[str, nn.Module, Results], None] | None = None
    keep_weights: bool = False
    show: bool = True


@dataclass(frozen=True)
class Experiment:
    """One item of the gallery."""

    key: str
    title: str
    #: One line: what is compared.
    summary: str
    #: A few sentences: what to watch for in the curves.
    watch: str
    #: What the literature found, with the reference.
    literature: str
    plan: Callable[[Context], list[Stage]]
    conclude: Callable[[Results], Finding]
    #: Rough minutes on a 2-core CPU: (quick, full).
    minutes: tuple[float, float] = (0.5, 3.0)


def arm(name: str, graph: Graph, config: TrainingConfig, dataset: DatasetChoice, *, sweep: str,
        train_fraction: float = 1.0, settings: dict[str, Value] | None = None,
        trainer_options: dict[str, Any] | None = None) -> Variant:
    """A :class:`Variant` named ``name`` (index set when its stage runs), with its own copy of ``graph``."""
    return Variant(0, name, dict(settings or {}), config, dataset, graph.copy(), train_fraction, sweep,
                   dict(trainer_options or {}))


# --- running -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StageStarted:
    index: int
    total: int
    title: str
    arms: tuple[str, ...]


@dataclass(frozen=True)
class Analysing:
    """The runs are done; the finding is being computed (``text`` says what)."""

    text: str


@dataclass(frozen=True)
class ExperimentFinished:
    """The end: ``finding`` (``None`` when stopped, or when it could not be computed: ``message`` says why)."""

    key: str
    finding: Finding | None
    stopped: bool
    message: str = ""


ExperimentEvent = SweepEvent | StageStarted | Analysing | ExperimentFinished


class _CachedLoader:
    """Loads each (dataset, hold-out, seed) once per experiment (two kept: stages alternate two sets)."""

    def __init__(self, loader: Callable[[DatasetChoice, TrainingConfig], ImageData]) -> None:
        self.loader = loader
        self.cache: dict[str, ImageData] = {}

    def __call__(self, choice: DatasetChoice, config: TrainingConfig) -> ImageData:
        key = f"{choice.model_dump_json()}|{config.val_fraction}|{config.seed}"
        if key not in self.cache:
            if len(self.cache) >= 2:
                self.cache.pop(next(iter(self.cache)))
            self.cache[key] = self.loader(choice, config)
        return self.cache[key]


class ExperimentRun:
    """Runs ``experiment`` in ``context``: :meth:`run` is the generator of events.

    Arms are numbered across stages (``VariantEvent.index``), so a GUI can keep one
    list of runs. ``device`` and ``step_event_every`` go to every trainer.

    Each arm's record keeps the weights of its epochs (``RunHistory.epochs``: its start and the end of every
    epoch), ``snapshot_budget_mb`` for each stage's arms together (shared evenly; 0 keeps none), so that
    :func:`~.arms.arms_project` opens the arms side by side at any epoch.
    """

    def __init__(self, experiment: Experiment, context: Context, *, device: str | None = None,
                 step_event_every: int | None = None,
                 data_loader_fn: Callable[[DatasetChoice, TrainingConfig], ImageData] | None = None,
                 snapshot_budget_mb: int = DEFAULT_SNAPSHOT_BUDGET_MB) -> None:
        self.experiment = experiment
        self.snapshot_budget_mb = max(0, snapshot_budget_mb)
        self.context = context
        self.options: dict[str, Any] = {"device": device, "step_event_every": step_event_every}
        self.results = Results(context, loader=_CachedLoader(data_loader_fn or default_data_loader))
        self._lock = threading.Lock()
        self._sweep: Sweep | None = None
        self._stop = False
        #: Arm names in the order they run (index = VariantEvent.index).
        self.arm_names: list[str] = []
        #: Whether each arm's record is shown (by index).
        self.shown: list[bool] = []

    def stop(self) -> None:
        with self._lock:
            self._stop = True
            if self._sweep is not None:
                self._sweep.stop()

    def run(self) -> Iterator[ExperimentEvent]:
        key = self.experiment.key
        try:
            stages = self.experiment.plan(self.context)
        except (ExperimentError, DatasetError, ValueError) as exc:  # pydantic's ValidationError is a ValueError
            yield ExperimentFinished(key, None, False, f"the experiment cannot be set up: {_reason(exc)}")
            return
        for number, stage in enumerate(stages):
            if self._stop:
                break
            try:
                arms = stage.arms if stage.arms is not None else stage.make(self.results)  # type: ignore[misc]
            except Exception as exc:  # noqa: BLE001 - a stage that cannot be made ends the experiment with a message
                log.warning("experiment %s, stage %r could not be made", key, stage.title, exc_info=True)
                yield ExperimentFinished(key, None, False, f"{stage.title}: {_reason(exc)}")
                return
            offset = len(self.arm_names)
            variants = []
            for i, (name, variant) in enumerate(arms.items()):
                variant.index = offset + i
                variant.name = f"{self.experiment.title}: {name}"[:200]
                variants.append(variant)
                self.results.variants[name] = variant
                self.arm_names.append(name)
                self.shown.append(stage.show)
            yield StageStarted(number, len(stages), stage.title, tuple(arms))
            prepare = None
            if stage.prepare is not None:
                hook = stage.prepare

                def prepare(variant: Variant, model: nn.Module, hook=hook) -> None:
                    hook(self.arm_names[variant.index], model, self.results)  # the arm's name, not the record's

            budget = self.snapshot_budget_mb * MB // max(1, len(variants))
            sweep = Sweep(variants, self.results.loader, keep_weights=stage.keep_weights, prepare_model=prepare,
                          epochs_budget_bytes=budget, **self.options)
            with self._lock:
                self._sweep = sweep
                if self._stop:
                    sweep.stop()
            try:
                for event in sweep.run():
                    if isinstance(event, VariantFinished):
                        self.results.arms[self.arm_names[event.index]] = event
                    if isinstance(event, SweepFinished):
                        continue  # one ExperimentFinished ends the whole run
                    yield event
            finally:
                with self._lock:
                    self._sweep = None
        if self._stop:
            yield ExperimentFinished(key, None, True, "stopped")
            return
        if not any(f.outcome != "failed" for f in self.results.arms.values()):
            first = next(iter(self.results.arms.values()), None)
            why = first.message if first is not None else "there was nothing to run"
            yield ExperimentFinished(key, None, False, f"no run finished: {why}")
            return
        yield Analysing(f"{self.experiment.title}: computing the result")
        try:
            finding = self.experiment.conclude(self.results)
        except Exception as exc:  # noqa: BLE001 - e.g. out of memory in an attack sweep: a message, not a traceback
            log.warning("experiment %s: the finding could not be computed", key, exc_info=True)
            yield ExperimentFinished(key, None, False, f"the result could not be computed: {_reason(exc)}")
            return
        if self._stop:  # Stop pressed while the result was computed
            yield ExperimentFinished(key, None, True, "stopped")
            return
        yield ExperimentFinished(key, finding, False)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, KeyError):
        return f"the run {exc.args[0]!r} did not finish" if exc.args else "a run did not finish"
    if isinstance(exc, torch.OutOfMemoryError):
        return "out of memory: try the quick scale, or close other programs"
    text = " ".join(str(exc).split())[:300]
    known = isinstance(exc, ExperimentError | DatasetError | ValueError)
    return text if known and text else f"{type(exc).__name__}: {text}" if text else type(exc).__name__


__all__ = [
    "SCALES", "Analysing", "Context", "Curve", "Experiment", "ExperimentError", "ExperimentEvent",
    "ExperimentFinished", "ExperimentRun", "Figure", "Finding", "Results", "Scale", "Stage", "StageStarted",
    "arm", "curves_figure", "predict",
]

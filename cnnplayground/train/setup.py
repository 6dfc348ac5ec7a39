"""Putting a run together: fit a network to a dataset, record a run in a project.

Shared by the command line and the GUI, so both refuse the same mistakes with
the same words.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import numpy as np

from ..core.builder import BuildError, GraphModule, build
from ..core.graph import Graph
from ..core.inference import infer
from ..core.shapes import format_shape
from ..data.base import ImageData
from ..io.project_schema import RunHistory, Series
from .config import TrainingConfig
from .events import EpochFinished, StepFinished
from .trainer import TrainingSetupError


def adapt_input(graph: Graph, data: ImageData) -> Graph:
    """A copy of ``graph`` whose Input layer takes ``data``'s image shape.

    Used for presets, which are drawn for one input size but work on others.
    """
    g = graph.copy()
    c, h, w = data.input_shape
    for node in g.input_nodes():
        g.set_params(node.id, {"channels": c, "height": h, "width": w})
    return g


def build_for_data(graph: Graph, data: ImageData) -> GraphModule:
    """Build ``graph`` after checking it takes ``data``'s images and predicts its classes."""
    result = infer(graph)
    if not result.ok:
        raise TrainingSetupError(f"the network is not valid: {result.first_error()}")
    if result.input_shape != data.input_shape:
        raise TrainingSetupError(
            f"the network takes {format_shape(result.input_shape)} images but {data.name} has "
            f"{format_shape(data.input_shape)}: change the Input layer"
        )
    out = result.output_shape
    if out != (data.num_classes,):
        raise TrainingSetupError(
            f"the network outputs {format_shape(out)} values but {data.name} has {data.num_classes} classes: "
            f"end with Linear({data.num_classes})"
        )
    try:
        return build(graph, result=result)
    except BuildError as exc:  # pragma: no cover - infer().ok already checked
        raise TrainingSetupError(str(exc)) from None


#: Per-step curves are stored with at most this many points (bucket means beyond it).
MAX_STEP_POINTS = 20_000


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


def _bucketed(x: list[float], y: list[float], limit: int) -> tuple[list[float], list[float]]:
    """At most ``limit`` points: means of equal runs of consecutive points (NaNs ignored)."""
    if len(x) <= limit:
        return x, y
    edges = np.linspace(0, len(x), limit + 1).astype(int)
    xs, ys = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    finite = np.isfinite(ys)
    sums = np.add.reduceat(np.where(finite, ys, 0.0), edges[:-1])
    counts = np.add.reduceat(finite.astype(float), edges[:-1])
    means = np.divide(sums, counts, out=np.full(limit, np.nan), where=counts > 0)
    return xs[edges[1:] - 1].tolist(), [float(v) if np.isfinite(v) else None for v in means]


def run_record(
    name: str,
    config: TrainingConfig,
    epochs: list[EpochFinished],
    steps: list[StepFinished] | None = None,
    *,
    dataset: str = "",
    started: datetime | None = None,
    network: Graph | None = None,
) -> RunHistory:
    """A project's record of one run: its settings and per-epoch (and per-step) curves.

    Settings are the training config flattened to scalars, plus ``dataset``,
    ``steps_per_epoch`` and (given ``network``) :func:`network_description`.
    Per-step loss and accuracy keep at most :data:`MAX_STEP_POINTS` points. ``epoch_seconds``
    holds each epoch's duration (its sum is the run's training time; older project files lack it).
    """
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
            xs, ys = _bucketed(x_steps, values, MAX_STEP_POINTS)
            series[key] = Series(x=xs, y=ys)
    when = (started or datetime.now(UTC)).isoformat(timespec="seconds")
    return RunHistory(name=name, started=when, settings=settings, series=series)

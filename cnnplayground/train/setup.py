"""Putting a run together: fit a network to a dataset, record a run in a project.

Shared by the command line and the GUI, so both refuse the same mistakes with
the same words.
"""

from __future__ import annotations

from datetime import UTC, datetime

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


def run_record(
    name: str,
    config: TrainingConfig,
    epochs: list[EpochFinished],
    steps: list[StepFinished] | None = None,
    *,
    dataset: str = "",
    started: datetime | None = None,
) -> RunHistory:
    """A project's record of one run: its settings and per-epoch (and per-step) curves."""
    settings: dict[str, int | float | bool | str] = {}
    for key, value in config.model_dump(mode="json").items():
        if isinstance(value, dict):
            settings.update({f"{key}.{k}": v for k, v in value.items() if isinstance(v, int | float | bool | str)})
        elif isinstance(value, int | float | bool | str):
            settings[key] = value
    if dataset:
        settings["dataset"] = dataset
    x = [float(e.epoch) for e in epochs]
    series = {
        "train_loss": Series(x=x, y=[e.train_loss for e in epochs]),
        "train_accuracy": Series(x=x, y=[e.train_accuracy for e in epochs]),
        "val_loss": Series(x=x, y=[e.val_loss for e in epochs]),
        "val_accuracy": Series(x=x, y=[e.val_accuracy for e in epochs]),
        "learning_rate": Series(x=x, y=[e.learning_rate for e in epochs]),
    }
    if steps:
        series["step_loss"] = Series(x=[float(s.step) for s in steps], y=[s.loss for s in steps])
    when = (started or datetime.now(UTC)).isoformat(timespec="seconds")
    return RunHistory(name=name, started=when, settings=settings, series=series)

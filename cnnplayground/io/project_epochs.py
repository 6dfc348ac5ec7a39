"""The weights of each run's epochs inside a ``.cnnp`` archive, and the model at (run, epoch).

Entries, for the ``n``-th run of the saved history (1-based, as the runs are named "run n")::

    runs/<n>/network.json             the run's network (Graph.to_dict: the canvas may have changed since)
    runs/<n>/epoch_<k>.safetensors    its weights after epoch k (0: before the first step), as weights.safetensors

Saving writes the epochs that fit ``training.snapshot_budget_mb``
(:func:`~cnnplayground.project.epochs.within_budget`); reading checks every entry name, the run it names,
the total declared size and count, each network as the project's own graph is checked, and each
snapshot's safetensors header against that network (built on the ``meta`` device) before any tensor data
is inflated (:func:`~.project_archive.read_weights`). Any problem is one :class:`ProjectError`.
"""

from __future__ import annotations

import json
import re
import zipfile
from collections.abc import Callable, Iterator
from typing import Any

import torch
from pydantic import ValidationError

from ..core.graph import Graph, GraphError
from ..core.inference import infer
from ..project import Project, RunHistory
from ..project.epochs import MAX_EPOCH, MAX_SNAPSHOTS, MB, RunEpochs, within_budget
from .project_archive import WEIGHTS_ENTRY, read_weights
from .project_schema import GraphModel, ProjectError, describe_validation_error, parse_json

__all__ = ["EPOCH_ENTRY", "NETWORK_ENTRY", "saved_epochs", "snapshot_model", "snapshot_weights", "stored_epochs"]

NETWORK_ENTRY = "runs/{run}/network.json"
EPOCH_ENTRY = "runs/{run}/epoch_{epoch}.safetensors"
_NUMBER = r"(0|[1-9][0-9]{0,6})"
_ENTRY = re.compile(rf"runs/{_NUMBER}/(?:network\.json|epoch_{_NUMBER}\.safetensors)")


# --- the API -------------------------------------------------------------------------------


def stored_epochs(project: Project, run: int) -> list[int]:
    """The epochs whose weights run ``run`` (an index into ``project.history``) keeps, in order."""
    epochs = _run(project, run).epochs
    return epochs.epochs() if epochs is not None else []


def snapshot_weights(project: Project, run: int, epoch: int) -> dict[str, torch.Tensor]:
    """The state dict of run ``run`` (an index into ``project.history``) after ``epoch`` (0: its start).

    The tensors are the stored ones (do not change them in place). :class:`ProjectError` names the
    epochs there are when ``epoch`` is not stored.
    """
    record = _run(project, run)
    epochs = record.epochs
    if epochs is None or epoch not in epochs.weights:
        there = ", ".join(map(str, epochs.epochs())) if epochs is not None and epochs.weights else "none"
        raise ProjectError(f"{record.name} keeps no weights of epoch {epoch} (stored epochs: {there})")
    return epochs.weights[epoch]


def snapshot_model(project: Project, run: int, epoch: int) -> torch.nn.Module:
    """The run's own network (its graph, not the canvas's) with the weights of ``epoch``, in eval mode."""
    from ..core.builder import build

    weights = snapshot_weights(project, run, epoch)
    graph = _run(project, run).epochs.graph  # type: ignore[union-attr]  # snapshot_weights found them
    with torch.device("meta"):
        model = build(graph)
    model.load_state_dict(weights, assign=True)
    return model.eval()


def _run(project: Project, run: int) -> RunHistory:
    if not 0 <= run < len(project.history):
        count = len(project.history)
        raise ProjectError(f"there is no run {run + 1}: the project has {count} run{'s' * (count != 1)}")
    return project.history[run]


# --- writing -------------------------------------------------------------------------------


def saved_epochs(project: Project) -> list[RunEpochs | None]:
    """Per run of ``project.history``, the epochs a save writes (within the project's budget)."""
    runs = [(r.epochs, r.kept_epoch or r.best_epoch) if r.epochs is not None and r.epochs.weights else None
            for r in project.history]
    keep = within_budget(runs, project.training.snapshot_budget_mb * MB)
    return [run[0].only(k) if run is not None and k else None for run, k in zip(runs, keep, strict=True)]


def epoch_entries(project: Project, check: Callable[[Graph, dict[str, torch.Tensor]], None]) -> \
        Iterator[tuple[str, Callable[[], bytes]]]:
    """``(entry name, bytes maker)`` of every saved epoch and network; each run's weights checked first
    (``check(graph, state)`` raises :class:`ProjectError`), so nothing is written that cannot be read."""
    import safetensors.torch

    selected = saved_epochs(project)
    for run in selected:
        if run is not None:
            for state in run.weights.values():
                check(run.graph, state)
    for n, run in enumerate(selected, 1):
        if run is None:
            continue
        network = json.dumps(run.graph.to_dict(), separators=(",", ":")).encode("utf-8")

        def network_bytes(network: bytes = network) -> bytes:
            return network

        yield NETWORK_ENTRY.format(run=n), network_bytes
        for epoch, state in run.weights.items():
            def encode(state: dict[str, torch.Tensor] = state) -> bytes:
                tensors = {k: v.detach().to("cpu").contiguous() for k, v in state.items()}
                return safetensors.torch.save(tensors, metadata={"format": "pt"})

            yield EPOCH_ENTRY.format(run=n, epoch=epoch), encode


# --- reading -------------------------------------------------------------------------------


def is_epoch_entry(name: str) -> bool:
    return _ENTRY.fullmatch(name) is not None


def read_epochs(zf: zipfile.ZipFile, project: Project, read_json: Callable[[zipfile.ZipInfo], bytes],
                expected_of: Callable[[Graph], dict[str, torch.Tensor]], max_bytes: int, max_params: int) -> None:
    """Attach the epochs stored in ``zf`` to ``project.history``'s records (see the module docstring)."""
    runs: dict[int, dict[str, Any]] = {}
    for info in zf.infolist():
        match = _ENTRY.fullmatch(info.filename)
        if match is None:
            continue
        n, epoch = int(match.group(1)), match.group(2)
        if not 1 <= n <= len(project.history):
            raise ProjectError(f"the project archive holds {info.filename!r}, but the project has no run {n}")
        entry = runs.setdefault(n, {"network": None, "epochs": {}})
        if epoch is None:
            entry["network"] = info
        elif int(epoch) > MAX_EPOCH:
            raise ProjectError(f"the project archive holds {info.filename!r}: epochs go up to {MAX_EPOCH:,}")
        else:
            entry["epochs"][int(epoch)] = info
    count = sum(len(r["epochs"]) for r in runs.values())
    if count > MAX_SNAPSHOTS:
        raise ProjectError(f"the project archive holds the weights of {count:,} epochs; at most {MAX_SNAPSHOTS:,} "
                           "are allowed")
    total = sum(i.file_size for r in runs.values() for i in r["epochs"].values())
    if total > max_bytes:
        raise ProjectError(f"the weights of the runs' epochs in the archive are {total:,} bytes; at most "
                           f"{max_bytes:,} are allowed")
    for n, entry in sorted(runs.items()):
        if not entry["epochs"]:
            continue
        network = NETWORK_ENTRY.format(run=n)
        if entry["network"] is None:
            raise ProjectError(f"the project archive holds the epochs of run {n} but not {network}")
        graph = _read_network(read_json(entry["network"]), network, max_params)
        expected = expected_of(graph)
        weights: dict[int, dict[str, torch.Tensor]] = {}
        for epoch, info in sorted(entry["epochs"].items()):
            try:
                with zf.open(info) as f:
                    weights[epoch] = read_weights(f, info.file_size, expected)
            except ProjectError as exc:
                text = str(exc)
                raise ProjectError(text.replace(WEIGHTS_ENTRY, info.filename, 1) if text.startswith(WEIGHTS_ENTRY)
                                   else f"{info.filename}: {text}") from None
        project.history[n - 1].keep_epochs(RunEpochs(graph, weights))


def _read_network(raw: bytes, name: str, max_params: int) -> Graph:
    """A run's network from its entry, checked as the project's own graph is."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProjectError(f"{name} is not UTF-8 text (byte {exc.start})") from None
    doc = parse_json(text, name)
    try:
        model = GraphModel.model_validate(doc, strict=True)
    except ValidationError as exc:
        raise ProjectError(f"{name}: " + describe_validation_error(exc.errors(include_url=False))) from None
    try:
        graph = Graph.from_dict(model.model_dump())
    except GraphError as exc:
        raise ProjectError(f"{name}: {exc}") from None
    total = infer(graph).total_params
    if total > max_params:
        raise ProjectError(f"{name}: the network has {total:,} parameters; projects are limited to {max_params:,}")
    return graph

"""A project in memory: the network, its settings, the dataset, the runs and the trained weights.

Plain data: the file format that stores it is :mod:`cnnplayground.io.project`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from ..core.graph import Graph
from .history import RunHistory
from .settings import DatasetChoice, TrainingConfig

if TYPE_CHECKING:
    import torch


def now_iso() -> str:
    """Now, as an ISO 8601 timestamp in UTC to the second."""
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(eq=False)
class Project:
    """A project in memory.

    ``weights`` is the trained model's ``state_dict`` (keys
    ``"layers.<node id>.<param>"``, CPU tensors) or ``None`` when untrained.
    ``created`` and ``modified`` are ISO 8601 timestamps (UTC when made here).
    """

    graph: Graph = field(default_factory=Graph)
    name: str = "Untitled"
    dataset: DatasetChoice = field(default_factory=DatasetChoice)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    history: list[RunHistory] = field(default_factory=list)
    weights: dict[str, torch.Tensor] | None = None
    created: str = field(default_factory=now_iso)
    modified: str = field(default_factory=now_iso)

    @classmethod
    def new(
        cls,
        graph: Graph | None = None,
        *,
        name: str = "Untitled",
        dataset: DatasetChoice | None = None,
        training: TrainingConfig | None = None,
    ) -> Project:
        """A fresh project (empty graph and default settings unless given), created now."""
        now = now_iso()
        return cls(
            graph=graph if graph is not None else Graph(),
            name=name,
            dataset=dataset if dataset is not None else DatasetChoice(),
            training=training if training is not None else TrainingConfig(),
            created=now,
            modified=now,
        )

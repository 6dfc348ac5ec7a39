"""The project description: the training settings, the dataset choice, the run history and
:class:`Project`, which holds them with the network.

pydantic and the standard library only (no torch, no Qt): everything that reads, writes,
trains or draws a project builds on this package, never the other way round.
"""

from .history import RunHistory, Series, run_record
from .project import Project
from .settings import AugmentConfig, DatasetChoice, TrainingConfig

__all__ = ["AugmentConfig", "DatasetChoice", "Project", "RunHistory", "Series", "TrainingConfig", "run_record"]

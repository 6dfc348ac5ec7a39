"""An experiment's arms as a project: one run per arm, each with the weights of its epochs.

The arms of an :class:`~.base.ExperimentRun` keep their epochs (``RunHistory.epochs``: the weights they
started from, epoch 0, and the end of every epoch, each with the arm's own network: arms with and without
batch norm differ). :func:`arms_project` puts them into one project, so that the epoch slider and
Compare of the Inspect panels show the arms side by side at any epoch: the window's "Open in New Window"
of the experiments dialog and ``cnnplayground experiment KEY --save-project FILE.cnnp`` both use it.

The project's network, dataset and training settings are the first arm's, and its weights the ones that
arm ended with, so the panels open on a trained network. Qt-free.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..project import Project, RunHistory
from ..train.sweep import Variant
from .base import DEFAULT_SNAPSHOT_BUDGET_MB, ExperimentRun

__all__ = ["arms_project", "experiment_project"]


def arms_project(arms: Sequence[tuple[RunHistory, Variant | None]], name: str,
                 snapshot_budget_mb: int = DEFAULT_SNAPSHOT_BUDGET_MB) -> Project:
    """A project whose runs are ``arms``' records (copies sharing the stored epochs, which nobody changes),
    in order; network, dataset and settings of the first arm with a variant, ``snapshot_budget_mb`` the
    room its file gives the epochs (all runs together)."""
    setup = next((variant for _record, variant in arms if variant is not None), None)
    project = Project.new(name=name)
    if setup is not None:
        project = Project.new(setup.graph.copy(), name=name, dataset=setup.dataset.model_copy(deep=True),
                              training=setup.config.model_copy(update={"snapshot_budget_mb": snapshot_budget_mb}))
    else:
        project.training = project.training.model_copy(update={"snapshot_budget_mb": snapshot_budget_mb})
    for record, _variant in arms:
        copy = record.model_copy(deep=True)
        copy.keep_epochs(record.epochs)
        project.history.append(copy)
    project.weights = _final_weights(project)
    return project


def experiment_project(run: ExperimentRun) -> Project:
    """The arms of a finished (or stopped) ``run`` that are shown (helper runs are not) and trained, in the
    order they ran; named after the experiment."""
    arms: list[tuple[RunHistory, Variant | None]] = []
    for index, name in enumerate(run.arm_names):
        finished = run.results.arms.get(name)
        if finished is None or not run.shown[index] or not any(len(s.y) for s in finished.record.series.values()):
            continue
        arms.append((finished.record, run.results.variants.get(name)))
    return arms_project(arms, run.experiment.title, run.snapshot_budget_mb)


def _final_weights(project: Project) -> dict[str, torch.Tensor] | None:
    """The weights the first run ended with (its kept epoch, else its last stored), when it keeps them and
    its network is the project's."""
    if not project.history:
        return None
    first = project.history[0]
    epochs = first.epochs
    if epochs is None or not epochs.weights or epochs.graph.to_dict() != project.graph.to_dict():
        return None
    kept = first.kept_epoch if first.kept_epoch in epochs.weights else max(epochs.weights)
    return dict(epochs.weights[kept])

"""The window's runs keep their epochs (issue 24): epoch 0 as the run starts, then every epoch's snapshot,
recorded with the run (one undo step) and kept by the autosave copy."""

from __future__ import annotations

import torch

from cnnplayground.core.graph import Graph
from cnnplayground.core.presets import get_preset
from cnnplayground.io.project import load_project, save_project
from cnnplayground.io.project_epochs import snapshot_weights, stored_epochs
from cnnplayground.train.events import WeightsSnapshot
from cnnplayground.train.setup import build_for_data
from cnnplayground.ui.shell.autosave import copy_project

from .test_training_dock import make_dock, run_to_end


def test_a_run_in_the_window_keeps_epoch_0_and_every_epoch(qtbot, tmp_path):
    dock = make_dock(qtbot, get_preset("lenet5").factory(), seed=3)
    doc = dock.document
    end, events = run_to_end(qtbot, dock)
    run = doc.project.history[0]
    assert stored_epochs(doc.project, 0) == [0, 1, 2]
    # epoch 0: the network built from the run's seed, before any step
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(3)
        initial = build_for_data(Graph.from_dict(dock._graph_at_start), dock.data, doc.project.training).state_dict()
    assert all(torch.equal(snapshot_weights(doc.project, 0, 0)[k], v) for k, v in initial.items())
    # epochs 1 and 2: the trainer's snapshots at their ends
    for snap in (e for e in events if isinstance(e, WeightsSnapshot)):
        assert all(torch.equal(snapshot_weights(doc.project, 0, snap.epoch)[k], v) for k, v in snap.state.items())
    doc.undo_stack.undo()
    doc.undo_stack.redo()  # the record comes back with its epochs
    assert doc.project.history[0] is run and stored_epochs(doc.project, 0) == [0, 1, 2]
    # the autosave copy (copy_project, written by save_project) keeps them
    save_project(copy_project(doc.project), tmp_path / "autosave.cnnp")
    assert stored_epochs(load_project(tmp_path / "autosave.cnnp"), 0) == [0, 1, 2]

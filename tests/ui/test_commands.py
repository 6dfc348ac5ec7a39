"""Undo commands: merging of parameter edits, validation before the stack runs them."""

from __future__ import annotations

import pytest

from cnnplayground.core.graph import GraphError
from cnnplayground.ui.document import commands
from cnnplayground.ui.document.commands import RemoveNode, RenameNode, SetParams
from cnnplayground.ui.document.document import Document


@pytest.fixture
def clock(monkeypatch):
    now = [100.0]
    monkeypatch.setattr(commands.time, "monotonic", lambda: now[0])
    return now


def test_quick_edits_of_one_parameter_are_one_step(document, clock):
    g = document.graph
    document.push(SetParams(g, "conv1", {"out_channels": 1}))
    clock[0] += 0.3
    document.push(SetParams(g, "conv1", {"out_channels": 12}))
    assert document.undo_stack.count() == 1 and g.nodes["conv1"].params["out_channels"] == 12
    document.undo_stack.undo()
    assert g.nodes["conv1"].params["out_channels"] == 16


def test_edits_apart_in_time_or_of_other_parameters_are_separate_steps(document, clock):
    g = document.graph
    document.push(SetParams(g, "conv1", {"kernel_size": 5}))
    clock[0] += 10
    document.push(SetParams(g, "conv1", {"kernel_size": 7}))
    document.push(SetParams(g, "conv1", {"stride": 2}))
    assert document.undo_stack.count() == 3
    document.undo_stack.undo()
    document.undo_stack.undo()
    assert g.nodes["conv1"].params["kernel_size"] == 5


def test_an_edit_back_to_the_start_leaves_no_step(document, clock):
    g = document.graph
    document.push(SetParams(g, "conv1", {"kernel_size": 5}))
    document.push(SetParams(g, "conv1", {"kernel_size": 3}))
    assert document.undo_stack.count() == 0 and not document.modified


def test_invalid_commands_are_refused_before_reaching_the_stack(document):
    g = document.graph
    with pytest.raises(GraphError, match="layer name '3bad' is not valid"):
        RenameNode(g, "conv1", "3bad")
    with pytest.raises(GraphError, match="a layer named 'input1' already exists"):
        RenameNode(g, "conv1", "input1")
    with pytest.raises(GraphError, match="no layer named 'ghost'"):
        RemoveNode(g, "ghost")
    with pytest.raises(GraphError, match="kernel_size must be at least 1"):
        SetParams(g, "conv1", {"kernel_size": 0})
    assert document.undo_stack.count() == 0


def test_the_first_save_names_an_untitled_project_after_its_file(qapp, tmp_path):
    document = Document()
    assert document.project.name == "Untitled"
    document.save(tmp_path / "my net.cnnp")
    assert document.project.name == "my net" and document.title == "my net.cnnp"
    from cnnplayground.io.project import load_project

    assert load_project(tmp_path / "my net.cnnp").name == "my net"

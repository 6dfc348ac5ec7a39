"""The document owns every change of the project: each change announces itself once, undo puts it back exactly."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import torch

import cnnplayground
from cnnplayground.project import DatasetChoice, Project, TrainingConfig, run_record
from cnnplayground.ui.document.commands import RecordRun, SetWeights
from cnnplayground.ui.document.document import Document

SIGNALS = ("graph_replaced", "inference_updated", "modified_changed", "path_changed", "settings_changed",
           "history_changed")


def announced(document: Document) -> list[str]:
    """The names of the document's signals as they are emitted, in order."""
    seen: list[str] = []
    for name in SIGNALS:
        getattr(document, name).connect(lambda *_, name=name: seen.append(name))
    return seen


def weights(seed: int) -> dict[str, torch.Tensor]:
    """A ``state_dict`` for the fixture's ``conv1`` (16 filters, 3×3 over 1 channel)."""
    g = torch.Generator().manual_seed(seed)
    return {"layers.conv1.weight": torch.randn(16, 1, 3, 3, generator=g),
            "layers.conv1.bias": torch.randn(16, generator=g)}


def same_weights(a, b) -> bool:
    return a is None and b is None or (a is not None and b is not None and a.keys() == b.keys()
                                       and all(torch.equal(a[k], b[k]) for k in a))


def test_settings_change_through_the_document_with_one_signal_each(document):
    seen = announced(document)
    training, dataset = TrainingConfig(epochs=7), DatasetChoice(name="synthetic-rgb")
    document.set_training(training)
    assert document.project.training == training and document.project.dataset == DatasetChoice()
    document.set_dataset(dataset)
    assert document.project.training == training and document.project.dataset == dataset
    document.set_settings(TrainingConfig(), DatasetChoice())
    assert document.project.training == TrainingConfig() and document.project.dataset == DatasetChoice()
    assert seen == ["settings_changed"] * 3


def test_weights_and_runs_change_through_the_document_with_one_signal_each(document):
    seen = announced(document)
    first, second = weights(1), weights(2)
    run1, run2, run0 = (run_record(name, TrainingConfig(), []) for name in ("run 1", "run 2", "run 0"))
    document.set_weights(first)
    assert document.project.weights is first
    assert document.add_run(run1, second) == 0
    assert document.project.history == [run1] and document.project.weights is second
    assert document.add_run(run2, second) == 1 and document.add_run(run0, first, index=0) == 0
    assert [r.name for r in document.project.history] == ["run 0", "run 1", "run 2"]
    history = document.project.history  # changed in place: a view holding the list sees the changes
    assert document.remove_run(1, None) is run1
    assert document.project.history is history and [r.name for r in history] == ["run 0", "run 2"]
    assert document.project.weights is None
    assert seen == ["history_changed"] * 5
    assert document.undo_stack.count() == 0  # the methods are not undo steps: commands call them


def test_importing_weights_is_undone_and_redone_exactly(document):
    before = weights(1)
    document.set_weights(before)
    document.add_run(run_record("run 1", TrainingConfig(), []), before)
    history = list(document.project.history)
    seen = announced(document)
    document.push(SetWeights(document, weights(2), "Import weights"))
    assert same_weights(document.project.weights, weights(2)) and document.modified
    document.undo_stack.undo()
    assert document.project.weights is before and same_weights(document.project.weights, weights(1))
    assert document.project.history == history and not document.modified
    document.undo_stack.redo()
    assert same_weights(document.project.weights, weights(2)) and document.project.history == history
    assert [s for s in seen if s != "modified_changed"] == ["history_changed"] * 3


@pytest.mark.parametrize("keeps_weights", [False, True], ids=["the run's weights", "the weights it had"])
def test_recording_a_run_is_undone_and_redone_exactly(document, keeps_weights):
    before = weights(1)
    document.push(SetWeights(document, before, "Import weights"))
    document.push(RecordRun(document, before, run_record("run 1", TrainingConfig(), [])))
    history, stored = list(document.project.history), document.project.weights
    record = run_record("run 2", TrainingConfig(epochs=3), [])
    after = before if keeps_weights else weights(2)
    seen = announced(document)
    document.push(RecordRun(document, after, record))
    assert document.project.history == [*history, record] and document.project.weights is after
    assert document.undo_stack.undoText() == "Training run: run 2"
    document.undo_stack.undo()
    assert document.project.history == history and document.project.weights is stored
    assert same_weights(document.project.weights, weights(1))
    document.undo_stack.redo()
    assert document.project.history == [*history, record] and same_weights(document.project.weights, after)
    assert [s for s in seen if s != "modified_changed"] == ["history_changed"] * 3
    for _ in range(3):
        document.undo_stack.undo()
    assert document.project.history == [] and document.project.weights is None


def test_a_recovered_project_is_taken_over_unsaved(qapp, tmp_path):
    document = Document()
    project = Project.new(name="Lost work")
    seen = announced(document)
    document.recover(project, tmp_path / "lost.cnnp")
    assert document.project is project and document.path == tmp_path / "lost.cnnp"
    assert document.modified and document.undo_stack.count() == 0
    assert seen == ["graph_replaced", "path_changed", "modified_changed", "inference_updated", "modified_changed"]


def _after_project(node: ast.expr) -> str | None:
    """``history.append`` for ``self.document.project.history.append`` (None without a ``.project``)."""
    names = []
    while isinstance(node, ast.Attribute | ast.Subscript):
        if isinstance(node, ast.Attribute):
            if node.attr == "project" and names:
                return ".".join(reversed(names))
            names.append(node.attr)
        node = node.value
    return None


def _project_changes_outside_the_document(source: str) -> list[str]:
    """``x.project.<field> = ...``, ``x.project.history.append(...)`` and the like, and
    ``document.<signal>.emit()``: the changes and announcements only the document may make."""
    found = []
    mutators = {"append", "insert", "remove", "pop", "clear", "extend", "update", "sort", "reverse", "setdefault"}
    for node in ast.walk(ast.parse(source)):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(
            node, ast.AugAssign | ast.AnnAssign) else []
        for t in targets:
            if (changed := _after_project(t)) is not None:
                found.append(f"line {node.lineno}: assigns project.{changed}")
        if isinstance(node, ast.Call) and isinstance(f := node.func, ast.Attribute):
            if f.attr in mutators and (changed := _after_project(f)) is not None:
                found.append(f"line {node.lineno}: calls project.{changed}()")
            owner = f.value
            if f.attr == "emit" and isinstance(owner, ast.Attribute) and owner.attr in SIGNALS:
                holder = owner.value
                if (holder.attr if isinstance(holder, ast.Attribute) else getattr(holder, "id", "")) in (
                        "document", "doc", "_document"):
                    found.append(f"line {node.lineno}: emits {owner.attr}")
    return sorted(found, key=lambda hit: int(hit.split(":")[0].removeprefix("line ")))


def test_only_the_document_changes_the_open_project_or_speaks_for_it():
    root = Path(cnnplayground.__file__).parent
    home = root / "ui" / "document" / "document.py"
    found = {str(p.relative_to(root)): hits for p in sorted((root / "ui").rglob("*.py")) if p != home
             for hits in [_project_changes_outside_the_document(p.read_text(encoding="utf-8"))] if hits}
    assert found == {}
    # The check sees what it looks for.
    assert _project_changes_outside_the_document(
        "self.document.project.weights = w\nself.document.project.history.append(r)\n"
        "doc.project.history[0].name = n\nself.document.history_changed.emit()\n"
        "project.history.append(r)\nself.form.settings_changed.emit()\n") == [
        "line 1: assigns project.weights", "line 2: calls project.history.append()",
        "line 3: assigns project.history.name", "line 4: emits history_changed"]

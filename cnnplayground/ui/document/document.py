"""The open project as the GUI sees it: graph, undo stack, file, live inference.

One :class:`Document` per window. Widgets never edit the graph directly: they
push undo commands (:mod:`.commands`) through :meth:`Document.push`, the
commands call the graph's edit methods, and every view redraws from the graph's
change notifications. The rest of the project (settings, dataset, runs, weights)
changes only through the document's own methods, each of which announces the
change with the document's signals; the undo commands call those too. Shape
inference runs synchronously after each structural change (about a millisecond
for ResNet-18) and is announced with ``inference_updated``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import shiboken6
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoCommand, QUndoStack

from ...core.graph import Graph
from ...core.inference import InferenceResult, infer
from ...core.text import printable
from ...io.project import load_project, save_project
from ...project import DatasetChoice, Project, RunHistory, TrainingConfig

if TYPE_CHECKING:
    import torch


class Document(QObject):
    """A project, its undo history and its file.

    Signals:
    - ``graph_replaced(graph)``: a new graph object (new/open): views rebuild.
    - ``inference_updated(result)``: shapes/params/errors changed.
    - ``modified_changed(bool)``, ``path_changed(path or None)``.
    - ``selection_hint(list[str])``: node ids a command wants selected (paste, add).
    """

    graph_replaced = Signal(object)
    inference_updated = Signal(object)
    modified_changed = Signal(bool)
    path_changed = Signal(object)
    selection_hint = Signal(list)
    #: The training settings or dataset choice changed (edit, undo, open).
    settings_changed = Signal()
    #: A run was added to or removed from the project's history, or its trained weights were replaced.
    history_changed = Signal()

    def __init__(self, project: Project | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.undo_stack = QUndoStack(self)
        self.undo_stack.cleanChanged.connect(self._on_clean_changed)
        self.project = project or Project.new(name="Untitled")
        self.path: Path | None = None
        self.result: InferenceResult = InferenceResult()
        self._attach(self.project.graph)

    def __del__(self) -> None:
        # Free the commands while every wrapper is intact. The cycle collector runs this
        # finalizer before it clears anything (PEP 442); then shiboken's tp_clear on a command
        # wrapper hands it back ownership of the C++ command the stack still holds, the wrapper
        # deletes it, and ~QUndoStack deletes it again (a crash in QUndoStack::clear).
        stack = self.__dict__.get("undo_stack")
        if stack is not None and shiboken6.isValid(stack):
            stack.blockSignals(True)  # a dying document announces nothing
            stack.clear()

    # --- state ---------------------------------------------------------------------------
    @property
    def graph(self) -> Graph:
        return self.project.graph

    @property
    def modified(self) -> bool:
        return not self.undo_stack.isClean()

    @property
    def title(self) -> str:
        """``name — file`` for the window title (Qt's ``[*]`` marks modification); a file name that is
        not UTF-8 shows its odd bytes as ``\\xff`` (Qt would drop them)."""
        return printable(self.path.name) if self.path else self.project.name

    def push(self, command: QUndoCommand) -> None:
        """Run ``command`` and put it on the undo stack."""
        self.undo_stack.push(command)

    # --- files ---------------------------------------------------------------------------
    def new(self, project: Project | None = None) -> None:
        self._replace(project or Project.new(name="Untitled"), None)

    def open(self, path: Path) -> None:
        """Load ``path``; raises :class:`~cnnplayground.io.project.ProjectError` and keeps the
        current project untouched on failure."""
        project = load_project(Path(path))
        self._replace(project, Path(path))

    def save(self, path: Path | None = None) -> Path:
        """Save to ``path`` (or the current file); raises ProjectError, leaving the old file intact."""
        target = Path(path) if path is not None else self.path
        if target is None:
            raise ValueError("no file name: use save(path)")
        if self.project.name == "Untitled":
            self.project.name = target.stem  # the first save names the project after its file
        save_project(self.project, target)
        if target != self.path:
            self.path = target
            self.path_changed.emit(target)
        self.undo_stack.setClean()
        return target

    def recover(self, project: Project, original: Path | None) -> None:
        """Take over a project restored from an autosave of ``original`` (its file, or None).

        Like :meth:`open`, except that the project counts as modified: it was never saved
        there, and Save puts it in its file.
        """
        self._replace(project, original)
        self.undo_stack.resetClean()

    # --- changes of the project besides its graph (each announces itself; undo calls these) --
    def set_settings(self, training: TrainingConfig, dataset: DatasetChoice) -> None:
        """Replace the training settings and the dataset choice (one ``settings_changed``)."""
        self.project.training, self.project.dataset = training, dataset
        self.settings_changed.emit()

    def set_training(self, training: TrainingConfig) -> None:
        """Replace the training settings (one ``settings_changed``)."""
        self.set_settings(training, self.project.dataset)

    def set_dataset(self, dataset: DatasetChoice) -> None:
        """Replace the dataset choice (one ``settings_changed``)."""
        self.set_settings(self.project.training, dataset)

    def set_weights(self, weights: dict[str, torch.Tensor] | None) -> None:
        """Replace the trained weights (a ``state_dict``, or None: untrained); one ``history_changed``."""
        self.project.weights = weights
        self.history_changed.emit()

    def add_run(self, record: RunHistory, weights: dict[str, torch.Tensor] | None, index: int | None = None) -> int:
        """Put a run into the history, at ``index`` (default: last), with the weights the project keeps
        after it (the run's own, or the ones it had); one ``history_changed``. Returns the run's index."""
        history = self.project.history
        index = len(history) if index is None else index
        history.insert(index, record)
        self.project.weights = weights
        self.history_changed.emit()
        return index

    def remove_run(self, index: int, weights: dict[str, torch.Tensor] | None) -> RunHistory:
        """Take the run at ``index`` out of the history and put ``weights`` (the ones from before it)
        back; one ``history_changed``. Returns the run."""
        record = self.project.history.pop(index)
        self.project.weights = weights
        self.history_changed.emit()
        return record

    # --- internals -----------------------------------------------------------------------
    def _replace(self, project: Project, path: Path | None) -> None:
        old = self.project.graph
        old.structure_changed.disconnect(self._on_structure_changed)
        self.project = project
        self.path = path
        self.undo_stack.clear()
        self._attach(project.graph)
        self.graph_replaced.emit(project.graph)
        self.path_changed.emit(path)
        self.modified_changed.emit(False)
        self._on_structure_changed()

    def _on_clean_changed(self, clean: bool) -> None:
        self.modified_changed.emit(not clean)

    def _attach(self, graph: Graph) -> None:
        graph.structure_changed.connect(self._on_structure_changed)
        self.result = infer(graph)

    def _on_structure_changed(self) -> None:
        self.result = infer(self.graph)
        self.inference_updated.emit(self.result)

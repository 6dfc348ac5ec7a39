"""A document freed by the cycle collector with commands on its undo stack (a crash in QUndoStack::clear)."""

from __future__ import annotations

import gc

from PySide6.QtGui import QUndoCommand

from cnnplayground.project import Project
from cnnplayground.ui.document.document import Document


class Note(QUndoCommand):
    def redo(self) -> None:
        pass

    def undo(self) -> None:
        pass


def test_a_document_collected_with_commands_on_its_stack(qapp):
    first = Note("made before the document")  # older for the collector: its wrapper is cleared first
    doc = Document(Project.new(name="t"))  # in a cycle (its graph holds its bound methods): only gc frees it
    doc.push(first)
    doc.push(Note("made after"))
    doc.undo_stack.undo()
    del first, doc
    gc.collect()

"""File → Import Model…: an existing PyTorch network on the canvas, with its weights, as one undo step.

The dialog takes the command line's SOURCE (``file.py:Class``, ``torchvision:NAME``, ``FILE.pt2``,
``FILE.onnx``), the class's keyword arguments and the input shape, and previews what the import gives
(layers, parameters, warnings) or what cannot be imported (each operation with its source line); Import is
enabled only when the whole model maps. The mapping is ``io.model_import``; the network replaces the canvas's through
:func:`replace_network`, one undoable command (undo puts the previous network and weights back).
"""

from __future__ import annotations

import json
from collections import Counter
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ...core.errors import UserError
from ..document.commands import ReplaceNetwork

if TYPE_CHECKING:  # pragma: no cover
    from ...io.model_import import ImportResult
    from ..document.document import Document
    from .main_window import MainWindow


def replace_network(document: Document, result: ImportResult) -> ReplaceNetwork:
    """One undo step that puts ``result``'s network and weights in place of the document's."""
    assert result.graph is not None
    return ReplaceNetwork(document, result.graph.to_dict(), result.weights, f"Import {result.name}")


class ImportModelDialog(QDialog):
    """SOURCE, arguments, input shape, a preview; ``imported`` holds the previewed import when it worked."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Import Model")
        self.imported: ImportResult | None = None
        self.source = QLineEdit()
        self.source.setPlaceholderText(
            "path/to/model.py:ClassName, torchvision:resnet18, model.pt2 or model.onnx")
        self.source.setToolTip("A Python file and class (the file is run: import only code you trust), "
                               "torchvision:NAME (its initial weights, nothing is downloaded), a .pt2 program "
                               "or an .onnx model")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.source, 1)
        row.addWidget(browse)
        self.args = QLineEdit()
        self.args.setPlaceholderText('{"num_classes": 10}')
        self.shape = QLineEdit()
        self.shape.setPlaceholderText("C,H,W (default: from the source)")
        form = QFormLayout()
        form.addRow("Source", row)
        form.addRow("Arguments", self.args)
        form.addRow("Input shape", self.shape)
        self.preview_button = QPushButton("Preview")
        self.preview_button.clicked.connect(self.preview)
        self.preview_text = QPlainTextEdit()
        self.preview_text.setReadOnly(True)
        self.preview_text.setPlaceholderText("Preview shows what will be imported, or what cannot be.")
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.import_button = self.buttons.addButton("Import", QDialogButtonBox.ButtonRole.AcceptRole)
        self.import_button.setEnabled(False)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        for edit in (self.source, self.args, self.shape):
            edit.textChanged.connect(self._invalidate)
            edit.returnPressed.connect(self.preview)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.preview_button, 0, Qt.AlignmentFlag.AlignLeft)
        layout.addWidget(self.preview_text, 1)
        layout.addWidget(self.buttons)
        self.resize(640, 420)

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Import Model", "",
                                              "Python files, exported programs, ONNX models (*.py *.pt2 *.onnx)")
        if path:
            self.source.setText(path if path.endswith((".pt2", ".onnx")) else f"{path}:")
            self.source.setFocus()

    def _invalidate(self) -> None:
        self.imported = None
        self.import_button.setEnabled(False)

    def preview(self) -> None:
        """Import into memory and show what it gives; enables Import when the whole model maps."""
        from ...io.model_import import import_source

        self._invalidate()
        try:
            args = json.loads(self.args.text()) if self.args.text().strip() else {}
            if not isinstance(args, dict):
                raise UserError('the arguments must be a JSON object, e.g. {"num_classes": 10}')
            shape = _shape(self.shape.text())
            QGuiApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
            try:
                result = import_source(self.source.text().strip(), args, shape)
            finally:
                QGuiApplication.restoreOverrideCursor()
        except json.JSONDecodeError as exc:
            self.preview_text.setPlainText(f"The arguments are not JSON: {exc.msg} at column {exc.colno}.")
            return
        except UserError as exc:
            self.preview_text.setPlainText(str(exc))
            return
        self.preview_text.setPlainText(preview_text(result))
        if result.ok:
            self.imported = result
            self.import_button.setEnabled(True)


def _shape(text: str) -> tuple[int, ...] | None:
    if not text.strip():
        return None
    try:
        dims = tuple(int(p) for p in text.replace("×", ",").replace("x", ",").split(","))
    except ValueError:
        raise UserError(f"the input shape must be C,H,W (three whole numbers), got {text!r}") from None
    return dims


def preview_text(result: ImportResult) -> str:
    """What the import gives (layers by kind, parameters, warnings), or each operation that cannot be imported."""
    if not result.ok:
        n = len(result.problems)
        lines = [f"{result.name} cannot be imported: {n} part{'s have' if n != 1 else ' has'} no layer on the "
                 "canvas.", ""]
        lines += [f"• {p}" for p in result.problems]
        return "\n".join(lines)
    assert result.graph is not None
    kinds = Counter(n.kind for n in result.graph.nodes.values() if n.kind != "Input")
    from ...core.shapes import format_shape

    lines = [f"{result.name}: {result.layers} layers, {result.params:,} parameters, input "
             f"{format_shape(result.input_shape)} (traced with {result.method}).",
             "Layers: " + ", ".join(f"{n} {k}" for k, n in kinds.most_common()) + ".",
             "Import replaces the network on the canvas and its weights (Undo puts them back)."]
    lines += [f"Note: {w}." for w in result.warnings]
    return "\n".join(lines)


def import_model(window: MainWindow, dialog: ImportModelDialog | None = None) -> bool:
    """File → Import Model…: the dialog, then the import as one undo step."""
    dialog = dialog or ImportModelDialog(window)
    if dialog.exec() != QDialog.DialogCode.Accepted or dialog.imported is None:
        return False
    result = dialog.imported
    window.document.push(replace_network(window.document, result))
    window.statusBar().showMessage(f"Imported {result.summary()}", 6000)
    return True

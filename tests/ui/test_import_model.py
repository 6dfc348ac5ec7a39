"""File → Import Model…: the preview says what will and what cannot be imported; the import is one undo step."""

from __future__ import annotations

import torch
from PySide6.QtWidgets import QDialog, QMessageBox

from cnnplayground.core.builder import build
from cnnplayground.core.presets import PRESETS
from cnnplayground.io.project import weights_from_module
from cnnplayground.project import Project
from cnnplayground.ui.document.document import Document
from cnnplayground.ui.shell.import_model import ImportModelDialog, import_model, replace_network

MODEL = '''
import torch
from torch import nn


class Small(nn.Module):
    def __init__(self, width: int = 4):
        super().__init__()
        self.conv = nn.Conv2d(1, width, 3)
        self.bn = nn.BatchNorm2d(width)
        self.fc = nn.Linear(width * 6 * 6, 3)

    def forward(self, x):
        return self.fc(torch.flatten(torch.relu(self.bn(self.conv(x))), 1))


class Odd(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.GRU(8, 8)

    def forward(self, x):
        return self.rnn(x)[0]
'''


def _file(tmp_path):
    path = tmp_path / "small.py"
    path.write_text(MODEL)
    return path


def test_the_preview_lists_what_will_be_imported_and_import_is_enabled(qtbot, tmp_path):
    dialog = ImportModelDialog()
    qtbot.addWidget(dialog)
    assert not dialog.import_button.isEnabled()
    dialog.source.setText(f"{_file(tmp_path)}:Small")
    dialog.args.setText('{"width": 5}')
    dialog.shape.setText("1,8,8")
    dialog.preview_button.click()
    text = dialog.preview_text.toPlainText()
    assert text.startswith("Small: 5 layers, 603 parameters, input 1×8×8 (traced with torch.fx).")
    assert "Layers: 1 Conv2d, 1 BatchNorm2d, 1 ReLU, 1 Flatten, 1 Linear." in text
    assert dialog.import_button.isEnabled() and dialog.imported is not None
    dialog.args.setText('{"width": 6}')  # any edit asks for a new preview first
    assert not dialog.import_button.isEnabled() and dialog.imported is None


def test_what_cannot_be_imported_is_listed_with_its_line_and_import_stays_disabled(qtbot, tmp_path):
    dialog = ImportModelDialog()
    qtbot.addWidget(dialog)
    dialog.source.setText(f"{_file(tmp_path)}:Odd")
    dialog.shape.setText("1,8,8")
    dialog.preview_button.click()
    lines = dialog.preview_text.toPlainText().splitlines()
    assert lines[0] == "Odd cannot be imported: 1 part has no layer on the canvas."
    assert lines[2].startswith("• small.py:23: return self.rnn(x)[0]: nn.GRU 'rnn': recurrent layers (nn.GRU)")
    assert not dialog.import_button.isEnabled()
    dialog.args.setText("{oops")
    dialog.preview_button.click()
    assert dialog.preview_text.toPlainText().startswith("The arguments are not JSON")


def test_the_import_replaces_network_and_weights_in_one_undo_step(qapp, tmp_path):
    from cnnplayground.io.model_import import import_source

    document = Document()
    graph = PRESETS["lenet5"].factory()
    old_weights = weights_from_module(build(graph))
    project = Project.new(graph, name="mine")
    project.weights = old_weights
    document.new(project)
    before = graph.to_dict()
    result = import_source(f"{_file(tmp_path)}:Small", {}, (1, 8, 8))
    document.push(replace_network(document, result))
    assert document.undo_stack.count() == 1 and document.undo_stack.undoText() == "Import Small"
    assert document.graph.to_dict() == result.graph.to_dict()
    assert document.project.weights is result.weights and document.result.ok
    net = build(document.graph)
    net.load_state_dict(document.project.weights)
    document.undo_stack.undo()
    assert document.graph.to_dict() == before and document.project.weights is old_weights
    document.undo_stack.redo()
    assert document.graph.to_dict() == result.graph.to_dict()
    assert torch.equal(document.project.weights["layers.conv.weight"], result.weights["layers.conv.weight"])


def test_file_import_model_runs_the_dialog_and_pushes_the_command(qtbot, tmp_path, monkeypatch):
    from cnnplayground.ui.shell.main_window import MainWindow

    window = MainWindow()
    qtbot.addWidget(window)
    monkeypatch.setattr(window.files, "ask_save_changes", lambda: QMessageBox.StandardButton.Discard)
    assert window.acts.import_model.text() == "Import Mo&del…"
    dialog = ImportModelDialog(window)
    dialog.source.setText(f"{_file(tmp_path)}:Small")
    dialog.shape.setText("1,8,8")
    dialog.preview()
    monkeypatch.setattr(dialog, "exec", lambda: QDialog.DialogCode.Accepted)
    assert import_model(window, dialog)
    assert set(window.document.graph.nodes) == {"input", "conv", "bn", "relu", "flatten", "fc"}
    assert window.document.undo_stack.undoText() == "Import Small"
    window.training.shutdown()

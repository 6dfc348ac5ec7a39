"""Train in the Terminal: the command line equivalent of the open project's training."""

from __future__ import annotations

import html
import os
import shlex
import subprocess
from pathlib import Path

from PySide6.QtWidgets import (
    QDialog,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from ...project import Project
from .common import close_buttons, copy_button, fixed_font


def train_command(path: Path | None, project: Project) -> str:
    """``cnnplayground train PROJECT.cnnp --epochs N`` for this file (quoted for the platform's shell)."""
    target = str(path) if path is not None else "PROJECT.cnnp"
    args = ["cnnplayground", "train", target, "--epochs", str(project.training.epochs)]
    return subprocess.list2cmdline(args) if os.name == "nt" else shlex.join(args)


class TrainCommandDialog(QDialog):
    """The command that trains the current project in a terminal, with a Copy button.

    (Training inside the window arrives with the training dock.)
    """

    def __init__(self, path: Path | None, project: Project, modified: bool, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Train in the Terminal")
        self.command = QLineEdit(train_command(path, project), self)
        self.command.setReadOnly(True)
        self.command.setFont(fixed_font())
        self.command.setMinimumWidth(520)
        cfg, data = project.training, project.dataset
        if path is None:
            first = "Save the project first (File → Save As…), then run this in a terminal:"
        elif modified:
            first = "The project has unsaved changes: save it first (File → Save), then run:"
        else:
            first = "Run this in a terminal:"
        self.note = QLabel(
            f"{first}<br><br><small>It trains on the <b>{html.escape(data.name)}</b> dataset with the project's "
            f"settings ({html.escape(cfg.optimizer)}, batch {cfg.batch_size}, learning rate {cfg.learning_rate:g}) "
            "and writes the trained network back into the file; open it here again to see the result. "
            "<code>cnnplayground train --help</code> lists every option. Training inside this window "
            "arrives with the training panel.</small>", self)
        self.note.setWordWrap(True)
        self.copy_button = copy_button(self.command.text, self)
        layout = QVBoxLayout(self)
        layout.addWidget(self.note)
        layout.addWidget(self.command)
        layout.addWidget(close_buttons(self, self.copy_button))

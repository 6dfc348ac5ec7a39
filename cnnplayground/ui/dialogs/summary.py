"""The network summary: the layer table in a fixed-width font, copyable."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QDialog,
    QLabel,
    QPlainTextEdit,
    QVBoxLayout,
    QWidget,
)

from .common import RECEPTIVE_FIELD_NOTE, close_buttons, copy_button, fixed_font


class SummaryDialog(QDialog):
    """The :func:`~cnnplayground.core.summary.summarize` table, monospace, with a Copy button."""

    def __init__(self, text: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Network Summary")
        self.text_edit = QPlainTextEdit(text, self)
        self.text_edit.setReadOnly(True)
        self.text_edit.setFont(fixed_font())
        self.text_edit.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        note = QLabel(RECEPTIVE_FIELD_NOTE, self)
        note.setWordWrap(True)
        self.copy_button = copy_button(self.text_edit.toPlainText, self)
        layout = QVBoxLayout(self)
        layout.addWidget(self.text_edit)
        layout.addWidget(note)
        layout.addWidget(close_buttons(self, self.copy_button))
        self.resize(960, 600)

"""What the help dialogs share: the fixed-width font, a Copy button, the Close button box, texts."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtGui import QFont, QFontDatabase, QGuiApplication
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QPushButton,
    QWidget,
)

DESCRIPTION = "Build, train and look inside convolutional neural networks."
RECEPTIVE_FIELD_NOTE = (
    "Receptive field: the input region one unit of a layer can see, in input pixels (height×width), "
    "then “/j”, the jump: how many input pixels apart the regions of neighbouring units are (the product "
    "of the strides so far). “(all)” after Flatten or Linear: every unit sees that whole region."
)
#: Keys the canvas handles itself (not actions), for the shortcuts list.
CANVAS_KEYS: tuple[tuple[str, str], ...] = (
    ("Add a layer at the mouse", "Tab"),
    ("Pan", "Space + drag, middle-button drag"),
    ("Zoom", "Mouse wheel, + / −"),
    ("Connect layers", "Drag from an output port to an input port"),
)


def fixed_font() -> QFont:
    """The system's monospace font; columns of the summary table must line up."""
    font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
    font.setStyleHint(QFont.StyleHint.TypeWriter)
    font.setFixedPitch(True)
    return font


def copy_button(text_of: Callable[[], str], parent: QWidget, label: str = "Copy") -> QPushButton:
    """A button that puts ``text_of()`` on the clipboard and says so."""
    button = QPushButton(label, parent)

    def copy() -> None:
        QGuiApplication.clipboard().setText(text_of())
        button.setText("Copied")

    button.clicked.connect(copy)
    return button


def close_buttons(dialog: QDialog, *extra: QPushButton) -> QDialogButtonBox:
    box = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, dialog)
    for button in extra:
        box.addButton(button, QDialogButtonBox.ButtonRole.ActionRole)
    box.rejected.connect(dialog.reject)
    return box

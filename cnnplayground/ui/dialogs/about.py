"""The About box: name, version, what the app is for, the versions it runs on."""

from __future__ import annotations

import html
import os
import platform

from PySide6 import __version__ as pyside_version
from PySide6.QtCore import Qt, qVersion
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLabel,
    QVBoxLayout,
    QWidget,
)

import cnnplayground

from .common import DESCRIPTION, close_buttons, copy_button


def training_device() -> str:
    """What ``device="auto"`` trains on: the CUDA GPU's name, Apple's GPU, or ``CPU (N cores)``."""
    import torch

    from ...train.trainer import resolve_device

    device = resolve_device("auto")
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (CUDA)"
    if device.type == "mps":
        return "Apple GPU (MPS)"
    return f"CPU ({os.cpu_count() or 1} cores)"


def about_info() -> list[tuple[str, str]]:
    """``(label, value)`` rows of the About box: versions and the training device."""
    import torch
    import torchvision

    cuda = torch.version.cuda if torch.cuda.is_available() and torch.version.cuda else "not available"
    return [
        ("CNN Playground", cnnplayground.__version__),
        ("Python", platform.python_version()),
        ("PySide6 / Qt", f"{pyside_version} / {qVersion()}"),
        ("PyTorch", torch.__version__),
        ("torchvision", torchvision.__version__),
        ("CUDA", cuda),
        ("Training device", training_device()),
    ]


class AboutDialog(QDialog):
    """Name, version, what the app is for, the versions it runs on, the licence."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("About CNN Playground")
        self.info = about_info()
        rows = "".join(f"<tr><td>{html.escape(k)}</td><td>&nbsp;&nbsp;{html.escape(v)}</td></tr>"
                       for k, v in self.info[1:])
        self.label = QLabel(
            f"<h2>CNN Playground {html.escape(cnnplayground.__version__)}</h2><p>{DESCRIPTION}</p>"
            f"<table>{rows}</table><p>Released under the MIT License.</p>", self)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        icon = QLabel(self)
        window_icon = QGuiApplication.windowIcon()
        if not window_icon.isNull():
            icon.setPixmap(window_icon.pixmap(64, 64))
        top = QHBoxLayout()
        top.addWidget(icon, 0, Qt.AlignmentFlag.AlignTop)
        top.addWidget(self.label, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        self.copy_button = copy_button(self.text, self, "Copy Versions")
        layout.addWidget(close_buttons(self, self.copy_button))

    def text(self) -> str:
        """The version rows as plain text (for bug reports)."""
        return "\n".join(f"{k}: {v}" for k, v in self.info)

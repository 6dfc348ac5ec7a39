"""The main window's status bar: messages on the left; parameters, memory, errors and zoom on the right."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QProgressBar, QStatusBar, QToolButton, QWidget

from ...core.inference import InferenceResult
from ...core.summary import format_bytes
from . import theme

#: How many problems the error label's tool tip lists.
TOOLTIP_ERRORS = 5


class StatusBar(QStatusBar):
    """Permanent widgets: ``params_label``, ``memory_label``, ``errors_label`` (a button: its ``clicked``
    goes to the first error), ``zoom_label`` and ``progress``."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.params_label = QLabel(self)
        self.params_label.setToolTip("Trainable parameters of the whole network")
        self.memory_label = QLabel(self)
        self.memory_label.setToolTip("Rough training memory: weights, gradients, Adam state and the "
                                     "activations of one batch (details in Network → Network Summary)")
        self.errors_label = QToolButton(self)
        self.errors_label.setAutoRaise(True)
        self.zoom_label = QLabel(self)
        self.zoom_label.setToolTip("Zoom (Ctrl+0: actual size, F: fit)")
        self.progress = QProgressBar(self)
        self.progress.setMaximumWidth(160)
        self.progress.hide()
        for widget in (self.params_label, self.memory_label, self.errors_label, self.zoom_label, self.progress):
            self.addPermanentWidget(widget)

    def show_inference(self, result: InferenceResult, batch: int) -> None:
        """The network's parameter count, training memory for ``batch`` images and its problems."""
        memory = result.memory_estimate(batch)["total"]
        self.params_label.setText(f"Parameters: {result.total_params:,}")
        self.memory_label.setText(f"Memory ≈ {format_bytes(memory)} (batch {batch})")
        errors = result.errors
        n = len(errors)
        self.errors_label.setText(f"{n} error{'s' if n != 1 else ''}" if n else "No errors")
        self.errors_label.setStyleSheet(f"color: {theme.error_color()};" if n else "")
        lines = [f"• {nid + ': ' if nid else ''}{msg}" for nid, msg in errors[:TOOLTIP_ERRORS]]
        if n > TOOLTIP_ERRORS:
            lines.append(f"… and {n - TOOLTIP_ERRORS} more (Network → Network Summary)")
        self.errors_label.setToolTip("\n".join(lines) + "\n\nClick to select the first." if n else
                                     "The network can be built")

    def show_zoom(self, zoom: float) -> None:
        self.zoom_label.setText(f"{round(zoom * 100)} %")

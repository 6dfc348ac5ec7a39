"""The main window's status bar: messages on the left; parameters, memory, errors and zoom on the right."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QProgressBar, QStatusBar, QToolButton, QWidget

from ...core.inference import InferenceResult
from ...core.summary import format_bytes
from . import theme

#: How many problems the error label's tool tip lists.
TOOLTIP_ERRORS = 5
#: The memory label's tool tip while the network fits.
MEMORY_TIP = ("Rough training memory: weights, gradients, Adam state and the activations of one batch "
              "(details in Network → Network Summary)")


def next_step(node_id: str | None, message: str) -> str | None:
    """What to do next when ``message`` says the network is unfinished (no Input, nothing after it, a layer
    not wired up yet), in the user's words; None for a real error (a shape that does not fit, a cycle)."""
    if message.startswith("the network has no Input layer"):
        return "Add an Input layer from the palette"
    if message == "the network has no layers after its Input":
        return "Add layers after the Input"
    if node_id and (message.endswith(", has 0") or "has no input: draw a wire" in message):
        return f"Connect {node_id}: draw a wire into it"
    return None


class StatusBar(QStatusBar):
    """Permanent widgets: ``params_label``, ``memory_label``, ``errors_label`` (a button: its ``clicked``
    goes to the first error), ``zoom_label`` and ``progress``."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.params_label = QLabel(self)
        self.params_label.setToolTip("Trainable parameters of the whole network")
        self.memory_label = QLabel(self)
        self.memory_label.setToolTip(MEMORY_TIP)
        self.errors_label = QToolButton(self)
        self.errors_label.setAutoRaise(True)
        self.zoom_label = QLabel(self)
        self.zoom_label.setToolTip("Zoom (Ctrl+0: actual size, F: fit)")
        self.progress = QProgressBar(self)
        self.progress.setMaximumWidth(160)
        self.progress.hide()
        for widget in (self.params_label, self.memory_label, self.errors_label, self.zoom_label, self.progress):
            self.addPermanentWidget(widget)

    def show_inference(self, result: InferenceResult, batch: int, memory_problem: str | None = None) -> None:
        """The network's parameter count, training memory for ``batch`` images and its problems.

        ``memory_problem``: why the network cannot be trained in the memory there is (the memory
        label turns red and says so; its tool tip has the numbers), or None.
        """
        memory = result.memory_estimate(batch)["total"]
        self.params_label.setText(f"Parameters: {result.total_params:,}")
        if memory_problem:
            self.memory_label.setText(f"Memory ≈ {format_bytes(memory)} (batch {batch}): too much for this machine")
            self.memory_label.setToolTip(memory_problem[0].upper() + memory_problem[1:])
            self.memory_label.setStyleSheet(f"color: {theme.error_color()};")
        else:
            self.memory_label.setText(f"Memory ≈ {format_bytes(memory)} (batch {batch})")
            self.memory_label.setToolTip(MEMORY_TIP)
            self.memory_label.setStyleSheet("")
        errors = [(nid, msg) for nid, msg in result.errors if next_step(nid, msg) is None]
        steps = [step for nid, msg in result.errors if (step := next_step(nid, msg)) is not None]
        n = len(errors)
        if n:
            self.errors_label.setText(f"{n} error{'s' if n != 1 else ''}")
        else:
            self.errors_label.setText(steps[0] if steps else "No errors")
        self.errors_label.setStyleSheet(f"color: {theme.error_color()};" if n else "")
        lines = [f"• {nid + ': ' if nid else ''}{msg}" for nid, msg in errors[:TOOLTIP_ERRORS]]
        if n > TOOLTIP_ERRORS:
            lines.append(f"… and {n - TOOLTIP_ERRORS} more (Network → Network Summary)")
        if n:
            tip = "\n".join(lines) + "\n\nClick to select the first."
        elif steps:
            tip = "The network is not finished yet:\n" + "\n".join(f"• {step}" for step in steps[:TOOLTIP_ERRORS])
        else:
            tip = "The network can be built"
        self.errors_label.setToolTip(tip)

    def show_zoom(self, zoom: float) -> None:
        self.zoom_label.setText(f"{round(zoom * 100)} %")

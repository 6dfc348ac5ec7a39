"""Editors for layer parameters, generated from their :class:`ParamSpec` declarations.

Spin boxes with the declared ranges, combo boxes for choices, check boxes for
flags, and a pixels/'same'/'valid' editor for padding. Wheel events only
change a value when the editor has focus, so scrolling the panel never edits.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QSpinBox,
    QWidget,
)

from ...core.params import ParamSpec, ParamValue

_INT_MAX = 2**31 - 1
_FLOAT_LIMIT = 1e9
#: Batch size of the overview's training-memory estimate.


class _FocusWheel:
    """Mixin: the mouse wheel changes a value only once the editor has focus (else it scrolls the panel)."""

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802 (Qt override)
        if self.hasFocus():  # type: ignore[attr-defined]
            super().wheelEvent(event)  # type: ignore[misc]
        else:
            event.ignore()


class _SpinBox(_FocusWheel, QSpinBox):
    pass


class _DoubleSpinBox(_FocusWheel, QDoubleSpinBox):
    pass


class _ComboBox(_FocusWheel, QComboBox):
    pass


def float_decimals(value: float) -> int:
    """Decimals that show ``value`` exactly: 6 below 0.01 (LRN's α = 1e-4), else 4, more if needed."""
    decimals = 6 if 0 < abs(value) < 0.01 else 4
    while decimals < 10 and round(value, decimals) != value:
        decimals += 1
    return decimals


class PaddingEditor(QWidget):
    """Padding as a number of pixels, or ``"same"`` / ``"valid"``: a spin box and a mode combo."""

    value_changed = Signal(object)  # (int | str)

    def __init__(self, spec: ParamSpec, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.pixels = _SpinBox(self)
        self.pixels.setRange(int(spec.minimum or 0), min(int(spec.maximum or _INT_MAX), _INT_MAX))
        self.pixels.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.mode = _ComboBox(self)
        self.mode.addItems(["pixels", "same", "valid"])
        self.mode.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.pixels, 1)
        layout.addWidget(self.mode)
        self.pixels.valueChanged.connect(self._on_pixels_changed)
        self.mode.currentTextChanged.connect(self._on_mode_changed)

    def value(self) -> int | str:
        mode = self.mode.currentText()
        return self.pixels.value() if mode == "pixels" else mode

    def set_value(self, value: ParamValue) -> None:
        """Show ``value`` without emitting :attr:`value_changed`."""
        for w in (self.pixels, self.mode):
            w.blockSignals(True)
        try:
            if isinstance(value, str):
                self.mode.setCurrentText(value)
            else:
                self.mode.setCurrentText("pixels")
                self.pixels.setValue(int(value))
            self.pixels.setEnabled(not isinstance(value, str))
        finally:
            for w in (self.pixels, self.mode):
                w.blockSignals(False)

    def setToolTip(self, text: str) -> None:  # noqa: N802 (Qt override)
        super().setToolTip(text)
        self.pixels.setToolTip(text)
        self.mode.setToolTip(text)

    def _on_pixels_changed(self, value: int) -> None:
        self.value_changed.emit(value)

    def _on_mode_changed(self, mode: str) -> None:
        self.pixels.setEnabled(mode == "pixels")
        self.value_changed.emit(self.value())


def make_editor(spec: ParamSpec, on_edit: Callable[[QWidget, Any], None], parent: QWidget | None = None) -> QWidget:
    """An editor for ``spec``; ``on_edit(editor, value)`` is called with each value the user sets."""
    editor: QWidget
    if spec.type == "int":
        editor = _SpinBox(parent)
        lo = -_INT_MAX - 1 if spec.minimum is None else max(int(spec.minimum), -_INT_MAX - 1)
        hi = _INT_MAX if spec.maximum is None else min(int(spec.maximum), _INT_MAX)
        editor.setRange(lo, hi)
        editor.setAccelerated(True)
        signal = editor.valueChanged
    elif spec.type == "float":
        editor = _DoubleSpinBox(parent)
        editor.setDecimals(float_decimals(float(spec.default)))
        editor.setRange(
            -_FLOAT_LIMIT if spec.minimum is None else spec.minimum,
            _FLOAT_LIMIT if spec.maximum is None else spec.maximum,
        )
        editor.setStepType(QDoubleSpinBox.StepType.AdaptiveDecimalStepType)
        signal = editor.valueChanged
    elif spec.type == "bool":
        editor = QCheckBox(parent)
        signal = editor.toggled
    elif spec.type == "choice":
        editor = _ComboBox(parent)
        editor.addItems(list(spec.choices))
        signal = editor.currentTextChanged
    else:  # padding
        editor = PaddingEditor(spec, parent)
        signal = editor.value_changed
    signal.connect(lambda value: on_edit(editor, value))
    if isinstance(editor, (QSpinBox, QDoubleSpinBox, QComboBox)):
        editor.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
    editor.setToolTip(
        f"<b>{html.escape(spec.label)}</b> <span style='color: gray'>({spec.name})</span>"
        f"<p style='margin: 4px 0'>{html.escape(spec.help)}</p>Allowed: {html.escape(spec.describe_range())}"
    )
    return editor


def set_editor_value(editor: QWidget, value: ParamValue) -> None:
    """Show ``value`` in ``editor`` without emitting its change signal (no command is pushed)."""
    if isinstance(editor, PaddingEditor):
        editor.set_value(value)
        return
    blocked = editor.blockSignals(True)
    try:
        if isinstance(editor, QCheckBox):
            editor.setChecked(bool(value))
        elif isinstance(editor, QComboBox):
            editor.setCurrentText(str(value))
        elif isinstance(editor, QDoubleSpinBox):
            editor.setDecimals(max(editor.decimals(), float_decimals(float(value))))
            if editor.value() != value:
                editor.setValue(float(value))
        elif isinstance(editor, QSpinBox) and editor.value() != value:
            editor.setValue(int(value))
    finally:
        editor.blockSignals(blocked)



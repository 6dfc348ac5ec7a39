"""The main window's non-modal dialogs: at most one of each kind open at a time."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog


class OpenDialogs:
    """Dialogs by kind (``"summary"``, ``"figure"``, ``"sweep"``, ...); a closed one is forgotten."""

    def __init__(self) -> None:
        self._open: dict[str, QDialog] = {}

    def get(self, key: str) -> QDialog | None:
        """The open dialog of this kind, or None."""
        return self._open.get(key)

    def show(self, key: str, dialog: QDialog) -> QDialog:
        """Show a non-modal dialog, replacing an open one of the same kind."""
        old = self._open.pop(key, None)
        if old is not None:
            old.close()
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.destroyed.connect(lambda _obj=None, k=key, d=dialog: self._forget(k, d))
        self._open[key] = dialog
        dialog.show()
        return dialog

    def front(self, key: str, keep: Callable[[QDialog], bool] = lambda _d: True) -> QDialog | None:
        """The open dialog of this kind brought to the front, when ``keep(dialog)``; else None (show a new one)."""
        dialog = self._open.get(key)
        if dialog is None or not keep(dialog):
            return None
        dialog.raise_()
        dialog.activateWindow()
        return dialog

    def close_all(self) -> None:
        for dialog in list(self._open.values()):
            dialog.close()

    def _forget(self, key: str, dialog: QDialog) -> None:
        if self._open.get(key) is dialog:
            del self._open[key]

"""What every Inspect panel shares: it follows the model source, but only does the work while visible."""

from __future__ import annotations

from PySide6.QtWidgets import QWidget

from .source import ModelSource


class InspectPanel(QWidget):
    """Base of the panels: ``refresh()`` runs when the source changes while the panel is visible, or
    when a panel that missed changes is shown again (a hidden dock costs nothing per epoch)."""

    def __init__(self, source: ModelSource, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.source = source
        self.stale = True
        source.changed.connect(self._on_source_changed)

    def refresh(self) -> None:  # pragma: no cover - every panel overrides it
        raise NotImplementedError

    def _on_source_changed(self) -> None:
        if self.isVisible():
            self.stale = False
            self.refresh()
        else:
            self.stale = True
            self.on_hidden_change()

    def on_hidden_change(self) -> None:
        """The source changed while hidden (panels stop long work here)."""

    def showEvent(self, event) -> None:  # noqa: N802 (Qt override)
        super().showEvent(event)
        if self.stale:
            self.stale = False
            self.refresh()

    def data_missing(self) -> str:
        """"" when the source has images; else why not (and the dataset starts loading if it can)."""
        if self.source.data is not None:
            return ""
        problem = self.source.data_problem
        if problem:
            return problem
        self.source.ensure_data()
        return "Loading the dataset…"

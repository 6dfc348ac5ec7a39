"""What every Inspect panel shares: it follows the model source, but only does the work while visible."""

from __future__ import annotations

from PySide6.QtWidgets import QComboBox, QLabel, QWidget

from .source import ModelSource


def fill_classes(combo: QComboBox, class_names) -> None:
    """``"3: cat"`` items with the class index as data; left alone (and its choice kept) when unchanged."""
    labels = [f"{i}: {name}" for i, name in enumerate(class_names)]
    if [combo.itemText(i) for i in range(combo.count())] == labels:
        return
    combo.blockSignals(True)
    combo.clear()
    for i, text in enumerate(labels):
        combo.addItem(text, i)
    combo.blockSignals(False)


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

    def ready(self, caption: QLabel, what: str):
        """``(model, data, split)`` when all are there (the caption then says ``what`` and with which weights);
        otherwise None, with the caption saying what is missing."""
        model, data, split = self.source.model, self.source.data, self.source.split()
        if model is None:
            caption.setText(self.source.problem or "No network")
            return None
        missing = self.data_missing()
        if missing or data is None or split is None:
            caption.setText(missing)
            return None
        caption.setText(f"{what} with {self.source.description}")
        return model, data, split

    def data_missing(self) -> str:
        """"" when the source has images; else why not (and the dataset starts loading if it can)."""
        if self.source.data is not None:
            return ""
        problem = self.source.data_problem
        if problem:
            return problem
        self.source.ensure_data()
        return "Loading the dataset…"

"""What every Inspect panel shares: it follows the model source, but only does the work while visible,
and never on the GUI thread (:meth:`InspectPanel.run_in_background`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QLabel, QSpinBox, QWidget

from ..jobs import FunctionJob
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
        #: The running background call of each kind of request (``run_in_background``'s ``key``).
        self.jobs: dict[str, FunctionJob] = {}
        source.changed.connect(self._on_source_changed)
        source.replaced.connect(self._on_source_replaced)

    # --- background work --------------------------------------------------------------------
    def run_in_background(self, key: str, function: Callable[..., Any], *args: Any,
                          done: Callable[[Any], None], failed: Callable[[str], None] | None = None) -> FunctionJob:
        """Call ``function(*args)`` in the thread pool and hand its result to ``done`` on the GUI thread.

        A newer request of the same ``key`` cancels the older one, so a stale result never overwrites a
        newer one; while any job runs the panel shows a busy cursor (:attr:`busy`).
        """
        self.cancel_background(key)
        job = FunctionJob(function, *args, parent=self)
        self.jobs[key] = job

        def finish(result: Any = None, message: str | None = None) -> None:
            if self.jobs.get(key) is job:
                del self.jobs[key]
            self._sync_busy()
            if message is None:
                done(result)
            elif failed is not None:
                failed(message)

        job.returned.connect(lambda result: finish(result))
        job.failed.connect(lambda message: finish(message=message))
        job.start()
        self._sync_busy()
        return job

    def cancel_background(self, key: str | None = None) -> None:
        """Drop the running job of ``key`` (every job when None): its result will not be shown."""
        for name in [key] if key is not None else list(self.jobs):
            job = self.jobs.pop(name, None) if name is not None else None
            if job is not None:
                job.cancel()
        self._sync_busy()

    @property
    def busy(self) -> bool:
        """A background analysis of this panel is running."""
        return bool(self.jobs)

    def _sync_busy(self) -> None:
        if self.jobs:
            self.setCursor(Qt.CursorShape.BusyCursor)
        else:
            self.unsetCursor()

    def refresh(self) -> None:  # pragma: no cover - every panel overrides it
        raise NotImplementedError

    def show_validation_image(self, index: int) -> bool:
        """Look at validation image ``index`` (sent by another panel: a click on the Feature Space map).

        The panel's image spin box (``self.index``) goes there: a visible panel computes at once, as for
        the user's own choice; a hidden one when next shown. False when the panel picks no validation
        image or the split has no image ``index``.
        """
        spin, split = getattr(self, "index", None), self.source.split()
        if not isinstance(spin, QSpinBox) or split is None or not 0 <= index < len(split):
            return False
        spin.blockSignals(True)
        spin.setRange(0, len(split) - 1)
        if not self.isVisible():
            spin.setValue(index)
            self.stale = True
        spin.blockSignals(False)
        spin.setValue(index)
        return True

    def _on_source_changed(self) -> None:
        if self.isVisible():
            self.stale = False
            self.refresh()
        else:
            self.stale = True
            self.on_hidden_change()

    def _on_source_replaced(self) -> None:
        self.cancel_background()
        self.clear_results()

    def clear_results(self) -> None:
        """Another project or other weights: drop every result of the previous model (``refresh`` follows)."""

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

"""The runs of the Curves panel: what the plots draw and the runs table lists, in one place.

A :class:`RunsModel` holds each run's facts (name, settings, colour, whether it is shown,
the saved record it came from, its numbers after the last epoch) and which run is focused.
The plots (:class:`~.plots.TrainingPlots`) and the runs table (:class:`~.runs.RunsTable`)
both observe it: the plots make a run's curves when it is added, restyle it when it is shown,
hidden or focused, and drop its curves when it is removed; the table rebuilds its rows on
``runs_changed``. The per-step data never comes here: it stays in the plots' buffers, and a
run's numbers change once per epoch (:meth:`RunsModel.set_metrics`), so the GUI thread does
no work here per step.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QColor

from ...project import RunHistory
from ..shell import theme

#: Colours of earlier runs, in order (the newest run is drawn in the plots' role colours).
RUN_COLORS: tuple[str, ...] = ("#12a4b4", "#9b59b6", "#a0522d", "#d6338a", "#8a9a1b", "#6c7a89",
                               "#2f6f4f", "#c08a00")
#: The colour that stands for the newest run (its validation curves'): (light palette, dark palette).
NEWEST_COLORS: tuple[str, str] = ("#d9480f", "#ff9a57")


def no_metrics() -> dict[str, float | None]:
    """The numbers of a run without a finished epoch."""
    return {"epochs": 0.0, "best_val_accuracy": None, "final_val_accuracy": None, "last_val_loss": None,
            "last_train_loss": None, "seconds": None}


@dataclass
class RunInfo:
    """What is known of one run besides its curves."""

    name: str
    settings: dict[str, Any]
    color: str  # its own colour (it is drawn in it while it is an earlier run)
    visible: bool = True
    record: RunHistory | None = None  # the saved run it shows (None: a live run)
    #: ``epochs``, ``best_val_accuracy`` and ``final_val_accuracy`` (%), ``last_val_loss``,
    #: ``last_train_loss`` and ``seconds`` (training time); None where unknown.
    metrics: dict[str, float | None] = field(default_factory=no_metrics)


class RunsModel(QObject):
    """The runs shown, oldest first, and the focused one.

    Signals: ``run_added(index)``, ``runs_removed(first)`` (every run from ``first`` on; 0:
    all), ``run_changed(index)`` (new numbers), ``visibility_changed(index, visible)``,
    ``focus_changed(index or None)``, and ``runs_changed()`` after any change but the focus
    (for views that rebuild everything; during :meth:`changing`, once at its end).
    """

    run_added = Signal(int)
    runs_removed = Signal(int)
    run_changed = Signal(int)
    visibility_changed = Signal(int, bool)
    focus_changed = Signal(object)
    runs_changed = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._runs: list[RunInfo] = []
        self._focus: int | None = None
        self._changing = 0

    # --- reading -------------------------------------------------------------------------
    @property
    def count(self) -> int:
        return len(self._runs)

    def run(self, index: int) -> RunInfo:
        return self._runs[index]

    def names(self) -> list[str]:
        return [run.name for run in self._runs]

    def color(self, index: int) -> QColor:
        """The colour run ``index`` is drawn in: its own, or the validation colour for the newest run."""
        if index < len(self._runs) - 1:
            return QColor(self._runs[index].color)
        return QColor(NEWEST_COLORS[1 if theme.is_dark() else 0])

    @property
    def focus(self) -> int | None:
        """The earlier run drawn strong (None: only the newest)."""
        return self._focus

    @property
    def batching(self) -> bool:
        """Inside :meth:`changing`: ``runs_changed`` comes at its end."""
        return self._changing > 0

    # --- changing ------------------------------------------------------------------------
    @contextlib.contextmanager
    def changing(self) -> Iterator[RunsModel]:
        """Several changes as one: ``runs_changed`` once, at the end (the other signals as they happen)."""
        self._changing += 1
        try:
            yield self
        finally:
            self._changing -= 1
            if not self._changing:
                self.runs_changed.emit()

    def add_run(self, name: str, settings: dict[str, Any] | None = None, record: RunHistory | None = None) -> int:
        """Add a run after the others (it is the newest); returns its index."""
        color = RUN_COLORS[len(self._runs) % len(RUN_COLORS)]
        self._runs.append(RunInfo(name, dict(settings or {}), color, record=record))
        index = len(self._runs) - 1
        self.run_added.emit(index)
        self._changed()
        return index

    def remove_runs(self, first: int = 0) -> None:
        """Remove every run from ``first`` on (0: all of them); a focus on one of them goes too."""
        if first >= len(self._runs):
            return
        del self._runs[first:]
        self.runs_removed.emit(first)
        if self._focus is not None and self._focus >= first:
            self.set_focus(None)
        self._changed()

    def clear(self) -> None:
        self.remove_runs(0)

    def set_metrics(self, index: int, metrics: dict[str, float | None]) -> None:
        self._runs[index].metrics = dict(metrics)
        self.run_changed.emit(index)
        self._changed()

    def set_visible(self, index: int, visible: bool) -> None:
        run = self._runs[index]
        if run.visible != visible:
            run.visible = visible
            self.visibility_changed.emit(index, visible)
            self._changed()

    def set_focus(self, index: int | None) -> None:
        if index != self._focus:
            self._focus = index
            self.focus_changed.emit(index)

    def _changed(self) -> None:
        if not self._changing:
            self.runs_changed.emit()

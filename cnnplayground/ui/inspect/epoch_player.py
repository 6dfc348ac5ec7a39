"""Play: step the Inspect panels through a run's stored epochs, one every :attr:`EpochPlayer.interval` ms.

One player for the window (``ModelSource.player``): every panel's epoch bar starts, stops and shows it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer, Signal

if TYPE_CHECKING:  # pragma: no cover
    from .source import ModelSource

#: Milliseconds each epoch stays on show while playing: long enough to see LeNet-5's kernels change
#: (drawn in well under 100 ms); a slower network's panels simply show every other frame late.
PLAY_INTERVAL_MS = 600


class EpochPlayer(QObject):
    """Steps ``source`` through the stored epochs of its chosen run, from the first (or the one on show) to
    the last, then stops there. Signal ``playing_changed(bool)``."""

    playing_changed = Signal(bool)

    def __init__(self, source: ModelSource) -> None:
        super().__init__(source)
        self.source = source
        self.timer = QTimer(self)
        self.timer.setInterval(PLAY_INTERVAL_MS)
        self.timer.timeout.connect(self._advance)

    @property
    def playing(self) -> bool:
        return self.timer.isActive()

    def toggle(self) -> None:
        self.stop() if self.playing else self.play()

    def play(self) -> None:
        """Start at the first stored epoch (from "latest" or the last epoch), else at the one on show."""
        run = self.source.chosen_run
        if run is None:
            return
        epochs = dict((i, e) for i, _name, e in self.source.stored_runs())[run]
        selected = self.source.selected_epoch
        if selected is None or selected[0] != run or selected[1] == epochs[-1]:
            self.source.select_epoch(run, epochs[0])
        self.timer.start()
        self.playing_changed.emit(True)

    def stop(self) -> None:
        if self.timer.isActive():
            self.timer.stop()
            self.playing_changed.emit(False)

    def _advance(self) -> None:
        selected = self.source.selected_epoch
        runs = dict((i, e) for i, _name, e in self.source.stored_runs())
        if selected is None or selected[0] not in runs:
            self.stop()  # "latest" chosen meanwhile, or the run is gone
            return
        run, epoch = selected
        later = [e for e in runs[run] if e > epoch]
        if not later:
            self.stop()
            return
        self.source.select_epoch(run, later[0])
        if len(later) == 1:
            self.stop()  # the last epoch is on show: stop there

"""The epoch bar above each Inspect panel: which weights the panels look at, the latest or a stored epoch.

Every bar is a view of the one choice the window's :class:`~.source.ModelSource` holds (moving one
moves them all, and every panel that reads the model through the source redraws at that epoch). The
slider's stops are the stored epochs of the chosen run, then "latest" (the current weights: the
behaviour without the bar). Arrow keys move the slider; Space on it, or the Play button, steps
through the stored epochs (:class:`~.epoch_player.EpochPlayer`).
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QBoxLayout, QComboBox, QHBoxLayout, QLabel, QPushButton, QSlider, QWidget

from .source import ModelSource

NO_EPOCHS_TIP = ("No run of this project keeps its epochs: train it (each run keeps its weights at the start and "
                 "after every epoch), or it was saved before runs kept them")


def stored_text(epochs: list[int], most: int = 8) -> str:
    """``"0, 1, 2, …, 10"``: the stored epochs, the first few and the last when there are many."""
    if len(epochs) <= most:
        return ", ".join(map(str, epochs))
    return ", ".join(map(str, epochs[:most - 1])) + f", …, {epochs[-1]}"


class EpochSlider(QSlider):
    """The slider: arrow keys move it (QSlider's own), Space plays or pauses."""

    def __init__(self, bar: EpochBar) -> None:
        super().__init__(Qt.Orientation.Horizontal, bar)
        self.bar = bar

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 (Qt override)
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self.bar.source.player.toggle()
            event.accept()
            return
        super().keyPressEvent(event)


class EpochBar(QWidget):
    """Run, epoch slider, Play and the epoch label, following (and setting) ``source``'s chosen epoch."""

    def __init__(self, source: ModelSource, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.source = source
        self.setObjectName("epochBar")
        self.title = QLabel("Epoch", self)
        self.run = QComboBox(self)
        self.run.setToolTip("The run whose stored epochs the slider offers")
        self.slider = EpochSlider(self)
        self.slider.setPageStep(1)
        self.slider.setTickPosition(QSlider.TickPosition.TicksBelow)
        self.slider.setTickInterval(1)
        self.slider.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.slider.setMinimumWidth(160)
        self.play = QPushButton("Play", self)
        self.play.setToolTip("Step through the stored epochs (Space on the slider)")
        self.label = QLabel(self)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for widget in (self.title, self.run):
            layout.addWidget(widget)
        layout.addWidget(self.slider, 2)
        layout.addWidget(self.play)
        layout.addWidget(self.label, 3)
        self._epochs: list[int] = []
        self._runs: list[tuple[int, str, list[int]]] | None = None  # what the run box lists
        self._stale = False  # hidden: synced when shown (a window has a bar per panel)
        self._enabled: bool | None = None
        self.slider.valueChanged.connect(self._on_slider_changed)
        self.run.activated.connect(self._on_run_chosen)
        self.play.clicked.connect(lambda _checked=False: source.player.toggle())
        source.epoch_changed.connect(self.sync)
        source.player.playing_changed.connect(self._on_playing_changed)
        self.sync()

    @property
    def at_latest(self) -> bool:
        return self.slider.value() == len(self._epochs)

    def showEvent(self, event) -> None:  # noqa: N802 (Qt override)
        super().showEvent(event)
        if self._stale:
            self.sync()

    def sync(self) -> None:
        """Show the source's runs and chosen epoch (without sending the choice back); when hidden, on show."""
        if not self.isVisible() and self._runs is not None:
            self._stale = True
            return
        self._stale = False
        runs = self.source.stored_runs()
        chosen = self.source.chosen_run
        self.run.blockSignals(True)
        if runs != self._runs:
            self.run.clear()
            for index, name, _epochs in runs:
                self.run.addItem(name, index)
            self.run.setVisible(len(runs) > 1)
            self._runs = runs
        if chosen is not None:
            self.run.setCurrentIndex(self.run.findData(chosen))
        self.run.blockSignals(False)
        self._epochs = next((e for i, _n, e in runs if i == chosen), [])
        selected = self.source.selected_epoch
        position = self._epochs.index(selected[1]) if selected is not None else len(self._epochs)
        self.slider.blockSignals(True)
        self.slider.setRange(0, len(self._epochs))
        self.slider.setValue(position)
        self.slider.blockSignals(False)
        enabled = bool(self._epochs)
        if enabled != self._enabled:
            self._enable(enabled)
        self._on_playing_changed(self.source.player.playing)
        self.label.setText(self.text())

    def _enable(self, enabled: bool) -> None:
        self._enabled = enabled
        for widget in (self.slider, self.play, self.title, self.label):
            widget.setEnabled(enabled)
            widget.setToolTip("" if enabled else NO_EPOCHS_TIP)
        if enabled:
            self.play.setToolTip("Step through the stored epochs (Space on the slider)")
            self.slider.setToolTip("The weights the panels show: a stored epoch, or the latest (right end); "
                                   "arrow keys move, Space plays")

    def text(self) -> str:
        """``"epoch 3 of 10 (stored: 0, 1, 2, …)"``, or what "latest" is."""
        if not self._epochs:
            return "latest weights (no stored epochs)"
        stored = stored_text(self._epochs)
        selected = self.source.selected_epoch
        if selected is None:
            return f"latest weights (stored epochs: {stored})"
        return f"epoch {selected[1]} of {self._epochs[-1]} (stored: {stored})"

    def _on_slider_changed(self, position: int) -> None:
        run = self.source.chosen_run
        if run is None or position >= len(self._epochs):
            self.source.select_epoch(None)
        else:
            self.source.select_epoch(run, self._epochs[position])

    def _on_run_chosen(self, index: int) -> None:
        self.source.choose_run(int(self.run.itemData(index)))

    def _on_playing_changed(self, playing: bool) -> None:
        self.play.setText("Pause" if playing else "Play")


def add_epoch_bar(panel: QWidget, source: ModelSource) -> EpochBar:
    """Put an epoch bar at the top of ``panel`` (whose layout is a box of widgets top to bottom)."""
    bar = EpochBar(source, panel)
    layout = panel.layout()
    assert isinstance(layout, QBoxLayout), "an epoch bar goes on top of a panel laid out top to bottom"
    layout.insertWidget(0, bar)
    panel.epoch_bar = bar  # type: ignore[attr-defined]  # for tests and the figure export's choice
    return bar

"""The Curves and Results panels of the main window follow the Training dock's runs.

A run shows the Training dock and the Curves panel and draws its curves as its events
arrive (one frame at a time: see :meth:`RunPanels.paint_now`); each epoch shows its
confusion matrix in Results and autosaves. When it ends, its record replaces the live
curves and Results looks for the most confident mistakes. The weights stored in an
opened project are evaluated in Results once, when that panel is open.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QCoreApplication, QEvent, QObject

from ...train.events import EpochFinished, StepFinished

if TYPE_CHECKING:  # pragma: no cover
    from ..shell.main_window import MainWindow


class RunPanels(QObject):
    """Keeps the window's Curves and Results panels in step with its training.

    Made before the window's model source, so that it hears of a run's end first (the model
    source then rebuilds with the run's weights, whose results the Results panel shows
    already); :meth:`connect_panels` connects the rest once the panels exist.
    """

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.training = window.training
        self.document = window.document
        self._after_run = False
        self._evaluated_model: int | None = None
        self.training.run_ended.connect(self._note_run_ended)

    def connect_panels(self) -> None:
        w = self.window
        self.training.starting.connect(self._on_starting)
        self.training.run_started.connect(self._on_run_started)
        self.training.events_arrived.connect(self._on_training_events)
        self.training.run_ended.connect(self._on_run_ended)
        w.model_source.replaced.connect(self._on_model_replaced)  # before its changed(): then re-evaluated
        w.model_source.changed.connect(self.evaluate_stored_weights)
        w.results_dock.visibilityChanged.connect(lambda visible: visible and self.evaluate_stored_weights())

    def show_history(self) -> None:
        """The project's recorded runs in the Curves dock (the live run, if any, stays on top)."""
        if self.training.running:
            return  # the run's own curves are shown; the record replaces them when it ends
        history = self.document.project.history
        self.window.curves.plots.load_history(history)
        if history:
            self.window.show_bottom_dock(self.window.curves_dock)

    def _on_starting(self) -> None:
        """Train pressed: the window takes the run's layout now, while the data loads (laid out when the
        run has started, it cost the first frames 60 ms and more)."""
        w = self.window
        if w.modes.current != "inspect":  # from Inspect, the panels being watched follow the run live
            w.modes.switch("train")
        self._show_run_panels()

    def _show_run_panels(self) -> None:
        w = self.window
        w.show_bottom_dock(w.curves_dock)
        if w.results_dock.isHidden() and w.modes.current == "train" and not w.curves_dock.isHidden():
            # Results' tab is there from the start, behind the Curves: its first epoch then changes no
            # layout (appearing then, it resized the plots mid-run: a 70 ms repaint of all four).
            w.results_dock.show()
            w.curves_dock.raise_()

    def _on_run_started(self, session) -> None:
        w = self.window
        _defer_full_collections(True)  # a 40-80 ms full garbage collection would stall the live curves
        session.handed_on.connect(self.paint_now)
        w.training_dock.show()
        w.training_dock.raise_()
        w.curves.plots.load_history(self.document.project.history)  # drops an unrecorded failed run
        w.curves.plots.begin_run(self.training.run_name, self.training.run_settings)
        self._show_run_panels()
        if self.training.data is not None:
            w.results.set_class_names(self.training.data.class_names)

    def _on_training_events(self, events: list) -> None:
        w = self.window
        w.curves.plots.add_events(events)
        if all(isinstance(e, StepFinished) for e in events):
            w.curves.plots.flush_in_turn()  # one plot drawn in this frame, the next in the next (~7 a second each)
        else:  # an epoch's end, a pause, the end: every plot shows it at once
            w.curves.plots.flush()
        epochs = [e for e in events if isinstance(e, EpochFinished)]
        if epochs:
            w.results_dock.show()
            w.results.show_epoch(epochs[-1])
            w.autosaver.save_now()  # each epoch's progress survives a crash

    def paint_now(self) -> None:
        """Paint what a frame of the live run changed before the event loop goes on.

        Left to Qt, the frame reaches the screen in later passes of the event loop (the plots' scene
        sorts out its changed items, then the window repaints): separate pauses of the GUI thread after
        the frame's own, each of which can hold up a timer or a key press. Sent now, a frame is one
        pause. Only the events already posted for this are sent: nothing else runs in between.
        """
        curves = self.window.curves
        QCoreApplication.sendPostedEvents(curves.plots.graphics.scene(), QEvent.Type.MetaCall)
        for window in dict.fromkeys((curves.window(), self.window.window())):  # a floating Curves dock too
            QCoreApplication.sendPostedEvents(window, QEvent.Type.UpdateRequest)

    def _on_model_replaced(self) -> None:
        """Another project, a run undone or redone, other weights: Results shows nothing of the old model."""
        self._evaluated_model = None
        self.window.results.clear()

    def _note_run_ended(self, _end) -> None:
        self._after_run = True

    def evaluate_stored_weights(self) -> None:
        """An opened project's trained weights: the Results panel shows how they do (once per snapshot)."""
        if self.training.running and not self._after_run and self.window.model_source.selected_epoch is None:
            return  # a live run's snapshots: the run's own epoch results are on show (and no model is built)
        source = self.window.model_source
        model, data = source.model, source.data
        if self._after_run and model is not None:
            self._after_run = False
            self._evaluated_model = id(model)  # the run's own epoch results are on show
            return
        at_epoch = source.selected_epoch is not None  # the epoch slider: that epoch's stored weights
        if self.training.running and not at_epoch or model is None or data is None \
                or self.window.results_dock.isHidden() or id(model) == self._evaluated_model:
            return
        if not at_epoch and not source.description.startswith("trained"):
            if self._evaluated_model is not None:  # back from a stored epoch to untrained weights
                self._evaluated_model = None
                self.window.results.clear()
            return
        self._evaluated_model = id(model)
        self.window.results.evaluate(model, data, source.description if at_epoch else
                                     "the weights stored in the project",
                                     tta_flip=self.document.project.training.tta_flip,
                                     root=self.document.project.dataset.root)

    def _on_run_ended(self, _end) -> None:
        # The run's record (pushed just before) replaces its live curves; the session may still say
        # "running" here, so this does not go through show_history's guard.
        w = self.window
        _defer_full_collections(False)
        w.curves.plots.load_history(self.document.project.history)
        model, data = self.training.trained_model, self.training.data
        if model is not None and data is not None:
            w.results.find_mistakes(model, data, tta_flip=self.document.project.training.tta_flip,
                                    root=self.document.project.dataset.root)


def _defer_full_collections(live: bool) -> None:
    """Tell the app's GUI-thread garbage collector (:mod:`..shell.collector`) whether a run is live."""
    collector = getattr(QCoreApplication.instance(), "gc_collector", None)
    if collector is not None:
        collector.defer_full = live

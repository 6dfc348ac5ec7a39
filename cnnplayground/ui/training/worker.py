"""Training off the GUI thread: a worker thread that runs a :class:`Trainer`, a session that paces redraws.

:class:`TrainingWorker` follows superqt's ``GeneratorWorker`` pattern: the
trainer's generator is iterated in a :class:`QThread` of its own, and every
event it yields crosses to the GUI thread as a queued signal (``event_emitted``;
the last one, ``Finished`` or ``Failed``, also as ``run_finished``). Pause,
resume and stop go straight to the trainer's thread-safe methods: while paused
the generator blocks inside ``next()`` on a condition variable, so the worker
thread's event loop is never needed to control it.

:class:`TrainingSession` lives in the GUI thread. It buffers incoming events
and hands them on in batches through ``updated`` from a 33 ms timer (at most
~30 redraws a second however fast step events arrive); any event other than
:class:`StepFinished` (epoch ends, pause, resume, the end of the run) flushes
the buffer at once, so those reach the views without waiting for a tick. It
also tracks the run's state for buttons and status text.

Neither class needs a window (DESIGN.md, "Threading rules": workers never touch
widgets, the GUI thread never trains and never blocks on a lock).
"""

from __future__ import annotations

import os

import torch
from PySide6.QtCore import QObject, QThread, QTimer, Signal, Slot

from ...train.events import EpochFinished, Event, Failed, Finished, Paused, Resumed, StepFinished
from ...train.steplog import StepLog
from ...train.trainer import Trainer

#: How often the session hands buffered events to the views (ms): at most ~30 redraws a second.
FLUSH_INTERVAL_MS = 33

#: States of a :class:`TrainingSession`.
STATES = ("idle", "running", "paused", "stopping", "finished", "failed")


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def reserve_gui_core() -> int:
    """Give torch ``cpu_count − 1`` intra-op threads for the whole GUI process; returns the count.

    Called once at start-up, before any training: on the CPU a run then leaves a core to the GUI.
    It is not changed per run because torch's thread count is process-wide and setting it while
    another thread (a run, a panel's analysis, an evaluation in the pool) is inside torch can
    deadlock in the OpenMP runtime (pytorch/pytorch#75147); a test run hung that way.
    """
    threads = max(1, (os.cpu_count() or 1) - 1)
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return threads


class _Runner(QObject):
    """Lives in the worker thread and iterates the trainer's generator there."""

    event_emitted = Signal(object)
    run_finished = Signal(object)
    crashed = Signal(str)

    def __init__(self, trainer: Trainer) -> None:
        super().__init__()
        self._trainer = trainer

    @Slot()
    def run(self) -> None:
        # The thread count is the process's (see reserve_gui_core): never changed here.
        try:
            last: Event | None = None
            for event in self._trainer.run():
                last = event
                self.event_emitted.emit(event)
            if isinstance(last, Finished | Failed):
                self.run_finished.emit(last)
            else:
                self.crashed.emit("the training run ended without a final event")
        except Exception as exc:  # noqa: BLE001 - reported to the GUI, never lost in a thread
            self.crashed.emit(_one_line(exc))
        finally:
            # The thread's only job is done: leave its event loop (it may not have started yet;
            # quit() then is a no-op and the loop exits because of the pending call below).
            QThread.currentThread().quit()


class TrainingWorker(QObject):
    """Runs one :class:`Trainer` run in a :class:`QThread` of its own.

    Create it in the GUI thread; the object that iterates the generator is moved
    to the worker thread, this one stays with its creator, so its signals arrive
    there as queued calls. All methods are for the creating (GUI) thread. One
    worker runs one run: ``start()`` a second time does nothing.

    Signals: ``event_emitted(event)`` for every event the trainer yields;
    ``run_finished(event)`` with the final :class:`Finished` or :class:`Failed`;
    ``crashed(message)`` with one line if the generator itself raised (the trainer
    turns failures into ``Failed``, so this means a bug).
    """

    event_emitted = Signal(object)
    run_finished = Signal(object)
    crashed = Signal(str)

    def __init__(self, trainer: Trainer, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._trainer = trainer
        self._started = False
        self._thread = QThread(self)
        self._thread.setObjectName("training")
        self._runner: _Runner | None = _Runner(trainer)
        self._runner.moveToThread(self._thread)
        self._runner.event_emitted.connect(self.event_emitted)
        self._runner.run_finished.connect(self.run_finished)
        self._runner.crashed.connect(self.crashed)
        self._thread.started.connect(self._runner.run)
        # The runner is owned by Python and lives as long as this worker. It must not also be
        # given to Qt (thread.finished → deleteLater): two owners delete it twice and crash.

    @property
    def trainer(self) -> Trainer:
        return self._trainer

    @property
    def is_running(self) -> bool:
        """True while the worker thread runs (from ``start()`` until the run ended or was shut down)."""
        return self._thread.isRunning()

    def start(self) -> None:
        """Start the run in the worker thread; returns at once."""
        if self._started:
            return
        self._started = True
        self._thread.start()

    def pause(self) -> None:
        """Ask the trainer to pause before its next step (a :class:`Paused` event follows)."""
        self._trainer.pause()

    def resume(self) -> None:
        self._trainer.resume()

    def stop(self) -> None:
        """Ask the trainer to stop before its next step (also when paused); ``Finished(reason="stopped")`` follows."""
        self._trainer.stop()

    def wait(self, timeout_ms: int = -1) -> bool:
        """Block until the worker thread has ended (``-1``: no limit); True when it has (or never started)."""
        if not self._thread.isRunning():
            return True
        if timeout_ms < 0:
            return self._thread.wait()
        return self._thread.wait(timeout_ms)

    def shutdown(self, timeout_ms: int = 10_000) -> bool:
        """Stop the run (also when paused) and wait for the thread to end; True when it has.

        For closing a window or the app: the trainer stops before its next step,
        so this takes at most about one step (or one validation pass).
        """
        self._trainer.stop()
        self._thread.quit()
        return self.wait(timeout_ms)


class TrainingSession(QObject):
    """One training run as the GUI sees it: events in paced batches, a state, the curves so far.

    Lives in the GUI thread and owns a :class:`TrainingWorker`. ``updated(events)``
    carries the events received since the last one, in order: step events at
    most once per timer tick (``FLUSH_INTERVAL_MS``), any other event at once.
    ``state_changed(state)`` follows the run: ``"idle"`` → ``"running"`` ⇄
    ``"paused"`` → (``"stopping"``) → ``"finished"`` or ``"failed"``; the state
    changes when the trainer's event arrives (``"paused"`` on :class:`Paused`),
    not when the button is pressed (``"stopping"`` excepted). Once stopping, a
    ``Paused`` or ``Resumed`` that crossed the Stop on its way changes nothing,
    and once the final event is in, ``pause``/``resume``/``stop`` do nothing.
    """

    updated = Signal(list)
    state_changed = Signal(str)

    def __init__(self, trainer: Trainer, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.worker = TrainingWorker(trainer, self)
        self.worker.event_emitted.connect(self._on_event_emitted)
        self.worker.crashed.connect(self._on_worker_crashed)
        self._state = "idle"
        self._closed = False
        self._buffer: list[Event] = []
        #: The latest step event, every epoch event, and the step events received so far (every one up to
        #: MAX_STEP_POINTS, then merged in equal groups: bounded however long the run, see StepLog).
        self.latest_step: StepFinished | None = None
        self.history: list[EpochFinished] = []
        self.steps = StepLog()
        #: The run's last event (``Finished`` / ``Failed``) once it has arrived.
        self.final_event: Finished | Failed | None = None
        #: One line when the worker crashed (a bug, not a training failure).
        self.error: str | None = None
        #: Timer ticks so far (tests count them to let time pass without sleeping).
        self.ticks = 0
        self._timer = QTimer(self)
        self._timer.setInterval(FLUSH_INTERVAL_MS)
        self._timer.timeout.connect(self._on_timer_ticked)

    @property
    def trainer(self) -> Trainer:
        return self.worker.trainer

    @property
    def state(self) -> str:
        return self._state

    def start(self) -> None:
        if self._state != "idle":
            return
        self._set_state("running")
        self._timer.start()
        self.worker.start()

    @property
    def ended(self) -> bool:
        """The run's final event has arrived (its handlers may still be running) or the session was shut down."""
        return self.final_event is not None or self._closed

    def pause(self) -> None:
        if self._state in ("idle", "running") and not self.ended:
            self.worker.pause()

    def resume(self) -> None:
        if self._state in ("idle", "running", "paused") and not self.ended:
            self.worker.resume()

    def stop(self) -> None:
        # Not once the final event is in: a Stop pressed from a run_ended handler must not turn a
        # finished run into "stopping".
        if self._state in ("running", "paused") and not self.ended:
            self.worker.stop()
            self._set_state("stopping")

    def shutdown(self, timeout_ms: int = 10_000) -> bool:
        """Stop the run (also when paused), wait for the worker thread and stop the timer.

        Events still on their way are dropped; returns True when the thread has ended.
        """
        ended = self.worker.shutdown(timeout_ms)
        self._closed = True
        self._timer.stop()
        self._buffer.clear()
        return ended

    # --- from the worker -----------------------------------------------------------------
    @Slot(object)
    def _on_event_emitted(self, event: Event) -> None:
        if self._closed:
            return
        self._buffer.append(event)
        if isinstance(event, StepFinished):
            self.latest_step = event
            self.steps.append(event)
            return
        if isinstance(event, EpochFinished):
            self.history.append(event)
        elif isinstance(event, Finished | Failed):
            self.final_event = event  # before the views see it: controls are off from here on
        self._flush()
        if isinstance(event, Paused | Resumed) and self._state == "stopping":
            pass  # paused or resumed just before Stop reached the trainer: the run is ending, no way back
        elif isinstance(event, Paused):
            self._set_state("paused")
        elif isinstance(event, Resumed):
            self._set_state("running")
        elif isinstance(event, Finished | Failed):
            self._timer.stop()
            self._set_state("finished" if isinstance(event, Finished) else "failed")

    @Slot(str)
    def _on_worker_crashed(self, message: str) -> None:
        if self._closed:
            return
        self.error = message
        self._flush()
        self._timer.stop()
        self._set_state("failed")

    @Slot()
    def _on_timer_ticked(self) -> None:
        self.ticks += 1
        self._flush()

    def _flush(self) -> None:
        if self._buffer:
            events, self._buffer = self._buffer, []
            self.updated.emit(events)

    def _set_state(self, state: str) -> None:
        if state != self._state:
            self._state = state
            self.state_changed.emit(state)

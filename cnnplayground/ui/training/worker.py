"""Training off the GUI thread: a worker thread that runs a :class:`Trainer`, a session that paces redraws.

:class:`TrainingWorker` follows superqt's ``GeneratorWorker`` pattern: the
trainer's generator is iterated in a :class:`QThread` of its own. Every event it
yields goes into a thread-safe queue (``TrainingWorker.pending``); only the events
a control waits for (:data:`WAKING_EVENTS`: pause, resume, the end of the run) also
wake the GUI thread with a queued signal (``arrived``; the last one, ``Finished`` or
``Failed``, also comes as ``run_finished``). Everything else (steps, an epoch's end
with its weights snapshot) waits in the queue for the session's next frame, so a
fast run costs the GUI thread one wake-up per frame, not one per event, and an
epoch's end is drawn in one frame with the steps around it. Pause,
resume and stop go straight to the trainer's thread-safe methods: while paused
the generator blocks inside ``next()`` on a condition variable, so the worker
thread's event loop is never needed to control it.

:class:`TrainingSession` lives in the GUI thread. Its frame timer takes the queued
events and hands them on through ``updated``, then says so once (``handed_on``: the
window paints the frame then, inside it); an ``arrived`` signal hands them on at once.
Frames come every :data:`FLUSH_INTERVAL_MS` (about 28 a second), so the curves move
smoothly; only if a frame costs the GUI thread more than half of that (its handlers plus
the repaint the window reports, :meth:`TrainingSession.add_frame_cost`) does the next one
wait ``2 × cost``, never longer than :data:`MAX_FLUSH_INTERVAL_MS` (20 frames a second).
The views keep a frame cheap (``plots.py``: no antialiased dense curves, cached axes, one
bin per pixel column); ``benchmarks/bench_gui_latency.py`` and docs/PERFORMANCE.md give
the frame rate and what it leaves of the GUI's latency.
It also tracks the run's state for buttons and status text.

Neither class needs a window (DESIGN.md, "Threading rules": workers never touch
widgets, the GUI thread never trains and never blocks on a lock).
"""

from __future__ import annotations

import os
import time
from collections import deque

import torch
from PySide6.QtCore import QObject, QThread, QTimer, Signal, Slot

from ...core.errors import one_line
from ...train.events import EpochFinished, Event, Failed, Finished, Paused, Resumed, StepFinished
from ...train.fastpath import adopt_thread_count
from ...train.run_state import RunState
from ...train.steplog import StepLog
from ...train.trainer import Trainer

#: The interval between two frames (ms): the views get step events about 28 times a second.
FLUSH_INTERVAL_MS = 36
#: The longest (ms): however costly the views' updates, a live run has at least 20 frames a second.
MAX_FLUSH_INTERVAL_MS = 50
#: A frame may take at most this share of the GUI thread before the next one waits longer (up to the maximum).
GUI_SHARE = 0.5
#: Weight of the newest frame in the running cost estimate (an exponential moving average).
_COST_WEIGHT = 0.3

#: Events that wake the GUI thread as soon as they are queued: what the Pause, Resume and Stop buttons wait for.
#: The others wait for the next frame (at most MAX_FLUSH_INTERVAL_MS).
WAKING_EVENTS = (Paused, Resumed, Finished, Failed)

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
    """Lives in the worker thread and iterates the trainer's generator there, queueing every event."""

    arrived = Signal()
    stepped = Signal()
    run_finished = Signal(object)
    crashed = Signal(str)

    def __init__(self, trainer: Trainer, pending: deque[Event]) -> None:
        super().__init__()
        self._trainer = trainer
        self._pending = pending
        #: Set by the GUI thread when a frame found no new step: the next step then wakes it (once).
        self.wake_on_step = False

    @Slot()
    def run(self) -> None:
        adopt_thread_count()  # the process's count (see reserve_gui_core), not MKL's default of every core
        try:
            last: Event | None = None
            for event in self._trainer.run():
                last = event
                self._pending.append(event)  # deque.append is atomic: no lock for the GUI to wait on
                if isinstance(event, WAKING_EVENTS):
                    self.arrived.emit()
                elif self.wake_on_step and isinstance(event, StepFinished):
                    self.wake_on_step = False  # a plain attribute: reading and writing it is atomic
                    self.stepped.emit()
            if isinstance(last, Finished | Failed):
                self.run_finished.emit(last)
            else:
                self.crashed.emit("the training run ended without a final event")
        except Exception as exc:  # noqa: BLE001 - reported to the GUI, never lost in a thread
            self.crashed.emit(one_line(exc, lines=None, with_type=True))
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

    Every event the trainer yields is appended to :attr:`pending` (take them with
    :meth:`take_events`). Signals: ``arrived()`` after one of :data:`WAKING_EVENTS`
    was queued (the others wake nobody: the session's frame timer collects them);
    ``run_finished(event)`` with the final :class:`Finished`
    or :class:`Failed`, after it was queued;
    ``crashed(message)`` with one line if the generator itself raised (the trainer
    turns failures into ``Failed``, so this means a bug).
    """

    arrived = Signal()
    stepped = Signal()
    run_finished = Signal(object)
    crashed = Signal(str)

    def __init__(self, trainer: Trainer, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._trainer = trainer
        self._started = False
        #: Events yielded and not yet taken, oldest first (appended by the worker thread).
        self.pending: deque[Event] = deque()
        self._thread = QThread(self)
        self._thread.setObjectName("training")
        self._runner: _Runner | None = _Runner(trainer, self.pending)
        self._runner.moveToThread(self._thread)
        self._runner.arrived.connect(self.arrived)
        self._runner.stepped.connect(self.stepped)
        self._runner.run_finished.connect(self.run_finished)
        self._runner.crashed.connect(self.crashed)
        self._thread.started.connect(self._runner.run)
        # The runner is owned by Python and lives as long as this worker. It must not also be
        # given to Qt (thread.finished → deleteLater): two owners delete it twice and crash.

    @property
    def trainer(self) -> Trainer:
        return self._trainer

    def take_events(self) -> list[Event]:
        """Every queued event, oldest first, removed from the queue (safe while the worker appends)."""
        taken: list[Event] = []
        while self.pending:
            taken.append(self.pending.popleft())
        return taken

    def wake_on_next_step(self) -> None:
        """Emit ``stepped()`` once, after the next step event is queued (for a frame waiting on data)."""
        if self._runner is not None:
            self._runner.wake_on_step = True

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
    carries the events received since the last one, in order, once per frame (every
    :data:`FLUSH_INTERVAL_MS`, up to :data:`MAX_FLUSH_INTERVAL_MS` when frames are costly),
    and at once when one of :data:`WAKING_EVENTS` comes; a batch ends after each event
    that is not a step. ``handed_on()`` follows the last batch of a frame or wake-up.
    ``state_changed(state)`` follows the run (a :class:`RunState`, never ``LOADING``): ``"idle"`` →
    ``"running"`` ⇄ ``"paused"`` → (``"stopping"``) → ``"finished"`` or ``"failed"``; the state
    changes when the trainer's event arrives (``"paused"`` on :class:`Paused`),
    not when the button is pressed (``"stopping"`` excepted). Once stopping, a
    ``Paused`` or ``Resumed`` that crossed the Stop on its way changes nothing,
    and once the final event is in, ``pause``/``resume``/``stop`` do nothing.
    """

    updated = Signal(list)
    handed_on = Signal()
    state_changed = Signal(str)

    def __init__(self, trainer: Trainer, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.worker = TrainingWorker(trainer, self)
        self.worker.arrived.connect(self._on_arrived)
        self.worker.stepped.connect(self._on_stepped)
        self.worker.crashed.connect(self._on_worker_crashed)
        self._state = RunState.IDLE
        self._closed = False
        #: The latest step event, every epoch event, and the step events received so far (every one up to
        #: MAX_STEP_POINTS, then merged in equal groups: bounded however long the run, see StepLog).
        self.latest_step: StepFinished | None = None
        self.history: list[EpochFinished] = []
        self.steps = StepLog()
        #: The run's last event (``Finished`` / ``Failed``) once it has arrived.
        self.final_event: Finished | Failed | None = None
        #: One line when the worker crashed (a bug, not a training failure).
        self.error: str | None = None
        #: Frame-timer ticks so far (tests count them to let time pass without sleeping).
        self.ticks = 0
        #: Estimated GUI time of one frame (ms): its handlers plus the repaint the window reports.
        self.frame_cost_ms = 0.0
        self._frame_ms: float | None = None  # the open frame's GUI time so far (None: none open)
        self._frame_started = 0.0  # perf_counter() at the latest frame timer tick
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)  # re-armed after each frame with the paced interval
        self._timer.setInterval(FLUSH_INTERVAL_MS)
        self._timer.timeout.connect(self._on_timer_ticked)

    @property
    def trainer(self) -> Trainer:
        return self.worker.trainer

    @property
    def state(self) -> RunState:
        return self._state

    def start(self) -> None:
        if self._state is not RunState.IDLE:
            return
        self._set_state(RunState.RUNNING)
        self._timer.start()
        self.worker.start()

    @property
    def ended(self) -> bool:
        """The run's final event has arrived (its handlers may still be running) or the session was shut down."""
        return self.final_event is not None or self._closed

    def pause(self) -> None:
        if self._state in (RunState.IDLE, RunState.RUNNING) and not self.ended:
            self.worker.pause()

    def resume(self) -> None:
        if self._state in (RunState.IDLE, RunState.RUNNING, RunState.PAUSED) and not self.ended:
            self.worker.resume()

    def stop(self) -> None:
        # Not once the final event is in: a Stop pressed from a run_ended handler must not turn a
        # finished run into "stopping".
        if self._state.can_stop and not self.ended:
            self.worker.stop()
            self._set_state(RunState.STOPPING)

    def shutdown(self, timeout_ms: int = 10_000) -> bool:
        """Stop the run (also when paused), wait for the worker thread and stop the timer.

        Events still on their way are dropped; returns True when the thread has ended.
        """
        ended = self.worker.shutdown(timeout_ms)
        self._closed = True
        self._timer.stop()
        self.worker.take_events()  # dropped
        return ended

    @property
    def frame_interval_ms(self) -> int:
        """The wait before the next frame: ``frame_cost_ms / GUI_SHARE`` within the bounds (≥ 20 frames a second)."""
        return int(min(MAX_FLUSH_INTERVAL_MS, max(FLUSH_INTERVAL_MS, self.frame_cost_ms / GUI_SHARE)))

    def add_frame_cost(self, ms: float) -> None:
        """GUI time (ms) the latest frame caused outside the session's handlers (a repaint).

        The window reports its repaints while a run is live. Those between a timer frame and
        the next tick are that frame's; repaints after a wake-up (a pause, a resume) are not.
        """
        if self._frame_ms is not None:
            self._frame_ms += ms

    # --- from the worker -----------------------------------------------------------------
    @Slot()
    def _on_arrived(self) -> None:
        self._close_frame()
        self._take()

    @Slot(str)
    def _on_worker_crashed(self, message: str) -> None:
        if self._closed:
            return
        self.error = message
        self._take()
        self._timer.stop()
        self._set_state(RunState.FAILED)

    @Slot()
    def _on_stepped(self) -> None:
        """A step came after a frame that had none: its frame comes now, or as soon as frames may
        (half an interval after the last), not a whole interval later. The curves then move with
        every step when steps are slower than frames (LeNet-5 at batch 128 on two cores: ~23 a second)."""
        if self.ended or not self._timer.isActive():
            return
        since = (time.perf_counter() - self._frame_started) * 1000.0
        # Costly frames stay as far apart as the timer keeps them (never more than MAX_FLUSH_INTERVAL_MS).
        gap = max(FLUSH_INTERVAL_MS // 2, min(MAX_FLUSH_INTERVAL_MS, self.frame_cost_ms / GUI_SHARE))
        self._timer.start(max(0, round(gap - since)))

    @Slot()
    def _on_timer_ticked(self) -> None:
        self.ticks += 1
        self._close_frame()
        started = self._frame_started = time.perf_counter()
        spent = 0.0
        if self._take():  # a frame: its handlers' time, plus the repaints reported until the next tick
            spent = (time.perf_counter() - started) * 1000.0
            self._frame_ms = spent
        elif not self.ended:
            self.worker.wake_on_next_step()
        if not self.ended:  # frames start frame_interval_ms apart (the wait: what the frame left of it, ≥ half)
            self._timer.start(max(FLUSH_INTERVAL_MS // 2, round(self.frame_interval_ms - spent)))

    def _close_frame(self) -> None:
        """Fold the open frame's GUI time into :attr:`frame_cost_ms` (a moving average)."""
        if self._frame_ms is not None:
            self.frame_cost_ms += _COST_WEIGHT * (self._frame_ms - self.frame_cost_ms)
            self._frame_ms = None

    def _take(self) -> bool:
        """Hand every queued event on, in order; True if any step event went with them.

        Step events are batched; any other event ends the batch at once and then changes the state
        (``Paused`` → "paused"), so the views have seen everything before it when the state changes.
        """
        if self._closed:
            return False
        batch: list[Event] = []
        stepped = False
        taken = self.worker.take_events()
        for event in taken:
            batch.append(event)
            if isinstance(event, StepFinished):
                self.latest_step = event
                self.steps.append(event)
                stepped = True
                continue
            if isinstance(event, EpochFinished):
                self.history.append(event)
            elif isinstance(event, Finished | Failed):
                self.final_event = event  # before the views see it: controls are off from here on
            self.updated.emit(batch)
            batch = []
            if isinstance(event, Paused | Resumed) and self._state is RunState.STOPPING:
                pass  # paused or resumed just before Stop reached the trainer: the run is ending, no way back
            elif isinstance(event, Paused):
                self._set_state(RunState.PAUSED)
            elif isinstance(event, Resumed):
                self._set_state(RunState.RUNNING)
            elif isinstance(event, Finished | Failed):
                self._timer.stop()
                self._set_state(RunState.FINISHED if isinstance(event, Finished) else RunState.FAILED)
            if self._closed:  # a handler shut the session down
                return stepped
        if batch:
            self.updated.emit(batch)
        if taken and not self._closed:
            self.handed_on.emit()
        return stepped

    def _set_state(self, state: RunState) -> None:
        if state != self._state:
            self._state = state
            self.state_changed.emit(state)

"""Long analyses off the GUI thread: a generator iterated in a worker, cancellable between items.

A :class:`Job` runs a generator (activation maximization steps, a pass over the
dataset, an ε sweep) in a thread of the inspection pool. The GUI gets the items
in batches, at most every ``interval_ms`` (a maximization of 500 steps/s does not
queue 500 repaints): each batch holds every item since the previous one, oldest
first, so nothing is lost and a panel draws only the newest. :meth:`Job.cancel` asks the worker to stop
at the generator's next item and returns at once; after it, the job emits nothing
more, so a panel can start the next job straight away.

The pool is separate from Qt's global pool (dataset loading, evaluation): a long
gallery never holds up a dataset load. Its two threads leave the trainer's cores
alone only in so far as the OS schedules them; analyses are short or cancelled when
their panel is hidden.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal, Slot

from ..core.errors import one_line
from ..train.fastpath import adopt_thread_count

_POOL: QThreadPool | None = None


def pool() -> QThreadPool:
    """The thread pool of inspection jobs (two threads)."""
    global _POOL
    if _POOL is None:
        _POOL = QThreadPool()
        _POOL.setMaxThreadCount(2)
        _POOL.setExpiryTimeout(30_000)
    return _POOL


def describe_error(exc: BaseException) -> str:
    """A one-line message for a failure inside an analysis."""
    text = one_line(exc)
    if isinstance(exc, MemoryError) or "out of memory" in text.lower():
        return "Out of memory: try fewer images, a smaller gallery or the CPU"
    return text


class _Relay(QObject):
    """Lives in the GUI thread; the worker emits its signals (delivered queued)."""

    item = Signal()
    ended = Signal(str, str)  # outcome ("done", "cancelled", "failed"), message


class _Runner(QRunnable):
    def __init__(self, job: Job) -> None:
        super().__init__()
        self.job = job

    def run(self) -> None:
        adopt_thread_count()
        self.job._work()


class Job(QObject):
    """One generator in the background.

    Signals (GUI thread): ``progressed(items)`` with the items since the last one
    (oldest first), ``done()`` after the last item, ``failed(message)``. A cancelled job emits nothing after
    :meth:`cancel`.
    """

    progressed = Signal(list)
    done = Signal()
    failed = Signal(str)

    def __init__(self, work: Iterator[Any], interval_ms: int = 33, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._work_items = work
        self._interval = interval_ms / 1000.0
        self._lock = threading.Lock()
        self._pending: list[Any] = []
        self._cancel = threading.Event()
        self._finished = threading.Event()
        self._active = False
        self.outcome = ""  # "", then "done", "cancelled" or "failed"
        self._relay = _Relay(self)
        self._relay.item.connect(self._deliver)
        self._relay.ended.connect(self._on_ended)

    @property
    def running(self) -> bool:
        """Started and neither finished nor cancelled (as seen from the GUI)."""
        return self._active

    def start(self) -> Job:
        self._active = True
        pool().start(_Runner(self))
        return self

    def cancel(self) -> None:
        """Stop at the next item; nothing more is emitted."""
        self._cancel.set()
        if self._active:
            self._active = False
            self.outcome = "cancelled"

    def wait(self, timeout_s: float = 30.0) -> bool:
        """Block until the worker has left the generator (tests, closing the window)."""
        return self._finished.wait(timeout_s)

    # --- worker thread --------------------------------------------------------------------
    def _work(self) -> None:
        outcome, message = "done", ""
        last_emit = 0.0
        try:
            for item in self._work_items:
                with self._lock:
                    self._pending.append(item)
                if self._cancel.is_set():
                    outcome = "cancelled"
                    break
                now = time.perf_counter()
                if now - last_emit >= self._interval:
                    last_emit = now
                    self._emit(self._relay.item)
        except BaseException as exc:  # noqa: BLE001 - reported to the GUI, never lost in a thread
            outcome, message = "failed", describe_error(exc)
        finally:
            close = getattr(self._work_items, "close", None)
            if close is not None:
                with contextlib.suppress(Exception):  # its own cleanup failing must not hide the outcome
                    close()
            self._finished.set()
            self._emit(self._relay.ended, outcome, message)

    def _emit(self, signal, *args) -> None:
        try:
            signal.emit(*args)
        except RuntimeError:  # the panel (and the relay with it) was deleted: nobody is listening
            self._cancel.set()

    # --- GUI thread ------------------------------------------------------------------------
    @Slot()
    def _deliver(self) -> None:
        if self._active:
            self._deliver_pending()

    @Slot(str, str)
    def _on_ended(self, outcome: str, message: str) -> None:
        if not self._active:
            return
        self._active = False
        self.outcome = outcome
        if outcome == "failed":
            self.failed.emit(message)
            return
        self._deliver_pending()
        self.done.emit()

    def _deliver_pending(self) -> None:
        with self._lock:
            items, self._pending = self._pending, []
        if items:
            self.progressed.emit(items)

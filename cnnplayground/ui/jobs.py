"""Work off the GUI thread: the two kinds of background job of the app, in one place.

After superqt's split (``GeneratorWorker`` / ``FunctionWorker``):

- :class:`GeneratorJob` iterates a generator (activation maximization steps, a pass over
  the dataset, an ε sweep, a sweep's or an experiment's training events, an export, an
  autosave) and is cancellable between its items. The GUI gets the items in batches, at
  most every ``interval_ms`` (a maximization of 500 steps/s does not queue 500 repaints):
  each batch holds every item since the previous one, oldest first, so nothing is lost
  and a panel draws only the newest.
- :class:`FunctionJob` makes one call (loading a dataset, evaluating a network) and
  hands back its result.

Both emit past-tense signals, delivered on the GUI thread (the worker only queues them,
it never touches a widget): ``progressed(items)`` and ``finished()`` (generator),
``returned(result)`` (function), and ``failed(message)`` (both; the message is one line,
:func:`describe_error`). :meth:`GeneratorJob.cancel` and :meth:`FunctionJob.cancel` return
at once; after them the job emits nothing more, so a panel can start the next job straight
away. A job given a :class:`~cnnplayground.core.progress.Progress` (which its work reports to) also
cancels that, so the work itself stops at its next report instead of running on unseen
(:class:`~cnnplayground.core.progress.Cancelled` ends it quietly); :attr:`progress` says how far
it got. Every job's thread adopts the process's thread count before it runs torch
(:func:`~cnnplayground.train.fastpath.adopt_thread_count`).

Two pools: generator jobs run in :func:`pool` (two threads), separate from Qt's global pool
where function jobs run by default (dataset loading, evaluation): a long gallery never
holds up a dataset load. The pool's two threads leave the trainer's cores alone only in so
far as the OS schedules them; analyses are short or cancelled when their panel is hidden.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

import shiboken6
from PySide6.QtCore import QCoreApplication, QObject, QRunnable, QThreadPool, QTimer, Signal, Slot

from ..core.errors import UserError, one_line
from ..core.progress import Cancelled, Progress
from ..train.fastpath import adopt_thread_count

_POOL: QThreadPool | None = None


def pool() -> QThreadPool:
    """The thread pool of generator jobs (two threads)."""
    global _POOL
    if _POOL is None:
        _POOL = QThreadPool()
        _POOL.setMaxThreadCount(2)
        _POOL.setExpiryTimeout(30_000)
    return _POOL


def describe_error(exc: BaseException) -> str:
    """A one-line message for a failure inside a job."""
    text = one_line(exc)
    if isinstance(exc, UserError):  # said for the user already (a network refused as too large included)
        return text
    if isinstance(exc, MemoryError) or "out of memory" in text.lower():
        return "Out of memory: try fewer images, a smaller gallery or the CPU"
    return text


class _Graveyard(QObject):
    """Where a worker thread leaves what it held, to be let go of in the GUI thread.

    A worker that drops the last reference to a Qt object deletes it there: a job holds its work, the work
    its arguments (a panel, a dock, a dialog in a closure), and a window closed while the work ran left
    the worker with the last reference to its Python side. Python-owned Qt objects in it (a timer, a
    scene, a document) were then destroyed in the worker while the GUI thread ran its event loop
    (tests/ui/test_jobs.py saw the panel released in a pool thread).
    """

    bury = Signal()

    def __init__(self, parent: QObject | None) -> None:
        super().__init__(parent)
        #: What workers left, taken by the GUI thread (``deque.append`` and ``popleft`` are thread-safe). A
        #: worker appends, drops its own references, and only then signals: the GUI thread never lets go of
        #: something before the worker has (which left the worker the last reference after all).
        self._left: deque[object] = deque()
        #: Listeners kept until the job that listened is gone (see :meth:`keep_until_gone`).
        self._kept: dict[int, object] = {}
        self.bury.connect(self._release)  # queued when emitted from a worker: runs in the GUI thread

    def leave(self, held: object) -> None:
        """(Worker thread.) ``held`` goes to the GUI thread; the caller drops its own references, then emits
        :attr:`bury`."""
        self._left.append(held)

    @Slot()
    def _release(self) -> None:
        while self._left:
            self._left.popleft()  # let go of here, in the GUI thread

    def keep_until_gone(self, job: QObject, keep: object) -> None:
        """Hold ``keep`` (a job's listener) until ``job`` has been deleted, then let go of it from the event loop.

        A job's Python side and the connections made to its signals (lambdas over the listener) go inside the
        job's C++ destructor; where they held the last reference to a listener made without a parent, the
        listener was deleted there, and the job with it a second time (a bus error)."""
        key = id(job)
        self._kept[key] = keep
        job.destroyed.connect(functools.partial(self._job_gone, key))

    def _job_gone(self, key: int, *_args: object) -> None:
        QTimer.singleShot(0, self, functools.partial(self._kept.pop, key, None))


_GRAVEYARD: _Graveyard | None = None


def _graveyard() -> _Graveyard:
    """Made in the GUI thread, when the first job is (jobs are made there)."""
    global _GRAVEYARD
    if _GRAVEYARD is None or not shiboken6.isValid(_GRAVEYARD):
        _GRAVEYARD = _Graveyard(QCoreApplication.instance())
    return _GRAVEYARD


class _Runner(QRunnable):
    """Runs a job's work in a pool thread (after adopting the process's thread count), and hands what the
    work held back to the GUI thread to be let go of there (see :class:`_Graveyard`)."""

    def __init__(self, work: Callable[[], None], owner: QObject | None) -> None:
        super().__init__()
        self.work: Callable[[], None] | None = work
        # The job's listener (a panel, dock or dialog): the work's closures often hold it, and a generator
        # that ends lets go of its closure in this thread; held here, it is let go of with the work. (Not
        # by the job itself: a job's Python side can go inside its own C++ destructor, and its listener
        # going there deleted the job a second time.)
        self.owner: QObject | None = owner
        self._graveyard = _graveyard()

    def run(self) -> None:
        held, self.work, self.owner = (self.work, self.owner), None, None
        try:
            adopt_thread_count()
            if held[0] is not None:
                held[0]()
        finally:
            # The graveyard holds the work (the job, its arguments) and the owner until the GUI thread takes
            # them; this thread's references go first, then it is told.
            self._graveyard.leave(held)
            del held
            _emit(self._graveyard.bury)


def _emit(signal, *args) -> bool:
    """Queue ``signal`` from the worker; False when its job (and relay) is gone: nobody is listening."""
    try:
        signal.emit(*args)
    except RuntimeError:
        return False
    return True


def _relay_parent() -> QObject | None:
    """The application: a relay is owned by it, not by Python. Python drops its last reference to a relay in
    the worker thread (when the worker is done with it), and a Python-owned QObject is deleted where its last
    reference goes: from the worker, an object of the GUI thread (seen as rare crashes of the GUI thread when
    a window or dialog closed while its data loaded). Owned by the application, it is deleted by
    ``deleteLater`` in the GUI thread once the worker's last signal (``done``) has arrived there."""
    return QCoreApplication.instance()


def _to_live(job: QObject, slot: str) -> Callable[..., None]:
    """A receiver for a relay's signal that calls ``job``'s ``slot`` only while the job's Qt object lives: a job
    deleted with its window or dialog while its worker ran (a data load when a window closed) had the worker's
    late signal delivered to a dead object (a crash of the GUI thread). Holds the job weakly."""
    ref = weakref.ref(job)

    def deliver(*args: Any) -> None:
        target = ref()
        if target is not None and shiboken6.isValid(target):
            getattr(target, slot)(*args)

    return deliver


class _GeneratorRelay(QObject):
    """Lives in the GUI thread; the worker emits its signals (delivered queued), ``done`` last."""

    item = Signal()
    ended = Signal(str, str)  # outcome ("done", "cancelled", "failed"), message
    done = Signal()


class GeneratorJob(QObject):
    """One generator in the background, cancellable between its items.

    Signals (GUI thread): ``progressed(items)`` with the items since the last one (oldest
    first), ``finished()`` after the last item, ``failed(message)``. A cancelled job emits
    nothing after :meth:`cancel`. :attr:`outcome` is ``""`` until it ended, then ``"done"``,
    ``"cancelled"`` or ``"failed"``.
    """

    progressed = Signal(list)
    finished = Signal()
    failed = Signal(str)

    def __init__(self, work: Iterator[Any], interval_ms: int = 33, parent: QObject | None = None, *,
                 progress: Progress | None = None) -> None:
        super().__init__(parent)
        #: What the work reports (None: it does not); cancelled with the job.
        self.progress = progress
        self._work_items = work
        self._interval = interval_ms / 1000.0
        self._lock = threading.Lock()
        self._pending: list[Any] = []
        self._cancel = threading.Event()
        self._ended = threading.Event()
        self._active = False
        self.outcome = ""
        # No parent: the relay outlives the job while its worker may still emit (a job deleted with its
        # panel or dialog took a child relay with it, and a worker emitting at that moment crashed).
        self._relay = _GeneratorRelay(_relay_parent())
        self._relay.item.connect(_to_live(self, "_deliver"))
        self._relay.ended.connect(_to_live(self, "_on_ended"))
        self._relay.done.connect(self._relay.deleteLater)
        # An item yielded within ``interval_ms`` of the last batch waits for the next item; while the work
        # then runs a long step (a batch of occlusion patches) its panel's bar stayed one step behind the
        # work done. The GUI collects such items every interval as well.
        self._flush = QTimer(self._relay)  # (the relay's: deleted in the GUI thread, never from a worker)
        self._flush.setInterval(max(1, interval_ms))
        self._flush.timeout.connect(self._deliver)

    def _stop_flush(self) -> None:
        if shiboken6.isValid(self._flush):  # (gone with the relay once the worker's last signal arrived)
            self._flush.stop()

    @property
    def running(self) -> bool:
        """Started and neither ended nor cancelled (as seen from the GUI)."""
        return self._active

    def start(self) -> GeneratorJob:
        self._active = True
        self._flush.start()
        pool().start(_Runner(self._work, self.parent()))
        return self

    def cancel(self) -> None:
        """Stop at the next item (or the work's next progress report); nothing more is emitted."""
        self._cancel.set()
        self._stop_flush()
        if self.progress is not None:
            self.progress.cancel()
        if self._active:
            self._active = False
            self.outcome = "cancelled"

    def wait(self, timeout_s: float = 30.0) -> bool:
        """Block until the worker has left the generator (tests, closing the window)."""
        return self._ended.wait(timeout_s)

    # --- worker thread --------------------------------------------------------------------
    def _work(self) -> None:
        relay = self._relay  # held until the worker is done, whatever happens to the job
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
                    if not _emit(relay.item):
                        self._cancel.set()
        except Cancelled:
            outcome = "cancelled"
        except BaseException as exc:  # noqa: BLE001 - reported to the GUI, never lost in a thread
            outcome, message = "failed", describe_error(exc)
        finally:
            close = getattr(self._work_items, "close", None)
            if close is not None:
                with contextlib.suppress(Exception):  # its own cleanup failing must not hide the outcome
                    close()
            self._ended.set()
            _emit(relay.ended, outcome, message)
            _emit(relay.done)

    # --- GUI thread ------------------------------------------------------------------------
    @Slot()
    def _deliver(self) -> None:
        if self._active:
            self._deliver_pending()

    @Slot(str, str)
    def _on_ended(self, outcome: str, message: str) -> None:
        self._stop_flush()
        # The worker has left (and closed) the generator: let go of it here, in a slot (see FunctionJob).
        self._work_items = iter(())
        if not self._active:
            return
        self._active = False
        self.outcome = outcome
        if outcome == "failed":
            self.failed.emit(message)
            return
        self._deliver_pending()
        self.finished.emit()

    def _deliver_pending(self) -> None:
        with self._lock:
            items, self._pending = self._pending, []
        if items:
            self.progressed.emit(items)


class _FunctionRelay(QObject):
    """Lives in the GUI thread; the worker emits its signals (delivered queued), ``done`` last."""

    returned = Signal(object)
    failed = Signal(str)
    done = Signal()


def _returns_none(*_args: Any) -> None:
    return None


class FunctionJob(QObject):
    """One call in the background: ``function(*args)``.

    Signals (GUI thread): ``returned(result)`` or ``failed(message)``, where the message is
    ``describe(exc)``, called in the worker while the exception is being handled (so it may
    log its traceback). A cancelled job emits nothing after :meth:`cancel` (the call itself
    runs to its end, or to its next report to ``progress``). :attr:`outcome` is ``""`` until it ended, then ``"done"``,
    ``"cancelled"`` or ``"failed"``.

    Runs in ``thread_pool`` (Qt's global pool when None); jobs started one after another
    report in the order they end, each exactly once. Having reported (or been cancelled and
    ended), the job deletes itself (``deleteLater``): give it the object that listens as
    ``parent``, so that a job still running when its listener goes goes with it, silently.
    """

    returned = Signal(object)
    failed = Signal(str)

    def __init__(self, function: Callable[..., Any], *args: Any,
                 describe: Callable[[BaseException], str] = describe_error,
                 thread_pool: QThreadPool | None = None, parent: QObject | None = None,
                 progress: Progress | None = None) -> None:
        super().__init__(parent)
        self._function, self._args, self._describe = function, args, describe
        #: What the call reports (None: it does not); cancelled with the job.
        self.progress = progress
        self._pool = thread_pool
        self._cancelled = threading.Event()
        self._ended = threading.Event()
        self._active = False
        self.outcome = ""
        self._relay = _FunctionRelay(_relay_parent())  # not the job's: see GeneratorJob
        self._relay.returned.connect(_to_live(self, "_on_returned"))
        self._relay.failed.connect(_to_live(self, "_on_failed"))
        self._relay.done.connect(self._relay.deleteLater)

    @property
    def running(self) -> bool:
        """Started and neither ended nor cancelled (as seen from the GUI)."""
        return self._active

    def start(self) -> FunctionJob:
        self._active = True
        (self._pool or QThreadPool.globalInstance()).start(_Runner(self._work, self.parent()))
        return self

    def cancel(self) -> None:
        """Drop the result (and stop the call at its next progress report): nothing more is emitted."""
        self._cancelled.set()
        if self.progress is not None:
            self.progress.cancel()
        if self._active:
            self._active = False
            self.outcome = "cancelled"

    def wait(self, timeout_s: float = 30.0) -> bool:
        """Block until the call has returned or raised (tests, closing the window)."""
        return self._ended.wait(timeout_s)

    # --- worker thread --------------------------------------------------------------------
    def _work(self) -> None:
        relay = self._relay  # held until the worker is done, whatever happens to the job
        try:
            result = self._function(*self._args)
        except Cancelled:  # cancel() has been called: nobody waits for a result
            self._ended.set()
            _emit(relay.failed, "cancelled")
        except BaseException as exc:  # noqa: BLE001 - reported to the GUI, never lost in a thread
            message = self._describe(exc)
            self._ended.set()
            _emit(relay.failed, message)
        else:
            self._ended.set()
            _emit(relay.returned, result)
        finally:
            _emit(relay.done)

    # --- GUI thread ------------------------------------------------------------------------
    @Slot(object)
    def _on_returned(self, result: Any) -> None:
        self._let_go_of_the_call()
        if self._active:
            self._active, self.outcome = False, "done"
            self.returned.emit(result)
        self._delete_later()

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        self._let_go_of_the_call()
        if self._active:
            self._active, self.outcome = False, "failed"
            self.failed.emit(message)
        self._delete_later()

    def _delete_later(self) -> None:
        """Delete this job from the event loop, its listener kept until the job is gone (see
        :meth:`_Graveyard.keep_until_gone`)."""
        owner = self.parent()
        if owner is not None:
            _graveyard().keep_until_gone(self, owner)
        self.deleteLater()

    def _let_go_of_the_call(self) -> None:
        """The call has returned (the worker is done with it): its function and arguments go now, in this
        slot. Kept, they went with the job's Python side, which can go inside the job's own C++ destructor,
        and an argument that held the job's listener (a closure over a panel) deleted the listener, and the
        job with it a second time, there."""
        self._function, self._args = _returns_none, ()

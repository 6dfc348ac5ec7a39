"""Background jobs: every item arrives in order, Stop is heard at the next item, failures are one line;
a function job hands its result (or its failure) to the GUI thread."""

from __future__ import annotations

import threading
import weakref

import pytest
from PySide6.QtCore import QThread, QThreadPool
from PySide6.QtWidgets import QApplication

from cnnplayground.ui.jobs import FunctionJob, GeneratorJob, describe_error, pool


def test_every_item_arrives_in_order_in_batches_then_done(qtbot):
    job = GeneratorJob(iter(range(500)), interval_ms=5)
    batches: list[list[int]] = []
    job.progressed.connect(batches.append)
    with qtbot.waitSignal(job.finished, timeout=10_000):
        job.start()
    assert [i for b in batches for i in b] == list(range(500))
    assert len(batches) < 500  # coalesced: not one GUI call per item
    assert job.outcome == "done" and not job.running


def test_an_item_held_back_arrives_while_the_work_runs_its_next_long_step(qtbot):
    """An item yielded within ``interval_ms`` of the last batch used to wait for the next item: a panel's
    bar stayed one step behind the work done while the next (long) step ran (issue 24)."""
    gate, got_first, arrived = threading.Event(), threading.Event(), []

    def work():
        yield 0  # sent at once (the first)
        got_first.wait(10)
        yield 1  # within the interval of the first: held back…
        gate.wait(20)  # …while the next step runs long

    def on_items(items):
        arrived.extend(items)
        got_first.set()

    job = GeneratorJob(work(), interval_ms=1_000)
    job.progressed.connect(on_items)
    job.start()
    try:
        qtbot.waitUntil(lambda: arrived == [0, 1], timeout=10_000)  # the GUI collected it, the step still runs
        assert job.running and not gate.is_set()
    finally:
        gate.set()
    qtbot.waitUntil(lambda: job.outcome == "done", timeout=10_000)
    assert arrived == [0, 1]


def test_cancel_stops_the_generator_at_its_next_item_and_silences_the_job(qtbot):
    gate, produced, closed = threading.Event(), [], []

    def work():
        try:
            for i in range(1_000_000):
                produced.append(i)
                if i == 3:
                    gate.wait(10)  # hold the worker until the test has cancelled
                yield i
        finally:
            closed.append(True)

    job = GeneratorJob(work(), interval_ms=0)
    seen: list = []
    job.progressed.connect(seen.extend)
    job.finished.connect(lambda: seen.append("done"))
    job.start()
    qtbot.waitUntil(lambda: len(produced) >= 4, timeout=10_000)
    job.cancel()
    assert not job.running and job.outcome == "cancelled"
    gate.set()
    assert job.wait(10)
    pool().waitForDone(10_000)
    QApplication.processEvents()  # deliver what the worker queued: none of it may reach the panel
    assert closed == [True]
    assert len(produced) <= 5  # at most the item in hand when Stop came
    assert "done" not in seen and all(i <= 3 for i in seen)


@pytest.mark.parametrize("kind", ["generator", "function"])
def test_a_job_deleted_with_its_panel_leaves_its_worker_a_live_relay(qtbot, kind):
    """A dialog closed while its job ran took the job's relay (a child) with it, and the worker emitting on
    it at that moment crashed the app (a segfault seen twice in the learning-rate finder's tests). The relay
    now has no parent: it stays valid until the worker is done, and nothing reaches the deleted job."""
    import shiboken6
    from PySide6.QtWidgets import QWidget

    gate = threading.Event()
    panel = QWidget()

    def items():
        gate.wait(10)
        yield 1

    def call():
        gate.wait(10)
        return 1

    job = (GeneratorJob(items(), interval_ms=0, parent=panel) if kind == "generator"
           else FunctionJob(call, parent=panel))
    relay = job._relay
    job.start()
    panel.deleteLater()  # the panel goes, and its job with it, while the worker waits
    qtbot.waitUntil(lambda: not shiboken6.isValid(job), timeout=5_000)
    assert shiboken6.isValid(relay)
    gate.set()
    assert job.wait(10)
    QApplication.processEvents()  # what the worker queued goes nowhere
    assert shiboken6.isValid(relay)


@pytest.mark.parametrize("kind", ["generator", "function"])
def test_what_a_worker_held_of_a_closed_panel_is_let_go_of_in_the_gui_thread(qtbot, kind):
    """A panel (dock, dialog) closed while its job's work ran: the work's closure held the panel, and the
    worker dropped the last reference to it when it ended, destroying the panel's Python-owned Qt objects in
    the worker thread while the GUI thread ran its event loop (CI crashed in the GUI thread, four times,
    with a data load running). What the worker held is now let go of in the GUI thread."""
    import shiboken6
    from PySide6.QtCore import QObject
    from PySide6.QtWidgets import QWidget

    released_in: list[str] = []

    class Sentinel:
        def __del__(self) -> None:
            released_in.append(threading.current_thread().name)

    class Panel(QWidget):
        def __init__(self) -> None:
            super().__init__()
            self.sentinel = Sentinel()
            self.timer_owner = QObject()  # Python-owned, as a panel's document or scene is

    gate, entered = threading.Event(), threading.Event()
    panel = Panel()

    def items(p=panel):  # the work's closure holds the panel, as a panel's own work does
        entered.set()
        gate.wait(10)
        yield p.width()

    def call(p=panel):
        entered.set()
        gate.wait(10)
        return p.width()

    job = (GeneratorJob(items(), interval_ms=0, parent=panel) if kind == "generator"
           else FunctionJob(call, parent=panel))
    job.start()
    assert entered.wait(10)
    panel.deleteLater()  # the window goes while the worker runs; the test keeps no reference
    job_ref = weakref.ref(job)
    qtbot.waitUntil(lambda: not shiboken6.isValid(job_ref()), timeout=5_000)
    ended = job._ended
    del panel, job, items, call
    assert released_in == []  # the worker still holds it
    gate.set()
    assert ended.wait(10)
    qtbot.waitUntil(lambda: released_in != [], timeout=5_000)
    assert released_in == [threading.main_thread().name]


_LISTENER_ONLY_IN_THE_JOB = """
import gc, os, sys, threading
os.environ["QT_QPA_PLATFORM"] = "offscreen"
from PySide6.QtWidgets import QApplication, QWidget
from cnnplayground.ui.jobs import FunctionJob, GeneratorJob
app = QApplication([])
kind = sys.argv[1]
for _ in range(10):
    done = threading.Event()
    panel = QWidget()  # Python-owned: a panel a test, or a figure export, made without a parent
    panel.child = QWidget()
    def call(p=panel):
        return p.width()
    def items(p=panel):
        yield p.width()
    function = kind.startswith("function")
    job = FunctionJob(call, parent=panel) if function else GeneratorJob(items(), interval_ms=0, parent=panel)
    if kind.endswith("lambda"):  # a panel's own listener: a lambda over the panel, held by the job's connection
        (job.returned if function else job.finished).connect(lambda *_, p=panel: done.set())
    else:
        (job.returned if function else job.finished).connect(lambda *_: done.set())
    job.start()
    while not done.is_set():
        app.processEvents()
    del panel, job, call, items  # the job's arguments hold the last references to its listener
    for _ in range(50):
        app.processEvents()
    gc.collect()
print("survived", flush=True)
"""


@pytest.mark.parametrize("kind", ["function", "function-lambda", "generator", "generator-lambda"])
def test_a_job_whose_arguments_hold_the_last_reference_to_its_listener_ends_cleanly(tmp_path, kind):
    """A job's arguments, or a lambda connected to its signal, held its listener (the panel) and nothing else
    did: when the job deleted itself after returning, its Python side and its connections went inside its own
    C++ destructor, let go of the panel there, and the panel deleted the job a second time (a bus error every
    time). The job now lets go of its call when it returns, and the listener is kept until the job is gone. Run
    in a child process: a crash fails this test instead of ending the run."""
    import subprocess
    import sys

    script = tmp_path / "listener.py"
    script.write_text(_LISTENER_ONLY_IN_THE_JOB)
    proc = subprocess.run([sys.executable, str(script), kind], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "survived" in proc.stdout, (proc.returncode, proc.stderr[-2000:])


def test_a_failure_is_reported_as_one_line(qtbot):
    def work():
        yield 1
        raise ValueError("kernel 5 is larger than the input height 3\nsecond line")

    job = GeneratorJob(work())
    with qtbot.waitSignal(job.failed, timeout=10_000) as blocker:
        job.start()
    assert blocker.args == ["kernel 5 is larger than the input height 3"]
    assert job.outcome == "failed"


def test_progress_arrives_in_order_and_cancel_stops_between_yields(qtbot):
    resume, produced = threading.Event(), []

    def work():
        for i in range(10):
            produced.append(i)
            yield i * 10
            if i == 2:
                resume.wait(10)  # the worker waits here, between two yields, until the test cancelled

    job = GeneratorJob(work(), interval_ms=0)
    seen: list[int] = []
    job.progressed.connect(seen.extend)
    job.start()
    qtbot.waitUntil(lambda: seen == [0, 10, 20], timeout=10_000)
    job.cancel()
    resume.set()
    assert job.wait(10)
    assert produced == [0, 1, 2, 3]  # one more item was made, then the job stopped (not all ten)
    QApplication.processEvents()
    assert seen == [0, 10, 20]


def test_a_function_job_returns_its_result_on_the_gui_thread(qtbot):
    worker_threads: list[QThread] = []

    def work(a, b):
        worker_threads.append(QThread.currentThread())
        return a * b

    job = FunctionJob(work, 6, 7)
    received: list[tuple[int, QThread]] = []
    job.returned.connect(lambda value: received.append((value, QThread.currentThread())))
    with qtbot.waitSignal(job.returned, timeout=10_000):
        job.start()
    gui = QApplication.instance().thread()
    assert received == [(42, gui)]
    assert worker_threads and worker_threads[0] is not gui  # the call itself ran in the pool
    assert job.outcome == "done" and not job.running


def test_a_function_job_reports_its_failure_as_errored_with_the_message(qtbot):
    def work():
        raise ValueError("the dataset folder is empty\nmore detail")

    job = FunctionJob(work)
    returned: list = []
    job.returned.connect(returned.append)
    with qtbot.waitSignal(job.failed, timeout=10_000) as blocker:
        job.start()
    assert blocker.args == ["the dataset folder is empty"] and returned == []
    assert job.outcome == "failed"


def test_a_function_job_describes_its_failure_in_its_own_words(qtbot):
    job = FunctionJob(lambda: {}["x"], describe=lambda exc: f"could not load: {type(exc).__name__}")
    with qtbot.waitSignal(job.failed, timeout=10_000) as blocker:
        job.start()
    assert blocker.args == ["could not load: KeyError"]


def test_a_cancelled_function_job_reports_nothing(qtbot):
    gate = threading.Event()
    job = FunctionJob(lambda: gate.wait(10) and 1)
    got: list = []
    job.returned.connect(got.append)
    job.start()
    job.cancel()
    gate.set()
    assert job.wait(10)
    QThreadPool.globalInstance().waitForDone(10_000)
    QApplication.processEvents()
    assert got == []


@pytest.mark.parametrize("exc, text", [(MemoryError(), "Out of memory"),
                                       (RuntimeError("CUDA out of memory. Tried to allocate 2 GiB"), "Out of memory"),
                                       (KeyError("relu9"), "'relu9'")])
def test_error_messages(exc, text):
    assert describe_error(exc).startswith(text)


def test_cycles_are_collected_by_the_gui_thread_timer_not_by_any_thread(qtbot):
    import gc
    import weakref

    from cnnplayground.ui.shell.collector import GuiThreadCollector

    assert not gc.isenabled()  # the session runs as the app does (ui/collector.py)
    collector = GuiThreadCollector(interval_ms=10)
    collector.threshold = (0, 0, 0)  # collect at every tick

    class Node:
        pass

    def make_cycle_in_a_thread(out):
        a, b = Node(), Node()
        a.other, b.other = b, a
        out.append(weakref.ref(a))

    refs: list = []
    worker = threading.Thread(target=make_cycle_in_a_thread, args=(refs,))
    worker.start()
    worker.join()
    assert refs[0]() is not None  # nothing collected it in the worker
    qtbot.waitUntil(lambda: refs[0]() is None, timeout=5_000)  # the GUI-thread timer did
    collector.timer.stop()


def test_full_collections_wait_while_a_run_is_live_and_startup_objects_are_frozen(qtbot, monkeypatch):
    """A full collection (40-80 ms with torch and Qt loaded) waits for the end of a live run, unless garbage
    piles up ten times past the threshold; start-up's objects are frozen so later full collections skip them."""
    import gc

    from cnnplayground.ui.shell.collector import GuiThreadCollector

    collector = GuiThreadCollector(interval_ms=60_000)
    collected: list[int] = []
    counts = [(800, 20, 11)]
    monkeypatch.setattr(gc, "get_count", lambda: counts[0])
    monkeypatch.setattr(gc, "collect", lambda generation=2: collected.append(generation) or 0)
    collector.threshold = (700, 10, 10)
    collector.check()
    assert collected == [0, 1, 2]  # no run: as the automatic collector would
    collected.clear()
    collector.defer_full = True
    collector.check()
    assert collected == [0, 1]  # a live run: the full collection waits
    collected.clear()
    counts[0] = (800, 20, 101)
    collector.check()
    assert collected == [0, 1, 2]  # but not forever
    frozen: list[bool] = []
    monkeypatch.setattr(gc, "freeze", lambda: frozen.append(True))
    collected.clear()
    collector.freeze_startup()
    assert collected == [2] and frozen == [True]
    collector.stop()
    monkeypatch.undo()
    gc.disable()  # the session runs as the app does (the fixture's collector)


def test_a_live_run_in_the_window_defers_full_collections(qtbot, monkeypatch):
    from PySide6.QtCore import QCoreApplication

    from cnnplayground.ui.training import run_panels

    class Collector:
        defer_full = False

    app = QCoreApplication.instance()
    monkeypatch.setattr(app, "gc_collector", Collector(), raising=False)
    run_panels._defer_full_collections(True)
    assert app.gc_collector.defer_full
    run_panels._defer_full_collections(False)
    assert not app.gc_collector.defer_full

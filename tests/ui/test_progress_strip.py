"""The Inspect panels' progress strip (issue 24): background work that runs a while shows how far it has
come and a Cancel button (and Esc), which stops the work itself, not only its result; a newer request
does the same to the older one. The "long" work here waits on the test's gate between its iterations,
so nothing depends on how fast the machine is: the test waits with qtbot.waitUntil."""

from __future__ import annotations

import threading

import pytest
from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QLabel, QVBoxLayout

from cnnplayground.core.progress import Progress
from cnnplayground.ui.inspect.panel import CANCELLED_TEXT, InspectPanel

WAIT = 20_000


class FakeSource(QObject):
    changed = Signal()
    replaced = Signal()


class Panel(InspectPanel):
    def __init__(self) -> None:
        super().__init__(FakeSource())  # type: ignore[arg-type]
        self.caption = QLabel("ready", self)
        QVBoxLayout(self).addWidget(self.caption)

    def refresh(self) -> None:
        pass


class Work:
    """Iterations that report progress until the gate opens (or the work is cancelled)."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.iterations = 0
        self.ended = threading.Event()

    def __call__(self, progress: Progress) -> str:
        try:
            for i in range(100_000):
                progress.report(i / 1000)
                self.iterations += 1
                if self.gate.wait(0.002):
                    return "done"
            return "all"
        finally:
            self.ended.set()

    def steps(self, progress: Progress):
        """The same as a generator (a panel's :meth:`start_job`)."""
        for i in range(100_000):
            progress.report(i / 1000)
            self.iterations += 1
            yield i
            if self.gate.wait(0.002):
                return
        self.ended.set()


@pytest.fixture
def panel(qtbot):
    p = Panel()
    qtbot.addWidget(p)
    p.resize(480, 320)
    p.show()
    qtbot.waitExposed(p)
    return p


def test_the_strip_shows_while_long_work_runs_and_hides_when_it_is_done(qtbot, panel):
    work, results = Work(), []
    panel.run_in_background("x", lambda progress: work(progress), done=results.append, progress=True)
    assert not panel.progress_strip.isVisible()  # not before the work has run a while
    qtbot.waitUntil(lambda: panel.progress_strip.isVisible() and work.iterations > 5, timeout=WAIT)
    strip = panel.progress_strip
    assert strip.geometry().bottom() == panel.height() - 1 and strip.width() == panel.width()  # along the bottom
    qtbot.waitUntil(lambda: strip.bar.maximum() == 1000 and strip.bar.value() > 0, timeout=WAIT)  # how far
    work.gate.set()
    qtbot.waitUntil(lambda: results == ["done"], timeout=WAIT)
    qtbot.waitUntil(lambda: not strip.isVisible(), timeout=WAIT)
    assert panel.caption.text() == "ready"


@pytest.mark.parametrize("how", ["button", "escape"])
def test_cancel_stops_the_work_itself_says_so_and_the_panel_runs_again(qtbot, panel, how):
    work, results = Work(), []
    job = panel.run_in_background("x", lambda progress: work(progress), done=results.append, progress=True)
    qtbot.waitUntil(lambda: panel.progress_strip.isVisible() and work.iterations > 3, timeout=WAIT)
    if how == "button":
        qtbot.mouseClick(panel.progress_strip.cancel_button, Qt.MouseButton.LeftButton)
    else:
        panel.caption.setFocus()
        qtbot.keyClick(panel.caption, Qt.Key.Key_Escape)
    assert job.progress is not None and job.progress.cancelled
    assert work.ended.wait(10)  # the loop saw the flag: the work ended, its gate still shut
    done_at = work.iterations
    assert not work.gate.is_set() and done_at < 100_000
    assert panel.caption.text() == CANCELLED_TEXT and not panel.progress_strip.isVisible()
    assert not panel.busy and not panel.working

    again = Work()
    again.gate.set()
    panel.run_in_background("x", lambda progress: again(progress), done=results.append, progress=True)
    qtbot.waitUntil(lambda: results == ["done"], timeout=WAIT)  # only the new run's result
    assert work.iterations == done_at  # the cancelled one never went on


def test_a_newer_request_cancels_the_older_work_for_real(qtbot, panel):
    older, newer, results = Work(), Work(), []
    first = panel.run_in_background("x", lambda progress: older(progress), done=results.append, progress=True)
    qtbot.waitUntil(lambda: older.iterations > 2, timeout=WAIT)
    newer.gate.set()
    panel.run_in_background("x", lambda progress: newer(progress), done=results.append, progress=True)
    assert first.progress is not None and first.progress.cancelled
    assert older.ended.wait(10) and not older.gate.is_set()  # stopped, not run on to its end unseen
    qtbot.waitUntil(lambda: results == ["done"], timeout=WAIT)
    qtbot.waitUntil(lambda: not panel.progress_strip.isVisible(), timeout=WAIT)


def test_a_panels_generator_job_is_cancelled_by_the_strip_too(qtbot, panel):
    work, items = Work(), []
    job = panel.start_job(work.steps, items=items.extend)
    assert panel.job is job and panel.running
    qtbot.waitUntil(lambda: panel.progress_strip.isVisible() and len(items) > 2, timeout=WAIT)
    assert panel.cancel_work()
    assert not panel.running and job.progress is not None and job.progress.cancelled
    assert job.wait(10)
    assert panel.caption.text() == CANCELLED_TEXT and not panel.progress_strip.isVisible()
    assert not panel.cancel_work()  # nothing runs: nothing to cancel, the caption stays


def test_a_panel_with_its_own_bar_shows_one_bar_and_keeps_cancel(qtbot, panel):
    """The Occlusion panel's own bar said 40 % while the strip said 26 % (issue 24): where a panel has a
    bar of its own, the strip shows no second one; Cancel and Esc still stop the work."""
    from PySide6.QtWidgets import QProgressBar

    own = QProgressBar(panel)
    panel.layout().addWidget(own)
    work = Work()
    job = panel.start_job(work.steps, items=lambda items: own.setValue(min(100, items[-1] // 10)))
    qtbot.waitUntil(lambda: panel.progress_strip.isVisible() and work.iterations > 3, timeout=WAIT)
    strip = panel.progress_strip
    assert panel.own_progress_bar() is own
    assert not strip.bar.isVisible() and strip.cancel_button.isVisible()  # one bar: the panel's
    bars = [b for b in panel.findChildren(QProgressBar) if b.isVisible()]
    assert bars == [own]
    panel.caption.setFocus()
    qtbot.keyClick(panel.caption, Qt.Key.Key_Escape)
    assert job.progress is not None and job.progress.cancelled and job.wait(10)
    assert panel.caption.text() == CANCELLED_TEXT and not strip.isVisible()
    # without a bar of its own the strip shows how far (the test above)
    own.hide()
    again = Work()
    panel.start_job(again.steps, items=lambda items: None)
    qtbot.waitUntil(lambda: strip.isVisible() and again.iterations > 3, timeout=WAIT)
    assert strip.bar.isVisible() and panel.own_progress_bar() is None
    again.gate.set()
    qtbot.waitUntil(lambda: not strip.isVisible(), timeout=WAIT)

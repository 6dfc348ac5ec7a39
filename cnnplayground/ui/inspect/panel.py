"""What every Inspect panel shares: it follows the model source, but only does the work while visible,
and never on the GUI thread (:meth:`InspectPanel.run_in_background`, :meth:`InspectPanel.start_job`).

Background work that runs longer than :data:`STRIP_DELAY_MS` shows a :class:`ProgressStrip` along the
panel's bottom edge: how far it has come (when the work reports it, through the
:class:`~cnnplayground.core.progress.Progress` its job holds: the analyses report at the start of each
iteration the fraction of iterations finished) and a Cancel button (or Esc), which stops
the work itself at its next report, not only its result; the caption then says "Cancelled", and the next
choice computes again. A newer request of the same kind cancels the older one the same way. A panel
with a progress bar of its own (set from the results as they arrive) keeps it, and the strip then shows
no second bar, only "Working…" and Cancel: two bars of one work read at different moments disagreed."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QWidget,
)

from ...core.progress import Progress
from ..jobs import FunctionJob, GeneratorJob
from .source import ModelSource


def _running(job: QObject) -> bool:
    """Whether ``job`` runs (False once Qt has deleted it)."""
    try:
        return bool(job.running)  # type: ignore[attr-defined]
    except RuntimeError:
        return False


def fill_classes(combo: QComboBox, class_names) -> None:
    """``"3: cat"`` items with the class index as data; left alone (and its choice kept) when unchanged."""
    labels = [f"{i}: {name}" for i, name in enumerate(class_names)]
    if [combo.itemText(i) for i in range(combo.count())] == labels:
        return
    combo.blockSignals(True)
    combo.clear()
    for i, text in enumerate(labels):
        combo.addItem(text, i)
    combo.blockSignals(False)


#: Background work shorter than this shows no progress strip (most redraws: no flicker).
STRIP_DELAY_MS = 300
#: How often the strip reads the work's progress.
STRIP_POLL_MS = 100
CANCELLED_TEXT = "Cancelled: change a setting, the image or the epoch (or run it again) to compute anew"


class ProgressStrip(QFrame):
    """A thin bar along a panel's bottom edge: what runs, how far (busy when unknown) and Cancel."""

    cancel_requested = Signal()

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.setObjectName("progressStrip")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setAutoFillBackground(True)
        self.label = QLabel("Working…", self)
        self.bar = QProgressBar(self)
        self.bar.setRange(0, 0)
        self.bar.setMaximumHeight(16)
        self.bar.setToolTip("How far the analysis has come")
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.setToolTip("Stop this analysis now (Esc)")
        self.cancel_button.clicked.connect(self.cancel_requested)
        # its own width, also when the bar is hidden (a panel with a bar of its own)
        self.cancel_button.setSizePolicy(QSizePolicy.Policy.Maximum, QSizePolicy.Policy.Fixed)
        row = QHBoxLayout(self)
        row.setContentsMargins(6, 2, 6, 2)
        row.addWidget(self.label)
        row.addWidget(self.bar, 1)
        row.addWidget(self.cancel_button)
        self.hide()

    def set_fraction(self, fraction: float | None) -> None:
        """Show ``fraction`` (0…1) done, or a busy bar when the work does not say (None)."""
        if fraction is None:
            self.bar.setRange(0, 0)
        else:
            self.bar.setRange(0, 1000)
            self.bar.setValue(round(1000 * min(1.0, max(0.0, fraction))))


class InspectPanel(QWidget):
    """Base of the panels: ``refresh()`` runs when the source changes while the panel is visible, or
    when a panel that missed changes is shown again (a hidden dock costs nothing per epoch)."""

    def __init__(self, source: ModelSource, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.source = source
        self.stale = True
        #: The running background call of each kind of request (``run_in_background``'s ``key``).
        self.jobs: dict[str, FunctionJob] = {}
        #: The panel's own long analysis, a generator job (:meth:`start_job`), if it has one.
        self.job: GeneratorJob | None = None
        #: Every job started and not yet seen to end (for the progress strip).
        self._tracked: list[FunctionJob | GeneratorJob] = []
        self.progress_strip = ProgressStrip(self)
        self.progress_strip.cancel_requested.connect(self.cancel_work)
        self._strip_due = QTimer(self)
        self._strip_due.setSingleShot(True)
        self._strip_due.setInterval(STRIP_DELAY_MS)
        self._strip_due.timeout.connect(self._on_strip_due)
        self._strip_poll = QTimer(self)
        self._strip_poll.setInterval(STRIP_POLL_MS)
        self._strip_poll.timeout.connect(self._sync_strip)
        escape = QShortcut(QKeySequence(Qt.Key.Key_Escape), self)
        escape.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        escape.activated.connect(self.cancel_work)
        source.changed.connect(self._on_source_changed)
        source.replaced.connect(self._on_source_replaced)

    # --- background work --------------------------------------------------------------------
    def run_in_background(self, key: str, function: Callable[..., Any], *args: Any,
                          done: Callable[[Any], None], failed: Callable[[str], None] | None = None,
                          progress: bool = False) -> FunctionJob:
        """Call ``function(*args)`` in the thread pool and hand its result to ``done`` on the GUI thread.

        A newer request of the same ``key`` cancels the older one, so a stale result never overwrites a
        newer one; while any job runs the panel shows a busy cursor (:attr:`busy`). ``progress``: the call
        takes a ``progress=`` :class:`~cnnplayground.core.progress.Progress` it reports to, so that
        cancelling stops it and the progress strip shows how far it came.
        """
        self.cancel_background(key)
        if progress:
            tracker = Progress()
            job = FunctionJob(functools.partial(function, progress=tracker), *args, parent=self, progress=tracker)
        else:
            job = FunctionJob(function, *args, parent=self)
        self.jobs[key] = job

        def finish(result: Any = None, message: str | None = None) -> None:
            if self.jobs.get(key) is job:
                del self.jobs[key]
            self._sync_busy()
            if message is None:
                done(result)
            elif failed is not None:
                failed(message)

        job.returned.connect(lambda result: finish(result))
        job.failed.connect(lambda message: finish(message=message))
        job.start()
        self.track_job(job)
        self._sync_busy()
        return job

    def start_job(self, work: Callable[[Progress], Any], *, items: Callable[[list], None],
                  finished: Callable[[], None] | None = None,
                  failed: Callable[[str], None] | None = None) -> GeneratorJob:
        """Run the generator ``work(progress)`` as the panel's :attr:`job` (cancelling the running one):
        ``items`` gets its items in batches, then ``finished`` or ``failed`` (GUI thread)."""
        self.stop_job()
        progress = Progress()
        job = GeneratorJob(work(progress), parent=self, progress=progress)
        self.job = job
        job.progressed.connect(items)
        if finished is not None:
            job.finished.connect(finished)
        if failed is not None:
            job.failed.connect(failed)
        job.start()
        self.track_job(job)
        return job

    @property
    def running(self) -> bool:
        """The panel's :attr:`job` runs."""
        return self.job is not None and self.job.running

    def stop_job(self) -> bool:
        """Cancel the panel's :attr:`job` (its work stops at its next report); whether it was running."""
        if not self.running:
            return False
        self.job.cancel()  # type: ignore[union-attr]  # running: there is a job
        self._sync_strip()
        return True

    # --- the progress strip ---------------------------------------------------------------------
    @property
    def working(self) -> bool:
        """Some background work of this panel runs (its results still wanted)."""
        return any(_running(job) for job in self._tracked)

    def cancel_work(self) -> bool:
        """Cancel every background job of the panel (Cancel, Esc); the caption says so. Whether any ran."""
        if not self.working:
            return False
        for job in list(self._tracked):
            if _running(job):
                job.cancel()
        self.cancel_background()
        self._sync_strip()
        self.on_cancelled()
        return True

    def on_cancelled(self) -> None:
        """The user cancelled the work: the caption says so (panels with Run/Stop buttons update them too)."""
        caption = getattr(self, "caption", None)
        if isinstance(caption, QLabel):
            caption.setText(CANCELLED_TEXT)

    def track_job(self, job: FunctionJob | GeneratorJob) -> None:
        """Show the progress strip while ``job`` (started elsewhere) runs a while; Cancel and Esc cancel it."""
        self._tracked = [j for j in self._tracked if _running(j)]
        if not self._tracked and not self.progress_strip.isVisible():
            self._strip_due.start()  # the strip shows only once the work has run a while
        self._tracked.append(job)
        for signal in ("returned", "finished", "failed"):
            if hasattr(job, signal):
                getattr(job, signal).connect(self._sync_strip)

    def _on_strip_due(self) -> None:
        if self.working:
            self._place_strip()
            self.progress_strip.show()
            self.progress_strip.raise_()
            self._strip_poll.start()
        self._sync_strip()

    def _sync_strip(self, *_args: Any) -> None:
        """Show the newest running job's progress; hide the strip when nothing runs."""
        self._tracked = [j for j in self._tracked if _running(j)]
        if not self._tracked:
            self._strip_due.stop()
            self._strip_poll.stop()
            self.progress_strip.hide()
            return
        # one bar per panel: where the panel shows a progress bar of its own (occlusion, attribution, …, set
        # from the work's results as they arrive) the strip keeps only "Working…" and Cancel (Esc)
        own = self.own_progress_bar() is not None
        self.progress_strip.bar.setVisible(not own)
        progress = self._tracked[-1].progress
        self.progress_strip.set_fraction(progress.fraction if progress is not None and progress.reports else None)

    def own_progress_bar(self) -> QProgressBar | None:
        """The panel's own visible progress bar (not the strip's), if it has one: then the strip shows none."""
        strip_bar = self.progress_strip.bar
        return next((bar for bar in self.findChildren(QProgressBar)
                     if bar is not strip_bar and bar.isVisibleTo(self)), None)

    def _place_strip(self) -> None:
        height = self.progress_strip.sizeHint().height()
        self.progress_strip.setGeometry(0, max(0, self.height() - height), self.width(), height)

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt override)
        super().resizeEvent(event)
        if self.progress_strip.isVisible():
            self._place_strip()

    def cancel_background(self, key: str | None = None) -> None:
        """Drop the running job of ``key`` (every job when None): its result will not be shown."""
        for name in [key] if key is not None else list(self.jobs):
            job = self.jobs.pop(name, None) if name is not None else None
            if job is not None:
                job.cancel()
        self._sync_busy()

    @property
    def busy(self) -> bool:
        """A background analysis of this panel is running."""
        return bool(self.jobs)

    def _sync_busy(self) -> None:
        if self.jobs:
            self.setCursor(Qt.CursorShape.BusyCursor)
        else:
            self.unsetCursor()

    def refresh(self) -> None:  # pragma: no cover - every panel overrides it
        raise NotImplementedError

    def show_validation_image(self, index: int) -> bool:
        """Look at validation image ``index`` (sent by another panel: a click on the Feature Space map).

        The panel's image spin box (``self.index``) goes there: a visible panel computes at once, as for
        the user's own choice; a hidden one when next shown. False when the panel picks no validation
        image or the split has no image ``index``.
        """
        spin, split = getattr(self, "index", None), self.source.split()
        if not isinstance(spin, QSpinBox) or split is None or not 0 <= index < len(split):
            return False
        spin.blockSignals(True)
        spin.setRange(0, len(split) - 1)
        if not self.isVisible():
            spin.setValue(index)
            self.stale = True
        spin.blockSignals(False)
        spin.setValue(index)
        return True

    def _on_source_changed(self) -> None:
        if self.isVisible():
            self.stale = False
            self.refresh()
        else:
            self.stale = True
            self.on_hidden_change()

    def _on_source_replaced(self) -> None:
        self.cancel_background()
        self.clear_results()

    def clear_results(self) -> None:
        """Another project or other weights: drop every result of the previous model (``refresh`` follows)."""

    def on_hidden_change(self) -> None:
        """The source changed while hidden (panels stop long work here)."""

    def showEvent(self, event) -> None:  # noqa: N802 (Qt override)
        super().showEvent(event)
        if self.stale:
            self.stale = False
            self.refresh()

    def ready(self, caption: QLabel, what: str):
        """``(model, data, split)`` when all are there (the caption then says ``what`` and with which weights);
        otherwise None, with the caption saying what is missing."""
        model, data, split = self.source.model, self.source.data, self.source.split()
        if model is None:
            caption.setText(self.source.problem or "No network")
            return None
        missing = self.data_missing()
        if missing or data is None or split is None:
            caption.setText(missing)
            return None
        caption.setText(f"{what} with {self.source.description}")
        return model, data, split

    def data_missing(self) -> str:
        """"" when the source has images; else why not (and the dataset starts loading if it can)."""
        if self.source.data is not None:
            return ""
        problem = self.source.data_problem
        if problem:
            return problem
        self.source.ensure_data()
        return "Loading the dataset…"

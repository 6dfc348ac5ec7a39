"""Python's cyclic garbage collector, run only in the GUI thread.

Left to itself, the collector runs in whichever thread happens to allocate when a
generation fills up: often the training worker. If it then frees a cycle holding a Qt
widget, the widget's C++ destructor runs in the worker thread, which Qt forbids; with
PySide6 that can deadlock on the interpreter lock (seen as a test hanging in
``QObject::~QObject`` inside ``gc_collect_main`` on the trainer's thread). So the
automatic collector is switched off and a timer in the GUI thread collects instead,
with the same generation thresholds (the approach of pyqtgraph's ``GarbageCollector``).
Reference counting, which frees almost everything, is not affected.

A full (generation 2) collection walks every object of the process: with torch, Qt and
pyqtgraph loaded that is 40–80 ms on the GUI thread. Two things keep it out of the way:
what the app loaded at start-up is frozen (``gc.freeze``: modules, classes and functions
are never garbage, and full collections then skip them), and while a training run is
live (``defer_full``) full collections wait for its end, unless garbage piles up ten
times past the threshold.
"""

from __future__ import annotations

import gc

from PySide6.QtCore import QObject, QTimer


class GuiThreadCollector(QObject):
    """Disables automatic collection; collects from a GUI-thread timer every ``interval_ms``.

    Often (10 times a second): a young generation costs time in proportion to its size, and a worker
    thread allocating fast (an Inspect analysis) filled it in one second with enough to pause the GUI
    60 ms (gen 0) or 116 ms (gen 1) at a check.
    """

    def __init__(self, interval_ms: int = 100, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.threshold = gc.get_threshold()
        #: True while the window must stay smooth (a live run): full collections wait, up to a point.
        self.defer_full = False
        self._was_enabled = gc.isenabled()
        gc.disable()
        self.timer = QTimer(self)
        self.timer.timeout.connect(self.check)
        self.timer.start(interval_ms)

    def check(self) -> None:
        """Collect the generations whose counts passed their thresholds (as the automatic collector would)."""
        l0, l1, l2 = gc.get_count()
        if l0 > self.threshold[0]:
            gc.collect(0)
            if l1 > self.threshold[1]:
                gc.collect(1)
                if l2 > self.threshold[2] * (10 if self.defer_full else 1):
                    gc.collect(2)

    @staticmethod
    def freeze_startup() -> None:
        """Collect once, then move every object alive now to the permanent generation (``gc.freeze``):
        full collections from here on skip what start-up loaded."""
        gc.collect()
        gc.freeze()

    def stop(self) -> None:
        """Back to automatic collection."""
        self.timer.stop()
        if self._was_enabled:
            gc.enable()

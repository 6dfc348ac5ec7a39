"""Python's cyclic garbage collector, run only in the GUI thread.

Left to itself, the collector runs in whichever thread happens to allocate when a
generation fills up: often the training worker. If it then frees a cycle holding a Qt
widget, the widget's C++ destructor runs in the worker thread, which Qt forbids; with
PySide6 that can deadlock on the interpreter lock (seen as a test hanging in
``QObject::~QObject`` inside ``gc_collect_main`` on the trainer's thread). So the
automatic collector is switched off and a timer in the GUI thread collects instead,
with the same generation thresholds (the approach of pyqtgraph's ``GarbageCollector``).
Reference counting, which frees almost everything, is not affected.
"""

from __future__ import annotations

import gc

from PySide6.QtCore import QObject, QTimer


class GuiThreadCollector(QObject):
    """Disables automatic collection; collects from a GUI-thread timer every ``interval_ms``."""

    def __init__(self, interval_ms: int = 1000, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.threshold = gc.get_threshold()
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
                if l2 > self.threshold[2]:
                    gc.collect(2)

    def stop(self) -> None:
        """Back to automatic collection."""
        self.timer.stop()
        if self._was_enabled:
            gc.enable()

"""How far a long analysis has come, and the flag that stops it early: one object shared by the work and
whoever waits for it (a panel's background job, a test).

The work calls :meth:`Progress.report` once per iteration of its loop (a batch of occlusion patches, an
optimization step, a chunk of images); that records the fraction done and raises :class:`Cancelled` once
:meth:`Progress.cancel` was called (from any thread), so the loop ends at its next iteration instead of
running on for a result nobody will see. Code that has no one waiting passes ``None`` (:func:`report`).
Qt-free: the analyses in ``cnnplayground.inspect`` take it, the GUI's jobs (``ui/jobs.py``) hold it.
"""

from __future__ import annotations

import threading

from .errors import UserError

__all__ = ["Cancelled", "Progress", "report"]


class Cancelled(UserError):  # noqa: N818 - what happened, said as the user would
    """The work was cancelled (:meth:`Progress.cancel`): its result is not wanted. A :class:`UserError` like
    every error the project defines (its message, "cancelled", is what the user did)."""

    def __init__(self, message: str = "cancelled") -> None:
        super().__init__(message)


class Progress:
    """A fraction done (0…1) and a cancel flag, safe to share between threads."""

    def __init__(self) -> None:
        self._cancelled = threading.Event()
        #: The fraction of the work done, as last reported (0 until the first report).
        self.fraction = 0.0
        #: Reports so far (the loop's iterations that ran).
        self.reports = 0

    def cancel(self) -> None:
        """Stop the work at its next report (returns at once)."""
        self._cancelled.set()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def report(self, fraction: float) -> None:
        """Record ``fraction`` done; raise :class:`Cancelled` when the work was cancelled."""
        if self._cancelled.is_set():
            raise Cancelled("cancelled")
        self.reports += 1
        self.fraction = min(1.0, max(0.0, float(fraction)))


def report(progress: Progress | None, fraction: float) -> None:
    """``progress.report(fraction)``, or nothing when nobody is waiting (``progress`` None)."""
    if progress is not None:
        progress.report(fraction)

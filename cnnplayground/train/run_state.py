"""The states of a training run and which controls each allows: :class:`RunState`."""

from __future__ import annotations

import enum

__all__ = ["RunState"]


class RunState(enum.StrEnum):
    """Where a run stands, as the window's controls see it.

    ``IDLE`` → (``LOADING`` the dataset) → ``RUNNING`` ⇄ ``PAUSED`` → (``STOPPING``) →
    ``FINISHED`` or ``FAILED``. A ``str`` enum: signals carry it as its text and it
    compares equal to it (``RunState.PAUSED == "paused"``).

    The properties are the one statement of which controls each state allows; the
    Training dock's buttons and the window's Train menu both follow them.
    """

    IDLE = "idle"
    LOADING = "loading"
    RUNNING = "running"
    PAUSED = "paused"
    STOPPING = "stopping"
    FINISHED = "finished"
    FAILED = "failed"

    @property
    def busy(self) -> bool:
        """A run is being prepared, is on or is ending: Train and the settings are off."""
        return self in _BUSY

    @property
    def can_start(self) -> bool:
        """Train may start a run."""
        return not self.busy

    @property
    def can_pause(self) -> bool:
        """Pause may pause the run."""
        return self is RunState.RUNNING

    @property
    def can_resume(self) -> bool:
        """Resume may continue the run (the Pause control reads "Resume")."""
        return self is RunState.PAUSED

    @property
    def can_stop(self) -> bool:
        """Stop may end the run (not while the dataset loads, nor once Stop was pressed)."""
        return self in (RunState.RUNNING, RunState.PAUSED)


_BUSY = frozenset({RunState.LOADING, RunState.RUNNING, RunState.PAUSED, RunState.STOPPING})

"""A run's step events in bounded memory, however long the run.

The GUI keeps a run's step events for the record it stores at the end
(:func:`~.setup.run_record`, which keeps at most :data:`~.setup.MAX_STEP_POINTS`
points per curve anyway) and for the average throughput. One event object per
step event for a whole run grows without bound: at 20 events a second a
day-long run sends 1.7 million, about 310 bytes each (0.5 GB per list; the
session and the Training dock each kept one).

:class:`StepLog` holds at most ``limit`` entries. Up to that, every event as it
came (so short runs, and tests, see exactly the events received). When full,
neighbouring pairs are merged into one entry and from then on new events are
summed in groups of the same size (``stride`` events per entry), so every entry
stands for the same number of events, and bucket means of the entries are
means of the events. A merged entry is the group's last event with the mean
loss, accuracy and throughput of the group (step, epoch, learning rate and
elapsed time of its last event). Memory: ``limit`` events plus a few sums.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from ..project.history import MAX_STEP_POINTS
from .events import StepFinished


def merge_steps(events: list[StepFinished]) -> StepFinished:
    """One event standing for ``events`` (equal weights): the last one with the means of the metrics."""
    n = len(events)
    return dataclasses.replace(
        events[-1],
        loss=sum(e.loss for e in events) / n,
        accuracy=sum(e.accuracy for e in events) / n,
        images_per_second=sum(e.images_per_second for e in events) / n,
    )


class StepLog(list[StepFinished]):
    """The step events of one run, at most ``limit`` entries (see the module docstring).

    A ``list`` of :class:`StepFinished` for reading (``len``, indexing, iteration, ``==``);
    add events with :meth:`append` or :meth:`extend` only. ``count`` is the number of
    events received, ``last`` the latest one, ``stride`` how many events an entry stands
    for now; :meth:`entries` adds the group still being filled.
    """

    def __init__(self, events: Iterable[StepFinished] = (), limit: int = MAX_STEP_POINTS) -> None:
        super().__init__()
        if limit < 2:
            raise ValueError(f"limit must be at least 2, got {limit}")
        self.limit = limit - limit % 2
        self.stride = 1
        # Shadows list.count (a method) with the number of events received: mypy's error codes below.
        self.count = 0  # type: ignore[assignment,method-assign]
        self.last: StepFinished | None = None
        self._group = [0, 0.0, 0.0, 0.0]  # events, then sums of loss, accuracy, images/s of the group being filled
        self.extend(events)

    def append(self, event: StepFinished) -> None:
        self.count += 1  # type: ignore[assignment,method-assign,operator]
        self.last = event
        if self.stride == 1:
            super().append(event)
        else:
            group = self._group
            group[0] += 1
            group[1] += event.loss
            group[2] += event.accuracy
            group[3] += event.images_per_second
            if group[0] < self.stride:
                return
            super().append(self._group_event())
            self._group = [0, 0.0, 0.0, 0.0]
        if len(self) >= self.limit:
            self[:] = [merge_steps(self[i : i + 2]) for i in range(0, len(self), 2)]
            self.stride *= 2

    def extend(self, events: Iterable[StepFinished]) -> None:
        for event in events:
            self.append(event)

    def entries(self) -> list[StepFinished]:
        """Every entry, then the group being filled as one more (it stands for fewer events)."""
        return [*self, self._group_event()] if self._group[0] else list(self)

    def _group_event(self) -> StepFinished:
        n, loss, accuracy, speed = self._group
        assert self.last is not None  # a group being filled has had an event
        return dataclasses.replace(self.last, loss=loss / n, accuracy=accuracy / n, images_per_second=speed / n)

    # Returns the log itself, as list's += does; mypy holds that against list.__add__'s signature.
    def __iadd__(self, events: Iterable[StepFinished]) -> StepLog:  # type: ignore[override,misc]
        self.extend(events)
        return self

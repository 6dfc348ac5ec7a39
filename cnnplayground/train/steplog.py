"""A run's step events in bounded memory, however long the run.

The GUI keeps a run's step events for the record it stores at the end
(:func:`~cnnplayground.project.history.run_record`, which keeps at most
:data:`~cnnplayground.project.history.MAX_STEP_POINTS` points per curve anyway) and for the
average throughput. One event object per step event for a whole run grows without bound:
at 20 events a second a day-long run sends 1.7 million, about 310 bytes each (0.5 GB per
list; the session and the Training dock each kept one).

:class:`StepLog` holds at most ``limit`` entries, merged by the app's one decimation rule
(:class:`~cnnplayground.project.curves.GrowingCurve`, the rule of the live plots): up to
``limit``, every event as it came (so short runs, and tests, see exactly the events
received); when full, neighbouring pairs are merged into one entry and from then on new
events are averaged in groups of the same size (``stride`` events per entry), so every entry
stands for the same number of events, and bucket means of the entries are means of the
events. A merged entry is the group's last event with the mean loss, accuracy and
throughput of the group (step, epoch, learning rate and elapsed time of its last event);
means are plain means (a NaN loss makes its entry's loss NaN). Memory: ``limit`` entries,
three curves of ``limit`` points and at most :data:`FOLD_EVENTS` events not yet merged.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator
from typing import overload

import numpy as np

from ..project.curves import GrowingCurve
from ..project.history import MAX_STEP_POINTS
from .events import StepFinished

#: Appended events are kept as they came until this many, then merged in one batch (an append
#: is a list append: the GUI thread appends every step event of a run).
FOLD_EVENTS = 512
_METRICS = ("loss", "accuracy", "images_per_second")


class StepLog:
    """The step events of one run, at most ``limit`` entries (see the module docstring).

    Reads like a list of :class:`StepFinished` (``len``, indexing, iteration, ``==`` with a list);
    add events with :meth:`append`, :meth:`extend` or ``+=``. ``count`` is the number of events
    received, ``last`` the latest one, ``stride`` how many events an entry stands for now;
    :meth:`entries` adds the group still being filled.
    """

    def __init__(self, events: Iterable[StepFinished] = (), limit: int = MAX_STEP_POINTS) -> None:
        if limit < 2:
            raise ValueError(f"limit must be at least 2, got {limit}")
        # One curve per metric over the events' numbers (1, 2, ...): an entry's x is its last event's number.
        self._curves = tuple(GrowingCurve(limit, ignore_nan=False) for _ in _METRICS)
        self.limit = self._curves[0].limit
        self.count = 0
        self.last: StepFinished | None = None
        self._new: list[StepFinished] = []  # appended, not merged yet
        self._entries: list[StepFinished] = []
        self._ends: dict[int, StepFinished] = {}  # an entry's x → its last event
        self.extend(events)

    def append(self, event: StepFinished) -> None:
        self.count += 1
        self.last = event
        self._new.append(event)
        if len(self._new) >= FOLD_EVENTS:
            self._fold()

    def extend(self, events: Iterable[StepFinished]) -> None:
        for event in events:
            self.append(event)

    def __iadd__(self, events: Iterable[StepFinished]) -> StepLog:
        self.extend(events)
        return self

    @property
    def stride(self) -> int:
        self._fold()
        return self._curves[0].stride

    def entries(self) -> list[StepFinished]:
        """Every entry, then the group being filled as one more (it stands for fewer events)."""
        self._fold()
        if not self._curves[0].pending:
            return list(self._entries)
        loss, accuracy, speed = (float(curve.data()[1][-1]) for curve in self._curves)
        assert self.last is not None  # a pending group holds at least one event
        return [*self._entries, dataclasses.replace(self.last, loss=loss, accuracy=accuracy, images_per_second=speed)]

    def __len__(self) -> int:
        self._fold()
        return len(self._entries)

    @overload
    def __getitem__(self, index: int) -> StepFinished: ...

    @overload
    def __getitem__(self, index: slice) -> list[StepFinished]: ...

    def __getitem__(self, index: int | slice) -> StepFinished | list[StepFinished]:
        self._fold()
        return self._entries[index]

    def __iter__(self) -> Iterator[StepFinished]:
        self._fold()
        return iter(self._entries)

    def __eq__(self, other: object) -> bool:
        self._fold()
        if isinstance(other, StepLog):
            other._fold()
            return self._entries == other._entries
        return self._entries == other

    __hash__ = None  # type: ignore[assignment]  # mutable, as a list

    def __repr__(self) -> str:
        return f"StepLog({len(self)} entries of {self.count} events, stride {self.stride})"

    def _fold(self) -> None:
        """Merge the appended events into the curves, then make the entries the curves hold."""
        events, self._new = self._new, []
        if not events:
            return
        first = self.count - len(events) + 1
        x = np.arange(first, self.count + 1, dtype=float)
        values = np.array([[getattr(e, name) for name in _METRICS] for e in events], dtype=float)
        loss = self._curves[0]
        stride, held = loss.stride, loss.n
        for curve, column in zip(self._curves, values.T):
            curve.extend(x, column)
        if loss.stride != stride:  # pairs were merged: every entry is new (its last event an old or a new one)
            held = 0
            self._entries.clear()
            added = loss.x[: loss.n].astype(int).tolist()
            self._ends = {at: self._ends[at] if at < first else events[at - first] for at in added}
        else:
            added = loss.x[held : loss.n].astype(int).tolist()
            self._ends.update((at, events[at - first]) for at in added)
        if loss.stride == 1:  # nothing merged yet: the events as they came
            self._entries.extend(self._ends[at] for at in added)
            return
        columns = [curve.y[held : loss.n].tolist() for curve in self._curves]
        for at, *means in zip(added, *columns):
            self._entries.append(dataclasses.replace(self._ends[at], **dict(zip(_METRICS, means))))


"""The weights a run keeps of its epochs, and the one rule that thins them to a storage budget.

A run stores its weights at its start (epoch 0, the initialization, before any step) and at the end of
every epoch (:class:`RunEpochs`, attached to its :class:`~.history.RunHistory`). The project file has room
for ``TrainingConfig.snapshot_budget_mb`` of them, all runs together; small networks keep every epoch.
When they do not fit, each run keeps evenly spaced epochs, and always its essential ones: epoch 0, its
last epoch and the epoch whose weights it ended with (``kept_epoch``, else ``best_epoch``).

*Evenly spaced* is :func:`spaced`: the essential epochs, and the others spread over the gaps between them
in proportion to their lengths (6 of 0…10: 0, 2, 4, 6, 8, 10; 4 of 0…20 keeping 9: 0, 9, 14, 20). Even
spacing, not logarithmic: the epoch slider moves through training time evenly, and epoch 0 is always there
to compare with.

A run being trained keeps at most its budget in memory (:class:`EpochCollector`): the epochs of that
spacing over the planned epochs, plus the newest and the best so far. Saving fits all runs into the
project's budget (:func:`within_budget`): every run keeps up to the same number of epochs, the largest
that fits; when the essential epochs of every run do not fit, the oldest runs give up their epochs
first (a run whose essential epochs alone exceed the budget keeps none).

Plain data: no torch (a state dict is handled through its tensors' ``numel``/``element_size``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from ..core.graph import Graph

if TYPE_CHECKING:
    import torch

    StateDict = dict[str, torch.Tensor]

#: Snapshots a project file holds at most, whatever the budget (each is an entry of the archive).
MAX_SNAPSHOTS = 2_000
#: The largest epoch number a snapshot may have (as ``RunHistory.best_epoch``).
MAX_EPOCH = 1_000_000
MB = 2**20


def state_bytes(state: StateDict) -> int:
    """Bytes of a state dict's tensor data."""
    return sum(t.numel() * t.element_size() for t in state.values())


@dataclass(eq=False)
class RunEpochs:
    """The stored weights of a run's epochs: ``weights[k]`` is the state dict after epoch ``k`` (0: before
    the first step), CPU tensors never changed in place; ``graph`` is the network they belong to (the
    run's, which the canvas may have changed since)."""

    graph: Graph
    weights: dict[int, StateDict] = field(default_factory=dict)

    def epochs(self) -> list[int]:
        """The stored epochs, in order."""
        return sorted(self.weights)

    def snapshot_bytes(self) -> int:
        """Bytes of one epoch's weights (0 when none is stored)."""
        first = next(iter(self.weights.values()), None)
        return state_bytes(first) if first is not None else 0

    def nbytes(self) -> int:
        return self.snapshot_bytes() * len(self.weights)

    def only(self, epochs: Iterable[int]) -> RunEpochs:
        """These epochs of the stored ones (a new object; the tensors are shared)."""
        return RunEpochs(self.graph, {k: self.weights[k] for k in sorted(epochs) if k in self.weights})

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RunEpochs):
            return NotImplemented
        if self.graph.to_dict() != other.graph.to_dict() or self.epochs() != other.epochs():
            return False
        for k, state in self.weights.items():
            theirs = other.weights[k]
            if state.keys() != theirs.keys() or not all(t.equal(theirs[key]) for key, t in state.items()):
                return False
        return True

    __hash__ = None  # type: ignore[assignment]  # mutable, compared by value


def essential_epochs(stored: Sequence[int], kept: int | None) -> set[int]:
    """The epochs thinning never drops: 0, the last stored, and ``kept`` (the weights the run ended with)."""
    if not stored:
        return set()
    return {e for e in (0, max(stored), kept) if e is not None and e in stored}


def spaced(stored: Iterable[int], essential: Iterable[int], count: int) -> list[int]:
    """At most ``count`` of the ``stored`` epochs, evenly spaced around the ``essential`` ones (kept always,
    even beyond ``count``).

    The first and the last stored epoch are kept too while there is room; the other places go to the gaps
    between kept epochs in proportion to their lengths (one at a time to the gap whose share per place is
    largest, as seats by the D'Hondt rule), and in each gap to the stored epochs nearest its evenly spaced
    points (ties: the earlier). 6 of 0…10: 0, 2, 4, 6, 8, 10; 4 of 0…20 with 9 essential: 0, 9, 14, 20.
    """
    pool = sorted(set(stored))
    if count >= len(pool):
        return pool
    chosen = {e for e in essential if e in pool}
    for end in (pool[0], pool[-1]) if pool else ():
        if len(chosen) < count:
            chosen.add(end)
    while len(chosen) < count:
        ordered = sorted(chosen)
        gaps = [(a, b) for a, b in zip(ordered, ordered[1:], strict=False) if any(a < e < b for e in pool)]
        if not gaps:
            break
        places = dict.fromkeys(gaps, 0)
        for _ in range(count - len(chosen)):
            gap = max(gaps, key=lambda g: ((g[1] - g[0]) / (places[g] + 1), -g[0]))
            places[gap] += 1
        for (a, b), n in places.items():
            inside = [e for e in pool if a < e < b]
            for j in range(1, n + 1):
                if not inside:
                    break  # fewer stored epochs than places here: the next round gives them elsewhere
                point = a + (b - a) * j / (n + 1)
                nearest = min(inside, key=lambda e: (abs(e - point), e))
                inside.remove(nearest)
                chosen.add(nearest)
    return sorted(chosen)


def within_budget(runs: Sequence[tuple[RunEpochs, int | None] | None], budget_bytes: int,
                  max_snapshots: int = MAX_SNAPSHOTS) -> list[list[int]]:
    """The epochs each run keeps in a file of ``budget_bytes`` (see the module docstring).

    ``runs``: per run, its epochs and the epoch its weights were kept from (None: none stored), oldest
    first. The same number of epochs for every run, the largest that fits both the bytes and
    ``max_snapshots``; essential epochs always; when those do not fit, the oldest runs keep none.
    """
    sizes = [r[0].snapshot_bytes() if r is not None else 0 for r in runs]
    stored = [r[0].epochs() if r is not None else [] for r in runs]
    essential = [essential_epochs(s, r[1]) if r is not None else set() for s, r in zip(stored, runs, strict=True)]

    def plan(count: int, first: int) -> list[list[int]]:
        return [spaced(s, ess, count) if i >= first else [] for i, (s, ess) in enumerate(zip(stored, essential,
                                                                                              strict=True))]

    def fits(kept: list[list[int]]) -> bool:
        return (sum(len(k) * size for k, size in zip(kept, sizes, strict=True)) <= budget_bytes
                and sum(len(k) for k in kept) <= max_snapshots)

    if budget_bytes <= 0:
        return [[] for _ in runs]
    first = 0
    while first < len(runs) and not fits(plan(0, first)):
        first += 1  # the oldest run's essential epochs give way
    low, high = 0, max((len(s) for s in stored), default=0)
    while low < high:  # the largest count that fits
        middle = (low + high + 1) // 2
        if fits(plan(middle, first)):
            low = middle
        else:
            high = middle - 1
    return plan(low, first)


class EpochEnd(Protocol):
    """What :class:`EpochCollector` reads of an epoch's end (``train.events.EpochFinished``)."""

    @property
    def epoch(self) -> int: ...
    @property
    def best(self) -> bool: ...


class Snapshot(Protocol):
    """What :class:`EpochCollector` reads of a weights snapshot (``train.events.WeightsSnapshot``)."""

    @property
    def epoch(self) -> int: ...
    @property
    def state(self) -> StateDict: ...


class EpochCollector:
    """Keeps a run's epochs as they come, within ``budget_bytes`` (plus the newest and the best so far).

    ``start(state)`` takes the weights before the first step (epoch 0: a fresh run; a resumed one has none);
    ``epoch_finished(event)`` and ``snapshot(event)`` follow the trainer's ``EpochFinished`` and
    ``WeightsSnapshot`` (only a snapshot of an epoch that has just ended is kept: one asked for during an
    epoch is not an epoch's weights). Only references are kept: the trainer's snapshots are CPU copies
    nobody changes, so this costs nothing on the training thread.
    """

    def __init__(self, graph: Graph, planned_epochs: int, budget_bytes: int) -> None:
        self.graph = graph
        self.planned = max(0, planned_epochs)
        self.budget = max(0, budget_bytes)
        self.weights: dict[int, StateDict] = {}
        self.best: int | None = None
        self._ended: int | None = None
        self._best_pending: int | None = None
        self._targets: set[int] | None = None

    def start(self, state: StateDict) -> None:
        """The weights before the first step (epoch 0)."""
        self._add(0, state)

    def epoch_finished(self, event: EpochEnd) -> None:
        self._ended = event.epoch
        if event.best:
            self._best_pending = event.epoch

    def snapshot(self, event: Snapshot) -> None:
        if event.epoch != self._ended or event.epoch in self.weights:
            return
        if self._best_pending == event.epoch:
            self.best = event.epoch
        self._add(event.epoch, event.state)

    def capacity(self, size: int) -> int:
        """Snapshots of ``size`` bytes the budget holds (at most :data:`MAX_SNAPSHOTS`)."""
        return min(MAX_SNAPSHOTS, self.budget // size) if size > 0 else MAX_SNAPSHOTS

    def _add(self, epoch: int, state: StateDict) -> None:
        if self.budget <= 0:
            return
        self.weights[epoch] = state
        if self._targets is None:
            count = self.capacity(state_bytes(state))
            self._targets = set(spaced(range(self.planned + 1), {0, self.planned}, count))
        newest = max(self.weights)
        for k in list(self.weights):
            if k not in self._targets and k != newest and k != self.best:
                del self.weights[k]  # neither planned, nor the newest, nor the best so far

    def result(self, kept_epoch: int | None = None, last_epoch: int | None = None) -> RunEpochs | None:
        """The run's epochs at its end, thinned to the budget (``kept_epoch``: the weights it ended with,
        else the best epoch seen, is kept; ``last_epoch``: the last epoch the run's record keeps, none after
        it); None when nothing was stored."""
        weights = {k: v for k, v in self.weights.items() if last_epoch is None or k <= last_epoch}
        if not weights:
            return None
        run = RunEpochs(self.graph, weights)
        kept = kept_epoch if kept_epoch is not None else self.best
        thinned = run.only(within_budget([(run, kept)], self.budget)[0])
        return thinned if thinned.weights else None

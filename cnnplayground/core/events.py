"""A tiny, Qt-free signal: the core's change notifications.

The core must not import Qt, yet views need to follow the model. A
:class:`Signal` keeps a list of callables and calls them in order; the Qt layer
connects its slots here and turns them into Qt signals where it needs queuing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class Signal:
    """A list of subscribers called synchronously, in connection order."""

    __slots__ = ("_name", "_slots")

    def __init__(self, name: str = "") -> None:
        self._name = name
        self._slots: list[Callable[..., Any]] = []

    def connect(self, slot: Callable[..., Any]) -> Callable[..., Any]:
        """Subscribe ``slot``; returns it so this can be used as a decorator."""
        self._slots.append(slot)
        return slot

    def disconnect(self, slot: Callable[..., Any]) -> None:
        self._slots.remove(slot)

    def emit(self, *args: Any) -> None:
        # Iterate over a copy so slots may disconnect themselves while called.
        for slot in list(self._slots):
            slot(*args)

    def __len__(self) -> int:
        return len(self._slots)

    def __repr__(self) -> str:
        return f"<Signal {self._name} ({len(self._slots)} slots)>"

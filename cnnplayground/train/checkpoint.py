"""Training checkpoints: everything needed to continue a run exactly.

A checkpoint holds the weights, optimizer and grad-scaler state, the epoch and
step, every random generator's state, the schedule and early-stopping state and
the metric history. It is written with ``torch.save`` (tensors, numbers,
strings, lists and dicts only) and read with ``torch.load(weights_only=True)``,
which refuses arbitrary pickled objects. Writes are atomic.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import torch

from ..io.atomic import atomic_write_bytes

FORMAT = "cnnplayground-checkpoint"
VERSION = 1
#: Checkpoints larger than this are refused before reading (memory-exhaustion guard).
MAX_CHECKPOINT_BYTES = 8 * 2**30


class CheckpointError(ValueError):
    """A checkpoint cannot be read or does not fit the run; one line for the user."""


def save_checkpoint(state: dict[str, Any], path: Path) -> None:
    """Atomically write ``state`` (plain data and tensors) to ``path``."""
    buffer = io.BytesIO()
    torch.save({"format": FORMAT, "version": VERSION, **state}, buffer)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, buffer.getvalue())


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` onto the CPU."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise CheckpointError(f"cannot read checkpoint {path}: {exc.strerror or exc}") from None
    if size > MAX_CHECKPOINT_BYTES:
        raise CheckpointError(f"checkpoint {path} is {size / 2**30:.1f} GB; at most 8 GB can be read")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means a damaged or foreign file
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"checkpoint {path} is damaged or not a CNN Playground checkpoint ({first})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a CNN Playground checkpoint")
    if state.get("version") != VERSION:
        raise CheckpointError(f"checkpoint {path} has version {state.get('version')}; this app reads {VERSION}")
    return state

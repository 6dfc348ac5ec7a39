"""Training checkpoints: everything needed to continue a run exactly.

A checkpoint holds the weights, optimizer and grad-scaler state, the epoch and
step, every random generator's state, the schedule and early-stopping state and
the metric history. It is written with ``torch.save`` (tensors, numbers,
strings, lists and dicts only) and read with ``torch.load(weights_only=True)``,
which refuses arbitrary pickled objects. Writes are atomic.

Before reading, the file must be a regular file (a named pipe would block) in
``torch.save``'s ZIP layout with uncompressed entries, and every entry's CRC-32
is checked: torch's reader does not, so a flipped bit in the weights would
otherwise resume silently.
"""

from __future__ import annotations

import io
import stat
import zipfile
from pathlib import Path
from typing import Any

import torch

from ..core.errors import UserError, one_line
from ..io.atomic import atomic_write_bytes

FORMAT = "cnnplayground-checkpoint"
VERSION = 1
#: Checkpoints larger than this are refused before reading (memory-exhaustion guard).
MAX_CHECKPOINT_BYTES = 8 * 2**30


class CheckpointError(UserError, ValueError):
    """A checkpoint cannot be read or does not fit the run; one line for the user."""

    def __init__(self, message: str) -> None:
        text = " ".join(str(message).split()) or "the checkpoint cannot be read"
        super().__init__(text if len(text) <= 400 else text[:399] + "…")


def save_checkpoint(state: dict[str, Any], path: Path) -> None:
    """Atomically write ``state`` (plain data and tensors) to ``path``."""
    buffer = io.BytesIO()
    torch.save({"format": FORMAT, "version": VERSION, **state}, buffer)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, buffer.getvalue())


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` onto the CPU."""
    try:
        info = path.stat()
    except OSError as exc:
        raise CheckpointError(f"cannot read checkpoint {path}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(info.st_mode):
        what = "a folder" if stat.S_ISDIR(info.st_mode) else "not a regular file (a pipe, socket or device)"
        raise CheckpointError(f"cannot read checkpoint {path}: it is {what}")
    if info.st_size > MAX_CHECKPOINT_BYTES:
        raise CheckpointError(f"checkpoint {path} is {info.st_size / 2**30:.1f} GB; at most 8 GB can be read")
    _verify_archive(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means a damaged or foreign file
        raise CheckpointError(
            f"checkpoint {path} is damaged or not a CNN Playground checkpoint ({one_line(exc, 200)})") from None
    # Compared by type first: a damaged file may hold a tensor here, whose truth value raises.
    if not isinstance(state, dict) or not isinstance(state.get("format"), str) or state["format"] != FORMAT:
        raise CheckpointError(f"{path} is not a CNN Playground checkpoint")
    if type(state.get("version")) is not int or state["version"] != VERSION:
        raise CheckpointError(f"checkpoint {path} has version {state.get('version')!r:.40}; this app reads {VERSION}")
    return state


def _verify_archive(path: Path) -> None:
    """Refuse anything but ``torch.save``'s ZIP of stored entries, and any entry whose CRC-32 is wrong.

    Entries must be stored (torch never compresses), so checking reads the file
    once and no more: a small file cannot expand into gigabytes here.
    """
    damaged = f"checkpoint {path} is damaged or not a CNN Playground checkpoint"
    try:
        with zipfile.ZipFile(path) as archive:
            for entry in archive.infolist():
                if entry.compress_type != zipfile.ZIP_STORED or entry.file_size != entry.compress_size:
                    raise CheckpointError(f"{damaged} (compressed entry {entry.filename[:60]!r})")
                with archive.open(entry) as f:
                    while f.read(1 << 20):
                        pass
    except CheckpointError:
        raise
    except OSError as exc:
        raise CheckpointError(f"cannot read checkpoint {path}: {exc.strerror or exc}") from None
    except Exception as exc:  # noqa: BLE001 - zipfile raises a wide, undocumented set on damaged input
        raise CheckpointError(f"{damaged} ({one_line(exc, 200)})") from None



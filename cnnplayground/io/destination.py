"""Checking where a project will be saved, before hours of training depend on it.

:func:`check_destination` refuses a destination that a save is sure to fail on: a
folder that is missing, not a folder, or where no file can be created (read-only,
permission denied); a target that is a folder, a pipe, a socket, a device or a
read-only file (:func:`~cnnplayground.io.atomic.check_target`); a disk without room for
the estimated project; a process file-size limit (``ulimit -f``) below that size.
It is a check, not a promise (the disk may fill during training): the final save
still handles failure (see ``cli/train.py`` and :mod:`cnnplayground.io.recovery`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

from .atomic import AtomicWriteError, check_target

__all__ = ["check_destination", "file_size_limit"]


def check_destination(path: str | os.PathLike[str], needed_bytes: int, *, replace_read_only: bool = False) -> None:
    """Raise :class:`AtomicWriteError` (one line, naming ``path``) unless ``needed_bytes`` can be saved there.

    Creates and removes one empty temporary file in the target's folder (``os.access``
    says yes to root even on a read-only mount). Nothing else is written.
    """
    check_target(path, replace_read_only=replace_read_only)
    target = Path(os.path.realpath(path))
    folder = target.parent
    if not folder.exists():
        raise AtomicWriteError(f"cannot save to {target}: the folder {folder} does not exist")
    if not folder.is_dir():
        raise AtomicWriteError(f"cannot save to {target}: {folder} is not a folder")
    try:
        fd, probe = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise AtomicWriteError(f"cannot save to {target}: {exc.strerror or exc} (no file can be created "
                               f"in {folder})", exc.errno) from exc
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(probe)
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        free = None
    if free is not None and free < needed_bytes:
        raise AtomicWriteError(f"cannot save to {target}: its disk has {_size(free)} free, the project needs "
                               f"about {_size(needed_bytes)}; free some space or save elsewhere")
    limit = file_size_limit()
    if limit is not None and limit < needed_bytes:
        raise AtomicWriteError(f"cannot save to {target}: files are limited to {_size(limit)} (ulimit -f), "
                               f"the project needs about {_size(needed_bytes)}")


def file_size_limit() -> int | None:
    """The process's file-size limit in bytes (``RLIMIT_FSIZE``), or None when there is none."""
    try:
        import resource
    except ImportError:  # Windows
        return None
    soft, _hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    return None if soft == resource.RLIM_INFINITY or soft < 0 else int(soft)


def _size(n: int) -> str:
    for unit, scale in (("GB", 2**30), ("MB", 2**20), ("KB", 2**10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} bytes"

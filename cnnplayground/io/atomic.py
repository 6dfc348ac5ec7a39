"""Atomic file writes: a reader sees the old file or the new one, never half of one.

Content goes to a hidden temporary file in the target's directory, is flushed
and ``fsync`` ed, and then renamed over the target with :func:`os.replace`
(atomic on POSIX and on Windows for files on the same volume). If anything goes
wrong the temporary file is removed and :class:`AtomicWriteError` is raised; the
previous file, if there was one, is untouched.

An existing target keeps its permission bits; a new file gets the usual
``0o666`` minus the process umask (the temporary file itself starts at ``0o600``).
A symbolic link as target is followed: the file it points to is replaced and
the link stays.

Only a regular file, or a path where nothing is yet, is ever replaced: a folder,
a named pipe, a socket or a device (``/dev/null``, ``/dev/full``; also behind a
symbolic link) is refused before anything is opened, and so is a read-only file
(one without any write permission bit: root, to whom permissions do not apply,
would otherwise replace it silently), unless ``replace_read_only`` is given.

A process killed during a write (``SIGKILL``, a power cut) can leave its
temporary file behind, never the target half-written. Such leftovers are named
``.<target name>.<8 random characters>.tmp``; :func:`cleanup_stale_temporaries`
removes them, and every successful write removes those of its own target that
are older than :data:`STALE_TEMPORARY_AGE` (younger ones may belong to a write
still in progress in another process).
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from ..core.errors import UserError

__all__ = [
    "STALE_TEMPORARY_AGE",
    "AtomicWriteError",
    "atomic_write_bytes",
    "atomic_write_text",
    "atomic_writer",
    "check_target",
    "cleanup_stale_temporaries",
]

#: Seconds after which a leftover temporary file is taken for one of a killed writer.
STALE_TEMPORARY_AGE = 600.0
#: ``tempfile.mkstemp(prefix=".<name>.", suffix=".tmp")``: 8 characters of ``[a-z0-9_]``.
_TEMPORARY = re.compile(r"\.(?P<name>.+)\.[a-z0-9_]{8}\.tmp")


class AtomicWriteError(UserError, OSError):
    """Writing failed; the message says so and that the previous file is untouched."""

    def __init__(self, message: str, errno: int | None = None) -> None:
        super().__init__(message)
        if errno is not None:
            self.errno = errno


def check_target(path: str | os.PathLike[str], *, replace_read_only: bool = False) -> bool:
    """Raise :class:`AtomicWriteError` unless ``path`` may be written: a regular file or nothing yet.

    Refused: a folder, a named pipe, a socket, a device (after following symbolic links), and,
    unless ``replace_read_only``, a file that is read-only — no write bit in its mode (checked
    from the bits, since root may write anyway) or, for other users, not writable for this one.
    Nothing is opened. Returns whether a file exists there.
    """
    target = os.path.realpath(path)
    try:
        info = os.stat(target)
    except FileNotFoundError:
        return False
    except OSError:  # e.g. a folder that cannot be searched: the write itself will say why
        return os.path.lexists(target)
    mode = info.st_mode
    if stat.S_ISDIR(mode):
        raise AtomicWriteError(f"cannot write {target}: it is a folder", errno.EISDIR)
    if not stat.S_ISREG(mode):
        kind = ("a named pipe" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode)
                else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "not a regular file")
        raise AtomicWriteError(f"cannot write {target}: it is {kind}, not a regular file")
    if not replace_read_only and (
        not mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
        or (hasattr(os, "geteuid") and os.geteuid() != 0 and not os.access(target, os.W_OK))
    ):
        raise AtomicWriteError(
            f"cannot write {target}: the file is read-only (make it writable, or save under another name)",
            errno.EACCES)
    return True


@contextlib.contextmanager
def atomic_writer(path: str | os.PathLike[str], *, replace_read_only: bool = False) -> Iterator[BinaryIO]:
    """Yield a binary file; on a clean exit it atomically replaces ``path``.

    ``path`` is checked first (:func:`check_target`): anything but a regular file
    or a new path, and a read-only file unless ``replace_read_only``, is refused
    with :class:`AtomicWriteError` before anything is opened.
    An ``OSError`` while writing, syncing or renaming becomes
    :class:`AtomicWriteError`. Any other exception raised by the caller inside
    the ``with`` block is re-raised unchanged. In both cases the temporary file
    is removed and ``path`` is left as it was.
    """
    target = Path(os.path.realpath(path))
    existed = check_target(target, replace_read_only=replace_read_only)
    tmp_name: str | None = None
    try:
        mode = _target_mode(target)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        with contextlib.suppress(OSError):  # e.g. a file system without permissions
            os.chmod(tmp_name, mode)
        os.replace(tmp_name, target)
        tmp_name = None
        _fsync_dir(target.parent)
        cleanup_stale_temporaries(target.parent, name=target.name)
    except OSError as exc:
        _discard(tmp_name)
        if isinstance(exc, AtomicWriteError):
            raise
        reason = exc.strerror or str(exc) or type(exc).__name__
        after = "the previous file is untouched" if existed else "no file was written"
        raise AtomicWriteError(f"could not write {target}: {reason}; {after}", exc.errno) from exc
    except BaseException:
        _discard(tmp_name)
        raise


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes, *, replace_read_only: bool = False) -> None:
    """Atomically replace ``path`` with ``data``; raise :class:`AtomicWriteError` on failure."""
    with atomic_writer(path, replace_read_only=replace_read_only) as f:
        f.write(data)


def atomic_write_text(path: str | os.PathLike[str], text: str, encoding: str = "utf-8") -> None:
    """Atomically replace ``path`` with ``text`` encoded as ``encoding`` (newlines kept as given)."""
    atomic_write_bytes(path, text.encode(encoding))


def cleanup_stale_temporaries(
    folder: str | os.PathLike[str], *, name: str | None = None, older_than: float = STALE_TEMPORARY_AGE
) -> list[Path]:
    """Remove temporary files left in ``folder`` by writes that were killed; return their paths.

    Only regular files named as :func:`atomic_writer` names its temporaries
    (``.<target name>.<8 characters>.tmp``) and last modified more than
    ``older_than`` seconds ago are removed; with ``name``, only those of that
    target. Never raises: an unreadable folder or a file that cannot be removed
    is skipped.
    """
    removed: list[Path] = []
    now = time.time()
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        match = _TEMPORARY.fullmatch(entry.name)
        if match is None or (name is not None and match["name"] != name):
            continue
        try:
            info = entry.stat(follow_symlinks=False)
            if not stat.S_ISREG(info.st_mode) or now - info.st_mtime < older_than:
                continue
            os.unlink(entry.path)
        except OSError:
            continue
        removed.append(Path(entry.path))
    return removed


def _target_mode(target: Path) -> int:
    """Permission bits for the new file: the existing file's, else ``0o666`` minus the umask."""
    try:
        return stat.S_IMODE(os.stat(target).st_mode)
    except FileNotFoundError:
        return 0o666 & ~_umask()


def _umask() -> int:
    """The process umask, read without changing it where the system allows (Linux)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    # Elsewhere the only way to read it is to set it; restore it at once.
    current = os.umask(0o022)
    os.umask(current)
    return current


def _fsync_dir(directory: Path) -> None:
    """Make the rename durable (POSIX); silently skipped where directories cannot be opened."""
    if os.name != "posix":
        return
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _discard(tmp_name: str | None) -> None:
    if tmp_name is not None:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)

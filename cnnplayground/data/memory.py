"""How much memory a dataset may still take: read from the system at each call, never cached.

Datasets that are built in memory (a user's image folder) check their size against
:func:`available_memory` before allocating, so a folder that is too large is refused
with a message instead of a ``MemoryError`` (or the kernel's OOM killer) half-way.
Tests replace :func:`available_memory` (monkeypatch) rather than needing a small machine.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path


def available_memory() -> int | None:
    """Bytes this process can still allocate, or ``None`` when the system does not say.

    The kernel's estimate of memory available without swapping (``MemAvailable``), lowered
    by a container's limit (cgroup v2 ``memory.max`` − ``memory.current``, or v1) and by an
    address-space limit (``RLIMIT_AS``) when these are smaller.
    """
    found = [v for v in (_meminfo_available(), _cgroup_available(), _rlimit_available()) if v is not None]
    if not found and hasattr(os, "sysconf"):
        with contextlib.suppress(ValueError, OSError):
            found.append(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    return max(min(found), 0) if found else None


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text()
    except (OSError, UnicodeDecodeError):
        return None


def _meminfo_available() -> int | None:
    text = _read("/proc/meminfo")
    for line in (text or "").splitlines():
        if line.startswith("MemAvailable:"):
            try:
                return int(line.split()[1]) * 1024
            except (IndexError, ValueError):
                return None
    return None


def _cgroup_available() -> int | None:
    for limit_file, usage_file in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                                   ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
                                    "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        limit, usage = _read(limit_file), _read(usage_file)
        if limit is None or usage is None:
            continue
        try:
            limit_bytes, usage_bytes = int(limit.strip()), int(usage.strip())
        except ValueError:  # "max": no limit
            return None
        if limit_bytes >= 2**60:  # cgroup v1 writes "no limit" as a huge number
            return None
        return limit_bytes - usage_bytes
    return None


def _rlimit_available() -> int | None:
    if sys.platform == "win32":
        return None
    import resource

    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY:
        return None
    status = _read("/proc/self/status") or ""
    for line in status.splitlines():
        if line.startswith("VmSize:"):
            try:
                return soft - int(line.split()[1]) * 1024
            except (IndexError, ValueError):
                return None
    return None

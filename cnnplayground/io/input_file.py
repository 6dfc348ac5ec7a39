"""The checks every reader of a file the user chose makes before opening it (weights, ONNX, ``.pt2``)."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path


def regular_file(path: Path, noun: str, error: Callable[[str], Exception]) -> os.stat_result:
    """``path``'s status, refusing (``error(message)``, one line) a missing file, one that cannot be read, a
    folder ("it is a folder, not ``noun``") and a pipe, socket or device, whose reading could block for ever."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise error(f"cannot read {path}: there is no such file") from None
    except OSError as exc:
        raise error(f"cannot read {path}: {exc.strerror or exc}") from None
    if stat.S_ISDIR(info.st_mode):
        raise error(f"cannot read {path}: it is a folder, not {noun}")
    if not stat.S_ISREG(info.st_mode):
        raise error(f"cannot read {path}: it is not a regular file (a pipe, socket or device)")
    return info

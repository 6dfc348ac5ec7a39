"""The recovery folder: where autosaved copies and projects that could not be saved go.

The window autosaves the open project there (``ui/shell/autosave.py``) and offers
the copies of a process that is gone at its next start. The command line writes a
trained project there when ``--save`` fails, in the same form (``<pid>-<token>.cnnp``
and a JSON file naming the process, the project and the file it was meant for), so
the window offers it too. Qt-free: the folder is the one Qt's
``QStandardPaths.AppDataLocation`` gives for the app's names, followed by ``autosave``,
or ``$CNNPLAYGROUND_AUTOSAVE_DIR``.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from .atomic import AtomicWriteError, atomic_write_text

if TYPE_CHECKING:  # pragma: no cover
    from ..project import Project

__all__ = ["ENV_DIR", "app_data_dir", "autosave_dir", "save_recovery_copy"]

#: Set to use another folder (tests, or several profiles).
ENV_DIR = "CNNPLAYGROUND_AUTOSAVE_DIR"
#: The names the window gives Qt (``ui/app.py``), which make its data folder.
ORGANIZATION = APP_NAME = "CNN Playground"


def app_data_dir() -> Path:
    """The app's data folder, as ``QStandardPaths.AppDataLocation`` names it (without Qt)."""
    home = Path.home()
    if sys.platform == "win32":
        base = Path(os.environ.get("APPDATA") or home / "AppData" / "Roaming")
    elif sys.platform == "darwin":
        base = home / "Library" / "Application Support"
    else:
        xdg = os.environ.get("XDG_DATA_HOME", "")
        base = Path(xdg) if os.path.isabs(xdg) else home / ".local" / "share"
    return base / ORGANIZATION / APP_NAME


def autosave_dir(app_data: Path | None = None) -> Path:
    """``$CNNPLAYGROUND_AUTOSAVE_DIR``, else ``<app data>/autosave`` (``app_data`` given by the window)."""
    override = os.environ.get(ENV_DIR)
    if override:
        return Path(override)
    return (app_data or app_data_dir()) / "autosave"


def save_recovery_copy(project: Project, original: str | os.PathLike[str] | None = None,
                       folder: Path | None = None) -> Path:
    """Write ``project`` to a new file in the recovery folder and return its path.

    ``original`` is where it should have gone (named when the window offers it back).
    Raises :class:`~cnnplayground.io.project_schema.ProjectError` (or
    :class:`~cnnplayground.io.atomic.AtomicWriteError`) when that fails too.
    """
    from .project import save_project

    folder = folder or autosave_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise AtomicWriteError(f"cannot create {folder}: {exc.strerror or exc}", exc.errno) from exc
    token = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
    file = folder / f"{token}.cnnp"
    save_project(project, file)
    meta = {"pid": os.getpid(), "name": project.name, "saved_at": time.time(),
            "original": os.path.abspath(original) if original is not None else None}
    # The copy is whole; without its description the window does not offer it, but the path still opens.
    with contextlib.suppress(OSError):
        atomic_write_text(folder / f"{token}.json", json.dumps(meta))
    return file

"""Autosave and crash recovery: an hour of work is never lost to a crash, a kill or a power cut.

While the open project has unsaved changes (or a run is training), a copy of it is
written to the app's data folder a few seconds after the last change, and after every
epoch of a run (with the run so far and its latest weights). The copy is written in the
background and atomically (temporary file, then rename), next to a small JSON file
saying whose it is (process id, project name, the file it belongs to, when). A clean
exit, a save, or opening another project removes it.

At the next start, copies whose process is gone are offered for restoring: the project
comes back as it was, marked modified, with its original file name, so Save puts it
where it belongs.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QStandardPaths, QTimer, Signal
from PySide6.QtWidgets import QMessageBox

from ...core.graph import Graph
from ...io import recovery as io_recovery
from ...io.atomic import AtomicWriteError, atomic_write_text, cleanup_stale_temporaries
from ...io.destination import check_destination
from ...io.project import ProjectError, estimate_saved_bytes, load_project, save_project
from ...project import Project, run_record
from ..document.document import Document
from ..jobs import GeneratorJob

if TYPE_CHECKING:  # pragma: no cover
    from ..inspect.source import ModelSource
    from ..training.dock import TrainingDock
    from .main_window import MainWindow

#: Quiet time after the last edit before a copy is written.
AUTOSAVE_DELAY_MS = 3000


def autosave_dir() -> Path:
    """Where the copies live: ``$CNNPLAYGROUND_AUTOSAVE_DIR`` or ``<app data>/autosave``
    (:func:`cnnplayground.io.recovery.autosave_dir`, with the app data folder Qt names; the
    command line puts projects it could not save there too)."""
    app_data = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
    return io_recovery.autosave_dir(Path(app_data) if app_data else None)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    except OSError:
        return False
    return True


@dataclass(frozen=True)
class Recovery:
    """A copy left by a process that did not exit cleanly."""

    file: Path  # the autosaved project
    meta: Path  # its JSON description
    name: str
    original: Path | None  # the file the project was saved as, if any
    saved_at: float  # time.time() of the copy

    def describe(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(self.saved_at))
        where = f" ({self.original})" if self.original else " (never saved)"
        return f"'{self.name}'{where}, autosaved {when}"

    def load(self) -> Project:
        return load_project(self.file)

    def discard(self) -> None:
        for path in (self.file, self.meta):
            with contextlib.suppress(OSError):
                path.unlink()


def find_recoveries(folder: Path | None = None) -> list[Recovery]:
    """Copies whose process is gone, newest first (a copy of a running instance is left alone)."""
    folder = folder or autosave_dir()
    if folder.is_dir():
        cleanup_stale_temporaries(folder)  # half-written copies of killed saves (the last whole copy stays)
    found = []
    for meta in folder.glob("*.json") if folder.is_dir() else ():
        try:
            info = json.loads(meta.read_text(encoding="utf-8"))
            pid = int(info["pid"])
            file = meta.with_suffix(".cnnp")
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if _alive(pid) or not file.is_file():
            continue
        original = info.get("original")
        found.append(Recovery(file, meta, str(info.get("name", file.stem)), Path(original) if original else None,
                              float(info.get("saved_at", file.stat().st_mtime))))
    return sorted(found, key=lambda r: r.saved_at, reverse=True)


def copy_project(project: Project) -> Project:
    """A copy safe to write from another thread while the user goes on editing.

    The graph is copied; settings are immutable values; the history list is copied (its
    records are never changed in place); weights are replaced whole, never modified, so the
    dict is copied and the tensors shared.
    """
    return Project(graph=Graph.from_dict(project.graph.to_dict()), name=project.name, dataset=project.dataset,
                   training=project.training, history=list(project.history),
                   weights=dict(project.weights) if project.weights is not None else None,
                   created=project.created, modified=project.modified)


class Autosaver(QObject):
    """Writes the document's project to its recovery file while there is something to lose.

    ``snapshot()`` returns the project to write (by default a copy of the document's;
    the window adds a running training's progress) or None for nothing to save.
    Signals: ``saved(path)``, ``failed(message)``.
    """

    saved = Signal(object)
    failed = Signal(str)

    def __init__(self, document: Document, snapshot: Callable[[], Project | None] | None = None,
                 folder: Path | None = None, delay_ms: int = AUTOSAVE_DELAY_MS, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.document = document
        self.snapshot = snapshot or (lambda: copy_project(document.project) if document.modified else None)
        self.folder = folder or autosave_dir()
        token = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.file = self.folder / f"{token}.cnnp"
        self.meta = self.folder / f"{token}.json"
        self._job: GeneratorJob | None = None
        self._pending = False
        self.last_error = ""
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(delay_ms)
        self._timer.timeout.connect(self.save_now)
        document.undo_stack.indexChanged.connect(lambda _i: self.schedule())
        document.history_changed.connect(self.schedule)
        document.settings_changed.connect(self.schedule)
        document.graph_replaced.connect(lambda _g: self.discard())  # another project: the old copy is moot
        document.modified_changed.connect(lambda modified: None if modified else self.discard())

    @property
    def busy(self) -> bool:
        return self._job is not None and self._job.running

    def schedule(self) -> None:
        """A change: write a copy after the quiet time (restarted by each change)."""
        self._timer.start()

    def save_now(self, wait: bool = False) -> bool:
        """Write a copy now (in the background; ``wait``: here, before returning). False if nothing to save."""
        self._timer.stop()
        if self.busy and not wait:
            self._pending = True  # one write at a time; this change is written right after
            return True
        project = self.snapshot()
        if project is None:
            self.discard()
            return False
        meta = {"pid": os.getpid(), "name": project.name, "saved_at": time.time(),
                "original": str(self.document.path) if self.document.path else None}
        if wait:
            if self._job is not None:
                self._job.cancel()
                self._job.wait()
            try:
                self._write(project, meta)
            except Exception as exc:  # noqa: BLE001 - an emergency save must report, never raise
                self._report(str(exc))
                return False
            self.saved.emit(self.file)
            return True
        self._job = GeneratorJob(self._writing(project, meta), parent=self)
        self._job.finished.connect(self._on_written)
        self._job.failed.connect(self._report)
        self._job.start()
        return True

    def _writing(self, project: Project, meta: dict):
        self._write(project, meta)
        yield self.file

    def _write(self, project: Project, meta: dict) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        save_project(project, self.file)  # atomic: the previous copy stays until this one is complete
        atomic_write_text(self.meta, json.dumps(meta))

    def _on_written(self) -> None:
        self.last_error = ""
        self.saved.emit(self.file)
        if self._pending:
            self._pending = False
            self.save_now()

    def _report(self, message: str) -> None:
        self.last_error = message
        self.failed.emit(message)

    def discard(self) -> None:
        """Remove this session's copy (saved, closed cleanly, or another project opened)."""
        self._timer.stop()
        self._pending = False
        if self._job is not None and self._job.running:
            self._job.cancel()
            self._job.wait()
        for path in (self.file, self.meta):
            with contextlib.suppress(OSError):
                path.unlink()


def autosave_problem(autosaver: Autosaver, project: Project) -> str | None:
    """Why a run of ``project`` could not be autosaved (checked before it starts), or None.

    The window writes a copy of the run after every epoch and, when Save fails, a recovery
    copy: the folder must exist (it is created), take a new file and have room for the
    project with its trained weights (:func:`~cnnplayground.io.destination.check_destination`).
    """
    try:
        autosaver.folder.mkdir(parents=True, exist_ok=True)
        check_destination(autosaver.file, estimate_saved_bytes(project))
    except OSError as exc:  # AtomicWriteError included
        reason = str(exc) if isinstance(exc, AtomicWriteError) else f"cannot create {autosaver.folder}: " \
            f"{exc.strerror or exc}"
        return (f"Cannot train: the run could not be kept safe ({reason}). Each epoch is autosaved to "
                f"{autosaver.folder}: free some space there, or set {io_recovery.ENV_DIR} to another folder.")
    return None


# --- what the window autosaves, and what it offers back -------------------------------------


def project_to_autosave(document: Document, training: TrainingDock, model_source: ModelSource) -> Project | None:
    """What a crash now would lose: the project, plus a running training's epochs and latest weights."""
    session = training.session
    epochs = list(session.history) if session is not None and training.running else []
    if not epochs:
        return copy_project(document.project) if document.modified else None
    project = copy_project(document.project)
    graph = training.training_graph
    record = run_record(f"{training.run_name} (interrupted)", project.training, epochs, None, network=graph)
    if training.epochs is not None:  # the weights of its epochs so far (shared tensors, thinned to the budget)
        record.keep_epochs(training.epochs.result())
    project.history.append(record)
    weights = model_source.latest_weights()
    if weights is not None and graph is not None and graph.structure_key() == document.graph.structure_key():
        # The last epoch's weights, when they fit the canvas. The snapshot is a CPU copy nobody trains
        # (a new one comes each epoch), so its tensors are shared, not copied again on the GUI thread.
        project.weights = weights
    return project


def offer_recovery(window: MainWindow) -> bool:
    """At start: projects autosaved by a session that did not exit cleanly are offered back.

    ``window.ask_recovery(recovery)`` answers Yes (restore), Discard or Ignore (keep for later).
    """
    autosaver, document = window.autosaver, window.document
    for recovery in find_recoveries(autosaver.folder):
        if recovery.file == autosaver.file:
            continue
        answer = window.ask_recovery(recovery)
        if answer == QMessageBox.StandardButton.Discard:
            recovery.discard()
        elif answer == QMessageBox.StandardButton.Yes:
            try:
                project = recovery.load()
            except ProjectError as exc:
                QMessageBox.warning(window, "Restore", f"The autosaved copy cannot be read: {exc}. It is kept "
                                    f"in {recovery.file}.")
                continue
            document.recover(project, recovery.original)  # restored, not saved: Save puts it in its file
            recovery.discard()
            autosaver.save_now()  # this session's own copy, straight away
            window.statusBar().showMessage(f"Restored {recovery.describe()}", 10_000)
            return True
    return False

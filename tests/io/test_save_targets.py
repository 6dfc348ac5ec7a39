"""Where a save may go (issue 21): only regular files or new paths, never a read-only file silently,
a destination checked before training, a recovery copy, and a history of any length saved in bounds.

The tests run as root, which ignores permissions: a read-only file is one without write bits (the
check reads the bits), and read-only folders, full disks and file-size limits are simulated by
monkeypatching, as in ``test_faults.py``. No test writes to a real ``/dev`` file.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import stat
import tracemalloc
import zipfile

import pytest
import torch

from cnnplayground.core.builder import build
from cnnplayground.core.presets import get_preset
from cnnplayground.io import atomic, destination, recovery
from cnnplayground.io.atomic import AtomicWriteError, atomic_write_bytes, check_target
from cnnplayground.io.destination import check_destination
from cnnplayground.io.project import (
    MAX_JSON_BYTES,
    ProjectError,
    estimate_saved_bytes,
    load_project,
    save_project,
    weights_from_module,
)
from cnnplayground.project import Project, RunHistory, Series
from cnnplayground.project.history import MAX_SAVED_POINTS, MAX_STEP_POINTS, bounded_history

POSIX = os.name == "posix"


def _project(weights: bool = True) -> Project:
    torch.manual_seed(0)
    graph = get_preset("lenet5").factory()
    project = Project.new(graph, name="p")
    if weights:
        project.weights = weights_from_module(build(graph))
    return project


def _fifo(folder):
    path = folder / "pipe.cnnp"
    os.mkfifo(path)
    return path


def _socket(folder):
    path = folder / "s.cnnp"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(path))
    sock.close()  # the socket file stays
    return path


def _folder(folder):
    path = folder / "dir.cnnp"
    path.mkdir()
    return path


def _link_to_fifo(folder):
    path = folder / "link.cnnp"
    path.symlink_to(_fifo(folder))
    return path


NOT_FILES = {"named pipe": _fifo, "socket": _socket, "folder": _folder, "link to a named pipe": _link_to_fifo}


@pytest.mark.skipif(not POSIX, reason="named pipes and Unix sockets")
@pytest.mark.parametrize("kind", NOT_FILES)
@pytest.mark.parametrize("writer", ["atomic", "save_project"])
def test_a_target_that_is_not_a_regular_file_is_refused_and_kept(kind, writer, tmp_path):
    """Before: a pipe, a socket or a link to a pipe was replaced by a regular file."""
    path = NOT_FILES[kind](tmp_path)
    before = os.stat(path).st_mode
    error = AtomicWriteError if writer == "atomic" else ProjectError
    with pytest.raises(error) as info:
        if writer == "atomic":
            atomic_write_bytes(path, b"data")
        else:
            save_project(_project(), path)
    message = str(info.value)
    assert "\n" not in message and str(os.path.realpath(path)) in message
    assert ("it is a folder" if kind == "folder" else "not a regular file") in message, message
    assert os.stat(path).st_mode == before  # still the pipe, socket or folder
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")) == []


@pytest.mark.skipif(not os.path.exists("/dev/null"), reason="needs /dev/null")
def test_a_link_to_a_device_is_refused_before_anything_is_opened(tmp_path, monkeypatch):
    """``--save /dev/null`` through a link: refused from its mode, before a temporary file or the device is
    opened (both are made to fail the test)."""
    link = tmp_path / "null.cnnp"
    link.symlink_to("/dev/null")

    def never(*args, **kwargs):
        raise AssertionError("opened a file for a target that must be refused")

    monkeypatch.setattr(atomic.tempfile, "mkstemp", never)
    monkeypatch.setattr(atomic.os, "fdopen", never)
    with pytest.raises(ProjectError, match=r"cannot write /dev/null: it is a device, not a regular file"):
        save_project(_project(), link)
    with pytest.raises(AtomicWriteError, match="it is a device"):
        check_destination(link, 1000)
    assert link.is_symlink() and stat.S_ISCHR(os.stat(link).st_mode)


def test_a_read_only_project_is_not_replaced_even_by_root(tmp_path):
    """A file without write bits is refused (root would replace it: os.replace ignores the mode)."""
    path = tmp_path / "kept.cnnp"
    save_project(_project(), path)
    path.chmod(0o444)
    old = path.read_bytes()
    with pytest.raises(ProjectError, match=r"the file is read-only \(make it writable, or save under another name\)"):
        save_project(_project(weights=False), path)
    assert path.read_bytes() == old and stat.S_IMODE(path.stat().st_mode) == 0o444
    with pytest.raises(AtomicWriteError, match="read-only"):
        check_destination(path, 1000)
    # Asked for explicitly, it is replaced and stays read-only.
    save_project(_project(weights=False), path, replace_read_only=True)
    assert load_project(path).weights is None and stat.S_IMODE(path.stat().st_mode) == 0o444


def test_regular_files_and_new_paths_are_accepted(tmp_path):
    assert check_target(tmp_path / "new.cnnp") is False
    (tmp_path / "old.cnnp").write_bytes(b"x")
    assert check_target(tmp_path / "old.cnnp") is True
    (tmp_path / "link.cnnp").symlink_to(tmp_path / "old.cnnp")
    save_project(_project(), tmp_path / "link.cnnp")  # a link to a regular file: its target is replaced
    assert (tmp_path / "link.cnnp").is_symlink() and load_project(tmp_path / "old.cnnp").weights is not None


# --- the destination, checked before training ----------------------------------------------------


def test_a_good_destination_passes_and_leaves_nothing(tmp_path):
    check_destination(tmp_path / "out.cnnp", estimate_saved_bytes(_project()))
    assert list(tmp_path.iterdir()) == []


def test_a_missing_folder_or_a_file_as_folder_is_refused(tmp_path):
    with pytest.raises(AtomicWriteError, match=r"the folder .*missing does not exist"):
        check_destination(tmp_path / "missing" / "out.cnnp", 1000)
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(AtomicWriteError, match=r"file is not a folder"):
        check_destination(tmp_path / "file" / "out.cnnp", 1000)


@pytest.mark.parametrize("code", [errno.EROFS, errno.EACCES])
def test_a_folder_where_no_file_can_be_created_is_refused(code, tmp_path, monkeypatch):
    """Simulated (root may write anywhere): creating the probe file fails as on a read-only mount."""

    def fail(*args, **kwargs):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(destination.tempfile, "mkstemp", fail)
    with pytest.raises(AtomicWriteError, match=os.strerror(code)):
        check_destination(tmp_path / "out.cnnp", 1000)


def test_a_full_disk_or_a_file_size_limit_is_refused(tmp_path, monkeypatch):
    needed = estimate_saved_bytes(_project())
    assert 61_706 * 4 < needed < 8 * 2**20  # LeNet-5's weights, its JSON, a run's curves
    real = destination.shutil.disk_usage
    monkeypatch.setattr(destination.shutil, "disk_usage",
                        lambda p: real(p)._replace(free=needed - 1))
    with pytest.raises(AtomicWriteError, match=r"its disk has .* free, the project needs about"):
        check_destination(tmp_path / "out.cnnp", needed)
    monkeypatch.undo()
    monkeypatch.setattr(destination, "file_size_limit", lambda: 4096)
    with pytest.raises(AtomicWriteError, match=r"files are limited to 4.0 KB \(ulimit -f\)"):
        check_destination(tmp_path / "out.cnnp", needed)
    assert list(tmp_path.iterdir()) == []


# --- the recovery copy ---------------------------------------------------------------------------


def test_a_recovery_copy_goes_to_the_autosave_folder_with_its_description(tmp_path, monkeypatch):
    monkeypatch.setenv(recovery.ENV_DIR, str(tmp_path / "autosave"))
    copy = recovery.save_recovery_copy(_project(), original=tmp_path / "meant.cnnp")
    assert copy.parent == tmp_path / "autosave" and copy.name.startswith(f"{os.getpid()}-")
    assert load_project(copy).weights is not None
    meta = json.loads(copy.with_suffix(".json").read_text())
    assert meta["pid"] == os.getpid() and meta["original"] == str(tmp_path / "meant.cnnp")


def test_the_recovery_folder_without_qt_is_the_one_qt_names(monkeypatch, tmp_path):
    monkeypatch.delenv(recovery.ENV_DIR, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    if os.name == "posix" and os.uname().sysname == "Linux":
        assert recovery.autosave_dir() == tmp_path / "CNN Playground" / "CNN Playground" / "autosave"
    monkeypatch.setenv(recovery.ENV_DIR, str(tmp_path / "x"))
    assert recovery.autosave_dir() == tmp_path / "x"


# --- histories of any length are saved in bounds --------------------------------------------------


def _long_series(n: int) -> Series:
    """``n`` points without pydantic's length check (a Series in memory longer than a file may hold)."""
    return Series.model_construct(x=list(map(float, range(1, n + 1))), y=[0.25, 0.75] * (n // 2))


def test_three_million_steps_are_saved_in_bounds_and_load(tmp_path):
    """Before: ``cannot save: history: … at most 5,000,000`` (two 3 M-point curves) and the run was lost."""
    project = _project()
    steps = _long_series(3_000_000)
    project.history = [RunHistory.model_construct(name="long", started=None, settings={},
                                                  series={"step_loss": steps, "step_accuracy": steps})]
    path = tmp_path / "long.cnnp"
    tracemalloc.start()
    try:
        save_project(project, path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 400 * 2**20, f"{peak / 2**20:.0f} MB"
    assert path.stat().st_size < 2 * 2**20  # 40,000 points and LeNet-5's 241 KB of weights
    with zipfile.ZipFile(path) as zf:
        assert zf.getinfo("project.json").file_size < 2 * 2**20
    loaded = load_project(path)
    curve = loaded.history[0].series["step_loss"]
    assert len(curve.x) == MAX_STEP_POINTS and curve.x[-1] == 3_000_000.0
    assert all(y == pytest.approx(0.5) for y in curve.y)  # each point the mean of 150 steps
    assert len(project.history[0].series["step_loss"].x) == 3_000_000  # memory keeps the whole curve


def test_a_history_too_large_to_write_is_thinned_to_fit(tmp_path):
    """130 runs of 40,000 step points (5.2 M, over the 5 M a file may hold): before, the save failed."""
    project = _project(weights=False)
    steps = _long_series(MAX_STEP_POINTS)
    project.history = [RunHistory(name=f"run {i}", series={"step_loss": steps, "step_accuracy": steps,
                                                           "val_loss": Series(x=[1.0, 2.0], y=[0.5, 0.4])})
                       for i in range(130)]
    path = tmp_path / "many.json"
    save_project(project, path)
    assert path.stat().st_size < MAX_JSON_BYTES
    loaded = load_project(path)
    lengths = [len(c.x) for run in loaded.history for c in run.series.values()]
    assert len(loaded.history) == 130 and sum(lengths) <= MAX_SAVED_POINTS
    assert {len(run.series["val_loss"].x) for run in loaded.history} == {2}  # short curves stay whole
    assert min(len(run.series["step_loss"].x) for run in loaded.history) > 3000


def test_bounded_history_keeps_short_histories_as_they_are():
    runs = [RunHistory(name="a", series={"loss": Series(x=[1.0, 2.0], y=[1.0, None])})]
    assert bounded_history(runs)[0] is runs[0]
    long = [RunHistory.model_construct(name="b", started=None, settings={},
                                       series={"step_loss": _long_series(50_000)})]
    (cut,) = bounded_history(long, per_series=100)
    assert len(cut.series["step_loss"].x) == 100 and len(long[0].series["step_loss"].x) == 50_000

"""A trained run in the window is never lost to a failed save (issue 21): Train checks the autosave folder
first, and a Save that fails writes a recovery copy and names it (or says that it could not).

Faults are simulated (the tests run as root): ``os.replace`` failing with ENOSPC, a full disk through
``shutil.disk_usage``, a read-only folder through ``tempfile.mkstemp``.
"""

from __future__ import annotations

import errno
import os

import pytest
from PySide6.QtWidgets import QMessageBox

from cnnplayground.core.presets import get_preset
from cnnplayground.io import atomic, destination
from cnnplayground.io.project import load_project
from cnnplayground.project import DatasetChoice, Project, TrainingConfig
from cnnplayground.train.run_state import RunState
from cnnplayground.ui.shell.main_window import MainWindow

TINY = DatasetChoice(name="synthetic", options={"train_size": 256, "test_size": 64})


@pytest.fixture
def window(qtbot, monkeypatch):
    w = MainWindow()
    qtbot.addWidget(w)
    errors: list[tuple[str, str]] = []
    monkeypatch.setattr(w.files, "ask_save_changes", lambda: QMessageBox.StandardButton.Discard)
    monkeypatch.setattr(w.files, "show_error", lambda title, text: errors.append((title, text)))
    w.errors = errors  # type: ignore[attr-defined]
    config = TrainingConfig(epochs=1, batch_size=64, device="cpu", checkpoint_every=0)
    w.document.new(Project.new(graph=get_preset("lenet5").factory(), name="t", dataset=TINY, training=config))
    yield w
    w.training.shutdown()


def _train(qtbot, window) -> None:
    with qtbot.waitSignal(window.training.run_ended, timeout=120_000):
        window.training.start()
    assert window.document.project.weights is not None and len(window.document.project.history) == 1


def _disk_full_for(monkeypatch, *targets) -> None:
    """``os.replace`` onto any of ``targets`` (all when none are given) fails: the disk filled up."""
    real = os.replace

    def replace(src, dst, *args, **kwargs):
        if not targets or os.fspath(dst) in map(os.fspath, targets):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(src, dst, *args, **kwargs)

    monkeypatch.setattr(atomic.os, "replace", replace)


def test_a_failed_save_after_training_writes_a_recovery_copy_and_names_it(qtbot, window, tmp_path, monkeypatch):
    """Before: "Cannot save project … No space left on device", and no copy of the run anywhere."""
    _train(qtbot, window)
    target = tmp_path / "trained.cnnp"
    _disk_full_for(monkeypatch, target)
    assert window.files.save_to(target) is False
    ((title, text),) = window.errors
    copy = window.autosaver.file
    assert title == "Cannot save project" and "No space left on device" in text
    assert f"was saved to {copy}" in text, text
    saved = load_project(copy)
    assert saved.weights is not None and [r.name for r in saved.history] == ["run 1"]
    assert window.document.modified and window.document.project.weights is not None  # still in memory
    assert not target.exists()


def test_when_the_recovery_copy_fails_too_the_run_stays_in_memory_and_the_message_says_so(qtbot, window,
                                                                                           tmp_path, monkeypatch):
    _train(qtbot, window)
    with pytest.MonkeyPatch.context() as fault:  # the window fixture's own patches stay
        _disk_full_for(fault)
        assert window.files.save_to(tmp_path / "trained.cnnp") is False
    ((_title, text),) = window.errors
    assert "No recovery copy could be written either" in text and "No space left on device" in text, text
    assert "still open here" in text
    assert window.document.modified and window.document.project.weights is not None
    assert window.files.save_to(tmp_path / "trained.cnnp")  # the disk has room again: saved whole
    assert load_project(tmp_path / "trained.cnnp").weights is not None


@pytest.mark.parametrize("fault", ["full disk", "read-only folder"])
def test_train_is_refused_when_the_run_could_not_be_autosaved(fault, qtbot, window, monkeypatch):
    """Before: the run started, and every epoch's autosave failed."""
    with pytest.MonkeyPatch.context() as patch:  # the window fixture's own patches stay
        if fault == "full disk":
            real = destination.shutil.disk_usage
            patch.setattr(destination.shutil, "disk_usage", lambda p: real(p)._replace(free=10_000))
            reason = "free, the project needs about"
        else:
            def read_only(*args, **kwargs):
                raise OSError(errno.EROFS, os.strerror(errno.EROFS))

            patch.setattr(destination.tempfile, "mkstemp", read_only)
            reason = os.strerror(errno.EROFS)
        window.training.start()
    status = window.training.status.text()
    assert status.startswith("Cannot train: the run could not be kept safe") and reason in status, status
    assert str(window.autosaver.folder) in status
    assert window.training.session is None and window.training.state == RunState.IDLE
    _train(qtbot, window)  # once there is room, Train works

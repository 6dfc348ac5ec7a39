"""Autosave and crash recovery: a copy while there is something to lose, offered back after a crash or a kill."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch
from PySide6.QtWidgets import QMessageBox

from cnnplayground.core.builder import build
from cnnplayground.core.presets import get_preset
from cnnplayground.io.project import load_project, save_project
from cnnplayground.project import Project
from cnnplayground.ui.document.commands import AddNode, RenameNode
from cnnplayground.ui.shell.autosave import find_recoveries
from cnnplayground.ui.shell.crash import CrashHandler
from cnnplayground.ui.shell.main_window import MainWindow

Button = QMessageBox.StandardButton
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def autosave_dir(tmp_path, monkeypatch):
    folder = tmp_path / "autosave"
    monkeypatch.setenv("CNNPLAYGROUND_AUTOSAVE_DIR", str(folder))
    return folder


@pytest.fixture
def window(qtbot, monkeypatch, autosave_dir):
    w = MainWindow()
    qtbot.addWidget(w)
    monkeypatch.setattr(w.files, "ask_save_changes", lambda: Button.Discard)
    w.autosaver._timer.setInterval(20)  # the quiet time, shortened
    yield w
    w.training.shutdown()


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_an_edit_is_autosaved_and_a_save_or_clean_exit_removes_the_copy(qtbot, window, autosave_dir, tmp_path):
    with qtbot.waitSignal(window.autosaver.saved, timeout=10_000):
        window.document.push(AddNode(window.document.graph, "Conv2d", (0, 120), node_id="conv9"))
    copy = load_project(window.autosaver.file)
    assert "conv9" in copy.graph.nodes
    meta = json.loads(window.autosaver.meta.read_text())
    assert meta["pid"] == os.getpid() and meta["original"] is None
    assert find_recoveries(autosave_dir) == []  # this process is alive: not offered to anyone
    window.document.save(tmp_path / "p.cnnp")
    assert not window.autosaver.file.exists() and not window.autosaver.meta.exists()
    with qtbot.waitSignal(window.autosaver.saved, timeout=10_000):
        window.document.push(RenameNode(window.document.graph, "conv9", "conv10"))
    assert json.loads(window.autosaver.meta.read_text())["original"] == str(tmp_path / "p.cnnp")
    window.close()
    assert list(autosave_dir.iterdir()) == []  # a clean exit leaves nothing to recover


def _leave_copy(folder: Path, project: Project, original: Path | None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    save_project(project, folder / "999-dead.cnnp")
    (folder / "999-dead.json").write_text(json.dumps({"pid": _dead_pid(), "name": project.name,
                                                      "saved_at": time.time(),
                                                      "original": str(original) if original else None}))
    return folder / "999-dead.cnnp"


@pytest.mark.parametrize("answer", [Button.Yes, Button.Discard, Button.Ignore])
def test_a_copy_left_by_a_dead_session_is_offered_back(qtbot, window, autosave_dir, tmp_path, answer):
    project = Project.new(graph=get_preset("lenet5").factory(), name="Lost work")
    copy = _leave_copy(autosave_dir, project, tmp_path / "lost.cnnp")
    asked = []
    window.ask_recovery = lambda recovery: asked.append(recovery.describe()) or answer
    restored = window.offer_recovery()
    assert asked and "'Lost work'" in asked[0] and str(tmp_path / "lost.cnnp") in asked[0]
    if answer == Button.Yes:
        assert restored and window.document.project.name == "Lost work"
        assert set(window.document.graph.nodes) == set(project.graph.nodes)
        assert window.document.modified and window.document.path == tmp_path / "lost.cnnp"
        assert not copy.exists()
        qtbot.waitUntil(lambda: window.autosaver.file.exists(), timeout=10_000)  # protected again at once
    elif answer == Button.Discard:
        assert not restored and not copy.exists()
    else:
        assert not restored and copy.exists()  # kept for the next start


def test_an_exception_in_a_slot_is_logged_saved_and_shown_and_the_app_goes_on(qtbot, window, tmp_path):
    handler = CrashHandler(window, tmp_path / "crashes")
    shown = []
    handler.present = lambda box: shown.append((box.text(), box.detailedText()))
    window.document.push(AddNode(window.document.graph, "ReLU", (0, 120), node_id="relu9"))
    try:
        raise ValueError("kernel 5 is larger than the input height 3")
    except ValueError:
        handler(*sys.exc_info())
    assert shown and "ValueError: kernel 5 is larger than the input height 3" in shown[0][0]
    assert "saved to a recovery copy" in shown[0][0] and "Traceback" in shown[0][1]
    assert handler.logs and "kernel 5" in handler.logs[0].read_text()
    assert "relu9" in load_project(window.autosaver.file).graph.nodes  # the emergency save
    window.document.push(AddNode(window.document.graph, "ReLU", (0, 240), node_id="relu10"))  # still usable
    assert "relu10" in window.document.graph.nodes


CHILD = textwrap.dedent("""
    import os, sys
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from cnnplayground.core.presets import get_preset
    from cnnplayground.project import Project
    from cnnplayground.project import DatasetChoice, TrainingConfig
    from cnnplayground.ui.app import create_app
    from cnnplayground.ui.document.commands import RenameNode
    from cnnplayground.ui.shell.main_window import MainWindow
    from cnnplayground.train.events import EpochFinished
    app = create_app([])
    w = MainWindow()
    data = DatasetChoice(name="synthetic", options={"train_size": 600, "test_size": 100})
    config = TrainingConfig(epochs=200, batch_size=64, device="cpu", checkpoint_every=0)
    w.document.new(Project.new(graph=get_preset("lenet5").factory(), name="Killed", dataset=data, training=config))
    w.document.push(RenameNode(w.document.graph, "fc3", "classifier"))
    w.autosaver.saved.connect(lambda p: print("saved", flush=True))
    w.training.events_arrived.connect(
        lambda ev: [print("epoch", e.epoch, flush=True) for e in ev if isinstance(e, EpochFinished)])
    w.autosaver.save_now()
    w.training.start()
    app.exec()
""")


def _kill_when(process, wanted: str, timeout_s: float = 120.0, kill: bool = True) -> list[str]:
    """Read the child's lines until ``wanted``, then SIGKILL it (or just return, ``kill=False``)."""
    lines, deadline = [], time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line.strip())
        if line.strip() == wanted:
            if kill:
                process.send_signal(signal.SIGKILL)
                process.wait(10)
            return lines
    process.kill()
    raise AssertionError(f"the child never printed {wanted!r}: {lines}")


@pytest.mark.parametrize("moment", ["epoch 2", "saved"])  # during the epoch's save, and after one
def test_a_killed_session_mid_training_is_recovered_with_graph_history_and_weights(autosave_dir, moment):
    env = {**os.environ, "CNNPLAYGROUND_AUTOSAVE_DIR": str(autosave_dir), "PYTHONPATH": str(REPO)}
    with subprocess.Popen([sys.executable, "-c", CHILD], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                          text=True, env=env) as child:
        try:
            lines = _kill_when(child, "epoch 1", kill=False) + _kill_when(child, "saved") if moment == "saved" \
                else _kill_when(child, moment)
        finally:
            if child.poll() is None:
                child.kill()
    assert child.returncode == -signal.SIGKILL
    recoveries = find_recoveries(autosave_dir)
    assert len(recoveries) == 1, lines
    project = recoveries[0].load()  # never a torn file: the old copy or the new one
    assert project.name == "Killed" and "classifier" in project.graph.nodes  # the edit before training
    if project.history:  # a copy written after an epoch: the run so far and its weights
        run = project.history[-1]
        assert run.name.endswith("(interrupted)") and len(run.series["val_loss"].y) >= 1
        model = build(project.graph)
        model.load_state_dict(project.weights)
        assert all(torch.isfinite(p).all() for p in model.parameters())
    if moment == "saved":
        assert project.history, lines  # killed after the epoch's copy was written

"""Fixtures shared by the GUI tests: a plain document first, widgets built on it in each test file."""

from __future__ import annotations

import gc

import pytest
from helpers import delete_what_was_closed, shown_window
from PySide6.QtCore import QSettings, QStandardPaths, QThreadPool

from cnnplayground.core.graph import Graph
from cnnplayground.project import Project
from cnnplayground.ui import jobs
from cnnplayground.ui.document.document import Document
from cnnplayground.ui.shell.collector import GuiThreadCollector


@pytest.fixture(scope="session", autouse=True)
def _qt_test_paths():
    """Settings, caches and recent files go to Qt's test locations, never a user's own."""
    QStandardPaths.setTestModeEnabled(True)
    yield


@pytest.fixture(autouse=True)
def _own_autosave_folder(monkeypatch, tmp_path):
    """Autosaved copies go to the test's own folder. The test-mode data folder is shared by every
    test process: copies left there by a killed run would make MainWindow.offer_recovery() show a
    real, modal recovery question (run() calls it) in later runs."""
    monkeypatch.setenv("CNNPLAYGROUND_AUTOSAVE_DIR", str(tmp_path / "autosave"))
    yield


@pytest.fixture(autouse=True)
def _fresh_window_layout(_qt_test_paths):
    """Each test starts with the default dock layout (a closed window saves its own for the next start)."""
    QSettings().remove("window")
    yield


@pytest.fixture(scope="session", autouse=True)
def _collect_in_the_gui_thread(qapp):
    """As in the app: Python's cycle collector runs only in the GUI thread (see ui/collector.py)."""
    collector = GuiThreadCollector(parent=qapp)
    yield
    collector.stop()


@pytest.fixture(autouse=True)
def _pool_drained(qapp):
    """Background jobs a test started (dataset loads, evaluations) end with it, not in the next test."""
    yield
    QThreadPool.globalInstance().waitForDone(60_000)
    jobs.pool().waitForDone(60_000)
    delete_what_was_closed()
    gc.collect()  # a test's garbage is freed here, in the GUI thread, not in the next test's worker


@pytest.fixture
def document(qapp) -> Document:
    """A fresh document holding ``input1`` (1×28×28) → ``conv1`` (Conv2d, defaults: 16 filters, 3×3)."""
    graph = Graph()
    graph.add_node("Input", {"channels": 1, "height": 28, "width": 28}, id="input1", position=(0, 0))
    graph.add_node("Conv2d", id="conv1", position=(0, 120))
    graph.connect("input1", "conv1")
    return Document(Project.new(graph=graph, name="Test"))


@pytest.fixture
def window_size() -> tuple[int, int]:
    """The main window's size in :func:`window` (a test file overrides this fixture for another)."""
    return (1400, 900)


@pytest.fixture
def window(qtbot, monkeypatch, window_size):
    """The main window, shown at ``window_size``, discarding unsaved changes without asking; its training is
    shut down after the test."""
    w = shown_window(qtbot, monkeypatch, window_size)
    yield w
    w.training.shutdown()

"""The window and a tiny file that asks for any amount of memory (issue 21, item 2).

Opening the 800-byte project (1.87·10⁹ parameters) shows its network on the canvas and says that it is
too large, in a warning, the status bar and the Inspect panels, and builds nothing; the file is not
touched, and once a layer is edited down the panels get their model. Train, Export Model and the weight
imports refuse it too. The machine's available memory is injected (a 6 GB laptop); a network beyond
10 million parameters built on a real device fails the test before it is allocated
(``memory_guard.forbid_large_builds``), which is how these tests fail on code without the guard.
"""

from __future__ import annotations

import pytest
from memory_guard import LAPTOP, forbid_large_builds, write_huge_project
from PySide6.QtWidgets import QMessageBox

from cnnplayground.core import memory
from cnnplayground.core.memory import NotEnoughMemoryError
from cnnplayground.io.project import load_project
from cnnplayground.ui.document.commands import SetParams
from cnnplayground.ui.export.model_dialog import export_steps
from cnnplayground.ui.shell import theme, weights
from cnnplayground.ui.shell.main_window import MainWindow

TRAINING_NEED = ("this network needs about 28.9 GB to train at batch size 128 (weights 7.0 GB, gradients 7.0 GB, "
                 "optimizer state 13.9 GB, activations 1.0 GB); this machine has 6.0 GB available: make the largest "
                 "layers smaller")
INSPECTION_NEED = ("this network needs about 7.0 GB to inspect (one image) (weights 7.0 GB, activations 4.0 MB); "
                   "this machine has 6.0 GB available: make the largest layers smaller")


@pytest.fixture
def laptop(monkeypatch) -> list[int]:
    monkeypatch.setattr(memory, "available_memory", lambda device="cpu": LAPTOP)
    return forbid_large_builds(monkeypatch)


@pytest.fixture
def window(qtbot, monkeypatch, laptop):
    w = MainWindow()
    qtbot.addWidget(w)
    w.warnings, w.errors = [], []
    monkeypatch.setattr(w.files, "ask_save_changes", lambda: QMessageBox.StandardButton.Discard)
    monkeypatch.setattr(w.files, "show_warning", lambda title, text: w.warnings.append((title, text)),
                        raising=False)  # code without the guard has no warning to show
    monkeypatch.setattr(w.files, "show_error", lambda title, text: w.errors.append((title, text)))
    w.show()
    qtbot.waitExposed(w)
    yield w
    w.training.shutdown()


def test_opening_the_huge_project_shows_it_says_why_and_builds_nothing(qtbot, window, laptop, tmp_path):
    path = write_huge_project(tmp_path / "huge.cnnp")
    original = path.read_bytes()
    assert window.open_path(path)
    # The network is on the canvas, every layer with its shape and parameter count.
    assert sorted(window.canvas.graph_scene.nodes) == ["fc1", "fc2", "fc3", "flatten1", "input1"]
    assert window.document.result.ok and window.document.result.total_params == 1_871_719_170
    # One warning that says what was not done, how much is needed and how much there is.
    assert window.warnings == [("Network too large", f"huge.cnnp is open but its network was not built: "
                                f"{TRAINING_NEED}. Nothing in the file was changed; make the largest layers (or the "
                                "batch size) smaller to train or inspect it here.")]
    assert window.errors == []
    label = window.status.memory_label
    assert label.text() == "Memory ≈ 28.9 GB (batch 128): too much for this machine"
    assert label.toolTip() == TRAINING_NEED[0].upper() + TRAINING_NEED[1:]
    assert theme.error_color() in label.styleSheet()
    # The Inspect panels have no model and say why.
    source = window.model_source
    assert source.model is None and source.problem == f"The network cannot be inspected here: {INSPECTION_NEED}"
    window.acts.show_kernels.trigger()
    assert window.kernels.caption.text() == source.problem
    assert laptop == [] and path.read_bytes() == original  # nothing built, nothing written

    # Editing the big layer down gives the panels their model (300 ms after the edit) and clears the warning.
    window.document.push(SetParams(window.document.graph, "fc1", {"out_features": 100}))
    qtbot.waitUntil(lambda: source.model is not None, timeout=10_000)
    assert source.problem == "" and laptop == [784 * 100 + 100 + 100 * 1000 + 1000 + 1000 * 10 + 10]
    assert label.styleSheet() == "" and "too much" not in label.text()
    assert window.files.save_to(path) and load_project(path).graph.node("fc1").params["out_features"] == 100


def test_train_refuses_the_huge_network_before_loading_data(qtbot, window, laptop, tmp_path, monkeypatch):
    loads: list[str] = []
    monkeypatch.setattr(window.training, "_load", lambda: loads.append("load"))
    assert window.open_path(write_huge_project(tmp_path / "huge.cnnp"))
    window.acts.train.trigger()
    assert window.training.status.text() == f"Not started: {TRAINING_NEED}"
    assert not window.training.running and loads == [] and laptop == []


def test_export_and_weight_imports_refuse_the_huge_network(qtbot, window, laptop, tmp_path):
    assert window.open_path(write_huge_project(tmp_path / "huge.cnnp"))
    out = tmp_path / "export"
    results = dict(export_steps(window.document.project, out, ["pytorch", "onnx", "pt2"]))
    assert results["pytorch"] == "wrote model.py"  # code needs no built network
    for fmt in ("onnx", "pt2"):
        assert results[fmt] == ("failed: this network needs about 7.0 GB to run at batch size 2 (weights 7.0 GB, "
                                "activations 8.0 MB); this machine has 6.0 GB available: make the largest layers "
                                "smaller")
    with pytest.raises(NotEnoughMemoryError, match="needs about 7.0 GB to run at batch size 1"):
        weights.current_weights(window.document)  # the fresh weights an import fills in
    assert laptop == []

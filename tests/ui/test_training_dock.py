"""Training from the dock: a real run in the background, results kept in the project."""

from __future__ import annotations

import pytest

from cnnplayground.core.graph import Graph
from cnnplayground.core.presets import get_preset
from cnnplayground.project import DatasetChoice, Project, TrainingConfig
from cnnplayground.train.events import EpochFinished, Failed, Finished
from cnnplayground.ui.document.document import Document
from cnnplayground.ui.training.dock import TrainingDock

from .graphs import DEEP_LINEAR, chain_graph

SMALL = DatasetChoice(name="synthetic", options={"train_size": 1000, "test_size": 100})


def make_dock(qtbot, graph: Graph, **training) -> TrainingDock:
    config = TrainingConfig(**{"epochs": 2, "batch_size": 64, "device": "cpu", "checkpoint_every": 0, **training})
    doc = Document(Project.new(graph=graph, name="t", dataset=SMALL, training=config))
    dock = TrainingDock(doc)
    qtbot.addWidget(dock)
    return dock


def run_to_end(qtbot, dock: TrainingDock):
    events: list = []
    dock.events_arrived.connect(events.extend)
    with qtbot.waitSignal(dock.run_ended, timeout=120_000) as end:
        qtbot.mouseClick(dock.train_button, qtbot_left())
    return end.args[0], events


def qtbot_left():
    from PySide6.QtCore import Qt

    return Qt.MouseButton.LeftButton


def test_train_button_runs_and_records_the_run(qtbot):
    dock = make_dock(qtbot, get_preset("lenet5").factory())
    doc = dock.document
    end, events = run_to_end(qtbot, dock)
    assert isinstance(end, Finished) and end.reason == "completed"
    epochs = [e for e in events if isinstance(e, EpochFinished)]
    assert [e.epoch for e in epochs] == [1, 2]
    assert dock.accuracy_label.text() == (
        f"Epoch 2: train accuracy {epochs[-1].train_accuracy:.1%}, validation {epochs[-1].val_accuracy:.1%}")
    assert len(doc.project.history) == 1 and doc.project.weights is not None
    assert doc.project.history[0].series["val_accuracy"].y == [e.val_accuracy for e in epochs]
    assert dock.train_button.isEnabled() and not dock.stop_button.isEnabled()
    doc.undo_stack.undo()  # the run is one undoable step
    assert doc.project.history == [] and doc.project.weights is None


def test_a_diverging_run_shows_the_message_and_the_dock_stays_usable(qtbot):
    g = chain_graph(*DEEP_LINEAR)
    dock = make_dock(qtbot, g, optimizer="sgd", learning_rate=10.0)
    end, _ = run_to_end(qtbot, dock)
    assert isinstance(end, Failed) and end.kind == "nan"
    assert "learning rate" in dock.status.text() and "last good weights were kept" in dock.status.text()
    assert dock.train_button.isEnabled() and dock.form.isEnabled()


def test_an_invalid_network_is_refused_with_its_error(qtbot):
    g = Graph()
    g.add_node("Input", {"channels": 1, "height": 28, "width": 28}, id="input")
    g.add_node("Linear", {"out_features": 10}, id="fc")
    g.connect("input", "fc")
    dock = make_dock(qtbot, g)
    with qtbot.waitSignal(dock.message):
        qtbot.mouseClick(dock.train_button, qtbot_left())
    assert dock.status.text() == (
        "The network is not ready: fc: Linear expects a flat input, got 1×28×28: insert Flatten")
    assert dock.session is None


@pytest.mark.parametrize("name", ["cifar10"])
def test_a_missing_dataset_says_where_to_put_it(qtbot, tmp_path, name):
    dock = make_dock(qtbot, get_preset("lenet5").factory())
    dock.document.set_dataset(DatasetChoice(name=name, root=str(tmp_path)))
    with qtbot.waitSignal(dock.message, timeout=60_000):
        qtbot.mouseClick(dock.train_button, qtbot_left())
    qtbot.waitUntil(lambda: str(tmp_path) in dock.status.text(), timeout=60_000)
    assert dock.train_button.isEnabled()


def test_training_in_the_window_fills_the_results_panel(qtbot, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    from cnnplayground.ui.shell.main_window import MainWindow

    window = MainWindow()
    qtbot.addWidget(window)
    # Closing after the test must not wait on the "save changes?" question.
    monkeypatch.setattr(window.files, "ask_save_changes", lambda: QMessageBox.StandardButton.Discard)
    config = TrainingConfig(epochs=1, batch_size=64, device="cpu", checkpoint_every=0)
    window.document.new(Project.new(graph=get_preset("lenet5").factory(), name="t", dataset=SMALL,
                                    training=config))
    with qtbot.waitSignal(window.results.mistakes_shown, timeout=120_000) as shown:
        qtbot.mouseClick(window.training.train_button, qtbot_left())
    assert shown.args[0] > 0
    val = len(window.training.data.val)
    total = sum(int(window.results.confusion.cell_text(r, c)) for r in range(10) for c in range(10))
    assert total == val  # every validation image counted once
    assert len(window.results.mistakes.captions()) == shown.args[0]
    correct = sum(int(window.results.confusion.cell_text(i, i)) for i in range(10))
    assert f"after epoch 1: {correct:,} of {val:,} classified correctly ({correct / val:.1%})" in (
        window.results.caption.text())
    wrong = val - correct  # every mistake, of which the grid shows the most confident
    assert window.results.tabs.tabText(1) == (f"Misclassified ({shown.args[0]} of {wrong:,})" if shown.args[0] < wrong
                                              else f"Misclassified ({wrong:,})")
    assert window.document.modified and len(window.document.project.history) == 1



def test_the_progress_text_shows_the_newest_step_of_a_batch(qtbot):
    from cnnplayground.train.events import StepFinished

    dock = make_dock(qtbot, get_preset("lenet5").factory())  # epochs=2
    steps = [StepFinished(epoch=1, step=s, epoch_step=s, steps_per_epoch=100, loss=1.0, accuracy=0.5,
                          learning_rate=0.1, images_per_second=1000.0 + s, elapsed=s * 0.01) for s in range(1, 61)]
    dock._on_session_updated(steps)  # one frame's batch: up to a second of steps
    assert dock.speed_label.text() == "Step 60 of 200 · 1,060 images/s"
    assert dock.progress.value() == 300  # 60 of 200 steps, in thousandths


def _step(s: int):
    from cnnplayground.train.events import StepFinished

    return StepFinished(epoch=1, step=s, epoch_step=s, steps_per_epoch=100, loss=1.0, accuracy=0.5,
                        learning_rate=0.1, images_per_second=1000.0, elapsed=s * 0.01)


def test_a_pause_shows_one_step_in_the_status_and_the_progress_line(qtbot):
    """Issue 20: "Paused at step 665" beside "Step 663" (the 5 Hz text throttle held the step line back)."""
    from types import SimpleNamespace

    from cnnplayground.train.events import Paused
    from cnnplayground.train.run_state import RunState

    dock = make_dock(qtbot, get_preset("lenet5").factory())  # epochs=2: 200 steps
    dock.session = SimpleNamespace(state=RunState.RUNNING)  # only its state is read here
    dock._on_session_updated([_step(663)])
    assert dock.speed_label.text().startswith("Step 663 of 200")
    dock._on_session_updated([_step(664)])  # within 0.2 s of the last text: the step line keeps 663
    dock._on_session_updated([_step(665), Paused(epoch=1, step=665)])
    assert dock.status.text() == "Paused at step 665"
    assert dock.speed_label.text().startswith("Step 665 of 200")
    assert dock.progress.toolTip().startswith("Step 665 of 200")

    dock._on_session_updated([Paused(epoch=1, step=665)])  # a pause with no step in its batch: still one step
    assert dock.status.text() == "Paused at step 665" and dock.speed_label.text().startswith("Step 665 ")
    dock.session = None  # no run to shut down when the dock closes


def test_the_waiting_text_goes_when_the_run_stops_before_its_first_epoch(qtbot):
    dock = make_dock(qtbot, get_preset("lenet5").factory(), epochs=50, batch_size=2)  # 450 steps an epoch
    events: list = []
    dock.events_arrived.connect(events.extend)
    with qtbot.waitSignal(dock.events_arrived, timeout=120_000,
                          check_params_cb=lambda batch: any(type(e).__name__ == "StepFinished" for e in batch)):
        qtbot.mouseClick(dock.train_button, qtbot_left())
    assert dock.accuracy_label.text() == "Waiting for the first epoch to end…"
    with qtbot.waitSignal(dock.run_ended, timeout=60_000) as ended:
        dock.stop()
    assert isinstance(ended.args[0], Finished) and ended.args[0].epochs_completed == 0
    assert not any(isinstance(e, EpochFinished) for e in events)
    assert "Waiting" not in dock.accuracy_label.text()
    assert dock.accuracy_label.text() == "No epoch finished: the run stopped before the end of its first epoch"


def test_the_loading_thread_reports_progress_without_touching_the_dock(qtbot, monkeypatch):
    """The data load's progress reached the dock by emitting the dock's own signal from the loading thread, which
    also held the dock: a dock deleted meanwhile raced the emit. The thread now only appends plain reports, which
    the dock's timer shows in order; the progress callable holds no Qt object."""
    import threading

    from PySide6.QtCore import QObject

    from cnnplayground.ui.training import dock as dock_module

    gate, reported, seen = threading.Event(), threading.Event(), []
    real = dock_module._load_dataset

    def load(choice, val_fraction, seed, progress=None):
        class Report:
            def __init__(self, text):
                self.text = text

            def message(self):
                return self.text

        seen.append(progress)
        for text in ("reading 1 of 3", "reading 2 of 3", "reading 3 of 3"):
            progress(Report(text))
        reported.set()
        gate.wait(10)
        return real(choice, val_fraction, seed)

    monkeypatch.setattr(dock_module, "_load_dataset", load)
    dock = make_dock(qtbot, get_preset("lenet5").factory())
    said: list[str] = []
    dock.dataset_progressed.connect(lambda _key, text: said.append(text))
    dock.request_data()
    assert reported.wait(10)
    progress = seen[0]
    held = [*(progress.__defaults__ or ()), *(cell.cell_contents for cell in progress.__closure__ or ())]
    assert held and not any(isinstance(value, QObject) for value in held)  # not the dock, no Qt object
    qtbot.waitUntil(lambda: len(said) == 3, timeout=5_000)  # shown by the dock's timer, in order
    assert said == ["reading 1 of 3", "reading 2 of 3", "reading 3 of 3"]
    gate.set()
    qtbot.waitUntil(lambda: dock.cached_data is not None, timeout=60_000)

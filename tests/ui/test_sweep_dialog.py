"""Train → Sweep: variants run in the background, enter the project's runs, stop mid-way, save as CSV."""

from __future__ import annotations

import csv

from cnnplayground.core.presets import get_preset
from cnnplayground.io.project import Project
from cnnplayground.train.config import DatasetChoice, TrainingConfig

from .test_inspect_panels import window  # noqa: F401 - the window fixture

TINY = DatasetChoice(name="synthetic", options={"train_size": 300, "test_size": 60})


def _project(window, epochs=1):  # noqa: F811
    config = TrainingConfig(epochs=epochs, batch_size=64, device="cpu", checkpoint_every=0, val_fraction=0.2)
    window.document.new(Project.new(graph=get_preset("lenet5").factory(), name="s", dataset=TINY, training=config))


def test_a_grid_sweep_fills_the_runs_and_the_table_and_saves_csv(qtbot, window, tmp_path):  # noqa: F811
    _project(window)
    dialog = window.show_sweep()
    dialog.first.setting.setCurrentIndex(dialog.first.setting.findData("learning_rate"))
    dialog.first.low.setValue(0.0005)
    dialog.first.high.setValue(0.005)
    dialog.first.steps.setValue(2)
    dialog.use_second.setChecked(True)
    dialog.second.setting.setCurrentIndex(dialog.second.setting.findData("weight_decay"))
    dialog.second.steps.setValue(2)
    assert dialog.preview.text().startswith("4 runs")
    dialog.run_button.click()
    qtbot.waitUntil(lambda: not dialog.running, timeout=180_000)
    history = window.document.project.history
    assert len(history) == 4 and len({r.name for r in history}) == 4
    assert sorted(round(r.settings["sweep.learning_rate"], 9) for r in history) == [0.0005, 0.0005, 0.005, 0.005]
    assert dialog.table.rowCount() == 4 and dialog.progress.value() == 4
    assert "4 of 4 runs finished" in dialog.status.text()
    qtbot.waitUntil(lambda: window.curves.plots.run_count == 4, timeout=10_000)  # overlaid in the Curves panel
    dialog.choose_csv_path = lambda: str(tmp_path / "sweep.csv")
    dialog.save_csv()
    rows = list(csv.DictReader((tmp_path / "sweep.csv").read_text().splitlines()))
    assert len(rows) == 4 and {"learning_rate", "weight_decay", "best_val_accuracy"} <= set(rows[0])
    window.document.undo_stack.undo()  # each run is one undo step
    assert len(window.document.project.history) == 3
    dialog.close()


def test_a_sweep_stops_mid_way_keeping_finished_runs(qtbot, window):  # noqa: F811
    _project(window, epochs=50)
    dialog = window.show_sweep()
    dialog.mode.setCurrentIndex(dialog.mode.findData("random"))
    dialog.count.setValue(3)
    dialog.run_button.click()
    qtbot.waitUntil(lambda: "epoch 1" in dialog.status.text(), timeout=120_000)
    dialog.stop_button.click()
    qtbot.waitUntil(lambda: not dialog.running, timeout=60_000)
    assert "(stopped)" in dialog.status.text() and window.document.project.history == []
    assert dialog.run_button.isEnabled() and not dialog.stop_button.isEnabled()


def test_a_bad_range_is_refused_before_anything_runs(qtbot, window):  # noqa: F811
    _project(window)
    dialog = window.show_sweep()
    dialog.first.low.setValue(0.01)
    dialog.first.high.setValue(0.001)
    assert "Cannot run" in dialog.preview.text() and not dialog.run_button.isEnabled()

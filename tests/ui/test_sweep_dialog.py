"""Train → Sweep: variants run in the background, enter the project's runs, stop mid-way, save as CSV."""

from __future__ import annotations

import csv

import pytest
from PySide6.QtCore import QPoint, Qt

from cnnplayground.core.presets import get_preset
from cnnplayground.project import DatasetChoice, Project, RunHistory, Series, TrainingConfig

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


@pytest.mark.qt_log_ignore("This plugin does not support raise")  # offscreen: bringing to the front
def test_a_sweep_stops_mid_way_keeping_finished_runs(qtbot, window):  # noqa: F811
    _project(window, epochs=50)
    dialog = window.show_sweep()
    dialog.mode.setCurrentIndex(dialog.mode.findData("random"))
    dialog.count.setValue(3)
    dialog.run_button.click()
    qtbot.waitUntil(lambda: "epoch 1" in dialog.status.text(), timeout=120_000)
    # Train → Sweep again while it runs: the same dialog comes to the front (a new one would stop the sweep).
    assert window.show_sweep() is dialog and dialog.running and dialog.isVisible()
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


def _sweep_record(name: str, lr: float, accuracy: float | None, seconds: float) -> RunHistory:
    series = {"train_loss": Series(x=[1.0], y=[0.5]), "val_loss": Series(x=[1.0], y=[0.7]),
              "elapsed_seconds": Series(x=[1.0], y=[seconds])}
    if accuracy is not None:
        series["val_accuracy"] = Series(x=[1.0], y=[accuracy])
    return RunHistory(name=name, settings={"sweep.learning_rate": lr}, series=series)


def test_the_results_sort_as_numbers_after_the_run_order(qtbot, window):  # noqa: F811
    _project(window)
    dialog = window.show_sweep()
    dialog.records = [_sweep_record("a", 0.1, 0.095, 42.0), _sweep_record("b", 0.01, 0.102, 185.0),
                      _sweep_record("c", 0.001, None, 4.25), _sweep_record("d", 0.0001, 0.09, 9.0)]
    dialog._fill_table()
    table = dialog.table
    headers = [table.horizontalHeaderItem(c).text() for c in range(table.columnCount())]
    assert headers[:3] == ["name", "learning rate", "best val accuracy"] and headers[-1] == "time"
    best, time = headers.index("best val accuracy"), headers.index("time")

    def column(c: int) -> list[str]:
        return [table.item(r, c).text() for r in range(table.rowCount())]

    assert column(0) == ["a", "b", "c", "d"]  # the run order until a header is clicked
    assert column(best) == ["9.50%", "10.20%", "", "9.00%"]
    assert column(time) == ["42 s", "3 min 5 s", "4.2 s", "9.0 s"]
    header = table.horizontalHeader()
    x = header.sectionViewportPosition(best) + header.sectionSize(best) // 2
    qtbot.mouseClick(header.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(x, header.height() // 2))
    assert column(best) == ["9.00%", "9.50%", "10.20%", ""]  # by the number ("10.20%" < "9.00%" as text)
    qtbot.mouseClick(header.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(x, header.height() // 2))
    assert column(best) == ["10.20%", "9.50%", "9.00%", ""]  # descending: the blank still last
    table.sortItems(time, Qt.SortOrder.AscendingOrder)
    assert column(0) == ["c", "d", "a", "b"]
    table.sortItems(1, Qt.SortOrder.AscendingOrder)
    assert column(1) == ["0.0001", "0.001", "0.01", "0.1"]
    # A new result keeps the order the user chose.
    dialog.records.append(_sweep_record("e", 0.05, 0.5, 1.0))
    dialog._fill_table()
    assert column(1) == ["0.0001", "0.001", "0.01", "0.05", "0.1"]
    dialog.close()

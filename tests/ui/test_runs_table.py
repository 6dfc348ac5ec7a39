"""The Curves panel's runs table: numbers, times, sorting, and rows that keep their runs when sorted."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QMessageBox

from cnnplayground.core.presets import get_preset
from cnnplayground.project import DatasetChoice, Project, RunHistory, Series, TrainingConfig
from cnnplayground.train.events import EpochFinished
from cnnplayground.ui.shell.main_window import MainWindow
from cnnplayground.ui.sorting import NumberTreeItem, format_seconds, less_than
from cnnplayground.ui.training.plots import ROW_MIN_WIDTH, TrainingPlots, short_run_names
from cnnplayground.ui.training.runs import (
    BEST,
    COLUMNS,
    DIFFERS,
    EPOCHS,
    FINAL,
    LOSS,
    MIN_TABLE_WIDTH,
    RUN,
    TIME,
    CurvesPanel,
    RunsTable,
    difference_tips,
    differences,
)
from cnnplayground.ui.training.runs_model import RunsModel

SMALL = DatasetChoice(name="synthetic", options={"train_size": 200, "test_size": 50})


def _record(name: str, accuracies: list[float], seconds: list[float] | None = None, epochs: int = 0,
            **settings) -> RunHistory:
    """A saved run: validation accuracy per epoch (fractions; none: not measured), each epoch's duration."""
    x = [float(i + 1) for i in range(max(len(accuracies), epochs))]
    series = {
        "val_loss": Series(x=x, y=[1.0 / (i + 1) for i in range(len(x))]),
        "train_loss": Series(x=x, y=[1.0] * len(x)),
    }
    if accuracies:
        series["val_accuracy"] = Series(x=x, y=accuracies)
    if seconds is not None:
        series["epoch_seconds"] = Series(x=x, y=seconds)
    return RunHistory(name=name, settings={"learning_rate": 0.001, "batch_size": 64, **settings}, series=series)


#: Run 0..3: best validation accuracy 9.5 %, 10.2 %, none, 2.0 % (text order would put "10.2" before "9.5").
RECORDS = [
    _record("run 1", [0.05, 0.095], [20.0, 22.0], learning_rate=0.1),
    _record("run 2", [0.102, 0.08], [60.0, 125.0], learning_rate=0.01),
    _record("old run", [], None, epochs=1, learning_rate=0.003),  # saved before times were recorded: no epoch_seconds
    _record("run 4", [0.02], [4.25], learning_rate=0.001, dropout=0.5),
]


@pytest.fixture
def panel(qtbot):
    p = CurvesPanel()
    qtbot.addWidget(p)
    p.resize(1400, 500)
    p.plots.load_history(RECORDS)
    p.show()
    qtbot.waitExposed(p)
    return p


def _column(table, column: int) -> list[str]:
    return [table.topLevelItem(r).text(column) for r in range(table.topLevelItemCount())]


def _runs(table) -> list[int]:
    return [table.run_index(table.topLevelItem(r)) for r in range(table.topLevelItemCount())]


def _click_header(qtbot, table, column: int) -> None:
    header = table.header()
    x = header.sectionViewportPosition(column) + header.sectionSize(column) // 2
    qtbot.mouseClick(header.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(x, header.height() // 2))


def test_the_columns_and_their_numbers(panel):
    table = panel.runs
    assert [table.headerItem().text(c).replace("\n", " ") for c in range(table.columnCount())] == [
        "Run", "Differs in", "Best val acc", "Final val acc", "Val loss", "Epochs", "Time"]
    assert all(table.headerItem().toolTip(c) for c in range(len(COLUMNS)))
    assert _column(table, RUN) == ["run 1", "run 2", "old run", "run 4  (newest)"]  # run order at first
    assert _column(table, BEST) == ["9.50 %", "10.20 %", "—", "2.00 %"]
    assert _column(table, FINAL) == ["9.50 %", "8.00 %", "—", "2.00 %"]
    assert _column(table, LOSS) == ["0.5000", "0.5000", "1.0000", "1.0000"]
    assert _column(table, EPOCHS) == ["2", "2", "1", "1"]
    assert _column(table, TIME) == ["42 s", "3 min 5 s", "—", "4.2 s"]  # 20 + 22, 60 + 125, unknown, 4.25
    metrics = panel.plots.run_metrics(1)
    assert metrics["seconds"] == 185.0 and metrics["final_val_accuracy"] == pytest.approx(8.0)
    assert panel.plots.run_metrics(2)["seconds"] is None


def test_durations_read_as_seconds_minutes_and_hours():
    assert [format_seconds(s) for s in (0.25, 4.25, 42.0, 59.6, 185.0, 3599.0, 7620.0)] == [
        "0.2 s", "4.2 s", "42 s", "1 min 0 s", "3 min 5 s", "59 min 59 s", "2 h 7 min"]


def test_numbers_sort_as_numbers_and_missing_values_last(qtbot, panel):
    table = panel.runs
    _click_header(qtbot, table, BEST)
    assert table.sortColumn() == BEST and table.header().sortIndicatorOrder() == Qt.SortOrder.AscendingOrder
    assert _column(table, BEST) == ["2.00 %", "9.50 %", "10.20 %", "—"]
    assert _runs(table) == [3, 0, 1, 2]
    _click_header(qtbot, table, BEST)  # again: descending, the missing value still last
    assert table.header().sortIndicatorOrder() == Qt.SortOrder.DescendingOrder
    assert _column(table, BEST) == ["10.20 %", "9.50 %", "2.00 %", "—"]
    table.sortItems(TIME, Qt.SortOrder.AscendingOrder)
    assert _column(table, TIME) == ["4.2 s", "42 s", "3 min 5 s", "—"]
    table.sortItems(TIME, Qt.SortOrder.DescendingOrder)
    assert _column(table, TIME) == ["3 min 5 s", "42 s", "4.2 s", "—"]
    table.sortItems(RUN, Qt.SortOrder.AscendingOrder)  # by "Run": the run order again
    assert _runs(table) == [0, 1, 2, 3]


def test_a_sorted_table_keeps_its_order_and_its_runs_when_the_runs_change(qtbot, panel):
    table, plots = panel.runs, panel.plots
    table.sortItems(BEST, Qt.SortOrder.DescendingOrder)
    assert _runs(table) == [1, 0, 3, 2]
    # The check box of the first row hides run 1 (its row), not run 0 (the first run).
    table.topLevelItem(0).setCheckState(RUN, Qt.CheckState.Unchecked)
    assert not plots.is_run_visible(1)
    assert [plots.is_run_visible(i) for i in (0, 2, 3)] == [True, True, True]
    assert _runs(table) == [1, 0, 3, 2]  # rebuilt after the change, still sorted
    assert table.item_for_run(1).checkState(RUN) == Qt.CheckState.Unchecked
    assert plots.curve(1, "val_accuracy").isVisible() is False and plots.curve(0, "val_accuracy").isVisible()
    # Selecting a row focuses its run (run 3 is the newest: drawn strong anyway, so no focus).
    row = table.topLevelItem(1)
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=table.visualItemRect(row).center())
    assert plots.focus == 0
    panel.model.runs_changed.emit()  # rebuilt: still sorted, the focused run still selected
    assert _runs(table) == [1, 0, 3, 2] and [table.run_index(i) for i in table.selectedItems()] == [0]
    table.setCurrentItem(table.topLevelItem(3))
    assert plots.focus == 2 and [i.text(RUN) for i in table.selectedItems()] == ["old run"]
    table.setCurrentItem(table.topLevelItem(2))
    assert plots.focus is None
    assert table.item_for_run(3).text(RUN) == "run 4  (newest)"  # the marker follows the run, not the last row


def test_the_differing_settings_stand_out(panel):
    table = panel.runs
    item = table.item_for_run(3)
    assert item.text(DIFFERS) == "dropout 0.5, lr 0.001"
    assert item.font(DIFFERS).weight() == QFont.Weight.Bold and item.font(EPOCHS).weight() != QFont.Weight.Bold
    assert item.foreground(DIFFERS).color() == table.palette().color(table.palette().ColorRole.Link)
    tip = item.toolTip(DIFFERS)
    # Every differing setting with its values across the runs, this run's in bold.
    assert "lr: <b>0.001</b> · 0.003 · 0.01 · 0.1" in tip
    assert "dropout: <b>0.5</b> · (not set) ×3" in tip
    assert "batch" not in tip  # the same in every run


def test_a_run_lists_only_what_it_changes_from_the_settings_most_runs_share():
    common = {"learning_rate": 0.001, "weight_decay": 0.0, "l1": 0.0}
    settings = [dict(common), {**common, "weight_decay": 0.001}, {**common, "l1": 3e-05},
                {**common, "network.dropout": 0.5}]
    assert differences(settings) == ["", "wd 0.001", "L1 3e-05", "dropout 0.5"]
    # No value most runs share: every run says its own.
    assert differences([{"learning_rate": 0.1}, {"learning_rate": 0.01}, {"learning_rate": 0.001}]) == [
        "lr 0.1", "lr 0.01", "lr 0.001"]
    # A sweep's own copy of a setting is not listed twice.
    assert differences([{"learning_rate": 0.1, "sweep.learning_rate": 0.1, "sweep.width": 2.0},
                        {"learning_rate": 0.01, "sweep.learning_rate": 0.01, "sweep.width": 0.5}]) == [
        "lr 0.1, sweep.width 2", "lr 0.01, sweep.width 0.5"]
    # The odd layer list is told against the list most runs share, even when the odd run comes first.
    layers = [{"network.layers": "Conv2d×2, Dropout×2, Linear"}, {"network.layers": "Conv2d×2, Linear"},
              {"network.layers": "Conv2d×2, Linear"}]
    assert differences(layers) == ["+Dropout×2", "", ""]
    assert "+Dropout×2" in difference_tips(["a", "b", "c"], layers)[0]


def test_an_experiments_runs_are_named_by_their_arm(qtbot):
    assert short_run_names(["Exp: a", "Exp: b", "run 3", "Other: c"]) == ["a", "b", "run 3", "Other: c"]
    panel = CurvesPanel()
    qtbot.addWidget(panel)
    title = "Overfitting and the regularizers"
    panel.plots.load_history([
        _record(f"{title}: no regularization", [0.5], [1.0], weight_decay=0.0),
        _record(f"{title}: weight decay (L2)", [0.6], [1.0], weight_decay=0.001),
        _record(f"{title}: dropout 0.5", [0.55], [1.0], weight_decay=0.0, **{"network.dropout": 0.5}),
    ])
    table = panel.runs
    assert _column(table, RUN) == ["no regularization", "weight decay (L2)", "dropout 0.5  (newest)"]
    assert table.topLevelItem(1).toolTip(RUN).startswith(f"{title}: weight decay (L2)\n")
    assert _column(table, DIFFERS) == ["baseline", "wd 0.001", "dropout 0.5"]
    assert table.topLevelItem(0).font(DIFFERS).italic() and not table.topLevelItem(0).font(DIFFERS).bold()
    assert "wd: <b>0 ×2</b> · 0.001" in table.topLevelItem(0).toolTip(DIFFERS)
    # The legend names the earlier runs by their arm too.
    labels = [label.text for _, label in panel.plots.legend.items]
    assert "no regularization" in labels and "weight decay (L2)" in labels
    assert not any(title in text for text in labels)


def test_many_runs_leave_the_legend_to_the_table_but_the_focused_one(qtbot, panel):
    plots = panel.plots
    legend = plots.legend

    def labels() -> list[str]:
        return [label.text for _, label in legend.items]

    assert plots.run_count == 4 and not any(name in labels() for name in ("run 1", "run 2", "old run"))
    assert "validation" in labels()  # the newest run's curves keep theirs
    panel.runs.setCurrentItem(panel.runs.item_for_run(1))
    assert "run 2" in labels() and "run 1" not in labels()


def test_the_live_run_has_its_time_and_final_accuracy(qtbot):
    panel = CurvesPanel()
    qtbot.addWidget(panel)
    panel.plots.begin_run("live", {})
    for epoch, (accuracy, seconds) in enumerate(((0.3, 1.5), (0.25, 2.0)), start=1):
        panel.plots.add_events([EpochFinished(
            epoch=epoch, step=10 * epoch, train_loss=1.0, train_accuracy=0.5, val_loss=0.9, val_accuracy=accuracy,
            per_class_accuracy=(), confusion=(), learning_rate=0.1, seconds=seconds, images_per_second=1.0)])
    metrics = panel.plots.run_metrics(0)
    assert metrics["seconds"] == 3.5
    assert metrics["best_val_accuracy"] == pytest.approx(30.0) and metrics["final_val_accuracy"] == pytest.approx(25.0)
    row = panel.runs.topLevelItem(0)
    assert [row.text(c) for c in (BEST, FINAL, TIME)] == ["30.00 %", "25.00 %", "3.5 s"]


def test_the_item_orders_by_numbers_then_text():
    assert less_than(9.5, 10.2, "9.5", "10.2") and not less_than(10.2, 9.5, "10.2", "9.5")
    assert less_than(1.0, None, "1", "—") and not less_than(None, 1.0, "—", "1")
    assert less_than(None, 1.0, "—", "1", descending=True)  # descending: reversed, so still last
    assert less_than(None, None, "abc", "Abd")
    a, b = NumberTreeItem(), NumberTreeItem()
    a.setText(0, "10.2")
    a.setData(0, Qt.ItemDataRole.UserRole, 10.2)
    b.setText(0, "9.5")
    b.setData(0, Qt.ItemDataRole.UserRole, 9.5)
    assert b < a and not a < b


@pytest.fixture
def window(qtbot, monkeypatch):
    w = MainWindow()
    qtbot.addWidget(w)
    monkeypatch.setattr(w.files, "ask_save_changes", lambda: QMessageBox.StandardButton.Discard)
    w.show()
    qtbot.waitExposed(w)
    yield w
    w.training.shutdown()


def test_a_saved_project_shows_the_times_again(qtbot, window, tmp_path):
    config = TrainingConfig(epochs=1, batch_size=64, device="cpu", checkpoint_every=0)
    project = Project.new(graph=get_preset("lenet5").factory(), name="t", dataset=SMALL, training=config)
    project.history = list(RECORDS)
    window.document.new(project)
    table = window.curves.runs
    assert _column(table, TIME) == ["42 s", "3 min 5 s", "—", "4.2 s"]
    path = tmp_path / "timed.cnnp"
    assert window.files.save_to(path)
    window.new_project()
    assert table.topLevelItemCount() == 0
    assert window.open_path(path)
    assert window.document.project.history[1].series["epoch_seconds"].y == [60.0, 125.0]
    assert _column(table, TIME) == ["42 s", "3 min 5 s", "—", "4.2 s"]
    assert _column(table, BEST) == ["9.50 %", "10.20 %", "—", "2.00 %"]


def test_the_table_gets_room_for_its_columns_but_leaves_a_low_panel_its_row_of_plots(qtbot, panel):
    natural = panel.runs.ideal_width()
    assert 500 < natural < 900
    assert panel.table_width(1600, 640) == natural  # a tall panel: 2×2 plots whatever the table takes
    assert panel.table_width(1400, 260) == 1400 - ROW_MIN_WIDTH  # low and wide: the four plots in a row
    assert panel.table_width(1000, 260) == MIN_TABLE_WIDTH  # too low for 2×2 plots: the row gets the rest
    panel.resize(1400, 260)
    qtbot.waitUntil(lambda: panel.plots.columns == 4)
    assert panel.splitter.sizes()[0] == panel.table_width(panel.splitter.width() - panel.splitter.handleWidth(),
                                                         panel.splitter.height())
    # Once the user drags the splitter, the table keeps the width the user chose.
    panel.splitter.splitterMoved.emit(300, 1)
    panel.splitter.setSizes([300, 1100])
    panel.resize(1600, 640)
    qtbot.waitUntil(lambda: panel.plots.columns == 2)
    assert panel.splitter.sizes()[0] == 300


def test_a_low_curves_panel_shows_the_plots_in_a_row_tall_enough_to_read(qtbot, panel):
    """The Curves dock of a 1280×720 window (about 1150×230): the runs table took half the width and the
    plots stood 2×2, 60 px of data each, with the legend cut off at the right edge."""
    panel.resize(1150, 230)
    qtbot.waitUntil(lambda: panel.plots.columns == 4)
    assert panel.splitter.sizes()[0] <= MIN_TABLE_WIDTH
    heights = [panel.plots.plot(k).getViewBox().sceneBoundingRect().height() for k in ("loss", "accuracy", "lr",
                                                                                         "speed")]
    assert min(heights) > 90, heights
    legend = panel.plots.legend
    right = max(label.mapRectToScene(label.boundingRect()).right() for _, label in legend.items)
    assert right <= panel.plots.graphics.viewport().width() + 1  # every legend entry whole


def test_the_table_and_the_plots_follow_one_runs_model(qtbot):
    model = RunsModel()
    plots, table = TrainingPlots(model=model), RunsTable(model)
    qtbot.addWidget(plots)
    qtbot.addWidget(table)
    rebuilt: list[bool] = []
    model.runs_changed.connect(lambda: rebuilt.append(True))

    assert model.add_run("first", {"learning_rate": 0.1}) == 0
    assert plots.run_count == table.topLevelItemCount() == 1
    plots.add_events([EpochFinished(
        epoch=1, step=10, train_loss=1.0, train_accuracy=0.5, val_loss=0.9, val_accuracy=0.3,
        per_class_accuracy=(), confusion=(), learning_rate=0.1, seconds=2.0, images_per_second=1.0)])
    assert model.run(0).metrics["best_val_accuracy"] == pytest.approx(30.0)
    assert [table.topLevelItem(0).text(c) for c in (BEST, TIME)] == ["30.00 %", "2.0 s"]  # from the model

    model.add_run("second", {"learning_rate": 0.01})
    assert table.topLevelItemCount() == 2 and plots.run_count == 2
    assert plots.curve(0, "val_loss").opts["pen"].color().name() == model.color(0).name()  # dimmed, its own colour
    faint = plots.curve(0, "val_loss").opts["pen"].color().alphaF()
    model.set_focus(0)  # drawn strong
    assert plots.focus == 0 and plots.curve(0, "val_loss").opts["pen"].color().alphaF() > faint
    model.set_visible(0, False)
    assert not plots.curve(0, "val_loss").isVisible()
    assert table.item_for_run(0).checkState(RUN) == Qt.CheckState.Unchecked

    rebuilt.clear()
    with model.changing():
        model.add_run("third")
        model.add_run("fourth")
        assert table.topLevelItemCount() == 2  # the table waits for the end
    assert rebuilt == [True] and table.topLevelItemCount() == 4 and plots.run_count == 4

    model.clear()
    assert table.topLevelItemCount() == 0 and plots.run_count == 0 and model.focus is None
    assert plots.plot("loss").listDataItems() == []


def _cells_whole_or_in_tip(table: RunsTable) -> list[str]:
    """The cells whose text is cut short (wider than its column) and not whole in the cell's tool tip."""
    metrics = table.fontMetrics()
    bad = []
    for row in range(table.topLevelItemCount()):
        item = table.topLevelItem(row)
        for column in range(table.columnCount()):
            text = item.text(column)
            room = table.columnWidth(column) - 12 - (table.iconSize().width() + 24 if column == RUN else 0)
            if metrics.horizontalAdvance(text) > room and text not in item.toolTip(column):
                bad.append(f"{row},{column}: {text!r} ({metrics.horizontalAdvance(text)} > {room})")
    return bad


def test_the_table_shows_whole_values_or_gives_them_in_tool_tips(qtbot):
    """Issue 20: "dataset syn..." cut short. Columns fit their contents; a cut cell is whole in its tool tip."""
    panel = CurvesPanel()
    qtbot.addWidget(panel)
    panel.resize(1280, 260)
    panel.show()
    qtbot.waitExposed(panel)
    panel.plots.load_history([
        _record("run 1", [0.5], [2.0], dataset="synthetic (18,000 images)"),
        _record("run 2", [0.6], [2.0], dataset="MNIST (60,000 images)"),
        _record("a run whose name is much longer than any column should be made: sweep arm 3", [0.7], [2.0],
                dataset="MNIST (60,000 images)", weight_decay=0.0005, label_smoothing=0.1, dropout=0.25,
                batch_size=256, momentum=0.95, grad_clip=1.0),
    ])
    table = panel.runs
    metrics = table.fontMetrics()
    differs = [table.topLevelItem(r).text(DIFFERS) for r in range(3)]
    assert differs[0] == "dataset synthetic (18,000 images)"
    # The short values are whole in their cells: the column is as wide as the widest of them.
    assert table.columnWidth(DIFFERS) >= metrics.horizontalAdvance(differs[0]) + 6
    for column in (BEST, FINAL, LOSS, EPOCHS, TIME):
        assert table.columnWidth(column) >= max(metrics.horizontalAdvance(table.topLevelItem(r).text(column))
                                                for r in range(3)) + 6
    # The long name and the long list are cut, and whole in their tool tips.
    assert _cells_whole_or_in_tip(table) == []
    assert metrics.horizontalAdvance(differs[2]) > table.columnWidth(DIFFERS)  # this one did need eliding

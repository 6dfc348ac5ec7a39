"""The Health panel lists the diagnoses of the project's last run and follows recording and undo."""

from __future__ import annotations

from cnnplayground.project import RunHistory, Series
from cnnplayground.project.health import LayerHealthSeries, RunHealth
from cnnplayground.ui.document.commands import RecordRun
from cnnplayground.ui.document.document import Document
from cnnplayground.ui.training.health_panel import EMPTY_CAPTION, HealthPanel


def dead_run() -> RunHistory:
    x = [1.0, 2.0]
    health = RunHealth(epochs=[1, 2], layers=[
        LayerHealthSeries(name="conv1", kind="Conv2d", activation_mean=[-3.0, -3.1], activation_std=[1.0, 1.0],
                          grad_norm=[0.0, 0.0], update_ratio=[0.0, 0.0]),
        LayerHealthSeries(name="relu1", kind="ReLU", activation_mean=[0.0, 0.0], activation_std=[0.0, 0.0],
                          dead_share=[0.9, 0.71]),
    ])
    return RunHistory(name="run 1", settings={"learning_rate": 0.01}, health=health, series={
        "train_accuracy": Series(x=x, y=[0.5, 0.6]), "val_accuracy": Series(x=x, y=[0.5, 0.6])})


def test_the_panel_shows_the_findings_of_the_last_run_and_follows_undo(qtbot):
    document = Document()
    panel = HealthPanel(document)
    qtbot.addWidget(panel)
    assert panel.caption.text() == EMPTY_CAPTION and panel.findings.topLevelItemCount() == 0
    document.push(RecordRun(document, None, dead_run()))
    assert panel.caption.text() == "run 1: 1 finding"
    item = panel.findings.topLevelItem(0)
    assert (item.text(0), item.text(1)) == ("relu1: 71% of units never fire",
                                            "lower the learning rate, use LeakyReLU, or add batch norm")
    rows = [[panel.layers.topLevelItem(i).text(c) for c in range(6)] for i in range(panel.layers.topLevelItemCount())]
    assert rows == [["conv1", "Conv2d", "-3.1 ± 1", "", "0", "0"], ["relu1", "ReLU", "0 ± 0", "71%", "", ""]]
    document.undo_stack.undo()
    assert panel.caption.text() == EMPTY_CAPTION and panel.layers.topLevelItemCount() == 0

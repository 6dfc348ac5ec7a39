"""Keep the best epoch in the window: the settings form's check box, the Training dock's word on which epoch's
weights were kept, and the curves' mark at the best epoch (saved runs and live ones)."""

from __future__ import annotations

import math

import pyqtgraph as pg
import pytest
import torch
from PySide6.QtCore import Qt

from cnnplayground.core.presets import get_preset
from cnnplayground.project import DatasetChoice, Project, RunHistory, Series, TrainingConfig
from cnnplayground.train.events import EpochFinished, Finished, WeightsSnapshot
from cnnplayground.ui.training.plots import TrainingPlots
from cnnplayground.ui.training.settings_form import TrainingSettingsForm

# Overfitting on purpose (as tests/cli/test_cli_keep_best.py): 30 training images, 15 epochs; the validation
# loss is lowest in an early epoch and climbs after it.
OVERFIT = DatasetChoice(name="synthetic", options={"train_size": 60, "test_size": 10})
OVERFIT_CONFIG = {"epochs": 15, "batch_size": 10, "learning_rate": 0.003, "val_fraction": 0.5, "device": "cpu",
                  "checkpoint_every": 0}


def test_the_settings_form_has_a_keep_best_check_box_with_its_help(qtbot, document):
    form = TrainingSettingsForm(document)
    qtbot.addWidget(form)
    assert form.keep_best.isChecked() and document.project.training.restore_best  # on by default
    assert form.keep_best.text() == "Keep the best epoch"
    assert form.keep_best.toolTip() == TrainingConfig.model_fields["restore_best"].description
    assert "best validation epoch" in form.keep_best.toolTip()
    form.keep_best.setChecked(False)
    assert not document.project.training.restore_best
    form.best_metric.setCurrentIndex(form.best_metric.findData("val_accuracy"))
    assert document.project.training.early_stopping_metric == "val_accuracy"
    document.undo_stack.undo()
    document.undo_stack.undo()
    assert document.project.training.restore_best and form.keep_best.isChecked()
    assert form.best_metric.currentData() == "val_loss"


@pytest.fixture
def window_size() -> tuple[int, int]:
    return (1280, 720)


def test_a_run_in_the_window_says_which_epoch_it_kept_and_the_curves_mark_it(qtbot, window):
    config = TrainingConfig(**OVERFIT_CONFIG)
    window.document.new(Project.new(graph=get_preset("lenet5").factory(), name="t", dataset=OVERFIT,
                                    training=config))
    events: list = []
    window.training.events_arrived.connect(events.extend)
    with qtbot.waitSignal(window.training.run_ended, timeout=120_000) as ended:
        qtbot.mouseClick(window.training.train_button, Qt.MouseButton.LeftButton)
    end = ended.args[0]
    epochs = [e for e in events if isinstance(e, EpochFinished)]
    best = min(epochs, key=lambda e: e.val_loss).epoch
    assert isinstance(end, Finished) and end.kept_epoch == best < 15  # the run ended worse than its best epoch
    # The dock says which epoch's weights the run ended with.
    assert window.training.status.text() == (
        f"Finished 15 epochs; kept the weights of epoch {best}, the best by validation loss "
        f"({epochs[best - 1].val_loss:.4f})")
    # The project holds that epoch's weights (the dock's per-epoch snapshot), and its record names it.
    record = window.document.project.history[-1]
    assert record.best_epoch == record.kept_epoch == best
    snapshot = next(e.state for e in events if isinstance(e, WeightsSnapshot) and e.epoch == best)
    weights = window.document.project.weights
    assert all(torch.equal(weights[k], snapshot[k]) for k in snapshot)
    # The curves mark the best epoch at its step, on the validation loss and accuracy.
    plots = window.curves.plots
    run = plots.run_count - 1
    x = float(plots.series_data(run, "val_loss")[0][best - 1])  # where the curves put the epoch
    assert plots.best_mark(run) == (best, x, True)
    assert _marks(plots, run) == ([(x, round(epochs[best - 1].val_loss, 4)),
                                   (x, round(epochs[best - 1].val_accuracy * 100, 4))],
                                  2, [f"best epoch {best}, weights kept"])


def _record(name: str, val_loss: list[float], best: int | None, kept: int | None) -> RunHistory:
    x = [float(i + 1) for i in range(len(val_loss))]
    return RunHistory(name=name, settings={"steps_per_epoch": 10}, best_epoch=best, kept_epoch=kept, series={
        "val_loss": Series(x=x, y=val_loss), "val_accuracy": Series(x=x, y=[1.0 - v / 3 for v in val_loss]),
        "train_loss": Series(x=x, y=[v * 0.8 for v in val_loss])})


def _marks(plots: TrainingPlots, run: int) -> tuple[list[tuple[float, float]], int, list[str]]:
    """Run ``run``'s stars (x, y), vertical lines and legend entries at its best epoch."""
    items = plots.best_mark_items(run)
    stars = [(i.points()[0].pos().x(), round(i.points()[0].pos().y(), 4)) for i in items if hasattr(i, "points")]
    lines = sum(isinstance(i, pg.InfiniteLine) for i in items)
    legend = [label.text for sample, label in plots.legend.items if sample.item in items]
    return stars, lines, legend


def test_the_plots_mark_the_best_epoch_of_saved_and_live_runs(qtbot):
    plots = TrainingPlots()
    qtbot.addWidget(plots)
    plots.load_history([_record("old file", [1.0, 0.9], None, None), _record("run 1", [1.0, 0.8, 0.9], 2, None),
                        _record("run 2", [1.2, 0.7, 0.5, 0.6], 3, 3)])
    assert plots.best_mark(0) is None and plots.best_mark_items(0) == []
    assert plots.best_mark(1) == (2, 20.0, False)
    assert plots.best_mark(2) == (3, 30.0, True)
    # An earlier run: stars only (a line too while it is focused); the newest: stars and a labelled line on the
    # loss and accuracy plots.
    assert _marks(plots, 1) == ([(20.0, 0.8), (20.0, round(100 * (1 - 0.8 / 3), 4))], 0, [])
    plots.set_focus(1)
    assert _marks(plots, 1)[1:] == (2, [])  # its legend entry is its name, as ever
    plots.set_focus(None)
    assert _marks(plots, 1)[1] == 0
    assert _marks(plots, 2) == ([(30.0, 0.5), (30.0, round(100 * (1 - 0.5 / 3), 4))],
                                2, ["best epoch 3, weights kept"])
    plots.set_log_loss(True)  # the loss plot's view box holds log10(loss)
    assert _marks(plots, 2)[0][0] == (30.0, round(math.log10(0.5), 4))
    plots.set_log_loss(False)
    plots.set_run_visible(2, False)
    assert plots.best_mark_items(2) == []
    plots.set_run_visible(2, True)
    assert len(plots.best_mark_items(2)) == 4

    # A live run: the mark follows the best epoch so far.
    plots.begin_run("run 4", {})

    def epoch(n: int, val_loss: float, best: bool) -> EpochFinished:
        return EpochFinished(epoch=n, step=5 * n, train_loss=1.0, train_accuracy=0.5, val_loss=val_loss,
                             val_accuracy=0.5, per_class_accuracy=(), confusion=(), learning_rate=0.1,
                             seconds=1.0, images_per_second=1.0, best=best)

    plots.add_events([epoch(1, 1.0, True), epoch(2, 0.6, True)])
    plots.flush()
    assert plots.best_mark(3) == (2, 10.0, False)
    assert _marks(plots, 3) == ([(10.0, 0.6), (10.0, 50.0)], 2, ["best epoch 2"])
    assert [label.text for _, label in plots.legend.items].count("best epoch 2") == 1
    plots.add_events([epoch(3, 0.9, False)])
    plots.flush()
    assert plots.best_mark(3) == (2, 10.0, False)

"""The live training plots: series bookkeeping, runs, saved histories, log scale, 10^6 points."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PySide6.QtCore import QPointF
from PySide6.QtGui import QColor

from cnnplayground.project import RunHistory, Series
from cnnplayground.train.events import EpochFinished, Paused, StepFinished
from cnnplayground.ui.shell import theme
from cnnplayground.ui.training.plots import _COLORS, MAX_PLOT_POINTS, TrainingPlots

STEPS_PER_EPOCH = 16
EPOCH_SERIES = ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "learning_rate")


def _events(epochs: int = 2, every: int = 2, offset: float = 0.0) -> list[object]:
    """Step events every ``every`` steps and one EpochFinished per epoch, as the trainer yields them."""
    events: list[object] = []
    for epoch in range(1, epochs + 1):
        for epoch_step in range(every, STEPS_PER_EPOCH + 1, every):
            step = (epoch - 1) * STEPS_PER_EPOCH + epoch_step
            events.append(StepFinished(
                epoch=epoch, step=step, epoch_step=epoch_step, steps_per_epoch=STEPS_PER_EPOCH,
                loss=2.0 / step + offset + (0.1 if step % 4 else -0.1), accuracy=0.5,
                learning_rate=1e-3, images_per_second=1000.0 + step, elapsed=step * 0.01))
        events.append(EpochFinished(
            epoch=epoch, step=epoch * STEPS_PER_EPOCH, train_loss=1.0 / epoch, train_accuracy=0.25 * epoch,
            val_loss=1.2 / epoch, val_accuracy=0.5, per_class_accuracy=(), confusion=(),
            learning_rate=1e-3, seconds=1.0, images_per_second=1000.0))
    return events


def _history(plots: TrainingPlots, run: int, name: str, settings: dict | None = None) -> RunHistory:
    """What the project stores for a run (cf. ``train.setup.run_record``): epoch series with x = epoch."""
    series: dict[str, Series] = {}
    for key in EPOCH_SERIES:
        _, y = plots.series_data(run, key)
        y = y / 100.0 if key.endswith("accuracy") else y
        series[key] = Series(x=[float(e) for e in range(1, len(y) + 1)], y=y.tolist())
    x, y = plots.series_data(run, "step_loss")
    series["step_loss"] = Series(x=x.tolist(), y=y.tolist())
    return RunHistory(name=name, settings=settings or {}, series=series)


@pytest.fixture
def plots(qtbot) -> TrainingPlots:
    widget = TrainingPlots()
    qtbot.addWidget(widget)
    widget.resize(900, 700)
    return widget


def test_two_epochs_of_step_events(plots, qtbot):
    assert plots.begin_run("first", {"batch_size": 32}) == 0
    batch = _events()
    plots.add_events(batch[:5])  # batches as the GUI forwards them
    plots.add_events(batch[5:] + [Paused(epoch=2, step=32)])
    assert plots.run_count == 1
    assert plots.points(0, "step_loss") == 16
    assert plots.points(0, "step_loss_smooth") == plots.points(0, "step_loss")
    assert plots.points(0, "step_accuracy_smooth") == 16
    assert plots.points(0, "step_learning_rate") == plots.points(0, "images_per_second") == 16
    assert plots.points(0, "val_loss") == plots.points(0, "val_accuracy") == 2
    assert plots.points(0, "no_such_series") == 0
    x, y = plots.series_data(0, "val_accuracy")
    assert x.tolist() == [16.0, 32.0]  # at the step where each epoch ended
    assert y.tolist() == [50.0, 50.0]  # percent
    assert plots.series_data(0, "train_accuracy")[1].tolist() == [25.0, 50.0]
    assert np.allclose(plots.series_data(0, "step_accuracy_smooth")[1], 50.0)
    assert plots.series_data(0, "step_loss")[0].tolist() == list(range(2, 33, 2))
    assert plots.plot("accuracy").getAxis("left").labelText == "accuracy (%)"
    assert plots.plot("loss").listDataItems() == []  # the curves get their data from the refresh timer
    qtbot.waitUntil(lambda: len(plots.plot("loss").listDataItems()) == 4, timeout=2000)
    assert len(plots.curve(0, "step_loss").getOriginalDataset()[0]) == 16
    loss_items = plots.plot("loss").listDataItems()
    assert plots.curve(0, "step_loss") in loss_items and plots.curve(0, "val_loss") in loss_items


def test_smoothing_follows_the_trend_and_damps_the_noise(plots):
    plots.add_events(_events(epochs=4))  # no begin_run: a run is started on demand
    raw = plots.series_data(0, "step_loss")[1]
    smooth = plots.series_data(0, "step_loss_smooth")[1]
    assert len(smooth) == len(raw)
    assert smooth[0] == raw[0]
    assert np.abs(np.diff(smooth[8:])).max() < np.abs(np.diff(raw[8:])).min()
    assert raw.min() <= smooth.min() and smooth.max() <= raw.max()


def test_a_second_run_dims_the_first(plots):
    plots.begin_run("first", {})
    plots.add_events(_events())
    assert plots.begin_run("second", {}) == 1
    plots.add_events(_events(offset=0.5))
    assert plots.run_count == 2
    for series in ("step_loss", "step_loss_smooth", "val_loss", "step_accuracy_smooth"):
        old, new = plots.curve(0, series), plots.curve(1, series)
        assert old.opts["pen"].color().alpha() < new.opts["pen"].color().alpha()
        assert old.opts["pen"].widthF() <= new.opts["pen"].widthF()
        assert old in plots.plot("loss" if "loss" in series else "accuracy").listDataItems()
    assert plots.points(0, "step_loss") == plots.points(1, "step_loss") == 16
    labels = [label.text for _, label in plots.legend.items]
    assert "first" in labels and "validation" in labels


def test_load_history_restores_the_points_of_each_run(plots):
    plots.begin_run("first", {})
    plots.add_events(_events())
    plots.begin_run("second", {})
    plots.add_events(_events(epochs=3, offset=0.5))
    saved = [_history(plots, 0, "first"), _history(plots, 1, "second")]
    expected = [{name: plots.points(i, name) for name in (*EPOCH_SERIES, "step_loss")} for i in range(2)]

    plots.load_history(saved)
    assert plots.run_count == 2
    assert [{name: plots.points(i, name) for name in expected[i]} for i in range(2)] == expected
    assert plots.points(1, "step_loss_smooth") == plots.points(1, "step_loss") == 24
    # Epochs are put back at the step where they ended (steps per epoch estimated from step_loss).
    assert plots.series_data(1, "val_loss")[0].tolist() == [16.0, 32.0, 48.0]
    assert plots.series_data(1, "val_accuracy")[1].tolist() == [50.0, 50.0, 50.0]
    old, new = plots.curve(0, "val_loss"), plots.curve(1, "val_loss")
    assert old.opts["pen"].color().alpha() < new.opts["pen"].color().alpha()


def test_reloading_the_same_runs_keeps_their_curves_and_a_changed_list_rebuilds_from_the_change(plots):
    plots.begin_run("first", {})
    plots.add_events(_events())
    plots.begin_run("second", {})
    plots.add_events(_events(epochs=3, offset=0.5))
    saved = [_history(plots, 0, "first"), _history(plots, 1, "second")]
    plots.load_history(saved)
    first, second = plots.curve(0, "val_loss"), plots.curve(1, "val_loss")
    plots.set_run_visible(0, False)
    plots.begin_run("live", {})  # as pressing Train does after the reload

    plots.load_history(saved)  # the live run is gone, the saved ones are as loaded afresh
    assert plots.run_count == 2 and plots.curve(0, "val_loss") is first and plots.curve(1, "val_loss") is second
    assert plots.is_run_visible(0) and plots.points(1, "val_loss") == 3
    assert first.opts["pen"].color().alpha() < second.opts["pen"].color().alpha()  # dimmed, the last strong
    legend = plots.legend
    assert sum(sample.item is second for sample, _ in legend.items) == 1  # no duplicate entries

    plots.load_history(saved[:1])  # the second run undone: the first is the last, strong again
    assert plots.run_count == 1 and plots.curve(0, "val_loss") is first
    assert first.opts["pen"].color().alpha() == 255
    assert all(sample.item is not second for sample, _ in legend.items)
    assert second.scene() is None


def test_load_history_without_steps_uses_settings_or_epochs(plots):
    series = {"val_loss": Series(x=[1.0, 2.0], y=[0.5, None]), "train_accuracy": Series(x=[1.0, 2.0], y=[0.5, 0.75])}
    plots.load_history([
        RunHistory(name="epochs only", series=series),
        RunHistory(name="known steps", settings={"steps_per_epoch": 100}, series=series),
    ])
    assert plots.series_data(0, "val_loss")[0].tolist() == [1.0, 2.0]
    assert plots.series_data(1, "val_loss")[0].tolist() == [100.0, 200.0]
    assert np.isnan(plots.series_data(1, "val_loss")[1][1])  # a missing value stays a gap
    assert plots.series_data(1, "train_accuracy")[1].tolist() == [50.0, 75.0]
    assert plots.points(0, "step_loss") == 0


def test_clear_removes_every_run(plots):
    plots.add_events(_events())
    plots.clear()
    assert plots.run_count == 0
    assert plots.plot("loss").listDataItems() == []


def test_log_scale_toggle(plots):
    plots.add_events(_events())
    plots.set_log_loss(True)
    assert plots.is_log_loss()
    assert plots.plot("loss").getViewBox().state["logMode"] == [False, True]
    assert plots.curve(0, "step_loss").opts["logMode"] == [False, True]
    assert plots._log_box.isChecked()
    plots._log_box.setChecked(False)
    assert not plots.is_log_loss()
    assert not plots.plot("accuracy").getViewBox().state["logMode"][1]


def test_hover_readout_shows_the_nearest_values(plots):
    plots.add_events(_events())
    text = plots.readout("accuracy", 15.2)
    assert text.startswith("step 15")
    assert "validation: 50" in text and "train (epoch): 25" in text
    assert plots.readout("speed", 7.1) == "step 7  ·  images/s: 1008"


def test_reset_view_turns_autorange_back_on(plots):
    plots.add_events(_events())
    plots.flush()
    plots.plot("loss").setXRange(3, 5)
    assert not plots.plot("loss").getViewBox().autoRangeEnabled()[0]
    plots.plot("lr").setYRange(5.0, 6.0, padding=0)
    plots._reset_button.click()
    assert all(plots.plot(key).getViewBox().autoRangeEnabled() == [True, True]
               for key in ("loss", "accuracy", "lr", "speed"))
    plots.grab()
    low, high = plots.plot("lr").getViewBox().viewRange()[1]
    assert low <= 0.0 < 1e-3 < high < 1.2e-3


def test_a_constant_learning_rate_reads_as_its_value_not_as_zero(plots):
    plots.add_events(_events())  # lr is 1e-3 at every step
    plots.flush()
    plots.grab()  # autoscale
    low, high = plots.plot("lr").getViewBox().viewRange()[1]
    assert -1e-4 < low <= 0.0 and 1e-3 < high < 1.2e-3
    low, high = plots.plot("speed").getViewBox().viewRange()[1]
    assert -100 < low <= 0.0 and 1032 < high < 1.2 * 1032  # throughput 1002 .. 1032 images/s


def test_runs_have_own_colours_focus_and_visibility(plots, qtbot):
    for i in range(3):
        plots.begin_run(f"run {i + 1}", {"learning_rate": 0.1 * (i + 1)})
        plots.add_events(_events(offset=0.1 * i))
    colors = {plots.run_color(i).name() for i in range(3)}
    assert len(colors) == 3
    assert plots.curve(0, "val_loss").opts["pen"].color().name() == plots.run_color(0).name()
    assert not plots.curve(0, "step_loss").isVisible()  # earlier runs: no raw per-step noise
    faint = plots.curve(0, "val_loss").opts["pen"].color().alphaF()
    with qtbot.assertNotEmitted(plots.model.runs_changed):
        plots.set_focus(0)
    assert plots.curve(0, "val_loss").opts["pen"].color().alphaF() > faint
    assert plots.curve(0, "step_loss").isVisible()
    plots.set_focus(None)
    assert plots.curve(0, "val_loss").opts["pen"].color().alphaF() == pytest.approx(faint)
    with qtbot.waitSignal(plots.model.runs_changed):
        plots.set_run_visible(1, False)
    assert not any(c.isVisible() for c in (plots.curve(1, s) for s in ("val_loss", "step_loss_smooth", "val_accuracy")))
    assert "run 2" not in [label.text for _, label in plots.legend.items]
    assert plots.run_settings(2) == {"learning_rate": pytest.approx(0.3)}
    metrics = plots.run_metrics(2)
    assert metrics["epochs"] == 2 and metrics["best_val_accuracy"] == 50.0
    assert metrics["last_val_loss"] == pytest.approx(0.6)


def test_colours_follow_the_theme(plots, monkeypatch):
    plots.add_events(_events())
    for dark in (True, False):
        monkeypatch.setattr(theme, "is_dark", lambda dark=dark: dark)
        theme.theme_changed().emit(dark)
        color = plots.curve(0, "val_loss").opts["pen"].color()
        assert color.rgb() == QColor(_COLORS["val"][1 if dark else 0]).rgb()


@pytest.mark.slow
def test_a_million_points_are_downsampled_for_display(plots, qtbot):
    plots.show()
    qtbot.waitExposed(plots)
    batch = 100_000
    rng = np.random.default_rng(0)
    for start in range(0, 1_000_000, batch):
        steps = np.arange(start + 1, start + batch + 1, dtype=float)
        plots.add_step_arrays(steps, 2.0 / np.sqrt(steps) + rng.random(batch) * 0.1, rng.random(batch),
                              np.full(batch, 1e-3), np.full(batch, 5e3))
    # Held in bounded memory: beyond MAX_PLOT_POINTS, neighbouring points are merged (each point then
    # stands for 16 steps here), and the whole run is still covered evenly.
    held = plots.points(0, "step_loss")
    assert MAX_PLOT_POINTS // 2 <= held == plots.points(0, "step_loss_smooth") <= MAX_PLOT_POINTS
    x, y = plots.series_data(0, "step_loss")
    assert x[0] == 1_000_000 // held and x[-1] == 1_000_000 and np.all(np.diff(x) == x[0])
    assert np.isfinite(y).all() and y[:100].mean() > y[-100:].mean()  # the loss falls, as fed
    curve = plots.curve(0, "step_loss")
    assert curve.opts["autoDownsample"] and curve.opts["clipToView"] and not curve.opts["antialias"]
    assert len(curve.getOriginalDataset()[0]) == held

    plots.grab()  # paints once: the autoscaled view now spans the whole history
    x_range = plots.plot("loss").getViewBox().viewRange()[0]
    assert x_range[0] <= 1 and x_range[1] >= 1_000_000
    for name in ("step_loss", "step_loss_smooth", "step_learning_rate", "images_per_second"):
        shown = plots.curve(0, name).getData()[0]
        assert 100 < len(shown) < 10_000

    plots.plot("loss").setXRange(1, 1_000_000, padding=0)  # zoomed to the full range by hand: clipping on
    plots.grab()
    assert len(curve.getData()[0]) < 10_000
    plots.plot("loss").setXRange(400_000, 410_000, padding=0)
    plots.grab()
    shown = curve.getData()[0]
    assert len(shown) < 10_000 and shown.min() >= 390_000 and shown.max() <= 420_000


def test_moving_the_mouse_over_a_plot_shows_the_readout(plots, qtbot):
    plots.add_events(_events())
    plots.show()
    qtbot.waitExposed(plots)
    plots.flush()
    plots.grab()  # lay out and autoscale
    view = plots.plot("accuracy").getViewBox()
    position = view.mapViewToScene(QPointF(16.2, 40.0))
    plots._graphics.scene().sigMouseMoved.emit(position)
    qtbot.waitUntil(lambda: plots._readout.text() != "")  # rate-limited by a SignalProxy
    assert plots._readout.text() == plots.readout("accuracy", view.mapSceneToView(position).x())
    assert "validation: 50" in plots._readout.text()


def test_a_wide_low_panel_puts_the_four_plots_in_one_row(plots, qtbot):
    plots.add_events(_events())
    plots.show()
    qtbot.waitExposed(plots)
    assert plots.columns == 2
    plots.resize(1400, 300)
    qtbot.waitUntil(lambda: plots.columns == 4)
    tops = {round(plots.plot(k).sceneBoundingRect().top()) for k in ("loss", "accuracy", "lr", "speed")}
    assert len(tops) == 1  # one row
    assert plots.plot("loss").sceneBoundingRect().height() > 200
    plots.grab()
    qtbot.waitUntil(lambda: all(plots.plot(k).getViewBox().viewRange()[0] == pytest.approx(
        plots.plot("loss").getViewBox().viewRange()[0]) for k in ("accuracy", "lr", "speed")))
    plots.resize(900, 700)
    qtbot.waitUntil(lambda: plots.columns == 2)
    assert plots.plot("lr").sceneBoundingRect().top() > plots.plot("loss").sceneBoundingRect().bottom() - 1


def test_a_live_run_keeps_its_planned_x_range_and_refreshes_at_most_ten_times_a_second(plots, qtbot):
    from cnnplayground.train.events import RunStarted
    from cnnplayground.ui.training.plots import REFRESH_MS

    plots.show()
    qtbot.waitExposed(plots)
    plots.add_events([RunStarted(epochs=5, steps_per_epoch=STEPS_PER_EPOCH, device="cpu", train_images=1,
                                 val_images=1, parameters=1)])
    x_range = plots.plot("loss").getViewBox().viewRange()[0]
    assert x_range[0] < 0 < 80 < x_range[1] < 84  # 5 epochs × 16 steps, 2 % padding
    updates: list[int] = []
    plots.add_events(_events()[:3])
    curve = plots.curve(0, "step_loss")
    curve.sigPlotChanged.connect(lambda *_: updates.append(1))
    for i in range(20):  # 20 batches arriving back to back: one redraw
        plots.add_events(_events(offset=i)[3:4])
    assert updates == []
    qtbot.waitUntil(lambda: len(updates) == 1, timeout=10 * REFRESH_MS)
    assert plots.points(0, "step_loss") == 3 + 20
    assert plots.plot("speed").getViewBox().viewRange()[0] == pytest.approx(x_range)  # the axes stay put


def test_steady_y_ranges_are_round_and_change_only_when_outgrown(plots, qtbot):
    from cnnplayground.train.events import RunStarted
    from cnnplayground.ui.training.plots import _round_up

    assert [_round_up(v) for v in (0.9, 1.0, 1.07, 2.3, 0.0031, 7200.0)] == [1.0, 1.0, 1.2, 2.5, 0.004, 8000.0]
    plots.add_events([RunStarted(epochs=5, steps_per_epoch=STEPS_PER_EPOCH, device="cpu", train_images=1,
                                 val_images=1, parameters=1)])
    plots.add_events(_events())
    plots.flush()
    low, high = plots.plot("loss").getViewBox().viewRange()[1]
    top = max(plots.series_data(0, name)[1].max() for name in ("step_loss", "train_loss", "val_loss"))
    assert top == pytest.approx(1.2)  # the first validation loss
    assert low < 0 and high == pytest.approx(1.5 * 1.02)  # 0 .. round_up(1.2 × 1.05) = 1.5, 2 % padding
    # Accuracy is a percentage: 0-100 whatever the values so far (these are ≤ 50 %), never rescaled mid-run.
    assert plots.plot("accuracy").getViewBox().viewRange()[1][1] == pytest.approx(100 * 1.02)
    plots.plot("loss").getViewBox().sigRangeChangedManually.emit([False, True])  # the user zooms the loss
    plots.plot("loss").setYRange(0.5, 0.6, padding=0)
    plots.add_events(_events(offset=5.0))  # much larger losses arrive
    plots.flush()
    assert plots.plot("loss").getViewBox().viewRange()[1] == pytest.approx([0.5, 0.6])  # the user's view stays
    plots.reset_view()
    plots.flush()
    assert plots.plot("loss").getViewBox().viewRange()[1][1] > 5.0


@pytest.mark.parametrize("size", [(1400, 330), (900, 600)])  # four plots in a row; two by two
def test_one_legend_for_the_four_plots_outside_their_data(qtbot, size):
    """Issue 20: the legends sat over the curves, one per plot. Now one legend, in a row above the plots."""
    plots = TrainingPlots()
    qtbot.addWidget(plots)
    plots.resize(*size)
    plots.show()
    qtbot.waitExposed(plots)
    plots.begin_run("first", {})
    plots.add_events(_events())
    plots.begin_run("second", {})
    plots.add_events(_events(offset=0.5))
    plots.flush()
    qtbot.waitUntil(lambda: plots.legend.isVisible() and plots.legend.height() > 0)
    assert plots.columns == (4 if size[0] >= 3 * size[1] else 2)
    assert all(plots.plot(key).legend is None for key in ("loss", "accuracy", "lr", "speed"))
    texts = [label.text for _, label in plots.legend.items]
    assert sorted(texts) == sorted(set(texts))  # each entry once for the four plots
    assert {"first", "train (smoothed)", "validation", "learning rate", "images / s"} <= set(texts)
    views = [plots.plot(key).getViewBox().sceneBoundingRect() for key in ("loss", "accuracy", "lr", "speed")]
    view_rect = plots.graphics.viewport().rect()
    for sample, label in plots.legend.items:
        for item in (sample, label):
            rect = item.sceneBoundingRect()
            assert rect.width() > 0 and not any(rect.intersects(view) for view in views), (label.text, rect, views)
            assert view_rect.contains(plots.graphics.mapFromScene(rect.center()))  # on screen, not clipped away


def test_a_live_run_sets_one_plot_per_frame_in_turn(plots):
    """Each frame of a live run sets (and so repaints) one plot; an epoch's end or a pause sets them all."""
    plots.begin_run("live", {})
    steps = [e for e in _events() if isinstance(e, StepFinished)]
    plots.add_events(steps[:4])
    turns = []
    for _ in range(4):
        turns.append(plots.flush_in_turn())
    assert turns == ["loss", "accuracy", "lr", "speed"]
    assert plots.flush_in_turn() is None  # nothing left
    plots.add_events(steps[4:6])
    assert plots.flush_in_turn() == "loss" and not plots._refresh.isActive()  # frames bring the data, no timer
    assert len(plots.curve(0, "step_loss").xData) == 6


def test_a_live_runs_legend_keeps_one_height_from_its_start(qtbot):
    """The legend's rows are there when the run starts and fit their entries: entries appearing (the step
    curves at the first frames, the epoch curves at the first epoch's end) never move the plots."""
    from cnnplayground.train.events import RunStarted

    plots = TrainingPlots()
    qtbot.addWidget(plots)
    plots.resize(1400, 500)
    plots.show()
    qtbot.waitExposed(plots)
    plots.begin_run("run 1")
    plots.add_events([RunStarted(epochs=2, steps_per_epoch=STEPS_PER_EPOCH, device="cpu", train_images=1,
                                 val_images=1, parameters=1)])
    from PySide6.QtWidgets import QApplication

    QApplication.processEvents()  # the layout takes the legend's height
    heights, plot_tops = [plots.legend.height()], [plots.plot("loss").geometry().top()]
    from dataclasses import replace

    for event in _events():
        if isinstance(event, EpochFinished):
            event = replace(event, best=True)  # each epoch the best so far: its mark and legend entry move
        plots.add_events([event])
        if isinstance(event, StepFinished):
            plots.flush_in_turn()
        else:
            plots.flush()
        QApplication.processEvents()
        heights.append(plots.legend.height())
        plot_tops.append(plots.plot("loss").geometry().top())
    # train (smoothed), learning rate, images / s; epoch: train, val, lr; "best epoch 2"
    assert len(plots.legend.items) == 7
    rows = math.ceil(7 / plots.legend.columnCount)
    assert set(heights) == {heights[0]} and 0 < heights[0] <= rows * 30 + 4, heights
    assert set(plot_tops) == {plot_tops[0]}  # the plots never moved



def test_the_plots_fill_the_curves_panel_while_a_runs_data_loads(qtbot, monkeypatch):
    """Train pressed in a large window: the Curves panel appears (four plots in a row) while the data loads.
    Re-arranging the plots had shrunk their layout to its preferred size, a strip at the top left of the
    panel (117×70 px plots in a 1338×418 view), until the next resize."""
    from PySide6.QtWidgets import QApplication, QMessageBox

    from cnnplayground.project import DatasetChoice
    from cnnplayground.ui.shell.main_window import MainWindow

    window = MainWindow()
    qtbot.addWidget(window)
    monkeypatch.setattr(window.files, "ask_save_changes", lambda: QMessageBox.StandardButton.Discard)
    window.resize(1728, 972)
    window.show()
    qtbot.waitExposed(window)
    monkeypatch.setattr(window.files, "choose_preset", lambda: "resnet20_cifar")
    window.files.new_from_preset()
    window.document.set_dataset(DatasetChoice(name="synthetic-rgb", options={"train_size": 64, "test_size": 16}))
    begun: list[object] = []
    monkeypatch.setattr(window.training, "_begin", begun.append)  # the data loads; no run starts after it
    try:
        window.acts.train.trigger()
        plots = window.curves.plots
        qtbot.waitUntil(lambda: plots.isVisible() and plots.columns == 4, timeout=10_000)
        QApplication.processEvents()
        view = plots.graphics.size()
        lowest = max(plots.plot(k).geometry().bottom() for k in ("loss", "accuracy", "lr", "speed"))
        rightmost = max(plots.plot(k).geometry().right() for k in ("loss", "accuracy", "lr", "speed"))
        assert lowest > 0.9 * view.height() and rightmost > 0.95 * view.width(), (lowest, rightmost, view)
    finally:
        # The data loads in the thread pool: let it end before the window goes.
        qtbot.waitUntil(lambda: bool(begun), timeout=60_000)

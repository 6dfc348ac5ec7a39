"""A very long run in bounded memory: a million step events through the session, the dock and the plots.

No training: synthetic events go the way a run's events go in the app (the session buffers them and
hands them on in batches; the Training dock keeps them for the run's record and passes them to the live
plots), a million of them, about 14 hours of a run at 20 step events a second. What holds them must stay
under its cap: the session's and the dock's step logs (``MAX_STEP_POINTS`` entries), the plots' series
(``MAX_PLOT_POINTS`` points), and the record made from them, while still describing the whole run.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from cnnplayground.core.presets import get_preset
from cnnplayground.data.base import ImageData, Split
from cnnplayground.project import Project, TrainingConfig, run_record
from cnnplayground.project.curves import GrowingCurve
from cnnplayground.project.history import MAX_STEP_POINTS
from cnnplayground.train.events import EpochFinished, RunStarted, StepFinished
from cnnplayground.train.steplog import StepLog
from cnnplayground.train.trainer import Trainer
from cnnplayground.ui.document.document import Document
from cnnplayground.ui.training.dock import TrainingDock
from cnnplayground.ui.training.plots import MAX_PLOT_POINTS, TrainingPlots
from cnnplayground.ui.training.worker import TrainingSession

EVENTS = 1_000_000
STEPS_PER_EPOCH = 10_000
BATCH = 2_000  # events per hand-over (the session's 33 ms flush at ~60,000 events a second)
STEP_SERIES = ("step_loss", "step_loss_smooth", "step_accuracy_smooth", "step_learning_rate", "images_per_second")


def loss_at(step: np.ndarray) -> np.ndarray:
    return 2.0 / np.sqrt(step) + 0.05 * np.sin(step)


def step_events(first: int, n: int) -> list[StepFinished]:
    steps = np.arange(first, first + n)
    losses = loss_at(steps.astype(float)).tolist()
    return [StepFinished(epoch=(s - 1) // STEPS_PER_EPOCH + 1, step=s, epoch_step=(s - 1) % STEPS_PER_EPOCH + 1,
                         steps_per_epoch=STEPS_PER_EPOCH, loss=loss, accuracy=0.5, learning_rate=1e-3,
                         images_per_second=1000.0 + s % 7, elapsed=s * 0.05)
            for s, loss in zip(steps.tolist(), losses)]


def epoch_event(epoch: int) -> EpochFinished:
    return EpochFinished(epoch=epoch, step=epoch * STEPS_PER_EPOCH, train_loss=0.5, train_accuracy=0.8,
                         val_loss=0.6, val_accuracy=0.75, per_class_accuracy=(0.75,) * 10,
                         confusion=tuple(tuple(1 if i == j else 0 for j in range(10)) for i in range(10)),
                         learning_rate=1e-3, seconds=500.0, images_per_second=1000.0)


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def test_the_step_log_keeps_every_event_until_full_then_equal_groups():
    log = StepLog(limit=8)
    log.extend(step_events(1, 7))
    assert [e.step for e in log] == list(range(1, 8)) and log.stride == 1 and log == log.entries()
    log.extend(step_events(8, 1))  # full: pairs merged
    assert [e.step for e in log] == [2, 4, 6, 8] and log.stride == 2
    assert log[0].loss == pytest.approx(float(loss_at(np.array([1.0, 2.0])).mean()))
    log.extend(step_events(9, 3))  # one group of two, one event waiting for its partner
    assert [e.step for e in log] == [2, 4, 6, 8, 10] and [e.step for e in log.entries()] == [2, 4, 6, 8, 10, 11]
    assert log.count == 11 and log.last.step == 11 and log.entries()[-1].loss == pytest.approx(float(loss_at(11.0)))
    log.extend(step_events(12, 989))
    assert len(log) == 7 and log.count == 1000 and log.stride == 128
    means = np.mean([e.loss for e in log])  # equal groups: the entries' mean is the events' mean
    assert means == pytest.approx(float(loss_at(np.arange(1.0, 1 + len(log) * log.stride)).mean()))


def test_plot_series_merge_in_equal_groups_and_show_the_group_being_filled(qtbot):
    buffer = GrowingCurve(limit=10)
    steps = np.arange(1.0, 102.0)
    values = steps.copy()
    values[::7] = np.nan  # missing values are left out of the means
    for i in range(0, 101, 3):  # batches of 3: groups straddle them
        buffer.extend(steps[i : i + 3], values[i : i + 3])
    x, y = buffer.data()
    assert buffer.n == 6 and buffer.stride == 16 and buffer.capacity <= 11
    assert x.tolist() == [16, 32, 48, 64, 80, 96, 101]  # the last point: the 5 steps of the group being filled
    for right, mean in zip(x.tolist(), y.tolist()):
        group = values[int(right) - (16 if right % 16 == 0 else 5) : int(right)]
        assert mean == pytest.approx(np.nanmean(group), rel=0.02)  # pairs of unequal NaN counts: ≈

    plots = TrainingPlots(max_points=10)
    qtbot.addWidget(plots)
    plots.begin_run("run 1")
    plots.add_step_arrays(steps, values, np.full(101, 0.5), np.full(101, 1e-3), np.full(101, 1e3))
    assert plots.points(0, "step_loss") == len(plots.series_data(0, "step_loss")[0]) == 7
    assert plots.readout("loss", 1e9).startswith("step 1000000000  ·  train (raw): ")  # past the last point


@pytest.mark.slow
def test_a_million_step_events_stay_in_bounded_memory(qtbot):
    config = TrainingConfig(epochs=EVENTS // STEPS_PER_EPOCH, batch_size=64, device="cpu", checkpoint_every=0)
    doc = Document(Project.new(graph=get_preset("lenet5").factory(), name="long", training=config))
    dock = TrainingDock(doc)
    plots = TrainingPlots()
    qtbot.addWidget(dock)
    qtbot.addWidget(plots)
    images = torch.zeros(64, 1, 28, 28, dtype=torch.uint8)
    data = ImageData("synthetic", tuple("abcdefghij"), Split(images, torch.zeros(64, dtype=torch.int64)),
                     Split(images[:0], torch.zeros(0, dtype=torch.int64)), None, (0.5,), (0.5,))
    session = TrainingSession(Trainer(nn.Sequential(nn.Flatten(), nn.Linear(784, 10)), data, config))  # never run
    session.updated.connect(dock._on_session_updated)  # as the dock connects its sessions
    dock.events_arrived.connect(plots.add_events)  # as the main window connects its plots
    plots.begin_run("run 1")
    dock._steps = StepLog()

    def receive(event) -> None:  # what the worker thread does with each event
        session.worker.pending.append(event)
        if not isinstance(event, StepFinished):
            session.worker.arrived.emit()

    start = RunStarted(epochs=config.epochs, steps_per_epoch=STEPS_PER_EPOCH, device="cpu", train_images=640_000,
                       val_images=0, parameters=7850)
    receive(start)
    rss_before = rss_bytes()
    for first in range(1, EVENTS + 1, BATCH):
        for event in step_events(first, BATCH):
            receive(event)
        session._on_timer_ticked()  # a frame
        if (first + BATCH - 1) % STEPS_PER_EPOCH == 0:
            receive(epoch_event((first + BATCH - 1) // STEPS_PER_EPOCH))
        assert not session.worker.pending
    plots.flush()
    growth = rss_bytes() - rss_before

    # Everything arrived and is described: counts, the latest event, the epochs.
    assert session.latest_step.step == EVENTS and len(session.history) == EVENTS // STEPS_PER_EPOCH
    for log in (session.steps, dock._steps):
        assert log.count == EVENTS and log.last.step == EVENTS
        assert MAX_STEP_POINTS // 2 <= len(log) <= MAX_STEP_POINTS, len(log)
        assert log.stride == 64 and log[-1].step == EVENTS  # a million is a multiple of 64: nothing waiting
    for name in STEP_SERIES:
        held = plots.points(0, name)
        assert MAX_PLOT_POINTS // 2 <= held <= MAX_PLOT_POINTS, (name, held)
        buffer = plots.buffer(0, name)
        assert buffer.capacity <= MAX_PLOT_POINTS + 1 and buffer.data()[0][-1] == EVENTS
    assert plots.points(0, "val_loss") == EVENTS // STEPS_PER_EPOCH

    # The record made at the end covers the whole run with at most MAX_STEP_POINTS points and the right means.
    record = run_record("run 1", config, list(session.history), dock._steps.entries())
    loss = record.series["step_loss"]
    assert len(loss.x) <= MAX_STEP_POINTS and loss.x[-1] == EVENTS and loss.x[0] <= 64
    exact = float(loss_at(np.arange(1.0, EVENTS + 1)).mean())
    assert float(np.mean(loss.y)) == pytest.approx(exact, rel=1e-9)
    assert all(math.isfinite(v) for v in loss.y)

    # Unbounded, the two step lists alone would hold 2 million event objects (≈ 600 MB).
    assert growth < 150 * 2**20, f"RSS grew by {growth / 2**20:.0f} MB"
    print(f"\nRSS growth over {EVENTS:,} events: {growth / 2**20:.1f} MB")

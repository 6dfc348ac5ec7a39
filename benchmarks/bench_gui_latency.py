"""GUI responsiveness while training in the background, and what the worker costs in throughput.

In one run, with an offscreen Qt application:

- **idle**: how late a 5 ms ``QTimer`` fires (actual interval − 5 ms) over a few
  seconds with nothing else to do: the floor of this machine;
- **training**: the same timer while a ``TrainingSession`` trains LeNet-5 on the
  synthetic set in its worker thread (with the session's frame timer running);
- **training in the window**: the same timer while the whole main window (canvas,
  Training dock with its sample preview, Curves dock with the four live plots and the
  runs table, Results dock) trains LeNet-5 through the Train action, as a user does:
  twice in the same window, the first run (the docks appear and draw for the first
  time) and a second one ("training again"), reported apart;
- **throughput**: images/s of that run (from ``EpochFinished``) against the same
  ``Trainer`` run headless (``list(Trainer(...).run())`` in the main thread), with the
  same initial weights (``copy.deepcopy``), data and config, at the worker's torch
  thread count (``cpu_count - 1`` on the CPU) and, for reference, at torch's default.

- **curve refresh**: how often the Curves panel's plots were actually painted while the
  window trained (paint events of their view's viewport, per second of training).

Targets (issue 20): in the window, the curves repainted ≥ 20 times per second of training, the
timer's lateness p99 ≤ 16 ms and max ≤ 50 ms (first run included), throughput ≥ 0.9× headless.
Run: ``python benchmarks/bench_gui_latency.py [--epochs 2] [--idle-seconds 3] [--device cpu]``
(``--train-size N``: N synthetic images instead of 20,000, for a quick check; ``--json``: one
``RESULT {...}`` line for ``benchmarks/run_all.py``).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# A fresh settings and data folder for each run: the window's saved mode layouts (and those of tests or of
# the user's own sessions) must not decide what is on screen, e.g. a Train layout with the Curves hidden.
for _xdg in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME"):
    os.environ[_xdg] = tempfile.mkdtemp(prefix=f"bench-{_xdg.lower()}-")

import torch  # noqa: E402
from PySide6.QtCore import (  # noqa: E402
    QCoreApplication,
    QEvent,
    QEventLoop,
    QObject,
    Qt,
    QThreadPool,
    QTimer,
)

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from cnnplayground.core.builder import build  # noqa: E402
from cnnplayground.core.presets import get_preset  # noqa: E402
from cnnplayground.data.registry import load_dataset  # noqa: E402
from cnnplayground.project import DatasetChoice, TrainingConfig  # noqa: E402
from cnnplayground.train.events import EpochFinished, Event, Finished  # noqa: E402
from cnnplayground.train.fastpath import warm_up_imports  # noqa: E402
from cnnplayground.train.setup import adapt_input  # noqa: E402
from cnnplayground.train.trainer import Trainer  # noqa: E402
from cnnplayground.ui.app import create_app  # noqa: E402
from cnnplayground.ui.training.worker import TrainingSession  # noqa: E402

TICK_MS = 5


class LatenessProbe:
    """A precise 5 ms timer in the GUI thread recording each tick's time (seconds)."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.timer = QTimer()
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(TICK_MS)
        self.timer.timeout.connect(lambda: self.times.append(time.perf_counter()))

    def start(self, *_args: object) -> None:
        self.times.clear()
        self.timer.start()

    def stop(self) -> list[float]:
        """Lateness of every tick in ms: actual interval − 5 ms."""
        self.timer.stop()
        return [(b - a) * 1000 - TICK_MS for a, b in zip(self.times, self.times[1:])]


class PaintCounter(QObject):
    """Counts the paint events a widget receives (the plots' viewport: their actual repaints)."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def eventFilter(self, _watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt override)
        if event.type() == QEvent.Type.Paint:
            self.count += 1
        return False


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


def mean_throughput(events: list[Event]) -> float:
    """Mean images/s over the run's epochs (from ``EpochFinished``)."""
    rates = [e.images_per_second for e in events if isinstance(e, EpochFinished)]
    return statistics.fmean(rates) if rates else float("nan")


def idle_lateness(seconds: float) -> list[float]:
    probe = LatenessProbe()
    loop = QEventLoop()
    probe.start()
    QTimer.singleShot(round(seconds * 1000), loop.quit)
    loop.exec()
    return probe.stop()


def gui_run(model, data, config: TrainingConfig) -> tuple[list[float], list[Event]]:
    """Train in a TrainingSession while the probe runs; the lateness (ms) and every event."""
    session = TrainingSession(Trainer(model, data, config))
    events: list[Event] = []
    session.updated.connect(events.extend)
    loop = QEventLoop()
    session.state_changed.connect(lambda s: loop.quit() if s in ("finished", "failed") else None)
    probe = LatenessProbe()
    probe.start()
    session.start()
    loop.exec()
    lateness = probe.stop()
    session.shutdown()
    if session.state != "finished":
        raise SystemExit(f"the GUI run ended {session.state}: {session.final_event or session.error}")
    return lateness, events


def window_run(config: TrainingConfig, dataset: DatasetChoice,
               runs: int = 2) -> list[tuple[list[float], list[Event], float]]:
    """Train LeNet-5 ``runs`` times through the main window's Train action; each run's lateness (ms), events
    and the plots' repaints per second of training.

    The first run also lays the window out for training (the Curves and Results docks appear, their
    plots draw for the first time); later runs are what a user training again sees.
    """
    from cnnplayground.project import Project
    from cnnplayground.ui.shell.main_window import MainWindow

    app = QCoreApplication.instance()
    window = MainWindow()
    window.resize(1600, 1000)
    window.show()
    window.document.new(Project.new(graph=get_preset("lenet5").factory(), name="bench", dataset=dataset,
                                    training=config))
    results: list[tuple[list[float], list[Event], float]] = []
    paints = PaintCounter()
    window.curves.plots.graphics.viewport().installEventFilter(paints)
    for _ in range(runs):
        # As a user looks at the last run's results before training again: the window's background work
        # for it (the Results panel's search for misclassified images) is done.
        QThreadPool.globalInstance().waitForDone()
        app.processEvents()
        events: list[Event] = []
        probe = LatenessProbe()
        loop = QEventLoop()
        ends: list[object] = []

        def ended(end: object, ends: list[object] = ends, loop: QEventLoop = loop) -> None:
            ends.append(end)
            loop.quit()

        def started(_session: object, probe: LatenessProbe = probe) -> None:
            probe.start()
            paints.count = 0

        slots = ((window.training.events_arrived, events.extend),
                 (window.training.run_started, started),  # not the dataset loading
                 (window.training.run_ended, ended))
        for signal, slot in slots:
            signal.connect(slot)
        window.acts.train.trigger()
        loop.exec()
        seconds = time.perf_counter() - probe.times[0] if probe.times else float("nan")
        lateness = probe.stop()
        refresh_hz = paints.count / seconds
        if not paints.count:
            raise SystemExit("the plots never repainted during the run (is the Curves panel on screen in Train mode?)")
        for signal, slot in slots:
            signal.disconnect(slot)
        if not ends or not isinstance(ends[0], Finished):
            raise SystemExit(f"the window's run did not finish: {ends}")
        if window.curves.plots.points(len(results), "val_loss") != config.epochs:
            raise SystemExit("the window's plots missed epochs")
        results.append((lateness, events, refresh_hz))
    window.training.shutdown()
    window.hide()
    window.document.undo_stack.setClean()
    window.deleteLater()
    return results


def _lateness_and_rate(run: tuple[list[float], list[Event], float]) -> tuple[list[float], float]:
    lateness, events, _hz = run
    return lateness, mean_throughput(events)


def headless_run(model, data, config: TrainingConfig, threads: int) -> list[Event]:
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return list(Trainer(model, data, config).run())
    finally:
        torch.set_num_threads(previous)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--idle-seconds", type=float, default=3.0)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--train-size", type=int, default=0, help="synthetic images generated (0: the default 20,000)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    default_threads = torch.get_num_threads()
    # Set up as the app starts (ui/app.py): names, theme, the GUI thread's garbage collector, torch's
    # thread count; and the imports the app makes in the background once its window is up.
    app = create_app([])
    warm_up_imports()
    app.gc_collector.freeze_startup()  # as the app does once its warm-up imports are done
    cores = os.cpu_count() or 1
    worker_threads = max(1, cores - 1) if args.device == "cpu" else default_threads
    torch.set_num_threads(worker_threads)  # as the app does once at start-up (reserve_gui_core)
    choice = DatasetChoice(options={"train_size": args.train_size, "test_size": 100} if args.train_size else {})
    data = load_dataset(choice)
    torch.manual_seed(0)
    initial = build(adapt_input(get_preset("lenet5").factory(), data))
    config = TrainingConfig(epochs=args.epochs, batch_size=args.batch_size, device=args.device, checkpoint_every=0)
    print(f"# {platform.platform()}, Python {platform.python_version()}, torch {torch.__version__}, "
          f"{cores} cores, torch threads: default {default_threads}, worker {worker_threads}")
    print(f"# LeNet-5, synthetic {len(data.train)} train / {len(data.val)} val, {args.epochs} epochs, "
          f"batch {args.batch_size}, device {args.device}, Qt platform {app.platformName()}")

    idle = idle_lateness(args.idle_seconds)
    headless_same = mean_throughput(headless_run(copy.deepcopy(initial), data, config, worker_threads))
    busy, events = gui_run(copy.deepcopy(initial), data, config)
    gui = mean_throughput(events)
    window_runs = window_run(config, choice, runs=2)
    headless_default = mean_throughput(headless_run(copy.deepcopy(initial), data, config, default_threads))

    i50, i99 = percentile(idle, 50), percentile(idle, 99)
    rows = [("5 ms timer lateness, idle (p50 / p99)", f"{i50:.2f} / {i99:.2f} ms ({len(idle)} ticks)", "")]
    results = {"bench": "gui_latency", "device": args.device, "train_images": len(data.train), "epochs": args.epochs,
               "idle_p50_ms": i50, "idle_p99_ms": i99, "headless_ips": headless_same}

    def latency_rows(name: str, key: str, lateness: list[float], throughput: float) -> None:
        p50, p99 = percentile(lateness, 50), percentile(lateness, 99)
        ratio = p99 / i99 if i99 > 0 else float("inf")
        rows.extend([
            (f"5 ms timer lateness, {name} (p50 / p99)", f"{p50:.2f} / {p99:.2f} ms ({len(lateness)} ticks)",
             "p99 < 50 ms: " + ("yes" if p99 < 50 else "NO")),
            (f"p99 {name} / idle", f"{ratio:.2f}×", "≤ 2×: " + ("yes" if ratio <= 2 else "NO")),
            (f"max lateness, {name}", f"{max(lateness, default=float('nan')):.2f} ms", ""),
            (f"throughput, {name} / headless ({worker_threads} thr)", f"{throughput / headless_same:.2f}×",
             "≥ 0.9×: " + ("yes" if throughput / headless_same >= 0.9 else "NO")),
        ])
        results.update({f"{key}_p50_ms": p50, f"{key}_p99_ms": p99,
                        f"{key}_throughput_ratio": throughput / headless_same})

    rows.append((f"throughput headless ({worker_threads} thr)", f"{headless_same:,.0f} img/s", ""))
    latency_rows("bare session", "session", busy, gui)
    latency_rows("window, first run", "window_first", *_lateness_and_rate(window_runs[0]))
    latency_rows("window, training again", "window", *_lateness_and_rate(window_runs[1]))
    for name, prefix, (lateness, _events, hz) in (("first run", "first_", window_runs[0]),
                                                  ("training again", "", window_runs[1])):
        worst = max(lateness, default=float("nan"))
        rows.append((f"curve repaints per second, {name}", f"{hz:.1f} /s", "≥ 20: " + ("yes" if hz >= 20 else "NO")))
        rows.append((f"window p99 / max lateness, {name}", f"{percentile(lateness, 99):.2f} / {worst:.2f} ms",
                     "≤ 16 / ≤ 50 ms: " + ("yes" if percentile(lateness, 99) <= 16 and worst <= 50 else "NO")))
        key = "window_first" if prefix else "window"
        results.update({f"{prefix}curve_refresh_hz": hz, f"{prefix}window_p99_ms": results[f"{key}_p99_ms"],
                        f"{prefix}window_max_ms": worst,
                        f"{prefix}window_throughput_ratio": results[f"{key}_throughput_ratio"]})
    rows.extend([
        (f"throughput headless ({default_threads} thr, torch default)", f"{headless_default:,.0f} img/s", ""),
        ("GUI / headless (torch default threads)", f"{gui / headless_default:.2f}×", "for reference"),
    ])
    width = max(len(r[0]) for r in rows)
    vwidth = max(len(r[1]) for r in rows)
    print(f"| {'measure':<{width}} | {'value':<{vwidth}} | target |")
    print(f"|{'-' * (width + 2)}|{'-' * (vwidth + 2)}|--------|")
    for name, value, target in rows:
        print(f"| {name:<{width}} | {value:<{vwidth}} | {target} |")
    if args.json:
        print("RESULT " + json.dumps(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Soak test: a long training run in the whole window; memory, GUI latency and what grows, early and late.

With an offscreen Qt application, the real main window trains LeNet-5 on the synthetic set (18,000
train / 2,000 validation images, batch 128) through its Train action, with the Curves dock (four live
plots and the runs table) and two Inspect panels open and visible (Kernels on the left, Feature Maps on
the right; both follow every epoch's weights), for ``--epochs`` epochs or ``--minutes`` minutes.

Measured after the first epoch (warm: every view has drawn) and at the last epoch:

- process memory (``VmRSS`` from ``/proc/self/status``), Python's allocated blocks
  (``sys.getallocatedblocks()``), OS threads; with ``--tracemalloc`` also the traced Python heap
  (it slows Python down, so latency and throughput figures then read high);
- GUI latency: how late a 5 ms ``PreciseTimer`` fires (as ``bench_gui_latency.py`` measures it, whose
  helpers this reuses), p50 / p99 / max over a ``--window`` seconds window; the probe keeps only the
  current window's ticks, so it does not grow itself;
- throughput of the epoch (images/s);
- the sizes of everything that grows with a run: the live plots' points and buffer capacity, the
  session's and the dock's step logs, the epoch histories, the session's event buffer; after the run,
  the recorded run's points and the undo stack.

The memory trend is also fitted over the second half of the run (MB per epoch), which separates
warm-up from steady growth. Run: ``python benchmarks/bench_soak.py [--epochs 80 | --minutes 4]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import threading
import time
import tracemalloc
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import torch  # noqa: E402
from PySide6.QtCore import QEventLoop, QStandardPaths, Qt, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_gui_latency import TICK_MS, idle_lateness, percentile  # noqa: E402

from cnnplayground.core.presets import get_preset  # noqa: E402
from cnnplayground.project import DatasetChoice, Project, TrainingConfig
from cnnplayground.train.events import EpochFinished, Finished  # noqa: E402

STEP_SERIES = ("step_loss", "step_loss_smooth", "step_accuracy_smooth", "step_learning_rate", "images_per_second")


def proc_status(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1])
    return 0


class WindowedProbe:
    """A 5 ms precise timer's lateness, summarized per window of ``seconds``; constant memory."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.windows: list[dict] = []  # start, end, p50, p99, max, ticks
        self._current: list[float] = []
        self._start = self._last = 0.0
        self.timer = QTimer()
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(TICK_MS)
        self.timer.timeout.connect(self._tick)

    def start(self) -> None:
        self._start = self._last = time.perf_counter()
        self.timer.start()

    def stop(self) -> None:
        self.timer.stop()

    def _tick(self) -> None:
        now = time.perf_counter()
        self._current.append((now - self._last) * 1000 - TICK_MS)
        self._last = now
        if now - self._start >= self.seconds:
            values = self._current
            self.windows.append({"start": self._start, "end": now, "p50": percentile(values, 50),
                                 "p99": percentile(values, 99), "max": max(values), "ticks": len(values)})
            self._current, self._start = [], now


class Timed:
    """Wraps a method of ``owner`` to sum, count and take the max of its durations (reset by ``take``)."""

    def __init__(self, owner, name: str) -> None:
        self.real = getattr(owner, name)
        self.total = self.longest = 0.0
        self.calls = 0
        setattr(owner, name, self)

    def __call__(self, *args, **kwargs):
        t = time.perf_counter()
        try:
            return self.real(*args, **kwargs)
        finally:
            dt = (time.perf_counter() - t) * 1000
            self.total += dt
            self.calls += 1
            self.longest = max(self.longest, dt)

    def take(self) -> tuple[float, float]:
        """Mean and max ms since the last call."""
        out = (self.total / self.calls if self.calls else 0.0, self.longest)
        self.total = self.longest = 0.0
        self.calls = 0
        return out


def structures(window) -> dict[str, int]:
    """Sizes of what a run makes grow (live run: the newest run of the plots)."""
    plots, training = window.curves.plots, window.training
    session = training.session
    run = plots._runs[-1] if plots.run_count else None
    out = {
        "plot points, 5 per-step series of the live run": sum(plots.points(plots.run_count - 1, s) for s in STEP_SERIES)
        if run else 0,
        "plot buffer capacity, all series of the live run": sum(len(b.x) for b in run.buffers.values()) if run else 0,
        "runs in the plots": plots.run_count,
    }
    if session is not None:
        out.update({
            "session.steps entries (events received)": len(session.steps),
            "session.steps.count": session.steps.count,
            "dock._steps entries": len(training._steps),
            "session.history (epochs)": len(session.history),
            "trainer.history (epochs)": len(session.trainer.history),
            "session event queue": len(session.worker.pending),
        })
    history = window.document.project.history
    out["project runs"] = len(history)
    out["project step points (step_loss + step_accuracy)"] = sum(
        len(r.series[k].x) for r in history for k in ("step_loss", "step_accuracy") if k in r.series)
    out["undo stack"] = window.document.undo_stack.count()
    return out


def sample(window, epoch_event: EpochFinished | None, traced: bool, timers: dict[str, Timed]) -> dict:
    return {
        "gui_ms": {name: timer.take() for name, timer in timers.items()},
        "time": time.perf_counter(),
        "epoch": epoch_event.epoch if epoch_event else None,
        "images_per_second": epoch_event.images_per_second if epoch_event else None,
        "rss_mb": proc_status("VmRSS") / 1024,
        "blocks": sys.getallocatedblocks(),
        "threads": proc_status("Threads"),
        "python_threads": threading.active_count(),
        "traced_mb": tracemalloc.get_traced_memory()[0] / 2**20 if traced else None,
        "sizes": structures(window),
    }


def slope(xs: list[float], ys: list[float]) -> float:
    """Least-squares slope of ys over xs (0 with fewer than two points)."""
    if len(xs) < 2:
        return 0.0
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / den if den else 0.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--epochs", type=int, default=80, help="epochs to train (default 80: ≈ 3.5 min on 2 cores)")
    ap.add_argument("--minutes", type=float, default=None,
                    help="train for this long instead (the run is stopped then; --epochs is ignored)")
    ap.add_argument("--window", type=float, default=10.0, help="seconds per latency window")
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--tracemalloc", action="store_true", help="also trace the Python heap (slows Python down)")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures to this file")
    args = ap.parse_args()

    app = QApplication.instance() or QApplication([])
    QStandardPaths.setTestModeEnabled(True)  # the window must not touch the user's settings
    from cnnplayground.ui.shell.main_window import MainWindow
    from cnnplayground.ui.training.worker import reserve_gui_core

    threads = reserve_gui_core()  # as the app does at start-up
    epochs = 10_000 if args.minutes else args.epochs
    config = TrainingConfig(epochs=epochs, batch_size=args.batch_size, device="cpu", checkpoint_every=0)
    window = MainWindow()
    window.resize(1600, 1000)
    window.show()
    window.document.new(Project.new(graph=get_preset("lenet5").factory(), name="soak", dataset=DatasetChoice(),
                                    training=config))
    # Curves at the bottom (shown by the run), Kernels left, Feature Maps right: three panels on screen at once.
    window.acts.show_kernels.trigger()
    window.acts.show_feature_maps.trigger()
    window.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, window.kernels_dock)
    window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, window.feature_maps_dock)
    window.kernels_dock.show()
    window.feature_maps_dock.show()

    print(f"# {platform.platform()}, Python {platform.python_version()}, torch {torch.__version__}, "
          f"{os.cpu_count()} cores, {threads} torch threads, Qt platform {app.platformName()}")
    idle = idle_lateness(3.0)
    print(f"# idle 5 ms timer lateness p50 / p99: {percentile(idle, 50):.2f} / {percentile(idle, 99):.2f} ms")

    # GUI-thread time: the plots handing their data to the curves (every 100 ms), and each batch of events
    # (its listeners: plots, results, the Inspect panels' model source and panels; painting comes later).
    timers = {"plots refresh": Timed(window.curves.plots, "flush"),
              "event batch": Timed(window.training, "_on_session_updated")}
    probe = WindowedProbe(args.window)
    samples: list[dict] = []
    ends: list[object] = []
    loop = QEventLoop()
    t_start = [0.0]

    def on_started(_session) -> None:
        t_start[0] = time.perf_counter()
        if args.tracemalloc:
            tracemalloc.start()
        probe.start()
        if args.minutes:
            QTimer.singleShot(round(args.minutes * 60_000), window.training.stop)

    def on_events(events: list) -> None:
        for event in events:
            if isinstance(event, EpochFinished):
                samples.append(sample(window, event, args.tracemalloc, timers))
                if event.epoch == 1:
                    visible = {"curves": window.curves.plots.isVisible(), "kernels": window.kernels.isVisible(),
                               "feature maps": window.feature_maps.isVisible()}
                    print(f"# after epoch 1: visible panels {visible}", flush=True)
                elif event.epoch % 10 == 0:
                    s = samples[-1]
                    print(f"# epoch {event.epoch}: RSS {s['rss_mb']:.1f} MB, "
                          f"{event.images_per_second:,.0f} img/s", flush=True)

    def on_ended(end) -> None:
        ends.append(end)
        probe.stop()
        loop.quit()

    window.training.run_started.connect(on_started)
    window.training.events_arrived.connect(on_events)
    window.training.run_ended.connect(on_ended)
    window.acts.train.trigger()
    loop.exec()
    for _ in range(20):  # let the run's record, the plots' reload and the panels settle
        app.processEvents()
    after = sample(window, None, args.tracemalloc, timers)
    duration = time.perf_counter() - t_start[0]
    end = ends[0] if ends else None
    if not isinstance(end, Finished) or len(samples) < 3:
        raise SystemExit(f"the run did not finish properly: {end}, {len(samples)} epochs")

    first, last = samples[0], samples[-1]
    t_first = first["time"]
    early = next((w for w in probe.windows if w["start"] >= t_first), probe.windows[0])
    late = probe.windows[-1]
    half = samples[len(samples) // 2:]
    rss_trend = slope([s["epoch"] for s in half], [s["rss_mb"] for s in half])
    blocks_trend = slope([s["epoch"] for s in half], [s["blocks"] for s in half])
    rows = [
        ("epochs (steps)", f"{first['epoch']} ({first['sizes'].get('session.steps.count', 0):,})",
         f"{last['epoch']} ({last['sizes'].get('session.steps.count', 0):,})", ""),
        ("time since the run started", f"{first['time'] - t_start[0]:.0f} s", f"{last['time'] - t_start[0]:.0f} s",
         ""),
        ("process RSS", f"{first['rss_mb']:.1f} MB", f"{last['rss_mb']:.1f} MB",
         f"{last['rss_mb'] - first['rss_mb']:+.1f} MB; second half {rss_trend * 1024:+.0f} KB/epoch"),
        ("Python allocated blocks", f"{first['blocks']:,}", f"{last['blocks']:,}",
         f"{last['blocks'] - first['blocks']:+,}; second half {blocks_trend:+,.0f}/epoch"),
        ("OS threads (Python threads)", f"{first['threads']} ({first['python_threads']})",
         f"{last['threads']} ({last['python_threads']})", ""),
        ("GUI lateness p50 / p99 / max", f"{early['p50']:.2f} / {early['p99']:.2f} / {early['max']:.1f} ms",
         f"{late['p50']:.2f} / {late['p99']:.2f} / {late['max']:.1f} ms",
         f"{args.window:.0f} s windows ({early['ticks']} / {late['ticks']} ticks)"),
        *[(f"GUI thread: {name} mean / max", f"{first['gui_ms'][name][0]:.2f} / {first['gui_ms'][name][1]:.1f} ms",
            f"{last['gui_ms'][name][0]:.2f} / {last['gui_ms'][name][1]:.1f} ms", "during that epoch")
          for name in timers],
        ("epoch throughput", f"{first['images_per_second']:,.0f} img/s", f"{last['images_per_second']:,.0f} img/s",
         f"{last['images_per_second'] / first['images_per_second']:.2f}×"),
    ]
    if args.tracemalloc:
        rows.append(("traced Python heap", f"{first['traced_mb']:.1f} MB", f"{last['traced_mb']:.1f} MB",
                     f"{last['traced_mb'] - first['traced_mb']:+.1f} MB"))
    for key, value in last["sizes"].items():
        rows.append((key, f"{first['sizes'].get(key, 0):,}", f"{value:,}", f"after the run: {after['sizes'][key]:,}"))
    rows.append(("process RSS after the run ended", "", f"{after['rss_mb']:.1f} MB", ""))
    print(f"# LeNet-5, synthetic, batch {args.batch_size}, {last['epoch']} epochs in {duration:.0f} s "
          f"({end.reason}); start = after epoch 1, end = the last epoch")
    width = [max(len(r[i]) for r in rows) for i in range(4)]
    head = ("measure", "start", "end", "note")
    print("| " + " | ".join(h.ljust(w) for h, w in zip(head, width)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in width) + "|")
    for r in rows:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(r, width)) + " |")
    if args.json:
        args.json.write_text(json.dumps({"samples": samples, "after": after, "windows": probe.windows,
                                         "idle": [percentile(idle, 50), percentile(idle, 99)]}, indent=1))
    window.hide()
    window.document.undo_stack.setClean()
    window.deleteLater()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

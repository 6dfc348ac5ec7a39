"""How long the GUI thread pauses while each Inspect panel analyses ResNet-18 at 224×224 on the CPU.

The whole main window (offscreen) holds ResNet-18 (the preset with a 10-class head, random
weights) and a synthetic 3×224×224 set. For each panel in turn: a precise 5 ms ``QTimer`` runs
in the GUI thread, the panel is brought to the front (which requests its analysis; Max Activation
is started with its Run button's slot), and the event loop runs until the panel shows its result.
Reported per panel: how long the analysis took, and the timer's lateness (actual interval − 5 ms)
meanwhile: p99 and max, the longest the GUI thread was busy at a stretch. Target (issue 20): max ≤ 50 ms.

The analyses run in background jobs, so the GUI thread only draws their results; what remains is
that drawing and the contention of the analysis' threads with the GUI thread for the cores. The
machine's load average is printed before and after: a shared machine's other work shows up as lateness.

Run: ``python benchmarks/bench_inspect_latency.py [--images 32] [--panels feature_maps,occlusion]
[--json]`` (one ``RESULT {...}`` line with ``--json``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# A fresh settings and data folder for each run: the window's saved mode layouts (and those of tests or of
# the user's own sessions) must not decide what is on screen, e.g. a Train layout with the Curves hidden.
for _xdg in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME"):
    os.environ[_xdg] = tempfile.mkdtemp(prefix=f"bench-{_xdg.lower()}-")
os.environ.setdefault("CNNPLAYGROUND_AUTOSAVE_DIR", tempfile.mkdtemp(prefix="bench-inspect-"))

import torch  # noqa: E402
from PySide6.QtCore import QEventLoop, Qt, QTimer  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from cnnplayground.core.presets import resnet18  # noqa: E402
from cnnplayground.project import DatasetChoice, Project, TrainingConfig  # noqa: E402
from cnnplayground.ui.app import create_app  # noqa: E402

TICK_MS = 5
PANELS = ("kernels", "feature_maps", "receptive", "occlusion", "adversarial", "attribution", "patches", "maximize")


class LatenessProbe:
    """A precise 5 ms timer in the GUI thread recording each tick's time (seconds)."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.timer = QTimer()
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(TICK_MS)
        self.timer.timeout.connect(lambda: self.times.append(time.perf_counter()))

    def start(self) -> None:
        self.times.clear()
        self.times.append(time.perf_counter())
        self.timer.start()

    def stop(self) -> list[float]:
        """Lateness of every tick in ms: actual interval − 5 ms."""
        self.timer.stop()
        self.times.append(time.perf_counter())
        return [(b - a) * 1000 - TICK_MS for a, b in zip(self.times, self.times[1:])]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def done(panel, key: str) -> bool:
    """The panel shows its analysis' result (and computes nothing more)."""
    if getattr(panel, "busy", False) or getattr(panel, "running", False):
        return False
    return {
        "kernels": lambda: len(panel.grid.images) > 0,
        "feature_maps": lambda: bool(panel.maps) and bool(getattr(panel, "layer_stats", None)),
        "receptive": lambda: panel.erf is not None,
        "occlusion": lambda: panel.result is not None and panel.progress.value() == 100,
        "adversarial": lambda: panel.adversarial is not None,
        "attribution": lambda: "ig" in panel.maps,
        "patches": lambda: len(panel.grid.images) > 0,
        "maximize": lambda: panel.last is not None,
    }[key]()


def run_until(condition, timeout_s: float) -> bool:
    """Run the event loop until ``condition()`` holds (checked every 20 ms) or the time is up."""
    loop = QEventLoop()
    check = QTimer()
    check.setInterval(20)
    check.timeout.connect(lambda: loop.quit() if condition() else None)
    QTimer.singleShot(round(timeout_s * 1000), loop.quit)
    check.start()
    if not condition():
        loop.exec()
    check.stop()
    return condition()


def settle(seconds: float) -> None:
    loop = QEventLoop()
    QTimer.singleShot(round(seconds * 1000), loop.quit)
    loop.exec()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--images", type=int, default=32, help="synthetic validation images (the analyses' data)")
    ap.add_argument("--panels", default=",".join(PANELS))
    ap.add_argument("--occlusion-patch", type=int, default=32)
    ap.add_argument("--occlusion-stride", type=int, default=16)
    ap.add_argument("--timeout", type=float, default=600.0, help="seconds per panel at most")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    app = create_app([])
    from cnnplayground.train.fastpath import warm_up_imports

    warm_up_imports()  # as the app does once its window is up, then freezes what start-up loaded
    app.gc_collector.freeze_startup()
    from cnnplayground.ui.shell.main_window import MainWindow

    window = MainWindow()
    window.resize(1600, 1000)
    window.show()
    # Validation images: the synthetic set's training split holds a tenth of them out.
    data = DatasetChoice(name="synthetic", options={"train_size": 10 * args.images, "test_size": 16, "size": 224,
                                                     "channels": 3})
    config = TrainingConfig(epochs=1, batch_size=16, device="cpu", checkpoint_every=0)
    window.document.new(Project.new(graph=resnet18(num_classes=10), name="ResNet-18", dataset=data, training=config))
    source = window.model_source
    source.ensure_data()
    if not run_until(lambda: source.data is not None, 300):
        print("the dataset did not load", file=sys.stderr)
        return 1
    occlusion = window.panel("occlusion")
    for spin, value in ((occlusion.patch, args.occlusion_patch), (occlusion.stride, args.occlusion_stride)):
        spin.blockSignals(True)
        spin.setValue(value)
        spin.blockSignals(False)
    window.acts.show_explorer.trigger()  # no model panel in front: each starts when shown below
    settle(1.0)

    load_before = os.getloadavg()
    print(f"# {platform.platform()}, Python {platform.python_version()}, torch {torch.__version__}, "
          f"{os.cpu_count()} cores, torch threads {torch.get_num_threads()}, Qt platform {app.platformName()}")
    print(f"# ResNet-18 (10 classes, random weights) at 3×224×224, {len(source.split())} validation images; "
          f"occlusion patch {args.occlusion_patch} stride {args.occlusion_stride}; load average before "
          f"{load_before[0]:.2f} / {load_before[1]:.2f} / {load_before[2]:.2f}")
    probe = LatenessProbe()
    probe.start()
    settle(2.0)
    idle = probe.stop()
    results: dict[str, object] = {"bench": "inspect_latency", "idle_max_ms": max(idle),
                                  "idle_p99_ms": percentile(idle, 99)}
    rows = [("idle", "", f"{percentile(idle, 99):.1f}", f"{max(idle):.1f}", "")]
    for key in [k for k in args.panels.split(",") if k]:
        panel = window.panel(key)
        probe.start()
        started = time.perf_counter()
        getattr(window.acts, f"show_{key}").trigger()
        if key == "maximize":
            panel.run_unit()
        finished = run_until(lambda p=panel, k=key: done(p, k), args.timeout)
        seconds = time.perf_counter() - started
        lateness = probe.stop()
        p99, worst = percentile(lateness, 99), max(lateness)
        rows.append((key, f"{seconds:.1f}" + ("" if finished else " (timed out)"), f"{p99:.1f}", f"{worst:.1f}",
                     "yes" if worst <= 50 else "NO"))
        results[f"{key}_seconds"] = seconds
        results[f"{key}_p99_ms"] = p99
        results[f"{key}_max_ms"] = worst
        settle(0.5)
    load_after = os.getloadavg()
    print(f"# load average after {load_after[0]:.2f} / {load_after[1]:.2f} / {load_after[2]:.2f}")
    results["load_before"], results["load_after"] = load_before[0], load_after[0]
    print("| panel | analysis s | GUI pause p99 ms | GUI pause max ms | max ≤ 50 ms |")
    print("|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    if args.json:
        print("RESULT " + json.dumps(results))
    window.training.shutdown()
    window.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

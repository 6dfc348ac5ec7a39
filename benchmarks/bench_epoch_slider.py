"""How long the Inspect panels take to redraw when the epoch slider moves (issue 24), on the CPU.

The whole main window (offscreen) holds a network with one run of stored epochs (each epoch's weights
distinct: seeded random ones, as a trained run's differ) and a synthetic validation set. For each
network the Kernels panel, then the Feature Maps panel, is in front; the slider is moved to each stored
epoch in turn (twice: the first visit builds the epoch's model, the second finds it cached), and the time
from ``setValue`` to the panel's new picture painted is measured: Kernels: the filters of the chosen layer
(read and drawn in the background) painted; Feature Maps: the chosen image's maps and prediction painted
(the activation statistics over 64 images follow later and are reported apart).

Targets: LeNet-5 ≤ 100 ms, ResNet-18 at 3×32×32 ≤ 1 s per move.

Run: ``python benchmarks/bench_epoch_slider.py [--epochs 6] [--models lenet5,resnet18] [--json]``
(one ``RESULT {...}`` line with ``--json``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
for _xdg in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME"):
    os.environ[_xdg] = tempfile.mkdtemp(prefix=f"bench-{_xdg.lower()}-")
os.environ.setdefault("CNNPLAYGROUND_AUTOSAVE_DIR", tempfile.mkdtemp(prefix="bench-epochs-"))

import torch  # noqa: E402
from PySide6.QtCore import QEventLoop, QTimer  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from cnnplayground.core.builder import build  # noqa: E402
from cnnplayground.core.presets import lenet5, resnet18  # noqa: E402
from cnnplayground.project import DatasetChoice, Project, RunHistory, TrainingConfig  # noqa: E402
from cnnplayground.project.epochs import RunEpochs  # noqa: E402
from cnnplayground.ui.app import create_app  # noqa: E402

TARGET_MS = {"lenet5": 100.0, "resnet18": 1000.0}


def network(name: str):
    """``(graph, synthetic options)``: LeNet-5 at 1×28×28, ResNet-18 (10 classes) at 3×32×32."""
    if name == "lenet5":
        graph = lenet5()
        params = graph.input_nodes()[0].params
        return graph, {"size": int(params["height"]), "channels": int(params["channels"])}
    graph = resnet18(num_classes=10)
    graph.input_nodes()[0].params.update(height=32, width=32)
    return graph, {"size": 32, "channels": 3}


def run_until(condition, timeout_s: float) -> bool:
    loop = QEventLoop()
    check = QTimer()
    check.setInterval(1)
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


class Painted:
    """Records when a panel's handler (``_on_tiles``, ``_on_maps``) has drawn and painted its picture."""

    def __init__(self, panel, handler: str, widget) -> None:
        self.at: float | None = None
        original = getattr(panel, handler)

        def wrapped(result):
            original(result)
            widget.repaint()  # painted now, as the next frame would
            self.at = time.perf_counter()

        setattr(panel, handler, wrapped)  # the panels look their handler up at each request


def measure(window, key: str, handler: str, epochs: list[int], timeout_s: float) -> list[tuple[int, int, float]]:
    """``(round, epoch, ms)`` of each slider move (round 1: first visits, round 2: cached models)."""
    panel = window.panel(key)
    getattr(window.acts, f"show_{key}").trigger()
    bar = panel.epoch_bar
    painted = Painted(panel, handler, panel.grid)
    run_until(lambda: not panel.busy, timeout_s)
    settle(0.3)
    out = []
    for round_ in (1, 2):
        for position, epoch in enumerate(epochs):
            run_until(lambda: not panel.busy, timeout_s)  # the statistics of the previous move, if any
            painted.at = None
            started = time.perf_counter()
            bar.slider.setValue(position)
            run_until(lambda: painted.at is not None, timeout_s)
            out.append((round_, epoch, ((painted.at or float("nan")) - started) * 1000))
    bar.slider.setValue(bar.slider.maximum())
    run_until(lambda: not panel.busy, timeout_s)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--epochs", type=int, default=6, help="stored epochs of the run (0 … epochs-1)")
    ap.add_argument("--models", default="lenet5,resnet18")
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds per move at most")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    app = create_app([])
    from cnnplayground.ui.shell.main_window import MainWindow

    window = MainWindow()
    window.resize(1280, 720)
    window.show()
    print(f"# {platform.platform()}, Python {platform.python_version()}, torch {torch.__version__}, "
          f"{os.cpu_count()} cores, torch threads {torch.get_num_threads()}, Qt platform {app.platformName()}; "
          f"load average {os.getloadavg()[0]:.2f}")
    results: dict[str, object] = {"bench": "epoch_slider", "rows": []}
    print("| network | panel | first visit median / max ms | cached median / max ms | target |")
    print("|---|---|---|---|---|")
    for name in [m for m in args.models.split(",") if m]:
        graph, options = network(name)
        weights = {}
        for k in range(args.epochs):
            torch.manual_seed(k)
            weights[k] = {n: t.detach().clone() for n, t in build(graph).state_dict().items()}
        data = DatasetChoice(name="synthetic", options={"train_size": 640, "test_size": 16, **options})
        config = TrainingConfig(epochs=args.epochs - 1, batch_size=64, device="cpu", checkpoint_every=0)
        project = Project.new(graph=graph, name=name, dataset=data, training=config)
        project.weights = weights[args.epochs - 1]
        run = RunHistory(name="run 1")
        run.keep_epochs(RunEpochs(graph.copy(), weights))
        project.history = [run]
        window.document.new(project)
        window.model_source.ensure_data()
        if not run_until(lambda: window.model_source.data is not None, 300):
            print("the dataset did not load", file=sys.stderr)
            return 1
        for key, handler in (("kernels", "_on_tiles"), ("feature_maps", "_on_maps")):
            times = measure(window, key, handler, list(range(args.epochs)), args.timeout)
            first = [ms for r, _e, ms in times if r == 1]
            cached = [ms for r, _e, ms in times if r == 2]
            row = {"network": name, "panel": key, "first_median_ms": statistics.median(first),
                   "first_max_ms": max(first), "cached_median_ms": statistics.median(cached),
                   "cached_max_ms": max(cached), "target_ms": TARGET_MS[name]}
            results["rows"].append(row)  # type: ignore[union-attr]
            ok = "yes" if max(first + cached) <= TARGET_MS[name] else "NO"
            print(f"| {name} | {key} | {row['first_median_ms']:.0f} / {row['first_max_ms']:.0f} | "
                  f"{row['cached_median_ms']:.0f} / {row['cached_max_ms']:.0f} | ≤ {TARGET_MS[name]:.0f} ms: {ok} |")
    if args.json:
        print("RESULT " + json.dumps(results))
    window.training.shutdown()
    window.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

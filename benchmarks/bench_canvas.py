"""Canvas responsiveness: editing a node of ResNet-18, end to end.

Measures, in one run (offscreen Qt, median of N edits):

- **baseline**: shape inference alone (``infer(graph)``), the arithmetic floor;
- **edit → inference → items**: pushing an undoable parameter edit, which runs
  inference and refreshes every node item and wire label;
- **edit → ... → repaint**: the same plus a full repaint of the canvas viewport
  (the whole network fitted in a 1600×1000 view, the worst case).

Target (issue 4): the whole edit well under 50 ms.
Run: ``python benchmarks/bench_canvas.py [--preset resnet18] [--edits 30]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from PySide6.QtWidgets import QApplication  # noqa: E402

from cnnplayground.core.inference import infer  # noqa: E402
from cnnplayground.core.presets import get_preset  # noqa: E402
from cnnplayground.project import Project
from cnnplayground.ui.document.commands import SetParams  # noqa: E402
from cnnplayground.ui.document.document import Document  # noqa: E402
from cnnplayground.ui.editor.canvas.view import CanvasView  # noqa: E402


def median_ms(fn, n: int) -> float:
    times = []
    for i in range(n):
        t0 = time.perf_counter()
        fn(i)
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="resnet18")
    ap.add_argument("--edits", type=int, default=30)
    args = ap.parse_args()
    app = QApplication.instance() or QApplication([])
    doc = Document(Project.new(graph=get_preset(args.preset).factory()))
    view = CanvasView(doc)
    view.resize(1600, 1000)
    view.show()
    app.processEvents()
    view.fit_to_view()
    graph = doc.graph
    conv = next(nid for nid, n in graph.nodes.items() if n.kind == "Conv2d" and n.params["out_channels"] == 256)
    widths = [256, 192]

    base = median_ms(lambda i: infer(graph), args.edits)

    def edit(i: int) -> None:
        doc.push(SetParams(graph, conv, {"out_channels": widths[i % 2], "bias": i % 2 == 0}))

    edit_ms = median_ms(edit, args.edits)

    def edit_and_paint(i: int) -> None:
        edit(i)
        view.viewport().repaint()

    paint_ms = median_ms(edit_and_paint, args.edits)
    print(f"{args.preset}: {len(graph)} layers, {len(graph.edges)} wires; view 1600×1000 at zoom {view.zoom:.2f}")
    print(f"{'step':<40}{'median ms':>10}{'vs infer':>10}")
    for name, ms in (("infer() alone (baseline)", base), ("edit → inference → items", edit_ms),
                     ("edit → inference → items → repaint", paint_ms)):
        print(f"{name:<40}{ms:>10.2f}{ms / base:>9.1f}x")
    verdict = "OK" if paint_ms < 50 else "TOO SLOW"
    print(f"target: whole edit < 50 ms → {verdict}")


if __name__ == "__main__":
    main()

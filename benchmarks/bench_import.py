"""What importing a PyTorch model onto the canvas costs (``io.model_import.import_module``), on the CPU.

For each model (torchvision's architecture with its initial weights, 3×224×224 input): the first import in
the process (``cold``: fx's first trace included) and the median of ``--repeats`` more. The import traces the
module with ``torch.fx``, maps every node to a layer kind, follows the shapes with the kinds' own rules (no
forward pass), takes the weights, checks them against the network built on the meta device, and lays the
graph out. Building the torchvision module itself is not timed.

Target (issue 23): ResNet-50 under 2 s. Run: ``python benchmarks/bench_import.py [--models resnet50,densenet121]
[--repeats 3]`` (``--json``: one ``RESULT {...}`` line for ``benchmarks/run_all.py``).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import torch
import torchvision

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from cnnplayground.io.model_import import import_module  # noqa: E402

TARGET_SECONDS = {"resnet50": 2.0}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default="resnet50,densenet121", help="torchvision names, comma-separated")
    ap.add_argument("--side", type=int, default=224, help="input height and width")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", action="store_true", help="print one RESULT {json} line")
    args = ap.parse_args()
    rows = []
    for name in args.models.split(","):
        module = torchvision.models.get_model(name, weights=None).eval()
        shape = (3, args.side, args.side)
        t = time.perf_counter()
        result = import_module(module, shape, name=name).require()
        cold = time.perf_counter() - t
        times = []
        for _ in range(args.repeats):
            t = time.perf_counter()
            import_module(module, shape, name=name)
            times.append(time.perf_counter() - t)
        rows.append({"model": name, "layers": result.layers, "params": result.params, "cold_s": cold,
                     "median_s": statistics.median(times) if times else cold, "target_s": TARGET_SECONDS.get(name)})
    if args.json:
        print("RESULT " + json.dumps({"bench": "import", "side": args.side, "threads": torch.get_num_threads(),
                                      "machine": platform.processor() or platform.machine(), "rows": rows}))
    else:
        print(f"{'model':<14} {'layers':>6} {'parameters':>12} {'first':>8} {'median':>8}  target")
        for r in rows:
            target = f"< {r['target_s']:g} s" if r["target_s"] else ""
            print(f"{r['model']:<14} {r['layers']:>6} {r['params']:>12,} {r['cold_s']:>7.2f}s {r['median_s']:>7.2f}s"
                  f"  {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

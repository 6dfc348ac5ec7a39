"""What the Inspect panels cost to refresh, side by side with a plain forward (and backward) pass.

In one run, on the CPU, for the VGG-style CIFAR preset (``vgg_small``, 3×32×32 input):

- **feature maps**: every layer's output for one image (``inspect.activations.feature_maps``)
  plus turning the 64 channels of ``relu2_2`` into colour-mapped images, as the panel
  does; baseline: ``model(x)`` for the same image;
- **effective receptive field**: the gradient of one ``relu3_2`` unit over 64 images
  (``inspect.receptive.effective_field``); baseline: one forward and backward pass of
  the same 64 images (``model(x).sum().backward()``);
- **occlusion**: the 7 px / stride 2 map of one image (144 patch positions); baseline:
  ``model`` on a batch of 144 images.

Target (issue 6): feature maps of a 64-channel layer and the effective field over 64
images each well under a second. Run: ``python benchmarks/bench_inspect.py [--repeats 5]``
(``--json``: one ``RESULT {...}`` line for ``benchmarks/run_all.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import torch  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from PySide6.QtWidgets import QApplication  # noqa: E402

from cnnplayground.core.builder import build  # noqa: E402
from cnnplayground.core.presets import get_preset  # noqa: E402
from cnnplayground.inspect.activations import feature_maps  # noqa: E402
from cnnplayground.inspect.occlusion import occlusion_map  # noqa: E402
from cnnplayground.inspect.receptive import effective_field  # noqa: E402
from cnnplayground.inspect.snapshot import snapshot  # noqa: E402
from cnnplayground.ui.inspect.imaging import rgb_image, sequential  # noqa: E402


def median_ms(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    QApplication.instance() or QApplication([])
    torch.manual_seed(0)
    model = snapshot(build(get_preset("vgg_small").factory()))
    one = torch.randn(1, 3, 32, 32)
    batch = torch.randn(64, 3, 32, 32)
    print(f"# {platform.platform()}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"vgg_small (CIFAR VGG), CPU, median of {args.repeats}")

    def maps_and_images():
        maps = feature_maps(model, one)["relu2_2"]
        return [rgb_image(sequential(m, float(m.min()), float(m.max()))) for m in maps]

    def plain_forward():
        with torch.no_grad():
            model(one)

    def erf():
        effective_field(model, batch, "relu3_2", 4, 4)

    def plain_backward():
        x = batch.clone().requires_grad_(True)
        with torch.enable_grad():
            model(x).sum().backward()

    def occlusion():
        occlusion_map(model, one[0], target=0, patch=7, stride=2)

    def plain_144():
        with torch.no_grad():
            model(torch.randn(144, 3, 32, 32))

    rows = []
    for name, fn, base_name, base in (
        ("feature maps + 64 channel images", maps_and_images, "forward, 1 image", plain_forward),
        ("effective field, 64 images", erf, "forward + backward, 64 images", plain_backward),
        ("occlusion map, 7 px / stride 2", occlusion, "forward, 144 images", plain_144),
    ):
        ours, theirs = median_ms(fn, args.repeats), median_ms(base, args.repeats)
        rows.append((name, ours, base_name, theirs))
    print("| analysis | ms | baseline | ms | ratio | target |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, ours, base_name, theirs in rows:
        target = "< 1000 ms: " + ("met" if ours < 1000 else "NOT met") if "occlusion" not in name else ""
        print(f"| {name} | {ours:.1f} | {base_name} | {theirs:.1f} | {ours / theirs:.2f}× | {target} |")
    if args.json:
        table = [{"analysis": name, "ms": ours, "baseline": base_name, "baseline_ms": theirs}
                 for name, ours, base_name, theirs in rows]
        print("RESULT " + json.dumps({"bench": "inspect", "repeats": args.repeats, "rows": table}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

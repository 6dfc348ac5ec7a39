"""Where a training step's time goes: the trainer's hot path under ``torch.profiler`` and ``cProfile``.

Trains LeNet-5 (batch 128, Adam, CPU by default) on the synthetic set with the trainer as the
app runs it, after a warm-up run, and prints:

1. the operators with the most self time (``torch.profiler``), with the number of calls per step,
   so per-step extras (metrics, normalization, checks) stand out next to the network's own work;
2. the Python functions with the most own time (``cProfile``), to find interpreter overhead;
3. the trainer's own per-step bookkeeping, timed alone (``timeit``): the metric accumulation and
   the batch preparation (index, convert, normalize) against one whole step.

Run: ``python benchmarks/profile_trainer.py [--steps 100] [--threads 1] [--model lenet5]``.
Findings are recorded in docs/PERFORMANCE.md ("Fast path and speedrun").
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import time
import timeit
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from cnnplayground.core.builder import build  # noqa: E402
from cnnplayground.core.presets import get_preset  # noqa: E402
from cnnplayground.data.loader import DeviceLoader  # noqa: E402
from cnnplayground.data.registry import load_dataset  # noqa: E402
from cnnplayground.project import DatasetChoice, TrainingConfig  # noqa: E402
from cnnplayground.train.setup import adapt_input  # noqa: E402
from cnnplayground.train.trainer import Trainer  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="lenet5")
    ap.add_argument("--steps", type=int, default=100, help="training steps profiled")
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rows", type=int, default=20)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    preset = get_preset(args.model)
    name = "synthetic-rgb" if preset.input_shape[0] == 3 else "synthetic"
    data = load_dataset(DatasetChoice(name=name, options={"train_size": args.steps * args.batch_size,
                                                          "test_size": 0}), val_fraction=0.0)
    config = TrainingConfig(epochs=1, batch_size=args.batch_size, device="cpu", checkpoint_every=0,
                            val_fraction=0.0)

    def model():
        torch.manual_seed(0)
        return build(adapt_input(preset.factory(num_classes=data.num_classes, in_channels=data.input_shape[0]),
                                 data))

    list(Trainer(model(), data, config).run())  # warm-up: imports, allocator, first-call costs
    print(f"# {args.model}, batch {args.batch_size}, {args.steps} steps, CPU, {torch.get_num_threads()} thread(s), "
          f"torch {torch.__version__}")

    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        t0 = time.perf_counter()
        list(Trainer(model(), data, config).run())
        wall = time.perf_counter() - t0
    step_ms = wall / args.steps * 1000
    print(f"\n## torch.profiler: operators by self time ({wall:.2f} s, {step_ms:.2f} ms per step incl. profiling)\n")
    events = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total = sum(e.self_cpu_time_total for e in events) or 1
    print("| operator | self ms | share | calls per step |")
    print("| --- | ---: | ---: | ---: |")
    for e in events[: args.rows]:
        print(f"| {e.key[:60]} | {e.self_cpu_time_total / 1000:.1f} | {e.self_cpu_time_total / total:.1%} "
              f"| {e.count / args.steps:.1f} |")

    profiler = cProfile.Profile()
    profiler.enable()
    list(Trainer(model(), data, config).run())
    profiler.disable()
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(args.rows)
    print("\n## cProfile: Python functions by own time\n")
    print("\n".join(line for line in text.getvalue().splitlines() if line.strip())[-4000:])

    # The trainer's own per-step work, alone.
    loss = torch.tensor(2.3)
    logits = torch.randn(args.batch_size, data.num_classes)
    y = torch.randint(0, data.num_classes, (args.batch_size,))
    loss_sum, correct = torch.zeros(()), torch.zeros((), dtype=torch.int64)

    def bookkeeping():
        nonlocal loss_sum, correct
        loss_sum += loss.detach().float() * args.batch_size
        correct += (logits.detach().argmax(1) == y).sum()

    loader = DeviceLoader(data.train, mean=data.mean, std=data.std, batch_size=args.batch_size, shuffle=True)
    batches = iter(loader)

    def next_batch():
        nonlocal batches
        try:
            next(batches)
        except StopIteration:
            batches = iter(loader)

    print("\n## the trainer's own per-step work, alone (timeit, best of 5)\n")
    for label, fn, number in (("metric accumulation (loss sum, correct count)", bookkeeping, 2000),
                              ("batch: index, convert, normalize", next_batch, 200)):
        best = min(timeit.repeat(fn, number=number, repeat=5)) / number * 1e6
        print(f"- {label}: {best:.1f} µs per step ({best / 1000 / step_ms:.2%} of a step)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

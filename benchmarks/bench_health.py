"""The cost of recording layer health while training (``Trainer(record_health=...)``), side by side.

Two measurements, both side by side on the same network, batch and weights:

- **per step** (robust on a busy machine): in each of ``--steps`` interleaved rounds, a plain training
  step, the sampled step (hooks, gradient norms, activation percentiles) and the epoch's bookkeeping
  (weight copy at its start; update ratios, weight percentiles and the one read-back at its end) are
  timed, and the same sampled step and bookkeeping without the distributions (``HealthRecorder(...,
  distributions=False)``); the median of each is taken (the minimum is printed too). Health costs
  ``(sampled − plain) + bookkeeping`` once per epoch, so the overhead of an epoch of S steps is that
  over ``S × plain`` (printed for the run's S and for a 60,000-image epoch, MNIST's);
- **end to end** (``--repeats N``, 0 to skip): whole training runs with health on and off,
  alternately, N times each; ``1 − on/off`` of the median throughput (images/s over training time).

Target: at most 3 % for LeNet-5 and a small ResNet on CPU.

Run: ``python benchmarks/bench_health.py [--model lenet5,resnet20_cifar] [--train-size 6000] [--epochs 1]
[--repeats 3] [--device cpu] [--json]``. LeNet-5 trains on MNIST (the synthetic set without the files), a
colour network on 3×32×32 synthetic images. ``--json`` prints one ``RESULT {...}`` line per network.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from bench_trainer import default_dataset, load  # noqa: E402

from cnnplayground.core.builder import build  # noqa: E402
from cnnplayground.core.presets import get_preset  # noqa: E402
from cnnplayground.project import TrainingConfig  # noqa: E402
from cnnplayground.train.events import EpochFinished  # noqa: E402
from cnnplayground.train.health import HealthRecorder  # noqa: E402
from cnnplayground.train.setup import adapt_input  # noqa: E402
from cnnplayground.train.trainer import Trainer, resolve_device  # noqa: E402


def throughput(preset: str, data, config: TrainingConfig, record: bool) -> float:
    torch.manual_seed(0)
    model = build(adapt_input(get_preset(preset).factory(), data))
    epochs = [e for e in Trainer(model, data, config, record_health=record).run() if isinstance(e, EpochFinished)]
    return sum(e.seconds * e.images_per_second for e in epochs) / sum(e.seconds for e in epochs)


def per_step(preset: str, data, batch_size: int, repeats: int, device: torch.device) -> dict[str, float]:
    """Median (and minimum) seconds of a plain step, a sampled step and the epoch's bookkeeping, with and
    without the distributions, timed in interleaved rounds (see the docstring)."""
    torch.manual_seed(0)
    model = build(adapt_input(get_preset(preset).factory(), data)).to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = ((data.train.images[:batch_size].float() / 255 - 0.5) / 0.25).to(device)
    y = data.train.labels[:batch_size].to(device)

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()
    loss_fn = torch.nn.CrossEntropyLoss()
    recorders = {"": HealthRecorder(model), "_no_dist": HealthRecorder(model, distributions=False)}

    def step(recorder: HealthRecorder | None) -> float:
        t0 = time.perf_counter()
        with recorder.sampling() if recorder is not None else contextlib.nullcontext():
            loss = loss_fn(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if recorder is not None:
            recorder.after_backward()
        opt.step()
        sync()
        return time.perf_counter() - t0

    def bookkeeping(recorder: HealthRecorder) -> float:
        t0 = time.perf_counter()
        recorder.end_epoch()
        recorder.start_epoch()
        sync()
        return time.perf_counter() - t0

    for recorder in recorders.values():
        recorder.start_epoch()
    times: dict[str, list[float]] = {"plain_step_s": []}
    for suffix in recorders:
        times[f"sampled_step{suffix}_s"], times[f"bookkeeping{suffix}_s"] = [], []
    for round_ in range(3 + repeats):  # 3 warm-up rounds, then the timed ones
        timed = {"plain_step_s": step(None)}
        for suffix, recorder in recorders.items():  # each round: plain, then each kind's sampled step and epoch end
            timed[f"sampled_step{suffix}_s"] = step(recorder)
            timed[f"bookkeeping{suffix}_s"] = bookkeeping(recorder)
        if round_ >= 3:
            for key, value in timed.items():
                times[key].append(value)
    result = {key: statistics.median(values) for key, values in times.items()}
    result.update({f"min_{key}": min(values) for key, values in times.items()})
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="lenet5,resnet20_cifar")
    parser.add_argument("--train-size", type=int, default=6000)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=30, help="timed steps of each kind (per step)")
    parser.add_argument("--repeats", type=int, default=0, help="whole runs of each kind (end to end; 0: skip)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default); 1 keeps "
                        "a busy machine's scheduling out of the small operations' timings")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    for preset in args.model.split(","):
        dataset = default_dataset(preset)
        data = load(dataset, args.train_size)
        config = TrainingConfig(epochs=args.epochs, batch_size=args.batch_size, device=args.device,
                                checkpoint_every=0, restore_best=False)
        steps = -(-len(data.train) // args.batch_size)
        timing = per_step(preset, data, args.batch_size, args.steps, resolve_device(args.device))
        extra = timing["sampled_step_s"] - timing["plain_step_s"] + timing["bookkeeping_s"]
        extra_no_dist = timing["sampled_step_no_dist_s"] - timing["plain_step_s"] + timing["bookkeeping_no_dist_s"]
        mnist_steps = -(-60_000 // args.batch_size)
        result = {"bench": "health", "model": preset, "dataset": data.name, "images": len(data.train),
                  "device": args.device, "batch_size": args.batch_size, "steps_per_epoch": steps, **timing,
                  "extra_per_epoch_s": extra, "overhead": extra / (steps * timing["plain_step_s"]),
                  "overhead_60k": extra / (mnist_steps * timing["plain_step_s"]),
                  "overhead_no_dist": extra_no_dist / (steps * timing["plain_step_s"]),
                  "overhead_60k_no_dist": extra_no_dist / (mnist_steps * timing["plain_step_s"]),
                  "repeats": args.repeats, "threads": torch.get_num_threads()}
        if args.repeats:
            off, on = [], []
            for _ in range(args.repeats):  # alternate, so that drifts in machine load hit both alike
                off.append(throughput(preset, data, config, False))
                on.append(throughput(preset, data, config, True))
            result.update(off_ips=statistics.median(off), on_ips=statistics.median(on))
            result["end_to_end_overhead"] = 1.0 - result["on_ips"] / result["off_ips"]
        if args.json:
            print("RESULT " + json.dumps(result))
            continue
        print(f"{preset} on {data.name}, batch {args.batch_size}, {args.device} ({result['threads']} threads): "
              "plain step "
              f"{timing['plain_step_s'] * 1e3:.2f} ms, sampled step {timing['sampled_step_s'] * 1e3:.2f} ms, "
              f"epoch bookkeeping {timing['bookkeeping_s'] * 1e3:.2f} ms (medians of {args.steps} interleaved rounds) "
              f"→ overhead {result['overhead']:.2%} of an epoch of {steps} steps, {result['overhead_60k']:.3%} of a "
              "60,000-image epoch (target ≤ 3 %)")
        print(f"  without the distributions: sampled step {timing['sampled_step_no_dist_s'] * 1e3:.2f} ms, bookkeeping "
              f"{timing['bookkeeping_no_dist_s'] * 1e3:.2f} ms → {result['overhead_no_dist']:.2%}, "
              f"{result['overhead_60k_no_dist']:.3%} of a 60,000-image epoch")
        if args.repeats:
            print(f"  end to end, median of {args.repeats}: health off {result['off_ips']:,.0f} img/s, on "
                  f"{result['on_ips']:,.0f} img/s ({result['end_to_end_overhead']:+.1%})")


if __name__ == "__main__":
    main()

"""Time to a target accuracy: the trainer against a plain PyTorch loop, same network, recipe and data.

For each dataset, both train the same LeNet-5 (same initial weights) with the same recipe
(Adam, learning rate 2e-3 with a cosine decay over ``--epochs``, batch 128) on the same
training images, and evaluate the same validation split (10 % of the training set, seed 0)
after every epoch. The figure is the wall time from the start of training (the dataset is
loaded and the network built before the clock starts; the trainer's own set-up, the copy of
the images to the device and every validation pass are inside it) until the validation
accuracy first reaches the target, or "not reached" when ``--cap`` seconds or ``--epochs``
epochs pass first. Both loops draw the same epoch orders (a CPU generator seeded 0, as the
trainer's loader), so they follow the same trajectory up to rounding (the normalization is
computed differently) and reach the target at the same epoch: the time difference is overhead.

- **trainer**: ``cnnplayground.train.Trainer`` as the app runs it (step events at 20/s,
  pause/stop checks, metrics on the device), ``schedule="cosine"``;
- **plain loop**: pre-normalized images on the device, index slices of a random permutation,
  the same cosine schedule set per step, ``model.eval()`` + ``torch.no_grad()`` validation.

Targets: MNIST 99 % (skipped, with a note, when ``../shared/datasets`` has no MNIST) and the
synthetic set 95 %. Run: ``python benchmarks/bench_time_to_accuracy.py [--dataset mnist,synthetic]
[--device auto] [--cap 600] [--amp]``; ``--json`` adds ``RESULT {...}`` lines for ``run_all.py``.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import dataclasses
import json
import math
import platform
import sys
import time
from pathlib import Path

import torch
from torch import nn

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from cnnplayground.core.builder import build  # noqa: E402
from cnnplayground.core.presets import get_preset  # noqa: E402
from cnnplayground.data.registry import load_dataset  # noqa: E402
from cnnplayground.project import DatasetChoice, TrainingConfig  # noqa: E402
from cnnplayground.train.events import EpochFinished  # noqa: E402
from cnnplayground.train.setup import adapt_input  # noqa: E402
from cnnplayground.train.trainer import Trainer, resolve_device  # noqa: E402

SHARED = REPO.parent / "shared" / "datasets"
TARGETS = {"mnist": 0.99, "synthetic": 0.95}
LR, BATCH = 2e-3, 128


@dataclasses.dataclass
class Outcome:
    seconds: float | None  # None: not reached
    epochs: int
    best: float
    stopped_after: float


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def trainer_time(model, data, config: TrainingConfig, target: float, cap: float) -> Outcome:
    t0 = time.perf_counter()
    trainer = Trainer(model, data, config, step_event_every=None)
    best, epochs = 0.0, 0
    run = trainer.run()
    try:
        for event in run:
            if not isinstance(event, EpochFinished):
                continue
            epochs, best = event.epoch, max(best, event.val_accuracy or 0.0)
            elapsed = time.perf_counter() - t0
            if (event.val_accuracy or 0.0) >= target:
                return Outcome(elapsed, epochs, best, elapsed)
            if elapsed >= cap:
                break
    finally:
        run.close()
    return Outcome(None, epochs, best, time.perf_counter() - t0)


def plain_time(model, data, epochs: int, device, target: float, cap: float, amp: bool) -> Outcome:
    """The hand-written loop; the clock includes moving the images to the device."""
    t0 = time.perf_counter()
    mean = torch.tensor(data.mean, device=device).view(1, -1, 1, 1)
    std = torch.tensor(data.std, device=device).view(1, -1, 1, 1)
    x_all = (data.train.images.to(device).float() / 255 - mean) / std
    y_all = data.train.labels.to(device)
    x_val = (data.val.images.to(device).float() / 255 - mean) / std
    y_val = data.val.labels.to(device)
    model.to(device)
    fast = {"fused": True} if device.type == "cuda" else {"foreach": True}
    opt = torch.optim.Adam(model.parameters(), lr=LR, **fast)
    loss_fn = nn.CrossEntropyLoss()
    n = len(y_all)
    steps_per_epoch = math.ceil(n / BATCH)
    total = epochs * steps_per_epoch
    ctx = (lambda: torch.autocast(device.type, dtype=torch.bfloat16)) if amp else contextlib.nullcontext
    gen = torch.Generator().manual_seed(0)  # the trainer's order generator: same seed, on the CPU
    step, best = 0, 0.0
    for epoch in range(1, epochs + 1):
        model.train()
        order = torch.randperm(n, generator=gen).to(device)
        for i in range(0, n, BATCH):
            for group in opt.param_groups:
                group["lr"] = LR * 0.5 * (1 + math.cos(math.pi * min(step / total, 1.0)))
            idx = order[i : i + BATCH]
            with ctx():
                loss = loss_fn(model(x_all[idx]), y_all[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
        model.eval()
        correct = torch.zeros((), device=device, dtype=torch.int64)
        with torch.no_grad(), ctx():
            for i in range(0, len(y_val), 1000):
                correct += (model(x_val[i : i + 1000]).argmax(1) == y_val[i : i + 1000]).sum()
        accuracy = int(correct) / max(len(y_val), 1)
        best = max(best, accuracy)
        elapsed = time.perf_counter() - t0
        if accuracy >= target:
            return Outcome(elapsed, epoch, best, elapsed)
        if elapsed >= cap:
            break
    sync(device)
    return Outcome(None, epoch, best, time.perf_counter() - t0)


def run_dataset(name: str, args, device: torch.device) -> dict:
    target = args.target if args.target else TARGETS.get(name, 0.9)
    row = {"bench": "time_to_accuracy", "dataset": name, "target": target, "device": device.type,
           "cap_seconds": args.cap, "max_epochs": args.epochs}
    if name == "mnist" and not (SHARED / "MNIST" / "raw").is_dir():
        print(f"\n{name}: skipped, no MNIST files in {SHARED}")
        return {**row, "skipped": f"no MNIST files in {SHARED}"}
    synthetic = name.startswith("synthetic")
    options = {"train_size": args.train_size, "test_size": 0} if synthetic and args.train_size else {}
    data = load_dataset(DatasetChoice(name=name, root=None if synthetic else str(SHARED), options=options),
                        val_fraction=0.1, seed=0)
    if args.train_size and len(data.train) > args.train_size:  # a quick check: fewer validation images too
        n_val = min(len(data.val), max(args.train_size // 9, 100))
        data = dataclasses.replace(data, train=data.train.subset(torch.arange(args.train_size)),
                                   val=data.val.subset(torch.arange(n_val)))
    graph = adapt_input(get_preset("lenet5").factory(num_classes=data.num_classes,
                                                     in_channels=data.input_shape[0]), data)
    torch.manual_seed(0)
    reference = build(graph)
    amp = args.amp and device.type == "cuda"
    config = TrainingConfig(epochs=args.epochs, batch_size=BATCH, learning_rate=LR, schedule="cosine",
                            device=device.type, checkpoint_every=0, val_fraction=0.1, mixed_precision=amp)
    print(f"\nLeNet-5 on {name}: {len(data.train):,} train / {len(data.val):,} validation images, target "
          f"{target:.1%}, at most {args.epochs} epochs or {args.cap:g} s, {device.type.upper()}"
          f"{' bf16' if amp else ''}, {torch.get_num_threads()} threads")
    ours = trainer_time(copy.deepcopy(reference), data, config, target, args.cap)
    plain = plain_time(copy.deepcopy(reference), data, args.epochs, device, target, args.cap, amp)
    for label, out in (("trainer", ours), ("plain loop", plain)):
        when = f"{out.seconds:.1f} s (epoch {out.epochs})" if out.seconds is not None else (
            f"not reached (best {out.best:.2%} after {out.epochs} epochs, {out.stopped_after:.1f} s)")
        print(f"  {label:<11} {when}")
    return {**row, "train_images": len(data.train), "val_images": len(data.val), "amp": amp,
            "trainer_seconds": ours.seconds, "trainer_epochs": ours.epochs, "trainer_best": ours.best,
            "plain_seconds": plain.seconds, "plain_epochs": plain.epochs, "plain_best": plain.best}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", default="mnist,synthetic", help="datasets, separated by commas")
    ap.add_argument("--target", type=float, default=None, help="one target for every dataset (default: "
                    "MNIST 0.99, synthetic 0.95)")
    ap.add_argument("--epochs", type=int, default=12, help="most epochs (also the cosine schedule's length)")
    ap.add_argument("--cap", type=float, default=600.0, help="give up after this many seconds per loop")
    ap.add_argument("--train-size", type=int, default=0, help="the first N training images only (0: all)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--amp", action="store_true", help="bf16 autocast in both loops (CUDA only)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    device = resolve_device(args.device)
    print(f"# {platform.platform()}, torch {torch.__version__}, {device.type}, {torch.get_num_threads()} threads")
    for name in [n.strip() for n in args.dataset.split(",") if n.strip()]:
        result = run_dataset(name, args, device)
        if args.json:
            print("RESULT " + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

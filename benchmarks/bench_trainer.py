"""Trainer throughput side by side with a plain PyTorch loop and a DataLoader loop.

All three train the same network (same initial weights), on the same images,
with the same optimizer, batch size and device, in one run:

- **trainer**: ``cnnplayground.train.Trainer`` as the app runs it (events, control
  points, device-resident data, metrics on the device);
- **plain loop**: a hand-written loop over a pre-normalized device tensor, index
  slices of a random permutation: the best a user would write by hand;
- **DataLoader loop**: the tutorial way: a ``Dataset`` returning one
  ``ToTensor``/``Normalize``-transformed image at a time, ``torch.utils.data.DataLoader``
  (torchvision's MNIST class when the real files are there).

Run: ``python benchmarks/bench_trainer.py [--epochs 2] [--device auto] [--dataset mnist] [--model lenet5]``.
Prints a table of images/s and the ratios per network. Results are recorded in docs/PERFORMANCE.md.

- ``--model lenet5,vgg_small,resnet20_cifar``: several networks in one run. With ``--dataset auto``
  (the default) a one-channel network trains on MNIST (the synthetic set when the files are missing)
  and a colour network on 3×32×32 synthetic images (``synthetic-rgb``, CIFAR-size).
- ``--train-size N``: the first N images only (quick checks).
- ``--amp``: bf16 autocast in all three loops (CUDA; the trainer's ``mixed_precision``).
- ``--compile``: the trainer with ``compile=True`` (the other loops stay eager); the compilation
  time is printed apart and is not part of images/s.
- Also printed: FLOPs per image of a training step (``flops.py``), the trainer's achieved FLOP/s,
  and its share of the GPU's peak (dense bf16 datasheet figure, or ``--peak-tflops``).
- ``--json``: one ``RESULT {...}`` line per network, for ``benchmarks/run_all.py``.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import dataclasses
import json
import os
import platform
import statistics
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
from cnnplayground.train.events import Compiled, EpochFinished  # noqa: E402
from cnnplayground.train.setup import adapt_input  # noqa: E402
from cnnplayground.train.trainer import Trainer, resolve_device  # noqa: E402

sys.path.insert(0, str(REPO / "benchmarks"))
from flops import peak_tflops, training_flops_per_image  # noqa: E402

SHARED = REPO.parent / "shared" / "datasets"


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def autocast(device: torch.device, amp: bool):
    return torch.autocast(device.type, dtype=torch.bfloat16) if amp else contextlib.nullcontext()


def plain_loop(model, images_u8, labels, mean, std, batch, epochs, device, lr, amp=False) -> float:
    """Images/s of a hand-written loop on device-resident, pre-normalized data."""
    x_all = ((images_u8.to(device).float() / 255) - mean.to(device)) / std.to(device)
    y_all = labels.to(device)
    fast = {"fused": True} if device.type == "cuda" else {"foreach": True}
    opt = torch.optim.Adam(model.parameters(), lr=lr, **fast)
    loss_fn = nn.CrossEntropyLoss()
    n = len(y_all)
    model.train()
    sync(device)
    t0 = time.perf_counter()
    for _ in range(epochs):
        order = torch.randperm(n, device=device)
        for i in range(0, n, batch):
            idx = order[i : i + batch]
            with autocast(device, amp):
                loss = loss_fn(model(x_all[idx]), y_all[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    sync(device)
    return epochs * n / (time.perf_counter() - t0)


class _TutorialDataset(torch.utils.data.Dataset):
    """One image at a time, converted and normalized per sample, as tutorials do."""

    def __init__(self, images_u8, labels, mean, std) -> None:
        self.images, self.labels, self.mean, self.std = images_u8, labels, mean[0], std[0]

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i):
        x = self.images[i].float().div(255)  # ToTensor
        return (x - self.mean) / self.std, int(self.labels[i])  # Normalize


def dataloader_loop(model, dataset, batch, epochs, device, lr, workers, amp=False) -> float:
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch, shuffle=True, num_workers=workers,
                                         pin_memory=device.type == "cuda", persistent_workers=workers > 0)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    n = 0
    sync(device)
    t0 = time.perf_counter()
    for _ in range(epochs):
        for x, y in loader:
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            with autocast(device, amp):
                loss = loss_fn(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            n += len(y)
    sync(device)
    return n / (time.perf_counter() - t0)


def torchvision_mnist_dataset(mean, std):
    import torchvision
    from torchvision import transforms

    tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize(mean, std)])
    return torchvision.datasets.MNIST(str(SHARED), train=True, download=False, transform=tf)


def trainer_run(model, data, config, device) -> tuple[float, float | None]:
    """Images/s of the trainer, and the compilation time when ``config.compile`` (not in images/s)."""
    trainer = Trainer(model, data, config, device=device)
    events = list(trainer.run())
    epochs = [e for e in events if isinstance(e, EpochFinished)]
    compiled = next((e for e in events if isinstance(e, Compiled)), None)
    if compiled is not None and not compiled.compiled:
        print(f"  note: {compiled.message}")
    # Epoch time includes the validation pass; count training images only over training time.
    ips = sum(e.seconds * e.images_per_second for e in epochs) / sum(e.seconds for e in epochs)
    return ips, compiled.compile_seconds if compiled is not None and compiled.compiled else None


def default_dataset(preset: str) -> str:
    """MNIST (or the synthetic set without the files) for one-channel presets, synthetic RGB for colour ones."""
    if get_preset(preset).input_shape[0] == 3:
        return "synthetic-rgb"
    return "mnist" if (SHARED / "MNIST" / "raw").is_dir() else "synthetic"


def load(dataset: str, train_size: int):
    synthetic = dataset.startswith("synthetic")
    options = {"train_size": train_size, "test_size": 0} if synthetic and train_size else {}
    data = load_dataset(DatasetChoice(name=dataset, root=None if synthetic else str(SHARED), options=options),
                        val_fraction=0.0, seed=0)
    if train_size and len(data.train) > train_size:
        data = dataclasses.replace(data, train=data.train.subset(torch.arange(train_size)))
    return data


def bench_model(args, preset: str, dataset_name: str, device: torch.device) -> dict:
    """Plain loop, trainer and DataLoader loop on one network, interleaved rounds; prints a table."""
    data = load(dataset_name, args.train_size)
    graph = adapt_input(get_preset(preset).factory(num_classes=data.num_classes,
                                                   in_channels=data.input_shape[0]), data)
    torch.manual_seed(0)
    reference = build(graph)
    lr = 1e-3
    amp = args.amp and device.type == "cuda"
    mean = torch.tensor(data.mean).view(1, -1, 1, 1)
    std = torch.tensor(data.std).view(1, -1, 1, 1)
    config = TrainingConfig(epochs=args.epochs, batch_size=args.batch_size, learning_rate=lr, device=device.type,
                            checkpoint_every=0, val_fraction=0.0, mixed_precision=amp, compile=args.compile)

    print(f"\n{preset} on {data.name}: {len(data.train):,} images {data.input_shape}, batch {args.batch_size}, "
          f"{args.epochs} epochs, {device.type.upper()}{' bf16' if amp else ''}"
          f"{', trainer compiled' if args.compile else ''}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, {platform.processor() or platform.machine()}")
    # Warm-up (allocator, kernels) on a copy, not measured.
    plain_loop(copy.deepcopy(reference).to(device), data.train.images[:2048], data.train.labels[:2048], mean, std,
               args.batch_size, 1, device, lr, amp)
    if dataset_name == "mnist":
        dataset = torchvision_mnist_dataset(data.mean, data.std)
        if args.train_size:
            dataset = torch.utils.data.Subset(dataset, range(min(args.train_size, len(dataset))))
        label = "DataLoader (torchvision MNIST)"
    else:
        dataset = _TutorialDataset(data.train.images, data.train.labels, mean.view(-1, 1, 1), std.view(-1, 1, 1))
        label = "DataLoader (per-sample Dataset)"
    rounds: dict[str, list[float]] = {"plain loop": [], "trainer": [], label: []}
    ratios: list[float] = []
    compile_seconds: list[float] = []
    for _ in range(args.repeats):  # interleaved, so drifts in machine load hit all three alike
        plain = plain_loop(copy.deepcopy(reference).to(device), data.train.images, data.train.labels,
                           mean, std, args.batch_size, args.epochs, device, lr, amp)
        ours, compiling = trainer_run(copy.deepcopy(reference), data, config, device)
        if compiling is not None:
            compile_seconds.append(compiling)
        loader = dataloader_loop(copy.deepcopy(reference).to(device), dataset, args.batch_size, args.epochs,
                                 device, lr, args.workers, amp)
        rounds["plain loop"].append(plain)
        rounds["trainer"].append(ours)
        rounds[label].append(loader)
        ratios.append(ours / plain)
    results = {name: statistics.median(values) for name, values in rounds.items()}
    flops = training_flops_per_image(reference, data.input_shape)
    peak = peak_tflops(device, args.peak_tflops)
    achieved = flops * results["trainer"] / 1e12
    print(f"trainer / plain per round: {', '.join(f'{r:.2f}x' for r in ratios)}")
    base = results["plain loop"]
    print(f"median of {args.repeats} interleaved rounds")
    print(f"{'loop':<34}{'images/s':>12}{'vs plain':>10}")
    for name, ips in results.items():
        print(f"{name:<34}{ips:>12,.0f}{ips / base:>9.2f}x")
    print(f"trainer / DataLoader: {results['trainer'] / results[label]:.2f}x")
    if compile_seconds:
        print(f"torch.compile: {', '.join(f'{c:.1f}' for c in compile_seconds)} s per run (not in images/s)")
    share = f", {achieved / peak:.1%} of a {peak:g} TFLOP/s peak" if peak else " (no peak known: --peak-tflops)"
    print(f"training step: {flops / 1e6:,.1f} MFLOP per image; trainer achieves {achieved:.3f} TFLOP/s{share}")
    return {
        "bench": "trainer", "model": preset, "dataset": data.name, "images": len(data.train), "epochs": args.epochs,
        "batch_size": args.batch_size, "device": device.type, "amp": amp, "repeats": args.repeats,
        "threads": torch.get_num_threads(), "plain_ips": results["plain loop"], "trainer_ips": results["trainer"],
        "dataloader_ips": results[label], "dataloader": label, "ratios": ratios, "flops_per_image": flops,
        "achieved_tflops": achieved, "peak_tflops": peak, "utilisation": achieved / peak if peak else None,
        "compile": args.compile, "compile_seconds": compile_seconds,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", default="auto", help="auto (per network), mnist, synthetic, synthetic-rgb, ...")
    ap.add_argument("--model", "--preset", dest="preset", default="lenet5",
                    help="network preset, or several separated by commas")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--workers", type=int, default=0, help="DataLoader workers (0 = in-process, as on 2 cores)")
    ap.add_argument("--repeats", type=int, default=3, help="interleaved rounds; the median is reported")
    ap.add_argument("--train-size", type=int, default=0, help="train on the first N images only (0: all)")
    ap.add_argument("--amp", action="store_true", help="bf16 autocast in every loop (CUDA only)")
    ap.add_argument("--compile", action="store_true", help="the trainer with torch.compile (the loops stay eager)")
    ap.add_argument("--peak-tflops", type=float, default=None, help="peak for the utilisation (default: table)")
    ap.add_argument("--json", action="store_true", help="also print one 'RESULT {json}' line per network")
    args = ap.parse_args()

    device = resolve_device(args.device)
    if device.type == "cpu":
        # As the app trains: one core left free (on this 2-core machine, 1 thread), same for every loop.
        torch.set_num_threads(max(1, (os.cpu_count() or 2) - 1))
    for preset in [name.strip() for name in args.preset.split(",") if name.strip()]:
        dataset = default_dataset(preset) if args.dataset == "auto" else args.dataset
        result = bench_model(args, preset, dataset, device)
        if args.json:
            print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()

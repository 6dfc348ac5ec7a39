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

Run: ``python benchmarks/bench_trainer.py [--epochs 2] [--device auto] [--dataset mnist]``.
Prints a table of images/s and the ratios. Results are recorded in docs/PERFORMANCE.md.
"""

from __future__ import annotations

import argparse
import copy
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
from cnnplayground.train.config import DatasetChoice, TrainingConfig  # noqa: E402
from cnnplayground.train.events import EpochFinished  # noqa: E402
from cnnplayground.train.setup import adapt_input  # noqa: E402
from cnnplayground.train.trainer import Trainer, resolve_device  # noqa: E402

SHARED = REPO.parent / "shared" / "datasets"


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def plain_loop(model, images_u8, labels, mean, std, batch, epochs, device, lr) -> float:
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


def dataloader_loop(model, dataset, batch, epochs, device, lr, workers) -> float:
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


def trainer_run(model, data, config, device) -> float:
    trainer = Trainer(model, data, config, device=device)
    epochs = [e for e in trainer.run() if isinstance(e, EpochFinished)]
    # Epoch time includes the validation pass; count training images only over training time.
    return sum(e.seconds * e.images_per_second for e in epochs) / sum(e.seconds for e in epochs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", default="mnist" if (SHARED / "MNIST" / "raw").is_dir() else "synthetic")
    ap.add_argument("--preset", default="lenet5")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--workers", type=int, default=0, help="DataLoader workers (0 = in-process, as on 2 cores)")
    ap.add_argument("--repeats", type=int, default=3, help="interleaved rounds; the median is reported")
    args = ap.parse_args()

    device = resolve_device(args.device)
    if device.type == "cpu":
        # As the app trains: one core left free (on this 2-core machine, 1 thread), same for every loop.
        torch.set_num_threads(max(1, (os.cpu_count() or 2) - 1))
    root = str(SHARED) if args.dataset != "synthetic" else None
    data = load_dataset(DatasetChoice(name=args.dataset, root=root), val_fraction=0.0, seed=0)
    graph = adapt_input(get_preset(args.preset).factory(num_classes=data.num_classes,
                                                        in_channels=data.input_shape[0]), data)
    torch.manual_seed(0)
    reference = build(graph)
    lr = 1e-3
    mean = torch.tensor(data.mean).view(1, -1, 1, 1)
    std = torch.tensor(data.std).view(1, -1, 1, 1)
    config = TrainingConfig(epochs=args.epochs, batch_size=args.batch_size, learning_rate=lr, device=device.type,
                            checkpoint_every=0, val_fraction=0.0, mixed_precision=False)

    print(f"{args.preset} on {data.name}: {len(data.train):,} images {data.input_shape}, batch {args.batch_size}, "
          f"{args.epochs} epochs, {device.type.upper()}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{platform.processor() or platform.machine()}")
    # Warm-up (allocator, kernels) on a copy, not measured.
    plain_loop(copy.deepcopy(reference).to(device), data.train.images[:2048], data.train.labels[:2048], mean, std,
               args.batch_size, 1, device, lr)
    if args.dataset == "mnist":
        dataset = torchvision_mnist_dataset(data.mean, data.std)
        label = "DataLoader (torchvision MNIST)"
    else:
        dataset = _TutorialDataset(data.train.images, data.train.labels, mean.view(-1, 1, 1), std.view(-1, 1, 1))
        label = "DataLoader (per-sample Dataset)"
    rounds: dict[str, list[float]] = {"plain loop": [], "trainer": [], label: []}
    ratios: list[float] = []
    for _ in range(args.repeats):  # interleaved, so drifts in machine load hit all three alike
        plain = plain_loop(copy.deepcopy(reference).to(device), data.train.images, data.train.labels,
                           mean, std, args.batch_size, args.epochs, device, lr)
        ours = trainer_run(copy.deepcopy(reference), data, config, device)
        loader = dataloader_loop(copy.deepcopy(reference).to(device), dataset, args.batch_size, args.epochs,
                                 device, lr, args.workers)
        rounds["plain loop"].append(plain)
        rounds["trainer"].append(ours)
        rounds[label].append(loader)
        ratios.append(ours / plain)
    results = {name: statistics.median(values) for name, values in rounds.items()}
    print(f"trainer / plain per round: {', '.join(f'{r:.2f}x' for r in ratios)}")
    base = results["plain loop"]
    print(f"median of {args.repeats} interleaved rounds")
    print(f"{'loop':<34}{'images/s':>12}{'vs plain':>10}")
    for name, ips in results.items():
        print(f"{name:<34}{ips:>12,.0f}{ips / base:>9.2f}x")
    print(f"trainer / DataLoader: {results['trainer'] / results[label]:.2f}x")


if __name__ == "__main__":
    main()

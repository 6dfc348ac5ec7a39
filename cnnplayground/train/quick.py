"""A small, fast training loop for the command-line demo.

Data lives on the device as tensors and batches are index slices (no DataLoader,
no per-sample Python); metrics are summed on the device and read back once per
epoch. The loop is a generator of :class:`EpochResult`, so a caller can stop it
between epochs. The full trainer (events per step, pause/resume, checkpoints)
builds on the same pattern.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class EpochResult:
    epoch: int
    train_loss: float
    train_accuracy: float
    val_loss: float
    val_accuracy: float
    seconds: float
    images_per_second: float


def pick_device(name: str = "auto") -> torch.device:
    """``"auto"`` → CUDA when available, else CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def normalize_stats(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and std of ``(N, C, H, W)`` images, each shaped ``(1, C, 1, 1)``."""
    mean = images.mean(dim=(0, 2, 3), keepdim=True)
    std = images.std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-6)
    return mean, std


@torch.no_grad()
def evaluate(
    model: nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 1024
) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of ``model`` on already-normalized ``images``."""
    was_training = model.training
    model.eval()
    try:
        loss_sum = torch.zeros((), device=images.device)
        correct = torch.zeros((), device=images.device, dtype=torch.long)
        for i in range(0, len(images), batch_size):
            logits = model(images[i : i + batch_size])
            y = labels[i : i + batch_size]
            loss_sum += nn.functional.cross_entropy(logits, y, reduction="sum")
            correct += (logits.argmax(1) == y).sum()
        n = max(len(images), 1)
        return loss_sum.item() / n, correct.item() / n
    finally:
        model.train(was_training)


def fit(
    model: nn.Module,
    train: tuple[torch.Tensor, torch.Tensor],
    val: tuple[torch.Tensor, torch.Tensor],
    *,
    epochs: int = 3,
    batch_size: int = 128,
    learning_rate: float = 2e-3,
    device: torch.device | str = "cpu",
    seed: int = 0,
) -> Iterator[EpochResult]:
    """Train ``model`` with Adam on ``(images (N, C, H, W) in [0, 1], labels (N,))``.

    Yields one :class:`EpochResult` per epoch. Images are normalized with the
    training split's per-channel statistics.
    """
    device = torch.device(device)
    model.to(device)
    x_train, y_train = (t.to(device) for t in train)
    x_val, y_val = (t.to(device) for t in val)
    mean, std = normalize_stats(x_train)
    x_train = (x_train - mean) / std
    x_val = (x_val - mean) / std
    opt = torch.optim.Adam(model.parameters(), lr=learning_rate)
    gen = torch.Generator(device="cpu").manual_seed(seed)
    n = len(x_train)
    for epoch in range(1, epochs + 1):
        t0 = time.perf_counter()
        model.train()
        order = torch.randperm(n, generator=gen).to(device)
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), device=device, dtype=torch.long)
        for i in range(0, n, batch_size):
            idx = order[i : i + batch_size]
            x, y = x_train[idx], y_train[idx]
            logits = model(x)
            loss = nn.functional.cross_entropy(logits, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_sum += loss.detach() * len(idx)
            correct += (logits.detach().argmax(1) == y).sum()
        val_loss, val_acc = evaluate(model, x_val, y_val)
        seconds = time.perf_counter() - t0
        yield EpochResult(
            epoch=epoch,
            train_loss=loss_sum.item() / n,
            train_accuracy=correct.item() / n,
            val_loss=val_loss,
            val_accuracy=val_acc,
            seconds=seconds,
            images_per_second=n / seconds,
        )

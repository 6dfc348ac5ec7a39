"""Optimizers and learning-rate schedules.

Schedules are pure functions of the step (plus the plateau factor), so a
checkpoint only needs the step count to continue exactly.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from ..project import TrainingConfig
from .fastpath import optimizer_kernels

#: one-cycle: share of the run spent warming up, start and end divisors (as torch's OneCycleLR).
ONECYCLE_PCT = 0.3
ONECYCLE_DIV = 25.0
ONECYCLE_FINAL_DIV = 1e4


def make_optimizer(model: nn.Module, cfg: TrainingConfig, device: torch.device) -> torch.optim.Optimizer:
    """The configured optimizer; fused kernels on CUDA where PyTorch has them.

    One parameter group per learning-rate factor (:func:`param_groups`); weight decay applies to every group.
    """
    params = param_groups(model)
    fast = optimizer_kernels(cfg.optimizer, device.type)
    lr, wd = cfg.learning_rate, cfg.weight_decay
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=cfg.momentum, nesterov=cfg.nesterov and cfg.momentum > 0,
                               weight_decay=wd, **fast)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=wd, **fast)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=wd, **fast)
    return torch.optim.RMSprop(params, lr=lr, momentum=cfg.momentum, weight_decay=wd, foreach=True)


def lr_factor(cfg: TrainingConfig, step: int, steps_per_epoch: int, plateau_factor: float = 1.0) -> float:
    """Multiplier of the base learning rate for 0-based optimizer ``step``."""
    total = max(cfg.epochs * steps_per_epoch, 1)
    if cfg.schedule == "onecycle":
        up = max(int(ONECYCLE_PCT * total), 1)
        lo, end = 1 / ONECYCLE_DIV, 1 / (ONECYCLE_DIV * ONECYCLE_FINAL_DIV)
        if step < up:
            return _cos_between(lo, 1.0, step / up)
        return _cos_between(1.0, end, min((step - up) / max(total - up, 1), 1.0))
    warmup = int(round(cfg.warmup_epochs * steps_per_epoch))
    warm = min((step + 1) / warmup, 1.0) if warmup > 0 else 1.0
    if cfg.schedule == "step":
        base = cfg.step_gamma ** (step // steps_per_epoch // cfg.step_size)
    elif cfg.schedule == "cosine":
        t = (step - warmup) / max(total - warmup, 1)
        base = 0.5 * (1 + math.cos(math.pi * min(max(t, 0.0), 1.0)))
    elif cfg.schedule == "plateau":
        base = plateau_factor
    else:
        base = 1.0
    return warm * base


def _cos_between(start: float, end: float, t: float) -> float:
    return end + (start - end) * 0.5 * (1 + math.cos(math.pi * t))


def param_groups(model: nn.Module) -> list[dict[str, Any]]:
    """The parameters to optimize, one group per layer learning-rate factor (``"lr_scale"`` in each group).

    Factors come from a built network's ``lr_scales`` (node attribute ``lr_scale``; other modules: 1).
    Parameters without ``requires_grad`` (frozen layers, factor 0) are left out. The group of factor 1
    comes first; an empty list means there is nothing to train.
    """
    layers = getattr(model, "layers", None)
    scale_of: dict[int, float] = {}
    for nid, scale in (getattr(model, "lr_scales", None) or {}).items():
        if isinstance(layers, nn.ModuleDict) and nid in layers:
            scale_of.update({id(p): float(scale) for p in layers[nid].parameters()})
    groups: dict[float, list[nn.Parameter]] = {}
    for p in model.parameters():
        scale = scale_of.get(id(p), 1.0)
        if p.requires_grad and scale > 0:
            groups.setdefault(scale, []).append(p)
    ordered = sorted(groups.items(), key=lambda item: item[0] != 1.0)  # stable: factor 1 first
    return [{"params": params, "lr_scale": scale} for scale, params in ordered]


def set_learning_rate(opt: torch.optim.Optimizer, lr: float) -> None:
    """Set the schedule's rate ``lr``: each group gets ``lr`` times its ``lr_scale``."""
    for group in opt.param_groups:
        group["lr"] = lr * group.get("lr_scale", 1.0)


def base_learning_rate(opt: torch.optim.Optimizer) -> float:
    """The schedule's current rate (the first group's rate divided by its ``lr_scale``)."""
    group = opt.param_groups[0]
    return group["lr"] / group.get("lr_scale", 1.0)


def l1_penalty(model: nn.Module) -> torch.Tensor:
    """Sum of absolute weights of layers with weight matrices/kernels (biases and norms excluded)."""
    terms = [p.abs().sum() for p in model.parameters() if p.requires_grad and p.dim() > 1]
    if not terms:
        return torch.zeros(())
    return torch.stack(terms).sum()

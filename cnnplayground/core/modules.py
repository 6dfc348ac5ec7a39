"""Small ``torch.nn`` modules for graph operations that PyTorch lacks as modules."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


class Add(nn.Module):
    """Element-wise sum of all inputs (residual connections)."""

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        out = inputs[0]
        for x in inputs[1:]:
            out = out + x
        return out


class Multiply(nn.Module):
    """Element-wise product of all inputs, broadcasting ``(N, C, 1, 1)`` over ``(N, C, H, W)`` (channel gating)."""

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        out = inputs[0]
        for x in inputs[1:]:
            out = out * x
        return out


class Concat(nn.Module):
    """Concatenation of all inputs along ``dim`` (1 = channels for ``(N, C, H, W)``)."""

    def __init__(self, dim: int = 1) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return torch.cat(inputs, dim=self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class SamePadConv2d(nn.Conv2d):
    """``Conv2d`` with 'same' padding for an even effective kernel.

    PyTorch pads such kernels asymmetrically through a zero-padded copy and warns
    about it; padding explicitly gives the same result (the extra pixel at the
    bottom/right) without the warning. Weights and state-dict keys are those of
    ``nn.Conv2d``.
    """

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int, *, pad: tuple[int, int, int, int], **kwargs: Any
    ) -> None:
        # The rest (stride, dilation, groups, bias...) by keyword only: a positional one could clash with padding.
        super().__init__(in_channels, out_channels, kernel_size, padding=0, **kwargs)
        self.pad = pad  # (left, right, top, bottom), as torch.nn.functional.pad takes it

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(nn.functional.pad(x, self.pad))

    def extra_repr(self) -> str:
        return super().extra_repr() + f", padding='same' (explicit {self.pad})"

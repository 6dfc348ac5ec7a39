"""The convolution explorer's arithmetic: every step of a 1-D or 2-D convolution or pooling.

Each output value is one :class:`Step`: where the window sits, which input cells it
covers (``None`` for padding), the values there, the kernel weights, the products and
the result. Deep-learning "convolution" is cross-correlation (the kernel slides as
written); ``flip=True`` flips the kernel first, which is convolution as in signal
processing. Padding cells hold 0 for convolution and average pooling (counted, as in
PyTorch's default) and are ignored by max pooling.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import product
from typing import Literal

import numpy as np

from ..core.errors import UserError

Cell = tuple[int, ...]


@dataclass(frozen=True)
class Step:
    """One output value: ``output`` index, covered ``cells`` (input index or None = padding), values, result."""

    output: Cell
    cells: tuple[Cell | None, ...]
    values: tuple[float, ...]
    weights: tuple[float, ...]
    products: tuple[float, ...]
    result: float


class ExplorerError(UserError, ValueError):
    """The input, kernel or settings of a convolution or pooling cannot be stepped through."""


def output_size(n: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> int:
    """PyTorch's output length: ``floor((n + 2p - d (k - 1) - 1) / s) + 1`` (0 when the kernel does not fit)."""
    span = dilation * (kernel - 1) + 1
    return max(0, (n + 2 * padding - span) // stride + 1)


def _check(kernel: Sequence[int], stride: int, padding: int, dilation: int) -> None:
    if min(kernel) < 1 or stride < 1 or dilation < 1 or padding < 0:
        raise ExplorerError("kernel, stride and dilation must be at least 1 and padding at least 0")


def _slide(x: np.ndarray, kernel_shape: tuple[int, ...], stride: int, padding: int, dilation: int):
    """Yield (output index, covered cells) for every window position over ``x``."""
    sizes = [output_size(n, k, stride, padding, dilation) for n, k in zip(x.shape, kernel_shape)]
    for out in product(*(range(s) for s in sizes)):
        cells: list[Cell | None] = []
        for offset in product(*(range(k) for k in kernel_shape)):
            cell = tuple(o * stride - padding + dilation * j for o, j in zip(out, offset))
            inside = all(0 <= c < n for c, n in zip(cell, x.shape))
            cells.append(cell if inside else None)
        yield out, cells


def convolve(x: Sequence, kernel: Sequence, stride: int = 1, padding: int = 0, dilation: int = 1,
             flip: bool = False) -> tuple[np.ndarray, list[Step]]:
    """1-D or 2-D cross-correlation (``flip``: convolution) of ``x`` with ``kernel``: output and steps."""
    xa, ka = np.asarray(x, dtype=float), np.asarray(kernel, dtype=float)
    if xa.ndim not in (1, 2) or ka.ndim != xa.ndim:
        raise ExplorerError("input and kernel must both be 1-D or both 2-D")
    _check(ka.shape, stride, padding, dilation)
    if flip:
        ka = ka[(slice(None, None, -1),) * ka.ndim]
    weights = tuple(float(v) for v in ka.ravel())
    sizes = [output_size(n, k, stride, padding, dilation) for n, k in zip(xa.shape, ka.shape)]
    out = np.zeros(sizes)
    steps = []
    for index, cells in _slide(xa, ka.shape, stride, padding, dilation):
        values = tuple(float(xa[c]) if c is not None else 0.0 for c in cells)
        products = tuple(v * w for v, w in zip(values, weights))
        out[index] = sum(products)
        steps.append(Step(index, tuple(cells), values, weights, products, float(out[index])))
    return out, steps


def pool(x: Sequence, size: int | Sequence[int], stride: int | None = None, padding: int = 0,
         mode: Literal["max", "avg"] = "max") -> tuple[np.ndarray, list[Step]]:
    """1-D or 2-D max or average pooling (stride defaults to the size, as in PyTorch): output and steps."""
    xa = np.asarray(x, dtype=float)
    if xa.ndim not in (1, 2):
        raise ExplorerError("input must be 1-D or 2-D")
    shape = (size,) * xa.ndim if isinstance(size, int) else tuple(size)
    stride = stride or shape[0]
    _check(shape, stride, padding, 1)
    if padding * 2 > min(shape):
        raise ExplorerError("padding must be at most half the window (as in PyTorch)")
    count = int(np.prod(shape))
    sizes = [output_size(n, k, stride, padding) for n, k in zip(xa.shape, shape)]
    out = np.zeros(sizes)
    steps = []
    for index, cells in _slide(xa, shape, stride, padding, 1):
        values = tuple(float(xa[c]) if c is not None else (0.0 if mode == "avg" else -np.inf) for c in cells)
        if mode == "max":
            result = max(values)
            weights = tuple(1.0 if v == result else 0.0 for v in values)  # where the maximum came from
            products = tuple(v if w else 0.0 for v, w in zip(values, weights))
        else:
            result = sum(values) / count
            weights = (1.0 / count,) * count
            products = tuple(v / count for v in values)
        out[index] = result
        steps.append(Step(index, tuple(cells), values, weights, products, float(result)))
    return out, steps


#: The lecture's example: a 1-D input and kernel (valid cross-correlation gives 9 0 1 3 −5 −3 6).
EXAMPLE_1D = ((1, 4, -1, 0, 2, -2, 1, 3, 3, 1), (1, 2, 0, -1))
#: A small 2-D example: a vertical edge and a vertical-edge kernel.
EXAMPLE_2D = (
    ((0, 0, 0, 9, 9, 9),) * 6,
    ((1, 0, -1), (1, 0, -1), (1, 0, -1)),
)

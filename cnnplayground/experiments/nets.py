"""The networks of the experiment gallery, built as editable graphs (laid out for the canvas).

Each builder takes the input shape ``(C, H, W)`` and the class count, so the same
experiment runs on the synthetic shapes and on MNIST-size data alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..core.graph import Graph
from ..core.layout import layered_layout

Shape = tuple[int, int, int]


class _Chain:
    """Appends layers, each wired to the previous one (``last``)."""

    def __init__(self, shape: Shape) -> None:
        self.graph = Graph()
        c, h, w = shape
        self.graph.add_node("Input", {"channels": c, "height": h, "width": w}, id="input")
        self.last = "input"

    def add(self, node_id: str, kind: str, **params: Any) -> str:
        self.graph.add_node(kind, params, id=node_id)
        self.graph.connect(self.last, node_id)
        self.last = node_id
        return node_id

    def done(self) -> Graph:
        for nid, pos in layered_layout(self.graph).items():
            self.graph.move_node(nid, pos)
        return self.graph


def lenet(shape: Shape, classes: int, *, dropout: float | None = None, batch_norm: bool = False,
          width: float = 1.0) -> Graph:
    """LeNet-5 (6 and 16 5×5 filters, then 120-84-classes); ``dropout``: a Dropout after each hidden
    Linear's ReLU (p may be 0: a place to sweep); ``batch_norm`` after every conv;
    ``width`` scales every layer but the last."""
    chain = _Chain(shape)

    def n(base: int) -> int:
        return max(1, round(base * width))

    chain.add("conv1", "Conv2d", out_channels=n(6), kernel_size=5, padding=2)
    if batch_norm:
        chain.add("bn1", "BatchNorm2d")
    chain.add("relu1", "ReLU")
    chain.add("pool1", "MaxPool2d", kernel_size=2, stride=2)
    chain.add("conv2", "Conv2d", out_channels=n(16), kernel_size=5)
    if batch_norm:
        chain.add("bn2", "BatchNorm2d")
    chain.add("relu2", "ReLU")
    chain.add("pool2", "MaxPool2d", kernel_size=2, stride=2)
    chain.add("flatten", "Flatten")
    for i, size in enumerate((120, 84), 1):
        chain.add(f"fc{i}", "Linear", out_features=n(size))
        chain.add(f"relu_fc{i}", "ReLU")
        if dropout is not None:
            chain.add(f"drop{i}", "Dropout", p=dropout)
    chain.add("fc3", "Linear", out_features=classes)
    return chain.done()


def mlp(shape: Shape, classes: int, hidden: Sequence[int], *, dropout: float | None = None) -> Graph:
    """Flatten, then Linear+ReLU per hidden size (and a Dropout after each when ``dropout`` is given)."""
    chain = _Chain(shape)
    chain.add("flatten", "Flatten")
    for i, size in enumerate(hidden, 1):
        chain.add(f"fc{i}", "Linear", out_features=int(size))
        chain.add(f"relu{i}", "ReLU")
        if dropout is not None:
            chain.add(f"drop{i}", "Dropout", p=dropout)
    chain.add(f"fc{len(hidden) + 1}", "Linear", out_features=classes)
    return chain.done()


def conv_stack(shape: Shape, classes: int, widths: Sequence[int] = (16, 16, 32, 32, 64, 64), *,
               batch_norm: bool) -> Graph:
    """VGG-style 3×3 convolutions (``widths``; a 2×2 max-pool after every second one), then global
    average pooling and a Linear; ``batch_norm`` after every conv (which then has no bias)."""
    chain = _Chain(shape)
    for i, out in enumerate(widths, 1):
        chain.add(f"conv{i}", "Conv2d", out_channels=int(out), kernel_size=3, padding=1, bias=not batch_norm)
        if batch_norm:
            chain.add(f"bn{i}", "BatchNorm2d")
        chain.add(f"relu{i}", "ReLU")
        if i % 2 == 0:
            chain.add(f"pool{i // 2}", "MaxPool2d", kernel_size=2, stride=2)
    chain.add("avgpool", "AdaptiveAvgPool2d", output_size=1)
    chain.add("flatten", "Flatten")
    chain.add("fc", "Linear", out_features=classes)
    return chain.done()


def deep_net(shape: Shape, classes: int, depth: int, *, residual: bool, widths: Sequence[int] = (8, 16, 32)
             ) -> Graph:
    """He et al.'s CIFAR network of ``depth`` = 6n + 2 weighted layers: a 3×3 conv, three stages of n blocks
    of two 3×3 convs (each with BatchNorm; the first of stages 2 and 3 halves the size), global average
    pooling and a Linear. ``residual`` adds each block's input to its output (a strided 1×1 conv projects it
    where the shape changes); without it the same layers form a plain stack."""
    if depth < 8 or (depth - 2) % 6:
        raise ValueError(f"depth must be 6n + 2 (8, 14, 20, 32, ...), got {depth}")
    blocks = (depth - 2) // 6
    chain = _Chain(shape)
    chain.add("conv0", "Conv2d", out_channels=widths[0], kernel_size=3, padding=1, bias=False)
    chain.add("bn0", "BatchNorm2d")
    chain.add("relu0", "ReLU")
    channels = widths[0]
    for s, out in enumerate(widths, 1):
        for b in range(blocks):
            stride = 2 if s > 1 and b == 0 else 1
            name = f"s{s}b{b}"
            block_input = chain.last
            chain.add(f"{name}_conv1", "Conv2d", out_channels=out, kernel_size=3, stride=stride, padding=1,
                      bias=False)
            chain.add(f"{name}_bn1", "BatchNorm2d")
            chain.add(f"{name}_relu1", "ReLU")
            chain.add(f"{name}_conv2", "Conv2d", out_channels=out, kernel_size=3, padding=1, bias=False)
            chain.add(f"{name}_bn2", "BatchNorm2d")
            if residual:
                body = chain.last
                shortcut = block_input
                if stride != 1 or channels != out:
                    chain.last = block_input
                    chain.add(f"{name}_proj", "Conv2d", out_channels=out, kernel_size=1, stride=stride, bias=False)
                    shortcut = chain.add(f"{name}_proj_bn", "BatchNorm2d")
                chain.last = body
                chain.add(f"{name}_add", "Add")
                chain.graph.connect(shortcut, f"{name}_add")
            chain.add(f"{name}_relu2", "ReLU")
            channels = out
    chain.add("avgpool", "AdaptiveAvgPool2d", output_size=1)
    chain.add("flatten", "Flatten")
    chain.add("fc", "Linear", out_features=classes)
    return chain.done()

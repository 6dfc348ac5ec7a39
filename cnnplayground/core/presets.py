"""Ready-made networks from the literature, as graphs a user can open and edit.

Each preset is a function returning a :class:`~.graph.Graph` laid out by
:func:`~.layout.layered_layout` (top to bottom, wrapped into columns that fit the
canvas, shortcut branches beside the main path), with
readable node ids (``conv1``, ``pool1``, ``layer2_0_downsample_conv``...).
:data:`PRESETS` maps the command-line name of each preset to its :class:`Preset`
description. The ImageNet presets match torchvision's models layer for layer, so
their parameter counts are the published ones (tested).
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from .errors import UserError
from .graph import Graph
from .layout import layered_layout

#: Vertical distance between consecutive layers, and horizontal offset of a branch (canvas units).
ROW = 90.0
BRANCH = 220.0


class _Column:
    """Appends layers one below the other, each wired to the previous one (the cursor)."""

    def __init__(self, graph: Graph, last: str, x: float = 0.0) -> None:
        self.graph = graph
        self.last = last
        self.x = x
        self.y = graph.node(last).position[1]

    def add(self, node_id: str, kind: str, **params: Any) -> str:
        self.y += ROW
        self.graph.add_node(kind, params, id=node_id, position=(self.x, self.y))
        self.graph.connect(self.last, node_id)
        self.last = node_id
        return node_id


def _start(channels: int, height: int, width: int) -> _Column:
    graph = Graph()
    graph.add_node("Input", {"channels": channels, "height": height, "width": width}, id="input")
    return _Column(graph, "input")


def _conv_bn_relu(col: _Column, suffix: str, out: int) -> None:
    """A size-keeping 3×3 convolution (no bias: BatchNorm adds one), BatchNorm and ReLU."""
    col.add(f"conv{suffix}", "Conv2d", out_channels=out, kernel_size=3, padding=1, bias=False)
    col.add(f"bn{suffix}", "BatchNorm2d")
    col.add(f"relu{suffix}", "ReLU")


# --- LeNet, MLP, dilated stack -----------------------------------------------------------


def lenet5(num_classes: int = 10, in_channels: int = 1) -> Graph:
    """LeNet-5 for 28×28 digits: 6 and 16 5×5 filters, then 120-84-10 (61,706 parameters)."""
    col = _start(in_channels, 28, 28)
    col.add("conv1", "Conv2d", out_channels=6, kernel_size=5, padding=2)  # 6×28×28
    col.add("relu1", "ReLU")
    col.add("pool1", "MaxPool2d", kernel_size=2, stride=2)  # 6×14×14
    col.add("conv2", "Conv2d", out_channels=16, kernel_size=5)  # 16×10×10
    col.add("relu2", "ReLU")
    col.add("pool2", "MaxPool2d", kernel_size=2, stride=2)  # 16×5×5
    col.add("flatten", "Flatten")  # 400
    for i, width in enumerate((120, 84), 1):
        col.add(f"fc{i}", "Linear", out_features=width)
        col.add(f"relu{i + 2}", "ReLU")
    col.add("fc3", "Linear", out_features=num_classes)
    return col.graph


def mlp(num_classes: int = 10, in_channels: int = 1, hidden: Sequence[int] = (256, 128)) -> Graph:
    """A fully connected network on 28×28 images: Flatten, then Linear+ReLU per hidden size."""
    col = _start(in_channels, 28, 28)
    col.add("flatten", "Flatten")
    for i, width in enumerate(hidden, 1):
        col.add(f"fc{i}", "Linear", out_features=width)
        col.add(f"relu{i}", "ReLU")
    col.add(f"fc{len(hidden) + 1}", "Linear", out_features=num_classes)
    return col.graph


def dilated(num_classes: int = 10, in_channels: int = 1, channels: int = 16,
            dilations: Sequence[int] = (1, 2, 4)) -> Graph:
    """3×3 convolutions with growing dilation: receptive fields 3, 7, 15 with 3 layers."""
    col = _start(in_channels, 28, 28)
    for i, d in enumerate(dilations, 1):
        col.add(f"conv{i}", "Conv2d", out_channels=channels, kernel_size=3, padding="same", dilation=d)
        col.add(f"relu{i}", "ReLU")
    col.add("avgpool", "AdaptiveAvgPool2d", output_size=1)
    col.add("flatten", "Flatten")
    col.add("fc", "Linear", out_features=num_classes)
    return col.graph


# --- AlexNet and VGG ---------------------------------------------------------------------


def alexnet(num_classes: int = 1000, in_channels: int = 3) -> Graph:
    """AlexNet as in the 2012 paper, with its two-GPU channel groups (60,965,224 parameters)."""
    col = _start(in_channels, 227, 227)
    # alpha is the paper's 1e-4; PyTorch divides it by size, as Caffe's reference AlexNet does.
    lrn = {"size": 5, "alpha": 1e-4, "beta": 0.75, "k": 2.0}
    col.add("conv1", "Conv2d", out_channels=96, kernel_size=11, stride=4)  # 96×55×55
    col.add("relu1", "ReLU")
    col.add("norm1", "LocalResponseNorm", **lrn)
    col.add("pool1", "MaxPool2d", kernel_size=3, stride=2)  # 96×27×27
    col.add("conv2", "Conv2d", out_channels=256, kernel_size=5, padding=2, groups=2)  # 256×27×27
    col.add("relu2", "ReLU")
    col.add("norm2", "LocalResponseNorm", **lrn)
    col.add("pool2", "MaxPool2d", kernel_size=3, stride=2)  # 256×13×13
    for i, (out, groups) in enumerate(((384, 1), (384, 2), (256, 2)), 3):
        col.add(f"conv{i}", "Conv2d", out_channels=out, kernel_size=3, padding=1, groups=groups)
        col.add(f"relu{i}", "ReLU")
    col.add("pool5", "MaxPool2d", kernel_size=3, stride=2)  # 256×6×6
    col.add("flatten", "Flatten")
    for i in (6, 7):
        col.add(f"drop{i}", "Dropout", p=0.5)
        col.add(f"fc{i}", "Linear", out_features=4096)
        col.add(f"relu{i}", "ReLU")
    col.add("fc8", "Linear", out_features=num_classes)
    return col.graph


#: Convolution widths per stage (a 2×2 max pool follows each stage); Simonyan & Zisserman's table 1.
VGG11_STAGES = ((64,), (128,), (256, 256), (512, 512), (512, 512))
VGG16_STAGES = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))


def _vgg_features(col: _Column, stages: Sequence[Sequence[int]], *, batch_norm: bool) -> None:
    for s, widths in enumerate(stages, 1):
        for i, out in enumerate(widths, 1):
            if batch_norm:
                _conv_bn_relu(col, f"{s}_{i}", out)
            else:
                col.add(f"conv{s}_{i}", "Conv2d", out_channels=out, kernel_size=3, padding=1)
                col.add(f"relu{s}_{i}", "ReLU")
        col.add(f"pool{s}", "MaxPool2d", kernel_size=2, stride=2)


def _vgg_imagenet(stages: Sequence[Sequence[int]], num_classes: int, in_channels: int) -> Graph:
    col = _start(in_channels, 224, 224)
    _vgg_features(col, stages, batch_norm=False)
    col.add("avgpool", "AdaptiveAvgPool2d", output_size=7)  # as torchvision: any input size works
    col.add("flatten", "Flatten")
    for i in (6, 7):
        col.add(f"fc{i}", "Linear", out_features=4096)
        col.add(f"relu{i}", "ReLU")
        col.add(f"drop{i}", "Dropout", p=0.5)
    col.add("fc8", "Linear", out_features=num_classes)
    return col.graph


def vgg11(num_classes: int = 1000, in_channels: int = 3) -> Graph:
    """VGG-11 (configuration A), as torchvision's ``vgg11`` (132,863,336 parameters)."""
    return _vgg_imagenet(VGG11_STAGES, num_classes, in_channels)


def vgg16(num_classes: int = 1000, in_channels: int = 3) -> Graph:
    """VGG-16 (configuration D), as torchvision's ``vgg16`` (138,357,544 parameters)."""
    return _vgg_imagenet(VGG16_STAGES, num_classes, in_channels)


def vgg11_cifar(num_classes: int = 10, in_channels: int = 3, width: int = 64) -> Graph:
    """VGG-11 with BatchNorm for 32×32 images: five pools leave width·8 × 1 × 1, then one Linear.

    ``width`` is the first stage's channel count (64 as in the paper; 16 trains quickly on a CPU).
    """
    col = _start(in_channels, 32, 32)
    stages = [[width * m for m in stage] for stage in ((1,), (2,), (4, 4), (8, 8), (8, 8))]
    _vgg_features(col, stages, batch_norm=True)
    col.add("flatten", "Flatten")
    col.add("fc", "Linear", out_features=num_classes)
    return col.graph


def vgg_small(num_classes: int = 10, in_channels: int = 3, width: int = 32) -> Graph:
    """Three VGG stages of two 3×3 conv+BN+ReLU (width, 2·width, 4·width) for 32×32 images."""
    col = _start(in_channels, 32, 32)
    _vgg_features(col, [(width, width), (2 * width, 2 * width), (4 * width, 4 * width)], batch_norm=True)
    col.add("flatten", "Flatten")  # 4·width × 4 × 4
    col.add("drop1", "Dropout", p=0.5)
    col.add("fc1", "Linear", out_features=128)
    col.add("relu_fc1", "ReLU")
    col.add("fc2", "Linear", out_features=num_classes)
    return col.graph


# --- ResNets -----------------------------------------------------------------------------


def _basic_block(col: _Column, name: str, out: int, stride: int) -> None:
    """conv3×3-BN-ReLU-conv3×3-BN, plus the block input (projected when the shape changes), then ReLU."""
    graph, block_input = col.graph, col.last
    in_channels = _channels_of(graph, block_input)
    col.add(f"{name}_conv1", "Conv2d", out_channels=out, kernel_size=3, stride=stride, padding=1, bias=False)
    col.add(f"{name}_bn1", "BatchNorm2d")
    col.add(f"{name}_relu1", "ReLU")
    col.add(f"{name}_conv2", "Conv2d", out_channels=out, kernel_size=3, padding=1, bias=False)
    col.add(f"{name}_bn2", "BatchNorm2d")
    shortcut = block_input
    if stride != 1 or in_channels != out:
        side = _Column(graph, block_input, x=col.x + BRANCH)
        side.add(f"{name}_downsample_conv", "Conv2d", out_channels=out, kernel_size=1, stride=stride,
                 bias=False)
        shortcut = side.add(f"{name}_downsample_bn", "BatchNorm2d")
    add = col.add(f"{name}_add", "Add")
    graph.connect(shortcut, add)
    col.add(f"{name}_relu2", "ReLU")


def _channels_of(graph: Graph, node_id: str) -> int:
    """Output channels of a node inside a preset under construction (conv, BN, ReLU, Add, Input)."""
    node = graph.node(node_id)
    if node.kind == "Input":
        return int(node.params["channels"])
    if node.kind == "Conv2d":
        return int(node.params["out_channels"])
    return _channels_of(graph, graph.inputs_of(node_id)[0])


def _resnet_stages(col: _Column, widths: Sequence[int], blocks: int) -> None:
    for s, out in enumerate(widths, 1):
        for b in range(blocks):
            stride = 2 if s > 1 and b == 0 else 1
            _basic_block(col, f"layer{s}_{b}", out, stride)


def resnet18(num_classes: int = 1000, in_channels: int = 3) -> Graph:
    """ResNet-18, as torchvision's ``resnet18`` (11,689,512 parameters)."""
    col = _start(in_channels, 224, 224)
    col.add("conv1", "Conv2d", out_channels=64, kernel_size=7, stride=2, padding=3, bias=False)  # 64×112×112
    col.add("bn1", "BatchNorm2d")
    col.add("relu1", "ReLU")
    col.add("pool1", "MaxPool2d", kernel_size=3, stride=2, padding=1)  # 64×56×56
    _resnet_stages(col, (64, 128, 256, 512), blocks=2)  # 512×7×7
    col.add("avgpool", "AdaptiveAvgPool2d", output_size=1)
    col.add("flatten", "Flatten")
    col.add("fc", "Linear", out_features=num_classes)
    return col.graph


def resnet20_cifar(num_classes: int = 10, in_channels: int = 3, depth: int = 20) -> Graph:
    """He et al.'s CIFAR ResNet: 3 stages (16, 32, 64) of n = (depth - 2) / 6 basic blocks."""
    if depth < 8 or (depth - 2) % 6:
        raise ValueError(f"depth must be 6n + 2 with n >= 1 (8, 14, 20, 32, 44, 56, 110...), got {depth}")
    col = _start(in_channels, 32, 32)
    _conv_bn_relu(col, "1", 16)
    _resnet_stages(col, (16, 32, 64), blocks=(depth - 2) // 6)  # 64×8×8
    col.add("avgpool", "AdaptiveAvgPool2d", output_size=1)
    col.add("flatten", "Flatten")
    col.add("fc", "Linear", out_features=num_classes)
    return col.graph


# --- speedrun ---------------------------------------------------------------------------


def _residual(col: _Column, name: str, out: int) -> None:
    """Page's residual block: ``x + relu(bn(conv(relu(bn(conv(x))))))``, shape kept, no ReLU after the Add."""
    block_input = col.last
    for i in (1, 2):
        col.add(f"{name}_conv{i}", "Conv2d", out_channels=out, kernel_size=3, padding=1, bias=False)
        col.add(f"{name}_bn{i}", "BatchNorm2d")
        col.add(f"{name}_relu{i}", "ReLU")
    add = col.add(f"{name}_add", "Add")
    col.graph.connect(block_input, add)


def speedrun_cifar(num_classes: int = 10, in_channels: int = 3, stem: int = 32,
                   widths: Sequence[int] = (64, 256, 256)) -> Graph:
    """The fast CIFAR-10 network of Page's "How to train your ResNet" (2018), narrowed as in Jordan's airbench.

    A 3×3 conv-BN-ReLU stem, then three stages of conv3×3 → 2×2 max pool → BN → ReLU
    (``widths``), the first and last followed by a residual block of two conv-BN-ReLU;
    a global max pool (4×4 at 32×32 input; ``ceil_mode`` keeps it global at 28×28) and
    one Linear without bias. Page also scales the logits by 1/8; no layer kind multiplies
    by a constant, so the recommended settings are tuned without it.
    """
    col = _start(in_channels, 32, 32)
    _conv_bn_relu(col, "0", stem)  # stem: conv0, bn0, relu0
    for s, out in enumerate(widths, 1):
        col.add(f"conv{s}", "Conv2d", out_channels=out, kernel_size=3, padding=1, bias=False)
        col.add(f"pool{s}", "MaxPool2d", kernel_size=2, stride=2)
        col.add(f"bn{s}", "BatchNorm2d")
        col.add(f"relu{s}", "ReLU")
        if s in (1, len(widths)):
            _residual(col, f"res{s}", out)
    col.add("pool", "MaxPool2d", kernel_size=4, stride=4, ceil_mode=True)  # global max pool
    col.add("flatten", "Flatten")
    col.add("fc", "Linear", out_features=num_classes, bias=False)
    return col.graph


#: Training settings of the speedrun preset (``TrainingConfig`` and ``DatasetChoice`` fields as plain data: the
#: core imports no training code). After Page (2018) and Jordan's airbench (2024): SGD with Nesterov momentum,
#: batch 512, a one-cycle schedule, weight decay 5e-4, label smoothing 0.2, flips and 2-pixel translations,
#: 10 epochs, and test-time flip averaging. The peak rate is 0.2, not Page's 0.4: his logits are scaled by 1/8,
#: which shrinks every gradient; without the scale 0.2 did best of 0.05-0.4 on a narrow proxy (docs/PERFORMANCE.md).
SPEEDRUN_RECOMMENDED: dict[str, Any] = {
    "training": {
        "epochs": 10, "batch_size": 512, "optimizer": "sgd", "learning_rate": 0.2, "momentum": 0.9,
        "nesterov": True, "weight_decay": 5e-4, "schedule": "onecycle", "label_smoothing": 0.2,
        "augment": {"hflip": True, "crop_padding": 2}, "mixed_precision": True, "tta_flip": True,
        # 1,000 validation images for the curves; the rest (49,000) train. The recipes report the test set.
        "val_fraction": 0.02,
    },
    "dataset": {"name": "cifar10"},
}


# --- registry ----------------------------------------------------------------------------

#: Images in the synthetic set offered to the ImageNet-size presets: generating and holding 224×224
#: colour images costs about 150 kB each, and these networks train slowly on a CPU anyway.
LARGE_SYNTHETIC_IMAGES = {"train_size": 1000, "test_size": 200}


def dataset_for(input_shape: tuple[int, int, int]) -> dict[str, Any]:
    """A dataset choice (``DatasetChoice`` fields as plain data) whose images are ``input_shape``
    (C, H, W): the built-in synthetic shapes, grey or colour, at the network's size."""
    channels, height, width = input_shape
    if height != width:
        raise ValueError(f"the synthetic sets have square images, not {height}×{width}")
    name, size = ("synthetic", 28) if channels == 1 else ("synthetic-rgb", 32)
    options: dict[str, Any] = {}
    if channels not in (1, 3):
        raise ValueError(f"the synthetic sets have 1 or 3 channels, not {channels}")
    if height != size:
        options = {"size": height, **(LARGE_SYNTHETIC_IMAGES if height > 64 else {})}
    return {"name": name, **({"options": options} if options else {})}


@dataclass(frozen=True)
class Preset:
    """A named network: ``factory(**kwargs)`` returns a fresh graph for ``input_shape`` (C, H, W).

    ``recommended``: how to train it, or ``None``: ``{"training": {...}, "dataset": {...}}``,
    fields of ``train.config.TrainingConfig`` and ``DatasetChoice`` as plain JSON data
    (validate them there; :meth:`recommended_settings` hands out a copy). Without a
    ``"dataset"``, the preset comes with the synthetic set that fits its input (:func:`dataset_for`).
    """

    name: str
    title: str
    description: str
    factory: Callable[..., Graph]
    input_shape: tuple[int, int, int]
    recommended: Mapping[str, Any] | None = field(default=None, compare=False)

    def recommended_settings(self) -> dict[str, Any]:
        """A deep copy of :attr:`recommended`, safe to change, with the dataset that fits
        :attr:`input_shape` when it names none: ``{"dataset": {...}}`` at least."""
        settings = copy.deepcopy(dict(self.recommended)) if self.recommended else {}
        settings.setdefault("dataset", dataset_for(self.input_shape))
        return settings


def _laid_out(factory: Callable[..., Graph]) -> Callable[..., Graph]:
    """The same factory, with the graph drawn by the standard layered layout."""

    @functools.wraps(factory)
    def build(*args: Any, **kwargs: Any) -> Graph:
        graph = factory(*args, **kwargs)
        for nid, pos in layered_layout(graph).items():
            graph.move_node(nid, pos)
        return graph

    return build


class UnknownPresetError(UserError, KeyError):
    def __str__(self) -> str:  # KeyError quotes its message; we want plain text
        return str(self.args[0])


_ALL = (
    Preset("lenet5", "LeNet-5",
           "Two convolution + pooling stages and three fully connected layers for 28×28 digits "
           "(LeCun et al., 1998), with ReLU and max pooling as used today. 61,706 parameters.",
           _laid_out(lenet5), (1, 28, 28)),
    Preset("mlp", "Multilayer perceptron",
           "No convolutions: the image is flattened and fed to fully connected layers (256, 128, 10). "
           "Compare its parameter count and accuracy with LeNet-5 to see what convolutions buy.",
           _laid_out(mlp), (1, 28, 28)),
    Preset("dilated", "Dilated convolutions",
           "Three 3×3 convolutions with dilation 1, 2 and 4: the receptive field grows 3, 7, 15 "
           "without pooling or extra weights (Yu & Koltun, 2016, 'Multi-scale context aggregation "
           "by dilated convolutions').",
           _laid_out(dilated), (1, 28, 28)),
    Preset("alexnet", "AlexNet",
           "The ImageNet 2012 winner (Krizhevsky, Sutskever & Hinton, 2012): five convolutions with "
           "local response normalization and overlapping pooling, three dense layers with dropout. "
           "Channel groups of 2 reproduce its two-GPU split; 60,965,224 parameters.",
           _laid_out(alexnet), (3, 227, 227)),
    Preset("vgg11", "VGG-11",
           "Configuration A of Simonyan & Zisserman (2015), 'Very deep convolutional networks': only "
           "3×3 convolutions and 2×2 pooling. Identical to torchvision's vgg11.",
           _laid_out(vgg11), (3, 224, 224)),
    Preset("vgg16", "VGG-16",
           "Configuration D of Simonyan & Zisserman (2015): 13 convolutions of 3×3 in five stages, "
           "138,357,544 parameters. Identical to torchvision's vgg16.",
           _laid_out(vgg16), (3, 224, 224)),
    Preset("vgg11_cifar", "VGG-11 for CIFAR",
           "VGG-11's convolution stages (Simonyan & Zisserman, 2015) with BatchNorm (Ioffe & Szegedy, "
           "2015) for 32×32 colour images, ending in a single Linear layer over 10 classes.",
           _laid_out(vgg11_cifar), (3, 32, 32)),
    Preset("vgg_small", "Small VGG",
           "A small VGG-style network for 32×32 colour images: three stages of two 3×3 "
           "convolution + BatchNorm + ReLU layers and max pooling (after Simonyan & Zisserman, 2015); "
           "quick to train on a CPU.",
           _laid_out(vgg_small), (3, 32, 32)),
    Preset("resnet18", "ResNet-18",
           "He, Zhang, Ren & Sun (2016), 'Deep residual learning': eight basic blocks whose Add "
           "merges give each block a shortcut, 1×1 projections where the shape changes. Identical to "
           "torchvision's resnet18 (11,689,512 parameters).",
           _laid_out(resnet18), (3, 224, 224)),
    Preset("resnet20_cifar", "ResNet-20 for CIFAR",
           "He et al.'s (2016) CIFAR-10 ResNet: three stages of 16, 32 and 64 channels with three basic "
           "blocks each (depth 6n + 2), 1×1 projection shortcuts where the shape changes.",
           _laid_out(resnet20_cifar), (3, 32, 32)),
    Preset("speedrun_cifar", "CIFAR-10 speedrun ResNet",
           "The fast CIFAR-10 recipe of Page's 'How to train your ResNet' (2018) and Jordan's airbench (2024): "
           "a conv stem and three conv-pool-BN-ReLU stages (64, 256, 256 channels) with two residual blocks, "
           "global max pool, Linear. Comes with its training settings: SGD Nesterov, batch 512, one-cycle, "
           "label smoothing 0.2, flip and 2 px shift, 10 epochs, flip test-time augmentation. "
           "2,015,008 parameters.",
           _laid_out(speedrun_cifar), (3, 32, 32), MappingProxyType(SPEEDRUN_RECOMMENDED)),
)

#: Presets by command-line name, in the order a menu shows them.
PRESETS: dict[str, Preset] = {p.name: p for p in _ALL}


def get_preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise UnknownPresetError(f"unknown preset {name!r}; available: {', '.join(PRESETS)}") from None


def list_presets() -> list[Preset]:
    return list(PRESETS.values())

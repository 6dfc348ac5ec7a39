"""Declarations of every layer kind (see :mod:`.registry`).

Adding a layer kind means adding one class here; the palette, the property
editor, validation, summaries and code export pick it up from the registry.
"""

from __future__ import annotations

import math
from types import ModuleType
from typing import TYPE_CHECKING

from .params import ParamSet, ParamSpec, ParamValue
from .registry import ALWAYS, LayerKind, Params, code_args, register
from .shapes import ReceptiveField, Shape, ShapeError, format_shape, numel, require_spatial, union

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn

# Upper bounds keep a malicious or mistyped file from describing a network that
# cannot exist; they are far above anything a playground trains.
MAX_CHANNELS = 65_536
MAX_KERNEL = 1_024
MAX_SIDE = 16_384
MAX_FEATURES = 1_048_576


def _int(
    name: str, default: int, help: str, lo: int = 1, hi: int = MAX_KERNEL, key: bool = False, label: str = ""
) -> ParamSpec:
    return ParamSpec(name, "int", default, help, minimum=lo, maximum=hi, key=key, label=label)


def _float(
    name: str, default: float, help: str, lo: float | None = None, hi: float | None = None,
    key: bool = False, label: str = "",
) -> ParamSpec:
    return ParamSpec(name, "float", default, help, minimum=lo, maximum=hi, key=key, label=label)


def _bool(name: str, default: bool, help: str, key: bool = False) -> ParamSpec:
    return ParamSpec(name, "bool", default, help, key=key)


def _nn() -> ModuleType:
    """``torch.nn``, imported when a module is built (shape inference stays cheap to import)."""
    from torch import nn

    return nn


# ---------------------------------------------------------------------------------
# Sliding-window arithmetic shared by convolution and pooling.


def _padding_pair(padding: ParamValue, k_eff: int, stride: int) -> tuple[int, int]:
    """(before, after) padding along one axis, as PyTorch applies it: ``padding`` is pixels, "same" or "valid"."""
    if padding == "valid":
        return 0, 0
    if padding == "same":
        total = k_eff - 1
        # PyTorch pads the extra pixel of an even kernel at the end.
        return total // 2, total - total // 2
    return int(padding), int(padding)


def _window_out(
    kind: str, side: int, axis: str, k: int, s: int, d: int, pads: tuple[int, int], ceil_mode: bool = False
) -> int:
    """Output side of a sliding window, exactly as PyTorch computes it.

    PyTorch (``pooling_output_shape``; convolutions use the floor form):
    ``floor((padded - k_eff + (s - 1 if ceil_mode else 0)) / s) + 1``, and in
    ceil mode a last window that would start inside the right padding is
    dropped. With ``ceil_mode`` a window may hang over the end, so an input
    smaller than the kernel can still give one output (k2 s2 on a side of 1).
    Only a result below 1 is refused, as PyTorch does.
    """
    k_eff = d * (k - 1) + 1
    padded = side + pads[0] + pads[1]
    out = (padded - k_eff + (s - 1 if ceil_mode else 0)) // s + 1  # // floors, like PyTorch's div_rtn
    if ceil_mode and (out - 1) * s >= side + pads[0]:
        out -= 1
    if out < 1:
        # out < 1 implies padded < k_eff: the kernel does not fit even partly.
        what = f"kernel {k}" if d == 1 else f"dilated kernel {k_eff} (kernel {k}, dilation {d})"
        where = f"{side}" if pads == (0, 0) else f"{padded} (padded from {side})"
        raise ShapeError(f"{kind}: {what} is larger than the input {axis} {where}")
    return out


def _adaptive_window(size: int, out: int) -> int:
    """Largest window of adaptive pooling from ``size`` to ``out``, in O(1).

    Window ``i`` spans ``[floor(i·size/out), ceil((i+1)·size/out))``, i.e.
    ``floor((t + size - 1) / out) + 1`` pixels with ``t = i·size mod out``; the
    largest ``t`` is ``out - gcd(size, out)``. (A loop over the ``out`` windows
    made inference of a file full of 16384-wide adaptive pools take minutes.)
    """
    return (out - math.gcd(size, out) + size - 1) // out + 1


def _check_pool_padding(kind: str, padding: int, k: int) -> None:
    # PyTorch compares with the raw kernel (kernel_size // 2), dilation or not.
    if padding > k // 2:
        raise ShapeError(f"{kind}: padding {padding} must be at most half the kernel size {k} ({k // 2})")


def _spatial_out(
    kind: str, shape: Shape, k: int, s: int, d: int, padding: ParamValue, ceil_mode: bool = False
) -> tuple[int, int]:
    _, h, w = require_spatial(kind, shape, "remove the Flatten before it, or use Linear")
    k_eff = d * (k - 1) + 1
    pads = _padding_pair(padding, k_eff, s)
    ho = _window_out(kind, h, "height", k, s, d, pads, ceil_mode)
    wo = _window_out(kind, w, "width", k, s, d, pads, ceil_mode)
    return ho, wo


def _window_field(field: ReceptiveField, k: int, s: int, d: int, padding: ParamValue) -> ReceptiveField:
    before, _ = _padding_pair(padding, d * (k - 1) + 1, s)
    return field.through_kernel(k, s, d, (before, before))


# ---------------------------------------------------------------------------------
# Input


@register
class Input(LayerKind):
    name = "Input"
    category = "Input"
    summary = "The image batch fed to the network: channels × height × width (1 for grey, 3 for colour)."
    id_prefix = "input"
    min_inputs = 0
    max_inputs = 0
    params = ParamSet(
        (
            _int("channels", 1, "Colour channels: 1 for greyscale, 3 for RGB.", hi=4096, key=True),
            _int("height", 28, "Image height in pixels.", hi=MAX_SIDE, key=True),
            _int("width", 28, "Image width in pixels.", hi=MAX_SIDE, key=True),
        )
    )

    def output_shape(self, p: Params, inputs: list[Shape]) -> Shape:
        return (int(p["channels"]), int(p["height"]), int(p["width"]))

    def receptive_field(self, p: Params, inputs: list[Shape], fields: list[ReceptiveField]) -> ReceptiveField:
        return ReceptiveField.identity()

    def key_params_text(self, p: Params) -> str:
        return format_shape(self.output_shape(p, []))


# ---------------------------------------------------------------------------------
# Convolution


@register
class Conv2d(LayerKind):
    name = "Conv2d"
    category = "Convolution"
    summary = (
        "Slides learned k×k filters over the input; each filter makes one output channel. "
        "Stride skips positions, padding adds a border, dilation spreads the filter taps."
    )
    id_prefix = "conv"
    has_weights = True
    params = ParamSet(
        (
            _int("out_channels", 16, "Number of filters, i.e. output channels.", hi=MAX_CHANNELS, key=True,
                 label="filters"),
            _int("kernel_size", 3, "Side of each square filter, in pixels.", key=True, label="kernel"),
            _int("stride", 1, "Step between filter positions; 2 halves the output size.", key=True),
            ParamSpec("padding", "padding", 0,
                      "Zero border added on each side: pixels, 'same' (keep the size; stride 1 only) "
                      "or 'valid' (none).", minimum=0, maximum=MAX_KERNEL),
            _int("dilation", 1, "Spacing between filter taps; d>1 widens the view without more weights."),
            _int("groups", 1, "Split channels into groups convolved separately (AlexNet used 2).",
                 hi=MAX_CHANNELS),
            _bool("bias", True, "Add a learned constant per output channel (off before BatchNorm)."),
        )
    )

    def output_shape(self, p: Params, inputs: list[Shape]) -> Shape:
        c, _, _ = require_spatial(self.name, inputs[0], "remove the Flatten before it, or use Linear")
        g = int(p["groups"])
        if c % g:
            raise ShapeError(f"Conv2d: input channels {c} are not divisible by groups {g}")
        if int(p["out_channels"]) % g:
            raise ShapeError(f"Conv2d: filters {p['out_channels']} are not divisible by groups {g}")
        if p["padding"] == "same" and int(p["stride"]) != 1:
            raise ShapeError("Conv2d: padding 'same' needs stride 1; give the padding in pixels instead")
        ho, wo = _spatial_out(self.name, inputs[0], int(p["kernel_size"]), int(p["stride"]),
                              int(p["dilation"]), p["padding"])
        return (int(p["out_channels"]), ho, wo)

    def param_count(self, p: Params, inputs: list[Shape]) -> int:
        c = inputs[0][0]
        k = int(p["kernel_size"])
        out = int(p["out_channels"])
        return out * (c // int(p["groups"])) * k * k + (out if p["bias"] else 0)

    def receptive_field(self, p: Params, inputs: list[Shape], fields: list[ReceptiveField]) -> ReceptiveField:
        return _window_field(fields[0], int(p["kernel_size"]), int(p["stride"]), int(p["dilation"]),
                             p["padding"])

    def build(self, p: Params, inputs: list[Shape]) -> nn.Module:
        k, d = int(p["kernel_size"]), int(p["dilation"])
        args = (inputs[0][0], int(p["out_channels"]), k)
        kwargs = {"stride": int(p["stride"]), "dilation": d, "groups": int(p["groups"]), "bias": bool(p["bias"])}
        k_eff = d * (k - 1) + 1
        if p["padding"] == "same" and k_eff % 2 == 0:
            from .modules import SamePadConv2d

            before, after = _padding_pair("same", k_eff, 1)
            return SamePadConv2d(*args, pad=(before, after, before, after), **kwargs)
        return _nn().Conv2d(*args, padding=p["padding"], **kwargs)

    def key_params_text(self, p: Params) -> str:
        k = p["kernel_size"]
        text = f"{p['out_channels']} @ {k}×{k}"
        if p["stride"] != 1:
            text += f", s{p['stride']}"
        if p["padding"] not in (0, "valid"):
            text += f", p{p['padding']}" if not isinstance(p["padding"], str) else f", {p['padding']}"
        if p["dilation"] != 1:
            text += f", d{p['dilation']}"
        if p["groups"] != 1:
            text += f", g{p['groups']}"
        return text

    def code(self, p: Params, inputs: list[Shape]) -> tuple[str, list[str]]:
        k, d = int(p["kernel_size"]), int(p["dilation"])
        k_eff = d * (k - 1) + 1
        args = [f"in_channels={inputs[0][0]}", f"out_channels={int(p['out_channels'])}", f"kernel_size={k}"]
        same_even = p["padding"] == "same" and k_eff % 2 == 0
        args += code_args([("stride", int(p["stride"]), 1)] + ([] if same_even else [("padding", p["padding"], 0)]))
        args += code_args([("dilation", d, 1), ("groups", int(p["groups"]), 1), ("bias", bool(p["bias"]), True)])
        if same_even:
            before, after = _padding_pair("same", k_eff, 1)
            return "SamePadConv2d", [*args, f"pad=({before}, {after}, {before}, {after})"]
        return "nn.Conv2d", args


# ---------------------------------------------------------------------------------
# Pooling


class _Pool(LayerKind):
    category = "Pooling"
    id_prefix = "pool"

    def output_shape(self, p: Params, inputs: list[Shape]) -> Shape:
        c, _, _ = require_spatial(self.name, inputs[0], "pool before the Flatten")
        k, d = int(p["kernel_size"]), int(p.get("dilation", 1))
        _check_pool_padding(self.name, int(p["padding"]), k)
        ho, wo = _spatial_out(self.name, inputs[0], k, int(p["stride"]), d, int(p["padding"]),
                              bool(p["ceil_mode"]))
        return (c, ho, wo)

    def receptive_field(self, p: Params, inputs: list[Shape], fields: list[ReceptiveField]) -> ReceptiveField:
        return _window_field(fields[0], int(p["kernel_size"]), int(p["stride"]), int(p.get("dilation", 1)),
                             int(p["padding"]))

    def key_params_text(self, p: Params) -> str:
        k = p["kernel_size"]
        text = f"{k}×{k}, s{p['stride']}"
        if p["padding"]:
            text += f", p{p['padding']}"
        return text


_POOL_COMMON = (
    _int("kernel_size", 2, "Side of the pooling window.", key=True, label="kernel"),
    _int("stride", 2, "Step between windows (equal to the kernel: no overlap).", key=True),
    _int("padding", 0, "Border added on each side (at most half the kernel).", lo=0, hi=MAX_KERNEL),
)


@register
class MaxPool2d(_Pool):
    name = "MaxPool2d"
    summary = "Keeps the largest value in each window: shrinks the map and tolerates small shifts."
    params = ParamSet(
        _POOL_COMMON
        + (
            _int("dilation", 1, "Spacing between window taps."),
            _bool("ceil_mode", False, "Round the output size up instead of down."),
        )
    )

    def build(self, p: Params, inputs: list[Shape]) -> nn.Module:
        return _nn().MaxPool2d(int(p["kernel_size"]), stride=int(p["stride"]), padding=int(p["padding"]),
                               dilation=int(p["dilation"]), ceil_mode=bool(p["ceil_mode"]))

    def code(self, p: Params, inputs: list[Shape]) -> tuple[str, list[str]]:
        return "nn.MaxPool2d", [f"kernel_size={int(p['kernel_size'])}"] + code_args([
            ("stride", int(p["stride"]), ALWAYS), ("padding", int(p["padding"]), 0),
            ("dilation", int(p["dilation"]), 1), ("ceil_mode", bool(p["ceil_mode"]), False)])


@register
class AvgPool2d(_Pool):
    name = "AvgPool2d"
    summary = "Averages each window: shrinks the map smoothly (LeNet's 'subsampling')."
    params = ParamSet(_POOL_COMMON + (
        _bool("ceil_mode", False, "Round the output size up instead of down."),
        _bool("count_include_pad", True, "Count the zero border in each window's average (off: average the "
              "window's pixels of the map only; the same without padding)."),
    ))

    def build(self, p: Params, inputs: list[Shape]) -> nn.Module:
        return _nn().AvgPool2d(int(p["kernel_size"]), stride=int(p["stride"]), padding=int(p["padding"]),
                               ceil_mode=bool(p["ceil_mode"]), count_include_pad=bool(p["count_include_pad"]))

    def code(self, p: Params, inputs: list[Shape]) -> tuple[str, list[str]]:
        return "nn.AvgPool2d", [f"kernel_size={int(p['kernel_size'])}"] + code_args([
            ("stride", int(p["stride"]), ALWAYS), ("padding", int(p["padding"]), 0),
            ("ceil_mode", bool(p["ceil_mode"]), False), ("count_include_pad", bool(p["count_include_pad"]), True)])


@register
class AdaptiveAvgPool2d(_Pool):
    name = "AdaptiveAvgPool2d"
    summary = (
        "Averages down to a fixed output size whatever the input size; output size 1 is "
        "global average pooling (one number per channel)."
    )
    params = ParamSet(
        (_int("output_size", 1, "Side of the output map; 1 = global average pool.", hi=MAX_SIDE, key=True,
              label="output"),)
    )

    def output_shape(self, p: Params, inputs: list[Shape]) -> Shape:
        c, _, _ = require_spatial(self.name, inputs[0], "pool before the Flatten")
        o = int(p["output_size"])
        return (c, o, o)

    def receptive_field(self, p: Params, inputs: list[Shape], fields: list[ReceptiveField]) -> ReceptiveField:
        _, h, w = inputs[0]
        o = int(p["output_size"])
        f = fields[0]
        if o == 1:
            return f.over_whole_map(h, w)
        # Adaptive windows vary in size; report the largest window and the mean stride.
        kh = _adaptive_window(h, o)
        kw = _adaptive_window(w, o)
        sized = ReceptiveField(
            size=(math.ceil(f.size[0] + (kh - 1) * f.jump[0]), math.ceil(f.size[1] + (kw - 1) * f.jump[1])),
            jump=(f.jump[0] * h / o, f.jump[1] * w / o),
            start=(f.start[0] + (kh - 1) / 2 * f.jump[0], f.start[1] + (kw - 1) / 2 * f.jump[1]),
        )
        return sized

    def build(self, p: Params, inputs: list[Shape]) -> nn.Module:
        return _nn().AdaptiveAvgPool2d(int(p["output_size"]))

    def key_params_text(self, p: Params) -> str:
        o = p["output_size"]
        return "global" if o == 1 else f"→ {o}×{o}"

    def code(self, p: Params, inputs: list[Shape]) -> tuple[str, list[str]]:
        return "nn.AdaptiveAvgPool2d", [f"output_size={int(p['output_size'])}"]


# ---------------------------------------------------------------------------------
# Normalization


@register
class BatchNorm2d(LayerKind):
    name = "BatchNorm2d"
    category = "Normalization"
    summary = (
        "Normalizes each channel over the batch to zero mean and unit variance, then scales and "
        "shifts it; lets deep nets train faster with higher learning rates."
    )
    id_prefix = "bn"
    has_weights = True
    params = ParamSet(
        (
            _float("eps", 1e-5, "Added to the variance for numerical stability.", lo=0.0, hi=1.0),
            _float("momentum", 0.1, "Weight of the current batch in the running statistics.", lo=0.0, hi=1.0),
            _bool("affine", True, "Learn a scale and shift per channel."),
        )
    )

    def output_shape(self, p: Params, inputs: list[Shape]) -> Shape:
        require_spatial(self.name, inputs[0], "use it before the Flatten")
        return inputs[0]

    def param_count(self, p: Params, inputs: list[Shape]) -> int:
        return 2 * inputs[0][0] if p["affine"] else 0

    def build(self, p: Params, inputs: list[Shape]) -> nn.Module:
        return _nn().BatchNorm2d(inputs[0][0], eps=float(p["eps"]), momentum=float(p["momentum"]),
                                 affine=bool(p["affine"]))

    def key_params_text(self, p: Params) -> str:
        return ""

    def code(self, p: Params, inputs: list[Shape]) -> tuple[str, list[str]]:
        return "nn.BatchNorm2d", [f"num_features={inputs[0][0]}"] + code_args([
            ("eps", float(p["eps"]), 1e-5), ("momentum", float(p["momentum"]), 0.1),
            ("affine", bool(p["affine"]), True)])


@register
class LocalResponseNorm(LayerKind):
    name = "LocalResponseNorm"
    category = "Normalization"
    summary = (
        "AlexNet's 'NORM': divides each activation by the activity of neighbouring channels at the "
        "same position (lateral inhibition). PyTorch divides alpha by size."
    )
    id_prefix = "lrn"
    params = ParamSet(
        (
            _int("size", 5, "Number of neighbouring channels summed over.", hi=MAX_CHANNELS, key=True),
            _float("alpha", 1e-4, "Scale of the neighbourhood sum.", lo=0.0, hi=1e3),
            _float("beta", 0.75, "Exponent of the divisor.", lo=0.0, hi=1e3),
            _float("k", 2.0, "Additive constant of the divisor (AlexNet: 2).", lo=0.0, hi=1e3),
        )
    )

    def output_shape(self, p: Params, inputs: list[Shape]) -> Shape:
        require_spatial(self.name, inputs[0], "use it before the Flatten")
        return inputs[0]

    def build(self, p: Params, inputs: list[Shape]) -> nn.Module:
        return _nn().LocalResponseNorm(int(p["size"]), alpha=float(p["alpha"]), beta=float(p["beta"]),
                                       k=float(p["k"]))

    def code(self, p: Params, inputs: list[Shape]) -> tuple[str, list[str]]:
        return "nn.LocalResponseNorm", [f"size={int(p['size'])}"] + code_args([
            ("alpha", float(p["alpha"]), ALWAYS), ("beta", float(p["beta"]), ALWAYS), ("k", float(p["k"]), ALWAYS)])


# ---------------------------------------------------------------------------------
# Activations: element-wise, shape and field unchanged.


class _Activation(LayerKind):
    category = "Activation"
    torch_name: str = ""

    def output_shape(self, p: Params, inputs: list[Shape]) -> Shape:
        return inputs[0]

    def build(self, p: Params, inputs: list[Shape]) -> nn.Module:
        return getattr(_nn(), self.torch_name or self.name)(**{k: v for k, v in p.items()})

    def key_params_text(self, p: Params) -> str:
        return ""


@register
class ReLU(_Activation):
    name = "ReLU"
    summary = "max(0, x): the default non-linearity of modern CNNs; negative inputs give zero."
    id_prefix = "relu"


@register
class LeakyReLU(_Activation):
    name = "LeakyReLU"
    summary = "Like ReLU but lets a small slope through for negative inputs, so units never die completely."
    id_prefix = "lrelu"
    params = ParamSet((_float("negative_slope", 0.01, "Slope for negative inputs.", lo=0.0, hi=1e3, key=True,
                              label="slope"),))

    def code(self, p: Params, inputs: list[Shape]) -> tuple[str, list[str]]:
        return "nn.LeakyReLU", code_args([("negative_slope", float(p["negative_slope"]), ALWAYS)])


@register
class PReLU(_Activation):
    name = "PReLU"
    summary = "Leaky ReLU whose negative slope is learned (one per layer or one per channel)."
    id_prefix = "prelu"
    has_weights = True
    params = ParamSet(
        (
            _bool("per_channel", False, "Learn one slope per channel instead of one for the layer."),
            _float("init", 0.25, "Initial slope.", lo=-1e3, hi=1e3),
        )
    )

    def param_count(self, p: Params, inputs: list[Shape]) -> int:
        return inputs[0][0] if p["per_channel"] else 1

    def build(self, p: Params, inputs: list[Shape]) -> nn.Module:
        n = inputs[0][0] if p["per_channel"] else 1
        return _nn().PReLU(num_parameters=n, init=float(p["init"]))

    def code(self, p: Params, inputs: list[Shape]) -> tuple[str, list[str]]:
        n = inputs[0][0] if p["per_channel"] else 1
        return "nn.PReLU", code_args([("num_parameters", n, 1), ("init", float(p["init"]), 0.25)])


@register
class ELU(_Activation):
    name = "ELU"
    summary = "Exponential linear unit: smooth, negative outputs saturate at -alpha."
    id_prefix = "elu"
    params = ParamSet((_float("alpha", 1.0, "Value negative inputs saturate to (as -alpha).", lo=0.0, hi=1e3),))

    def code(self, p: Params, inputs: list[Shape]) -> tuple[str, list[str]]:
        return "nn.ELU", code_args([("alpha", float(p["alpha"]), 1.0)])


@register
class GELU(_Activation):
    name = "GELU"
    summary = "x·Φ(x): a smooth ReLU used by transformers and modern CNNs."
    id_prefix = "gelu"
    params = ParamSet((ParamSpec("approximate", "choice", "none", "Exact (none) or tanh approximation.",
                                 choices=("none", "tanh")),))

    def code(self, p: Params, inputs: list[Shape]) -> tuple[str, list[str]]:
        return "nn.GELU", code_args([("approximate", str(p["approximate"]), "none")])


@register
class SiLU(_Activation):
    name = "SiLU"
    summary = "x·sigmoid(x) (Swish): smooth and non-monotonic, used by EfficientNet."
    id_prefix = "silu"


@register
class ReLU6(_Activation):
    name = "ReLU6"
    summary = "min(max(0, x), 6): a ReLU capped at 6, robust in low precision (MobileNet)."
    id_prefix = "relu"


@register
class Hardswish(_Activation):
    name = "Hardswish"
    summary = "x·ReLU6(x + 3)/6: a cheap piecewise approximation of SiLU (MobileNetV3)."
    id_prefix = "hswish"


@register
class Hardsigmoid(_Activation):
    name = "Hardsigmoid"
    summary = "ReLU6(x + 3)/6: a cheap piecewise sigmoid, used to gate channels in MobileNetV3."
    id_prefix = "hsigmoid"


@register
class Sigmoid(_Activation):
    name = "Sigmoid"
    summary = "Squashes to (0, 1); saturates, so deep sigmoid nets learn slowly (vanishing gradients)."
    id_prefix = "sigmoid"


@register
class Tanh(_Activation):
    name = "Tanh"
    summary = "Squashes to (-1, 1); the classic LeNet non-linearity."
    id_prefix = "tanh"


# ---------------------------------------------------------------------------------
# Regularization


@register
class Dropout(LayerKind):
    name = "Dropout"
    category = "Regularization"
    summary = "During training, zeroes each value with probability p (and rescales the rest); off at test time."
    id_prefix = "drop"
    params = ParamSet((_float("p", 0.5, "Probability of zeroing a value.", lo=0.0, hi=1.0, key=True),))

    def output_shape(self, p: Params, inputs: list[Shape]) -> Shape:
        return inputs[0]

    def build(self, p: Params, inputs: list[Shape]) -> nn.Module:
        return _nn().Dropout(float(p["p"]))

    def code(self, p: Params, inputs: list[Shape]) -> tuple[str, list[str]]:
        return "nn.Dropout", code_args([("p", float(p["p"]), ALWAYS)])


@register
class Dropout2d(LayerKind):
    name = "Dropout2d"
    category = "Regularization"
    summary = "During training, zeroes whole channels with probability p; suits convolutional feature maps."
    id_prefix = "drop"
    params = ParamSet((_float("p", 0.5, "Probability of zeroing a channel.", lo=0.0, hi=1.0, key=True),))

    def output_shape(self, p: Params, inputs: list[Shape]) -> Shape:
        require_spatial(self.name, inputs[0], "use Dropout after the Flatten")
        return inputs[0]

    def build(self, p: Params, inputs: list[Shape]) -> nn.Module:
        return _nn().Dropout2d(float(p["p"]))

    def code(self, p: Params, inputs: list[Shape]) -> tuple[str, list[str]]:
        return "nn.Dropout2d", code_args([("p", float(p["p"]), ALWAYS)])


# ---------------------------------------------------------------------------------
# Dense


@register
class Flatten(LayerKind):
    name = "Flatten"
    category = "Dense"
    summary = "Unrolls a C×H×W feature map into one vector of C·H·W numbers, ready for Linear layers."
    id_prefix = "flatten"

    def output_shape(self, p: Params, inputs: list[Shape]) -> Shape:
        return (numel(inputs[0]),)

    def receptive_field(self, p: Params, inputs: list[Shape], fields: list[ReceptiveField]) -> ReceptiveField:
        if len(inputs[0]) == 3:
            return fields[0].over_whole_map(inputs[0][1], inputs[0][2]).as_flat()
        return fields[0]

    def build(self, p: Params, inputs: list[Shape]) -> nn.Module:
        return _nn().Flatten()


@register
class Linear(LayerKind):
    name = "Linear"
    category = "Dense"
    summary = "Fully connected: every output is a learned weighted sum of all inputs plus a bias."
    id_prefix = "fc"
    has_weights = True
    params = ParamSet(
        (
            _int("out_features", 10, "Number of outputs (the class count for the last layer).", hi=MAX_FEATURES,
                 key=True, label="outputs"),
            _bool("bias", True, "Add a learned constant per output."),
        )
    )

    def output_shape(self, p: Params, inputs: list[Shape]) -> Shape:
        shape = inputs[0]
        if len(shape) != 1:
            raise ShapeError(f"Linear expects a flat input, got {format_shape(shape)}: insert Flatten")
        return (int(p["out_features"]),)

    def param_count(self, p: Params, inputs: list[Shape]) -> int:
        n_in, n_out = inputs[0][0], int(p["out_features"])
        return n_in * n_out + (n_out if p["bias"] else 0)

    def receptive_field(self, p: Params, inputs: list[Shape], fields: list[ReceptiveField]) -> ReceptiveField:
        return fields[0].as_flat()

    def build(self, p: Params, inputs: list[Shape]) -> nn.Module:
        return _nn().Linear(inputs[0][0], int(p["out_features"]), bias=bool(p["bias"]))

    def key_params_text(self, p: Params) -> str:
        return f"{p['out_features']}"

    def code(self, p: Params, inputs: list[Shape]) -> tuple[str, list[str]]:
        return "nn.Linear", [f"in_features={inputs[0][0]}", f"out_features={int(p['out_features'])}"] + code_args(
            [("bias", bool(p["bias"]), True)])


# ---------------------------------------------------------------------------------
# Merges


class _Merge(LayerKind):
    category = "Merge"
    min_inputs = 2
    max_inputs = None

    def receptive_field(self, p: Params, inputs: list[Shape], fields: list[ReceptiveField]) -> ReceptiveField:
        return union(fields)

    def key_params_text(self, p: Params) -> str:
        return ""


@register
class Add(_Merge):
    name = "Add"
    summary = "Adds its inputs element-wise; with an identity branch this is a residual (ResNet) connection."
    id_prefix = "add"

    def output_shape(self, p: Params, inputs: list[Shape]) -> Shape:
        first = inputs[0]
        for other in inputs[1:]:
            if other != first:
                shapes = " and ".join(format_shape(s) for s in inputs)
                raise ShapeError(f"Add needs inputs of equal shape, got {shapes}")
        return first

    def build(self, p: Params, inputs: list[Shape]) -> nn.Module:
        from .modules import Add as AddModule

        return AddModule()


@register
class Concat(_Merge):
    name = "Concat"
    summary = "Stacks its inputs along the channel axis (Inception/DenseNet style); spatial sizes must match."
    id_prefix = "concat"

    def output_shape(self, p: Params, inputs: list[Shape]) -> Shape:
        ranks = {len(s) for s in inputs}
        if len(ranks) != 1:
            raise ShapeError("Concat cannot join a flat vector with a feature map: flatten both or neither")
        if len(inputs[0]) == 3:
            sizes = {s[1:] for s in inputs}
            if len(sizes) != 1:
                shapes = ", ".join(format_shape(s) for s in inputs)
                raise ShapeError(f"Concat needs equal height and width, got {shapes}")
            return (sum(s[0] for s in inputs), inputs[0][1], inputs[0][2])
        return (sum(s[0] for s in inputs),)

    def build(self, p: Params, inputs: list[Shape]) -> nn.Module:
        from .modules import Concat as ConcatModule

        return ConcatModule(dim=1)


@register
class Multiply(_Merge):
    name = "Multiply"
    summary = (
        "Multiplies its inputs element-wise; a C×1×1 input scales each channel of a C×H×W one "
        "(squeeze-and-excitation gating)."
    )
    id_prefix = "mul"

    def output_shape(self, p: Params, inputs: list[Shape]) -> Shape:
        ranks = {len(s) for s in inputs}
        shapes = " and ".join(format_shape(s) for s in inputs)
        if len(ranks) != 1:
            raise ShapeError(f"Multiply cannot join a flat vector with a feature map, got {shapes}")
        out = tuple(max(dims) for dims in zip(*inputs))
        for s in inputs:
            if any(d not in (1, o) for d, o in zip(s, out)):
                raise ShapeError(f"Multiply needs inputs of equal shape, or of size 1 where they differ, got {shapes}")
        return out

    def build(self, p: Params, inputs: list[Shape]) -> nn.Module:
        from .modules import Multiply as MultiplyModule

        return MultiplyModule()

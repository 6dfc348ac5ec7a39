"""One handler per ONNX operator: what each becomes in PyTorch (:data:`HANDLERS`, :data:`ONNX_OPERATORS`).

A handler takes the :class:`~.onnx_ops.Converter`, the ``NodeProto`` and its attributes (a dict,
strings decoded), emits a module or a functional call, and raises :class:`~.onnx_ops.Unsupported`
with a reason when the node, as written, has no exact PyTorch equivalent among the layer kinds
(there is no silent approximation). Defaults are ONNX's, which differ from PyTorch's: pools'
strides default to 1, ``count_include_pad`` to 0, and BatchNorm's momentum is 1 − PyTorch's.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from ..core.modules import SamePadConv2d
from .onnx_ops import Converter, Unsupported, _Blocked, _Value

__all__ = ["HANDLERS", "ONNX_OPERATORS"]

Handler = Callable[[Converter, Any, dict[str, Any]], None]
Array = np.ndarray[Any, Any]

#: Rows for the documentation: operator → what it becomes, with its conditions.
ONNX_OPERATORS: dict[str, str] = {
    "Conv": "nn.Conv2d (groups, strides, dilations, symmetric pads or auto_pad; asymmetric pads only as "
            "'same' padding at stride 1)",
    "BatchNormalization": "nn.BatchNorm2d (nn.BatchNorm1d after a Linear; inference form; momentum m → 1 − m)",
    "Relu": "nn.ReLU",
    "Clip": "nn.ReLU6 for [0, 6], nn.ReLU for [0, ∞)",
    "LeakyRelu": "nn.LeakyReLU(alpha)",
    "PRelu": "nn.PReLU (one slope, or one per channel)",
    "Sigmoid": "nn.Sigmoid",
    "HardSigmoid": "nn.Hardsigmoid (alpha 1/6, beta 1/2 only)",
    "HardSwish": "nn.Hardswish",
    "Tanh": "nn.Tanh",
    "Elu": "nn.ELU(alpha)",
    "Gelu": "nn.GELU (approximate none or tanh)",
    "MaxPool": "nn.MaxPool2d (ceil_mode, dilations, symmetric pads)",
    "AveragePool": "nn.AvgPool2d (ceil_mode, count_include_pad, symmetric pads; no dilations)",
    "GlobalAveragePool": "nn.AdaptiveAvgPool2d(1)",
    "ReduceMean": "nn.AdaptiveAvgPool2d(1) over axes 2, 3 (then torch.flatten(x, 1) when keepdims=0)",
    "Flatten": "torch.flatten(x, 1) (axis 1)",
    "Reshape": "torch.flatten(x, 1) for a constant target shape (N, -1) or (N, C·H·W); left out when it "
               "changes nothing",
    "Gemm": "nn.Linear (transB 0 or 1, alpha, beta; constant B and C)",
    "MatMul": "nn.Linear (constant weight); an Add of a constant vector right after it is its bias",
    "Add": "operator.add (x + y) of two computed tensors",
    "Mul": "operator.mul (x * y) of two computed tensors (squeeze-and-excitation)",
    "Concat": "torch.cat([...], 1) along the channel axis",
    "Dropout": "left out (inference)",
    "Identity": "left out",
    "Constant": "a constant input of the operators above (weights, shapes, bounds)",
    "Softmax": "left out when it is the network's output (the networks output logits); refused elsewhere",
    "LogSoftmax": "as Softmax",
}


def _decimal(value: Any) -> float:
    """An ONNX float attribute (a float32) as the shortest decimal of that float32: 0.001, not 0.0010000000474."""
    return float(str(np.float32(value)))


# --- convolution and pooling -------------------------------------------------------------------


def _pads(a: dict[str, Any], size: Sequence[int], kernel: Sequence[int], stride: Sequence[int],
          dilation: Sequence[int]) -> tuple[int, int, int, int]:
    """ONNX pads ``(top, left, bottom, right)`` from ``pads`` or ``auto_pad`` (which depends on the input size)."""
    auto = a.get("auto_pad", "NOTSET") or "NOTSET"
    if auto == "NOTSET":
        pads = [int(p) for p in a.get("pads", (0, 0, 0, 0))]
        if len(pads) != 4:
            raise Unsupported(f"pads {pads} are not those of a 2-D operator")
        return pads[0], pads[1], pads[2], pads[3]
    if auto == "VALID":
        return 0, 0, 0, 0
    if auto not in ("SAME_UPPER", "SAME_LOWER"):
        raise Unsupported(f"auto_pad {auto!r} is not an ONNX padding mode")
    begins, ends = [], []
    for n, k, s, d in zip(size, kernel, stride, dilation):
        total = max((math.ceil(n / s) - 1) * s + (k - 1) * d + 1 - n, 0)
        begin = total // 2 if auto == "SAME_UPPER" else total - total // 2
        begins.append(begin)
        ends.append(total - begin)
    return begins[0], begins[1], ends[0], ends[1]


def _torch_same(kernel: Sequence[int], dilation: Sequence[int]) -> tuple[int, int, int, int]:
    """PyTorch's ``padding='same'`` at stride 1 as ``(top, left, bottom, right)``: the extra pixel at the end."""
    totals = [d * (k - 1) for k, d in zip(kernel, dilation)]
    return totals[0] // 2, totals[1] // 2, totals[0] - totals[0] // 2, totals[1] - totals[1] // 2


def _asymmetric(pads: tuple[int, int, int, int]) -> Unsupported:
    top, left, bottom, right = pads
    return Unsupported(
        f"asymmetric padding (top {top}, left {left}, bottom {bottom}, right {right}) has no PyTorch layer equivalent"
    )


def _spatial(c: Converter, node: Any) -> _Value:
    x = c.tensor(node.input[0])
    assert x.meta is not None
    if x.meta.dim() != 4:
        raise Unsupported(f"its input has {x.meta.dim()} axes; only images (N, C, H, W) are supported")
    return x


def _pair(values: Any, name: str, default: tuple[int, int]) -> tuple[int, int]:
    pair = tuple(int(v) for v in (values if values is not None else default))
    if len(pair) != 2:
        raise Unsupported(f"{name} {list(pair)} are not those of a 2-D operator")
    return pair[0], pair[1]


def _conv(c: Converter, node: Any, a: dict[str, Any]) -> None:
    x = c.tensor(node.input[0])
    assert x.meta is not None
    weight = c.constant(node.input[1], "weight")
    bias_name = c.optional(node, 2)
    bias = c.constant(bias_name, "bias") if bias_name else None
    if weight.ndim != 4:
        raise Unsupported(f"a {weight.ndim - 2}-D convolution; only 2-D convolutions (images) have a layer kind")
    if x.meta.dim() != 4:
        raise Unsupported(f"its input has {x.meta.dim()} axes; only images (N, C, H, W) are supported")
    out_channels, per_group, kh, kw = (int(d) for d in weight.shape)
    groups = int(a.get("group", 1))
    in_channels = int(x.meta.shape[1])
    kernel = _pair(a.get("kernel_shape"), "kernel_shape", (kh, kw))
    if kernel != (kh, kw):
        raise Unsupported(f"kernel_shape {list(kernel)} does not match its weight's {kh}×{kw}")
    if groups < 1 or per_group * groups != in_channels or out_channels % groups:
        raise Unsupported(
            f"its weight {list(weight.shape)} in {groups} groups does not fit {in_channels} input channels"
        )
    stride = _pair(a.get("strides"), "strides", (1, 1))
    dilation = _pair(a.get("dilations"), "dilations", (1, 1))
    pads = _pads(a, x.meta.shape[2:], kernel, stride, dilation)
    weights = {"weight": weight} if bias is None else {"weight": weight, "bias": bias}
    options = {"stride": stride, "dilation": dilation, "groups": groups, "bias": bias is not None}
    factory: Callable[[], nn.Module]
    if pads[:2] == pads[2:]:
        def factory() -> nn.Module:
            return nn.Conv2d(in_channels, out_channels, kernel, padding=pads[:2], **options)  # type: ignore[arg-type]
    elif stride == (1, 1) and pads == _torch_same(kernel, dilation):
        top, left, bottom, right = pads

        def factory() -> nn.Module:
            return SamePadConv2d(in_channels, out_channels, kernel, pad=(left, right, top, bottom),  # type: ignore[arg-type]
                                 **options)
    else:
        raise _asymmetric(pads)
    c.call_module(node, factory, [x], weights, weight_name=node.input[1])


def _pool_geometry(x: _Value, a: dict[str, Any], dilated: bool) -> tuple[tuple[int, int], tuple[int, int],
                                                                         tuple[int, int], tuple[int, int]]:
    assert x.meta is not None
    if "kernel_shape" not in a:
        raise Unsupported("it has no kernel_shape")
    kernel = _pair(a["kernel_shape"], "kernel_shape", (1, 1))
    stride = _pair(a.get("strides"), "strides", (1, 1))
    dilation = _pair(a.get("dilations"), "dilations", (1, 1))
    if not dilated and dilation != (1, 1):
        raise Unsupported(f"dilations {list(dilation)}: PyTorch's average pooling has none")
    pads = _pads(a, x.meta.shape[2:], kernel, stride, dilation)
    if pads[:2] != pads[2:]:
        raise _asymmetric(pads)
    return kernel, stride, (pads[0], pads[1]), dilation


def _max_pool(c: Converter, node: Any, a: dict[str, Any]) -> None:
    x = _spatial(c, node)
    if len(node.output) > 1 and node.output[1]:
        raise Unsupported("its second output (the positions of the maxima) is used")
    kernel, stride, padding, dilation = _pool_geometry(x, a, dilated=True)
    ceil = bool(a.get("ceil_mode", 0))
    c.call_module(node, lambda: nn.MaxPool2d(kernel, stride, padding, dilation, ceil_mode=ceil), [x])


def _average_pool(c: Converter, node: Any, a: dict[str, Any]) -> None:
    x = _spatial(c, node)
    kernel, stride, padding, _ = _pool_geometry(x, a, dilated=False)
    ceil = bool(a.get("ceil_mode", 0))
    # Without padding both counts are the windows' own pixels (also at ceil_mode's clipped last window):
    # PyTorch's default then, the form the canvas's average pool has.
    include = bool(a.get("count_include_pad", 0)) or padding == (0, 0)
    c.call_module(node, lambda: nn.AvgPool2d(kernel, stride, padding, ceil_mode=ceil, count_include_pad=include), [x])


def _global_average_pool(c: Converter, node: Any, a: dict[str, Any]) -> None:
    x = _spatial(c, node)
    c.call_module(node, lambda: nn.AdaptiveAvgPool2d(1), [x])


def _reduce_mean(c: Converter, node: Any, a: dict[str, Any]) -> None:
    x = _spatial(c, node)
    axes_name = c.optional(node, 1)
    axes = a.get("axes") if c.opset < 18 else (c.constant(axes_name, "axes").tolist() if axes_name else None)
    if axes is None or sorted(int(v) % 4 for v in np.ravel(axes)) != [2, 3]:
        raise Unsupported(f"a mean over axes {axes}; only the mean over height and width (2, 3) has a layer kind")
    if a.get("keepdims", 1):
        c.call_module(node, lambda: nn.AdaptiveAvgPool2d(1), [x])
        return
    pooled = c.call_module(node, lambda: nn.AdaptiveAvgPool2d(1), [x], output=node.output[0] + "#pooled")
    c.call_function(node, torch.flatten, (pooled, 1))


# --- normalization and activations ---------------------------------------------------------------


def _batch_norm(c: Converter, node: Any, a: dict[str, Any]) -> None:
    x = c.tensor(node.input[0])
    assert x.meta is not None
    if a.get("training_mode", 0) or any(node.output[1:]):
        raise Unsupported("it is in training mode (it outputs its batch statistics)")
    names = ("scale", "bias", "mean", "variance")
    scale, bias, mean, var = (c.constant(node.input[i + 1], what) for i, what in enumerate(names))
    rank = x.meta.dim()
    if rank not in (2, 4):
        raise Unsupported(f"its input has {rank} axes; only (N, C, H, W), or (N, F) after a Linear, is supported")
    channels = int(x.meta.shape[1])
    for what, value in zip(names, (scale, bias, mean, var)):
        if value.size != channels:
            raise Unsupported(f"its {what} has {value.size} values for {channels} channels")
    eps = _decimal(a.get("epsilon", 1e-5))
    momentum = _decimal(1.0 - float(a.get("momentum", 0.9)))
    kind = nn.BatchNorm2d if rank == 4 else nn.BatchNorm1d
    weights = {"weight": scale, "bias": bias, "running_mean": mean, "running_var": var}
    c.call_module(node, lambda: kind(channels, eps=eps, momentum=momentum), [x], weights, weight_name=node.input[1])


def _activation(make: Callable[[dict[str, Any]], nn.Module]) -> Handler:
    def handler(c: Converter, node: Any, a: dict[str, Any]) -> None:
        x = c.tensor(node.input[0])
        module = make(a)  # checks the attributes before anything is emitted; rebuilt on meta below
        c.call_module(node, lambda: module, [x])

    return handler


def _hard_sigmoid(a: dict[str, Any]) -> nn.Module:
    alpha, beta = float(a.get("alpha", 0.2)), float(a.get("beta", 0.5))
    if not (math.isclose(alpha, 1 / 6, rel_tol=1e-6) and math.isclose(beta, 0.5, rel_tol=1e-6)):
        raise Unsupported(
            f"HardSigmoid with alpha {alpha:g}, beta {beta:g}: PyTorch's Hardsigmoid is alpha 1/6, beta 1/2"
        )
    return nn.Hardsigmoid()


def _gelu(a: dict[str, Any]) -> nn.Module:
    approximate = a.get("approximate", "none")
    if approximate not in ("none", "tanh"):
        raise Unsupported(f"approximate {approximate!r} is not an ONNX Gelu mode")
    return nn.GELU(approximate=approximate)


def _clip(c: Converter, node: Any, a: dict[str, Any]) -> None:
    x = c.tensor(node.input[0])
    if c.opset < 11:
        low, high = float(a.get("min", -math.inf)), float(a.get("max", math.inf))
    else:
        bounds = [c.optional(node, 1), c.optional(node, 2)]
        values = [float(np.ravel(c.constant(b, "bound"))[0]) if b else None for b in bounds]
        low = -math.inf if values[0] is None else values[0]
        high = math.inf if values[1] is None else values[1]
    module: nn.Module
    if low == 0 and high == 6:
        module = nn.ReLU6()
    elif low == 0 and high == math.inf:
        module = nn.ReLU()
    else:
        raise Unsupported(f"Clip to [{low:g}, {high:g}]: only [0, 6] (ReLU6) and [0, ∞) (ReLU) have a layer kind")
    c.call_module(node, lambda: module, [x])


def _prelu(c: Converter, node: Any, a: dict[str, Any]) -> None:
    x = c.tensor(node.input[0])
    assert x.meta is not None
    slope = c.constant(node.input[1], "slope")
    channels = int(x.meta.shape[1]) if x.meta.dim() > 1 else 1
    trailing = x.meta.dim() - 2  # the slope's axes after the channel axis, all of size 1
    shape = [int(d) for d in slope.shape]
    while shape and shape[0] == 1 and len(shape) > trailing + 1:
        shape.pop(0)
    if slope.size == 1:
        count = 1
    elif slope.size == channels and shape == [channels] + [1] * trailing:
        count = channels
    else:
        raise Unsupported(f"its slope of shape {list(slope.shape)} is neither one value nor one per channel")
    c.call_module(node, lambda: nn.PReLU(count), [x], {"weight": slope.reshape(-1)}, weight_name=node.input[1])


# --- shapes and linear layers ------------------------------------------------------------------------


def _flatten(c: Converter, node: Any, a: dict[str, Any]) -> None:
    x = c.tensor(node.input[0])
    assert x.meta is not None
    axis = int(a.get("axis", 1))
    if axis % max(x.meta.dim(), 1) != 1:
        raise Unsupported(f"Flatten at axis {axis}; only axis 1 (keep the batch) has a layer kind")
    c.call_function(node, torch.flatten, (x, 1))


def _reshape(c: Converter, node: Any, a: dict[str, Any]) -> None:
    x = c.tensor(node.input[0])
    assert x.meta is not None
    target = [int(v) for v in np.ravel(c.constant(node.input[1], "target shape"))]
    shape = [int(d) for d in x.meta.shape]
    batch_like = {-1, c.declared_batch} | (set() if a.get("allowzero", 0) else {0})
    rest = math.prod(shape[1:])
    if len(target) == len(shape) and target[0] in batch_like and target[1:] == shape[1:]:
        c.set(node.output[0], x)  # changes nothing
    elif len(target) == 2 and target[0] in batch_like and target[1] in (-1, rest) and target != [-1, -1]:
        c.call_function(node, torch.flatten, (x, 1))
    else:
        raise Unsupported(f"Reshape to {target}; only flattening each image, (N, -1), has a layer kind")


def _linear(c: Converter, node: Any, x: _Value, weight: Array, bias: Array | None, weight_name: str,
            output: str | None = None) -> None:
    """``nn.Linear`` with ``weight`` ``(out, in)`` and ``bias`` ``(out,)``."""
    assert x.meta is not None
    if x.meta.dim() != 2:
        raise Unsupported(f"its input has {x.meta.dim()} axes; a Linear layer takes (N, features): flatten first")
    out_features, in_features = (int(d) for d in weight.shape)
    if in_features != x.meta.shape[1]:
        raise Unsupported(f"its weight takes {in_features} features, its input has {x.meta.shape[1]}")
    weights = {"weight": weight} if bias is None else {"weight": weight, "bias": bias}
    c.call_module(node, lambda: nn.Linear(in_features, out_features, bias=bias is not None), [x], weights,
                  weight_name=weight_name, output=output)


def _vector(value: Array, size: int, what: str) -> Array:
    if value.size == 1:
        return np.full((size,), value.reshape(-1)[0], dtype=value.dtype)
    if value.size != size or max(value.shape, default=1) != size:
        raise Unsupported(f"its {what} of shape {list(value.shape)} is not one value per output feature ({size})")
    return value.reshape(-1)


def _gemm(c: Converter, node: Any, a: dict[str, Any]) -> None:
    x = c.tensor(node.input[0])
    if a.get("transA", 0):
        raise Unsupported("transA=1 (it multiplies by the transposed input)")
    b = c.constant(node.input[1], "weight")
    if b.ndim != 2:
        raise Unsupported(f"its weight has {b.ndim} axes")
    weight = (b if a.get("transB", 0) else b.T) * np.asarray(float(a.get("alpha", 1.0)), dtype=b.dtype)
    bias_name = c.optional(node, 2)
    bias = None
    if bias_name:
        bias = _vector(c.constant(bias_name, "bias"), weight.shape[0], "bias")
        bias = bias * np.asarray(float(a.get("beta", 1.0)), dtype=bias.dtype)
    _linear(c, node, x, weight, bias, node.input[1])


def _matmul(c: Converter, node: Any, a: dict[str, Any]) -> None:
    x = c.tensor(node.input[0])
    b = c.constant(node.input[1], "weight")
    if b.ndim != 2:
        raise Unsupported(f"its weight has {b.ndim} axes")
    weight = b.T
    users = c.consumers.get(node.output[0], [])
    if len(users) == 1 and users[0].op_type == "Add" and node.output[0] not in c.outputs:
        add = users[0]
        other = add.input[1] if add.input[0] == node.output[0] else add.input[0]
        known = c.values.get(other)
        if (known is not None and known.const is not None) or other in c.initializers:
            bias = _vector(c.constant(other, "bias"), weight.shape[0], "bias")
            c.fused.add(id(add))
            _linear(c, node, x, weight, bias, node.input[1], output=add.output[0])
            return
    _linear(c, node, x, weight, None, node.input[1])


# --- merges, pass-throughs, constants ----------------------------------------------------------------


def _binary(function: Callable[[Any, Any], Any], verb: str) -> Handler:
    def handler(c: Converter, node: Any, a: dict[str, Any]) -> None:
        for name in node.input[:2]:
            if name not in c.values and name not in c.initializers:
                raise _Blocked(name)
        for name in node.input[:2]:
            value = c.values.get(name)
            if (value is not None and value.node is None) or (value is None and name in c.initializers):
                raise Unsupported(f"it {verb} the constant {name!r}; only two computed tensors can be merged")
        left, right = c.tensor(node.input[0]), c.tensor(node.input[1])
        c.call_function(node, function, (left, right))

    return handler


def _concat(c: Converter, node: Any, a: dict[str, Any]) -> None:
    parts = [c.tensor(name) for name in node.input]
    rank = parts[0].meta.dim() if parts[0].meta is not None else 0
    axis = int(a.get("axis", 1))
    if rank < 2 or axis % rank != 1:
        raise Unsupported(f"Concat along axis {axis}; only the channel axis (1) has a layer kind")
    c.call_function(node, torch.cat, (parts, 1))


def _alias(c: Converter, node: Any) -> None:
    name = node.input[0]
    value = c.values.get(name)
    if value is None and name in c.initializers:
        c.constant(name, "input")
        value = c.values[name]
    if value is None:
        raise _Blocked(name)
    c.set(node.output[0], value)


def _dropout(c: Converter, node: Any, a: dict[str, Any]) -> None:
    if len(node.output) > 1 and node.output[1]:
        raise Unsupported("its mask output is used")
    mode = c.optional(node, 2)
    if mode and bool(np.ravel(c.constant(mode, "training mode"))[0]):
        raise Unsupported("it is in training mode")
    _alias(c, node)


def _identity(c: Converter, node: Any, a: dict[str, Any]) -> None:
    _alias(c, node)


def _constant(c: Converter, node: Any, a: dict[str, Any]) -> None:
    value: Array
    if "value" in a:
        value = c.array(a["value"])
    elif "value_float" in a or "value_int" in a:
        value = np.asarray(a.get("value_float", a.get("value_int")))
    elif "value_floats" in a or "value_ints" in a:
        value = np.asarray(a.get("value_floats", a.get("value_ints")))
    else:
        raise Unsupported(f"a constant of the form {', '.join(a) or 'nothing'}; only numbers are read")
    c.set(node.output[0], _Value(const=value))


def _softmax(c: Converter, node: Any, a: dict[str, Any]) -> None:
    x = c.tensor(node.input[0])
    assert x.meta is not None
    axis = int(a.get("axis", 1 if c.opset < 13 else -1))
    if node.output[0] not in c.outputs or x.meta.dim() != 2 or axis % 2 != 1:
        raise Unsupported(f"a {node.op_type} inside the network; only a final one over the classes "
                          "(left out: the networks output logits) is supported")
    c.notes.append(f"the final {node.op_type} ({node.name or 'unnamed'}) was left out: the network outputs logits")
    c.set(node.output[0], x)


HANDLERS: dict[str, Handler] = {
    "Conv": _conv,
    "BatchNormalization": _batch_norm,
    "Relu": _activation(lambda a: nn.ReLU()),
    "Clip": _clip,
    "LeakyRelu": _activation(lambda a: nn.LeakyReLU(_decimal(a.get("alpha", 0.01)))),
    "PRelu": _prelu,
    "Sigmoid": _activation(lambda a: nn.Sigmoid()),
    "HardSigmoid": _activation(_hard_sigmoid),
    "HardSwish": _activation(lambda a: nn.Hardswish()),
    "Tanh": _activation(lambda a: nn.Tanh()),
    "Elu": _activation(lambda a: nn.ELU(_decimal(a.get("alpha", 1.0)))),
    "Gelu": _activation(_gelu),
    "MaxPool": _max_pool,
    "AveragePool": _average_pool,
    "GlobalAveragePool": _global_average_pool,
    "ReduceMean": _reduce_mean,
    "Flatten": _flatten,
    "Reshape": _reshape,
    "Gemm": _gemm,
    "MatMul": _matmul,
    "Add": _binary(operator.add, "adds"),
    "Mul": _binary(operator.mul, "multiplies by"),
    "Concat": _concat,
    "Dropout": _dropout,
    "Identity": _identity,
    "Constant": _constant,
    "Softmax": _softmax,
    "LogSoftmax": _softmax,
}

"""ONNX files as PyTorch modules (``io/onnx_import.py``): the same logits as the network that was exported.

Real exports: the LeNet-5 preset built by the app and written by the app's own ONNX export, and
torchvision's resnet18, mobilenet_v2 (ReLU6 as Clip, depthwise convolutions) and squeezenet1_0
(Concat, ceil-mode pooling) written by ``torch.onnx.export`` — logits within 1e-5 of the original in
eval mode, parameter counts equal where the exporter keeps BatchNorm. Each operator is also checked
alone against onnxruntime on a tiny hand-made graph (the ONNX semantics, including defaults that
differ from PyTorch's), and every way a node can be refused is listed with its operator, name and
reason.
"""

from __future__ import annotations

import io
import operator
import warnings
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn

from cnnplayground.core.builder import build
from cnnplayground.core.presets import lenet5
from cnnplayground.io.onnx_import import OnnxImportError, load_onnx

TOLERANCE = 1e-5


def _torch_export(module: nn.Module, shape: tuple[int, ...], path: Path, keep_batch_norm: bool) -> Path:
    """``torch.onnx.export`` (TorchScript exporter, opset 17, dynamic batch); BatchNorm kept or folded."""
    mode = torch.onnx.TrainingMode.PRESERVE if keep_batch_norm else torch.onnx.TrainingMode.EVAL
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(module, (torch.zeros(1, *shape),), buffer, dynamo=False, training=mode,
                          input_names=["input"], output_names=["logits"], dynamic_axes={"input": {0: "batch"}},
                          opset_version=17)
    path.write_bytes(buffer.getvalue())
    return path


def _max_difference(imported: nn.Module, original: nn.Module, x: torch.Tensor) -> float:
    with torch.no_grad():
        return float((imported(x) - original(x)).abs().max())


def _parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# --- real networks --------------------------------------------------------------------------------


def test_the_lenet5_preset_built_by_the_app_imports_with_equal_logits(tmp_path):
    network = build(lenet5()).eval()
    path = _torch_export(network, (1, 28, 28), tmp_path / "lenet5.onnx", keep_batch_norm=True)
    module, shape = load_onnx(path)
    assert shape == (1, 28, 28)
    assert isinstance(module, torch.fx.GraphModule) and not module.training
    assert _parameters(module) == _parameters(network) == 61_706
    x = torch.randn(5, 1, 28, 28)  # another batch size than the export's example: the batch stays free
    assert _max_difference(module, network, x) <= TOLERANCE
    # The modules are named after the preset's node ids (the file's weights are layers.<id>.weight).
    modules = dict(module.named_children())
    assert list(modules) == [n for n in lenet5().nodes if n not in ("input", "flatten")]
    assert isinstance(modules["conv2"], nn.Conv2d) and isinstance(modules["fc3"], nn.Linear)


@pytest.mark.slow
def test_torchvision_resnet18_imports_with_equal_logits_names_and_parameter_count(tmp_path):
    import torchvision

    original = torchvision.models.resnet18().eval()
    path = _torch_export(original, (3, 64, 64), tmp_path / "resnet18.onnx", keep_batch_norm=True)
    module, shape = load_onnx(path)
    assert shape == (3, 64, 64)
    assert _max_difference(module, original, torch.randn(2, 3, 64, 64)) <= TOLERANCE
    assert _parameters(module) == _parameters(original) == 11_689_512
    names = dict(module.named_modules())
    # The file's node names (/layer1/layer1.0/conv1/Conv) give the original attribute names back.
    assert isinstance(names["layer1.0.conv1"], nn.Conv2d) and isinstance(names["layer1.0.bn1"], nn.BatchNorm2d)
    assert isinstance(names["layer2.0.downsample.0"], nn.Conv2d) and isinstance(names["fc"], nn.Linear)
    functions = {n.target for n in module.graph.nodes if n.op == "call_function"}
    assert functions == {operator.add, torch.flatten}
    # Weights and BatchNorm statistics are the original's, not merely the same outputs.
    assert torch.equal(names["layer3.1.bn2"].running_var, original.layer3[1].bn2.running_var)


@pytest.mark.slow
def test_torchvision_mobilenet_v2_imports_relu6_and_depthwise_convolutions(tmp_path):
    import torchvision

    original = torchvision.models.mobilenet_v2().eval()
    path = _torch_export(original, (3, 64, 64), tmp_path / "mobilenet_v2.onnx", keep_batch_norm=True)
    module, _ = load_onnx(path)
    assert _max_difference(module, original, torch.randn(2, 3, 64, 64)) <= TOLERANCE
    assert _parameters(module) == _parameters(original)
    leaves = [m for m in module.modules() if not list(m.children())]
    assert sum(isinstance(m, nn.ReLU6) for m in leaves) == 35
    assert sum(isinstance(m, nn.Conv2d) and m.groups == m.in_channels > 1 for m in leaves) == 17


@pytest.mark.slow
def test_torchvision_squeezenet_imports_concat_and_ceil_mode_pooling(tmp_path):
    import torchvision

    original = torchvision.models.squeezenet1_0().eval()
    # 67 pixels: odd map sides, where ceil_mode changes the pooled size (and so the logits).
    path = _torch_export(original, (3, 67, 67), tmp_path / "squeezenet.onnx", keep_batch_norm=False)
    module, _ = load_onnx(path)
    assert _max_difference(module, original, torch.randn(2, 3, 67, 67)) <= TOLERANCE
    pools = [m for m in module.modules() if isinstance(m, nn.MaxPool2d)]
    assert len(pools) == 3 and all(p.ceil_mode for p in pools)
    assert sum(n.target is torch.cat for n in module.graph.nodes) == 8


# --- each operator against onnxruntime -----------------------------------------------------------


def _tensor(name: str, array: np.ndarray) -> TensorProto:
    return numpy_helper.from_array(np.asarray(array), name)


def _model(nodes, initializers=(), shape=(2, 4, 9, 9), opset=17, output="y") -> onnx.ModelProto:
    graph = helper.make_graph(
        nodes, "case", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", *shape[1:]])],
        [helper.make_tensor_value_info(output, TensorProto.FLOAT, None)], list(initializers),
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=8 if opset < 19 else 9)


def _random(*shape: int, positive: bool = False) -> np.ndarray:
    values = np.random.default_rng(sum(shape)).standard_normal(shape).astype(np.float32)
    return np.abs(values) + 0.5 if positive else values


def _conv(name, x, out, w_shape, **attrs):
    """A Conv node and its weight and bias initializers."""
    return ([helper.make_node("Conv", [x, f"{name}.weight", f"{name}.bias"], [out], name=name, **attrs)],
            [_tensor(f"{name}.weight", _random(*w_shape)), _tensor(f"{name}.bias", _random(w_shape[0]))])


def _case_conv_grouped_strided_dilated():
    return _conv("conv", "x", "y", (8, 2, 3, 3), group=2, strides=[2, 1], dilations=[2, 1], pads=[2, 1, 2, 1])


def _case_depthwise_conv_same_lower_odd_kernel():
    return _conv("dw", "x", "y", (4, 1, 3, 3), group=4, auto_pad="SAME_LOWER")


def _case_conv_same_upper_even_kernel():
    return _conv("conv", "x", "y", (6, 4, 2, 2), auto_pad="SAME_UPPER")


def _case_conv_asymmetric_pads_that_are_pytorchs_same():
    return _conv("conv", "x", "y", (6, 4, 4, 4), pads=[1, 1, 2, 2])


def _case_conv_valid_strided():
    return _conv("conv", "x", "y", (6, 4, 3, 3), auto_pad="VALID", strides=[2, 2])


def _case_batch_norm():
    stats = [_tensor(n, _random(4, positive=True)) for n in ("bn.weight", "bn.bias", "bn.running_mean",
                                                                "bn.running_var")]
    node = helper.make_node("BatchNormalization", ["x", *(t.name for t in stats)], ["y"], name="bn",
                            epsilon=1e-3, momentum=0.8)
    return [node], stats


def _unary(op, **attrs):
    def case():
        return [helper.make_node(op, ["x"], ["y"], name=op.lower(), **attrs)], []

    case.__name__ = f"_case_{op}"
    return case


def _case_clip_0_6_by_inputs():
    bounds = [_tensor("lo", np.array(0, np.float32)), _tensor("hi", np.array(6, np.float32))]
    return [helper.make_node("Clip", ["x", "lo", "hi"], ["y"], name="relu6")], bounds


def _case_clip_0_by_a_constant_node():
    return [helper.make_node("Constant", [], ["lo"], value_float=0.0),
            helper.make_node("Clip", ["x", "lo"], ["y"], name="relu")], []


def _case_prelu_per_channel():
    return [helper.make_node("PRelu", ["x", "slope"], ["y"], name="prelu")], [_tensor("slope", _random(4, 1, 1))]


def _case_max_pool_ceil_mode_padded_strided():
    # 9 pixels, padded to 11: 3 windows rounding down, 4 rounding up (the 4th starts on the last pixel).
    return [helper.make_node("MaxPool", ["x"], ["y"], name="pool", kernel_shape=[3, 3], strides=[3, 3],
                             pads=[1, 1, 1, 1], ceil_mode=1)], []


def _case_max_pool_dilated_default_stride():
    return [helper.make_node("MaxPool", ["x"], ["y"], name="pool", kernel_shape=[2, 2], dilations=[2, 2])], []


def _case_average_pool_counting_padding():
    return [helper.make_node("AveragePool", ["x"], ["y"], name="pool", kernel_shape=[3, 3], strides=[2, 2],
                             pads=[1, 1, 1, 1], count_include_pad=1)], []


def _case_average_pool_default_excludes_padding_ceil_mode():
    return [helper.make_node("AveragePool", ["x"], ["y"], name="pool", kernel_shape=[2, 2], strides=[2, 2],
                             pads=[1, 1, 1, 1], ceil_mode=1)], []


def _case_average_pool_unpadded_ceil_mode():
    return [helper.make_node("AveragePool", ["x"], ["y"], name="pool", kernel_shape=[2, 2], strides=[2, 2],
                             ceil_mode=1)], []


def _head(x="flat", out="y", features=4 * 9 * 9, trans_b=1, **attrs):
    w = _random(5, features) if trans_b else _random(features, 5)
    return ([helper.make_node("Gemm", [x, "fc.weight", "fc.bias"], [out], name="fc", transB=trans_b, **attrs)],
            [_tensor("fc.weight", w), _tensor("fc.bias", _random(5))])


def _case_global_pool_flatten_gemm_with_alpha_beta_and_untransposed_weight():
    nodes, weights = _head(features=4, trans_b=0, alpha=0.5, beta=2.0)
    return [helper.make_node("GlobalAveragePool", ["x"], ["g"], name="gap"),
            helper.make_node("Flatten", ["g"], ["flat"], name="flatten")] + nodes, weights


def _case_reduce_mean_then_matmul_add():
    nodes = [helper.make_node("ReduceMean", ["x"], ["m"], name="mean", keepdims=0, axes=[-1, -2]),
             helper.make_node("MatMul", ["m", "w"], ["mm"], name="fc"),
             helper.make_node("Add", ["b", "mm"], ["y"], name="fc_bias")]
    return nodes, [_tensor("w", _random(4, 3)), _tensor("b", _random(1, 3))]


def _case_reshape_by_a_constant_node_dropout_identity():
    nodes, weights = _head(x="d")
    return [helper.make_node("Constant", [], ["shape"], value=_tensor("s", np.array([0, -1], np.int64))),
            helper.make_node("Reshape", ["x", "shape"], ["r"], name="reshape"),
            helper.make_node("Dropout", ["r"], ["i"], name="dropout"),
            helper.make_node("Identity", ["i"], ["d"], name="identity")] + nodes, weights


def _case_reshape_to_the_feature_count_then_batch_norm_1d():
    nodes, weights = _head(out="h")
    stats = [_tensor(n, _random(5, positive=True)) for n in ("b1.weight", "b1.bias", "b1.mean", "b1.var")]
    return ([helper.make_node("Reshape", ["x", "shape"], ["flat"], name="reshape")] + nodes
            + [helper.make_node("BatchNormalization", ["h", *(t.name for t in stats)], ["y"], name="b1")],
            [_tensor("shape", np.array([-1, 4 * 9 * 9], np.int64)), *weights, *stats])


def _case_residual_concat_and_squeeze_excitation():
    a, wa = _conv("a", "x", "ya", (4, 4, 3, 3), pads=[1, 1, 1, 1])
    b, wb = _conv("b", "x", "yb", (4, 4, 1, 1))
    return a + b + [helper.make_node("Add", ["ya", "x"], ["res"], name="add"),
                    helper.make_node("Concat", ["res", "yb"], ["cat"], name="cat", axis=-3),
                    helper.make_node("Sigmoid", ["cat"], ["gate"], name="gate"),
                    helper.make_node("Mul", ["cat", "gate"], ["y"], name="mul")], wa + wb


def _case_final_softmax_is_left_out():
    nodes, weights = _head(out="logits")
    return ([helper.make_node("Flatten", ["x"], ["flat"], name="flatten")] + nodes
            + [helper.make_node("Softmax", ["logits"], ["y"], name="softmax", axis=1)], weights)


CASES = [
    _case_conv_grouped_strided_dilated, _case_depthwise_conv_same_lower_odd_kernel,
    _case_conv_same_upper_even_kernel, _case_conv_asymmetric_pads_that_are_pytorchs_same, _case_conv_valid_strided,
    _case_batch_norm, _unary("Relu"), _unary("LeakyRelu", alpha=0.2), _unary("Sigmoid"),
    _unary("HardSigmoid", alpha=1 / 6, beta=0.5), _unary("HardSwish"), _unary("Tanh"), _unary("Elu", alpha=0.7),
    _case_clip_0_6_by_inputs, _case_clip_0_by_a_constant_node, _case_prelu_per_channel,
    _case_max_pool_ceil_mode_padded_strided, _case_max_pool_dilated_default_stride,
    _case_average_pool_counting_padding, _case_average_pool_default_excludes_padding_ceil_mode,
    _case_average_pool_unpadded_ceil_mode,
    _case_global_pool_flatten_gemm_with_alpha_beta_and_untransposed_weight, _case_reduce_mean_then_matmul_add,
    _case_reshape_by_a_constant_node_dropout_identity, _case_reshape_to_the_feature_count_then_batch_norm_1d,
    _case_residual_concat_and_squeeze_excitation, _case_final_softmax_is_left_out,
]


def _onnxruntime(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    session = onnxruntime.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return session.run(None, {"x": x})[0]


def _check_against_onnxruntime(model: onnx.ModelProto, tmp_path: Path) -> nn.Module:
    path = tmp_path / "case.onnx"
    path.write_bytes(model.SerializeToString())
    module, shape = load_onnx(path)
    x = np.random.default_rng(1).standard_normal((3, *shape)).astype(np.float32)
    expected = _onnxruntime(model, x)
    with torch.no_grad():
        got = module(torch.from_numpy(x))
    if module.meta["onnx_notes"]:  # the final Softmax was left out: the module gives logits
        got = torch.softmax(got, dim=1)
    assert got.shape == expected.shape
    assert float((got - torch.from_numpy(expected)).abs().max()) <= TOLERANCE
    return module


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.__name__.removeprefix("_case_"))
def test_each_operator_gives_what_onnxruntime_gives(case, tmp_path):
    nodes, initializers = case()
    _check_against_onnxruntime(_model(nodes, initializers), tmp_path)


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_of_opset_20_gives_what_onnxruntime_gives(approximate, tmp_path):
    node = helper.make_node("Gelu", ["x"], ["y"], name="gelu", approximate=approximate)
    module = _check_against_onnxruntime(_model([node], opset=20), tmp_path)
    assert module.get_submodule("gelu").approximate == approximate


@pytest.mark.parametrize("keepdims", [0, 1])
def test_reduce_mean_of_opset_18_takes_its_axes_from_an_input(keepdims, tmp_path):
    node = helper.make_node("ReduceMean", ["x", "axes"], ["y"], name="mean", keepdims=keepdims)
    model = _model([node], [_tensor("axes", np.array([2, 3], np.int64))], opset=18)
    module = _check_against_onnxruntime(model, tmp_path)
    assert isinstance(module.get_submodule("mean"), nn.AdaptiveAvgPool2d)


def test_clip_of_opset_10_takes_its_bounds_from_attributes(tmp_path):
    node = helper.make_node("Clip", ["x"], ["y"], name="act", min=0.0, max=6.0)
    module = _check_against_onnxruntime(_model([node], opset=10), tmp_path)
    assert isinstance(module.get_submodule("act"), nn.ReLU6)


def test_what_becomes_what(tmp_path):
    """The modules and settings chosen: ONNX's defaults, not PyTorch's, and BatchNorm's momentum turned round."""
    nodes, weights = _case_batch_norm()
    module = _check_against_onnxruntime(_model(nodes, weights), tmp_path)
    bn = module.get_submodule("bn")
    assert isinstance(bn, nn.BatchNorm2d) and bn.eps == 1e-3 and bn.momentum == pytest.approx(0.2)
    nodes, weights = _case_average_pool_default_excludes_padding_ceil_mode()
    pool = _check_against_onnxruntime(_model(nodes, weights), tmp_path).get_submodule("pool")
    assert isinstance(pool, nn.AvgPool2d) and not pool.count_include_pad and pool.ceil_mode
    nodes, weights = _case_reduce_mean_then_matmul_add()
    module = _check_against_onnxruntime(_model(nodes, weights), tmp_path)
    fc = module.get_submodule("fc")
    assert isinstance(fc, nn.Linear) and fc.bias is not None  # the Add became the Linear's bias
    nodes, weights = _case_final_softmax_is_left_out()
    module = _check_against_onnxruntime(_model(nodes, weights), tmp_path)
    assert module.meta["onnx_notes"] == ["the final Softmax (softmax) was left out: the network outputs logits"]
    assert not any(isinstance(m, nn.Softmax) for m in module.modules())


# --- refusals ----------------------------------------------------------------------------------------


REFUSED = [
    ("Conv", _conv("c", "x", "y", (4, 4, 3, 3), pads=[0, 0, 1, 1]), "asymmetric padding (top 0, left 0, bottom 1"),
    # 'same' at stride 2 on 9 pixels pads 0 before and 1 after: PyTorch's 'same' exists at stride 1 only.
    ("Conv", _conv("c", "x", "y", (4, 4, 2, 2), strides=[2, 2], auto_pad="SAME_UPPER"), "asymmetric padding"),
    ("MaxPool", [helper.make_node("MaxPool", ["x"], ["y"], name="p", kernel_shape=[2, 2], pads=[0, 0, 1, 1])],
     "asymmetric padding"),
    ("Clip", [helper.make_node("Clip", ["x", "lo", "hi"], ["y"], name="c")], "Clip to [-1, 1]: only [0, 6]"),
    ("HardSigmoid", [helper.make_node("HardSigmoid", ["x"], ["y"], name="h")], "alpha 0.2, beta 0.5"),
    ("Concat", [helper.make_node("Concat", ["x", "x"], ["y"], name="c", axis=2)], "only the channel axis"),
    ("Flatten", [helper.make_node("Flatten", ["x"], ["y"], name="f", axis=2)], "only axis 1"),
    ("Reshape", [helper.make_node("Reshape", ["x", "shape3"], ["y"], name="r")], "Reshape to [0, 4, 81]"),
    ("Add", [helper.make_node("Add", ["x", "lo"], ["y"], name="a")], "the constant 'lo'"),
    ("Softmax", [helper.make_node("Softmax", ["x"], ["s"], name="s", axis=1),
                 helper.make_node("Relu", ["s"], ["y"], name="r")], "a Softmax inside the network"),
    ("Sin", [helper.make_node("Sin", ["x"], ["y"], name="sine")], "no layer kind for the ONNX operator Sin"),
    ("ReduceMean", [helper.make_node("ReduceMean", ["x", "axis1"], ["y"], name="m")], "only the mean over height"),
    ("BatchNormalization", [helper.make_node("BatchNormalization", ["x", "lo", "lo", "lo", "hi"], ["y", "m", "v"],
                                             name="bn", training_mode=1)], "training mode"),
    ("Conv", ([helper.make_node("Conv", ["x", "x"], ["y"], name="c")], []), "its weight ('x') is computed"),
    ("Gemm", [helper.make_node("Gemm", ["x", "w2"], ["y"], name="g", transA=1)], "transA=1"),
]
_SHARED = [_tensor("lo", np.array(-1, np.float32)), _tensor("hi", np.array(1, np.float32)),
           _tensor("shape3", np.array([0, 4, 81], np.int64)), _tensor("axis1", np.array([1], np.int64)),
           _tensor("w2", _random(4, 4))]


@pytest.mark.parametrize(("op", "nodes", "reason"), REFUSED, ids=[f"{r[0]}-{i}" for i, r in enumerate(REFUSED)])
def test_a_node_without_an_exact_equivalent_is_refused_with_its_reason(op, nodes, reason, tmp_path):
    nodes, weights = nodes if isinstance(nodes, tuple) else (nodes, [])
    path = tmp_path / "m.onnx"
    path.write_bytes(_model(nodes, [*weights, *_SHARED]).SerializeToString())
    with pytest.raises(OnnxImportError) as info:
        load_onnx(path)
    (problem,) = info.value.problems
    assert problem[0] == op and problem[1] == nodes[0].name and reason in problem[2]
    message = str(info.value)
    assert "\n" not in message and "nothing was imported" in message and reason in message


def test_every_unmappable_node_is_listed_and_what_depends_on_one_is_not(tmp_path):
    nodes = [helper.make_node("Sin", ["x"], ["a"], name="first"),
             helper.make_node("Relu", ["a"], ["b"], name="blocked"),  # fine itself, fed by a refused node
             helper.make_node("LSTM", ["b"], ["c"], name="second"),
             helper.make_node("Clip", ["x", "lo", "hi"], ["d"], name="third"),
             helper.make_node("Add", ["c", "d"], ["y"], name="merge")]
    path = tmp_path / "m.onnx"
    path.write_bytes(_model(nodes, _SHARED).SerializeToString())
    with pytest.raises(OnnxImportError) as info:
        load_onnx(path)
    assert [(op, name) for op, name, _ in info.value.problems] == [("Sin", "first"), ("LSTM", "second"),
                                                                     ("Clip", "third")]
    assert str(info.value).startswith("m.onnx cannot be imported, 3 nodes cannot be mapped: Sin 'first' (no layer kind")


@pytest.mark.parametrize(
    ("inputs", "opset", "expected"),
    [
        ([("x", ["batch", 4, 9, 9]), ("z", [1, 4, 9, 9])], 17, "has 2 inputs"),
        ([("x", ["batch", 784])], 17, "has 2 axes; CNN Playground networks take images (N, C, H, W)"),
        ([("x", ["batch", 3, "height", "width"])], 17, "has no fixed height (height)"),
        ([("x", ["batch", 4, 9, 9])], 7, "uses ONNX opset 7; opsets 9 to"),
        ([("x", ["batch", 4, 9, 9])], 999, "newer than the installed onnx package knows"),
    ],
)
def test_models_the_app_cannot_take_are_refused_with_what_to_do(inputs, opset, expected, tmp_path):
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in inputs],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=8)
    path = tmp_path / "m.onnx"
    path.write_bytes(model.SerializeToString())
    with pytest.raises(OnnxImportError, match=None) as info:
        load_onnx(path)
    assert expected in str(info.value)

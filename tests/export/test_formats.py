"""ONNX and torch.export files: same outputs as PyTorch for any batch size, clear errors."""

from __future__ import annotations

import importlib.util

import pytest
import torch

from cnnplayground.core.builder import GraphModule, build
from cnnplayground.core.graph import Graph
from cnnplayground.core.presets import dilated, lenet5, resnet20_cifar, vgg_small
from cnnplayground.export import code
from cnnplayground.export.formats import ONNX_EXTRA_MESSAGE, ExportError, export_onnx, export_pt2


def _same_pad_concat() -> Graph:
    """An even kernel with 'same' padding (asymmetric pad) and a Concat merge."""
    g = Graph()
    g.add_node("Input", {"channels": 2, "height": 13, "width": 11}, id="input")
    g.add_node("Conv2d", {"out_channels": 4, "kernel_size": 4, "padding": "same"}, id="even")
    g.add_node("Conv2d", {"out_channels": 3, "kernel_size": 3, "padding": "same", "dilation": 2}, id="dil")
    g.add_node("Concat", {}, id="cat")
    g.add_node("AdaptiveAvgPool2d", {"output_size": 1}, id="gap")
    g.add_node("Flatten", {}, id="flat")
    g.add_node("Linear", {"out_features": 5}, id="fc")
    for a, b in [("input", "even"), ("input", "dil"), ("even", "cat"), ("dil", "cat"), ("cat", "gap"),
                 ("gap", "flat"), ("flat", "fc")]:
        g.connect(a, b)
    return g


GRAPHS = {
    "lenet5": lenet5,
    "vgg_small_batchnorm": lambda: vgg_small(width=8),
    "resnet8_residual": lambda: resnet20_cifar(depth=8),
    "dilated_same": dilated,
    "even_same_concat": _same_pad_concat,
}


def _trained_like(factory) -> GraphModule:
    """The network with BatchNorm statistics away from their initial 0/1, in training mode."""
    model = build(factory())
    with torch.no_grad():
        for _ in range(3):
            model(torch.randn(8, *model.input_shape) * 2 + 0.5)
    return model


def _reference(model: GraphModule, x: torch.Tensor) -> torch.Tensor:
    was = model.training
    model.eval()
    with torch.no_grad():
        out = model(x)
    model.train(was)
    return out


@pytest.fixture
def onnx_runtime():
    # Base dependencies (pyproject.toml): every format the app offers works after a plain install.
    import onnx
    import onnxruntime as ort
    import onnxscript  # noqa: F401
    return onnx, ort


@pytest.mark.parametrize("name", list(GRAPHS))
def test_onnx_matches_pytorch_for_batch_1_and_3(name, tmp_path, onnx_runtime):
    onnx, ort = onnx_runtime
    model = _trained_like(GRAPHS[name])
    assert model.training
    path = export_onnx(model, tmp_path / f"{name}.onnx", model.input_shape)
    assert path == tmp_path / f"{name}.onnx"
    assert model.training, "the model's own mode is restored"

    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    assert [i.name for i in proto.graph.input] == ["input"]
    assert [o.name for o in proto.graph.output] == ["logits"]
    batch_dim = proto.graph.input[0].type.tensor_type.shape.dim[0]
    assert batch_dim.dim_param and not batch_dim.HasField("dim_value"), "the batch size is dynamic"

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for batch in (1, 3):
        x = torch.randn(batch, *model.input_shape)
        (got,) = session.run(["logits"], {"input": x.numpy()})
        expected = _reference(model, x)  # eval mode: BatchNorm's running statistics, no dropout
        assert got.shape == tuple(expected.shape)
        torch.testing.assert_close(torch.from_numpy(got), expected, atol=1e-4, rtol=1e-4)


def test_onnx_accepts_a_graph_and_an_opset(tmp_path, onnx_runtime):
    onnx, _ = onnx_runtime
    path = export_onnx(lenet5(), tmp_path / "lenet.onnx", opset=18)
    proto = onnx.load(str(path))
    assert max(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")) == 18


def test_onnx_refuses_an_old_opset(tmp_path):
    with pytest.raises(ExportError, match="at least 18, got 11"):
        export_onnx(build(lenet5()), tmp_path / "x.onnx", opset=11)
    assert not (tmp_path / "x.onnx").exists()


def test_onnx_without_its_packages_says_what_to_install(tmp_path, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "onnx" else real(name, *a))
    with pytest.raises(ExportError) as info:
        export_onnx(build(lenet5()), tmp_path / "x.onnx")
    assert str(info.value) == ONNX_EXTRA_MESSAGE == (
        "ONNX export needs the packages onnx and onnxscript, which this environment lacks: "
        "install CNN Playground again (pip install cnnplayground) or pip install onnx onnxscript"
    )


@pytest.mark.parametrize("name", ["lenet5", "resnet8_residual"])
def test_pt2_matches_pytorch_for_batch_1_and_4(name, tmp_path):
    model = _trained_like(GRAPHS[name])
    path = export_pt2(model, tmp_path / f"{name}.pt2", model.input_shape)
    assert model.training
    loaded = torch.export.load(path).module()
    for batch in (1, 4):
        x = torch.randn(batch, *model.input_shape)
        with torch.no_grad():
            got = loaded(x)
        torch.testing.assert_close(got, _reference(model, x), atol=1e-5, rtol=1e-5)


def test_an_invalid_graph_is_one_line_error(tmp_path):
    graph = lenet5()
    graph.remove_node("flatten")  # Linear after a conv: not valid
    for export in (export_pt2, export_onnx):
        with pytest.raises(ExportError, match=r"^cannot export: the network is not valid \(") as info:
            export(graph, tmp_path / "x.out")
        assert isinstance(info.value, ValueError) and "\n" not in str(info.value)
        assert isinstance(info.value, code.ExportError)  # one except catches every export failure
    assert not list(tmp_path.iterdir())


def test_a_wrong_input_shape_is_one_line_error(tmp_path):
    with pytest.raises(ExportError, match=r"^cannot export: the network does not run on 1×32×32 inputs") as info:
        export_pt2(build(lenet5()), tmp_path / "x.pt2", (1, 32, 32))
    assert "\n" not in str(info.value)
    with pytest.raises(ExportError, match="input shape must be positive"):
        export_pt2(build(lenet5()), tmp_path / "x.pt2", (1, 0, 28))
    assert not list(tmp_path.iterdir())

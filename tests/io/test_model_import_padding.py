"""What the ONNX reader and the code export produce and the model importer used to refuse: 'same' padding with an
even kernel (``SamePadConv2d``: explicit padding, then the convolution) and ``AvgPool2d(count_include_pad=False)``."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from cnnplayground.core.builder import build
from cnnplayground.core.graph import Graph
from cnnplayground.core.modules import SamePadConv2d
from cnnplayground.io.model_import import import_module, import_source, load_source


def _even_same_graph() -> Graph:
    g = Graph()
    g.add_node("Input", {"channels": 2, "height": 9, "width": 9}, id="input")
    g.add_node("Conv2d", {"out_channels": 3, "kernel_size": 4, "padding": "same"}, id="even")
    g.add_node("Conv2d", {"out_channels": 3, "kernel_size": 2, "dilation": 3, "padding": "same"}, id="dilated")
    g.add_node("Flatten", {}, id="flat")
    g.add_node("Linear", {"out_features": 5}, id="fc")
    for a, b in [("input", "even"), ("even", "dilated"), ("dilated", "flat"), ("flat", "fc")]:
        g.connect(a, b)
    return g


def _same_logits(result, module: nn.Module, shape) -> float:
    net = build(result.graph)
    net.load_state_dict(result.weights)
    x = torch.randn(3, *shape)
    with torch.no_grad():
        return float((net.eval()(x) - module.eval()(x)).abs().max())


def _paddings(result) -> dict[str, object]:
    return {nid.removeprefix("layers_"): n.params["padding"] for nid, n in result.graph.nodes.items()
            if n.kind == "Conv2d"}


def test_an_even_kernel_with_same_padding_imports_as_the_conv2d_kinds_same_padding():
    torch.manual_seed(0)
    module = build(_even_same_graph()).eval()
    assert isinstance(module.layers["even"], SamePadConv2d)
    result = import_module(module, (2, 9, 9)).require()
    assert _paddings(result) == {"even": "same", "dilated": "same"}
    assert _same_logits(result, module, (2, 9, 9)) <= 1e-6


def test_the_onnx_form_of_an_even_same_padding_imports(tmp_path):
    from cnnplayground.export.formats import export_onnx

    torch.manual_seed(1)
    module = build(_even_same_graph()).eval()
    path = export_onnx(module, tmp_path / "even.onnx", input_shape=(2, 9, 9))
    result = import_source(str(path)).require()
    assert _paddings(result) == {"even": "same", "dilated": "same"}
    assert _same_logits(result, module, (2, 9, 9)) <= 1e-5


def test_the_exported_codes_own_same_pad_class_imports(tmp_path):
    from cnnplayground.export.code import export_pytorch
    from cnnplayground.io.project import weights_from_module

    torch.manual_seed(2)
    graph = _even_same_graph()
    export_pytorch(graph, weights_from_module(build(graph)), tmp_path)
    loaded = load_source(f"{tmp_path / 'model.py'}:Net")
    assert type(loaded.module.even).__name__ == "SamePadConv2d" and type(loaded.module.even) is not SamePadConv2d
    result = import_module(loaded.module, (2, 9, 9)).require()
    assert _paddings(result) == {"even": "same", "dilated": "same"}
    assert _same_logits(result, loaded.module, (2, 9, 9)) <= 1e-6


@pytest.mark.parametrize("pad, stride, reason", [
    ((2, 1, 2, 1), 1, "padding left 2, right 1, top 2, bottom 1 is neither the same on every side nor PyTorch's "
                      "'same' at stride 1 ((1, 2, 1, 2))"),
    ((1, 2, 1, 2), 2, "padding left 1, right 2, top 1, bottom 2 is neither the same on every side nor PyTorch's "
                      "'same' at stride 1 ((1, 2, 1, 2))"),
])
def test_other_explicit_paddings_are_refused_by_name(pad, stride, reason):
    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = SamePadConv2d(1, 2, 4, pad=pad, stride=stride)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.conv(x)

    result = import_module(Net(), (1, 8, 8))
    assert [(p.what, p.reason) for p in result.problems] == [
        ("SamePadConv2d 'conv'", f"{reason}; the canvas has no layer for it")]


def test_a_symmetric_explicit_padding_is_the_convolutions_padding():
    torch.manual_seed(3)
    module = nn.Sequential(SamePadConv2d(1, 2, 3, pad=(1, 1, 1, 1), stride=2), nn.Flatten())
    result = import_module(module, (1, 8, 8)).require()
    assert _paddings(result) == {"layer_0": 1}
    assert _same_logits(result, module, (1, 8, 8)) <= 1e-6


@pytest.mark.parametrize("ceil_mode", [False, True])
def test_an_average_pool_that_leaves_out_the_padding_imports_exactly(tmp_path, ceil_mode):
    from cnnplayground.export.code import export_pytorch
    from cnnplayground.io.project import weights_from_module

    module = nn.Sequential(nn.AvgPool2d(3, stride=2, padding=1, ceil_mode=ceil_mode, count_include_pad=False),
                           nn.Flatten())
    result = import_module(module, (2, 8, 8)).require()
    pool = result.graph.nodes["layer_0"]
    assert pool.kind == "AvgPool2d" and pool.params["count_include_pad"] is False
    assert _same_logits(result, module, (2, 8, 8)) == 0.0
    net = build(result.graph)
    assert net.layers["layer_0"].count_include_pad is False
    export_pytorch(result.graph, weights_from_module(net), tmp_path)
    assert "count_include_pad=False" in (tmp_path / "model.py").read_text()
    exported = load_source(f"{tmp_path / 'model.py'}:Net").module
    x = torch.rand(2, 2, 8, 8)
    assert torch.equal(exported.eval()(x), module.eval()(x))


def test_the_onnx_average_pool_without_the_padding_imports(tmp_path):
    """ONNX's AveragePool counts no padding by default: with pads it imports now, exactly."""
    from cnnplayground.export.formats import export_onnx

    module = nn.Sequential(nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False), nn.Flatten()).eval()
    path = export_onnx(module, tmp_path / "pool.onnx", input_shape=(1, 5, 5))
    result = import_source(str(path)).require()
    assert [n.params.get("count_include_pad") for n in result.graph.nodes.values() if n.kind == "AvgPool2d"] == [False]
    assert _same_logits(result, module, (1, 5, 5)) <= 1e-6

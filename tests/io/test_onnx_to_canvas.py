"""ONNX → ``load_onnx`` → the model importer (``io/model_import.py``): a project with the file's weights.

The whole path a user takes with ``cnnplayground import model.onnx out.cnnp`` or File → Import Model…:
the ONNX module is traced and mapped onto layer kinds like any PyTorch module, and the built network
gives the original's logits (eval mode, within 1e-5) with torchvision's parameter count. Nodes that
cannot be mapped come back as the import's problems, one per node, and nothing is imported.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper
from test_onnx_import import TOLERANCE, _model, _torch_export

from cnnplayground.core.builder import build
from cnnplayground.core.presets import lenet5
from cnnplayground.io.model_import import import_module, import_source
from cnnplayground.io.onnx_import import load_onnx


def _built(result) -> torch.nn.Module:
    assert result.ok, [str(p) for p in result.problems]
    network = build(result.graph)
    network.load_state_dict(result.weights)
    return network.eval()


def test_the_lenet5_preset_goes_onnx_to_canvas_with_its_node_ids_and_logits(tmp_path):
    original = build(lenet5()).eval()
    module, shape = load_onnx(_torch_export(original, (1, 28, 28), tmp_path / "lenet5.onnx", keep_batch_norm=True))
    result = import_module(module, shape, name="lenet5")
    network = _built(result)
    assert list(result.graph.nodes) == list(lenet5().nodes)  # the same graph, node for node
    assert [n.kind for n in result.graph.nodes.values()] == [n.kind for n in lenet5().nodes.values()]
    x = torch.randn(4, 1, 28, 28)
    with torch.no_grad():
        assert float((network(x) - original(x)).abs().max()) <= TOLERANCE


@pytest.mark.slow
def test_resnet18_goes_onnx_to_canvas_with_equal_logits_and_parameters(tmp_path):
    import torchvision

    original = torchvision.models.resnet18().eval()
    path = _torch_export(original, (3, 64, 64), tmp_path / "resnet18.onnx", keep_batch_norm=True)
    result = import_source(str(path))
    network = _built(result)
    assert result.name == "resnet18" and result.input_shape == (3, 64, 64)
    assert result.params == sum(p.numel() for p in original.parameters()) == 11_689_512
    kinds = [n.kind for n in result.graph.nodes.values()]
    assert kinds.count("Conv2d") == 20 and kinds.count("BatchNorm2d") == 20 and kinds.count("Add") == 8
    assert "layer2_0_downsample_0" in result.graph.nodes
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert float((network(x) - original(x)).abs().max()) <= TOLERANCE


def test_a_final_softmax_is_a_warning_of_the_import(tmp_path):
    weight = numpy_helper.from_array(np.ones((3, 4 * 9 * 9), np.float32), "fc.weight")
    nodes = [helper.make_node("Flatten", ["x"], ["f"], name="flatten"),
             helper.make_node("Gemm", ["f", "fc.weight"], ["logits"], name="fc", transB=1),
             helper.make_node("Softmax", ["logits"], ["y"], name="softmax", axis=1)]
    path = tmp_path / "soft.onnx"
    path.write_bytes(_model(nodes, [weight]).SerializeToString())
    result = import_source(str(path))
    assert result.ok and result.warnings[-1] == "the final Softmax (softmax) was left out: the network outputs logits"
    assert [n.kind for n in result.graph.nodes.values()] == ["Input", "Flatten", "Linear"]


def test_onnx_nodes_that_cannot_be_mapped_are_the_imports_problems(tmp_path):
    nodes = [helper.make_node("Sin", ["x"], ["s"], name="sine"),
             helper.make_node("Clip", ["x", "lo", "hi"], ["c"], name="clip"),
             helper.make_node("Add", ["s", "c"], ["y"], name="add")]
    bounds = [numpy_helper.from_array(np.array(v, np.float32), n) for n, v in (("lo", -1), ("hi", 1))]
    path = tmp_path / "odd.onnx"
    path.write_bytes(_model(nodes, bounds).SerializeToString())
    result = import_source(str(path))
    assert not result.ok and result.graph is None and result.weights is None
    assert [str(p) for p in result.problems] == [
        "ONNX Sin 'sine': no layer kind for the ONNX operator Sin",
        "ONNX Clip 'clip': Clip to [-1, 1]: only [0, 6] (ReLU6) and [0, ∞) (ReLU) have a layer kind",
    ]


def test_a_damaged_onnx_file_is_one_error_line(tmp_path):
    from cnnplayground.io.model_import import ModelImportError

    path = tmp_path / "bad.onnx"
    path.write_bytes(b"\x0a\xff\xff\xff\x0f")
    with pytest.raises(ModelImportError, match=r"^bad.onnx is not an ONNX model, or it is damaged \(") as info:
        import_source(str(path))
    assert not info.value.problems
    with pytest.raises(ModelImportError, match="--args does not apply to an ONNX file"):
        import_source(str(path), {"num_classes": 10})


def test_an_onnx_input_is_read_from_the_file(tmp_path):
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"], name="relu")], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 5, 7])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    path = tmp_path / "relu.onnx"
    path.write_bytes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
                     .SerializeToString())
    result = import_source(str(path))
    assert result.ok and result.input_shape == (2, 5, 7)


def test_the_imports_problems_name_the_onnx_node_not_pytorchs_lines(tmp_path):
    """The module of an ONNX file is generated code: its problems say which node of the file they come from."""
    from test_onnx_import import _random, _tensor

    merge = [helper.make_node("GlobalAveragePool", ["x"], ["p"], name="squeeze"),
             helper.make_node("Add", ["x", "p"], ["y"], name="broadcast_add")]
    head = [helper.make_node("Flatten", ["x"], ["f"], name="flatten"),
            helper.make_node("Gemm", ["f", "fc.weight"], ["g"], name="fc", transB=1),
            helper.make_node("BatchNormalization", ["g", "s", "b", "m", "v"], ["y"], name="head_bn")]
    inits = [_tensor("fc.weight", _random(3, 4 * 9 * 9)), _tensor("s", _random(3)), _tensor("b", _random(3)),
             _tensor("m", _random(3)), _tensor("v", _random(3, positive=True))]
    found = []
    for name, nodes, weights in (("merge", merge, []), ("head", head, inits)):
        path = tmp_path / f"{name}.onnx"
        path.write_bytes(_model(nodes, weights).SerializeToString())
        found += [(p.where, p.what) for p in import_source(str(path)).problems]
    assert found == [("merge.onnx: node 'broadcast_add' (Add)", "operator.add"),
                     ("head.onnx: node 'head_bn' (BatchNormalization)", "nn.BatchNorm1d 'head_bn'")]

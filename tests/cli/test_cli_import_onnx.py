"""``cnnplayground import model.onnx out.cnnp``: an ONNX file as a project, or each node that cannot be mapped."""

from __future__ import annotations

import io
import warnings

import torch

from cnnplayground.cli import main
from cnnplayground.core.builder import build
from cnnplayground.core.presets import lenet5
from cnnplayground.io.project import load_project


def _lenet_onnx(tmp_path):
    network = build(lenet5()).eval()
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(network, (torch.zeros(1, 1, 28, 28),), buffer, dynamo=False, input_names=["input"],
                          dynamic_axes={"input": {0: "batch"}}, opset_version=17)
    path = tmp_path / "lenet5.onnx"
    path.write_bytes(buffer.getvalue())
    return network, path


def test_importing_an_onnx_file_writes_the_project_with_its_weights(tmp_path, capsys):
    original, path = _lenet_onnx(tmp_path)
    out = tmp_path / "lenet5.cnnp"
    assert main(["import", str(path), str(out)]) == 0
    assert capsys.readouterr().out.startswith(f"wrote {out}: lenet5, 12 layers, 61,706 parameters, input 1×28×28 "
                                                  "(traced with torch.fx)\n")
    project = load_project(out)
    network = build(project.graph)
    network.load_state_dict(project.weights)
    x = torch.randn(3, 1, 28, 28)
    with torch.no_grad():
        assert float((network.eval()(x) - original(x)).abs().max()) <= 1e-5


def test_an_onnx_file_with_unmappable_nodes_lists_them_and_writes_nothing(tmp_path, capsys):
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Sin", ["x"], ["y"], name="sine")], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    path = tmp_path / "sine.onnx"
    path.write_bytes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
                     .SerializeToString())
    out = tmp_path / "sine.cnnp"
    assert main(["import", str(path), str(out)]) == 1
    err = capsys.readouterr().err
    assert "sine cannot be imported; nothing was written. 1 part has no layer on the canvas:" in err
    assert "  ONNX Sin 'sine': no layer kind for the ONNX operator Sin" in err
    assert not out.exists()


def test_a_damaged_onnx_file_is_one_line_and_exit_code_2(tmp_path, capsys):
    path = tmp_path / "cut.onnx"
    path.write_bytes(b"\x3a\x40garbage")
    assert main(["import", str(path), str(tmp_path / "cut.cnnp")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("cnnplayground: cut.onnx is not an ONNX model, or it is damaged (") and "\n" not in err

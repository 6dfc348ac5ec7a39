"""File → Import Model… with an ONNX file: browsing picks it as is, the preview lists what it gives or what not."""

from __future__ import annotations

import numpy as np
from onnx import TensorProto, helper, numpy_helper
from PySide6.QtWidgets import QFileDialog

from cnnplayground.ui.shell.import_model import ImportModelDialog


def _onnx(tmp_path, op="Relu"):
    weight = numpy_helper.from_array(np.ones((3, 2 * 4 * 4), np.float32), "fc.weight")
    nodes = [helper.make_node(op, ["x"], ["a"], name="act"), helper.make_node("Flatten", ["a"], ["f"], name="flat"),
             helper.make_node("Gemm", ["f", "fc.weight"], ["y"], name="fc", transB=1)]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2, 4, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [weight])
    path = tmp_path / f"{op.lower()}.onnx"
    path.write_bytes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
                     .SerializeToString())
    return path


def test_an_onnx_file_is_browsed_previewed_and_importable(qtbot, tmp_path, monkeypatch):
    path = _onnx(tmp_path)
    filters: list[str] = []

    def choose(parent, caption, folder, name_filter):
        filters.append(name_filter)
        return str(path), name_filter

    monkeypatch.setattr(QFileDialog, "getOpenFileName", choose)
    dialog = ImportModelDialog()
    qtbot.addWidget(dialog)
    dialog._browse()
    assert "*.onnx" in filters[0] and dialog.source.text() == str(path)  # no ':Class' to add to an ONNX file
    dialog.preview_button.click()
    text = dialog.preview_text.toPlainText()
    assert text.startswith("relu: 3 layers, 96 parameters, input 2×4×4"), text
    assert dialog.import_button.isEnabled() and dialog.imported is not None


def test_an_onnx_file_with_an_unmappable_node_is_previewed_as_such(qtbot, tmp_path):
    dialog = ImportModelDialog()
    qtbot.addWidget(dialog)
    dialog.source.setText(str(_onnx(tmp_path, "Sin")))
    dialog.preview_button.click()
    text = dialog.preview_text.toPlainText()
    assert "ONNX Sin 'act': no layer kind for the ONNX operator Sin" in text, text
    assert not dialog.import_button.isEnabled() and dialog.imported is None

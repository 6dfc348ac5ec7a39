"""The property panel: editors generated from the layer's parameters, every edit one undo step."""

from __future__ import annotations

import pytest
import shiboken6
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QSpinBox, QWidget

from cnnplayground.core.graph import Graph
from cnnplayground.core.presets import get_preset
from cnnplayground.project import Project
from cnnplayground.ui.document.document import Document
from cnnplayground.ui.editor.properties import PaddingEditor, PropertiesPanel, float_decimals

pytestmark = pytest.mark.gui


def _panel(qtbot, document: Document) -> PropertiesPanel:
    panel = PropertiesPanel(document)
    qtbot.addWidget(panel)
    panel.resize(320, 700)
    panel.show()
    qtbot.waitExposed(panel)
    return panel


@pytest.fixture
def panel(qtbot, document) -> PropertiesPanel:
    widget = _panel(qtbot, document)
    widget.show_node("conv1")
    return widget


def test_editors_match_the_parameter_types_and_values(panel):
    assert panel.header_label.text() == "Conv2d" and "Convolution" in panel.category_label.text()
    assert panel.name_edit.text() == "conv1"
    filters = panel.editor("out_channels")
    assert isinstance(filters, QSpinBox) and filters.value() == 16
    assert (filters.minimum(), filters.maximum()) == (1, 65536)
    assert panel.editor("kernel_size").value() == 3
    assert isinstance(panel.editor("bias"), QCheckBox) and panel.editor("bias").isChecked()
    padding = panel.editor("padding")
    assert isinstance(padding, PaddingEditor) and padding.value() == 0
    assert "Number of filters, i.e. output channels." in filters.toolTip()
    assert "Allowed: 1 … 65536" in filters.toolTip()
    assert panel.shape_label.text() == "16×26×26"
    assert panel.params_label.text() == "160"
    assert panel.field_label.text() == "3×3 /1"
    assert panel.error_box.isHidden() and panel.error_label.isHidden()


def test_float_and_choice_editors(qtbot, document):
    document.graph.add_node("LocalResponseNorm", id="lrn1")
    document.graph.add_node("GELU", id="gelu1")
    panel = _panel(qtbot, document)
    panel.show_node("lrn1")
    alpha = panel.editor("alpha")
    assert isinstance(alpha, QDoubleSpinBox) and alpha.decimals() == 6 and alpha.value() == 0.0001
    assert panel.editor("beta").decimals() == 4 and panel.editor("beta").value() == 0.75
    assert (alpha.minimum(), alpha.maximum()) == (0.0, 1000.0)
    panel.show_node("gelu1")
    combo = panel.editor("approximate")
    assert isinstance(combo, QComboBox) and combo.currentText() == "none"
    combo.setCurrentText("tanh")
    assert document.graph.nodes["gelu1"].params["approximate"] == "tanh"
    assert [float_decimals(v) for v in (0.5, 1e-4, 1e-5, 1e-7, 2.0)] == [4, 6, 6, 7, 4]


def test_setting_the_kernel_is_one_undo_step_and_undo_restores_the_editor(panel, document):
    panel.editor("kernel_size").setValue(5)
    assert document.graph.nodes["conv1"].params["kernel_size"] == 5
    assert panel.shape_label.text() == "16×24×24"
    assert panel.params_label.text() == "416"
    assert document.undo_stack.count() == 1
    document.undo_stack.undo()
    assert document.graph.nodes["conv1"].params["kernel_size"] == 3
    assert panel.editor("kernel_size").value() == 3
    assert panel.shape_label.text() == "16×26×26"
    assert document.undo_stack.count() == 1  # undo pushed nothing
    document.undo_stack.redo()
    assert panel.editor("kernel_size").value() == 5 and document.undo_stack.index() == 1


def test_typing_a_number_is_one_undo_step(panel, document, qtbot):
    spin = panel.editor("out_channels")
    spin.setFocus()
    spin.selectAll()
    qtbot.keyClicks(spin, "12")
    assert spin.value() == 12
    assert document.graph.nodes["conv1"].params["out_channels"] == 12
    assert document.undo_stack.count() == 1
    assert panel.shape_label.text() == "12×26×26" and panel.params_label.text() == "120"
    document.undo_stack.undo()
    assert document.graph.nodes["conv1"].params["out_channels"] == 16 and spin.value() == 16


def test_bool_and_padding_editors_push_commands(panel, document):
    panel.editor("bias").setChecked(False)
    assert document.graph.nodes["conv1"].params["bias"] is False
    assert panel.params_label.text() == "144"
    padding = panel.editor("padding")
    padding.pixels.setValue(2)
    assert document.graph.nodes["conv1"].params["padding"] == 2 and panel.shape_label.text() == "16×30×30"
    padding.mode.setCurrentText("same")
    assert document.graph.nodes["conv1"].params["padding"] == "same"
    assert not padding.pixels.isEnabled() and panel.shape_label.text() == "16×28×28"
    assert document.undo_stack.count() == 2  # bias, then padding (its edits merge)
    document.undo_stack.undo()
    assert padding.value() == 0 and padding.pixels.isEnabled()


def test_inference_errors_are_shown_in_the_error_box(panel, document):
    panel.editor("padding").mode.setCurrentText("same")
    panel.editor("stride").setValue(2)
    assert document.graph.nodes["conv1"].params["stride"] == 2  # allowed edit, impossible network
    message = "Conv2d: padding 'same' needs stride 1; give the padding in pixels instead"
    assert document.result["conv1"].error == message
    assert panel.error_box.isVisible() and panel.error_box.text() == message
    assert panel.shape_label.text() == "—" and panel.params_label.text() == "—"
    assert panel.error_label.isHidden()  # the edit itself was not refused
    document.undo_stack.undo()
    assert panel.error_box.isHidden() and panel.editor("stride").value() == 1


def test_blocked_layers_wait_on_the_broken_one(qtbot, document):
    document.graph.add_node("ReLU", id="relu1")
    document.graph.connect("conv1", "relu1")
    document.graph.set_params("conv1", {"kernel_size": 40})
    panel = _panel(qtbot, document)
    panel.show_node("relu1")
    assert panel.error_box.text() == "Waiting on conv1: fix its problem first."
    assert panel.shape_label.text() == "—"
    with pytest.raises(KeyError):  # ReLU has no parameters, and the Conv2d editors are gone
        panel.editor("kernel_size")


def test_refused_values_show_the_reason_and_revert(panel, document):
    spin = panel.editor("groups")
    # The spin box cannot go past the declared range; a value the graph refuses anyway
    # (e.g. set through the editor's signal by a script) is reported and reverted.
    spin.setMaximum(70_000)
    spin.setValue(70_000)
    assert panel.error_label.isVisible()
    assert panel.error_label.text() == "conv1 (Conv2d): groups must be at most 65536, got 70000"
    assert spin.value() == 1 and document.graph.nodes["conv1"].params["groups"] == 1
    assert document.undo_stack.count() == 0


def test_renaming(panel, document, qtbot):
    edit = panel.name_edit
    edit.selectAll()
    qtbot.keyClicks(edit, "3bad")
    qtbot.keyClick(edit, Qt.Key.Key_Return)
    assert edit.text() == "conv1" and "conv1" in document.graph.nodes
    assert panel.error_label.isVisible()
    assert panel.error_label.text() == (
        "layer name '3bad' is not valid: use letters, digits and _ (not first), at most 64"
    )
    edit.setText("input1")
    edit.editingFinished.emit()
    assert panel.error_label.text() == "a layer named 'input1' already exists" and edit.text() == "conv1"
    assert document.undo_stack.count() == 0
    edit.setText("features")
    edit.editingFinished.emit()
    assert list(document.graph.nodes) == ["input1", "features"] and panel.node_id == "features"
    assert panel.error_label.isHidden() and panel.shape_label.text() == "16×26×26"
    panel.editor("kernel_size").setValue(5)  # edits go to the renamed layer
    assert document.graph.nodes["features"].params["kernel_size"] == 5
    document.undo_stack.undo()
    document.undo_stack.undo()
    assert panel.node_id == "conv1" and edit.text() == "conv1"
    assert document.graph.nodes["conv1"].params["kernel_size"] == 3


def test_switching_layers_and_removal(panel, document):
    panel.show_node("input1")
    assert panel.header_label.text() == "Input" and panel.editor("height").value() == 28
    assert panel.shape_label.text() == "1×28×28"
    panel.show_node("conv1")
    document.graph.remove_node("conv1")
    assert panel.node_id is None
    assert panel.overview_layers_label.text() == "1"


def test_overview_of_lenet5(qtbot):
    document = Document(Project.new(graph=get_preset("lenet5").factory()))
    panel = _panel(qtbot, document)
    assert panel.node_id is None
    assert panel.overview_params_label.text() == "61,706"
    assert panel.overview_shape_label.text() == "1×28×28 → 10"
    assert panel.overview_layers_label.text() == str(len(document.graph))
    total = document.result.memory_estimate(batch_size=128)["total"]
    assert 2**20 <= total < 2**30  # so the label is in MB
    assert panel.overview_memory_label.text() == f"~{total / 2**20:.1f} MB at batch 128"
    assert panel.overview_ok_label.isVisible() and panel.overview_errors.isHidden()
    document.set_training(document.project.training.model_copy(update={"batch_size": 32}))
    total = document.result.memory_estimate(batch_size=32)["total"]
    assert panel.overview_memory_label.text() == f"~{total / 2**20:.1f} MB at batch 32"  # the project's batch size


def test_overview_lists_problems_and_clicking_one_names_the_layer(qtbot, document):
    document.graph.add_node("ReLU", id="relu1")
    panel = _panel(qtbot, document)
    panel.show_selection(["conv1", "input1"])  # several layers: the overview
    errors = panel.overview_errors
    assert errors.isVisible() and errors.count() == 1
    assert errors.item(0).text() == "Next: Connect relu1: draw a wire into it"  # unfinished, not wrong
    assert panel.overview_ok_label.isVisible()
    with qtbot.waitSignal(panel.error_activated) as blocker:
        center = errors.visualItemRect(errors.item(0)).center()
        qtbot.mouseClick(errors.viewport(), Qt.MouseButton.LeftButton, pos=center)
    assert blocker.args == ["relu1"]


def test_a_fresh_network_has_no_problem_only_a_next_step_and_real_errors_come_first(qtbot):
    graph = Graph()
    graph.add_node("Input", id="input1")
    document = Document(Project.new(graph=graph))
    panel = _panel(qtbot, document)
    errors = panel.overview_errors
    assert panel.overview_ok_label.isVisible() and panel.overview_ok_label.text() == "No problems found"
    assert [errors.item(i).text() for i in range(errors.count())] == ["Next: Add layers after the Input"]
    # A shape that does not fit is a problem: listed first, and "No problems found" goes.
    document.graph.add_node("Flatten", id="flat1")
    document.graph.connect("input1", "flat1")
    document.graph.add_node("Conv2d", id="conv1")  # a convolution of a flat vector does not fit
    document.graph.connect("flat1", "conv1")
    document.graph.add_node("ReLU", id="relu1")
    texts = [errors.item(i).text() for i in range(errors.count())]
    assert texts[0].startswith("conv1: ") and texts[-1] == "Next: Connect relu1: draw a wire into it"
    assert panel.overview_ok_label.isHidden()


def test_a_new_graph_clears_the_panel_and_is_followed(panel, document):
    old = document.graph
    graph = Graph()
    graph.add_node("Input", id="input1")
    graph.add_node("Linear", id="fc1")
    document.new(Project.new(graph=graph))
    assert panel.node_id is None and len(old.node_changed) == 0
    panel.show_node("fc1")
    assert panel.editor("out_features").value() == 10
    graph.set_params("fc1", {"out_features": 7})
    assert panel.editor("out_features").value() == 7


def test_a_deleted_panel_stops_listening_to_the_graph(qtbot, document):
    host = QWidget()
    qtbot.addWidget(host)
    panel = PropertiesPanel(document, host)
    panel.show_node("conv1")
    assert len(document.graph.node_changed) == 1
    shiboken6.delete(panel)
    assert len(document.graph.node_changed) == 0
    document.graph.set_params("conv1", {"kernel_size": 5})  # nobody left to update: no error

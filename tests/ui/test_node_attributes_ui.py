"""Frozen and LR × in the property panel and the undo commands; the canvas shows them on the node."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QCheckBox, QDoubleSpinBox

from cnnplayground.core.graph import GraphError
from cnnplayground.ui.document.commands import RemoveNode, SetAttributes, fragment_of, paste_fragment
from cnnplayground.ui.editor.canvas.scene import GraphScene
from cnnplayground.ui.editor.properties import PropertiesPanel

pytestmark = pytest.mark.gui


@pytest.fixture
def panel(qtbot, document) -> PropertiesPanel:
    document.graph.add_node("ReLU", id="relu1")
    document.graph.connect("conv1", "relu1")
    widget = PropertiesPanel(document)
    qtbot.addWidget(widget)
    widget.resize(320, 700)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def test_a_conv_shows_frozen_and_lr_controls_and_a_relu_does_not(panel, document):
    panel.show_node("conv1")
    frozen, scale = panel.attribute_editor("frozen"), panel.attribute_editor("lr_scale")
    assert isinstance(frozen, QCheckBox) and not frozen.isChecked() and frozen.isVisible()
    assert isinstance(scale, QDoubleSpinBox) and scale.value() == 1.0 and scale.isEnabled()
    assert (scale.minimum(), scale.maximum()) == (0.0, 100.0)
    labels = {label.text() for label in panel.findChildren(type(panel.header_label)) if label.isVisible()}
    assert {"Frozen", "LR ×"} <= labels
    panel.show_node("relu1")
    assert panel.attribute_editor("frozen") is None and panel.attribute_editor("lr_scale") is None
    labels = {label.text() for label in panel.findChildren(type(panel.header_label)) if label.isVisible()}
    assert "Frozen" not in labels and "LR ×" not in labels


def test_editing_frozen_and_lr_is_undoable_and_undo_restores_the_editors(panel, document):
    panel.show_node("conv1")
    frozen, scale = panel.attribute_editor("frozen"), panel.attribute_editor("lr_scale")
    frozen.setChecked(True)
    node = document.graph.nodes["conv1"]
    assert node.frozen and not scale.isEnabled()
    assert document.undo_stack.count() == 1 and document.undo_stack.undoText() == "Set Frozen of conv1"
    document.undo_stack.undo()
    assert not node.frozen and not frozen.isChecked() and scale.isEnabled()
    scale.setValue(10.0)
    assert node.lr_scale == 10.0 and node.params["out_channels"] == 16
    document.undo_stack.undo()
    assert node.lr_scale == 1.0 and scale.value() == 1.0
    document.undo_stack.redo()
    assert scale.value() == 10.0


def test_commands_keep_attributes_through_delete_and_paste(document):
    g = document.graph
    with pytest.raises(GraphError, match="has no weights"):
        g.add_node("ReLU", id="relu9")
        SetAttributes(g, "relu9", {"frozen": True})
    document.push(SetAttributes(g, "conv1", {"frozen": True, "lr_scale": 2.0}))
    fragment = fragment_of(g, ["conv1"])
    document.push(RemoveNode(g, "conv1"))
    document.undo_stack.undo()
    assert g.nodes["conv1"].attributes == {"frozen": True, "lr_scale": 2.0}
    command, new_ids = paste_fragment(g, fragment, (40.0, 40.0))
    document.push(command)
    assert g.nodes[new_ids[0]].attributes == {"frozen": True, "lr_scale": 2.0}


def test_the_canvas_node_shows_frozen_and_the_lr_factor(qapp, document):
    scene = GraphScene(document)
    item = scene.nodes["conv1"]
    before = item.settings
    document.graph.set_attributes("conv1", {"lr_scale": 0.1})
    assert item.settings == before + " · LR ×0.1"
    document.graph.set_attributes("conv1", {"frozen": True})
    assert item.settings == before + " · frozen"

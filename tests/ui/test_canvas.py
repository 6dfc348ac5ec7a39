"""The canvas, driven by real gestures: drops, wires, moves, clipboard, undo/redo."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint

from cnnplayground.core.graph import Edge
from cnnplayground.core.layout import NODE_HEIGHT, NODE_WIDTH
from cnnplayground.core.presets import get_preset
from cnnplayground.project import Project
from cnnplayground.ui.document.document import Document
from cnnplayground.ui.editor.canvas.view import CanvasView

from .gestures import drag, drop_layer, node_point, port_point, wire


@pytest.fixture
def canvas(qtbot) -> CanvasView:
    doc = Document()
    view = CanvasView(doc)
    qtbot.addWidget(view)
    view.resize(1000, 800)
    view.show()
    qtbot.waitExposed(view)
    view.reset_zoom()
    view.centerOn(0, 0)
    return view


def test_drop_from_palette_adds_a_layer_and_undo_removes_it(canvas):
    doc = canvas.document
    drop_layer(canvas, "Input", QPoint(400, 150))
    drop_layer(canvas, "Conv2d", QPoint(400, 300))
    assert list(doc.graph.nodes) == ["input1", "conv1"]
    # The drop point is the node's centre, snapped to the 20-unit grid.
    scene = canvas.mapToScene(QPoint(400, 300))
    x, y = doc.graph.nodes["conv1"].position
    assert abs(x + NODE_WIDTH / 2 - scene.x()) <= 10 and abs(y + NODE_HEIGHT / 2 - scene.y()) <= 10
    assert x % 20 == 0 and y % 20 == 0
    assert doc.undo_stack.count() == 2 and doc.modified
    doc.undo_stack.undo()
    assert list(doc.graph.nodes) == ["input1"] and "conv1" not in canvas.graph_scene.nodes
    doc.undo_stack.redo()
    assert list(doc.graph.nodes) == ["input1", "conv1"] and "conv1" in canvas.graph_scene.nodes


def test_wiring_by_mouse_updates_shapes_and_wire_labels(canvas):
    doc = canvas.document
    drop_layer(canvas, "Input", QPoint(400, 120))
    drop_layer(canvas, "Conv2d", QPoint(400, 320))
    item = canvas.graph_scene.nodes["conv1"]
    assert item.info.error == "Conv2d has no input: draw a wire into it"
    wire(canvas, "input1", "conv1")
    assert doc.graph.edges == [Edge("input1", "conv1", 0)]
    assert item.shape_text() == "16×26×26"
    (edge_item,) = canvas.graph_scene.edges.values()
    assert edge_item.label == "1×28×28"
    doc.undo_stack.undo()
    assert doc.graph.edges == [] and canvas.graph_scene.edges == {}
    assert item.info.error is not None


def test_refused_connections_say_why_and_change_nothing(canvas, qtbot):
    doc = canvas.document
    for kind, y in (("Input", 100), ("ReLU", 250), ("Tanh", 400)):
        drop_layer(canvas, kind, QPoint(400, y))
    wire(canvas, "input1", "relu1")
    before = doc.graph.to_dict()
    with qtbot.waitSignal(canvas.status_message) as blocker:
        wire(canvas, "tanh1", "relu1")  # relu1 already has its input
    assert blocker.args == ["Refused: relu1 (ReLU) takes 1 input and already has one"]
    with qtbot.waitSignal(canvas.status_message) as blocker:
        drag(canvas, port_point(canvas, "relu1", output=True), port_point(canvas, "tanh1", output=True))
    assert blocker.args == ["Refused: connect an output (bottom) to an input (top)"]
    with qtbot.waitSignal(canvas.status_message) as blocker:
        wire(canvas, "relu1", "relu1")
    assert blocker.args == ["Refused: a layer cannot feed itself"]
    assert doc.graph.to_dict() == before and doc.undo_stack.count() == 4


def test_dragging_a_node_is_one_undo_step_snapped_to_the_grid(canvas):
    doc = canvas.document
    drop_layer(canvas, "Input", QPoint(300, 200))
    start = doc.graph.nodes["input1"].position
    drag(canvas, node_point(canvas, "input1"), node_point(canvas, "input1") + QPoint(133, 71), steps=6)
    x, y = doc.graph.nodes["input1"].position
    assert (x - start[0], y - start[1]) == (140.0, 80.0)
    assert doc.undo_stack.count() == 2 and doc.undo_stack.undoText() == "Move 1 layer"
    doc.undo_stack.undo()
    assert doc.graph.nodes["input1"].position == start
    assert canvas.graph_scene.nodes["input1"].pos().toTuple() == start


def test_delete_copy_paste_duplicate(canvas, qtbot):
    doc = canvas.document
    drop_layer(canvas, "Input", QPoint(400, 100))
    drop_layer(canvas, "Conv2d", QPoint(400, 250))
    drop_layer(canvas, "ReLU", QPoint(400, 400))
    wire(canvas, "input1", "conv1")
    wire(canvas, "conv1", "relu1")
    canvas.select_nodes(["conv1", "relu1"])
    assert canvas.copy_selection()
    canvas.paste()
    assert set(doc.graph.nodes) == {"input1", "conv1", "relu1", "conv2", "relu2"}
    assert Edge("conv2", "relu2", 0) in doc.graph.edges  # the inner wire comes along
    assert sorted(canvas.selected_node_ids()) == ["conv2", "relu2"]
    canvas.duplicate_selection()
    assert {"conv3", "relu3"} <= set(doc.graph.nodes)
    canvas.delete_selection()
    assert "conv3" not in doc.graph.nodes
    canvas.select_nodes(["conv1"])
    canvas.delete_selection()
    assert "conv1" not in doc.graph.nodes and Edge("input1", "conv1", 0) not in doc.graph.edges
    doc.undo_stack.undo()  # wires come back with the layer
    assert Edge("input1", "conv1", 0) in doc.graph.edges and Edge("conv1", "relu1", 0) in doc.graph.edges


def test_selecting_a_wire_and_deleting_it(canvas):
    doc = canvas.document
    drop_layer(canvas, "Input", QPoint(400, 100))
    drop_layer(canvas, "ReLU", QPoint(400, 300))
    wire(canvas, "input1", "relu1")
    (edge_item,) = canvas.graph_scene.edges.values()
    canvas.graph_scene.clearSelection()  # the dropped ReLU is selected after its drop
    edge_item.setSelected(True)
    canvas.delete_selection()
    assert doc.graph.edges == [] and set(doc.graph.nodes) == {"input1", "relu1"}


def test_merges_grow_a_free_port_for_each_wire(canvas):
    doc = canvas.document
    drop_layer(canvas, "Input", QPoint(400, 80))
    drop_layer(canvas, "Conv2d", QPoint(250, 230))
    drop_layer(canvas, "Conv2d", QPoint(550, 230))
    drop_layer(canvas, "Concat", QPoint(400, 420))
    wire(canvas, "input1", "conv1")
    wire(canvas, "input1", "conv2")
    assert len(canvas.graph_scene.nodes["concat1"].input_ports) == 1
    wire(canvas, "conv1", "concat1", 0)
    assert len(canvas.graph_scene.nodes["concat1"].input_ports) == 2
    wire(canvas, "conv2", "concat1", 1)
    assert doc.graph.inputs_of("concat1") == ["conv1", "conv2"]
    assert canvas.graph_scene.nodes["concat1"].shape_text() == "32×26×26"


def test_auto_layout_and_zoom(canvas, qtbot):
    doc = canvas.document
    doc.new(Project.new(graph=get_preset("resnet20_cifar").factory()))
    for nid in list(doc.graph.nodes)[:5]:
        doc.graph.move_node(nid, (0, 0))  # a mess
    canvas.auto_layout()
    positions = [n.position for n in doc.graph.nodes.values()]
    assert len(set(positions)) == len(positions)
    assert doc.undo_stack.undoText() == "Auto layout"
    with qtbot.waitSignal(canvas.zoom_changed):
        canvas.zoom_in()
    assert canvas.zoom > 0
    canvas.set_zoom(100)
    assert canvas.zoom == 3.0


def test_open_preset_mirrors_every_node_and_wire(canvas):
    doc = canvas.document
    doc.new(Project.new(graph=get_preset("resnet18").factory()))
    scene = canvas.graph_scene
    assert set(scene.nodes) == set(doc.graph.nodes)
    assert set(scene.edges) == set(doc.graph.edges)
    assert scene.nodes["fc"].shape_text() == "1000"
    adds = [nid for nid, n in doc.graph.nodes.items() if n.kind == "Add"]
    assert len(adds) == 8 and all(len(scene.nodes[a].input_ports) == 3 for a in adds)

"""The status bar's problem label: an unfinished network says what to do next; real errors are counted in red."""

from __future__ import annotations

from cnnplayground.core.graph import Graph
from cnnplayground.core.inference import infer
from cnnplayground.ui.shell import theme
from cnnplayground.ui.shell.status import StatusBar


def _bar(qtbot, graph: Graph) -> StatusBar:
    bar = StatusBar()
    qtbot.addWidget(bar)
    bar.show_inference(infer(graph), 128)
    return bar


def _input(graph: Graph) -> None:
    graph.add_node("Input", {"channels": 1, "height": 28, "width": 28}, id="input", position=(0, 0))


def test_an_unfinished_network_says_what_to_do_next_in_the_normal_colour(qtbot):
    empty = _bar(qtbot, Graph())
    assert empty.errors_label.text() == "Add an Input layer from the palette"
    graph = Graph()
    _input(graph)
    bar = _bar(qtbot, graph)
    assert bar.errors_label.text() == "Add layers after the Input"
    assert bar.errors_label.styleSheet() == "" and "error" not in bar.errors_label.text()
    assert bar.errors_label.toolTip().startswith("The network is not finished yet")
    graph.add_node("ReLU", id="relu1", position=(0, 120))  # a layer not wired up yet
    bar.show_inference(infer(graph), 128)
    assert bar.errors_label.text() == "Connect relu1: draw a wire into it" and bar.errors_label.styleSheet() == ""


def test_a_shape_mismatch_is_an_error_in_red_with_its_count(qtbot):
    graph = Graph()
    _input(graph)
    graph.add_node("Linear", {"out_features": 10}, id="fc1", position=(0, 120))  # 1×28×28 into a Linear
    graph.connect("input", "fc1")
    graph.add_node("ReLU", id="relu1", position=(0, 240))  # unfinished as well: the real error is what counts
    bar = _bar(qtbot, graph)
    assert bar.errors_label.text() == "1 error"
    assert bar.errors_label.styleSheet() == f"color: {theme.error_color()};"
    assert bar.errors_label.toolTip().startswith("• fc1: ")

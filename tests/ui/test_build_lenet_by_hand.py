"""End to end in the real window: build LeNet-5 from an empty canvas by gestures alone.

Layers are dragged from the palette, wired port to port with the mouse, their
parameters typed into the properties panel; then every step is undone and
redone, and the project is saved and reopened.
"""

from __future__ import annotations

from PySide6.QtCore import QPoint, Qt

from cnnplayground.core.inference import infer
from cnnplayground.core.presets import get_preset
from cnnplayground.ui.editor.param_editors import PaddingEditor
from cnnplayground.ui.shell.main_window import MainWindow

from .gestures import click, drop_layer, node_point, wire

LENET = [
    # kind, parameters typed into the properties panel
    ("Input", {}),
    ("Conv2d", {"out_channels": "6", "kernel_size": "5", "padding": "2"}),
    ("ReLU", {}),
    ("MaxPool2d", {}),
    ("Conv2d", {"out_channels": "16", "kernel_size": "5"}),
    ("ReLU", {}),
    ("MaxPool2d", {}),
    ("Flatten", {}),
    ("Linear", {"out_features": "120"}),
    ("ReLU", {}),
    ("Linear", {"out_features": "84"}),
    ("ReLU", {}),
    ("Linear", {"out_features": "10"}),
]


def type_into(qtbot, editor, text: str) -> None:
    """Click into a spin box, select its text and type, as a user does."""
    if isinstance(editor, PaddingEditor):
        editor = editor.pixels
    editor.setFocus()
    qtbot.keyClick(editor, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClicks(editor, text)
    qtbot.keyClick(editor, Qt.Key.Key_Return)


def palette_drop(window: MainWindow, kind: str, at: QPoint) -> None:
    """Take the drag data from the palette's own item, then drop it on the canvas."""
    tree = window.layer_palette.tree
    item = window.layer_palette.layer_item(kind)
    assert tree.mimeData([item]) is not None
    drop_layer(window.canvas, kind, at)


def test_build_lenet5_by_hand_then_undo_redo_save_and_reopen(qtbot, tmp_path, monkeypatch):
    window = MainWindow()
    qtbot.addWidget(window)
    window.resize(1600, 1000)
    window.show()
    qtbot.waitExposed(window)
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    canvas, doc = window.canvas, window.document
    start = doc.graph.to_dict()

    # An empty canvas: select everything and delete it with the keyboard.
    canvas.setFocus()
    qtbot.waitUntil(canvas.hasFocus)
    qtbot.keyClick(canvas, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClick(canvas, Qt.Key.Key_Delete)
    assert len(doc.graph) == 0

    canvas.set_zoom(0.6)
    canvas.centerOn(0, 0)
    ids = []
    viewport = canvas.viewport().rect()
    for i, (kind, _) in enumerate(LENET):
        col, row = divmod(i, 5)
        at = QPoint(viewport.left() + 120 + col * 260, viewport.top() + 60 + row * 120)
        before = set(doc.graph.nodes)
        palette_drop(window, kind, at)
        (new,) = set(doc.graph.nodes) - before
        ids.append(new)
    for a, b in zip(ids, ids[1:]):
        wire(canvas, a, b)
    assert len(doc.graph.edges) == 12

    for node_id, (_kind, params) in zip(ids, LENET):
        if not params:
            continue
        click(canvas, node_point(canvas, node_id))
        assert window.properties.node_id == node_id
        for name, text in params.items():
            type_into(qtbot, window.properties.editor(name), text)
        # The node on the canvas shows the new output shape at once.
        assert canvas.graph_scene.nodes[node_id].shape_text() == _expected_shape(node_id, doc)

    result = infer(doc.graph)
    assert result.ok, result.first_error()
    assert result.total_params == 61_706
    assert window.status.params_label.text() == "Parameters: 61,706"
    assert [result[n].shape for n in ids] == _LENET_SHAPES
    assert result.total_params == infer(get_preset("lenet5").factory()).total_params

    # Undo every step back to the starting window, then redo them all.
    built = doc.graph.to_dict()
    steps = doc.undo_stack.count()
    for _ in range(steps):
        doc.undo_stack.undo()
    assert _structure(doc.graph.to_dict()) == _structure(start)
    for _ in range(steps):
        doc.undo_stack.redo()
    assert doc.graph.to_dict() == built

    # Save and reopen: the same graph, a clean title.
    path = tmp_path / "lenet-by-hand.cnnp"
    monkeypatch.setattr(window.files, "choose_save_path", lambda: path)
    assert window.save_as()
    assert not doc.modified
    assert window.open_path(path, ask=False)
    assert doc.graph.to_dict() == built
    assert window.windowTitle().startswith("lenet-by-hand.cnnp")


_LENET_SHAPES = [(1, 28, 28), (6, 28, 28), (6, 28, 28), (6, 14, 14), (16, 10, 10), (16, 10, 10), (16, 5, 5),
                 (400,), (120,), (120,), (84,), (84,), (10,)]


def _expected_shape(node_id: str, doc) -> str:
    from cnnplayground.core.shapes import format_shape

    return format_shape(doc.result[node_id].shape)


def _structure(d: dict) -> dict:
    """Kinds, parameters and wires (positions aside)."""
    return {"nodes": [(n["id"], n["kind"], n["params"]) for n in d["nodes"]], "edges": d["edges"]}

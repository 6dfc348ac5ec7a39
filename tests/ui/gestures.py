"""Real mouse and drag-and-drop gestures on the canvas, sent as Qt events (no sleeps)."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent, QMouseEvent
from PySide6.QtWidgets import QApplication

from cnnplayground.ui.editor.canvas.view import CanvasView
from cnnplayground.ui.editor.mime import layer_mime_data

LEFT = Qt.MouseButton.LeftButton
NO_BUTTON = Qt.MouseButton.NoButton


def drop_layer(view: CanvasView, kind: str, at: QPoint) -> None:
    """Drag ``kind`` from the palette and drop it at viewport point ``at``."""
    md = layer_mime_data(kind)
    target = view.viewport()
    pos = QPointF(at)
    actions = Qt.DropAction.CopyAction
    enter = QDragEnterEvent(at, actions, md, LEFT, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(target, enter)
    assert enter.isAccepted(), "the canvas refused the drag"
    move = QDragMoveEvent(at, actions, md, LEFT, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(target, move)
    drop = QDropEvent(pos, actions, md, LEFT, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(target, drop)


def _mouse(view: CanvasView, kind: QEvent.Type, at: QPoint, button, buttons) -> None:
    target = view.viewport()
    local = QPointF(at)
    event = QMouseEvent(kind, local, QPointF(target.mapToGlobal(at)), button, buttons,
                        Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(target, event)


def drag(view: CanvasView, start: QPoint, end: QPoint, steps: int = 4) -> None:
    """Press the left button at ``start``, move in steps to ``end``, release."""
    _mouse(view, QEvent.Type.MouseButtonPress, start, LEFT, LEFT)
    for i in range(1, steps + 1):
        p = QPoint(start.x() + (end.x() - start.x()) * i // steps, start.y() + (end.y() - start.y()) * i // steps)
        _mouse(view, QEvent.Type.MouseMove, p, NO_BUTTON, LEFT)
    _mouse(view, QEvent.Type.MouseButtonRelease, end, LEFT, NO_BUTTON)


def click(view: CanvasView, at: QPoint) -> None:
    _mouse(view, QEvent.Type.MouseButtonPress, at, LEFT, LEFT)
    _mouse(view, QEvent.Type.MouseButtonRelease, at, LEFT, NO_BUTTON)


def port_point(view: CanvasView, node_id: str, output: bool, index: int = 0) -> QPoint:
    """Viewport coordinates of a node's output port or its ``index``-th input port."""
    item = view.graph_scene.nodes[node_id]
    port = item.output_port if output else item.input_ports[index]
    return view.mapFromScene(port.scene_center())


def node_point(view: CanvasView, node_id: str) -> QPoint:
    """A point on the node's body (its settings line), away from the ports."""
    item = view.graph_scene.nodes[node_id]
    return view.mapFromScene(item.mapToScene(QPointF(40, 32)))


def wire(view: CanvasView, source: str, target: str, port: int = 0) -> None:
    drag(view, port_point(view, source, output=True), port_point(view, target, output=False, index=port))

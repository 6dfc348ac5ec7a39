"""The canvas view: zoom, pan, drops from the palette, clipboard, quick add.

Every edit goes through the document's undo stack; the scene redraws from the
graph's notifications.
"""

from __future__ import annotations

import json

from PySide6.QtCore import QMimeData, QPoint, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QGuiApplication, QKeyEvent, QPainter, QWheelEvent
from PySide6.QtWidgets import QCompleter, QFrame, QGraphicsView, QLineEdit, QVBoxLayout

from ....core.errors import UserError
from ....core.graph import GraphError
from ....core.layout import VIEW_SIZE, layered_layout
from ....core.registry import all_kinds
from ...document.commands import AddNode, MoveNodes, fragment_of, paste_fragment, remove_selection
from ...document.document import Document
from ..mime import FRAGMENT_MIME, kind_from_mime
from .items import NODE_HEIGHT, NODE_WIDTH, EdgeItem, NodeItem
from .scene import GraphScene, snap

MIN_ZOOM, MAX_ZOOM = 0.15, 3.0
#: A newly opened network is shown whole when it fits at this zoom (node text still reads well).
READABLE_ZOOM = 0.6
ZOOM_STEP = 1.2
PASTE_OFFSET = 40.0


class CanvasView(QGraphicsView):
    """The layer canvas. See the module docstring."""

    selection_changed = Signal(list)
    zoom_changed = Signal(float)
    status_message = Signal(str)

    def __init__(self, document: Document, parent=None) -> None:
        super().__init__(parent)
        self.document = document
        self.graph_scene = GraphScene(document, self)
        self.setScene(self.graph_scene)
        self.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.TextAntialiasing)
        self.setDragMode(QGraphicsView.DragMode.RubberBandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.SmartViewportUpdate)
        self.setAcceptDrops(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setSceneRect(QRectF(-5000, -5000, 10000, 20000))
        self._zoom = 1.0
        self._space_held = False
        self._paste_count = 0
        self.graph_scene.selectionChanged.connect(self._on_scene_selection_changed)
        self.graph_scene.status_message.connect(self.status_message)
        document.selection_hint.connect(self.select_nodes)
        document.graph_replaced.connect(self._on_graph_replaced)

    def _on_graph_replaced(self, _graph) -> None:
        self.show_network()

    def show_network(self) -> None:
        """Frame a newly opened network: all of it if that stays readable (≥ 60 %),
        otherwise its top (the Input) at 100 %, centred across its width."""
        framing = self._network_and_view()
        if framing is None:
            return
        rect, view = framing
        if min(view.width() / rect.width(), view.height() / rect.height()) >= READABLE_ZOOM:
            self.fit_to_view()
            return
        self.set_zoom(1.0)
        top = rect.top() + view.height() / 2 - 10
        self.centerOn(rect.center().x() if rect.width() <= view.width() else rect.left() + view.width() / 2, top)

    # --- selection ----------------------------------------------------------------------
    def selected_node_ids(self) -> list[str]:
        return [i.node_id for i in self.graph_scene.selectedItems() if isinstance(i, NodeItem)]

    def selected_edges(self):
        return [i.edge for i in self.graph_scene.selectedItems() if isinstance(i, EdgeItem)]

    def select_nodes(self, ids: list[str]) -> None:
        self.graph_scene.clearSelection()
        for nid in ids:
            item = self.graph_scene.nodes.get(nid)
            if item is not None:
                item.setSelected(True)
        if ids and ids[0] in self.graph_scene.nodes:
            self.ensureVisible(self.graph_scene.nodes[ids[0]], 40, 40)

    def select_all(self) -> None:
        for item in self.graph_scene.nodes.values():
            item.setSelected(True)

    def _on_scene_selection_changed(self) -> None:
        self.selection_changed.emit(self.selected_node_ids())

    # --- edits ---------------------------------------------------------------------------
    def add_layer(self, kind: str, scene_pos: QPointF | None = None) -> str | None:
        """Add a ``kind`` layer at ``scene_pos`` (default: below the selection or the view centre)."""
        if scene_pos is None:
            scene_pos = self._default_drop_point()
        pos = (snap(scene_pos.x() - NODE_WIDTH / 2), snap(scene_pos.y() - NODE_HEIGHT / 2))
        try:
            cmd = AddNode(self.document.graph, kind, pos)
        except GraphError as exc:
            self.status_message.emit(f"Refused: {exc}")
            return None
        self.document.push(cmd)
        self.select_nodes([cmd.node_id])
        return cmd.node_id

    def _default_drop_point(self) -> QPointF:
        selected = [self.graph_scene.nodes[n] for n in self.selected_node_ids()]
        if selected:
            lowest = max(selected, key=lambda i: i.pos().y())
            return lowest.pos() + QPointF(NODE_WIDTH / 2, NODE_HEIGHT * 1.5 + 34)
        return self.mapToScene(self.viewport().rect().center())

    def delete_selection(self) -> None:
        ids, edges = self.selected_node_ids(), self.selected_edges()
        if not ids and not edges:
            return
        self.document.push(remove_selection(self.document.graph, ids, edges))

    def copy_selection(self) -> bool:
        ids = self.selected_node_ids()
        if not ids:
            return False
        md = QMimeData()
        text = json.dumps(fragment_of(self.document.graph, ids))
        md.setData(FRAGMENT_MIME, text.encode())
        md.setText(text)
        QGuiApplication.clipboard().setMimeData(md)
        self._paste_count = 0
        return True

    def cut_selection(self) -> None:
        if self.copy_selection():
            self.delete_selection()

    def paste(self) -> None:
        md = QGuiApplication.clipboard().mimeData()
        if md is None or not md.hasFormat(FRAGMENT_MIME):
            self.status_message.emit("Nothing to paste: copy layers first")
            return
        try:
            fragment = json.loads(bytes(md.data(FRAGMENT_MIME)).decode())
        except (ValueError, UnicodeDecodeError):
            self.status_message.emit("The clipboard does not hold CNN Playground layers")
            return
        self._paste_count += 1
        self._paste(fragment, self._paste_count * PASTE_OFFSET)

    def duplicate_selection(self) -> None:
        ids = self.selected_node_ids()
        if ids:
            self._paste(fragment_of(self.document.graph, ids), PASTE_OFFSET)

    def _paste(self, fragment: dict, offset: float) -> None:
        try:
            cmd, new_ids = paste_fragment(self.document.graph, fragment, (offset, offset))
        except (UserError, KeyError, TypeError, ValueError) as exc:  # built-ins: a damaged fragment's own
            self.status_message.emit(f"Cannot paste: {exc}")
            return
        self.document.push(cmd)
        self.select_nodes(new_ids)

    def auto_layout(self) -> None:
        graph = self.document.graph
        viewport = self.viewport().rect()
        view = (float(viewport.width()), float(viewport.height())) if viewport.width() > 100 else VIEW_SIZE
        target = layered_layout(graph, view=view)  # wrapped to this canvas's shape
        moves = {nid: (graph.nodes[nid].position, pos) for nid, pos in target.items()
                 if graph.nodes[nid].position != pos}
        if moves:
            self.document.push(MoveNodes(graph, moves, "Auto layout"))
        self.fit_to_view()

    # --- zoom and pan --------------------------------------------------------------------
    @property
    def zoom(self) -> float:
        return self._zoom

    def set_zoom(self, zoom: float) -> None:
        zoom = min(max(zoom, MIN_ZOOM), MAX_ZOOM)
        factor = zoom / self._zoom
        if abs(factor - 1) < 1e-9:
            return
        self.scale(factor, factor)
        self._zoom = zoom
        self.zoom_changed.emit(zoom)

    def zoom_in(self) -> None:
        self.set_zoom(self._zoom * ZOOM_STEP)

    def zoom_out(self) -> None:
        self.set_zoom(self._zoom / ZOOM_STEP)

    def reset_zoom(self) -> None:
        self.set_zoom(1.0)

    def _network_and_view(self):
        """``(network rect, viewport rect)``, or ``None`` (after centring an empty canvas) when
        there is nothing to frame or the view is not laid out yet."""
        if not self.graph_scene.nodes:
            self.reset_zoom()
            self.centerOn(0, 0)
            return None
        view = self.viewport().rect()
        if view.width() < 10 or view.height() < 10:
            return None
        return self.graph_scene.items_bounding_rect(), view

    def fit_to_view(self) -> None:
        framing = self._network_and_view()
        if framing is None:
            return
        rect, view = framing
        zoom = min(view.width() / rect.width(), view.height() / rect.height(), 1.25)
        self.set_zoom(zoom)
        self.centerOn(rect.center())

    def wheelEvent(self, event: QWheelEvent) -> None:
        if event.modifiers() & Qt.KeyboardModifier.ShiftModifier or event.pixelDelta().x():
            super().wheelEvent(event)  # horizontal scrolling / touchpad panning
            return
        steps = event.angleDelta().y() / 120
        if steps:
            self.set_zoom(self._zoom * ZOOM_STEP**steps)
            event.accept()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space_held = True
            self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
            return
        if event.key() in (Qt.Key.Key_Plus, Qt.Key.Key_Equal) and not event.modifiers():
            self.zoom_in()
            return
        if event.key() == Qt.Key.Key_Minus and not event.modifiers():
            self.zoom_out()
            return
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space_held = False
            self.setDragMode(QGraphicsView.DragMode.RubberBandDrag)
            return
        super().keyReleaseEvent(event)

    def mousePressEvent(self, event) -> None:
        if event.button() == Qt.MouseButton.MiddleButton:
            self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
            # Qt pans only with the left button in ScrollHandDrag: replay as a left press.
            from PySide6.QtGui import QMouseEvent

            fake = QMouseEvent(event.type(), event.position(), event.globalPosition(), Qt.MouseButton.LeftButton,
                               Qt.MouseButton.LeftButton, event.modifiers())
            super().mousePressEvent(fake)
            return
        super().mousePressEvent(event)

    def mouseReleaseEvent(self, event) -> None:
        super().mouseReleaseEvent(event)
        if event.button() == Qt.MouseButton.MiddleButton and not self._space_held:
            self.setDragMode(QGraphicsView.DragMode.RubberBandDrag)

    # --- drops from the palette ----------------------------------------------------------
    def dragEnterEvent(self, event) -> None:
        if kind_from_mime(event.mimeData()):
            event.acceptProposedAction()
        else:
            super().dragEnterEvent(event)

    def dragMoveEvent(self, event) -> None:
        if kind_from_mime(event.mimeData()):
            event.acceptProposedAction()
        else:
            super().dragMoveEvent(event)

    def dropEvent(self, event) -> None:
        kind = kind_from_mime(event.mimeData())
        if not kind:
            super().dropEvent(event)
            return
        self.add_layer(kind, self.mapToScene(event.position().toPoint()))
        event.acceptProposedAction()
        self.setFocus()

    # --- quick add -----------------------------------------------------------------------
    def quick_add(self) -> None:
        """A search box at the cursor: type a layer name, Enter adds it there."""
        cursor = self.mapFromGlobal(self.cursor().pos())
        if not self.viewport().rect().contains(cursor):
            cursor = self.viewport().rect().center()
        popup = QuickAddPopup(self)
        popup.chosen.connect(lambda kind: self.add_layer(kind, self.mapToScene(cursor)))
        popup.move(self.viewport().mapToGlobal(cursor))
        popup.show()
        popup.edit.setFocus()


class QuickAddPopup(QFrame):
    """A small frameless search field with completion over the layer kinds."""

    chosen = Signal(str)

    def __init__(self, parent=None) -> None:
        super().__init__(parent, Qt.WindowType.Popup)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        self.edit = QLineEdit(self)
        self.edit.setPlaceholderText("Add layer…")
        self.edit.setMinimumWidth(220)
        names = [k.name for k in all_kinds()]
        completer = QCompleter(names, self)
        completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        completer.setFilterMode(Qt.MatchFlag.MatchContains)
        self.edit.setCompleter(completer)
        self._names = {n.lower(): n for n in names}
        completer.activated.connect(self._choose)
        self.edit.returnPressed.connect(lambda: self._choose(self.edit.text()))
        layout.addWidget(self.edit)

    def _choose(self, text: str) -> None:
        name = self._names.get(text.strip().lower())
        if name is None:
            matches = [n for k, n in self._names.items() if text.strip().lower() in k]
            name = matches[0] if len(matches) == 1 else None
        if name is not None:
            self.chosen.emit(name)
            self.close()


def viewport_point(view: CanvasView, scene_point: QPointF) -> QPoint:
    """Where a scene point appears in the view's viewport (for tests and popups)."""
    return view.mapFromScene(scene_point)

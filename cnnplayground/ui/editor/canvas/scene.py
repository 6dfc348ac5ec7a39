"""The canvas scene: a mirror of the document's graph, plus the wiring gesture.

The scene keeps a node-id → item map and follows the graph's notifications
(``node_added``, ``edge_removed``, ...): loading a file, undo/redo and scripted
edits all redraw through that one path. User gestures never change items
directly; they push undo commands on the document, whose effects come back
here as notifications.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, QSizeF, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPalette, QPen
from PySide6.QtWidgets import QApplication, QGraphicsPathItem, QGraphicsScene, QGraphicsSceneMouseEvent

from ....core.graph import Edge, Graph, GraphError, Node
from ....core.inference import InferenceResult, NodeInfo
from ....core.layout import FIT_MARGIN
from ....core.registry import get_kind
from ....core.shapes import format_shape
from ...document.commands import Connect, MoveNodes
from ...document.document import Document
from .items import NODE_HEIGHT, NODE_WIDTH, EdgeItem, NodeItem, PortItem, wire_path

GRID = 20.0


def snap(value: float) -> float:
    return round(value / GRID) * GRID


class GraphScene(QGraphicsScene):
    """Items for every node and wire of ``document.graph``.

    Signals: ``status_message(str)`` — why a wire was refused, and the like.
    """

    status_message = Signal(str)

    def __init__(self, document: Document, parent=None) -> None:
        super().__init__(parent)
        self.document = document
        self.nodes: dict[str, NodeItem] = {}
        self.edges: dict[Edge, EdgeItem] = {}
        self._graph: Graph | None = None
        self._wire: QGraphicsPathItem | None = None
        self._wire_from: PortItem | None = None
        self._press_positions: dict[str, tuple[float, float]] = {}
        document.graph_replaced.connect(self._on_graph_replaced)
        document.inference_updated.connect(self._on_inference_updated)
        self._on_graph_replaced(document.graph)

    # --- following the model ----------------------------------------------------------------
    def _on_graph_replaced(self, graph: Graph) -> None:
        if self._graph is not None:
            for sig, slot in self._subscriptions():
                getattr(self._graph, sig).disconnect(slot)
        self._graph = graph
        self.clear()
        self.nodes.clear()
        self.edges.clear()
        self._wire = None
        for sig, slot in self._subscriptions():
            getattr(graph, sig).connect(slot)
        for node in graph.nodes.values():
            self._on_node_added(node)
        for edge in graph.edges:
            self._on_edge_added(edge)
        self._on_inference_updated(self.document.result)

    def _subscriptions(self):
        return [
            ("node_added", self._on_node_added),
            ("node_removed", self._on_node_removed),
            ("node_moved", self._on_node_moved),
            ("node_renamed", self._on_node_renamed),
            ("node_attributes_changed", self._on_node_attributes_changed),
            ("edge_added", self._on_edge_added),
            ("edge_removed", self._on_edge_removed),
        ]

    def _on_node_added(self, node: Node) -> None:
        item = NodeItem(node)
        self.nodes[node.id] = item
        self.addItem(item)

    def _on_node_removed(self, node: Node) -> None:
        item = self.nodes.pop(node.id, None)
        if item is not None:
            self.removeItem(item)

    def _on_node_moved(self, node: Node, old) -> None:
        item = self.nodes[node.id]
        if (item.pos().x(), item.pos().y()) != node.position:
            item.setPos(QPointF(*node.position))

    def _on_node_attributes_changed(self, node: Node, old) -> None:
        item = self.nodes.get(node.id)
        if item is not None:
            item.update_from(node, item.info)

    def _on_node_renamed(self, node: Node, old_id: str) -> None:
        item = self.nodes.pop(old_id)
        self.nodes[node.id] = item
        item.node_id = node.id
        # Wires are re-keyed: their Edge objects carry the old name.
        for edge, edge_item in list(self.edges.items()):
            if old_id in (edge.source, edge.target):
                del self.edges[edge]
                new = Edge(node.id if edge.source == old_id else edge.source,
                           node.id if edge.target == old_id else edge.target, edge.port)
                edge_item.edge = new
                self.edges[new] = edge_item

    def _on_edge_added(self, edge: Edge) -> None:
        target = self.nodes[edge.target]
        self._sync_ports(edge.target)
        item = EdgeItem(edge, self.nodes[edge.source], target)
        self.edges[edge] = item
        self.addItem(item)

    def _on_edge_removed(self, edge: Edge) -> None:
        item = self.edges.pop(edge, None)
        if item is not None:
            item.detach()
            self.removeItem(item)
        if edge.target in self.nodes:
            self._sync_ports(edge.target)

    def _sync_ports(self, node_id: str) -> None:
        """Merges get one port per wire plus a free one."""
        item = self.nodes[node_id]
        graph = self.document.graph
        if get_kind(graph.nodes[node_id].kind).max_inputs is None:
            used = [e.port for e in graph.in_edges(node_id)]
            item.set_input_port_count(max(used, default=-1) + 2)
            for edge_item in item.edges:
                edge_item.update_path()

    def _on_inference_updated(self, result: InferenceResult) -> None:
        graph = self.document.graph
        for nid, item in self.nodes.items():
            node = graph.nodes.get(nid)
            if node is not None:
                item.update_from(node, result.infos.get(nid, NodeInfo()))
        for edge, item in self.edges.items():
            info = result.infos.get(edge.source)
            item.set_label(format_shape(info.shape) if info is not None and info.shape is not None else "")

    # --- gestures: wiring and moving --------------------------------------------------------
    def mousePressEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            port = self._port_at(event.scenePos())
            if port is not None:
                self._start_wire(port)
                event.accept()
                return
        super().mousePressEvent(event)
        self._press_positions = {
            item.node_id: (item.pos().x(), item.pos().y())
            for item in self.selectedItems()
            if isinstance(item, NodeItem)
        }

    def mouseMoveEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        if self._wire is not None and self._wire_from is not None:
            start = self._wire_from.scene_center()
            end = event.scenePos()
            path = wire_path(start, end) if self._wire_from.is_output else wire_path(end, start)
            self._wire.setPath(path)
            event.accept()
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        if self._wire is not None:
            self._finish_wire(self._port_at(event.scenePos()))
            event.accept()
            return
        super().mouseReleaseEvent(event)
        self._commit_moves()

    def _port_at(self, pos: QPointF) -> PortItem | None:
        for item in self.items(pos):
            if isinstance(item, PortItem):
                return item
        return None

    def _start_wire(self, port: PortItem) -> None:
        self._wire_from = port
        self._wire = QGraphicsPathItem()
        pen = QPen(QColor(QApplication.palette().color(QPalette.ColorRole.Highlight)), 2, Qt.PenStyle.DashLine)
        self._wire.setPen(pen)
        self._wire.setZValue(3)
        self.addItem(self._wire)

    def _finish_wire(self, port: PortItem | None) -> None:
        start = self._wire_from
        if self._wire is not None:
            self.removeItem(self._wire)
        self._wire, self._wire_from = None, None
        if start is None or port is None or port is start:
            return
        if start.is_output == port.is_output:
            self.status_message.emit("Refused: connect an output (bottom) to an input (top)")
            return
        source, target = (start, port) if start.is_output else (port, start)
        graph = self.document.graph
        # Merges take the next free port (their order is the order of wiring).
        port_index = None
        try:
            self.document.push(Connect(graph, source.node_id, target.node_id, port_index))
        except GraphError as exc:
            self.status_message.emit(f"Refused: {exc}")
            return
        self.status_message.emit(f"Connected {source.node_id} → {target.node_id}")

    def _commit_moves(self) -> None:
        """One undo step for the whole drag, positions snapped to the grid."""
        graph = self.document.graph
        moves = {}
        for nid in self._press_positions:
            item = self.nodes.get(nid)
            if item is None or nid not in graph.nodes:
                continue
            new = (snap(item.pos().x()), snap(item.pos().y()))
            if new != graph.nodes[nid].position:
                moves[nid] = (graph.nodes[nid].position, new)
        self._press_positions = {}
        if moves:
            self.document.push(MoveNodes(graph, moves))

    # --- background ---------------------------------------------------------------------
    #: Set while a figure is drawn: no grid dots behind the network.
    plain_background = False

    def drawBackground(self, painter: QPainter, rect) -> None:
        pal = QApplication.palette()
        painter.fillRect(rect, QColor(pal.color(QPalette.ColorRole.Window)))
        if self.plain_background:
            return
        dot = QColor(pal.color(QPalette.ColorRole.Text))
        dot.setAlphaF(0.13)
        painter.setPen(QPen(dot, 1.5))
        # Dots every two grid steps; coarser when zoomed out, so at most ~4,000 are drawn.
        step = GRID * 2
        while (rect.width() / step) * (rect.height() / step) > 4000:
            step *= 2
        left = int(rect.left() // step) * step
        top = int(rect.top() // step) * step
        xs = [left + i * step for i in range(int((rect.right() - left) // step) + 1)]
        ys = [top + j * step for j in range(int((rect.bottom() - top) // step) + 1)]
        painter.drawPoints([QPointF(x, y) for x in xs for y in ys])

    def items_bounding_rect(self) -> QRectF:
        """The nodes' boxes with :data:`~cnnplayground.core.layout.FIT_MARGIN` around them (the
        wires of a laid-out network run between the nodes and within the margin)."""
        rect = QRectF()
        for item in self.nodes.values():
            rect = rect.united(QRectF(item.pos(), QSizeF(NODE_WIDTH, NODE_HEIGHT)))
        return rect.adjusted(-FIT_MARGIN, -FIT_MARGIN, FIT_MARGIN, FIT_MARGIN)

"""Graphics items of the canvas: layer nodes, their ports, and wires.

Items hold no network state of their own: a node item shows what the graph and
the latest inference say about its node, and is refreshed by the scene.
Layers flow top to bottom: inputs on a node's top edge, its output at the bottom.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetricsF, QPainter, QPainterPath, QPalette, QPen
from PySide6.QtWidgets import (
    QApplication,
    QGraphicsItem,
    QGraphicsObject,
    QGraphicsPathItem,
    QStyleOptionGraphicsItem,
    QWidget,
)

from ....core.graph import Edge, Node
from ....core.inference import NodeInfo
from ....core.layout import COLUMN_GAP, COLUMN_WIDTH, NODE_HEIGHT, NODE_WIDTH, ROW_HEIGHT
from ....core.registry import get_kind
from ....core.shapes import format_shape

HEADER_HEIGHT = 18.0
LINE_HEIGHT = 16.0
PADDING = 6.0
#: Space between the kind and the name in a node's header.
HEADER_SPACING = 6.0
PORT_RADIUS = 5.0
ERROR_COLOR = QColor("#d64545")
WARN_TEXT = QColor("#b07d00")


def _palette() -> QPalette:
    return QPalette(QApplication.palette())


def category_color(category: str) -> QColor:
    try:
        from ..palette import CATEGORY_COLORS

        return QColor(CATEGORY_COLORS.get(category, "#7f8c8d"))
    except ImportError:  # pragma: no cover - palette module always ships
        return QColor("#7f8c8d")


def compact_count(n: int) -> str:
    """``61706`` → ``"61.7k"``; ``138357544`` → ``"138.4M"``."""
    if n < 1000:
        return str(n)
    for div, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if n >= div:
            value = n / div
            return f"{value:.1f}{unit}" if value < 100 else f"{value:.0f}{unit}"
    return str(n)  # pragma: no cover


def header_texts(kind: str, node_id: str, kind_metrics: QFontMetricsF, id_metrics: QFontMetricsF,
                 width: float = NODE_WIDTH - 2 * PADDING) -> tuple[str, str]:
    """The kind (left, bold) and the node id (right) as a header ``width`` wide shows them: elided
    (``…``) so that the two never run into each other. The kind keeps up to 65 % of the width
    when both are too long, the id its end (``…0_conv1``: ids differ at the end); the full
    texts are in the node's tool tip."""
    room = width - HEADER_SPACING
    kind_width = kind_metrics.horizontalAdvance(kind)
    id_width = id_metrics.horizontalAdvance(node_id)
    if kind_width + id_width <= room:
        return kind, node_id
    kind_room = min(kind_width, max(room * 0.65, room - id_width))
    kind_shown = kind_metrics.elidedText(kind, Qt.TextElideMode.ElideRight, kind_room)
    id_room = room - kind_metrics.horizontalAdvance(kind_shown)
    return kind_shown, id_metrics.elidedText(node_id, Qt.TextElideMode.ElideLeft, id_room)


class PortItem(QGraphicsItem):
    """A connection point. ``index`` is the input port number, or -1 for the output."""

    def __init__(self, node_item: NodeItem, index: int) -> None:
        super().__init__(node_item)
        self.node_item = node_item
        self.index = index
        self.highlight = False
        self.setAcceptHoverEvents(True)
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.setZValue(2)

    @property
    def is_output(self) -> bool:
        return self.index < 0

    @property
    def node_id(self) -> str:
        return self.node_item.node_id

    def boundingRect(self) -> QRectF:
        r = PORT_RADIUS + 3
        return QRectF(-r, -r, 2 * r, 2 * r)

    def shape(self) -> QPainterPath:
        path = QPainterPath()
        path.addEllipse(self.boundingRect())
        return path

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        pal = _palette()
        role = QPalette.ColorRole.Highlight if self.highlight else QPalette.ColorRole.Base
        fill = QColor(pal.color(role))
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QPen(QColor(pal.color(QPalette.ColorRole.Text)), 1.5))
        painter.setBrush(fill)
        painter.drawEllipse(QPointF(0, 0), PORT_RADIUS, PORT_RADIUS)

    def hoverEnterEvent(self, event) -> None:
        self.highlight = True
        self.update()

    def hoverLeaveEvent(self, event) -> None:
        self.highlight = False
        self.update()

    def scene_center(self) -> QPointF:
        return self.mapToScene(QPointF(0, 0))


class NodeItem(QGraphicsObject):
    """One layer: header with kind and name, key settings, output shape and parameter count."""

    def __init__(self, node: Node) -> None:
        super().__init__()
        self.node_id = node.id
        self.kind = node.kind
        self.settings = ""
        self.info = NodeInfo()
        self.input_ports: list[PortItem] = []
        self.output_port: PortItem | None = None
        self.setFlags(
            QGraphicsItem.GraphicsItemFlag.ItemIsMovable
            | QGraphicsItem.GraphicsItemFlag.ItemIsSelectable
            | QGraphicsItem.GraphicsItemFlag.ItemSendsGeometryChanges
        )
        self.setAcceptHoverEvents(True)
        self.setZValue(1)
        # Rendered once into a pixmap; repainting a big network then only blits.
        self.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.edges: list[EdgeItem] = []
        self.setPos(QPointF(*node.position))
        layer = get_kind(node.kind)
        if layer.takes_inputs:
            self.set_input_port_count(1)
        self.output_port = PortItem(self, -1)
        self.output_port.setPos(NODE_WIDTH / 2, NODE_HEIGHT)
        self.update_from(node, self.info)

    # --- state from the model ------------------------------------------------------------
    def update_from(self, node: Node, info: NodeInfo) -> None:
        layer = get_kind(node.kind)
        settings = layer.key_params_text(node.params)
        if node.frozen:  # training attributes, when not the defaults
            settings += " · frozen"
        elif node.lr_scale != 1.0:
            settings += f" · LR ×{node.lr_scale:g}"
        settings = settings.removeprefix(" · ")
        if (node.id, settings, info) == (self.node_id, self.settings, self.info) and self.toolTip():
            return  # nothing shown has changed: keep the cached drawing
        self.node_id = node.id
        self.settings = settings
        self.info = info
        tip = [f"<b>{node.id}</b> — {layer.name}", layer.summary]
        if info.error:
            tip.append(f"<span style='color:{ERROR_COLOR.name()}'><b>Problem:</b> {info.error}</span>")
        elif info.blocked_by:
            tip.append(f"Waiting on <b>{info.blocked_by}</b>, which has a problem.")
        elif info.shape is not None:
            tip.append(f"Output {format_shape(info.shape)}, {info.params:,} parameters")
        self.setToolTip("<br>".join(tip))
        self.update()

    def set_input_port_count(self, count: int) -> None:
        """Merges show one port per wire plus a free one; other layers show exactly one."""
        while len(self.input_ports) < count:
            self.input_ports.append(PortItem(self, len(self.input_ports)))
        while len(self.input_ports) > count:
            port = self.input_ports.pop()
            port.setParentItem(None)
            if port.scene() is not None:
                port.scene().removeItem(port)
        for i, port in enumerate(self.input_ports):
            port.setPos(NODE_WIDTH * (i + 1) / (count + 1), 0)

    # --- geometry ------------------------------------------------------------------------
    def boundingRect(self) -> QRectF:
        return QRectF(-2, -2, NODE_WIDTH + 4, NODE_HEIGHT + 4)

    def shape(self) -> QPainterPath:
        path = QPainterPath()
        path.addRoundedRect(QRectF(0, 0, NODE_WIDTH, NODE_HEIGHT), 6, 6)
        return path

    def itemChange(self, change, value):
        if change == QGraphicsItem.GraphicsItemChange.ItemPositionHasChanged:
            for edge in self.edges:
                edge.update_path()
        return super().itemChange(change, value)

    # --- drawing -------------------------------------------------------------------------
    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        pal = _palette()
        layer = get_kind(self.kind)
        rect = QRectF(0, 0, NODE_WIDTH, NODE_HEIGHT)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        text = QColor(pal.color(QPalette.ColorRole.Text))
        muted = QColor(text)
        muted.setAlphaF(0.6)
        has_error = self.info.error is not None
        accent = ERROR_COLOR if has_error else category_color(layer.category)

        # Body and border (selection uses the highlight colour, errors red).
        if self.isSelected():
            border = QPen(QColor(pal.color(QPalette.ColorRole.Highlight)), 2.5)
        elif has_error:
            border = QPen(ERROR_COLOR, 2.0)
        else:
            border = QPen(QColor(pal.color(QPalette.ColorRole.Mid)), 1.0)
        painter.setPen(border)
        painter.setBrush(QColor(pal.color(QPalette.ColorRole.Base)))
        painter.drawRoundedRect(rect, 6, 6)

        # Header strip in the category colour, clipped to the rounded body (no corner notches).
        painter.save()
        painter.setClipPath(self.shape())
        painter.fillRect(QRectF(0, 0, NODE_WIDTH, HEADER_HEIGHT), accent)
        painter.restore()
        painter.setPen(border)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRoundedRect(rect, 6, 6)

        # Zoomed far out, text is unreadable: boxes and colours carry the picture.
        if option.levelOfDetailFromTransform(painter.worldTransform()) < 0.35:
            return
        base_font = QFont(painter.font())
        bold = QFont(base_font)
        bold.setBold(True)
        painter.setFont(bold)
        header_text = QColor("#ffffff") if accent.lightnessF() < 0.62 else QColor("#1b1b1b")
        painter.setPen(header_text)
        kind_shown, id_shown = header_texts(layer.name, self.node_id, QFontMetricsF(bold), QFontMetricsF(base_font))
        width = NODE_WIDTH - 2 * PADDING
        painter.drawText(QRectF(PADDING, 0, width, HEADER_HEIGHT),
                         int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter), kind_shown)
        painter.setFont(base_font)
        painter.drawText(QRectF(PADDING, 0, width, HEADER_HEIGHT),
                         int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter), id_shown)

        # Settings, with the parameter count on the right (once the shapes are known).
        first = QRectF(PADDING, HEADER_HEIGHT, NODE_WIDTH - 2 * PADDING, LINE_HEIGHT)
        if self.info.shape is not None and not has_error:
            params = compact_count(self.info.params) + " p" if self.info.params else ""
            params_width = min(QFontMetricsF(painter.font()).horizontalAdvance(params), first.width() * 0.45)
            painter.setPen(muted)
            self._draw_elided(painter, first.adjusted(first.width() - params_width, 0, 0, 0), params,
                              Qt.AlignmentFlag.AlignRight)
            first.adjust(0, 0, -params_width - (HEADER_SPACING if params else 0), 0)
        painter.setPen(text)
        self._draw_elided(painter, first, self.settings or " ", Qt.AlignmentFlag.AlignLeft)

        # Output shape (the whole line: it is what the network does to the data), or the problem.
        line = QRectF(PADDING, HEADER_HEIGHT + LINE_HEIGHT, NODE_WIDTH - 2 * PADDING, LINE_HEIGHT)
        if has_error:
            painter.setPen(ERROR_COLOR)
            self._draw_elided(painter, line, "⚠ " + (self.info.error or ""), Qt.AlignmentFlag.AlignLeft)
        elif self.info.blocked_by:
            painter.setPen(muted)
            self._draw_elided(painter, line, f"waiting on {self.info.blocked_by}", Qt.AlignmentFlag.AlignLeft)
        elif self.info.shape is not None:
            painter.setPen(text)
            self._draw_elided(painter, line, "→ " + format_shape(self.info.shape), Qt.AlignmentFlag.AlignLeft)

    @staticmethod
    def _draw_elided(painter: QPainter, rect: QRectF, text: str, align: Qt.AlignmentFlag) -> None:
        metrics = QFontMetricsF(painter.font())
        shown = metrics.elidedText(text, Qt.TextElideMode.ElideRight, rect.width())
        painter.drawText(rect, int(align | Qt.AlignmentFlag.AlignVCenter), shown)

    # --- text for tests and accessibility --------------------------------------------------
    def shape_text(self) -> str:
        if self.info.error:
            return "error"
        return format_shape(self.info.shape) if self.info.shape is not None else ""


class EdgeItem(QGraphicsPathItem):
    """A wire from a node's output to another node's input port, labelled with its tensor shape."""

    def __init__(self, edge: Edge, source: NodeItem, target: NodeItem) -> None:
        super().__init__()
        self.edge = edge
        self.source = source
        self.target = target
        self.label = ""
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable)
        self.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.setZValue(0)
        self.setAcceptHoverEvents(True)
        source.edges.append(self)
        target.edges.append(self)
        self.update_path()

    def detach(self) -> None:
        for item in (self.source, self.target):
            if self in item.edges:
                item.edges.remove(self)

    def set_label(self, text: str) -> None:
        if text == self.label and self.toolTip():
            return
        self.label = text
        self.setToolTip(f"{self.edge.source} → {self.edge.target}" + (f": {text}" if text else ""))
        self.update()

    def update_path(self) -> None:
        start = self.source.output_port.scene_center() if self.source.output_port else self.source.scenePos()
        port = self.edge.port
        ports = self.target.input_ports
        end = ports[min(port, len(ports) - 1)].scene_center() if ports else self.target.scenePos()
        self.setPath(wire_path(start, end))

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        pal = _palette()
        role = QPalette.ColorRole.Highlight if self.isSelected() else QPalette.ColorRole.Text
        color = QColor(pal.color(role))
        if not self.isSelected():
            color.setAlphaF(0.55)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QPen(color, 2.5 if self.isSelected() else 1.6))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawPath(self.path())
        # Only on a long wire straight down (one cubic: 4 elements): a laid-out network's wires are short
        # or run in the gaps beside nodes, and every node shows its output shape (the tool tip has the label).
        path = self.path()
        if (self.label and path.elementCount() == 4 and path.elementAt(0).x == path.elementAt(3).x
                and path.length() >= 2 * ROW_HEIGHT
                and option.levelOfDetailFromTransform(painter.worldTransform()) >= 0.45):
            mid = self.path().pointAtPercent(0.5)
            font = QFont(painter.font())
            font.setPointSizeF(max(font.pointSizeF() * 0.82, 6.5))
            painter.setFont(font)
            metrics = QFontMetricsF(font)
            w = metrics.horizontalAdvance(self.label) + 8
            h = metrics.height() + 2
            box = QRectF(mid.x() + 6, mid.y() - h / 2, w, h)
            painter.setPen(Qt.PenStyle.NoPen)
            bg = QColor(pal.color(QPalette.ColorRole.Window))
            bg.setAlphaF(0.85)
            painter.setBrush(QBrush(bg))
            painter.drawRoundedRect(box, 3, 3)
            muted = QColor(pal.color(QPalette.ColorRole.Text))
            muted.setAlphaF(0.75)
            painter.setPen(muted)
            painter.drawText(box, int(Qt.AlignmentFlag.AlignCenter), self.label)

    def boundingRect(self) -> QRectF:
        return super().boundingRect().adjusted(-4, -12, 90, 12)

    def shape(self) -> QPainterPath:
        from PySide6.QtGui import QPainterPathStroker

        stroker = QPainterPathStroker()
        stroker.setWidth(10)
        return stroker.createStroke(self.path())


def wire_path(start: QPointF, end: QPointF) -> QPainterPath:
    """A wire from an output (flowing down) into an input (from above), routed around nodes
    laid out by :func:`~cnnplayground.core.layout.layered_layout`.

    To the next level: a smooth curve. Skipping levels straight down (a residual shortcut):
    an arc in the gap on the right of the main path, as in He et al.'s figures. Skipping
    levels into another lane (a projection shortcut, the next band of columns): across in
    the gap below the source, then down the target's lane (a wrap to a band further left
    goes down first). Upwards (to the top of the next column): up the gap left of the target.
    """
    dy = end.y() - start.y()
    dx = end.x() - start.x()
    gap = ROW_HEIGHT - NODE_HEIGHT
    half = gap / 2
    if 0 <= dy < NODE_HEIGHT + gap:  # no node fits between: straight on
        path = QPainterPath(start)
        reach = max(dy * 0.5, 6.0)
        path.cubicTo(QPointF(start.x(), start.y() + reach), QPointF(end.x(), end.y() - reach), end)
        return path
    if dy > 0 and abs(dx) < NODE_WIDTH / 2:
        side = max(start.x(), end.x()) + NODE_WIDTH / 2 + (COLUMN_WIDTH_GAP / 2)
        points = [start, QPointF(start.x(), start.y() + half), QPointF(side, start.y() + half),
                  QPointF(side, end.y() - half), QPointF(end.x(), end.y() - half), end]
    elif dy > 0 and dx < -2 * NODE_WIDTH:
        points = [start, QPointF(start.x(), end.y() - half), QPointF(end.x(), end.y() - half), end]
    elif dy > 0:
        points = [start, QPointF(start.x(), start.y() + half), QPointF(end.x(), start.y() + half), end]
    else:
        gutter = end.x() - NODE_WIDTH / 2 - COLUMN_GAP / 2
        points = [start, QPointF(start.x(), start.y() + half), QPointF(gutter, start.y() + half),
                  QPointF(gutter, end.y() - half), QPointF(end.x(), end.y() - half), end]
    return rounded_path(points)


#: The gap between lanes of a column (a shortcut's arc runs in its middle).
COLUMN_WIDTH_GAP = COLUMN_WIDTH - NODE_WIDTH


def rounded_path(points: list[QPointF], radius: float = 8.0) -> QPainterPath:
    """A polyline through ``points`` with its corners rounded (quadratic, at most ``radius``)."""
    path = QPainterPath(points[0])
    for prev, corner, nxt in zip(points, points[1:], points[2:], strict=False):
        a = QPointF(corner - prev)
        b = QPointF(nxt - corner)
        la, lb = (a.x() ** 2 + a.y() ** 2) ** 0.5, (b.x() ** 2 + b.y() ** 2) ** 0.5
        if la < 1e-6 or lb < 1e-6:
            continue
        r = min(radius, la / 2, lb / 2)
        path.lineTo(corner - a * (r / la))
        path.quadTo(corner, corner + b * (r / lb))
    path.lineTo(points[-1])
    return path

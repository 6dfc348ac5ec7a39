"""The layer palette: every registered layer kind, grouped by category, searchable.

Generated from the registry (:func:`~cnnplayground.core.registry.kinds_by_category`),
so a new layer kind appears here without touching this file. Layers are dragged
onto the canvas (:data:`.mime.LAYER_MIME`) or added with a double-click / Enter
(:attr:`LayerPalette.layer_activated`).
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from PySide6.QtCore import QMimeData, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QDrag, QFont, QIcon, QKeyEvent, QPainter, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QLineEdit,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ...core.registry import LayerKind, kinds_by_category
from .mime import LAYER_MIME, layer_mime_data

#: One colour per palette category (hex), mid-tone so it reads on light and dark
#: backgrounds; the canvas uses the same colours for node headers.
CATEGORY_COLORS: dict[str, str] = {
    "Input": "#78909c",
    "Convolution": "#1e88e5",
    "Pooling": "#00acc1",
    "Normalization": "#8e24aa",
    "Activation": "#fb8c00",
    "Regularization": "#d81b60",
    "Dense": "#43a047",
    "Merge": "#8d6e63",
}

#: Item data role holding a layer item's kind name (group items hold ``None``).
KIND_ROLE = Qt.ItemDataRole.UserRole

_ICON_SIZE = 12
_HINT = "Drag onto the canvas or double-click to add"


def category_icon(category: str, size: int = _ICON_SIZE, device_pixel_ratio: float = 2.0) -> QIcon:
    """A small rounded square in the category's colour, with a darker rim for contrast."""
    color = QColor(CATEGORY_COLORS.get(category, "#9e9e9e"))
    pixmap = QPixmap(round(size * device_pixel_ratio), round(size * device_pixel_ratio))
    pixmap.setDevicePixelRatio(device_pixel_ratio)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    try:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(color.darker(140))
        painter.setBrush(color)
        painter.drawRoundedRect(QRectF(1.0, 1.0, size - 2.0, size - 2.0), 2.5, 2.5)
    finally:
        painter.end()
    return QIcon(pixmap)


def layer_tooltip(kind: LayerKind) -> str:
    """Rich-text tooltip: bold name and category, the summary, the parameter names, a hint."""
    names = ", ".join(kind.params.names()) or "none"
    return (
        f"<b>{html.escape(kind.name)}</b> <span style='color: gray'>({html.escape(kind.category)})</span>"
        f"<p style='margin: 4px 0'>{html.escape(kind.summary)}</p>"
        f"<p style='margin: 4px 0'>Parameters: {html.escape(names)}</p>"
        f"<i>{_HINT}</i>"
    )


class _SearchEdit(QLineEdit):
    """The search box: Esc clears it, Down moves into the list."""

    down_pressed = Signal()

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 (Qt override)
        if event.key() == Qt.Key.Key_Escape and self.text():
            self.clear()
            event.accept()
        elif event.key() == Qt.Key.Key_Down:
            self.down_pressed.emit()
            event.accept()
        else:
            super().keyPressEvent(event)


class _LayerTree(QTreeWidget):
    """The tree of categories and layer kinds; layer items drag as :data:`LAYER_MIME`."""

    return_pressed = Signal(object)  # (QTreeWidgetItem)

    def mimeTypes(self) -> list[str]:  # noqa: N802 (Qt override)
        return [LAYER_MIME, "text/plain"]

    def mimeData(self, items: Sequence[QTreeWidgetItem]) -> QMimeData | None:  # noqa: N802 (Qt override)
        kinds = [k for k in (item.data(0, KIND_ROLE) for item in items) if k]
        if not kinds:
            return None
        return layer_mime_data(kinds[0])

    def supportedDropActions(self) -> Qt.DropAction:  # noqa: N802 (Qt override)
        # The palette accepts no drops; this also makes drags offer Copy only.
        return Qt.DropAction.CopyAction

    def startDrag(self, supportedActions: Qt.DropAction) -> None:  # noqa: N802, N803 (Qt override)
        items = [i for i in self.selectedItems() if i.data(0, KIND_ROLE)]
        data = self.mimeData(items)
        if data is None:
            return
        drag = QDrag(self)
        drag.setMimeData(data)
        drag.setPixmap(items[0].icon(0).pixmap(_ICON_SIZE * 2, _ICON_SIZE * 2))
        drag.exec(Qt.DropAction.CopyAction, Qt.DropAction.CopyAction)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 (Qt override)
        item = self.currentItem()
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and item is not None and item.data(0, KIND_ROLE):
            self.return_pressed.emit(item)
            event.accept()
            return
        super().keyPressEvent(event)


class LayerPalette(QWidget):
    """Search box above the categorised list of layer kinds.

    Signals:
    - ``layer_activated(kind)``: a layer was double-clicked or chosen with Enter.
    """

    layer_activated = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.search = _SearchEdit(self)
        self.search.setPlaceholderText("Search layers…")
        self.search.setClearButtonEnabled(True)
        self.search.setToolTip("Filter by name or description (Esc clears)")

        self.tree = _LayerTree(self)
        self.tree.setHeaderHidden(True)
        self.tree.setColumnCount(1)
        self.tree.setRootIsDecorated(True)
        self.tree.setIndentation(12)
        self.tree.setUniformRowHeights(True)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.tree.setDragEnabled(True)
        self.tree.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
        self.tree.setDefaultDropAction(Qt.DropAction.CopyAction)
        self.tree.setIconSize(QSize(_ICON_SIZE, _ICON_SIZE))

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addWidget(self.search)
        layout.addWidget(self.tree)

        self._groups: dict[str, QTreeWidgetItem] = {}
        self._items: dict[str, QTreeWidgetItem] = {}
        self._populate()

        self.search.textChanged.connect(self._on_search_changed)
        self.search.returnPressed.connect(self._on_search_return_pressed)
        self.search.down_pressed.connect(self._on_search_down_pressed)
        self.tree.itemDoubleClicked.connect(self._on_item_double_clicked)
        self.tree.return_pressed.connect(self._on_item_chosen)

    # --- queries ---------------------------------------------------------------------------
    def group_item(self, category: str) -> QTreeWidgetItem:
        """The top-level item of ``category``."""
        return self._groups[category]

    def layer_item(self, kind: str) -> QTreeWidgetItem:
        """The item of layer kind ``kind``."""
        return self._items[kind]

    def visible_kinds(self) -> list[str]:
        """Kinds not hidden by the search filter, in palette order."""
        return [k for k, item in self._items.items() if not item.isHidden() and not item.parent().isHidden()]

    def set_filter(self, text: str) -> None:
        """Show only layers whose name or summary contains ``text`` (case-insensitive)."""
        self.search.setText(text)

    # --- building --------------------------------------------------------------------------
    def _populate(self) -> None:
        bold = QFont(self.tree.font())
        bold.setBold(True)
        for category, kinds in kinds_by_category():
            group = QTreeWidgetItem(self.tree, [category])
            group.setFont(0, bold)
            group.setFlags(Qt.ItemFlag.ItemIsEnabled)
            group.setData(0, KIND_ROLE, None)
            icon = category_icon(category)
            self._groups[category] = group
            for kind in kinds:
                item = QTreeWidgetItem(group, [kind.name])
                item.setIcon(0, icon)
                item.setData(0, KIND_ROLE, kind.name)
                item.setToolTip(0, layer_tooltip(kind))
                item.setStatusTip(0, kind.summary)
                item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsDragEnabled)
                self._items[kind.name] = item
        self.tree.expandAll()

    # --- handlers --------------------------------------------------------------------------
    def _on_search_changed(self, text: str) -> None:
        needle = text.strip().casefold()
        for group in self._groups.values():
            shown = 0
            for i in range(group.childCount()):
                item = group.child(i)
                kind = item.data(0, KIND_ROLE)
                tip = item.statusTip(0)
                match = not needle or needle in kind.casefold() or needle in tip.casefold()
                item.setHidden(not match)
                shown += match
            group.setHidden(shown == 0)
        # Every group starts expanded; a search shows all matches whatever the user collapsed.
        if needle:
            self.tree.expandAll()

    def _first_visible_item(self) -> QTreeWidgetItem | None:
        for kind in self.visible_kinds():
            return self._items[kind]
        return None

    def _on_search_return_pressed(self) -> None:
        item = self._first_visible_item()
        if self.search.text().strip() and item is not None:
            self._on_item_chosen(item)

    def _on_search_down_pressed(self) -> None:
        item = self._first_visible_item()
        if item is not None:
            self.tree.setCurrentItem(item)
            self.tree.setFocus(Qt.FocusReason.TabFocusReason)

    def _on_item_double_clicked(self, item: QTreeWidgetItem, column: int) -> None:
        self._on_item_chosen(item)

    def _on_item_chosen(self, item: QTreeWidgetItem) -> None:
        kind = item.data(0, KIND_ROLE)
        if kind:
            self.layer_activated.emit(kind)

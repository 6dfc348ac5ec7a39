"""The keyboard shortcuts list: every action's keys, and the canvas's own keys."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QDialog,
    QHeaderView,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..shell.actions import shortcut_text
from .common import CANVAS_KEYS, close_buttons


def shortcut_rows(groups: Sequence[tuple[str, Sequence[QAction]]]) -> list[tuple[str, str, str]]:
    """``(menu, action, keys)`` for every action that has a shortcut, then the canvas keys."""
    rows = [(menu, a.text().replace("&", "").rstrip("…").strip(), shortcut_text(a))
            for menu, actions in groups for a in actions if not a.shortcut().isEmpty()]
    return rows + [("Canvas", what, keys) for what, keys in CANVAS_KEYS]


class ShortcutsDialog(QDialog):
    """The keyboard shortcuts of the window's menus, grouped by menu."""

    def __init__(self, groups: Sequence[tuple[str, Sequence[QAction]]], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard Shortcuts")
        self.tree = QTreeWidget(self)
        self.tree.setHeaderLabels(["Action", "Keys"])
        self.tree.setRootIsDecorated(False)
        parents: dict[str, QTreeWidgetItem] = {}
        for menu, action, keys in shortcut_rows(groups):
            if menu not in parents:
                parents[menu] = QTreeWidgetItem(self.tree, [menu])
                font = parents[menu].font(0)
                font.setBold(True)
                parents[menu].setFont(0, font)
                parents[menu].setFirstColumnSpanned(True)
            QTreeWidgetItem(parents[menu], [action, keys])
        self.tree.expandAll()
        for column in (0, 1):
            self.tree.resizeColumnToContents(column)
        names = self.tree.columnWidth(0)
        # The keys are always whole; on a narrow screen the action names give way (elided).
        header = self.tree.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        layout = QVBoxLayout(self)
        layout.addWidget(self.tree)
        layout.addWidget(close_buttons(self))
        # Wide enough for both columns' longest texts where the screen allows, up to 640 px tall.
        margins = layout.contentsMargins()
        width = (names + self.tree.columnWidth(1) + 2 * self.tree.frameWidth()
                 + self.tree.verticalScrollBar().sizeHint().width() + margins.left() + margins.right() + 16)
        screen = (parent.screen() if parent is not None else self.screen()).availableGeometry()
        self.resize(min(width, screen.width() * 9 // 10), min(640, screen.height() * 85 // 100))

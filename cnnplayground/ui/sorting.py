"""Table and tree cells that sort by number, shared by the tables that compare runs.

A cell shows formatted text ("9.50 %", "3 min 5 s") and keeps the number it stands for in
:data:`SORT_ROLE`; sorting compares those numbers, so "9.50 %" comes before "10.20 %".
Cells without a number ("—", a name) compare by their text, case-blind, and come after
every number in either sort order: a missing value never heads a sorted column.

Qt sorts by calling the items' ``__lt__`` (descending order: ``other < self``). The overrides
here never call the base class's ``__lt__``: PySide6 dispatches that call back to the
Python override, which recursed until the process crashed.

Used by the Curves panel's runs table, the sweep dialog and the experiments dialog;
:func:`format_seconds` writes their durations.
"""

from __future__ import annotations

import math
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHeaderView, QTableWidgetItem, QTreeWidgetItem

#: The data role holding a cell's number.
SORT_ROLE = Qt.ItemDataRole.UserRole


def is_number(value: Any) -> bool:
    """A finite int or float (not a bool): what sorts as a number."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def less_than(mine: Any, theirs: Any, my_text: str, their_text: str, descending: bool = False) -> bool:
    """Whether a cell holding ``mine`` (shown as ``my_text``) sorts before one holding ``theirs``.

    Numbers by value (equal numbers by text); a number before a cell without one, in
    either order (``descending``: the order the view sorts in, which reverses the result);
    otherwise by text, case-blind.
    """
    a, b = is_number(mine), is_number(theirs)
    if a and b and mine != theirs:
        return mine < theirs
    if a != b:
        return a != descending
    return my_text.casefold() < their_text.casefold()


def _descending(header: QHeaderView | None) -> bool:
    return header is not None and header.sortIndicatorOrder() == Qt.SortOrder.DescendingOrder


class NumberItem(QTableWidgetItem):
    """A :class:`QTableWidget` cell that sorts by the number in :data:`SORT_ROLE`."""

    def __lt__(self, other: QTableWidgetItem) -> bool:
        table = self.tableWidget()
        return less_than(self.data(SORT_ROLE), other.data(SORT_ROLE), self.text(), other.text(),
                         _descending(table.horizontalHeader() if table is not None else None))


class NumberTreeItem(QTreeWidgetItem):
    """A :class:`QTreeWidget` row whose cells sort by the numbers in :data:`SORT_ROLE`.

    The tree sorts by its sort column: that column's number (or text) decides.
    """

    def __lt__(self, other: QTreeWidgetItem) -> bool:
        tree = self.treeWidget()
        column = tree.sortColumn() if tree is not None else 0
        column = max(column, 0)
        return less_than(self.data(column, SORT_ROLE), other.data(column, SORT_ROLE), self.text(column),
                         other.text(column), _descending(tree.header() if tree is not None else None))


def format_seconds(seconds: float) -> str:
    """A duration as a table shows it: "4.2 s", "42 s", "3 min 5 s", "2 h 7 min"."""
    if seconds < 9.95:
        return f"{seconds:.1f} s"
    total = round(seconds)
    if total < 60:
        return f"{total} s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


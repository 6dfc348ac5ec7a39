"""The Curves panel: the live plots beside a table of runs that says how the runs differ.

Each row is one run: a check box shows or hides its curves, a swatch gives its colour,
then its best validation accuracy, last validation loss, epochs, and the settings in
which it differs from the other runs ("lr 0.01", "+Dropout", "batch 128"). Selecting a
row draws that run strong (:meth:`TrainingPlots.set_focus`); its tool tip lists all of
its settings.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QSplitter,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from .plots import TrainingPlots

#: Setting key → short label in the "Differs in" column (keys not listed are shown as they are).
LABELS: dict[str, str] = {
    "learning_rate": "lr",
    "batch_size": "batch",
    "weight_decay": "wd",
    "label_smoothing": "smoothing",
    "network.parameters": "params",
    "augment.hflip": "flip",
    "augment.crop_padding": "crop",
    "mixed_precision": "amp",
    "adversarial": "adv",
    "adversarial_epsilon": "adv ε",
    "adversarial_steps": "adv steps",
    "adversarial_fraction": "adv share",
}
#: Settings never listed as differences (they differ between any two runs or say nothing).
IGNORED = frozenset({"steps_per_epoch", "checkpoint_every", "device"})
COLUMNS = ("Run", "Differs in", "Val acc", "Val loss", "Epochs")


def layer_counts(text: str) -> Counter[str]:
    """``"Conv2d×2, Dropout"`` → ``Counter({"Conv2d": 2, "Dropout": 1})``."""
    counts: Counter[str] = Counter()
    for part in filter(None, (p.strip() for p in text.split(","))):
        kind, _, n = part.partition("×")
        counts[kind] += int(n) if n.isdigit() else 1
    return counts


def _format(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def differences(settings: list[dict[str, Any]]) -> list[str]:
    """For each run, the settings that are not the same in every run, as short text.

    Layer lists are compared with the first run that has one: "+Dropout", "−BatchNorm2d×2".
    """
    keys = sorted({k for s in settings for k in s} - IGNORED)
    varying = [k for k in keys if len({repr(s.get(k)) for s in settings}) > 1]
    reference = next((layer_counts(s["network.layers"]) for s in settings if "network.layers" in s), None)
    texts = []
    for s in settings:
        parts = []
        for key in varying:
            if key == "network.layers":
                if reference is not None and key in s:
                    counts = layer_counts(s[key])
                    more, fewer = counts - reference, reference - counts
                    parts += [f"+{k}" + (f"×{n}" if n > 1 else "") for k, n in sorted(more.items())]
                    parts += [f"−{k}" + (f"×{n}" if n > 1 else "") for k, n in sorted(fewer.items())]
            elif key in s:
                parts.append(f"{LABELS.get(key, key)} {_format(s[key])}")
        texts.append(", ".join(parts))
    return texts


class RunsTable(QTreeWidget):
    """One row per run of a :class:`TrainingPlots`, kept in step with it."""

    def __init__(self, plots: TrainingPlots, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.plots = plots
        self._filling = False
        self.setColumnCount(len(COLUMNS))
        self.setHeaderLabels(list(COLUMNS))
        self.setRootIsDecorated(False)
        self.setUniformRowHeights(True)
        self.setAlternatingRowColors(True)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setIconSize(QSize(12, 12))
        header = self.header()
        header.setStretchLastSection(False)
        for column in range(len(COLUMNS)):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.headerItem().setToolTip(0, "Tick to show a run's curves; select a run to draw it strong")
        self.headerItem().setToolTip(1, "The settings in which this run differs from the other runs")
        self.headerItem().setToolTip(2, "Best validation accuracy of the run")
        self.headerItem().setToolTip(3, "Validation loss after the last epoch")
        self.setToolTip("")
        plots.runs_changed.connect(self.refresh)
        self.itemChanged.connect(self._on_item_changed)
        self.itemSelectionChanged.connect(self._on_selection_changed)
        self.refresh()

    def refresh(self) -> None:
        """Rebuild the rows from the plots' runs (newest last)."""
        self._filling = True
        try:
            focus = self.plots.focus
            self.clear()
            n = self.plots.run_count
            diffs = differences([self.plots.run_settings(i) for i in range(n)])
            for i in range(n):
                metrics = self.plots.run_metrics(i)
                best, loss = metrics["best_val_accuracy"], metrics["last_val_loss"]
                item = QTreeWidgetItem([
                    self.plots.run_name(i) + ("  (newest)" if i == n - 1 and n > 1 else ""),
                    diffs[i] or ("—" if n > 1 else ""),
                    "—" if best is None else f"{best:.2f} %",
                    "—" if loss is None else f"{loss:.4f}",
                    f"{metrics['epochs']:.0f}",
                ])
                item.setData(0, Qt.ItemDataRole.UserRole, i)
                item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
                item.setCheckState(0, Qt.CheckState.Checked if self.plots.is_run_visible(i)
                                   else Qt.CheckState.Unchecked)
                item.setIcon(0, _swatch(self.plots.run_color(i)))
                for column in (2, 3, 4):
                    item.setTextAlignment(column, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                tip = "\n".join(f"{k}: {_format(v)}" for k, v in sorted(self.plots.run_settings(i).items()))
                for column in range(len(COLUMNS)):
                    item.setToolTip(column, tip or "No settings recorded")
                self.addTopLevelItem(item)
                if focus == i:
                    item.setSelected(True)
        finally:
            self._filling = False

    def _on_item_changed(self, item: QTreeWidgetItem, column: int) -> None:
        if self._filling or column != 0:
            return
        index = item.data(0, Qt.ItemDataRole.UserRole)
        visible = item.checkState(0) == Qt.CheckState.Checked
        if self.plots.is_run_visible(index) != visible:
            self.plots.set_run_visible(index, visible)

    def _on_selection_changed(self) -> None:
        if self._filling:
            return
        selected = self.selectedItems()
        index = selected[0].data(0, Qt.ItemDataRole.UserRole) if selected else None
        self.plots.set_focus(index if index != self.plots.run_count - 1 else None)


def _swatch(color: QColor) -> QIcon:
    pixmap = QPixmap(12, 12)
    pixmap.fill(color)
    return QIcon(pixmap)


class CurvesPanel(QWidget):
    """The plots with the runs table beside them (in a splitter)."""

    def figure_widget(self) -> QWidget:
        """The plots make the figure (not the runs table or the buttons above the plots)."""
        return self.plots.graphics

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.plots = TrainingPlots(self)
        self.runs = RunsTable(self.plots, self)
        splitter = QSplitter(Qt.Orientation.Horizontal, self)
        splitter.addWidget(self.runs)
        splitter.addWidget(self.plots)
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([420, 900])
        splitter.setChildrenCollapsible(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(splitter)

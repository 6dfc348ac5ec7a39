"""The Health panel: what is wrong with the last run, in plain words, and its layers' health.

It lists the diagnoses of the project's last run (:mod:`cnnplayground.project.diagnoses`, the same
as ``cnnplayground diagnose``) and, when the run recorded layer health, each layer's measures at its
last measured epoch. It follows the document: a recorded run, an opened project, undo.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QSplitter, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

from ...core.text import printable
from ...project.diagnoses import diagnose
from ..document.document import Document

EMPTY_CAPTION = "No run yet: train the network, and what looks wrong with the run shows here"


class HealthPanel(QWidget):
    """Findings of the last run (message and fix) above a table of its layers' health."""

    def __init__(self, document: Document, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.document = document
        self.caption = QLabel(EMPTY_CAPTION, self)
        self.caption.setMinimumWidth(1)  # long captions are cut, not a reason for a wider window
        self.caption.setContentsMargins(6, 2, 6, 2)
        self.findings = QTreeWidget(self)
        self.findings.setHeaderLabels(["What is wrong", "What to do"])
        self.findings.setRootIsDecorated(False)
        self.findings.setWordWrap(True)
        for tree in (self.findings,):
            tree.setMinimumSize(1, 1)
        self.layers = QTreeWidget(self)
        self.layers.setHeaderLabels(["Layer", "Kind", "Activation mean ± std", "Never fire", "Gradient norm",
                                     "Update / weight"])
        self.layers.setRootIsDecorated(False)
        self.layers.setMinimumSize(1, 1)
        split = QSplitter(Qt.Orientation.Vertical, self)
        split.addWidget(self.findings)
        split.addWidget(self.layers)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.caption)
        layout.addWidget(split)
        document.history_changed.connect(self.show_last_run)
        document.graph_replaced.connect(lambda _graph: self.show_last_run())
        self.show_last_run()

    def show_last_run(self) -> None:
        self.findings.clear()
        self.layers.clear()
        history = self.document.project.history
        if not history:
            self.caption.setText(EMPTY_CAPTION)
            return
        run = history[-1]
        found = diagnose(run)
        count = f"{len(found)} finding{'s' * (len(found) != 1)}" if found else "nothing looks wrong"
        health = run.health
        note = "" if health is not None else " (no layer health recorded: dead units and vanishing gradients " \
                                             "were not checked)"
        self.caption.setText(f"{printable(run.name)}: {count}{note}")
        for finding in found:
            item = QTreeWidgetItem([finding.message, finding.advice])
            item.setToolTip(0, finding.text())
            item.setToolTip(1, finding.text())
            self.findings.addTopLevelItem(item)
        if health is None or not health.epochs:
            return
        for layer in health.layers:
            def last(values: list[float | None] | None) -> float | None:
                return values[-1] if values else None

            mean, std = last(layer.activation_mean), last(layer.activation_std)
            dead, grad, ratio = last(layer.dead_share), last(layer.grad_norm), last(layer.update_ratio)
            self.layers.addTopLevelItem(QTreeWidgetItem([
                printable(layer.name), layer.kind,
                f"{mean:.3g} ± {std:.3g}" if mean is not None and std is not None else "–",
                f"{dead:.0%}" if dead is not None else "",
                f"{grad:.3g}" if grad is not None else "",
                f"{ratio:.2g}" if ratio is not None else "",
            ]))
        for column in range(self.layers.columnCount()):
            self.layers.resizeColumnToContents(column)
        self.findings.resizeColumnToContents(0)

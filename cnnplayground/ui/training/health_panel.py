"""The Health panel: what is wrong with the last run, in plain words, and its layers' health.

It lists the diagnoses of the project's last run (:mod:`cnnplayground.project.diagnoses`, the same
as ``cnnplayground diagnose``) and, when the run recorded layer health, each layer's measures at its
last measured epoch (tab "Findings"), those measures over the epochs, one line per layer ("Over
epochs"), and a chosen layer's weight and activation distributions as percentile bands
("Distributions", :mod:`.health_plots`). It follows the document: a recorded run, an opened project, undo.
Export Figure draws the plots in front (the measures' plots when the findings are).
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QSplitter, QTabWidget, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

from ...core.text import printable
from ...project.diagnoses import diagnose
from ..document.document import Document
from .health_plots import DistributionPlots, MeasurePlots

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
                                     "Update / weight per epoch"])
        self.layers.setRootIsDecorated(False)
        self.layers.setMinimumSize(1, 1)
        split = QSplitter(Qt.Orientation.Vertical, self)
        split.addWidget(self.findings)
        split.addWidget(self.layers)
        self.measures = MeasurePlots(self)
        self.distributions = DistributionPlots(self)
        self.tabs = QTabWidget(self)
        self.tabs.setDocumentMode(True)
        self.tabs.setMinimumSize(1, 1)
        self.tabs.addTab(split, "Findings")
        self.tabs.setTabToolTip(0, "What is wrong with the run, and each layer's measures at its last epoch")
        self.tabs.addTab(self.measures, "Over epochs")
        self.tabs.setTabToolTip(1, "Each layer's activation spread, dead units, gradient norm and update ratio "
                                   "over the epochs")
        self.tabs.addTab(self.distributions, "Distributions")
        self.tabs.setTabToolTip(2, "A layer's weights and activations over the epochs, as percentile bands")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.caption)
        layout.addWidget(self.tabs, 1)
        document.history_changed.connect(self.show_last_run)
        document.graph_replaced.connect(lambda _graph: self.show_last_run())
        self.show_last_run()

    def figure_widget(self) -> QWidget:
        """What Export Figure draws: the plots in front (the measures' plots when the findings are)."""
        front = self.tabs.currentWidget()
        return front.graphics if isinstance(front, MeasurePlots | DistributionPlots) else self.measures.graphics

    def show_last_run(self) -> None:
        self.findings.clear()
        self.layers.clear()
        history = self.document.project.history
        if not history:
            self.caption.setText(EMPTY_CAPTION)
            self.measures.show_health(None)
            self.distributions.show_health(None)
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
        steps = run.settings.get("steps_per_epoch")
        self.measures.show_health(health, steps if isinstance(steps, int) and not isinstance(steps, bool) else None)
        self.distributions.show_health(health)
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

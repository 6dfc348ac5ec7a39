"""The main window: the canvas in the middle, layer palette and properties as docks.

Every modal question goes through a small method (``_ask_save_changes``,
``_choose_open_path``, ``_choose_save_path``, ``_choose_preset``,
``_show_error``) so that tests replace it instead of clicking a dialog.
Window geometry, dock layout and recent files live in QSettings
(``window/geometry``, ``window/state``, ``recentFiles``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import QCoreApplication, QEvent, QEventLoop, QSettings, QStandardPaths, Qt, QTimer
from PySide6.QtGui import QAction, QCloseEvent
from PySide6.QtWidgets import (
    QDialog,
    QDockWidget,
    QFileDialog,
    QInputDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QScrollArea,
    QToolButton,
    QUndoView,
    QWidget,
)

from ...core.errors import UserError
from ...core.graph import Graph
from ...core.inference import InferenceResult
from ...core.presets import get_preset
from ...core.summary import format_bytes, summarize
from ...io.project import ProjectError, weights_from_module
from ...project import DatasetChoice, Project, TrainingConfig, run_record
from ...train.events import EpochFinished
from ...train.run_state import RunState
from .. import dialogs
from ..document.commands import SetWeights
from ..document.document import Document
from ..editor.canvas.view import CanvasView
from ..editor.palette import LayerPalette
from ..editor.properties import PropertiesPanel
from ..experiments.dialog import ExperimentsDialog
from ..export.figure_dialog import ExportFigureDialog
from ..export.figures import FigureTarget
from ..export.model_dialog import ExportModelDialog
from ..export.report import export_report
from ..inspect.adversarial_panel import AdversarialPanel
from ..inspect.attribution_panel import AttributionPanel
from ..inspect.explorer_panel import ExplorerPanel
from ..inspect.feature_maps_panel import FeatureMapsPanel
from ..inspect.kernels_panel import KernelsPanel
from ..inspect.maximize_panel import MaximizePanel
from ..inspect.occlusion_panel import OcclusionPanel
from ..inspect.patches_panel import PatchesPanel
from ..inspect.receptive_panel import ReceptiveFieldPanel
from ..inspect.source import ModelSource
from ..training.dock import TrainingDock
from ..training.results import ResultsPanel
from ..training.runs import CurvesPanel
from ..training.sweep_dialog import SweepDialog
from . import theme
from .actions import (
    RecentFiles,
    WindowActions,
    apply_icons,
    build_actions,
    build_menus,
    build_toolbar,
    fill_recent_menu,
)
from .autosave import Autosaver, Recovery, copy_project, find_recoveries

APP_TITLE = "CNN Playground"
FILE_FILTER = "CNN Playground projects (*.cnnp);;JSON (*.json)"
HINT = "Drag layers from the palette, or File → New from Preset"
#: How many problems the error label's tool tip lists.
TOOLTIP_ERRORS = 5
Button = QMessageBox.StandardButton


def starter_graph() -> Graph:
    """A new network: one Input layer sized for the built-in synthetic dataset (1×28×28)."""
    graph = Graph()
    graph.add_node("Input", {"channels": 1, "height": 28, "width": 28}, id="input", position=(0.0, 0.0))
    return graph


class MainWindow(QMainWindow):
    """The application window for one :class:`~.document.Document`."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("mainWindow")
        self.document = Document(Project.new(graph=starter_graph()), self)
        self.recent = RecentFiles()
        self._dialogs: dict[str, QDialog] = {}

        self.canvas = CanvasView(self.document, self)
        self.setCentralWidget(self.canvas)
        self.layer_palette = LayerPalette(self)
        self.properties = PropertiesPanel(self.document, self)
        self.undo_view = QUndoView(self.document.undo_stack, self)
        self.undo_view.setEmptyLabel("Start")
        area = Qt.DockWidgetArea
        self.layers_dock = self._add_dock("Layers", "layersDock", self.layer_palette, area.LeftDockWidgetArea)
        self.properties_dock = self._add_dock("Properties", "propertiesDock", self.properties,
                                              area.RightDockWidgetArea)
        self.history_dock = self._add_dock("History", "historyDock", self.undo_view, area.RightDockWidgetArea)
        self.history_dock.hide()
        self.training = TrainingDock(self.document, self)
        scroll = QScrollArea(self)  # the settings form is tall: it must never force the window's height
        scroll.setWidget(self.training)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setMinimumWidth(self.training.minimumSizeHint().width() + scroll.verticalScrollBar().sizeHint().width())
        self.training_dock = self._add_dock("Training", "trainingDock", scroll, area.RightDockWidgetArea)
        self.tabifyDockWidget(self.properties_dock, self.training_dock)
        self.results = ResultsPanel(self)
        self.results_dock = self._add_dock("Results", "resultsDock", self.results, area.BottomDockWidgetArea)
        self.curves = CurvesPanel(self)
        self.curves_dock = self._add_dock("Curves", "curvesDock", self.curves, area.BottomDockWidgetArea)
        self.tabifyDockWidget(self.curves_dock, self.results_dock)
        # Connected before the model source's own handler: the weights it rebuilds with after a run come
        # from that run, whose results the Results panel shows already (no second evaluation).
        self._after_run = False
        self.training.run_ended.connect(self._note_run_ended)
        self.model_source = ModelSource(self.document, self.training, self)
        # The Inspect panels: bottom docks, tabified, hidden until asked for.
        self.kernels = KernelsPanel(self.model_source, self)
        self.kernels_dock = self._add_panel_dock("Kernels", "kernelsDock", self.kernels, self.results_dock)
        self.feature_maps = FeatureMapsPanel(self.model_source, self)
        self.feature_maps_dock = self._add_panel_dock("Feature Maps", "featureMapsDock", self.feature_maps,
                                                      self.kernels_dock)
        self.receptive = ReceptiveFieldPanel(self.model_source, self)
        self.receptive_dock = self._add_panel_dock("Receptive Fields", "receptiveDock", self.receptive,
                                                   self.feature_maps_dock)
        self.occlusion = OcclusionPanel(self.model_source, self)
        self.occlusion_dock = self._add_panel_dock("Occlusion", "occlusionDock", self.occlusion, self.receptive_dock)
        self.adversarial = AdversarialPanel(self.model_source, self)
        self.adversarial_dock = self._add_panel_dock("Adversarial", "adversarialDock", self.adversarial,
                                                     self.occlusion_dock)
        self.maximize = MaximizePanel(self.model_source, self)
        self.maximize_dock = self._add_panel_dock("Max Activation", "maximizeDock", self.maximize,
                                                  self.adversarial_dock)
        self.patches = PatchesPanel(self.model_source, self)
        self.patches_dock = self._add_panel_dock("Top Patches", "patchesDock", self.patches, self.maximize_dock)
        self.attribution = AttributionPanel(self.model_source, self)
        self.attribution_dock = self._add_panel_dock("Attribution", "attributionDock", self.attribution,
                                                     self.patches_dock)
        self.explorer = ExplorerPanel(self)
        self.explorer_dock = self._add_panel_dock("Convolution Explorer", "explorerDock", self.explorer,
                                                  self.feature_maps_dock)
        self.curves_dock.hide()
        self.results_dock.hide()
        self.kernels_dock.hide()
        self.training.message.connect(self._on_training_message)
        self.training.run_started.connect(self._on_run_started)
        self.training.events_arrived.connect(self._on_training_events)
        self.training.run_ended.connect(self._on_run_ended)
        self._evaluated_model: int | None = None
        self.model_source.changed.connect(self._evaluate_stored_weights)
        self.autosaver = Autosaver(self.document, self._autosave_project, parent=self)
        self.autosaver.failed.connect(lambda message: self.statusBar().showMessage(
            f"Autosave failed: {message}", 10_000))
        self.results_dock.visibilityChanged.connect(lambda visible: visible and self._evaluate_stored_weights())

        self._offer_figure_export()
        self.acts: WindowActions = build_actions(self)
        self.menus = build_menus(self, self.acts)
        self.toolbar = build_toolbar(self, self.acts)
        self._build_status_bar()
        self._connect()
        self.update_recent_menu()
        self._update_title()
        self._on_inference_updated(self.document.result)
        self._on_zoom_changed(self.canvas.zoom)
        screen = self.screen().availableGeometry()
        self.resize(min(1280, screen.width() * 9 // 10), min(800, screen.height() * 9 // 10))
        self._restore_settings()
        self.statusBar().showMessage(HINT)

    # --- construction ----------------------------------------------------------------------
    def _add_panel_dock(self, title: str, name: str, widget: QWidget, beside: QDockWidget) -> QDockWidget:
        """A hidden bottom dock, a tab beside ``beside``."""
        dock = self._add_dock(title, name, widget, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.tabifyDockWidget(beside, dock)
        dock.hide()
        return dock

    def _add_dock(self, title: str, name: str, widget: QWidget, where: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(name)
        dock.setWidget(widget)
        f = QDockWidget.DockWidgetFeature
        dock.setFeatures(f.DockWidgetMovable | f.DockWidgetFloatable | f.DockWidgetClosable)
        self.addDockWidget(where, dock)
        return dock

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.params_label = QLabel(self)
        self.params_label.setToolTip("Trainable parameters of the whole network")
        self.memory_label = QLabel(self)
        self.memory_label.setToolTip("Rough training memory: weights, gradients, Adam state and the "
                                     "activations of one batch (details in Network → Network Summary)")
        self.errors_label = QToolButton(self)
        self.errors_label.setAutoRaise(True)
        self.errors_label.clicked.connect(self.go_to_first_error)
        self.zoom_label = QLabel(self)
        self.zoom_label.setToolTip("Zoom (Ctrl+0: actual size, F: fit)")
        self.progress = QProgressBar(self)
        self.progress.setMaximumWidth(160)
        self.progress.hide()
        for widget in (self.params_label, self.memory_label, self.errors_label, self.zoom_label, self.progress):
            bar.addPermanentWidget(widget)

    def _connect(self) -> None:
        doc = self.document
        doc.inference_updated.connect(self._on_inference_updated)
        doc.modified_changed.connect(self.setWindowModified)
        doc.path_changed.connect(lambda _path: self._update_title())
        doc.graph_replaced.connect(lambda _graph: self._update_title())
        doc.graph_replaced.connect(lambda _graph: self.properties.show_node(None))
        doc.graph_replaced.connect(lambda _graph: self._show_history())
        doc.history_changed.connect(self._show_history)
        self.layer_palette.layer_activated.connect(self._on_layer_activated)
        self.canvas.selection_changed.connect(self._on_selection_changed)
        self.canvas.status_message.connect(lambda text: self.statusBar().showMessage(text, 6000))
        self.canvas.zoom_changed.connect(self._on_zoom_changed)
        theme.theme_changed().connect(self._on_theme_changed)
        self.training.state_changed.connect(self._on_training_state)
        self._on_training_state(self.training.state)

    # --- status ----------------------------------------------------------------------------
    def _update_title(self) -> None:
        self.setWindowTitle(f"{self.document.title}[*] — {APP_TITLE}")
        self.setWindowModified(self.document.modified)

    def _on_inference_updated(self, result: InferenceResult) -> None:
        batch = self.document.project.training.batch_size
        memory = result.memory_estimate(batch)["total"]
        self.params_label.setText(f"Parameters: {result.total_params:,}")
        self.memory_label.setText(f"Memory ≈ {format_bytes(memory)} (batch {batch})")
        errors = result.errors
        n = len(errors)
        self.errors_label.setText(f"{n} error{'s' if n != 1 else ''}" if n else "No errors")
        self.errors_label.setStyleSheet(f"color: {theme.error_color()};" if n else "")
        lines = [f"• {nid + ': ' if nid else ''}{msg}" for nid, msg in errors[:TOOLTIP_ERRORS]]
        if n > TOOLTIP_ERRORS:
            lines.append(f"… and {n - TOOLTIP_ERRORS} more (Network → Network Summary)")
        self.errors_label.setToolTip("\n".join(lines) + "\n\nClick to select the first." if n else
                                     "The network can be built")
        self.acts.first_error.setEnabled(n > 0)

    def _on_zoom_changed(self, zoom: float) -> None:
        self.zoom_label.setText(f"{round(zoom * 100)} %")

    def _on_theme_changed(self, _dark: bool) -> None:
        apply_icons(self, self.acts)
        self._on_inference_updated(self.document.result)

    def _on_layer_activated(self, kind: str) -> None:
        self.canvas.add_layer(kind)

    def _on_selection_changed(self, ids: list[str]) -> None:
        self.properties.show_node(ids[0] if len(ids) == 1 else None)

    def go_to_first_error(self) -> None:
        """Select the first layer with an error; show the message in the status bar."""
        result = self.document.result
        for nid, message in result.errors:
            if nid is not None:
                self.canvas.select_nodes([nid])
                self.canvas.setFocus()
                self.statusBar().showMessage(f"{nid}: {message}", 10000)
                return
        self.statusBar().showMessage(result.first_error() or "No errors: the network can be built", 10000)

    # --- files -----------------------------------------------------------------------------
    def new_project(self) -> bool:
        """Replace the project with a new one holding just an Input layer."""
        if not self._maybe_save():
            return False
        self.document.new(Project.new(graph=starter_graph()))
        self.statusBar().showMessage(HINT)
        return True

    def new_from_preset(self) -> bool:
        """Let the user pick a preset in the gallery and start a project from it."""
        name = self._choose_preset()
        if name is None or not self._maybe_save():
            return False
        preset = get_preset(name)
        project = Project.new(graph=preset.factory(), name=preset.title)
        recommended = preset.recommended_settings()
        if recommended:  # e.g. the speedrun preset: its recipe comes with it
            project.training = TrainingConfig.model_validate(recommended.get("training", {}))
            if "dataset" in recommended:
                project.dataset = DatasetChoice.model_validate(recommended["dataset"])
        self.document.new(project)
        self.statusBar().showMessage(f"New network from the {preset.title} preset"
                                     + (" with its recommended training settings" if recommended else ""), 6000)
        return True

    def open_project(self) -> bool:
        """Ask for a file and open it."""
        path = self._choose_open_path()
        return path is not None and self.open_path(path)

    def open_path(self, path: Path, ask: bool = True) -> bool:
        """Open ``path``; on failure show the reason and keep the current project unchanged."""
        path = Path(path)
        if ask and not self._maybe_save():
            return False
        if not path.is_file():
            self._show_error("Cannot open project", f"{path}: no such file")
            self.recent.remove(path.resolve())  # a vanished recent file leaves the list
            self.update_recent_menu()
            return False
        try:
            self.document.open(path)
        except (ProjectError, OSError) as exc:
            self._show_error("Cannot open project", f"{path.name}: {exc}")
            return False
        self._remember(path)
        self.statusBar().showMessage(f"Opened {path}", 6000)
        return True

    def save(self) -> bool:
        """Save to the current file, or ask for one. False when nothing was saved."""
        if self.document.path is None:
            return self.save_as()
        return self._save_to(self.document.path)

    def save_as(self) -> bool:
        """Ask for a file name (``.cnnp`` added when it has no project suffix) and save there."""
        path = self._choose_save_path()
        if path is None:
            return False
        if path.suffix.lower() not in (".cnnp", ".json"):
            path = path.with_name(path.name + ".cnnp")
        return self._save_to(path)

    def _save_to(self, path: Path) -> bool:
        try:
            self.document.save(path)
        except (ProjectError, OSError) as exc:
            self._show_error("Cannot save project", f"{path.name}: {exc}")
            return False
        self._remember(path)
        self.statusBar().showMessage(f"Saved {path}", 6000)
        return True

    def _maybe_save(self) -> bool:
        """True when the current project may be replaced (saved, discarded or unmodified).

        A running training is stopped first (after asking), so that its run is recorded in this
        project before the question about saving it.
        """
        if self.training.running:
            if not self._ask_stop_training():
                return False
            self._stop_training_and_wait()
        if not self.document.modified:
            return True
        answer = self._ask_save_changes()
        if answer == Button.Save:
            return self.save()
        return answer == Button.Discard

    def _remember(self, path: Path) -> None:
        self.recent.add(path)
        self.update_recent_menu()

    def update_recent_menu(self) -> None:
        """Rebuild File → Open Recent from QSettings."""
        fill_recent_menu(self.menus["Open Recent"], self.recent.paths(), self.open_path, self.acts.clear_recent)

    def clear_recent_files(self) -> None:
        self.recent.clear()
        self.update_recent_menu()

    # --- questions (tests replace these) ----------------------------------------------------
    def _ask_save_changes(self) -> QMessageBox.StandardButton:
        box = QMessageBox(QMessageBox.Icon.Warning, APP_TITLE, f"Save changes to {self.document.title}?",
                          Button.Save | Button.Discard | Button.Cancel, self)
        box.setInformativeText("Your changes will be lost if you don't save them.")
        box.setDefaultButton(Button.Save)
        return Button(box.exec())

    def _ask_stop_training(self) -> bool:
        answer = QMessageBox.question(self, APP_TITLE, "A network is training. Stop it and keep its results?",
                                      Button.Yes | Button.Cancel, Button.Cancel)
        return answer == Button.Yes

    def _stop_training_and_wait(self, timeout_ms: int = 60_000) -> None:
        """Stop the run and process events until it has ended (and been recorded)."""
        loop = QEventLoop(self)
        self.training.run_ended.connect(loop.quit)
        QTimer.singleShot(timeout_ms, loop.quit)
        self.training.stop()
        if self.training.running:
            loop.exec()
        self.training.run_ended.disconnect(loop.quit)

    def _choose_open_path(self) -> Path | None:
        name, _ = QFileDialog.getOpenFileName(self, "Open Project", self._start_dir(),
                                              FILE_FILTER + ";;All files (*)")
        return Path(name) if name else None

    def _choose_save_path(self) -> Path | None:
        start = self.document.path or Path(self._start_dir()) / f"{self.document.project.name}.cnnp"
        dialog = QFileDialog(self, "Save Project As", str(start), FILE_FILTER)
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        dialog.setDefaultSuffix("cnnp")
        if dialog.exec() != QDialog.DialogCode.Accepted or not dialog.selectedFiles():
            return None
        return Path(dialog.selectedFiles()[0])

    def _choose_preset(self) -> str | None:
        return dialogs.PresetGallery.choose(self)

    def _show_error(self, title: str, text: str) -> None:
        QMessageBox.critical(self, title, text)

    def _start_dir(self) -> str:
        recent = self.recent.paths()
        if recent:
            return str(recent[0].parent)
        return QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation)

    # --- dialogs ---------------------------------------------------------------------------
    def _show_dialog(self, key: str, dialog: QDialog) -> QDialog:
        """Show a non-modal dialog, replacing an open one of the same kind."""
        old = self._dialogs.pop(key, None)
        if old is not None:
            old.close()
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.destroyed.connect(lambda _obj=None, k=key, d=dialog: self._forget_dialog(k, d))
        self._dialogs[key] = dialog
        dialog.show()
        return dialog

    def _front_dialog(self, key: str, keep: Callable[[QDialog], bool] = lambda _d: True) -> QDialog | None:
        """The open dialog of this kind brought to the front, when ``keep(dialog)``; else None (show a new one)."""
        dialog = self._dialogs.get(key)
        if dialog is None or not keep(dialog):
            return None
        dialog.raise_()
        dialog.activateWindow()
        return dialog

    def _forget_dialog(self, key: str, dialog: QDialog) -> None:
        if self._dialogs.get(key) is dialog:
            del self._dialogs[key]

    def show_summary(self) -> QDialog:
        batch = self.document.project.training.batch_size
        text = summarize(self.document.graph, batch_size=batch, title=self.document.title)
        return self._show_dialog("summary", dialogs.SummaryDialog(text, self))

    def show_train_command(self) -> QDialog:
        doc = self.document
        return self._show_dialog("train", dialogs.TrainCommandDialog(doc.path, doc.project, doc.modified, self))

    # --- figures -----------------------------------------------------------------------------
    def figure_docks(self) -> list[QDockWidget]:
        """The docks whose content can be exported as a figure."""
        return [self.curves_dock, self.results_dock, self.kernels_dock, self.feature_maps_dock, self.receptive_dock,
                self.occlusion_dock, self.adversarial_dock, self.maximize_dock, self.patches_dock,
                self.attribution_dock, self.explorer_dock]

    def figure_targets(self) -> list[FigureTarget]:
        """The network, then every open panel (a panel may name the part of it that makes the figure)."""
        targets = [FigureTarget("Network", self.canvas, scene_view=self.canvas)]
        for dock in self.figure_docks():
            if dock.isHidden():
                continue
            widget = dock.widget()
            part = getattr(widget, "figure_widget", None)
            targets.append(FigureTarget(dock.windowTitle(), part() if part else widget))
        return targets

    def export_figure(self, current: str | None = None) -> QDialog:
        """File → Export Figure: the panel under the mouse or in front is offered first."""
        if current is None:
            focus = self.focusWidget()
            current = next((d.windowTitle() for d in self.figure_docks()
                            if focus is not None and not d.isHidden() and d.isAncestorOf(focus)), None)
        dialog = ExportFigureDialog(self.figure_targets(), current, self)
        dialog.accepted.connect(lambda: self.statusBar().showMessage(f"Figure saved: {dialog.written}", 5000))
        return self._show_dialog("figure", dialog)

    def show_sweep(self) -> QDialog | None:
        """Train → Sweep: variants of this project differing in one or two settings, run one after another."""
        dialog = self._front_dialog("sweep", keep=lambda d: d.running)  # replacing it would stop the sweep
        if dialog is not None:
            return dialog
        if self.training.running:
            QMessageBox.information(self, "Sweep", "A run is training: stop it before starting a sweep.")
            return None
        if not self.document.result.ok:
            QMessageBox.information(self, "Sweep",
                                    f"The network cannot train yet: {self.document.result.first_error()}")
            return None
        self._show_bottom_dock(self.curves_dock)
        return self._show_dialog("sweep", SweepDialog(self.document, self))

    def show_experiments(self) -> QDialog | None:
        """Help → Experiments: ready-made comparisons run with one click; their runs fill the Curves panel."""
        dialog = self._front_dialog("experiments")  # replacing it would stop its experiment
        if dialog is not None:
            return dialog
        if self.training.running:
            QMessageBox.information(self, "Experiments", "A run is training: stop it before starting an experiment.")
            return None
        self._show_bottom_dock(self.curves_dock)
        return self._show_dialog("experiments", ExperimentsDialog(self.document, self))

    def export_model(self) -> QDialog | None:
        """File → Export Model: code, weights, training script, ONNX, torch.export, model card."""
        result = self.document.result
        if not result.ok:
            QMessageBox.information(self, "Export Model", f"The network cannot be exported yet: "
                                    f"{result.first_error()}")
            return None
        return self._show_dialog("export", ExportModelDialog(self.document.project, self))

    def choose_weights_path(self, title: str, file_filter: str) -> str:
        """Ask for a weights file (tests replace this)."""
        path, _ = QFileDialog.getOpenFileName(self, title, self._start_dir(), file_filter)
        return path

    def import_weights(self) -> bool:
        """File → Import Weights: a safetensors file (from this app or its code export) into the network."""
        from ...export.code import attribute_names
        from ...io.weights_import import import_safetensors

        path = self.choose_weights_path("Import Weights", "safetensors weights (*.safetensors)")
        if not path:
            return False
        try:
            weights = import_safetensors(self.document.graph, path, names=attribute_names(self.document.graph))
        except (UserError, OSError) as exc:
            QMessageBox.warning(self, "Import Weights", f"The weights were not imported: {exc}")
            return False
        self.document.push(SetWeights(self.document, weights, f"Import weights from {Path(path).name}"))
        self.statusBar().showMessage(f"Imported {len(weights)} tensors from {Path(path).name}", 5000)
        return True

    def init_from_project(self) -> bool:
        """File → Initialize from Project: the matching layers of another project's trained weights."""
        from ...io.transfer import init_from_project

        path = self.choose_weights_path("Initialize from Project", FILE_FILTER)
        if not path:
            return False
        try:
            weights, report = init_from_project(self.document.graph, path, fresh=self._current_weights())
        except (UserError, OSError) as exc:
            QMessageBox.warning(self, "Initialize from Project", f"Nothing was copied: {exc}")
            return False
        if not report.copied:
            QMessageBox.information(self, "Initialize from Project", f"Nothing was copied: {report.summary()}")
            return False
        self.document.push(SetWeights(self.document, weights, f"Initialize from {Path(path).name}"))
        QMessageBox.information(self, "Initialize from Project", report.summary())
        return True

    def choose_torchvision_model(self) -> str:
        """Which torchvision model's weights (tests replace this)."""
        from ...io.weights_import import TORCHVISION_PRESETS

        name, ok = QInputDialog.getItem(self, "Import torchvision Weights", "Pretrained weights of:",
                                        list(TORCHVISION_PRESETS), 0, False)
        return name if ok else ""

    def import_torchvision_weights(self) -> bool:
        """File → Import torchvision Weights: a transfer-learning start from weights already on this computer."""
        from ...io.weights_import import import_torchvision, local_torchvision_weights

        name = self.choose_torchvision_model()
        if not name:
            return False
        path = local_torchvision_weights(name)
        if path is None:
            path = self.choose_weights_path(f"{name} weights (not in torchvision's cache)",
                                            "PyTorch or safetensors weights (*.pth *.pt *.safetensors)")
            if not path:
                return False
        try:
            transfer = import_torchvision(self.document.graph, name, path)
        except (UserError, OSError) as exc:
            QMessageBox.warning(self, "Import torchvision Weights", f"The weights were not imported: {exc}")
            return False
        weights = {**self._current_weights(), **transfer.weights}
        self.document.push(SetWeights(self.document, weights, f"Import {name} weights"))
        QMessageBox.information(self, "Import torchvision Weights", transfer.summary())
        return True

    def _current_weights(self) -> dict:
        """The project's weights, or the network's fresh ones (for layers an import leaves out)."""
        import torch

        from ...core.builder import build

        if self.document.project.weights is not None:
            return dict(self.document.project.weights)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            return weights_from_module(build(self.document.graph))

    def choose_report_path(self, suggested: str) -> str:
        """Ask where the report goes (tests replace this)."""
        path, _ = QFileDialog.getSaveFileName(self, "Export Report", suggested, "Web page (*.html)")
        return path

    def export_report(self) -> Path | None:
        """File → Export Report: the project and a figure of each open panel as one HTML page."""
        folder = QSettings().value("figures/folder", "") or \
            QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation)
        path = self.choose_report_path(str(Path(folder) / f"{self.document.project.name}-report.html"))
        if not path:
            return None
        path = Path(path) if path.endswith(".html") else Path(path + ".html")
        try:
            written = export_report(self.document.project, self.figure_targets(), path)
        except (UserError, ValueError, OSError) as exc:  # ValueError: a plotting library's, while rendering
            QMessageBox.warning(self, "Export Report", f"The report was not saved: {exc}")
            return None
        self.statusBar().showMessage(f"Report saved: {written}", 5000)
        return written

    def _offer_figure_export(self) -> None:
        """Right-click on a panel (and pyqtgraph's own Export… entry) opens Export Figure for that panel."""
        for dock in self.figure_docks():
            widget = dock.widget()
            act = QAction("Export Figure…", widget)
            act.triggered.connect(lambda _checked=False, d=dock: self.export_figure(d.windowTitle()))
            widget.addAction(act)
            widget.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
            for view in widget.findChildren(pg.GraphicsView):
                menu = getattr(view.scene(), "contextMenu", None)
                if not menu:
                    continue
                export = menu[0]  # pyqtgraph's "Export..." (its SVG exporter fails on PySide6 6.12)
                export.triggered.disconnect()
                export.setText("Export Figure…")
                export.triggered.connect(lambda _checked=False, d=dock: self.export_figure(d.windowTitle()))

    def show_about(self) -> QDialog:
        return self._show_dialog("about", dialogs.AboutDialog(self))

    def show_layer_reference(self) -> QDialog:
        return self._show_dialog("layers", dialogs.LayerReferenceDialog(self))

    def show_shortcuts(self) -> QDialog:
        groups = [(title, [a for a in menu.actions() if not a.isSeparator() and a.menu() is None])
                  for title, menu in self.menus.items() if title != "Open Recent"]
        return self._show_dialog("shortcuts", dialogs.ShortcutsDialog(groups, self))

    # --- window state ----------------------------------------------------------------------
    def set_full_screen(self, on: bool) -> None:
        if on != self.isFullScreen():
            self.showFullScreen() if on else self.showNormal()

    def event(self, event: QEvent) -> bool:
        if event.type() != QEvent.Type.UpdateRequest:
            return super().event(event)
        # A repaint of the window (its docks included): a live run's frame pacing counts it.
        started = time.perf_counter()
        handled = super().event(event)
        training = getattr(self, "training", None)  # None while the window is being built
        session = training.session if training is not None else None
        if session is not None and not session.ended:
            session.add_frame_cost((time.perf_counter() - started) * 1000.0)
        return handled

    def changeEvent(self, event: QEvent) -> None:
        if event.type() == QEvent.Type.WindowStateChange:
            act = self.acts.full_screen
            act.blockSignals(True)
            act.setChecked(self.isFullScreen())
            act.blockSignals(False)
        super().changeEvent(event)

    def _restore_settings(self) -> None:
        settings = QSettings()
        geometry = settings.value("window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        state = settings.value("window/state")
        if state is not None:
            self.restoreState(state)

    def save_settings(self) -> None:
        """Window geometry and dock/tool bar layout, for the next start."""
        settings = QSettings()
        settings.setValue("window/geometry", self.saveGeometry())
        settings.setValue("window/state", self.saveState())
        settings.sync()

    def _on_training_message(self, text: str) -> None:
        self.statusBar().showMessage(text, 8000)

    def _on_training_state(self, state: str) -> None:
        state = RunState(state)
        a = self.acts
        a.train.setEnabled(state.can_start)
        a.pause.setEnabled(state.can_pause or state.can_resume)
        a.pause.setText("&Resume" if state.can_resume else "&Pause")
        a.stop.setEnabled(state.can_stop)

    def _show_history(self) -> None:
        """The project's recorded runs in the Curves dock (the live run, if any, stays on top)."""
        if self.training.running:
            return  # the run's own curves are shown; the record replaces them when it ends
        history = self.document.project.history
        self.curves.plots.load_history(history)
        if history:
            self._show_bottom_dock(self.curves_dock)

    def _show_bottom_dock(self, dock: QDockWidget) -> None:
        """Show a hidden bottom dock (raised, a third of the window's height). A dock already open stays
        where the user left it: a run must not pull the Curves tab over the Kernels the user watches."""
        if dock.isHidden():
            dock.show()
            self.resizeDocks([dock], [max(self.height() // 3, 240)], Qt.Orientation.Vertical)
            dock.raise_()

    def _on_run_started(self, session) -> None:
        session.handed_on.connect(self._paint_now)
        self.training_dock.show()
        self.training_dock.raise_()
        self.curves.plots.load_history(self.document.project.history)  # drops an unrecorded failed run
        self.curves.plots.begin_run(self.training.run_name, self.training.run_settings)
        self._show_bottom_dock(self.curves_dock)
        if self.training.data is not None:
            self.results.set_class_names(self.training.data.class_names)

    def _on_training_events(self, events: list) -> None:
        self.curves.plots.add_events(events)
        self.curves.plots.flush()  # drawn in this frame: the session paces the frames (and counts their cost)
        epochs = [e for e in events if isinstance(e, EpochFinished)]
        if epochs:
            self.results_dock.show()
            self.results.show_epoch(epochs[-1])
            self.autosaver.save_now()  # each epoch's progress survives a crash

    def _paint_now(self) -> None:
        """Paint what a frame of the live run changed before the event loop goes on.

        Left to Qt, the frame reaches the screen in later passes of the event loop (the plots' scene
        sorts out its changed items, then the window repaints): separate pauses of the GUI thread after
        the frame's own, each of which can hold up a timer or a key press. Sent now, a frame is one
        pause. Only the events already posted for this are sent: nothing else runs in between.
        """
        QCoreApplication.sendPostedEvents(self.curves.plots.graphics.scene(), QEvent.Type.MetaCall)
        for window in dict.fromkeys((self.curves.window(), self.window())):  # a floating Curves dock too
            QCoreApplication.sendPostedEvents(window, QEvent.Type.UpdateRequest)

    # --- autosave and recovery -------------------------------------------------------------------
    def _autosave_project(self) -> Project | None:
        """What a crash now would lose: the project, plus a running training's epochs and latest weights."""
        session = self.training.session
        epochs = list(session.history) if session is not None and self.training.running else []
        if not epochs:
            return copy_project(self.document.project) if self.document.modified else None
        project = copy_project(self.document.project)
        graph = self.training.training_graph
        record = run_record(f"{self.training.run_name} (interrupted)", project.training, epochs, None,
                            network=graph)
        project.history.append(record)
        model = self.model_source.model

        def structure(g: Graph):
            d = g.to_dict()
            return [(n["id"], n["kind"], n["params"]) for n in d["nodes"]], d["edges"]

        if model is not None and graph is not None and structure(graph) == structure(self.document.graph):
            # The last epoch's weights, when they fit the canvas. The snapshot is a CPU copy nobody trains
            # (a new one comes each epoch), so its tensors are shared, not copied again on the GUI thread.
            project.weights = {k: v.detach() for k, v in model.state_dict().items()}
        return project

    def offer_recovery(self) -> bool:
        """At start: projects autosaved by a session that did not exit cleanly are offered back."""
        for recovery in find_recoveries(self.autosaver.folder):
            if recovery.file == self.autosaver.file:
                continue
            answer = self.ask_recovery(recovery)
            if answer == Button.Discard:
                recovery.discard()
            elif answer == Button.Yes:
                try:
                    project = recovery.load()
                except ProjectError as exc:
                    QMessageBox.warning(self, "Restore", f"The autosaved copy cannot be read: {exc}. It is kept "
                                        f"in {recovery.file}.")
                    continue
                self.document._replace(project, recovery.original)
                self.document.undo_stack.resetClean()  # restored, not saved: Save puts it in its file
                recovery.discard()
                self.autosaver.save_now()  # this session's own copy, straight away
                self.statusBar().showMessage(f"Restored {recovery.describe()}", 10_000)
                return True
        return False

    def ask_recovery(self, recovery: Recovery):
        """Restore, discard or keep for later (tests replace this)."""
        return QMessageBox.question(
            self, "Restore Unsaved Work",
            f"CNN Playground did not close normally. Restore {recovery.describe()}?\n\n"
            "Discard deletes the copy; Ignore keeps it for the next start.",
            Button.Yes | Button.Discard | Button.Ignore, Button.Yes)

    def _note_run_ended(self, _end) -> None:
        self._after_run = True

    def _evaluate_stored_weights(self) -> None:
        """An opened project's trained weights: the Results panel shows how they do (once per snapshot)."""
        source = self.model_source
        model, data = source.model, source.data
        if self._after_run and model is not None:
            self._after_run = False
            self._evaluated_model = id(model)  # the run's own epoch results are on show
            return
        if self.training.running or model is None or data is None or self.results_dock.isHidden() \
                or not source.description.startswith("trained") or id(model) == self._evaluated_model:
            return
        self._evaluated_model = id(model)
        self.results.evaluate(model, data, "the weights stored in the project",
                              tta_flip=self.document.project.training.tta_flip)

    def _on_run_ended(self, _end) -> None:
        # The run's record (pushed just before) replaces its live curves; the session may still say
        # "running" here, so this does not go through _show_history's guard.
        self.curves.plots.load_history(self.document.project.history)
        model, data = self.training.trained_model, self.training.data
        if model is not None and data is not None:
            self.results.find_mistakes(model, data, tta_flip=self.document.project.training.tta_flip)

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.training.running:
            self._stop_training_and_wait()  # closing stops the run cleanly; its results are kept below
        self.training.shutdown()
        if not self._maybe_save():
            event.ignore()
            return
        self.save_settings()
        for dialog in list(self._dialogs.values()):
            dialog.close()
        self.autosaver.discard()  # a clean exit: nothing to recover next time
        event.accept()

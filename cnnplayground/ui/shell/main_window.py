"""The main window: the shell that holds the canvas, the docks, the menus and the status bar.

The docks of the registered panels (:mod:`.panels`) are made in a loop; New/Open/Save live in
:class:`.files.ProjectFiles` (``window.files``), weights imports in :mod:`.weights`, the Curves and
Results panels' part in a run in :class:`~..training.run_panels.RunPanels`, autosave and recovery
in :mod:`.autosave`. Every modal question goes through a small method (``files.ask_save_changes``,
``files.choose_open_path``, ``choose_weights_path``, ...) so that tests replace it instead of
clicking a dialog. Window geometry, dock layout and recent files live in QSettings
(``window/geometry``, ``window/state``, ``recentFiles``).
"""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import QEvent, QSettings, QStandardPaths, Qt
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QDialog,
    QDockWidget,
    QFileDialog,
    QInputDialog,
    QMainWindow,
    QMessageBox,
    QScrollArea,
    QUndoView,
    QWidget,
)

from ...core.errors import UserError
from ...core.inference import InferenceResult
from ...core.summary import summarize
from ...project import Project
from ...train.run_state import RunState
from ...train.setup import training_memory_problem
from .. import dialogs
from ..document.document import Document
from ..editor.canvas.view import CanvasView
from ..editor.palette import LayerPalette
from ..editor.properties import PropertiesPanel
from ..experiments.dialog import ExperimentsDialog
from ..export.figure_dialog import ExportFigureDialog, front_panel
from ..export.figures import FigureTarget
from ..export.model_dialog import ExportModelDialog
from ..export.report import export_report
from ..inspect.source import ModelSource
from ..training.dock import TrainingDock
from ..training.lr_find_dialog import LrFindDialog
from ..training.run_panels import RunPanels
from ..training.sweep_dialog import SweepDialog
from . import autosave, theme, weights
from .actions import WindowActions, apply_icons, build_actions, build_menus, build_toolbar
from .autosave import Autosaver, Recovery
from .files import APP_TITLE, HINT, ProjectFiles, starter_graph
from .modes import Modes
from .open_dialogs import OpenDialogs
from .panels import PanelAttribute, PanelSpec, offer_figure_export, panel_specs, scrolling
from .status import StatusBar

Button = QMessageBox.StandardButton


class MainWindow(QMainWindow):
    """The application window for one :class:`~.document.Document`."""

    # The registered panels as attributes (``window.panel("kernels")``, ``window.panel_dock("kernels")``).
    curves, curves_dock = PanelAttribute("curves"), PanelAttribute("curves", dock=True)
    results, results_dock = PanelAttribute("results"), PanelAttribute("results", dock=True)
    kernels, kernels_dock = PanelAttribute("kernels"), PanelAttribute("kernels", dock=True)
    feature_maps, feature_maps_dock = PanelAttribute("feature_maps"), PanelAttribute("feature_maps", dock=True)
    receptive, receptive_dock = PanelAttribute("receptive"), PanelAttribute("receptive", dock=True)
    occlusion, occlusion_dock = PanelAttribute("occlusion"), PanelAttribute("occlusion", dock=True)
    adversarial, adversarial_dock = PanelAttribute("adversarial"), PanelAttribute("adversarial", dock=True)
    maximize, maximize_dock = PanelAttribute("maximize"), PanelAttribute("maximize", dock=True)
    patches, patches_dock = PanelAttribute("patches"), PanelAttribute("patches", dock=True)
    attribution, attribution_dock = PanelAttribute("attribution"), PanelAttribute("attribution", dock=True)
    embedding, embedding_dock = PanelAttribute("embedding"), PanelAttribute("embedding", dock=True)
    explorer, explorer_dock = PanelAttribute("explorer"), PanelAttribute("explorer", dock=True)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("mainWindow")
        self.document = Document(Project.new(graph=starter_graph()), self)
        self.files = ProjectFiles(self)
        self.recent = self.files.recent
        self.open_dialogs = OpenDialogs()

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
        self.runs = RunPanels(self)  # before the model source: it must hear of a run's end first
        self.model_source = ModelSource(self.document, self.training, self)
        #: The panels this window was made with (the registry at that time), in table order.
        self.panel_specs: tuple[PanelSpec, ...] = panel_specs()
        self._panels: dict[str, QWidget] = {}
        self._panel_docks: dict[str, QDockWidget] = {}
        for spec in self.panel_specs:
            self._add_panel(spec)
        for spec in self.panel_specs:  # hidden once all are tabbed: hiding one sooner changes its area's size
            self._panel_docks[spec.key].setVisible(spec.shown)
        self.modes = Modes(self)  # before the run panels: a run goes to Train before they show it
        self.training.message.connect(self._on_training_message)
        self.runs.connect_panels()
        self.autosaver = Autosaver(self.document, self._autosave_project, parent=self)
        self.autosaver.failed.connect(lambda message: self.statusBar().showMessage(
            f"Autosave failed: {message}", 10_000))
        self.training.start_check = lambda: autosave.autosave_problem(self.autosaver, self.document.project)

        for spec in self.panel_specs:
            if spec.figure:
                offer_figure_export(self.panel_dock(spec.key), self.panel(spec.key), self.export_figure)
        self.acts: WindowActions = build_actions(self)
        self.menus = build_menus(self, self.acts)
        self.toolbar = build_toolbar(self, self.acts)
        self.status = StatusBar(self)
        self.setStatusBar(self.status)
        self.status.errors_label.clicked.connect(self.go_to_first_error)
        self._connect()
        self.update_recent_menu()
        self._update_title()
        self._on_inference_updated(self.document.result)
        self.status.show_zoom(self.canvas.zoom)
        self._restore_settings()
        self.statusBar().showMessage(HINT)

    # --- construction ----------------------------------------------------------------------
    def _add_panel(self, spec: PanelSpec) -> None:
        """The spec's panel in a dock (scrolling there when the dock is smaller), a tab beside ``spec.beside``'s."""
        self._panels[spec.key] = panel = spec.factory(self)
        dock = self._add_dock(spec.title, spec.object_name, scrolling(panel), spec.area)
        if spec.beside is not None:
            self.tabifyDockWidget(self._panel_docks[spec.beside], dock)
        self._panel_docks[spec.key] = dock

    def panel(self, key: str) -> QWidget:
        """The registered panel ``key`` (``"kernels"``, ``"curves"``, ...)."""
        return self._panels[key]

    def panel_dock(self, key: str) -> QDockWidget:
        """The dock that holds the registered panel ``key``."""
        return self._panel_docks[key]

    def _add_dock(self, title: str, name: str, widget: QWidget, where: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(name)
        dock.setWidget(widget)
        f = QDockWidget.DockWidgetFeature
        dock.setFeatures(f.DockWidgetMovable | f.DockWidgetFloatable | f.DockWidgetClosable)
        self.addDockWidget(where, dock)
        return dock

    def _connect(self) -> None:
        doc = self.document
        doc.inference_updated.connect(self._on_inference_updated)
        doc.modified_changed.connect(self.setWindowModified)
        doc.path_changed.connect(lambda _path: self._update_title())
        doc.graph_replaced.connect(lambda _graph: self._update_title())
        doc.graph_replaced.connect(lambda _graph: self.properties.show_node(None))
        doc.graph_replaced.connect(lambda _graph: self.runs.show_history())
        doc.history_changed.connect(self.runs.show_history)
        self.layer_palette.layer_activated.connect(self._on_layer_activated)
        self.canvas.selection_changed.connect(self._on_selection_changed)
        self.canvas.status_message.connect(lambda text: self.statusBar().showMessage(text, 6000))
        self.canvas.zoom_changed.connect(self.status.show_zoom)
        theme.theme_changed().connect(self._on_theme_changed)
        self.training.state_changed.connect(self._on_training_state)
        self._on_training_state(self.training.state)

    # --- status ----------------------------------------------------------------------------
    def _update_title(self) -> None:
        self.setWindowTitle(f"{self.document.title}[*] — {APP_TITLE}")
        self.setWindowModified(self.document.modified)

    def _on_inference_updated(self, result: InferenceResult) -> None:
        self.status.show_inference(result, self.document.project.training.batch_size,
                                   training_memory_problem(self.document.graph, self.document.project.training,
                                                           result))
        self.acts.first_error.setEnabled(bool(result.errors))

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

    # --- files (File → New, Open, Save: see ProjectFiles) -------------------------------------
    def new_project(self) -> bool:
        return self.files.new_project()

    def new_from_preset(self) -> bool:
        return self.files.new_from_preset()

    def open_project(self) -> bool:
        return self.files.open_project()

    def open_path(self, path: Path, ask: bool = True) -> bool:
        return self.files.open_path(path, ask)

    def save(self) -> bool:
        return self.files.save()

    def save_as(self) -> bool:
        return self.files.save_as()

    def update_recent_menu(self) -> None:
        self.files.update_recent_menu()

    def clear_recent_files(self) -> None:
        self.files.clear_recent_files()

    # --- dialogs ---------------------------------------------------------------------------
    def show_summary(self) -> QDialog:
        batch = self.document.project.training.batch_size
        text = summarize(self.document.graph, batch_size=batch, title=self.document.title)
        return self.open_dialogs.show("summary", dialogs.SummaryDialog(text, self))

    def show_train_command(self) -> QDialog:
        doc = self.document
        dialog = dialogs.TrainCommandDialog(doc.path, doc.project, doc.modified, self)
        return self.open_dialogs.show("train", dialog)

    def show_sweep(self) -> QDialog | None:
        """Train → Sweep: variants of this project differing in one or two settings, run one after another."""
        dialog = self.open_dialogs.front("sweep", keep=lambda d: d.running)  # replacing it would stop the sweep
        if dialog is not None:
            return dialog
        if self.training.running:
            QMessageBox.information(self, "Sweep", "A run is training: stop it before starting a sweep.")
            return None
        if not self.document.result.ok:
            QMessageBox.information(self, "Sweep",
                                    f"The network cannot train yet: {self.document.result.first_error()}")
            return None
        self.modes.show_panel("curves")
        return self.open_dialogs.show("sweep", SweepDialog(self.document, self))

    def show_lr_find(self) -> QDialog | None:
        """Train → Find Learning Rate: a short sweep of rates on a copy of the network, its suggestion set in one
        click (undoable)."""
        dialog = self.open_dialogs.front("lr_find", keep=lambda d: d.running)  # replacing it would stop the sweep
        if dialog is not None:
            return dialog
        if self.training.running:
            QMessageBox.information(self, "Find Learning Rate", "A run is training: stop it before finding a rate.")
            return None
        if not self.document.result.ok:
            QMessageBox.information(self, "Find Learning Rate",
                                    f"The network cannot train yet: {self.document.result.first_error()}")
            return None
        return self.open_dialogs.show("lr_find", LrFindDialog(self.document, lambda: self.training.cached_data, self))

    def show_experiments(self) -> QDialog | None:
        """Help → Experiments: ready-made comparisons run with one click; their runs fill the Curves panel."""
        dialog = self.open_dialogs.front("experiments")  # replacing it would stop its experiment
        if dialog is not None:
            return dialog
        if self.training.running:
            QMessageBox.information(self, "Experiments", "A run is training: stop it before starting an experiment.")
            return None
        self.modes.show_panel("curves")
        return self.open_dialogs.show("experiments", ExperimentsDialog(self.document, self))

    def export_model(self) -> QDialog | None:
        """File → Export Model: code, weights, training script, ONNX, torch.export, model card."""
        result = self.document.result
        if not result.ok:
            QMessageBox.information(self, "Export Model", f"The network cannot be exported yet: "
                                    f"{result.first_error()}")
            return None
        return self.open_dialogs.show("export", ExportModelDialog(self.document.project, self))

    def show_about(self) -> QDialog:
        return self.open_dialogs.show("about", dialogs.AboutDialog(self))

    def show_layer_reference(self) -> QDialog:
        return self.open_dialogs.show("layers", dialogs.LayerReferenceDialog(self))

    def show_shortcuts(self) -> QDialog:
        groups = [(title, [a for a in menu.actions() if not a.isSeparator() and a.menu() is None])
                  for title, menu in self.menus.items() if title != "Open Recent"]
        return self.open_dialogs.show("shortcuts", dialogs.ShortcutsDialog(groups, self))

    # --- figures -----------------------------------------------------------------------------
    def figure_docks(self) -> list[QDockWidget]:
        """The docks whose content can be exported as a figure (the registered panels with ``figure``)."""
        return [self._panel_docks[spec.key] for spec in self.panel_specs if spec.figure]

    def figure_targets(self) -> list[FigureTarget]:
        """The network, then every open panel (a panel may name the part of it that makes the figure)."""
        targets = [FigureTarget("Network", self.canvas, scene_view=self.canvas)]
        for spec in self.panel_specs:
            dock = self._panel_docks[spec.key]
            if not spec.figure or dock.isHidden():
                continue
            widget = self.panel(spec.key)
            part = getattr(widget, "figure_widget", None)
            targets.append(FigureTarget(dock.windowTitle(), part() if part else widget, source=widget))
            extra = getattr(widget, "extra_figures", None)
            targets.extend(FigureTarget(name, figure) for name, figure in (extra() if extra else []))
        return targets

    def export_figure(self, current: str | None = None) -> QDialog:
        """File → Export Figure: the panel under the mouse or in front is offered first."""
        if current is None:
            current = front_panel(self.figure_docks(), self.focusWidget())
        dialog = ExportFigureDialog(self.figure_targets(), current, self)
        dialog.accepted.connect(lambda: self.statusBar().showMessage(f"Figure saved: {dialog.written}", 5000))
        return self.open_dialogs.show("figure", dialog)

    def export_figure_set(self) -> QDialog:
        """File → Export Figure Set: one run's figures in a folder, with an index.html."""
        from ..export.figure_set_dialog import FigureSetDialog

        return self.open_dialogs.show("figure_set", FigureSetDialog(self.document.project, self))

    def export_diagram(self) -> QDialog:
        """File → Export Diagram: the canvas's network as an architecture diagram."""
        from ..export.diagram_dialog import ExportDiagramDialog

        dialog = ExportDiagramDialog(self.document.project.graph.copy(), self.document.project.name, self)
        dialog.accepted.connect(lambda: self.statusBar().showMessage(f"Diagram saved: {dialog.written}", 5000))
        return self.open_dialogs.show("diagram", dialog)

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

    # --- weights (File → Import Weights, ...: see weights.py) ----------------------------------
    def choose_weights_path(self, title: str, file_filter: str) -> str:
        """Ask for a weights file (tests replace this)."""
        path, _ = QFileDialog.getOpenFileName(self, title, self.files.start_dir(), file_filter)
        return path

    def choose_torchvision_model(self) -> str:
        """Which torchvision model's weights (tests replace this)."""
        from ...io.weights_import import TORCHVISION_PRESETS

        name, ok = QInputDialog.getItem(self, "Import torchvision Weights", "Pretrained weights of:",
                                        list(TORCHVISION_PRESETS), 0, False)
        return name if ok else ""

    def import_weights(self) -> bool:
        return weights.import_weights(self)

    def import_model(self) -> bool:
        from .import_model import import_model

        return import_model(self)

    def init_from_project(self) -> bool:
        return weights.init_from_project(self)

    def import_torchvision_weights(self) -> bool:
        return weights.import_torchvision_weights(self)

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
        """The last session's geometry (else 90 % of the screen, centred), mode and layouts."""
        settings = QSettings()
        geometry = settings.value("window/geometry")
        if geometry is None or not self.restoreGeometry(geometry):
            screen = self.screen().availableGeometry()
            self.resize(screen.width() * 9 // 10, screen.height() * 9 // 10)
            self.move(screen.center() - self.rect().center())
        self.modes.restore_settings(settings)

    def save_settings(self) -> None:
        """Window geometry, the mode and each mode's dock/tool bar layout, for the next start."""
        settings = QSettings()
        settings.setValue("window/geometry", self.saveGeometry())
        settings.setValue("window/state", self.saveState())
        self.modes.save_settings(settings)
        settings.sync()

    def show_bottom_dock(self, dock: QDockWidget) -> None:
        """A hidden panel of the current mode shown (see :meth:`.modes.Modes.show_if_in_mode`)."""
        self.modes.show_if_in_mode(dock)

    # --- training ----------------------------------------------------------------------------
    def _on_training_message(self, text: str) -> None:
        self.statusBar().showMessage(text, 8000)

    def _on_training_state(self, state: str) -> None:
        state = RunState(state)
        a = self.acts
        a.train.setEnabled(state.can_start)
        a.pause.setEnabled(state.can_pause or state.can_resume)
        a.pause.setText("&Resume" if state.can_resume else "&Pause")
        a.stop.setEnabled(state.can_stop)

    # --- autosave and recovery -------------------------------------------------------------------
    def _autosave_project(self) -> Project | None:
        return autosave.project_to_autosave(self.document, self.training, self.model_source)

    def offer_recovery(self) -> bool:
        """At start: projects autosaved by a session that did not exit cleanly are offered back."""
        return autosave.offer_recovery(self)

    def ask_recovery(self, recovery: Recovery):
        """Restore, discard or keep for later (tests replace this)."""
        return QMessageBox.question(
            self, "Restore Unsaved Work",
            f"CNN Playground did not close normally. Restore {recovery.describe()}?\n\n"
            "Discard deletes the copy; Ignore keeps it for the next start.",
            Button.Yes | Button.Discard | Button.Ignore, Button.Yes)

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self.files.maybe_save():  # a run is stopped (its results kept) only once the user agrees
            event.ignore()
            return
        self.training.shutdown()
        self.save_settings()
        self.open_dialogs.close_all()
        self.autosaver.discard()  # a clean exit: nothing to recover next time
        event.accept()

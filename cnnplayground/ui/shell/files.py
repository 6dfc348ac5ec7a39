"""File → New, New from Preset, Open, Open Recent, Save and Save As for the main window.

Every modal question goes through a public method of :class:`ProjectFiles`
(``ask_save_changes``, ``ask_stop_training``, ``choose_open_path``, ``choose_save_path``,
``choose_preset``, ``show_error``, ``show_warning``) so that tests replace it instead of clicking a dialog.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QEventLoop, QObject, QStandardPaths, QTimer
from PySide6.QtWidgets import QDialog, QFileDialog, QMessageBox

from ...core.graph import Graph
from ...core.presets import get_preset
from ...core.text import printable
from ...data.registry import dataset_info
from ...io.project import ProjectError
from ...project import DatasetChoice, Project, TrainingConfig
from ...train.setup import training_memory_problem
from .. import dialogs
from ..training.dock import TrainingDock
from .actions import RecentFiles, fill_recent_menu

if TYPE_CHECKING:  # pragma: no cover
    from .main_window import MainWindow

APP_TITLE = "CNN Playground"
FILE_FILTER = "CNN Playground projects (*.cnnp);;JSON (*.json)"
HINT = "Drag layers from the palette, or File → New from Preset"
Button = QMessageBox.StandardButton


def starter_graph() -> Graph:
    """A new network: one Input layer sized for the built-in synthetic dataset (1×28×28)."""
    graph = Graph()
    graph.add_node("Input", {"channels": 1, "height": 28, "width": 28}, id="input", position=(0.0, 0.0))
    return graph


def stop_training_and_wait(training: TrainingDock, timeout_ms: int = 60_000) -> None:
    """Stop the run and process events until it has ended (and been recorded)."""
    loop = QEventLoop(training)
    training.run_ended.connect(loop.quit)
    QTimer.singleShot(timeout_ms, loop.quit)
    training.stop()
    if training.running:
        loop.exec()
    training.run_ended.disconnect(loop.quit)


class ProjectFiles(QObject):
    """The window's project files: replace, open and save its document; the recent-files list."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.document = window.document
        self.recent = RecentFiles()

    def _status(self, text: str, ms: int = 0) -> None:
        self.window.statusBar().showMessage(text, ms)

    def new_project(self) -> bool:
        """Replace the project with a new one holding just an Input layer."""
        if not self.maybe_save():
            return False
        self.document.new(Project.new(graph=starter_graph()))
        self._status(HINT)
        return True

    def new_from_preset(self) -> bool:
        """Let the user pick a preset in the gallery and start a project from it."""
        name = self.choose_preset()
        if name is None or not self.maybe_save():
            return False
        preset = get_preset(name)
        recommended = preset.recommended_settings()  # always names a dataset that fits the network's input
        dataset = DatasetChoice.model_validate(recommended["dataset"])
        classes = dataset_info(dataset.name).num_classes
        graph = preset.factory(num_classes=classes) if classes else preset.factory()
        project = Project.new(graph=graph, name=preset.title, dataset=dataset,
                              training=TrainingConfig.model_validate(recommended.get("training", {})))
        self.document.new(project)
        self._status(f"New network from the {preset.title} preset, for {dataset_info(dataset.name).title}"
                     + (" with its recommended training settings" if "training" in recommended else ""), 6000)
        return True

    def open_project(self) -> bool:
        """Ask for a file and open it."""
        path = self.choose_open_path()
        return path is not None and self.open_path(path)

    def open_path(self, path: Path, ask: bool = True) -> bool:
        """Open ``path``; on failure show the reason and keep the current project unchanged."""
        path = Path(path)
        if ask and not self.maybe_save():
            return False
        if not path.is_file():
            self.show_error("Cannot open project", f"{printable(path)}: no such file")
            self.recent.remove(path.resolve())  # a vanished recent file leaves the list
            self.update_recent_menu()
            return False
        try:
            self.document.open(path)
        except (ProjectError, OSError) as exc:
            self.show_error("Cannot open project", f"{printable(path.name)}: {exc}")
            return False
        self._remember(path)
        self._status(f"Opened {printable(path)}", 6000)
        self._warn_if_too_large(path)
        return True

    def _warn_if_too_large(self, path: Path) -> None:
        """Say so when the network just opened cannot be trained in the memory there is (it was not built:
        the Inspect panels refuse it too); the project stays open to be edited down."""
        problem = training_memory_problem(self.document.graph, self.document.project.training,
                                          self.document.result)
        if problem:
            self._status(f"Opened {printable(path)}: the network is too large for this machine's memory", 0)
            self.show_warning("Network too large", f"{printable(path.name)} is open but its network was not built: "
                              f"{problem}. "
                              "Nothing in the file was changed; make the largest layers (or the batch size) "
                              "smaller to train or inspect it here.")

    def save(self) -> bool:
        """Save to the current file, or ask for one. False when nothing was saved."""
        if self.document.path is None:
            return self.save_as()
        return self.save_to(self.document.path)

    def save_as(self) -> bool:
        """Ask for a file name (``.cnnp`` added when it has no project suffix) and save there."""
        path = self.choose_save_path()
        if path is None:
            return False
        if path.suffix.lower() not in (".cnnp", ".json"):
            path = path.with_name(path.name + ".cnnp")
        return self.save_to(path)

    def save_to(self, path: Path) -> bool:
        """Save the project as ``path`` (it becomes the document's file); False, with the reason shown, if not.

        When the save fails, the project (with its runs and weights) is also written to the recovery
        folder at once, and the message names that copy; it stays open here either way.
        """
        try:
            self.document.save(path)
        except (ProjectError, OSError) as exc:
            self.show_error("Cannot save project", f"{path.name}: {exc}\n\n{self._recovery_note()}")
            return False
        self._remember(path)
        self._status(f"Saved {path}", 6000)
        return True

    def _recovery_note(self) -> str:
        """Write the recovery copy now and say where it is (or that it could not be written)."""
        autosaver = self.window.autosaver
        kept = "The project is still open here: save it elsewhere with File → Save As."
        if not self.document.modified:
            return kept  # nothing that the last saved file lacks
        if autosaver.save_now(wait=True):
            return (f"A copy of the project, with its runs and weights, was saved to {autosaver.file} (kept until "
                    f"the project is saved). {kept}")
        return f"No recovery copy could be written either ({autosaver.last_error}). {kept}"

    def maybe_save(self) -> bool:
        """True when the current project may be replaced (saved, discarded or unmodified).

        A running training is stopped first (after asking), so that its run is recorded in this
        project before the question about saving it.
        """
        training = self.window.training
        if training.running:
            if not self.ask_stop_training():
                return False
            stop_training_and_wait(training)
        if not self.document.modified:
            return True
        answer = self.ask_save_changes()
        if answer == Button.Save:
            return self.save()
        return answer == Button.Discard

    def _remember(self, path: Path) -> None:
        self.recent.add(path)
        self.update_recent_menu()

    def update_recent_menu(self) -> None:
        """Rebuild File → Open Recent from QSettings."""
        fill_recent_menu(self.window.menus["Open Recent"], self.recent.paths(), self.open_path,
                         self.window.acts.clear_recent)

    def clear_recent_files(self) -> None:
        self.recent.clear()
        self.update_recent_menu()

    def start_dir(self) -> str:
        """Where file dialogs start: the folder of the latest recent project, else Documents."""
        recent = self.recent.paths()
        if recent:
            return str(recent[0].parent)
        return QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation)

    # --- questions (tests replace these) ----------------------------------------------------
    def ask_save_changes(self) -> QMessageBox.StandardButton:
        box = QMessageBox(QMessageBox.Icon.Warning, APP_TITLE, f"Save changes to {self.document.title}?",
                          Button.Save | Button.Discard | Button.Cancel, self.window)
        box.setInformativeText("Your changes will be lost if you don't save them.")
        box.setDefaultButton(Button.Save)
        return Button(box.exec())

    def ask_stop_training(self) -> bool:
        answer = QMessageBox.question(self.window, APP_TITLE, "A network is training. Stop it and keep its results?",
                                      Button.Yes | Button.Cancel, Button.Cancel)
        return answer == Button.Yes

    def choose_open_path(self) -> Path | None:
        name, _ = QFileDialog.getOpenFileName(self.window, "Open Project", self.start_dir(),
                                              FILE_FILTER + ";;All files (*)")
        return Path(name) if name else None

    def choose_save_path(self) -> Path | None:
        start = self.document.path or Path(self.start_dir()) / f"{self.document.project.name}.cnnp"
        dialog = QFileDialog(self.window, "Save Project As", str(start), FILE_FILTER)
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        dialog.setDefaultSuffix("cnnp")
        if dialog.exec() != QDialog.DialogCode.Accepted or not dialog.selectedFiles():
            return None
        return Path(dialog.selectedFiles()[0])

    def choose_preset(self) -> str | None:
        return dialogs.PresetGallery.choose(self.window)

    def show_error(self, title: str, text: str) -> None:
        QMessageBox.critical(self.window, title, text)

    def show_warning(self, title: str, text: str) -> None:
        QMessageBox.warning(self.window, title, text)

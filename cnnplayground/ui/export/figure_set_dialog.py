"""File → Export Figure Set…: one run's figures in a folder with an ``index.html`` (:mod:`.figure_set`).

The set is drawn one figure at a time from the event loop (a zero-delay timer steps the set's generator), so
the window stays responsive, the progress bar moves after each figure and Cancel stops before the next one
(every file written is whole; the index lists what was finished). The panels' own analyses run in their
background jobs as in the window. The folder is remembered in the settings (``figures/set_folder``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings, QStandardPaths, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ...core.errors import UserError
from ...export.style import DEFAULT_STYLE, STYLES
from .figure_set import FigureSet, SetRequest

SETTINGS_KEY = "figures/set_folder"


class FigureSetDialog(QDialog):
    """Choose the folder, run, epochs and style; Export draws the set with a progress bar and Cancel."""

    #: After the set ends: ``"done"``, ``"cancelled"`` or ``"failed"``.
    set_finished = Signal(str)
    #: After each figure: figures done, figures in all.
    progressed = Signal(int, int)

    def __init__(self, project: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export Figure Set")
        self.project = project
        self.figure_set: FigureSet | None = None
        self._steps = None
        self.outcome = ""

        self.folder = QLineEdit(self)
        self.folder.setText(self._start_folder())
        self.browse_button = QPushButton("Browse…", self)
        self.browse_button.clicked.connect(self._browse)
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.folder, 1)
        folder_row.addWidget(self.browse_button)

        self.run = QComboBox(self)
        keeping = -1
        for i, record in enumerate(project.history):
            kept = record.epochs is not None and bool(record.epochs.weights)
            self.run.addItem(record.name + ("" if kept else " (keeps no epochs)"), i + 1)
            keeping = i if kept else keeping
        if not project.history:
            self.run.addItem("the project's weights", None)
        self.run.setCurrentIndex(keeping if keeping >= 0 else self.run.count() - 1)
        self.run.currentIndexChanged.connect(self._fill_epochs)
        self.epochs = QListWidget(self)
        self.epochs.setMaximumHeight(110)
        self.style_choice = QComboBox(self)
        for name, style in STYLES.items():
            self.style_choice.addItem(f"{name} ({style.width_in:g} in wide)", name)
        self.style_choice.setCurrentIndex(list(STYLES).index(DEFAULT_STYLE))

        form = QFormLayout()
        form.addRow("Folder:", folder_row)
        form.addRow("Run:", self.run)
        form.addRow("Epochs:", self.epochs)
        form.addRow("Style:", self.style_choice)

        self.progress = QProgressBar(self)
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.status = QLabel("The architecture, the curves, the confusion matrix and every panel's figure at the "
                             "checked epochs, with an index.html.", self)
        self.status.setWordWrap(True)
        self.status.setTextFormat(Qt.TextFormat.PlainText)

        self.export_button = QPushButton("Export", self)
        self.export_button.setDefault(True)
        self.export_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Close", self)
        self.cancel_button.clicked.connect(self.cancel)
        self.open_button = QPushButton("Open Folder", self)
        self.open_button.clicked.connect(self.open_folder)
        self.open_button.hide()
        buttons = QHBoxLayout()
        buttons.addWidget(self.open_button)
        buttons.addStretch(1)
        buttons.addWidget(self.export_button)
        buttons.addWidget(self.cancel_button)

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addLayout(buttons)
        self._fill_epochs()
        self.resize(560, self.sizeHint().height())

    # --- choices ---------------------------------------------------------------------------------------------
    def _start_folder(self) -> str:
        saved = QSettings().value(SETTINGS_KEY, "")
        if saved:
            return str(saved)
        documents = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation)
        return str(Path(documents) / f"{self.project.name} figures")

    def choose_folder(self, start: str) -> str:
        """Ask for the folder (tests replace this)."""
        return QFileDialog.getExistingDirectory(self, "Export Figure Set", start)

    def _browse(self) -> None:
        chosen = self.choose_folder(self.folder.text())
        if chosen:
            self.folder.setText(chosen)

    def _fill_epochs(self) -> None:
        from ...io.project_epochs import stored_epochs

        self.epochs.clear()
        run = self.run.currentData()
        stored = stored_epochs(self.project, run - 1) if run is not None else []
        if not stored:
            item = QListWidgetItem("the weights it ended with")
            item.setFlags(Qt.ItemFlag.ItemIsEnabled)
            self.epochs.addItem(item)
            return
        for epoch in stored:
            item = QListWidgetItem(f"epoch {epoch}" + (" (before training)" if epoch == 0 else ""))
            item.setData(Qt.ItemDataRole.UserRole, epoch)
            item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if epoch == stored[-1] else Qt.CheckState.Unchecked)
            self.epochs.addItem(item)

    def chosen_epochs(self) -> list[int | str]:
        checked: list[int | str] = []
        for k in range(self.epochs.count()):
            item = self.epochs.item(k)
            epoch = item.data(Qt.ItemDataRole.UserRole)
            if epoch is not None and item.checkState() == Qt.CheckState.Checked:
                checked.append(int(epoch))
        return checked or ["last"]

    def request(self) -> SetRequest:
        return SetRequest(Path(self.folder.text().strip()), self.run.currentData(), self.chosen_epochs(),
                          self.style_choice.currentData())

    # --- running ---------------------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._steps is not None

    def start(self) -> bool:
        """Start the set (False, with the reason shown, when it cannot be made)."""
        if self.running:
            return False
        if not self.folder.text().strip():
            self.status.setText("Choose a folder for the figures.")
            return False
        try:
            self.figure_set = FigureSet(self.project, self.request())
        except UserError as exc:
            self.status.setText(str(exc))
            return False
        QSettings().setValue(SETTINGS_KEY, self.folder.text().strip())
        self.progress.setRange(0, len(self.figure_set.entries))
        self.progress.setValue(0)
        self.open_button.hide()
        self._set_inputs_enabled(False)
        self.cancel_button.setText("Cancel")
        self.status.setText(f"Drawing {len(self.figure_set.entries)} figures…")
        self._steps = self.figure_set.steps()
        QTimer.singleShot(0, self._step)
        return True

    def _step(self) -> None:
        if self._steps is None:
            return
        try:
            progress = next(self._steps)
        except StopIteration:
            self._end("cancelled" if self.figure_set is not None and self.figure_set.cancelled else "done")
            return
        except UserError as exc:
            self._end("failed", str(exc))
            return
        self.progress.setValue(progress.done)
        result = progress.result
        what = f"not drawn: {result.skipped}" if result.skipped is not None else "written"
        self.status.setText(f"{progress.done} of {progress.total}: {result.title} — {what}")
        self.progressed.emit(progress.done, progress.total)
        QTimer.singleShot(0, self._step)

    def _end(self, outcome: str, message: str = "") -> None:
        self._steps = None
        self.outcome = outcome
        self._set_inputs_enabled(True)
        self.cancel_button.setText("Close")
        figure_set = self.figure_set
        assert figure_set is not None
        drawn = sum(r.skipped is None for r in figure_set.results)
        if outcome == "failed":
            self.status.setText(message)
        elif outcome == "cancelled":
            self.status.setText(f"Cancelled: {drawn} figures written to {figure_set.folder}, with an index.html.")
        else:
            skipped = len(figure_set.results) - drawn
            self.status.setText(f"{drawn} figures written to {figure_set.folder}"
                                + (f" ({skipped} not drawn: see index.html)" if skipped else "") + "."
                                + (f" The {figure_set.removed} files of the set that was there were removed."
                                   if figure_set.removed else ""))
        self.open_button.setVisible(outcome != "failed" or bool(figure_set.written))
        self.set_finished.emit(outcome)

    def _set_inputs_enabled(self, enabled: bool) -> None:
        for widget in (self.folder, self.browse_button, self.run, self.epochs, self.style_choice, self.export_button):
            widget.setEnabled(enabled)

    def cancel(self) -> None:
        """Cancel: stop the set after the figure being drawn; Close when nothing runs."""
        if self.running and self.figure_set is not None:
            self.figure_set.cancel()
            self.status.setText("Cancelling after this figure…")
        else:
            self.reject()

    def open_url(self, url: QUrl) -> bool:
        """Open ``url`` in the system's file manager (tests replace this)."""
        return QDesktopServices.openUrl(url)

    def open_folder(self) -> bool:
        if self.figure_set is None:
            return False
        return self.open_url(QUrl.fromLocalFile(str(self.figure_set.folder.resolve())))

    def reject(self) -> None:
        if self.running and self.figure_set is not None:  # Escape while drawing: cancel first
            self.figure_set.cancel()
            return
        super().reject()

    def closeEvent(self, event) -> None:  # noqa: N802  (Qt's name)
        if self.running and self.figure_set is not None:
            self.figure_set.cancel()
            event.ignore()
            return
        super().closeEvent(event)

"""File → Export Model: PyTorch code + weights, a training script, ONNX, torch.export and a model card.

The chosen formats are written one after the other in the background (an ONNX export
of a large network takes seconds); each line of the log says what was written or why
not. Nothing is overwritten without asking.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from PySide6.QtCore import QSettings, QStandardPaths
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ...export.registry import FORMATS, built_model
from ...project import Project
from ..jobs import GeneratorJob, describe_error


def export_steps(project: Project, out: Path, formats: list[str]) -> Iterator[tuple[str, str]]:
    """Write each format into ``out``; yield ``(format, "wrote a, b")`` or ``(format, "failed: why")``."""
    model = None
    out.mkdir(parents=True, exist_ok=True)
    for fmt in formats:
        spec = FORMATS[fmt]
        try:
            if spec.needs_model and model is None:
                model = built_model(project)
            paths = spec.write(project, out, model)
        except Exception as exc:  # noqa: BLE001 - each format reports its own failure, the others go on
            yield fmt, f"failed: {describe_error(exc)}"
            continue
        yield fmt, "wrote " + ", ".join(Path(p).name for p in paths)


class ExportModelDialog(QDialog):
    """Pick formats and a folder; the export runs in the background with a log."""

    def __init__(self, project: Project, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export Model")
        self.project = project
        self.job: GeneratorJob | None = None
        self.results: dict[str, str] = {}
        self.boxes: dict[str, QCheckBox] = {}
        layout = QVBoxLayout(self)
        if project.weights is None:
            warning = QLabel("This project has no trained weights: the files will hold the network with random "
                             "weights (train it first to export what it learned).", self)
            warning.setWordWrap(True)
            layout.addWidget(warning)
        settings = QSettings()
        for key, spec in FORMATS.items():
            box = QCheckBox(spec.label, self)
            box.setToolTip(spec.tooltip)
            box.setChecked(settings.value(f"export/{key}", spec.default, type=bool))
            self.boxes[key] = box
            layout.addWidget(box)
        self.folder = QLineEdit(self)
        base = settings.value("export/folder", "") or \
            QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation)
        self.folder.setText(str(Path(base) / _safe_name(project.name)))
        self.folder.setToolTip("The files are written into this folder (created if missing)")
        browse = QPushButton("Choose…", self)
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(QLabel("Folder", self))
        row.addWidget(self.folder, 1)
        row.addWidget(browse)
        layout.addLayout(row)
        self.log = QPlainTextEdit(self)
        self.log.setReadOnly(True)
        self.log.setPlaceholderText("What was written appears here")
        self.log.setMaximumHeight(140)
        layout.addWidget(self.log)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, parent=self)
        self.export_button = self.buttons.addButton("Export", QDialogButtonBox.ButtonRole.ActionRole)
        self.export_button.setDefault(True)
        self.export_button.clicked.connect(self.export)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)

    def chosen(self) -> list[str]:
        return [key for key, box in self.boxes.items() if box.isChecked()]

    def _browse(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Export Into", self.folder.text())
        if path:
            self.folder.setText(path)

    def confirm_overwrite(self, existing: list[str]) -> bool:
        """Ask before replacing files (tests replace this)."""
        answer = QMessageBox.question(self, "Export Model", f"{', '.join(existing)} already exist in the folder. "
                                      "Replace them?")
        return answer == QMessageBox.StandardButton.Yes

    def export(self) -> None:
        formats = self.chosen()
        if not formats or (self.job is not None and self.job.running):
            return
        out = Path(self.folder.text()).expanduser()
        existing = sorted({name for f in formats for name in FORMATS[f].files if (out / name).exists()})
        if existing and not self.confirm_overwrite(existing):
            return
        settings = QSettings()
        for key, box in self.boxes.items():
            settings.setValue(f"export/{key}", box.isChecked())
        settings.setValue("export/folder", str(out.parent))
        self.results = {}
        self.log.setPlainText(f"Exporting into {out}…")
        self.export_button.setEnabled(False)
        self.job = GeneratorJob(export_steps(self.project, out, formats), parent=self)
        self.job.progressed.connect(self._on_results)
        self.job.finished.connect(self._on_done)
        self.job.failed.connect(lambda message: self._on_done(message))
        self.job.start()

    def _on_results(self, items: list) -> None:
        for fmt, text in items:
            self.results[fmt] = text
            self.log.appendPlainText(f"{FORMATS[fmt].label.split(' (')[0]}: {text}")

    def _on_done(self, failure: str = "") -> None:
        if failure:
            self.log.appendPlainText(f"Export failed: {failure}")
        failed = [f for f, text in self.results.items() if text.startswith("failed")]
        self.log.appendPlainText("Done." if not failed and not failure else f"Done, {len(failed)} failed.")
        self.export_button.setEnabled(True)

    def reject(self) -> None:
        if self.job is not None and self.job.running:
            self.job.cancel()  # the format being written finishes; the rest is skipped
        super().reject()


def _safe_name(name: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in "-_" else "-" for c in name).strip("-")
    return cleaned or "model"

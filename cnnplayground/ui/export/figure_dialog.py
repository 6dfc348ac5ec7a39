"""File → Export Figure: pick what (the network or an open panel), the format and, for PNG, the size."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings, QStandardPaths
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDockWidget,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ...io.atomic import AtomicWriteError
from .figures import DEFAULT_SCALE, FORMATS, MAX_SIDE, FigureError, FigureTarget, default_png_size, export_figure


def front_panel(docks: list[QDockWidget], focus: QWidget | None) -> str | None:
    """The title of the panel in front among ``docks``: the one holding the keyboard focus (the
    application's, which may be in a floating dock, else ``focus``: the window's), else the largest one
    on screen (a dock tabbed behind another is not on screen); None when none is shown, and the figure
    is the network."""
    shown = [d for d in docks if d.isVisible() and not d.visibleRegion().isEmpty()]
    for candidate in (QApplication.focusWidget(), focus):
        for dock in shown:
            if candidate is not None and dock.isAncestorOf(candidate):
                return dock.windowTitle()
    if not shown:
        return None
    return max(shown, key=lambda d: d.width() * d.height()).windowTitle()


class ExportFigureDialog(QDialog):
    """Choose a target and a format, then a file; the figure is written atomically."""

    def __init__(self, targets: list[FigureTarget], current: str | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export Figure")
        self.targets = targets
        self.written: Path | None = None
        self.target = QComboBox(self)
        for t in targets:
            self.target.addItem(t.name)
        if current is not None and self.target.findText(current) >= 0:
            self.target.setCurrentIndex(self.target.findText(current))
        self.target.setToolTip("The network, or one of the open panels")
        self.format = QComboBox(self)
        for key, text in FORMATS.items():
            self.format.addItem(text.split(" (")[0], key)
        settings = QSettings()
        saved = settings.value("figures/format", "png")
        self.format.setCurrentIndex(max(self.format.findData(saved), 0))
        self.format.setToolTip("SVG and PDF keep curves and text sharp at any size; CSV is the plotted numbers")
        self.width_px, self.height_px = QSpinBox(self), QSpinBox(self)
        for box in (self.width_px, self.height_px):
            box.setRange(16, MAX_SIDE)
            box.setSuffix(" px")
        self.dpi = QSpinBox(self)
        self.dpi.setRange(36, 1200)
        self.dpi.setValue(int(settings.value("figures/dpi", 144)))
        self.dpi.setSuffix(" dpi")
        self.dpi.setToolTip("Stored in the PNG: the size a document will print it at")
        self.note = QLabel(self)
        self.note.setWordWrap(True)
        size = QHBoxLayout()
        size.addWidget(self.width_px)
        size.addWidget(QLabel("×", self))
        size.addWidget(self.height_px)
        form = QFormLayout()
        form.addRow("Figure", self.target)
        form.addRow("Format", self.format)
        form.addRow("Size", size)
        form.addRow("Resolution", self.dpi)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel,
                                   parent=self)
        buttons.accepted.connect(self.export)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.note)
        layout.addWidget(buttons)
        self._keep_ratio = True
        self.target.currentIndexChanged.connect(self._on_target)
        self.format.currentIndexChanged.connect(self._on_format)
        self.width_px.valueChanged.connect(self._on_width)
        self._on_target()
        self._on_format()

    @property
    def current(self) -> FigureTarget:
        return self.targets[self.target.currentIndex()]

    def _on_target(self) -> None:
        size = default_png_size(self.current)
        self.width_px.blockSignals(True)
        self.width_px.setValue(size.width())
        self.width_px.blockSignals(False)
        self.height_px.setValue(size.height())
        self._on_format()  # the CSV note depends on the target

    def _on_width(self, width: int) -> None:
        natural = self.current.size()
        self.height_px.setValue(max(16, min(round(width * natural.height() / max(natural.width(), 1)), MAX_SIDE)))

    def _on_format(self) -> None:
        fmt = self.format.currentData()
        raster = fmt == "png"
        for box in (self.width_px, self.height_px, self.dpi):
            box.setEnabled(raster)
        natural = self.current.size()
        self.note.setText({
            "png": f"A bitmap: {DEFAULT_SCALE}× the size on screen by default (less where a side would pass "
                   f"{MAX_SIDE:,} px); the resolution only sets its printed size.",
            "svg": f"Vector drawing at {natural.width()}×{natural.height()} px; images inside stay bitmaps.",
            "pdf": "One page the size of the figure, vector curves and text.",
            "csv": "One row per image shown (index, file for an image folder, true, predicted, confidence)."
                   if callable(getattr(self.current.widget, "table_rows", None)) else
                   "The numbers behind the plots: one row per point (plot, series, x, y).",
        }[fmt])

    def choose_path(self, suggested: str, file_filter: str) -> str:
        """Ask for the file (tests replace this)."""
        path, _ = QFileDialog.getSaveFileName(self, "Export Figure", suggested, file_filter)
        return path

    def export(self) -> None:
        fmt = self.format.currentData()
        folder = QSettings().value("figures/folder", "") or \
            QStandardPaths.writableLocation(QStandardPaths.StandardLocation.PicturesLocation)
        name = self.current.name.lower().replace(" ", "-")
        path = self.choose_path(str(Path(folder) / f"{name}.{fmt}"), FORMATS[fmt])
        if not path:
            return
        path = Path(path)
        if path.suffix.lower() != f".{fmt}":
            path = path.with_name(path.name + f".{fmt}")
        try:
            self.written = export_figure(self.current, path, fmt, width=self.width_px.value(),
                                         height=self.height_px.value(), dpi=self.dpi.value())
        except (FigureError, AtomicWriteError, OSError) as exc:
            self.note.setText(f"Not saved: {exc}")
            return
        settings = QSettings()
        settings.setValue("figures/format", fmt)
        settings.setValue("figures/dpi", self.dpi.value())
        settings.setValue("figures/folder", str(path.parent))
        self.accept()

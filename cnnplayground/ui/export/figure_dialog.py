"""File → Export Figure: pick what (the network or an open panel), the format, the figure style (paper column,
full page, 16:9 slide: its size, fonts and colours, :mod:`cnnplayground.export.style`) and, for PNG, the
resolution; the Curves panel also as a pgfplots LaTeX document, its data inline or in a CSV file beside it."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings, QSize, QStandardPaths
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

from ...export.curves import curve_plots, write_pgfplots
from ...export.style import DEFAULT_STYLE, STYLES, figure_style
from ...io.atomic import AtomicWriteError
from .figures import FORMATS, MAX_SIDE, FigureError, FigureTarget, export_figure, figure_for, styled_png_size

#: The figure styles offered, by their names in the dialog.
STYLE_NAMES = {"paper": "Paper column", "page": "Full page", "slide": "Slide 16:9"}
#: The pgfplots format, offered for a plot of runs (the Curves panel).
TEX = ("tex", "pgfplots LaTeX document (*.tex)")
#: Where a pgfplots document's numbers go.
TEX_DATA = {"inline": "Inline, in the .tex", "csv": "In a .csv file beside it"}


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
        settings = QSettings()
        self._saved_format = str(settings.value("figures/format", "png"))
        self.format.setToolTip("SVG and PDF keep curves and text sharp at any size; CSV is the plotted numbers; "
                               "pgfplots is a LaTeX document with the runs' numbers")
        self.preset = QComboBox(self)
        for key, text in STYLE_NAMES.items():
            self.preset.addItem(text, key)
        saved_style = settings.value("figures/style", DEFAULT_STYLE)
        saved_style = saved_style if saved_style in STYLES else DEFAULT_STYLE
        self.preset.setCurrentIndex(max(self.preset.findData(saved_style), 0))
        self.preset.setToolTip("Size, fonts, line widths and colours of the figure, whatever the window's theme: "
                              "a 3.5 in paper column, a 7 in page, or a 13.33 × 7.5 in slide")
        self.tex_data = QComboBox(self)
        for key, text in TEX_DATA.items():
            self.tex_data.addItem(text, key)
        self.tex_data.setCurrentIndex(max(self.tex_data.findData(settings.value("figures/tex_data", "inline")), 0))
        self.tex_data.setToolTip("pgfplots: the coordinates inside the document, or a table in a CSV file beside it")
        self.width_px, self.height_px = QSpinBox(self), QSpinBox(self)
        for box in (self.width_px, self.height_px):
            box.setRange(16, MAX_SIDE)
            box.setSuffix(" px")
            box.setEnabled(False)
            box.setToolTip("The style's width (and a slide's height) at the resolution")
        self.dpi = QSpinBox(self)
        self.dpi.setRange(36, 1200)
        self.dpi.setValue(int(settings.value("figures/dpi", self.figure_style.dpi)))
        self.dpi.setSuffix(" dpi")
        self.dpi.setToolTip("PNG: pixels per inch of the style's width (and stored in the PNG as its print size)")
        self.note = QLabel(self)
        self.note.setWordWrap(True)
        size = QHBoxLayout()
        size.addWidget(self.width_px)
        size.addWidget(QLabel("×", self))
        size.addWidget(self.height_px)
        form = QFormLayout()
        form.addRow("Figure", self.target)
        form.addRow("Format", self.format)
        form.addRow("Style", self.preset)
        form.addRow("Size", size)
        form.addRow("Resolution", self.dpi)
        form.addRow("Data", self.tex_data)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel,
                                   parent=self)
        buttons.accepted.connect(self.export)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.note)
        layout.addWidget(buttons)
        self._drawn: dict[tuple[int, str], QSize] = {}  # (target, style) → its PNG's size at 1000 dpi
        self.target.currentIndexChanged.connect(self._on_target)
        self.format.currentIndexChanged.connect(self._on_format)
        self.preset.currentIndexChanged.connect(self._on_style)
        self.dpi.valueChanged.connect(self._on_size)
        self._on_target()

    @property
    def current(self) -> FigureTarget:
        return self.targets[self.target.currentIndex()]

    @property
    def figure_style(self):
        return figure_style(self.preset.currentData() or DEFAULT_STYLE)

    def _on_target(self) -> None:
        """The formats this target has (pgfplots for a plot of runs), the chosen one kept where it can be."""
        chosen = self.format.currentData() or self._saved_format
        formats = dict(FORMATS)
        if self.current.curve_runs() is not None:
            formats[TEX[0]] = TEX[1]
        self.format.blockSignals(True)
        self.format.clear()
        for key, text in formats.items():
            self.format.addItem(text.split(" (")[0], key)
        self.format.setCurrentIndex(max(self.format.findData(chosen), 0))
        self.format.blockSignals(False)
        self._on_format()

    def _on_style(self) -> None:
        self.dpi.setValue(self.figure_style.dpi)  # the style's resolution (a slide's is lower)
        self._on_format()

    def _on_size(self) -> None:
        key = (self.target.currentIndex(), self.figure_style.name)
        if key not in self._drawn:  # what the style draws (the Curves panel: its runs' curves), made once
            figure = figure_for(self.current, self.figure_style)
            self._drawn[key] = styled_png_size(figure, self.figure_style, 1000)
            if figure is not self.current:
                figure.widget.deleteLater()
        per_1000 = self._drawn[key]
        dpi = self.dpi.value()
        size = QSize(round(per_1000.width() * dpi / 1000), round(per_1000.height() * dpi / 1000))
        for box, value in ((self.width_px, size.width()), (self.height_px, size.height())):
            box.blockSignals(True)
            box.setValue(max(16, min(value, MAX_SIDE)))
            box.blockSignals(False)

    def _on_format(self) -> None:
        fmt = self.format.currentData()
        self.dpi.setEnabled(fmt == "png")
        self.tex_data.setEnabled(fmt == "tex")
        self._on_size()
        style = self.figure_style
        width = f"{style.width_in:g} in wide" + (f", {style.height_in:g} in high" if style.height_in else "")
        self.note.setText({
            "png": f"A bitmap {width} at the resolution, dark on white in the style's fonts and colours.",
            "svg": f"A vector drawing {width}; images inside stay bitmaps.",
            "pdf": f"One page {width}, vector curves and text.",
            "csv": "One row per image shown (index, file for an image folder, true, predicted, confidence)."
                   if callable(getattr(self.current.widget, "table_rows", None)) else
                   "The numbers behind the plots: one row per point (plot, series, x, y).",
            "tex": f"A standalone LaTeX document (pdflatex, pgfplots), {style.width_in:g} in wide: loss and accuracy "
                   "per epoch, one line per shown run, named as the run.",
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
        path = self.choose_path(str(Path(folder) / f"{name}.{fmt}"), dict([TEX], **FORMATS)[fmt])
        if not path:
            return
        path = Path(path)
        if path.suffix.lower() != f".{fmt}":
            path = path.with_name(path.name + f".{fmt}")
        try:
            if fmt == "tex":
                plots = [p for p in curve_plots(self.current.curve_runs() or [], ["loss", "accuracy"],
                                                self.figure_style) if p.lines]
                if not plots:
                    raise FigureError("no run has a finished epoch yet: there are no curves to write")
                self.written = write_pgfplots(plots, path, self.figure_style, self.tex_data.currentData())[0]
            else:
                self.written = export_figure(self.current, path, fmt, dpi=self.dpi.value(), style=self.figure_style)
        except (FigureError, AtomicWriteError, OSError) as exc:
            self.note.setText(f"Not saved: {exc}")
            return
        settings = QSettings()
        settings.setValue("figures/format", fmt)
        settings.setValue("figures/dpi", self.dpi.value())
        settings.setValue("figures/style", self.preset.currentData())
        settings.setValue("figures/tex_data", self.tex_data.currentData())
        settings.setValue("figures/folder", str(path.parent))
        self.accept()

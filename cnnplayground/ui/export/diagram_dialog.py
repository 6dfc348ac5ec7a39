"""File → Export Diagram: the canvas's network as an architecture diagram (SVG, PDF, PNG or TikZ), with a
live preview of what will be written."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings, QStandardPaths, Qt
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from ...core.errors import UserError
from ...core.graph import Graph
from ...export.diagram.scene import LABELS, DiagramOptions, Scene
from ...export.diagram.write import (
    STYLES,
    blocks_by_default,
    default_orientation,
    diagram_format,
    diagram_scene,
    text_of,
)
from ...export.style import STYLES as FIGURE_STYLES
from ...io.atomic import atomic_write_bytes
from .diagram_render import diagram_image, diagram_pdf, diagram_png

FILE_FILTER = "SVG (*.svg);;PDF (*.pdf);;PNG image (*.png);;TikZ for LaTeX (*.tex)"
#: The preview is drawn at this resolution (dots per inch of the figure's printed size).
PREVIEW_DPI = 110


class ExportDiagramDialog(QDialog):
    """Options on the left, the diagram as it will be written on the right; Save as… asks for the file."""

    def __init__(self, graph: Graph, name: str = "network", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export Diagram")
        self.graph = graph
        self.name = name
        self.written: Path | None = None
        self.scene: Scene | None = None
        self.style = QComboBox(self)
        for key in STYLES:
            self.style.addItem({"flow": "Flow (a box per layer)", "block": "Block (feature maps)"}[key], key)
        self.orientation = QComboBox(self)
        self.orientation.addItem("Horizontal", "horizontal")
        self.orientation.addItem("Vertical", "vertical")
        self.labels = {key: QCheckBox(key.capitalize(), self) for key in LABELS}
        for key, box in self.labels.items():
            box.setChecked(key in DiagramOptions().labels)
        self.grey = QCheckBox("Grey scale", self)
        self.grey.setToolTip("Grey fills instead of colours, for print")
        self.blocks = QCheckBox("One box per block", self)
        self.figure_style = QComboBox(self)
        for key, style in FIGURE_STYLES.items():
            self.figure_style.addItem(f"{key.capitalize()} ({style.width_in:g} in wide)", key)
        figure = FIGURE_STYLES[self.figure_style.currentData()]
        on, why = blocks_by_default(graph, DiagramOptions(orientation=default_orientation("flow", figure, graph)),
                                    figure)
        tip = "A residual or dense block (the layers after a fork up to its join) as one box"
        self.blocks.setToolTip(f"{tip}.\nOn to begin with: {why}." if on else tip)
        self.blocks.setChecked(on)
        self.preview = QLabel(self)
        self.preview.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        scroll = QScrollArea(self)
        scroll.setWidget(self.preview)
        scroll.setWidgetResizable(True)
        scroll.setMinimumSize(520, 380)
        self.note = QLabel(self)
        self.note.setWordWrap(True)
        label_row = QHBoxLayout()
        for box in self.labels.values():
            label_row.addWidget(box)
        form = QFormLayout()
        form.addRow("Style", self.style)
        form.addRow("Orientation", self.orientation)
        form.addRow("Labels", label_row)
        form.addRow("", self.grey)
        form.addRow("", self.blocks)
        form.addRow("Figure", self.figure_style)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel, parent=self)
        self.save_button = buttons.addButton("Save as…", QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.accepted.connect(self.export)
        buttons.rejected.connect(self.reject)
        side = QVBoxLayout()
        side.addLayout(form)
        side.addWidget(self.note)
        side.addStretch(1)
        top = QHBoxLayout()
        top.addLayout(side, 0)
        top.addWidget(scroll, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(buttons)
        #: The user picked an orientation: it no longer follows the style (see :meth:`_follow_defaults`).
        self.orientation_chosen = False
        self.orientation.activated.connect(lambda _i: setattr(self, "orientation_chosen", True))
        self.orientation.setToolTip("To begin with, the flow style in a column or a page takes the direction "
                                    "that needs less height (ResNet-18 down, LeNet-5 across); a slide and the "
                                    "block style run across. Follows the style until you choose.")
        self._follow_defaults()
        for combo in (self.style, self.figure_style):
            combo.currentIndexChanged.connect(self._follow_defaults)
        for combo in (self.style, self.orientation, self.figure_style):
            combo.currentIndexChanged.connect(self.refresh)
        for box in (*self.labels.values(), self.grey, self.blocks):
            box.toggled.connect(self.refresh)
        self.refresh()

    def _follow_defaults(self, *_args) -> None:
        """The orientation the command would choose for this style and figure, until the user picks one."""
        if self.orientation_chosen:
            return
        wanted = default_orientation(self.style.currentData(), FIGURE_STYLES[self.figure_style.currentData()],
                                     self.graph)
        self.orientation.blockSignals(True)
        self.orientation.setCurrentIndex(self.orientation.findData(wanted))
        self.orientation.blockSignals(False)

    def options(self) -> DiagramOptions:
        return DiagramOptions(orientation=self.orientation.currentData(),
                              labels=frozenset(k for k, box in self.labels.items() if box.isChecked()),
                              grey=self.grey.isChecked(), blocks=self.blocks.isChecked())

    def refresh(self) -> None:
        """Draw the diagram again with the options as they are now."""
        self.blocks.setEnabled(self.style.currentData() == "flow")
        try:
            self.scene = diagram_scene(self.graph, self.style.currentData(), self.options(),
                                       FIGURE_STYLES[self.figure_style.currentData()])
        except UserError as exc:
            self.scene = None
            self.preview.setPixmap(QPixmap())
            self.note.setText(str(exc))
            self.save_button.setEnabled(False)
            return
        self.save_button.setEnabled(True)
        self.preview.setPixmap(QPixmap.fromImage(diagram_image(self.scene, PREVIEW_DPI)))
        self.note.setText(f"{self.scene.width / 72:.1f} × {self.scene.height / 72:.1f} in. SVG, PDF and TikZ "
                          "keep text as text; the format follows the file name's extension.")

    def choose_path(self, suggested: str) -> str:
        """Ask for the file (tests replace this)."""
        path, _ = QFileDialog.getSaveFileName(self, "Export Diagram", suggested, FILE_FILTER)
        return path

    def export(self) -> None:
        if self.scene is None:
            return
        folder = QSettings().value("figures/folder", "") or \
            QStandardPaths.writableLocation(QStandardPaths.StandardLocation.PicturesLocation)
        path_text = self.choose_path(str(Path(folder) / f"{self.name}-diagram.svg"))
        if not path_text:
            return
        path = Path(path_text)
        fmt = diagram_format(path)
        if fmt is None:
            path, fmt = path.with_name(path.name + ".svg"), "svg"
        try:
            if fmt in ("svg", "tex"):
                data = text_of(self.scene, fmt).encode("utf-8")
            elif fmt == "pdf":
                data = diagram_pdf(self.scene, self.name)
            else:
                data = diagram_png(self.scene, FIGURE_STYLES[self.figure_style.currentData()].dpi)
            atomic_write_bytes(path, data)
        except (UserError, OSError, ValueError) as exc:
            self.note.setText(f"Not saved: {exc}")
            return
        QSettings().setValue("figures/folder", str(path.parent))
        self.written = path
        self.accept()

"""Before training on an image folder: how it will be split, the images per class, their size and channels.

The folder is listed and the headers of its images are read in the background
(:func:`~cnnplayground.data.registry.folder_summary`; no pixel is decoded, and the sizes are
remembered per folder), a moment after the dataset settings change. When the canvas's Input
takes another shape than the folder's images, a button sets the Input to the images' shape (one
undoable step), as ``cnnplayground train --preset`` fits a preset to its data.
"""

from __future__ import annotations

from html import escape

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import QGroupBox, QLabel, QPushButton, QVBoxLayout, QWidget

from ...core.shapes import format_shape
from ...data.base import DatasetError
from ...data.folder_layout import SPLIT_TITLES, SPLITS, FolderSummary
from ...data.registry import folder_summary
from ..document.commands import Compound, SetParams
from ..document.document import Document
from ..jobs import FunctionJob

#: Classes listed in the table (the tool tip lists them all, up to :data:`TIP_CLASSES`).
SHOWN_CLASSES = 6
TIP_CLASSES = 60
#: Milliseconds the settings must stay put before the folder is scanned.
SETTLE_MS = 250


def _scan(choice, val_fraction: float, seed: int) -> FolderSummary:
    return folder_summary(choice, val_fraction, seed)


def _failed(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, DatasetError) else f"could not read the folder: {type(exc).__name__}: {exc}"


def split_table(summary: FolderSummary, limit: int) -> str:
    """The images of each class per split as an HTML table (at most ``limit`` classes, then how many more)."""
    plan = summary.plan
    head = "".join(f"<th align='right'>&nbsp;{SPLIT_TITLES[s]}</th>" for s in SPLITS)
    rows = [f"<tr><th align='left'>class</th>{head}</tr>"]
    columns = [plan.counts(s) for s in SPLITS]
    for i, name in enumerate(plan.classes[:limit]):
        cells = "".join(f"<td align='right'>{col[i]:,}</td>" for col in columns)
        rows.append(f"<tr><td>{escape(name)}</td>{cells}</tr>")
    totals = "".join(f"<td align='right'><b>{plan.size(s):,}</b></td>" for s in SPLITS)
    rows.append(f"<tr><td><b>all</b></td>{totals}</tr>")
    more = len(plan.classes) - limit
    tail = f"<br>… and {more:,} more classes" if more > 0 else ""
    return f"<table cellspacing='0' cellpadding='1'>{''.join(rows)}</table>{tail}"


class FolderSummaryView(QGroupBox):
    """The splits and image size of the project's image folder (hidden for other datasets).

    ``summary``: the last :class:`FolderSummary` shown (``None`` while none is). Signal ``updated()``
    after each scan ended (shown or failed).
    """

    updated = Signal()

    def __init__(self, document: Document, parent: QWidget | None = None) -> None:
        super().__init__("Image folder", parent)
        self.document = document
        self.summary: FolderSummary | None = None
        self._key: str | None = None  # of the summary shown or being read
        layout = QVBoxLayout(self)
        self.splits = QLabel(self)
        self.splits.setWordWrap(True)
        self.table = QLabel(self)
        self.size = QLabel(self)
        self.size.setWordWrap(True)
        self.notes = QLabel(self)
        self.notes.setWordWrap(True)
        self.notes.setStyleSheet("color: #8a6d00;")
        self.shape_note = QLabel(self)
        self.shape_note.setWordWrap(True)
        self.use_shape = QPushButton(self)
        self.use_shape.setToolTip("Set the Input layer to the shape of the folder's images (undo with Ctrl+Z)")
        self.use_shape.clicked.connect(self._on_use_shape_clicked)
        for widget in (self.splits, self.table, self.size, self.notes, self.shape_note, self.use_shape):
            layout.addWidget(widget)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(SETTLE_MS)
        self._timer.timeout.connect(self.refresh)
        document.settings_changed.connect(self._timer.start)
        document.graph_replaced.connect(lambda _graph: self._timer.start())
        document.inference_updated.connect(lambda _result: self._update_shape_button())
        self.setVisible(False)
        self.refresh()

    def _choice_key(self) -> str | None:
        p = self.document.project
        if p.dataset.name != "folder" or not p.dataset.root:
            return None
        return f"{p.dataset.model_dump_json()}|{p.training.val_fraction}|{p.training.seed}"

    def refresh(self) -> None:
        """Scan the project's folder in the background (again: a changed folder is noticed) and show it."""
        key = self._choice_key()
        self.setVisible(key is not None)
        if key is None:
            self._key, self.summary = None, None
            return
        if key != self._key:
            self.summary = None
            self.splits.setText("Reading the folder…")
            for label in (self.table, self.size, self.notes):
                label.clear()
            self.shape_note.setVisible(False)
            self.use_shape.setVisible(False)
        self._key = key
        p = self.document.project
        job = FunctionJob(_scan, p.dataset.model_copy(deep=True), p.training.val_fraction, p.training.seed,
                          describe=_failed, parent=self)
        job.returned.connect(lambda summary, key=key: self._on_scanned(key, summary))
        job.failed.connect(lambda message, key=key: self._on_failed(key, message))
        job.start()

    def _on_scanned(self, key: str, summary: FolderSummary) -> None:
        if key != self._key:
            return  # the settings changed meanwhile: a newer scan is coming
        self.summary = summary
        plan = summary.plan
        how = "From the folder's layout" if plan.from_layout else "Drawn from the class folders, per class"
        parts = []
        for s in SPLITS:
            source = plan.sources[s]
            parts.append(f"{SPLIT_TITLES[s]} {plan.size(s):,}" + (f" ({escape(source)})" if source else " —"))
        self.splits.setText(f"<b>Splits</b> {how}: {', '.join(parts)}")
        self.table.setText(split_table(summary, SHOWN_CLASSES))
        tip = split_table(summary, TIP_CLASSES)
        for label in (self.splits, self.table):
            label.setToolTip(tip)
        shown = summary.size.describe().removeprefix("image size ")
        self.size.setText(f"<b>Image size</b> {escape(shown)}; {escape(summary.colour.describe())}")
        self.notes.setText("<br>".join(escape(n) for n in plan.notes))
        self.notes.setVisible(bool(plan.notes))
        self._update_shape_button()
        self.updated.emit()

    def _on_failed(self, key: str, message: str) -> None:
        if key != self._key:
            return
        self.summary = None
        self.splits.setText(escape(message))
        for label in (self.table, self.size, self.notes):
            label.clear()
        self.shape_note.setVisible(False)
        self.use_shape.setVisible(False)
        self.updated.emit()

    def _update_shape_button(self) -> None:
        takes = self.document.result.input_shape
        shape = self.summary.input_shape if self.summary is not None else None
        offer = shape is not None and takes is not None and takes != shape and bool(self.document.graph.input_nodes())
        if offer:
            self.shape_note.setText(f"The network takes {format_shape(takes)} images; the folder's are "
                                    f"{format_shape(shape)}.")
            self.use_shape.setText(f"Use {format_shape(shape)} for the Input")
        self.shape_note.setVisible(offer)
        self.use_shape.setVisible(offer)

    def _on_use_shape_clicked(self) -> None:
        if self.summary is None:
            return
        c, h, w = self.summary.input_shape
        graph = self.document.graph
        step = Compound(f"Set the Input to {c}×{h}×{w}, the folder's images")
        for node in graph.input_nodes():
            step.add(SetParams(graph, node.id, {"channels": c, "height": h, "width": w}))
        self.document.push(step)

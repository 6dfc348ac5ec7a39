"""Dialogs: About, the preset gallery, layer reference, shortcuts, summary, terminal training."""

from __future__ import annotations

import html
import math
import os
import platform
import shlex
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

from PySide6 import __version__ as pyside_version
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, qVersion
from PySide6.QtGui import QAction, QColor, QFont, QFontDatabase, QGuiApplication, QIcon, QPainter, QPen, QPixmap
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QTextBrowser,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

import cnnplayground

from ..core.graph import Graph
from ..core.inference import infer
from ..core.presets import list_presets
from ..core.registry import kinds_by_category
from ..core.shapes import format_shape, numel
from ..io.project import Project
from .actions import shortcut_text
from .palette import CATEGORY_COLORS

DESCRIPTION = "Build, train and look inside convolutional neural networks."
RECEPTIVE_FIELD_NOTE = (
    "Receptive field: the input region one unit of a layer can see, in input pixels (height×width), "
    "then “/j”, the jump: how many input pixels apart the regions of neighbouring units are (the product "
    "of the strides so far). “(all)” after Flatten or Linear: every unit sees that whole region."
)
#: Keys the canvas handles itself (not actions), for the shortcuts list.
CANVAS_KEYS: tuple[tuple[str, str], ...] = (
    ("Add a layer at the mouse", "Tab"),
    ("Pan", "Space + drag, middle-button drag"),
    ("Zoom", "Mouse wheel, + / −"),
    ("Connect layers", "Drag from an output port to an input port"),
)


def _fixed_font() -> QFont:
    """The system's monospace font; columns of the summary table must line up."""
    font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
    font.setStyleHint(QFont.StyleHint.TypeWriter)
    font.setFixedPitch(True)
    return font


def _copy_button(text_of: Callable[[], str], parent: QWidget, label: str = "Copy") -> QPushButton:
    """A button that puts ``text_of()`` on the clipboard and says so."""
    button = QPushButton(label, parent)

    def copy() -> None:
        QGuiApplication.clipboard().setText(text_of())
        button.setText("Copied")

    button.clicked.connect(copy)
    return button


def _buttons(dialog: QDialog, *extra: QPushButton) -> QDialogButtonBox:
    box = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, dialog)
    for button in extra:
        box.addButton(button, QDialogButtonBox.ButtonRole.ActionRole)
    box.rejected.connect(dialog.reject)
    return box


# --- About ----------------------------------------------------------------------------------


def training_device() -> str:
    """What ``device="auto"`` trains on: the CUDA GPU's name, Apple's GPU, or ``CPU (N cores)``."""
    import torch

    from ..train.trainer import resolve_device

    device = resolve_device("auto")
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (CUDA)"
    if device.type == "mps":
        return "Apple GPU (MPS)"
    return f"CPU ({os.cpu_count() or 1} cores)"


def about_info() -> list[tuple[str, str]]:
    """``(label, value)`` rows of the About box: versions and the training device."""
    import torch
    import torchvision

    cuda = torch.version.cuda if torch.cuda.is_available() and torch.version.cuda else "not available"
    return [
        ("CNN Playground", cnnplayground.__version__),
        ("Python", platform.python_version()),
        ("PySide6 / Qt", f"{pyside_version} / {qVersion()}"),
        ("PyTorch", torch.__version__),
        ("torchvision", torchvision.__version__),
        ("CUDA", cuda),
        ("Training device", training_device()),
    ]


class AboutDialog(QDialog):
    """Name, version, what the app is for, the versions it runs on, the licence."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("About CNN Playground")
        self.info = about_info()
        rows = "".join(f"<tr><td>{html.escape(k)}</td><td>&nbsp;&nbsp;{html.escape(v)}</td></tr>"
                       for k, v in self.info[1:])
        self.label = QLabel(
            f"<h2>CNN Playground {html.escape(cnnplayground.__version__)}</h2><p>{DESCRIPTION}</p>"
            f"<table>{rows}</table><p>Released under the MIT License.</p>", self)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        icon = QLabel(self)
        window_icon = QGuiApplication.windowIcon()
        if not window_icon.isNull():
            icon.setPixmap(window_icon.pixmap(64, 64))
        top = QHBoxLayout()
        top.addWidget(icon, 0, Qt.AlignmentFlag.AlignTop)
        top.addWidget(self.label, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        self.copy_button = _copy_button(self.text, self, "Copy Versions")
        layout.addWidget(_buttons(self, self.copy_button))

    def text(self) -> str:
        """The version rows as plain text (for bug reports)."""
        return "\n".join(f"{k}: {v}" for k, v in self.info)


# --- preset gallery -------------------------------------------------------------------------


def graph_thumbnail(graph: Graph, size: tuple[int, int] = (96, 160), device_pixel_ratio: float = 2.0) -> QPixmap:
    """A tiny diagram: one block per layer in canvas order (rows by y, columns by x), coloured
    by category, wider where the layer's output holds more values, wires in grey."""
    result = infer(graph)
    ys = sorted({n.position[1] for n in graph.nodes.values()})
    xs = sorted({n.position[0] for n in graph.nodes.values()})
    (w, h), margin = size, 4.0
    row_h = (h - 2 * margin) / max(len(ys), 1)
    # The busiest column (the main path) gets most of the width; branches share the rest.
    per_x = [sum(n.position[0] == x for n in graph.nodes.values()) for x in xs]
    main = per_x.index(max(per_x, default=0)) if xs else 0
    col_w = [(w - 2 * margin) * (1.0 if len(xs) < 2 else 0.62 if i == main else 0.38 / (len(xs) - 1))
             for i in range(len(xs))]
    col_left = [margin + sum(col_w[:i]) for i in range(len(xs))]
    logs = {nid: math.log(numel(i.shape)) for nid, i in result.infos.items() if i.shape}
    lo, hi = min(logs.values(), default=0.0), max(logs.values(), default=1.0)
    rects: dict[str, QRectF] = {}
    for node in graph.nodes.values():
        col, row = xs.index(node.position[0]), ys.index(node.position[1])
        share = 0.5 if node.id not in logs else 0.35 + 0.65 * (logs[node.id] - lo) / ((hi - lo) or 1.0)
        bw, bh = col_w[col] * share, max(1.0, row_h * (0.72 if row_h >= 3 else 1.0))
        rects[node.id] = QRectF(col_left[col] + (col_w[col] - bw) / 2, margin + row * row_h + (row_h - bh) / 2,
                                bw, bh)
    pixmap = QPixmap(round(w * device_pixel_ratio), round(h * device_pixel_ratio))
    pixmap.setDevicePixelRatio(device_pixel_ratio)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    try:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QPen(QColor(128, 128, 128, 160), 0.8))
        for e in graph.edges:
            a, b = rects[e.source], rects[e.target]
            painter.drawLine(QPointF(a.center().x(), a.bottom()), QPointF(b.center().x(), b.top()))
        painter.setPen(Qt.PenStyle.NoPen)
        for nid, rect in rects.items():
            painter.setBrush(QColor(CATEGORY_COLORS.get(graph.nodes[nid].layer.category, "#9e9e9e")))
            painter.drawRoundedRect(rect, min(2.0, rect.height() / 2), min(2.0, rect.height() / 2))
    finally:
        painter.end()
    return pixmap


def compact_count(n: int) -> str:
    """``61.7 K``, ``11.7 M``, ``138.4 M`` (exact below 1,000)."""
    for div, unit in ((1e9, "G"), (1e6, "M"), (1e3, "K")):
        if n >= div:
            return f"{n / div:.1f} {unit}"
    return str(n)


class PresetGallery(QDialog):
    """Every preset as a picture with its title, input shape and size; the chosen one's
    description beside the grid. Double-click or OK chooses (:meth:`selected_name`)."""

    NAME_ROLE = Qt.ItemDataRole.UserRole

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("New from Preset")
        self.list = QListWidget(self)
        self.list.setViewMode(QListView.ViewMode.IconMode)
        self.list.setMovement(QListView.Movement.Static)
        self.list.setResizeMode(QListView.ResizeMode.Adjust)
        self.list.setIconSize(QSize(96, 160))
        self.list.setGridSize(QSize(150, 224))
        self.list.setWordWrap(True)
        self.list.setMinimumWidth(3 * 150 + 30)
        self.details = QLabel(self)
        self.details.setWordWrap(True)
        self.details.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.details.setMinimumWidth(240)
        self._details: dict[str, str] = {}
        for preset in list_presets():
            graph = preset.factory()
            params = infer(graph).total_params
            shape = format_shape(preset.input_shape)
            item = QListWidgetItem(QIcon(graph_thumbnail(graph)), f"{preset.title}\n{shape} · "
                                   f"{compact_count(params)} params")
            item.setData(self.NAME_ROLE, preset.name)
            item.setToolTip(preset.description)
            self.list.addItem(item)
            self._details[preset.name] = (
                f"<h3>{html.escape(preset.title)}</h3><p>{html.escape(preset.description)}</p>"
                f"<p>Input: {shape}<br>Layers: {len(graph)}<br>Parameters: {params:,}</p>")
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel,
                                        self)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.list.currentItemChanged.connect(self._on_current_changed)
        self.list.itemDoubleClicked.connect(lambda _item: self.accept())
        body = QHBoxLayout()
        body.addWidget(self.list, 1)
        body.addWidget(self.details)
        layout = QVBoxLayout(self)
        layout.addLayout(body)
        layout.addWidget(self.buttons)
        self.list.setCurrentRow(0)
        self.resize(820, 560)

    def names(self) -> list[str]:
        return [self.list.item(i).data(self.NAME_ROLE) for i in range(self.list.count())]

    def select(self, name: str) -> None:
        self.list.setCurrentRow(self.names().index(name))

    def selected_name(self) -> str | None:
        item = self.list.currentItem()
        return None if item is None else str(item.data(self.NAME_ROLE))

    def _on_current_changed(self, item: QListWidgetItem | None, _previous: QListWidgetItem | None) -> None:
        self.details.setText(self._details[item.data(self.NAME_ROLE)] if item is not None else "")
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(item is not None)

    @classmethod
    def choose(cls, parent: QWidget | None = None) -> str | None:
        """Show the gallery modally; the chosen preset's name, or None when cancelled."""
        dialog = cls(parent)
        try:
            return dialog.selected_name() if dialog.exec() == QDialog.DialogCode.Accepted else None
        finally:
            dialog.deleteLater()


# --- layer reference ------------------------------------------------------------------------


def _fmt_default(value: object) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def layer_reference_html(filter_text: str = "") -> str:
    """Every layer kind, grouped by category: summary, inputs, and a table of its parameters
    (allowed values, default, meaning). ``filter_text`` keeps kinds whose name or text contains it."""
    needle = filter_text.strip().lower()
    parts = ["<h2>Layer reference</h2>"]
    for category, kinds in kinds_by_category():
        shown = [k for k in kinds if not needle or needle in
                 " ".join([k.name, k.summary, *(f"{s.name} {s.help}" for s in k.params)]).lower()]
        if not shown:
            continue
        colour = CATEGORY_COLORS.get(category, "#9e9e9e")
        parts.append(f'<h3><span style="color:{colour}">■</span> {html.escape(category)}</h3>')
        for kind in shown:
            parts.append(f'<h4><a name="{kind.name}"></a>{kind.name}</h4><p>{html.escape(kind.summary)}<br>'
                         f"<i>Takes {kind.arity_text()}.</i></p>")
            if not len(kind.params):
                parts.append("<p>No parameters.</p>")
                continue
            rows = "".join(
                f"<tr><td><b>{html.escape(s.name)}</b></td><td>{html.escape(s.describe_range())}</td>"
                f"<td>{html.escape(_fmt_default(s.default))}</td><td>{html.escape(s.help)}</td></tr>"
                for s in kind.params)
            parts.append('<table border="0" cellspacing="0" cellpadding="3"><tr><th align="left">Parameter</th>'
                         '<th align="left">Values</th><th align="left">Default</th><th align="left">Meaning</th>'
                         f"</tr>{rows}</table>")
    if len(parts) == 1:
        parts.append(f"<p>No layer matches “{html.escape(filter_text)}”.</p>")
    return "".join(parts)


class LayerReferenceDialog(QDialog):
    """The layer reference, generated from the registry, with a filter box."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Layer Reference")
        self.search = QLineEdit(self)
        self.search.setPlaceholderText("Filter layers…")
        self.search.setClearButtonEnabled(True)
        self.browser = QTextBrowser(self)
        self.browser.setHtml(layer_reference_html())
        self.search.textChanged.connect(lambda text: self.browser.setHtml(layer_reference_html(text)))
        layout = QVBoxLayout(self)
        layout.addWidget(self.search)
        layout.addWidget(self.browser)
        layout.addWidget(_buttons(self))
        self.resize(760, 640)


# --- keyboard shortcuts ---------------------------------------------------------------------


def shortcut_rows(groups: Sequence[tuple[str, Sequence[QAction]]]) -> list[tuple[str, str, str]]:
    """``(menu, action, keys)`` for every action that has a shortcut, then the canvas keys."""
    rows = [(menu, a.text().replace("&", "").rstrip("…").strip(), shortcut_text(a))
            for menu, actions in groups for a in actions if not a.shortcut().isEmpty()]
    return rows + [("Canvas", what, keys) for what, keys in CANVAS_KEYS]


class ShortcutsDialog(QDialog):
    """The keyboard shortcuts of the window's menus, grouped by menu."""

    def __init__(self, groups: Sequence[tuple[str, Sequence[QAction]]], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard Shortcuts")
        self.tree = QTreeWidget(self)
        self.tree.setHeaderLabels(["Action", "Keys"])
        self.tree.setRootIsDecorated(False)
        parents: dict[str, QTreeWidgetItem] = {}
        for menu, action, keys in shortcut_rows(groups):
            if menu not in parents:
                parents[menu] = QTreeWidgetItem(self.tree, [menu])
                font = parents[menu].font(0)
                font.setBold(True)
                parents[menu].setFont(0, font)
                parents[menu].setFirstColumnSpanned(True)
            QTreeWidgetItem(parents[menu], [action, keys])
        self.tree.expandAll()
        self.tree.resizeColumnToContents(0)
        layout = QVBoxLayout(self)
        layout.addWidget(self.tree)
        layout.addWidget(_buttons(self))
        self.resize(520, 600)


# --- network summary ------------------------------------------------------------------------


class SummaryDialog(QDialog):
    """The :func:`~cnnplayground.core.summary.summarize` table, monospace, with a Copy button."""

    def __init__(self, text: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Network Summary")
        self.text_edit = QPlainTextEdit(text, self)
        self.text_edit.setReadOnly(True)
        self.text_edit.setFont(_fixed_font())
        self.text_edit.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        note = QLabel(RECEPTIVE_FIELD_NOTE, self)
        note.setWordWrap(True)
        self.copy_button = _copy_button(self.text_edit.toPlainText, self)
        layout = QVBoxLayout(self)
        layout.addWidget(self.text_edit)
        layout.addWidget(note)
        layout.addWidget(_buttons(self, self.copy_button))
        self.resize(960, 600)


# --- training in the terminal ---------------------------------------------------------------


def train_command(path: Path | None, project: Project) -> str:
    """``cnnplayground train PROJECT.cnnp --epochs N`` for this file (quoted for the platform's shell)."""
    target = str(path) if path is not None else "PROJECT.cnnp"
    args = ["cnnplayground", "train", target, "--epochs", str(project.training.epochs)]
    return subprocess.list2cmdline(args) if os.name == "nt" else shlex.join(args)


class TrainCommandDialog(QDialog):
    """The command that trains the current project in a terminal, with a Copy button.

    (Training inside the window arrives with the training dock.)
    """

    def __init__(self, path: Path | None, project: Project, modified: bool, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Train in the Terminal")
        self.command = QLineEdit(train_command(path, project), self)
        self.command.setReadOnly(True)
        self.command.setFont(_fixed_font())
        self.command.setMinimumWidth(520)
        cfg, data = project.training, project.dataset
        if path is None:
            first = "Save the project first (File → Save As…), then run this in a terminal:"
        elif modified:
            first = "The project has unsaved changes: save it first (File → Save), then run:"
        else:
            first = "Run this in a terminal:"
        self.note = QLabel(
            f"{first}<br><br><small>It trains on the <b>{html.escape(data.name)}</b> dataset with the project's "
            f"settings ({html.escape(cfg.optimizer)}, batch {cfg.batch_size}, learning rate {cfg.learning_rate:g}) "
            "and writes the trained network back into the file; open it here again to see the result. "
            "<code>cnnplayground train --help</code> lists every option. Training inside this window "
            "arrives with the training panel.</small>", self)
        self.note.setWordWrap(True)
        self.copy_button = _copy_button(self.command.text, self)
        layout = QVBoxLayout(self)
        layout.addWidget(self.note)
        layout.addWidget(self.command)
        layout.addWidget(_buttons(self, self.copy_button))

"""The property panel: edit the selected layer, or read the network's overview.

The editors are generated from the layer kind's :class:`~cnnplayground.core.params.ParamSpec`
declarations. A layer with weights also gets its training attributes ("Frozen",
"LR ×": :data:`~cnnplayground.core.graph.NODE_ATTRIBUTES`). Every edit is an undo
command pushed on the document (:class:`.commands.SetParams`,
:class:`.commands.SetAttributes`, :class:`.commands.RenameNode`); the panel then
follows the graph's notifications like every other view, so undo, redo and
scripted edits update the editors without pushing anything.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from functools import partial
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QScrollArea,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from ...core.events import Signal as CoreSignal
from ...core.graph import NODE_ATTRIBUTES, Graph, GraphError, Node
from ...core.inference import InferenceResult
from ...core.params import ParamValue
from ...core.shapes import format_shape
from ...core.summary import format_bytes
from ..document.commands import RenameNode, SetAttributes, SetParams
from ..document.document import Document
from ..shell.status import next_step
from .palette import CATEGORY_COLORS
from .param_editors import PaddingEditor, float_decimals, make_editor, set_editor_value  # noqa: F401

_ERROR_STYLE = "color: #e53935; background: rgba(229, 57, 53, 0.10); border: 1px solid #e53935; padding: 4px;"
_WAIT_STYLE = "padding: 4px; border: 1px dashed palette(mid);"
_NONE = "—"


def _disconnect_all(links: list[tuple[CoreSignal, Callable[..., Any]]], *_: object) -> None:
    for signal, slot in links:
        signal.disconnect(slot)
    links.clear()


class PropertiesPanel(QWidget):
    """Editors for the selected layer, or the network overview when none (or several) is selected.

    Signals:
    - ``error_activated(node_id)``: a problem in the overview's list was clicked.
    """

    error_activated = Signal(str)

    def __init__(self, document: Document, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._document = document
        self._graph: Graph | None = None
        self._links: list[tuple[CoreSignal, Callable[..., Any]]] = []
        self._node_id: str | None = None
        self._kind: str | None = None
        self._editors: dict[str, QWidget] = {}
        self._attribute_editors: dict[str, QWidget] = {}
        self._form_host: QWidget | None = None

        self._stack = QStackedWidget(self)
        self._node_page = self._build_node_page()
        self._overview_page = self._build_overview_page()
        self._stack.addWidget(self._node_page)
        self._stack.addWidget(self._overview_page)
        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setWidget(self._stack)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(scroll)

        # The graph's notifications are plain callables: drop them when this panel goes.
        self.destroyed.connect(partial(_disconnect_all, self._links))
        document.inference_updated.connect(self._on_inference_updated)
        document.graph_replaced.connect(self._on_graph_replaced)
        document.settings_changed.connect(self._on_settings_changed)
        self._attach_graph(document.graph)
        self.show_node(None)

    # --- public ------------------------------------------------------------------------------
    @property
    def node_id(self) -> str | None:
        """The layer shown, or ``None`` while the overview is shown."""
        return self._node_id

    def editor(self, param_name: str) -> QWidget:
        """The editor of parameter ``param_name`` of the shown layer."""
        return self._editors[param_name]

    def attribute_editor(self, name: str) -> QWidget | None:
        """The editor of training attribute ``name`` (``frozen``, ``lr_scale``) of the shown layer, or ``None``
        when the layer has no weights."""
        return self._attribute_editors.get(name)

    def show_selection(self, node_ids: list[str]) -> None:
        """One selected layer shows its properties; none or several show the overview."""
        self.show_node(node_ids[0] if len(node_ids) == 1 else None)

    def show_node(self, node_id: str | None) -> None:
        """Show layer ``node_id``, or the network overview for ``None`` (or an unknown id)."""
        graph = self._document.graph
        self._set_refusal(None)
        if node_id is None or node_id not in graph:
            self._node_id = self._kind = None
            self._stack.setCurrentWidget(self._overview_page)
            self._refresh_overview(self._document.result)
            return
        node = graph.node(node_id)
        if node.kind != self._kind:
            self._rebuild_form(node)
        self._node_id, self._kind = node_id, node.kind
        self.name_edit.setText(node_id)
        for name, editor in self._editors.items():
            set_editor_value(editor, node.params[name])
        self._show_attributes(node)
        self._stack.setCurrentWidget(self._node_page)
        self._refresh_info(self._document.result)

    # --- building ------------------------------------------------------------------------------
    def _build_node_page(self) -> QWidget:
        page = QWidget(self)
        self.header_label = QLabel(page)
        font = self.header_label.font()
        font.setBold(True)
        if font.pointSizeF() > 0:
            font.setPointSizeF(font.pointSizeF() * 1.2)
        self.header_label.setFont(font)
        self.category_label = QLabel(page)
        self.summary_label = _muted(QLabel(page))
        self.summary_label.setWordWrap(True)
        self.name_edit = QLineEdit(page)
        self.name_edit.setMaxLength(64)
        self.name_edit.setToolTip("The layer's name: letters, digits and _, not starting with a digit")
        self.name_edit.editingFinished.connect(self._on_name_edited)
        self.error_label = QLabel(page)
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("color: #e53935;")
        self.error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error_label.hide()
        self.shape_label = QLabel(page)
        self.params_label = QLabel(page)
        self.field_label = QLabel(page)
        self.field_label.setToolTip("Receptive field: the input region one unit sees (size / jump in pixels)")
        self.error_box = QLabel(page)
        self.error_box.setWordWrap(True)
        self.error_box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error_box.hide()

        header = QHBoxLayout()
        header.addWidget(self.header_label)
        header.addStretch(1)
        header.addWidget(self.category_label)
        name_form = QFormLayout()
        name_form.addRow("Name", self.name_edit)
        info = QFormLayout()
        info.addRow("Output shape", self.shape_label)
        info.addRow("Parameters", self.params_label)
        info.addRow("Receptive field", self.field_label)
        self._form_slot = QVBoxLayout()
        self._form_slot.setContentsMargins(0, 0, 0, 0)

        layout = QVBoxLayout(page)
        layout.addLayout(header)
        layout.addWidget(self.summary_label)
        layout.addLayout(name_form)
        layout.addWidget(self.error_label)
        layout.addLayout(self._form_slot)
        layout.addWidget(_section("Output", page))
        layout.addLayout(info)
        layout.addWidget(self.error_box)
        layout.addStretch(1)
        return page

    def _build_overview_page(self) -> QWidget:
        page = QWidget(self)
        self.overview_layers_label = QLabel(page)
        self.overview_shape_label = QLabel(page)
        self.overview_params_label = QLabel(page)
        self.overview_memory_label = QLabel(page)
        self.overview_memory_label.setToolTip(
            "Weights, gradients, Adam state and activations for a batch of the project's batch size, float32: "
            "an order of magnitude, not a promise"
        )
        self.overview_ok_label = _muted(QLabel("No problems found", page))
        self.overview_errors = QListWidget(page)
        self.overview_errors.setWordWrap(True)
        self.overview_errors.itemClicked.connect(self._on_error_item_clicked)
        self.overview_errors.itemActivated.connect(self._on_error_item_clicked)
        form = QFormLayout()
        form.addRow("Layers", self.overview_layers_label)
        form.addRow("Input → output", self.overview_shape_label)
        form.addRow("Total parameters", self.overview_params_label)
        form.addRow("Training memory", self.overview_memory_label)
        layout = QVBoxLayout(page)
        layout.addWidget(_section("Network", page))
        layout.addLayout(form)
        layout.addWidget(_section("Problems", page))
        layout.addWidget(self.overview_ok_label)
        layout.addWidget(self.overview_errors)
        # Pack everything at the top; an empty list must not spread the sections apart.
        layout.addStretch(1)
        return page

    def _rebuild_form(self, node: Node) -> None:
        """Editors for ``node``'s kind; the old ones are hidden and deleted later (never mid-signal)."""
        if self._form_host is not None:
            self._form_host.hide()
            self._form_host.deleteLater()
        self._editors = {}
        kind = node.layer
        host = QWidget(self._node_page)
        form = QFormLayout(host)
        form.setContentsMargins(0, 0, 0, 0)
        for spec in kind.params:
            editor = make_editor(spec, partial(self._on_param_changed, spec.name), host)
            editor.setObjectName(f"param_{spec.name}")
            label = QLabel(spec.label.capitalize(), host)
            label.setToolTip(editor.toolTip())
            label.setBuddy(editor)
            form.addRow(label, editor)
            self._editors[spec.name] = editor
        if not len(kind.params):
            form.addRow(_muted(QLabel("No parameters", host)))
        self._attribute_editors = {}
        if kind.has_weights:
            form.addRow(_section("Training", host))
            for spec in NODE_ATTRIBUTES:
                editor = make_editor(spec, partial(self._on_attribute_changed, spec.name), host)
                editor.setObjectName(f"attribute_{spec.name}")
                label = QLabel(spec.label, host)
                label.setToolTip(editor.toolTip())
                label.setBuddy(editor)
                form.addRow(label, editor)
                self._attribute_editors[spec.name] = editor
        self._form_slot.addWidget(host)
        self._form_host = host
        color = CATEGORY_COLORS.get(kind.category, "gray")
        self.header_label.setText(kind.name)
        self.category_label.setText(f"<span style='color: {color}'>■</span> {html.escape(kind.category)}")
        self.summary_label.setText(kind.summary)

    # --- graph attachment ----------------------------------------------------------------------
    def _attach_graph(self, graph: Graph) -> None:
        _disconnect_all(self._links)
        self._graph = graph
        for signal, slot in (
            (graph.node_changed, self._on_node_changed),
            (graph.node_attributes_changed, self._on_node_attributes_changed),
            (graph.node_renamed, self._on_node_renamed),
            (graph.node_removed, self._on_node_removed),
        ):
            signal.connect(slot)
            self._links.append((signal, slot))

    # --- handlers: the user's edits ----------------------------------------------------------
    def _on_param_changed(self, name: str, editor: QWidget, value: ParamValue) -> None:
        if self._editors.get(name) is not editor:
            return  # an editor of a layer no longer shown, fixing up its text as it loses focus
        node = self._document.graph.nodes.get(self._node_id or "")
        if node is None or name not in node.params:
            return
        if node.params[name] == value and type(node.params[name]) is type(value):
            return
        try:
            command = SetParams(self._document.graph, node.id, {name: value})
        except GraphError as exc:
            self._set_refusal(str(exc))
            set_editor_value(self._editors[name], node.params[name])
            return
        self._set_refusal(None)
        self._document.push(command)

    def _on_attribute_changed(self, name: str, editor: QWidget, value: ParamValue) -> None:
        if self._attribute_editors.get(name) is not editor:
            return  # an editor of a layer no longer shown
        node = self._document.graph.nodes.get(self._node_id or "")
        if node is None or node.attributes.get(name) == value:
            return
        try:
            command = SetAttributes(self._document.graph, node.id, {name: value})
        except GraphError as exc:
            self._set_refusal(str(exc))
            self._show_attributes(node)
            return
        self._set_refusal(None)
        self._document.push(command)

    def _on_name_edited(self) -> None:
        old = self._node_id
        new = self.name_edit.text().strip()
        if old is None or new == old:
            self.name_edit.setText(old or "")
            return
        graph = self._document.graph
        try:
            reason = rename_refusal(graph, old, new)
            if reason:
                raise GraphError(reason)
            command = RenameNode(graph, old, new)
        except GraphError as exc:
            self._set_refusal(str(exc))
            self.name_edit.setText(old)
            return
        self._set_refusal(None)
        self._document.push(command)

    def _on_error_item_clicked(self, item: QListWidgetItem) -> None:
        node_id = item.data(Qt.ItemDataRole.UserRole)
        if node_id:
            self.error_activated.emit(node_id)

    # --- handlers: the model changed ---------------------------------------------------------
    def _on_node_changed(self, node: Node, old: dict[str, ParamValue]) -> None:
        if node.id != self._node_id:
            return
        for name in old:
            if name in self._editors:
                set_editor_value(self._editors[name], node.params[name])

    def _on_node_attributes_changed(self, node: Node, old: dict[str, ParamValue]) -> None:
        if node.id == self._node_id:
            self._show_attributes(node)

    def _on_node_renamed(self, node: Node, old_id: str) -> None:
        if old_id == self._node_id:
            self._node_id = node.id
            self.name_edit.setText(node.id)

    def _on_node_removed(self, node: Node) -> None:
        if node.id == self._node_id:
            self.show_node(None)

    def _on_inference_updated(self, result: InferenceResult) -> None:
        if self._node_id is None:
            self._refresh_overview(result)
        else:
            self._refresh_info(result)

    def _on_settings_changed(self, *_: object) -> None:
        if self._node_id is None:  # the overview's memory is at the project's batch size
            self._refresh_overview(self._document.result)

    def _on_graph_replaced(self, graph: Graph) -> None:
        self._attach_graph(graph)
        self._kind = None  # the next layer shown gets fresh editors
        self.show_node(None)

    # --- display ---------------------------------------------------------------------------
    def _set_refusal(self, message: str | None) -> None:
        """Show (or clear) why the last edit was refused."""
        self.error_label.setText(message or "")
        self.error_label.setVisible(bool(message))

    def _show_attributes(self, node: Node) -> None:
        for name, editor in self._attribute_editors.items():
            set_editor_value(editor, node.attributes[name])
        scale = self._attribute_editors.get("lr_scale")
        if scale is not None:  # a frozen layer's learning rate does not matter
            scale.setEnabled(not node.frozen)

    def _refresh_info(self, result: InferenceResult) -> None:
        info = result.infos.get(self._node_id or "")
        if info is None:
            self.shape_label.setText(_NONE)
            self.params_label.setText(_NONE)
            self.field_label.setText(_NONE)
            self.error_box.hide()
            return
        has_shape = info.shape is not None
        self.shape_label.setText(format_shape(info.shape) if has_shape else _NONE)
        self.params_label.setText(f"{info.params:,}" if has_shape else _NONE)
        rf = info.receptive_field
        if rf is None:
            self.field_label.setText(_NONE)
        else:
            self.field_label.setText(f"{format_shape(rf.size)} (whole input)" if rf.flat else rf.describe())
        if info.error:
            self.error_box.setStyleSheet(_ERROR_STYLE)
            self.error_box.setText(info.error)
        elif info.blocked_by:
            self.error_box.setStyleSheet(_WAIT_STYLE)
            self.error_box.setText(f"Waiting on {info.blocked_by}: fix its problem first.")
        elif info.warning:
            self.error_box.setStyleSheet(_WAIT_STYLE)
            self.error_box.setText(info.warning)
        self.error_box.setVisible(bool(info.error or info.blocked_by or info.warning))

    def _refresh_overview(self, result: InferenceResult) -> None:
        graph = self._document.graph
        self.overview_layers_label.setText(f"{len(graph):,}")
        if result.input_shape is None:
            self.overview_shape_label.setText(_NONE)
        else:
            self.overview_shape_label.setText(
                f"{format_shape(result.input_shape)} → {format_shape(result.output_shape)}"
            )
        self.overview_params_label.setText(f"{result.total_params:,}")
        # At the project's batch size, as the status bar says it (a fixed 128 said "36.3 GB at batch 128" for an
        # imported ResNet-50 set to train at batch 32).
        batch = self._document.project.training.batch_size
        memory = result.memory_estimate(batch_size=batch)["total"]
        self.overview_memory_label.setText(f"~{format_bytes(memory)} at batch {batch}")
        self.overview_errors.clear()
        problems: list[tuple[str | None, str]] = []
        steps: list[tuple[str | None, str]] = []
        for node_id, message in result.errors:
            step = next_step(node_id, message)
            (problems if step is None else steps).append((node_id, message if step is None else step))
        for node_id, message in problems:
            item = QListWidgetItem(f"{node_id}: {message}" if node_id else message)
            item.setData(Qt.ItemDataRole.UserRole, node_id)
            item.setToolTip("Click to select the layer" if node_id else "")
            self.overview_errors.addItem(item)
        # An unfinished network is not wrong: what to do next, in the normal colour, after any real problem.
        for node_id, step in steps:
            item = QListWidgetItem(f"Next: {step}")
            item.setData(Qt.ItemDataRole.UserRole, node_id)
            item.setToolTip("Click to select the layer" if node_id else "The network is not finished yet")
            self.overview_errors.addItem(item)
        self.overview_errors.setVisible(bool(problems or steps))
        self.overview_ok_label.setVisible(not problems)
        self._fit_list_height()

    def _fit_list_height(self) -> None:
        """The list as tall as its items (up to eight lines, then it scrolls): one hint is not a big empty box."""
        box = self.overview_errors
        rows = sum(box.sizeHintForRow(i) for i in range(min(box.count(), 8)))
        box.setFixedHeight(rows + 2 * box.frameWidth() + 4 if box.count() else 0)


def rename_refusal(graph: Graph, old_id: str, new_id: str) -> str | None:
    """Why ``old_id`` cannot be renamed to ``new_id``, or ``None``.

    ``RenameNode`` only finds out in ``redo()``, inside the undo stack; ask the
    graph's own rule (on an empty probe graph) before pushing anything.
    """
    if new_id == old_id:
        return None
    try:
        Graph().add_node("ReLU", id=new_id)
    except GraphError as exc:
        return str(exc)
    if new_id in graph:
        return f"a layer named {new_id!r} already exists"
    return None


def _muted(label: QLabel) -> QLabel:
    label.setForegroundRole(QPalette.ColorRole.PlaceholderText)
    return label


def _section(title: str, parent: QWidget) -> QLabel:
    label = QLabel(f"<b>{html.escape(title)}</b>", parent)
    label.setContentsMargins(0, 6, 0, 0)
    return label

"""The layer reference: every layer kind with its parameters and help text."""

from __future__ import annotations

import html

from PySide6.QtWidgets import (
    QDialog,
    QLineEdit,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from ...core.registry import kinds_by_category
from ..editor.palette import CATEGORY_COLORS
from .common import close_buttons


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
        layout.addWidget(close_buttons(self))
        self.resize(760, 640)

"""Drag-and-drop and clipboard formats shared by the palette, the canvas and copy/paste.

- :data:`LAYER_MIME`: a layer kind dragged from the palette; the payload is the
  kind's registry name (``"Conv2d"``) in UTF-8.
- :data:`FRAGMENT_MIME`: copied layers; the payload is the UTF-8 JSON of a graph
  fragment in ``Graph.to_dict`` form (see :func:`.commands.fragment_of`).
"""

from __future__ import annotations

from PySide6.QtCore import QMimeData

LAYER_MIME = "application/x-cnnplayground-layer"
FRAGMENT_MIME = "application/x-cnnplayground-fragment"


def layer_mime_data(kind: str) -> QMimeData:
    """Mime data carrying the layer kind ``kind`` (also as plain text, for other apps)."""
    md = QMimeData()
    md.setData(LAYER_MIME, kind.encode("utf-8"))
    md.setText(kind)
    return md


def kind_from_mime(md: QMimeData | None) -> str | None:
    """The layer kind carried by ``md``, or ``None`` if it carries none.

    The name is not checked against the registry: the receiver decides (and an
    unknown kind is refused by the add-node command with a message).
    """
    if md is None or not md.hasFormat(LAYER_MIME):
        return None
    try:
        kind = bytes(md.data(LAYER_MIME).data()).decode("utf-8").strip()
    except UnicodeDecodeError:
        return None
    return kind or None

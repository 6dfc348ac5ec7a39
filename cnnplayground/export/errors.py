"""The one error of every exporter: :class:`ExportError`."""

from __future__ import annotations

from ..core.errors import UserError

__all__ = ["ExportError"]

#: Longest message an :class:`ExportError` carries (longer ones end in ``…``).
MAX_MESSAGE = 300


class ExportError(UserError, ValueError):
    """The network or weights cannot be exported; ``str()`` is one line saying why.

    Raised by the PyTorch code and script exporters (:mod:`.code`, :mod:`.script`) and by the
    ONNX and PT2 exporters (:mod:`.formats`), so one ``except`` catches every export failure.
    Runs of whitespace in the message become one space, and a message longer than
    :data:`MAX_MESSAGE` characters is cut with an ellipsis.
    """

    def __init__(self, message: str) -> None:
        text = " ".join(str(message).split()) or "the export failed"
        if len(text) > MAX_MESSAGE:
            text = text[: MAX_MESSAGE - 1] + "…"
        super().__init__(text)

"""The look of the application: Fusion style, light and dark palettes, small line icons.

The palette follows the system colour scheme (``QStyleHints.colorScheme``, Qt ≥ 6.5)
and changes with it while the app runs. Widgets that paint with their own colours
(the canvas) ask :func:`is_dark` and listen to :func:`theme_changed`::

    from cnnplayground.ui import theme
    theme.theme_changed().connect(self._on_theme_changed)   # slot(dark: bool)

Nothing here creates a QObject at import time: the notifier is made on first use.
"""

from __future__ import annotations

from typing import Literal

from PySide6.QtCore import QObject, QPointF, QRectF, Qt, Signal, SignalInstance
from PySide6.QtGui import QColor, QGuiApplication, QIcon, QPainter, QPainterPath, QPalette, QPen, QPixmap
from PySide6.QtWidgets import QApplication, QStyleFactory

Scheme = Literal["auto", "light", "dark"]

#: Error text colours readable on the light and on the dark window background.
ERROR_LIGHT = "#c62828"
ERROR_DARK = "#ef6b6b"


class ThemeNotifier(QObject):
    """Announces palette changes: ``theme_changed(dark)``."""

    theme_changed = Signal(bool)


_notifier: ThemeNotifier | None = None
_scheme: Scheme = "auto"
_dark: bool | None = None  # the palette applied last; None until apply_theme runs
_connected = False


def notifier() -> ThemeNotifier:
    """The one :class:`ThemeNotifier`, created on first use."""
    global _notifier
    if _notifier is None:
        _notifier = ThemeNotifier()
    return _notifier


def theme_changed() -> SignalInstance:
    """The signal emitted with ``dark: bool`` after the application palette changed."""
    return notifier().theme_changed


def system_is_dark() -> bool:
    """Whether the platform asks for a dark colour scheme (False when it does not say)."""
    return QGuiApplication.styleHints().colorScheme() == Qt.ColorScheme.Dark


def is_dark() -> bool:
    """Whether the palette in use is the dark one."""
    return system_is_dark() if _dark is None else _dark


def error_color() -> str:
    """The colour for error text on the current palette (``"#rrggbb"``)."""
    return ERROR_DARK if is_dark() else ERROR_LIGHT


def apply_theme(app: QApplication, scheme: Scheme = "auto") -> None:
    """Fusion style and the light or dark palette for ``scheme``.

    No application style sheet: Fusion needs none here, and a style sheet would put
    Qt's slower style-sheet style between every widget (the canvas included) and Fusion.

    With ``"auto"`` the palette follows the system scheme, now and when it changes.
    """
    global _scheme, _connected
    _scheme = scheme
    if app.style().name().lower() != "fusion":
        style = QStyleFactory.create("Fusion")
        if style is not None:
            app.setStyle(style)
    if not _connected:
        QGuiApplication.styleHints().colorSchemeChanged.connect(_on_color_scheme_changed)
        _connected = True
    _set_palette(app, system_is_dark() if scheme == "auto" else scheme == "dark")


def _on_color_scheme_changed(_scheme_value: Qt.ColorScheme) -> None:
    app = QApplication.instance()
    if _scheme == "auto" and isinstance(app, QApplication):
        _set_palette(app, system_is_dark())


def _set_palette(app: QApplication, dark: bool) -> None:
    global _dark
    changed = _dark is not None and _dark != dark
    _dark = dark
    app.setPalette(dark_palette() if dark else light_palette())
    if changed:
        notifier().theme_changed.emit(dark)


def light_palette() -> QPalette:
    """Fusion's own light palette."""
    style = QStyleFactory.create("Fusion")
    return style.standardPalette() if style is not None else QPalette()


def dark_palette() -> QPalette:
    """A neutral dark palette with a blue accent (disabled text dimmed)."""
    p = QPalette()
    roles = {
        QPalette.ColorRole.Window: "#2b2b2e",
        QPalette.ColorRole.WindowText: "#e6e6e6",
        QPalette.ColorRole.Base: "#1f1f22",
        QPalette.ColorRole.AlternateBase: "#2a2a2d",
        QPalette.ColorRole.ToolTipBase: "#3a3a3e",
        QPalette.ColorRole.ToolTipText: "#f0f0f0",
        QPalette.ColorRole.PlaceholderText: "#8a8a8f",
        QPalette.ColorRole.Text: "#e6e6e6",
        QPalette.ColorRole.Button: "#35353a",
        QPalette.ColorRole.ButtonText: "#e6e6e6",
        QPalette.ColorRole.BrightText: "#ff6b6b",
        QPalette.ColorRole.Light: "#47474d",
        QPalette.ColorRole.Midlight: "#3c3c41",
        QPalette.ColorRole.Mid: "#2f2f33",
        QPalette.ColorRole.Dark: "#18181a",
        QPalette.ColorRole.Shadow: "#0c0c0d",
        QPalette.ColorRole.Highlight: "#3d7ee0",
        QPalette.ColorRole.HighlightedText: "#ffffff",
        QPalette.ColorRole.Link: "#6ea8ff",
        QPalette.ColorRole.LinkVisited: "#b08cff",
    }
    for role, colour in roles.items():
        p.setColor(role, QColor(colour))
    disabled = QPalette.ColorGroup.Disabled
    for role in (QPalette.ColorRole.WindowText, QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText):
        p.setColor(disabled, role, QColor("#77777c"))
    p.setColor(disabled, QPalette.ColorRole.Highlight, QColor("#4a4a50"))
    return p


# --- icons ---------------------------------------------------------------------------------


def line_icon(name: str, size: int = 32) -> QIcon:
    """A simple line drawing in the palette's text colour for toolbar actions without a
    standard icon: ``zoom-in``, ``zoom-out``, ``zoom-fit``, ``layout``, ``undo``, ``redo``."""
    pm = QPixmap(size, size)
    pm.fill(Qt.GlobalColor.transparent)
    colour = QApplication.palette().color(QPalette.ColorRole.WindowText)
    p = QPainter(pm)
    try:
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.scale(size / 32, size / 32)
        p.setPen(QPen(colour, 2.6, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap, Qt.PenJoinStyle.RoundJoin))
        _DRAW[name](p)
    finally:
        p.end()
    return QIcon(pm)


def _magnifier(p: QPainter, sign: str) -> None:
    p.drawEllipse(QPointF(13, 13), 9, 9)
    p.drawLine(QPointF(20, 20), QPointF(28, 28))
    p.drawLine(QPointF(9, 13), QPointF(17, 13))
    if sign == "+":
        p.drawLine(QPointF(13, 9), QPointF(13, 17))


def _fit(p: QPainter) -> None:
    for x, y, dx, dy in ((4, 4, 1, 1), (28, 4, -1, 1), (4, 28, 1, -1), (28, 28, -1, -1)):
        p.drawPolyline([QPointF(x, y + 7 * dy), QPointF(x, y), QPointF(x + 7 * dx, y)])
    p.drawRect(QRectF(11, 11, 10, 10))


def _layout(p: QPainter) -> None:
    for y in (3, 13, 23):
        p.drawRoundedRect(QRectF(9, y, 14, 6), 1.5, 1.5)
    p.drawLine(QPointF(16, 9), QPointF(16, 13))
    p.drawLine(QPointF(16, 19), QPointF(16, 23))


def _turn(p: QPainter, mirror: bool) -> None:
    if mirror:
        p.translate(32, 0)
        p.scale(-1, 1)
    path = QPainterPath(QPointF(8, 12))
    path.lineTo(QPointF(20, 12))
    path.cubicTo(QPointF(30, 12), QPointF(30, 26), QPointF(20, 26))
    path.lineTo(QPointF(12, 26))
    p.drawPath(path)
    p.drawPolyline([QPointF(13, 6), QPointF(7, 12), QPointF(13, 18)])


_DRAW = {
    "zoom-in": lambda p: _magnifier(p, "+"),
    "zoom-out": lambda p: _magnifier(p, "-"),
    "zoom-fit": _fit,
    "layout": _layout,
    "undo": lambda p: _turn(p, False),
    "redo": lambda p: _turn(p, True),
}

LINE_ICONS: tuple[str, ...] = tuple(_DRAW)

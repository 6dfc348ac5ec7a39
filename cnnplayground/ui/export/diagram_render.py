"""An architecture diagram's SVG drawn by Qt's own SVG renderer into a PDF (vector) or a PNG at a DPI.

The diagram itself (``export/diagram``: layout and SVG/TikZ writers) needs no Qt; only these two formats
do. Works offscreen: a ``QGuiApplication`` is enough (``headless.application()`` makes one).
"""

from __future__ import annotations

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QMarginsF, QRectF, QSizeF, Qt
from PySide6.QtGui import QColor, QImage, QPageLayout, QPageSize, QPainter, QPdfWriter
from PySide6.QtSvg import QSvgRenderer

from ...export.diagram.scene import Scene
from ...export.diagram.svg import scene_svg

#: The largest PNG side drawn (pixels): a long network at a high DPI is drawn at a lower one instead.
MAX_PIXELS = 16000


def _renderer(scene: Scene) -> QSvgRenderer:
    renderer = QSvgRenderer(QByteArray(scene_svg(scene).encode("utf-8")))
    if not renderer.isValid():
        raise ValueError("Qt could not read the diagram's SVG")
    return renderer


def diagram_pdf(scene: Scene, title: str = "") -> bytes:
    """One PDF page of the scene's size in points, drawn as vectors (text as text)."""
    renderer = _renderer(scene)
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    writer = QPdfWriter(buffer)
    writer.setTitle(title or scene.title)
    writer.setCreator("CNN Playground")
    writer.setResolution(72)  # one device unit = one point: the scene's own units
    writer.setPageLayout(QPageLayout(QPageSize(QSizeF(scene.width, scene.height), QPageSize.Unit.Point, "diagram"),
                                     QPageLayout.Orientation.Portrait, QMarginsF(0, 0, 0, 0)))
    painter = QPainter(writer)
    try:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        device = painter.device()
        renderer.render(painter, QRectF(0, 0, device.width(), device.height()))
    finally:
        painter.end()
    buffer.close()
    return bytes(data.data())


def diagram_image(scene: Scene, dpi: float = 300) -> QImage:
    """The scene drawn at ``dpi`` on white (smaller where the larger side would pass :data:`MAX_PIXELS`)."""
    renderer = _renderer(scene)
    scale = min(dpi / 72, MAX_PIXELS / max(scene.width, scene.height, 1.0))
    image = QImage(max(1, round(scene.width * scale)), max(1, round(scene.height * scale)),
                   QImage.Format.Format_RGB32)
    image.fill(QColor(Qt.GlobalColor.white))
    dots_per_metre = round(scale * 72 / 0.0254)
    image.setDotsPerMeterX(dots_per_metre)
    image.setDotsPerMeterY(dots_per_metre)
    painter = QPainter(image)
    try:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setRenderHint(QPainter.RenderHint.TextAntialiasing)
        renderer.render(painter, QRectF(0, 0, image.width(), image.height()))
    finally:
        painter.end()
    return image


def diagram_png(scene: Scene, dpi: float = 300) -> bytes:
    """The scene as PNG bytes at ``dpi``."""
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    if not diagram_image(scene, dpi).save(buffer, "PNG"):
        raise ValueError("Qt could not encode the diagram as PNG")
    buffer.close()
    return bytes(data.data())


def diagram_bytes(scene: Scene, fmt: str, title: str = "", dpi: float = 300) -> bytes:
    """The scene as a PDF (``fmt`` ``pdf``) or a PNG (``png``), with an offscreen Qt started if none runs:
    the command line's way in (``cnnplayground diagram``)."""
    from .headless import application

    application()
    return diagram_pdf(scene, title) if fmt == "pdf" else diagram_png(scene, dpi)

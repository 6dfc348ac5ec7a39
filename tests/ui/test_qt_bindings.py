"""Guards against Qt binding builds that would crash the app.

PySide6 6.12.0 drops a reference to ``None`` on every ``QPainter.setPen`` /
``setBrush`` call. On Python 3.11, where ``None`` is not immortal, any app that
paints in Python (our canvas, pyqtgraph's plots) then dies with "deallocating
None" after a few thousand repaints. pyproject.toml excludes that build; this
test fails if one is installed anyway.
"""

from __future__ import annotations

import sys

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPen


def test_painting_does_not_leak_references_to_none(qapp):
    image = QImage(32, 32, QImage.Format.Format_ARGB32)
    painter = QPainter(image)
    try:
        before = sys.getrefcount(None)
        for _ in range(5000):
            painter.setPen(QPen(QColor("red"), 1.5))
            painter.setBrush(QColor("blue"))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRoundedRect(QRectF(0, 0, 10, 10), 2, 2)
        drift = sys.getrefcount(None) - before
    finally:
        painter.end()
    # A healthy build drifts by a handful (unrelated Python activity); the broken one by -15,000.
    assert drift > -100, f"None lost {-drift} references in 5,000 paint calls: broken PySide6 build"

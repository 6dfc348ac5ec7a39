"""The Results panel's grid of misclassified images, captioned "true → predicted (93 %)".

Where the images came from files (an image folder), each tile's tooltip names its file (the path
relative to the folder), and its context menu shows the file in the system's file manager or
copies its full path. Sets without files (synthetic, torchvision) show the captions alone.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QEvent, QPointF, QRectF, QSize, Qt, QUrl
from PySide6.QtGui import (
    QAction,
    QColor,
    QContextMenuEvent,
    QDesktopServices,
    QGuiApplication,
    QHelpEvent,
    QPainter,
    QPaintEvent,
    QPalette,
    QPixmap,
)
from PySide6.QtWidgets import QFrame, QLabel, QMenu, QScrollArea, QSizePolicy, QStackedLayout, QWidget

from ..shell import theme
from .epoch_views import _PAD, _tooltip, image_pixmap


@dataclass(frozen=True)
class _Tile:
    pixmap: QPixmap
    true: str
    predicted: str
    confidence: str
    file: str | None = None  # relative to the image folder, with "/"
    probability: float = 0.0  # the confidence as a number, 0..1
    index: int | None = None  # the image's position in its split

    @property
    def caption(self) -> str:
        return f"{self.true} → {self.predicted} ({self.confidence})"

    @property
    def tooltip(self) -> str:
        """The file (where there is one) over "true: cat → predicted: dog (93 %)", as rich text: a file or
        class name with ``<`` in it is shown as it is."""
        what = f"<nobr>true: {escape(self.true)} → predicted: {escape(self.predicted)} ({self.confidence})</nobr>"
        return what if self.file is None else f"<nobr><b>{escape(self.file)}</b></nobr><br>{what}"


class _Tiles(QWidget):
    """The painted thumbnails of :class:`MistakesGrid`, wrapping to the width."""

    GAP = 8

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.tiles: list[_Tile] = []
        self.root: Path | None = None  # the image folder the tiles' files are relative to
        self.files = False  # whether the tiles' images have files
        policy = QSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        policy.setHeightForWidth(True)
        self.setSizePolicy(policy)

    def tile_size(self) -> QSize:
        side = max((max(t.pixmap.width(), t.pixmap.height()) for t in self.tiles), default=84)
        return QSize(max(side, 112), side + 2 * self.fontMetrics().height() + _PAD)

    def columns(self, width: int) -> int:
        return max(1, (width - self.GAP) // (self.tile_size().width() + self.GAP))

    def hasHeightForWidth(self) -> bool:
        return True

    def heightForWidth(self, width: int) -> int:
        rows = math.ceil(len(self.tiles) / self.columns(width))
        return rows * (self.tile_size().height() + self.GAP) + self.GAP

    def sizeHint(self) -> QSize:
        width = 4 * (self.tile_size().width() + self.GAP) + self.GAP
        return QSize(width, self.heightForWidth(width))

    def minimumSizeHint(self) -> QSize:
        return QSize(self.tile_size().width() + 2 * self.GAP, 0)

    def tile_rect(self, i: int) -> QRectF:
        size, cols = self.tile_size(), self.columns(self.width())
        row, col = divmod(i, cols)
        return QRectF(self.GAP + col * (size.width() + self.GAP), self.GAP + row * (size.height() + self.GAP),
                      size.width(), size.height())

    def tile_at(self, pos: QPointF) -> int | None:
        """Index of the tile under ``pos`` (widget coordinates), or ``None``."""
        return next((i for i in range(len(self.tiles)) if self.tile_rect(i).contains(pos)), None)

    def path_of(self, i: int) -> Path | None:
        """Where tile ``i``'s image is on disk, or ``None`` for a set without files."""
        file = self.tiles[i].file
        return None if file is None or self.root is None else self.root / file

    def tile_menu(self, i: int) -> QMenu | None:
        """"Show in Folder" and "Copy File Path" for tile ``i``'s file, then the panel's own entries
        (Export Figure…); ``None`` where the image has no file."""
        path = self.path_of(i)
        if path is None:
            return None
        menu = QMenu(self)
        show = menu.addAction("Show in Folder")
        show.setEnabled(path.parent.is_dir())  # a folder moved or removed since the data was read
        show.triggered.connect(lambda _checked=False: QDesktopServices.openUrl(QUrl.fromLocalFile(str(path.parent))))
        copy = menu.addAction("Copy File Path")
        copy.triggered.connect(lambda _checked=False: QGuiApplication.clipboard().setText(str(path)))
        inherited = self._inherited_actions()
        if inherited:
            menu.addSeparator()
            menu.addActions(inherited)
        return menu

    def _inherited_actions(self) -> list[QAction]:
        """The actions of the nearest ancestor that shows its actions as its context menu."""
        widget = self.parentWidget()
        while widget is not None:
            if widget.contextMenuPolicy() == Qt.ContextMenuPolicy.ActionsContextMenu and widget.actions():
                return list(widget.actions())
            widget = widget.parentWidget()
        return []

    def contextMenuEvent(self, e: QContextMenuEvent) -> None:
        i = self.tile_at(QPointF(e.pos()))
        menu = None if i is None else self.tile_menu(i)
        if menu is None:
            e.ignore()  # the panel's own menu (Export Figure…)
            return
        # popup, not exec: no nested event loop; the menu is deleted once it has closed and done its action
        menu.aboutToHide.connect(menu.deleteLater)
        menu.popup(e.globalPos())

    def event(self, e: QEvent) -> bool:
        if e.type() == QEvent.Type.ToolTip and isinstance(e, QHelpEvent):
            i = self.tile_at(QPointF(e.pos()))
            return _tooltip(self, e, None if i is None else self.tiles[i].tooltip)
        return super().event(e)

    def paintEvent(self, event: QPaintEvent) -> None:
        pal, fm = self.palette(), self.fontMetrics()
        line = fm.height()
        red = QColor(theme.error_color())
        p = QPainter(self)
        try:
            for i, tile in enumerate(self.tiles):
                rect = self.tile_rect(i)
                pm = tile.pixmap
                x = rect.x() + (rect.width() - pm.width()) / 2
                p.drawPixmap(QPointF(x, rect.y()), pm)
                y = rect.y() + max(pm.width(), pm.height()) + _PAD / 2
                first = fm.elidedText(tile.true, Qt.TextElideMode.ElideRight,
                                      int(rect.width()) - fm.horizontalAdvance(" →")) + " →"
                p.setPen(pal.color(QPalette.ColorRole.WindowText))
                p.drawText(QRectF(rect.x(), y, rect.width(), line), Qt.AlignmentFlag.AlignCenter, first)
                conf = f" ({tile.confidence})"
                pred = fm.elidedText(tile.predicted, Qt.TextElideMode.ElideRight,
                                     int(rect.width()) - fm.horizontalAdvance(conf))
                x0 = rect.x() + (rect.width() - fm.horizontalAdvance(pred + conf)) / 2
                p.setPen(red)
                p.drawText(QRectF(x0, y + line, rect.width(), line), Qt.AlignmentFlag.AlignLeft, pred)
                p.setPen(pal.color(QPalette.ColorRole.WindowText))
                p.drawText(QRectF(x0 + fm.horizontalAdvance(pred), y + line, rect.width(), line),
                           Qt.AlignmentFlag.AlignLeft, conf)
        finally:
            p.end()


class MistakesGrid(QWidget):
    """Thumbnails of misclassified images, captioned "true → predicted (93 %)" (predicted in red)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.empty_label = QLabel("No mistakes", self)
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_label.setEnabled(False)  # the palette's muted (disabled) text colour
        self._tiles = _Tiles()
        self._scroll = QScrollArea(self)
        self._scroll.setWidget(self._tiles)
        self._scroll.setWidgetResizable(True)
        self._scroll.setFrameShape(QFrame.Shape.NoFrame)
        self._scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self._stack = QStackedLayout(self)
        self._stack.addWidget(self.empty_label)
        self._stack.addWidget(self._scroll)

    def set_mistakes(self, images: np.ndarray | Any, true: Sequence[int], predicted: Sequence[int],
                     confidence: Sequence[float], class_names: Sequence[str],
                     files: Sequence[str] | None = None, root: str | Path | None = None,
                     indices: Sequence[int] | None = None) -> None:
        """Show ``images`` (N, C, H, W) uint8 (NumPy or a torch tensor) with their classes and confidence (0..1).

        ``files``: each image's path relative to the image folder ``root`` (``None``: a set without files);
        ``indices``: each image's position in its split (for :meth:`table_rows`).
        """
        if hasattr(images, "detach"):  # a torch tensor, without importing torch here
            images = images.detach().cpu().numpy()
        array = np.asarray(images)

        def name(i: int) -> str:
            return str(class_names[i]) if 0 <= i < len(class_names) else str(i)

        names = list(files) if files is not None else [None] * len(true)
        where = list(indices) if indices is not None else [None] * len(true)
        self._tiles.root = Path(root).expanduser().absolute() if files is not None and root else None
        self._tiles.files = files is not None
        self._tiles.tiles = [
            _Tile(image_pixmap(array[i]), name(int(t)), name(int(pr)), f"{round(float(c) * 100)} %", file,
                  float(c), index)
            for i, (t, pr, c, file, index) in enumerate(zip(true, predicted, confidence, names, where))
        ]
        self._stack.setCurrentWidget(self._scroll if self._tiles.tiles else self.empty_label)
        self._tiles.updateGeometry()
        self._tiles.update()

    def captions(self) -> list[str]:
        """``["cat → dog (93 %)", ...]`` in the order shown."""
        return [t.caption for t in self._tiles.tiles]

    def tooltips(self) -> list[str]:
        """Each tile's tooltip, in the order shown: its file (where there is one), classes and confidence."""
        return [t.tooltip for t in self._tiles.tiles]

    def table_rows(self) -> list[dict[str, object]]:
        """The images shown, most confident first, for Export Figure's CSV: ``index`` (in the split),
        ``file`` (only where the images have files), ``true``, ``predicted``, ``confidence`` (0..1)."""
        return [{"index": "" if t.index is None else t.index, **({"file": t.file} if self._tiles.files else {}),
                 "true": t.true, "predicted": t.predicted, "confidence": round(t.probability, 6)}
                for t in self._tiles.tiles]

    def tile_center(self, i: int) -> QPointF:
        """The middle of tile ``i`` in this widget's coordinates (for tests and screenshots)."""
        return QPointF(self._tiles.mapTo(self, self._tiles.tile_rect(i).center().toPoint()))

    def tile_menu(self, i: int) -> QMenu | None:
        """The context menu of tile ``i`` (``None`` where its image has no file); the caller shows it."""
        return self._tiles.tile_menu(i)

    def sizeHint(self) -> QSize:
        return self._tiles.sizeHint()

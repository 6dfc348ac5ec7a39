#!/usr/bin/env python3
"""Render the application icon's PNGs from its SVG sources (run after editing an SVG).

    python packaging/render_icons.py

Sources (hand-written SVG, no external assets):

- ``cnnplayground/resources/icons/cnnplayground.svg``: the icon; the app loads it as its window icon.
- ``cnnplayground/resources/icons/cnnplayground-small.svg``: a pixel-aligned simplification used for the
  16 and 32 px PNGs, where the full drawing's grid and dashed lines would blur.

Output, in the freedesktop icon-theme layout so that it can be copied as it is into
``~/.local/share/icons`` or ``/usr/share/icons`` (see packaging/README.md)::

    packaging/linux/icons/hicolor/<N>x<N>/apps/io.github.cnnplayground.CNNPlayground.png
    packaging/linux/icons/hicolor/scalable/apps/io.github.cnnplayground.CNNPlayground.svg  (a copy)

The file name is the desktop entry's ``Icon=`` key (the application id). The PNGs are
rendered with Qt's own SVG renderer (PySide6's QSvgRenderer into a QImage), the same one
that draws the window icon, so no other tool is needed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ICON_NAME = "io.github.cnnplayground.CNNPlayground"
SOURCE = ROOT / "cnnplayground" / "resources" / "icons" / "cnnplayground.svg"
SOURCE_SMALL = ROOT / "cnnplayground" / "resources" / "icons" / "cnnplayground-small.svg"
HICOLOR = ROOT / "packaging" / "linux" / "icons" / "hicolor"
SIZES = (16, 32, 48, 64, 128, 256, 512)
#: Sizes drawn from the pixel-aligned small source.
SMALL_SIZES = frozenset({16, 32})


def png_path(size: int, hicolor: Path = HICOLOR) -> Path:
    return hicolor / f"{size}x{size}" / "apps" / f"{ICON_NAME}.png"


def svg_path(hicolor: Path = HICOLOR) -> Path:
    return hicolor / "scalable" / "apps" / f"{ICON_NAME}.svg"


def render(hicolor: Path = HICOLOR) -> list[Path]:
    """Write every PNG size and the scalable copy under ``hicolor``; returns the written paths."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    _app = QGuiApplication.instance() or QGuiApplication([sys.argv[0]])  # noqa: F841 (kept alive)
    written: list[Path] = []
    renderers = {}
    for size in SIZES:
        source = SOURCE_SMALL if size in SMALL_SIZES else SOURCE
        if source not in renderers:
            renderer = QSvgRenderer(str(source))
            if not renderer.isValid():
                raise SystemExit(f"render_icons: Qt cannot read {source}")
            renderers[source] = renderer
        image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
        image.fill(Qt.GlobalColor.transparent)
        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        renderers[source].render(painter)
        painter.end()
        out = png_path(size, hicolor)
        out.parent.mkdir(parents=True, exist_ok=True)
        # ARGB32 (not premultiplied) is what PNG stores; compression 9 keeps the files small.
        if not image.convertToFormat(QImage.Format.Format_ARGB32).save(str(out), "PNG", 0):
            raise SystemExit(f"render_icons: cannot write {out}")
        written.append(out)
    scalable = svg_path(hicolor)
    scalable.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(SOURCE, scalable)
    written.append(scalable)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--hicolor", type=Path, default=HICOLOR, help="the hicolor folder to write into (default: %(default)s)"
    )
    args = parser.parse_args(argv)
    for path in render(args.hicolor):
        try:
            shown = path.relative_to(ROOT)
        except ValueError:
            shown = path
        print(f"wrote {shown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

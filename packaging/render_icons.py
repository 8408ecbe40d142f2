"""Render resources/icons/hearth.svg to the PNG sizes desktops ask for.

    QT_QPA_PLATFORM=offscreen .venv/bin/python packaging/render_icons.py

The PNGs are committed (the window loads them; no SVG plugin is needed at run time). Run this
again after changing the SVG. packaging/icons.py draws the macOS icon set with `render`.
"""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6 import QtCore, QtGui, QtSvg

ICONS = Path(__file__).resolve().parents[1] / "resources" / "icons"
SIZES = (16, 24, 32, 48, 64, 128, 256, 512)


def render(size: int, svg: Path = ICONS / "hearth.svg") -> QtGui.QImage:
    QtGui.QGuiApplication.instance() or QtGui.QGuiApplication(sys.argv[:1])
    renderer = QtSvg.QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise SystemExit(f"{svg} does not parse")
    image = QtGui.QImage(size, size, QtGui.QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(QtCore.Qt.GlobalColor.transparent)
    painter = QtGui.QPainter(image)
    painter.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing)
    renderer.render(painter, QtCore.QRectF(0, 0, size, size))
    painter.end()
    return image


def main() -> int:
    for size in SIZES:
        render(size).save(str(ICONS / f"hearth-{size}.png"))
    print(f"wrote {len(SIZES)} sizes to {ICONS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

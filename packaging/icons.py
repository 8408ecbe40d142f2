"""The macOS icon: Hearth.iconset (every size Apple's icon sets name) drawn from the SVG, and
hearth.icns made from it with Pillow, on any platform.

    .venv/bin/python packaging/icons.py build/     → build/Hearth.iconset/, build/hearth.icns

On a Mac, `iconutil -c icns build/Hearth.iconset` makes the same .icns with Apple's own tool.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

# (file name in the .iconset, pixels): 16 to 512 points, each at 1x and 2x.
ICONSET = tuple((f"icon_{pt}x{pt}{'@2x' if scale == 2 else ''}.png", pt * scale)
                for pt in (16, 32, 128, 256, 512) for scale in (1, 2))
ICNS_SIZES = (32, 64, 128, 256, 512, 1024)  # what Pillow writes: ic11 … ic10 (retina first)


def write_iconset(folder: Path) -> Path:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from render_icons import render

    iconset = folder / "Hearth.iconset"
    iconset.mkdir(parents=True, exist_ok=True)
    drawn = {}
    for name, px in ICONSET:
        if px not in drawn:
            drawn[px] = render(px)
        if not drawn[px].save(str(iconset / name)):
            raise SystemExit(f"could not write {iconset / name}")
    return iconset


def write_icns(iconset: Path, out: Path) -> Path:
    from PIL import Image

    images = {}
    for name, px in ICONSET:
        images.setdefault(px, Image.open(iconset / name).convert("RGBA"))
    images[1024].save(out, format="ICNS", append_images=[images[px] for px in ICNS_SIZES])
    return out


def main(argv: list[str]) -> int:
    folder = Path(argv[0] if argv else "build")
    iconset = write_iconset(folder)
    icns = write_icns(iconset, folder / "hearth.icns")
    print(f"wrote {iconset} and {icns}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Hearth.app's Info.plist (PyInstaller's BUNDLE merges it over its own keys) and version.
Checked on Linux by tests/test_packaging.py; used on a Mac by packaging/hearth.spec."""

from __future__ import annotations

import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bundle_config as cfg  # noqa: E402
import file_types  # noqa: E402

MINIMUM_MACOS = "12.0"  # Qt 6.8+'s oldest supported macOS (Monterey)


def version() -> str:
    text = (cfg.ROOT / "pyproject.toml").read_text(encoding="utf-8")
    return re.search(r'^version\s*=\s*"([^"]+)"', text, re.M).group(1)


def info_plist() -> dict:
    return {
        "CFBundleName": cfg.APP_NAME,
        "CFBundleDisplayName": cfg.APP_NAME,
        "CFBundleIdentifier": cfg.BUNDLE_ID,
        "CFBundleExecutable": cfg.GUI_EXECUTABLE,
        "CFBundlePackageType": "APPL",
        "CFBundleShortVersionString": version(),
        "CFBundleVersion": version(),
        "CFBundleIconFile": "hearth.icns",
        "LSMinimumSystemVersion": MINIMUM_MACOS,
        "LSApplicationCategoryType": "public.app-category.productivity",
        "NSHighResolutionCapable": True,
        "NSRequiresAquaSystemAppearance": False,  # follows dark mode
        "NSHumanReadableCopyright": "Apache-2.0",
        # Files dropped on the Dock icon or opened with "Open With → Hearth" (a QFileOpenEvent
        # each, app/gui/desktop.py); Alternate: offered, never the default for these.
        "CFBundleDocumentTypes": [
            {"CFBundleTypeName": f"{kind.upper() if len(kind) <= 4 else kind.capitalize()} document",
             "CFBundleTypeRole": "Viewer", "LSHandlerRank": "Alternate",
             "LSItemContentTypes": list(utis)}
            for kind, (_mimes, utis) in file_types.DOCUMENT_TYPES.items()],
    }

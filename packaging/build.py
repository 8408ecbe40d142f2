"""`make package`: build Hearth for the platform this runs on, then say how big it is.

    .venv/bin/python packaging/build.py [--no-appimage]

Linux: dist/hearth/ (hearth-gui, hearth, _internal/), and dist/Hearth-<arch>.AppImage when
`appimagetool` is on PATH (or $APPIMAGETOOL names it). macOS: dist/Hearth.app, ad-hoc signed,
and dist/Hearth.dmg when dmgbuild is installed (`pip install -e ".[package]"` on a Mac). The
contents, largest first, go to dist/bundle-contents.txt.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DIST, WORK = ROOT / "dist", ROOT / "build"
sys.path.insert(0, str(HERE))
import bundle_config as cfg  # noqa: E402

MACOS = sys.platform == "darwin"


def run(*cmd, **kw) -> None:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    subprocess.run([str(c) for c in cmd], check=True, **kw)


def pyinstaller() -> Path:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # this checkout's code, whatever is installed
    run(sys.executable, "-m", "PyInstaller", "--noconfirm", "--log-level", "WARN",
        "--distpath", DIST, "--workpath", WORK / "pyinstaller", HERE / "hearth.spec", env=env)
    return DIST / cfg.FOLDER


def tidy(folder: Path) -> None:
    """llama-cpp-python's wheel holds libX.so and libX.so.0 as two copies of one file: the
    first becomes a link to the second. Links whose target was left out are removed. On
    Linux, the interpreter's own library and extension modules lose their symbols (libpython
    23 → 6 MB); wheels' libraries are left as they are (stripping numpy's OpenBLAS, patched
    by auditwheel, makes it unloadable)."""
    strip = shutil.which("strip") if not MACOS else None
    ours = [*folder.rglob("libpython3*.so*"), *folder.rglob("python3*/lib-dynload/*.so")]
    files = [str(p) for p in ours if p.is_file() and not p.is_symlink()]
    if strip and files:
        print(f"+ strip --strip-unneeded libpython and {len(files) - 1} extension modules")
        subprocess.run([strip, "--strip-unneeded", *files], check=True)
    for path in sorted(folder.rglob("*")):
        if path.is_symlink() and not path.exists():
            path.unlink()
    lib = next(folder.rglob("llama_cpp/lib"), None)
    for so in sorted(lib.glob("*.so")) if lib else []:
        versioned = so.with_name(so.name + ".0")
        if versioned.is_file() and not so.is_symlink() and \
                so.read_bytes() == versioned.read_bytes():
            so.unlink()
            so.symlink_to(versioned.name)


def report(folder: Path) -> str:
    """Total size, and the largest parts of _internal (or Contents/) with their sizes."""
    def size(p: Path) -> int:
        if p.is_symlink():
            return 0
        if p.is_file():
            return p.stat().st_size
        return sum(f.stat().st_size for f in p.rglob("*") if f.is_file() and not f.is_symlink())

    inside = folder / "_internal" if (folder / "_internal").is_dir() else folder / "Contents" / "Frameworks"
    parts = sorted(((size(p), p) for p in inside.iterdir()), key=lambda x: -x[0])
    total = size(folder)
    lines = [f"{folder.name}: {total / 1e6:.0f} MB in {sum(1 for _ in folder.rglob('*'))} files"]
    lines += [f"{s / 1e6:8.1f} MB  {p.relative_to(folder)}" for s, p in parts if s >= 500_000]
    rest = sum(s for s, _p in parts if s < 500_000)
    lines.append(f"{rest / 1e6:8.1f} MB  everything else ({sum(1 for s, _ in parts if s < 500_000)} entries)")
    return "\n".join(lines)


def appdir(folder: Path, appdir: Path) -> Path:
    """The AppDir an AppImage is made from: the bundle in usr/lib/hearth, the .desktop entry
    and icon at the top, and AppRun, which starts the window, or the command line when
    called as `hearth` (a link to the AppImage) or with --cli first."""
    shutil.rmtree(appdir, ignore_errors=True)
    shutil.copytree(folder, appdir / "usr" / "lib" / "hearth", symlinks=True)
    shutil.copy(HERE / "hearth.desktop", appdir / "hearth.desktop")
    shutil.copy(ROOT / "resources" / "icons" / "hearth-256.png", appdir / "hearth.png")
    share = appdir / "usr" / "share" / "icons" / "hicolor"
    for png in (ROOT / "resources" / "icons").glob("hearth-*.png"):
        px = png.stem.split("-")[1]
        (share / f"{px}x{px}" / "apps").mkdir(parents=True, exist_ok=True)
        shutil.copy(png, share / f"{px}x{px}" / "apps" / "hearth.png")
    apprun = appdir / "AppRun"
    apprun.write_text('#!/bin/sh\n'
                      'HERE="$(dirname "$(readlink -f "$0")")"\n'
                      'if [ "$1" = "--cli" ]; then shift; exec "$HERE/usr/lib/hearth/hearth" "$@"; fi\n'
                      'case "$(basename "${ARGV0:-hearth-gui}")" in\n'
                      '  hearth) exec "$HERE/usr/lib/hearth/hearth" "$@" ;;\n'
                      'esac\n'
                      'exec "$HERE/usr/lib/hearth/hearth-gui" "$@"\n')
    apprun.chmod(0o755)
    return appdir


def appimage(folder: Path) -> Path | None:
    """An AppImage of the folder, if appimagetool is at hand: a one-file download that runs
    on most distributions (it needs FUSE 2, or APPIMAGE_EXTRACT_AND_RUN=1)."""
    tool = os.environ.get("APPIMAGETOOL") or shutil.which("appimagetool")
    if not tool:
        print("appimagetool not found: no AppImage (the README says where to get it)")
        return None
    source = appdir(folder, WORK / "Hearth.AppDir")
    out = DIST / f"Hearth-{platform.machine()}.AppImage"
    env = {**os.environ, "ARCH": platform.machine(), "APPIMAGE_EXTRACT_AND_RUN": "1"}
    run(tool, source, out, env=env)
    return out


def macos_app() -> Path:
    app = DIST / f"{cfg.APP_NAME}.app"
    # Ad-hoc: runs on the machine that built it, and on others once the person allows it
    # (right-click → Open). A Developer ID and notarization are in the README.
    identity = os.environ.get("CODESIGN_IDENTITY", "-")
    hardened = [] if identity == "-" else [  # what notarization asks for
        "--options", "runtime", "--timestamp", "--entitlements", HERE / "entitlements.plist"]
    run("codesign", "--force", "--deep", *hardened, "--sign", identity, app)
    run("codesign", "--verify", "--deep", "--strict", app)
    try:
        import dmgbuild  # noqa: F401
    except ImportError:
        print("dmgbuild not installed: no DMG (pip install dmgbuild)")
        return app
    run(sys.executable, "-m", "dmgbuild", "-s", HERE / "dmg_settings.py", "-D", f"app={app}",
        "-D", f"icon={WORK / 'hearth.icns'}", cfg.APP_NAME, DIST / f"{cfg.APP_NAME}.dmg")
    return app


def main(argv: list[str]) -> int:
    if MACOS:
        import icons

        icons.main([str(WORK)])  # the spec reads build/hearth.icns
    folder = pyinstaller()
    tidy(folder)
    built = [folder]
    if MACOS:
        built.append(macos_app())
    elif "--no-appimage" not in argv:
        image = appimage(folder)
        if image:
            built.append(image)
    text = "\n\n".join(report(p) for p in built if p.is_dir())
    (DIST / "bundle-contents.txt").write_text(text + "\n")
    print(text)
    for p in built:
        if p.is_file():
            print(f"{p.name}: {p.stat().st_size / 1e6:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

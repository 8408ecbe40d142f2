# dmgbuild settings (run by packaging/build.py on a Mac): Hearth.app and a link to
# /Applications to drag it onto. dmgbuild executes this file with `defines` set.
import os.path

application = defines.get("app", "dist/Hearth.app")  # noqa: F821 (given by dmgbuild)
appname = os.path.basename(application)

format = "ULFO"  # LZFSE: smaller than zlib, opens on macOS 10.11 and later
size = None  # dmgbuild measures the contents
files = [application]
symlinks = {"Applications": "/Applications"}
icon = defines.get("icon")  # noqa: F821  the volume's icon: hearth.icns
default_view = "icon-view"
show_status_bar = False
show_toolbar = False
window_rect = ((200, 160), (600, 340))
icon_size = 128
text_size = 13
icon_locations = {appname: (150, 150), "Applications": (450, 150)}

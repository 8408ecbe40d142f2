"""The packaged app's window: PyInstaller's entry point (outside a bundle: `python -m app`)."""

import sys

from app.gui.main import main

sys.exit(main())

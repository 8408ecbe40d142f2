"""The packaged app's `hearth` command: PyInstaller's entry point (outside a bundle, the
`hearth` script pip installs)."""

import sys

from app.cli.main import main

sys.exit(main())

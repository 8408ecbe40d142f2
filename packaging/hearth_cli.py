"""The packaged app's `hearth` command: PyInstaller's entry point (outside a bundle, the
`hearth` script pip installs)."""

import sys

from common.bundle import LIBRARY_WORKER_FLAG

if sys.argv[1:2] == [LIBRARY_WORKER_FLAG]:  # the window's library indexer (common/bundle.py)
    from app.core.library import worker

    sys.exit(worker.main(sys.argv[2:]))

from app.cli.main import main

sys.exit(main())

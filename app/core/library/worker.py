"""The window's indexer, as a process of its own: ``python -m app.core.library.worker DB``.

A process rather than a thread of the window: the readers parse any file found in the
person's folders (PDFium is C code), so one that crashes or hangs takes only this process
down — the window restarts it and the file is listed as skipped (see
:func:`app.core.library.service.recover_crashed`) — and pure-Python parsing here never holds
the window's GIL, which at a lowered priority could stall the window for as long as the
scheduler keeps this process waiting.

Commands arrive one per line on stdin: ``pause``, ``resume``, ``rescan``, ``stop``; end of
input (the window quit, or was killed) also stops it.  Progress leaves as one JSON object
per line on stdout (:class:`~app.core.library.service.Progress`); log lines go to stderr,
which the window copies into its log.
"""

from __future__ import annotations

import json
import logging
import sys
import threading

from app.core.library.service import LibraryService, Progress, lower_priority

COMMANDS = ("pause", "resume", "rescan", "stop")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m app.core.library.worker DATABASE", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    lower_priority()
    out = sys.stdout
    write = threading.Lock()
    service: LibraryService

    def report(progress: Progress) -> None:
        try:
            with write:
                out.write(json.dumps(progress.as_dict(), ensure_ascii=True) + "\n")
                out.flush()
        except (BrokenPipeError, ValueError, OSError):  # the window is gone
            service.stop()

    service = LibraryService(args[0], report)

    def read_commands() -> None:
        for line in sys.stdin:
            command = line.strip()
            if command in COMMANDS:
                getattr(service, command)()
        service.stop()  # end of input: the window quit

    threading.Thread(target=read_commands, name="library-commands", daemon=True).start()
    service.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())

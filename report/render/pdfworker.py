"""Render one PDF in a child process with a memory cap: ``python -m report.render.pdfworker BUILD_DIR``.

Reads the HTML on stdin and writes the PDF bytes to stdout. WeasyPrint holds a whole document in memory
and does not give memory back to the system, so rendering in a capped child keeps a large report from
exhausting the machine; a refused or missing resource ends it with one line on stderr and exit code 3.
"""

from __future__ import annotations

import os
import resource
import signal
import sys
from pathlib import Path

MEMORY_LIMIT = int(os.environ.get("REPORT_PDF_MEMORY", 3 << 30))  # bytes of address space for the child
TIMEOUT = 600            # seconds


def limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


TERMINATED = []  # the signal, once SIGTERM came


def stop_on_sigterm() -> None:
    """SIGTERM (the parent cancelling) ends the worker through SystemExit, so that open temporary files
    are closed and removed as on a normal exit. The signal is also remembered: a dependency whose import
    catches everything (a bare ``except:``) can swallow that SystemExit, and the worker must still stop."""
    def stop(signum, frame):
        TERMINATED.append(signum)
        sys.exit(128 + signum)

    signal.signal(signal.SIGTERM, stop)


def main() -> int:
    stop_on_sigterm()
    limit_memory()  # set here, not in a preexec_fn: the parent may run threads (torch), where that is unsafe
    try:
        import weasyprint  # noqa: F401  before reading: the parent starts this worker early to overlap the import

        from report.render.documents import render_pdf_here
        from report.render.errors import RenderError

        if TERMINATED:
            return 128 + TERMINATED[0]
        html = sys.stdin.buffer.read().decode()
        if TERMINATED:
            return 128 + TERMINATED[0]
        try:
            pdf = render_pdf_here(html, Path(sys.argv[1]))
        except RenderError as error:
            print(error, file=sys.stderr)
            return 3
    except MemoryError:
        print(f"PDF not written: rendering needed more than {MEMORY_LIMIT / 2**30:.1f} GiB; render HTML only "
              "(--format html) or show fewer layers (--layers, --max-channels)", file=sys.stderr)
        return 3
    except Exception as error:  # near the memory cap an import can fail as SystemError or ImportError instead
        print(f"PDF not written: the PDF renderer failed ({type(error).__name__}: {' '.join(str(error).split())[:200]}); "
              "render HTML only (--format html)", file=sys.stderr)
        return 3
    sys.stdout.buffer.write(pdf)
    return 0


if __name__ == "__main__":
    sys.exit(main())

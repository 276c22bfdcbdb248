"""Render PDFs in a child process with a memory cap: ``python -m report.render.pdfworker BUILD_DIR [--serve]``.

Reads the HTML on stdin and writes the PDF bytes to stdout. With ``--serve`` it stays and renders one PDF after
another (``watch`` keeps one, so a new checkpoint costs the layout, not WeasyPrint's start): each request is
the HTML's length (8 bytes, big-endian) and the HTML, each answer a status byte (0: a PDF, 3: one line of
error) with the length and the bytes. WeasyPrint holds a whole document in memory
and does not give memory back to the system, so rendering in a capped child keeps a large report from
exhausting the machine; a refused or missing resource ends it with one line on stderr and exit code 3.

The layout itself is here (``render_pdf_here``: WeasyPrint, reading only files inside the build folder); the
parent's side (``PdfJob``, ``PdfServer`` in report.render.documents) imports from here only ``TIMEOUT``, so the
two modules do not import each other.
"""

from __future__ import annotations

import os
import resource
import signal
import sys
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname

from analysis.errors import RenderError
from report.render import environment
from report.render.garbage import few_collections

MEMORY_LIMIT = environment.pdf_memory()  # bytes of address space for the child (checked before it starts)
TIMEOUT = 600            # seconds


def too_big() -> str:
    return (f"PDF not written: rendering needed more than {MEMORY_LIMIT / 2**30:.1f} GiB (REPORT_PDF_MEMORY); "
            "render HTML only (--format html), show fewer layers (--layers, --max-channels) or allow more memory")


def limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


TERMINATED = []  # the signal, once SIGTERM came
PARENT_POLL = 0.2  # seconds between two looks at the parent
GRACE = 2.0        # seconds the worker gets to end through SystemExit once its parent is gone


def stop_on_sigterm() -> None:
    """SIGTERM (the parent cancelling) ends the worker through SystemExit, so that open temporary files
    are closed and removed as on a normal exit. The signal is also remembered: a dependency whose import
    catches everything (a bare ``except:``) can swallow that SystemExit, and the worker must still stop.
    SIGINT and SIGHUP are ignored: Ctrl-C or a closed terminal reaches the whole process group, and the parent,
    which sees it too, cancels the worker itself (the worker's traceback would only fill its stderr)."""
    def stop(signum, frame):
        first = not TERMINATED
        TERMINATED.append(signum)
        if first:  # a second SIGTERM must not cut the clean-up of the first short
            sys.exit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, signal.SIG_IGN)


def end_with_parent() -> None:
    """End the worker when the process that started it is gone (killed, so it could not cancel the worker):
    a thread looks at ``os.getppid()``, which changes when the worker is adopted by another process (POSIX),
    then stops the worker as its parent would (SIGTERM), and ends it outright if that hangs. Without it an
    orphaned worker would lay out its PDF for up to ``TIMEOUT`` seconds, or a serving one wait for ever."""
    import threading
    import time

    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_POLL)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(GRACE)
        os._exit(128 + signal.SIGTERM)

    threading.Thread(target=watch, name="pdf-parent-watch", daemon=True).start()


def frame(status: int, payload: bytes) -> bytes:
    return bytes([status]) + len(payload).to_bytes(8, "big") + payload


def read_exactly(stream, count: int) -> bytes | None:
    data = b""
    while len(data) < count:
        chunk = stream.read(count - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def render_pdf_here(html: str, build_dir: Path) -> bytes:
    """The PDF of ``html``; every resource must be a file inside ``build_dir`` (or a data: URL)."""
    from weasyprint import HTML
    from weasyprint.urls import FatalURLFetchingError

    try:
        return HTML(string=html, base_url=str(Path(build_dir).resolve()) + "/",
                    url_fetcher=build_folder_fetcher(build_dir)).write_pdf(pdf_tags=True)
    except FatalURLFetchingError as error:  # a BaseException: `except Exception` would miss it
        raise RenderError(f"PDF not written: {error}") from None


def build_folder_fetcher(build_dir: Path):
    from weasyprint.urls import FatalURLFetchingError, URLFetcher

    root = Path(build_dir).resolve()

    class BuildFolderFetcher(URLFetcher):
        def __init__(self):
            super().__init__(allowed_protocols={"file", "data"}, allow_redirects=False, fail_on_errors=True)

        def fetch(self, url, headers=None):
            scheme = url.split(":", 1)[0].lower()
            if scheme == "data":
                return super().fetch(url, headers)
            if scheme != "file":
                raise FatalURLFetchingError(f"refused {url}: only files inside {root} may be read")
            path = Path(url2pathname(urlsplit(url).path)).resolve()
            if not path.is_relative_to(root):
                raise FatalURLFetchingError(f"refused {url}: it lies outside the build folder {root}")
            if not path.is_file():
                raise FatalURLFetchingError(f"missing resource {path}: rebuild the store with `make report`")
            return super().fetch(url, headers)

    return BuildFolderFetcher()


def serve(build_dir: Path) -> int:
    """Render every request until stdin closes; a failure answers with its line and the worker stays."""
    source, sink = sys.stdin.buffer, sys.stdout.buffer
    while not TERMINATED:
        header = read_exactly(source, 8)
        if header is None:
            return 0
        html = read_exactly(source, int.from_bytes(header, "big"))
        if html is None:
            return 0
        try:
            answer = frame(0, render_pdf_here(html.decode(), build_dir))
        except RenderError as error:
            answer = frame(3, str(error).encode())
        except MemoryError:
            answer = frame(3, too_big().encode())
            sink.write(answer)
            sink.flush()
            return 3  # memory may be left fragmented: the parent starts a fresh worker for the next PDF
        sink.write(answer)
        sink.flush()
    return 128 + TERMINATED[0]


def main() -> int:
    few_collections()
    stop_on_sigterm()
    end_with_parent()
    limit_memory()  # set here, not in a preexec_fn: the parent may run threads (torch), where that is unsafe
    try:
        import weasyprint  # noqa: F401  before reading: the parent starts this worker early to overlap the import

        if TERMINATED:
            return 128 + TERMINATED[0]
        if "--serve" in sys.argv[2:]:
            return serve(Path(sys.argv[1]))
        html = sys.stdin.buffer.read().decode()
        if TERMINATED:
            return 128 + TERMINATED[0]
        try:
            pdf = render_pdf_here(html, Path(sys.argv[1]))
        except RenderError as error:
            print(error, file=sys.stderr)
            return 3
    except MemoryError:
        print(too_big(), file=sys.stderr)
        return 3
    except Exception as error:  # near the memory cap an import can fail as SystemError or ImportError instead
        print(f"PDF not written: the PDF renderer failed ({type(error).__name__}: {' '.join(str(error).split())[:200]}); "
              "render HTML only (--format html)", file=sys.stderr)
        return 3
    sys.stdout.buffer.write(pdf)
    return 0


if __name__ == "__main__":
    sys.exit(main())

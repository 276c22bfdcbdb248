"""Context -> HTML (Jinja2, autoescaped, strict) -> PDF (WeasyPrint, build folder only), the PDF laid out in a child
process (report.render.pdfworker) that ``PdfJob`` and ``PdfServer`` drive."""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import functools
import mimetypes
import os
import re
import subprocess
import sys
from html import unescape
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateError, select_autoescape

from analysis.errors import RenderError
from report.render import TEMPLATE_DIR
from report.render.context import ReportContext


@functools.cache
def environment() -> Environment:
    """One environment per process: Jinja2 compiles each template once (``watch`` renders many times).
    No formatting filters: the view models (report.render.views) hand templates text already formatted."""
    return Environment(loader=FileSystemLoader(TEMPLATE_DIR), undefined=StrictUndefined,
                       autoescape=select_autoescape(default=True, default_for_string=True),
                       trim_blocks=True, lstrip_blocks=True)


def render_html(context: ReportContext) -> str:
    return render_template("report.html.j2", context)


def render_template(name: str, context) -> str:
    """A template rendered with the fields of a context dataclass as its variables."""
    values = {field.name: getattr(context, field.name) for field in dataclasses.fields(context)}
    try:
        return environment().get_template(name).render(**values)
    except TemplateError as error:
        raise RenderError(f"template error: {error}") from None


def render_documents(out: Path, stem: str, template: str, context, formats: tuple[str, ...],
                     pdf_job: PdfJob | None = None, single_file: bool = False) -> dict[Path, bytes]:
    """Render ``template`` into the bytes of ``out/stem.html`` (and ``.pdf``), with the stylesheet written
    beside them; the documents are returned, not written, so the caller can publish them together with
    the files that go with them.
    ``pdf_job`` is a PDF worker started earlier, so that its start-up overlapped other work;
    ``single_file`` makes the HTML self-contained (see ``inline_resources``)."""
    out = Path(out)
    with contextlib.ExitStack() as stack:
        if "pdf" in formats and pdf_job is None:
            pdf_job = stack.enter_context(PdfJob.ahead(out))
        # The stylesheet is in place before the documents: the PDF renderer reads it from the build folder.
        # It depends only on the templates, so documents of earlier builds still read a stylesheet that fits.
        from analysis.store.writer import write_atomic

        write_atomic(out / "assets" / "report.css", (TEMPLATE_DIR / "report.css").read_bytes())
        html = render_template(template, context)
        documents = {}
        if "html" in formats:
            documents[out / f"{stem}.html"] = (inline_resources(html, out) if single_file else html).encode()
        if "pdf" in formats:
            documents[out / f"{stem}.pdf"] = pdf_job.finish(html)
    return documents


LINKED_STYLESHEET = re.compile(r'<link rel="stylesheet" href="([^"]+)">')
IMAGE_SOURCE = re.compile(r'<img src="([^"]+)"')


def inline_resources(html: str, build_dir: Path) -> str:
    """One self-contained HTML file: the stylesheet in a <style> element and every image as a data: URL.
    Only files inside the build folder are read, as for the PDF."""
    root = Path(build_dir).resolve()

    def read(reference: str) -> bytes:
        path = (root / unescape(reference)).resolve()
        if not path.is_relative_to(root) or not path.is_file():
            raise RenderError(f"cannot inline {reference}: not a file inside the build folder {root}")
        return path.read_bytes()

    def style(match: re.Match) -> str:
        css = read(match.group(1)).decode()
        if "</style" in css.lower():
            raise RenderError(f"cannot inline {match.group(1)}: it contains </style>")
        return f"<style>\n{css}</style>"

    def image(match: re.Match) -> str:
        if match.group(1).startswith("data:"):
            return match.group(0)
        mime = mimetypes.guess_type(match.group(1))[0] or "application/octet-stream"
        return f'<img src="data:{mime};base64,{base64.b64encode(read(match.group(1))).decode()}"'

    return IMAGE_SOURCE.sub(image, LINKED_STYLESHEET.sub(style, html))


class PdfJob:
    """A child process (report.render.pdfworker) that renders one PDF, capped in memory and time. It is started
    before its HTML exists: importing WeasyPrint then runs on the other core while this process works.
    Its temporary files go to a folder of its own inside the build folder, removed when it ends (and by
    the next run if this one is killed), never to the system's temporary folder."""

    GRACE = 2.0  # seconds a cancelled worker gets to end cleanly before it is killed

    def __init__(self, build_dir: Path, serve: bool = False):
        import tempfile

        from analysis.store.writer import TMP_PREFIX
        from report.render.pdfworker import TIMEOUT

        self.timeout = TIMEOUT
        self.scratch = Path(tempfile.mkdtemp(prefix=f"{TMP_PREFIX}pdf.", dir=build_dir))
        env = {**os.environ, "TMPDIR": str(self.scratch)}
        # A serving worker lives for many PDFs: its stderr goes to a file, since a pipe nobody reads until it
        # ends would fill with its warnings and stop it.
        self.stderr_file = (self.scratch / "stderr.txt").open("wb") if serve else None
        self.process = subprocess.Popen([sys.executable, "-m", "report.render.pdfworker", str(Path(build_dir).resolve()),
                                         *(["--serve"] if serve else [])],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=self.stderr_file or subprocess.PIPE,
                                        cwd=TEMPLATE_DIR.parent, env=env)

    @classmethod
    @contextlib.contextmanager
    def ahead(cls, build_dir: Path, wanted: bool = True):
        """A started job (None when not ``wanted``), stopped on leaving if its PDF was never asked for."""
        job = cls(build_dir) if wanted else None
        try:
            yield job
        finally:
            if job is not None:
                job.cancel()

    def finish(self, html: str) -> bytes:
        try:
            pdf, errors = self.process.communicate(html.encode(), timeout=self.timeout)
        except subprocess.TimeoutExpired:
            self.cancel()
            raise RenderError(f"PDF not written: rendering took more than {self.timeout} s") from None
        if self.process.returncode != 0:
            lines = errors.decode(errors="replace").strip().splitlines()
            raise RenderError(lines[-1] if lines else
                              f"PDF not written: the renderer exited with {self.process.returncode}")
        return pdf

    def cancel(self) -> None:
        """End the worker if it still runs (SIGTERM, then SIGKILL after a grace period) and remove its
        temporary folder."""
        import shutil

        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.communicate(timeout=self.GRACE)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.communicate()
        if self.stderr_file is not None:
            self.stderr_file.close()
        shutil.rmtree(self.scratch, ignore_errors=True)


class PdfServer:
    """One PDF worker for many PDFs (``pdfworker --serve``): WeasyPrint is imported once, so each later PDF
    costs its layout alone. Same memory cap, timeout and temporary folder as a PdfJob; a worker that failed,
    timed out or grew beyond ``MAX_RSS`` is replaced by a fresh one for the next PDF. Used as a context
    manager; ``finish(html)`` as a PdfJob's."""

    MAX_RSS = 1 << 30     # bytes: WeasyPrint does not give memory back, so a worker this large is restarted
    GRACE = PdfJob.GRACE

    def __init__(self, build_dir: Path):
        from report.render.pdfworker import TIMEOUT

        self.build_dir, self.timeout = Path(build_dir), TIMEOUT
        self.job: PdfJob | None = None
        self.rendered = 0

    def __enter__(self) -> "PdfServer":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def start(self) -> None:
        if self.job is None or self.job.process.poll() is not None:
            self.close()
            self.job = PdfJob(self.build_dir, serve=True)

    def finish(self, html: str) -> bytes:
        import select

        self.start()
        process = self.job.process
        data = html.encode()
        try:
            process.stdin.write(len(data).to_bytes(8, "big") + data)
            process.stdin.flush()
            ready, _, _ = select.select([process.stdout], [], [], self.timeout)
            if not ready:
                self.close()
                raise RenderError(f"PDF not written: rendering took more than {self.timeout} s")
            head = process.stdout.read(9)
            if len(head) < 9:
                raise BrokenPipeError
            payload = process.stdout.read(int.from_bytes(head[1:], "big"))
        except (BrokenPipeError, ConnectionResetError, ValueError):
            errors = self._stderr_tail()
            self.close()
            raise RenderError(errors or "PDF not written: the renderer stopped") from None
        if head[0] != 0:
            self._recycle_if_large(force=process.poll() is not None)
            raise RenderError(payload.decode(errors="replace"))
        self.rendered += 1
        self._recycle_if_large()
        return payload

    def _stderr_tail(self) -> str:
        try:
            self.job.process.wait(timeout=self.GRACE)
            lines = (self.job.scratch / "stderr.txt").read_bytes().decode(errors="replace").strip().splitlines()
        except Exception:  # noqa: BLE001 - only a better message was at stake
            return ""
        return lines[-1] if lines else ""

    def _recycle_if_large(self, force: bool = False) -> None:
        try:
            with open(f"/proc/{self.job.process.pid}/statm") as statm:
                resident = int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError, IndexError):
            resident = 0
        if force or resident > self.MAX_RSS:
            self.close()

    def cancel(self) -> None:
        """A server is not cancelled by one build: it stays for the next (``close`` ends it)."""

    def close(self) -> None:
        if self.job is not None:
            self.job.cancel()
            self.job = None


def render_pdf(html: str, build_dir: Path) -> bytes:
    """The PDF of ``html``, rendered in a capped child process."""
    with PdfJob.ahead(build_dir) as job:
        return job.finish(html)

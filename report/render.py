"""Context -> HTML (Jinja2, autoescaped, strict) -> PDF (WeasyPrint, build folder only)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname

from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateError, select_autoescape

from report import fmt
from report.context import ReportContext
from report.errors import RenderError

TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "templates"
FILTERS = {"integer": fmt.integer, "number": fmt.number, "percent": fmt.percent,
           "shape": fmt.shape, "ratio": fmt.ratio, "listing": fmt.listing, "count": fmt.count, "fixed": fmt.fixed}


def environment(template_dir: Path = TEMPLATE_DIR) -> Environment:
    env = Environment(loader=FileSystemLoader(template_dir), undefined=StrictUndefined,
                      autoescape=select_autoescape(default=True, default_for_string=True),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters.update(FILTERS)
    return env


def render_html(context: ReportContext, template_dir: Path = TEMPLATE_DIR) -> str:
    return render_template("report.html.j2", context, template_dir)


def render_template(name: str, context, template_dir: Path = TEMPLATE_DIR) -> str:
    """A template rendered with the fields of a context dataclass as its variables."""
    values = {field.name: getattr(context, field.name) for field in dataclasses.fields(context)}
    try:
        return environment(template_dir).get_template(name).render(**values)
    except TemplateError as error:
        raise RenderError(f"template error: {error}") from None


def write_documents(out: Path, stem: str, template: str, context, formats: tuple[str, ...]) -> list[Path]:
    """Render ``template`` to ``out/stem.html`` (and ``.pdf``) with the stylesheet beside it; files are
    replaced only after every format rendered, so a failure leaves the previous documents whole."""
    from analysis.store import write_atomic

    out = Path(out)
    write_atomic(out / "assets" / "report.css", (TEMPLATE_DIR / "report.css").read_bytes())
    html = render_template(template, context)
    rendered = {"html": html.encode()}
    if "pdf" in formats:
        rendered["pdf"] = render_pdf(html, out)
    for kind in formats:
        write_atomic(out / f"{stem}.{kind}", rendered[kind])
    return [out / f"{stem}.{kind}" for kind in formats]


def render_pdf(html: str, build_dir: Path) -> bytes:
    """The PDF of ``html``, rendered in a child process capped in memory and time (report.pdfworker)."""
    import subprocess
    import sys

    from report.pdfworker import TIMEOUT

    try:
        done = subprocess.run([sys.executable, "-m", "report.pdfworker", str(Path(build_dir).resolve())],
                              input=html.encode(), capture_output=True, timeout=TIMEOUT,
                              cwd=Path(__file__).resolve().parent.parent)
    except subprocess.TimeoutExpired:
        raise RenderError(f"PDF not written: rendering took more than {TIMEOUT} s") from None
    if done.returncode != 0:
        lines = done.stderr.decode(errors="replace").strip().splitlines()
        raise RenderError(lines[-1] if lines else f"PDF not written: the renderer exited with {done.returncode}")
    return done.stdout


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

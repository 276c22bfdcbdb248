"""Rendering from a store: no torch, escaped and strict templates, a confined PDF fetcher."""

import copy
import dataclasses
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import copy_build
from jinja2 import UndefinedError, meta, nodes
from synthetic import documents, write_store

from report import pipeline
from report.render import TEMPLATE_DIR
from report.render.context import build_context
from report.render.documents import environment, render_html, render_pdf
from analysis.errors import RenderError
from report.render.sections import run_rules
from report.render.load import load_findings

ROOT = Path(__file__).resolve().parent.parent


def context_for(store, build_dir):
    findings = load_findings(store)
    return build_context(findings, run_rules(findings), build_dir, "assets/report.css")


@pytest.mark.slow  # HTML and PDF rendered in a fresh interpreter
def test_rendering_never_imports_torch(tmp_path):
    store = write_store(tmp_path / "stores")
    code = (
        "import sys; sys.path.insert(0, 'tests')\n"
        "from pathlib import Path\n"
        "from report import pipeline\n"
        f"plan = pipeline.RenderPlan(Path({str(tmp_path)!r}), Path({str(store)!r}), ('html', 'pdf'))\n"
        "outputs, rendered = pipeline.render(plan)\n"
        "assert rendered and all(p.is_file() for p in outputs)\n"
        "assert 'torch' not in sys.modules, 'rendering imported torch'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_html_holds_every_section_and_links_only_existing_images(tmp_path):
    store = write_store(tmp_path / "stores")
    outputs, _ = pipeline.render(pipeline.RenderPlan(tmp_path, store, ("html",)))
    html = outputs[0].read_text()
    for section in ("parameters", "shapes", "kernels", "activations", "embeddings", "distances", "accuracy"):
        assert f'id="{section}"' in html and f'href="#{section}"' in html
    sources = re.findall(r'<img src="([^"]+)"', html)
    assert len(sources) >= 8
    assert all((tmp_path / src).is_file() for src in sources), sources
    assert all(alt for alt in re.findall(r'<img [^>]*alt="([^"]*)"', html))
    assert (tmp_path / "assets" / "report.css").is_file()


def test_html_in_names_is_escaped(tmp_path):
    docs = copy.deepcopy(documents())
    docs["model.json"]["parameters"]["layers"][0]["name"] = "<script>alert(1)</script>"
    docs["model.json"]["model"]["class"] = "<img src=x onerror=alert(1)>"
    store = write_store(tmp_path / "stores", docs)
    html = render_html(context_for(store, tmp_path))
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img src=x onerror" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html


def test_templates_are_strict(tmp_path):
    env = environment()
    with pytest.raises(UndefinedError):
        env.from_string("{{ missing }}").render()
    context = context_for(write_store(tmp_path / "stores"), tmp_path)
    broken = dataclasses.replace(context, views={**context.views, "embeddings": None})
    with pytest.raises(RenderError):
        render_html(broken)


def _names_used(paths):
    env = environment()
    used, imported = set(), set()
    for path in paths:
        tree = env.parse(path.read_text())
        used |= meta.find_undeclared_variables(tree)
        imported |= {name[1] if isinstance(name, tuple) else name
                     for node in tree.find_all(nodes.FromImport) for name in node.names}
    return used - imported


@pytest.mark.parametrize("context, templates", [
    ("ReportContext", ["report.html.j2", "base.html.j2", "page.html.j2", "_*.html.j2"]),
    ("CompareContext", ["compare.html.j2", "page.html.j2"]),
    ("HistoryContext", ["history.html.j2", "page.html.j2"]),
])
def test_every_template_context_is_documented_and_used_exactly(context, templates):
    """Every context field has help text, and its templates use exactly those names (datasette's idea)."""
    from report.render import comparison
    from report.render import context as report_context

    cls = getattr(report_context, context, None) or getattr(comparison, context)
    fields = {f.name for f in dataclasses.fields(cls)}
    assert all(f.metadata.get("help") for f in dataclasses.fields(cls))
    paths = [p for pattern in templates for p in TEMPLATE_DIR.glob(pattern)]
    # report.html.j2's loop variable and each section's view, seen by the partials
    loop_variables = {"s", "view"} if context == "ReportContext" else set()
    assert _names_used(paths) - loop_variables == fields


@pytest.mark.slow  # three PDF worker processes
def test_pdf_fetcher_refuses_files_outside_the_build_folder_and_the_network(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("top secret")
    build = tmp_path / "build"
    build.mkdir()
    for url in (f"file://{secret}", "http://169.254.169.254/latest", "../secret.txt"):
        html = f'<html><body><img src="{url}"><link rel="attachment" href="{url}"></body></html>'
        with pytest.raises(RenderError, match="refused|outside"):
            render_pdf(html, build)


def test_missing_image_fails_the_pdf(tmp_path):
    html = '<html><body><img src="stores/none.png"></body></html>'
    with pytest.raises(RenderError, match="missing resource"):
        render_pdf(html, tmp_path)


def test_pdf_from_the_synthetic_store_holds_its_numbers(synthetic_build):
    from pypdf import PdfReader

    reader = PdfReader(synthetic_build / "report.pdf")  # the synthetic store rendered to HTML and PDF
    text = " ".join(page.extract_text() for page in reader.pages)
    assert "283" in text and "TinyCNN" in text
    assert "Page 1 of" in text
    assert reader.metadata.title.startswith("TinyCNN")


def test_failed_render_keeps_the_previous_report(synthetic_build, tmp_path):
    store = copy_build(synthetic_build, tmp_path)  # the synthetic store rendered to HTML and PDF
    outputs = [tmp_path / "report.html", tmp_path / "report.pdf"]
    before = [p.read_bytes() for p in outputs]
    (store / "images" / "input.png").unlink()
    with pytest.raises(RenderError, match="missing resource"):  # past the store check: the PDF writer fails
        pipeline.render(pipeline.RenderPlan(tmp_path, store, ("html", "pdf"), force=True, verified=True))
    assert [p.read_bytes() for p in outputs] == before


def test_unchanged_inputs_are_not_rendered_again(tmp_path):
    store = write_store(tmp_path / "stores")
    _, first = pipeline.render(pipeline.RenderPlan(tmp_path, store, ("html",)))
    _, second = pipeline.render(pipeline.RenderPlan(tmp_path, store, ("html",)))
    assert first and not second

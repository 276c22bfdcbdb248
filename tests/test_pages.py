"""A PDF without holes (issue 13): every page but the last at least half full, no caption on another page than
its table or figure, a table too long for the page it starts on continued with its header repeated; and on a
390 px screen, wide figures and tables scroll inside their own box with a visible hint instead of shrinking
out of reach. The pages are measured from WeasyPrint's layout (tests/pagefill.py), checked against the PDF."""

from __future__ import annotations

import copy
import shutil

import numpy as np
import pagefill
import pytest
import synthetic

from analysis.figures import images
from report import pipeline

LONG_TABLE_LAYERS = 80  # parameter rows: more than one page holds


def _realistic_store(stores_dir):
    """The synthetic store with a parameters table longer than a page; its pictures (8×8 pixels in the synthetic
    store) are made 700×520, the size of the real report's plots and activation-map grids, by the caller."""
    docs = synthetic.documents()
    parameters = docs["model.json"]["parameters"]
    for i in range(LONG_TABLE_LAYERS):
        layer = copy.deepcopy(parameters["layers"][0])
        layer["name"] = f"block{i}.conv"
        parameters["layers"].append(layer)
    total = sum(layer["total"] for layer in parameters["layers"])
    parameters.update(total=total, trainable=total, bytes_float32=4 * total)
    return synthetic.write_store(stores_dir, docs)


@pytest.mark.slow  # a PDF laid out by a worker process
def test_synthetic_report_has_no_holes_and_keeps_captions_and_headers(tmp_path, monkeypatch):
    picture = images.png_bytes(np.full((520, 700, 3), 128, dtype=np.uint8))
    monkeypatch.setattr(synthetic, "_png", lambda height=8, width=8: picture)
    store = _realistic_store(tmp_path / "stores")
    pipeline.render(pipeline.RenderPlan(tmp_path, store, ("html",)))
    document = pagefill.layout(tmp_path)
    fills = pagefill.page_fills(document)
    assert len(fills) >= 8
    assert pagefill.holes(fills) == [], f"pages less than half full (page, fill): {fills}"
    assert pagefill.separated_captions(document) == []
    assert pagefill.stranded_headings(document) == []
    # The long table starts on the page its section starts on and continues with its header rows repeated.
    (parameters,) = [pages for caption, pages in pagefill.table_pages(document).items()
                     if caption.startswith("Parameters per layer")]
    assert len(parameters) >= 2 and fills[parameters[0] - 1] > 0.9
    assert pagefill.headless_continuations(document) == []


def test_default_report_pdf_has_no_holes(default_build):
    out = default_build[0]
    document = pagefill.layout(out)
    fills = pagefill.page_fills(document)
    assert pagefill.holes(fills) == [], f"pages less than half full (page, fill): {fills}"
    assert pagefill.separated_captions(document) == []
    assert pagefill.headless_continuations(document) == []
    assert pagefill.stranded_headings(document) == []
    # the same pages, measured in the PDF itself
    in_pdf = pagefill.pdf_page_fills(out / "report.pdf")
    assert len(in_pdf) == len(fills)
    assert max(abs(a - b) for a, b in zip(fills, in_pdf)) < 0.03, (fills, in_pdf)


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium)")
def test_wide_figures_and_tables_scroll_with_a_hint_at_390_px(default_build):
    from playwright.sync_api import sync_playwright
    from test_browser import ARGS

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            seen = {}
            for width in (390, 1280):
                page = browser.new_page(viewport={"width": width, "height": 900})
                page.goto((default_build[0] / "report.html").as_uri(), wait_until="load")
                seen[width] = page.evaluate("""() => {
                  const box = e => e.getBoundingClientRect();
                  const wide = Array.from(document.querySelectorAll("figure.maps, figure.plot")).map(f => ({
                    image: box(f.querySelector(":scope > img")).width, scrolls: f.scrollWidth > f.clientWidth + 1,
                    overflow: getComputedStyle(f).overflowX,
                    hint: getComputedStyle(f, "::before").content,
                    caption: box(f.querySelector("figcaption")).right}));
                  const tables = Array.from(document.querySelectorAll("table"))
                    .filter(t => t.scrollWidth > t.clientWidth + 1)
                    .map(t => ({overflow: getComputedStyle(t).overflowX, shadow: getComputedStyle(t).backgroundImage}));
                  return {wide, tables, page: document.documentElement.scrollWidth};
                }""")
                page.close()
        finally:
            browser.close()
    narrow, desktop = seen[390], seen[1280]
    assert narrow["page"] <= 391 and len(narrow["wide"]) >= 10
    for figure in narrow["wide"]:  # shown at a readable size, scrolled in place, a line saying so
        assert figure["image"] >= 600 and figure["scrolls"] and figure["overflow"] == "auto", figure
        assert "scroll" in figure["hint"] and figure["caption"] <= 391, figure
    assert narrow["tables"] and all(t["overflow"] == "auto" and "gradient" in t["shadow"] for t in narrow["tables"])
    assert all(not f["scrolls"] and f["hint"] in ("none", "normal") for f in desktop["wide"])
    assert desktop["tables"] == []

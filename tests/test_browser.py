"""The HTML report in a real browser: headless Chromium driven by Playwright.

Skipped, with the reason, only where Chromium is not installed (`.ci/run` installs Debian's package).
Screenshots land in the test's build folder, or in $SCREENSHOTS for people to look at.
"""

import os
import shutil
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium)")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield instance
        instance.close()


def open_report(browser, html: Path, width: int):
    page = browser.new_page(viewport={"width": width, "height": 900})
    problems = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("requestfailed", lambda request: problems.append(f"failed: {request.url}"))
    page.goto(html.as_uri(), wait_until="load")
    return page, problems


@pytest.mark.parametrize("width", [1280, 390])
def test_report_in_chromium(browser, default_build, width):
    out, _ = default_build
    page, problems = open_report(browser, out / "report.html", width)
    images = page.eval_on_selector_all("img", "els => els.map(e => [e.getAttribute('src'), e.complete, "
                                              "e.naturalWidth, e.getAttribute('alt')])")
    assert len(images) > 30
    broken = [src for src, complete, natural, _ in images if not complete or natural == 0]
    assert broken == []
    assert all(alt for *_, alt in images)
    anchors = page.eval_on_selector_all("nav.toc a", "els => els.map(a => a.getAttribute('href'))")
    assert len(anchors) == 14  # every section of the default report
    for href in anchors:
        assert page.query_selector(href) is not None, href
    page.click("nav.toc a[href='#distances']")
    assert page.evaluate("location.hash") == "#distances"
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= width + 1, f"the page scrolls sideways at {width} px ({scroll_width} px wide)"
    shots = Path(os.environ.get("SCREENSHOTS", out))  # never the repository's own build/
    shots.mkdir(parents=True, exist_ok=True)
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(shots / f"screenshot-{width}.png"))
    assert problems == []
    page.close()


def test_tables_sort_by_the_clicked_column(browser, default_build):
    page, problems = open_report(browser, default_build[0] / "report.html", 1280)
    table = "#accuracy table.sortable"
    headings = page.eval_on_selector_all(f"{table} thead th", "els => els.map(e => e.textContent.trim())")
    column = headings.index("Recall")  # a class's accuracy: the share of its images classified correctly

    def shown(index=None):
        script = f"rows => rows.map(r => r.cells[{column if index is None else index}].textContent)"
        return page.eval_on_selector_all(f"{table} tbody tr", script)

    original = shown()
    values = lambda rows: [float(text.rstrip("%")) for text in rows]  # noqa: E731
    page.click(f"{table} thead th:nth-child({column + 1})")
    assert values(shown()) == sorted(values(original))
    assert page.get_attribute(f"{table} thead th:nth-child({column + 1})", "aria-sort") == "ascending"
    page.focus(f"{table} thead th:nth-child({column + 1})")
    page.keyboard.press("Enter")
    assert values(shown()) == sorted(values(original), reverse=True)
    page.click(f"{table} thead th:nth-child(1)")
    classes = [int(c) for c in shown(0)]
    assert classes == sorted(classes) and len(classes) == 10
    assert len(page.query_selector_all("table.sortable")) >= 4 and problems == []
    page.close()


def test_single_file_report_shows_every_image_on_its_own(browser, single_file_build, tmp_path):
    alone = tmp_path / "elsewhere" / "report.html"
    alone.parent.mkdir()
    shutil.copy(single_file_build / "report.html", alone)
    page, problems = open_report(browser, alone, 1280)
    loaded = page.eval_on_selector_all("img", "els => els.map(e => e.complete && e.naturalWidth > 0)")
    assert len(loaded) > 30 and all(loaded)
    assert page.evaluate("getComputedStyle(document.querySelector('main h2')).borderBottomStyle") == "solid"
    assert problems == []
    page.close()

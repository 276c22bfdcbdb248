"""How the report reads: sections picked by name, a self-contained HTML file, progress only on a terminal,
and a PDF whose tables and figures are never split across pages and whose fonts are all embedded."""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import pty
import re
import shutil
import struct
import subprocess
import sys
import termios

import pytest
from conftest import ROOT, run_cli, run_main
from pypdf import PdfReader

from report.cli import parser
from report.render.sections import ALL, GROUPS, needs_whole_split, parse_sections

ASSIGNMENT_TITLES = ["Parameters", "Shape trace", "Kernels", "Activation maps", "Embeddings", "Embedding distances",
                     "Provenance"]


def outline_titles(pdf) -> list[str]:
    return [item.title.split(" ", 1)[1] for item in PdfReader(pdf).outline[1:] if not isinstance(item, list)]


def test_section_names_and_groups_resolve_in_report_order():
    assert parse_sections("assignment") == (*GROUPS["assignment"], "provenance")
    assert parse_sections("distances, kernels") == ("kernels", "distances", "provenance")
    assert parse_sections("all") == ALL
    assert not needs_whole_split(parse_sections("assignment")) and needs_whole_split(parse_sections("map"))
    with pytest.raises(ValueError, match="unknown section 'kernel'.*assignment.*kernels"):
        parse_sections("kernel")


def test_assignment_sections_skip_the_whole_split_pass(assignment_build, tmp_path):
    """The session's `--checkpoint <default> --sections assignment` build, on a copy (a render is refused in it)."""
    shutil.copytree(assignment_build, tmp_path, dirs_exist_ok=True)
    assert (tmp_path / "report.pdf").is_file()
    (store,) = (tmp_path / "stores").iterdir()
    assert not (store / "separation.json").exists() and (store / "embeddings.json").is_file()
    assert json.loads((store / "manifest.json").read_text())["inputs"]["config"]["whole_split"] is False
    assert outline_titles(tmp_path / "report.pdf") == ASSIGNMENT_TITLES
    html = (tmp_path / "report.html").read_text()
    assert 'id="accuracy"' not in html and 'id="separation"' not in html and "232,650" in html
    refused = run_cli("render", "--out", str(tmp_path), "--sections", "map")
    assert refused.returncode == 2 and "has no whole-split results" in refused.stderr
    assert "--sections map,provenance" in refused.stderr
    assert outline_titles(tmp_path / "report.pdf") == ASSIGNMENT_TITLES  # the report is untouched


def test_a_store_with_the_whole_split_also_serves_fewer_sections(default_build, default_checkpoint, tmp_path):
    out = tmp_path / "build"
    shutil.copytree(default_build[0] / "stores", out / "stores")
    shutil.copy(default_build[0] / "current-store.txt", out)  # a build folder of an earlier version: adopted
    result = run_cli("--checkpoint", str(default_checkpoint), "--out", str(out), "--sections", "kernels,map")
    assert result.returncode == 0, result.stderr
    assert "analys" not in result.stdout and "rendered" in result.stdout
    assert outline_titles(out / "report.pdf") == ["Kernels", "Map of the embedding", "Provenance"]


def test_an_unknown_section_is_one_line_naming_the_choices(tmp_path):
    result = run_main("--out", str(tmp_path), "--sections", "assignment,kernal")
    assert result.returncode == 2 and "unknown section 'kernal'" in result.stderr
    assert "kernels" in result.stderr and not (tmp_path / "report.html").exists()


def test_single_file_html_needs_nothing_beside_it(default_build, single_file_build):
    html = (single_file_build / "report.html").read_text()
    sources = re.findall(r'<img src="([^"]+)"', html)
    assert len(sources) > 30 and all(s.startswith("data:image/png;base64,") for s in sources)
    assert "<link" not in html and "<style>" in html and "@page" in html
    separate = (default_build[0] / "report.html").read_text()
    assert len(re.findall(r"<img ", separate)) == len(sources)


def test_progress_bars_show_on_a_terminal_only(default_build, tmp_path):
    out = tmp_path / "build"
    shutil.copytree(default_build[0], out)
    piped = run_cli("render", "--out", str(out), "--force", "--format", "html")
    assert piped.returncode == 0 and "rendering" not in piped.stderr and "\r" not in piped.stderr
    quiet = run_cli("render", "--out", str(out), "--force", "--format", "html", "--quiet")
    assert quiet.returncode == 0 and quiet.stdout == "" and quiet.stderr == ""
    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a 100-column terminal
    done = subprocess.run([sys.executable, "-m", "report", "render", "--out", str(out), "--force", "--format", "html"],
                          cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=terminal, timeout=120,
                          env={**os.environ, "SOURCE_DATE_EPOCH": "1764000000"})
    os.close(terminal)
    shown = b""
    while True:
        try:
            chunk = os.read(controller, 4096)
        except OSError:
            break
        if not chunk:
            break
        shown += chunk
    os.close(controller)
    assert done.returncode == 0 and b"rendering" in shown


def test_no_table_or_figure_is_split_across_pages(default_build):
    from weasyprint import HTML

    from report.render.pdfworker import build_folder_fetcher

    out = default_build[0]
    document = HTML(filename=str(out / "report.html"), url_fetcher=build_folder_fetcher(out)).render()
    pages_of: dict[int, tuple[str, set[int]]] = {}
    for number, page in enumerate(document.pages, start=1):
        for box in page._page_box.descendants():
            if box.element_tag in ("table", "figure"):
                caption = " ".join(box.element.itertext()).strip()[:60]
                pages_of.setdefault(id(box.element), (caption, set()))[1].add(number)
    split = [(caption, sorted(pages)) for caption, pages in pages_of.values() if len(pages) > 1]
    assert len(pages_of) > 40 and split == []


def test_every_pdf_font_is_embedded(default_build):
    fonts = {}
    for page in PdfReader(default_build[0] / "report.pdf").pages:
        for font in page["/Resources"]["/Font"].values():
            font = font.get_object()
            described = font["/DescendantFonts"][0].get_object() if "/DescendantFonts" in font else font
            fonts[font["/BaseFont"]] = described["/FontDescriptor"].get_object()
    assert len(fonts) >= 3
    assert all({"/FontFile", "/FontFile2", "/FontFile3"} & set(d.keys()) for d in fonts.values())


def test_readme_documents_every_option_of_every_command():
    readme = (ROOT / "README.md").read_text()
    commands = next(a for a in parser()._actions if isinstance(a, argparse._SubParsersAction)).choices
    missing = {(name, option) for name, command in commands.items() for action in command._actions
               for option in action.option_strings if option.startswith("--") and option != "--help"
               and f"`{option}" not in readme}
    assert len(commands) == 8 and missing == set()

"""A report pair is never mixed (issue 29): outputs of the formats a build does not write are removed in the
same publish step when they show anything else than this build, kept when they show the same."""

from __future__ import annotations

import copy
import json

import pytest
from conftest import copy_build
from synthetic import documents, write_store

from report import pipeline
from report.buildfolder import JOURNAL, prepare, publish, recover


def two_stores(out):
    first = write_store(out / "stores", key="first")
    docs = copy.deepcopy(documents())
    docs["evaluation.json"].update(correct=29, accuracy=29 / 30)
    return first, write_store(out / "stores", docs, key="second")


def test_html_of_another_store_removes_the_pdf_of_the_last_one(synthetic_build, tmp_path):
    out = tmp_path / "out"
    copy_build(synthetic_build, out)  # a build folder whose HTML and PDF show the synthetic store
    _, second = two_stores(out)
    assert (out / "report.pdf").is_file()
    pipeline.render(pipeline.RenderPlan(out, second, ("html",)))
    assert (out / "report.html").is_file() and not (out / "report.pdf").exists()
    assert json.loads((out / "render.json").read_text())["documents"].keys() == {"html"}


@pytest.mark.slow  # a PDF laid out by a worker process
def test_a_document_showing_the_same_store_is_kept(tmp_path):
    """`make html` after `make report`: the PDF of the same store and sections stays (it is not stale)."""
    out = prepare(tmp_path / "out")
    first, _ = two_stores(out)
    pipeline.render(pipeline.RenderPlan(out, first, ("html", "pdf")))
    pdf = (out / "report.pdf").read_bytes()
    pipeline.render(pipeline.RenderPlan(out, first, ("html",), single_file=True))
    assert (out / "report.pdf").read_bytes() == pdf
    assert json.loads((out / "render.json").read_text())["documents"].keys() == {"html", "pdf"}
    pipeline.render(pipeline.RenderPlan(out, first, ("html",), sections=("parameters", "shapes")))
    assert not (out / "report.pdf").exists()  # other sections: the PDF shows more than this build


def test_removals_are_journaled_with_the_renames(tmp_path):
    """A run killed between the renames and the removals is completed by the next run."""
    out = prepare(tmp_path / "out")
    (out / "report.pdf").write_bytes(b"old pdf")
    (out / "notes.txt").write_bytes(b"user")
    (out / JOURNAL).write_text(json.dumps({"renames": [], "removes": ["report.pdf"]}))
    assert recover(out, log=lambda m: None)
    assert not (out / "report.pdf").exists() and (out / "notes.txt").is_file()
    (out / JOURNAL).write_text(json.dumps({"renames": [], "removes": ["notes.txt"]}))  # not an output of ours
    messages = []
    recover(out, log=messages.append)
    assert (out / "notes.txt").is_file() and "damaged" in messages[0]


def test_only_the_tools_documents_can_be_removed_as_stale(tmp_path):
    out = prepare(tmp_path / "out")
    (out / "mine.html").write_text("user")
    try:
        publish(out, {out / "report.html": b"x"}, remove=[out / "mine.html"])
    except ValueError:
        pass
    else:
        raise AssertionError("a file that is not an output of the tool was accepted for removal")
    assert (out / "mine.html").is_file() and not (out / "report.html").exists()


def test_tables_of_sections_left_out_are_removed_with_the_publish(tmp_path):
    out = prepare(tmp_path / "out")
    first, second = two_stores(out)
    pipeline.render(pipeline.RenderPlan(out, first, ("html",)))
    every = {p.name for p in (out / "tables").iterdir()}
    assert {"kernels.csv", "class_accuracy.csv", "parameters.csv"} <= every
    pipeline.render(pipeline.RenderPlan(out, second, ("html",), sections=("parameters",)))
    now = {p.name for p in (out / "tables").iterdir()}
    index = (out / "tables" / "index.csv").read_text()
    assert "kernels.csv" not in now and "class_accuracy.csv" not in now and "parameters.csv" in now
    assert all(name in index for name in now if name != "index.csv"), "a table not listed in index.csv was left"
    (out / "tables" / "mine.csv").write_text("a\n")
    pipeline.render(pipeline.RenderPlan(out, first, ("html",)))
    assert (out / "tables" / "mine.csv").read_text() == "a\n"


def test_a_stale_document_goes_only_when_its_content_is_the_tools(tmp_path):
    """The name alone does not make a file the tool's: a user's notes saved as report.pdf stay."""
    out = prepare(tmp_path / "out")
    (out / "report.pdf").write_text("my notes, not a PDF")
    publish(out, {out / "report.html": b"x"}, remove=[out / "report.pdf"])
    assert (out / "report.pdf").read_text() == "my notes, not a PDF"
    (out / "report.pdf").write_bytes(b"%PDF-1.7 written by the tool")
    publish(out, {out / "report.html": b"y"}, remove=[out / "report.pdf"])
    assert not (out / "report.pdf").exists()

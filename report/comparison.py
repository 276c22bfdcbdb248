"""The compare report (two checkpoints side by side) and the history report (a series of checkpoints)."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from analysis.store import dumps
from report.buildfolder import publish
from report.context import PageContext, field, page_dates
from report.findings import Findings
from report.interpret import Note
from report.interpret.changes import history_notes
from report.interpret.changes import run as change_notes
from report.load import load_findings, read_document
from report.render import render_documents


@dataclasses.dataclass(frozen=True)
class CompareContext(PageContext):
    a: Findings = field("everything read from checkpoint A's store")
    b: Findings = field("everything read from checkpoint B's store")
    a_url: str = field("A's store, relative to the HTML file")
    b_url: str = field("B's store, relative to the HTML file")
    compare_url: str = field("the comparison store (drift plot), relative to the HTML file")
    doc: dict = field("compare.json: per-tensor drift and the files compared")
    notes: list[Note] = field("what changed, as sentences")


@dataclasses.dataclass(frozen=True)
class HistoryContext(PageContext):
    series_url: str = field("the history store (plots), relative to the HTML file")
    doc: dict = field("history.json: one summary row per checkpoint, in series order")
    notes: list[Note] = field("trends over the series, as sentences")


def render_compare(out: Path, store_a: Path, store_b: Path, compare_dir: Path, formats) -> list[Path]:
    a, b = load_findings(store_a), load_findings(store_b)
    doc = read_document(compare_dir, "compare.json")
    notes = change_notes(a, b, doc)
    context = CompareContext(
        title=f"{a.model_class}: {doc['a']['file']} against {doc['b']['file']}", **page_dates(),
        stylesheet="assets/report.css", a=a, b=b,
        a_url=os.path.relpath(store_a, out), b_url=os.path.relpath(store_b, out),
        compare_url=os.path.relpath(compare_dir, out), doc=doc, notes=notes)
    return _publish(out, "compare", "compare.html.j2", context, notes, formats)


def render_history(out: Path, series_dir: Path, formats) -> list[Path]:
    doc = read_document(series_dir, "history.json")
    notes = history_notes(doc)
    context = HistoryContext(
        title=f"History of {len(doc['rows'])} checkpoints", **page_dates(), stylesheet="assets/report.css", series_url=os.path.relpath(series_dir, out), doc=doc, notes=notes)
    return _publish(out, "history", "history.html.j2", context, notes, formats)


def _publish(out: Path, stem: str, template: str, context, notes: list[Note], formats) -> list[Path]:
    """The documents and their notes, replaced together."""
    documents = render_documents(out, stem, template, context, formats)
    documents[out / f"{stem}-notes.json"] = dumps({"notes": [dataclasses.asdict(n) for n in notes]})
    publish(out, documents)
    return [out / f"{stem}.{kind}" for kind in formats]

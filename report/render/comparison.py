"""The compare report (two checkpoints side by side) and the history report (a series of checkpoints).

Each returns the bytes of its documents and notes; the caller publishes them (``report.buildfolder.publish``)."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from analysis.store.writer import dumps
from report.render.context import PageContext, page_dates
from report.render.documents import render_documents
from report.render.interpret import Note
from report.render.interpret.changes import history_notes
from report.render.interpret.changes import run as change_notes
from report.render.load import load_findings, read_document
from report.render.views import (
    CompareView,
    HistoryView,
    compare_view,
    field,
    history_view,
)
from report.render.views.compare_models import same_architecture, title


@dataclasses.dataclass(frozen=True)
class CompareContext(PageContext):
    view: CompareView = field("what the page shows, formatted (report.render.views.CompareView)")


@dataclasses.dataclass(frozen=True)
class HistoryContext(PageContext):
    view: HistoryView = field("what the page shows, formatted (report.render.views.HistoryView)")


def render_compare(out: Path, store_a: Path, store_b: Path, compare_dir: Path, formats) -> dict[Path, bytes]:
    a, b = load_findings(store_a), load_findings(store_b)
    doc = read_document(compare_dir, "compare.json")
    notes = change_notes(a, b, doc)
    # Each store's own images are shown (its kernels) for one architecture only, and drawn only then.
    a_url, b_url = ((os.path.relpath(a.images_dir, out), os.path.relpath(b.images_dir, out))
                    if same_architecture(a, b) else ("", ""))
    context = CompareContext(
        title=title(a, b, doc["a"]["file"], doc["b"]["file"]), **page_dates(), stylesheet="assets/report.css",
        view=compare_view(a, b, doc, notes, a_url=a_url, b_url=b_url, compare_url=os.path.relpath(compare_dir, out)))
    return _documents(out, "compare", "compare.html.j2", context, notes, formats)


def render_history(out: Path, series_dir: Path, formats) -> dict[Path, bytes]:
    doc = read_document(series_dir, "history.json")
    notes = history_notes(doc)
    context = HistoryContext(
        title=f"History of {len(doc['rows'])} checkpoints", **page_dates(), stylesheet="assets/report.css",
        view=history_view(doc, notes, series_url=os.path.relpath(series_dir, out)))
    return _documents(out, "history", "history.html.j2", context, notes, formats)


def _documents(out: Path, stem: str, template: str, context, notes: list[Note], formats) -> dict[Path, bytes]:
    """The documents and their notes, to be replaced together."""
    documents = render_documents(out, stem, template, context, formats)
    documents[out / f"{stem}-notes.json"] = dumps({"notes": [dataclasses.asdict(n) for n in notes]})
    return documents

"""The compare report (two checkpoints side by side) and the history report (a series of checkpoints)."""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path

from analysis.store import dumps, write_atomic
from report.context import creation_time, field
from report.findings import Findings
from report.interpret import Note
from report.interpret.changes import history_notes
from report.interpret.changes import run as change_notes
from report.load import load_findings, read_manifest, verify
from report.render import TEMPLATE_DIR, render_pdf, render_template


@dataclasses.dataclass(frozen=True)
class CompareContext:
    title: str = field("document title")
    generated: str = field("creation date shown to readers")
    created_iso: str = field("creation date for the PDF metadata")
    stylesheet: str = field("stylesheet path relative to the HTML file")
    a: Findings = field("everything read from checkpoint A's store")
    b: Findings = field("everything read from checkpoint B's store")
    a_url: str = field("A's store, relative to the HTML file")
    b_url: str = field("B's store, relative to the HTML file")
    compare_url: str = field("the comparison store (drift plot), relative to the HTML file")
    doc: dict = field("compare.json: per-tensor drift and the files compared")
    notes: list[Note] = field("what changed, as sentences")


@dataclasses.dataclass(frozen=True)
class HistoryContext:
    title: str = field("document title")
    generated: str = field("creation date shown to readers")
    created_iso: str = field("creation date for the PDF metadata")
    stylesheet: str = field("stylesheet path relative to the HTML file")
    series_url: str = field("the history store (plots), relative to the HTML file")
    doc: dict = field("history.json: one summary row per checkpoint, in series order")
    notes: list[Note] = field("trends over the series, as sentences")


def _dates() -> tuple[str, str]:
    created = creation_time()
    return (time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(created)),
            time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(created)))


def _read(store: Path, name: str) -> dict:
    verify(store, read_manifest(store), required=(name,))
    return json.loads((store / name).read_text())


def _write(out: Path, stem: str, template: str, context, formats: tuple[str, ...]) -> list[Path]:
    write_atomic(out / "assets" / "report.css", (TEMPLATE_DIR / "report.css").read_bytes())
    html = render_template(template, context)
    rendered = {"html": html.encode()}
    if "pdf" in formats:
        rendered["pdf"] = render_pdf(html, out)
    for fmt in formats:
        write_atomic(out / f"{stem}.{fmt}", rendered[fmt])
    return [out / f"{stem}.{fmt}" for fmt in formats]


def render_compare(out: Path, store_a: Path, store_b: Path, compare_dir: Path, formats) -> list[Path]:
    a, b = load_findings(store_a), load_findings(store_b)
    doc = _read(compare_dir, "compare.json")
    notes = change_notes(a, b, doc)
    generated, created_iso = _dates()
    context = CompareContext(
        title=f"{a.model_class}: {doc['a']['file']} against {doc['b']['file']}", generated=generated,
        created_iso=created_iso, stylesheet="assets/report.css", a=a, b=b,
        a_url=os.path.relpath(store_a, out), b_url=os.path.relpath(store_b, out),
        compare_url=os.path.relpath(compare_dir, out), doc=doc, notes=notes)
    write_atomic(out / "compare-notes.json", dumps({"notes": [dataclasses.asdict(n) for n in notes]}))
    return _write(out, "compare", "compare.html.j2", context, formats)


def render_history(out: Path, series_dir: Path, formats) -> list[Path]:
    doc = _read(series_dir, "history.json")
    notes = history_notes(doc)
    generated, created_iso = _dates()
    context = HistoryContext(
        title=f"History of {len(doc['rows'])} checkpoints", generated=generated, created_iso=created_iso,
        stylesheet="assets/report.css", series_url=os.path.relpath(series_dir, out), doc=doc, notes=notes)
    write_atomic(out / "history-notes.json", dumps({"notes": [dataclasses.asdict(n) for n in notes]}))
    return _write(out, "history", "history.html.j2", context, formats)

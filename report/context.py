"""What the templates receive: documented dataclasses, built from Findings and notes.

Every field carries ``help`` metadata; tests check that the template uses
exactly these names (the datasette idea of a documented template context).
"""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path

from report import fmt
from report.findings import Findings
from report.interpret import Note, by_section


def field(help_text: str, **kwargs):
    return dataclasses.field(metadata={"help": help_text}, **kwargs)


@dataclasses.dataclass(frozen=True)
class Section:
    id: str = field("anchor id, used by the table of contents")
    number: int = field("section number shown in headings")
    title: str = field("heading text")


@dataclasses.dataclass(frozen=True)
class Headline:
    label: str = field("what the number is")
    value: str = field("the number, formatted")


@dataclasses.dataclass(frozen=True)
class ReportContext:
    title: str = field("document title: model class and checkpoint file")
    generated: str = field("creation date (UTC) as shown to readers, from SOURCE_DATE_EPOCH when set")
    created_iso: str = field("the same instant in ISO 8601, for the PDF's creation-date metadata")
    stylesheet: str = field("path of the stylesheet, relative to the HTML file")
    store_url: str = field("path of the artifact store, relative to the HTML file")
    sections: list[Section] = field("numbered sections, in order, for headings and the table of contents")
    headlines: list[Headline] = field("headline numbers for the summary box")
    warnings: list[str] = field("problems a reader must see first; empty when none")
    notes: dict[str, list[Note]] = field("interpretation notes grouped by section id")
    key_findings: list[Note] = field("the notes repeated in the summary at the top, in KEY_RULES order")
    f: Findings = field("everything read from the store")


SECTIONS = (
    ("parameters", "Parameters"),
    ("shapes", "Shape trace"),
    ("kernels", "Kernels"),
    ("activations", "Activation maps"),
    ("embeddings", "Embeddings"),
    ("distances", "Embedding distances"),
    ("accuracy", "Accuracy"),
    ("provenance", "Provenance"),
)


KEY_RULES = ("accuracy.overall", "params.dominant", "maps.dead", "embeddings.compactness",
             "embeddings.separation", "embeddings.sample_size")


def key_findings(notes: list[Note]) -> list[Note]:
    chosen = []
    for rule in KEY_RULES:
        matching = [n for n in notes if n.rule == rule]
        if rule == "maps.dead":
            matching = [n for n in matching if n.branch == "some"]
        chosen.extend(matching)
    return chosen


def creation_time() -> float:
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    return float(epoch) if epoch and epoch.isdigit() else time.time()


def headlines(f: Findings) -> list[Headline]:
    mse = f.embeddings.distances.get("mse")
    items = [Headline("Parameters", fmt.integer(f.parameters.total)),
             Headline(f"Test accuracy ({fmt.integer(f.evaluation.n_test)} images)", fmt.percent(f.evaluation.accuracy))]
    if mse and mse.intra_mean and mse.inter_mean is not None:
        classes = "/".join(str(c) for c in f.embeddings.classes)
        items.append(Headline(f"Separation {classes} ({f.embeddings.layer}, MSE)",
                              fmt.ratio(mse.inter_mean / mse.intra_mean)))
    items.append(Headline("Checkpoint", f.provenance.checkpoint_sha256[:12]))
    return items


def warnings(f: Findings) -> list[str]:
    found = []
    if f.input_image.predicted != f.input_image.label:
        found.append(f"The activation-map input (a {f.input_image.label}) is misclassified as {f.input_image.predicted}.")
    return found


def build_context(f: Findings, notes: list[Note], build_dir: Path, stylesheet: str) -> ReportContext:
    created = creation_time()
    return ReportContext(
        title=f"{f.model_class} — {f.provenance.checkpoint_file}",
        generated=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(created)),
        created_iso=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(created)),
        stylesheet=stylesheet,
        store_url=os.path.relpath(f.store_dir, build_dir),
        sections=[Section(id, number, title) for number, (id, title) in enumerate(SECTIONS, start=1)],
        headlines=headlines(f),
        warnings=warnings(f),
        notes=by_section(notes),
        key_findings=key_findings(notes),
        f=f,
    )

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
    generated: str = field("creation date (UTC), from SOURCE_DATE_EPOCH when set")
    stylesheet: str = field("path of the stylesheet, relative to the HTML file")
    store_url: str = field("path of the artifact store, relative to the HTML file")
    sections: list[Section] = field("numbered sections, in order, for headings and the table of contents")
    headlines: list[Headline] = field("headline numbers for the summary box")
    warnings: list[str] = field("problems a reader must see first; empty when none")
    notes: dict[str, list[Note]] = field("interpretation notes grouped by section id")
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


def creation_time() -> float:
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    return float(epoch) if epoch and epoch.isdigit() else time.time()


def headlines(f: Findings) -> list[Headline]:
    mse = f.embeddings.distances.get("mse")
    items = [Headline("Parameters", fmt.integer(f.parameters.total)),
             Headline("Test accuracy", f"{fmt.percent(f.evaluation.accuracy)} of {fmt.integer(f.evaluation.n_test)}")]
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
    return ReportContext(
        title=f"{f.model_class} — {f.provenance.checkpoint_file}",
        generated=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(creation_time())),
        stylesheet=stylesheet,
        store_url=os.path.relpath(f.store_dir, build_dir),
        sections=[Section(id, number, title) for number, (id, title) in enumerate(SECTIONS, start=1)],
        headlines=headlines(f),
        warnings=warnings(f),
        notes=by_section(notes),
        f=f,
    )

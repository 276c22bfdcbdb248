"""What the templates receive: documented dataclasses, built from Findings and notes.

Every field carries ``help`` metadata; tests check that the template uses
exactly these names (the datasette idea of a documented template context).
"""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path

from report.render import fmt
from report.render.findings import Findings, TraceRow
from report.render.interpret import Note, by_section
from report.render.sections import ALL, BY_ID


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
class TraceGroup:
    name: str = field("top-level module the rows belong to")
    type: str = field("its class name")
    rows: list[TraceRow] = field("the trace rows of this module and everything inside it, in call order")
    collapsible: bool = field("true when the group is a container worth folding (more than one row)")


@dataclasses.dataclass(frozen=True)
class PageContext:
    """What every page template (report, compare, history) needs in its head."""

    title: str = field("document title")
    generated: str = field("creation date (UTC) as shown to readers, from SOURCE_DATE_EPOCH when set")
    created_iso: str = field("the same instant in ISO 8601, for the PDF's creation-date metadata")
    stylesheet: str = field("path of the stylesheet, relative to the HTML file")


@dataclasses.dataclass(frozen=True)
class ReportContext(PageContext):
    store_url: str = field("path of the artifact store, relative to the HTML file")
    sections: list[Section] = field("numbered sections, in order, for headings and the table of contents")
    headlines: list[Headline] = field("headline numbers for the summary box")
    warnings: list[str] = field("problems a reader must see first; empty when none")
    notes: dict[str, list[Note]] = field("interpretation notes grouped by section id")
    trace_groups: list[TraceGroup] = field("the shape trace split by top-level module, for folding in HTML")
    key_findings: list[Note] = field("the notes repeated in the summary at the top, in KEY_RULES order")
    f: Findings = field("everything read from the store")


KEY_RULES = ("accuracy.overall", "params.dominant", "maps.dead", "embeddings.compactness",
             "embeddings.separation", "embeddings.sample_size", "separation.two_sample", "separation.overall",
             "separation.depth")
KEY_DEAD_BRANCHES = ("some", "some-of-many")
KEY_DEAD_NOTES = 2


def key_findings(notes: list[Note]) -> list[Note]:
    chosen = []
    for rule in KEY_RULES:
        matching = [n for n in notes if n.rule == rule]
        if rule == "maps.dead":
            matching = [n for n in matching if n.branch in KEY_DEAD_BRANCHES][:KEY_DEAD_NOTES]
        chosen.extend(matching)
    return chosen


def trace_groups(f: Findings) -> list[TraceGroup]:
    """Consecutive rows under the same top-level module form one group."""
    groups: list[TraceGroup] = []
    for row in f.trace.rows:
        top = row.name.split(".")[0]
        if groups and groups[-1].name == top and row.depth > 1:
            groups[-1].rows.append(row)
        else:
            groups.append(TraceGroup(top, row.type, [row], False))
    return [dataclasses.replace(g, collapsible=len(g.rows) > 1) for g in groups]


def creation_time() -> float:
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    return float(epoch) if epoch and epoch.isdigit() else time.time()


def headlines(f: Findings) -> list[Headline]:
    mse = f.embeddings.distances.get("mse")
    items = [Headline("Parameters", fmt.integer(f.parameters.total)),
             Headline(f"Test accuracy ({fmt.integer(f.evaluation.n_test)} images)", fmt.percent(f.evaluation.accuracy))]
    if f.separation and f.separation.ratio:
        items.append(Headline(f"Separation, all classes ({f.separation.layer}, {f.separation.metric}; "
                              f"silhouette {fmt.number(f.separation.silhouette, 2)})", fmt.ratio(f.separation.ratio)))
    elif mse and mse.ratio is not None:
        classes = "/".join(f.class_name(c) for c in f.embeddings.classes)
        items.append(Headline(f"Separation {classes} ({f.embeddings.layer}, MSE)", fmt.ratio(mse.ratio)))
    items.append(Headline("Multiply-accumulates per image", fmt.count(f.trace.total_macs)))
    return items


def warnings(f: Findings) -> list[str]:
    found = []
    if f.non_finite:
        found.append(f"The checkpoint holds NaN or infinite values in {fmt.listing(f.non_finite)}: every number "
                     "computed from these layers onwards is unreliable; check the training run that saved it."
                     + (" The whole-split sections are left out: their statistics of non-finite embeddings would "
                        "be meaningless." if f.separation is None else ""))
    found.extend(f"{w[0].upper()}{w[1:]}." for w in f.evaluation.checkpoint_warnings if w)
    if f.weights != "checkpoint":
        found.append(f"No checkpoint: the weights are {f.weights}, so every number describes an untrained network.")
    classes = len(f.evaluation.class_names)
    if f.evaluation.outputs != classes:
        found.append(f"The model has {fmt.integer(f.evaluation.outputs)} outputs but the data has {classes} classes: "
                     "accuracy compares output index with class label.")
    if f.input_image.predicted != f.input_image.label:
        found.append(f"The activation-map input (a {f.class_name(f.input_image.label)}) is misclassified as "
                     f"{f.class_name(f.input_image.predicted)}.")
    return found


def page_dates() -> dict[str, str]:
    """The ``generated`` and ``created_iso`` fields of a PageContext, for one instant."""
    created = time.gmtime(creation_time())
    return {"generated": time.strftime("%Y-%m-%d %H:%M UTC", created),
            "created_iso": time.strftime("%Y-%m-%dT%H:%M:%SZ", created)}


def build_context(f: Findings, notes: list[Note], build_dir: Path, stylesheet: str,
                  chosen: tuple[str, ...] = ALL) -> ReportContext:
    """The report's context, with the ``chosen`` sections that the store can fill (the whole-split ones
    need its separation results)."""
    shown = [id for id in chosen if f.separation is not None or not BY_ID[id].whole_split]
    notes = [n for n in notes if n.section in shown]
    return ReportContext(
        title=f"{f.model_class} — {f.provenance.checkpoint_file}" if f.weights == "checkpoint"
        else f"{f.model_class} — {f.weights} weights",
        **page_dates(),
        stylesheet=stylesheet,
        store_url=os.path.relpath(f.store_dir, build_dir),
        sections=[Section(id, number, BY_ID[id].title) for number, id in enumerate(shown, start=1)],
        headlines=headlines(f),
        warnings=warnings(f),
        notes=by_section(notes),
        trace_groups=trace_groups(f),
        key_findings=key_findings(notes),
        f=f,
    )

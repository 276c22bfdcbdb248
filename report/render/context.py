"""What the page templates receive: documented dataclasses, built from Findings and notes.

Every field carries ``help`` metadata; tests check that the template uses
exactly these names (the datasette idea of a documented template context).
Each section's template gets its own view model (``report.render.views``), not the findings.
"""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path

from analysis.store.schema import PRIMARY_METRIC
from report.render.words import METRIC_NAMES
from report.render import environment, fmt
from report.render.alerts import alerts
from report.render.findings import Findings
from report.render.interpret import Note, by_section
from report.render.interpret.distances import ENOUGH_SAMPLES, silhouette_distance
from report.render.sections import REGISTRY, Registry
from report.render.views import Place, field

__all__ = ["Headline", "PageContext", "ReportContext", "Section", "build_context", "field", "page_dates"]


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
class PageContext:
    """What every page template (report, compare, history) needs in its head."""

    title: str = field("document title")
    generated: str = field("creation date (UTC) as shown to readers, from SOURCE_DATE_EPOCH when set")
    created_iso: str = field("the same instant in ISO 8601, for the PDF's creation-date metadata")
    stylesheet: str = field("path of the stylesheet, relative to the HTML file")


@dataclasses.dataclass(frozen=True)
class ReportContext(PageContext):
    model_class: str = field("the model's class name: the report's heading")
    model_source: str = field("where the model came from (module:Class, torchvision:name...)")
    input_shape: str = field("the model's input shape, without the batch dimension")
    checkpoint: str | None = field("the checkpoint's file name; None when the weights are not a checkpoint's")
    checkpoint_hash: str = field("the start of the checkpoint's sha256, shown beside its name")
    checkpoint_sha256: str = field("the checkpoint's sha256 in full, for the page's metadata (empty without one)")
    weights: str = field("which weights were used when there is no checkpoint")
    data_description: str = field("the data set, in words")
    code_version: str = field("the start of the analysis code's hash, for the page's metadata")
    sections: list[Section] = field("numbered sections, in order, for headings and the table of contents")
    headlines: list[Headline] = field("headline numbers for the summary box")
    warnings: list[str] = field("problems a reader must see first; empty when none")
    notes: dict[str, list[Note]] = field("interpretation notes grouped by section id")
    key_findings: list[Note] = field("the notes repeated in the summary at the top, in KEY_RULES order")
    views: dict[str, object] = field("section id -> that section's view model (report.render.views), for the "
                                     "sections shown; its template sees it as ``view``")


KEY_RULES = ("accuracy.overall", "params.dominant", "maps.dead", "embeddings.compactness",
             "embeddings.separation", "embeddings.sample_size", "separation.two_sample", "separation.overall",
             "separation.depth", "attribution.verdict")
KEY_DEAD_BRANCHES = ("some", "some-of-many")
KEY_DEAD_NOTES = 2
CHECKPOINT_HASH_SHOWN = 16  # hex digits of the checkpoint's sha256 in the title block
CODE_VERSION_META = 12      # hex digits of the code hash in the page's generator metadata


def key_findings(notes: list[Note]) -> list[Note]:
    chosen = []
    for rule in KEY_RULES:
        matching = [n for n in notes if n.rule == rule]
        if rule == "maps.dead":
            matching = [n for n in matching if n.branch in KEY_DEAD_BRANCHES][:KEY_DEAD_NOTES]
        chosen.extend(matching)
    return chosen


def creation_time() -> float:
    epoch = environment.source_date_epoch()
    return float(epoch) if epoch is not None else time.time()


def _accuracy(f: Findings) -> str:
    """The accuracy with its 95% Wilson interval where the store holds it."""
    quality = f.evaluation.quality
    if quality is None:
        return fmt.percent(f.evaluation.accuracy)
    return fmt.percent_ci(f.evaluation.accuracy, quality.accuracy.low, quality.accuracy.high)


def headlines(f: Findings) -> list[Headline]:
    primary = f.embeddings.distances.get(PRIMARY_METRIC) if f.embeddings else None
    items = [Headline("Parameters", fmt.integer(f.parameters.total)),
             Headline(f"Test accuracy ({fmt.integer(f.evaluation.n_test)} images)", _accuracy(f))]
    # issue 30: a ratio of MSEs is a ratio of squared distances: the headline gives the Euclidean one where it is
    # stored and names the MSE one as squared; a ratio from a few samples says so
    s = f.separation
    if s and s.ratio:
        euclidean = s.euclidean.ratio if s.euclidean is not None else None
        squared = " (a squared distance)" if s.metric == "mse" else ""
        named = (f"inter/intra Euclidean distance; {fmt.ratio(s.ratio)} in MSE, a squared distance" if euclidean else
                 f"inter/intra {METRIC_NAMES.get(s.metric, s.metric)}{squared}")
        silhouette = s.euclidean.silhouette if s.euclidean is not None else s.silhouette
        on = "Euclidean distance" if s.euclidean is not None else silhouette_distance(s.metric)
        items.append(Headline(f"Separation, all {fmt.integer(s.n)} test images ({s.layer}, {named}; silhouette "
                              f"{fmt.number(silhouette, 2)} on {on})", fmt.ratio(euclidean or s.ratio)))
    elif primary and primary.ratio is not None:
        classes = "/".join(f.class_name(c) for c in f.embeddings.classes)
        plain = f.embeddings.distances.get("euclidean")
        named = (f"inter/intra Euclidean distance; {fmt.ratio(primary.ratio)} in MSE, a squared distance"
                 if plain and plain.ratio else f"inter/intra {METRIC_NAMES[PRIMARY_METRIC]} (a squared distance)")
        anecdotal = ", anecdotal" if f.embeddings.per_class < ENOUGH_SAMPLES else ""
        items.append(Headline(f"Separation {classes}, {len(f.embeddings.samples)} samples{anecdotal} "
                              f"({f.embeddings.layer}, {named})", fmt.ratio(plain.ratio if plain and plain.ratio
                                                                            else primary.ratio)))
    items.append(Headline("Multiply-accumulates per image", fmt.count(f.trace.total_macs)))
    return items


def warnings(f: Findings) -> list[str]:
    """The alerts' sentences, most severe first (report.render.alerts)."""
    return [alert.text for alert in alerts(f)]


def page_dates() -> dict[str, str]:
    """The ``generated`` and ``created_iso`` fields of a PageContext, for one instant."""
    created = time.gmtime(creation_time())
    return {"generated": time.strftime("%Y-%m-%d %H:%M UTC", created),
            "created_iso": time.strftime("%Y-%m-%dT%H:%M:%SZ", created)}


def build_context(f: Findings, notes: list[Note], build_dir: Path, stylesheet: str,
                  chosen: tuple[str, ...] | None = None, registry: Registry = REGISTRY) -> ReportContext:
    """The report's context, with the ``chosen`` sections (default: all of the registry's) that the store can
    fill (the whole-split ones need its separation results)."""
    shown = [id for id in (registry.ids if chosen is None else chosen) if registry.available(f, id)]
    notes = [n for n in notes if n.section in shown]
    sections = [Section(id, number, registry.by_id[id].title) for number, id in enumerate(shown, start=1)]
    place = Place(store_url=os.path.relpath(f.images_dir, build_dir), numbers={s.id: s.number for s in sections},
                  store_folder=os.path.relpath(f.store_dir, build_dir))
    has_checkpoint = f.weights == "checkpoint"
    return ReportContext(
        title=f"{f.model_class} — {f.provenance.checkpoint_file}" if has_checkpoint
        else f"{f.model_class} — {f.weights} weights",
        **page_dates(),
        stylesheet=stylesheet,
        model_class=f.model_class,
        model_source=f.model_source,
        input_shape=fmt.shape(f.input_shape),
        checkpoint=f.provenance.checkpoint_file if has_checkpoint else None,
        checkpoint_hash=f.provenance.checkpoint_sha256[:CHECKPOINT_HASH_SHOWN],
        checkpoint_sha256=f.provenance.checkpoint_sha256,
        weights=f.weights,
        data_description=f.provenance.data_description,
        code_version=f.provenance.code_version[:CODE_VERSION_META],
        sections=sections,
        headlines=headlines(f),
        warnings=warnings(f),
        notes=by_section(notes),
        key_findings=key_findings(notes),
        views=registry.views(f, place, shown),
    )

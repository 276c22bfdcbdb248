"""A section that is not the report's, written as a new one would be: one module holding its view model, its
rule, its table and its ``SECTION`` declaration, and one template (fixtures/templates/_samples_seen.html.j2).
tests/test_section_registry.py registers it beside the report's own sections and renders it."""

from __future__ import annotations

import dataclasses

from report.render import fmt
from report.render.findings import Findings
from report.render.interpret import Note
from report.render.rows import Table
from report.render.sections import Section
from report.render.views import Place, field


@dataclasses.dataclass(frozen=True)
class SamplesSeenView:
    count: str = field("how many sample images were embedded, formatted")
    labels: list[str] = field("the class of each sample image, in order")


def samples_seen_view(f: Findings, place: Place) -> SamplesSeenView:
    return SamplesSeenView(count=fmt.integer(len(f.embeddings.samples)),
                           labels=[f.class_name(s.label) for s in f.embeddings.samples])


def sample_count(f: Findings) -> Note:
    n = len(f.embeddings.samples)
    return Note("samples_seen.count", "counted", "samples_seen", f"The sections above embed {n} sample images.",
                {"samples": n})


def samples_table(f: Findings) -> Table | None:
    return Table("samples_seen", "The sample images and their classes", "samples_seen", ("index", "label"),
                 [(s.index, s.label) for s in f.embeddings.samples])


SECTION = Section(
    id="samples_seen", title="Samples seen", order=65, needs=("samples",),
    view=samples_seen_view,
    rules=(sample_count,),
    tables={"samples_seen": samples_table},
)

"""The report's sections: one module each in this package, holding ``SECTION = Section(...)`` (section.py), and
the registry that derives everything else from them:

- the command line's ``--sections``: the ids, the groups, parsing (``ALL``, ``GROUPS``, ``parse_sections``);
- the analysis a section list asks for (``analysis_parts``) and what a re-rendering lacks (``lacking``);
- which sections a store can fill (``available``), which rules run and in which order (``RULES``, ``run_rules``);
- each section's view model (``SECTION_VIEWS``, ``section_views``) and tables (``report_tables``, and through
  report.render.tables the table files that ``clean`` recognises);
- the README's table of sections (``readme_table``; tests/test_section_registry.py checks the README has it).

Adding a section is a module here and its template ``templates/_<id>.html.j2`` (and, when it shows new
numbers, their record in the store's schema with the analysis that writes them): ARCHITECTURE.md's recipe.
This package imports the rules, views and tables it declares; none of them imports it (no import cycle).
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
from collections.abc import Iterable
from pathlib import Path

from analysis.store.schema import FIGURE_GROUPS
from report.render.findings import Findings
from report.render.interpret import accuracy as accuracy_rules
from report.render.interpret import activations as activations_rules
from report.render.interpret import embeddings as embeddings_rules
from report.render.interpret import params as params_rules
from report.render.interpret import separation as separation_rules
from report.render.interpret import shapes as shapes_rules
from report.render.interpret.notes import Note
from report.render.load import has_document
from report.render.rows import Table
from report.render.sections.section import PART_BY_NAME, PARTS, Part, Section
from report.render.views.common import Place

TYPES_MODULE = "section"  # the one module of this package that is not a section

# notes.json lists the notes of these rules in this order, as it did before sections were modules (its bytes
# are kept): the sampled distances' first rules before the embeddings' own, the filters' before the errors'.
# Rules not listed here (those added since) follow them, in section order.
NOTES_ORDER = (
    params_rules.total, params_rules.dominant_layer, params_rules.conv_versus_dense, params_rules.unused,
    shapes_rules.steps, shapes_rules.batch, shapes_rules.gaps, shapes_rules.macs, shapes_rules.output,
    activations_rules.kernels, activations_rules.input_prediction, activations_rules.dead_maps,
    activations_rules.pooling_keeps_peak,
    embeddings_rules.compactness, embeddings_rules.separation, embeddings_rules.sample_size,
    embeddings_rules.metrics_agree, embeddings_rules.zero_dimensions, embeddings_rules.sample_predictions,
    embeddings_rules.course_report,
    accuracy_rules.overall, accuracy_rules.class_comparison, accuracy_rules.prediction_spread,
    accuracy_rules.calibration, accuracy_rules.training, accuracy_rules.non_finite,
    separation_rules.overall, separation_rules.compactness, separation_rules.closest_pair,
    separation_rules.two_sample_check, separation_rules.depth, separation_rules.dead_filters, separation_rules.errors,
)


class Registry:
    """Sections in report order, and everything derived from their declarations."""

    def __init__(self, sections: Iterable[Section]):
        self.sections = tuple(sorted(sections, key=lambda s: s.order))
        _check(self.sections)
        self.by_id = {s.id: s for s in self.sections}
        self.ids = tuple(self.by_id)
        self.always = tuple(s.id for s in self.sections if s.always)
        self.groups = {"all": self.ids, **self._declared_groups(),
                       "whole-split": tuple(s.id for s in self.sections if s.whole_split)}
        self.owner = {rule: s for s in self.sections for rule in s.rules}  # rule -> the section showing its notes
        in_order = [rule for s in self.sections for rule in s.rules]
        listed = {rule: place for place, rule in enumerate(NOTES_ORDER)}
        self.rules = tuple(sorted(in_order, key=lambda rule: listed.get(rule, len(NOTES_ORDER))))
        self.table_ids = tuple(id for s in self.sections for id in s.tables)
        self.table_builders = tuple(builder for s in self.sections for builder in s.tables.values())
        named_twice = set(self.groups) & set(self.ids)
        if named_twice:
            raise ValueError(f"section {sorted(named_twice)[0]!r}: its id is the name of a group of --sections")

    @functools.cached_property
    def section_views(self) -> dict[str, tuple[type, object]]:
        """Section id -> (its view model, the builder)."""
        return {s.id: (s.view_type, s.view) for s in self.sections}

    def _declared_groups(self) -> dict[str, tuple[str, ...]]:
        names = dict.fromkeys(group for s in self.sections for group in s.groups)
        return {name: tuple(s.id for s in self.sections if name in s.groups) for name in names}

    def parse(self, text: str) -> tuple[str, ...]:
        """Comma-separated section ids and group names -> section ids in report order (with those always shown)."""
        wanted = set(self.always)
        for name in (part.strip() for part in text.split(",")):
            if name in self.groups:
                wanted.update(self.groups[name])
            elif name in self.by_id:
                wanted.add(name)
            else:
                raise ValueError(f"unknown section {name!r}: choose from {', '.join(self.groups)} or "
                                 f"{', '.join(self.ids)}")
        return tuple(id for id in self.ids if id in wanted)

    def analysis_parts(self, sections: Iterable[str]) -> dict[str, bool]:
        """Which parts of the analysis the sections need: {part name: bool} for every part, in PARTS order (the
        keyword arguments of analysis.config.AnalysisConfig that --sections decides)."""
        wanted = {name for id in sections for name in self.by_id[id].needs}
        wanted |= {brought for name in wanted for brought in PART_BY_NAME[name].brings}
        return {part.name: part.name in wanted for part in PARTS}

    def figure_groups(self, sections: Iterable[str]) -> tuple[str, ...]:
        """The groups of images (analysis.store.schema.FIGURE_GROUPS) that the sections show, sorted."""
        return tuple(sorted({group for id in sections for group in self.by_id[id].figures}))

    def lacking(self, sections: tuple[str, ...], store_dir: Path) -> Part | None:
        """The first part of the analysis that ``sections`` need and the store lacks, so re-rendering them needs a
        new analysis; None when the store has them all, and for every section (``all`` shows what there is)."""
        if tuple(sections) == self.ids:
            return None
        needed = self.analysis_parts(sections)
        return next((part for part in PARTS if needed[part.name] and not has_document(store_dir, part.document)),
                    None)

    def available(self, f: Findings, section: str) -> bool:
        """Whether the store holds what ``section`` shows (the parts' documents are written only when asked for)."""
        return self.by_id[section].available(f)

    def run_rules(self, f: Findings) -> list[Note]:
        """Every rule's notes, in RULES order; a section's rules do not run when the store lacks what it shows."""
        notes: list[Note] = []
        for rule in self.rules:
            if not self.owner[rule].available(f):
                continue
            result = rule(f)
            if isinstance(result, Note):
                notes.append(result)
            elif result:
                notes.extend(result)
        return notes

    def views(self, f: Findings, place: Place, shown: Iterable[str]) -> dict[str, object]:
        """The view model of each section ``shown``, keyed by section id (its template sees it as ``view``)."""
        return {id: self.by_id[id].view(f, place) for id in shown}

    def tables(self, f: Findings, shown: Iterable[str]) -> list[Table]:
        """The tables of the sections shown (and of those always shown), in report order; a builder gives None
        when the store lacks its numbers."""
        shown = set(shown)
        made = [builder(f) for s in self.sections if s.id in shown or s.always for builder in s.tables.values()]
        return [table for table in made if table is not None]

    def readme_table(self) -> str:
        """The README's table of sections, in Markdown."""
        lines = ["| Section | Heading | Groups | Computes, besides the trace and the evaluation |", "|---|---|---|---|"]
        for s in self.sections:
            groups = ("always included" if s.always else
                      ", ".join(f"`{name}`" for name, ids in self.groups.items() if s.id in ids))
            parts = [name for name, needed in self.analysis_parts([s.id]).items() if needed]
            computes = ", ".join(PART_BY_NAME[name].described for name in parts) or "nothing more"
            lines.append(f"| `{s.id}` | {s.title} | {groups} | {computes} |")
        return "\n".join(lines) + "\n"


def _check(sections: tuple[Section, ...]) -> None:
    """Declarations that cannot work together fail on import, naming the section."""
    seen: dict[str, set] = {"id": set(), "order": set(), "rule": set(), "table": set()}
    for s in sections:
        declared = {"id": [s.id], "order": [s.order], "rule": [f"{r.__module__}.{r.__name__}" for r in s.rules],
                    "table": list(s.tables)}
        problems = [f"{what} {value!r} declared twice" for what, values in declared.items()
                    for value in values if value in seen[what] or values.count(value) > 1]
        problems += [f"unknown part {name!r} in needs" for name in s.needs if name not in PART_BY_NAME]
        problems += [f"unknown group of images {name!r} in figures" for name in s.figures if name not in FIGURE_GROUPS]
        if problems:
            raise ValueError(f"section {s.id!r}: {'; '.join(dict.fromkeys(problems))}")
        for what, values in declared.items():
            seen[what].update(values)


def discover() -> tuple[Section, ...]:
    """The ``SECTION`` of every module of this package but section.py: a new section is a new module here."""
    names = sorted(info.name for info in pkgutil.iter_modules(__path__) if info.name != TYPES_MODULE)
    return tuple(importlib.import_module(f"{__name__}.{name}").SECTION for name in names)


REGISTRY = Registry(discover())

# What callers import, all from REGISTRY.
SECTIONS = REGISTRY.sections
BY_ID = REGISTRY.by_id
ALL = REGISTRY.ids
ALWAYS = REGISTRY.always  # which inputs made the numbers: part of every report
GROUPS = REGISTRY.groups
RULES = REGISTRY.rules
SECTION_VIEWS = REGISTRY.section_views  # section id -> (its view model, the builder)
PART_NAMES = tuple(part.name for part in PARTS)  # what report.pipeline may add to a configuration to reuse a store
parse_sections = REGISTRY.parse
analysis_parts = REGISTRY.analysis_parts
lacking = REGISTRY.lacking
figure_groups = REGISTRY.figure_groups
available = REGISTRY.available
run_rules = REGISTRY.run_rules
section_views = REGISTRY.views
report_tables = REGISTRY.tables
readme_table = REGISTRY.readme_table


def needs_whole_split(sections: tuple[str, ...]) -> bool:
    return analysis_parts(sections)["whole_split"]


def needs_document(sections: tuple[str, ...], document: str) -> bool:
    """Whether the sections need ``document`` written (the whole-split ones need the sample embeddings too)."""
    return any(analysis_parts(sections)[part.name] for part in PARTS if part.document == document)


__all__ = [
    "ALL", "ALWAYS", "BY_ID", "GROUPS", "PARTS", "PART_NAMES", "REGISTRY", "RULES", "SECTIONS", "SECTION_VIEWS",
    "Part", "Registry", "Section", "analysis_parts", "available", "discover", "figure_groups", "lacking",
    "needs_document", "needs_whole_split", "parse_sections", "readme_table", "report_tables", "run_rules",
    "section_views",
]

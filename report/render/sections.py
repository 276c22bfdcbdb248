"""The report's sections: ids, titles and order, the names users may pick them by, and which of them
need the whole-split analysis (the expensive part of a run)."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class SectionSpec:
    id: str
    title: str
    whole_split: bool = False   # needs separation.json: one pass over the whole test split
    document: str | None = None  # the store document written only for sections that ask for it


SECTIONS = (
    SectionSpec("parameters", "Parameters"),
    SectionSpec("shapes", "Shape trace"),
    SectionSpec("kernels", "Kernels"),
    SectionSpec("activations", "Activation maps", document="activations.json"),
    SectionSpec("embeddings", "Embeddings", document="embeddings.json"),
    SectionSpec("distances", "Embedding distances", document="embeddings.json"),
    SectionSpec("accuracy", "Accuracy"),
    SectionSpec("separation", "Class separation over the test split", whole_split=True),
    SectionSpec("depth", "Separation by depth", whole_split=True),
    SectionSpec("map", "Map of the embedding", whole_split=True),
    SectionSpec("errors", "Errors", whole_split=True),
    SectionSpec("filters", "Filter statistics", whole_split=True),
    SectionSpec("provenance", "Provenance"),
)
BY_ID = {spec.id: spec for spec in SECTIONS}
ALWAYS = ("provenance",)   # which inputs made the numbers: part of every report
ALL = tuple(spec.id for spec in SECTIONS)
GROUPS = {
    "all": ALL,
    "assignment": ("parameters", "shapes", "kernels", "activations", "embeddings", "distances"),
    "whole-split": tuple(spec.id for spec in SECTIONS if spec.whole_split),
}


def parse_sections(text: str) -> tuple[str, ...]:
    """Comma-separated section ids and group names -> section ids in report order (provenance always)."""
    wanted = set(ALWAYS)
    for name in (part.strip() for part in text.split(",")):
        if name in GROUPS:
            wanted.update(GROUPS[name])
        elif name in BY_ID:
            wanted.add(name)
        else:
            raise ValueError(f"unknown section {name!r}: choose from {', '.join(GROUPS)} or {', '.join(ALL)}")
    return tuple(id for id in ALL if id in wanted)


def needs_whole_split(sections: tuple[str, ...]) -> bool:
    return any(BY_ID[id].whole_split for id in sections)


def needs_document(sections: tuple[str, ...], document: str) -> bool:
    """Whether the sections need ``document`` written: the whole-split ones read the sample embeddings too
    (they check the sampled reading against the whole split)."""
    if document == "embeddings.json" and needs_whole_split(sections):
        return True
    return any(BY_ID[id].document == document for id in sections)

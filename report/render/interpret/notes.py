"""The note every rule returns, and notes grouped by section: their own module, so that the rule modules import
it without importing the package that lists them (no import cycle)."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Note:
    rule: str        # stable id, e.g. "params.dominant"
    branch: str      # which side of the rule fired
    section: str     # report section the note belongs to
    text: str
    evidence: dict = dataclasses.field(default_factory=dict)


def by_section(notes: list[Note]) -> dict[str, list[Note]]:
    grouped: dict[str, list[Note]] = {}
    for note in notes:
        grouped.setdefault(note.section, []).append(note)
    return grouped

"""What a report section declares (``Section``), and the parts of the analysis a section may need (``PARTS``).

A section is one module of this package holding ``SECTION = Section(...)``: its id and title, its place in the
report, the analysis parts it shows, the function that builds its template's view model, its interpretation
rules and its tables. Everything else (``--sections``, the analysis a section list asks for, which sections a
store can fill, which rules run, the table files, the README's table of sections) is derived from these
declarations by the registry (``report.render.sections``).
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable

from report.render.findings import Findings
from report.render.interpret.notes import Note
from report.render.rows import Table
from report.render.views.common import Place

Rule = Callable[[Findings], "Note | list[Note] | None"]
TableBuilder = Callable[[Findings], "Table | None"]


@dataclasses.dataclass(frozen=True)
class Part:
    """A part of the analysis that only some sections need: --sections leaves it out when none of them is shown."""

    name: str       # its flag in analysis.config.AnalysisConfig, and its key in analysis_parts()
    document: str   # the store document it writes
    holds: str      # the field of Findings holding that document (None when the store lacks it)
    called: str     # what a message calls it: "the last analysis in build has no <called>"
    described: str  # what the README's table of sections says it computes
    brings: tuple[str, ...] = ()  # parts it needs computed with it


# In the order the orchestrator tries them (report.pipeline) and a re-rendering checks them (report.commands).
PARTS = (
    # the whole split checks the sampled reading of the first sections, so it embeds the samples too
    Part("whole_split", "separation.json", "separation", "whole-split results", "the whole-split pass",
         brings=("samples",)),
    Part("maps", "activations.json", "activations", "activations", "activation maps of one test image"),
    Part("samples", "embeddings.json", "embeddings", "embeddings", "embeddings of the sample images"),
    Part("attribution", "attribution.json", "attribution", "attribution maps", "attribution maps and their checks"),
)
PART_BY_NAME = {part.name: part for part in PARTS}


@dataclasses.dataclass(frozen=True)
class Section:
    id: str      # anchor, template (templates/_<id>.html.j2), --sections name, the section of its rules' notes
    title: str   # heading and table-of-contents entry
    order: int   # place in the report: sections are shown by increasing order (gaps of 10 leave room between)
    view: Callable[[Findings, Place], object]  # builds the template's ``view``; its return annotation is the model
    needs: tuple[str, ...] = ()     # names of PARTS it shows: without them in the store it is left out, rules too
    rules: tuple[Rule, ...] = ()    # interpretation rules whose notes it shows (report.render.interpret)
    tables: dict[str, TableBuilder] = dataclasses.field(default_factory=dict)  # table id -> its builder
    groups: tuple[str, ...] = ()    # --sections groups it belongs to besides "all" ("whole-split" comes from needs)
    figures: tuple[str, ...] = ()   # groups of the store's images it shows (schema.FIGURE_GROUPS): only
                                    # the images of the sections rendered are drawn
    always: bool = False            # part of every report, whatever --sections says

    @property
    def whole_split(self) -> bool:
        """Whether it needs the whole-split pass (the expensive part of a run)."""
        return "whole_split" in self.needs

    @property
    def view_type(self) -> type:
        """The view model its template gets: the return annotation of ``view``."""
        return typing.get_type_hints(self.view)["return"]

    def available(self, f: Findings) -> bool:
        """Whether the store holds what it shows (the parts' documents are written only when asked for)."""
        return all(getattr(f, PART_BY_NAME[name].holds) is not None for name in self.needs)

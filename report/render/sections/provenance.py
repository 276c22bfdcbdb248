"""Provenance: which inputs, versions and settings made the numbers (part of every report; a record, no notes)."""

from report.render import rows
from report.render.sections.section import Section
from report.render.views.network import provenance_view

SECTION = Section(
    id="provenance", title="Provenance", order=130, always=True,
    view=provenance_view,
    tables={"provenance": rows.provenance},
)

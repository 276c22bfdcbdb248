"""Separation by depth: the silhouette of each layer's output over a sample of the test split."""

from report.render import rows
from report.render.interpret import separation
from report.render.sections.section import Section
from report.render.views.whole_split import depth_view

SECTION = Section(
    id="depth", title="Separation by depth", order=90, figures=("separation",), needs=("whole_split",),
    view=depth_view,
    rules=(separation.depth,),
    tables={"depth": rows.depth},
)

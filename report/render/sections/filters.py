"""Filter statistics: the activity of every convolution filter over the test split, dead filters where zero
means silent."""

from report.render import rows
from report.render.interpret import separation
from report.render.sections.section import Section
from report.render.views.whole_split import filters_view

SECTION = Section(
    id="filters", title="Filter statistics", order=120, figures=("separation",), needs=("whole_split",),
    view=filters_view,
    rules=(separation.dead_filters,),
    tables={"filters": rows.filters},
)

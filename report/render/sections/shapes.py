"""Shape trace: every call of the forward pass with its input and output shapes and its multiply-accumulates."""

from report.render import rows
from report.render.interpret import shapes
from report.render.sections.section import Section
from report.render.views.network import shapes_view

SECTION = Section(
    id="shapes", title="Shape trace", order=20, groups=("assignment",),
    view=shapes_view,
    rules=(shapes.steps, shapes.batch, shapes.gaps, shapes.macs, shapes.output),
    tables={"shapes": rows.shapes},
)

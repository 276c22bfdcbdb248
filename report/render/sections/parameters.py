"""Parameters: how many, where, trainable or frozen, and any that inference never reads."""

from report.render import rows
from report.render.interpret import params
from report.render.sections.section import Section
from report.render.views.network import parameters_view

SECTION = Section(
    id="parameters", title="Parameters", order=10, groups=("assignment",),
    view=parameters_view,
    rules=(params.total, params.dominant_layer, params.conv_versus_dense, params.unused),
    tables={"parameters": rows.parameters},
)

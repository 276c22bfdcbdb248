"""Activation maps of one test image, layer by layer: what the network keeps, dead maps, what pooling keeps."""

from report.render import rows
from report.render.interpret import activations
from report.render.sections.section import Section
from report.render.views.network import activations_view

SECTION = Section(
    id="activations", title="Activation maps", order=40,
    figures=("activations",), groups=("assignment",), needs=("maps",),
    view=activations_view,
    rules=(activations.input_prediction, activations.dead_maps, activations.pooling_keeps_peak),
    tables={"activations": rows.activations},
)

"""Kernels: the first convolution's kernels as images, and every convolution's kernel shape."""

from report.render import rows
from report.render.interpret import activations
from report.render.sections.section import Section
from report.render.views.network import kernels_view

SECTION = Section(
    id="kernels", title="Kernels", order=30, figures=("kernels",), groups=("assignment",),
    view=kernels_view,
    rules=(activations.kernels,),
    tables={"kernels": rows.kernels},
)

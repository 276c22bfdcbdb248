"""Embeddings of the sample images: their vectors, predictions and dimensions that stay zero."""

from report.render import rows
from report.render.interpret import embeddings
from report.render.sections.section import Section
from report.render.views.samples import embeddings_view

SECTION = Section(
    id="embeddings", title="Embeddings", order=50, figures=("samples",), groups=("assignment",), needs=("samples",),
    view=embeddings_view,
    rules=(embeddings.zero_dimensions, embeddings.sample_predictions),
    tables={"embeddings": rows.embeddings},
)

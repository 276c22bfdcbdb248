"""Embedding distances between the sample images: within and between classes, in every registered metric."""

from report.render import rows
from report.render.interpret import embeddings
from report.render.sections.section import Section
from report.render.views.samples import distances_view

SECTION = Section(
    id="distances", title="Embedding distances", order=60,
    figures=("samples",), groups=("assignment",), needs=("samples",),
    view=distances_view,
    rules=(embeddings.compactness, embeddings.separation, embeddings.sample_size, embeddings.metrics_agree,
           embeddings.course_report),
    tables={"distance_pairs": rows.distance_pairs, "distance_means": rows.distance_means,
            "distance_matrices": rows.distance_matrices},
)

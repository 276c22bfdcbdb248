"""Map of the embedding: PCA and t-SNE pictures of the whole test split (pictures only: no rule writes notes)."""

from report.render import rows
from report.render.sections.section import Section
from report.render.views.whole_split import map_view

SECTION = Section(
    id="map", title="Map of the embedding", order=100, figures=("separation",), needs=("whole_split",),
    view=map_view,
    tables={"pca_variance": rows.pca},
)

"""View models: for each template, a documented frozen dataclass holding exactly what it shows, already
formatted, and the function that builds it from the findings.

Templates only lay these out: the arithmetic, the None handling, the captions and the display names are
here, in Python, where they can be tested. ``tests/test_views.py`` checks that every name a template uses
is a field of its view model and that every field is used.

Each report section ``templates/_<id>.html.j2`` gets the variable ``view``: the model its section declares
(``report.render.sections``: ``Section.view``, built from the findings and the ``Place`` it is shown in).
compare.html.j2 and history.html.j2 get theirs through ``report.render.comparison``.
"""

from __future__ import annotations

from report.render.views.common import ColourScale, Figure, Place, field
from report.render.views.network import (
    ActivationsView,
    KernelsView,
    ParametersView,
    ProvenanceView,
    ShapesView,
    activations_view,
    kernels_view,
    parameters_view,
    provenance_view,
    shapes_view,
)
from report.render.views.pages import CompareView, HistoryView, compare_view, history_view
from report.render.views.accuracy import AccuracyView, accuracy_view
from report.render.views.samples import (
    DistancesView,
    EmbeddingsView,
    distances_view,
    embeddings_view,
)
from report.render.views.whole_split import (
    DepthView,
    ErrorsView,
    FiltersView,
    MapView,
    SeparationView,
    depth_view,
    errors_view,
    filters_view,
    map_view,
    separation_view,
)

__all__ = [
    "AccuracyView", "ActivationsView", "ColourScale", "CompareView", "DepthView", "DistancesView",
    "EmbeddingsView", "ErrorsView", "Figure", "FiltersView", "HistoryView", "KernelsView", "MapView", "ParametersView",
    "Place", "ProvenanceView", "SeparationView", "ShapesView", "accuracy_view", "activations_view", "compare_view",
    "depth_view", "distances_view", "embeddings_view", "errors_view", "field", "filters_view", "history_view",
    "kernels_view", "map_view", "parameters_view", "provenance_view", "separation_view",
    "shapes_view",
]

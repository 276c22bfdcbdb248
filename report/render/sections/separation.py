"""Class separation over the whole test split: spread per class, distances between classes, the closest pairs,
and the one verdict on the sampled reading of the first sections."""

from report.render import rows
from report.render.interpret import separation
from report.render.sections.section import Section
from report.render.views.whole_split import separation_view

SECTION = Section(
    id="separation", title="Class separation over the test split", order=80,
    figures=("separation",), needs=("whole_split",),
    view=separation_view,
    rules=(separation.overall, separation.compactness, separation.closest_pair, separation.two_sample_check),
    tables={"class_spread": rows.class_spread, "class_distances": rows.class_distances,
            "closest_pairs": rows.closest_pairs, "two_sample": rows.two_sample,
            "two_sample_verdicts": rows.two_sample_verdicts},
)

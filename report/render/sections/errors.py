"""Errors: the confusion matrix and the most confident mistakes over the test split."""

from report.render import rows
from report.render.interpret import separation
from report.render.sections.section import Section
from report.render.views.whole_split import errors_view

SECTION = Section(
    id="errors", title="Errors", order=110, figures=("separation",), needs=("whole_split",),
    view=errors_view,
    rules=(separation.errors,),
    tables={"confusion": rows.confusion, "misclassified": rows.misclassified},
)

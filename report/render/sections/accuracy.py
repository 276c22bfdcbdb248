"""Accuracy, the classification-quality section: accuracy overall and per class with 95% intervals, whether the
network learned (against chance), where predictions go, calibration, the training record.

Its view (views/accuracy.py) and rules (interpret/accuracy.py) stay in their modules: the rules share the regime
decision (interpret/regime.py) with the alerts and the other sections' caveats. A new section may as well define
its view, rules and tables right here."""

from report.render import rows
from report.render.interpret import accuracy
from report.render.sections.section import Section
from report.render.views.accuracy import accuracy_view

SECTION = Section(
    id="accuracy", title="Accuracy", order=70, figures=("calibration",),
    view=accuracy_view,
    rules=(accuracy.overall, accuracy.class_comparison, accuracy.prediction_spread, accuracy.calibration,
           accuracy.training, accuracy.non_finite),
    tables={"class_accuracy": rows.class_accuracy, "predictions": rows.predictions},
)

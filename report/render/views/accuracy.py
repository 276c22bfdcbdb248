"""The view of the accuracy section: accuracy overall with its interval, the balanced accuracy against chance,
quality per class, the calibration figures, and the predictions for the images shown. A store written before the
classification quality was stored shows the accuracy and the per-class counts, with dashes where it has nothing."""

from __future__ import annotations

import dataclasses

from analysis.store.schema import ClassQuality
from report.render import fmt
from report.render.findings import Findings
from report.render.interpret.regime import SMALL_CLASS, quality
from report.render.views.common import Figure, Place, field, url

MISSING = "–"


@dataclasses.dataclass(frozen=True)
class ClassAccuracyRow:
    name: str = field("the class")
    images: str = field("its test images (support), formatted")
    correct: str = field("how many of them the network classifies correctly, formatted")
    precision: str = field("of the images predicted as this class, the share that are, as a percentage (– when "
                           "not stored)")
    recall: str = field("its share classified correctly, as a percentage")
    interval: str = field("the recall's 95% Wilson interval (– when not stored)")
    f1: str = field("the F1 score, as a percentage (– when not stored)")
    predicted: str = field("test images predicted as this class (– when not stored)")
    small: bool = field(f"true for a class with fewer than {SMALL_CLASS} test images: flagged, and left out of "
                        "comparisons between classes")


@dataclasses.dataclass(frozen=True)
class PredictionRow:
    image: str = field('which image of the report: "activation-map input", "S1", ...')
    index: str = field("its index in the test split")
    label: str = field("its true class")
    predicted: str = field("the class the network predicts")
    confidence: str = field("the network's confidence in that prediction, as a percentage")
    wrong: bool = field("true when the prediction is wrong (highlighted)")


@dataclasses.dataclass(frozen=True)
class AccuracyView:
    """_accuracy.html.j2: accuracy overall and per class, calibration, and the predictions for the images shown."""

    n_test: str = field("test images, formatted")
    accuracy: str = field('the share classified correctly, with its 95% interval when stored: "91.8% (95% CI '
                          '88.3–94.3%)"')
    correct: str = field("how many were classified correctly, formatted")
    balanced: str = field('the balanced accuracy with its 95% interval and chance beside it; "" when not stored')
    macro_f1: str = field('the macro-averaged F1, as a percentage; "" when not stored')
    small_class: str = field("the smallest number of test images a class is compared on")
    any_small: bool = field(f"true when some class has fewer than {SMALL_CLASS} test images (the table's note)")
    per_class: list[ClassAccuracyRow] = field("one row per class of the test split")
    reliability: Figure | None = field("the reliability diagram; None when not stored")
    histogram: Figure | None = field("the confidence histogram, right against wrong; None when not stored")
    predictions: list[PredictionRow] = field("the predictions for the images shown: the activation-map input and "
                                             "the samples S1, S2, ... (those the store holds; may be empty)")


def _prediction(f: Findings, image: str, item) -> PredictionRow:
    return PredictionRow(image, str(item.index), f.class_name(item.label), f.class_name(item.predicted),
                         fmt.percent(item.confidence), item.predicted != item.label)


def _quality_row(f: Findings, c: ClassQuality) -> ClassAccuracyRow:
    recall, interval = fmt.percent_with_range(c.recall, c.recall_low, c.recall_high)
    return ClassAccuracyRow(
        name=f.class_name(c.cls), images=fmt.integer(c.support), correct=fmt.integer(c.correct),
        precision=fmt.percent(c.precision), recall=recall, interval=interval, f1=fmt.percent(c.f1),
        predicted=fmt.integer(c.predicted), small=c.support < SMALL_CLASS)


def _class_rows(f: Findings) -> list[ClassAccuracyRow]:
    q = quality(f)
    if q is not None:
        return [_quality_row(f, c) for c in q.classes if c.support]
    return [ClassAccuracyRow(f.class_name(row.cls), fmt.integer(row.n), fmt.integer(row.correct), MISSING,
                             fmt.percent(row.accuracy), MISSING, MISSING, MISSING, row.n < SMALL_CLASS)
            for row in f.evaluation.per_class]


def _calibration_figures(f: Findings, place: Place) -> tuple[Figure | None, Figure | None]:
    q = quality(f)
    c = q.calibration if q else None
    if c is None or not c.reliability:
        return None, None
    reliability = Figure(url(place, c.reliability), "reliability diagram: accuracy against confidence per bin",
                         f"Reliability diagram: for each of {len(c.bins)} equal-width bins of confidence (the largest "
                         "softmax probability), the share of its images classified correctly (bars, with the number "
                         "of images at the foot) and their mean confidence (ticks: the gap to the bar is the bin's "
                         "calibration error); a perfectly calibrated network follows the diagonal. Over "
                         f"{fmt.integer(c.images)} test images.")
    histogram = Figure(url(place, c.histogram), "histogram of confidence, right and wrong predictions stacked",
                       "How confident the network is: test images per confidence bin, those it classifies correctly "
                       "and those it misclassifies stacked.")
    return reliability, histogram


def accuracy_view(f: Findings, place: Place) -> AccuracyView:
    ev, q = f.evaluation, quality(f)
    rows = _class_rows(f)
    reliability, histogram = _calibration_figures(f, place)
    return AccuracyView(
        n_test=fmt.integer(ev.n_test),
        accuracy=fmt.percent_ci(q.accuracy.value, q.accuracy.low, q.accuracy.high) if q else fmt.percent(ev.accuracy),
        correct=fmt.integer(ev.correct),
        balanced=(f"{fmt.percent_ci(q.balanced_accuracy.value, q.balanced_accuracy.low, q.balanced_accuracy.high)}"
                  f" against chance 1/{fmt.integer(q.test_classes)} = {fmt.percent(q.chance)}") if q else "",
        macro_f1=fmt.percent(q.macro_f1) if q else "",
        small_class=fmt.integer(SMALL_CLASS), any_small=any(row.small for row in rows), per_class=rows,
        reliability=reliability, histogram=histogram,
        predictions=([_prediction(f, "activation-map input", f.input_image)] if f.activations else []) +
        [_prediction(f, f"S{n}", s) for n, s in enumerate(f.embeddings.samples if f.embeddings else [], start=1)])

"""Rules about test accuracy and training: how well the network classifies, with the uncertainty the test split
leaves (every accuracy with its 95% interval), whether it learned the task (regime.py decides), which classes are
reliably weaker or stronger, where its predictions go, how calibrated its confidence is.

The numbers come from evaluation.json's ``quality`` (analysis.stats.classification). A store written before it
existed gets the accuracy and its counts only: no interval, no regime, no comparison of classes."""

from __future__ import annotations

from analysis.store.schema import ClassificationQuality, ClassQuality, Interval
from report.render import fmt
from report.render.findings import Findings
from report.render.interpret.notes import Note
from report.render.interpret.regime import (
    SMALL_CLASS,
    below_chance,
    caveat,
    performance,
    quality,
    relabelling_floor,
)

NAMES_LISTED = 8          # classes named in a sentence before "and N more"
IMBALANCED = 1.5          # the largest class holds more than this many times 1/K of the test images


def ci(value: Interval) -> str:
    """"91.8% (95% CI 88.4–94.2%)"."""
    return fmt.percent_ci(value.value, value.low, value.high)


def ci_within(value: float, low: float, high: float) -> str:
    """The same inside parentheses: "91.8%, 95% CI 88.4–94.2%"."""
    shown, interval = fmt.percent_with_range(value, low, high)
    return f"{shown}, 95% CI {interval}"


def _names(f: Findings, classes, limit: int = NAMES_LISTED) -> str:
    classes = list(classes)
    shown = [f.class_name(c) for c in classes[:limit]]
    if len(classes) > limit:
        shown.append(f"{fmt.integer(len(classes) - limit)} more")
    return fmt.listing(shown)


# --- overall ---------------------------------------------------------------------------------------------------

def overall(f: Findings) -> Note:
    """Accuracy with its Wilson interval, balanced accuracy with its interval against chance 1/K, and the regime
    that follows (regime.performance)."""
    q = quality(f)
    if q is None:
        return _without_quality(f)
    if q.test_classes < 2:
        return Note("accuracy.overall", "one-class", "accuracy",
                    f"{_accuracy_clause(f, q)}. The test split holds a single class, so no accuracy can show whether "
                    "the network tells classes apart.", _evidence(f, q))
    if f.evaluation.correct == f.evaluation.n_test:
        return _perfect(f, q)
    verdict = performance(f)
    text = {"learned": _learned, "near-chance": _near_chance, "below-chance": _below_chance,
            "permuted": _permuted}[verdict](f, q)
    return Note("accuracy.overall", verdict, "accuracy",
                f"{_accuracy_clause(f, q)}; {_balanced_clause(f, q)}{text}{_imbalance(f, q)}", _evidence(f, q))


def _evidence(f: Findings, q: ClassificationQuality) -> dict:
    r = q.relabelling
    return {"accuracy": [q.accuracy.value, q.accuracy.low, q.accuracy.high],
            "balanced_accuracy": [q.balanced_accuracy.value, q.balanced_accuracy.low, q.balanced_accuracy.high],
            "interval": q.balanced_method, "chance": q.chance, "classes": q.test_classes, "regime": performance(f),
            "untested": [c.cls for c in q.classes if not c.support],
            "weights": f.weights,
            "criterion": "learned: balanced accuracy's 95% lower bound > 1/K; near chance: its interval contains "
                         "1/K; below chance: its upper bound < 1/K; permuted: not above chance, and the best "
                         "one-to-one relabelling's balanced-accuracy lower bound above both 1/(K-1) (1/2 for K = 2) "
                         "and the 95th percentile the same search reaches on predictions shuffled against the "
                         "labels, with its accuracy interval wholly above the accuracy's",
            "relabelling": None if r is None else {"moves": r.moves, "shuffled": r.shuffled_balanced_accuracy,
                                                   "accuracy": [r.accuracy.value, r.accuracy.low, r.accuracy.high],
                                                   "balanced_accuracy": [r.balanced_accuracy.value,
                                                                         r.balanced_accuracy.low,
                                                                         r.balanced_accuracy.high]}}


def _accuracy_clause(f: Findings, q: ClassificationQuality) -> str:
    e = f.evaluation
    return (f"The network classifies {ci(q.accuracy)} of the {fmt.integer(e.n_test)} test images correctly "
            f"({fmt.integer(e.n_test - e.correct)} errors)")


def _balanced_clause(f: Findings, q: ClassificationQuality) -> str:
    return (f"its balanced accuracy, the mean recall over the {fmt.integer(q.test_classes)} classes of the test "
            f"split{_untested(f, q)}, is {ci(q.balanced_accuracy)}")


def _untested(f: Findings, q: ClassificationQuality) -> str:
    """The model's classes that no test image belongs to: no recall, so left out of the mean and of chance's 1/K
    (the header counts the model's classes, so the two numbers need the reason)."""
    untested = [c.cls for c in q.classes if not c.support]
    if not untested:
        return ""
    if len(untested) == 1:
        return f" (class {f.class_name(untested[0])} has no test image and is left out)"
    return f" (classes {_names(f, untested)} have no test images and are left out)"


def _chance(q: ClassificationQuality) -> str:
    return f"chance (1/{fmt.integer(q.test_classes)} = {fmt.percent(q.chance)})"


def _learned(f: Findings, q: ClassificationQuality) -> str:
    if f.weights != "checkpoint":
        return f", above {_chance(q)}, although the weights are {f.weights}.{caveat(f)}"
    return f", above {_chance(q)}: the network has learned to tell the classes apart."


def _near_chance(f: Findings, q: ClassificationQuality) -> str:
    if f.weights != "checkpoint":
        return (f", an interval that contains {_chance(q)}, as expected of weights that are {f.weights}: the network "
                "does not tell the classes apart.")
    return f", an interval that contains {_chance(q)}: the network has not learned to tell the classes apart."


def _below_chance(f: Findings, q: ClassificationQuality) -> str:
    r = q.relabelling
    best = (f"; the best one-to-one relabelling of its predictions reaches {ci(r.balanced_accuracy)} in balanced "
            "accuracy, not clearly above what the same search finds for a network that avoids the true class at "
            f"random (about 1/{fmt.integer(round(1 / relabelling_floor(q)))}) or for predictions shuffled against "
            "the labels, so no relabelling explains the errors" if r and r.moves else "")
    return f", below {_chance(q)}: the network is systematically wrong{best}."


def _permuted(f: Findings, q: ClassificationQuality) -> str:
    r = q.relabelling
    supported, unsupported = _supported_moves(f, r.moves)
    moves = [f"class {f.class_name(predicted)} for class {f.class_name(true)}{_move_count(f, true, predicted)}"
             for true, predicted in supported]
    shown = moves[:NAMES_LISTED] + ([f"another class for {fmt.integer(len(moves) - NAMES_LISTED)} more classes"]
                                    if len(moves) > NAMES_LISTED else [])
    where = f"below {_chance(q)}" if below_chance(q) else f"an interval that contains {_chance(q)}"
    rest = "".join(f" No image of class {f.class_name(true)} is predicted as class {f.class_name(predicted)}, the "
                   "class the relabelling leaves for it: that pair only completes the one-to-one assignment."
                   for true, predicted in unsupported[:NAMES_LISTED])
    return (f", {where}. Relabelling its predictions one-to-one would make {ci(r.accuracy)} of them right, "
            f"with a balanced accuracy of {ci(r.balanced_accuracy)}: the labels look permuted. The network predicts "
            f"{fmt.listing(shown)}.{rest} Check the class order the checkpoint was trained with (--class-names).")


def _cell(f: Findings, true: int, predicted: int) -> int | None:
    """Test images of class ``true`` predicted as ``predicted``; None for a store without per-image labels."""
    e = f.evaluation
    if not e.labels or len(e.labels) != len(e.predicted):
        return None
    return sum(1 for t, p in zip(e.labels, e.predicted) if t == true and p == predicted)


def _supported_moves(f: Findings, moves) -> tuple[list, list]:
    """The relabelling's moves that images show, and the true classes of those that none does: the assignment
    is one-to-one, so a class whose images go elsewhere still gets a partner, and "predicts blue as green" of a
    class never predicted as green would be false."""
    counts = [(move, _cell(f, *move)) for move in moves]
    return ([move for move, n in counts if n is None or n > 0],
            [move for move, n in counts if n == 0])


def _move_count(f: Findings, true: int, predicted: int) -> str:
    n = _cell(f, true, predicted)
    if n is None:
        return ""
    support = next(c.support for c in f.evaluation.quality.classes if c.cls == true)
    return f" ({fmt.integer(n)} of its {fmt.integer(support)} images)"


def _imbalance(f: Findings, q: ClassificationQuality) -> str:
    """Always answering the largest class, as a baseline with its balanced accuracy beside it (never a test of
    learning: it is exactly chance in balanced accuracy)."""
    largest = max((c for c in q.classes if c.support), key=lambda c: c.support)
    share = largest.support / f.evaluation.n_test
    if share <= IMBALANCED * q.chance:
        return ""
    return (f" The classes are imbalanced: always answering the largest, {f.class_name(largest.cls)}, would score "
            f"{fmt.percent(share)} in accuracy but only {fmt.percent(q.chance)} in balanced accuracy, which is why "
            "the verdict rests on the balanced accuracy.")


def _perfect(f: Findings, q: ClassificationQuality) -> Note:
    n = f.evaluation.n_test
    verdict = (f"above {_chance(q)}" if performance(f) == "learned" else
               f"an interval that still contains {_chance(q)}")
    return Note("accuracy.overall", "perfect", "accuracy",
                f"The network classifies all {fmt.integer(n)} test images correctly. With {fmt.integer(n)} images "
                f"this establishes an accuracy of at least {fmt.percent(q.accuracy.low)} (95% "
                f"Wilson interval {fmt.percent_range(q.accuracy.low, q.accuracy.high)}), not 100%; the balanced "
                f"accuracy is {ci(q.balanced_accuracy)}, {verdict}.{caveat(f) if f.weights != 'checkpoint' else ''}",
                _evidence(f, q))


def _without_quality(f: Findings) -> Note:
    e = f.evaluation
    return Note("accuracy.overall", "unknown", "accuracy",
                f"The network classifies {fmt.percent(e.accuracy)} of the {fmt.integer(e.n_test)} test images "
                f"correctly ({fmt.integer(e.n_test - e.correct)} errors). This store was written before intervals "
                "and the balanced accuracy were stored, so whether the network learned the task is not judged here; "
                "a new analysis stores them.", {"accuracy": e.accuracy, "quality": None})


# --- classes compared --------------------------------------------------------------------------------------------

def class_comparison(f: Findings) -> Note | None:
    """A class is the weakest (strongest) only when its recall's 95% interval lies wholly below (above) every other
    class's; classes with fewer than SMALL_CLASS test images are left out and named."""
    q = quality(f)
    if q is None or q.test_classes < 2:
        return None
    tested = [c for c in q.classes if c.support]
    compared = [c for c in tested if c.support >= SMALL_CLASS]
    small = [c for c in tested if c.support < SMALL_CLASS]
    evidence = {"small_class": SMALL_CLASS, "small": [c.cls for c in small],
                "recalls": {c.cls: [c.recall, c.recall_low, c.recall_high] for c in compared},
                "criterion": "weakest/strongest: its recall's 95% Wilson interval lies wholly below/above every "
                             "other compared class's"}
    if len(compared) < 2:
        return Note("accuracy.classes", "too-small", "accuracy",
                    f"No class is called weaker or stronger than another: {_small_count(f, small, tested)} fewer "
                    f"than {SMALL_CLASS} test images, too few to compare recalls.", evidence)
    weakest, strongest = _weakest(compared), _strongest(compared)
    evidence.update(weakest=weakest and weakest.cls, strongest=strongest and strongest.cls)
    branch = ("weakest-and-strongest" if weakest and strongest else "weakest" if weakest else
              "strongest" if strongest else "none-established")
    return Note("accuracy.classes", branch, "accuracy",
                _comparison_text(f, compared, weakest, strongest) + _collapse_explains(f, q, strongest)
                + _left_out(f, small) + caveat(f), evidence)


def _collapse_explains(f: Findings, q: ClassificationQuality, strongest: ClassQuality | None) -> str:
    """A class the predictions collapse onto has a high recall because nearly everything is called by its name."""
    if not (strongest and q.predictions.collapsed and strongest.cls == q.predictions.most):
        return ""
    return (f" Its recall is high because the predictions collapse onto it: its precision is only "
            f"{fmt.percent(strongest.precision)}.")


def _weakest(compared: list[ClassQuality]) -> ClassQuality | None:
    low = min(compared, key=lambda c: c.recall)
    return low if all(low.recall_high < c.recall_low for c in compared if c is not low) else None


def _strongest(compared: list[ClassQuality]) -> ClassQuality | None:
    high = max(compared, key=lambda c: c.recall)
    return high if all(high.recall_low > c.recall_high for c in compared if c is not high) else None


def _recall(f: Findings, c: ClassQuality) -> str:
    return (f"recall {fmt.percent_ci(c.recall, c.recall_low, c.recall_high)} on its "
            f"{fmt.integer(c.support)} test images")


def _comparison_text(f: Findings, compared, weakest, strongest) -> str:
    parts = []
    if weakest:
        parts.append(f"Class {f.class_name(weakest.cls)} is the weakest: its {_recall(f, weakest)} lies below every "
                     "other class's interval.")
    if strongest:
        parts.append(f"Class {f.class_name(strongest.cls)} is the strongest: its {_recall(f, strongest)} lies above "
                     "every other class's interval.")
    if weakest and strongest:
        return " ".join(parts)
    if parts:
        missing = "strongest" if weakest else "weakest"
        return " ".join(parts) + f" No class is reliably the {missing}: the intervals at that end overlap."
    low, high = min(compared, key=lambda c: c.recall), max(compared, key=lambda c: c.recall)
    if low.recall == high.recall:  # no lowest and highest to name: one class would be both
        return (f"No class is weaker or stronger than the others: every class compared "
                f"({_names(f, (c.cls for c in compared))}) has a recall of {fmt.percent(low.recall)}.")
    return (f"No class is reliably weaker or stronger than the others: the lowest recall ({f.class_name(low.cls)}, "
            f"{ci_within(low.recall, low.recall_low, low.recall_high)}) and the highest "
            f"({f.class_name(high.cls)}, {ci_within(high.recall, high.recall_low, high.recall_high)}) each "
            "overlap another class's interval.")


def _small_count(f: Findings, small, tested) -> str:
    if len(small) == len(tested):
        return f"all {fmt.integer(len(tested))} classes of the test split have"
    return (f"{fmt.integer(len(small))} of the {fmt.integer(len(tested))} classes ({_names(f, (c.cls for c in small))}) "
            "have")


def _left_out(f: Findings, small) -> str:
    if not small:
        return ""
    if len(small) == 1:
        return (f" Class {f.class_name(small[0].cls)} ({fmt.integer(small[0].support)} test images) is too small to "
                f"compare (fewer than {SMALL_CLASS}).")
    return (f" {fmt.integer(len(small))} classes have fewer than {SMALL_CLASS} test images and are left out of this "
            f"comparison ({_names(f, (c.cls for c in small))}).")


# --- where the predictions go ------------------------------------------------------------------------------------

def prediction_spread(f: Findings) -> Note | None:
    """Predictions collapsed onto one class (PredictionSpread.collapsed), classes never predicted, or neither."""
    q = quality(f)
    if q is None:
        return None
    spread, n = q.predictions, f.evaluation.n_test
    never = [c for c in q.classes if c.support and not c.predicted]
    evidence = {"counts": spread.counts, "most": spread.most,
                "most_share": [spread.most_share.value, spread.most_share.low, spread.most_share.high],
                "most_true_share": spread.most_true_share, "never_predicted": [c.cls for c in never],
                "outside": spread.outside,
                "criterion": "collapsed: the most-predicted class takes at least half of the predictions and the "
                             "Wilson lower bound of its share lies more than halfway from its share of the test labels to 100%"}
    outside = (f" {fmt.integer(spread.outside)} predictions name an output that is no class of the data."
               if spread.outside else "")
    stands_for = _relabelled_true_class(f, q, spread.most)
    if spread.collapsed and stands_for is not None:
        true_share = next(c.support for c in q.classes if c.cls == stands_for) / n
        evidence.update(stands_for=stands_for, stands_for_share=true_share)
        if not spread.most_share.low > 2 * true_share:  # the relabelling accounts for the share: no collapse
            return Note("accuracy.predictions", "follows-relabelling", "accuracy",
                        f"Class {f.class_name(spread.most)} is predicted for {fmt.integer(spread.counts[spread.most])} "
                        f"of the {fmt.integer(n)} test images "
                        f"({ci_within(spread.most_share.value, spread.most_share.low, spread.most_share.high)}), "
                        f"though it is {fmt.percent(spread.most_true_share)} of the test labels: not a collapse but "
                        f"the relabelling above, under which {f.class_name(spread.most)} stands for "
                        f"{f.class_name(stands_for)}, {fmt.percent(true_share)} of the test "
                        f"labels{_never_clause(f, never, q)}.{outside}", evidence)
    if spread.collapsed:
        return Note("accuracy.predictions", "collapsed", "accuracy",
                    f"The predictions collapse onto one class, {f.class_name(spread.most)}: it is predicted for "
                    f"{fmt.integer(spread.counts[spread.most])} of the {fmt.integer(n)} test images "
                    f"({ci_within(spread.most_share.value, spread.most_share.low, spread.most_share.high)}), though "
                    f"it is {fmt.percent(spread.most_true_share)} of the test "
                    f"labels{_never_clause(f, never, q)}.{outside}", evidence)
    if never:
        return Note("accuracy.predictions", "never-predicted", "accuracy", _never_text(f, never) + outside, evidence)
    return Note("accuracy.predictions", "spread", "accuracy",
                f"Every class of the test split is predicted at least once; the most predicted, class "
                f"{f.class_name(spread.most)}, takes {fmt.percent(spread.most_share.value)} of the predictions and "
                f"is {fmt.percent(spread.most_true_share)} of the test labels.{outside}", evidence)


def _relabelled_true_class(f: Findings, q: ClassificationQuality, predicted: int) -> int | None:
    """Where the labels look permuted: the true class the relabelling pairs with ``predicted`` (a share of the
    predictions is judged against that class's share of the labels, not its namesake's); None otherwise."""
    if performance(f) != "permuted":
        return None
    return next((true for true, onto in q.relabelling.moves if onto == predicted), predicted)


def _never_clause(f: Findings, never, q: ClassificationQuality) -> str:
    if not never:
        return ""
    named = f" ({_names(f, (c.cls for c in never))})" if len(never) <= NAMES_LISTED else ""
    return (f"; {fmt.integer(len(never))} of the {fmt.integer(q.test_classes)} classes of the test split{named} "
            f"{'is' if len(never) == 1 else 'are'} never predicted")


def _never_text(f: Findings, never) -> str:
    if len(never) == 1:
        c = never[0]
        return (f"Class {f.class_name(c.cls)} is never predicted: no test image is classified as "
                f"{f.class_name(c.cls)}, so all {fmt.integer(c.support)} of its test images are misclassified "
                f"(recall {ci_within(c.recall, c.recall_low, c.recall_high)}).")
    images = sum(c.support for c in never)
    return (f"{fmt.integer(len(never))} classes are never predicted ({_names(f, (c.cls for c in never))}): all "
            f"{fmt.integer(images)} of their test images are misclassified.")


# --- calibration ---------------------------------------------------------------------------------------------------

def calibration(f: Findings) -> Note | None:
    """ECE with its bootstrap interval; over- or underconfident only when the interval of mean confidence minus
    accuracy excludes 0 on that side and the mean confidence lies outside the accuracy's Wilson interval on that
    side. The bootstrap alone cannot see the accuracy's uncertainty where (nearly) every image is right or wrong:
    12 of 12 right gives every resample an accuracy of 1, and a gap of 0.00001 points would read as
    "underconfident"."""
    q = quality(f)
    if q is None or q.calibration is None:
        return None
    c = q.calibration
    evidence = {"ece": [c.ece.value, c.ece.low, c.ece.high], "gap": [c.gap.value, c.gap.low, c.gap.high],
                "mean_confidence": c.mean_confidence, "bins": len(c.bins), "images": c.images,
                "resamples": c.resamples, "seed": c.seed,
                "accuracy": [q.accuracy.value, q.accuracy.low, q.accuracy.high],
                "criterion": "overconfident: the 95% bootstrap interval of mean confidence minus accuracy lies above "
                             "0 and the mean confidence above the accuracy's 95% Wilson interval; underconfident: "
                             "both below"}
    over = (f" (over the {fmt.integer(c.images)} images with finite scores)" if c.images < f.evaluation.n_test else "")
    ece, ece_interval = fmt.percent_with_range(c.ece.value, c.ece.low, c.ece.high)
    permuted = (" The labels look permuted, so the confidences are judged against labels the network does not use: "
                "how well it is calibrated on its own reading of the classes is not measured here."
                if performance(f) == "permuted" else "")
    start = (f"Over {len(c.bins)} equal-width confidence bins{over}, the expected calibration error is "
             f"{ece} (95% CI {ece_interval}, from "
             f"{fmt.integer(c.resamples)} bootstrap resamples of the images). The mean confidence, "
             f"{fmt.percent(c.mean_confidence)}, ")
    if c.gap.low > 0 and c.mean_confidence > q.accuracy.high:
        return Note("accuracy.calibration", "overconfident", "accuracy",
                    f"{start}exceeds the accuracy by {_points(c.gap.value)} points (95% CI "
                    f"{fmt.points_range(c.gap.low, c.gap.high)}): the network is overconfident.{permuted}", evidence)
    if c.gap.high < 0 and c.mean_confidence < q.accuracy.low:
        return Note("accuracy.calibration", "underconfident", "accuracy",
                    f"{start}falls short of the accuracy by {_points(c.gap.value)} points (95% CI "
                    f"{fmt.points_range(-c.gap.high, -c.gap.low)}): the network is underconfident.{permuted}", evidence)
    direction = "exceeds" if c.gap.value > 0 else "falls short of"
    why = (f"the accuracy's own 95% interval ({fmt.percent_range(q.accuracy.low, q.accuracy.high)}) contains the mean "
           "confidence" if c.gap.low > 0 or c.gap.high < 0 else
           f"mean confidence minus accuracy has a 95% CI of {fmt.points_range(c.gap.low, c.gap.high)} points, "
           "which contains 0")
    return Note("accuracy.calibration", "neither", "accuracy",
                f"{start}{direction} the accuracy by {_points(c.gap.value)} points, but {why}: neither over- nor "
                f"underconfidence is established.{permuted}", evidence)


def _points(difference: float) -> str:
    """A difference of shares in percentage points, to the decimal the shares are written with ("95.5", not
    "96" beside 99.9% and 4.4%); "less than 0.1" where that decimal would read 0.0."""
    points = abs(difference) * 100
    text = f"{points:.{fmt.short_of_hundred((points,), 1)}f}"
    return "less than 0.1" if difference and float(text) == 0 else text


# --- training, non-finite scores -----------------------------------------------------------------------------------

def training(f: Findings) -> Note:
    record = f.evaluation.training
    if f.weights != "checkpoint":
        return Note("accuracy.training", "untrained", "accuracy",
                    f"There is no checkpoint: the weights are {f.weights}, never trained.", {"weights": f.weights})
    if not record:
        return Note("accuracy.training", "external", "accuracy",
                    "The checkpoint carries no training record: it was trained outside this tool.",
                    {"weights": f.weights, "training_record": False})
    epochs, threads = record["config"]["epochs"], record["config"]["threads"]
    return Note("accuracy.training", "recorded", "accuracy",
                f"This checkpoint was trained by this tool for {epochs} epoch{'s' if epochs != 1 else ''} on "
                f"{fmt.integer(record['n_train'])} images in {fmt.number(record['seconds'], 3)} s "
                f"(seed {record['config']['seed']}, {threads} thread{'s' if threads != 1 else ''}).",
                {"seconds": record["seconds"], "epochs": epochs, "test_accuracy": record["test_accuracy"]})


def non_finite(f: Findings) -> Note | None:
    """Images whose scores, or whose embedding, hold NaN or infinite values: what they do to the numbers (scores:
    predictions that mean nothing; whole-split embeddings: left out of every statistic; sampled embeddings:
    distances that cannot be measured)."""
    e = f.evaluation
    scores = e.non_finite_scores
    embedded, where = _non_finite_embeddings(f)
    if not scores and not embedded:
        return None
    layers = [(d.label, d.left_out) for d in (f.separation.depth if f.separation else []) if d.left_out]
    evidence = {"non_finite_scores": scores, "non_finite_embeddings": embedded, "test_images": e.n_test,
                "layers_left_out": dict(layers)}
    scored = (f"{fmt.integer(scores)} of the {fmt.integer(e.n_test)} test images get NaN or infinite scores from "
              "the network: their scores cannot rank the classes, so their predictions, counted in the accuracy "
              "and the confusion matrix, mean nothing")
    depth = (f" Layer by layer, images are left out where a layer's output is not finite: "
             f"{fmt.listing(f'{label} ({fmt.integer(n)})' for label, n in layers)}." if layers else "")
    cause = " Look for an overflow, a division by zero or a logarithm of a negative number in the forward pass."
    if scores and embedded:
        return Note("accuracy.non_finite", "both", "accuracy", f"{scored}; {where}.{depth}{cause}", evidence)
    if scores:
        kept = "; their embeddings are finite, so the whole-split statistics keep them" if f.separation else ""
        return Note("accuracy.non_finite", "scores", "accuracy", f"{scored}{kept}.{depth}{cause}", evidence)
    return Note("accuracy.non_finite", "embeddings", "accuracy",
                f"The network's scores are finite, but {where}.{depth}{cause}", evidence)


def _non_finite_embeddings(f: Findings) -> tuple[int, str]:
    """How many images have a non-finite embedding, and what that does: counted over the whole split when its
    pass ran, else over the sampled images (their stored vectors hold None where a value was not finite)."""
    e = f.evaluation
    if e.non_finite_embeddings:
        left = ("fewer than two images have a finite embedding, so the whole-split sections are left out"
                if f.separation is None else
                "every whole-split statistic of the embedding (spread, silhouette, centroids, maps) leaves them out")
        return e.non_finite_embeddings, (f"{fmt.integer(e.non_finite_embeddings)} of the {fmt.integer(e.n_test)} "
                                         f"test images have NaN or infinite values in their embedding, and {left}")
    samples = f.embeddings.samples if f.embeddings else []
    broken = [s.index for s in samples if any(v is None for v in s.vector)]
    if not broken:
        return 0, ""
    return len(broken), (f"{fmt.integer(len(broken))} of the {fmt.integer(len(samples))} sampled images "
                         f"({fmt.listing(f'#{i}' for i in broken[:4])}{' and more' if len(broken) > 4 else ''}) "
                         "have NaN or infinite values in their embedding, so their distances cannot be measured")

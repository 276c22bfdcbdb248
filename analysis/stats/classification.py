"""Classification quality with its uncertainty, from the test labels, the predicted classes and the confidences:
per-class precision, recall and F1, balanced accuracy and macro-F1, 95% intervals, where the predictions go,
calibration, and the relabelling of predicted classes that would make the most predictions right.

Everything here is computed once, in the analysis, and stored in evaluation.json (``ClassificationQuality``);
the report's rules only read it. numpy, scipy and scikit-learn; no torch.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.stats import binomtest, norm
from sklearn.metrics import balanced_accuracy_score, f1_score, precision_recall_fscore_support

from analysis.store.schema import (
    Calibration,
    CalibrationBin,
    ClassificationQuality,
    ClassQuality,
    Interval,
    PredictionSpread,
    Relabelling,
)

CONFIDENCE_LEVEL = 0.95
CALIBRATION_BINS = 15
BOOTSTRAP_RESAMPLES = 1000
BOOTSTRAP_SEED = 0              # fixed: the same inputs give the same store bytes
COLLAPSE_SHARE = 0.5            # collapsed: one class takes at least half of the predictions, and the Wilson lower
                                # bound of its share lies more than halfway from its share of the labels to all of
                                # them (twice its share of 1%; 75% of two balanced classes; 94% of a class of 88%)
RELABEL_MAX_CLASSES = 1000      # the assignment works on a dense square matrix of the classes that occur
RELABEL_SHUFFLES = 100          # shuffles of the predictions against the labels (each one assignment)
BALANCED_METHOD = ("classes of equal size: the Wilson interval of the pooled count (the balanced accuracy is then the "
                   "accuracy); otherwise the union of two intervals of the mean of the per-class recalls, a normal "
                   "approximation with each class's variance from its Wilson interval and the posterior of Brodersen "
                   "et al. (2010), each recall Beta(correct + 1, wrong + 1), by 20,000 seeded draws")
POSTERIOR_DRAWS = 20_000
POSTERIOR_MAX_SAMPLED_CLASSES = 100  # beyond: the mean of so many independent recalls is normal to within draws' noise


def wilson(k: int, n: int) -> tuple[float, float] | tuple[None, None]:
    """The 95% Wilson score interval of k successes in n trials (scipy); (None, None) when n is 0."""
    if n == 0:
        return None, None
    interval = binomtest(int(k), int(n)).proportion_ci(confidence_level=CONFIDENCE_LEVEL, method="wilson")
    return float(interval.low), float(interval.high)


def wilson_interval(k: int, n: int) -> Interval:
    low, high = wilson(k, n)
    return Interval(value=k / n, low=low, high=high)


def classification_quality(labels: np.ndarray, predicted: np.ndarray, confidence: np.ndarray,
                           classes: int) -> ClassificationQuality:
    """The quality record of a test split. ``classes``: how many classes the data has (labels 0..classes-1).
    The calibration figures' paths are empty: the record's ``with_calibration_figures`` sets them."""
    labels, predicted = np.asarray(labels, dtype=np.int64), np.asarray(predicted, dtype=np.int64)
    present = np.unique(labels)
    correct = predicted == labels
    return ClassificationQuality(
        classes=per_class(labels, predicted, classes),
        test_classes=len(present), chance=1 / len(present),
        accuracy=wilson_interval(int(correct.sum()), len(labels)),
        balanced_accuracy=balanced_accuracy(labels, predicted),
        balanced_method=BALANCED_METHOD,
        macro_f1=float(f1_score(labels, predicted, average="macro", zero_division=0)),
        predictions=prediction_spread(labels, predicted, classes),
        calibration=calibration(correct, np.asarray(confidence, dtype=np.float64)),
        relabelling=relabelling(labels, predicted))


def per_class(labels: np.ndarray, predicted: np.ndarray, classes: int) -> list[ClassQuality]:
    ids = np.arange(classes)
    precision, recall, f1, support = precision_recall_fscore_support(labels, predicted, labels=ids,
                                                                     zero_division=0)
    counts = predicted_counts(predicted, classes)
    hits = np.bincount(labels[predicted == labels], minlength=classes)
    rows = []
    for c in ids:
        low, high = wilson(hits[c], support[c])
        rows.append(ClassQuality(cls=int(c), support=int(support[c]), correct=int(hits[c]), predicted=int(counts[c]),
                                 precision=float(precision[c]), recall=float(recall[c]), f1=float(f1[c]),
                                 recall_low=low, recall_high=high))
    return rows


def predicted_counts(predicted: np.ndarray, classes: int) -> np.ndarray:
    """Test images predicted as each class; predictions of an output beyond the classes are not counted here."""
    inside = predicted[(predicted >= 0) & (predicted < classes)]
    return np.bincount(inside, minlength=classes)


def balanced_accuracy(labels: np.ndarray, predicted: np.ndarray) -> Interval:
    """scikit-learn's balanced accuracy (the mean recall over the classes present in the labels) and its 95%
    interval (``_mean_recall_interval``)."""
    with warnings.catch_warnings():  # a prediction of a class absent from the labels is counted as an error
        warnings.simplefilter("ignore", UserWarning)
        value = float(balanced_accuracy_score(labels, predicted))
    present, support = np.unique(labels, return_counts=True)
    hits = np.bincount(np.searchsorted(present, labels[predicted == labels]), minlength=len(present))
    return Interval(value=value, **_mean_recall_interval(hits, support))


def _mean_recall_interval(hits: np.ndarray, support: np.ndarray) -> dict:
    """The 95% interval of the balanced accuracy (the mean of K recalls). With classes of equal size it is the
    accuracy itself, so its interval is the accuracy's Wilson interval. Otherwise no single textbook interval holds
    everywhere, so two are joined: a normal approximation around the observed mean (each class's variance from its
    Wilson interval, so a recall of 0 or 1 keeps some width) is too narrow and symmetric where recalls sit at 1
    (12 of 12 right); the posterior of Brodersen, Ong, Stephan and Buhmann (2010, "The balanced accuracy and its
    posterior distribution") is skewed as it should be there, but its uniform prior pulls many tiny classes at
    recall 0 towards 1/(n + 2). Their union is the conservative choice: the regime is judged on it."""
    if len(set(support.tolist())) == 1:
        low, high = wilson(int(hits.sum()), int(support.sum()))
        return {"low": low, "high": high}
    z = norm.ppf(0.5 + CONFIDENCE_LEVEL / 2)
    variance = sum(((high - low) / (2 * z)) ** 2 for low, high in (wilson(k, n) for k, n in zip(hits, support)))
    value = float((hits / support).mean())
    half = float(z * np.sqrt(variance) / len(support))
    posterior_low, posterior_high = _posterior_interval(hits, support)
    return {"low": max(0.0, min(value - half, posterior_low)), "high": min(1.0, max(value + half, posterior_high))}


def _posterior_interval(hits: np.ndarray, support: np.ndarray) -> tuple[float, float]:
    """The central 95% of the mean of K Beta(k + 1, n − k + 1) recalls: by seeded draws up to
    POSTERIOR_MAX_SAMPLED_CLASSES classes, beyond by the normal with the same moments (the mean of so many
    independent recalls is normal to within the draws' own noise)."""
    a, b = hits + 1.0, support - hits + 1.0
    tail = (1 - CONFIDENCE_LEVEL) / 2
    if len(support) <= POSTERIOR_MAX_SAMPLED_CLASSES:
        rng = np.random.default_rng(BOOTSTRAP_SEED)
        means = rng.beta(a[:, None], b[:, None], size=(len(support), POSTERIOR_DRAWS)).mean(0)
        low, high = np.quantile(means, [tail, 1 - tail])
    else:
        centre = (a / (a + b)).mean()
        spread = np.sqrt((a * b / ((a + b) ** 2 * (a + b + 1))).sum()) / len(support)
        low, high = norm.ppf([tail, 1 - tail], loc=centre, scale=spread)
    return float(low), float(high)


def prediction_spread(labels: np.ndarray, predicted: np.ndarray, classes: int) -> PredictionSpread:
    counts = predicted_counts(predicted, classes)
    most = int(np.argmax(counts))
    share = wilson_interval(int(counts[most]), len(predicted))
    true_share = float((labels == most).mean())
    return PredictionSpread(
        counts=[int(n) for n in counts], outside=int(len(predicted) - counts.sum()), most=most, most_share=share,
        most_true_share=true_share,
        collapsed=bool(share.value >= COLLAPSE_SHARE and share.low > collapse_threshold(true_share)))


def collapse_threshold(true_share: float) -> float:
    """The share of predictions whose Wilson lower bound calls a class's predictions collapsed: halfway from its
    share of the labels to every prediction (with many classes about twice its share, and reachable with two)."""
    return (true_share + 1) / 2


# --- calibration ---------------------------------------------------------------------------------------------

def calibration_bins(confidence: np.ndarray) -> np.ndarray:
    """Each confidence's bin among CALIBRATION_BINS equal-width bins of [0, 1]: [k/B, (k+1)/B), the last one
    closed (torchmetrics puts a confidence of exactly 1 in a bin of its own; here it joins the top bin)."""
    edges = np.linspace(0.0, 1.0, CALIBRATION_BINS + 1)
    return np.digitize(confidence, edges[1:-1])


def expected_calibration_error(bins: np.ndarray, confidence: np.ndarray, correct: np.ndarray) -> float:
    """Σ over bins of (bin's images / all) · |bin accuracy − bin mean confidence| = Σ |Σ_bin (correct − conf)| / n."""
    per_bin = np.bincount(bins, weights=correct - confidence, minlength=CALIBRATION_BINS)
    return float(np.abs(per_bin).sum() / len(confidence))


def calibration(correct: np.ndarray, confidence: np.ndarray) -> Calibration | None:
    """Reliability of the confidences over the images whose scores are finite; None when there are none."""
    finite = np.isfinite(confidence)
    if not finite.any():
        return None
    conf, right = confidence[finite], correct[finite].astype(np.float64)
    bins = calibration_bins(conf)
    ece, gap = _bootstrap_calibration(bins, conf, right)
    rows = _bin_rows(bins, conf, right)
    return Calibration(bins=rows, images=int(len(conf)), ece=ece, gap=gap, mean_confidence=float(conf.mean()),
                       resamples=BOOTSTRAP_RESAMPLES, seed=BOOTSTRAP_SEED, reliability="", histogram="")


def _bin_rows(bins: np.ndarray, conf: np.ndarray, right: np.ndarray) -> list[CalibrationBin]:
    count = np.bincount(bins, minlength=CALIBRATION_BINS)
    hits = np.bincount(bins, weights=right, minlength=CALIBRATION_BINS)
    total = np.bincount(bins, weights=conf, minlength=CALIBRATION_BINS)
    edges = np.linspace(0.0, 1.0, CALIBRATION_BINS + 1)
    return [CalibrationBin(low=float(edges[b]), high=float(edges[b + 1]), count=int(count[b]),
                           correct=int(round(hits[b])),
                           confidence=float(total[b] / count[b]) if count[b] else None)
            for b in range(CALIBRATION_BINS)]


def _bootstrap_calibration(bins: np.ndarray, conf: np.ndarray, right: np.ndarray) -> tuple[Interval, Interval]:
    """ECE and mean confidence minus accuracy, each with the 2.5th and 97.5th percentiles of a seeded bootstrap
    over the images (the images resampled with replacement, the bins kept)."""
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    n = len(conf)
    eces, gaps = np.empty(BOOTSTRAP_RESAMPLES), np.empty(BOOTSTRAP_RESAMPLES)
    for r in range(BOOTSTRAP_RESAMPLES):
        take = rng.integers(0, n, n)
        eces[r] = expected_calibration_error(bins[take], conf[take], right[take])
        gaps[r] = conf[take].mean() - right[take].mean()
    tail = 100 * (1 - CONFIDENCE_LEVEL) / 2
    return (Interval(expected_calibration_error(bins, conf, right), *map(float, np.percentile(eces, [tail, 100 - tail]))),
            Interval(float(conf.mean() - right.mean()), *map(float, np.percentile(gaps, [tail, 100 - tail]))))


# --- relabelling ---------------------------------------------------------------------------------------------

def relabelling(labels: np.ndarray, predicted: np.ndarray) -> Relabelling | None:
    """The one-to-one relabelling of the classes that occur (as labels or predictions) maximising the number of
    right predictions: scipy's linear_sum_assignment on the confusion matrix; and what the same search finds
    when the predictions are shuffled against the labels (``shuffled_balanced_accuracy``), since the best of
    K! relabellings always finds some agreement, a lot of it with few images per class. None beyond
    RELABEL_MAX_CLASSES."""
    occurring = np.union1d(labels, predicted)
    if len(occurring) > RELABEL_MAX_CLASSES:
        return None
    rows, columns = _index(occurring, labels), _index(occurring, predicted)
    mapping, right = _best_mapping(rows, columns, len(occurring))
    hits, support = _hits_under(mapping, rows, columns, len(occurring))
    moves = [[int(occurring[t]), int(occurring[p])] for t, p in enumerate(mapping) if t != p and support[t]]
    return Relabelling(moves=moves, accuracy=wilson_interval(right, len(labels)),
                       balanced_accuracy=Interval(value=float((hits[support > 0] / support[support > 0]).mean()),
                                                  **_mean_recall_interval(hits[support > 0], support[support > 0])),
                       shuffled_balanced_accuracy=_shuffled_balanced_accuracy(rows, columns, len(occurring)))


def _index(occurring: np.ndarray, values: np.ndarray) -> np.ndarray:
    return np.searchsorted(occurring, values)


def _confusion(rows: np.ndarray, columns: np.ndarray, size: int) -> np.ndarray:
    return np.bincount(rows * size + columns, minlength=size * size).reshape(size, size)


def _best_mapping(rows: np.ndarray, columns: np.ndarray, size: int) -> tuple[np.ndarray, int]:
    """For each true class (by index), the predicted class the best relabelling maps it to, and the right
    predictions under it."""
    matrix = _confusion(rows, columns, size)
    true, mapped = linear_sum_assignment(matrix, maximize=True)
    return mapped[np.argsort(true)], int(matrix[true, mapped].sum())


def _hits_under(mapping: np.ndarray, rows: np.ndarray, columns: np.ndarray, size: int) -> tuple[np.ndarray, ...]:
    right = mapping[rows] == columns
    return np.bincount(rows[right], minlength=size), np.bincount(rows, minlength=size)


def _shuffled_balanced_accuracy(rows: np.ndarray, columns: np.ndarray, size: int) -> float:
    """The 95th percentile of the best relabelling's balanced accuracy over RELABEL_SHUFFLES seeded shuffles of
    the predictions against the labels: what the search finds where the predictions say nothing of the image."""
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    support = np.bincount(rows, minlength=size)
    found = []
    for _ in range(RELABEL_SHUFFLES):
        shuffled = rng.permutation(columns)
        hits, _ = _hits_under(_best_mapping(rows, shuffled, size)[0], rows, shuffled, size)
        found.append((hits[support > 0] / support[support > 0]).mean())
    return float(np.percentile(found, 100 * CONFIDENCE_LEVEL))

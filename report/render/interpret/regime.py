"""Regimes that change what the numbers can say, decided once, here, from the stored classification quality
(evaluation.json's ``quality``, computed by analysis.stats.classification): random weights, and a network that
learned the task, is near chance, below chance, or whose labels look permuted; and (``flat_outputs``, for the
attribution section) a network whose outputs are barely more confident than a uniform guess.

The verdict rests on the balanced accuracy and its 95% interval against chance, 1/K (K: classes in the test
split), never on the distance to the majority class: on imbalanced data always answering the largest class
scores a high accuracy and exactly chance in balanced accuracy. The rules that interpret embeddings or
distances append ``caveat(f)`` to their sentence instead of claiming learning; other owners call ``regime(f)``
and never decide regimes themselves."""

from __future__ import annotations

import math
import statistics

from analysis.store.schema import ClassificationQuality, Interval
from report.render.findings import Findings

SMALL_CLASS = 20      # a class with fewer test images is too small for comparative claims (weakest, strongest...)
TOLERANCE = 1e-6      # stored numbers have 7 significant digits: a bound equal to chance counts as touching it
FLAT_SHARE = 0.1      # outputs within a tenth of the way from a uniform guess to certainty: barely trained
FLAT_LEAST = 10       # test images needed to judge the mean confidence

REGIMES = ("learned", "near-chance", "below-chance", "permuted", "random-weights", "unknown")


def quality(f: Findings) -> ClassificationQuality | None:
    """The stored classification quality; None for a store written before it existed."""
    return f.evaluation.quality


def performance(f: Findings) -> str:
    """What the predictions show, whatever the weights: "learned" (the balanced accuracy's lower bound is above
    chance), "permuted" (not above chance, and a relabelling explains it: ``permuted``), "near-chance" (its
    interval contains chance), "below-chance" (its upper bound is below chance), or "unknown" (no quality stored,
    or a test split of one class)."""
    q = quality(f)
    if q is None or q.test_classes < 2:  # one class: no prediction can show that classes are told apart
        return "unknown"
    balanced = q.balanced_accuracy
    if balanced.low > q.chance + TOLERANCE:
        return "learned"
    if permuted(q):
        return "permuted"
    return "near-chance" if balanced.high >= q.chance - TOLERANCE else "below-chance"


def below_chance(q: ClassificationQuality) -> bool:
    return q.balanced_accuracy.high < q.chance - TOLERANCE


def permuted(q: ClassificationQuality) -> bool:
    """The best one-to-one relabelling of the predicted classes explains the errors of a network not above
    chance (the caller checks that): under it the balanced accuracy's lower bound clears both
    ``relabelling_floor`` and what the same search finds with the predictions shuffled against the labels, and
    the accuracy's Wilson interval lies wholly above the accuracy's interval as labelled."""
    r = q.relabelling
    return bool(r and r.moves and r.accuracy.low > q.accuracy.high
                and r.balanced_accuracy.low > max(relabelling_floor(q), r.shuffled_balanced_accuracy) + TOLERANCE)


def relabelling_floor(q: ClassificationQuality) -> float:
    """What the best relabelling gives a network that avoids the true class and picks among the others at random:
    about 1/(K−1), however many images (shuffling the predictions does not show it: they would no longer avoid the
    true class). With two classes avoiding the true class is the swap itself, a permutation: the floor is 1/2."""
    return 1 / (q.test_classes - 1) if q.test_classes > 2 else q.chance


def flat_outputs(f: Findings) -> tuple[Interval, float, int] | None:
    """(mean confidence with its 95% interval, the line it lies below, K) when the network's outputs are nearly
    uniform: the mean of the test images' top softmax probabilities (evaluation.json's ``confidence``), with a
    normal-approximation interval, lies entirely below 1/K + FLAT_SHARE·(1 − 1/K), K the model's outputs. A network
    trained for a single epoch is far above it; random weights sit on 1/K (a checkpoint of an initialisation is not
    "random" by its words, and its balanced accuracy may clear chance by a few points). None otherwise, or when the
    confidences are not stored (an older store) or fewer than FLAT_LEAST."""
    values = [c for c in f.evaluation.confidence if c is not None]
    classes = f.evaluation.outputs
    if len(values) < FLAT_LEAST or not classes or classes < 2:
        return None
    mean = statistics.fmean(values)
    half = 1.959964 * statistics.stdev(values) / math.sqrt(len(values))
    line = 1 / classes + FLAT_SHARE * (1 - 1 / classes)
    interval_ = Interval(mean, max(0.0, mean - half), min(1.0, mean + half))
    return (interval_, line, classes) if interval_.high < line else None


def regime(f: Findings) -> str:
    """One of REGIMES: "random-weights" without a checkpoint, else ``performance(f)``."""
    return "random-weights" if f.weights != "checkpoint" else performance(f)


CAVEATS = {
    "random-weights": " With random weights this describes the initialisation, not anything learned.",
    "near-chance": " The network's balanced accuracy is not distinguishable from chance, so this describes a network "
                   "that has not learned the task, not what it learned.",
    "below-chance": " The network classifies below chance, so this does not describe a task it learned.",
    "permuted": " The network's labels look permuted (its predictions name other classes than the data's), so "
                "class names here are the data's, not what the network calls them.",
}


def caveat(f: Findings) -> str:
    """A sentence to append to every learning-flavoured sentence (separation, depth, closest pairs, agreement),
    or "" for a checkpoint that learned the task (or a store that cannot tell)."""
    return CAVEATS.get(regime(f), "")

"""How distances are named, and what the whole test split says of the sampled reading: one decision table.

Naming. With --metric mse (the default) every distance is a mean squared error, a squared distance: a ratio of
two MSE means is a ratio of squared distances, larger than it reads. Sentences give the ratio in Euclidean
distance (stored beside it, from the same pairs) and the MSE one named as what it is (``ratio_phrase``), and
say which distance a silhouette is computed on (``silhouette_distance``).

The decision table. The first sections read two classes from a few images each: which class is more compact
(smaller mean intra-class distance), and whether a pair across the two classes lies farther apart than the pairs
within each. A reading from 2 images per class has no interval of its own; the whole split measures the same
figures over every test image with 95% bootstrap intervals (per class, and for the pair). A whole-split
ordering is established only when the two intervals are disjoint. Then, for each of the two claims:

| whole-split intervals       | the sampled ordering holds there                          | the reverse holds there |
|-----------------------------|-----------------------------------------------------------|-------------------------|
| disjoint                    | confirms (≥ ENOUGH_SAMPLES per class); agrees (fewer:     | contradicts             |
|                             | the samples could have been right by luck)                |                         |
| overlapping, or none stored | not established                                           | not established         |

A sampled reading with no ordering (two spreads within SIMILAR_WITHIN of each other) has nothing to check: not
established. Nor is any ordering of a class with fewer than SMALL_CLASS test images (regime.SMALL_CLASS): its
bootstrap interval rests on too few images to order it against another. The whole reading's verdict is the worst
of its claims' (contradicts, then not established). The one sentence that speaks of the comparison
(separation.two_sample), the section's verdict table and its CSV all take their words from ``decide``; the note
stores its result under ``EVIDENCE_KEY``. The sentences about the samples alone (embeddings.*) say what the samples
show, with the small-sample caveat, never what the whole split shows, so no two sentences can disagree.
"""

from __future__ import annotations

import dataclasses

from report.render.words import METRIC_BY_ID, METRIC_NAMES
from report.render import fmt
from report.render.findings import Findings
from report.render.interpret.regime import SMALL_CLASS

CONFIRMS, AGREES, NOT_ESTABLISHED, CONTRADICTS = "confirms", "agrees", "not established", "contradicts"
VERDICTS = (CONFIRMS, AGREES, NOT_ESTABLISHED, CONTRADICTS)
ENOUGH_SAMPLES = 30           # samples per class from which a sampled reading counts as evidence of its own
SIMILAR_WITHIN = 1.1          # sampled means within 10% of each other: no ordering claimed
EVIDENCE_KEY = "sampled_versus_whole"
CRITERION = ("an ordering over the whole split is established when the two 95% bootstrap intervals are disjoint "
             f"and each class has at least {SMALL_CLASS} test images; "
             f"confirms: established as sampled, with at least {ENOUGH_SAMPLES} samples per class; agrees: the "
             "same with fewer; contradicts: the reverse established; not established: intervals overlap, none "
             "stored, or no sampled ordering")


# --- naming ------------------------------------------------------------------------------------------------

def silhouette_distance(metric: str) -> str:
    """The distance a stored silhouette was computed on (schema.SILHOUETTE_METRICS), in words (render/words.py)."""
    return METRIC_BY_ID[metric].silhouette if metric in METRIC_BY_ID else metric


def ratio_phrase(ratio: float | None, metric: str, euclidean: float | None) -> str:
    """A ratio of mean distances with what it is a ratio of: "2.2× in Euclidean distance (4.6× in MSE, a squared
    distance)" when the Euclidean ratio of the same pairs is known; "4.6× in MSE, a squared distance" otherwise."""
    if metric == "mse":
        squared = f"{fmt.ratio(ratio)} in MSE, a squared distance"
        return f"{fmt.ratio(euclidean)} in Euclidean distance ({squared})" if euclidean is not None else squared
    return f"{fmt.ratio(ratio)} in {METRIC_NAMES.get(metric, metric)}"


# --- the decision table --------------------------------------------------------------------------------------

def interval_order(a: tuple, b: tuple) -> str | None:
    """"below" when interval ``a`` lies entirely below ``b``, "above" when entirely above, None when they overlap
    or either is missing."""
    if None in (*a, *b):
        return None
    if a[1] < b[0]:
        return "below"
    if a[0] > b[1]:
        return "above"
    return None


def verdict_of(sampled, whole, enough: bool) -> str:
    """One cell of the table: ``sampled`` the sampled ordering (None: none), ``whole`` the ordering the
    whole split establishes (None: not established)."""
    if sampled is None or whole is None:
        return NOT_ESTABLISHED
    if sampled != whole:
        return CONTRADICTS
    return CONFIRMS if enough else AGREES


@dataclasses.dataclass(frozen=True)
class Check:
    """One claim of the sampled reading against the whole split."""

    claim: str          # "compactness" or "separation"
    verdict: str
    sampled: str        # what the samples showed, in words
    whole: str          # what the whole split shows, in words
    evidence: dict


@dataclasses.dataclass(frozen=True)
class Comparison:
    classes: tuple[int, int]
    per_class: int
    checks: tuple[Check, ...]

    @property
    def verdict(self) -> str:
        verdicts = [c.verdict for c in self.checks]
        for worst in (CONTRADICTS, NOT_ESTABLISHED, AGREES):
            if worst in verdicts:
                return worst
        return CONFIRMS

    def check(self, claim: str) -> Check:
        return next(c for c in self.checks if c.claim == claim)

    def evidence(self) -> dict:
        return {"verdict": self.verdict, "classes": list(self.classes), "per_class": self.per_class,
                "checks": {c.claim: c.verdict for c in self.checks},
                "intervals": {c.claim: c.evidence for c in self.checks}, "criterion": CRITERION}


def _interval(low, high) -> str:
    return f"{fmt.number(low)}–{fmt.number(high)}"


def _figure(mean, low, high) -> str:
    """"1.283, 95% interval 1.1–1.4", or the mean alone when no interval is stored."""
    return fmt.number(mean) if low is None or high is None else f"{fmt.number(mean)}, 95% interval {_interval(low, high)}"


def sampled_tighter(means: dict[int, float]) -> int | None:
    """The class the samples found more compact, or None when the two means are within SIMILAR_WITHIN of each
    other (the sampled rule, embeddings.compactness, then calls them about equally compact)."""
    (low_class, low), (_, high) = sorted(means.items(), key=lambda item: (item[1], item[0]))
    return low_class if distinct_spreads(low, high) else None


def distinct_spreads(low: float, high: float) -> bool:
    """Two sampled mean spreads differ enough to call one class more compact: by SIMILAR_WITHIN or more."""
    return high > low and (low == 0 or high / low >= SIMILAR_WITHIN)


def _small(f: Findings, spread: dict, classes) -> str:
    """"class blue has only 10 test images" for the compared classes under SMALL_CLASS, or ""."""
    small = [c for c in classes if c in spread and spread[c].n < SMALL_CLASS]
    if not small:
        return ""
    return fmt.listing(f"class {f.class_name(c)} has only {fmt.integer(spread[c].n)} test image"
                       f"{'s' if spread[c].n != 1 else ''}" for c in small)


def _orderable(spread: dict, c: int) -> tuple:
    """A class's interval, or (None, None) when it has fewer than SMALL_CLASS test images (none to order by)."""
    if c not in spread or spread[c].n < SMALL_CLASS:
        return None, None
    return spread[c].ci_low, spread[c].ci_high


def _compactness(f: Findings, a: int, b: int, two: dict, full: dict, spread: dict, enough: bool) -> Check:
    name = {a: f.class_name(a), b: f.class_name(b)}
    tighter = sampled_tighter(two)
    interval = {c: (spread[c].ci_low, spread[c].ci_high) if c in spread else (None, None) for c in (a, b)}
    small = _small(f, spread, (a, b))
    order = interval_order(_orderable(spread, a), _orderable(spread, b))
    whole = a if order == "below" else b if order == "above" else None
    verdict = verdict_of(tighter, whole, enough)
    evidence = {"sampled": {str(c): two[c] for c in (a, b)}, "full": {str(c): full[c] for c in (a, b)},
                "intervals": {str(c): list(interval[c]) for c in (a, b)}, "sampled_tighter": tighter,
                "whole_tighter": whole, "verdict": verdict, "small_class": SMALL_CLASS,
                "images": {str(c): spread[c].n if c in spread else None for c in (a, b)}}
    if tighter is None:
        sampled = (f"classes {name[a]} and {name[b]} about equally compact ({fmt.number(two[a])} and "
                   f"{fmt.number(two[b])})")
    else:
        other = b if tighter == a else a
        sampled = f"class {name[tighter]} more compact ({fmt.number(two[tighter])} against {fmt.number(two[other])})"
    if whole is not None:
        loose = b if whole == a else a
        figures = (f"{_figure(full[whole], *interval[whole])}, against {_figure(full[loose], *interval[loose])}: "
                   "the intervals do not overlap")
        if verdict == CONTRADICTS:
            text = f"over all images class {name[whole]} is the more compact ({figures}), the reverse of the samples"
        elif verdict == NOT_ESTABLISHED:
            text = (f"over all images class {name[whole]} is the more compact ({figures}); the samples claimed no "
                    "ordering to check")
        else:
            text = f"over all images class {name[whole]} is more compact too ({figures})"
    elif small:
        text = (f"over all images {small}, fewer than {SMALL_CLASS}, so which class is more compact is not "
                f"established ({name[a]} {_figure(full[a], *interval[a])}; {name[b]} {_figure(full[b], *interval[b])})")
    elif None in (*interval[a], *interval[b]):
        text = (f"over all images the spreads ({fmt.number(full[a])} and {fmt.number(full[b])}) have no 95% "
                "interval to compare, so which class is more compact is not established")
    else:
        text = (f"over all images the spreads of {name[a]} ({_figure(full[a], *interval[a])}) and {name[b]} "
                f"({_figure(full[b], *interval[b])}) have overlapping intervals, so which class is more compact "
                "is not established")
    return Check("compactness", verdict, sampled, text, evidence)


def _separation(f: Findings, a: int, b: int, two: dict, full: dict, spread: dict, inter: dict,
                enough: bool) -> Check:
    name = {a: f.class_name(a), b: f.class_name(b)}
    pair = f"{name[a]}–{name[b]}"
    widest = max((a, b), key=lambda c: (two[c], c))
    separated = inter["two_sample"] > two[widest]
    intervals = {c: (spread[c].ci_low, spread[c].ci_high) if c in spread else (None, None) for c in (a, b)}
    across = (inter.get("ci_low"), inter.get("ci_high"))
    small = _small(f, spread, (a, b))
    above = [interval_order(across, _orderable(spread, c)) == "above" for c in (a, b)]
    below = [c for c in (a, b) if interval_order(across, _orderable(spread, c)) == "below"]
    whole = True if all(above) else False if below else None
    verdict = verdict_of(separated, whole, enough)
    evidence = {"sampled": {"inter": inter["two_sample"], **{str(c): two[c] for c in (a, b)}},
                "full": {"inter": inter["full"], **{str(c): full[c] for c in (a, b)}},
                "intervals": {"inter": list(across), **{str(c): list(intervals[c]) for c in (a, b)}},
                "sampled_separated": separated, "whole_separated": whole, "verdict": verdict,
                "small_class": SMALL_CLASS}
    across_pairs = f"pairs across {name[a]} and {name[b]}"
    sampled = (f"{across_pairs} farther apart on average ({fmt.number(inter['two_sample'])}) than pairs within "
               "either class" if separated else
               f"{across_pairs} no farther apart on average ({fmt.number(inter['two_sample'])}) than pairs within "
               f"class {name[widest]} ({fmt.number(two[widest])})")
    mean = f"the mean {pair} distance ({_figure(inter['full'], *across)})"
    if whole is True:
        text = (f"over all images {mean} lies above both classes' intra-class intervals"
                + ("" if verdict != CONTRADICTS else ": between these two classes, pairs across lie farther apart "
                   "than pairs within, the reverse of the samples"))
    elif whole is False:
        within = below[0] if len(below) == 1 else max(below, key=lambda c: (full[c], c))
        text = (f"over all images {mean} lies below class {fmt.possessive(name[within])} intra-class interval "
                f"({_interval(*intervals[within])})"
                + (": between these two classes, pairs across are not farther apart than pairs within, the reverse "
                   "of the samples" if verdict == CONTRADICTS else ""))
    elif small:
        text = (f"over all images {small}, fewer than {SMALL_CLASS}, so whether pairs across these two classes "
                f"lie farther apart than pairs within is not established (mean {pair} distance "
                f"{_figure(inter['full'], *across)})")
    elif None in across:
        text = (f"over all images the mean {pair} distance ({fmt.number(inter['full'])}) has no stored interval, so "
                "whether pairs across these two classes lie farther apart than pairs within is not established")
    else:
        text = (f"over all images {mean} overlaps the intra-class intervals, so whether pairs across these two "
                "classes lie farther apart than pairs within is not established")
    return Check("separation", verdict, sampled, text, evidence)


def decide(f: Findings) -> Comparison | None:
    """The decision table applied to the store's two-sample figures; None when the store has none to compare."""
    s = f.separation
    if s is None or not s.two_sample or f.embeddings is None:
        return None
    t = s.two_sample
    a, b = t["classes"][:2]
    rows, inter = t.get("intra", {}), dict(t.get("inter") or {})
    two = {c: rows.get(str(c), {}).get("two_sample") for c in (a, b)}
    sampled = f.embeddings.distances.get(s.metric)
    if sampled is not None:  # the sampled rules' own table: what they read is what is judged (the same numbers
        # as the copy in two_sample, which the analysis took from it)
        two = {c: sampled.intra_by_class.get(str(c), {}).get("mean") for c in (a, b)}
        inter["two_sample"] = sampled.inter_by_class_pair.get(f"{min(a, b)}-{max(a, b)}", {}).get("mean")
    full = {c: rows.get(str(c), {}).get("full") for c in (a, b)}
    if None in (*two.values(), *full.values(), inter.get("two_sample"), inter.get("full")):
        return None
    spread = {c.cls: c for c in s.per_class}
    enough = f.embeddings.per_class >= ENOUGH_SAMPLES
    checks = (_compactness(f, a, b, two, full, spread, enough),
              _separation(f, a, b, two, full, spread, inter, enough))
    return Comparison((a, b), f.embeddings.per_class, checks)


HEADS = {CONFIRMS: "confirmed", AGREES: "borne out", NOT_ESTABLISHED: "not established in full",
         CONTRADICTS: "contradicted"}


def sentence(f: Findings, comparison: Comparison) -> str:
    """The comparison in one sentence: the verdict, what the samples showed, and each claim's whole-split check."""
    a, b = (f.class_name(c) for c in comparison.classes)
    n = comparison.per_class
    metric = METRIC_NAMES.get(f.separation.metric, f.separation.metric)
    luck = (f" (with {n} sample{'s' if n != 1 else ''} per class the samples could have been right by luck)"
            if comparison.verdict == AGREES else "")
    compact, apart = comparison.check("compactness"), comparison.check("separation")
    return (f"Checked against the whole test split (mean {metric}, 95% bootstrap intervals), the sampled reading of "
            f"classes {a} and {b} from {n} sample{'s' if n != 1 else ''} per class is {HEADS[comparison.verdict]}"
            f"{luck}: the samples found {compact.sampled} and {apart.sampled}; {compact.whole}; {apart.whole}.")

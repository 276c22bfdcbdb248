"""Rules about where the network looks (attribution.json, analysis/attribution/): for each attribution method,
whether its maps pass the sanity checks the analysis ran on its check images, and where they put the evidence.

- Randomisation (Adebayo et al., 2018): the network's parameters re-drawn from the output layer down; a map that
  describes what the network learned changes. A method passes when the 95% interval of the rank correlation between
  the maps of the fully randomised network (the last step) and the trained one's lies entirely below
  ``RANDOMISED_BELOW`` and fails when it lies entirely above it.
- Deletion and insertion against a random order: removing the pixels a map ranks first should lower the
  probability faster than removing them at random (the paired difference of the areas under the curves below 0);
  revealing them first should raise it faster (above 0).
- Where the evidence lies: on the foreground against its share of the area, in the central region against its
  quarter of the area, and on the misclassified images against the correctly classified ones.

Every decision is an interval lying on one side of a stated value; an interval that holds the value decides
nothing and says so. With random weights, or a network not distinguishable from chance, the first note says that
the maps describe an untrained network (regime.py decides which)."""

from __future__ import annotations

from analysis.store.schema import FaithfulnessCurve, Interval, MethodChecks
from report.render import fmt
from report.render.findings import Findings
from report.render.interpret.notes import Note
from report.render.interpret.regime import performance, quality
from report.render.words import attribution_name

SECTION = "attribution"
RANDOMISED_BELOW = 0.5   # rank correlation with the fully randomised network's maps: below it, the maps changed
CENTRE_AREA = 0.25       # the central region (half the side) holds a quarter of the area: an even map's share


def signed(x: float, decimals: int = 2) -> str:
    """A fixed number of decimals with a true minus sign: "−0.12"."""
    return (f"{x:.{decimals}f}" if round(x, decimals) else f"{0.0:.{decimals}f}").replace("-", "−")


def interval(e: Interval, decimals: int = 2) -> str:
    """"0.05 to 0.19"."""
    return f"{signed(e.low, decimals)} to {signed(e.high, decimals)}"


def estimate(e: Interval, decimals: int = 2) -> str:
    """"0.12 (95% CI 0.05 to 0.19)"."""
    return f"{signed(e.value, decimals)} (95% CI {interval(e, decimals)})"


def share(e: Interval) -> str:
    """A share with its interval: "41.0% (95% CI 30.0–50.0%)"."""
    return fmt.percent_ci(e.value, e.low, e.high)


def points(e: Interval) -> str:
    """A difference of shares in percentage points with its interval: "20.0 points (95% CI 10.0 to 30.0)"."""
    value = round(e.value * 100, 1) + 0.0
    return f"{value:.1f} points (95% CI {fmt.points_range(e.low, e.high)})".replace("-", "−")


def side(e: Interval, value: float) -> str:
    """"above" or "below" when the interval lies entirely on one side of ``value``, else "both"."""
    if e.low > value:
        return "above"
    if e.high < value:
        return "below"
    return "both"


def _numbers(e: Interval) -> list[float]:
    return [e.value, e.low, e.high]


def _name(checks: MethodChecks) -> str:
    name = attribution_name(checks.method)
    return f"{name} at {checks.layer}" if checks.layer else name


def _methods(f: Findings) -> list[MethodChecks]:
    return f.attribution.checks if f.attribution is not None else []


# --- the regime: an untrained network -------------------------------------------------------------------------

def untrained(f: Findings) -> Note | None:
    """First, when it applies: with random weights, or a balanced accuracy whose 95% interval contains chance
    (regime.performance: "near-chance"), the maps describe an untrained network and no check speaks of learned
    features."""
    if f.attribution is None:
        return None
    evidence = {"weights": f.weights, "regime": performance(f)}
    if f.weights.startswith("random"):
        return Note("attribution.untrained", "random-weights", SECTION,
                    f"These maps describe an untrained network ({f.weights.replace('random', 'random weights', 1)}): "
                    "the checks below say nothing about learned features.", evidence)
    q = quality(f)
    if performance(f) == "near-chance":
        b = q.balanced_accuracy
        evidence.update(balanced_accuracy=_numbers(b), chance=q.chance)
        return Note("attribution.untrained", "near-chance", SECTION,
                    f"The network's balanced accuracy, {fmt.percent_ci(b.value, b.low, b.high)}, is not "
                    f"distinguishable from chance ({fmt.percent(q.chance)}, one in {q.test_classes} classes): these "
                    "maps describe a network that has not learned the task, and the checks below say nothing about "
                    "learned features.", evidence)
    return None


# --- randomisation --------------------------------------------------------------------------------------------

def randomisation(f: Findings) -> list[Note]:
    """Per method: the rank correlation of its maps with those of the network with every layer re-drawn (the last
    step of the cascade), against RANDOMISED_BELOW."""
    notes = []
    for checks in _methods(f) if untrained(f) is None else ():  # "learned weights" would be wrong words then
        if not checks.randomisation:
            continue
        last = checks.randomisation[-1]
        rho = last.rank_correlation
        where = side(rho, RANDOMISED_BELOW)
        branch = {"below": "passes", "above": "fails", "both": "undecided"}[where]
        opening = (f"{_name(checks)}: with every layer's weights re-drawn (down to {last.layer}), the rank correlation "
                   f"of its maps with the trained network's is {estimate(rho)} on {checks.images} images")
        verdict = {
            "passes": f", entirely below {RANDOMISED_BELOW}: its maps change when the learned weights are gone, as "
                      "maps that reflect what the network learned must.",
            "fails": f", entirely above {RANDOMISED_BELOW}: its maps survive the randomisation of the weights, so "
                     "they do not reflect what the network learned.",
            "undecided": f"; the interval holds {RANDOMISED_BELOW}, so these images cannot tell whether its maps "
                         "depend on the learned weights.",
        }[branch]
        notes.append(Note("attribution.randomisation", branch, SECTION, opening + verdict, {
            "method": checks.method, "layer": last.layer, "images": checks.images,
            "rank_correlation": _numbers(rho), "ssim": _numbers(last.ssim), "threshold": RANDOMISED_BELOW,
            "criterion": f"passes: the 95% interval of the last step's rank correlation < {RANDOMISED_BELOW}; "
                         f"fails: > {RANDOMISED_BELOW}; else undecided"}))
    return notes


# --- deletion and insertion -----------------------------------------------------------------------------------

def _faithfulness(f: Findings, check: str) -> list[Note]:
    """Deletion is faithful when the paired difference of the areas (map's order − random order) lies entirely
    below 0, insertion when it lies entirely above 0."""
    notes = []
    baseline = f.attribution.baseline if f.attribution is not None else ""
    for checks in _methods(f):
        curve: FaithfulnessCurve = getattr(checks, check)
        d = curve.difference
        faithful = d.high < 0 if check == "deletion" else d.low > 0
        wanted = "below" if check == "deletion" else "above"
        areas = (f"the area under its curve is {signed(curve.auc.value)} against {signed(curve.random_auc.value)} "
                 f"in a random order, a difference of {estimate(d)}")
        if faithful:
            action = ("removing the pixels its maps rank highest first (set to the baseline, "
                      f"{baseline}) lowers the probability of the class attributed faster" if check == "deletion" else
                      f"revealing the pixels its maps rank highest first (from the baseline, {baseline}) raises the "
                      "probability of the class attributed faster")
            text = (f"{_name(checks)}, {check}: {action} than a random order on these {checks.images} images: "
                    f"{areas}, entirely {wanted} 0.")
        else:
            text = (f"{_name(checks)}, {check}: the order of its maps is no better than a random order on these "
                    f"{checks.images} images: {areas}, an interval that does not lie entirely {wanted} 0.")
        notes.append(Note(f"attribution.{check}", "faithful" if faithful else "no-better", SECTION, text, {
            "method": checks.method, "images": checks.images, "auc": _numbers(curve.auc),
            "random_auc": _numbers(curve.random_auc), "difference": _numbers(d), "threshold": 0.0,
            "criterion": f"faithful: the 95% interval of the difference lies entirely {wanted} 0"}))
    return notes


def deletion(f: Findings) -> list[Note]:
    return _faithfulness(f, "deletion")


def insertion(f: Findings) -> list[Note]:
    return _faithfulness(f, "insertion")


# --- where the evidence lies ----------------------------------------------------------------------------------

def on_object(f: Findings) -> list[Note]:
    """The paired excess of the maps' mass on the foreground over the foreground's share of the area, against 0."""
    notes = []
    for checks in _methods(f):
        excess, mass = checks.object_excess, checks.object_share
        where = side(excess, 0.0)
        branch = {"above": "object", "below": "background", "both": "undecided"}[where]
        opening = (f"{_name(checks)}: {share(mass)} of its maps' mass lies on the object (the foreground: pixels "
                   f"unlike the image's border), {points(excess)} against the object's share of each image's area")
        verdict = {"object": ", entirely above 0: more of the evidence lies on the object than its area's share.",
                   "background": ", entirely below 0: more of the evidence lies on the background than its area's "
                                 "share.",
                   "undecided": "; the interval holds 0, so these images cannot say whether the evidence favours the "
                                "object or the background."}[branch]
        notes.append(Note("attribution.object", branch, SECTION, opening + verdict, {
            "method": checks.method, "images": checks.images, "object_share": _numbers(mass),
            "object_excess": _numbers(excess), "threshold": 0.0,
            "criterion": "object: the 95% interval of the excess > 0; background: < 0; else undecided"}))
    return notes


def centre(f: Findings) -> list[Note]:
    """The maps' mass in the central region (half the side, a quarter of the area), against CENTRE_AREA."""
    notes = []
    for checks in _methods(f):
        c = checks.centre_share
        branch = {"above": "centre", "below": "edges", "both": "undecided"}[side(c, CENTRE_AREA)]
        opening = (f"{_name(checks)}: {share(c)} of its maps' mass lies in the central region (half the side, a "
                   f"quarter of the area)")
        verdict = {"centre": f", entirely above the {fmt.percent(CENTRE_AREA, 0)} an evenly spread map puts there: "
                             "the evidence gathers in the centre.",
                   "edges": f", entirely below the {fmt.percent(CENTRE_AREA, 0)} an evenly spread map puts there: "
                            "the evidence lies towards the edges.",
                   "undecided": f"; the interval holds the {fmt.percent(CENTRE_AREA, 0)} an evenly spread map puts "
                                "there, so these images cannot say whether the evidence favours the centre."}[branch]
        notes.append(Note("attribution.centre", branch, SECTION, opening + verdict, {
            "method": checks.method, "images": checks.images, "centre_share": _numbers(c), "threshold": CENTRE_AREA,
            "criterion": f"centre: the 95% interval > {CENTRE_AREA}; edges: < {CENTRE_AREA}; else undecided"}))
    return notes


def errors(f: Findings) -> list[Note]:
    """Only where it is stored and its interval excludes 0: whether the misclassified check images' maps put more
    or less of their mass on the object than the correctly classified ones'."""
    notes = []
    for checks in _methods(f):
        e = checks.errors_vs_correct
        if e is None or side(e, 0.0) == "both":
            continue
        more = e.low > 0
        which = "more" if more else "less"
        notes.append(Note("attribution.errors", f"{which}-on-object", SECTION,
                          f"{_name(checks)}: the maps of the misclassified check images put {which} of their mass on "
                          f"the object than those of the correctly classified ones, {points(e)}, an interval that "
                          "excludes 0.",
                          {"method": checks.method, "images": checks.images, "errors_vs_correct": _numbers(e),
                           "threshold": 0.0}))
    return notes


# In the order the section shows their notes: the regime's sentence first.
RULES = (untrained, randomisation, deletion, insertion, on_object, centre, errors)

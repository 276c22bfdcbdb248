"""Rules about where the network looks (attribution.json, analysis/attribution/): for each attribution method,
whether its maps pass the sanity checks the analysis ran on its check images, and where they put the evidence.

- Randomisation (Adebayo et al., 2018): the network's parameters re-drawn from the output layer down; a map that
  describes what the network learned changes. A method passes when the 95% interval of the rank correlation between
  the maps of the fully randomised network (the last step) and the trained one's lies entirely below
  ``RANDOMISED_BELOW`` and fails when it lies entirely above it.
- Deletion and insertion against a random order: removing the pixels a map ranks first should lower the
  probability faster than removing them at random (the paired difference of the areas under the curves below 0);
  revealing them first should raise it faster (above 0).
- ROAD (remove and debias): the pixels imputed from their neighbours instead of set to a constant; a faithful map
  loses more probability when its most relevant pixels go than when its least relevant ones do (above 0).
- A faithfulness check whose whole interval lies on the right side of 0 but within ``NEGLIGIBLE`` of it is
  established and too small to matter (an untrained network's maps beat a random order by a few thousandths).
- The verdict: a method's maps are to be believed when it passes the randomisation check and at least one
  faithfulness check; never for an untrained network, nor when the maps survive the randomisation.
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
from report.render.interpret.regime import FLAT_SHARE, flat_outputs, performance, quality
from report.render.words import attribution_label

SECTION = "attribution"
RANDOMISED_BELOW = 0.5   # rank correlation with the fully randomised network's maps: below it, the maps changed
CENTRE_AREA = 0.25       # the central region (half the side) holds a quarter of the area: an even map's share
NEGLIGIBLE = 0.05        # a faithfulness difference whose interval lies within this of 0: too small to matter
                         # (areas under probability curves over [0, 1]: 0.05 is 5 points of probability on average)
FAITHFULNESS = ("deletion", "insertion", "road")
TOUCHING = 1e-12         # rounding noise (a mean of exact zeros comes out as 1e-15): an interval end this close to a
                         # threshold touches it, and is shown as 0


def shown(e: Interval, least: int = 2, scale: float = 1.0) -> tuple[str, str, str]:
    """The value and the ends of its interval as text, ``scale`` times each (100: percentage points), with the
    decimals that show every number other than 0 as other than 0 (``least`` at least: fmt.shown_decimals)."""
    values = [0.0 if abs(x) < TOUCHING else x * scale for x in (e.value, e.low, e.high)]
    decimals = fmt.shown_decimals(values, least)
    value, low, high = (fmt.signed_shown(x, decimals) for x in values)
    return value, low, high


def estimate(e: Interval) -> str:
    """"0.12 (95% CI 0.05 to 0.19)"; "−0.0012 (95% CI −0.0028 to −0.0003)", never "(95% CI −0.001 to 0.000)"."""
    value, low, high = shown(e)
    return f"{value} (95% CI {low} to {high})"


def share(e: Interval) -> str:
    """A share with its interval: "41.0% (95% CI 30.0–50.0%)"."""
    return fmt.percent_ci(e.value, e.low, e.high)


def points(e: Interval) -> str:
    """A difference of shares in percentage points with its interval: "20.0 points (95% CI 10.0 to 30.0)", never
    "(95% CI 0.0 to 0.6)" for an interval above 0."""
    value, low, high = shown(e, 1, 100)
    return f"{value} points (95% CI {low} to {high})"


def side(e: Interval, value: float) -> str:
    """"above" or "below" when the interval lies entirely on one side of ``value`` (farther than TOUCHING), else
    "both"."""
    if e.low > value + TOUCHING:
        return "above"
    if e.high < value - TOUCHING:
        return "below"
    return "both"


def _numbers(e: Interval) -> list[float]:
    return [e.value, e.low, e.high]


def _name(checks: MethodChecks) -> str:
    return attribution_label(checks.method, checks.layer)


def _methods(f: Findings) -> list[MethodChecks]:
    return f.attribution.checks if f.attribution is not None else []


# --- the regime: an untrained network -------------------------------------------------------------------------

def _random_weights(weights: str) -> str:
    """"random (seed 0)" in words that sit inside parentheses: "random weights, seed 0"."""
    return weights.replace("random", "random weights", 1).replace(" (", ", ", 1).removesuffix(")")


def untrained(f: Findings) -> Note | None:
    """First, when it applies: with random weights, or a balanced accuracy whose 95% interval contains chance
    (regime.performance: "near-chance"), the maps describe an untrained network and no check speaks of learned
    features."""
    if f.attribution is None:
        return None
    evidence = {"weights": f.weights, "regime": performance(f)}
    if f.weights.startswith("random"):
        return Note("attribution.untrained", "random-weights", SECTION,
                    f"These maps describe an untrained network ({_random_weights(f.weights)}): "
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
    flat = flat_outputs(f)
    if flat is not None:
        mean, line, classes = flat
        evidence.update(mean_confidence=_numbers(mean), line=line, classes=classes,
                        criterion=f"the 95% interval of the mean confidence lies below 1/K + {FLAT_SHARE:g}·(1 − 1/K)")
        return Note("attribution.untrained", "flat-outputs", SECTION,
                    f"The network is barely more confident than a uniform guess: its mean confidence over the test "
                    f"split is {fmt.percent_ci(mean.value, mean.low, mean.high)}, entirely below "
                    f"{fmt.percent(line)} (a tenth of the way from the {fmt.percent(1 / classes)} of a uniform guess "
                    f"over {classes} outputs to certainty): its outputs hardly depend on the image, so these maps "
                    "describe a network that has hardly learned, and the checks below say nothing about learned "
                    "features.", evidence)
    return None


# The untrained note's branch, in the verdict's words.
UNTRAINED_WHY = {"random-weights": "random weights", "near-chance": "its balanced accuracy is at chance",
                 "flat-outputs": "its outputs are nearly uniform"}


# --- randomisation --------------------------------------------------------------------------------------------

def _randomisation_branch(checks: MethodChecks) -> str:
    if not checks.randomisation:
        return "absent"
    return {"below": "passes", "above": "fails", "both": "undecided"}[
        side(checks.randomisation[-1].rank_correlation, RANDOMISED_BELOW)]


def randomisation(f: Findings) -> list[Note]:
    """Per method: the rank correlation of its maps with those of the network with every layer re-drawn (the last
    step of the cascade), against RANDOMISED_BELOW."""
    notes = []
    for checks in _methods(f) if untrained(f) is None else ():  # "learned weights" would be wrong words then
        if not checks.randomisation:
            continue
        last = checks.randomisation[-1]
        rho = last.rank_correlation
        branch = _randomisation_branch(checks)
        opening = (f"{_name(checks)}, randomisation: with every layer re-drawn (down to {last.layer}), its "
                   f"maps' rank correlation with the trained network's is {estimate(rho)} on {checks.images} images")
        verdict = {
            "passes": f", entirely below {RANDOMISED_BELOW}: the maps change when the learned weights are gone.",
            "fails": f", entirely above {RANDOMISED_BELOW}: the maps survive the randomisation of the weights, so "
                     "they do not reflect what the network learned.",
            "undecided": f"; the interval holds {RANDOMISED_BELOW}, so these images cannot tell whether the maps "
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
        wanted = "below" if check == "deletion" else "above"
        branch = faithfulness_branch(d, wanted)
        faithful = branch == "faithful"
        areas = (f"area {fmt.signed(curve.auc.value)} against {fmt.signed(curve.random_auc.value)}, difference "
                 f"{estimate(d)}")
        if branch == "negligible":
            lies = side(d, 0.0)
            text = (f"{_name(checks)}, {check}: its maps' order "
                    f"{'beats' if lies == wanted else 'does worse than'} a random order on these {checks.images} "
                    f"images by too little to matter: {areas}, entirely {lies} 0 but within {NEGLIGIBLE:g} of it.")
        elif faithful:
            action = (f"removing its highest-ranked pixels first (set to {baseline}) lowers the class's probability"
                      if check == "deletion" else
                      f"revealing its highest-ranked pixels first (from {baseline}) raises the class's probability")
            text = (f"{_name(checks)}, {check}: faithful on {checks.images} images — {action} faster than a random "
                    f"order: {areas}, entirely {wanted} 0.")
        elif side(d, 0.0) == "both":
            text = (f"{_name(checks)}, {check}: its maps' order cannot be told apart from a random order on these "
                    f"{checks.images} images: {areas}, an interval that holds 0.")
        else:  # entirely on the wrong side: the map's order does worse than chance, which "cannot tell" would hide
            text = (f"{_name(checks)}, {check}: its maps' order does worse than a random order on these "
                    f"{checks.images} images: {areas}, entirely {'above' if wanted == 'below' else 'below'} 0, where "
                    f"a faithful map's lies {wanted} it.")
        notes.append(Note(f"attribution.{check}", _note_branch(branch), SECTION, text, {
            "method": checks.method, "images": checks.images, "auc": _numbers(curve.auc),
            "random_auc": _numbers(curve.random_auc), "difference": _numbers(d), "threshold": 0.0,
            "negligible": NEGLIGIBLE,
            "criterion": f"faithful: the 95% interval of the difference lies entirely {wanted} 0, not all of it "
                         f"within {NEGLIGIBLE:g} of 0; negligible: entirely on either side of 0, all of it within "
                         f"{NEGLIGIBLE:g} of 0"}))
    return notes


def faithfulness_branch(d: Interval, wanted: str) -> str:
    """"faithful" when the interval lies entirely on the ``wanted`` side of 0 ("below" or "above") and reaches
    NEGLIGIBLE or beyond; "worse" when it lies entirely on the other side and reaches NEGLIGIBLE; "negligible" when
    it lies on either side but all of it within NEGLIGIBLE of 0 (a difference of a few millionths is no evidence
    for or against the maps, whichever its sign); "undecided" when it holds 0."""
    where = side(d, 0.0)
    if where == "both":
        return "undecided"
    if max(abs(d.low), abs(d.high)) < NEGLIGIBLE:
        return "negligible"
    return "faithful" if where == wanted else "worse"


def _note_branch(branch: str) -> str:
    """A faithfulness note's branch: an order no better than chance, whether undecided or worse, is one branch."""
    return branch if branch in ("faithful", "negligible") else "no-better"


def deletion(f: Findings) -> list[Note]:
    return _faithfulness(f, "deletion")


def insertion(f: Findings) -> list[Note]:
    return _faithfulness(f, "insertion")


def road(f: Findings) -> list[Note]:
    """Per method with ROAD's numbers: the mean over fractions of LeRF − MoRF, against 0 (faithful above)."""
    notes = []
    for checks in _methods(f):
        if checks.road is None:
            continue
        r = checks.road
        branch = faithfulness_branch(r.score, "above")
        fractions = ", ".join(fmt.percent(x, 0) for x in r.fractions)
        opening = (f"{_name(checks)}, ROAD: with {fractions} of the pixels imputed from their neighbours (not set to "
                   f"a constant), the class keeps {estimate(r.score)} more probability on average when its least "
                   f"relevant pixels go than when its most relevant ones do, on {checks.images} images")
        verdict = {
            "faithful": ", entirely above 0: the pixels its maps rank first carry the evidence, also when the "
                        "removal leaves no visible hole.",
            "negligible": f", entirely {side(r.score, 0.0)} 0 but within {NEGLIGIBLE:g} of it: too little to matter.",
            "undecided": "; the interval holds 0, so these images cannot tell its most relevant pixels from its least "
                         "relevant ones.",
            "worse": ", entirely below 0: the pixels it ranks first matter less than those it ranks last.",
        }[branch]
        notes.append(Note("attribution.road", _note_branch(branch), SECTION,
                          opening + verdict, {
                              "method": checks.method, "images": checks.images, "score": _numbers(r.score),
                              "fractions": list(r.fractions), "threshold": 0.0, "negligible": NEGLIGIBLE,
                              "criterion": f"faithful: the 95% interval of LeRF − MoRF lies entirely above 0, not "
                                           f"all of it within {NEGLIGIBLE:g} of 0; negligible: entirely on either "
                                           f"side of 0, all of it within {NEGLIGIBLE:g} of 0"}))
    return notes


# --- the verdict ----------------------------------------------------------------------------------------------

def _faithful_checks(checks: MethodChecks) -> list[str]:
    """The faithfulness checks a method passes (not negligibly)."""
    passed = []
    for check in FAITHFULNESS:
        if check == "road":
            if checks.road is not None and faithfulness_branch(checks.road.score, "above") == "faithful":
                passed.append("ROAD")
        elif faithfulness_branch(getattr(checks, check).difference,
                                 "below" if check == "deletion" else "above") == "faithful":
            passed.append(check)
    return passed


def verdict(f: Findings) -> list[Note]:
    """Per method, which maps to believe, from the checks above: believe them when the method passes the
    randomisation check and at least one faithfulness check (deletion, insertion, ROAD); do not when the network is
    untrained or the maps survive the randomisation; otherwise the checks leave them unsupported or undecided."""
    notes = []
    regime = untrained(f)
    trained = regime is None
    why = "" if trained else UNTRAINED_WHY[regime.branch]
    for checks in _methods(f):
        randomised = _randomisation_branch(checks)
        passed = _faithful_checks(checks)
        offered = 3 if checks.road is not None else 2
        count = f"{len(passed)} of {offered} faithfulness checks passed" + (f": {fmt.listing(passed)}" if passed else "")
        if not trained:
            branch, text = "untrained", (f"Verdict on {_name(checks)}: do not read these maps as what a network "
                                         f"learned — the network is untrained ({why}), so they show how its weights "
                                         "respond to the image, not evidence it learned to use.")
        elif randomised == "fails":
            branch, text = "do-not-believe", (f"Verdict on {_name(checks)}: do not believe its maps — they survive "
                                              "the randomisation of the weights, so they show the image more than "
                                              f"the network ({count}).")
        elif randomised == "passes" and passed:
            branch, text = "believe", (f"Verdict on {_name(checks)}: its maps can be believed for images like these "
                                       f"— they change when the learned weights are re-drawn, and the pixels they "
                                       f"rank first move the class's probability more than others ({count}).")
        elif randomised == "passes":
            branch, text = "unsupported", (f"Verdict on {_name(checks)}: read its maps with caution — they change "
                                           "when the weights are re-drawn, but no faithfulness check shows that the "
                                           "pixels "
                                           f"they rank first matter more than others (0 of {offered} faithfulness checks "
                                           "passed).")
        else:
            why = ("the randomisation check could not run (no parameterised layer)" if randomised == "absent" else
                   "the randomisation check is undecided on these images")
            branch, text = "undecided", (f"Verdict on {_name(checks)}: not settled — {why}; {count}. More "
                                         "check images (--attribution-images) narrow the intervals.")
        notes.append(Note("attribution.verdict", branch, SECTION, text, {
            "method": checks.method, "images": checks.images, "randomisation": randomised, "faithful": passed,
            "trained": trained,
            "criterion": "believe: randomisation passes and at least one faithfulness check is faithful; "
                         "do-not-believe: randomisation fails; untrained: random weights or near chance"}))
    return notes


# --- where the evidence lies ----------------------------------------------------------------------------------

WHOLE_IMAGE = 0.98  # an object covering at least this share of every check image leaves no background to compare


def on_object(f: Findings) -> list[Note]:
    """The paired excess of the maps' mass on the foreground over the foreground's share of the area, against 0;
    no comparison where the foreground fills (nearly) every check image or none of it: there is then no
    background, or no object, for the evidence to favour."""
    notes = []
    for checks in _methods(f):
        excess, mass = checks.object_excess, checks.object_share
        areas = [image.object_area for image in checks.per_image]
        fills = bool(areas) and min(areas) >= WHOLE_IMAGE
        empty = bool(areas) and max(areas) <= 1 - WHOLE_IMAGE
        if fills or empty:
            found = (f"the object (pixels unlike the image's border) covers at least {fmt.percent(WHOLE_IMAGE, 0)} "
                     "of every check image" if fills else
                     f"no check image has an object (pixels unlike the image's border) over "
                     f"{fmt.percent(1 - WHOLE_IMAGE, 0)} of its area")
            notes.append(Note("attribution.object", "no-contrast", SECTION,
                              f"{_name(checks)}, object: {found}, so these images cannot show whether its maps favour "
                              f"the object or the background; {share(mass)} of their mass lies on it.",
                              {"method": checks.method, "images": checks.images, "object_share": _numbers(mass),
                               "object_areas": [min(areas), max(areas)], "threshold": WHOLE_IMAGE,
                               "criterion": f"no-contrast: every check image's object covers at least {WHOLE_IMAGE} "
                                            f"of its area, or none more than {1 - WHOLE_IMAGE:g}"}))
            continue
        where = side(excess, 0.0)
        branch = {"above": "object", "below": "background", "both": "undecided"}[where]
        opening = (f"{_name(checks)}, object: {share(mass)} of its maps' mass lies on the object (pixels unlike the "
                   f"image's border), {points(excess)} over the object's share of the area")
        verdict = {"object": ", entirely above 0: the evidence favours the object.",
                   "background": ", entirely below 0: the evidence favours the background.",
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
        even = f"the {fmt.percent(CENTRE_AREA, 0)} of an even spread"
        opening = f"{_name(checks)}, centre: {share(c)} of its maps' mass lies in the central quarter of the area"
        verdict = {"centre": f", entirely above {even}: the evidence gathers in the centre.",
                   "edges": f", entirely below {even}: the evidence lies towards the edges.",
                   "undecided": f"; the interval holds {even}, so these images cannot say whether the evidence "
                                "favours the centre."}[branch]
        notes.append(Note("attribution.centre", branch, SECTION, opening + verdict, {
            "method": checks.method, "images": checks.images, "centre_share": _numbers(c), "threshold": CENTRE_AREA,
            "criterion": f"centre: the 95% interval > {CENTRE_AREA}; edges: < {CENTRE_AREA}; else undecided"}))
    return notes


# Check images each side needs before the errors' maps are compared with the correct answers'. The analysis
# stores the bootstrap interval from 2 of each; with fewer than 5 a side, its resamples take a handful of values and
# the percentile interval comes out narrow whatever the spread (2 against 2 gave −48.2 to −46.5 points).
ERRORS_EACH = 5


def errors_comparable(checks: MethodChecks) -> bool:
    """Whether the errors' maps can be compared with the correct answers': an interval is stored and, where the
    per-image numbers are, each side has ERRORS_EACH check images (the checks table shows the interval only then)."""
    if checks.errors_vs_correct is None:
        return False
    wrong = sum(1 for i in checks.per_image if i.label != i.predicted)
    return not checks.per_image or min(wrong, checks.images - wrong) >= ERRORS_EACH


def errors(f: Findings) -> list[Note]:
    """Whether the misclassified check images' maps put more or less of their mass on the object than the correctly
    classified ones' (the interval excludes 0), cannot say (it holds 0), or too few errors to compare (fewer than
    ERRORS_EACH misclassified or correct check images; said only where the per-image numbers are stored)."""
    notes = []
    for checks in _methods(f):
        e = checks.errors_vs_correct
        wrong = sum(1 for i in checks.per_image if i.label != i.predicted)
        right = checks.images - wrong
        if checks.per_image and not errors_comparable(checks):
            notes.append(Note("attribution.errors", "too-few", SECTION,
                              f"{_name(checks)}, errors: {wrong} of the {checks.images} check images "
                              f"{'is' if wrong == 1 else 'are'} misclassified and {right} correctly classified; "
                              f"comparing where the errors' maps look with the correct answers' needs "
                              f"{ERRORS_EACH} of each.",
                              {"method": checks.method, "images": checks.images, "misclassified": wrong,
                               "threshold": ERRORS_EACH}))
            continue
        if e is None:
            continue
        if side(e, 0.0) == "both":
            notes.append(Note("attribution.errors", "undecided", SECTION,
                              f"{_name(checks)}, errors: the share of the maps' mass on the object, misclassified "
                              f"less correctly classified check images, is {points(e)}, an interval that holds 0: "
                              "these images cannot say whether the errors look elsewhere.",
                              {"method": checks.method, "images": checks.images, "errors_vs_correct": _numbers(e),
                               "threshold": 0.0}))
            continue
        more = e.low > 0
        which = "more" if more else "less"
        notes.append(Note("attribution.errors", f"{which}-on-object", SECTION,
                          f"{_name(checks)}, errors: the misclassified check images' maps put {which} of their mass "
                          f"on the object than the correctly classified ones', {points(e)}, an interval that excludes "
                          "0.",
                          {"method": checks.method, "images": checks.images, "errors_vs_correct": _numbers(e),
                           "threshold": 0.0}))
    return notes


# In the order the section shows their notes: the regime's sentence first.
RULES = (untrained, verdict, randomisation, deletion, insertion, road, on_object, centre, errors)

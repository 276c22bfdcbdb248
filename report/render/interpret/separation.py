"""Rules about class separation over the whole test split."""

from __future__ import annotations

from analysis.store.schema import ACTIVATION_TYPES, METRIC_NAMES
from report.render import fmt
from report.render.findings import Findings, confusion_cells
from report.render.interpret import Note
from report.render.interpret.embeddings import ANECDOTAL_BELOW, embedding_name
from report.render.interpret.regime import caveat

STRONG, MODERATE = 0.5, 0.25     # silhouette bands, as usually read
DEPTH_TOLERANCE = 0.02           # silhouette changes smaller than this are "about the same"


def _verb(f: Findings, verb: str) -> str:
    """The verb agreeing with embedding_name(f): "the fc2 embedding separates", "the features entering fc separate"."""
    return verb if f.embeddings.layer.startswith("input of ") else f"{verb}s"


def _names(f: Findings, *labels: int) -> list[str]:
    return [f.class_name(label) for label in labels]


def _over_images(f: Findings) -> str:
    """"Over all 1,000 test images", or, when images with a non-finite embedding were left out, how many were."""
    s, left_out = f.separation, f.evaluation.non_finite_embeddings
    if not left_out:
        return f"Over all {fmt.integer(s.n)} test images"
    return (f"Over the {fmt.integer(s.n - left_out)} test images whose embedding is finite ({fmt.integer(left_out)} "
            "left out)")


def _below_all(spread, others) -> bool:
    """The class's 95% interval lies entirely below every other class's: smaller spread beyond sampling noise."""
    return spread.ci_high is not None and all(o.ci_low is not None and spread.ci_high < o.ci_low for o in others)


def _above_all(spread, others) -> bool:
    return spread.ci_low is not None and all(o.ci_high is not None and spread.ci_low > o.ci_high for o in others)


def compactness(f: Findings) -> Note | None:
    """Most and least compact class, each claimed only when its bootstrap interval is disjoint from every
    other class's interval (not just from the other end's)."""
    s = f.separation
    spreads = [c for c in (s.per_class if s else []) if c.intra_mean is not None]
    if len(spreads) < 2:
        return None
    best, worst = min(spreads, key=lambda c: c.intra_mean), max(spreads, key=lambda c: c.intra_mean)
    best_name, worst_name = _names(f, best.cls, worst.cls)
    others_best = [c for c in spreads if c is not best]
    others_worst = [c for c in spreads if c is not worst]
    best_holds, worst_holds = _below_all(best, others_best), _above_all(worst, others_worst)
    text = (f"{_over_images(f)}, class {best_name} has the smallest spread (mean intra-class "
            f"{METRIC_NAMES.get(s.metric, s.metric)} {fmt.number(best.intra_mean)}, 95% interval "
            f"{fmt.number(best.ci_low)}–{fmt.number(best.ci_high)}) and class {worst_name} the largest "
            f"({fmt.number(worst.intra_mean)}, {fmt.number(worst.ci_low)}–{fmt.number(worst.ci_high)}).")
    evidence = {"best": best.cls, "worst": worst.cls, "best_below_all": best_holds, "worst_above_all": worst_holds,
                "intervals": {str(c.cls): [c.ci_low, c.ci_high] for c in spreads},
                "criterion": "a class's 95% bootstrap interval disjoint from every other class's"}
    if best_holds and worst_holds:
        return Note("separation.compactness", "distinct", "separation",
                    text + f" Both hold beyond sampling noise: {fmt.possessive(best_name)} interval lies below every "
                    f"other class's and {fmt.possessive(worst_name)} above every other class's.", evidence)
    if best_holds or worst_holds:
        held, lost = (best_name, worst_name) if best_holds else (worst_name, best_name)
        end, other_end = ("smallest", "largest") if best_holds else ("largest", "smallest")
        overlapping = _overlapping(worst if best_holds else best, spreads, f)
        return Note("separation.compactness", "one-end", "separation",
                    text + f" Only class {fmt.possessive(held)} interval is clear of every other class's, so only it is "
                    f"established as the {end}; class {fmt.possessive(lost)} overlaps {overlapping}, so the {other_end} "
                    "spread is not established.",
                    evidence)
    return Note("separation.compactness", "overlapping", "separation",
                text + " Their intervals overlap other classes' intervals, so neither end of this ranking is "
                "established: another sample of images could reorder it.", evidence)


def _overlapping(spread, spreads, f: Findings) -> str:
    names = [f.class_name(o.cls) for o in spreads if o is not spread and o.ci_low is not None
             and spread.ci_low is not None and not (o.ci_high < spread.ci_low or o.ci_low > spread.ci_high)]
    if not names:
        return "another class's"
    return f"class {fmt.possessive(names[0])}" if len(names) == 1 else f"those of classes {fmt.listing(names)}"


def overall(f: Findings) -> Note | None:
    s = f.separation
    if s is None or s.ratio is None:
        return None
    evidence = {"silhouette": s.silhouette, "ratio": s.ratio}
    numbers = (f"mean inter-class distance is {fmt.ratio(s.ratio)} the mean intra-class distance, the silhouette "
               f"(from −1 to 1: how much closer each image lies to its own class than to the nearest other) "
               f"is {fmt.number(s.silhouette, 2)}, and assigning each image to the nearest class centroid is right "
               f"for {fmt.percent(s.nearest_centroid_accuracy)} of them (the network itself: "
               f"{fmt.percent(s.network_accuracy)})")
    if s.silhouette >= STRONG:
        return Note("separation.overall", "strong", "separation",
                    f"{_over_images(f)}, {embedding_name(f)} {_verb(f, 'separate')} the classes well: {numbers}.{caveat(f)}", evidence)
    if s.silhouette >= MODERATE:
        return Note("separation.overall", "moderate", "separation",
                    f"{_over_images(f)}, {embedding_name(f)} {_verb(f, 'separate')} the classes moderately: {numbers}.{caveat(f)}", evidence)
    return Note("separation.overall", "weak", "separation",
                f"{_over_images(f)}, {embedding_name(f)} {_verb(f, 'separate')} the classes weakly: {numbers}; "
                f"many images lie as close to another class as to their own.{caveat(f)}", evidence)


def _most_confused(f: Findings) -> tuple[list[tuple[int, int]], int]:
    """Every pair of classes with the largest number of errors between them (ties kept, in class order), and
    that number; from the non-zero cells, so the work grows with the errors, not with the class pairs."""
    s = f.separation
    counts: dict[tuple[int, int], int] = {}
    size = len(s.classes)
    for i, j, count in confusion_cells(s):
        if i != j and j < size:  # a column beyond the classes is an output index no class has
            pair = (min(i, j), max(i, j))
            counts[pair] = counts.get(pair, 0) + count
    top = max(counts.values(), default=0)
    return ([(s.classes[i], s.classes[j]) for (i, j), count in sorted(counts.items()) if count == top]
            if top else []), top


PAIRS_NAMED = 3   # confused pairs named in a sentence; the rest are counted


def _pairs_text(f: Findings, pairs: list[tuple[int, int]]) -> str:
    named = [f"{f.class_name(a)}–{f.class_name(b)}" for a, b in pairs[:PAIRS_NAMED]]
    more = len(pairs) - len(named)
    return fmt.listing(named + [f"{more} more"]) if more else fmt.listing(named)


def closest_pair(f: Findings) -> Note | None:
    """"Closest" here is relative to spread (the pair's mean distance over the mean of their within-class
    distances), said so in the sentence; confusion is compared with all closest pairs shown, ties included."""
    s = f.separation
    if s is None or not s.closest_pairs:
        return None
    pair = s.closest_pairs[0]
    a, b = _names(f, pair["a"], pair["b"])
    text = (f"Relative to their spread, the closest classes are {a} and {b}: the mean distance between them is only "
            f"{fmt.ratio(pair['ratio'])} their average distance within a class. The figure shows, for each, the image "
            "lying nearest to the other class's centroid: the place to look for shared strokes or shapes.")
    confused, count = _most_confused(f)
    shown = [tuple(sorted((p["a"], p["b"]))) for p in s.closest_pairs]
    evidence = {"pair": [pair["a"], pair["b"]], "closest_shown": shown, "most_confused": confused, "errors": count}
    if s.pairs is not None:  # more classes than the class-by-class matrices are stored for
        text += (f" With {fmt.integer(len(s.classes))} classes, the class-pair tables keep the "
                 f"{fmt.integer(len(s.pairs.kept))} closest of all {fmt.integer(s.pairs.total)} class pairs, "
                 "ranked the same way, rather than every pair.")
        evidence |= {"pairs_total": s.pairs.total, "pairs_kept": len(s.pairs.kept)}
    errors = f"{count} error{'s' if count != 1 else ''}{' each' if len(confused) > 1 else ''}"
    if not confused:
        return Note("separation.closest", "no-confusion", "separation",
                    text + " The network confuses no pair of classes.", evidence)
    if tuple(sorted((pair["a"], pair["b"]))) in confused:
        which = "the pair" if len(confused) == 1 else f"one of the {len(confused)} pairs"
        return Note("separation.closest", "also-confused", "separation",
                    text + f" It is also {which} the network confuses most ({errors}).", evidence)
    among = [p for p in confused if p in shown]
    if len(confused) == 1:
        lead = f" The pair the network confuses most, {_pairs_text(f, confused)} ({errors}),"
        where = " is among the closest pairs shown." if among else " is not among the closest pairs shown:"
    else:
        lead = f" The pairs the network confuses most are {_pairs_text(f, confused)} ({errors});"
        where = (f" {_pairs_text(f, among)} {'is' if len(among) == 1 else 'are'} among the closest pairs shown."
                 if among else " none is among the closest pairs shown:")
    if among:
        return Note("separation.closest", "confused-among-closest", "separation", text + lead + where, evidence)
    return Note("separation.closest", "confused-elsewhere", "separation",
                text + lead + where + " closeness in this embedding is not the whole story.", evidence)


def two_sample_check(f: Findings) -> Note | None:
    s = f.separation
    if s is None or not s.two_sample:
        return None
    t = s.two_sample
    a, b = t["classes"]
    rows = t["intra"]
    two = [rows[str(a)]["two_sample"], rows[str(b)]["two_sample"]]
    full = [rows[str(a)]["full"], rows[str(b)]["full"]]
    if None in two or None in full:
        return None
    name_a, name_b = _names(f, a, b)
    tighter_two = name_a if two[0] < two[1] else name_b
    tighter_full = name_a if full[0] < full[1] else name_b
    separated_two = t["inter"]["two_sample"] > max(two)
    separated_full = t["inter"]["full"] > max(full)
    evidence = {"two_sample": two, "full": full}
    claims = (f"the first sections, from {f.embeddings.per_class} samples per class, found class {tighter_two} "
              f"more compact{' and inter-class distances larger than intra-class ones' if separated_two else ''}")
    evidence["per_class"] = f.embeddings.per_class
    evidence["enough_samples"] = f.embeddings.per_class >= ANECDOTAL_BELOW
    if tighter_two == tighter_full and separated_two == separated_full:
        if f.embeddings.per_class >= ANECDOTAL_BELOW:
            return Note("separation.two_sample", "confirms", "separation",
                        f"The whole test split confirms the sampled reading: {claims}; over all images class "
                        f"{tighter_full} is again more compact ({fmt.number(min(full))} against "
                        f"{fmt.number(max(full))}).", evidence)
        return Note("separation.two_sample", "agrees", "separation",
                    f"The whole test split agrees with the sampled reading: {claims}, and over all images class "
                    f"{tighter_full} is again more compact ({fmt.number(min(full))} against {fmt.number(max(full))}). "
                    f"With {f.embeddings.per_class} samples per class the agreement could be luck; the whole-split "
                    "numbers are the ones to rely on.", evidence)
    return Note("separation.two_sample", "contradicts", "separation",
                f"The whole test split contradicts the sampled reading: {claims}, but over all images class "
                f"{tighter_full} is the more compact ({fmt.number(min(full))} against {fmt.number(max(full))})"
                f"{'' if separated_two == separated_full else ', and the inter/intra comparison flips'}.", evidence)


def depth(f: Findings) -> Note | None:
    """Silhouette layer by layer; a change smaller than DEPTH_TOLERANCE is "about the same", not a rise or a dip."""
    s = f.separation
    layers = [d for d in (s.depth if s else []) if d.ratio is not None]
    if len(layers) < 2:
        return None
    first, last = layers[0], layers[-1]
    steps = [b.silhouette - a.silhouette for a, b in zip(layers, layers[1:])]
    dips = [layers[i + 1] for i, step in enumerate(steps) if step < -DEPTH_TOLERANCE]
    evidence = {"silhouettes": [d.silhouette for d in layers], "tolerance": DEPTH_TOLERANCE,
                "dips": [d.label for d in dips]}
    path = " → ".join(f"{d.label} {fmt.number(d.silhouette, 2)}" for d in layers)
    change = last.silhouette - first.silhouette
    if change > DEPTH_TOLERANCE and not dips:
        return Note("separation.depth", "grows", "depth",
                    f"Separation grows with depth (silhouette {path}): no layer lowers it by more than "
                    f"{DEPTH_TOLERANCE:g}.", evidence)
    if change > DEPTH_TOLERANCE:
        return Note("separation.depth", "grows-unevenly", "depth",
                    f"Separation grows overall but not at every layer (silhouette {path}); it falls by more than "
                    f"{DEPTH_TOLERANCE:g} at {fmt.listing(d.label for d in dips)}.", evidence)
    if change >= -DEPTH_TOLERANCE:
        return Note("separation.depth", "flat", "depth",
                    f"Separation is about the same at the last layer as at the first (silhouette {path}; within "
                    f"{DEPTH_TOLERANCE:g}).", evidence)
    return Note("separation.depth", "does-not-grow", "depth",
                f"Separation falls with depth (silhouette {path}): the last layer separates the classes less well "
                "than the first.", evidence)


def dead_filters(f: Findings) -> Note | None:
    s = f.separation
    if s is None or not s.filters:
        return None
    if not any(layer.activated for layer in s.filters):
        modules = [row.name for row in f.trace.rows if row.type in ACTIVATION_TYPES]
        if modules:
            return Note("separation.filters", "not-activated", "filters",
                        "These filters are measured at raw convolution outputs, before any normalisation or "
                        "activation, where a map that is never positive is not necessarily silent; give activation "
                        f"modules such as {fmt.listing(modules[:2])} to --layers to count dead filters.",
                        {"activation_modules": modules[:2]})
        return Note("separation.filters", "functional-activations", "filters",
                    "These filters are measured at raw convolution outputs: the network applies its activations "
                    "as functions (such as F.relu), and filter statistics are taken at module outputs, so a map that is "
                    "never positive here is not necessarily silent and no filter is called dead.", {"activation_modules": []})
    dead = [(layer, layer.dead) for layer in s.filters if layer.dead]
    near = sum(len(layer.near_dead) for layer in s.filters)
    share = fmt.percent(s.settings["dead_share"], 0)
    if not dead:
        return Note("separation.filters", "none-dead", "filters",
                    f"No filter is dead: every filter in {fmt.listing(l.module for l in s.filters)} is positive "
                    f"somewhere for more than {fmt.percent(1 - s.settings['dead_share'], 0)} of the "
                    f"{fmt.integer(s.n)} test images{f'; {near} are near-dead' if near else ''}.", {"near": near})
    listing = "; ".join(f"{layer.module}: filter{'s' if len(ids) > 1 else ''} {_first(ids)}" for layer, ids in dead)
    total = sum(len(ids) for _, ids in dead)
    return Note("separation.filters", "dead", "filters",
                f"{total} filter{'s are' if total > 1 else ' is'} dead, zero for at least {share} of the test images "
                f"({listing}){f'; {near} more are near-dead' if near else ''}. {'Their' if total > 1 else 'Its'} weights take up space but do "
                "not contribute for these images.", {"dead": total, "near": near})


def _first(ids: list[int], limit: int = 8) -> str:
    return fmt.listing(ids) if len(ids) <= limit else f"{', '.join(map(str, ids[:limit]))} and {len(ids) - limit} more"


def errors(f: Findings) -> Note | None:
    s = f.separation
    if s is None:
        return None
    if not s.misclassified:
        return Note("separation.errors", "none", "errors",
                    f"The network misclassifies none of the {fmt.integer(s.n)} test images.", {"wrong": 0})
    worst = s.misclassified[0]
    label, predicted = _names(f, worst["label"], worst["predicted"])
    return Note("separation.errors", "some", "errors",
                f"{fmt.integer(s.wrong)} of {fmt.integer(s.n)} test images are misclassified. The most confident "
                f"error is #{worst['index']}, a {label} read as {predicted} with "
                f"{fmt.percent(worst['confidence'])} confidence; "
                + ("the image below is that error." if len(s.misclassified) == 1 else
                   f"the images below are the {len(s.misclassified)} most confident errors."), {"wrong": s.wrong})

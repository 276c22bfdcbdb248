"""Rules about class separation over the whole test split."""

from __future__ import annotations

from report.render import fmt
from report.render.findings import Findings
from report.render.interpret import Note

STRONG, MODERATE = 0.5, 0.25     # silhouette bands, as usually read


def _names(f: Findings, *labels: int) -> list[str]:
    return [f.class_name(label) for label in labels]


def compactness(f: Findings) -> Note | None:
    s = f.separation
    spreads = [c for c in (s.per_class if s else []) if c.intra_mean is not None]
    if len(spreads) < 2:
        return None
    best, worst = min(spreads, key=lambda c: c.intra_mean), max(spreads, key=lambda c: c.intra_mean)
    best_name, worst_name = _names(f, best.cls, worst.cls)
    text = (f"Over all {fmt.integer(s.n)} test images, class {best_name} is the most compact (mean intra-class "
            f"{s.metric.upper() if s.metric == 'mse' else s.metric} {fmt.number(best.intra_mean)}, 95% interval "
            f"{fmt.number(best.ci_low)}–{fmt.number(best.ci_high)}) and class {worst_name} the least "
            f"({fmt.number(worst.intra_mean)}, {fmt.number(worst.ci_low)}–{fmt.number(worst.ci_high)}).")
    evidence = {"best": best.cls, "worst": worst.cls}
    if best.ci_high is not None and worst.ci_low is not None and best.ci_high < worst.ci_low:
        return Note("separation.compactness", "distinct", "separation",
                    text + " The intervals do not overlap, so this ranking is not an accident of the sample.",
                    evidence)
    return Note("separation.compactness", "overlapping", "separation",
                text + " The intervals overlap, so this ranking could change with another sample.", evidence)


def overall(f: Findings) -> Note | None:
    s = f.separation
    if s is None or s.ratio is None:
        return None
    evidence = {"silhouette": s.silhouette, "ratio": s.ratio}
    numbers = (f"mean inter-class distance is {fmt.ratio(s.ratio)} the mean intra-class distance, the silhouette "
               f"is {fmt.number(s.silhouette, 2)}, and assigning each image to the nearest class centroid is right "
               f"for {fmt.percent(s.nearest_centroid_accuracy)} of them (the network itself: "
               f"{fmt.percent(s.network_accuracy)})")
    if s.silhouette >= STRONG:
        return Note("separation.overall", "strong", "separation",
                    f"The {s.layer} embedding separates the classes well: {numbers}.", evidence)
    if s.silhouette >= MODERATE:
        return Note("separation.overall", "moderate", "separation",
                    f"The {s.layer} embedding separates the classes moderately: {numbers}.", evidence)
    return Note("separation.overall", "weak", "separation",
                f"The {s.layer} embedding separates the classes weakly: {numbers}; many images lie as close to "
                "another class as to their own.", evidence)


def _most_confused(f: Findings) -> tuple[int, int, int] | None:
    s = f.separation
    best = None
    size = len(s.classes)
    for i in range(size):
        for j in range(i + 1, size):
            count = s.confusion[i][j] + s.confusion[j][i]
            if count and (best is None or count > best[2]):
                best = (s.classes[i], s.classes[j], count)
    return best


def closest_pair(f: Findings) -> Note | None:
    s = f.separation
    if s is None or not s.closest_pairs:
        return None
    pair = s.closest_pairs[0]
    a, b = _names(f, pair["a"], pair["b"])
    text = (f"The closest classes are {a} and {b}: their mean distance is only {fmt.ratio(pair['ratio'])} their "
            f"average spread within each class. The figure shows, for each, the image lying nearest to the other "
            f"class's centroid: the place to look for shared strokes or shapes.")
    confused = _most_confused(f)
    evidence = {"pair": [pair["a"], pair["b"]], "most_confused": confused}
    if confused and {confused[0], confused[1]} == {pair["a"], pair["b"]}:
        return Note("separation.closest", "also-confused", "separation",
                    text + f" It is also the pair the network confuses most ({confused[2]} error"
                    f"{'s' if confused[2] != 1 else ''}).", evidence)
    if confused:
        c, d = _names(f, confused[0], confused[1])
        return Note("separation.closest", "confused-elsewhere", "separation",
                    text + f" Yet the network confuses {c} and {d} most ({confused[2]} error"
                    f"{'s' if confused[2] != 1 else ''}): closeness in "
                    "this embedding is not the whole story.", evidence)
    return Note("separation.closest", "no-confusion", "separation",
                text + " The network confuses no pair of classes.", evidence)


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
    if tighter_two == tighter_full and separated_two == separated_full:
        return Note("separation.two_sample", "confirms", "separation",
                    f"The whole test split confirms the two-sample reading: {claims}; over all images class "
                    f"{tighter_full} is again more compact ({fmt.number(min(full))} against {fmt.number(max(full))}).",
                    evidence)
    return Note("separation.two_sample", "contradicts", "separation",
                f"The whole test split contradicts the two-sample reading: {claims}, but over all images class "
                f"{tighter_full} is the more compact ({fmt.number(min(full))} against {fmt.number(max(full))})"
                f"{'' if separated_two == separated_full else ', and the inter/intra comparison flips'}.", evidence)


def depth(f: Findings) -> Note | None:
    s = f.separation
    layers = [d for d in (s.depth if s else []) if d.ratio is not None]
    if len(layers) < 2:
        return None
    first, last = layers[0], layers[-1]
    steps = [b.silhouette - a.silhouette for a, b in zip(layers, layers[1:])]
    evidence = {"silhouettes": [d.silhouette for d in layers]}
    path = " → ".join(f"{d.label} {fmt.number(d.silhouette, 2)}" for d in layers)
    if all(step >= 0 for step in steps):
        return Note("separation.depth", "grows", "depth",
                    f"Separation grows steadily with depth (silhouette {path}): each layer makes the classes "
                    "easier to tell apart.", evidence)
    if last.silhouette > first.silhouette:
        drop = layers[[i for i, step in enumerate(steps) if step < 0][0] + 1]
        return Note("separation.depth", "grows-unevenly", "depth",
                    f"Separation grows overall but not at every layer (silhouette {path}); it dips at {drop.label}.",
                    evidence)
    return Note("separation.depth", "does-not-grow", "depth",
                f"Separation does not grow with depth (silhouette {path}): the last layer separates the classes "
                "no better than the first.", evidence)


def dead_filters(f: Findings) -> Note | None:
    s = f.separation
    if s is None or not s.filters:
        return None
    if not any(layer.activated for layer in s.filters):
        return Note("separation.filters", "not-activated", "filters",
                    "These filters are measured at raw convolution outputs, before any normalisation or activation, "
                    "where a map that is never positive is not necessarily silent; give ReLU modules to --layers to "
                    "count dead filters.", {})
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

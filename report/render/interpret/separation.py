"""Rules about class separation over the whole test split."""

from __future__ import annotations

from analysis.store.schema import ACTIVATION_TYPES, SILENT_ZERO_TYPES
from report.render.words import METRIC_NAMES
from report.render import fmt
from report.render.findings import Findings, confusion_cells
from report.render.interpret.notes import Note
from report.render.interpret import distances
from report.render.interpret.activations import a_or_an, next_step
from report.render.interpret.distances import interval_order, ratio_phrase, silhouette_distance
from report.render.interpret.embeddings import embedding_name
from report.render.interpret.regime import SMALL_CLASS, caveat

STRONG, MODERATE = 0.5, 0.25     # silhouette bands, as usually read; at 0 or below, none: as close to another class
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
    """The class's 95% interval lies entirely below every other class's: smaller spread beyond sampling noise
    (the comparison the sampled-versus-whole decision table makes too: distances.interval_order)."""
    return all(interval_order((spread.ci_low, spread.ci_high), (o.ci_low, o.ci_high)) == "below" for o in others)


def _above_all(spread, others) -> bool:
    return all(interval_order((spread.ci_low, spread.ci_high), (o.ci_low, o.ci_high)) == "above" for o in others)


def compactness(f: Findings) -> Note | None:
    """Most and least compact class, each claimed only when its bootstrap interval is disjoint from every
    other class's interval (not just from the other end's); classes with fewer than SMALL_CLASS test images are
    named and left out of the ranking (their intervals rest on too few images to rank them)."""
    s = f.separation
    measured = [c for c in (s.per_class if s else []) if c.intra_mean is not None]
    if len(measured) < 2:
        return None
    spreads = [c for c in measured if c.n >= SMALL_CLASS]
    small = [c for c in measured if c.n < SMALL_CLASS]
    if len(spreads) < 2:
        return Note("separation.compactness", "too-few-images", "separation",
                    f"{_over_images(f)}, {fmt.integer(len(small))} of the {fmt.integer(len(measured))} classes have "
                    f"fewer than {SMALL_CLASS} test images, too few to rank the classes by spread: the table gives "
                    "each class's mean intra-class distance and its interval, and no class is called the most or "
                    "least compact.", {"small": [c.cls for c in small], "small_class": SMALL_CLASS})
    left_out = (f" {'Class' if len(small) == 1 else 'Classes'} {fmt.listing(f.class_name(c.cls) for c in small)} "
                f"{'has' if len(small) == 1 else 'have'} fewer than {SMALL_CLASS} test images and "
                f"{'is' if len(small) == 1 else 'are'} left out of this ranking.") if small else ""
    best, worst = min(spreads, key=lambda c: c.intra_mean), max(spreads, key=lambda c: c.intra_mean)
    best_name, worst_name = _names(f, best.cls, worst.cls)
    others_best = [c for c in spreads if c is not best]
    others_worst = [c for c in spreads if c is not worst]
    best_holds, worst_holds = _below_all(best, others_best), _above_all(worst, others_worst)
    figures = (f"mean intra-class {METRIC_NAMES.get(s.metric, s.metric)} {fmt.number(best.intra_mean)}, 95% interval "
               f"{fmt.number(best.ci_low)}–{fmt.number(best.ci_high)}", f"{fmt.number(worst.intra_mean)}, "
               f"{fmt.number(worst.ci_low)}–{fmt.number(worst.ci_high)}")
    text = (f"{_over_images(f)}, class {best_name} has the smallest spread ({figures[0]}) and class {worst_name} the "
            f"largest ({figures[1]}).")
    estimates = (f"{_over_images(f)}, the smallest mean spread is class {fmt.possessive(best_name)} ({figures[0]}) "
                 f"and the largest class {fmt.possessive(worst_name)} ({figures[1]}).")
    evidence = {"best": best.cls, "worst": worst.cls, "best_below_all": best_holds, "worst_above_all": worst_holds,
                "left_out_small": [c.cls for c in small], "small_class": SMALL_CLASS,
                "intervals": {str(c.cls): [c.ci_low, c.ci_high] for c in spreads},
                "criterion": "a class's 95% bootstrap interval disjoint from every other class's"}
    if best_holds and worst_holds:
        return Note("separation.compactness", "distinct", "separation",
                    text + f" Both hold beyond sampling noise: {fmt.possessive(best_name)} interval lies below every "
                    f"other class's and {fmt.possessive(worst_name)} above every other class's.{left_out}{caveat(f)}", evidence)
    if best_holds or worst_holds:
        held, lost = (best_name, worst_name) if best_holds else (worst_name, best_name)
        end, other_end = ("smallest", "largest") if best_holds else ("largest", "smallest")
        overlapping = _overlapping(worst if best_holds else best, spreads, f)
        return Note("separation.compactness", "one-end", "separation",
                    estimates + f" Only class {fmt.possessive(held)} interval is clear of every other class's, so only "
                    f"it is established as the {end}; class {fmt.possessive(lost)} overlaps {overlapping}, so the "
                    f"{other_end} spread is not established.{left_out}{caveat(f)}",
                    evidence)
    return Note("separation.compactness", "overlapping", "separation",
                estimates + " Their intervals overlap other classes' intervals, so neither end of this ranking is "
                f"established: another sample of images could reorder it.{left_out}{caveat(f)}", evidence)


def _overlapping(spread, spreads, f: Findings) -> str:
    names = [f.class_name(o.cls) for o in spreads if o is not spread and o.ci_low is not None
             and spread.ci_low is not None and not (o.ci_high < spread.ci_low or o.ci_low > spread.ci_high)]
    if not names:
        return "another class's"
    return f"class {fmt.possessive(names[0])}" if len(names) == 1 else f"those of classes {fmt.listing(names)}"


def _silhouette_text(s) -> tuple[float, str]:
    """The silhouette the bands read (the Euclidean one beside MSE: the silhouette as usually read), and how the
    sentence gives it, naming the distance each is computed on."""
    meaning = "from −1 to 1: how much closer each image lies to its own class than to the nearest other"
    if s.euclidean is not None:
        return s.euclidean.silhouette, (f"the silhouette on Euclidean distance ({meaning}) is "
                                        f"{fmt.number(s.euclidean.silhouette, 2)} ({fmt.number(s.silhouette, 2)} on "
                                        f"{silhouette_distance(s.metric)}, which MSE is up to a constant factor)")
    return s.silhouette, (f"the silhouette on {silhouette_distance(s.metric)} ({meaning}) is "
                          f"{fmt.number(s.silhouette, 2)}")


def unjudged_phrase(unjudged: int) -> str:
    """The images the left-out nearest-centroid accuracy cannot judge (alone in their class: without them it has
    no centroid), as the note and the headline both say it."""
    many = unjudged != 1
    return (f"{fmt.integer(unjudged)} image{'s' if many else ''} alone in {'their' if many else 'its'} class "
            f"cannot be judged this way and {'are' if many else 'is'} left out")


def _centroid_text(s) -> tuple[str, dict]:
    """The nearest-centroid accuracy, each image left out of its own class's centroid, with its 95% interval; a
    store without that figure gives the resubstitution one, said to flatter."""
    loo = s.centroid_left_out
    if loo is None or loo.accuracy is None:
        return (f"assigning each image to the nearest class centroid is right for "
                f"{fmt.percent(s.nearest_centroid_accuracy)} of them, a figure that counts each image in its own "
                "class's centroid and so flatters the separation", {"nearest_centroid_resubstitution":
                                                                     s.nearest_centroid_accuracy})
    alone = f"; the {unjudged_phrase(loo.unjudged)}" if loo.unjudged else ""
    return (f"assigning each image to the nearest class centroid, its own class's centroid recomputed without it, is "
            f"right for {fmt.percent_ci(loo.accuracy, loo.ci_low, loo.ci_high)} of the {fmt.integer(loo.judged)} "
            f"images judged{alone}",
            {"nearest_centroid_left_out": [loo.correct, loo.judged, loo.ci_low, loo.ci_high],
             "nearest_centroid_unjudged": loo.unjudged,
             "nearest_centroid_resubstitution": s.nearest_centroid_accuracy})


def overall(f: Findings) -> Note | None:
    """Separation over the whole split, banded by the silhouette (on Euclidean distance when the metric is MSE, as
    a silhouette is usually read): the ratio named by its distance, the nearest-centroid accuracy left out."""
    s = f.separation
    if s is None or s.ratio is None:
        return None
    banded, silhouette = _silhouette_text(s)
    euclidean = s.euclidean.ratio if s.euclidean is not None else None
    centroid, centroid_evidence = _centroid_text(s)
    evidence = {"silhouette": s.silhouette, "ratio": s.ratio, "euclidean_ratio": euclidean,
                "banded_silhouette": banded, "bands": [0.0, MODERATE, STRONG]} | centroid_evidence
    numbers = (f"the ratio of mean inter- to mean intra-class distance is {ratio_phrase(s.ratio, s.metric, euclidean)}, "
               f"{silhouette}, and {centroid} (the network itself: {fmt.percent(s.network_accuracy)})")
    if banded >= STRONG:
        return Note("separation.overall", "strong", "separation",
                    f"{_over_images(f)}, {embedding_name(f)} {_verb(f, 'separate')} the classes well: {numbers}.{caveat(f)}", evidence)
    if banded >= MODERATE:
        return Note("separation.overall", "moderate", "separation",
                    f"{_over_images(f)}, {embedding_name(f)} {_verb(f, 'separate')} the classes moderately: {numbers}.{caveat(f)}", evidence)
    if banded <= 0:  # an image lies on average at least as close to the nearest other class as to its own
        does = "do" if f.embeddings.layer.startswith("input of ") else "does"
        return Note("separation.overall", "none", "separation",
                    f"{_over_images(f)}, {embedding_name(f)} {does} not separate the classes: {numbers}; a silhouette "
                    f"of 0 or below means that images lie, on average, at least as close to another class as to their "
                    f"own.{caveat(f)}", evidence)
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
    # with two classes there is one pair: "the closest classes" would rank a list of one
    lead = (f"With two classes there is one pair, {a} and {b}" if len(s.classes) == 2 else
            f"Relative to their spread, the closest classes are {a} and {b}")
    text = (f"{lead}: the mean distance between them over "
            f"their average distance within a class is {ratio_phrase(pair['ratio'], s.metric, pair.get('euclidean_ratio'))}"
            f"{'; pairs are ranked by the MSE ratio' if s.metric == 'mse' and len(s.classes) > 2 else ''}. The figure shows, for each, the "
            "image lying nearest to the other class's centroid: the place to look for shared strokes or shapes.")
    if s.ratio is not None and pair["ratio"] > s.ratio and len(s.classes) > 2:
        # the overall ratio pools all pairs of images, so the largest classes weigh most; a class pair's ratio
        # averages its two classes' spreads: every pair can lie above the pooled figure without contradiction
        text += (f" This pair's ratio is above the overall one ({fmt.ratio(s.ratio)} in "
                 f"{'MSE' if s.metric == 'mse' else METRIC_NAMES.get(s.metric, s.metric)}) because the overall "
                 "ratio pools every pair of images, so the largest classes weigh most, while a class pair's ratio "
                 "gives its two classes equal weight.")
    below_one = [r for r in (pair["ratio"], pair.get("euclidean_ratio")) if r is not None and r < 1]
    if below_one:
        text += (" A ratio below 1 means that images of the two classes lie closer to each other, on average, than "
                 "images of one class do: in this embedding these two classes are not separated at all.")
    confused, count = _most_confused(f)
    shown = [tuple(sorted((p["a"], p["b"]))) for p in s.closest_pairs]
    evidence = {"pair": [pair["a"], pair["b"]], "closest_shown": shown, "most_confused": confused, "errors": count,
                "ratio": pair["ratio"], "euclidean_ratio": pair.get("euclidean_ratio")}
    images = {c.cls: c.n for c in s.per_class}
    small = [c for c in (pair["a"], pair["b"]) if images.get(c, SMALL_CLASS) < SMALL_CLASS and len(s.classes) > 2]
    tail = caveat(f)
    if small:
        tail = (f" {'Class' if len(small) == 1 else 'Classes'} {fmt.listing(f.class_name(c) for c in small)} "
                f"{'has' if len(small) == 1 else 'have'} fewer than {SMALL_CLASS} test images, so another sample of "
                "images could pick another pair.") + tail
        evidence |= {"small": small, "small_class": SMALL_CLASS}
    if s.pairs is not None:  # more classes than the class-by-class matrices are stored for
        text += (f" With {fmt.integer(len(s.classes))} classes, the class-pair tables keep the "
                 f"{fmt.integer(len(s.pairs.kept))} closest of all {fmt.integer(s.pairs.total)} class pairs, "
                 "ranked the same way, rather than every pair.")
        evidence |= {"pairs_total": s.pairs.total, "pairs_kept": len(s.pairs.kept)}
    errors = f"{count} error{'s' if count != 1 else ''}{' each' if len(confused) > 1 else ''}"
    if not confused:
        return Note("separation.closest", "no-confusion", "separation",
                    text + f" The network confuses no pair of classes.{tail}", evidence)
    if tuple(sorted((pair["a"], pair["b"]))) in confused:
        which = "the pair" if len(confused) == 1 else f"one of the {len(confused)} pairs"
        return Note("separation.closest", "also-confused", "separation",
                    text + f" It is also {which} the network confuses most ({errors}).{tail}", evidence)
    pairs_in_all = len(s.classes) * (len(s.classes) - 1) // 2
    if len(shown) >= pairs_in_all and all(p in shown for p in confused):
        # every pair is shown: "among the pairs shown" would hold of any pair, so say where it ranks
        ranks = [shown.index(p) + 1 for p in confused]
        evidence |= {"closeness_ranks": ranks}
        lead = (f" The pair the network confuses most, {_pairs_text(f, confused)} ({errors}), ranks "
                if len(confused) == 1 else
                f" The pairs the network confuses most, {_pairs_text(f, confused)} ({errors}), rank ")
        return Note("separation.closest", "confused-ranked", "separation",
                    text + lead + f"{fmt.listing(fmt.ordinal(r) for r in ranks[:PAIRS_NAMED])} of the "
                    f"{fmt.integer(pairs_in_all)} pairs by closeness, the closest first: closeness in this embedding "
                    "is not the whole story." + tail, evidence)
    among = [p for p in confused if p in shown]
    if len(confused) == 1:
        lead = f" The pair the network confuses most, {_pairs_text(f, confused)} ({errors}),"
        where = " is among the closest pairs shown." if among else " is not among the closest pairs shown:"
    else:
        lead = f" The pairs the network confuses most are {_pairs_text(f, confused)} ({errors});"
        where = (f" {_pairs_text(f, among)} {'is' if len(among) == 1 else 'are'} among the closest pairs shown."
                 if among else " none is among the closest pairs shown:")
    if among:
        return Note("separation.closest", "confused-among-closest", "separation", text + lead + where + tail,
                    evidence)
    return Note("separation.closest", "confused-elsewhere", "separation",
                text + lead + where + " closeness in this embedding is not the whole story." + tail, evidence)


def two_sample_check(f: Findings) -> Note | None:
    """The sampled reading against the whole split, by the one decision table (interpret.distances): the verdict
    is the note's branch, and the intervals it rests on are its evidence."""
    comparison = distances.decide(f)
    if comparison is None:
        return None
    return Note("separation.two_sample", comparison.verdict.replace(" ", "-"), "separation",
                distances.sentence(f, comparison) + caveat(f), {distances.EVIDENCE_KEY: comparison.evidence()})


def _path(layers) -> str:
    return " → ".join(f"{d.label} {fmt.number(d.silhouette, 2)}" for d in layers)


def _embedding_apart(f: Findings, layers) -> str:
    """A remark where the embedding the other sentences measure is not among the depth layers (a ViT's class
    token, taken out of norm's output by indexing between modules): without it, "norm 0.24 → head 0.48" beside
    "the features entering head … 0.75" reads as a contradiction."""
    s = f.separation
    if s.silhouette is None or any(abs(d.silhouette - s.silhouette) < 5e-4 for d in layers):
        return ""
    return (f" {fmt.sentence(embedding_name(f))} that the other separation sentences measure ({fmt.integer(s.dimensions)} "
            f"values; silhouette {fmt.number(s.silhouette, 2)} on the same distance) are none of these outputs: the "
            "forward computes them from a layer's output between modules (by indexing, pooling or reshaping, for "
            "example), so their separation need not match any value here.")


def depth(f: Findings) -> Note | None:
    """Silhouette layer by layer. Separation "grows" only when the last layer's silhouette exceeds the first's by
    more than DEPTH_TOLERANCE and no layer lowers it by more than that ("falls" the same way down); a change
    within the tolerance is "about the same". When no layer has a positive silhouette the classes separate at
    none of them, and rises or falls among negative values are not called growth."""
    s = f.separation
    layers = [d for d in (s.depth if s else []) if d.ratio is not None]
    if len(layers) < 2:
        return None
    first, last = layers[0], layers[-1]
    steps = [b.silhouette - a.silhouette for a, b in zip(layers, layers[1:])]
    dips = [layers[i + 1] for i, step in enumerate(steps) if step < -DEPTH_TOLERANCE]
    rises = [layers[i + 1] for i, step in enumerate(steps) if step > DEPTH_TOLERANCE]
    distance = silhouette_distance(s.metric)
    evidence = {"silhouettes": [d.silhouette for d in layers], "tolerance": DEPTH_TOLERANCE,
                "dips": [d.label for d in dips], "rises": [d.label for d in rises], "distance": distance,
                "criterion": f"grows: last − first > {DEPTH_TOLERANCE:g} and no step down by more than "
                             f"{DEPTH_TOLERANCE:g}; no separation: no silhouette above 0"}
    path = f"silhouette on {distance}: {_path(layers)}"
    change = last.silhouette - first.silhouette
    apart = _embedding_apart(f, layers)
    if apart:
        evidence |= {"embedding_silhouette": s.silhouette, "embedding_dims": s.dimensions}
    regime = apart + caveat(f)
    if all(d.silhouette <= 0 for d in layers):
        return Note("separation.depth", "separates-nowhere", "depth",
                    f"The classes do not separate at any layer measured ({path}): no silhouette is positive, so at "
                    "every layer images lie on average as close to another class as to their own, or closer, and "
                    f"the changes between layers are not growth in separation.{regime}", evidence)
    if change > DEPTH_TOLERANCE and not dips:
        return Note("separation.depth", "grows", "depth",
                    f"Separation grows with depth ({path}): the last layer's silhouette exceeds the first's by "
                    f"{fmt.number(change, 2)}, more than {DEPTH_TOLERANCE:g}, and no layer lowers it by more than "
                    f"{DEPTH_TOLERANCE:g}.{regime}", evidence)
    if change > DEPTH_TOLERANCE:
        return Note("separation.depth", "grows-unevenly", "depth",
                    f"Separation grows overall but not at every layer ({path}); it falls by more than "
                    f"{DEPTH_TOLERANCE:g} at {fmt.listing(d.label for d in dips)}.{regime}", evidence)
    if change >= -DEPTH_TOLERANCE:
        return Note("separation.depth", "flat", "depth",
                    f"Separation is about the same at the last layer as at the first ({path}; within "
                    f"{DEPTH_TOLERANCE:g}).{regime}", evidence)
    uneven = (f"; it rises by more than {DEPTH_TOLERANCE:g} at {fmt.listing(d.label for d in rises)} on the way"
              if rises else "")
    return Note("separation.depth", "does-not-grow", "depth",
                f"Separation falls with depth ({path}): the last layer's silhouette is {fmt.number(-change, 2)} "
                f"below the first's, more than {DEPTH_TOLERANCE:g}, so by this measure the last layer separates the "
                f"classes less well than the first{uneven}.{regime}", evidence)


ACTIVATION_FUNCTIONS = ("relu", "relu_", "relu6", "gelu", "silu", "leaky_relu", "hardswish", "elu", "tanh",
                        "sigmoid", "mish")  # the last part of a functional call's name (F.relu, torch.tanh...)


def zero_means_silent(f: Findings, layer) -> bool:
    """Whether a filter layer's maps follow an activation that is exactly zero where a unit is silent (ReLU,
    ReLU6): only there is a never-positive map "dead". Older stores marked GELU, SiLU, LeakyReLU and Hardswish
    outputs activated too; the trace's type of the module overrules them."""
    types = {row.type for row in f.trace.rows if row.kind == "module" and row.name == layer.module}
    if layer.activated:
        return not types or bool(types & set(SILENT_ZERO_TYPES))
    return relu_taker(f, layer) is not None


def relu_taker(f: Findings, layer) -> str | None:
    """The ReLU that takes a raw filter layer's output directly (conv → ReLU), or None: there a map that is never
    positive is zero after that ReLU, so the filter is as dead as one measured at the ReLU's output."""
    if layer.activated:
        return None
    step, taker = next_step(f, layer.module)
    return taker.name if step == "relu" else None


def dead_and_near(f: Findings, layer) -> tuple[list[int], list[int]]:
    """Dead and near-dead filters of a layer where zero means silent. The analysis lists them only at activated
    outputs; for a raw output a ReLU takes directly, the same shares of never-positive images decide."""
    if layer.activated:
        return list(layer.dead), list(layer.near_dead)
    dead_share, near_share = f.separation.settings["dead_share"], f.separation.settings["near_dead_share"]
    shares = list(enumerate(layer.zero_fraction))
    return ([i for i, z in shares if z is not None and z >= dead_share],
            [i for i, z in shares if z is not None and near_share <= z < dead_share])


def dead_filters(f: Findings) -> Note | None:
    """Dead filters, only at the output of a ReLU-like activation (zero_means_silent); elsewhere, where the filter
    statistics are taken and, when the network has ReLU modules, how to count dead filters at them (the model's
    ModelHints.filter_layers: --layers chooses activation maps, not the filter statistics)."""
    s = f.separation
    if s is None or not s.filters:
        return None
    if not any(zero_means_silent(f, layer) for layer in s.filters):
        modules = [row.name for row in f.trace.rows if row.kind == "module" and row.type in SILENT_ZERO_TYPES]
        others = sorted({row.type for row in f.trace.rows if row.kind == "module" and row.type in ACTIVATION_TYPES}
                        - set(SILENT_ZERO_TYPES))
        raw = ("These filters are measured at outputs that no ReLU follows directly (raw convolution outputs, or "
               "activations that are not zero where a unit is silent), where a map that is never positive is not "
               "necessarily silent, so no filter is called dead")
        if modules:
            return Note("separation.filters", "not-activated", "filters",
                        f"{raw}. To count dead filters at ReLU outputs such as {fmt.listing(modules[:2])}, declare them "
                        "as filter_layers in the model's report_hints (--layers shows their maps for one image).",
                        {"relu_modules": modules[:2], "other_activations": others})
        functions = sorted({row.name for row in f.trace.rows if row.kind == "function"
                            and row.name.rsplit(".", 1)[-1] in ACTIVATION_FUNCTIONS})
        if others:
            return Note("separation.filters", "no-zero-activation", "filters",
                        f"{raw}: the network's activations ({fmt.listing(others)}) give negative values, not zero, "
                        "where a unit is silent, so a dead filter cannot be told from a quiet one by its zeros.",
                        {"relu_modules": [], "other_activations": others})
        applied = f" ({fmt.listing(functions[:3])})" if functions else ""
        return Note("separation.filters", "functional-activations", "filters",
                    f"{raw}: the network has no ReLU module{'; it applies its activations as functions' + applied if functions else ''}, "
                    "and filter statistics are taken at module outputs.", {"relu_modules": [], "functions": functions})
    counted = [layer for layer in s.filters if zero_means_silent(f, layer)]
    found = {layer.module: dead_and_near(f, layer) for layer in counted}
    dead = [(layer, found[layer.module][0]) for layer in counted if found[layer.module][0]]
    near = sum(len(found[layer.module][1]) for layer in counted)
    takers = {layer.module: relu_taker(f, layer) for layer in counted}
    share = fmt.percent(s.settings["dead_share"], 0)
    if not dead:
        return Note("separation.filters", "none-dead", "filters",
                    f"No filter is dead: every filter in {fmt.listing(l.module for l in counted)} is positive "
                    f"somewhere for more than {fmt.percent(1 - s.settings['dead_share'], 0)} of the "
                    f"{fmt.integer(s.n)} test images{_near_text(near, more='')}.", {"near": near})
    listing = "; ".join(f"{layer.module}: filter{'s' if len(ids) > 1 else ''} {_first(ids)}"
                        f"{_zero_after(takers[layer.module])}" for layer, ids in dead)
    total = sum(len(ids) for _, ids in dead)
    return Note("separation.filters", "dead", "filters",
                f"{total} filter{'s are' if total > 1 else ' is'} dead, zero for at least {share} of the test images "
                f"({listing}){_near_text(near)}. {'Their' if total > 1 else 'Its'} weights take up space but do "
                "not contribute for these images.", {"dead": total, "near": near,
                                                      "relu_takers": {m: t for m, t in takers.items() if t}})


def _near_text(near: int, more: str = " more") -> str:
    return f"; {near}{more} {'is' if near == 1 else 'are'} near-dead" if near else ""


def _zero_after(taker: str | None) -> str:
    return f", never positive there, so zero after {taker}, the ReLU that takes that output" if taker else ""


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
                f"error is #{worst['index']}, {a_or_an(label)} read as {predicted} with "
                f"{fmt.percent(worst['confidence'])} confidence; "
                + ("the image below is that error." if len(s.misclassified) == 1 else
                   f"the images below are the {len(s.misclassified)} most confident errors.") + caveat(f),
                {"wrong": s.wrong})

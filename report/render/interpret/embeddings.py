"""Rules about the sample embeddings and their distances."""

from __future__ import annotations

from analysis.store.schema import PRIMARY_METRIC
from report.render.words import METRIC_NAMES
from report.render import fmt
from report.render.findings import Findings
from report.render.interpret.notes import Note
from report.render.interpret import distances
from report.render.interpret.activations import a_or_an
from report.render.interpret.regime import caveat

SIMILAR_WITHIN = distances.SIMILAR_WITHIN    # intra means within 10% of each other count as equally compact
ANECDOTAL_BELOW = distances.ENOUGH_SAMPLES   # samples per class under which conclusions are called anecdotal
PRIMARY_NAME = METRIC_NAMES[PRIMARY_METRIC]


# The course report (assignment 2): fc2 embeddings, after ReLU, of two 6s and two
# 7s of the assignment CNN, MSE between them. Only their ordering can carry over to another training run.
COURSE_REPORT = {"6": 110.5971, "7": 225.5673, "6-7": 1619.8328}


def embedding_name(f: Findings) -> str:
    """How sentences name the embedding: "the fc2 embedding", or "the features entering fc" for an input."""
    layer = f.embeddings.layer
    return f"the features entering {layer[len('input of '):]}" if layer.startswith("input of ") else f"the {layer} embedding"


def _table(f: Findings):
    return f.embeddings.distances[PRIMARY_METRIC]


def _intra(f: Findings) -> dict[str, float]:
    return {cls: row["mean"] for cls, row in _table(f).intra_by_class.items() if row["mean"] is not None}


def anecdotal(f: Findings) -> str:
    """The small-sample caveat every sentence built on the sampled distances carries, or "" with enough samples."""
    n = f.embeddings.per_class
    if n >= ANECDOTAL_BELOW:
        return ""
    return (f" With {n} sample{'s' if n != 1 else ''} per class this is anecdotal: another choice of images can "
            "reverse it.")


def _euclidean_ratio(f: Findings) -> float | None:
    """The sampled inter/intra ratio in Euclidean distance (the same pairs), beside an MSE one."""
    table = f.embeddings.distances.get("euclidean")
    return table.ratio if table is not None else None


def compactness(f: Findings) -> Note | None:
    intra = _intra(f)
    if len(intra) < 2:
        return None
    ordered = sorted(intra.items(), key=lambda item: item[1])
    (best, low), (worst, high) = ordered[0], ordered[-1]
    best, worst = f.class_name(int(best)), f.class_name(int(worst))
    evidence = {"intra": intra, "per_class": f.embeddings.per_class}
    if distances.distinct_spreads(low, high):
        factor = "" if low == 0 else f", {fmt.ratio(high / low)} smaller than class {worst}'s ({fmt.number(high)})"
        # what the whole split says of this ordering is separation.two_sample's sentence alone (one verdict)
        return Note("embeddings.compactness", "one-tighter", "distances",
                    f"Among the sampled images, class {best} lies closest together in {embedding_name(f)}: its mean "
                    f"intra-class {PRIMARY_NAME} is {fmt.number(low)}{factor}.{anecdotal(f)}{caveat(f)}", evidence)
    return Note("embeddings.compactness", "similar", "distances",
                f"Among the sampled images the classes are about equally compact: mean intra-class {PRIMARY_NAME} "
                f"ranges only from {fmt.number(low)} (class {best}) to {fmt.number(high)} (class {worst})."
                f"{anecdotal(f)}", evidence)


def separation(f: Findings) -> Note | None:
    """Inter against intra-class distance between the samples. The branches follow the primary metric (MSE);
    the ratio is stated in Euclidean distance too, since a ratio of MSEs is a ratio of squared distances."""
    table = _table(f)
    ratio = table.ratio
    if ratio is None:
        return None
    intra = [p.distance for p in table.pairs if p.kind == "intra"]
    inter = [p.distance for p in table.pairs if p.kind == "inter"]
    euclidean = _euclidean_ratio(f)
    evidence = {"ratio": ratio, "euclidean_ratio": euclidean, "min_inter": min(inter), "max_intra": max(intra),
                "same_within": SIMILAR_WITHIN, "per_class": f.embeddings.per_class}
    regime = anecdotal(f) + caveat(f)
    count = f"Between the {len(f.embeddings.samples)} samples ({f.embeddings.per_class} per class)"
    means = f"mean {PRIMARY_NAME} {fmt.number(table.inter_mean)} against {fmt.number(table.intra_mean)}"
    if 1 / SIMILAR_WITHIN < ratio < SIMILAR_WITHIN:
        return Note("embeddings.separation", "no-separation", "distances",
                    f"{count}, inter- and intra-class distances are about the same ({means}, within "
                    f"{fmt.percent(SIMILAR_WITHIN - 1, 0)}): the ratio of their means is "
                    f"{distances.ratio_phrase(ratio, PRIMARY_METRIC, euclidean)}, so the {f.embeddings.layer} embedding "
                    f"does not separate these samples.{regime}", evidence)
    if ratio > 1:
        overlap = ("every inter-class pair is farther apart than every intra-class pair"
                   if min(inter) > max(intra) else
                   "but the ranges overlap: some inter-class pairs are closer than some intra-class pairs")
        return Note("embeddings.separation", "separated", "distances",
                    f"{count}, inter-class distances exceed intra-class ones on average "
                    f"{distances.ratio_phrase(ratio, PRIMARY_METRIC, euclidean)}; {means}; {overlap}.{regime}",
                    evidence)
    return Note("embeddings.separation", "not-separated", "distances",
                f"{count}, inter-class distances are not larger than intra-class ones ({means}): the ratio of their "
                f"means is {distances.ratio_phrase(ratio, PRIMARY_METRIC, euclidean)}, so the {f.embeddings.layer} "
                f"embedding does not separate these samples.{regime}", evidence)


def sample_size(f: Findings) -> Note:
    n = f.embeddings.per_class
    pairs = sum(1 for p in _table(f).pairs if p.kind == "intra")
    fewer = f.embeddings.fewer_than_default
    limited = (f"The test split holds only {n} image{'s' if n != 1 else ''} of "
               f"{'class' if len(fewer) == 1 else 'classes'} {fmt.listing(f.class_name(c) for c in fewer)}"
               f"{'' if len(fewer) == 1 else ' each'}, so {n} sample{'s' if n != 1 else ''} per class "
               f"{'are' if n != 1 else 'is'} embedded instead of the default 2. ") if fewer else ""
    if n < ANECDOTAL_BELOW:
        return Note("embeddings.sample_size", "anecdotal", "distances",
                    f"{limited}Caution: with {n} sample{'s' if n != 1 else ''} per class ({pairs} intra-class "
                    f"pair{'s' if pairs != 1 else ''} in all), these figures are anecdotal; another choice of "
                    "images can reverse them.", {"per_class": n, "fewer_than_default": fewer})
    return Note("embeddings.sample_size", "adequate", "distances",
                f"The means rest on {n} samples per class ({fmt.integer(pairs)} intra-class pairs).",
                {"per_class": n})


def metrics_agree(f: Findings) -> Note | None:
    verdicts = {}
    for metric, table in f.embeddings.distances.items():
        if table.intra_mean is not None and table.inter_mean is not None:
            verdicts[metric] = table.inter_mean > table.intra_mean
    if len(verdicts) < 2:
        return None
    if len(set(verdicts.values())) == 1:
        return Note("embeddings.metrics", "agree", "distances",
                    fmt.sentence(f"{fmt.listing(METRIC_NAMES.get(m, m) for m in verdicts)} "
                                 f"{'all agree' if len(verdicts) > 2 else 'agree'} on whether inter-class distances "
                                 f"are larger than intra-class ones for these samples "
                                 f"({'they are' if next(iter(verdicts.values())) else 'they are not'})."
                                 f"{anecdotal(f)}{caveat(f)}"), verdicts)
    disagree = [METRIC_NAMES.get(m, m) for m, v in verdicts.items() if v != verdicts.get(PRIMARY_METRIC, v)]
    return Note("embeddings.metrics", "disagree", "distances",
                f"The metrics disagree: {fmt.listing(disagree)} {'reaches' if len(disagree) == 1 else 'reach'} the opposite conclusion to {PRIMARY_NAME}, so the "
                f"separation of these samples depends on how distance is measured.{anecdotal(f)}{caveat(f)}", verdicts)


def zero_dimensions(f: Findings) -> Note | None:
    samples = f.embeddings.samples
    if not samples or not f.embeddings.after_relu:
        return None
    shares = [sum(1 for v in s.vector if v == 0) / len(s.vector) for s in samples]
    mean_share = sum(shares) / len(shares)
    layer = f.embeddings.layer
    if mean_share == 0:
        return Note("embeddings.zeros", "none", "embeddings",
                    f"No dimension of the {layer} embeddings is zero after ReLU for these samples.",
                    {"zero_share": 0.0})
    return Note("embeddings.zeros", "some", "embeddings",
                f"On average {fmt.percent(mean_share)} of the {f.embeddings.dimensions} {layer} dimensions are "
                "exactly zero after ReLU, so distances are driven by the remaining active units.",
                {"zero_share": mean_share})


NAMED_SAMPLES = 8  # misclassified samples named in the sentence; beyond, their captions say it


def sample_predictions(f: Findings) -> Note:
    wrong = [s for s in f.embeddings.samples if s.predicted != s.label]
    if not wrong:
        return Note("embeddings.predictions", "all-correct", "embeddings",
                    f"The network classifies all {len(f.embeddings.samples)} samples correctly.", {"wrong": 0})
    named = [f"#{s.index} ({a_or_an(f.class_name(s.label))}, predicted {f.class_name(s.predicted)})"
             for s in wrong[:NAMED_SAMPLES]]
    if len(wrong) > NAMED_SAMPLES:  # the samples' captions name every prediction
        named.append(f"{len(wrong) - NAMED_SAMPLES} more, whose captions name their predictions")
    names = fmt.listing(named)
    return Note("embeddings.predictions", "some-wrong", "embeddings",
                f"{len(wrong)} of {len(f.embeddings.samples)} samples {'is' if len(wrong) == 1 else 'are'} misclassified: "
                f"{names}; distances involving {'it' if len(wrong) == 1 else 'them'} describe images the network misreads.",
                {"wrong": len(wrong)})


def course_report(f: Findings) -> Note | None:
    """For the assignment's own setting (its CNN, fc2 after ReLU, digits 6 and 7), what of the course report's
    published MSE values this checkpoint reproduces: the ordering intra < inter, and which digit is tighter."""
    e = f.embeddings
    if (f.model_source != "assignment" or e.layer != "fc2" or not e.after_relu
            or [f.class_name(c) for c in e.classes] != ["6", "7"] or PRIMARY_METRIC not in e.distances):
        return None
    table = e.distances[PRIMARY_METRIC]
    six, seven = (table.intra_by_class.get(str(c), {}).get("mean") for c in e.classes)
    between = table.inter_by_class_pair.get(f"{min(e.classes)}-{max(e.classes)}", {}).get("mean")
    if six is None or seven is None or between is None:
        return None
    ours_ordering = max(six, seven) < between
    ours_tighter = "6" if six < seven else "7"
    course_tighter = "6" if COURSE_REPORT["6"] < COURSE_REPORT["7"] else "7"
    evidence = {"course": COURSE_REPORT, "ours": {"6": six, "7": seven, "6-7": between},
                "ordering_holds": ours_ordering, "tighter": ours_tighter}
    text = (f"The course report measured MSE {COURSE_REPORT['6']} within the 6s, "  # quoted as published
            f"{COURSE_REPORT['7']} within the 7s and {COURSE_REPORT['6-7']} between a 6 "
            f"and a 7; this checkpoint gives {fmt.number(six)}, {fmt.number(seven)} and {fmt.number(between)}. "
            "Absolute distances depend on the training run and on the scale of the activations, so only the "
            "orderings can carry over: ")
    same_tighter = ours_tighter == course_tighter
    holds = [ours_ordering, same_tighter]
    parts = [("intra-class distances are smaller than the inter-class one, as in the course report" if ours_ordering
              else "intra-class distances are not all smaller than the inter-class one, unlike in the course report"),
             f"the sampled {ours_tighter}s lie closer together than the sampled "
             f"{'7' if ours_tighter == '6' else '6'}s, "
             + ("as in the course report" if same_tighter else "unlike in the course report")]
    branch = "reproduces" if all(holds) else "partly" if any(holds) else "differs"
    return Note("embeddings.course_report", branch, "distances",
                text + "; ".join(parts) + "." + anecdotal(f) + caveat(f), evidence)

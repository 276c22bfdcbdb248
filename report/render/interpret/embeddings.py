"""Rules about the sample embeddings and their distances."""

from __future__ import annotations

from analysis.store.schema import METRICS, PRIMARY_METRIC
from report.render import fmt
from report.render.findings import Findings
from report.render.interpret import Note

SIMILAR_WITHIN = 1.1          # intra means within 10% of each other count as equally compact
ANECDOTAL_BELOW = 30          # samples per class under which conclusions are called anecdotal
METRIC_NAMES = {metric.id: metric.name for metric in METRICS}
PRIMARY_NAME = METRIC_NAMES[PRIMARY_METRIC]


def _table(f: Findings):
    return f.embeddings.distances[PRIMARY_METRIC]


def _intra(f: Findings) -> dict[str, float]:
    return {cls: row["mean"] for cls, row in _table(f).intra_by_class.items() if row["mean"] is not None}


def compactness(f: Findings) -> Note | None:
    intra = _intra(f)
    if len(intra) < 2:
        return None
    ordered = sorted(intra.items(), key=lambda item: item[1])
    (best, low), (worst, high) = ordered[0], ordered[-1]
    best, worst = f.class_name(int(best)), f.class_name(int(worst))
    evidence = {"intra": intra}
    if low == 0 or high / low >= SIMILAR_WITHIN:
        factor = "" if low == 0 else f", {fmt.ratio(high / low)} smaller than class {worst}'s ({fmt.number(high)})"
        return Note("embeddings.compactness", "one-tighter", "distances",
                    f"Class {best} is the most compact in the {f.embeddings.layer} embedding: its mean intra-class "
                    f"{PRIMARY_NAME} is {fmt.number(low)}{factor}.", evidence)
    return Note("embeddings.compactness", "similar", "distances",
                f"The classes are about equally compact: mean intra-class {PRIMARY_NAME} ranges only from {fmt.number(low)} "
                f"(class {best}) to {fmt.number(high)} (class {worst}).", evidence)


def separation(f: Findings) -> Note | None:
    table = _table(f)
    ratio = table.ratio
    if ratio is None:
        return None
    intra = [p.distance for p in table.pairs if p.kind == "intra"]
    inter = [p.distance for p in table.pairs if p.kind == "inter"]
    evidence = {"ratio": ratio, "min_inter": min(inter), "max_intra": max(intra)}
    if ratio > 1:
        overlap = ("every inter-class pair is farther apart than every intra-class pair"
                   if min(inter) > max(intra) else
                   "but the ranges overlap: some inter-class pairs are closer than some intra-class pairs")
        return Note("embeddings.separation", "separated", "distances",
                    f"Inter-class distances exceed intra-class ones by {fmt.ratio(ratio)} on average "
                    f"(mean {PRIMARY_NAME} {fmt.number(table.inter_mean)} against {fmt.number(table.intra_mean)}); "
                    f"{overlap}.", evidence)
    return Note("embeddings.separation", "not-separated", "distances",
                f"Inter-class distances are not larger than intra-class ones (mean {PRIMARY_NAME} "
                f"{fmt.number(table.inter_mean)} against {fmt.number(table.intra_mean)}, ratio {fmt.ratio(ratio)}): "
                f"the {f.embeddings.layer} embedding does not separate these samples.", evidence)


def sample_size(f: Findings) -> Note:
    n = f.embeddings.per_class
    pairs = sum(1 for p in _table(f).pairs if p.kind == "intra")
    if n < ANECDOTAL_BELOW:
        return Note("embeddings.sample_size", "anecdotal", "distances",
                    f"Caution: with {n} sample{'s' if n != 1 else ''} per class ({pairs} intra-class "
                    f"pair{'s' if pairs != 1 else ''} in all), these figures are anecdotal; another choice of "
                    "images can reverse them.", {"per_class": n})
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
                                 f"{'all agree' if len(verdicts) > 2 else 'agree'} on this conclusion."), verdicts)
    disagree = [METRIC_NAMES.get(m, m) for m, v in verdicts.items() if v != verdicts.get(PRIMARY_METRIC, v)]
    return Note("embeddings.metrics", "disagree", "distances",
                f"The metrics disagree: {fmt.listing(disagree)} {'reaches' if len(disagree) == 1 else 'reach'} the opposite conclusion to {PRIMARY_NAME}, so the "
                "separation depends on how distance is measured.", verdicts)


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


def sample_predictions(f: Findings) -> Note:
    wrong = [s for s in f.embeddings.samples if s.predicted != s.label]
    if not wrong:
        return Note("embeddings.predictions", "all-correct", "embeddings",
                    f"The network classifies all {len(f.embeddings.samples)} samples correctly.", {"wrong": 0})
    names = fmt.listing(f"#{s.index} (a {f.class_name(s.label)}, predicted {f.class_name(s.predicted)})"
                        for s in wrong)
    return Note("embeddings.predictions", "some-wrong", "embeddings",
                f"{len(wrong)} of {len(f.embeddings.samples)} samples {'is' if len(wrong) == 1 else 'are'} misclassified: "
                f"{names}; distances involving {'it' if len(wrong) == 1 else 'them'} describe digits the network misreads.",
                {"wrong": len(wrong)})

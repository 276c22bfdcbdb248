"""Rules about what changed between two checkpoints (the compare report) and over a series (the history)."""

from __future__ import annotations

from analysis.store.schema import PRIMARY_METRIC, EmbeddingScale, PairedComparison, from_json
from report.render.words import METRIC_BY_ID
from report.render import fmt
from report.render.findings import Findings
from report.render.interpret.notes import Note
from report.render.history import training_run
from report.render.interpret.distances import silhouette_distance
from report.render.interpret.embeddings import ANECDOTAL_BELOW

SAME_WITHIN = 0.05   # relative change below which a quantity "barely changed"


SILHOUETTE_SAME = 0.02   # silhouette changes below this are "about the same"
SQUARED = {"mse": ", a squared distance"}  # said after a metric's name: its ratios are ratios of squares


def paired(doc: dict) -> PairedComparison | None:
    """compare.json's accuracies and paired test; None in a comparison stored before them."""
    return from_json(PairedComparison, doc["paired"]) if doc.get("paired") else None


def scale(doc: dict) -> EmbeddingScale | None:
    return from_json(EmbeddingScale, doc["scale"]) if doc.get("scale") else None


def _change(before: float, after: float) -> str:
    """A relative change in words: "rose by 12%", "fell by 30%", or about the same within SAME_WITHIN."""
    if before and after / before >= 1 + SAME_WITHIN:
        return f"rose by {fmt.percent(after / before - 1, 0)}"
    if before and after / before <= 1 - SAME_WITHIN:
        return f"fell by {fmt.percent(1 - after / before, 0)}"
    return f"stayed about the same (within {fmt.percent(SAME_WITHIN, 0)})"


def accuracy(a: Findings, b: Findings, doc: dict) -> Note:
    images = b.evaluation.correct - a.evaluation.correct
    evidence = {"a": a.evaluation.accuracy, "b": b.evaluation.accuracy}
    if images == 0 and a.evaluation.accuracy == b.evaluation.accuracy:
        return Note("compare.accuracy", "same", "changes",
                    f"Test accuracy is the same for both: {fmt.percent(a.evaluation.accuracy)}.", evidence)
    direction = "rises" if b.evaluation.accuracy > a.evaluation.accuracy else "falls"
    return Note("compare.accuracy", direction, "changes",
                f"Test accuracy {direction} from {fmt.percent(a.evaluation.accuracy)} (A) to "
                f"{fmt.percent(b.evaluation.accuracy)} (B), {abs(images)} image{'s' if abs(images) != 1 else ''} "
                f"{'more' if images > 0 else 'fewer'} right{_intervals(doc)}.", evidence)


def _intervals(doc: dict) -> str:
    """Each side's 95% Wilson interval, where compare.json holds them."""
    stored = paired(doc)
    if stored is None:
        return ""
    return (f" (95% Wilson intervals {fmt.percent_range(stored.a.ci_low, stored.a.ci_high)} for A and "
            f"{fmt.percent_range(stored.b.ci_low, stored.b.ci_high)} for B)")


def paired_test(a: Findings, b: Findings, doc: dict) -> Note | None:
    """Whether one checkpoint classifies the test split better than the other: only McNemar's exact test on
    the images both classified says so, and only below its level (overlapping intervals of two accuracies
    measured on the same images are not a test)."""
    stored = paired(doc)
    if stored is None:
        return None
    if stored.mcnemar is None:
        return Note("compare.paired", "refused", "changes",
                    f"No paired test of A against B: {stored.refused}.", {"refused": stored.refused})
    test = stored.mcnemar
    b_only, c_only, p = test.a_only, test.b_only, test.p_value
    evidence = {"test": "McNemar exact (scipy.stats.binomtest(b, b + c, 0.5), two-sided)", "n": test.n,
                "b": b_only, "c": c_only, "p": p, "alpha": test.alpha}
    counts = (f"b = {b_only} image{'s' if b_only != 1 else ''} only A classifies correctly, "
              f"c = {c_only} only B does")
    if b_only + c_only == 0:
        return Note("compare.paired", "no-discordant", "changes",
                    f"A and B are right on exactly the same {fmt.integer(test.n)} test images, so no image tells "
                    "them apart: neither is better on this test split (McNemar exact p = 1, b = 0, c = 0).", evidence)
    if p < test.alpha:
        better, worse = ("B", "A") if c_only > b_only else ("A", "B")
        return Note("compare.paired", f"{better.lower()}-better", "changes",
                    f"{better} is better than {worse} on this test split: McNemar's exact test on the "
                    f"{fmt.integer(test.n)} paired test images gives p = {fmt.number(p, 2)}, below "
                    f"{test.alpha:g} ({counts}).", evidence)
    return Note("compare.paired", "not-significant", "changes",
                f"The difference is not significant (McNemar exact p = {fmt.number(p, 2)}, b = {b_only}, "
                f"c = {c_only}; {counts}): these {fmt.integer(test.n)} test images do not show either checkpoint "
                "to be better.", evidence)


def two_sample_separation(a: Findings, b: Findings, doc: dict) -> Note | None:
    if a.embeddings is None or b.embeddings is None:
        return None
    if PRIMARY_METRIC not in a.embeddings.distances or PRIMARY_METRIC not in b.embeddings.distances:
        return None
    ta, tb = a.embeddings.distances[PRIMARY_METRIC], b.embeddings.distances[PRIMARY_METRIC]
    ra, rb = ta.ratio, tb.ratio
    if ra is None or rb is None:
        return None
    classes = "–".join(a.class_name(c) for c in a.embeddings.classes)
    branch = "grew" if rb >= ra * (1 + SAME_WITHIN) else "shrank" if rb <= ra * (1 - SAME_WITHIN) else "same"
    return Note("compare.two_sample", branch, "changes",
                f"The {classes} separation of the sample embeddings (inter/intra ratio of the mean "
                f"{METRIC_BY_ID[PRIMARY_METRIC].name}{SQUARED.get(PRIMARY_METRIC, '')}) {_change(ra, rb)}: "
                f"{fmt.ratio(ra)} in A, {fmt.ratio(rb)} in B{sample_caveat(a, b)}.",
                {"a": ra, "b": rb, "per_class": _per_class(a, b), "anecdotal_below": ANECDOTAL_BELOW})


def _per_class(a: Findings, b: Findings) -> int:
    return min(a.embeddings.per_class, b.embeddings.per_class)


def sample_caveat(a: Findings, b: Findings) -> str:
    """The caveat the single report gives sample figures, for the side with fewer samples, as a clause."""
    n = _per_class(a, b)
    if n >= ANECDOTAL_BELOW:
        return ""
    return f"; from {n} image{'s' if n != 1 else ''} per class, not a reliable measure"


def sample_caveat_sentence(a: Findings, b: Findings) -> str:
    """The same caveat as a sentence for the sample tables; empty when there are enough samples."""
    n = _per_class(a, b)
    if n >= ANECDOTAL_BELOW:
        return ""
    return (f"The sample figures come from {n} image{'s' if n != 1 else ''} per class: not a reliable measure; "
            "another choice of images can reverse them.")


def embedding_scale(a: Findings, b: Findings, doc: dict) -> Note | None:
    """Raw distances of two checkpoints are on the scales of their own embeddings: a class that "spreads
    2×" may only sit in an embedding whose values are 2× larger. The scale-free measures compare instead."""
    if a.embeddings is None and b.embeddings is None and not (a.separation and b.separation):
        return None  # no distance on the page
    stored = scale(doc)
    free = "the inter/intra ratios and the silhouette, which are scale-free"
    if stored is None or stored.a is None or stored.b is None or not stored.a:
        return Note("compare.scale", "unknown", "changes",
                    "Raw distances are not comparable across checkpoints unless their embeddings share one scale, "
                    f"which this comparison does not record (no sample embeddings): compare {free}.", {})
    quotient = stored.b / stored.a
    evidence = {"rms_a": stored.a, "rms_b": stored.b, "b_over_a": quotient, "same_within": SAME_WITHIN,
                "images_a": stored.images_a, "images_b": stored.images_b}
    measured = (f"root mean square of the sample embeddings' values {fmt.number(stored.a)} in A and "
                f"{fmt.number(stored.b)} in B, B/A {fmt.ratio(quotient)}")
    if abs(quotient - 1) >= SAME_WITHIN:
        return Note("compare.scale", "differ", "changes",
                    f"Raw distances are not comparable across checkpoints: the embedding values are on another "
                    f"scale in B ({measured}), and every distance changes with the scale alone. Compare {free}, "
                    "or each class's spread relative to its own checkpoint's mean inter-class distance.", evidence)
    return Note("compare.scale", "same", "changes",
                f"The embedding values are on about the same scale in A and B ({measured}, within "
                f"{fmt.percent(SAME_WITHIN, 0)}), so raw distances can be set side by side; {free}, remain the "
                "safer comparison.", evidence)


def whole_split(a: Findings, b: Findings, doc: dict) -> Note | None:
    if not (a.separation and b.separation and a.separation.ratio and b.separation.ratio):
        return None
    sa, sb = a.separation, b.separation
    step = sb.silhouette - sa.silhouette
    branch = "better" if step > SILHOUETTE_SAME else "worse" if step < -SILHOUETTE_SAME else "same"
    return Note("compare.whole_split", branch, "changes",
                f"Class separation over the whole test split: the {_ratio_change(sa, sb)}, and the "
                f"{_silhouette_change(sa, sb)}; both are scale-free, so they compare across checkpoints.",
                {"a": sa.silhouette, "b": sb.silhouette, "ratio_a": sa.ratio, "ratio_b": sb.ratio,
                 "metric": sa.metric})


def _ratio_change(sa, sb) -> str:
    """The change of the inter/intra ratio, said of the Euclidean ratio where both stores hold it (a ratio of
    squared distances is about the square of it, and its change about twice as large), with the stored
    metric's beside it."""
    metric = METRIC_BY_ID[sa.metric].name if sa.metric in METRIC_BY_ID else sa.metric
    stored = f"{fmt.ratio(sa.ratio)} → {fmt.ratio(sb.ratio)}"
    ea, eb = getattr(sa, "euclidean", None), getattr(sb, "euclidean", None)
    if ea and eb and ea.ratio and eb.ratio and sa.metric == "mse":
        return (f"inter/intra ratio of the mean Euclidean distance {_change(ea.ratio, eb.ratio)}: "
                f"{fmt.number(ea.ratio, 3)}× → {fmt.number(eb.ratio, 3)}× (in MSE, a squared distance, {stored})")
    squared = f"{SQUARED[sa.metric]}," if sa.metric in SQUARED else ""
    return f"inter/intra ratio of the mean {metric}{squared} {_change(sa.ratio, sb.ratio)}: {stored}"


def _silhouette_change(sa, sb) -> str:
    """The silhouette on the distance it was computed on; the Euclidean one first where both stores hold it, as
    the single report gives it."""
    stored = f"{fmt.number(sa.silhouette, 2)} to {fmt.number(sb.silhouette, 2)}"
    ea, eb = getattr(sa, "euclidean", None), getattr(sb, "euclidean", None)
    if ea and eb and sa.metric != "euclidean":
        return (f"silhouette on Euclidean distance went from {fmt.number(ea.silhouette, 2)} to "
                f"{fmt.number(eb.silhouette, 2)} ({stored} on {silhouette_distance(sa.metric)})")
    return f"silhouette on {silhouette_distance(sa.metric)} went from {stored}"


def separate_runs(a: Findings, b: Findings) -> tuple | None:
    """The training runs of A and B where both record one and they differ; None otherwise."""
    run_a, run_b = training_run(a.evaluation.training), training_run(b.evaluation.training)
    return (run_a, run_b) if run_a and run_b and run_a.id != run_b.id else None


def runs(a: Findings, b: Findings, doc: dict) -> Note | None:
    """Checkpoints of separate training runs: B is not A trained further (history keeps such runs apart too)."""
    separate = separate_runs(a, b)
    if separate is None:
        return None
    run_a, run_b = separate
    return Note("compare.runs", "separate", "changes",
                f"A and B come from separate training runs (A: {run_a.description}; B: {run_b.description}): B is "
                "not A trained further, so what differs below is the outcome of two trainings, not what more "
                "training changed.", {"run_a": run_a.id, "run_b": run_b.id})


def largest_drift(a: Findings, b: Findings, doc: dict) -> Note | None:
    rows = [r for r in doc["drift"] if r["relative"] is not None]
    if not rows:
        return None
    top = max(rows, key=lambda r: r["relative"])
    if top["change"] == 0:
        return Note("compare.drift", "identical", "changes", "All parameters are identical in A and B.", {})
    total_a = sum(r["norm_a"] ** 2 for r in rows) ** 0.5
    total_change = sum(r["change"] ** 2 for r in rows) ** 0.5
    measured = (f"‖B − A‖ is {fmt.percent(top['relative'])} of ‖A‖. Over all parameters the difference is "
                f"{fmt.percent(total_change / total_a if total_a else 0)} of A's norm")
    evidence = {"layer": top["name"], "relative": top["relative"]}
    if separate_runs(a, b):
        return Note("compare.drift", "separate-runs", "changes",
                    f"{top['name']} differs most between the two runs: {measured}. Two separately trained networks "
                    "need not match unit for unit (their hidden units can sit in any order), so this measures how "
                    "far apart they ended, not how far training moved the weights.", evidence)
    return Note("compare.drift", "moved", "changes", f"{top['name']} moved most: {measured}.", evidence)


RULES = (runs, accuracy, paired_test, embedding_scale, two_sample_separation, whole_split, largest_drift)


def run(a: Findings, b: Findings, doc: dict) -> list[Note]:
    notes = [rule(a, b, doc) for rule in RULES]
    return [n for n in notes if n is not None]


def runs_of(rows: list[dict]) -> list[tuple[dict | None, list[dict]]]:
    """The training runs of a series, in series order, each with its checkpoints: (run, rows); run None holds the
    checkpoints that record no run (taken as one)."""
    runs: dict[str | None, tuple[dict | None, list[dict]]] = {}
    for row in rows:
        run = row.get("run")
        runs.setdefault(run["id"] if run else None, (run, []))[1].append(row)
    return list(runs.values())


def run_name(index: int, run: dict | None) -> str:
    return f"run {index + 1} ({run['description']})" if run else f"run {index + 1} (no training record)"


def history_notes(doc: dict) -> list[Note]:
    """Trends over a series of checkpoints (first against last, and the best one), within each training run: a
    checkpoint of a separate run is not an epoch of another, so no trend joins two runs."""
    rows = doc["rows"]
    runs = runs_of(rows)
    if len(runs) == 1:
        return _trend(rows, "")
    notes = [_separate_runs(runs)]
    for index, (run, members) in enumerate(runs):
        notes += _trend(members, f"In {run_name(index, run)}, ")
    return notes


def _separate_runs(runs: list[tuple[dict | None, list[dict]]]) -> Note:
    listed = "; ".join(f"{run_name(i, run)}: {fmt.listing(r['checkpoint'] for r in members)}"
                       for i, (run, members) in enumerate(runs))
    return Note("history.runs", "separate", "history",
                f"These checkpoints come from {len(runs)} separate training runs ({listed}). Each run is its own "
                "series: the plots break their lines between runs and the table marks each checkpoint's run, since "
                "a checkpoint of one run is not an epoch of another, and no trend below joins two runs.",
                {"runs": [{"run": run["id"] if run else None, "checkpoints": [r["checkpoint"] for r in members]}
                          for run, members in runs]})


def _accuracy_trend(first: dict, last: dict, start: str, where: str) -> Note:
    """Rises or falls only when the two 95% Wilson intervals separate; otherwise the change is not established.
    (Disjoint intervals are a conservative test: the checkpoints are judged on the same images.)"""
    a, b = first.get("accuracy_ci"), last.get("accuracy_ci")
    evidence = {"first": first["accuracy"], "last": last["accuracy"], "first_ci": a, "last_ci": b,
                "criterion": "the two 95% Wilson intervals are disjoint"}
    shown = (f"{fmt.percent(first['accuracy'])} ({first['checkpoint']}"
             + (f"; 95% CI {fmt.percent_range(*a)}" if a else "") + ") to "
             + f"{fmt.percent(last['accuracy'])} ({last['checkpoint']}"
             + (f"; 95% CI {fmt.percent_range(*b)}" if b else "") + ")")
    if a is None or b is None:
        return Note("history.accuracy", "no-intervals", "history",
                    f"{start} goes from {shown} {where}; these stores hold no intervals, so no rise or fall is "
                    "established.", evidence)
    if a[1] < b[0]:
        return Note("history.accuracy", "rises", "history", f"{start} rises from {shown}: the intervals are "
                    "disjoint.", evidence)
    if b[1] < a[0]:
        return Note("history.accuracy", "falls", "history", f"{start} falls from {shown}: the intervals are "
                    "disjoint.", evidence)
    return Note("history.accuracy", "not-established", "history",
                f"{start} goes from {shown} {where}; the intervals overlap, so no rise or fall is established.",
                evidence)


def _ratio_name(metric: str | None) -> str:
    """ "inter/intra ratio of the mean MSE, a squared distance," for a history row's stored metric ("inter/intra"
    for a row that names none)."""
    if not metric:
        return "inter/intra"
    name = METRIC_BY_ID[metric].name if metric in METRIC_BY_ID else metric
    return f"inter/intra ratio of the mean {name}{SQUARED.get(metric, '')},"


def _on(row: dict) -> str:
    """", on squared Euclidean distance": the distance a history row's silhouette was computed on."""
    return f", on {silhouette_distance(row['metric'])}" if row.get("metric") else ""


def _trend(rows: list[dict], within: str) -> list[Note]:
    """First against last checkpoint, and where separation peaks; ``within``: the run they belong to, as the
    start of each sentence ("" for a series of one run)."""
    if len(rows) < 2:
        return []
    first, last = rows[0], rows[-1]
    notes = []
    start = fmt.sentence(f"{within}test accuracy")
    notes.append(_accuracy_trend(first, last, start, "within the run" if within else "over the series"))
    if first["silhouette"] is None or last["silhouette"] is None:  # a store without whole-split results
        return notes
    best = max((r for r in rows if r["silhouette"] is not None), key=lambda r: r["silhouette"])
    start = fmt.sentence(f"{within}class separation")
    evidence = {"first": first["silhouette"], "last": last["silhouette"], "best": best["silhouette"],
                "best_checkpoint": best["checkpoint"], "criterion": "highest silhouette of the series (no interval: "
                "a description of the values, not a test)"}
    if best is last:
        notes.append(Note("history.separation", "best-last", "history",
                          f"{start}: the silhouette is highest at the last checkpoint ({fmt.number(last['silhouette'], 2)}, "
                          f"from {fmt.number(first['silhouette'], 2)}{_on(last)}; "
                          f"{_ratio_name(last.get('metric'))} {fmt.ratio(first['ratio'])} → "
                          f"{fmt.ratio(last['ratio'])}).", evidence))
    else:
        notes.append(Note("history.separation", "best-earlier", "history",
                          f"{start}: the silhouette is highest at {best['checkpoint']} "
                          f"({fmt.number(best['silhouette'], 2)}{_on(best)}) and ends "
                          f"lower ({fmt.number(last['silhouette'], 2)}).",
                          evidence))
    return notes

"""Rules about what changed between two checkpoints (the compare report)."""

from __future__ import annotations

from analysis.store.schema import METRIC_BY_ID, PRIMARY_METRIC
from report.render import fmt
from report.render.findings import Findings
from report.render.interpret import Note

SAME_WITHIN = 0.05   # relative change below which a quantity "barely changed"


SILHOUETTE_SAME = 0.02   # silhouette changes below this are "about the same"


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
                f"{'more' if images > 0 else 'fewer'} right.", evidence)


def two_sample_separation(a: Findings, b: Findings, doc: dict) -> Note | None:
    if PRIMARY_METRIC not in a.embeddings.distances or PRIMARY_METRIC not in b.embeddings.distances:
        return None
    ta, tb = a.embeddings.distances[PRIMARY_METRIC], b.embeddings.distances[PRIMARY_METRIC]
    ra, rb = ta.ratio, tb.ratio
    if ra is None or rb is None:
        return None
    classes = "–".join(a.class_name(c) for c in a.embeddings.classes)
    branch = "grew" if rb >= ra * (1 + SAME_WITHIN) else "shrank" if rb <= ra * (1 - SAME_WITHIN) else "same"
    return Note("compare.two_sample", branch, "changes",
                f"The {classes} separation of the sample embeddings (inter/intra {METRIC_BY_ID[PRIMARY_METRIC].name}) {_change(ra, rb)}: "
                f"{fmt.ratio(ra)} in A, {fmt.ratio(rb)} in B.", {"a": ra, "b": rb})


def whole_split(a: Findings, b: Findings, doc: dict) -> Note | None:
    if not (a.separation and b.separation and a.separation.ratio and b.separation.ratio):
        return None
    sa, sb = a.separation, b.separation
    step = sb.silhouette - sa.silhouette
    branch = "better" if step > SILHOUETTE_SAME else "worse" if step < -SILHOUETTE_SAME else "same"
    return Note("compare.whole_split", branch, "changes",
                f"Over the whole test split the class separation {_change(sa.ratio, sb.ratio)} "
                f"({fmt.ratio(sa.ratio)} → {fmt.ratio(sb.ratio)}), and the silhouette went from "
                f"{fmt.number(sa.silhouette, 2)} to {fmt.number(sb.silhouette, 2)}.", {"a": sa.silhouette, "b": sb.silhouette})


def largest_drift(a: Findings, b: Findings, doc: dict) -> Note | None:
    rows = [r for r in doc["drift"] if r["relative"] is not None]
    if not rows:
        return None
    top = max(rows, key=lambda r: r["relative"])
    if top["change"] == 0:
        return Note("compare.drift", "identical", "changes", "All parameters are identical in A and B.", {})
    total_a = sum(r["norm_a"] ** 2 for r in rows) ** 0.5
    total_change = sum(r["change"] ** 2 for r in rows) ** 0.5
    return Note("compare.drift", "moved", "changes",
                f"{top['name']} moved most: ‖B − A‖ is {fmt.percent(top['relative'])} of ‖A‖. Over all parameters "
                f"the change is {fmt.percent(total_change / total_a if total_a else 0)} of A's norm.",
                {"layer": top["name"], "relative": top["relative"]})


RULES = (accuracy, two_sample_separation, whole_split, largest_drift)


def run(a: Findings, b: Findings, doc: dict) -> list[Note]:
    notes = [rule(a, b, doc) for rule in RULES]
    return [n for n in notes if n is not None]


def history_notes(doc: dict) -> list[Note]:
    """Trends over a series of checkpoints (first against last, and the best one)."""
    rows = doc["rows"]
    if len(rows) < 2:
        return []
    first, last = rows[0], rows[-1]
    notes = []
    if last["accuracy"] > first["accuracy"]:
        notes.append(Note("history.accuracy", "rises", "history",
                          f"Test accuracy rises from {fmt.percent(first['accuracy'])} ({first['checkpoint']}) to "
                          f"{fmt.percent(last['accuracy'])} ({last['checkpoint']}).", {}))
    else:
        notes.append(Note("history.accuracy", "does-not-rise", "history",
                          f"Test accuracy does not rise over the series: {fmt.percent(first['accuracy'])} "
                          f"({first['checkpoint']}) against {fmt.percent(last['accuracy'])} ({last['checkpoint']}).", {}))
    if first["silhouette"] is None or last["silhouette"] is None:  # a store without whole-split results
        return notes
    best = max((r for r in rows if r["silhouette"] is not None), key=lambda r: r["silhouette"])
    if best is last:
        notes.append(Note("history.separation", "best-last", "history",
                          f"Class separation is best at the last checkpoint (silhouette {fmt.number(last['silhouette'], 2)}, "
                          f"from {fmt.number(first['silhouette'], 2)}; inter/intra {fmt.ratio(first['ratio'])} → "
                          f"{fmt.ratio(last['ratio'])}).", {}))
    else:
        notes.append(Note("history.separation", "best-earlier", "history",
                          f"Class separation peaks at {best['checkpoint']} (silhouette {fmt.number(best['silhouette'], 2)}) "
                          f"and ends lower ({fmt.number(last['silhouette'], 2)}): later training did not separate the "
                          "classes further.", {}))
    return notes

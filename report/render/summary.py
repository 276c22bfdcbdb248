"""The headline numbers of one store, typed (``Summary``), and the Markdown summary a CI job shows.

``summarise`` is what ``report.api.Report.summary`` returns: numbers a script can assert on, straight from
the store (nothing formatted or rounded). ``markdown`` writes ``summary.md``: the same numbers, the alerts,
the key findings and, when the build folder's previous report was of another checkpoint of the same model,
how the numbers moved. Plain Python: the render stage loads neither torch nor numpy."""

from __future__ import annotations

import dataclasses

from report.render.words import METRIC_NAMES
from report.render import fmt
from report.render.alerts import Alert
from report.render.findings import Findings
from report.render.interpret import Note
from report.render.interpret.distances import silhouette_distance


@dataclasses.dataclass(frozen=True)
class Summary:
    """The report's headline numbers, as stored. ``None``: not computed for this report (the whole-split
    numbers without a whole-split section)."""

    model: str                         # the model's class name
    source: str                        # assignment, torchvision:NAME, package.module:Class
    weights: str                       # "checkpoint" or "random (seed N)"
    checkpoint: str | None             # the checkpoint's file name
    checkpoint_sha256: str | None
    position: dict | None              # {"epoch": 3, "step": ...} when the checkpoint records one
    parameters: int                    # every parameter, each shared tensor once
    trainable: int
    macs: int                          # multiply-accumulates per image (a lower bound when operations went uncounted)
    macs_complete: bool                # False: some heavy operation had no counting formula
    n_test: int
    correct: int
    accuracy: float                    # share of test images classified correctly, 0..1
    accuracy_interval: tuple[float, float] | None  # its 95% Wilson interval (None: a store written before them)
    balanced_accuracy: float | None    # mean recall over the classes of the test split (None: not stored)
    class_accuracy: dict[str, float]   # class name -> its accuracy
    metric: str | None                 # distance of the whole-split statistics (mse, euclidean, cosine)
    separation_ratio: float | None     # mean inter- over mean intra-class distance in ``metric``, all test images
    euclidean_ratio: float | None      # the same in Euclidean distance (stored with metric mse, a squared distance)
    silhouette: float | None
    nearest_centroid_accuracy: float | None  # each image counted in its own class's centroid (optimistic)
    nearest_centroid_left_out: float | None  # each image left out of its own class's centroid
    two_sample_ratio: float | None     # the same ratio over the chosen samples (the assignment's reading, MSE)
    alerts: dict[str, int]             # level -> how many alerts of that level

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def summarise(f: Findings, found: list[Alert] | None = None) -> Summary:
    from report.render.alerts import LEVELS, alerts

    found = alerts(f) if found is None else found
    e, s = f.evaluation, f.separation
    two = f.embeddings.distances.get("mse") if f.embeddings else None
    q = e.quality
    left_out = s.centroid_left_out.accuracy if s and s.centroid_left_out else None
    return Summary(
        model=f.model_class, source=f.model_source, weights=f.weights,
        checkpoint=f.provenance.checkpoint_file if f.weights == "checkpoint" else None,
        checkpoint_sha256=f.provenance.checkpoint_sha256 or None, position=e.position,
        parameters=f.parameters.total, trainable=f.parameters.trainable, macs=f.trace.total_macs,
        macs_complete=not f.trace.uncounted, n_test=e.n_test, correct=e.correct, accuracy=e.accuracy,
        accuracy_interval=(q.accuracy.low, q.accuracy.high) if q else None,
        balanced_accuracy=q.balanced_accuracy.value if q else None,
        class_accuracy={f.class_name(row.cls): row.accuracy for row in e.per_class},
        metric=s.metric if s else None, separation_ratio=s.ratio if s else None,
        euclidean_ratio=s.euclidean.ratio if s and s.euclidean else None,
        silhouette=s.silhouette if s else None, nearest_centroid_accuracy=s.nearest_centroid_accuracy if s else None,
        nearest_centroid_left_out=left_out,
        two_sample_ratio=two.ratio if two else None,
        alerts={level: sum(a.level == level for a in found) for level in LEVELS})


# Numbers compared with the previous report: (field of Summary, label, how to format, higher is better)
MOVES = (("accuracy", "Test accuracy", fmt.percent, True),
         ("balanced_accuracy", "Balanced accuracy", fmt.percent, True),
         ("euclidean_ratio", "Separation (inter/intra, Euclidean)", fmt.ratio, True),
         ("separation_ratio", "Separation (inter/intra)", fmt.ratio, True),
         ("silhouette", "Silhouette", lambda v: fmt.number(v, 3), True),
         ("nearest_centroid_left_out", "Nearest-centroid accuracy (each image left out)", fmt.percent, True),
         ("two_sample_ratio", "Two-sample separation (MSE)", fmt.ratio, True))


def comparable(now: Summary, before: Summary | None) -> bool:
    """The previous report counts as the previous checkpoint of this run: the same model, other weights."""
    return (before is not None and before.model == now.model and before.source == now.source
            and before.parameters == now.parameters and before.checkpoint_sha256 != now.checkpoint_sha256
            and before.n_test == now.n_test)


def markdown(f: Findings, notes: list[Note], found: list[Alert], key: list[Note],
             previous: Summary | None = None) -> str:
    """summary.md: headline numbers, alerts, key findings, and the change since ``previous``."""
    now = summarise(f, found)
    what = now.checkpoint if now.checkpoint else f"{now.weights} weights"
    where = "".join(f", {k} {v}" for k, v in (now.position or {}).items())
    lines = [f"## {_cell(now.model)} — {_cell(what)}{where}", "",
             f"Data: {_cell(f.provenance.data_description)}.", "",
             "| Number | Value |", "|---|---|",
             f"| Test accuracy | {_accuracy(now)} |",
             f"| Parameters | {fmt.integer(now.parameters)} ({fmt.integer(now.trainable)} trainable) |",
             f"| Multiply-accumulates per image | {fmt.count(now.macs)}{'' if now.macs_complete else ' (at least)'} |"]
    if now.balanced_accuracy is not None:
        lines.append(f"| Balanced accuracy (mean recall per class) | {fmt.percent(now.balanced_accuracy)} |")
    if now.euclidean_ratio is not None:
        lines.append(f"| Separation, all test images (inter/intra Euclidean distance) | {fmt.ratio(now.euclidean_ratio)} |")
    if now.separation_ratio is not None:
        metric = METRIC_NAMES.get(now.metric, now.metric)
        squared = ", a squared distance" if now.metric == "mse" else ""
        lines.append(f"| Separation, all test images (inter/intra {_cell(metric)}{squared}) | "
                     f"{fmt.ratio(now.separation_ratio)} |")
    if now.silhouette is not None:
        on = f" (on {_cell(silhouette_distance(now.metric))})" if now.metric else ""
        lines.append(f"| Silhouette{on} | {fmt.number(now.silhouette, 3)} |")
    if now.nearest_centroid_left_out is not None:
        lines.append(f"| Nearest-centroid accuracy (each image left out of its centroid) | "
                     f"{fmt.percent(now.nearest_centroid_left_out)} |")
    elif now.nearest_centroid_accuracy is not None:
        lines.append(f"| Nearest-centroid accuracy (each image counted in its own centroid) | "
                     f"{fmt.percent(now.nearest_centroid_accuracy)} |")
    if now.two_sample_ratio is not None:
        lines.append(f"| Two-sample separation (MSE, a squared distance; a few images only) | "
                     f"{fmt.ratio(now.two_sample_ratio)} |")
    lines.append("")
    if found:
        lines += ["### Alerts", ""] + [f"- **{a.level}**: {_cell(a.text)}" for a in found] + [""]
    else:
        lines += ["No alerts.", ""]
    if key:
        lines += ["### Key findings", ""] + [f"- {_cell(n.text)}" for n in key] + [""]
    if comparable(now, previous):
        lines += _moves(now, previous)
    return "\n".join(lines).rstrip() + "\n"


def _accuracy(now: Summary) -> str:
    counts = f"{fmt.integer(now.correct)} of {fmt.integer(now.n_test)}"
    if now.accuracy_interval is None:
        return f"{fmt.percent(now.accuracy)} ({counts})"
    return f"{fmt.percent_ci(now.accuracy, *now.accuracy_interval)}, {counts}"


def _moves(now: Summary, before: Summary) -> list[str]:
    label = before.checkpoint if before.checkpoint else "the previous report"
    rows = [f"### Since {_cell(label)}", "", "| Number | Before | Now | Change |", "|---|---|---|---|"]
    for name, text, show, _higher in MOVES:
        a, b = getattr(before, name), getattr(now, name)
        if a is None or b is None:
            continue
        rows.append(f"| {text} | {show(a)} | {show(b)} | {_signed(b - a, name)} |")
    return rows + [""]


def _signed(delta: float, name: str) -> str:
    if name.endswith("accuracy"):
        return f"{delta * 100:+.2f} points"
    return f"{delta:+.3f}"


# Escaped wherever text from the data is written: with [ and ] escaped, ( ! # + cannot start a link or an
# image, and no cell of ours starts a line, where # + - would make a heading or a list.
MARKDOWN_SPECIAL = "\\`*_[]|~"


def _cell(text: str) -> str:
    """Text from the data (class and file names) as Markdown that shows as written: it cannot break the
    table, start a link or an image, or hold HTML; line breaks become spaces."""
    escaped = "".join(f"\\{c}" if c in MARKDOWN_SPECIAL else c for c in str(text))
    escaped = escaped.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return fmt.visible(" ".join(escaped.split()))  # and no escape sequence reaches a terminal showing it

"""The headline numbers of one store, typed (``Summary``), and the Markdown summary a CI job shows.

``summarise`` is what ``report.api.Report.summary`` returns: numbers a script can assert on, straight from
the store (nothing formatted or rounded). ``markdown`` writes ``summary.md``: the same numbers, the alerts,
the key findings and, when the build folder's previous report was of another checkpoint of the same model,
how the numbers moved. Plain Python: the render stage loads neither torch nor numpy."""

from __future__ import annotations

import dataclasses

from analysis.store.schema import METRIC_NAMES
from report.render import fmt
from report.render.alerts import Alert
from report.render.findings import Findings
from report.render.interpret import Note


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
    class_accuracy: dict[str, float]   # class name -> its accuracy
    metric: str | None                 # distance of the whole-split statistics (mse, euclidean, cosine)
    separation_ratio: float | None     # mean inter- over mean intra-class distance, all test images
    silhouette: float | None
    nearest_centroid_accuracy: float | None
    two_sample_ratio: float | None     # the same ratio over the chosen samples (the assignment's reading, MSE)
    alerts: dict[str, int]             # level -> how many alerts of that level

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def summarise(f: Findings, found: list[Alert] | None = None) -> Summary:
    from report.render.alerts import LEVELS, alerts

    found = alerts(f) if found is None else found
    e, s = f.evaluation, f.separation
    two = f.embeddings.distances.get("mse") if f.embeddings else None
    return Summary(
        model=f.model_class, source=f.model_source, weights=f.weights,
        checkpoint=f.provenance.checkpoint_file if f.weights == "checkpoint" else None,
        checkpoint_sha256=f.provenance.checkpoint_sha256 or None, position=e.position,
        parameters=f.parameters.total, trainable=f.parameters.trainable, macs=f.trace.total_macs,
        macs_complete=not f.trace.uncounted, n_test=e.n_test, correct=e.correct, accuracy=e.accuracy,
        class_accuracy={f.class_name(row.cls): row.accuracy for row in e.per_class},
        metric=s.metric if s else None, separation_ratio=s.ratio if s else None,
        silhouette=s.silhouette if s else None, nearest_centroid_accuracy=s.nearest_centroid_accuracy if s else None,
        two_sample_ratio=two.ratio if two else None,
        alerts={level: sum(a.level == level for a in found) for level in LEVELS})


# Numbers compared with the previous report: (field of Summary, label, how to format, higher is better)
MOVES = (("accuracy", "Test accuracy", fmt.percent, True),
         ("separation_ratio", "Separation (inter/intra)", fmt.ratio, True),
         ("silhouette", "Silhouette", lambda v: fmt.number(v, 3), True),
         ("nearest_centroid_accuracy", "Nearest-centroid accuracy", fmt.percent, True),
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
             f"| Test accuracy | {fmt.percent(now.accuracy)} ({fmt.integer(now.correct)} of {fmt.integer(now.n_test)}) |",
             f"| Parameters | {fmt.integer(now.parameters)} ({fmt.integer(now.trainable)} trainable) |",
             f"| Multiply-accumulates per image | {fmt.count(now.macs)}{'' if now.macs_complete else ' (at least)'} |"]
    if now.separation_ratio is not None:
        metric = METRIC_NAMES.get(now.metric, now.metric)
        lines.append(f"| Separation, all test images ({_cell(metric)}) | {fmt.ratio(now.separation_ratio)} |")
    if now.silhouette is not None:
        lines.append(f"| Silhouette | {fmt.number(now.silhouette, 3)} |")
    if now.nearest_centroid_accuracy is not None:
        lines.append(f"| Nearest-centroid accuracy | {fmt.percent(now.nearest_centroid_accuracy)} |")
    if now.two_sample_ratio is not None:
        lines.append(f"| Two-sample separation (MSE) | {fmt.ratio(now.two_sample_ratio)} |")
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

"""Views of the compare report (two checkpoints side by side) and the history report (a series)."""

from __future__ import annotations

import dataclasses

from analysis.store.schema import (
    PRIMARY_METRIC,
    CompareDocument,
    CompareSide,
    HistoryDocument,
    PairedComparison,
    SideAccuracy,
    from_json,
)
from report.render import fmt
from report.render.findings import Findings
from report.render.words import METRIC_BY_ID
from report.render.history import whole_split_means
from report.render.interpret import Note
from report.render.interpret.changes import SQUARED, run_name, runs_of, sample_caveat_sentence
from report.render.interpret.distances import silhouette_distance
from report.render.views.common import ColourScale, Figure, colour_words, field
from report.render.views.compare_models import (RecallRow, architecture_note, heading, macs, model_words,
                                                recall_note, recall_rows, same_architecture)

NOT_AVAILABLE = "n/a"
HASH_SHOWN = 16  # hex digits of a checkpoint's sha256 shown in a page's header
# The colours of a diverging colour map in words: what the reader is told instead of the map's name.
DIVERGING = {"RdBu_r": "blue negative, white zero, red positive"}


def _difference(a: float | None, b: float | None, digits: int = 4) -> str:
    return NOT_AVAILABLE if a is None or b is None else fmt.number(b - a, digits)


def _quotient(a: float | None, b: float | None) -> str:
    """B / A as a ratio; n/a when either is missing or A is zero (no ratio of the two is defined)."""
    return NOT_AVAILABLE if not a or b is None else fmt.ratio(b / a)


def _times(a: float | None, b: float | None) -> str:
    """B / A of two costs, which can be orders of magnitude apart: two significant digits (0.0092×, 12×)."""
    return NOT_AVAILABLE if not a or b is None else f"{fmt.number(b / a, 2)}×"


# --- compare ----------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class CheckpointLine:
    file: str = field("the checkpoint's file name")
    model: str = field('the model it holds and its source: "AssignmentCNN (assignment)"')
    sha256: str = field("the start of its sha256")


@dataclasses.dataclass(frozen=True)
class ChangeRow:
    quantity: str = field("what is compared")
    a: str = field("its value in A, formatted")
    b: str = field("its value in B, formatted")
    difference: str = field("B − A, formatted; empty where a difference means nothing (ratios, scales); n/a when "
                            "either value is missing")
    ratio: str = field("B / A, formatted; empty where a ratio means nothing (shares, silhouettes); n/a when either "
                       "value is missing or A's is zero")


@dataclasses.dataclass(frozen=True)
class PairedView:
    """McNemar's test: how the test images split between A and B, and its p-value."""

    test: str = field("the test, in words")
    n: str = field("the paired test images")
    both_right: str = field("images both classify correctly")
    a_only: str = field("images only A classifies correctly (McNemar's b)")
    b_only: str = field("images only B classifies correctly (McNemar's c)")
    both_wrong: str = field("images both get wrong")
    p_value: str = field("the two-sided p-value")
    verdict: str = field("what the test says, with b, c and p: that one classifies more test images correctly "
                         "only when p is below the level, else that the difference is not significant")


@dataclasses.dataclass(frozen=True)
class DriftRowView:
    name: str = field("the parameter tensor")
    shape: str = field("its shape")
    norm_a: str = field("its norm in A, formatted")
    norm_b: str = field("its norm in B, formatted")
    change: str = field("the norm of B − A, formatted")
    relative: str = field("that relative to A's norm, as a percentage; n/a when A's norm is zero")


@dataclasses.dataclass(frozen=True)
class PairChangeRow:
    kind: str = field('"intra" or "inter": the row\'s CSS class')
    samples: str = field('the two samples, as "S1–S2"')
    classes: str = field('their classes, as "one–two"')
    a: str = field("their distance in A, formatted")
    b: str = field("their distance in B, formatted")
    change: str = field("B − A, formatted")


@dataclasses.dataclass(frozen=True)
class ClassChangeRow:
    name: str = field("the class")
    a: str = field("its mean intra-class distance in A, formatted")
    b: str = field("the same in B, formatted")
    ratio: str = field("B / A, formatted; n/a when either is missing or A's is zero")
    relative_a: str = field("A's mean intra-class distance over A's mean inter-class distance (scale-free)")
    relative_b: str = field("the same in B")


@dataclasses.dataclass(frozen=True)
class IntraComparison:
    metric: str = field("the distance used")
    rows: list[ClassChangeRow] = field("one row per class")
    inter_a: str = field("A's mean inter-class distance over all pairs of images of different classes, formatted")
    inter_b: str = field("the same in B")


@dataclasses.dataclass(frozen=True)
class CompareView:
    """compare.html.j2: two checkpoints, of one model or of two analysed on the same data, side by side."""

    heading: str = field('the page\'s heading: "AssignmentCNN: A against B", or both models\' names when they '
                         'differ')
    a: CheckpointLine = field("checkpoint A")
    b: CheckpointLine = field("checkpoint B")
    data_description: str = field("the data set, in words")
    notes: list[Note] = field("what changed, as sentences")
    summary: list[ChangeRow] = field("the headline numbers of A and B; separation rows only when both stores have "
                                     "whole-split results")
    paired: PairedView | None = field("McNemar's test on the per-image results; None when there is none")
    paired_refused: str = field("why there is no paired test, as a sentence; empty when there is one or when the "
                                "comparison was stored before paired tests")
    recall: list[RecallRow] = field("each class's recall in A and B side by side")
    recall_note: str = field("how far the per-class differences can be read, as sentences")
    same_architecture: bool = field("whether A and B are one architecture: only then are the parameter drift and "
                                    "the kernels shown")
    architecture_note: str = field("why two architectures show no drift and no kernels, as a sentence; empty for "
                                   "one architecture")
    distances_number: str = field("the number of the distance tables' section (after drift and kernels, when "
                                  "they are shown)")
    scale_note: str = field("the scale each side's sample embeddings are on, and why raw distances of the two "
                            "checkpoints do not compare; empty when no scale is stored")
    sample_caveat: str = field("how far the sample figures can be trusted (images per class), as a sentence; "
                               "empty when there are enough")
    drift: list[DriftRowView] = field("the change of each parameter tensor from A to B")
    drift_plot: str = field("the bar chart of relative changes, relative to the HTML file; empty when none was "
                            "drawn")
    kernels: list[Figure] = field("the first convolution's kernels of A and of B: drawn by compare on one shared "
                                  "colour scale when it stored them, else each store's own picture (its own scale)")
    kernel_scale: ColourScale | None = field("the one colour scale both kernel grids share, shown once under them; "
                                             "None when each grid is on its own scale")
    kernel_note: str = field("how to read the kernel grids' colours, in words; empty when there are no kernels")
    description: str = field("which layer's output the sample embeddings are, in words")
    pairs: list[PairChangeRow] = field("the distance of every pair of samples in A and B, primary metric")
    intra: IntraComparison | None = field("mean intra-class distance of each class over the whole split in A and "
                                          "B; None unless both stores have whole-split results")


def _checkpoint(side: CompareSide, f: Findings) -> CheckpointLine:
    return CheckpointLine(side.file, model_words(f), (side.sha256 or "")[:HASH_SHOWN])


def _accuracy(value: float, side: SideAccuracy | None) -> str:
    """An accuracy with its 95% Wilson interval where compare.json holds it."""
    if side is None:
        return fmt.percent(value)
    return fmt.percent_ci(value, side.ci_low, side.ci_high)


def _summary(a: Findings, b: Findings, doc: CompareDocument) -> list[ChangeRow]:
    ea, eb = a.evaluation.accuracy, b.evaluation.accuracy
    paired = doc.paired
    rows = [ChangeRow("Test accuracy", _accuracy(ea, paired and paired.a), _accuracy(eb, paired and paired.b),
                      f"{fmt.number((eb - ea) * 100, 2)} points", ""),
            ChangeRow("Parameters", fmt.integer(a.parameters.total), fmt.integer(b.parameters.total),
                      fmt.integer(b.parameters.total - a.parameters.total), ""),
            ChangeRow("Multiply-accumulates per image", macs(a), macs(b), "",
                      _times(a.trace.total_macs, b.trace.total_macs))]
    if doc.scale and (doc.scale.a is not None or doc.scale.b is not None):
        rows.append(ChangeRow("Embedding scale: root mean square of the sample embeddings' values",
                              fmt.number(doc.scale.a), fmt.number(doc.scale.b), "",
                              _quotient(doc.scale.a, doc.scale.b)))
    if a.separation and b.separation:
        sa, sb = a.separation, b.separation
        ea, eb = getattr(sa, "euclidean", None), getattr(sb, "euclidean", None)
        euclidean = bool(ea and eb and sa.metric != "euclidean")
        if euclidean:
            rows.append(ChangeRow("Inter / intra ratio of the mean Euclidean distance, all classes (scale-free)",
                                  fmt.ratio(ea.ratio), fmt.ratio(eb.ratio), "",
                                  _quotient(ea.ratio, eb.ratio)))
        rows.append(ChangeRow(f"Inter / intra ratio of the mean {_metric(sa.metric)}{_squared(sa.metric)}, all "
                              "classes (scale-free)", fmt.ratio(sa.ratio), fmt.ratio(sb.ratio), "",
                              _quotient(sa.ratio, sb.ratio)))
        if euclidean:
            rows.append(ChangeRow("Silhouette on Euclidean distance (scale-free)", fmt.number(ea.silhouette, 2),
                                  fmt.number(eb.silhouette, 2), _difference(ea.silhouette, eb.silhouette, 2), ""))
        rows.append(ChangeRow(f"Silhouette on {silhouette_distance(sa.metric)} (scale-free)",
                              fmt.number(sa.silhouette, 2), fmt.number(sb.silhouette, 2),
                              _difference(sa.silhouette, sb.silhouette, 2), ""))
    return rows


def _squared(metric: str) -> str:
    """Said after a metric's name where its ratios are ratios of squared distances."""
    return SQUARED.get(metric, "")


def _metric(metric: str) -> str:
    return METRIC_BY_ID[metric].name if metric in METRIC_BY_ID else metric


def _paired(paired: PairedComparison | None) -> PairedView | None:
    test = paired.mcnemar if paired else None
    if test is None:
        return None
    counts = f"b = {fmt.integer(test.a_only)}, c = {fmt.integer(test.b_only)}, p = {fmt.number(test.p_value, 2)}"
    if test.p_value < test.alpha:  # the only branch that says one classifies better
        better, worse = ("B", "A") if test.b_only > test.a_only else ("A", "B")
        verdict = f"{better} classifies more test images correctly than {worse} ({counts}, below {test.alpha:g})"
    else:
        verdict = (f"the difference is not significant with these {fmt.integer(test.n)} images ({counts}, not "
                   f"below {test.alpha:g})")
    return PairedView(test="McNemar's exact test (two-sided binomial test on the images only one of them gets right)",
                      n=fmt.integer(test.n), both_right=fmt.integer(test.both_right), a_only=fmt.integer(test.a_only),
                      b_only=fmt.integer(test.b_only), both_wrong=fmt.integer(test.both_wrong),
                      p_value=fmt.number(test.p_value, 2), verdict=verdict)


def _scale_note(doc: CompareDocument) -> str:
    scale = doc.scale
    if scale is None or scale.a is None or scale.b is None:
        return ""
    return (f"The sample embeddings' values have a root mean square of {fmt.number(scale.a)} in A and "
            f"{fmt.number(scale.b)} in B (B/A {_quotient(scale.a, scale.b)}): each checkpoint's distances are on "
            "its own scale, so raw distances and their differences are not comparable across checkpoints when the "
            "scales differ; the inter/intra ratios and the silhouette are scale-free.")


def _kernels(a: Findings, b: Findings, doc: CompareDocument, a_url: str, b_url: str,
             compare_url: str) -> tuple[list[Figure], ColourScale | None, str]:
    """The kernel grids, their shared scale and how to read them. compare.json's grids share one scale; a
    comparison stored before them (or whose layer is not the one the stores show) falls back to each store's
    own picture, on its own scale."""
    shared = doc.kernels
    if shared and a.kernel_image and b.kernel_image and shared["layer"] == a.kernel_image.layer == b.kernel_image.layer:
        return _shared_kernels(shared, compare_url)
    figures = [Figure(f"{url}/{f.kernel_image.path}", f"{f.kernel_image.layer} kernels of {name}",
                      f"{name}: {f.kernel_image.layer} kernels (scale ±{fmt.number(f.kernel_image.vmax)}).")
               for f, url, name in ((a, a_url, "A"), (b, b_url, "B")) if f.kernel_image]
    note = ("Each grid is drawn on its own checkpoint's colour scale, so the same colour in A and in B need not be "
            "the same weight." if figures else "")
    return figures, None, note


def _shared_kernels(k: dict, compare_url: str) -> tuple[list[Figure], ColourScale, str]:
    layer, total, shown, bound = k["layer"], k["shape"][0], k["shown"], fmt.number(k["vmax"])
    which = f"the first {shown} of {total}" if shown < total else f"all {total}"
    channel = ", input channel 0 only" if k["colouring"] == "input channel 0" else ""
    figures = [Figure(f"{compare_url}/{k[side]}", f"{layer} kernels of {name}, on the colour scale shared with "
                      f"{other}", f"{name}: {layer} kernels ({which}{channel}), kernel 0 at the top left.")
               for side, name, other in (("a", "A", "B"), ("b", "B", "A"))]
    scale = ColourScale(f"{compare_url}/{k['colourbar']}", fmt.number(k["vmin"]), fmt.number(k["vmax"]),
                        colour_words(k["cmap"]))
    if k["colouring"] == "rgb":
        colours = (f"each colour channel runs from dark (−{bound}) through mid-grey (zero) to bright (+{bound}), the "
                   "same for every kernel")
    else:
        colours = DIVERGING.get(k["cmap"], "the colour bar runs from the negative end to the positive end")
    note = (f"Both grids share one colour scale, ±{bound}: the largest weight magnitude in A or B. {colours[0].upper()}"
            f"{colours[1:]}; the same colour is the same weight in A and in B.")
    return figures, scale, note


def _pairs(a: Findings, b: Findings) -> list[PairChangeRow]:
    if a.embeddings is None or b.embeddings is None:
        return []
    ta, tb = a.embeddings.distances.get(PRIMARY_METRIC), b.embeddings.distances.get(PRIMARY_METRIC)
    if ta is None or tb is None:
        return []
    return [PairChangeRow(p.kind, f"S{p.i + 1}–S{p.j + 1}", f"{a.class_name(p.class_i)}–{a.class_name(p.class_j)}",
                          fmt.number(p.distance), fmt.number(q.distance), _difference(p.distance, q.distance))
            for p, q in zip(ta.pairs, tb.pairs)]


def _intra(a: Findings, b: Findings) -> IntraComparison | None:
    """Each class's spread in A and B, raw and relative to its own checkpoint's mean inter-class distance: the
    relative figure is scale-free, the raw ones are each on their own checkpoint's scale."""
    if not (a.separation and b.separation):
        return None
    _, inter_a = whole_split_means(a.separation)
    _, inter_b = whole_split_means(b.separation)
    return IntraComparison(a.separation.metric, [
        ClassChangeRow(a.class_name(ca.cls), fmt.number(ca.intra_mean), fmt.number(cb.intra_mean),
                       _quotient(ca.intra_mean, cb.intra_mean), _relative(ca.intra_mean, inter_a),
                       _relative(cb.intra_mean, inter_b))
        for ca, cb in zip(a.separation.per_class, b.separation.per_class)],
        inter_a=fmt.number(inter_a), inter_b=fmt.number(inter_b))


def _relative(intra: float | None, inter: float | None) -> str:
    return NOT_AVAILABLE if intra is None or not inter or inter != inter else fmt.number(intra / inter, 3)


def compare_view(a: Findings, b: Findings, doc: CompareDocument | dict, notes: list[Note], a_url: str, b_url: str,
                 compare_url: str) -> CompareView:
    """``doc``: compare.json (its record, or the document as read); the URLs: A's, B's and the comparison's
    store, relative to the HTML file."""
    doc = from_json(CompareDocument, doc) if isinstance(doc, dict) else doc
    same = same_architecture(a, b)
    kernels, kernel_scale, kernel_note = _kernels(a, b, doc, a_url, b_url, compare_url) if same else ([], None, "")
    refused = doc.paired.refused if doc.paired and doc.paired.mcnemar is None else None
    return CompareView(
        heading=heading(a, b), a=_checkpoint(doc.a, a), b=_checkpoint(doc.b, b),
        data_description=a.provenance.data_description, notes=notes, summary=_summary(a, b, doc),
        paired=_paired(doc.paired), paired_refused=f"No paired test: {refused}." if refused else "",
        recall=recall_rows(a, b), recall_note=recall_note(a, b), same_architecture=same,
        architecture_note=architecture_note(a, b), distances_number="4" if same else "2",
        scale_note=_scale_note(doc),
        sample_caveat=sample_caveat_sentence(a, b) if a.embeddings and b.embeddings else "",
        drift=[DriftRowView(r.name, fmt.shape(r.shape), fmt.number(r.norm_a), fmt.number(r.norm_b),
                            fmt.number(r.change), fmt.percent(r.relative) if r.relative is not None else NOT_AVAILABLE)
               for r in doc.drift],
        drift_plot=f"{compare_url}/{doc.images['drift']}" if "drift" in doc.images else "", kernels=kernels,
        kernel_scale=kernel_scale, kernel_note=kernel_note, description=_description(a, b), pairs=_pairs(a, b),
        intra=_intra(a, b))


def _description(a: Findings, b: Findings) -> str:
    """Which layer's output the sample embeddings are: the one layer, or each model's where they differ."""
    if a.embeddings is None or b.embeddings is None:
        return ""
    if a.embeddings.description == b.embeddings.description:
        return a.embeddings.description
    return f"{a.embeddings.description} in A, {b.embeddings.description} in B"


# --- history ----------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class HistoryRowView:
    checkpoint: str = field("the checkpoint's file name")
    run: str = field('the training run it belongs to, as "run 2"; empty when the series is one run')
    position: str = field('its stored position, as "epoch 3 step 1200"; empty when it records none')
    accuracy: str = field("test accuracy, as a percentage")
    intra: str = field("mean intra-class distance over the whole split, formatted (n/a without one)")
    inter: str = field("mean inter-class distance, formatted")
    ratio: str = field("their ratio, formatted")
    silhouette: str = field("the silhouette, two digits")


@dataclasses.dataclass(frozen=True)
class HistoryView:
    """history.html.j2: one row per checkpoint and the trend plots."""

    order: str = field('how the series is ordered, in words: "by file name" or "by stored epoch or step", '
                       '"by training run, then …" when it holds several runs')
    runs: list[str] = field('the training runs of the series, as "run 1 (10 epochs, seed 0, …)"; empty when the '
                            'series is one run')
    notes: list[Note] = field("trends over the series, as sentences")
    distance: str = field('the distance of the table and plots, in words: "MSE, a squared distance"; empty when '
                          'no row has whole-split results')
    silhouette_on: str = field('the distance the silhouette is computed on: "squared Euclidean distance"; empty '
                               'when no row has whole-split results')
    rows: list[HistoryRowView] = field("one row per checkpoint, in series order")
    accuracy_plot: str = field("the accuracy plot, relative to the HTML file")
    distances_plot: str = field("the mean-distance plot, relative to the HTML file")
    separation_plot: str = field("the separation plot, relative to the HTML file")


def history_view(doc: HistoryDocument | dict, notes: list[Note], series_url: str) -> HistoryView:
    """``doc``: history.json (its record, or the document as read); ``series_url``: the history store,
    relative to the HTML file."""
    doc = from_json(HistoryDocument, doc) if isinstance(doc, dict) else doc
    order = "by stored epoch or step" if doc.order == "step" else "by file name"
    runs = runs_of([{"run": dataclasses.asdict(r.run) if r.run else None, "checkpoint": r.checkpoint}
                    for r in doc.rows])
    several = len(runs) > 1
    label = {run["id"] if run else None: f"run {index + 1}" for index, (run, _) in enumerate(runs)}
    return HistoryView(
        order=f"by training run, then {order}" if several else order,
        runs=[run_name(index, run) for index, (run, _) in enumerate(runs)] if several else [], notes=notes,
        distance=_history_metric(doc, lambda m: f"{_metric(m)}{_squared(m)}"),
        silhouette_on=_history_metric(doc, silhouette_distance),
        rows=[HistoryRowView(r.checkpoint, label[r.run.id if r.run else None] if several else "",
                             " ".join(f"{k} {v}" for k, v in (r.position or {}).items()),
                             fmt.percent(r.accuracy), fmt.number(r.intra_mean), fmt.number(r.inter_mean),
                             fmt.ratio(r.ratio), fmt.number(r.silhouette, 2)) for r in doc.rows],
        accuracy_plot=f"{series_url}/{doc.images['accuracy']}",
        distances_plot=f"{series_url}/{doc.images['distances']}",
        separation_plot=f"{series_url}/{doc.images['separation']}")


def _history_metric(doc: HistoryDocument, words) -> str:
    """``words(metric)`` for the metric of the first row with whole-split results (one analysis setting gives
    every row the same); "" when none has them."""
    metric = next((r.metric for r in doc.rows if r.metric), None)
    return "" if metric is None else words(metric)

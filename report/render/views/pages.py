"""Views of the compare report (two checkpoints side by side) and the history report (a series)."""

from __future__ import annotations

import dataclasses

from analysis.store.schema import (
    PRIMARY_METRIC,
    CompareDocument,
    CompareSide,
    HistoryDocument,
    from_json,
)
from report.render import fmt
from report.render.findings import Findings
from report.render.interpret import Note
from report.render.views.common import ColourScale, Figure, colour_words, field

NOT_AVAILABLE = "n/a"
HASH_SHOWN = 16  # hex digits of a checkpoint's sha256 shown in a page's header
# The colours of a diverging colour map in words: what the reader is told instead of the map's name.
DIVERGING = {"RdBu_r": "blue negative, white zero, red positive"}


def _difference(a: float | None, b: float | None, digits: int = 4) -> str:
    return NOT_AVAILABLE if a is None or b is None else fmt.number(b - a, digits)


def _quotient(a: float | None, b: float | None) -> str:
    """B / A as a ratio; n/a when either is missing or A is zero (no ratio of the two is defined)."""
    return NOT_AVAILABLE if not a or b is None else fmt.ratio(b / a)


# --- compare ----------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class CheckpointLine:
    file: str = field("the checkpoint's file name")
    sha256: str = field("the start of its sha256")


@dataclasses.dataclass(frozen=True)
class ChangeRow:
    quantity: str = field("what is compared")
    a: str = field("its value in A, formatted")
    b: str = field("its value in B, formatted")
    change: str = field("B − A (or B / A for a ratio), formatted; n/a when either value is missing")


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


@dataclasses.dataclass(frozen=True)
class IntraComparison:
    metric: str = field("the distance used")
    rows: list[ClassChangeRow] = field("one row per class")


@dataclasses.dataclass(frozen=True)
class CompareView:
    """compare.html.j2: two checkpoints of one model, side by side."""

    model_class: str = field("the model's class name (A's)")
    a: CheckpointLine = field("checkpoint A")
    b: CheckpointLine = field("checkpoint B")
    data_description: str = field("the data set, in words")
    notes: list[Note] = field("what changed, as sentences")
    summary: list[ChangeRow] = field("the headline numbers of A and B; separation rows only when both stores have "
                                     "whole-split results")
    drift: list[DriftRowView] = field("the change of each parameter tensor from A to B")
    drift_plot: str = field("the bar chart of relative changes, relative to the HTML file")
    kernels: list[Figure] = field("the first convolution's kernels of A and of B: drawn by compare on one shared "
                                  "colour scale when it stored them, else each store's own picture (its own scale)")
    kernel_scale: ColourScale | None = field("the one colour scale both kernel grids share, shown once under them; "
                                             "None when each grid is on its own scale")
    kernel_note: str = field("how to read the kernel grids' colours, in words; empty when there are no kernels")
    description: str = field("which layer's output the sample embeddings are, in words")
    pairs: list[PairChangeRow] = field("the distance of every pair of samples in A and B, primary metric")
    intra: IntraComparison | None = field("mean intra-class distance of each class over the whole split in A and "
                                          "B; None unless both stores have whole-split results")


def _checkpoint(side: CompareSide) -> CheckpointLine:
    return CheckpointLine(side.file, (side.sha256 or "")[:HASH_SHOWN])


def _summary(a: Findings, b: Findings) -> list[ChangeRow]:
    ea, eb = a.evaluation.accuracy, b.evaluation.accuracy
    rows = [ChangeRow("Test accuracy", fmt.percent(ea), fmt.percent(eb), f"{fmt.number((eb - ea) * 100, 2)} points"),
            ChangeRow("Parameters", fmt.integer(a.parameters.total), fmt.integer(b.parameters.total),
                      fmt.integer(b.parameters.total - a.parameters.total))]
    if a.separation and b.separation:
        sa, sb = a.separation, b.separation
        rows += [ChangeRow("Inter / intra distance, all classes", fmt.ratio(sa.ratio), fmt.ratio(sb.ratio),
                           _quotient(sa.ratio, sb.ratio)),
                 ChangeRow("Silhouette", fmt.number(sa.silhouette, 2), fmt.number(sb.silhouette, 2),
                           _difference(sa.silhouette, sb.silhouette, 2))]
    return rows


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
    ta, tb = a.embeddings.distances.get(PRIMARY_METRIC), b.embeddings.distances.get(PRIMARY_METRIC)
    if ta is None or tb is None:
        return []
    return [PairChangeRow(p.kind, f"S{p.i + 1}–S{p.j + 1}", f"{a.class_name(p.class_i)}–{a.class_name(p.class_j)}",
                          fmt.number(p.distance), fmt.number(q.distance), _difference(p.distance, q.distance))
            for p, q in zip(ta.pairs, tb.pairs)]


def _intra(a: Findings, b: Findings) -> IntraComparison | None:
    if not (a.separation and b.separation):
        return None
    return IntraComparison(a.separation.metric, [
        ClassChangeRow(a.class_name(ca.cls), fmt.number(ca.intra_mean), fmt.number(cb.intra_mean),
                       _quotient(ca.intra_mean, cb.intra_mean))
        for ca, cb in zip(a.separation.per_class, b.separation.per_class)])


def compare_view(a: Findings, b: Findings, doc: CompareDocument | dict, notes: list[Note], a_url: str, b_url: str,
                 compare_url: str) -> CompareView:
    """``doc``: compare.json (its record, or the document as read); the URLs: A's, B's and the comparison's
    store, relative to the HTML file."""
    doc = from_json(CompareDocument, doc) if isinstance(doc, dict) else doc
    kernels, kernel_scale, kernel_note = _kernels(a, b, doc, a_url, b_url, compare_url)
    return CompareView(
        model_class=a.model_class, a=_checkpoint(doc.a), b=_checkpoint(doc.b),
        data_description=a.provenance.data_description, notes=notes, summary=_summary(a, b),
        drift=[DriftRowView(r.name, fmt.shape(r.shape), fmt.number(r.norm_a), fmt.number(r.norm_b),
                            fmt.number(r.change), fmt.percent(r.relative) if r.relative is not None else NOT_AVAILABLE)
               for r in doc.drift],
        drift_plot=f"{compare_url}/{doc.images['drift']}", kernels=kernels, kernel_scale=kernel_scale,
        kernel_note=kernel_note,
        description=a.embeddings.description, pairs=_pairs(a, b), intra=_intra(a, b))


# --- history ----------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class HistoryRowView:
    checkpoint: str = field("the checkpoint's file name")
    position: str = field('its stored position, as "epoch 3 step 1200"; empty when it records none')
    accuracy: str = field("test accuracy, as a percentage")
    intra: str = field("mean intra-class distance over the whole split, formatted (n/a without one)")
    inter: str = field("mean inter-class distance, formatted")
    ratio: str = field("their ratio, formatted")
    silhouette: str = field("the silhouette, two digits")


@dataclasses.dataclass(frozen=True)
class HistoryView:
    """history.html.j2: one row per checkpoint and the trend plots."""

    order: str = field('how the series is ordered, in words: "by file name" or "by stored epoch or step"')
    notes: list[Note] = field("trends over the series, as sentences")
    rows: list[HistoryRowView] = field("one row per checkpoint, in series order")
    accuracy_plot: str = field("the accuracy plot, relative to the HTML file")
    distances_plot: str = field("the mean-distance plot, relative to the HTML file")
    separation_plot: str = field("the separation plot, relative to the HTML file")


def history_view(doc: HistoryDocument | dict, notes: list[Note], series_url: str) -> HistoryView:
    """``doc``: history.json (its record, or the document as read); ``series_url``: the history store,
    relative to the HTML file."""
    doc = from_json(HistoryDocument, doc) if isinstance(doc, dict) else doc
    return HistoryView(
        order="by stored epoch or step" if doc.order == "step" else "by file name", notes=notes,
        rows=[HistoryRowView(r.checkpoint, " ".join(f"{k} {v}" for k, v in (r.position or {}).items()),
                         fmt.percent(r.accuracy), fmt.number(r.intra_mean), fmt.number(r.inter_mean),
                         fmt.ratio(r.ratio), fmt.number(r.silhouette, 2)) for r in doc.rows],
        accuracy_plot=f"{series_url}/{doc.images['accuracy']}",
        distances_plot=f"{series_url}/{doc.images['distances']}",
        separation_plot=f"{series_url}/{doc.images['separation']}")

"""Views of the few sample images: their embeddings and the distances between them."""

from __future__ import annotations

import dataclasses

from analysis.store.schema import DISTANCE_TABLE_MAX_SAMPLES, PRIMARY_METRIC, Pair
from report.render.words import METRIC_BY_ID, Metric
from report.render import fmt
from report.render.findings import Findings
from report.render.views.common import Figure, Place, field, plural, url

# --- embeddings -------------------------------------------------------------------------------------------

VALUES_SHOWN = 64   # embedding values shown per sample; all are in embeddings.json
BLOCK = 16          # values per line of the embedding table
CELL = 7            # characters per value in a line (monospace)
TABLE_LINES = 80    # sample lines of the embedding table at most (about a page in print), down to one block:
                    # 60 samples gave 240 lines, five pages
SHEET_BEYOND = 16   # more samples than this are laid out as one sheet of small pictures


@dataclasses.dataclass(frozen=True)
class VectorCell:
    text: str = field("one value, right-aligned in a fixed width (a dash where it is not finite)")
    zero: bool = field("true for an exact zero (greyed)")


@dataclasses.dataclass(frozen=True)
class VectorLine:
    label: str = field('the sample, as "S1 (class)"')
    cells: list[VectorCell] = field("its values in this block")


@dataclasses.dataclass(frozen=True)
class VectorBlock:
    dims: str = field("the dimension indices of this block, right-aligned in the same fixed width")
    lines: list[VectorLine] = field("one line per sample")


@dataclasses.dataclass(frozen=True)
class EmbeddingsView:
    """_embeddings.html.j2: the sample images and their embedding vectors."""

    per_class: str = field('how many test images of each class, in words: "2 test images"')
    classes: str = field("the classes' names, as a list in words")
    dimensions: str = field("values per embedding, formatted")
    description: str = field("which layer's output the embedding is, in words")
    samples: list[Figure] = field("the sample images S1, S2, ...")
    sheet: str = field('beyond SHEET_BEYOND samples, the caption of the one sheet they are laid out on ("" else: '
                       "each is a figure of its own)")
    values: str = field('which values the table shows, e.g. "all 64 values per sample"')
    block: str = field("values per line of the table")
    blocks: list[VectorBlock] = field("the table, one block of lines per run of dimensions")


def sample_labels(f: Findings) -> list[str]:
    """The samples as the tables name them: "S1 (one)", ..."""
    return [f"S{n} ({f.class_name(s.label)})" for n, s in enumerate(f.embeddings.samples, start=1)]


def values_shown(dimensions: int, samples: int) -> int:
    """How many values per sample the table shows: up to VALUES_SHOWN, in whole blocks, at most TABLE_LINES
    lines (never less than one block)."""
    blocks = max(1, min(VALUES_SHOWN // BLOCK, TABLE_LINES // max(1, samples)))
    return min(dimensions, blocks * BLOCK)


def embeddings_view(f: Findings, place: Place) -> EmbeddingsView:
    e = f.embeddings
    limit = values_shown(e.dimensions, len(e.samples))
    values = (f"all {e.dimensions} values per sample" if limit == e.dimensions else
              f"the first {limit} of {fmt.integer(e.dimensions)} values per sample (all are in embeddings.json)")
    labels = sample_labels(f)
    blocks = []
    for first in range(0, limit, BLOCK):
        dims = range(first, min(first + BLOCK, limit))
        blocks.append(VectorBlock(
            dims="".join(f"{d:{CELL}d}" for d in dims),
            lines=[VectorLine(label, [VectorCell(f"{'0':>{CELL}}", True) if s.vector[d] == 0 else
                                      VectorCell(f"{fmt.fixed(s.vector[d]):>{CELL}}", False) for d in dims])
                   for label, s in zip(labels, e.samples)]))
    sheet = len(e.samples) > SHEET_BEYOND
    samples = [Figure(url(place, s.path), f"sample {n}: test image {s.index}, class {f.class_name(s.label)}",
                      f"S{n}: #{s.index}, {f.class_name(s.label)} → {f.class_name(s.predicted)} "
                      f"({fmt.percent(s.confidence)})" if sheet else
                      f"S{n}: #{s.index}, class {f.class_name(s.label)}, predicted {f.class_name(s.predicted)} "
                      f"({fmt.percent(s.confidence)})") for n, s in enumerate(e.samples, start=1)]
    return EmbeddingsView(
        per_class=plural(e.per_class, "test image"), classes=fmt.listing(f.class_name(c) for c in e.classes),
        dimensions=fmt.integer(e.dimensions), description=e.description, samples=samples,
        sheet=(f"The {len(e.samples)} samples S1–S{len(e.samples)}: under each, its index in the test split, its "
               "class → the class the network predicts (its confidence).") if sheet else "",
        values=values, block=str(BLOCK), blocks=blocks)


# --- distances --------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class PairRow:
    kind: str = field('"intra" or "inter": the row\'s CSS class, and its Kind column before "-class"')
    samples: str = field('the two samples, as "S1–S2"')
    classes: str = field('their classes, as "one–two"')
    values: list[str] = field("the pair's distance in each metric, formatted, in the order of the headings")


@dataclasses.dataclass(frozen=True)
class MeanRow:
    group: str = field('the group, as "intra-class one–one (1 pair)"')
    values: list[str] = field("its mean distance in each metric, formatted")


@dataclasses.dataclass(frozen=True)
class MatrixCell:
    kind: str = field('"diag", "intra" or "inter": the cell\'s CSS class')
    value: str = field("the distance, formatted")


@dataclasses.dataclass(frozen=True)
class MatrixRow:
    label: str = field('the sample, as "S1 (one)"')
    cells: list[MatrixCell] = field("its distance to each sample")


@dataclasses.dataclass(frozen=True)
class DistanceMatrix:
    name: str = field("the metric, with its definition")
    rows: list[MatrixRow] = field("one row per sample")


@dataclasses.dataclass(frozen=True)
class DistancesView:
    """_distances.html.j2: the pair table (every pair, or the extremes of many), the mean table, and each metric's
    full matrix as a table (up to DISTANCE_TABLE_MAX_SAMPLES samples) or a heat map (beyond)."""

    description: str = field("which layer's output the embedding is, in words")
    samples: str = field('the samples compared, as "S1–S4"')
    dimensions: str = field("values per embedding")
    pair_headings: list[str] = field("the metrics as short column headings, primary metric first")
    pairs_caption: str = field("what the pair table holds: every pair, or which of how many")
    pairs: list[PairRow] = field("the pairs of samples shown, intra-class pairs first")
    mean_headings: list[str] = field("the metrics as column headings of the mean table")
    means: list[MeanRow] = field("mean distance within each class, then between each pair of classes (the "
                                 "PAIR_EXTREMES closest pairs of classes beyond CLASS_PAIRS_LISTED)")
    means_caption: str = field("what the mean table holds")
    sample_labels: list[str] = field('the samples, as "S1": the matrices\' column headings (each row names its '
                                     'class)')
    matrices: list[DistanceMatrix] = field("one full matrix per metric, as a table; empty beyond "
                                           "DISTANCE_TABLE_MAX_SAMPLES samples")
    matrix_figure: Figure | None = field("beyond DISTANCE_TABLE_MAX_SAMPLES samples, the matrices as heat maps, "
                                         "a panel per metric (None else, or in an older store)")
    matrix_note: str = field('where the matrices are when the page shows neither tables nor figure ("" else)')


# Up to this many pairs (8 samples) the pair table lists them all; beyond, the PAIR_EXTREMES intra-class pairs
# farthest apart and inter-class pairs closest together: where the two kinds overlap, if they do. 30 samples per
# class made 1,770 rows, 40 pages of the PDF; the CSV keeps every pair.
PAIRS_LISTED = 28
PAIR_EXTREMES = 10
CLASS_PAIRS_LISTED = 28  # the same for the pairs of classes in the mean table (8 classes)


def metric(metric_id: str) -> Metric:
    """The registry's entry for a stored metric id (an unknown id names itself)."""
    return METRIC_BY_ID.get(metric_id) or Metric(metric_id, metric_id, metric_id, metric_id)


def _group_means(f: Findings, key: str, rows: str) -> list[str]:
    return [fmt.number(getattr(table, rows)[key]["mean"]) for table in f.embeddings.distances.values()]


def _pair_label(row: dict) -> str:
    return f"({plural(row['pairs'], 'pair')})"


def shown_pairs(pairs: list[Pair]) -> list[Pair]:
    """Every pair, intra-class first, up to PAIRS_LISTED; beyond, the PAIR_EXTREMES intra-class pairs farthest
    apart (farthest first), then the PAIR_EXTREMES inter-class pairs closest together (closest first)."""
    if len(pairs) <= PAIRS_LISTED:
        return sorted(pairs, key=lambda p: p.kind, reverse=True)
    intra = sorted((p for p in pairs if p.kind == "intra"), key=lambda p: (-p.distance, p.i, p.j))
    inter = sorted((p for p in pairs if p.kind == "inter"), key=lambda p: (p.distance, p.i, p.j))
    return intra[:PAIR_EXTREMES] + inter[:PAIR_EXTREMES]


def _pairs_caption(pairs: list[Pair], shown: list[Pair], heading: str) -> str:
    if len(shown) == len(pairs):
        return "Distances between every pair of samples, intra-class pairs first"
    parts = []
    for kind, which in (("intra", "farthest apart"), ("inter", "closest together")):
        count, total = sum(1 for p in shown if p.kind == kind), sum(1 for p in pairs if p.kind == kind)
        if count:
            parts.append(f"all {count} {kind}-class pairs" if count == total else
                         f"the {count} {kind}-class pairs {which}")
    return (f"{fmt.sentence(' and '.join(parts))} by {heading}, of all {fmt.integer(len(pairs))} pairs (every pair "
            "is in tables/distance_pairs.csv)")


def shown_class_pairs(inter: dict) -> list[str]:
    """The class-pair keys of the mean table: all up to CLASS_PAIRS_LISTED, else the PAIR_EXTREMES pairs of
    classes closest together (smallest mean inter-class distance, closest first)."""
    if len(inter) <= CLASS_PAIRS_LISTED:
        return list(inter)
    return sorted(inter, key=lambda key: (inter[key]["mean"], key))[:PAIR_EXTREMES]


def _means_caption(class_pairs: int, shown: int, heading: str) -> str:
    if shown == class_pairs:
        return "Mean distances: each class with itself, and between classes"
    return (f"Mean distances: each class with itself, and the {shown} pairs of classes closest together by "
            f"{heading} of all {fmt.integer(class_pairs)} (every pair of classes is in tables/distance_means.csv)")


def _matrices(f: Findings, place: Place) -> tuple[list[DistanceMatrix], Figure | None, str]:
    """Each metric's full matrix: a table up to DISTANCE_TABLE_MAX_SAMPLES samples (wider ones do not fit the
    page), else the heat maps the analysis drew, else (an older store) a line saying where the numbers are."""
    e = f.embeddings
    if len(e.samples) <= DISTANCE_TABLE_MAX_SAMPLES:
        labels = sample_labels(f)
        kinds = [s.label for s in e.samples]
        return [DistanceMatrix(metric(m).definition, [
            MatrixRow(labels[i], [MatrixCell("diag" if i == j else "intra" if kinds[i] == kinds[j] else "inter",
                                             fmt.number(value)) for j, value in enumerate(row)])
            for i, row in enumerate(table.matrix)]) for m, table in e.distances.items()], None, ""
    size = f"{len(e.samples)} × {len(e.samples)}"
    if e.matrix_image is None:
        return [], None, (f"The full {size} distance matrices are too wide for tables on the page: their numbers "
                          "are in tables/distance_matrices.csv.")
    names = fmt.listing(metric(m).definition for m in e.distances)
    figure = Figure(url(place, e.matrix_image), "heat maps of the distances between every two samples",
                    f"{names} between every two of the {len(e.samples)} samples, one panel each: the samples in the "
                    "order S1, S2, ... on both axes, grouped by class; the diagonal is zero. The "
                    f"{size} matrices are too wide for tables: their numbers are in tables/distance_matrices.csv.")
    return [], figure, ""


def distances_view(f: Findings, place: Place) -> DistancesView:
    e = f.embeddings
    primary = e.distances[PRIMARY_METRIC]
    shown = shown_pairs(primary.pairs)
    pairs = [PairRow(p.kind, f"S{p.i + 1}–S{p.j + 1}", f"{f.class_name(p.class_i)}–{f.class_name(p.class_j)}",
                     [fmt.number(p.distance if table is primary else table.matrix[p.i][p.j])
                      for table in e.distances.values()])
             for p in shown]
    means = [MeanRow(f"intra-class {f.class_name(int(cls))}–{f.class_name(int(cls))} {_pair_label(row)}",
                     _group_means(f, cls, "intra_by_class")) for cls, row in primary.intra_by_class.items()]
    class_pairs = shown_class_pairs(primary.inter_by_class_pair)
    for key in class_pairs:
        a, b = key.split("-")
        means.append(MeanRow(f"inter-class {f.class_name(int(a))}–{f.class_name(int(b))} "
                             f"{_pair_label(primary.inter_by_class_pair[key])}",
                             _group_means(f, key, "inter_by_class_pair")))
    matrices, figure, note = _matrices(f, place)
    return DistancesView(
        description=e.description, samples=f"S1–S{len(e.samples)}", dimensions=str(e.dimensions),
        pair_headings=[metric(m).heading for m in e.distances],
        pairs_caption=_pairs_caption(primary.pairs, shown, metric(PRIMARY_METRIC).heading), pairs=pairs,
        mean_headings=[fmt.sentence(metric(m).name) for m in e.distances], means=means,
        means_caption=_means_caption(len(primary.inter_by_class_pair), len(class_pairs),
                                     metric(PRIMARY_METRIC).heading),
        sample_labels=[f"S{n}" for n in range(1, len(e.samples) + 1)], matrices=matrices, matrix_figure=figure,
        matrix_note=note)

"""Views of the few sample images: their embeddings, the distances between them, and accuracy."""

from __future__ import annotations

import dataclasses

from analysis.store.schema import METRIC_BY_ID, PRIMARY_METRIC, Metric
from report.render import fmt
from report.render.findings import Findings
from report.render.views.common import Figure, Place, field, plural, url

# --- embeddings -------------------------------------------------------------------------------------------

VALUES_SHOWN = 64   # embedding values shown per sample; all are in embeddings.json
BLOCK = 16          # values per line of the embedding table
CELL = 7            # characters per value in a line (monospace)


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
    values: str = field('which values the table shows, e.g. "all 64 values per sample"')
    block: str = field("values per line of the table")
    blocks: list[VectorBlock] = field("the table, one block of lines per run of dimensions")


def sample_labels(f: Findings) -> list[str]:
    """The samples as the tables name them: "S1 (one)", ..."""
    return [f"S{n} ({f.class_name(s.label)})" for n, s in enumerate(f.embeddings.samples, start=1)]


def embeddings_view(f: Findings, place: Place) -> EmbeddingsView:
    e = f.embeddings
    limit = min(e.dimensions, VALUES_SHOWN)
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
    samples = [Figure(url(place, s.path), f"sample {n}: test image {s.index}, class {f.class_name(s.label)}",
                      f"S{n}: #{s.index}, class {f.class_name(s.label)}, predicted {f.class_name(s.predicted)} "
                      f"({fmt.percent(s.confidence)})") for n, s in enumerate(e.samples, start=1)]
    return EmbeddingsView(
        per_class=plural(e.per_class, "test image"), classes=fmt.listing(f.class_name(c) for c in e.classes),
        dimensions=fmt.integer(e.dimensions), description=e.description, samples=samples, values=values,
        block=str(BLOCK), blocks=blocks)


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
    """_distances.html.j2: the pair table, the mean table and one full matrix per metric."""

    description: str = field("which layer's output the embedding is, in words")
    samples: str = field('the samples compared, as "S1–S4"')
    dimensions: str = field("values per embedding")
    pair_headings: list[str] = field("the metrics as short column headings, primary metric first")
    pairs: list[PairRow] = field("every pair of samples, intra-class pairs first")
    mean_headings: list[str] = field("the metrics as column headings of the mean table")
    means: list[MeanRow] = field("mean distance within each class, then between each pair of classes")
    sample_labels: list[str] = field('the samples, as "S1 (one)": the matrices\' column headings')
    matrices: list[DistanceMatrix] = field("one full matrix per metric")


def metric(metric_id: str) -> Metric:
    """The registry's entry for a stored metric id (an unknown id names itself)."""
    return METRIC_BY_ID.get(metric_id) or Metric(metric_id, metric_id, metric_id, metric_id)


def _group_means(f: Findings, key: str, rows: str) -> list[str]:
    return [fmt.number(getattr(table, rows)[key]["mean"]) for table in f.embeddings.distances.values()]


def _pair_label(row: dict) -> str:
    return f"({plural(row['pairs'], 'pair')})"


def distances_view(f: Findings, place: Place) -> DistancesView:
    e = f.embeddings
    primary = e.distances[PRIMARY_METRIC]
    pairs = [PairRow(p.kind, f"S{p.i + 1}–S{p.j + 1}", f"{f.class_name(p.class_i)}–{f.class_name(p.class_j)}",
                     [fmt.number(p.distance if table is primary else table.matrix[p.i][p.j])
                      for table in e.distances.values()])
             for p in sorted(primary.pairs, key=lambda p: p.kind, reverse=True)]
    means = [MeanRow(f"intra-class {f.class_name(int(cls))}–{f.class_name(int(cls))} {_pair_label(row)}",
                     _group_means(f, cls, "intra_by_class")) for cls, row in primary.intra_by_class.items()]
    for key, row in primary.inter_by_class_pair.items():
        a, b = key.split("-")
        means.append(MeanRow(f"inter-class {f.class_name(int(a))}–{f.class_name(int(b))} {_pair_label(row)}",
                             _group_means(f, key, "inter_by_class_pair")))
    labels = sample_labels(f)
    kinds = [s.label for s in e.samples]
    matrices = [DistanceMatrix(metric(m).definition, [
        MatrixRow(labels[i], [MatrixCell("diag" if i == j else "intra" if kinds[i] == kinds[j] else "inter",
                                         fmt.number(value)) for j, value in enumerate(row)])
        for i, row in enumerate(table.matrix)]) for m, table in e.distances.items()]
    return DistancesView(
        description=e.description, samples=f"S1–S{len(e.samples)}", dimensions=str(e.dimensions),
        pair_headings=[metric(m).heading for m in e.distances], pairs=pairs,
        mean_headings=[fmt.sentence(metric(m).name) for m in e.distances], means=means,
        sample_labels=labels, matrices=matrices)


# --- accuracy ---------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class ClassAccuracyRow:
    name: str = field("the class")
    images: str = field("its test images, formatted")
    correct: str = field("how many of them the network classifies correctly, formatted")
    accuracy: str = field("their share, as a percentage")


@dataclasses.dataclass(frozen=True)
class PredictionRow:
    image: str = field('which image of the report: "activation-map input", "S1", ...')
    index: str = field("its index in the test split")
    label: str = field("its true class")
    predicted: str = field("the class the network predicts")
    confidence: str = field("the network's confidence in that prediction, as a percentage")
    wrong: bool = field("true when the prediction is wrong (highlighted)")


@dataclasses.dataclass(frozen=True)
class AccuracyView:
    """_accuracy.html.j2: accuracy overall and per class, and the predictions for the images shown."""

    n_test: str = field("test images, formatted")
    accuracy: str = field("the share classified correctly, as a percentage")
    correct: str = field("how many were classified correctly, formatted")
    per_class: list[ClassAccuracyRow] = field("one row per class")
    predictions: list[PredictionRow] = field("the predictions for the images shown: the activation-map input and "
                                             "the samples S1, S2, ... (those the store holds; may be empty)")


def _prediction(f: Findings, image: str, item) -> PredictionRow:
    return PredictionRow(image, str(item.index), f.class_name(item.label), f.class_name(item.predicted),
                         fmt.percent(item.confidence), item.predicted != item.label)


def accuracy_view(f: Findings, place: Place) -> AccuracyView:
    ev = f.evaluation
    return AccuracyView(
        n_test=fmt.integer(ev.n_test), accuracy=fmt.percent(ev.accuracy), correct=fmt.integer(ev.correct),
        per_class=[ClassAccuracyRow(f.class_name(row.cls), fmt.integer(row.n), fmt.integer(row.correct),
                                    fmt.percent(row.accuracy)) for row in ev.per_class],
        predictions=([_prediction(f, "activation-map input", f.input_image)] if f.activations else []) +
        [_prediction(f, f"S{n}", s) for n, s in enumerate(f.embeddings.samples if f.embeddings else [], start=1)])

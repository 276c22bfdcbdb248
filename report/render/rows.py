"""Every table of the report as data: one ``Table`` per table of the page, built from the stored numbers (not
from the formatted text), written as CSV beside the report (``tables/<id>.csv``, and Parquet by the
orchestrator, report/exports.py), with ``tables/index.csv`` listing them. Each section declares the builders of
its tables (report.render.sections); report.render.tables gives the report's whole set.

A table of the page names its data with ``data-table="<id>"`` (tests/test_tables.py checks that every table of
a rendered report has one, and that each id is in TABLES). Numbers are as stored: shares in 0..1, distances in
the store's units, floats written so that they read back to the same value.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import re
from pathlib import Path

from report.render.findings import Findings, confusion_cells
from report.render.load import read_document
from report.render.interpret.separation import dead_and_near, zero_means_silent

TABLES_DIR = "tables"


@dataclasses.dataclass(frozen=True)
class Table:
    id: str                     # file name without suffix, and data-table= on the page
    title: str                  # what the table holds (the page's caption, in general terms)
    section: str                # report section it belongs to ("" for the history)
    columns: tuple[str, ...]
    rows: list[tuple]           # values: int, float, str, bool, None, or a list of ints (a shape)

    def csv_bytes(self) -> bytes:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        # csv quotes a cell holding the line terminator only, and a bare \r ends a line for every reader:
        # a row with one is written fully quoted.
        quoted = csv.writer(buffer, lineterminator="\n", quoting=csv.QUOTE_ALL)
        writer.writerow(self.columns)
        for row in self.rows:
            cells = [_cell(value) for value in row]
            (quoted if any("\r" in cell for cell in cells) else writer).writerow(cells)
        return buffer.getvalue().encode()

    def files(self, out: Path, stem: str | None = None) -> dict[Path, bytes]:
        """{path: bytes} of its CSV: ``out/tables/<id>.csv``, or ``out/<stem>.csv`` when ``stem`` is given."""
        path = Path(out) / f"{stem}.csv" if stem else Path(out) / TABLES_DIR / f"{self.id}.csv"
        return {path: self.csv_bytes()}


def _cell(value) -> str:
    """CSV text of one value: floats in their shortest exact form (repr), shapes as JSON lists, None empty,
    text as spreadsheet-safe text (_inert)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value)
    if isinstance(value, int):
        return str(value)
    return _inert(str(value))


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # what makes a spreadsheet evaluate a cell (OWASP)
NUMBER = re.compile(r"[-+]?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?")


def _inert(text: str) -> str:
    """Text that a spreadsheet opening the CSV shows as written: a cell that would start a formula (a class
    named ``=HYPERLINK(...)``) gets a leading apostrophe, the OWASP rule; numbers written as text stay
    numbers. Line breaks and tabs stay as the data has them (CSV quotes them; pandas reads the names back);
    other control and format characters (escape sequences, bidi overrides) are written as their escapes, so
    that `cat` or a terminal preview shows the CSV as it is."""
    if text.startswith(FORMULA_START) and not NUMBER.fullmatch(text):
        text = "'" + text
    return "".join(c if c.isprintable() or c in " \n\r\t" else repr(c)[1:-1] for c in text)


def _name(f: Findings):
    return f.class_name


def parameters(f: Findings) -> Table:
    return Table("parameters", "Parameters per layer", "parameters",
                 ("layer", "type", "weight_shape", "bias_shape", "weights", "biases", "norm", "other", "total",
                  "trainable", "formula", "shared_with", "executed", "read"),
                 [(p.name, p.type, p.weight_shape, p.bias_shape, p.weights, p.biases, p.norm, p.other, p.total,
                   p.trainable, p.formula, ";".join(p.shared_with) or None, p.executed, p.read)
                  for p in f.parameters.layers])


def shapes(f: Findings) -> Table:
    return Table("shapes", "Every module call and functional call of the forward pass, in order", "shapes",
                 ("order", "name", "type", "kind", "caller", "depth", "input_shape", "output_shape", "input_batch",
                  "output_batch", "params", "macs"),
                 [(r.order, r.name, r.type, r.kind, r.caller, r.depth, r.input_shape, r.output_shape, r.input_batch,
                   r.output_batch, r.params, r.macs) for r in f.trace.rows])


def kernels(f: Findings) -> Table:
    return Table("kernels", "Kernel shapes of every convolution", "kernels", ("layer", "type", "shape", "groups"),
                 [(k.get("name"), k.get("type"), k.get("shape"), k.get("groups")) for k in f.kernels])


def activations(f: Findings) -> Table | None:
    if f.activations is None:
        return None
    rows = []
    for grid in f.map_grids:
        for channel, (peak, mean, zero) in enumerate(zip(grid.channel_peak, grid.channel_mean,
                                                         grid.channel_zero_share)):
            rows.append((grid.module, grid.label, channel, peak, mean, zero, channel in grid.shown_channels))
    return Table("activations", "Each channel of each activation map: peak, mean and share of zeros", "activations",
                 ("layer", "shown_as", "channel", "peak", "mean", "zero_share", "shown"), rows)


def embeddings(f: Findings) -> Table | None:
    if f.embeddings is None:
        return None
    e = f.embeddings
    return Table("embeddings", f"Embeddings of the samples ({e.description})", "embeddings",
                 ("sample", "index", "class", "name", *(f"d{i}" for i in range(e.dimensions))),
                 [(f"S{n}", s.index, s.label, f.class_name(s.label), *s.vector)
                  for n, s in enumerate(e.samples, start=1)])


def distance_pairs(f: Findings) -> Table | None:
    if f.embeddings is None:
        return None
    samples = f.embeddings.samples
    rows = [(metric, f"S{p.i + 1}", f"S{p.j + 1}", samples[p.i].index, samples[p.j].index, p.class_i, p.class_j,
             p.kind, p.distance) for metric, table in f.embeddings.distances.items() for p in table.pairs]
    return Table("distance_pairs", "Distances between every pair of samples", "distances",
                 ("metric", "a", "b", "index_a", "index_b", "class_a", "class_b", "kind", "distance"), rows)


def distance_means(f: Findings) -> Table | None:
    if f.embeddings is None:
        return None
    rows = []
    for metric, table in f.embeddings.distances.items():
        for cls, cell in table.intra_by_class.items():
            rows.append((metric, "intra", cls, cls, cell.get("mean"), cell.get("pairs")))
        for pair, cell in table.inter_by_class_pair.items():
            a, _, b = pair.partition("-")
            rows.append((metric, "inter", a, b, cell.get("mean"), cell.get("pairs")))
        rows.append((metric, "intra", "all", "all", table.intra_mean, None))
        rows.append((metric, "inter", "all", "all", table.inter_mean, None))
    return Table("distance_means", "Mean distances: each class with itself, and between classes", "distances",
                 ("metric", "kind", "class_a", "class_b", "mean", "pairs"), rows)


def distance_matrices(f: Findings) -> Table | None:
    if f.embeddings is None:
        return None
    rows = [(metric, f"S{i + 1}", f"S{j + 1}", value) for metric, table in f.embeddings.distances.items()
            for i, line in enumerate(table.matrix) for j, value in enumerate(line)]
    return Table("distance_matrices", "Full distance matrices of the samples, one row per cell", "distances",
                 ("metric", "a", "b", "distance"), rows)


def class_accuracy(f: Findings) -> Table:
    """Accuracy (recall) per class, with its 95% Wilson interval, precision, F1 and how often the class is
    predicted where the store holds them (empty cells for a store written before they were stored)."""
    quality = f.evaluation.quality
    stored = {q.cls: q for q in quality.classes} if quality else {}

    def extra(cls: int) -> tuple:
        q = stored.get(cls)
        return (q.recall_low, q.recall_high, q.precision, q.f1, q.predicted) if q else (None,) * 5
    return Table("class_accuracy", "Accuracy per class on the test split", "accuracy",
                 ("class", "name", "images", "correct", "accuracy", "accuracy_ci_low", "accuracy_ci_high",
                  "precision", "f1", "predicted"),
                 [(r.cls, f.class_name(r.cls), r.n, r.correct, r.accuracy, *extra(r.cls))
                  for r in f.evaluation.per_class])


def predictions(f: Findings) -> Table | None:
    shown = ([("activation-map input", f.input_image)] if f.activations else []) + \
        [(f"S{n}", s) for n, s in enumerate(f.embeddings.samples if f.embeddings else [], start=1)]
    if not shown:
        return None
    return Table("predictions", "Predictions for the images shown in the report", "accuracy",
                 ("image", "index", "label", "label_name", "predicted", "predicted_name", "confidence"),
                 [(image, item.index, item.label, f.class_name(item.label), item.predicted,
                   f.class_name(item.predicted), item.confidence) for image, item in shown])


def class_spread(f: Findings) -> Table | None:
    s = f.separation
    if s is None:
        return None
    return Table("class_spread", f"Spread of each class over all its test images ({s.metric})", "separation",
                 ("class", "name", "images", "intra_mean", "intra_std", "pairs", "ci_low", "ci_high", "ci_sample",
                  "silhouette"),
                 [(c.cls, f.class_name(c.cls), c.n, c.intra_mean, c.intra_std, c.pairs, c.ci_low, c.ci_high,
                   c.ci_sample, c.silhouette) for c in s.per_class])


def class_distances(f: Findings) -> Table | None:
    s = f.separation
    if s is None:
        return None
    columns = ("class_a", "name_a", "class_b", "name_b", "mean_distance", "centroid_distance")
    if s.pairs is not None:  # too many classes for the matrices: the closest pairs stand for them
        return Table("class_distances", f"Mean distance between the test images of two classes, and between "
                     f"their centroids ({s.metric}): the {len(s.pairs.kept):,} closest relative to their spread, of "
                     f"{s.pairs.total:,} class pairs", "separation", columns,
                     [(p.a, f.class_name(p.a), p.b, f.class_name(p.b), p.inter_mean, p.centroid) for p in s.pairs.kept])
    rows = [(a, f.class_name(a), b, f.class_name(b), s.inter_matrix[i][j], s.centroid_matrix[i][j])
            for i, a in enumerate(s.classes) for j, b in enumerate(s.classes)]
    return Table("class_distances", f"Mean distance between the test images of two classes, and between their "
                 f"centroids ({s.metric})", "separation", columns, rows)


def closest_pairs(f: Findings) -> Table | None:
    s = f.separation
    if s is None:
        return None
    return Table("closest_pairs", "The class pairs whose mean distance is smallest relative to their spread",
                 "separation", ("class_a", "name_a", "class_b", "name_b", "ratio", "inter_mean"),
                 [(p["a"], f.class_name(p["a"]), p["b"], f.class_name(p["b"]), p.get("ratio"), p.get("inter_mean"))
                  for p in s.closest_pairs])


def two_sample(f: Findings) -> Table | None:
    s = f.separation
    if s is None or not s.two_sample:
        return None
    spread = {c.cls: c for c in s.per_class}
    rows = [(f"within {f.class_name(int(c))}", cell.get("two_sample"), cell.get("full"),
             spread[int(c)].ci_low if int(c) in spread else None, spread[int(c)].ci_high if int(c) in spread else None)
            for c, cell in s.two_sample.get("intra", {}).items()]
    inter = s.two_sample.get("inter") or {}
    a, b = (sorted(s.two_sample.get("classes", []))[:2] + [None, None])[:2]
    if inter and a is not None:
        rows.append((f"between {f.class_name(a)} and {f.class_name(b)}", inter.get("two_sample"), inter.get("full"),
                     inter.get("ci_low"), inter.get("ci_high")))
    return Table("two_sample", f"The two-sample figures beside the whole test split ({s.metric})", "separation",
                 ("group", "two_sample", "all_test_images", "ci_low", "ci_high"), rows)


def two_sample_verdicts(f: Findings) -> Table | None:
    """The decision table of the sampled reading against the whole split (report.render.interpret.distances)."""
    from report.render.interpret import distances

    comparison = distances.decide(f)
    if comparison is None:
        return None
    return Table("two_sample_verdicts", "What the whole test split says of the sampled reading", "separation",
                 ("claim", "sampled", "whole_split", "verdict"),
                 [(c.claim, c.sampled, c.whole, c.verdict) for c in comparison.checks])


def depth(f: Findings) -> Table | None:
    s = f.separation
    if s is None or not s.depth:
        return None
    return Table("depth", "Class separation of each layer's output", "depth",
                 ("layer", "label", "values", "pooled_from", "ratio", "silhouette"),
                 [(d.module, d.label, d.dims, d.pooled_from, d.ratio, d.silhouette) for d in s.depth])


def pca(f: Findings) -> Table | None:
    s = f.separation
    if s is None or not s.pca_variance:
        return None
    return Table("pca_variance", "Share of the embedding's variance along each principal component", "map",
                 ("component", "variance_share"), [(i + 1, v) for i, v in enumerate(s.pca_variance)])


def confusion(f: Findings) -> Table | None:
    s = f.separation
    if s is None or not (s.confusion or s.confusion_cells):
        return None
    names = s.confusion_names
    if s.confusion_cells:  # too many classes for the dense matrix: its non-zero cells
        return Table("confusion", "Confusion matrix: test images of each true class by predicted class (the "
                     "non-zero cells only)", "errors", ("true", "predicted", "images"),
                     [(f.class_name(s.classes[i]), names[j] if j < len(names) else str(j), count)
                      for i, j, count in confusion_cells(s)])
    rows = [(f.class_name(truth), names[j] if j < len(names) else str(j), count)
            for i, truth in enumerate(s.classes) for j, count in enumerate(s.confusion[i])]
    return Table("confusion", "Confusion matrix: test images of each true class by predicted class", "errors",
                 ("true", "predicted", "images"), rows)


def misclassified(f: Findings) -> Table | None:
    s = f.separation
    if s is None:
        return None
    return Table("misclassified", "The most confident errors", "errors",
                 ("index", "label", "label_name", "predicted", "predicted_name", "confidence"),
                 [(m["index"], m["label"], f.class_name(m["label"]), m["predicted"], f.class_name(m["predicted"]),
                   m["confidence"]) for m in s.misclassified])


def filters(f: Findings) -> Table | None:
    s = f.separation
    if s is None or not s.filters:
        return None
    rows = []
    for layer in s.filters:
        # the section's own decision: dead only where zero means silent (at or directly before a ReLU)
        dead, near = dead_and_near(f, layer) if zero_means_silent(f, layer) else ([], [])
        rows += [(layer.module, layer.label, channel, layer.mean[channel], layer.zero_fraction[channel],
                  channel in dead, channel in near, layer.images) for channel in range(layer.channels)]
    return Table("filters", "Activity of every filter over the test split", "filters",
                 ("layer", "label", "filter", "mean", "zero_fraction", "dead", "near_dead", "images"), rows)


def provenance(f: Findings) -> Table:
    pv = f.provenance
    rows = [("model_class", f.model_class), ("model_source", f.model_source), ("weights", f.weights),
            ("checkpoint", pv.checkpoint_file if f.weights == "checkpoint" else None),
            ("checkpoint_sha256", pv.checkpoint_sha256 or None), ("checkpoint_bytes", pv.checkpoint_bytes),
            ("data", pv.data_description), ("code_version", pv.code_version), ("store", f.store_dir.name),
            ("schema_version", pv.schema_version)]
    rows += [("checkpoint_stripped_prefix", f.model.model.stripped_prefix)] if f.model.model.stripped_prefix else []
    rows += [(f"producer.{k}", v) for k, v in pv.producer.items()]
    rows += [(f"config.{k}", json.dumps(v) if isinstance(v, (list, dict, tuple)) else v)
             for k, v in pv.config.items() if v is not None]
    return Table("provenance", "Inputs, versions and analysis settings", "provenance", ("name", "value"),
                 [(name, value) for name, value in rows])


def index(tables: list[Table], store: str) -> Table:
    return Table("index", "The tables of this report", "", ("id", "title", "section", "rows", "columns", "csv",
                                                            "parquet", "store"),
                 [(t.id, t.title, t.section, len(t.rows), len(t.columns), f"{t.id}.csv", f"{t.id}.parquet", store)
                  for t in tables])


HISTORY_METRICS = (("accuracy", "accuracy"), ("nearest_centroid_accuracy", "nearest_centroid_accuracy"),
                   ("intra_mean", "intra_mean"), ("inter_mean", "inter_mean"), ("ratio", "separation_ratio"),
                   ("silhouette", "silhouette"))


def history_table(series_dir: Path) -> Table:
    """The history as one tidy table: a row per checkpoint and metric (``pandas.read_csv`` loads it as is;
    ``df.pivot(index="checkpoint", columns="metric", values="value")`` makes it wide)."""
    doc = read_document(series_dir, "history.json")
    rows = []
    for order, row in enumerate(doc["rows"]):
        position = row.get("position") or {}
        run = row.get("run")  # the training run its record names: a separate run's epoch 1 is not this run's
        where = (order, row["checkpoint"], position.get("epoch"), position.get("step", position.get("global_step")),
                 row.get("store"), run["id"] if run else None)
        for field, metric in HISTORY_METRICS:
            if row.get(field) is not None:
                rows.append((*where, metric, row.get("metric") if field in ("intra_mean", "inter_mean", "ratio")
                             else None, row[field]))
        two = row.get("two_sample") or {}
        for field in ("intra_mean", "inter_mean"):
            if two.get(field) is not None:
                rows.append((*where, f"two_sample_{field}", two.get("metric", "mse"), two[field]))
    return Table("history", "The series, one row per checkpoint and metric", "",
                 ("order", "checkpoint", "epoch", "step", "store", "run", "metric", "distance", "value"), rows)

"""The rows of a history: one summary per checkpoint, from its store as ``report.render.load`` reads it.

analysis/history.py draws and writes the history store from these rows; reading stores is the
reader's alone. Plain Python arithmetic: the render stage never loads numpy.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

from analysis.store.schema import PRIMARY_METRIC, HistoryRow, TrainingRun
from report.render.findings import Findings
from report.render.load import load_findings

TWO_SAMPLE_METRIC = PRIMARY_METRIC  # the assignment's; a store without it gives its first metric instead


def summary(checkpoint: str, findings: Findings) -> HistoryRow:
    """One row: accuracy and the two-sample distances always; the whole-split fields None when the store
    has no whole-split results (its analysis skipped that pass, or a store of schema 1 or 2)."""
    evaluation, embeddings, separation = findings.evaluation, findings.embeddings, findings.separation
    metric = TWO_SAMPLE_METRIC if TWO_SAMPLE_METRIC in embeddings.distances else next(iter(embeddings.distances), None)
    two = embeddings.distances.get(metric)
    two_sample = {"classes": embeddings.classes, "intra_mean": two.intra_mean if two else None,
                  "inter_mean": two.inter_mean if two else None}
    if metric != TWO_SAMPLE_METRIC:  # named only when it is not the assignment's
        two_sample["metric"] = metric
    return HistoryRow(
        checkpoint=Path(checkpoint).name, store=findings.store_dir.name,
        sha256=findings.provenance.checkpoint_sha256 or None,  # Provenance shows random weights as ""
        position=evaluation.position, accuracy=evaluation.accuracy,
        two_sample=two_sample, class_names=evaluation.class_names, **_whole_split(separation),
        run=training_run(evaluation.training),
        accuracy_ci=[evaluation.quality.accuracy.low, evaluation.quality.accuracy.high] if evaluation.quality else None)


def training_run(training: dict | None) -> TrainingRun | None:
    """The run a checkpoint's training record names: the settings it was trained with and the size of its
    splits (analysis.models.checkpoint_meta checked them). Two checkpoints whose records agree are of one run;
    a checkpoint without a record names none."""
    if not training:
        return None
    settings = training["config"]
    identity = {"config": settings, "n_train": training.get("n_train"), "n_test": training.get("n_test")}
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    epochs = settings["epochs"]
    return TrainingRun(id=digest[:12], description=(
        f"{epochs} epoch{'s' if epochs != 1 else ''}, seed {settings['seed']}, batch {settings['batch_size']}, "
        f"learning rate {settings['learning_rate']:g}"))


def _whole_split(separation) -> dict:
    if separation is None:
        return dict.fromkeys(("metric", "intra_mean", "inter_mean", "ratio", "silhouette",
                              "nearest_centroid_accuracy", "class_intra"))
    intra, inter = whole_split_means(separation)
    return {"metric": separation.metric, "intra_mean": intra, "inter_mean": inter, "ratio": separation.ratio,
            "silhouette": separation.silhouette,
            "nearest_centroid_accuracy": separation.nearest_centroid_accuracy,
            "class_intra": {str(c.cls): c.intra_mean for c in separation.per_class}}


def whole_split_means(separation) -> tuple[float, float | None]:
    """The mean distance over all pairs of images of one class, and over all pairs of images of different
    classes, over the whole test split (each class, or class pair, weighted by its pairs)."""
    per_class = separation.per_class
    measured = [c for c in per_class if c.intra_mean is not None]  # a class of one image has no pairs
    intra = sum(c.intra_mean * c.pairs for c in measured) / max(1, sum(c.pairs for c in measured))
    if separation.inter_matrix:
        inter = _pair_weighted_mean(separation.inter_matrix, [c.n for c in per_class])
    else:  # too many classes for the stored matrix: the ratio is inter over this same pair-weighted intra mean
        inter = separation.ratio * intra if separation.ratio is not None else None
    return intra, inter


def _pair_weighted_mean(matrix: list[list[float | None]], counts: list[int]) -> float | None:
    """Mean distance over all pairs of images from different classes: each class pair weighted by n_a·n_b.
    A stored None (no pairs measured) makes the mean NaN, as it would be over the images themselves."""
    total = sum(counts[a] * counts[b] for a in range(len(counts)) for b in range(len(counts)) if a != b)
    if not total:
        return None
    cells = [(matrix[a][b], counts[a] * counts[b]) for a in range(len(counts)) for b in range(len(counts)) if a != b]
    if any(value is None for value, _ in cells):
        return math.nan
    return math.fsum(value * weight for value, weight in cells) / total


def rows(series: list[tuple[str, Path]]) -> list[HistoryRow]:
    """A summary row per (checkpoint, store), in the order given; each store verified and migrated."""
    return [summary(checkpoint, load_findings(store)) for checkpoint, store in series]

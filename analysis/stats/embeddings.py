"""Sample selection, embeddings and the distances between them (numpy, no torch)."""

from __future__ import annotations

import itertools

import numpy as np

from analysis.errors import InputError
from analysis.stats.metrics import distance  # noqa: F401  (used from here too)
from analysis.store.schema import METRIC_IDS, DistanceTable, Pair

METRICS = METRIC_IDS  # analysis.store.schema.METRIC_IDS: ids and order (analysis.stats.metrics: the formulas)


DEFAULT_PER_CLASS = 2


def samples_per_class(labels: np.ndarray, classes: tuple[int, ...], asked: int | None) -> tuple[int, list[int]]:
    """How many samples of each chosen class are embedded, and the classes that held fewer test images than
    the default (then the default gives way to what is there; an explicit --per-class never does)."""
    counts = {cls: int((labels == cls).sum()) for cls in classes}
    empty = [cls for cls, n in counts.items() if n == 0]
    if empty:
        present = sorted(set(labels.tolist()))
        raise InputError(f"class {empty[0]} has no test image (classes present: {present}): choose other --classes")
    if asked is not None:
        short = [cls for cls, n in counts.items() if n < asked]
        if short:
            raise InputError(f"class {short[0]} has {counts[short[0]]} test images but {asked} were asked for "
                             f"(--per-class {asked}): lower --per-class to {min(counts.values())} or choose other "
                             "--classes")
        return asked, []
    fewest = min(counts.values(), default=DEFAULT_PER_CLASS)
    return min(DEFAULT_PER_CLASS, fewest), sorted(cls for cls, n in counts.items() if n < DEFAULT_PER_CLASS)


def select_samples(labels: np.ndarray, classes: tuple[int, ...], per_class: int) -> list[int]:
    """The first ``per_class`` test indices of each class, classes in the given order."""
    chosen = []
    for cls in classes:
        members = np.flatnonzero(labels == cls)
        if len(members) < per_class:
            present = sorted(set(labels.tolist()))
            raise InputError(f"class {cls} has {len(members)} test images but {per_class} were asked for "
                             f"(classes present: {present}): lower --per-class or choose other --classes")
        chosen.extend(int(i) for i in members[:per_class])
    return chosen


def first_index_of(labels: np.ndarray, cls: int) -> int:
    members = np.flatnonzero(labels == cls)
    if not len(members):
        raise InputError(f"no test image has label {cls}: choose --image-index instead")
    return int(members[0])


def distance_tables(vectors: np.ndarray, labels: list[int]) -> dict[str, DistanceTable]:
    """For each metric: the full matrix, every pair labelled intra or inter, and means."""
    tables = {}
    for metric in METRICS:
        n = len(vectors)
        matrix = np.zeros((n, n))
        for i, j in itertools.combinations(range(n), 2):
            matrix[i, j] = matrix[j, i] = distance(vectors[i], vectors[j], metric)
        pairs = [Pair(i=i, j=j, class_i=labels[i], class_j=labels[j],
                      kind="intra" if labels[i] == labels[j] else "inter", distance=float(matrix[i, j]))
                 for i, j in itertools.combinations(range(n), 2)]
        tables[metric] = DistanceTable(matrix=matrix.tolist(), pairs=pairs, **summarise(pairs))
    return tables


def summarise(pairs: list[Pair]) -> dict:
    intra = [p.distance for p in pairs if p.kind == "intra"]
    inter = [p.distance for p in pairs if p.kind == "inter"]
    by_class: dict[int, list[float]] = {}
    for p in pairs:
        if p.kind == "intra":
            by_class.setdefault(p.class_i, []).append(p.distance)
    by_class_pair: dict[str, list[float]] = {}
    for p in pairs:
        if p.kind == "inter":
            key = "-".join(str(c) for c in sorted((p.class_i, p.class_j)))
            by_class_pair.setdefault(key, []).append(p.distance)
    mean = lambda values: float(np.mean(values)) if values else None  # noqa: E731
    return {
        "intra_mean": mean(intra), "inter_mean": mean(inter),
        "intra_by_class": {str(k): {"mean": mean(v), "pairs": len(v)} for k, v in by_class.items()},
        "inter_by_class_pair": {k: {"mean": mean(v), "pairs": len(v)} for k, v in by_class_pair.items()},
    }

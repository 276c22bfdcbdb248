"""The distances between embeddings, one entry each: every place that measures one computes through here
(the sampled distance tables in ``embeddings``, the whole-split statistics in ``separation``). numpy,
torch-free.

Each metric has two forms of one formula. ``between`` measures one pair from its difference, exactly: the
sampled tables hold a few hundred pairs, and nearly equal embeddings keep their tiny distance. ``block``
(rows × rows) and ``paired`` (row i with row i) work on rows ``prepare``d once (cosine: unit rows) and
expand the squared distance as |a|² + |b|² − 2a·b, one matrix product per block of the whole split;
``paired`` uses ``block``'s formula, so the two compare without rounding differences of their own.

The stored ids and their order are the schema's (analysis.store.schema.METRIC_IDS, torch- and numpy-free, so
it cannot import this; how the page names them is report/render/words.py); tests/test_registries.py checks that the two agree, and
``silhouette`` here against the schema's SILHOUETTE_METRICS and scikit-learn.

Adding a metric: its entry here and its line in ``METRICS``, and its ``Metric`` in the schema."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np


@dataclasses.dataclass(frozen=True)
class MetricMath:
    id: str
    silhouette: str  # the distance its silhouette is on, as scikit-learn names it (a ratio: MSE's is sqeuclidean)
    between: Callable[[np.ndarray, np.ndarray], float]  # one pair of float64 vectors, from their difference
    block: Callable[[np.ndarray, np.ndarray], np.ndarray]  # prepared rows of a × prepared rows of b
    paired: Callable[[np.ndarray, np.ndarray], np.ndarray]  # row i of a with row i of b, both prepared
    unit_rows: bool = False  # prepared rows are scaled to length 1 (a zero row stays zero)


def _squared_block(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    squared = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * (a @ b.T)
    np.maximum(squared, 0.0, out=squared)
    return squared


def _squared_paired(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    dot = (a * b).sum(1)
    return np.maximum((a * a).sum(1) + (b * b).sum(1) - 2.0 * dot, 0.0)


def _cosine_between(a: np.ndarray, b: np.ndarray) -> float:
    norms = np.linalg.norm(a) * np.linalg.norm(b)
    return 1.0 if norms == 0 else float(1.0 - np.dot(a, b) / norms)  # a zero vector has no direction: 1


MSE = MetricMath(  # mean over dimensions, as torch.nn.MSELoss(reduction="mean")
    "mse", "sqeuclidean",
    between=lambda a, b: float(np.mean((a - b) ** 2)),
    block=lambda a, b: _squared_block(a, b) / a.shape[1],
    paired=lambda a, b: _squared_paired(a, b) / a.shape[1])
EUCLIDEAN = MetricMath(
    "euclidean", "euclidean",
    between=lambda a, b: float(np.sqrt(np.sum((a - b) ** 2))),
    block=lambda a, b: np.sqrt(_squared_block(a, b)),
    paired=lambda a, b: np.sqrt(_squared_paired(a, b)))
COSINE = MetricMath(  # on unit rows: a zero row has no direction, distance 1 to everything, as ``between`` says
    "cosine", "cosine",
    between=_cosine_between,
    block=lambda a, b: 1.0 - a @ b.T,
    paired=lambda a, b: 1.0 - (a * b).sum(1),
    unit_rows=True)

# The order of the schema's METRICS (tables and columns: the assignment's metric first).
METRICS: dict[str, MetricMath] = {metric.id: metric for metric in (MSE, EUCLIDEAN, COSINE)}


def metric(metric_id: str) -> MetricMath:
    try:
        return METRICS[metric_id]
    except KeyError:
        raise ValueError(f"unknown metric {metric_id}") from None


def distance(a, b, metric_id: str) -> float:
    """One pair of vectors, exactly (``between``), in float64."""
    return metric(metric_id).between(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64))


def prepare(x: np.ndarray, metric_id: str) -> np.ndarray:
    """Rows as float64, ready for ``block`` and ``paired`` (cosine: unit rows)."""
    x = np.asarray(x, dtype=np.float64)
    if metric(metric_id).unit_rows:
        norms = np.linalg.norm(x, axis=1, keepdims=True)
        return np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)
    return x


def block(a: np.ndarray, b: np.ndarray, metric_id: str) -> np.ndarray:
    """Distances between the rows of ``a`` and ``b`` (both already prepared for the metric)."""
    return metric(metric_id).block(a, b)


def paired(a: np.ndarray, b: np.ndarray, metric_id: str) -> np.ndarray:
    """The distance between each row of ``a`` and the same row of ``b`` (both prepared), by the formula
    ``block`` uses, so the two compare without rounding differences of their own."""
    return metric(metric_id).paired(a, b)

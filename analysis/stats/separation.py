"""Class separation statistics over many embeddings, exact and in bounded memory.

Distances are computed block by block (``CHUNK`` rows at a time), so memory grows with
N·D and CHUNK², never with N²: the per-class sums, the silhouette and the nearest-centroid
accuracy are exact. Only the bootstrap interval works on a stated, seeded sample of at most
``BOOTSTRAP_CAP`` images per class. numpy only (torch-free).
"""

from __future__ import annotations

import numpy as np

CHUNK = 1024
BOOTSTRAP_REPLICATES = 200
BOOTSTRAP_CAP = 2000


def _prepare(x: np.ndarray, metric: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if metric == "cosine":
        norms = np.linalg.norm(x, axis=1, keepdims=True)
        return np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)
    return x


def block(a: np.ndarray, b: np.ndarray, metric: str) -> np.ndarray:
    """Distances between the rows of ``a`` and ``b`` (both already prepared for the metric)."""
    if metric == "cosine":
        # a zero vector has no direction: distance 1 to everything, as in analysis.stats.embeddings
        return 1.0 - a @ b.T
    squared = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * (a @ b.T)
    np.maximum(squared, 0.0, out=squared)
    if metric == "mse":
        return squared / a.shape[1]
    if metric == "euclidean":
        return np.sqrt(squared)
    raise ValueError(f"unknown metric {metric}")


def _blocks(a: np.ndarray, b: np.ndarray, metric: str):
    for i in range(0, len(a), CHUNK):
        for j in range(0, len(b), CHUNK):
            yield i, j, block(a[i:i + CHUNK], b[j:j + CHUNK], metric)


def class_pair_stats(x: np.ndarray, labels: np.ndarray, classes: list[int], metric: str) -> dict:
    """For every class pair (a <= b): number of pairs, mean and std of their distances (exact).

    Intra-class pairs are unordered pairs of distinct images; the diagonal of each block is excluded.
    """
    members = {c: _prepare(x[labels == c], metric) for c in classes}  # one float64 copy in all, class by class
    stats = {}
    for ia, a in enumerate(classes):
        for b in classes[ia:]:
            count, mean, m2 = 0, 0.0, 0.0
            for i, j, d in _blocks(members[a], members[b], metric):
                if a == b:
                    rows = np.arange(i, i + d.shape[0])[:, None]
                    cols = np.arange(j, j + d.shape[1])[None, :]
                    d = d[rows < cols]  # each unordered pair once, no self-pairs
                count, mean, m2 = _merge(count, mean, m2, d.ravel())
            stats[(a, b)] = {"pairs": count, "mean": mean if count else None,
                             "std": float(np.sqrt(m2 / count)) if count else None}
    return stats


def _merge(count: int, mean: float, m2: float, values: np.ndarray) -> tuple[int, float, float]:
    """Add a block of values to running (count, mean, sum of squared deviations): Chan et al.'s update,
    stable where "mean of squares minus square of mean" loses digits."""
    if not values.size:
        return count, mean, m2
    n_b, mean_b = values.size, float(values.mean())
    m2_b = float(((values - mean_b) ** 2).sum())
    total = count + n_b
    delta = mean_b - mean
    return total, mean + delta * n_b / total, m2 + m2_b + delta * delta * count * n_b / total


def bootstrap_intra(x_class: np.ndarray, metric: str, seed: int) -> dict:
    """95% interval of a class's mean intra-class distance, resampling its images (seeded)."""
    rng = np.random.default_rng(seed)
    sample = x_class
    if len(sample) > BOOTSTRAP_CAP:
        sample = sample[np.sort(rng.choice(len(sample), BOOTSTRAP_CAP, replace=False))]
    n = len(sample)
    if n < 2:
        return {"low": None, "high": None, "sample": n, "replicates": 0}
    prepared = _prepare(sample, metric)
    matrix = block(prepared, prepared, metric)
    np.fill_diagonal(matrix, 0.0)
    weights = rng.multinomial(n, np.full(n, 1.0 / n), size=BOOTSTRAP_REPLICATES).astype(np.float64)
    # mean over pairs of distinct draws: w'Dw / (n² − Σw²); a repeated image pairs with itself at distance 0
    numerators = np.einsum("bi,ij,bj->b", weights, matrix, weights)
    denominators = n * n - (weights * weights).sum(1)
    means = numerators / np.where(denominators > 0, denominators, 1)
    low, high = np.percentile(means, [2.5, 97.5])
    return {"low": float(low), "high": float(high), "sample": n, "replicates": BOOTSTRAP_REPLICATES}


def silhouette(x: np.ndarray, labels: np.ndarray, metric: str) -> tuple[float, dict[int, float]]:
    """Mean silhouette over all points (as scikit-learn defines it), and per class; exact, chunked."""
    classes = sorted(set(labels.tolist()))
    prepared = _prepare(x, metric)
    sums = np.zeros((len(x), len(classes)))
    rows = np.arange(len(x))
    for k, c in enumerate(classes):
        member_index = np.flatnonzero(labels == c)
        members = prepared[member_index]
        for i in range(0, len(x), CHUNK):
            for j in range(0, len(members), CHUNK):
                d = block(prepared[i:i + CHUNK], members[j:j + CHUNK], metric)
                d[rows[i:i + CHUNK, None] == member_index[None, j:j + CHUNK]] = 0.0  # exact zero to itself
                sums[i:i + CHUNK, k] += d.sum(1)
    counts = np.array([(labels == c).sum() for c in classes], dtype=np.float64)
    own = np.searchsorted(classes, labels)
    own_counts = counts[own]
    a = np.divide(sums[np.arange(len(x)), own], own_counts - 1, out=np.zeros(len(x)), where=own_counts > 1)
    others = sums / counts[None, :]
    others[np.arange(len(x)), own] = np.inf
    b = others.min(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        s = np.where(own_counts > 1, (b - a) / np.maximum(a, b), 0.0)
    s = np.nan_to_num(s)
    return float(s.mean()), {c: float(s[labels == c].mean()) for c in classes}


def centroids(x: np.ndarray, labels: np.ndarray, classes: list[int]) -> np.ndarray:
    return np.stack([np.asarray(x, dtype=np.float64)[labels == c].mean(0) for c in classes])


def nearest_centroid_accuracy(x: np.ndarray, labels: np.ndarray, classes: list[int], metric: str) -> float:
    centres = _prepare(centroids(x, labels, classes), metric)
    prepared = _prepare(x, metric)
    predicted = np.concatenate([np.asarray(classes)[block(prepared[i:i + CHUNK], centres, metric).argmin(1)]
                                for i in range(0, len(x), CHUNK)])
    return float((predicted == labels).mean())


def centroid_distances(x: np.ndarray, labels: np.ndarray, classes: list[int], metric: str) -> np.ndarray:
    centres = _prepare(centroids(x, labels, classes), metric)
    matrix = block(centres, centres, metric)
    np.fill_diagonal(matrix, 0.0)
    return matrix


def ratio(stats: dict) -> float | None:
    """Mean inter-class distance over mean intra-class distance, each averaged over all pairs."""
    intra = [(s["mean"], s["pairs"]) for (a, b), s in stats.items() if a == b and s["pairs"]]
    inter = [(s["mean"], s["pairs"]) for (a, b), s in stats.items() if a != b and s["pairs"]]
    if not intra or not inter:
        return None
    intra_mean = sum(m * n for m, n in intra) / sum(n for _, n in intra)
    inter_mean = sum(m * n for m, n in inter) / sum(n for _, n in inter)
    return inter_mean / intra_mean if intra_mean > 0 else None


def _float64_chunks(x: np.ndarray):
    """``x`` CHUNK rows at a time as float64 (a memory-mapped matrix is read a chunk at a time too)."""
    for i in range(0, len(x), CHUNK):
        yield np.asarray(x[i:i + CHUNK], dtype=np.float64)


def pca_2d(x: np.ndarray) -> tuple[np.ndarray, list[float]]:
    """First two principal components, with the share of variance each explains: from the D × D covariance,
    accumulated ``CHUNK`` rows at a time in float64, so that memory is D² plus the N × 2 points, never a
    float64 copy of the N × D matrix (an SVD of it would need two)."""
    mean = sum((chunk.sum(0) for chunk in _float64_chunks(x)), np.zeros(x.shape[1])) / max(len(x), 1)
    scatter = np.zeros((x.shape[1], x.shape[1]))
    for chunk in _float64_chunks(x):
        chunk -= mean
        scatter += chunk.T @ chunk
    values, vectors = np.linalg.eigh(scatter)       # ascending
    values, vectors = np.clip(values[::-1], 0.0, None), vectors[:, ::-1]
    total = values.sum()
    share = (values[:2] / total).tolist() if total > 0 else [0.0, 0.0]
    if len(share) < 2:
        share, vectors = share + [0.0], np.pad(vectors, ((0, 0), (0, 2 - vectors.shape[1])))
    if not len(x):
        return np.zeros((0, 2)), share
    points = np.concatenate([(chunk - mean) @ vectors[:, :2] for chunk in _float64_chunks(x)])
    signs = np.sign(points[np.abs(points).argmax(0), [0, 1]])  # fix the signs so runs agree
    return points * np.where(signs == 0, 1, signs), share

"""Class separation statistics over many embeddings, exact and in bounded memory.

Distances are computed block by block (``CHUNK`` rows at a time), so memory grows with
N·D and CHUNK², never with N²: the per-class sums, the silhouette and the nearest-centroid
accuracy are exact. Only the bootstrap interval works on a stated, seeded sample of at most
``BOOTSTRAP_CAP`` images per class. The distances are analysis.stats.metrics's. numpy (scipy for the
Wilson interval), torch-free.

The work grows with the pairs of images (N²·D), never with the pairs of classes visited one by one: the rows
are put in class order once (``Grouped``), so that every block of distances holds runs of rows and columns of
one class each, and is reduced to its per-class sums in one step (``np.add.reduceat`` over the runs). A
thousand classes of two images each are then a few blocks, not half a million pairs of tiny ones. What is
kept per class pair (the K × K means) is what the caller asks for; ``PairStatistics`` holds it.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from analysis.stats.metrics import block, paired, prepare

_prepare = prepare  # the name analysis.stats.fullsplit reads
CHUNK = 1024
BOOTSTRAP_REPLICATES = 200
BOOTSTRAP_CAP = 2000


def _blocks(a: np.ndarray, b: np.ndarray, metric: str):
    for i in range(0, len(a), CHUNK):
        for j in range(0, len(b), CHUNK):
            yield i, j, block(a[i:i + CHUNK], b[j:j + CHUNK], metric)


@dataclasses.dataclass(frozen=True)
class Grouped:
    """The rows of the chosen classes in class order (stable: each class keeps its rows' order)."""

    x: np.ndarray          # (n, D) float64, prepared for the metric (cosine: unit rows)
    codes: np.ndarray      # position in ``classes`` of each row's class, ascending
    starts: np.ndarray     # first row of each class (K,)
    counts: np.ndarray     # rows of each class (K,); 0 for a class without rows
    order: np.ndarray      # index in the caller's rows of each row


def class_rows(labels: np.ndarray, classes: list[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The rows of ``classes`` (others left out) in class order, stable: (row indices, each row's position in
    ``classes``, each class's first position in that order, each class's rows)."""
    labels = np.asarray(labels)
    known = np.asarray(classes)
    sorter = np.argsort(known, kind="stable")
    slot = np.minimum(np.searchsorted(known, labels, sorter=sorter), max(len(known) - 1, 0))
    kept = np.flatnonzero(known[sorter][slot] == labels) if len(known) else np.zeros(0, dtype=np.int64)
    codes = sorter[slot[kept]]
    within = np.argsort(codes, kind="stable")
    order, codes = kept[within], codes[within]
    counts = np.bincount(codes, minlength=len(known))
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    return order, codes, starts, counts


def group(x: np.ndarray, labels: np.ndarray, classes: list[int], metric: str | None) -> Grouped:
    """Rows of ``classes`` (others left out) in class order; ``metric`` None keeps the values as they are."""
    order, codes, starts, counts = class_rows(labels, classes)
    values = np.asarray(x[order], dtype=np.float64) if metric is None else prepare(x[order], metric)
    return Grouped(values, codes, starts, counts, order)


def _runs(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where each run of one class starts in a block's ``codes`` (ascending), and that class."""
    starts = np.flatnonzero(np.concatenate([[True], codes[1:] != codes[:-1]]))
    return starts, codes[starts]


def _run_sums(values: np.ndarray, row_starts: np.ndarray, column_starts: np.ndarray) -> np.ndarray:
    return np.add.reduceat(np.add.reduceat(values, row_starts, axis=0), column_starts, axis=1)


@dataclasses.dataclass
class PairStatistics:
    """Every class pair's image pairs: their number, mean distance and the sum of squared deviations from it
    (K × K, only a < b filled, and a == b from ``intra``), with the intra-class figures of each class."""

    classes: list[int]
    counts: np.ndarray                 # images of each class
    pairs: np.ndarray                  # (K, K) image pairs of classes a < b
    means: np.ndarray                  # (K, K) their mean distance (NaN without pairs)
    m2: np.ndarray                     # (K, K) sum of squared deviations from that mean
    intra: list[dict]                  # per class: {"pairs", "mean", "std"} (mean and std None without pairs)
    blocks: int = 0                    # distance blocks computed: the work done, for the scaling tests

    def __post_init__(self):
        self.position = {c: k for k, c in enumerate(self.classes)}

    def mean_matrix(self) -> np.ndarray:
        """The symmetric K × K matrix of mean distances, within each class on the diagonal (0 where none)."""
        upper = np.where(self.pairs > 0, self.means, 0.0)
        matrix = np.triu(upper, 1) + np.triu(upper, 1).T
        matrix[np.diag_indices_from(matrix)] = [s["mean"] or 0.0 for s in self.intra]
        return matrix

    def stats(self, a: int, b: int) -> dict:
        """{"pairs", "mean", "std"} of the class pair (a, b) (labels, either order)."""
        i, j = sorted((self.position[a], self.position[b]))
        if i == j:
            return self.intra[i]
        count = int(self.pairs[i, j])
        return {"pairs": count, "mean": float(self.means[i, j]) if count else None,
                "std": float(np.sqrt(self.m2[i, j] / count)) if count else None}

    def ratio(self) -> float | None:
        """Mean inter-class distance over mean intra-class distance, each averaged over all pairs."""
        intra = [(s["mean"], s["pairs"]) for s in self.intra if s["pairs"]]
        upper = np.triu(self.pairs > 0, 1)
        if not intra or not upper.any():
            return None
        intra_mean = sum(m * n for m, n in intra) / sum(n for _, n in intra)
        inter_mean = float((self.means[upper] * self.pairs[upper]).sum() / self.pairs[upper].sum())
        return inter_mean / intra_mean if intra_mean > 0 else None

    def closest(self, keep: int) -> list[tuple[float, int, int, float]]:
        """The ``keep`` class pairs with the smallest ratio of their mean distance to the mean of their two
        intra-class means, as (ratio, a, b, mean distance), smallest first (ties: by the classes)."""
        intra = np.array([np.nan if s["mean"] is None else s["mean"] for s in self.intra])
        rows, columns = np.nonzero(np.triu(self.pairs > 0, 1))
        within = (intra[rows] + intra[columns]) / 2
        usable = np.isfinite(within) & (within != 0)
        rows, columns, within = rows[usable], columns[usable], within[usable]
        ratios = self.means[rows, columns] / within
        labels = np.asarray(self.classes)
        chosen = np.lexsort((labels[columns], labels[rows], ratios))[:keep]
        return [(float(ratios[k]), int(labels[rows[k]]), int(labels[columns[k]]),
                 float(self.means[rows[k], columns[k]])) for k in chosen]


def pair_statistics(x: np.ndarray, labels: np.ndarray, classes: list[int], metric: str) -> PairStatistics:
    """For every class pair (a <= b): number of image pairs, mean and spread of their distances (exact).

    Intra-class pairs are unordered pairs of distinct images, computed class by class as blocks within it;
    the pairs across classes are reduced from blocks of the class-ordered rows, so each image pair is computed
    once whatever the number of classes. Memory: CHUNK² per block, and three K × K float arrays."""
    grouped = group(x, labels, classes, metric)
    k = len(classes)
    pairs, means, m2 = np.zeros((k, k)), np.full((k, k), np.nan), np.zeros((k, k))
    intra, blocks = [], 0
    for c in range(k):
        members = grouped.x[grouped.starts[c]:grouped.starts[c] + grouped.counts[c]]
        count, mean, spread = 0, 0.0, 0.0
        for i, j, d in _blocks(members, members, metric):
            blocks += 1
            rows = np.arange(i, i + d.shape[0])[:, None]
            cols = np.arange(j, j + d.shape[1])[None, :]
            count, mean, spread = _merge(count, mean, spread, d[rows < cols])  # each unordered pair once
        intra.append({"pairs": count, "mean": mean if count else None,
                      "std": float(np.sqrt(spread / count)) if count else None})
    n = len(grouped.x)
    for i in range(0, n, CHUNK):
        row_starts, row_classes = _runs(grouped.codes[i:i + CHUNK])
        row_sizes = np.diff(np.append(row_starts, len(grouped.codes[i:i + CHUNK])))
        for j in range(i, n, CHUNK):  # blocks on and above the diagonal: each image pair once
            d = block(grouped.x[i:i + CHUNK], grouped.x[j:j + CHUNK], metric)
            blocks += 1
            column_starts, column_classes = _runs(grouped.codes[j:j + CHUNK])
            column_sizes = np.diff(np.append(column_starts, d.shape[1]))
            counts = np.outer(row_sizes, column_sizes).astype(np.float64)
            block_means = _run_sums(d, row_starts, column_starts) / counts
            # Deviations from each run's own mean, then Chan's update into the running figures: stable where
            # "mean of squares minus square of mean" loses digits.
            spread = _run_sums((d - block_means[np.repeat(np.arange(len(row_sizes)), row_sizes)][
                :, np.repeat(np.arange(len(column_sizes)), column_sizes)]) ** 2, row_starts, column_starts)
            a, b = np.meshgrid(row_classes, column_classes, indexing="ij")
            upper = a < b  # a run pair within one class is intra (done above); a > b is the same pair seen below
            _merge_runs(pairs, means, m2, a[upper], b[upper], counts[upper], block_means[upper], spread[upper])
    return PairStatistics(list(classes), grouped.counts, pairs, means, m2, intra, blocks)


def _merge_runs(pairs, means, m2, a, b, counts, block_means, spread) -> None:
    """Chan's update of the running (pairs, mean, m2) of cells (a, b) by runs of ``counts`` distances."""
    before = pairs[a, b]
    total = before + counts
    old = np.where(before > 0, means[a, b], 0.0)
    delta = block_means - old
    means[a, b] = old + delta * counts / total
    m2[a, b] = m2[a, b] + spread + delta * delta * before * counts / total
    pairs[a, b] = total


def class_pair_stats(x: np.ndarray, labels: np.ndarray, classes: list[int], metric: str) -> dict:
    """For every class pair (a <= b): number of pairs, mean and std of their distances (exact), as a dict keyed
    (a, b). Its size is the square of the classes: callers with many classes read ``pair_statistics``."""
    statistics = pair_statistics(x, labels, classes, metric)
    return {(a, b): statistics.stats(a, b) for ia, a in enumerate(classes) for b in classes[ia:]}


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


def bootstrap_inter(x_a: np.ndarray, x_b: np.ndarray, metric: str, seed: int) -> dict:
    """95% interval of the mean distance between an image of one class and an image of another, resampling
    each class's images independently (seeded; at most BOOTSTRAP_CAP images of each)."""
    rng = np.random.default_rng(seed)
    samples = []
    for members in (x_a, x_b):
        if len(members) > BOOTSTRAP_CAP:
            members = members[np.sort(rng.choice(len(members), BOOTSTRAP_CAP, replace=False))]
        samples.append(members)
    (a, b), (n_a, n_b) = samples, (len(samples[0]), len(samples[1]))
    if not n_a or not n_b:
        return {"low": None, "high": None, "sample": min(n_a, n_b), "replicates": 0}
    matrix = block(prepare(a, metric), prepare(b, metric), metric)
    w_a = rng.multinomial(n_a, np.full(n_a, 1.0 / n_a), size=BOOTSTRAP_REPLICATES).astype(np.float64)
    w_b = rng.multinomial(n_b, np.full(n_b, 1.0 / n_b), size=BOOTSTRAP_REPLICATES).astype(np.float64)
    means = np.einsum("ri,ij,rj->r", w_a, matrix, w_b) / (n_a * n_b)
    low, high = np.percentile(means, [2.5, 97.5])
    return {"low": float(low), "high": float(high), "sample": min(n_a, n_b), "replicates": BOOTSTRAP_REPLICATES}


def bootstrap_intra(x_class: np.ndarray, metric: str, seed: int) -> dict:
    """95% interval of a class's mean intra-class distance, resampling its images (seeded)."""
    rng = np.random.default_rng(seed)
    sample = x_class
    if len(sample) > BOOTSTRAP_CAP:
        sample = sample[np.sort(rng.choice(len(sample), BOOTSTRAP_CAP, replace=False))]
    n = len(sample)
    if n < 2:
        return {"low": None, "high": None, "sample": n, "replicates": 0}
    prepared = prepare(sample, metric)
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
    """Mean silhouette over all points (as scikit-learn defines it), and per class; exact, chunked. Each row's
    summed distance to every class comes from blocks of class-ordered rows, reduced over the classes' runs."""
    sums = class_sums(x, labels, metric)
    return sums.silhouette, sums.per_class_silhouette


@dataclasses.dataclass
class ClassSums:
    """One pass over every ordered pair of images: the silhouette, and the summed distance from the images of
    each class to those of every class (K × K, the diagonal over ordered pairs of distinct images), from which
    every mean distance between or within classes follows."""

    classes: list[int]
    counts: np.ndarray           # images of each class
    sums: np.ndarray             # (K, K) summed distances, rows of class a to rows of class b
    silhouette: float
    per_class_silhouette: dict[int, float]

    def pairs(self) -> np.ndarray:
        """(K, K) ordered pairs of distinct images behind each sum."""
        pairs = np.outer(self.counts, self.counts).astype(np.float64)
        pairs[np.diag_indices_from(pairs)] -= self.counts
        return pairs

    def means(self) -> np.ndarray:
        """(K, K) mean distance between an image of a and one of b (NaN without pairs)."""
        pairs = self.pairs()
        return np.divide(self.sums, pairs, out=np.full_like(self.sums, np.nan), where=pairs > 0)

    def pooled(self) -> tuple[float | None, float | None]:
        """(mean intra-class distance, mean inter-class distance), each over all its pairs: the figures
        ``PairStatistics.ratio`` divides (ordered pairs count every unordered pair twice, on both sides)."""
        pairs, diagonal = self.pairs(), np.eye(len(self.classes), dtype=bool)
        intra, inter = pairs[diagonal].sum(), pairs[~diagonal].sum()
        return (float(self.sums[diagonal].sum() / intra) if intra else None,
                float(self.sums[~diagonal].sum() / inter) if inter else None)

    def ratio(self) -> float | None:
        intra, inter = self.pooled()
        return inter / intra if intra and inter is not None else None


def class_sums(x: np.ndarray, labels: np.ndarray, metric: str) -> ClassSums:
    """The silhouette (as scikit-learn defines it, overall and per class) and the class-by-class sums of
    distances, exact and chunked: each row's summed distance to every class comes from blocks of class-ordered
    rows, reduced over the classes' runs; memory CHUNK² per block plus K × K."""
    classes = sorted(set(labels.tolist()))
    grouped = group(x, labels, classes, metric)
    n, k = len(grouped.x), len(classes)
    counts = grouped.counts.astype(np.float64)
    s = np.zeros(n)
    totals = np.zeros((k, k))
    for i in range(0, n, CHUNK):
        rows = grouped.x[i:i + CHUNK]
        sums = np.zeros((len(rows), k))
        for j in range(0, n, CHUNK):
            d = block(rows, grouped.x[j:j + CHUNK], metric)
            if i == j:
                np.fill_diagonal(d, 0.0)  # exact zero to itself
            column_starts, column_classes = _runs(grouped.codes[j:j + CHUNK])
            sums[:, column_classes] += np.add.reduceat(d, column_starts, axis=1)
        row_starts, row_classes = _runs(grouped.codes[i:i + CHUNK])
        totals[row_classes] += np.add.reduceat(sums, row_starts, axis=0)
        own = grouped.codes[i:i + CHUNK]
        own_counts = counts[own]
        at = np.arange(len(rows))
        a = np.divide(sums[at, own], own_counts - 1, out=np.zeros(len(rows)), where=own_counts > 1)
        others = sums / counts[None, :]
        others[at, own] = np.inf
        b = others.min(1) if k > 1 else np.full(len(rows), np.inf)
        with np.errstate(invalid="ignore", divide="ignore"):
            s[i:i + CHUNK] = np.where(own_counts > 1, (b - a) / np.maximum(a, b), 0.0)
    s = np.nan_to_num(s)
    in_order = np.empty(n)
    in_order[grouped.order] = s  # back to the caller's order, so the mean adds in the same order as before
    per_class = {c: float(s[grouped.starts[p]:grouped.starts[p] + grouped.counts[p]].mean()) for p, c in enumerate(classes)}
    return ClassSums(classes, grouped.counts, totals, float(in_order.mean()), per_class)


def centroids(x: np.ndarray, labels: np.ndarray, classes: list[int]) -> np.ndarray:
    """Each class's mean row (NaN for a class without rows), from the class-ordered rows in one pass."""
    grouped = group(x, labels, classes, None)
    out = np.full((len(classes), grouped.x.shape[1]), np.nan)
    present = grouped.counts > 0
    if present.any():
        sums = np.add.reduceat(grouped.x, grouped.starts[present], axis=0)
        out[present] = sums / grouped.counts[present][:, None]
    return out


def nearest_centroid_accuracy(x: np.ndarray, labels: np.ndarray, classes: list[int], metric: str) -> float:
    centres = prepare(centroids(x, labels, classes), metric)
    prepared = prepare(x, metric)
    predicted = np.concatenate([np.asarray(classes)[_nan_last(block(prepared[i:i + CHUNK], centres, metric)).argmin(1)]
                                for i in range(0, len(x), CHUNK)])
    return float((predicted == labels).mean())


@dataclasses.dataclass(frozen=True)
class LeftOut:
    """Nearest-centroid accuracy with each image left out of its own class's centroid."""

    correct: int       # images whose nearest centroid is their class's
    judged: int        # images judged: those of classes with at least two images
    unjudged: int      # images alone in their class: without them the class has no centroid to be nearest to


def nearest_centroid_left_out(x: np.ndarray, labels: np.ndarray, classes: list[int], metric: str) -> LeftOut:
    """Each image assigned to the nearest class centroid, its own class's centroid recomputed without it,
    (n·c − x) / (n − 1), so that no image is judged by a centroid it helped build (with 5 images per class an
    image is a fifth of its own centroid, which flatters the resubstitution figure). The other centroids are
    the whole classes'. An image alone in its class cannot be judged this way: it is counted in ``unjudged``,
    in neither ``correct`` nor ``judged``. Chunked: memory CHUNK × (D + K)."""
    grouped = group(x, labels, classes, None)
    means = centroids(x, labels, classes)
    centres = prepare(means, metric)
    counts = grouped.counts
    correct = judged = 0
    for i in range(0, len(grouped.x), CHUNK):
        rows, own = grouped.x[i:i + CHUNK], grouped.codes[i:i + CHUNK]
        size = counts[own]
        usable = size > 1
        if not usable.any():
            continue
        rows, own, size = rows[usable], own[usable], size[usable].astype(np.float64)[:, None]
        prepared = prepare(rows, metric)
        d = block(prepared, centres, metric)
        d[:, counts == 0] = np.inf  # a class without rows has no centroid (for cosine, prepare made it zero)
        without = (size * means[own] - rows) / (size - 1)
        d[np.arange(len(rows)), own] = paired(prepared, prepare(without, metric), metric)
        correct += int((d.argmin(1) == own).sum())
        judged += len(rows)
    return LeftOut(correct, judged, int(len(grouped.x) - judged))


def wilson(successes: int, trials: int) -> tuple[float | None, float | None]:
    """The 95% Wilson score interval of a proportion (scipy.stats.binomtest); (None, None) without trials."""
    if not trials:
        return None, None
    from scipy.stats import binomtest

    interval = binomtest(successes, trials).proportion_ci(confidence_level=0.95, method="wilson")
    return float(interval.low), float(interval.high)


def _nan_last(d: np.ndarray) -> np.ndarray:
    """A class without rows has no centroid (NaN): never the nearest."""
    return np.where(np.isnan(d), np.inf, d) if np.isnan(d).any() else d


def centroid_distances(x: np.ndarray, labels: np.ndarray, classes: list[int], metric: str) -> np.ndarray:
    centres = prepare(centroids(x, labels, classes), metric)
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


def finite_rows(x: np.ndarray) -> np.ndarray:
    """Which rows hold only finite values, read CHUNK rows at a time (a memory-mapped matrix included)."""
    if not len(x):
        return np.zeros(0, dtype=bool)
    return np.concatenate([np.isfinite(chunk).all(1) for chunk in _float64_chunks(x)])


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

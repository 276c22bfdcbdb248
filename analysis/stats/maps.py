"""The t-SNE map of an embedding (openTSNE), torch-free: run by the analysis, or ahead in its statistics helper
(analysis/stats/ahead.py) while the analysis computes the rest of the whole-split statistics."""

from __future__ import annotations

import numpy as np


def tsne(points: np.ndarray, seed: int) -> np.ndarray | None:
    """openTSNE's Barnes-Hut t-SNE from the PCA start, on one thread: two OpenMP threads spin against any other
    work on the machine (bench/TSNE.md), and one gives the same bytes on every machine. None for fewer than 5
    points, or points that are all the same (the PCA start divides by the spread of the first component)."""
    if len(points) < 5 or not np.ptp(points, axis=0).any():
        return None
    from openTSNE import TSNE
    from threadpoolctl import threadpool_limits

    points = points.astype(np.float64)
    # One scale for every axis, which leaves the map as it is: magnitudes near 1e30 overflow the affinities.
    points = (points - points.mean(axis=0)) / points.std()
    if points.shape[1] == 1:  # a constant second axis, so that the PCA start has two components to take
        points = np.pad(points, ((0, 0), (0, 1)))
    perplexity = min(30.0, (len(points) - 1) / 3)
    tsne = TSNE(n_components=2, perplexity=perplexity, initialization="pca", neighbors="exact",
                negative_gradient_method="bh", n_jobs=1, random_state=seed)
    # Every pool on one thread, torch's too (restored after): with torch loaded, scikit-learn's neighbour search
    # runs its OpenMP loop in torch's runtime, on torch's thread count.
    with threadpool_limits(limits=1):
        return np.array(tsne.fit(points), dtype=np.float64)

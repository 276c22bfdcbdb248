"""Class-separation statistics against brute force, scikit-learn, and their chunked path."""

import itertools

import numpy as np
import pytest

from analysis.stats import separation
from analysis.stats.embeddings import METRICS, distance


def brute_pairs(x, labels, a, b, metric):
    if a == b:
        idx = np.flatnonzero(labels == a)
        return [distance(x[i], x[j], metric) for i, j in itertools.combinations(idx, 2)]
    return [distance(x[i], x[j], metric) for i in np.flatnonzero(labels == a) for j in np.flatnonzero(labels == b)]


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1, 2], [7, 5, 9])
    x = np.abs(rng.normal(size=(len(labels), 6)) + labels[:, None])
    x[3] = 0.0  # a zero vector: cosine distance 1 by convention
    return x, labels


@pytest.mark.parametrize("metric", METRICS)
def test_class_pair_statistics_equal_brute_force(data, metric):
    x, labels = data
    stats = separation.class_pair_stats(x, labels, [0, 1, 2], metric)
    for (a, b), s in stats.items():
        pairs = brute_pairs(x, labels, a, b, metric)
        assert s["pairs"] == len(pairs)
        assert s["mean"] == pytest.approx(np.mean(pairs), rel=1e-9, abs=1e-12)
        assert s["std"] == pytest.approx(np.std(pairs), rel=1e-6, abs=1e-9)


@pytest.mark.parametrize("metric", METRICS)
def test_chunked_path_equals_direct_path(data, metric, monkeypatch):
    x, labels = data
    direct = separation.class_pair_stats(x, labels, [0, 1, 2], metric)
    direct_sil = separation.silhouette(x, labels, metric)
    monkeypatch.setattr(separation, "CHUNK", 2)  # many small blocks, including ragged ones
    chunked = separation.class_pair_stats(x, labels, [0, 1, 2], metric)
    for key in direct:
        assert chunked[key]["pairs"] == direct[key]["pairs"]
        assert chunked[key]["mean"] == pytest.approx(direct[key]["mean"], rel=1e-12)
        assert chunked[key]["std"] == pytest.approx(direct[key]["std"], rel=1e-9, abs=1e-12)
    assert separation.silhouette(x, labels, metric)[0] == pytest.approx(direct_sil[0], rel=1e-12)


@pytest.mark.parametrize("metric, sklearn_metric", [("euclidean", "euclidean"), ("mse", "sqeuclidean"),
                                                    ("cosine", "cosine")])
def test_silhouette_matches_scikit_learn(data, metric, sklearn_metric):
    from sklearn.metrics import silhouette_samples, silhouette_score

    x, labels = data
    x = x + 0.01  # scikit-learn's cosine treats zero vectors differently; avoid that one case
    ours, per_class = separation.silhouette(x, labels, metric)  # MSE is squared Euclidean / D: same silhouette
    assert ours == pytest.approx(silhouette_score(x, labels, metric=sklearn_metric), rel=1e-9)
    samples = silhouette_samples(x, labels, metric=sklearn_metric)
    assert per_class[2] == pytest.approx(samples[labels == 2].mean(), rel=1e-9)


def test_nearest_centroid_accuracy_and_centroid_matrix(data):
    x, labels = data
    centres = separation.centroids(x, labels, [0, 1, 2])
    expected = np.mean([np.argmin([np.sum((p - c) ** 2) for c in centres]) == y for p, y in zip(x, labels)])
    assert separation.nearest_centroid_accuracy(x, labels, [0, 1, 2], "mse") == pytest.approx(expected)
    matrix = separation.centroid_distances(x, labels, [0, 1, 2], "euclidean")
    assert np.allclose(matrix, matrix.T) and np.all(np.diag(matrix) == 0)
    assert matrix[0, 2] == pytest.approx(np.linalg.norm(centres[0] - centres[2]))


def test_bootstrap_interval_brackets_the_mean_and_is_seeded(data):
    x, labels = data
    cls = x[labels == 2]
    mean = np.mean(brute_pairs(x, labels, 2, 2, "mse"))
    first = separation.bootstrap_intra(cls, "mse", seed=0)
    assert first["low"] < mean < first["high"]
    assert separation.bootstrap_intra(cls, "mse", seed=0) == first
    assert first["sample"] == 9 and first["replicates"] == separation.BOOTSTRAP_REPLICATES


def test_ratio_weights_every_pair(data):
    x, labels = data
    stats = separation.class_pair_stats(x, labels, [0, 1, 2], "mse")
    intra = [d for c in (0, 1, 2) for d in brute_pairs(x, labels, c, c, "mse")]
    inter = [d for a, b in ((0, 1), (0, 2), (1, 2)) for d in brute_pairs(x, labels, a, b, "mse")]
    assert separation.ratio(stats) == pytest.approx(np.mean(inter) / np.mean(intra))


def test_pca_explains_variance_in_order():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 5)) * [10, 3, 1, 0.5, 0.1]
    points, share = separation.pca_2d(x)
    assert points.shape == (200, 2) and share[0] > share[1] > 0 and sum(share) <= 1
    assert np.var(points[:, 0]) > np.var(points[:, 1])


@pytest.mark.parametrize("n, d", [(3000, 64), (10, 3), (2500, 2), (500, 1)])
def test_pca_agrees_with_scikit_learn(n, d):
    """The chunked covariance route against scikit-learn's SVD: the same points (up to each axis's sign,
    which pca_2d fixes) and variance shares, from a float32 matrix as the pass stores it."""
    from sklearn.decomposition import PCA

    rng = np.random.default_rng(n + d)
    x = (rng.normal(size=(n, d)) * np.linspace(5, 0.1, d)).astype(np.float32)
    points, share = separation.pca_2d(x)
    reference = PCA(min(2, d)).fit(x.astype(np.float64))
    expected = reference.transform(x.astype(np.float64))
    k = expected.shape[1]
    assert points.shape == (n, 2)
    assert np.allclose(np.abs(points[:, :k]), np.abs(expected), atol=1e-6)
    assert np.allclose(share[:k], reference.explained_variance_ratio_, atol=1e-9)
    assert sum(share) <= 1 + 1e-12


def test_whole_split_pass_matches_one_image_at_a_time():
    import torch

    from analysis.capture.activations import capture
    from analysis.models.assignment import AssignmentCNN
    from analysis.models.layers import embedding_point
    from analysis.stats import fullsplit

    torch.manual_seed(0)
    model = AssignmentCNN().eval()
    x = torch.randn(7, 1, 28, 28)
    point = embedding_point(model, None)
    emb, accumulators, logits = fullsplit.whole_split_pass(model, x, point, ["relu1", "relu2"])
    single, _ = capture(model, x, [point.module])
    assert emb.shape == (7, 64) and np.allclose(emb, single[point.module].reshape(7, -1), atol=1e-6)
    with torch.no_grad():
        assert torch.allclose(logits, model(x), atol=1e-6)  # the same pass gives the evaluation's outputs
    maps, _ = capture(model, x, ["relu2"])
    relu2 = maps["relu2"]
    acc = accumulators["relu2"]
    assert acc.images == 7
    assert np.allclose((acc.sum / acc.images).numpy(), relu2.mean(axis=(0, 2, 3)), atol=1e-6)
    assert np.allclose((acc.never_positive / acc.images).numpy(), (relu2.max(axis=(2, 3)) <= 0).mean(0))


def test_whole_split_embeddings_are_stored_and_hashed(default_build):
    import json

    from report.pipeline import current_store

    store = current_store(default_build[0])
    manifest = json.loads((store / "manifest.json").read_text())
    assert "embeddings_test.npy" in manifest["files"]
    emb = np.load(store / "embeddings_test.npy", allow_pickle=False)
    assert emb.shape == (1000, 64) and emb.dtype == np.float32 and (emb >= 0).all()  # after ReLU
    sep = json.loads((store / "separation.json").read_text())
    matrix = np.array(sep["inter_matrix"])
    assert np.allclose(matrix, matrix.T)
    assert np.allclose(np.diag(matrix), [row["intra_mean"] for row in sep["per_class"]], rtol=1e-6)
    labels = np.repeat(np.arange(10), 100)  # the embedded test split is ordered by class
    direct = separation.class_pair_stats(emb, labels, list(range(10)), "mse")
    assert sep["per_class"][6]["intra_mean"] == pytest.approx(direct[(6, 6)]["mean"], rel=1e-6)
    assert sum(sum(row) for row in sep["confusion"]) == 1000


def _depth_of(model, tmp_path):
    """fullsplit._depth on 12 random 8 × 8 images of two classes, in a store that is then thrown away."""
    import torch

    from analysis.stats import fullsplit
    from analysis.store.writer import StoreWriter

    x, labels = torch.randn(12, 1, 8, 8), np.array([0, 1] * 6)
    writer = StoreWriter(tmp_path / "store")
    try:
        return fullsplit._depth(model, x, labels, [0, 1], "mse", np.random.default_rng(0), False, writer)
    finally:
        writer.abort()


def test_depth_follows_calls_a_shared_pool_appears_at_both_points(tmp_path):
    """A module called twice in one forward pass is measured at each call, in call order (issue 13)."""
    import torch
    from torch import nn


    class SharedPool(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 4, 3, padding=1)
            self.pool = nn.MaxPool2d(2)
            self.conv2 = nn.Conv2d(4, 4, 3, padding=1)
            self.fc = nn.Linear(4 * 2 * 2, 2)

        def forward(self, x):
            x = self.pool(torch.relu(self.conv1(x)))
            x = self.pool(torch.relu(self.conv2(x)))
            return self.fc(x.flatten(1))

    torch.manual_seed(0)
    depth, sample = _depth_of(SharedPool().eval(), tmp_path)
    assert [(d.module, d.label, d.dims) for d in depth] == [
        ("conv1", "conv1", 256), ("pool", "pool (call 1)", 64), ("conv2", "conv2", 64),
        ("pool", "pool (call 2)", 16), ("fc", "fc", 2)]
    assert sample == 12


def test_depth_pools_an_output_larger_than_the_limit_and_says_from_what(tmp_path, monkeypatch):
    """A ResNet's first maps at 224 px hold 802,816 values per image: measured flat, 1,000 images took 22 GB and
    9 minutes. Beyond DEPTH_VALUES an output is average-pooled over positions; the row records both sizes."""
    import torch
    from torch import nn

    from analysis.stats import fullsplit

    monkeypatch.setattr(fullsplit, "DEPTH_VALUES", 64)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.Flatten(), nn.Linear(4 * 8 * 8, 60), nn.Linear(60, 2)).eval()
    depth, _ = _depth_of(model, tmp_path)
    x = torch.randn(12, 1, 8, 8)
    assert [(d.module, d.dims, d.pooled_from) for d in depth] == [
        ("0", 64, 256), ("1", 64, 256), ("2", 60, None), ("3", 2, None)]
    maps = model[0](x).detach()
    pooled, size = fullsplit.depth_values(maps)
    assert size == 256 and pooled.shape == (12, 64)   # 4 channels on a 4 × 4 grid
    assert torch.allclose(pooled.view(12, 4, 16).mean(2), maps.mean((2, 3)), atol=1e-6)  # averages, not picks
    flat, _ = fullsplit.depth_values(maps.flatten(1))  # not maps: runs of consecutive values are averaged
    assert flat.shape == (12, 64) and torch.allclose(flat.mean(1), maps.flatten(1).mean(1), atol=1e-6)
    small, size = fullsplit.depth_values(maps[:, :1, :4, :4])
    assert size == 16 and torch.equal(small, maps[:, :1, :4, :4].flatten(1))  # within the limit: as it is

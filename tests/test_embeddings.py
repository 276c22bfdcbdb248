"""Distances against hand-computed values, and the invariants of the tables."""

import numpy as np
import pytest
import torch

from analysis.errors import InputError
from analysis.stats.embeddings import distance, distance_tables, first_index_of, select_samples


def test_distances_by_hand():
    a, b = np.array([0.0, 3.0, 4.0]), np.zeros(3)
    assert distance(a, b, "mse") == pytest.approx(25 / 3)
    assert distance(a, b, "euclidean") == pytest.approx(5.0)
    assert distance(a, b, "cosine") == 1.0  # a zero vector has no direction: distance 1 by convention
    assert distance([1.0, 0.0], [0.0, 1.0], "cosine") == pytest.approx(1.0)
    assert distance([1.0, 1.0], [2.0, 2.0], "cosine") == pytest.approx(0.0, abs=1e-12)
    assert distance([1.0, 2.0], [3.0, 5.0], "mse") == pytest.approx((4 + 9) / 2)


def test_mse_matches_torch_mse_loss():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=64), rng.normal(size=64)
    expected = torch.nn.MSELoss()(torch.tensor(a), torch.tensor(b)).item()
    assert distance(a, b, "mse") == pytest.approx(expected, rel=1e-12)


def test_tables_are_symmetric_with_zero_diagonal_and_labelled_pairs():
    rng = np.random.default_rng(1)
    vectors = np.abs(rng.normal(size=(6, 8)))
    labels = [6, 6, 6, 7, 7, 7]
    tables = distance_tables(vectors, labels)
    for metric, table in tables.items():
        matrix = np.array(table.matrix)
        assert np.allclose(matrix, matrix.T) and np.all(np.diag(matrix) == 0), metric
        assert len(table.pairs) == 15
        intra = [p.distance for p in table.pairs if p.kind == "intra"]
        inter = [p.distance for p in table.pairs if p.kind == "inter"]
        assert len(intra) == 6 and len(inter) == 9
        assert table.intra_mean == pytest.approx(np.mean(intra))
        assert table.inter_by_class_pair["6-7"]["mean"] == pytest.approx(np.mean(inter))
        sixes = [matrix[i, j] for i in range(3) for j in range(i + 1, 3)]
        assert table.intra_by_class["6"]["mean"] == pytest.approx(np.mean(sixes))


def test_sample_selection_takes_the_first_of_each_class_in_order():
    labels = np.array([7, 6, 1, 6, 7, 6, 7])
    assert select_samples(labels, (6, 7), 2) == [1, 3, 0, 4]
    assert first_index_of(labels, 7) == 0
    with pytest.raises(InputError, match="class 1 has 1 test images but 2 were asked for"):
        select_samples(labels, (1,), 2)
    with pytest.raises(InputError, match="no test image has label 3"):
        first_index_of(labels, 3)

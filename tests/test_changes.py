"""Both sides of the compare and history rules, on synthetic stores (no torch)."""

import copy

import pytest
from synthetic import documents, embeddings_doc, separation_doc, write_store

from report.render.interpret import changes
from report.render.load import load_findings


def findings(tmp_path, name, accuracy=0.9, vectors=None, silhouette=0.6, ratio=None, euclidean=None, training=None):
    """``euclidean``: (ratio, silhouette) of the Euclidean figures a store of metric MSE holds beside its own;
    None leaves them out (a store written before they were stored)."""
    docs = copy.deepcopy(documents())
    docs["evaluation.json"]["accuracy"] = accuracy
    docs["evaluation.json"]["correct"] = round(accuracy * 30)
    if training:
        docs["evaluation.json"]["training"] = training
    if vectors:
        docs["embeddings.json"] = embeddings_doc(vectors=vectors)
    docs["separation.json"] = separation_doc(silhouettes=(0.1, 0.2, silhouette))
    docs["separation.json"].pop("euclidean", None)
    if euclidean:
        docs["separation.json"]["euclidean"] = {"intra_mean": 1.0, "inter_mean": euclidean[0],
                                                "ratio": euclidean[0], "silhouette": euclidean[1]}
    if ratio:
        docs["separation.json"]["ratio"] = ratio
    return load_findings(write_store(tmp_path / name, docs))


DRIFT = {"drift": [{"name": "fc1.weight", "shape": [6, 36], "norm_a": 2.0, "norm_b": 2.2, "change": 0.5,
                    "relative": 0.25},
                   {"name": "conv1.weight", "shape": [4, 1, 3, 3], "norm_a": 1.0, "norm_b": 1.0, "change": 0.05,
                    "relative": 0.05}]}
SAME = {"drift": [{**row, "change": 0.0, "relative": 0.0} for row in DRIFT["drift"]]}
SPREAD = [[1.0, 0.0, 2.0, 0.5, 0.0, 1.0], [3.2, 0.0, 4.1, 0.4, 0.0, 1.1],
          [4.0, 3.0, 0.0, 0.0, 2.0, 0.0], [3.5, 3.5, 0.0, 0.2, 2.5, 0.0]]


@pytest.mark.parametrize("b_kwargs, rule, branch, text", [
    ({"accuracy": 0.9}, "compare.accuracy", "same", "Test accuracy is the same for both: 90.0%."),
    ({"accuracy": 29 / 30}, "compare.accuracy", "rises", "rises from 90.0% (A) to 96.7% (B), 2 images more right"),
    ({"accuracy": 0.8}, "compare.accuracy", "falls", "falls from 90.0% (A) to 80.0% (B), 3 images fewer right"),
    ({}, "compare.two_sample", "same", "stayed about the same (within 5%): 65.8× in A, 65.8× in B"),
    ({"vectors": SPREAD}, "compare.two_sample", "shrank", "fell by"),
    ({"silhouette": 0.7, "ratio": 5.0}, "compare.whole_split", "better", "rose by 94%"),
    ({"silhouette": 0.3}, "compare.whole_split", "worse", "silhouette on squared Euclidean distance went from 0.60 to 0.30"),
    ({}, "compare.whole_split", "same", "of the mean MSE, a squared distance, stayed about the same (within 5%)"),
    ({"silhouette": 0.61}, "compare.whole_split", "same", "the silhouette on squared Euclidean distance went from 0.60 to 0.61"),
])
def test_compare_rules(tmp_path, b_kwargs, rule, branch, text):
    a = findings(tmp_path, "a")
    b = findings(tmp_path, "b", **b_kwargs)
    notes = {n.rule: n for n in changes.run(a, b, DRIFT)}
    assert notes[rule].branch == branch and text in notes[rule].text, notes[rule].text


def test_compare_two_sample_grows(tmp_path):
    a = findings(tmp_path, "a", vectors=SPREAD)
    b = findings(tmp_path, "b")
    note = next(n for n in changes.run(a, b, DRIFT) if n.rule == "compare.two_sample")
    assert note.branch == "grew" and note.text.startswith("The one–two separation of the sample embeddings")


def test_drift_rule_both_branches(tmp_path):
    a = findings(tmp_path, "a")
    moved = next(n for n in changes.run(a, a, DRIFT) if n.rule == "compare.drift")
    assert moved.branch == "moved" and moved.text.startswith("fc1.weight moved most: ‖B − A‖ is 25.0% of ‖A‖")
    same = next(n for n in changes.run(a, a, SAME) if n.rule == "compare.drift")
    assert same.branch == "identical"


def test_the_whole_split_change_is_said_in_euclidean_distance_beside_the_squared_one(tmp_path):
    """A ratio of MSE, a squared distance, is about the square of the Euclidean one and changes about twice as
    much: 2.6× → 5.0× in MSE is 1.6× → 2.2× in Euclidean distance; the silhouette names its distance."""
    a = findings(tmp_path, "a", euclidean=(1.6, 0.35))
    b = findings(tmp_path, "b", silhouette=0.7, ratio=5.0, euclidean=(2.2, 0.45))
    note = next(n for n in changes.run(a, b, DRIFT) if n.rule == "compare.whole_split")
    assert note.text.startswith("Class separation over the whole test split: the inter/intra ratio of the mean "
                                "Euclidean distance "
                                "rose by 38%: 1.60× → 2.20× (in MSE, a squared distance, 2.6× → 5.0×), and the "
                                "silhouette on Euclidean distance went from 0.35 to 0.45 (0.60 to 0.70 on squared "
                                "Euclidean distance)"), note.text
    old = findings(tmp_path, "old")
    note = next(n for n in changes.run(old, old, DRIFT) if n.rule == "compare.whole_split")
    assert "silhouette on squared Euclidean distance went from 0.60 to 0.60" in note.text


def _run(epochs, seed):
    return {"config": {"epochs": epochs, "batch_size": 64, "learning_rate": 0.002, "seed": seed, "threads": 2},
            "seconds": 1.0, "history": [], "test_accuracy": None, "n_train": 100, "n_test": 30}


def test_checkpoints_of_separate_runs_are_said_so_and_their_drift_is_no_movement(tmp_path):
    """Issue 30: compare of a 1-epoch checkpoint (seed 1) against epoch 2 of another run (seed 0) said "fc3.bias
    moved most", as if B were A trained further."""
    a = findings(tmp_path, "a", training=_run(1, 1))
    b = findings(tmp_path, "b", training=_run(2, 0))
    notes = {n.rule: n for n in changes.run(a, b, DRIFT)}
    assert notes["compare.runs"].text.startswith("A and B come from separate training runs (A: 1 epoch, seed 1, "
                                                 "batch 64, learning rate 0.002; B: 2 epochs, seed 0")
    assert notes["compare.drift"].branch == "separate-runs" and "moved most" not in notes["compare.drift"].text
    same_run = {n.rule: n for n in changes.run(a, findings(tmp_path, "a2", training=_run(1, 1)), DRIFT)}
    assert "compare.runs" not in same_run and same_run["compare.drift"].branch == "moved"
    unrecorded = {n.rule for n in changes.run(findings(tmp_path, "x"), b, DRIFT)}
    assert "compare.runs" not in unrecorded


def test_history_separation_names_the_distance_of_its_ratio_and_silhouette():
    rows = [{**row("e1", 0.9, 0.3), "metric": "mse"}, {**row("e2", 0.95, 0.5), "metric": "mse"}]
    (note,) = [n for n in changes.history_notes({"rows": rows}) if n.rule == "history.separation"]
    assert note.text == ("Class separation: the silhouette is highest at the last checkpoint (0.50, from 0.30, on "
                         "squared Euclidean distance; inter/intra ratio of the mean MSE, a squared distance, 1.3× → "
                         "1.5×).")


def row(name, accuracy, silhouette, n=1000):
    from scipy.stats import binomtest

    wilson = binomtest(round(accuracy * n), n).proportion_ci(method="wilson")
    return {"checkpoint": name, "accuracy": accuracy, "silhouette": silhouette, "ratio": 1 + silhouette,
            "accuracy_ci": [wilson.low, wilson.high]}


@pytest.mark.parametrize("rows, expected", [
    ([row("e1", 0.9, 0.3), row("e2", 0.95, 0.5)], {"history.accuracy": "rises", "history.separation": "best-last"}),
    ([row("e1", 0.95, 0.3), row("e2", 0.9, 0.5)], {"history.accuracy": "falls", "history.separation": "best-last"}),
    ([row("e1", 0.9, 0.3), row("e2", 0.95, 0.6), row("e3", 0.9, 0.4)],
     {"history.accuracy": "not-established", "history.separation": "best-earlier"}),
    # 30 images: 90% against 95% is within the intervals, so no rise is claimed
    ([row("e1", 0.9, 0.3, n=30), row("e2", 28 / 30, 0.5, n=30)],
     {"history.accuracy": "not-established", "history.separation": "best-last"}),
    ([{**row("e1", 0.5, 0.3), "accuracy_ci": None}, row("e2", 0.9, 0.5)],
     {"history.accuracy": "no-intervals", "history.separation": "best-last"}),
])
def test_history_rules(rows, expected):
    notes = changes.history_notes({"rows": rows})
    assert {n.rule: n.branch for n in notes} == expected
    assert changes.history_notes({"rows": rows[:1]}) == []

"""Both sides of the compare and history rules, on synthetic stores (no torch)."""

import copy

import pytest
from synthetic import documents, embeddings_doc, separation_doc, write_store

from report.render.interpret import changes
from report.render.load import load_findings


def findings(tmp_path, name, accuracy=0.9, vectors=None, silhouette=0.6, ratio=None):
    docs = copy.deepcopy(documents())
    docs["evaluation.json"]["accuracy"] = accuracy
    docs["evaluation.json"]["correct"] = round(accuracy * 30)
    if vectors:
        docs["embeddings.json"] = embeddings_doc(vectors=vectors)
    docs["separation.json"] = separation_doc(silhouettes=(0.1, 0.2, silhouette))
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
    ({"silhouette": 0.3}, "compare.whole_split", "worse", "silhouette went from 0.60 to 0.30"),
    ({}, "compare.whole_split", "same", "stayed about the same (within 5%)"),
    ({"silhouette": 0.61}, "compare.whole_split", "same", "the silhouette went from 0.60 to 0.61"),
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

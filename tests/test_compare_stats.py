"""Compare and history that do not overclaim (issue 30, item 6): McNemar's test on the per-image results of the two
checkpoints, each accuracy with its Wilson interval, the refusal to pair different test splits, the scale raw
distances are on, the caveat of the sample figures, and histories that keep separate training runs apart."""

import copy
import json
import math
from pathlib import Path

import pytest
from scipy.stats import binomtest
from synthetic import TEST_LABELS, TEST_PREDICTED, documents, evaluation_doc, write_store

from analysis.compare import SideResults, mcnemar, paired_comparison
from analysis.store.schema import EmbeddingScale, to_json
from report.commands import side_results
from report.render.interpret import changes
from report.render.load import load_findings
from report.render.views import compare_view

# B against the synthetic store's A (27 of 30 right: wrong on images 19, 28 and 29): B misreads the ten 0s that
# A gets right (b = 10) and gets right two of A's three errors (c = 2).
B_PREDICTED = [1] * 10 + TEST_LABELS[10:29] + [1]


def _store(stores: Path, key: str, predicted=TEST_PREDICTED, data: dict | None = None, accuracy=None,
           training: dict | None = None, position: dict | None = None) -> Path:
    docs = copy.deepcopy(documents())
    if accuracy is not None:  # the first images read as the next class: the stored quality agrees with it
        wrong = round((1 - accuracy) * len(TEST_LABELS))
        predicted = [(label + 1) % 3 for label in TEST_LABELS[:wrong]] + TEST_LABELS[wrong:]
    docs["evaluation.json"] = evaluation_doc(predicted=predicted)
    docs["evaluation.json"]["training"] = training
    docs["evaluation.json"]["position"] = position
    store = write_store(stores, docs, key=key)
    if data is not None:  # another test split: its identity is what the manifest records
        manifest = json.loads((store / "manifest.json").read_text())
        manifest["inputs"]["data"] = data
        (store / "manifest.json").write_text(json.dumps(manifest))
    return store


def _doc(a: SideResults, b: SideResults, scale: EmbeddingScale | None = None) -> dict:
    """compare.json as analysis.compare writes it, without the parameter drift (other tests cover it)."""
    return {"a": {"file": "a.pt", "sha256": "12" * 32, "store": "a"}, "b": {"file": "b.pt", "sha256": "34" * 32,
                                                                           "store": "b"},
            "drift": [], "unmatched": [], "images": {"drift": "images/drift.png"},
            "paired": to_json(paired_comparison(a, b)), "scale": to_json(scale) if scale else None}


def _note(notes, rule):
    (note,) = [n for n in notes if n.rule == rule]
    return note


def _sides(b: int, c: int, both_right: int = 20, both_wrong: int = 1) -> tuple[SideResults, SideResults]:
    """Two sides over one split of class-0 images with these McNemar counts (1 is a wrong answer)."""
    a = [0] * both_right + [0] * b + [1] * c + [1] * both_wrong
    other = [0] * both_right + [1] * b + [0] * c + [1] * both_wrong
    n = len(a)
    split = {"kind": "synthetic", "files": {"test.npz": "ab" * 32}}
    return (SideResults(split=split, correct=a.count(0), n=n, labels=[0] * n, predicted=a),
            SideResults(split=split, correct=other.count(0), n=n, labels=[0] * n, predicted=other))


# --- McNemar's test ------------------------------------------------------------------------------------------

def test_mcnemar_is_recomputed_from_the_stored_per_image_results(tmp_path):
    """The caller reads each store's predictions and labels through the reader; the stored test is scipy's
    exact binomial test on the discordant images of those lists (here the hand case b = 10, c = 2)."""
    store_a, store_b = _store(tmp_path, "a"), _store(tmp_path, "b", predicted=B_PREDICTED)
    a, b = side_results(store_a), side_results(store_b)
    paired = paired_comparison(a, b)
    right = [[p == y for p, y in zip(f.evaluation.predicted, f.evaluation.labels)]
             for f in (load_findings(store_a), load_findings(store_b))]
    b_count = sum(x and not y for x, y in zip(*right))
    c_count = sum(y and not x for x, y in zip(*right))
    assert (b_count, c_count) == (10, 2)
    test = paired.mcnemar
    assert (test.a_only, test.b_only, test.n) == (b_count, c_count, 30)
    assert test.p_value == pytest.approx(binomtest(b_count, b_count + c_count, 0.5).pvalue)
    assert test.p_value == pytest.approx(0.03857421875)
    low, high = binomtest(27, 30).proportion_ci(method="wilson")
    assert (paired.a.ci_low, paired.a.ci_high) == pytest.approx((low, high))
    note = _note(changes.run(load_findings(store_a), load_findings(store_b), _doc(a, b)), "compare.paired")
    assert note.branch == "a-better" and note.text.startswith(
        "A is better than B on this test split: McNemar's exact test on the 30 paired test images gives p = 0.039")
    assert "b = 10 images only A classifies correctly, c = 2 only B does" in note.text
    swapped = _note(changes.run(load_findings(store_b), load_findings(store_a), _doc(b, a)), "compare.paired")
    assert swapped.branch == "b-better" and swapped.text.startswith("B is better than A")


def test_a_difference_that_is_not_significant_is_said_so(tmp_path):
    a, b = _sides(b=3, c=6)
    assert mcnemar([p == 0 for p in a.predicted], [p == 0 for p in b.predicted]).p_value == pytest.approx(
        binomtest(3, 9, 0.5).pvalue)
    findings = load_findings(_store(tmp_path, "a"))
    notes = changes.run(findings, findings, _doc(a, b))
    note = _note(notes, "compare.paired")
    assert note.branch == "not-significant"
    assert note.text.startswith("The difference is not significant (McNemar exact p = 0.51, b = 3, c = 6")
    assert not any("is better" in n.text for n in notes)
    same = _note(changes.run(findings, findings, _doc(*_sides(b=0, c=0))), "compare.paired")
    assert same.branch == "no-discordant" and "p = 1" in same.text


def test_accuracy_sentences_and_the_table_carry_wilson_intervals(tmp_path):
    a, b = side_results(_store(tmp_path, "a")), side_results(_store(tmp_path, "b", predicted=B_PREDICTED))
    findings_a, findings_b = load_findings(tmp_path / "a"), load_findings(tmp_path / "b")
    doc = _doc(a, b)
    note = _note(changes.run(findings_a, findings_b, doc), "compare.accuracy")
    assert "(95% Wilson intervals 74.4–96.5% for A and 45.5–78.1% for B)" in note.text, note.text
    view = compare_view(findings_a, findings_b, doc, [], "stores/a", "stores/b", "compares/k")
    assert view.summary[0].a == "90.0% (95% CI 74.4–96.5%)"
    assert (view.paired.a_only, view.paired.b_only, view.paired.p_value) == ("10", "2", "0.039")


def test_different_test_splits_are_not_paired(tmp_path):
    store_a = _store(tmp_path, "a")
    store_b = _store(tmp_path, "b", predicted=B_PREDICTED, data={"kind": "npz", "files": {"other.npz": "cd" * 32}})
    paired = paired_comparison(side_results(store_a), side_results(store_b))
    assert paired.mcnemar is None and paired.refused.startswith("A and B were analysed on different test splits")
    doc = _doc(side_results(store_a), side_results(store_b))
    notes = changes.run(load_findings(store_a), load_findings(store_b), doc)
    note = _note(notes, "compare.paired")
    assert note.branch == "refused" and note.text.startswith(
        "No paired test of A against B: A and B were analysed on different test splits")
    assert not any("is better" in n.text or "not significant" in n.text for n in notes)
    view = compare_view(load_findings(store_a), load_findings(store_b), doc, [], "a", "b", "k")
    assert view.paired is None and view.paired_refused.startswith("No paired test: A and B were analysed")
    a, b = _sides(b=1, c=1)
    relabelled = SideResults(b.split, b.correct, b.n, [1] + b.labels[1:], b.predicted)
    assert "different labels" in paired_comparison(a, relabelled).refused
    unrecorded = SideResults(b.split, b.correct, b.n, [], [])
    assert "holds no per-image results" in paired_comparison(a, unrecorded).refused


# --- sample figures and scales -------------------------------------------------------------------------------

def test_the_scale_sentence_both_ways(tmp_path):
    findings = load_findings(_store(tmp_path, "a"))
    a, b = _sides(b=1, c=1)
    differ = _note(changes.run(findings, findings, _doc(a, b, EmbeddingScale(3.99, 10.15, 4, 4))), "compare.scale")
    assert differ.branch == "differ" and differ.text.startswith(
        "Raw distances are not comparable across checkpoints: the embedding values are on another scale in B "
        "(root mean square of the sample embeddings' values 3.990 in A and 10.15 in B, B/A 2.5×)")
    same = _note(changes.run(findings, findings, _doc(a, b, EmbeddingScale(3.99, 4.05, 4, 4))), "compare.scale")
    assert same.branch == "same" and "about the same scale" in same.text
    assert "not comparable" not in same.text
    unknown = _note(changes.run(findings, findings, _doc(a, b)), "compare.scale")
    assert unknown.branch == "unknown" and "not comparable across checkpoints" in unknown.text
    view = compare_view(findings, findings, _doc(a, b, EmbeddingScale(3.99, 10.15, 4, 4)), [], "a", "b", "k")
    (scale_row,) = [r for r in view.summary if r.quantity.startswith("Embedding scale")]
    assert (scale_row.difference, scale_row.ratio) == ("", "2.5×")  # a quotient, in the column named B / A
    assert "not comparable across checkpoints" in view.scale_note
    # each class's spread on a scale-free footing: its intra-class mean over the mean inter-class distance
    assert [r.relative_a for r in view.intra.rows] == ["0.240", "0.400", "0.520"]


def test_the_summary_table_names_the_distance_of_each_ratio_and_silhouette(tmp_path):
    """A row "Silhouette (scale-free)" on squared Euclidean distance beside a single report that headlines the
    Euclidean one: each row says its distance, and the Euclidean figures stand beside the squared ones."""
    findings = load_findings(_store(tmp_path, "a"))
    view = compare_view(findings, findings, _doc(*_sides(b=1, c=1)), [], "a", "b", "k")
    quantities = [r.quantity for r in view.summary]
    assert quantities[-4:] == ["Inter / intra ratio of the mean Euclidean distance, all classes (scale-free)",
                               "Inter / intra ratio of the mean MSE, a squared distance, all classes (scale-free)",
                               "Silhouette on Euclidean distance (scale-free)",
                               "Silhouette on squared Euclidean distance (scale-free)"]
    assert view.summary[-4].a == "1.6×"


def test_the_history_table_says_its_distance_and_that_raw_distances_do_not_compare():
    from report.render.views.pages import history_view

    rows = [{"checkpoint": f"e{i}.pt", "store": "s", "sha256": None, "position": {"epoch": i}, "accuracy": 0.9,
             "two_sample": {}, "class_names": ["a", "b"], "metric": "mse", "intra_mean": 1.0, "inter_mean": 2.0,
             "ratio": 2.0, "silhouette": 0.5, "nearest_centroid_accuracy": 0.9, "class_intra": {}}
            for i in (1, 2)]
    doc = {"order": "step", "rows": rows, "images": {k: f"{k}.png" for k in ("accuracy", "distances", "separation")}}
    view = history_view(doc, [], "series")
    assert (view.distance, view.silhouette_on) == ("MSE, a squared distance", "squared Euclidean distance")


def test_sample_figures_keep_their_caveat(tmp_path):
    findings = load_findings(_store(tmp_path, "a"))
    note = _note(changes.run(findings, findings, _doc(*_sides(b=1, c=1))), "compare.two_sample")
    assert note.text.endswith("; from 2 images per class, not a reliable measure."), note.text
    assert "a squared distance" in note.text
    view = compare_view(findings, findings, _doc(*_sides(b=1, c=1)), [], "a", "b", "k")
    assert view.sample_caveat.startswith("The sample figures come from 2 images per class: not a reliable measure")


# --- history ---------------------------------------------------------------------------------------------------

def _training(epochs: int) -> dict:
    return {"config": {"epochs": epochs, "batch_size": 64, "learning_rate": 0.002, "seed": 0, "threads": 2},
            "seconds": 1.0, "history": [], "test_accuracy": None, "n_train": 100, "n_test": 30}


def test_history_keeps_separate_runs_apart_and_orders_each_by_epoch(tmp_path):
    """A 10-epoch run saved at epochs 3, 7 and 10, and a separate 1-epoch run whose file name sorts last: the
    1-epoch checkpoint is not placed as "epoch 1" before the 10-epoch run's epochs, nor joined to them."""
    from analysis.history import run_breaks
    from report.commands import publish_history
    from report.render.history import rows

    ten, one = _training(10), _training(1)
    series = [(name, _store(tmp_path / "stores", name, accuracy=accuracy, training=training,
                            position={"epoch": epoch}))
              for name, accuracy, training, epoch in (("b-e10.pt", 29 / 30, ten, 10), ("c-e3.pt", 0.8, ten, 3),
                                                      ("d-e7.pt", 0.9, ten, 7), ("z-e1.pt", 0.5, one, 1))]
    made = publish_history(tmp_path / "out", series, "step", ("html",))
    doc = json.loads((made["series"] / "history.json").read_text())
    assert [r["checkpoint"] for r in doc["rows"]] == ["c-e3.pt", "d-e7.pt", "b-e10.pt", "z-e1.pt"]
    assert [r["position"]["epoch"] for r in doc["rows"]] == [3, 7, 10, 1]
    runs = [r["run"] for r in doc["rows"]]
    assert runs[0] == runs[1] == runs[2] != runs[3]
    assert runs[3]["description"] == "1 epoch, seed 0, batch 64, learning rate 0.002"
    assert run_breaks(rows([series[0], series[3], series[1]])) == (1, 2)
    assert run_breaks(rows(series[:3])) == ()
    notes = json.loads((tmp_path / "out" / "history-notes.json").read_text())["notes"]
    (separate,) = [n for n in notes if n["rule"] == "history.runs"]
    assert separate["text"].startswith("These checkpoints come from 2 separate training runs (run 1 (10 epochs, "
                                       "seed 0, batch 64, learning rate 0.002): c-e3.pt, d-e7.pt and b-e10.pt; "
                                       "run 2 (1 epoch, seed 0, batch 64, learning rate 0.002): z-e1.pt)")
    (trend,) = [n for n in notes if n["rule"] == "history.accuracy"]
    from scipy.stats import binomtest

    from report.render import fmt

    first, last = (binomtest(k, 30).proportion_ci(method="wilson") for k in (24, 29))
    assert trend["branch"] == "not-established"  # 24 of 30 against 29 of 30: the Wilson intervals overlap
    assert trend["text"] == ("In run 1 (10 epochs, seed 0, batch 64, learning rate 0.002), test accuracy goes "
                             f"from 80.0% (c-e3.pt; 95% CI {fmt.percent_range(first.low, first.high)}) to 96.7% "
                             f"(b-e10.pt; 95% CI {fmt.percent_range(last.low, last.high)}) within the run; the "
                             "intervals overlap, so no rise or fall is established.")
    import csv

    with open(tmp_path / "out" / "history.csv", newline="") as handle:  # the CSV keeps the runs apart too
        runs_in_csv = {row["checkpoint"]: row["run"] for row in csv.DictReader(handle)}
    assert runs_in_csv == {r["checkpoint"]: r["run"]["id"] for r in doc["rows"]}
    assert len(set(runs_in_csv.values())) == 2
    html = (tmp_path / "out" / "history.html").read_text()
    assert "<th>Run</th>" in html and '<td>z-e1.pt</td><td class="t">run 2</td>' in html


def test_a_run_break_leaves_a_gap_in_the_plotted_lines():
    from analysis.figures.plots import series_figure

    figure = series_figure(["a", "b", "c"], {"test accuracy": [0.5, 0.8, 0.9]}, "t", "share", breaks=(1,))
    (line,) = figure.axes[0].get_lines()[1:]  # after the dashed rule
    xs, ys = line.get_data()
    assert list(xs) == [0, 0.5, 1, 2] and math.isnan(ys[1])


@pytest.mark.slow  # analyses two checkpoints
def test_compare_stores_mcnemar_of_the_analysed_stores(tmp_path):
    """End to end: the paired test compare.json holds is scipy's, recomputed from the two stores' own
    per-image predictions and labels."""
    import torch

    from analysis.models.assignment import AssignmentCNN
    from report import api

    checkpoints = []
    for seed in (1, 2):
        torch.manual_seed(seed)
        checkpoints.append(tmp_path / f"r{seed}.pt")
        torch.save(AssignmentCNN().state_dict(), checkpoints[-1])
    out = tmp_path / "out"
    api.compare(*checkpoints, out=out, formats="html", sections="assignment")
    (compare_dir,) = (out / "compares").iterdir()
    stored = json.loads((compare_dir / "compare.json").read_text())
    right = []
    for side in ("a", "b"):
        evaluation = load_findings(out / "stores" / stored[side]["store"]).evaluation
        assert len(evaluation.labels) == len(evaluation.predicted) == evaluation.n_test > 0
        right.append([p == y for p, y in zip(evaluation.predicted, evaluation.labels)])
    b_count = sum(x and not y for x, y in zip(*right))
    c_count = sum(y and not x for x, y in zip(*right))
    test = stored["paired"]["mcnemar"]
    assert (test["a_only"], test["b_only"]) == (b_count, c_count)
    assert test["p_value"] == pytest.approx(binomtest(b_count, b_count + c_count, 0.5).pvalue, rel=1e-6)
    notes = {n["rule"]: n for n in json.loads((out / "compare-notes.json").read_text())["notes"]}
    assert f"b = {b_count}" in notes["compare.paired"]["text"] and f"c = {c_count}" in notes["compare.paired"]["text"]
    assert stored["scale"]["a"] > 0 and notes["compare.scale"]["branch"] in ("same", "differ")
    # two checkpoints of one architecture still give parameter drift and kernel grids (tests/test_compare_models.py
    # compares two architectures, which give neither)
    assert [row["name"] for row in stored["drift"]][:2] == ["conv1.bias", "conv1.weight"]
    assert stored["images"] == {"drift": "images/drift.png"} and stored["kernels"]["layer"] == "conv1"
    html = (out / "compare.html").read_text()
    assert "<h1>AssignmentCNN: A against B</h1>" in html
    assert 'id="drift"' in html and 'id="kernels"' in html and "images/kernels_a.png" in html
    assert "no parameter drift" not in html
    assert '<span class="num">4</span> Distance tables' in html

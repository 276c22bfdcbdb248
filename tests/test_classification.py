"""Issue 30, items 1 and 2: classification quality with its uncertainty, and regimes decided on it.

Every stored statistic is recomputed here independently, from the raw arrays, with scikit-learn, scipy and
torchmetrics (not through analysis.stats.classification's helpers), on the issue's cases: 3 classes at 300/30/10
test images with the 10-image class never predicted; the same predictions with their labels permuted; 100 classes
of 5 images with the predictions collapsed onto one class; 12 images all right. Then the rules on stores built from
those cases (tests/synthetic.py), the figures, and one real analysis."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment
from scipy.stats import binomtest
from sklearn.metrics import balanced_accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support
from synthetic import documents, evaluation_doc, write_store

from analysis.stats import classification
from analysis.stats.classification import classification_quality
from report.render.alerts import alerts
from report.render.sections import run_rules
from report.render.interpret.regime import REGIMES, SMALL_CLASS, caveat, regime
from report.render.load import load_findings

COLOURS = ("red", "green", "blue")


def wilson(k, n):
    ci = binomtest(int(k), int(n)).proportion_ci(confidence_level=0.95, method="wilson")
    return ci.low, ci.high


def imbalanced():
    """The issue's colours: red 283 of 300 right (17 read as green), green 29 of 30 (1 as red), blue 0 of 10
    (all read as red): blue is never predicted. 91.8% right where always answering red gives 88.2%."""
    labels = np.array([0] * 300 + [1] * 30 + [2] * 10)
    predicted = np.array([1] * 17 + [0] * 283 + [0] + [1] * 29 + [0] * 10)
    confidence = np.random.default_rng(1).uniform(0.4, 0.99, len(labels))
    return labels, predicted, confidence


PERMUTATION = np.array([2, 0, 1])   # the checkpoint's class i is the data's class PERMUTATION[i]


def permuted():
    labels, predicted, confidence = imbalanced()
    return labels, PERMUTATION[predicted], confidence


def collapsed():
    """100 classes of 5 images, random weights: class 42 predicted for two images in three."""
    rng = np.random.default_rng(7)
    labels = np.repeat(np.arange(100), 5)
    predicted = np.where(rng.random(500) < 2 / 3, 42, rng.integers(0, 100, 500))
    return labels, predicted, rng.uniform(0.011, 0.02, 500)


def all_right():
    labels = np.array([0] * 6 + [1] * 6)
    return labels, labels.copy(), np.full(12, 0.97)


# --- the statistics, recomputed ------------------------------------------------------------------------------

@pytest.mark.parametrize("case, classes", [(imbalanced, 3), (permuted, 3), (collapsed, 100), (all_right, 2)])
def test_every_statistic_is_scikit_learns_and_scipys(case, classes):
    labels, predicted, confidence = case()
    q = classification_quality(labels, predicted, confidence, classes)
    precision, recall, f1, support = precision_recall_fscore_support(labels, predicted, labels=range(classes),
                                                                     zero_division=0)
    for c, row in enumerate(q.classes):
        assert (row.cls, row.support, row.predicted) == (c, support[c], (predicted == c).sum())
        assert (row.precision, row.recall, row.f1) == pytest.approx((precision[c], recall[c], f1[c]))
        assert row.correct == ((labels == c) & (predicted == c)).sum()
        assert (row.recall_low, row.recall_high) == (pytest.approx(wilson(row.correct, support[c]))
                                                     if support[c] else (None, None))
    right = predicted == labels
    assert (q.accuracy.value, q.accuracy.low, q.accuracy.high) == pytest.approx((right.mean(),
                                                                                 *wilson(right.sum(), len(labels))))
    assert q.balanced_accuracy.value == pytest.approx(balanced_accuracy_score(labels, predicted))
    assert q.macro_f1 == pytest.approx(f1_score(labels, predicted, average="macro", zero_division=0))
    assert (q.test_classes, q.chance) == (len(np.unique(labels)), pytest.approx(1 / len(np.unique(labels))))
    assert q.predictions.counts == np.bincount(predicted, minlength=classes).tolist()


def test_the_balanced_accuracy_interval_joins_the_normal_approximation_and_the_posterior():
    """Recomputed: unequal classes give the union of the normal approximation of the mean recall (± z·√(Σ var_c)/K,
    var_c from each Wilson interval's width) and the central 95% of the mean of K Beta(k + 1, n − k + 1) recalls
    (Brodersen et al. 2010; here by scipy's own Beta sampler, another seed, ten times the draws); on a large split
    without perfect or empty classes both agree with a bootstrap stratified by class. Equal classes: the
    balanced accuracy is the accuracy, and its interval the accuracy's Wilson interval."""
    from scipy.stats import beta

    rng = np.random.default_rng(3)
    labels = np.repeat(np.arange(4), [400, 300, 200, 100])
    predicted = np.where(rng.random(1000) < np.array([0.9, 0.7, 0.6, 0.5])[labels], labels, (labels + 1) % 4)
    q = classification_quality(labels, predicted, np.full(1000, 0.8), 4)
    hits = np.array([((labels == c) & (predicted == c)).sum() for c in range(4)])
    support = np.bincount(labels)
    draws = np.mean([beta(k + 1, n - k + 1).rvs(200_000, random_state=np.random.default_rng(99 + c))
                     for c, (k, n) in enumerate(zip(hits, support))], axis=0)
    posterior = np.percentile(draws, [2.5, 97.5])
    widths = [np.subtract(*wilson(k, n))[()] / (2 * 1.959964) for k, n in zip(hits, support)]
    half = 1.959964 * np.sqrt(np.sum(np.square(widths))) / 4
    value = balanced_accuracy_score(labels, predicted)
    assert q.balanced_accuracy.value == pytest.approx(value)
    assert (q.balanced_accuracy.low, q.balanced_accuracy.high) == pytest.approx(
        (min(value - half, posterior[0]), max(value + half, posterior[1])), abs=0.003)
    equal = np.repeat(np.arange(4), 250)
    same = classification_quality(equal, predicted, np.full(1000, 0.8), 4)
    assert (same.balanced_accuracy.low, same.balanced_accuracy.high) == (same.accuracy.low, same.accuracy.high)
    boot = []
    for _ in range(2000):
        take = np.concatenate([rng.choice(np.flatnonzero(labels == c), (labels == c).sum()) for c in range(4)])
        boot.append(balanced_accuracy_score(labels[take], predicted[take]))
    assert np.percentile(boot, [2.5, 97.5]) == pytest.approx([q.balanced_accuracy.low, q.balanced_accuracy.high],
                                                             abs=0.01)


def test_a_collapse_or_a_perfect_score_still_has_an_interval_of_some_width():
    """Classes at recall 0 or 1 would give a bootstrap, or a Wald interval, of zero width."""
    q = classification_quality(*collapsed(), 100)
    assert q.balanced_accuracy.low <= q.chance <= q.balanced_accuracy.high
    assert q.balanced_accuracy.high - q.balanced_accuracy.low > 0.02
    perfect = classification_quality(*all_right(), 2)
    assert perfect.balanced_accuracy.low < 0.9 and perfect.balanced_accuracy.high == 1.0


def test_twelve_of_twelve_right_has_a_wilson_lower_bound_of_three_quarters():
    """scipy's Wilson interval of 12 of 12: 75.8% (the issue's 73.5% is the Clopper-Pearson bound,
    0.025^(1/12))."""
    q = classification_quality(*all_right(), 2)
    assert (q.accuracy.low, q.accuracy.high) == pytest.approx((0.7575, 1.0), abs=1e-4)
    assert 0.025 ** (1 / 12) == pytest.approx(0.7354, abs=1e-4) and q.accuracy.low > 0.7354


def test_a_class_never_predicted_and_no_collapse_on_imbalanced_data():
    q = classification_quality(*imbalanced(), 3)
    assert [(c.support, c.predicted) for c in q.classes] == [(300, 294), (30, 46), (10, 0)]
    assert (q.classes[2].recall_low, q.classes[2].recall_high) == pytest.approx(wilson(0, 10))
    # red takes 86.5% of the predictions but is 88.2% of the labels: not a collapse
    assert (q.predictions.most, q.predictions.collapsed) == (0, False)


def test_collapse_is_decided_on_the_wilson_lower_bound_halfway_to_every_prediction():
    labels, predicted, confidence = collapsed()
    q = classification_quality(labels, predicted, confidence, 100)
    counts = np.bincount(predicted, minlength=100)
    low, high = wilson(counts[42], 500)
    assert (q.predictions.most, q.predictions.most_true_share) == (42, 0.01)
    assert (q.predictions.most_share.low, q.predictions.most_share.high) == pytest.approx((low, high))
    assert q.predictions.collapsed and low > (0.01 + 1) / 2
    # the same share on a class that holds 40% of the labels is no collapse (lower bound under 70%)
    labels[:200] = 42
    assert not classification_quality(labels, predicted, confidence, 100).predictions.collapsed
    # two balanced classes, 74 of 80 predictions on one (random weights, zoo resnet-60): a collapse (the former
    # criterion, twice the true share, could never fire with two classes)
    two = np.repeat([0, 1], 40)
    onto_zero = np.array([0] * 40 + [0] * 34 + [1] * 6)
    assert wilson(74, 80)[0] > 0.75
    assert classification_quality(two, onto_zero, np.full(80, 0.9), 2).predictions.collapsed
    assert not classification_quality(two, np.array([0] * 40 + [0] * 20 + [1] * 20), np.full(80, 0.9),
                                      2).predictions.collapsed


def test_the_best_relabelling_recovers_the_permutation():
    labels, predicted, confidence = permuted()
    q = classification_quality(labels, predicted, confidence, 3)
    matrix = confusion_matrix(labels, predicted, labels=range(3))
    rows, columns = linear_sum_assignment(-matrix)
    assert sorted(map(tuple, q.relabelling.moves)) == [(t, int(PERMUTATION[t])) for t in range(3)]
    assert [int(PERMUTATION[t]) for t in range(3)] == columns.tolist()
    best = matrix[rows, columns].sum()
    assert (q.relabelling.accuracy.value, q.relabelling.accuracy.low, q.relabelling.accuracy.high) == pytest.approx(
        (best / len(labels), *wilson(best, len(labels))))
    original = classification_quality(*imbalanced(), 3)
    assert q.relabelling.balanced_accuracy == original.balanced_accuracy  # the network's own quality, relabelled
    assert original.relabelling.moves == []


def test_calibration_agrees_with_torchmetrics_and_numpy():
    torch = pytest.importorskip("torch")
    from torchmetrics.classification import MulticlassCalibrationError

    rng = np.random.default_rng(5)
    logits = torch.from_numpy(rng.normal(0, 2, (400, 5)))
    labels = torch.from_numpy(rng.integers(0, 5, 400))
    probabilities = torch.softmax(logits, 1)
    confidence, predicted = probabilities.max(1)
    q = classification_quality(labels.numpy(), predicted.numpy(), confidence.numpy(), 5)
    expected = MulticlassCalibrationError(num_classes=5, n_bins=15, norm="l1")(probabilities.float(), labels)
    c = q.calibration
    assert c.ece.value == pytest.approx(float(expected), abs=1e-5)
    assert c.ece.low <= c.ece.value <= c.ece.high and c.gap.low <= c.gap.value <= c.gap.high
    conf, right = confidence.numpy(), (predicted == labels).numpy()
    which = np.minimum((conf * 15).astype(int), 14)
    assert [b.count for b in c.bins] == np.bincount(which, minlength=15).tolist()
    assert [b.correct for b in c.bins] == np.bincount(which, weights=right, minlength=15).astype(int).tolist()
    assert c.gap.value == pytest.approx(conf.mean() - right.mean())
    again = classification_quality(labels.numpy(), predicted.numpy(), confidence.numpy(), 5).calibration
    assert again == c  # seeded bootstrap: the same inputs, the same store bytes


def test_non_finite_scores_are_left_out_of_calibration_and_outputs_beyond_the_classes_are_counted():
    labels, predicted, confidence = imbalanced()
    confidence[:5] = np.nan
    predicted[5] = 7   # an output that names no class of the data
    q = classification_quality(labels, predicted, confidence, 3)
    assert q.calibration.images == len(labels) - 5 and q.predictions.outside == 1
    assert sum(q.predictions.counts) == len(labels) - 1
    assert classification_quality(labels, predicted, np.full(len(labels), np.nan), 3).calibration is None


# --- the rules -----------------------------------------------------------------------------------------------

def findings(tmp_path, case, names=COLOURS, weights="checkpoint"):
    labels, predicted, confidence = case()
    docs = copy.deepcopy(documents())
    docs["evaluation.json"] = evaluation_doc(labels, predicted, confidence, class_names=names)
    docs["model.json"]["model"]["weights"] = weights
    for name in ("activations.json", "embeddings.json", "separation.json"):
        docs.pop(name)  # the synthetic 3-class whole split would not match these images
    return load_findings(write_store(tmp_path / "stores", docs))


def notes_by_rule(f):
    return {n.rule: n for n in run_rules(f)}


def test_imbalanced_data_that_learned_are_not_called_chance_and_the_unpredicted_class_is_said(tmp_path):
    """Issue 30, found 1: 91.8% against a majority of 88.2% was called 'no better than always answering the most
    frequent class' and 'at chance'; blue, 0 of 10 and never predicted, was said by no sentence."""
    f = findings(tmp_path, imbalanced)
    notes = notes_by_rule(f)
    overall = notes["accuracy.overall"]
    assert (overall.branch, regime(f), caveat(f)) == ("learned", "learned", "")
    assert overall.text.startswith("The network classifies 91.8% (95% CI 88.4–94.2%) of the 340 test images "
                                   "correctly (28 errors); its balanced accuracy, the mean recall over the 3 classes "
                                   "of the test split, is 63.7% (95% CI ")
    assert "above chance (1/3 = 33.3%)" in overall.text
    assert ("always answering the largest, red, would score 88.2% in accuracy but only 33.3% in balanced accuracy"
            in overall.text)
    assert notes["accuracy.predictions"].branch == "never-predicted"
    assert notes["accuracy.predictions"].text.startswith("Class blue is never predicted")
    classes = notes["accuracy.classes"]
    assert classes.branch == "none-established" and classes.evidence["small"] == [2]
    assert "Class blue (10 test images) is too small to compare (fewer than 20)." in classes.text
    assert not [a for a in alerts(f) if a.level == "error"]


def test_permuted_labels_are_named_with_the_mapping(tmp_path):
    """Issue 30, found 2: the same checkpoint with its labels in another order was 'within 5 points of always
    answering the most frequent class' and 'untrained'."""
    f = findings(tmp_path, permuted)
    note = notes_by_rule(f)["accuracy.overall"]
    assert (note.branch, regime(f)) == ("permuted", "permuted")
    assert ("The network predicts class blue for class red (283 of its 300 images) and class red for class green "
            "(29 of its 30 images).") in note.text
    assert "Relabelling its predictions one-to-one would make 91.8% (95% CI 88.4–94.2%) of them right" in note.text
    assert "untrained" not in note.text and "most frequent" not in note.text
    assert [(a.level, a.id) for a in alerts(f)] == [("error", "accuracy.permuted")]
    assert "labels look permuted" in caveat(f)


def test_a_relabelling_pair_that_no_image_shows_is_not_said_to_be_predicted(tmp_path):
    """The one-to-one assignment pairs every class with some predicted class: blue's 10 images are all read as
    blue, yet the relabelling pairs blue with green, and "predicts blue as green" was said of a class never
    predicted as green."""
    note = notes_by_rule(findings(tmp_path, permuted))["accuracy.overall"]
    assert "class green for class blue" not in note.text
    assert ("No image of class blue is predicted as class green, the class the relabelling leaves for it: that pair "
            "only completes the one-to-one assignment.") in note.text


def test_where_the_labels_look_permuted_the_prediction_shares_are_judged_under_the_relabelling(tmp_path):
    """Blue, 2.9% of the labels, predicted for 86% of the images was called a collapse beside the sentence that
    the labels look permuted: under the relabelling blue stands for red, 88.2% of the labels."""
    f = findings(tmp_path, permuted)
    note = notes_by_rule(f)["accuracy.predictions"]
    assert f.evaluation.quality.predictions.collapsed  # as stored, against blue's own share
    assert note.branch == "follows-relabelling" and "collapse onto" not in note.text
    assert ("not a collapse but the relabelling above, under which blue stands for red, 88.2% of the test labels; "
            "1 of the 3 classes of the test split (green) is never predicted.") in note.text


def test_calibration_is_not_judged_where_the_accuracy_itself_is_that_uncertain(tmp_path):
    """12 of 12 right at 97% confidence: every bootstrap resample has accuracy 1 and a gap of exactly −3 points,
    so the bootstrap alone called it underconfident; the accuracy's Wilson interval (75.8–100%) contains 97%."""
    note = notes_by_rule(findings(tmp_path, all_right, ("a", "b")))["accuracy.calibration"]
    assert note.branch == "neither", note.text
    assert ("The mean confidence, 97.0%, falls short of the accuracy by 3.0 points, but the accuracy's own 95% "
            "interval (75.8–100.0%) contains the mean confidence") in note.text
    under = notes_by_rule(findings(tmp_path / "imbalanced", imbalanced))["accuracy.calibration"]
    q = findings(tmp_path / "again", imbalanced).evaluation.quality
    low, high = -q.calibration.gap.high * 100, -q.calibration.gap.low * 100  # said as a shortfall: positive
    assert under.branch == "underconfident" and 0 < low < high
    assert f"falls short of the accuracy by {-q.calibration.gap.value * 100:.1f} points (95% CI {low:.1f} to " \
           f"{high:.1f})" in under.text


def test_collapsed_predictions_of_random_weights_are_said_with_the_caveat(tmp_path):
    """Issue 30, found 7: 'plate' predicted for 333 of 500 images and no sentence said the predictions collapsed."""
    names = [f"class{i}" for i in range(100)]
    names[42] = "plate"
    f = findings(tmp_path, collapsed, names, weights="random (seed 0)")
    notes = notes_by_rule(f)
    assert regime(f) == "random-weights" and notes["accuracy.overall"].branch == "near-chance"
    spread = notes["accuracy.predictions"]
    assert spread.branch == "collapsed"
    assert spread.text.startswith("The predictions collapse onto one class, plate: it is predicted for")
    assert notes["accuracy.classes"].branch == "too-small"  # 5 images per class: no class compared
    assert "as expected of weights that are random (seed 0)" in notes["accuracy.overall"].text
    # the best relabelling of 100 classes of 5 finds much agreement by itself: no permutation is claimed
    q = f.evaluation.quality
    assert q.relabelling.balanced_accuracy.low > 2 / 100 and q.relabelling.shuffled_balanced_accuracy > 2 / 100
    assert caveat(f) == " With random weights this describes the initialisation, not anything learned."
    assert not [a for a in alerts(f) if a.level == "error"]  # random weights: a warning, not a broken checkpoint


def test_all_twelve_right_says_the_lower_bound_and_the_sample_size(tmp_path):
    """Issue 30, found 6: 'classifies all 12 test images correctly' without the interval."""
    note = notes_by_rule(findings(tmp_path, all_right, ("a", "b")))["accuracy.overall"]
    assert note.branch == "perfect"
    assert note.text.startswith("The network classifies all 12 test images correctly. With 12 images this "
                                "establishes an accuracy of at least 75.8% (95% Wilson interval 75.8–100.0%), not "
                                "100%")


def test_a_class_is_weakest_only_when_its_interval_clears_every_other(tmp_path):
    """Issue 30, found 6: 'the weakest classes are 3 and 5 (96.0% each)' when 1 and 6 were one image away."""
    def close():
        labels = np.repeat(np.arange(3), 100)
        predicted = labels.copy()
        predicted[[0, 1, 2, 3, 100, 101, 102, 103, 200, 201, 202]] = 1
        predicted[[100, 101, 102, 103]] = 0
        return labels, predicted, np.full(300, 0.9)
    note = notes_by_rule(findings(tmp_path, close))["accuracy.classes"]
    assert note.branch == "none-established" and "weakest" not in note.text
    assert all(c >= SMALL_CLASS for c in (100,))


def test_every_regime_has_its_caveat_and_learned_has_none(tmp_path):
    cases = {"learned": imbalanced, "permuted": permuted,
             "near-chance": lambda: (np.repeat(np.arange(3), 30), np.tile(np.arange(3), 30), np.full(90, 0.5)),
             "below-chance": lambda: (np.repeat(np.arange(3), 30), (np.repeat(np.arange(3), 30) + np.tile([1, 2], 45)) % 3,
                                      np.full(90, 0.5))}
    for expected, case in cases.items():
        f = findings(tmp_path / expected, case)
        assert regime(f) == expected
        assert (caveat(f) == "") == (expected == "learned")
    old = copy.deepcopy(documents())
    old["evaluation.json"] = evaluation_doc(quality=False)
    f = load_findings(write_store(tmp_path / "old", old))
    assert (regime(f), caveat(f), alerts(f)) == ("unknown", "", [])
    assert set(REGIMES) == {*cases, "random-weights", "unknown"}


# --- figures and the analysis ----------------------------------------------------------------------------------

def test_calibration_figures_are_deterministic_pngs():
    from analysis.figures import calibration as figures

    bins = classification_quality(*imbalanced(), 3).calibration.bins
    for draw in (figures.reliability, figures.confidence_histogram):
        first, second = draw(bins), draw(bins)
        assert first[:8] == b"\x89PNG\r\n\x1a\n" and first == second


def test_the_evaluation_stores_each_prediction_and_confidence(tmp_path):
    """What COMPARE needs for McNemar's test, and the figures, written by the analysis' own _evaluation."""
    torch = pytest.importorskip("torch")
    from types import SimpleNamespace

    from analysis.run import _evaluation
    from analysis.store.writer import StoreWriter

    labels, _, _ = imbalanced()
    logits = torch.from_numpy(np.random.default_rng(2).normal(0, 3, (len(labels), 3))).float()
    logits[3] = float("nan")
    splits = SimpleNamespace(test=SimpleNamespace(labels=labels), class_names=list(COLOURS))
    for run in ("a", "b"):
        writer = StoreWriter(tmp_path / run)
        writer.write_record("evaluation.json", _evaluation(logits, splits, {}, None, writer))
        writer.commit({"key": run})
    written = [(tmp_path / run / "evaluation.json").read_bytes() for run in ("a", "b")]
    assert written[0] == written[1]
    stored = json.loads(written[0])
    probabilities = torch.softmax(logits.double(), 1)
    assert stored["predicted"] == logits.argmax(1).tolist()
    assert stored["confidence"][3] is None and stored["confidence"][0] == pytest.approx(float(probabilities[0].max()))
    assert stored["quality"]["calibration"]["images"] == len(labels) - 1
    assert (tmp_path / "a" / "arrays" / "reliability.npy").read_bytes() == \
        (tmp_path / "b" / "arrays" / "reliability.npy").read_bytes()  # what the figure is drawn from (issue 31)


@pytest.mark.slow
def test_a_real_report_shows_the_quality_table_and_the_calibration_figures(tmp_path):
    """Random weights of a small user model on the embedded digits, accuracy section only (about 20 s)."""
    from conftest import ROOT, run_cli

    out = tmp_path / "build"
    done = run_cli("--model", "user_models:ReusedBlockNet", "--model-kwargs", '{"width": 4}', "--sections",
                   "accuracy", "--out", str(out), "--format", "html", "--quiet",
                   env={"PYTHONPATH": str(ROOT / "tests" / "fixtures")})
    assert done.returncode == 0, done.stderr
    (store,) = (out / "stores").iterdir()
    evaluation = json.loads((store / "evaluation.json").read_text())
    assert len(evaluation["predicted"]) == len(evaluation["confidence"]) == evaluation["n_test"]
    supports = [c["support"] for c in evaluation["quality"]["classes"]]
    assert sum(supports) == evaluation["n_test"]
    html = (out / "report.html").read_text()
    assert "images/reliability.png" in html and "images/confidence.png" in html and "95% interval" in html
    notes = json.loads((out / "notes.json").read_text())
    notes = notes["notes"] if isinstance(notes, dict) else notes
    overall = next(n for n in notes if n["rule"] == "accuracy.overall")
    assert overall["evidence"]["regime"] in ("near-chance", "below-chance", "permuted")


# --- a property: weakest and strongest only where the intervals clear ---------------------------------------------

def _findings_of(evaluation: dict):
    from pathlib import Path

    from analysis.store.schema import DOCUMENTS, from_json
    from report.render.findings import Findings

    docs = {**documents(), "evaluation.json": evaluation}
    records = {name: from_json(DOCUMENTS[name], doc) for name, doc in docs.items() if doc is not None}
    return Findings(store_dir=Path("."), provenance=None, model=records["model.json"],
                    evaluation=records["evaluation.json"], activations=None, embeddings=None, separation=None)


@pytest.mark.filterwarnings("ignore")
def test_weakest_and_strongest_are_claimed_only_when_the_wilson_intervals_clear():
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from report.render.interpret.accuracy import class_comparison

    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.lists(st.tuples(st.integers(1, 60), st.floats(0, 1)), min_size=2, max_size=5))
    def check(classes):
        labels, predicted = [], []
        for c, (n, share) in enumerate(classes):
            right = round(n * share)
            labels += [c] * n
            predicted += [c] * right + [(c + 1) % len(classes)] * (n - right)
        names = tuple(f"c{i}" for i in range(len(classes)))
        note = class_comparison(_findings_of(evaluation_doc(labels, predicted, class_names=names)))
        labels, predicted = np.array(labels), np.array(predicted)
        compared = {c: wilson(((labels == c) & (predicted == c)).sum(), (labels == c).sum())
                    for c in range(len(classes)) if (labels == c).sum() >= SMALL_CLASS}
        for claimed, side in ((note.evidence.get("weakest"), "weakest"), (note.evidence.get("strongest"), "strongest")):
            if claimed is None:
                continue
            assert claimed in compared, f"{side} names a class under {SMALL_CLASS} images"
            low, high = compared[claimed]
            others = [interval for c, interval in compared.items() if c != claimed]
            assert all(high < o_low for o_low, _ in others) if side == "weakest" else \
                all(low > o_high for _, o_high in others)
            assert f"c{claimed} is the {side}" in note.text
        for c in range(len(classes)):
            if c not in compared and (labels == c).any():
                assert f"c{c} is the" not in note.text
    check()

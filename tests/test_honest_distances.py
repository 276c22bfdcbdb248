"""Issue 30, honest distance statistics: every number the separation and distance sentences cite, recomputed
independently (scikit-learn, scipy, brute force); the one decision table for the sampled reading against the
whole split, branch by branch, and no two sentences of a store giving it different verdicts; the depth rule
both ways; dead filters only after a ReLU."""

from __future__ import annotations

import copy
import json
import math
import re

import numpy as np
import pytest
from scipy.spatial.distance import cdist, pdist, squareform
from sklearn.metrics import silhouette_score
from sklearn.neighbors import NearestCentroid
from synthetic import documents, embeddings_doc, separation_doc, write_store

from analysis.stats import separation
from analysis.stats.embeddings import distance_tables
from report.render import fmt
from report.render.interpret import distances
from report.render.sections import run_rules
from report.render.load import load_findings
from report.render.tables import two_sample_verdicts
from report.render.views import Place
from report.render.views.whole_split import separation_view

M, E, V, S = "model.json", "evaluation.json", "embeddings.json", "separation.json"


def notes_of(tmp_path, change=None, name="s"):
    docs = copy.deepcopy(documents())
    if change:
        change(docs)
    f = load_findings(write_store(tmp_path / name, docs))
    return f, run_rules(f)


def wilson(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """The Wilson score interval by its formula (Wilson 1927), independent of scipy."""
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


# --- nearest-centroid accuracy, each image left out of its own centroid -------------------------------------

def brute_force_left_out(x, labels, metric="euclidean") -> tuple[int, int]:
    """(correct, judged): scikit-learn's NearestCentroid refitted without each image in turn; images alone in
    their class are not judged (refitted without them, their class has no centroid)."""
    correct = judged = 0
    for i in range(len(x)):
        if (labels == labels[i]).sum() < 2:
            continue
        keep = np.arange(len(x)) != i
        if metric == "cosine":  # scikit-learn's NearestCentroid has no cosine: the same rule by hand
            classes = np.unique(labels[keep])
            centres = np.stack([x[keep][labels[keep] == c].mean(0) for c in classes])
            predicted = classes[cdist(x[i:i + 1], centres, "cosine").argmin()]
        else:
            predicted = NearestCentroid().fit(x[keep], labels[keep]).predict(x[i:i + 1])[0]
        correct += int(predicted == labels[i])
        judged += 1
    return correct, judged


def resubstitution(x, labels) -> float:
    return float((NearestCentroid().fit(x, labels).predict(x) == labels).mean())


@pytest.mark.parametrize("metric", ["mse", "euclidean", "cosine"])
def test_left_out_accuracy_equals_scikit_learn_refitted_without_each_image(metric, monkeypatch):
    rng = np.random.default_rng(3)
    labels = np.repeat(np.arange(6), [7, 5, 5, 9, 5, 1])  # the last class has one image: not judged
    x = rng.normal(size=(len(labels), 12)) + 0.6 * rng.normal(size=(6, 12))[labels]
    classes = list(range(6))
    expected = brute_force_left_out(x, labels, "cosine" if metric == "cosine" else "euclidean")
    got = separation.nearest_centroid_left_out(x, labels, classes, metric)
    assert (got.correct, got.judged, got.unjudged) == (*expected, 1)
    monkeypatch.setattr(separation, "CHUNK", 4)  # the chunked path: many blocks, classes split across them
    assert separation.nearest_centroid_left_out(x, labels, classes, metric) == got


def test_five_images_per_class_inflate_the_resubstitution_figure_and_left_out_does_not():
    """Issue 30: with 5 images per class each image is a fifth of its own centroid (92.4% against 56.6%)."""
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(20), 5)
    x = rng.normal(size=(100, 64)) + 0.4 * rng.normal(size=(20, 64))[labels]
    got = separation.nearest_centroid_left_out(x, labels, list(range(20)), "mse")
    assert (got.correct, got.judged) == brute_force_left_out(x, labels)
    inflated = separation.nearest_centroid_accuracy(x, labels, list(range(20)), "mse")
    assert inflated == pytest.approx(resubstitution(x, labels))
    assert inflated - got.correct / got.judged > 0.3, (inflated, got)


def test_the_stored_record_has_the_wilson_interval(monkeypatch):
    from analysis.stats.fullsplit import _centroid_left_out

    rng = np.random.default_rng(1)
    labels = np.repeat(np.arange(3), 8)
    x = rng.normal(size=(24, 5)) + rng.normal(size=(3, 5))[labels]
    record = _centroid_left_out(x, labels, [0, 1, 2], "mse")
    correct, judged = brute_force_left_out(x, labels)
    assert (record.correct, record.judged, record.unjudged) == (correct, judged, 0)
    assert record.accuracy == pytest.approx(correct / judged)
    assert (record.ci_low, record.ci_high) == pytest.approx(wilson(correct, judged), abs=1e-9)


# --- Euclidean beside MSE --------------------------------------------------------------------------------------

def pooled_ratio(d: np.ndarray, labels: np.ndarray) -> float:
    same = labels[:, None] == labels[None, :]
    off = ~np.eye(len(labels), dtype=bool)
    return d[~same].mean() / d[same & off].mean()


def test_euclidean_sums_give_the_ratio_and_silhouette_scipy_and_scikit_learn_give(monkeypatch):
    rng = np.random.default_rng(2)
    labels = np.repeat(np.arange(4), [6, 9, 2, 5])
    x = rng.normal(size=(len(labels), 7)) + rng.normal(size=(4, 7))[labels]
    euclidean = squareform(pdist(x))
    sums = separation.class_sums(x, labels, "euclidean")
    same = labels[:, None] == labels[None, :]
    off = ~np.eye(len(labels), dtype=bool)
    assert sums.pooled() == pytest.approx((euclidean[same & off].mean(), euclidean[~same].mean()), rel=1e-12)
    assert sums.ratio() == pytest.approx(pooled_ratio(euclidean, labels), rel=1e-12)
    assert sums.silhouette == pytest.approx(silhouette_score(x, labels, metric="euclidean"), rel=1e-9)
    # the MSE figures are those of the squared distance over D: its ratio is another, larger number
    mse = squareform(pdist(x, "sqeuclidean")) / x.shape[1]
    assert separation.pair_statistics(x, labels, [0, 1, 2, 3], "mse").ratio() == pytest.approx(
        pooled_ratio(mse, labels), rel=1e-12)
    assert separation.silhouette(x, labels, "mse")[0] == pytest.approx(
        silhouette_score(x, labels, metric="sqeuclidean"), rel=1e-9)
    monkeypatch.setattr(separation, "CHUNK", 5)
    chunked = separation.class_sums(x, labels, "euclidean")
    assert chunked.sums == pytest.approx(sums.sums, rel=1e-12) and chunked.silhouette == pytest.approx(sums.silhouette)


def test_each_sampled_euclidean_distance_is_the_root_of_mse_times_d():
    rng = np.random.default_rng(4)
    vectors = rng.normal(size=(6, 9))
    tables = distance_tables(vectors, [0, 0, 0, 1, 1, 1])
    mse, euclidean = np.array(tables["mse"].matrix), np.array(tables["euclidean"].matrix)
    assert euclidean == pytest.approx(np.sqrt(mse * 9), rel=1e-12)
    assert euclidean == pytest.approx(squareform(pdist(vectors)), rel=1e-12)
    # the mean of the roots, not the root of the mean: the Euclidean ratio is not √(MSE ratio)
    assert tables["euclidean"].ratio != pytest.approx(math.sqrt(tables["mse"].ratio), rel=1e-6)


def test_the_pair_interval_is_the_bootstrap_of_the_pair_mean():
    rng = np.random.default_rng(5)
    a, b = rng.normal(size=(7, 4)), rng.normal(size=(5, 4)) + 1
    interval = separation.bootstrap_inter(a, b, "mse", seed=11)
    again = np.random.default_rng(11)  # the same draws, resampled image by image
    w_a = again.multinomial(7, np.full(7, 1 / 7), size=separation.BOOTSTRAP_REPLICATES)
    w_b = again.multinomial(5, np.full(5, 1 / 5), size=separation.BOOTSTRAP_REPLICATES)
    means = [cdist(np.repeat(a, wa, 0), np.repeat(b, wb, 0), "sqeuclidean").mean() / 4 for wa, wb in zip(w_a, w_b)]
    assert (interval["low"], interval["high"]) == pytest.approx(tuple(np.percentile(means, [2.5, 97.5])), rel=1e-9)
    assert interval["low"] < cdist(a, b, "sqeuclidean").mean() / 4 < interval["high"]


def test_sentences_name_their_distances_and_the_left_out_accuracy(tmp_path):
    f, notes = notes_of(tmp_path)
    text = {n.rule: n.text for n in notes}
    assert "1.6× in Euclidean distance (2.6× in MSE, a squared distance)" in text["separation.overall"]
    assert "silhouette on Euclidean distance" in text["separation.overall"]
    assert "86.7% (95% CI 70.3–94.7%) of the 30 images judged" in text["separation.overall"]
    assert "in MSE, a squared distance" in text["separation.closest"]
    sampled = f.embeddings.distances
    assert (f"{fmt.ratio(sampled['euclidean'].ratio)} in Euclidean distance ({fmt.ratio(sampled['mse'].ratio)} in "
            "MSE, a squared distance)") in text["embeddings.separation"]
    # no ratio of MSEs is given as a bare "N× the distance"
    for note in (n for n in notes if n.section in ("distances", "separation", "depth")):
        for match in re.finditer(r"\d×", note.text):
            window = note.text[match.start():match.start() + 60]
            assert "Euclidean" in window or "MSE" in window or "smaller than" in window, (note.rule, note.text)


@pytest.mark.parametrize("unjudged, said", [
    (0, None),
    (1, "1 image alone in its class cannot be judged this way and is left out"),
    (3, "3 images alone in their class cannot be judged this way and are left out")])
def test_images_alone_in_their_class_are_said_to_be_left_out_in_the_note_and_the_headlines(tmp_path, unjudged, said):
    def alone(docs):
        docs[S]["centroid_left_out"]["unjudged"] = unjudged

    f, notes = notes_of(tmp_path, alone)
    overall = next(n.text for n in notes if n.rule == "separation.overall")
    view = separation_view(f, Place("stores/s", {}, "stores/s"))
    if said is None:
        assert "alone in" not in overall and "alone in" not in view.centroid_note
    else:
        assert f"of the 30 images judged; the {said}" in overall
        assert view.centroid_note.endswith(f"(26 of 30 right; Wilson 95% interval). The {said}.")


def test_a_store_without_the_new_figures_claims_less(tmp_path):
    _, notes = notes_of(tmp_path, whole(honest=False, inter_ci=None))
    text = {n.rule: n for n in notes}
    overall = text["separation.overall"].text
    assert "counts each image in its own class's centroid and so flatters the separation" in overall
    assert "2.6× in MSE, a squared distance" in overall and "Euclidean" not in overall.split("silhouette")[0]
    check = text["separation.two_sample"].evidence[distances.EVIDENCE_KEY]
    assert check["checks"]["separation"] == distances.NOT_ESTABLISHED
    assert "has no stored interval" in text["separation.two_sample"].text


def test_sampled_figures_carry_the_small_sample_caveat_everywhere(tmp_path):
    from report.render.context import headlines

    docs = copy.deepcopy(documents())
    del docs[S]
    f = load_findings(write_store(tmp_path / "s", docs))
    notes = {n.rule: n.text for n in run_rules(f)}
    for rule in ("embeddings.separation", "embeddings.compactness", "embeddings.metrics"):
        assert "With 2 samples per class this is anecdotal" in notes[rule], rule
    (headline,) = [h for h in headlines(f) if h.label.startswith("Separation")]
    assert "anecdotal" in headline.label and "a squared distance" in headline.label
    docs[V] = embeddings_doc(per_class=40)
    enough = {n.rule: n.text for n in run_rules(load_findings(write_store(tmp_path / "t", docs)))}
    assert "anecdotal" not in enough["embeddings.separation"]


# --- the decision table ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("sampled, whole, enough, verdict", [
    ("a", "a", True, distances.CONFIRMS), ("a", "a", False, distances.AGREES),
    ("a", None, True, distances.NOT_ESTABLISHED), (None, "a", True, distances.NOT_ESTABLISHED),
    ("a", "b", False, distances.CONTRADICTS), ("a", "b", True, distances.CONTRADICTS)])
def test_each_cell_of_the_table(sampled, whole, enough, verdict):
    assert distances.verdict_of(sampled, whole, enough) == verdict


def test_intervals_order_only_when_disjoint():
    assert distances.interval_order((0.1, 0.2), (0.3, 0.4)) == "below"
    assert distances.interval_order((0.3, 0.4), (0.1, 0.2)) == "above"
    assert distances.interval_order((0.1, 0.35), (0.3, 0.4)) is None
    assert distances.interval_order((None, None), (0.3, 0.4)) is None


# change to the store -> (compactness verdict, separation verdict, overall); classes 1 and 2 are compared,
# the samples found class 1 more compact and the 1-2 pair farther apart than either class's pair
def whole(**changes):
    """The whole split with 20 test images per class (enough to order, regime.SMALL_CLASS) and ``changes``."""
    return lambda d: d.update({S: separation_doc(**{"images": 20, **changes})})


def both(*changes):
    return lambda d: [change(d) for change in changes]


BRANCHES = {
    "agrees": (whole(), distances.AGREES, distances.AGREES, distances.AGREES),
    "confirms": (both(whole(), lambda d: d[V].update(per_class=40)),
                 distances.CONFIRMS, distances.CONFIRMS, distances.CONFIRMS),
    "compactness-overlaps": (whole(ci=((0.5, 0.7), (0.9, 1.3), (1.2, 1.4))),
                             distances.NOT_ESTABLISHED, distances.AGREES, distances.NOT_ESTABLISHED),
    "compactness-reversed": (whole(ci=((0.5, 0.7), (1.3, 1.5), (0.9, 1.1))),
                             distances.CONTRADICTS, distances.AGREES, distances.CONTRADICTS),
    "pair-overlaps": (whole(inter_ci=(1.0, 2.0)), distances.AGREES, distances.NOT_ESTABLISHED,
                      distances.NOT_ESTABLISHED),
    "pair-below": (whole(inter_ci=(0.5, 0.8)), distances.AGREES, distances.CONTRADICTS, distances.CONTRADICTS),
    "no-pair-interval": (whole(inter_ci=None), distances.AGREES, distances.NOT_ESTABLISHED, distances.NOT_ESTABLISHED),
    "samples-about-equal": (both(whole(), lambda d: d.update({V: embeddings_doc(
        vectors=[[0, 0], [1, 1], [5, 5], [6.04, 6.04]])})), distances.NOT_ESTABLISHED, distances.AGREES,
        distances.NOT_ESTABLISHED),
    # 10 test images per class: disjoint intervals, but too few images to order the classes by them
    "small-classes": (whole(images=10, ci=((0.5, 0.7), (1.3, 1.5), (0.9, 1.1))), distances.NOT_ESTABLISHED,
                      distances.NOT_ESTABLISHED, distances.NOT_ESTABLISHED),
}


@pytest.mark.parametrize("branch", BRANCHES)
def test_every_verdict_and_no_two_sentences_disagree(tmp_path, branch):
    change, compact, apart, overall = BRANCHES[branch]
    f, notes = notes_of(tmp_path, change)
    comparison = distances.decide(f)
    assert (comparison.check("compactness").verdict, comparison.check("separation").verdict,
            comparison.verdict) == (compact, apart, overall)
    stated = [n.evidence[distances.EVIDENCE_KEY] for n in notes if distances.EVIDENCE_KEY in n.evidence]
    assert stated and all(s == stated[0] for s in stated), stated
    # the section's verdict table and its CSV say what the sentence says
    view = separation_view(f, Place(store_url="stores/s", numbers={"separation": 1}, store_folder="stores/s")).two_sample
    assert [r.verdict for r in view.verdicts] == list(stated[0]["checks"].values()) and view.verdict == overall
    assert [row[-1] for row in two_sample_verdicts(f).rows] == list(stated[0]["checks"].values())
    (note,) = [n for n in notes if n.rule == "separation.two_sample"]
    assert note.branch == overall.replace(" ", "-")
    text = " ".join(n.text for n in notes)
    if comparison.check("compactness").evidence["whole_tighter"] is None:  # the whole split's intervals overlap
        assert "more compact too" not in text and "is the more compact" not in text
    if overall != distances.CONTRADICTS:
        assert not re.search(r"contradict|flips|the reverse", text), text
    else:
        assert "the reverse of the samples" in note.text
    # every interval the sentence cites is the stored one
    for c in (1, 2):
        spread = f.separation.per_class[c]
        assert f"{fmt.number(spread.ci_low)}–{fmt.number(spread.ci_high)}" in note.text


# --- depth ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("silhouettes, branch", [
    ((0.1, 0.3, 0.6), "grows"), ((-0.2, 0.05, 0.3), "grows"), ((0.1, 0.05, 0.6), "grows-unevenly"),
    ((-0.053, -0.021, -0.028), "separates-nowhere"), ((-0.3, -0.2, -0.1), "separates-nowhere"),
    ((0.30, 0.29, 0.31), "flat"), ((0.4, 0.3, 0.2), "does-not-grow")])
def test_depth_claims_growth_only_when_its_test_holds(tmp_path, silhouettes, branch):
    _, notes = notes_of(tmp_path, lambda d: d.update({S: separation_doc(silhouettes=silhouettes)}))
    (note,) = [n for n in notes if n.rule == "separation.depth"]
    assert note.branch == branch
    change = silhouettes[-1] - silhouettes[0]
    steps = np.diff(silhouettes)
    grows = change > 0.02 and not (steps < -0.02).any() and max(silhouettes) > 0
    assert ("grows with depth" in note.text) == grows
    assert "squared Euclidean distance" in note.text


def test_random_weights_caveat_every_learning_sentence(tmp_path):
    _, notes = notes_of(tmp_path, both(whole(), lambda d: d[M]["model"].update(weights="random (seed 0)")))
    text = {n.rule: n.text for n in notes}
    for rule in ("separation.overall", "separation.compactness", "separation.closest", "separation.two_sample",
                 "separation.depth", "embeddings.separation", "embeddings.metrics", "embeddings.compactness"):
        assert "With random weights this describes the initialisation" in text[rule], rule


# --- dead filters -------------------------------------------------------------------------------------------

def test_only_relu_outputs_count_dead_filters():
    import torch
    from torch import nn

    from analysis.models.layers import is_activated

    model = nn.Sequential(nn.Conv2d(1, 2, 1), nn.ReLU(), nn.ReLU6(), nn.GELU(), nn.SiLU(), nn.LeakyReLU(),
                          nn.Hardswish(), nn.Tanh())
    assert [is_activated(model, str(i)) for i in range(8)] == [False, True, True, False, False, False, False, False]
    negative = torch.full((1, 1, 2, 2), -1.0)
    assert (nn.GELU()(negative) < 0).all() and (nn.ReLU()(negative) == 0).all()  # why GELU's zero is not silence


def test_advice_names_only_relu_modules_and_what_counts_filters(tmp_path):
    def gelu_network(docs):
        docs[S] = separation_doc(activated=False)
        for row in (1, 5):
            docs[M]["trace"]["rows"][row]["type"] = "GELU"
    _, notes = notes_of(tmp_path, gelu_network)
    (note,) = [n for n in notes if n.rule == "separation.filters"]
    assert note.branch == "no-zero-activation" and "--layers" not in note.text and "GELU" in note.text
    _, notes = notes_of(tmp_path, lambda d: d.update({S: separation_doc(activated=False)}), "relu")
    (note,) = [n for n in notes if n.rule == "separation.filters"]
    assert note.evidence["relu_modules"] == ["relu1", "relu2"] and "filter_layers" in note.text


def _raw_conv_filters(dead: bool, taker_type: str = "ReLU"):
    """conv1's raw output as the filter layer, the trace recording which call takes which output: relu1 (of
    taker_type) takes conv1's output directly."""
    def change(docs):
        docs[S] = separation_doc(activated=False, dead=(2,) if dead else ())
        docs[S]["filters"][0].update(module="conv1", label="conv1 (Conv2d output)", dead=[], near_dead=[])
        rows = docs[M]["trace"]["rows"]
        for row in rows:
            row["source"] = row["order"] - 1
        rows[1]["type"] = taker_type
    return change


def test_raw_conv_output_a_relu_takes_directly_counts_dead_filters(tmp_path):
    # issue 30 zoo: SmallCNN's conv2 → relu2 had filters never positive on every image, and the report said
    # "no ReLU follows directly, so no filter is called dead" beside a maps sentence naming relu2 as the taker
    f, notes = notes_of(tmp_path, _raw_conv_filters(dead=True))
    (note,) = [n for n in notes if n.rule == "separation.filters"]
    assert note.branch == "dead", note.text
    assert "conv1: filter 2, never positive there, so zero after relu1" in note.text
    assert "1 more is near-dead" in note.text and note.evidence["relu_takers"] == {"conv1": "relu1"}
    from report.render.views.whole_split import filters_view  # the table says the same
    (row,) = filters_view(f, Place(store_url="stores/s", numbers={}, store_folder="stores/s")).layers
    assert row.activated and row.dead == "2" and row.near_dead == "3"
    from report.render.tables import filters as filters_table  # and so does tables/filters.csv

    table = filters_table(f)
    assert [r[2] for r in table.rows if r[5]] == [2] and [r[2] for r in table.rows if r[6]] == [3]
    _, notes = notes_of(tmp_path, _raw_conv_filters(dead=False), "alive")
    (note,) = [n for n in notes if n.rule == "separation.filters"]
    assert note.branch == "none-dead" and "every filter in conv1 is positive somewhere" in note.text
    # a GELU in between keeps negative values: still not dead
    _, notes = notes_of(tmp_path, _raw_conv_filters(dead=True, taker_type="GELU"), "gelu")
    (note,) = [n for n in notes if n.rule == "separation.filters"]
    assert note.branch != "dead"


# --- a whole build: every number the sentences cite, recomputed from the stored arrays ----------------------

NET = '''
from torch import nn


class Tiny(nn.Module):
    def __init__(self, num_classes=4):
        super().__init__()
        self.conv = nn.Conv2d(3, 6, 3, padding=1)
        self.relu = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(2)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(24, 12)
        self.relu2 = nn.ReLU()
        self.head = nn.Linear(12, num_classes)

    def forward(self, x):
        return self.head(self.relu2(self.fc(self.flatten(self.pool(self.relu(self.conv(x)))))))
'''


@pytest.fixture(scope="module")
def five_per_class(tmp_path_factory):
    """Random weights, 4 colour classes of 5 test images each (issue 30: each image a fifth of its centroid)."""
    from conftest import ROOT, run_cli

    folder = tmp_path_factory.mktemp("five")
    (folder / "honest_nets.py").write_text(NET)
    rng = np.random.default_rng(7)
    tint = rng.uniform(60, 200, (4, 1, 1, 3))

    def images(per_class):
        x = np.clip(tint[np.repeat(np.arange(4), per_class)] + rng.normal(0, 40, (4 * per_class, 8, 8, 3)), 0, 255)
        return x.astype(np.uint8), np.repeat(np.arange(4), per_class)

    (x_train, y_train), (x_test, y_test) = images(2), images(5)
    np.savez(folder / "data.npz", x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    out = folder / "out"
    result = run_cli("--model", "honest_nets:Tiny", "--data", str(folder / "data.npz"), "--out", str(out),
                     "--format", "html", "--sections", "distances,separation,depth", "--classes", "1", "2",
                     cwd=folder, env={"PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr
    store = out / "stores" / (out / "current-store.txt").read_text().strip()
    return store, y_test, json.loads((out / "notes.json").read_text())


@pytest.mark.slow
def test_every_cited_number_of_a_real_store_is_recomputed(five_per_class):
    store, labels, notes = five_per_class
    f = load_findings(store)
    s = f.separation
    emb = np.load(store / s.embeddings_file).astype(np.float64)
    dims = emb.shape[1]
    text = {n["rule"]: n["text"] for n in (notes["notes"] if isinstance(notes, dict) else notes)}

    correct, judged = brute_force_left_out(emb, labels)
    assert (s.centroid_left_out.correct, s.centroid_left_out.judged) == (correct, judged)
    low, high = wilson(correct, judged)
    assert (s.centroid_left_out.ci_low, s.centroid_left_out.ci_high) == pytest.approx((low, high), abs=1e-6)
    assert s.nearest_centroid_accuracy == pytest.approx(resubstitution(emb, labels), abs=1e-6)
    shown, interval = fmt.percent_with_range(correct / judged, low, high)
    assert f"right for {shown} (95% CI {interval}) of the {judged} images judged" in text["separation.overall"]

    euclidean = squareform(pdist(emb))
    assert s.ratio == pytest.approx(pooled_ratio(euclidean ** 2 / dims, labels), rel=1e-5)
    assert s.euclidean.ratio == pytest.approx(pooled_ratio(euclidean, labels), rel=1e-5)
    assert s.euclidean.silhouette == pytest.approx(silhouette_score(emb, labels, metric="euclidean"), abs=1e-6)
    assert s.silhouette == pytest.approx(silhouette_score(emb, labels, metric="sqeuclidean"), abs=1e-6)
    assert (f"{fmt.ratio(s.euclidean.ratio)} in Euclidean distance ({fmt.ratio(s.ratio)} in MSE, a squared "
            "distance)") in text["separation.overall"]
    assert f"silhouette on Euclidean distance" in text["separation.overall"]

    pair = s.closest_pairs[0]
    a, b = pair["a"], pair["b"]
    within = (euclidean[np.ix_(labels == a, labels == a)].sum() / 20 + euclidean[np.ix_(labels == b, labels == b)].sum() / 20) / 2
    assert pair["euclidean_ratio"] == pytest.approx(euclidean[np.ix_(labels == a, labels == b)].mean() / within, rel=1e-5)

    two = s.two_sample
    c, d = two["classes"]
    assert two["inter"]["full"] == pytest.approx((euclidean[np.ix_(labels == c, labels == d)] ** 2).mean() / dims, rel=1e-5)
    assert two["inter"]["ci_low"] < two["inter"]["full"] < two["inter"]["ci_high"]
    verdicts = {json.dumps(n["evidence"][distances.EVIDENCE_KEY], sort_keys=True)
                for n in (notes["notes"] if isinstance(notes, dict) else notes)
                if distances.EVIDENCE_KEY in n.get("evidence", {})}
    assert len(verdicts) == 1
    for rule in ("separation.overall", "separation.depth", "separation.two_sample", "embeddings.separation"):
        assert "With random weights this describes the initialisation" in text[rule], rule


# --- articles before class names ------------------------------------------------------------------------------

def test_class_names_take_the_article_they_are_spoken_with(tmp_path):
    # issue 30 zoo: "test image #0, a apple", "#5 (a aquarium_fish, ...)"; MNIST's 8 would read "a 8"
    from report.render.interpret.activations import a_or_an
    assert [a_or_an(w) for w in ("apple", "owl", "8", "11", "18", "80", "8×8", "7", "1", "100", "one", "unit",
                                 "red", "Identity", "European")] == [
        "an apple", "an owl", "an 8", "an 11", "an 18", "an 80", "an 8×8", "a 7", "a 1", "a 100", "a one",
        "a unit", "a red", "an Identity", "a European"]

    def vowel_names(docs):
        docs[E]["class_names"] = ["apple", "owl", "eight"]
    _, notes = notes_of(tmp_path, vowel_names)
    text = " ".join(n.text for n in notes if n.rule.split(".")[0] in ("maps", "embeddings", "separation"))
    assert not re.search(r"\ba (apple|owl|eight)\b", text), text
    assert re.search(r"\ban (apple|owl|eight)\b", text), text


def test_depth_says_when_the_measured_embedding_is_none_of_its_layers(tmp_path):
    # issue 30 zoo, tiny ViT: "features entering head … silhouette 0.75" beside a depth path "norm 0.24 → head
    # 0.48": the class token is indexed out of norm's output, so no depth layer is the embedding
    _, notes = notes_of(tmp_path, lambda d: d[S].update(silhouette=0.75))
    (note,) = [n for n in notes if n.rule == "separation.depth"]
    assert "silhouette 0.75 on the same distance) are none of these outputs" in note.text
    assert note.evidence["embedding_silhouette"] == 0.75
    _, notes = notes_of(tmp_path, name="listed")  # the embedding is the last depth layer: nothing to add
    (note,) = [n for n in notes if n.rule == "separation.depth"]
    assert "none of these outputs" not in note.text


def test_two_classes_make_one_pair_not_a_ranking(tmp_path):
    # issue 30 zoo, two classes: "the closest classes are horizontal and vertical … pairs are ranked by the MSE
    # ratio … fewer than 20 test images, so another sample of images could pick another pair": there is no other
    def two_classes(docs):
        docs[S]["classes"] = docs[S]["classes"][:2]
        docs[S]["per_class"] = docs[S]["per_class"][:2]
        for c in docs[S]["per_class"]:
            c["n"] = 6
    _, notes = notes_of(tmp_path, two_classes)
    (note,) = [n for n in notes if n.rule == "separation.closest"]
    assert note.text.startswith("With two classes there is one pair"), note.text
    assert "ranked" not in note.text and "another pair" not in note.text


def test_a_closest_pair_above_the_pooled_ratio_says_why(tmp_path):
    # issue 30 zoo, 300/30/10 images: overall "9.0× in MSE" beside "the closest classes … 10.8× in MSE" read
    # as a contradiction; the pooled ratio weighs the 300-image class most
    f, notes = notes_of(tmp_path)
    pair = f.separation.closest_pairs[0]["ratio"]
    _, notes = notes_of(tmp_path, lambda d: d[S].update(ratio=pair / 2), "pooled-lower")
    (note,) = [n for n in notes if n.rule == "separation.closest"]
    assert "This pair's ratio is above the overall one" in note.text
    _, notes = notes_of(tmp_path, lambda d: d[S].update(ratio=pair * 2), "pooled-higher")
    (note,) = [n for n in notes if n.rule == "separation.closest"]
    assert "above the overall one" not in note.text


def test_a_closest_pair_below_one_is_said_not_to_be_separated(tmp_path):
    # issue 30 zoo, 100 classes with random weights: a pair's ratio of 0.953 was printed "1.0×" with nothing
    # saying that below 1 the two classes are not separated at all
    from report.render import fmt

    assert fmt.ratio(0.953) == "0.95×" and fmt.ratio(1.04) == "1.04×" and fmt.ratio(1.6) == "1.6×"

    def below_one(docs):
        for pair in docs[S]["closest_pairs"]:
            pair["ratio"], pair["euclidean_ratio"] = 0.908, 0.953
    _, notes = notes_of(tmp_path, below_one, "below-one")
    (note,) = [n for n in notes if n.rule == "separation.closest"]
    assert "0.95× in Euclidean distance" in note.text and "not separated at all" in note.text
    _, notes = notes_of(tmp_path, None, "above-one")
    (note,) = [n for n in notes if n.rule == "separation.closest"]
    assert "not separated at all" not in note.text

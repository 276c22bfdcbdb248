"""No sentence contradicts the numbers it cites: property-based checks of the comparative rules over random
synthetic stores (hypothesis). Each property restates, from the stored numbers alone, the criterion the
rule's branch claims; the rules are pure functions, so no store is written."""

from __future__ import annotations

import copy
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from synthetic import documents, separation_doc

from analysis.store.schema import DOCUMENTS, from_json
from report.render.findings import Findings
from report.render.interpret import embeddings, separation

BASE = documents()


def findings(docs: dict) -> Findings:
    records = {name: from_json(DOCUMENTS[name], doc) for name, doc in docs.items()}
    return Findings(store_dir=Path("."), provenance=None, model=records["model.json"],
                    evaluation=records["evaluation.json"], activations=records["activations.json"],
                    embeddings=records["embeddings.json"], separation=records.get("separation.json"))


def with_separation(**changes) -> Findings:
    docs = copy.deepcopy(BASE)
    docs["separation.json"] = separation_doc(**changes)
    return findings(docs)


intervals = st.lists(st.tuples(st.floats(0.1, 3.0), st.floats(0.01, 1.0)), min_size=3, max_size=3).map(
    lambda rows: tuple((round(low, 3), round(low + width, 3)) for low, width in rows))


@settings(max_examples=150, deadline=None)
@given(intervals)
def test_a_compactness_ranking_is_claimed_only_when_its_interval_clears_every_other(ci):
    f = with_separation(ci=ci, images=20)  # 20 test images per class: enough to be ranked (regime.SMALL_CLASS)
    # the synthetic per-class means are fixed (0.6, 1.0, 1.3): class 0 smallest, class 2 largest
    note = separation.compactness(f)
    best_clear = all(ci[0][1] < other[0] for other in ci[1:])
    worst_clear = all(ci[2][0] > other[1] for other in ci[:2])
    expected = "distinct" if best_clear and worst_clear else "one-end" if best_clear or worst_clear else "overlapping"
    assert note.branch == expected, (ci, note.text)
    assert ("Both hold beyond sampling noise" in note.text) == (best_clear and worst_clear)


confusions = st.lists(st.integers(0, 4), min_size=6, max_size=6).map(
    lambda c: [[10, c[0], c[1]], [c[2], 10, c[3]], [c[4], c[5], 10]])


@settings(max_examples=150, deadline=None)
@given(confusions)
def test_the_most_confused_pairs_are_the_ones_with_the_most_errors(confusion):
    f = with_separation(confusion=confusion)
    note = separation.closest_pair(f)
    errors = {(0, 1): confusion[0][1] + confusion[1][0], (0, 2): confusion[0][2] + confusion[2][0],
              (1, 2): confusion[1][2] + confusion[2][1]}
    top = max(errors.values())
    assert note.evidence["errors"] == top
    assert sorted(note.evidence["most_confused"]) == sorted(p for p, n in errors.items() if n == top and n)
    closest = (0, 1)  # the synthetic store's closest pair
    if top == 0:
        assert note.branch == "no-confusion"
    elif errors[closest] == top:
        assert note.branch == "also-confused"  # a tie that includes the closest pair is never a "yet"
    else:
        assert note.branch in ("confused-elsewhere", "confused-among-closest")


silhouettes = st.lists(st.floats(-0.5, 1.0).map(lambda x: round(x, 3)), min_size=2, max_size=6)


@settings(max_examples=200, deadline=None)
@given(silhouettes)
def test_depth_words_follow_the_tolerance(values):
    f = with_separation(silhouettes=tuple(values))
    note = separation.depth(f)
    tolerance = separation.DEPTH_TOLERANCE
    change = values[-1] - values[0]
    dips = [b - a < -tolerance for a, b in zip(values, values[1:])]
    if all(v <= 0 for v in values):  # issue 30: no layer separates the classes, so nothing "grows"
        assert note.branch == "separates-nowhere"
    elif abs(change) <= tolerance:
        assert note.branch == "flat"
    elif change > tolerance:
        assert note.branch == ("grows-unevenly" if any(dips) else "grows")
    else:
        assert note.branch == "does-not-grow"


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 60), st.floats(0.1, 2.0), st.floats(0.1, 2.0))
def test_confirms_needs_enough_samples_and_the_same_ordering(per_class, full_a, full_b):
    docs = copy.deepcopy(BASE)
    docs["embeddings.json"]["per_class"] = per_class
    docs["separation.json"] = separation_doc(two_sample_full=(round(full_a, 3), round(full_b, 3)), images=20)
    note = separation.two_sample_check(findings(docs))
    if note.branch == "confirms":
        assert per_class >= embeddings.ANECDOTAL_BELOW
    if note.branch in ("confirms", "agrees"):  # issue 30: decided on the whole split's intervals, not its means
        compact = note.evidence["sampled_versus_whole"]["intervals"]["compactness"]
        two, (a, b) = compact["sampled"], compact["intervals"].values()
        assert (two["1"] < two["2"]) == (a[1] < b[0]) and (a[1] < b[0] or b[1] < a[0])


vectors = st.lists(st.lists(st.floats(0, 5).map(lambda x: round(x, 2)), min_size=3, max_size=3),
                   min_size=4, max_size=4)


@settings(max_examples=150, deadline=None)
@given(vectors)
def test_separation_words_follow_the_ratio(points):
    from synthetic import embeddings_doc

    docs = copy.deepcopy(BASE)
    docs["embeddings.json"] = embeddings_doc(vectors=points)
    f = findings(docs)
    note = embeddings.separation(f)
    ratio = f.embeddings.distances["mse"].ratio
    if ratio is None:
        assert note is None
        return
    if 1 / embeddings.SIMILAR_WITHIN < ratio < embeddings.SIMILAR_WITHIN:
        assert note.branch == "no-separation"
    else:
        assert note.branch == ("separated" if ratio > 1 else "not-separated")

"""Issue 33, the render half: "Where the network looks" (the attribution section) from attribution.json only.

Its rules on hand-made records (every branch, and the edges of each threshold), its view against its template
(an error's two maps side by side, class names escaped), the figures step's drawing of its group, and the section
left out, with its rules and tables, when the store has no attribution.json (an older store, or --sections without
it)."""

from __future__ import annotations

import dataclasses
import io
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from synthetic import attribution_arrays, documents, evaluation_doc, write_store

from analysis.figures import attribution as overlays
from analysis.figures import draw, images
from analysis.figures import words as figure_words
from analysis.store.schema import ATTRIBUTION_METHODS, AttributionDocument, EvaluationDocument, Interval, from_json
from report.figures import ensure_figures
from report.render import words
from report.render.context import build_context
from report.render.documents import environment, render_html
from report.render.interpret import attribution as rules
from report.render.load import load_findings
from report.render.sections import ALL, SECTION_VIEWS, analysis_parts, figure_groups, report_tables, run_rules
from report.render.views import Place

FIXTURES = Path(__file__).parent / "fixtures" / "stores"
T = "attribution.json"


@pytest.fixture(scope="module")
def findings(tmp_path_factory):
    """The synthetic store's findings (attribution.json: synthetic.attribution_doc)."""
    return load_findings(write_store(tmp_path_factory.mktemp("attribution") / "stores"))


def with_checks(f, method: int = 0, **changes):
    """The findings with one method's checks changed (hand-made records, no store written)."""
    doc = f.attribution
    checks = list(doc.checks)
    checks[method] = dataclasses.replace(checks[method], **changes)
    return dataclasses.replace(f, attribution=dataclasses.replace(doc, checks=checks))


def e(value, low, high) -> Interval:
    return Interval(value=value, low=low, high=high)


def branches(notes, method: str = "gradcam") -> list[str]:
    return [n.branch for n in notes if n.evidence["method"] == method]


# -- the rules ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("rho, branch", [
    (e(0.1, 0.0, 0.2), "passes"),
    (e(0.45, 0.4, 0.499), "passes"),
    (e(0.45, 0.4, 0.5), "undecided"),      # an interval touching the threshold decides nothing
    (e(0.5, 0.3, 0.7), "undecided"),
    (e(0.55, 0.5, 0.6), "undecided"),
    (e(0.7, 0.501, 0.9), "fails"),
])
def test_randomisation_judges_the_last_step_against_one_half(findings, rho, branch):
    last = dataclasses.replace(findings.attribution.checks[0].randomisation[-1], rank_correlation=rho)
    earlier = findings.attribution.checks[0].randomisation[:-1]
    notes = rules.randomisation(with_checks(findings, randomisation=[*earlier, last]))
    assert branches(notes) == [branch]
    note = next(n for n in notes if n.evidence["method"] == "gradcam")
    assert note.evidence["rank_correlation"] == [rho.value, rho.low, rho.high] and note.evidence["threshold"] == 0.5
    assert "0.5" in note.text and note.evidence["layer"] == "conv1"
    if branch == "fails":
        assert "the maps survive the randomisation of the weights, so they do not reflect what the network learned" \
            in note.text


def test_only_the_last_step_decides_randomisation(findings):
    """An earlier step far above 0.5 does not fail a method whose fully randomised maps have changed."""
    steps = findings.attribution.checks[0].randomisation
    high = [dataclasses.replace(s, rank_correlation=e(0.95, 0.9, 1.0)) for s in steps[:-1]]
    assert branches(rules.randomisation(with_checks(findings, randomisation=[*high, steps[-1]]))) == ["passes"]
    assert branches(rules.randomisation(with_checks(findings, randomisation=[]))) == []


@pytest.mark.parametrize("check, difference, branch, said", [
    ("deletion", e(-0.1, -0.2, -0.01), "faithful", "faithful on 6 images"),
    ("deletion", e(-0.1, -0.2, 0.0), "no-better", "cannot be told apart from a random order on these 6 images"),
    ("deletion", e(0.1, 0.05, 0.2), "no-better", "does worse than a random order on these 6 images"),  # slower
    ("insertion", e(0.1, 0.01, 0.2), "faithful", "faithful on 6 images"),
    ("insertion", e(0.1, 0.0, 0.2), "no-better", "cannot be told apart from a random order on these 6 images"),
    ("insertion", e(-0.1, -0.2, -0.05), "no-better", "does worse than a random order on these 6 images"),
    # worse, but by millionths (an untrained network's probabilities barely move): no evidence either way
    ("deletion", e(3e-6, 1e-6, 5e-6), "negligible",
     "does worse than a random order on these 6 images by too little to matter: area"),
    ("insertion", e(-0.01, -0.02, -0.005), "negligible",
     "does worse than a random order on these 6 images by too little to matter"),
    ("insertion", e(0.01, 0.005, 0.02), "negligible", "beats a random order on these 6 images by too little to matter"),
])
def test_deletion_and_insertion_against_a_random_order(findings, check, difference, branch, said):
    curve = dataclasses.replace(getattr(findings.attribution.checks[0], check), difference=difference)
    notes = getattr(rules, check)(with_checks(findings, **{check: curve}))
    (note,) = [n for n in notes if n.evidence["method"] == "gradcam"]
    assert (note.rule, note.branch) == (f"attribution.{check}", branch)
    assert note.evidence["difference"] == [difference.value, difference.low, difference.high]
    assert " 0." in note.text and "6 images" in note.text
    assert said in note.text and "no better than" not in note.text  # words the scenario tests keep for chance


@pytest.mark.parametrize("excess, branch, words_", [
    (e(0.2, 0.1, 0.3), "object", "entirely above 0: the evidence favours the object"),
    (e(-0.2, -0.3, -0.1), "background", "entirely below 0: the evidence favours the background"),
    (e(0.05, 0.0, 0.1), "undecided", "cannot say"),
])
def test_where_the_evidence_lies_against_the_object_s_area(findings, excess, branch, words_):
    (note,) = [n for n in rules.on_object(with_checks(findings, object_excess=excess))
               if n.evidence["method"] == "gradcam"]
    assert note.branch == branch and words_ in note.text
    assert note.evidence["object_excess"] == [excess.value, excess.low, excess.high]


@pytest.mark.parametrize("share, branch", [
    (e(0.4, 0.3, 0.5), "centre"), (e(0.1, 0.05, 0.2), "edges"), (e(0.25, 0.2, 0.3), "undecided"),
    (e(0.3, 0.25, 0.35), "undecided"),
])
def test_centre_share_against_a_quarter(findings, share, branch):
    (note,) = [n for n in rules.centre(with_checks(findings, centre_share=share)) if n.evidence["method"] == "gradcam"]
    assert note.branch == branch and "25%" in note.text and note.evidence["threshold"] == 0.25


@pytest.mark.parametrize("difference, wrong, branch, said", [
    (None, 1, "too-few", "1 of the 10 check images is misclassified and 9 correctly classified; comparing"),
    # an interval the analysis stored from 2 errors (2 against 2 once gave −48.2 to −46.5 points) is not read
    (e(-0.47, -0.48, -0.46), 2, "too-few", "2 of the 10 check images are misclassified and 8 correctly classified; "
                                           "comparing where the errors' maps look with the correct answers' needs 5 "
                                           "of each"),
    (e(0.0, -0.1, 0.1), 5, "undecided", "cannot say whether the errors look elsewhere"),
    (e(0.2, 0.1, 0.3), 5, "more-on-object", "put more of their mass on the object"),
    (e(-0.2, -0.3, -0.1), 5, "less-on-object", "put less of their mass on the object"),
])
def test_errors_against_correct_every_branch(findings, difference, wrong, branch, said):
    rows = findings.attribution.checks[0].per_image
    ten = [dataclasses.replace(rows[i % len(rows)], index=i,
                               predicted=rows[i % len(rows)].label + (1 if i < wrong else 0)) for i in range(10)]
    checks = with_checks(findings, errors_vs_correct=difference, per_image=ten, images=10)
    notes = [n for n in rules.errors(checks) if n.evidence["method"] == "gradcam"]
    assert [n.branch for n in notes] == [branch] and said in notes[0].text
    # the checks table shows the interval only where the note reads it
    view = SECTION_VIEWS["attribution"][1](checks, Place("stores/synthetic", {}, "stores/synthetic"))
    table = {row.check: row.values for row in view.checks}
    shown_row = table.get("Mass on the object, misclassified less correct (points)")
    assert (shown_row is not None and shown_row[0] != "–") == (branch != "too-few")
    # a store written before the per-image numbers: nothing to count, nothing said
    assert [n for n in rules.errors(with_checks(findings, errors_vs_correct=None, per_image=()))
            if n.evidence["method"] == "gradcam"] == []


def test_an_untrained_network_is_said_first(tmp_path, findings):
    assert rules.untrained(findings) is None  # the synthetic network learned its task
    random = dataclasses.replace(findings, model=dataclasses.replace(
        findings.model, model=dataclasses.replace(findings.model.model, weights="random (seed 3)")))
    note = rules.untrained(random)
    assert note.branch == "random-weights" and note.text.startswith("These maps describe an untrained network")
    assert "say nothing about learned features" in note.text and note.evidence["weights"] == "random (seed 3)"
    docs = documents()
    docs["evaluation.json"] = evaluation_doc(predicted=[0, 1, 2] * 10)
    at_chance = load_findings(write_store(tmp_path / "stores", docs))
    notes = [n for n in run_rules(at_chance) if n.section == "attribution"]
    assert notes[0].rule == "attribution.untrained" and notes[0].branch == "near-chance"
    assert notes[0].evidence["chance"] == pytest.approx(1 / 3) and len(notes[0].evidence["balanced_accuracy"]) == 3


def test_with_random_weights_the_randomisation_check_speaks_of_no_learned_weights(findings):
    """Its sentences compare with "the trained network" and "the learned weights": words an untrained network makes
    false, so the rule is silent then (its numbers stay in the checks table)."""
    assert branches(rules.randomisation(findings))
    random = dataclasses.replace(findings, model=dataclasses.replace(
        findings.model, model=dataclasses.replace(findings.model.model, weights="random (seed 3)")))
    assert rules.randomisation(random) == [] and rules.deletion(random)


def test_grad_cam_absent_is_said_in_the_introduction(findings):
    doc = findings.attribution
    only_ig = dataclasses.replace(findings, attribution=dataclasses.replace(
        doc, checks=[c for c in doc.checks if c.method != "gradcam"], maps=[m for m in doc.maps if m.method != "gradcam"]))
    place = Place("stores/synthetic", {}, "stores/synthetic")
    assert "Grad-CAM is not shown" in SECTION_VIEWS["attribution"][1](only_ig, place).intro
    assert "Grad-CAM is not shown" not in SECTION_VIEWS["attribution"][1](findings, place).intro


def test_every_note_states_its_threshold_and_carries_its_numbers(findings):
    notes = [n for n in run_rules(findings) if n.section == "attribution"]
    assert {n.rule for n in notes} == {f"attribution.{r}" for r in (
        "verdict", "randomisation", "deletion", "insertion", "road", "object", "centre", "errors")}
    for note in notes:
        threshold = note.evidence.get("threshold")
        if threshold is not None:
            assert (f"{threshold:g}" if threshold != 0.25 else "25%") in note.text, note.text
        assert note.evidence["images"] == 6


@pytest.mark.parametrize("score, branch, said", [
    (e(0.2, 0.1, 0.3), "faithful", "entirely above 0: the pixels its maps rank first carry the evidence"),
    (e(0.02, 0.01, 0.04), "negligible", "entirely above 0 but within 0.05 of it: too little to matter"),
    (e(-0.00001, -0.00002, -0.000005), "negligible", "entirely below 0 but within 0.05 of it: too little to matter"),
    (e(0.02, -0.01, 0.05), "no-better", "the interval holds 0"),
    (e(-0.2, -0.3, -0.1), "no-better", "entirely below 0: the pixels it ranks first matter less"),
])
def test_road_judges_least_against_most_relevant_first(findings, score, branch, said):
    road = dataclasses.replace(findings.attribution.checks[0].road, score=score)
    (note,) = [n for n in rules.road(with_checks(findings, road=road)) if n.evidence["method"] == "gradcam"]
    assert (note.rule, note.branch) == ("attribution.road", branch) and said in note.text
    assert "20%, 40%, 60%, 80% of the pixels imputed" in note.text and note.evidence["score"] == [
        score.value, score.low, score.high]
    assert rules.road(with_checks(findings, road=None)) == [n for n in rules.road(findings)
                                                            if n.evidence["method"] != "gradcam"]


def test_a_faithfulness_difference_within_the_negligible_band_is_said_so(findings):
    curve = dataclasses.replace(findings.attribution.checks[0].deletion, difference=e(-0.01, -0.02, -0.005))
    (note,) = [n for n in rules.deletion(with_checks(findings, deletion=curve)) if n.evidence["method"] == "gradcam"]
    assert note.branch == "negligible" and "by too little to matter" in note.text and "within 0.05" in note.text
    edge = dataclasses.replace(curve, difference=e(-0.03, -0.05, -0.01))  # reaches 0.05: established and not small
    (note,) = [n for n in rules.deletion(with_checks(findings, deletion=edge)) if n.evidence["method"] == "gradcam"]
    assert note.branch == "faithful"


def verdicts(f) -> dict[str, str]:
    return {n.evidence["method"]: n.branch for n in rules.verdict(f)}


def test_the_verdict_says_which_maps_to_believe(findings):
    # the synthetic store: Grad-CAM passes randomisation and deletion and ROAD; IG fails randomisation
    assert verdicts(findings) == {"gradcam": "believe", "integrated_gradients": "do-not-believe"}
    (believe, refuse) = rules.verdict(findings)
    assert "can be believed" in believe.text and "2 of 3 faithfulness checks passed: deletion and ROAD" in believe.text
    assert "do not believe" in refuse.text and "survive the randomisation" in refuse.text
    steps = findings.attribution.checks[0].randomisation
    undecided = [*steps[:-1], dataclasses.replace(steps[-1], rank_correlation=e(0.5, 0.4, 0.6))]
    assert verdicts(with_checks(findings, randomisation=undecided))["gradcam"] == "undecided"
    assert verdicts(with_checks(findings, randomisation=[]))["gradcam"] == "undecided"
    nothing = dict(deletion=dataclasses.replace(findings.attribution.checks[0].deletion, difference=e(0, -0.1, 0.1)),
                   road=None)
    assert verdicts(with_checks(findings, **nothing))["gradcam"] == "unsupported"
    assert "0 of 2 faithfulness checks passed" in rules.verdict(with_checks(findings, **nothing))[0].text


def test_the_verdict_of_an_untrained_network_is_never_to_believe(findings):
    random = dataclasses.replace(findings, model=dataclasses.replace(
        findings.model, model=dataclasses.replace(findings.model.model, weights="random (seed 3)")))
    assert set(verdicts(random).values()) == {"untrained"}
    assert all("untrained" in n.text for n in rules.verdict(random))


def test_the_verdicts_are_key_findings(findings):
    from report.render.context import key_findings

    chosen = key_findings(run_rules(findings))
    assert [n.evidence["method"] for n in chosen if n.rule == "attribution.verdict"] == [
        "gradcam", "integrated_gradients"]


# -- the view and its template -----------------------------------------------------------------------------------

def render_section(f) -> str:
    numbers = {id: n for n, id in enumerate(ALL, 1)}
    view = SECTION_VIEWS["attribution"][1](f, Place("stores/synthetic", numbers, "stores/synthetic"))
    return environment().get_template("_attribution.html.j2").render(view=view)


def test_the_view_shows_each_method_s_maps_checks_and_charts(findings):
    view = SECTION_VIEWS["attribution"][1](findings, Place("stores/synthetic", {}, "stores/synthetic"))
    assert [m.name for m in view.methods] == [
        "Grad-CAM at conv1", "Integrated Gradients (16 steps, baseline: the mean pixel of the training split)"]
    assert "captum 0.9.0" in view.intro
    gradcam = view.methods[0]
    assert [p.error for p in gradcam.panels] == [False, True]
    assert [f.caption for f in gradcam.panels[0].figures] == ["activations' image #12 · true two, predicted two · 95.0%"]
    pair = gradcam.panels[1].figures
    assert [f.caption for f in pair] == ["#5 · true zero, predicted one · map for one (predicted) · 80.0%",
                                         "#5 · true zero, predicted one · map for zero (true) · 15.0%"]
    assert "0 to each map's maximum (black low, through purple and orange, to pale yellow high)" in gradcam.sheet
    assert pair[0].src == "stores/synthetic/images/attribution_gradcam_error_5_1.png"
    # one table, a column per method: the last randomisation step (2 rows), deletion and insertion (3 each), centre,
    # object, excess and ROAD; no errors row: the synthetic check images hold no error, too few to read Grad-CAM's
    # stored interval (test_errors_against_correct_every_branch shows the row)
    assert view.columns == ["Grad-CAM at conv1", "Integrated Gradients"]
    assert len(view.checks) == 2 + 6 + 3 + 1 and all(len(row.values) == 2 for row in view.checks)
    road = next(row for row in view.checks if row.check.startswith("ROAD"))
    assert (road.values, road.against) == (["0.20 (0.10 to 0.30)", "0.02 (−0.05 to 0.09)"], "> 0: faithful")
    first = view.checks[0]
    assert (first.values, first.against) == (["0.10 (0.00 to 0.20)", "0.70 (0.60 to 0.80)"], "< 0.5: passes")
    assert view.checks[-1].check.startswith("ROAD")
    assert [c.src for c in gradcam.charts] == ["stores/synthetic/images/attribution_faithfulness_gradcam.png",
                                               "stores/synthetic/images/attribution_randomisation_gradcam.png"]
    # the caption holds for an untrained network too: its maps are compared with the maps of the weights analysed
    assert "similarity to the maps of the network as analysed" in gradcam.charts[1].caption
    assert "trained network" not in gradcam.charts[1].caption
    html = render_section(findings)
    assert html.count('data-table="attribution_checks"') == 1 and 'href="tables/attribution_maps.csv"' in html
    pair_html = re.search(r'<div class="attribution-pair">(.*?)</div>\s*</div>', html, re.S).group(1)
    assert pair_html.index("error_5_1.png") < pair_html.index("error_5_0.png")


def test_class_names_in_captions_are_escaped(tmp_path):
    docs = documents()
    docs["evaluation.json"]["class_names"] = ["<b>zero</b>", "one & only", '"two"']
    html = render_section(load_findings(write_store(tmp_path / "stores", docs)))
    assert "<b>zero</b>" not in html and "&lt;b&gt;zero&lt;/b&gt;" in html
    assert "one &amp; only" in html and "&#34;two&#34;" in html


def test_a_method_with_maps_and_no_checks_shows_its_maps(findings):
    doc = findings.attribution
    f = dataclasses.replace(findings, attribution=dataclasses.replace(doc, checks=doc.checks[:1]))
    view = SECTION_VIEWS["attribution"][1](f, Place("stores/synthetic", {}, "stores/synthetic"))
    gradients = view.methods[1]
    assert gradients.name.startswith("Integrated Gradients (16 steps")
    assert (len(gradients.panels), gradients.charts) == (2, [])
    assert view.columns == ["Grad-CAM at conv1"] and all(len(row.values) == 1 for row in view.checks)
    assert 'data-table="attribution_checks"' in render_section(f)


def test_the_tables_hold_a_row_per_map_and_per_method_and_check(findings):
    made = {t.id: t for t in report_tables(findings, ("attribution",))}
    maps, checks = made["attribution_maps"], made["attribution_checks"]
    assert len(maps.rows) == len(findings.attribution.maps) == 6
    assert maps.rows[1][:10] == ("gradcam", "error", 5, 0, "zero", 1, "one", 1, "one", 0.8)
    assert [r[3] for r in checks.rows if r[0] == "gradcam"] == [
        *["randomisation_rank_correlation", "randomisation_ssim"] * 3, "deletion_auc", "deletion_random_auc",
        "deletion_difference", "insertion_auc", "insertion_random_auc", "insertion_difference", "centre_share",
        "object_share", "object_excess", "road_score", "errors_vs_correct"]
    row = next(r for r in checks.rows if r[3] == "deletion_difference")
    assert row[5:] == (-0.12, -0.2, -0.05)
    per_image = made["attribution_check_images"]
    assert len(per_image.rows) == sum(len(c.per_image) for c in findings.attribution.checks) == 12
    assert per_image.rows[1][:6] == ("gradcam", 1, 1, "one", 1, "one") and per_image.rows[1][12] == 0.2


# -- the section left out ----------------------------------------------------------------------------------------

def test_without_attribution_json_the_section_its_rules_and_tables_are_left_out(tmp_path):
    docs = documents()
    del docs[T]
    f = load_findings(write_store(tmp_path / "stores", docs))
    assert f.attribution is None
    notes = run_rules(f)
    assert not [n for n in notes if n.section == "attribution" or n.rule.startswith("attribution.")]
    context = build_context(f, notes, tmp_path, "report.css")
    assert "attribution" not in [s.id for s in context.sections]
    assert not {"attribution_maps", "attribution_checks"} & {t.id for t in report_tables(f, ALL)}
    assert "Where the network looks" not in render_html(context)
    # --sections: asked only when shown, and then its figures group is drawn
    assert analysis_parts(("attribution",))["attribution"] and not analysis_parts(("activations",))["attribution"]
    assert figure_groups(("attribution",)) == ("attribution",)


@pytest.mark.parametrize("schema", ["schema-1", "schema-2", "schema-3"])
def test_stores_of_older_schemas_load_without_attribution(schema):
    f = load_findings(FIXTURES / schema)
    assert f.attribution is None
    assert not [n for n in run_rules(f) if n.section == "attribution"]


# -- the drawing -------------------------------------------------------------------------------------------------

def _png(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


@pytest.mark.parametrize("channels", [1, 3])
def test_the_attribution_group_draws_each_map_over_its_image_and_the_charts(channels):
    docs = documents()
    record = from_json(AttributionDocument, docs[T])
    arrays = attribution_arrays(docs[T], channels=channels)
    drawn = dict(draw.figures(arrays, None, from_json(EvaluationDocument, docs["evaluation.json"]), None, None,
                              None, 0, ("attribution",), attribution=record))
    charts = {words.attribution_chart(c.method, check) for c in record.checks
              for check in ("faithfulness", "randomisation")}
    assert set(drawn) == {m.path for m in record.maps} | charts
    first = record.maps[0]
    overlay = _png(drawn[first.path])
    image = np.load(io.BytesIO(arrays[f"arrays/{Path(first.image_path).stem}.npy"]))
    bare = images.picture(overlays.grey(image), overlays.OVERLAY_PX)
    height, width = bare.shape[:2]
    assert overlay.shape[1] == width and overlay.shape[0] > height  # the image, and its colour scale under it
    changed = np.abs(overlay[:height].astype(int) - bare.astype(int)).sum(axis=2) > 30
    assert changed.mean() > 0.2  # the map is visibly there, most on the map's peak (the image's centre)
    assert changed[height // 2, width // 2]
    for chart in charts:
        shape = _png(drawn[chart]).shape
        assert shape[1] >= 450 and shape[0] >= 250, chart  # legible at half the text width


def test_a_store_s_attribution_figures_are_drawn_by_the_figures_step(tmp_path):
    docs = documents()
    store = write_store(tmp_path / "stores", docs, arrays=attribution_arrays(docs[T]))
    folder = ensure_figures(store, ("attribution",))
    record = from_json(AttributionDocument, docs[T])
    for path in [m.path for m in record.maps] + [words.attribution_chart("gradcam", "randomisation")]:
        assert (folder / path).is_file() and (folder / path).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_figures_and_the_page_name_methods_and_charts_alike():
    assert figure_words.ATTRIBUTION_NAMES == words.ATTRIBUTION_NAMES
    assert set(words.ATTRIBUTION_NAMES) == set(ATTRIBUTION_METHODS)
    assert figure_words.ATTRIBUTION_CHART == words.ATTRIBUTION_CHART
    assert figure_words.RANDOMISED_BELOW == rules.RANDOMISED_BELOW



@pytest.mark.parametrize("damage", [
    lambda doc: doc["checks"][0].pop("deletion"),
    lambda doc: doc["maps"][0].pop("target"),
    lambda doc: doc.update(checks=[{"method": "gradcam"}]),
])
def test_an_attribution_document_of_another_shape_is_a_store_error(tmp_path, damage):
    """Hashed and listed, but not of the declared shape (another writer's): one line naming the fix, no traceback."""
    from analysis.errors import StoreError

    docs = documents()
    damage(docs[T])
    with pytest.raises(StoreError, match="lacks an expected field .*: rebuild with `make report`"):
        load_findings(write_store(tmp_path / "stores", docs))


def test_grad_cam_at_each_activation_layer_is_a_sheet_of_its_own(findings):
    from analysis.store.schema import LayerMap

    layers = [LayerMap(layer=name, side=side, positive=positive, index=12, target=2,
                       path=f"images/attribution_layer_{i:02d}_{name}_12.png", image_path="images/input.png",
                       cmap="inferno", centre_share=0.3, object_share=0.4, object_area=0.2)
              for i, (name, side, positive) in enumerate((("relu1", [26, 26], False), ("pool2", [5, 5], True)))]
    f = dataclasses.replace(findings, attribution=dataclasses.replace(findings.attribution, layer_maps=layers))
    view = SECTION_VIEWS["attribution"][1](f, Place("stores/synthetic", {}, "stores/synthetic"))
    assert [fig.caption for fig in view.layers.figures] == ["relu1 · 26×26 map · no positive evidence",
                                                            "pool2 · 5×5 map"]
    assert "At relu1 the gradient-weighted maps are nowhere positive" in view.layers.caption
    assert "the checks above are of conv1 only" in view.layers.caption and "class two" in view.layers.caption
    html = render_section(f)
    assert html.count('class="attribution-sheet attribution-layers"') == 1
    assert 'src="stores/synthetic/images/attribution_layer_01_pool2_12.png"' in html
    assert SECTION_VIEWS["attribution"][1](findings, Place("stores/synthetic", {}, "stores/synthetic")).layers is None
    assert "attribution-layers" not in render_section(findings)
    # the figures step draws them like the other maps
    planned = dict(draw._attribution(f.attribution, lambda path: None))
    assert {m.path for m in layers} <= set(planned)


def test_the_attribution_options_are_checked_and_reach_the_analysis_config():
    from analysis.errors import InputError
    from report.options import AnalysisOptions

    asked = AnalysisOptions(attribution_images=12, attribution_layers="activations")
    config = asked.config(("activations", "attribution"))
    assert (config.attribution_images, config.attribution_layers, config.attribution) == (12, "activations", True)
    with pytest.raises(InputError, match="add activations to --sections"):  # no activation layers to draw at
        asked.config(("attribution",))
    assert asked.config(("accuracy",)).attribution is False  # no attribution asked for: nothing to refuse
    default = AnalysisOptions().config(("attribution",))
    assert (default.attribution_images, default.attribution_layers) == (None, "last")
    assert default.fingerprint() != config.fingerprint()
    with pytest.raises(InputError, match="attribution-images"):
        AnalysisOptions(attribution_images=1)
    with pytest.raises(InputError, match="invalid choice: 'all'"):
        AnalysisOptions(attribution_layers="all")


@pytest.mark.parametrize("change, why", [
    ({"predicted": [0, 1, 2] * 10}, "its balanced accuracy is at chance"),
    ({"confidence": [0.36, 0.35, 0.37] * 10}, "its outputs are nearly uniform"),
])
def test_the_untrained_verdict_says_why(tmp_path, change, why):
    docs = documents()
    docs["evaluation.json"] = evaluation_doc(**change)
    f = load_findings(write_store(tmp_path / "stores", docs))
    verdicts_ = rules.verdict(f)
    assert {n.branch for n in verdicts_} == {"untrained"} and all(f"untrained ({why})" in n.text for n in verdicts_)
    assert rules.randomisation(f) == []  # its sentences speak of learned weights


@pytest.mark.parametrize("interval_, shown", [
    (e(0.2, 0.1, 0.3), "20.0 points (95% CI 10.0 to 30.0)"),
    (e(0.003, 0.0004, 0.006), "0.30 points (95% CI 0.04 to 0.60)"),    # 0.04 would read 0.0: "entirely above 0"?
    (e(-0.001, -0.002, -0.00003), "−0.100 points (95% CI −0.200 to −0.003)"),
    (e(0.0, -0.1, 0.1), "0.0 points (95% CI −10.0 to 10.0)"),
])
def test_points_show_every_end_of_an_interval_other_than_0_as_other_than_0(interval_, shown):
    assert rules.points(interval_) == shown
    assert rules.estimate(e(-0.0012, -0.0028, -0.0003)) == "−0.0012 (95% CI −0.0028 to −0.0003)"


def test_an_interval_end_too_small_for_its_decimals_is_written_with_its_own_digits():
    # ROAD on a network whose outputs barely move: a bootstrap end of 2e-9 above 0 must not read "0.000000"
    # beside "entirely above 0", nor pull the other numbers to six decimals
    assert rules.estimate(e(0.003864, 2e-9, 0.009081)) == "0.004 (95% CI 2.0e−09 to 0.009)"
    assert rules.estimate(e(-0.0012, -0.0028, -0.0003)) == "−0.0012 (95% CI −0.0028 to −0.0003)"
    assert rules.estimate(e(0.12, 0.05, 0.19)) == "0.12 (95% CI 0.05 to 0.19)"
    assert rules.points(e(0.0001, 1e-12, 0.006)) == "0.01 points (95% CI 1.0e−10 to 0.60)"


def test_an_end_within_rounding_noise_of_0_touches_it():
    # bootstrap means of per-image differences that are exactly 0 come out as 1e-15, not as evidence
    noisy = e(0.0039, 1.4e-15, 0.0091)
    assert rules.side(noisy, 0.0) == "both" and rules.side(e(0.0039, 1e-9, 0.0091), 0.0) == "above"
    assert rules.estimate(noisy) == "0.004 (95% CI 0.000 to 0.009)"
    assert rules.faithfulness_branch(noisy, "above") == "undecided"

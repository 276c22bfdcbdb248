"""Alerts with levels, the typed summary and the Markdown summary for CI: both branches of every alert, numbers
equal to the store's, text from the data that cannot break the Markdown, the change since the previous
checkpoint."""

import copy
import json
import re

import pytest
from synthetic import documents, evaluation_doc, write_store

from report import pipeline
from report.render import alerts as alert_rules
from report.render.alerts import alerts, at_least
from report.render.sections import run_rules
from report.render.load import load_findings
from report.render.summary import comparable, markdown, summarise


# evaluation.json of a network at chance (balanced accuracy 40%, 95% CI 25–55%, K = 3), one that avoids the true
# class at random, the synthetic predictions with their labels permuted, and one that learned imbalanced data
AT_CHANCE = evaluation_doc(predicted=[0, 1, 2] * 10)
AVOIDS_TRUE_CLASS = evaluation_doc(predicted=[1, 2] * 5 + [0, 2] * 5 + [0, 1] * 5)
PERMUTED = evaluation_doc(predicted=[1] * 10 + [2] * 9 + [0] + [0] * 8 + [2] * 2)
IMBALANCED_LEARNED = evaluation_doc(labels=[0] * 300 + [1] * 30 + [2] * 10,
                                    predicted=[1] * 17 + [0] * 283 + [0] + [1] * 29 + [0] * 10)


def findings_with(tmp_path, change=None, key="synthetic"):
    docs = copy.deepcopy(documents())
    if change:
        change(docs)
    return load_findings(write_store(tmp_path / "stores", docs, key=key))


def ids(found):
    return [(a.level, a.id) for a in found]


def test_a_sound_store_has_no_alerts(tmp_path):
    assert alerts(findings_with(tmp_path)) == []


@pytest.mark.parametrize("change, expected", [
    (lambda d: d["model.json"].update(non_finite=["conv1.weight"]), [("error", "weights.non_finite")]),
    (lambda d: d.update({"evaluation.json": AT_CHANCE}), [("error", "accuracy.chance")]),
    (lambda d: d.update({"evaluation.json": AVOIDS_TRUE_CLASS}), [("error", "accuracy.below_chance")]),
    (lambda d: d.update({"evaluation.json": PERMUTED}), [("error", "accuracy.permuted")]),
    # issue 30: 90% right where always answering the largest class gives 88%, a balanced accuracy well above 1/K
    (lambda d: d.update({"evaluation.json": IMBALANCED_LEARNED}), []),
    (lambda d: d["evaluation.json"].update(checkpoint_warnings=["the training record was left out: bad"]),
     [("warning", "checkpoint.fields")]),
    (lambda d: d["model.json"]["model"].update(weights="random (seed 0)"), [("warning", "weights.random")]),
    (lambda d: d["evaluation.json"].update(outputs=5), [("warning", "outputs.classes")]),
    (lambda d: d["activations.json"]["input"].update(predicted=1), [("info", "activations.misclassified")]),
])
def test_each_alert_fires_on_its_condition_alone(tmp_path, change, expected):
    assert ids(alerts(findings_with(tmp_path, change))) == expected


def test_random_weights_at_chance_are_one_warning_not_an_error(tmp_path):
    def random_at_chance(docs):
        docs["model.json"]["model"]["weights"] = "random (seed 0)"
        docs["evaluation.json"] = AT_CHANCE
    assert ids(alerts(findings_with(tmp_path, random_at_chance))) == [("warning", "weights.random")]


def test_alerts_come_most_severe_first_and_the_threshold_counts_levels_above(tmp_path):
    def several(docs):
        docs["activations.json"]["input"]["predicted"] = 1
        docs["evaluation.json"]["outputs"] = 5
        docs["model.json"]["non_finite"] = ["fc.bias"]
    found = alerts(findings_with(tmp_path, several))
    assert ids(found) == [("error", "weights.non_finite"), ("warning", "outputs.classes"),
                          ("info", "activations.misclassified")]
    assert ids(at_least(found, "error")) == ids(found)[:1] and ids(at_least(found, "warning")) == ids(found)[:2]
    assert [rule.__name__ for rule in alert_rules.ALERTS] == ["non_finite", "non_finite_outputs", "at_chance",
                                                              "checkpoint_fields", "random_weights",
                                                              "outputs_and_classes", "misclassified_map_input"]


def test_the_summary_is_the_stores_numbers(tmp_path):
    f = findings_with(tmp_path)
    s = summarise(f)
    model, evaluation, separation = (json.loads((f.store_dir / n).read_text()) for n in
                                     ("model.json", "evaluation.json", "separation.json"))
    assert s.parameters == model["parameters"]["total"] and s.macs == model["trace"]["total_macs"]
    assert (s.n_test, s.correct, s.accuracy) == (evaluation["n_test"], evaluation["correct"], evaluation["accuracy"])
    assert s.class_accuracy == {"zero": 1.0, "one": 0.9, "two": 0.8}
    assert (s.separation_ratio, s.silhouette) == (separation["ratio"], separation["silhouette"])
    assert s.nearest_centroid_accuracy == separation["nearest_centroid_accuracy"]
    assert s.alerts == {"info": 0, "warning": 0, "error": 0} and s.as_dict()["parameters"] == s.parameters


def test_the_markdown_states_the_numbers_the_alerts_and_the_key_findings(tmp_path):
    from report.render import fmt

    f = findings_with(tmp_path, lambda d: d["evaluation.json"].update(outputs=5))
    notes = run_rules(f)
    text = markdown(f, notes, alerts(f), [n for n in notes if n.rule == "accuracy.overall"])
    from scipy.stats import binomtest

    wilson = binomtest(27, 30).proportion_ci(method="wilson")  # recomputed, not read from the store
    assert f"| Test accuracy | {fmt.percent(0.9)} (95% CI {fmt.percent_range(wilson.low, wilson.high)}), 27 of 30 |" in text
    assert f"| Parameters | {fmt.integer(f.parameters.total)} (" in text
    assert (f"| Separation, all test images (inter/intra MSE, a squared distance) | {fmt.ratio(f.separation.ratio)} |"
            in text)
    # the silhouette names its distance, as the page's headline does (MSE's is on squared Euclidean distance)
    assert f"| Silhouette (on squared Euclidean distance) | {fmt.number(f.separation.silhouette, 3)} |" in text
    assert "- **warning**: The model has 5 outputs but the data has 3 classes" in text
    assert "### Key findings" in text and "Since" not in text


def test_names_from_the_data_cannot_break_the_markdown(tmp_path):
    def hostile(docs):
        docs["evaluation.json"]["class_names"][0] = "a|b [link](http://x) <img src=x> *star*\nnext"
        docs["evaluation.json"]["per_class"][0]["accuracy"] = 0.5
    f = findings_with(tmp_path, hostile)
    notes = run_rules(f)
    text = markdown(f, notes, alerts(f), notes)
    assert "<img" not in text and not re.search(r"(?<!\\)\]\(", text) and not re.search(r"(?<!\\)\|b", text)
    assert r"a\|b \[link\](http://x) &lt;img src=x&gt; \*star\* next" in text
    assert all(line.count("|") - line.count(r"\|") in (0, 3, 5) for line in text.splitlines() if line.startswith("|"))


def test_escape_sequences_from_the_data_never_reach_the_markdown(tmp_path):
    """summary.md is shown in terminals (cat, CI logs) too: a class name holding an escape sequence, a bidi
    override or a bell is written as its escape."""
    def hostile(docs):
        docs["evaluation.json"]["class_names"][0] = "red\x1b[31m\x1b]8;;http://x\x07click\u202etxt"
        docs["evaluation.json"]["per_class"][0]["accuracy"] = 0.5
    f = findings_with(tmp_path, hostile)
    notes = run_rules(f)
    text = markdown(f, notes, alerts(f), notes)
    assert not [c for c in text if not c.isprintable() and c != "\n"], "a control character reached summary.md"
    assert "red\\x1b" in text and "\\u202etxt" in text


def test_the_change_since_the_previous_checkpoint_is_shown_only_for_the_same_model(tmp_path):
    before = summarise(findings_with(tmp_path, key="before"))
    def better(docs):
        docs["evaluation.json"].update(correct=29, accuracy=29 / 30)
    f = findings_with(tmp_path, better, key="after")
    f = type(f)(**{**f.__dict__, "provenance": type(f.provenance)(**{**f.provenance.__dict__,
                                                                     "checkpoint_sha256": "12" * 32})})
    now = summarise(f)
    assert comparable(now, before) and not comparable(now, None) and not comparable(before, before)
    text = markdown(f, [], [], [], before)
    assert re.search(r"\| Test accuracy \| 90\.0 ?% \| 96\.7 ?% \| \+6\.67 points \|", text), text
    other = type(before)(**{**before.as_dict(), "model": "OtherNet"})
    assert "Since" not in markdown(f, [], [], [], other)


def test_rendering_writes_the_summary_and_compares_with_the_report_it_replaces(tmp_path):
    first = write_store(tmp_path / "stores", key="first")
    docs = copy.deepcopy(documents())
    docs["evaluation.json"].update(correct=29, accuracy=29 / 30)
    second = write_store(tmp_path / "stores", docs, key="second")
    manifest = json.loads((second / "manifest.json").read_text())
    manifest["inputs"]["checkpoint"]["sha256"] = "98" * 32  # another checkpoint of the same model
    (second / "manifest.json").write_text(json.dumps(manifest))
    pipeline.render(pipeline.RenderPlan(tmp_path, first, ("html",)))
    assert "Since" not in (tmp_path / "summary.md").read_text()
    pipeline.render(pipeline.RenderPlan(tmp_path, second, ("html",)))
    text = (tmp_path / "summary.md").read_text()
    assert "### Since" in text and "+6.67 points" in text
    pipeline.render(pipeline.RenderPlan(tmp_path, second, ("html",), force=True))  # a re-render keeps it
    assert "+6.67 points" in (tmp_path / "summary.md").read_text()

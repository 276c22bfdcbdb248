"""Compare any two models analysed on the same data (issue 32): `compare A B --model-b SOURCE` sets two
architectures side by side (accuracy with its interval, McNemar's exact test on the paired per-image results,
per-class recall, parameters, multiply-accumulates, separation); parameter drift and kernel grids only for one
architecture; two stores of other test images refused in one line."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
from conftest import run_main
from scipy.stats import binomtest
from synthetic import documents, write_store

from analysis.compare import SideResults, paired_comparison
from analysis.errors import InputError
from analysis.store.schema import to_json
from report import pipeline
from report.options import AnalysisOptions, PairOptions
from report.render.interpret import changes
from report.render.load import load_findings
from report.render.views import compare_view

TINY = '''
import torch.nn as nn


class Tiny(nn.Module):
    """Another architecture than the assignment CNN, for the same 28x28 digits."""

    def __init__(self, width: int = 4):
        super().__init__()
        self.conv = nn.Conv2d(1, width, 3)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(width, 10)

    def forward(self, x):
        return self.fc(self.pool(self.conv(x).relu()).flatten(1))
'''


def _save_checkpoints(folder: Path) -> tuple[Path, Path]:
    """A random assignment CNN (seed 1) and a random Tiny (seed 2), saved as state_dicts in ``folder``, beside
    the module that defines Tiny (imported from the working folder as tmpmod:Tiny)."""
    import importlib.util

    import torch

    from analysis.models.assignment import AssignmentCNN

    (folder / "tmpmod.py").write_text(TINY)
    spec = importlib.util.spec_from_file_location("tiny_to_save", folder / "tmpmod.py")  # not left in sys.modules
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    torch.manual_seed(1)
    torch.save(AssignmentCNN().state_dict(), folder / "cnn.pt")
    torch.manual_seed(2)
    torch.save(module.Tiny().state_dict(), folder / "tiny.pt")
    return folder / "cnn.pt", folder / "tiny.pt"


def _correctness(store: Path) -> list[bool]:
    evaluation = load_findings(store).evaluation
    assert len(evaluation.predicted) == len(evaluation.labels) == evaluation.n_test > 0
    return [p == y for p, y in zip(evaluation.predicted, evaluation.labels)]


def _binomial_two_sided(k: int, n: int) -> float:
    """The exact two-sided binomial p-value at 1/2, summed by hand: twice the smaller tail, at most 1."""
    tail = sum(math.comb(n, i) for i in range(min(k, n - k) + 1)) / 2 ** n
    return min(1.0, 2 * tail)


@pytest.mark.slow  # analyses two models of two architectures
def test_two_architectures_on_the_same_data(tmp_path, monkeypatch):
    """The assignment CNN against a user's nn.Module given as B's model (``--model-b tmpmod:Tiny``), run from the
    folder that holds its module: both are analysed on the same digits and set side by side; McNemar's numbers
    are recomputed here from the two stores' own per-image results."""
    import sys

    from report import api

    cnn, tiny = _save_checkpoints(tmp_path)
    out = tmp_path / "out"
    monkeypatch.chdir(tmp_path)
    try:  # the sections that show the headline numbers (the command line's compare analyses them all)
        api.compare(cnn.name, tiny.name, model_b="tmpmod:Tiny", out=out, formats="html",
                    sections="parameters,accuracy,separation")
    finally:
        sys.modules.pop("tmpmod", None)  # imported from tmp_path: not the next test's
    (compare_dir,) = (out / "compares").iterdir()
    stored = json.loads((compare_dir / "compare.json").read_text())
    # two architectures: no tensor pairs up, so no drift and no kernels are stored or shown
    assert (stored["drift"], stored["unmatched"], stored["images"], stored["kernels"]) == ([], [], {}, None)
    store_a, store_b = (out / "stores" / stored[side]["store"] for side in ("a", "b"))
    a, b = load_findings(store_a), load_findings(store_b)
    assert (a.model_class, b.model_class, b.model_source) == ("AssignmentCNN", "Tiny", "tmpmod:Tiny")
    assert a.provenance.data_kind == b.provenance.data_kind and a.evaluation.labels == b.evaluation.labels

    right_a, right_b = _correctness(store_a), _correctness(store_b)
    b_count = sum(x and not y for x, y in zip(right_a, right_b))
    c_count = sum(y and not x for x, y in zip(right_a, right_b))
    test = stored["paired"]["mcnemar"]
    assert (test["n"], test["a_only"], test["b_only"]) == (len(right_a), b_count, c_count)
    assert b_count + c_count > 0
    # compare.json keeps 7 significant digits
    assert test["p_value"] == pytest.approx(binomtest(b_count, b_count + c_count, 0.5).pvalue, rel=1e-6)
    assert test["p_value"] == pytest.approx(_binomial_two_sided(b_count, b_count + c_count), rel=1e-6)

    notes = {n["rule"]: n for n in json.loads((out / "compare-notes.json").read_text())["notes"]}
    paired = notes["compare.paired"]
    significant = test["p_value"] < 0.05
    assert paired["branch"] == (("a-better" if b_count > c_count else "b-better") if significant
                                else "not-significant")
    assert f"b = {b_count}" in paired["text"] and f"c = {c_count}" in paired["text"]
    assert "compare.drift" not in notes

    html = (out / "compare.html").read_text()
    assert "<h1>AssignmentCNN (A) against Tiny (B)</h1>" in html
    assert "cnn.pt: AssignmentCNN (assignment)" in html and "tiny.pt: Tiny (tmpmod:Tiny)" in html
    assert 'id="drift"' not in html and 'id="kernels"' not in html and "no parameter drift" in html
    assert "McNemar&#39;s exact test" in html or "McNemar's exact test" in html
    said = re.search(r"p = ([0-9.e-]+), (not )?below 0\.05", html)
    assert said and (said.group(2) is None) == significant
    assert float(said.group(1)) == pytest.approx(test["p_value"], rel=0.05)
    if not significant:
        assert "classifies more test images correctly" not in html
    assert "<td>Multiply-accumulates per image</td>" in html and "<td>Parameters</td>" in html
    recall_rows = re.findall(r'<tr><td class="t">(\d)</td><td>100</td>', html)
    assert recall_rows == [str(digit) for digit in range(10)]  # every digit's recall, A and B side by side
    assert "Silhouette on Euclidean distance (scale-free)" in html  # the single report's separation headline


# --- the significance sentence, both ways, with hand-made numbers ------------------------------------------------

def _sides(b: int, c: int, both_right: int = 20, both_wrong: int = 1) -> tuple[SideResults, SideResults]:
    """Two sides over one split of class-0 images with these McNemar counts (1 is a wrong answer)."""
    a = [0] * both_right + [0] * b + [1] * c + [1] * both_wrong
    other = [0] * both_right + [1] * b + [0] * c + [1] * both_wrong
    split, n = {"kind": "synthetic", "files": {}}, len(a)
    return (SideResults(split=split, correct=a.count(0), n=n, labels=[0] * n, predicted=a),
            SideResults(split=split, correct=other.count(0), n=n, labels=[0] * n, predicted=other))


def _doc(sides: tuple[SideResults, SideResults]) -> dict:
    """compare.json of two architectures: no drift, no kernels."""
    return {"a": {"file": "a.pt", "sha256": "12" * 32, "store": "a"},
            "b": {"file": "b.pt", "sha256": "34" * 32, "store": "b"},
            "drift": [], "unmatched": [], "images": {}, "kernels": None,
            "paired": to_json(paired_comparison(*sides)), "scale": None}


@pytest.mark.parametrize("b, c, verdict, branch", [
    (10, 0, "A classifies more test images correctly than B (b = 10, c = 0, p = 0.0020, below 0.05)", "a-better"),
    (1, 9, "B classifies more test images correctly than A (b = 1, c = 9, p = 0.021, below 0.05)", "b-better"),
    (3, 6, "the difference is not significant with these 30 images (b = 3, c = 6, p = 0.51, not below 0.05)",
     "not-significant"),
    (2, 7, "the difference is not significant with these 30 images (b = 2, c = 7, p = 0.18, not below 0.05)",
     "not-significant"),
])
def test_one_is_called_better_only_below_the_level(tmp_path, b, c, verdict, branch):
    """The page's verdict and the sentence say which classifies more images correctly only when McNemar's p is
    below 0.05, and give p, b and c either way."""
    sides = _sides(b, c)
    assert paired_comparison(*sides).mcnemar.p_value == pytest.approx(_binomial_two_sided(b, b + c))
    findings = load_findings(write_store(tmp_path, documents()))
    view = compare_view(findings, findings, _doc(sides), [], "", "", "compares/k")
    assert view.paired.verdict == verdict
    (note,) = [n for n in changes.run(findings, findings, _doc(sides)) if n.rule == "compare.paired"]
    assert note.branch == branch and f"b = {b}" in note.text and f"c = {c}" in note.text
    assert ("is better than" in note.text) == (branch != "not-significant")


def test_the_page_of_two_architectures_leaves_out_drift_and_kernels(tmp_path):
    """The view decides from the two stores' models: another model's class and parameter shapes leave out the
    drift and kernel sections, with the reason; the same one keeps them."""
    from report.render.comparison import CompareContext
    from report.render.documents import render_template

    docs = documents()
    one = load_findings(write_store(tmp_path, docs, key="one"))
    docs["model.json"]["model"]["class"] = "Other"
    docs["model.json"]["parameters"]["layers"][0]["weight_shape"] = [99, 1, 3, 3]
    other = load_findings(write_store(tmp_path, docs, key="other"))
    view = compare_view(one, other, _doc(_sides(3, 6)), [], "", "", "compares/k")
    assert not view.same_architecture and view.kernels == [] and view.drift_plot == ""
    assert view.architecture_note.startswith("A is TinyCNN (tiny:TinyCNN) and B is Other (tiny:TinyCNN): two "
                                             "architectures")
    assert view.heading == "TinyCNN (A) against Other (B)" and view.distances_number == "2"
    assert [(r.name, r.a) for r in view.recall][:1] == [("zero", "100.0% (95% CI 72.2–100.0%)")]
    html = render_template("compare.html.j2", CompareContext(title="t", generated="g", created_iso="c",
                                                             stylesheet="s.css", view=view))
    assert 'id="drift"' not in html and 'id="kernels"' not in html and "no parameter drift" in html
    same = compare_view(one, one, _doc(_sides(3, 6)), [], "stores/a", "stores/a", "compares/k")
    assert same.same_architecture and same.architecture_note == "" and len(same.kernels) == 2


# --- the same test images, or a refusal -----------------------------------------------------------------------------

def _store_of(folder: Path, key: str, data: dict) -> Path:
    store = write_store(folder, documents(), key=key)
    manifest = json.loads((store / "manifest.json").read_text())
    manifest["inputs"]["data"] = data  # the data identity the analysis recorded
    (store / "manifest.json").write_text(json.dumps(manifest))
    return store


def test_stores_of_other_test_images_are_refused_in_one_line(tmp_path, monkeypatch):
    """Two stores whose recorded data identities differ did not classify the same images: no paired test can be
    made of them, so compare refuses in one line and writes no page."""
    stores = {"a.pt": _store_of(tmp_path / "stores", "a", {"kind": "npz", "files": {"x.npz": "ab" * 32}}),
              "b.pt": _store_of(tmp_path / "stores", "b", {"kind": "npz", "files": {"x.npz": "cd" * 32}})}
    monkeypatch.setattr(pipeline, "ensure_store", lambda options, checkpoint: (stores[checkpoint.name], False))
    out = tmp_path / "out"
    result = run_main("compare", str(tmp_path / "a.pt"), str(tmp_path / "b.pt"), "--model-b", "tmpmod:Tiny",
                      "--out", str(out), "--format", "html")
    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert line.startswith("report: error: a.pt and b.pt were analysed on different test images (data identity ")
    assert line.endswith("so their results cannot be paired image by image: analyse both on the same --data")
    assert not (out / "compare.html").exists()


def test_stores_of_the_same_test_images_pass(tmp_path):
    from report.commands import refuse_other_test_images

    data = {"kind": "npz", "files": {"x.npz": "ab" * 32}}
    stores = [_store_of(tmp_path, key, data) for key in ("a", "b")]
    refuse_other_test_images(Path("a.pt"), Path("b.pt"), *stores)  # no error


# --- B's own model source ---------------------------------------------------------------------------------------

def test_b_takes_its_own_model_and_everything_else_from_a():
    analysis = AnalysisOptions(model="torchvision:resnet18", model_kwargs={"num_classes": 3}, seed=4, data="d")
    b = PairOptions(model_b="torchvision:mobilenet_v3_small", model_kwargs_b='{"num_classes": 3}').b_of(analysis)
    assert (b.model, b.model_kwargs, b.seed, b.data) == ("torchvision:mobilenet_v3_small", '{"num_classes": 3}', 4,
                                                         "d")
    assert analysis.config(("parameters",)).model != b.config(("parameters",)).model  # two stores
    assert PairOptions().b_of(analysis) is analysis  # without --model-b, B is A's model


def test_model_kwargs_b_needs_model_b_at_either_door(tmp_path):
    with pytest.raises(InputError, match="^--model-kwargs-b needs --model-b: "):
        PairOptions(model_kwargs_b='{"width": 2}')
    with pytest.raises(InputError, match="^--model-kwargs-b is not valid JSON"):
        PairOptions(model_b="tmpmod:Tiny", model_kwargs_b="{width")
    result = run_main("compare", "a.pt", "b.pt", "--model-kwargs-b", '{"width": 2}', "--out", str(tmp_path / "o"))
    assert result.returncode == 2 and result.stderr.startswith("report: error: --model-kwargs-b needs --model-b")
    assert len(result.stderr.splitlines()) == 1 and not (tmp_path / "o").exists()


def test_the_api_gives_b_its_model(tmp_path, monkeypatch):
    import report
    from report.workspace import Workspace

    calls = []
    monkeypatch.setattr(Workspace, "compare", lambda self, *args: calls.append(args) or "done")
    assert report.compare("a.pt", "b.pt", out=tmp_path, model="torchvision:resnet18",
                          model_b="torchvision:mobilenet_v3_small") == "done"
    ((a, b, analysis, pair),) = calls
    assert (analysis.model, pair.model_b) == ("torchvision:resnet18", "torchvision:mobilenet_v3_small")

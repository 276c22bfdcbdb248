"""The scenario zoo's reports (tests/scenarios.py), read as issue 30 asks: every sentence checked against the
invariants (its rule, branch and evidence; no comparative claim without an interval or on a class under the
small-sample threshold; no two sentences that contradict each other) and every percentage of a sentence
about accuracy recomputed from the stored per-image predictions with scikit-learn and scipy, and the true
labels of the scenario's own data (not the store's).

Each scenario is built once per module, when a test first asks for it (`-k colours` builds only that one).
The store is read through report.render.load; notes.json is the build's list of sentences.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, run_cli

from scenarios import SCENARIOS, make

from report.render.interpret.attribution import ERRORS_EACH

pytestmark = pytest.mark.slow

SMALL_CLASS = 20          # issue 30: classes with fewer test images are kept out of comparative claims
PAGE_BUDGET = 30          # issue 30: 100 classes or 60 samples, at most 30 pages
WITH_PDF = {"hundred-classes", "resnet-60"}   # the others are built as HTML only (faster; notes are the same)
# The seven; the default report is left to bench/scenarios.py (here it would train 10 epochs).
BUILT = [name for name in SCENARIOS if name != "default"]


@dataclasses.dataclass
class Built:
    name: str
    scenario: object
    out: Path
    notes: list[dict]
    findings: object
    labels: np.ndarray            # the true test labels, from the scenario's own data

    @property
    def evaluation(self):
        return self.findings.evaluation

    @property
    def names(self) -> list[str]:
        return list(self.evaluation.class_names)

    def support(self) -> np.ndarray:
        return np.bincount(self.labels, minlength=len(self.names))

    def small_classes(self) -> set[str]:
        return {name for name, n in zip(self.names, self.support()) if n < SMALL_CLASS}


def true_labels(scenario) -> np.ndarray:
    if "--data" in scenario.build:
        with np.load(scenario.build[scenario.build.index("--data") + 1], allow_pickle=False) as arrays:
            return arrays["y_test"].astype(int)
    from analysis.data.datasets import load_embedded   # the embedded digits, split as the tool splits them

    return load_embedded(scenario.cwd / "cache").test.labels.astype(int)


def read_build(name: str, scenario, out: Path, store_out: Path | None = None) -> Built:
    from report.render.load import load_findings

    store_out = store_out or out
    store = store_out / "stores" / (store_out / "current-store.txt").read_text().strip()
    notes = json.loads((out / "notes.json").read_text())["notes"]
    return Built(name, scenario, out, notes, load_findings(store), true_labels(scenario))


class Zoo:
    """Builds each scenario on first use and keeps it for the module."""

    def __init__(self, root: Path):
        self.root = root
        self.built: dict[str, Built] = {}
        self.scenarios: dict[str, object] = {}

    def scenario(self, name: str):
        if name not in self.scenarios:
            self.scenarios[name] = make(name, self.root / name / "inputs")
        return self.scenarios[name]

    def get(self, name: str, default_build=None) -> Built:
        if name not in self.built:
            scenario = self.scenario(name)
            if name == "default":
                out, _ = default_build    # the session's `make report` build
            else:
                out = self.root / name / "build"
                formats = "html,pdf" if name in WITH_PDF else "html"
                done = run_cli(*scenario.build, "--out", str(out), "--format", formats, "--quiet",
                               cwd=scenario.cwd, env={"PYTHONPATH": str(ROOT)})
                assert done.returncode == 0, f"{name}: {done.stderr}"
            self.built[name] = read_build(name, scenario, out)
        return self.built[name]

    def command(self, name: str, kind: str) -> Path:
        """The compare or history command of a scenario, run once into the build's folder, whose stores it
        reuses (the same checkpoint and options give the same store); the folder."""
        out = self.root / name / "build"
        if not list(out.glob(f"{kind}.html")):
            scenario = self.scenario(name)
            done = run_cli(*getattr(scenario, kind), "--out", str(out), "--format", "html", "--quiet",
                           cwd=scenario.cwd, env={"PYTHONPATH": str(ROOT)})
            assert done.returncode == 0, f"{name} {kind}: {done.stderr}"
        return out


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    return Zoo(tmp_path_factory.mktemp("zoo"))


@pytest.fixture
def built(request, zoo):
    name = request.param
    return zoo.get(name, request.getfixturevalue("default_build") if name == "default" else None)


every_scenario = pytest.mark.parametrize("built", BUILT, indirect=True)


# --- reading sentences ---------------------------------------------------------------------------------

# A percentage, or a range of two ("73.5–100.0%"); not a confidence level ("95% interval", "95 % CI").
PERCENT = re.compile(r"(?<![\d.,])(\d+(?:\.\d+)?)(?:\s*[–-]\s*(\d+(?:\.\d+)?))?\s*%"
                     r"(?!\s*(?:Wilson\s+)?(?:confidence\s+)?(?:interval|CI\b|level))")
ABOUT_ACCURACY = re.compile(r"accura|correct|classif|right for|predict|recall|precision|\bF1\b|chance|"
                            r"most frequent|largest class|majority", re.I)
COMPARATIVE = re.compile(r"\b(weakest|strongest|more compact|less compact|most compact|least compact|"
                         r"better|worse|best|worst)\b", re.I)
SMALL_FLAGGED = re.compile(r"fewer than \d+|too few|under \d+|too small|only \d+ test images?", re.I)
# A clause that denies an ordering makes no comparative claim ("which class is more compact is not established").
DENIED = re.compile(r"not established|no class is|neither|cannot be (?:called|ranked|compared)|"
                    r"is not (?:reliably|shown)", re.I)
# Class names that are ordinary words of the report's prose (CIFAR-100 has "can", "plain", "train"...):
# their mention is not taken as naming the class.
PROSE_WORDS = {"can", "plain", "train", "table", "sea", "man", "road", "cloud", "forest", "house"}


# "under 0.1%" says only where the value lies; "at least 75.8%" gives the bound itself, so it is a value.
BOUNDED = re.compile(r"\b(under|below|less than|over|above|more than)\s*$", re.I)
UPPER_BOUNDS = {"under", "below", "less than"}


def percentages(text: str) -> list[tuple[str, float, int, str]]:
    """(as shown, value in [0, 1], decimals shown, bound) for each percentage of ``text``; bound is "" for a
    value, "<" or ">" when the text says only that it lies under or over it ("under 0.1%")."""
    found = []
    for match in PERCENT.finditer(text):
        qualifier = BOUNDED.search(text[:match.start()])
        bound = "" if not qualifier else "<" if qualifier.group(1).lower() in UPPER_BOUNDS else ">"
        for shown in filter(None, match.groups()):
            decimals = len(shown.split(".")[1]) if "." in shown else 0
            found.append((shown + "%", float(shown) / 100, decimals, bound))
            bound = ""  # a range's second number is a value
    return found


def clauses(text: str) -> list[str]:
    """The sentences of a note (a note may hold several)."""
    return [part for part in re.split(r"(?<=;)\s+|(?<=[.:])\s+(?=[A-Z(])", text) if part]


def names_in(text: str, names) -> set[str]:
    """The class names ``text`` mentions; a numeric name (digits) only as "class N", since numbers abound."""
    found = set()
    for name in names:
        if name.lower() in PROSE_WORDS:
            continue
        pattern = (rf"\bclass(?:es)? {re.escape(name)}(?![\w.-])" if name.isdigit()
                   else rf"(?<![\w-]){re.escape(name)}(?![\w-])")
        if re.search(pattern, text):
            found.add(name)
    return found


def about_classes(clause: str, names) -> bool:
    """Whether a clause speaks of classes: the word (not inside "intra-class"), digits as classes, or a name."""
    return bool(re.search(r"(?<![\w-])(?:class(?:es)?|digits?|\d+s)(?![\w-])", clause, re.I)
                or names_in(clause, names))


def has_interval(evidence) -> bool:
    """Whether the evidence holds an interval anywhere: a key naming one, or a {value, low, high} record."""
    if isinstance(evidence, dict):
        if any(re.search(r"interval|(^|_)ci(_|$)|low|high|lower|upper|wilson", str(key), re.I) for key in evidence):
            return True
        return any(has_interval(value) for value in evidence.values())
    if isinstance(evidence, (list, tuple)):
        if len(evidence) == 3 and all(isinstance(v, (int, float)) for v in evidence):
            value, low, high = evidence  # [value, low, high], as the accuracy rules store an interval
            return low <= value <= high and low < high
        return any(has_interval(value) for value in evidence)
    return False


def evidence_values(evidence, key: str) -> list:
    """Every value stored under ``key`` anywhere in a note's evidence."""
    if isinstance(evidence, dict):
        found = [evidence[key]] if key in evidence else []
        return found + [v for value in evidence.values() for v in evidence_values(value, key)]
    if isinstance(evidence, (list, tuple)):
        return [v for value in evidence for v in evidence_values(value, key)]
    return []


def show(note: dict) -> str:
    return f"{note['rule']} [{note['branch']}]: {note['text']}"


# --- independent recomputation ----------------------------------------------------------------------------

def wilson(k: int, n: int) -> tuple[float, float]:
    from scipy.stats import binomtest

    interval = binomtest(int(k), int(n)).proportion_ci(confidence_level=0.95, method="wilson")
    return float(interval.low), float(interval.high)


def predicted_of(built: Built) -> np.ndarray:
    predicted = np.asarray(built.evaluation.predicted, dtype=int)
    assert len(predicted) == len(built.labels), (
        f"{built.name}: evaluation.json holds {len(predicted)} per-image predictions for {len(built.labels)} test "
        "images (issue 30 item 1 stores each test image's prediction)")
    return predicted


def nearest_centroid_left_out(embeddings: np.ndarray, labels: np.ndarray, metric: str) -> tuple[int, int]:
    """(right, judged): each image against its own class's centroid computed without it, (n·c − x)/(n − 1), and
    every other class's full centroid; images alone in their class are not judged."""
    classes = np.unique(labels)
    centroids = np.stack([embeddings[labels == c].mean(0) for c in classes])
    counts = np.array([(labels == c).sum() for c in classes])
    right = judged = 0
    for x, label in zip(embeddings, labels):
        own = int(np.searchsorted(classes, label))
        if counts[own] < 2:
            continue
        moved = centroids.copy()
        moved[own] = (counts[own] * centroids[own] - x) / (counts[own] - 1)
        if metric == "cosine":
            distance = 1 - moved @ x / (np.linalg.norm(moved, axis=1) * np.linalg.norm(x) + 1e-12)
        else:
            distance = ((moved - x) ** 2).sum(1)
        right += int(np.argmin(distance) == own)
        judged += 1
    return right, judged


def recomputed(built: Built) -> dict[str, float]:
    """Every proportion a sentence about accuracy may cite, recomputed from the stored predictions and the true
    labels: name -> value in [0, 1]."""
    from scipy.optimize import linear_sum_assignment
    from sklearn.metrics import balanced_accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

    labels, predicted = built.labels, predicted_of(built)
    k, n = len(built.names), len(labels)
    right = predicted == labels
    values = {"accuracy": right.mean()}
    values["accuracy low"], values["accuracy high"] = wilson(right.sum(), n)
    present = np.unique(labels)
    values["balanced accuracy"] = balanced_accuracy_score(labels, predicted)
    values["macro F1 (classes present)"] = f1_score(labels, predicted, labels=present, average="macro", zero_division=0)
    values["macro F1 (all classes)"] = f1_score(labels, predicted, labels=range(k), average="macro", zero_division=0)
    values["chance 1/K"], values["chance 1/K (all)"] = 1 / len(present), 1 / k
    precision, recall, f1, support = precision_recall_fscore_support(labels, predicted, labels=range(k),
                                                                     zero_division=0)
    counts = np.bincount(predicted[(predicted >= 0) & (predicted < k)], minlength=k)
    for c, name in enumerate(built.names):
        values[f"{name} precision"], values[f"{name} recall"], values[f"{name} F1"] = precision[c], recall[c], f1[c]
        values[f"{name} share of labels"] = support[c] / n
        values[f"{name} share of predictions"] = counts[c] / n
        values[f"{name} share of predictions low"], values[f"{name} share of predictions high"] = wilson(counts[c], n)
        if support[c]:
            values[f"{name} recall low"], values[f"{name} recall high"] = wilson(right[labels == c].sum(), support[c])
    matrix = confusion_matrix(labels, predicted, labels=range(k))
    rows, columns = linear_sum_assignment(-matrix)
    values["relabelled accuracy"] = matrix[rows, columns].sum() / n
    values["relabelled accuracy low"], values["relabelled accuracy high"] = wilson(matrix[rows, columns].sum(), n)
    confidence = np.array([c for c in built.evaluation.confidence if c is not None], dtype=float)
    for i, c in enumerate(built.evaluation.confidence):
        if c is not None:
            values[f"confidence of #{i}"] = c
    if len(confidence):
        values["mean confidence"] = confidence.mean()
        values["confidence minus accuracy"] = abs(confidence.mean() - right.mean())
    values.update(calibration_figures(built, right))
    values.update(stored_intervals(built, values))
    values.update(centroid_figures(built))
    training = built.evaluation.training or {}
    for row in training.get("history", []) or []:  # the checkpoint's own record, quoted as such
        values[f"training record epoch {row.get('epoch')}"] = row.get("test_accuracy") or 0.0
    return values


def calibration_figures(built: Built, right: np.ndarray) -> dict[str, float]:
    """The expected calibration error over equal-width bins, as many as the store's calibration has."""
    quality = built.evaluation.quality
    if quality is None or quality.calibration is None:
        return {}
    confidence = np.array([c if c is not None else np.nan for c in built.evaluation.confidence], dtype=float)
    keep = np.isfinite(confidence)
    conf, hits = confidence[keep], right[keep]
    edges = np.linspace(0, 1, len(quality.calibration.bins) + 1)
    which = np.clip(np.digitize(conf, edges[1:-1], right=False), 0, len(edges) - 2)
    ece = sum(abs(hits[which == b].mean() - conf[which == b].mean()) * (which == b).mean()
              for b in range(len(edges) - 1) if (which == b).any())
    return {"ECE": ece}


def stored_intervals(built: Built, values: dict[str, float]) -> dict[str, float]:
    """Bootstrap and normal-approximation bounds cannot be recomputed to the digit independently: the stored
    ones are admitted when the stored value they belong to is the recomputed one and they enclose it."""
    quality = built.evaluation.quality
    if quality is None:
        return {}
    admitted = {}
    pairs = [("balanced accuracy", quality.balanced_accuracy)]
    if quality.calibration is not None:
        pairs += [("ECE", quality.calibration.ece), ("confidence minus accuracy", quality.calibration.gap)]
    if quality.relabelling is not None:
        pairs.append(("relabelled balanced accuracy", quality.relabelling.balanced_accuracy))
    for name, interval in pairs:
        value = values.get(name, interval.value)
        encloses = interval.low - 1e-9 <= interval.value <= interval.high + 1e-9
        if abs(abs(interval.value) - abs(value)) < 1e-6 and encloses:
            admitted.update({f"{name} (stored)": abs(interval.value), f"{name} low (stored)": abs(interval.low),
                             f"{name} high (stored)": abs(interval.high)})
    return admitted


def centroid_figures(built: Built) -> dict[str, float]:
    """Nearest-centroid accuracy with each image left out of its own centroid, from the stored whole-split
    embeddings, and its Wilson interval."""
    separation = built.findings.separation
    if separation is None:
        return {}
    from report.render.load import verify, checked_manifest

    store = Path(built.findings.store_dir)
    verify(store, checked_manifest(store))     # the array is the one the manifest lists
    embeddings = np.load(store / separation.embeddings_file, allow_pickle=False).astype(np.float64)
    labels = built.labels
    finite = np.isfinite(embeddings).all(1)
    right, judged = nearest_centroid_left_out(embeddings[finite], labels[finite], separation.metric)
    if not judged:
        return {}
    low, high = wilson(right, judged)
    return {"nearest centroid (left out)": right / judged, "nearest centroid low": low,
            "nearest centroid high": high}


def matches(value: float, decimals: int, candidates: dict[str, float], bound: str = "") -> bool:
    """A shown percentage is right when a candidate rounds to it; "under X%" when a candidate lies within one
    shown unit below X (not merely any smaller figure), "over X%" within one unit above."""
    unit = 10 ** -decimals / 100
    for c in map(float, candidates.values()):
        if (bound == "" and abs(value - c) <= unit / 2 + 1e-9
                or bound == "<" and value - unit - 1e-9 <= c < value
                or bound == ">" and value < c <= value + unit + 1e-9):
            return True
    return False


# --- invariants on every report ------------------------------------------------------------------------------

@every_scenario
def test_every_note_has_rule_branch_and_evidence(built):
    """A sentence without its rule, branch or evidence is a claim without its criterion."""
    bare = [show(n) for n in built.notes
            if not all(isinstance(n.get(k), str) and n[k] for k in ("rule", "branch", "section", "text"))
            or not isinstance(n.get("evidence"), dict) or not n["evidence"]]
    assert not bare, f"{built.name}: notes without rule, branch or evidence:\n" + "\n".join(bare)


@every_scenario
def test_no_comparative_claim_without_interval_or_on_a_small_class(built):
    """weakest/strongest/more compact/better/worse said of classes: only with an interval in the evidence, and
    never about a class with fewer than SMALL_CLASS test images (unless the sentence says it is too small)."""
    small = built.small_classes()
    wrong = []
    for note in built.notes:
        comparing = [c for c in clauses(note["text"])
                     if COMPARATIVE.search(c) and about_classes(c, built.names) and not DENIED.search(c)]
        if comparing and not has_interval(note["evidence"]):
            wrong.append(f"no interval in its evidence: {show(note)}")
        for clause in comparing:
            named = names_in(clause, small)
            if named and not SMALL_FLAGGED.search(clause):
                wrong.append(f"compares {', '.join(sorted(named))} (< {SMALL_CLASS} test images): {show(note)}")
    assert not wrong, f"{built.name}:\n" + "\n".join(wrong)


LEARNED = re.compile(r"\b(has learned|learned the task|well above chance|better than chance|above chance)\b", re.I)
NOT_LEARNED = re.compile(r"\b(has not learned|not learned the task|untrained|at chance|chance level|near chance|"
                         r"below chance)\b", re.I)


@every_scenario
def test_no_two_notes_disagree_on_the_regime(built):
    """A network is not described as having learned in one sentence and as untrained or at chance in another,
    and every note that records the regime records the same one."""
    learned = [show(n) for n in built.notes if LEARNED.search(n["text"])]
    not_learned = [show(n) for n in built.notes if NOT_LEARNED.search(n["text"])]
    assert not (learned and not_learned), (f"{built.name}: learned:\n" + "\n".join(learned)
                                           + "\nbut not learned:\n" + "\n".join(not_learned))
    regimes = {str(v) for n in built.notes for v in evidence_values(n["evidence"], "regime")}
    assert len(regimes) <= 1, f"{built.name}: notes record the regimes {sorted(regimes)}"


VERDICTS = {"contradicts": r"\bcontradicts?\b", "confirms": r"\bconfirms?\b", "agrees": r"\bagrees?\b",
            "not established": r"\bnot established\b"}


def checked_verdicts(evidence, check: str = "") -> list[tuple[str, str]]:
    """(check, verdict) for every record of the evidence that holds a verdict; the check is the key the record
    sits under (e.g. "compactness", "separation", "sampled_versus_whole")."""
    if isinstance(evidence, dict):
        found = [(check, str(evidence["verdict"]))] if "verdict" in evidence else []
        return found + [v for key, value in evidence.items() for v in checked_verdicts(value, key)]
    if isinstance(evidence, (list, tuple)):
        return [v for value in evidence for v in checked_verdicts(value, check)]
    return []


def restates_the_comparison(note: dict) -> bool:
    """A note that speaks of the sampled reading against the whole split without being the decision's own."""
    text = note["text"]
    return bool(re.search(r"sampl", text) and re.search(r"whole(?: test)? split|over all (?:test )?images", text))


@every_scenario
def test_one_verdict_on_sampled_against_whole_split(built):
    """Sampled against whole split, each check (compactness, separation...) has one verdict (confirms, agrees,
    not established, contradicts) across every note's evidence; a note that restates the comparison without
    stored verdicts may use only verdicts the decision gave."""
    by_check: dict[str, set[str]] = {}
    for note in built.notes:
        for check, verdict in checked_verdicts(note["evidence"]):
            by_check.setdefault(check, set()).add(verdict)
    twice = {check: sorted(v) for check, v in by_check.items() if len(v) > 1}
    assert not twice, f"{built.name}: a check stated with two verdicts: {twice}"
    given = set().union(*by_check.values()) if by_check else set()
    wrong = []
    for note in built.notes:
        if checked_verdicts(note["evidence"]) or not restates_the_comparison(note):
            continue
        said = {v for v, pattern in VERDICTS.items() if re.search(pattern, note["text"], re.I)}
        if said - given:
            wrong.append(f"says {sorted(said - given)} where the decision gave {sorted(given)}: {show(note)}")
    assert not wrong, f"{built.name}:\n" + "\n".join(wrong)


def sampled_verdict_notes(built: Built) -> list[dict]:
    return [n for n in built.notes if "two_sample" in n["rule"] or checked_verdicts(n["evidence"])]


MORE_COMPACT = re.compile(r"over all (?:test )?images,? class (\S+?) is (?:again |the |again the )?more compact")


@every_scenario
def test_whole_split_ordering_stated_only_when_the_intervals_separate(built):
    """Compactness of the two sampled classes over the whole split, recomputed from the stored per-class 95%
    intervals: overlapping intervals, or a class under SMALL_CLASS test images, are "not established" (and no
    sentence may say "over all images class X is (again) more compact"); disjoint ones "confirms"/"agrees"
    when they keep the sampled order and "contradicts" when they reverse it (issue 30, item 4)."""
    separation = built.findings.separation
    if separation is None or not separation.two_sample:
        pytest.skip("no whole-split comparison")
    spreads = {s.cls: s for s in separation.per_class}
    a, b = (int(c) for c in separation.two_sample["classes"])
    (low_a, high_a), (low_b, high_b) = (spreads[a].ci_low, spreads[a].ci_high), (spreads[b].ci_low, spreads[b].ci_high)
    overlap = None in (low_a, low_b) or not (high_a < low_b or high_b < low_a)
    sampled = separation.two_sample["intra"]
    sampled_a_tighter = sampled[str(a)]["two_sample"] < sampled[str(b)]["two_sample"]
    whole_a_tighter = high_a < low_b if not overlap else None
    small = min(spreads[a].n, spreads[b].n) < SMALL_CLASS   # kept out of comparative claims
    expected = ({"not established"} if overlap or small else
                {"confirms", "agrees"} if whole_a_tighter == sampled_a_tighter else {"contradicts"})
    stated = {v for n in built.notes for check, v in checked_verdicts(n["evidence"]) if check == "compactness"}
    assert stated <= expected, (f"{built.name}: compactness verdict {sorted(stated)}, but the whole-split intervals "
                                f"{low_a:.4g}–{high_a:.4g} and {low_b:.4g}–{high_b:.4g} give {sorted(expected)}")
    wrong = [show(n) for n in built.notes if MORE_COMPACT.search(n["text"]) and (overlap or small)]
    wrong += [show(n) for n in sampled_verdict_notes(built)
              if re.search(VERDICTS["contradicts"], n["text"]) and "contradicts" not in expected
              and not any(v == "contradicts" for check, v in checked_verdicts(n["evidence"]) if check != "compactness")]
    assert not wrong, (f"{built.name}: whole-split intervals {low_a:.4g}–{high_a:.4g} and {low_b:.4g}–{high_b:.4g} "
                       f"give {sorted(expected)}, yet a sentence orders the classes:\n" + "\n".join(wrong))


@every_scenario
def test_every_percentage_about_accuracy_is_recomputed(built):
    """Each percentage of a sentence that cites accuracy is one of the figures recomputed from the stored
    per-image predictions and the scenario's true labels (scikit-learn, scipy), within its rounding."""
    candidates = recomputed(built)
    wrong = []
    for note in built.notes:
        if not ABOUT_ACCURACY.search(note["text"]):
            continue
        for shown, value, decimals, bound in percentages(note["text"]):
            if not matches(value, decimals, candidates, bound):
                wrong.append(f"{shown} in {show(note)}")
    nearest = {k: round(v * 100, 2) for k, v in candidates.items() if not k.startswith("confidence of")}
    assert not wrong, (f"{built.name}: percentages that no recomputation gives:\n" + "\n".join(wrong)
                       + f"\nrecomputed: {nearest}")


@every_scenario
def test_overall_accuracy_is_given_with_its_interval(built):
    """No accuracy without its uncertainty: some sentence gives the Wilson interval of the overall accuracy
    (issue 30, item 1: '100.0%' on 12 images has a lower bound of 75.8%)."""
    right = predicted_of(built) == built.labels
    low, high = wilson(right.sum(), len(right))
    cited = [show(n) for n in built.notes
             if any(matches(value, decimals, {"low": low}) for _, value, decimals, _ in percentages(n["text"]))]
    assert cited, (f"{built.name}: no sentence gives the overall accuracy's 95% interval "
                   f"({low:.1%}–{high:.1%} for {right.sum()} of {len(right)})")


# --- what each scenario is about -------------------------------------------------------------------------------

@pytest.mark.parametrize("built", ["colours-imbalanced"], indirect=True)
def test_a_class_never_predicted_is_said(built):
    """Blue is never predicted (0 of 10): the real failure must be stated; and 92 % against a majority of 88 %
    with a balanced accuracy of about 64 % against 33 % is no chance level."""
    counts = np.bincount(predicted_of(built), minlength=3)
    assert counts[2] == 0
    said = [show(n) for n in built.notes if "blue" in n["text"]
            and re.search(r"never predicted|not predicted|no (?:test )?image[^.]* (?:predicted|classified) as|"
                          r"predicts? (?:no|none)", n["text"], re.I)]
    assert said, f"no sentence says that blue is never predicted:\n" + "\n".join(show(n) for n in built.notes)
    chance = [show(n) for n in built.notes if NOT_LEARNED.search(n["text"]) or "no better than" in n["text"]]
    assert not chance, "called chance or unlearned:\n" + "\n".join(chance)


@pytest.mark.parametrize("built", ["permuted"], indirect=True)
def test_permuted_labels_are_named_with_their_mapping(built):
    """Below chance with a confusion matrix that a relabelling explains: the report says the labels look
    permuted and gives the mapping, and never measures the distance to the majority class or says untrained."""
    said = [n for n in built.notes if re.search(r"permut|relabel|label order|labels? (?:look|seem)", n["text"], re.I)]
    assert said, "no sentence says the labels look permuted:\n" + "\n".join(show(n) for n in built.notes)
    mapping = [n for n in said if sum(name in n["text"] for name in built.names) >= 2]
    assert mapping, "the permutation sentence gives no mapping:\n" + "\n".join(show(n) for n in said)
    wrong = [show(n) for n in built.notes if re.search(r"within \d+ points of always answering|untrained", n["text"])]
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("built", ["hundred-classes"], indirect=True)
def test_collapsed_predictions_are_said(built):
    """When half the predictions or more go to one class (and far more than its share of the labels), a
    sentence says the predictions collapsed onto it; closest-pair claims then carry the random-weights caveat."""
    predicted = predicted_of(built)
    counts = np.bincount(predicted, minlength=len(built.names))
    top = int(np.argmax(counts))
    low, _ = wilson(counts[top], len(predicted))
    if not (counts[top] / len(predicted) >= 0.5 and low > 2 * (built.labels == top).mean()):
        pytest.skip(f"no collapse: the most-predicted class takes {counts[top]} of {len(predicted)}")
    name = built.names[top]
    said = [show(n) for n in built.notes if re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", n["text"])
            and re.search(r"collaps|\bof (?:the |all )?\d+ (?:test )?images\b|nearly every|almost every",
                          n["text"], re.I)]
    assert said, (f"{name} is predicted for {counts[top]} of {len(predicted)} images and no sentence says so:\n"
                  + "\n".join(show(n) for n in built.notes))


@pytest.mark.parametrize("built", ["tiny-vit"], indirect=True)
def test_transformer_trace_sentences(built):
    """The class-token read (x[:, 0]) is no flattening, attention is no element-wise operation, expand of a
    parameter is no residual branch, and a shape after a permute keeps its true batch position: no sentence
    shows the permuted qkv as (1,4,17,8)."""
    wrong = []
    for note in built.notes:
        text = note["text"]
        if re.search(r"flatten\w* turns 17", text):
            wrong.append(f"indexing called flattening: {show(note)}")
        if any("scaled_dot_product_attention" in part for part in re.findall(r"element-wise[^;]*", text)):
            wrong.append(f"attention called element-wise: {show(note)}")
        if re.search(r"expand", text) and re.search(r"residual shortcut|a branch", text):
            wrong.append(f"expand of a parameter called a branch: {show(note)}")
        if re.search(r"\(17,\s*3,\s*4,\s*8\)\s*→\s*\(1,\s*4,\s*17,\s*8\)", text):
            wrong.append(f"batch dimension lost in a permute: {show(note)}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("built", ["resnet-60"], indirect=True)
def test_no_generic_bias_or_relu_claim_on_resnet(built):
    """resnet18's convolutions have no bias and a BatchNorm sits between each convolution and its ReLU: no
    sentence says every layer holds a bias, nor that a convolution's maps are zero after a ReLU."""
    wrong = [show(n) for n in built.notes
             if re.search(r"\b(?:each|every) layer holds its weights plus one bias", n["text"], re.I)
             or re.search(r"zero after a ReLU", n["text"])]
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("built", sorted(WITH_PDF), indirect=True)
def test_pdf_within_the_page_budget(built):
    from pypdf import PdfReader

    pages = len(PdfReader(built.out / "report.pdf").pages)
    assert pages <= PAGE_BUDGET, f"{built.name}: {pages} pages (budget {PAGE_BUDGET})"


# --- where the network looks: every sentence from the per-image numbers ------------------------------------------

ATTRIBUTION_RESAMPLES = 1000   # the bootstrap the analysis states (95% percentile intervals, seeded by --seed)


def check_image_rows(out: Path) -> dict[str, list[dict]]:
    """tables/attribution_check_images.csv, read with the csv module (not the package): rows by method."""
    import csv

    rows: dict[str, list[dict]] = {}
    with open(out / "tables" / "attribution_check_images.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            rows.setdefault(row["method"], []).append(row)
    return rows


def column(rows: list[dict], name: str) -> np.ndarray:
    return np.array([float(r[name]) for r in rows])


def bootstrap_mean(values: np.ndarray, seed: int) -> tuple[float, float, float]:
    from scipy import stats

    mean = float(values.mean())
    if len(values) < 2 or np.all(values == values[0]):
        return mean, mean, mean
    ci = stats.bootstrap((values,), np.mean, n_resamples=ATTRIBUTION_RESAMPLES, confidence_level=0.95,
                         method="percentile", random_state=np.random.default_rng(seed)).confidence_interval
    return mean, min(float(ci.low), mean), max(float(ci.high), mean)


def bootstrap_difference(first: np.ndarray, second: np.ndarray, seed: int) -> tuple[float, float, float] | None:
    from scipy import stats

    if len(first) < 2 or len(second) < 2:
        return None
    value = float(first.mean() - second.mean())
    ci = stats.bootstrap((first, second), lambda a, b, axis=-1: a.mean(axis) - b.mean(axis),
                         n_resamples=ATTRIBUTION_RESAMPLES, confidence_level=0.95, method="percentile",
                         paired=False, vectorized=True, random_state=np.random.default_rng(seed)).confidence_interval
    return value, min(float(ci.low), value), max(float(ci.high), value)


def recomputed_attribution(rows: list[dict], seed: int) -> dict[str, tuple[float, float, float] | None]:
    """Each statistic an attribution sentence cites, recomputed from one method's check images."""
    wrong = np.array([r["label"] != r["predicted"] for r in rows])
    share = column(rows, "object_share")
    out = {
        "deletion": bootstrap_mean(column(rows, "deletion_auc") - column(rows, "deletion_random_auc"), seed),
        "insertion": bootstrap_mean(column(rows, "insertion_auc") - column(rows, "insertion_random_auc"), seed),
        "road": bootstrap_mean(column(rows, "road"), seed),
        "object_share": bootstrap_mean(share, seed),
        "object": bootstrap_mean(share - column(rows, "object_area"), seed),
        "centre": bootstrap_mean(column(rows, "centre_share"), seed),
        # the note reads the interval only from ERRORS_EACH images a side (below, it says too few)
        "errors": (bootstrap_difference(share[wrong], share[~wrong], seed)
                   if min(wrong.sum(), (~wrong).sum()) >= ERRORS_EACH else None),
    }
    if rows[0]["rank_correlation"] != "":
        out["randomisation"] = bootstrap_mean(column(rows, "rank_correlation"), seed)
    return out


def two_decimals(x: float) -> str:
    return f"{x:.2f}".replace("-", "−") if round(x, 2) else "0.00"


def said_interval(text: str, e: tuple[float, float, float], scale: float = 1) -> bool:
    """Whether ``text`` gives the value and its interval as recomputed (to the shown decimals, one unit of the
    last place for the rounding of the CSV's seven significant digits; a number too small for the decimals is
    written with its own two digits, "2.0e−09", and compared to them)."""
    number = r"(−?\d+(?:\.\d+)?(?:e[−-]\d+)?)"
    pattern = rf"{number}%?(?: points)? \(95% CI {number}(?:–| to ){number}%?\)"
    for match in re.finditer(pattern, text):
        groups = match.groups()
        fixed = [g for g in groups if "e" not in g and "." in g]
        unit = 10 ** -min(len(g.split(".")[1]) for g in fixed) if fixed else 0  # the decimals shown
        shown = [float(g.replace("−", "-")) for g in groups]
        tolerance = [0.051 * abs(s) if "e" in g else unit * 0.51 + 1e-9 for s, g in zip(shown, groups)]
        if all(abs(s - v * scale) <= t for s, v, t in zip(shown, e, tolerance)):
            return True
    return False


# An interval end this close to 0 touches it: a mean of per-image differences that are exactly 0 comes out as
# 1e-15 in floating point, which is no evidence of a side.
TOUCHING = 1e-12


def faithful_branch(e: tuple[float, float, float], wanted: str) -> str:
    """faithful: entirely on the wanted side of 0 and reaching 0.05 or beyond; negligible: entirely on either side
    but all of it within 0.05 of 0; worse: on the other side, reaching 0.05; undecided: it holds (or touches) 0."""
    value, low, high = e
    if low <= TOUCHING and high >= -TOUCHING:
        return "undecided"
    if max(abs(low), abs(high)) < 0.05:
        return "negligible"
    return "worse" if (high < 0) != (wanted == "below") else "faithful"


@every_scenario
def test_attribution_sentences_are_recomputed_from_the_check_images(built):
    """Every number an attribution sentence cites, and its branch, recomputed with scipy from the CSV of the check
    images; the verdict from the recomputed branches (believe: randomisation below 0.5 and one faithfulness check
    beyond the negligible band; untrained networks never)."""
    notes = [n for n in built.notes if n["section"] == "attribution"]
    if not notes:
        pytest.skip(f"{built.name}: no attribution section")
    rows = check_image_rows(built.out)
    seed = built.findings.attribution.seed
    untrained = any(n["rule"] == "attribution.untrained" for n in notes)
    weights = built.findings.model.model.weights
    confidence = np.array([c for c in built.evaluation.confidence if c is not None])
    classes = built.evaluation.outputs
    flat = len(confidence) >= 10 and (confidence.mean() + 1.959964 * confidence.std(ddof=1) / np.sqrt(len(confidence))
                                      < 1 / classes + 0.1 * (1 - 1 / classes))
    assert untrained == (weights.startswith("random") or flat or any(
        n["rule"] == "attribution.untrained" and n["branch"] == "near-chance" for n in notes)), built.name
    if weights.startswith("random"):
        assert notes[0]["rule"] == "attribution.untrained", show(notes[0])
    recomputed = {method: recomputed_attribution(method_rows, seed) for method, method_rows in rows.items()}
    problems, checked = [], 0
    for note in notes:
        rule = note["rule"].removeprefix("attribution.")
        method = note["evidence"].get("method")
        if rule == "untrained":
            continue
        checked += 1
        r = recomputed[method]
        if rule == "verdict":
            if untrained:
                expected = "untrained"
            else:
                passed = [check for check, wanted in (("deletion", "below"), ("insertion", "above"), ("road", "above"))
                          if faithful_branch(r[check], wanted) == "faithful"]
                rho = r.get("randomisation")
                randomised = ("absent" if rho is None else "passes" if rho[2] < 0.5 else "fails" if rho[1] > 0.5
                              else "undecided")
                expected = ("do-not-believe" if randomised == "fails" else
                            "believe" if randomised == "passes" and passed else
                            "unsupported" if randomised == "passes" else "undecided")
            if note["branch"] != expected:
                problems.append(f"verdict {expected} expected: {show(note)}")
            continue
        if rule == "errors":
            e = r["errors"]
            if e is None:
                ok = note["branch"] == "too-few"
            else:
                branch = "undecided" if e[1] <= 0 <= e[2] else "more-on-object" if e[1] > 0 else "less-on-object"
                ok = note["branch"] == branch and said_interval(note["text"], e, 100)
            if not ok:
                problems.append(f"errors {e}: {show(note)}")
            continue
        e = r[{"randomisation": "randomisation", "deletion": "deletion", "insertion": "insertion", "road": "road",
               "object": "object", "centre": "centre"}[rule]]
        if rule in ("deletion", "insertion", "road"):
            branch = faithful_branch(e, "below" if rule == "deletion" else "above")
            expected = branch if branch in ("faithful", "negligible") else "no-better"
            ok = note["branch"] == expected and said_interval(note["text"], e)
        elif rule == "randomisation":
            expected = "passes" if e[2] < 0.5 else "fails" if e[1] > 0.5 else "undecided"
            ok = note["branch"] == expected and said_interval(note["text"], e)
        elif rule == "object":
            areas = column(rows[method], "object_area")
            if areas.min() >= 0.98 or areas.max() <= 0.02:  # the object fills every image, or none has one
                expected = "no-contrast"
                ok = note["branch"] == expected and said_interval(note["text"], r["object_share"], 100)
            else:
                expected = "object" if e[1] > 0 else "background" if e[2] < 0 else "undecided"
                ok = (note["branch"] == expected and said_interval(note["text"], e, 100)
                      and said_interval(note["text"], r["object_share"], 100))
        else:  # centre
            expected = "centre" if e[1] > 0.25 else "edges" if e[2] < 0.25 else "undecided"
            ok = note["branch"] == expected and said_interval(note["text"], e, 100)
        if not ok:
            problems.append(f"{rule}: recomputed {e}, branch {expected}: {show(note)}")
    assert not problems, "\n".join(problems)
    # per method: the verdict, deletion, insertion, ROAD, object, centre and errors (randomisation where it ran)
    assert checked >= 7 * len(rows), f"{built.name}: {checked} notes checked for {len(rows)} methods"
    methods = {n["evidence"]["method"] for n in notes if n["rule"] == "attribution.verdict"}
    assert methods == set(rows), f"{built.name}: a verdict for each method with checks ({sorted(rows)})"


# --- compare and history (one-epoch) ----------------------------------------------------------------------------

def page_text(out: Path, kind: str) -> str:
    import html

    pages = (out / f"{kind}.html").read_text()
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", re.sub(r"<(style|script)\b.*?</\1>", " ", pages,
                                                                 flags=re.S))).split())


def command_notes(out: Path, kind: str) -> list[dict]:
    return json.loads((out / f"{kind}-notes.json").read_text())["notes"]


def store_of(out: Path, checkpoint: Path):
    """The findings of the store in ``out`` analysed from ``checkpoint`` (by its sha256)."""
    import hashlib

    from report.render.load import load_findings

    sha = hashlib.sha256(checkpoint.read_bytes()).hexdigest()
    for store in sorted((out / "stores").iterdir()):
        if (store / "manifest.json").exists():
            findings = load_findings(store)
            if findings.provenance.checkpoint_sha256 == sha:
                return findings
    raise AssertionError(f"no store of {checkpoint.name} in {out / 'stores'}")


@pytest.mark.parametrize("kind", ["compare", "history"])
def test_compare_and_history_notes_have_rule_branch_and_evidence(zoo, kind):
    out = zoo.command("one-epoch", kind)
    bare = [show(n) for n in command_notes(out, kind)
            if not all(isinstance(n.get(k), str) and n[k] for k in ("rule", "branch", "text"))
            or not isinstance(n.get("evidence"), dict) or not n["evidence"]]
    assert not bare, f"{kind}: notes without rule, branch or evidence:\n" + "\n".join(bare)


def test_compare_tests_the_paired_difference_and_warns_on_raw_distances(zoo):
    """1 epoch against 2: McNemar's test on the per-image correctness, its p-value the one scipy gives from the
    two stores' predictions and the true labels; the two activation scales stated, and changes of raw distances
    (not ratios) beside a sentence that raw distances are not comparable across checkpoints."""
    from scipy.stats import binomtest

    built = zoo.get("one-epoch")
    out = zoo.command("one-epoch", "compare")
    notes = command_notes(out, "compare")
    text = " ".join(n["text"] for n in notes)
    assert re.search(r"McNemar", text), "the compare page runs no McNemar test:\n" + "\n".join(map(show, notes))
    a_checkpoint, b_checkpoint = (Path(p) for p in built.scenario.compare[1:3])
    right_a = predicted_of(built) == built.labels
    b = store_of(out, b_checkpoint)
    right_b = np.asarray(b.evaluation.predicted, dtype=int) == built.labels
    a_only, b_only = int((right_a & ~right_b).sum()), int((~right_a & right_b).sum())
    p_value = binomtest(a_only, a_only + b_only, 0.5).pvalue if a_only + b_only else 1.0
    stored = [float(v) for n in notes for key in ("p_value", "pvalue", "p") for v in evidence_values(n["evidence"], key)
              if isinstance(v, (int, float))]
    assert any(abs(v - p_value) <= 1e-6 * max(1.0, p_value) for v in stored), (
        f"McNemar's p-value from the stores is {p_value:.6g} (A only {a_only}, B only {b_only}); the notes hold "
        f"{stored}")
    assert re.search(r"\bscale\b", text), "the compare page says nothing of the two activation scales"
    raw_changes = [show(n) for n in notes if re.search(r"\b(grew|shrank)\b", n["text"])
                   and not re.search(r"ratio|inter/intra|silhouette|scale-free", n["text"])]
    assert not raw_changes or re.search(r"not (?:directly )?comparable", text, re.I), (
        "raw distance changes without the sentence that raw distances are not comparable across checkpoints:\n"
        + "\n".join(raw_changes))


def test_history_marks_the_separate_run(zoo):
    """The history folder holds a 2-epoch run (two-epoch1, two-epoch2) and a separate 1-epoch run (one-epoch1):
    the page must mark the separate run, not plot it as epoch 1 of the other."""
    text = page_text(zoo.command("one-epoch", "history"), "history")
    assert re.search(r"separate run|another run|different run|runs? of (?:its|their) own|2 runs|two runs",
                     text, re.I), "the history page does not mark the separate run"

"""Hostile models (issue 29): each class of defect with both sides of the rule that closes it.

- Many classes: the statistics over class pairs do work that grows with the image pairs, never one step per
  class pair; beyond PAIR_MATRIX_MAX_CLASSES classes the K × K matrices give way to the closest pairs and the
  confusion matrix's non-zero cells, and the report says how many pairs it kept of how many.
- Many modules: watching every module of a model costs one walk over it, and a call is found by identity.
- Non-finite outputs: NaN or infinite scores or embeddings never crash PCA, t-SNE or the silhouette; the images
  are counted, left out of the embedding's statistics, and stated in a note and an alert.
- Failing forwards: PyTorch refusing the data's shape is told apart from the model's own failure, which names
  the innermost layer running when it was raised; deep nesting that PyTorch runs is analysed, deeper refused.
- Lazy layers: a model in memory with uninitialised lazy parameters is refused in one line with the fix.

Whole builds run on tiny 8 × 8 data sets (a t-SNE of a few hundred points) and are marked slow.
"""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import run_cli
from synthetic import documents, separation_doc, write_store
from torch import nn

from analysis.capture import forward as capture
from analysis.capture import nesting
from analysis.capture.trace import trace_shapes
from analysis.errors import InputError
from analysis.stats import fullsplit, separation
from analysis.store.schema import PAIR_MATRIX_MAX_CLASSES, EvaluationDocument, to_json
from report.render.alerts import alerts
from report.render.history import _whole_split
from report.render.sections import run_rules
from report.render.load import load_findings
from report.render.tables import class_distances, confusion

MODELS = textwrap.dedent('''
    import torch
    from torch import nn


    class Small(nn.Module):
        """1 × 8 × 8 images; the embedding is the input of fc2."""
        def __init__(self, classes: int = 10):
            super().__init__()
            self.conv = nn.Conv2d(1, 4, 3, padding=1)
            self.pool = nn.MaxPool2d(2)
            self.fc1 = nn.Linear(64, 16)
            self.fc2 = nn.Linear(16, classes)

        def features(self, x):
            return torch.relu(self.fc1(self.pool(torch.relu(self.conv(x))).flatten(1)))

        def forward(self, x):
            return self.fc2(self.features(x))


    class NaNScores(Small):
        def forward(self, x):
            return self.fc2(self.features(x)) * float("nan")


    class NaNSome(Small):
        """NaN features (so scores) for the images whose first pixel is above the normalised zero."""
        def forward(self, x):
            bad = x.flatten(1)[:, :1] > 0
            return self.fc2(self.features(x) * torch.where(bad, float("nan"), 1.0))


    class AllNaN(Small):
        def forward(self, x):
            return self.fc2(self.features(x) * float("nan"))


    class Constant(Small):
        """Every image has the same embedding (all zero): no spread for t-SNE to start from."""
        def forward(self, x):
            return self.fc2(self.features(x) * 0)


    class Block(nn.Module):
        def __init__(self, fail):
            super().__init__()
            self.fc = nn.Linear(16, 16)
            self.fail = fail

        def forward(self, x):
            if self.fail:
                raise RuntimeError("boom")
            return self.fc(x)


    class Boom(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Linear(64, 16)
            self.block = nn.Sequential(*[Block(i == 3) for i in range(5)])
            self.head = nn.Linear(16, 10)

        def forward(self, x):
            return self.head(self.block(self.stem(x.flatten(1))))


    class Gate(nn.Module):
        def forward(self, x):
            if len(x) > 1:
                raise RuntimeError("one image at a time")
            return x


    class OneAtATime(Small):
        """Runs on the one image of the shape trace, fails on the first batch of the test split."""
        def __init__(self):
            super().__init__()
            self.gate = Gate()

        def forward(self, x):
            return self.fc2(self.gate(self.features(x)))


    class Deep(nn.Module):
        def __init__(self, depth: int = 209):
            super().__init__()
            body = nn.Linear(64, 10)
            for _ in range(depth - 1):
                body = nn.Sequential(body)
            self.body = body

        def forward(self, x):
            return self.body(x.flatten(1))
''')


@pytest.fixture
def hostile(tmp_path) -> dict:
    """The hostile models as an importable module, and the environment that finds it."""
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / "hostile_models.py").write_text(MODELS)
    return {"PYTHONPATH": str(folder)}


def npz(path: Path, classes: int, per_class: int, seed: int = 0) -> Path:
    """A Keras-layout .npz of random 8 × 8 grey images, ``per_class`` of each class in either split."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(classes), per_class).astype(np.int64)
    images = lambda: rng.integers(0, 256, size=(len(labels), 8, 8), dtype=np.uint8)  # noqa: E731
    np.savez(path, x_train=images(), y_train=labels, x_test=images(), y_test=labels)
    return path


def build(tmp_path: Path, env: dict, model: str, data: Path, *options: str):
    out = tmp_path / "out"
    result = run_cli("--model", f"hostile_models:{model}", "--data", str(data), "--out", str(out), "--format",
                     "html", *options, env=env)
    return result, out


def store_of(out: Path) -> Path:
    return out / "stores" / (out / "current-store.txt").read_text().strip()


def notes_of(out: Path) -> dict[str, dict]:
    return {note["rule"]: note for note in json.loads((out / "notes.json").read_text())["notes"]}


# --- many classes -------------------------------------------------------------------------------------------

def test_pair_statistics_compute_blocks_not_class_pairs(monkeypatch):
    """1,000 classes of 2 images: every class pair used to be its own block (500,500 of them, for each layer);
    now one block per class for the pairs within it, and the blocks of class-ordered rows for the rest."""
    computed = []
    real = separation.block
    monkeypatch.setattr(separation, "block", lambda *args: computed.append(1) or real(*args))
    classes = 1000
    labels = np.repeat(np.arange(classes), 2)
    x = np.random.default_rng(0).normal(size=(len(labels), 8)).astype(np.float32)
    statistics = separation.class_pair_stats(x, labels, list(range(classes)), "mse")
    chunks = -(-len(labels) // separation.CHUNK)
    assert len(computed) <= classes + chunks * (chunks + 1) // 2
    assert len(statistics) == classes * (classes + 1) // 2  # every pair is still there, exact
    computed.clear()
    separation.silhouette(x, labels, "mse")
    assert len(computed) <= chunks * chunks


def test_the_closest_pairs_rank_like_the_matrix_and_break_ties_by_class():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 12, size=400)
    x = rng.normal(size=(400, 5)) + labels[:, None] * 0.05
    classes = sorted(set(labels.tolist()))
    statistics = separation.pair_statistics(x, labels, classes, "euclidean")
    full = separation.class_pair_stats(x, labels, classes, "euclidean")
    expected = sorted((full[(a, b)]["mean"] / ((full[(a, a)]["mean"] + full[(b, b)]["mean"]) / 2), a, b)
                      for i, a in enumerate(classes) for b in classes[i + 1:])
    closest = statistics.closest(5)
    assert [(a, b) for _, a, b, _ in closest] == [(a, b) for _, a, b in expected[:5]]
    assert [r for r, *_ in closest] == pytest.approx([r for r, _, _ in expected[:5]], rel=1e-12)


@pytest.mark.parametrize("classes, matrices", [(PAIR_MATRIX_MAX_CLASSES, True), (PAIR_MATRIX_MAX_CLASSES + 1, False)])
def test_the_matrices_are_stored_up_to_the_limit_and_the_closest_pairs_beyond(classes, matrices):
    labels = np.repeat(np.arange(classes), 2)
    x = np.random.default_rng(1).normal(size=(len(labels), 4))
    statistics = separation.pair_statistics(x, labels, list(range(classes)), "mse")
    selection = fullsplit._pair_selection(statistics, np.zeros((classes, classes)))
    if matrices:
        assert selection is None
    else:
        assert selection.total == classes * (classes - 1) // 2 and len(selection.kept) == 20
        ratios = [pair.ratio for pair in selection.kept]
        assert ratios == sorted(ratios)


def test_fields_added_within_the_schema_are_written_only_when_they_say_something():
    """The default report's store keeps its bytes: a record without them is written as before."""
    doc = to_json(EvaluationDocument(n_test=1, correct=1, accuracy=1.0, per_class=[], training=None,
                                     class_names=["a"], outputs=1))
    assert "non_finite_scores" not in doc and "non_finite_embeddings" not in doc
    assert "pairs" not in separation_doc() and "confusion_cells" not in separation_doc()
    assert separation_doc(pairs_kept=True)["pairs"]["total"] == 3


def test_a_store_with_the_closest_pairs_renders_its_tables_notes_and_history(tmp_path):
    docs = documents()
    docs["separation.json"] = separation_doc(pairs_kept=True)
    f = load_findings(write_store(tmp_path / "stores", docs))
    table = class_distances(f)
    assert table.title.endswith("the 2 closest relative to their spread, of 3 class pairs")
    assert [(row[0], row[2]) for row in table.rows] == [(1, 2), (0, 1)]
    assert confusion(f).rows == [("zero", "zero", 9), ("zero", "one", 1), ("one", "one", 8), ("one", "two", 2),
                                 ("two", "two", 10)]
    note = next(n for n in run_rules(f) if n.rule == "separation.closest")
    assert "the class-pair tables keep the 2 closest of all 3 class pairs" in note.text
    assert note.evidence["most_confused"] == [(1, 2)]  # from the cells, as from the matrix
    intra = sum(c.intra_mean * c.pairs for c in f.separation.per_class) / sum(c.pairs for c in f.separation.per_class)
    assert _whole_split(f.separation)["inter_mean"] == pytest.approx(f.separation.ratio * intra)  # no matrix to sum
    dense = load_findings(write_store(tmp_path / "dense", documents()))
    assert len(class_distances(dense).rows) == 9 and "closest" not in class_distances(dense).title
    assert "class-pair tables" not in next(n for n in run_rules(dense) if n.rule == "separation.closest").text


@pytest.mark.slow
def test_more_classes_than_the_matrices_hold_build_and_say_which_pairs_they_keep(tmp_path, hostile):
    """150 classes of 2 images (a t-SNE of 300 points keeps it short): over the limit, so the store holds the
    closest pairs and the confusion cells, the report says so, and every section renders."""
    result, out = build(tmp_path, hostile, "Small", npz(tmp_path / "many.npz", 150, 2),
                        "--model-kwargs", '{"classes": 150}')
    assert result.returncode == 0, result.stderr
    separation_json = json.loads((store_of(out) / "separation.json").read_text())
    assert separation_json["inter_matrix"] == [] and separation_json["confusion"] == []
    assert separation_json["pairs"]["total"] == 150 * 149 // 2 and len(separation_json["pairs"]["kept"]) == 20
    assert sum(cell[2] for cell in separation_json["confusion_cells"]) == 300
    assert "keep the 20 closest of all 11,175 class pairs" in notes_of(out)["separation.closest"]["text"]
    assert (out / "tables" / "class_distances.csv").read_text().count("\n") == 21


# --- many modules -------------------------------------------------------------------------------------------

def test_watching_every_module_walks_the_model_once(monkeypatch):
    """Each name used to be looked up with a walk over the whole model: quadratic in its modules."""
    walks = []
    real = nn.Module.named_modules

    def counted(self, memo=None, prefix="", remove_duplicate=True):
        if not prefix:
            walks.append(1)
        return real(self, memo, prefix, remove_duplicate)

    monkeypatch.setattr(nn.Module, "named_modules", counted)
    model = nn.Sequential(*[nn.Linear(4, 4) for _ in range(400)])
    trace, _ = trace_shapes(model, torch.zeros(1, 4))
    assert len(trace.rows) == 400
    assert len(walks) <= 4


def test_calls_are_found_by_identity_not_compared_field_by_field(monkeypatch):
    """A discarded functional call (x.shape in a hook, x.size() in a forward) was removed with list.remove:
    a comparison with every recorded call, each comparing their fields."""
    compared = []
    monkeypatch.setattr(capture.Call, "__eq__", lambda self, other: compared.append(1) or self is other,
                        raising=False)
    monkeypatch.setattr(capture.Call, "__hash__", object.__hash__, raising=False)

    class Sizes(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = nn.ModuleList(nn.Linear(4, 4) for _ in range(100))

        def forward(self, x):
            for layer in self.layers:
                x = layer(x) + 0 * x.size(1)  # a functional call that makes no tensor: discarded
            return x

    trace_shapes(Sizes(), torch.zeros(1, 4))
    assert not compared


# --- non-finite outputs -------------------------------------------------------------------------------------

def test_a_spread_less_sample_has_no_tsne_map_instead_of_a_crash():
    """scikit-learn's Barnes-Hut tree crashed the process on these (the other side, a sample with spread, is
    drawn in the whole builds below)."""
    assert fullsplit._tsne(np.ones((12, 3)), 0) is None


def test_non_finite_rows_are_found_chunk_by_chunk(monkeypatch):
    monkeypatch.setattr(separation, "CHUNK", 3)
    x = np.ones((8, 2))
    x[1, 0], x[6, 1] = np.nan, np.inf
    assert separation.finite_rows(x).tolist() == [True, False, True, True, True, True, False, True]
    assert separation.finite_rows(np.ones((0, 2))).tolist() == []


@pytest.mark.parametrize("scores, embeddings, expected", [
    (0, 0, set()), (5, 0, {("error", "scores.non_finite")}), (0, 5, {("warning", "embeddings.non_finite")}),
    (30, 30, {("error", "scores.non_finite"), ("warning", "embeddings.non_finite")})])
def test_non_finite_outputs_are_alerts(tmp_path, scores, embeddings, expected):
    docs = documents()
    docs["evaluation.json"].update(non_finite_scores=scores, non_finite_embeddings=embeddings)
    found = {(a.level, a.id) for a in alerts(load_findings(write_store(tmp_path, docs)))}
    assert found & {("error", "scores.non_finite"), ("warning", "embeddings.non_finite")} == expected


def test_layers_that_left_images_out_are_named(tmp_path):
    docs = documents()
    docs["evaluation.json"]["non_finite_embeddings"] = 3
    docs["separation.json"] = separation_doc(left_out=(0, 0, 3))
    f = load_findings(write_store(tmp_path, docs))
    notes = {n.rule: n for n in run_rules(f)}
    assert "Layer by layer, images are left out where a layer's output is not finite: layer 2 (3)." in \
        notes["accuracy.non_finite"].text
    assert notes["separation.overall"].text.startswith("Over the 27 test images whose embedding is finite (3 left out)")


@pytest.mark.slow
@pytest.mark.parametrize("model, scores, embedded, separation_written", [
    ("NaNScores", 100, 0, True), ("NaNSome", None, None, True), ("AllNaN", 100, 100, False),
    ("Constant", 0, 0, True)])
def test_non_finite_outputs_are_counted_left_out_and_stated(tmp_path, hostile, model, scores, embedded,
                                                            separation_written):
    """Random 8 × 8 data, 10 classes of 10 test images; --fail-on error makes the error alert the exit code."""
    result, out = build(tmp_path, hostile, model, npz(tmp_path / "d.npz", 10, 10), "--fail-on", "error")
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr
    store = store_of(out)
    evaluation = json.loads((store / "evaluation.json").read_text())
    counted = evaluation.get("non_finite_scores", 0), evaluation.get("non_finite_embeddings", 0)
    assert (store / "separation.json").is_file() == separation_written
    note = notes_of(out).get("accuracy.non_finite")
    if model == "Constant":  # finite, only degenerate: no t-SNE map, no alert
        assert result.returncode == 0 and counted == (0, 0) and note is None
        assert json.loads((store / "separation.json").read_text())["tsne_sample"] == 0
        return
    assert result.returncode == 3 and "NaN or infinite scores" in result.stderr
    if model == "NaNSome":
        assert 0 < counted[0] == counted[1] < 100
        assert notes_of(out)["separation.overall"]["text"].startswith(f"Over the {100 - counted[1]} test images")
    else:
        assert counted == (scores, embedded)
    assert note["branch"] == ("scores" if model == "NaNScores" else "both")
    if model == "NaNScores":  # finite embeddings with spread: the t-SNE map is drawn
        assert json.loads((store / "separation.json").read_text())["tsne_sample"] == 100


# --- failing forwards ---------------------------------------------------------------------------------------

def _module(name: str):
    namespace: dict = {"__name__": "hostile_models"}
    exec(compile(MODELS, "hostile_models.py", "exec"), namespace)  # noqa: S102 - the test's own source above
    return namespace[name]


def test_the_models_own_failure_names_the_innermost_layer():
    with pytest.raises(InputError) as raised:
        trace_shapes(_module("Boom")(), torch.zeros(1, 1, 8, 8))
    assert str(raised.value) == "the model failed inside layer 'block.3' (RuntimeError: boom): fix the model's forward"


def test_a_failure_in_the_models_own_forward_says_so():
    class Refuses(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 2)

        def forward(self, x):
            x = self.fc(x)
            raise ZeroDivisionError("scale is 0")

    with pytest.raises(InputError, match=r"^the model failed in its own forward, outside its layers "
                                         r"\(ZeroDivisionError: scale is 0\): fix the model's forward$"):
        trace_shapes(Refuses(), torch.zeros(1, 4))


def test_a_shape_pytorch_refuses_is_still_the_datas_size():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.Linear(144, 2))
    with pytest.raises(InputError, match=r"^the model cannot take the data's 1×8×8 images: the forward pass failed "
                                         r"at layer 0 \(.*channels"):
        trace_shapes(model, torch.zeros(1, 1, 8, 8))


def test_a_failure_after_the_trace_names_the_layer_and_the_pass():
    from analysis.models.inference import predict_logits

    model = _module("OneAtATime")().eval()
    trace_shapes(model, torch.zeros(1, 1, 8, 8))  # one image: runs
    with pytest.raises(InputError, match=r"^the model failed inside layer 'gate' \(RuntimeError: one image at a "
                                         r"time\) while classifying: fix the model's forward$"):
        predict_logits(model, torch.zeros(4, 1, 8, 8), what="classifying", show_progress=False)


@pytest.mark.parametrize("depth", [230, nesting.MAX_NESTING + 1])
def test_deep_nesting_pytorch_runs_is_traced_and_deeper_is_refused(depth):
    model = _module("Deep")(depth)
    limit = sys.getrecursionlimit()
    if depth <= nesting.MAX_NESTING:
        with torch.no_grad():
            assert model(torch.zeros(1, 1, 8, 8)).shape == (1, 10)  # PyTorch itself runs it
        trace, _ = trace_shapes(model, torch.zeros(1, 1, 8, 8))
        assert len(trace.rows) == depth + 1  # every level, and the model's own flatten
    else:
        with pytest.raises(InputError, match=f"nests its modules {depth:,} levels deep, more than the "
                                             f"{nesting.MAX_NESTING:,} this tool analyses"):
            trace_shapes(model, torch.zeros(1, 1, 8, 8))
    assert sys.getrecursionlimit() == limit  # the room was given back


@pytest.mark.slow
@pytest.mark.parametrize("model, says", [
    ("Boom", "report: error: the model failed inside layer 'block.3' (RuntimeError: boom): fix the model's forward"),
    ("OneAtATime", "report: error: the model failed inside layer 'gate' (RuntimeError: one image at a time) while "
                   "classifying and embedding the test split: fix the model's forward")])
def test_a_failing_forward_is_one_line_naming_the_layer(tmp_path, hostile, model, says):
    result, out = build(tmp_path, hostile, model, npz(tmp_path / "d.npz", 10, 4), "--quiet")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [says]  # found once the pass started too (OneAtATime)
    assert not (out / "current-store.txt").exists()  # no store was published


@pytest.mark.slow
def test_a_model_nested_209_deep_is_analysed(tmp_path, hostile):
    result, out = build(tmp_path, hostile, "Deep", npz(tmp_path / "d.npz", 10, 4), "--sections", "assignment")
    assert result.returncode == 0, result.stderr
    rows = json.loads((store_of(out) / "model.json").read_text())["trace"]["rows"]
    assert len(rows) == 209 + 1  # every level, and the model's own flatten


# --- lazy layers --------------------------------------------------------------------------------------------

def test_an_uninitialised_lazy_model_in_memory_is_refused_with_the_fix(tmp_path):
    import report

    model = nn.Sequential(nn.Flatten(), nn.LazyLinear(10))
    with pytest.raises(InputError, match=r"^the model in memory has uninitialised lazy parameters \(1\.weight, "
                                         r"1\.bias\): run one forward pass on a batch of the data"):
        report.build(model=model, out=tmp_path / "out", formats="html")
    assert not (tmp_path / "out" / "checkpoints").exists()  # refused before anything was written
    with torch.no_grad():
        model(torch.zeros(1, 1, 28, 28))  # initialised: its weights can be saved and analysed
    from analysis.models.memory import module_source, state_on_cpu

    module_source(model)
    assert state_on_cpu(model)["1.weight"].shape == (10, 784)


def test_a_lazy_model_built_from_its_source_is_initialised_by_the_shape_trace_and_takes_its_checkpoint():
    """The other side: a model the analysis builds itself runs its first forward pass in the shape trace (a
    lazy layer initialising itself there is not one of the model's operations), and a checkpoint of it fits."""
    from analysis.models.checkpoint import load_into

    model = nn.Sequential(nn.Flatten(), nn.LazyLinear(3))
    trace, _ = trace_shapes(model, torch.zeros(1, 1, 4, 4))
    assert [(row.name, row.output_shape) for row in trace.rows] == [("0", [16]), ("1", [3])]
    fresh = nn.Sequential(nn.Flatten(), nn.LazyLinear(3))
    load_into(fresh, model.state_dict(), Path("lazy.pt"))
    assert torch.equal(fresh[1].weight, model[1].weight)


# --- whatever the model raises ------------------------------------------------------------------------------

class _Unprintable(Exception):
    def __str__(self):
        raise ValueError("no text")


class _Own(BaseException):
    pass


def _raising(error: BaseException) -> nn.Module:
    """conv1 raises ``error`` (a fresh one each call); the model around it is fine."""
    class Conv(nn.Conv2d):
        def forward(self, x):
            raise error() if isinstance(error, type) else error

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = Conv(1, 2, 3)
            self.fc = nn.Linear(72, 10)

        def forward(self, x):
            return self.fc(self.conv1(x).flatten(1))

    return Net()


@pytest.mark.parametrize("error, said", [
    (SystemExit(0), "SystemExit: 0"), (SystemExit(5), "SystemExit: 5"), (GeneratorExit, "GeneratorExit"),
    (_Own("mine"), "_Own: mine"), (_Unprintable, "_Unprintable")])
def test_anything_the_model_raises_is_its_failure_in_one_line(error, said):
    """sys.exit() in a forward ended the command silently with its code, other BaseExceptions gave a
    traceback, an exception whose __str__ raises an internal error; a stop still stops."""
    from analysis.models.inference import predict_logits

    line = f"the model failed inside layer 'conv1' ({said}): fix the model's forward"
    with pytest.raises(InputError) as raised:
        trace_shapes(_raising(error), torch.zeros(1, 1, 8, 8))
    assert str(raised.value) == line
    with pytest.raises(InputError) as raised:  # a later pass over the data, through run_model
        predict_logits(_raising(error), torch.zeros(2, 1, 8, 8), what="classifying", show_progress=False)
    assert str(raised.value) == f"the model failed inside layer 'conv1' ({said}) while classifying: fix the model's forward"
    from analysis.stopping import Stopped

    for stop in (KeyboardInterrupt, Stopped()):
        with pytest.raises(KeyboardInterrupt):
            trace_shapes(_raising(stop), torch.zeros(1, 1, 8, 8))
        with pytest.raises(KeyboardInterrupt):
            predict_logits(_raising(stop), torch.zeros(2, 1, 8, 8), show_progress=False)


@pytest.mark.slow
def test_sys_exit_in_a_forward_is_one_line_and_exit_2(tmp_path, hostile):
    models = Path(hostile["PYTHONPATH"]) / "hostile_models.py"
    models.write_text(models.read_text() + textwrap.dedent('''
        import sys

        class Exits(Small):
            def forward(self, x):
                sys.exit(0)
    '''))
    result, out = build(tmp_path, hostile, "Exits", npz(tmp_path / "d.npz", 10, 4), "--quiet")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "report: error: the model failed in its own forward, outside its layers (SystemExit: 0): fix the model's "
        "forward"]
    assert not (out / "current-store.txt").exists()


@pytest.mark.parametrize("error", [
    MemoryError, torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB"),
    RuntimeError("[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't allocate memory: you "
                 "tried to allocate 400000000000 bytes. Error code 12 (Cannot allocate memory)")])
def test_running_out_of_memory_names_the_layer_and_the_sizes_to_lower(error):
    """Was blamed on the data's size (the shape trace) or on the model's code (later passes)."""
    from analysis.models.inference import predict_logits

    fix = ": give a smaller --input-size or --batch-size, or use a machine with more memory"
    with pytest.raises(InputError) as raised:
        trace_shapes(_raising(error), torch.zeros(1, 1, 8, 8))
    assert str(raised.value).startswith("the model ran out of memory in layer 'conv1' (")
    assert str(raised.value).endswith(")" + fix)
    with pytest.raises(InputError) as raised:
        predict_logits(_raising(error), torch.zeros(2, 1, 8, 8), what="classifying", show_progress=False)
    assert str(raised.value).startswith("the model ran out of memory in layer 'conv1' (")
    assert str(raised.value).endswith(") while classifying" + fix)


@pytest.mark.parametrize("dtype", [torch.int64, torch.complex64, torch.bool])
def test_scores_that_are_not_floats_are_refused_after_the_first_pass(dtype):
    """Integer or complex scores failed later in softmax or argmax, as an internal error; floats of any width
    are scores."""
    class Casts(nn.Module):
        def __init__(self, dtype):
            super().__init__()
            self.fc = nn.Linear(64, 10)
            self.dtype = dtype

        def forward(self, x):
            return self.fc(x.flatten(1)).to(self.dtype)

    name = str(dtype).removeprefix("torch.")
    with pytest.raises(InputError, match=rf"^the model's scores are {name}, not floating-point logits: return the "
                                         r"scores of each class as floats$"):
        trace_shapes(Casts(dtype), torch.zeros(1, 1, 8, 8))
    trace, _ = trace_shapes(Casts(torch.float16), torch.zeros(1, 1, 8, 8))
    assert trace.output_shape == [10]


@pytest.mark.slow  # a whole build through the API
def test_a_class_whose_source_cannot_be_found_still_gets_its_report(tmp_path, monkeypatch):
    """A class defined in a notebook cell has no source file that inspect can find; Python 3.13 says so with
    OSError("source code not available") where 3.11 raises TypeError. Either way the model in memory is analysed
    (its code is then simply not part of the store key)."""
    import inspect

    import report
    from analysis.models.memory import module_source

    class CellModel(nn.Sequential):  # as if defined in a notebook cell
        pass

    found = inspect.getsourcefile

    def unavailable(obj):
        if obj is CellModel:
            raise OSError("source code not available")
        return found(obj)

    model = CellModel(nn.Flatten(), nn.Linear(784, 10)).eval()
    monkeypatch.setattr(inspect, "getsourcefile", unavailable)
    assert module_source(model)[2] is None
    made = report.build(model=model, out=tmp_path / "out", formats="html", sections="parameters,shapes")
    assert made.outputs["html"].is_file() and made.analysed

"""`python -m report` end to end: a trained default checkpoint, HTML and PDF, reruns and bad input."""

import json
import re
import shutil

import pytest
from conftest import run_cli, run_main
from pypdf import PdfReader

from report.pipeline import current_store
from report.render.fmt import number
from report.render.load import load_findings


@pytest.fixture(scope="module")
def findings(default_build):
    out, _ = default_build
    return load_findings(current_store(out))


@pytest.fixture(scope="module")
def pdf_text(default_build):
    out, _ = default_build
    return " ".join(page.extract_text() for page in PdfReader(out / "report.pdf").pages)


@pytest.fixture
def no_torch(tmp_path):
    """PYTHONPATH with a `torch` that fails on import: proves a command never needs torch."""
    fake = tmp_path / "fake" / "torch"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('torch was imported but must not be')\n")
    return {"PYTHONPATH": str(fake.parent)}


def test_build_writes_html_and_pdf_and_says_where(default_build):
    out, result = default_build
    assert (out / "report.html").is_file() and (out / "report.pdf").is_file()
    assert f"{out}/report.html" in result.stdout and "trained, analysed, rendered" in result.stdout


def test_default_checkpoint_meets_the_accuracy_target(findings):
    training = findings.evaluation.training
    assert training["test_accuracy"] >= 0.97 and findings.evaluation.accuracy == training["test_accuracy"]
    assert findings.evaluation.n_test == 1000 and training["n_train"] == 4000


def test_pdf_shows_every_item_of_the_reference_report(pdf_text, findings):
    for item in ("232,650", "(32, 1, 3, 3)", "(32, 26, 26)", "(32, 13, 13)", "(64, 11, 11)", "(64, 5, 5)", "(1600,)"):
        assert item in pdf_text, item
    mse = findings.embeddings.distances["mse"]
    assert [s.label for s in findings.embeddings.samples] == [6, 6, 7, 7]
    assert findings.input_image.label == 7
    for cls in ("6", "7"):
        assert number(mse.intra_by_class[cls]["mean"]) in pdf_text
    six_seven = next(p for p in mse.pairs if p.i == 0 and p.j == 2)  # first 6 against first 7
    assert number(six_seven.distance) in pdf_text
    assert "intra-class" in pdf_text and "inter-class" in pdf_text
    assert "Caution: with 2 samples per class" in pdf_text
    assert len(PdfReader_pages := re.findall(r"Page \d+ of \d+", pdf_text)) >= 8, PdfReader_pages


def test_html_images_all_exist(default_build):
    out, _ = default_build
    html = (out / "report.html").read_text()
    sources = re.findall(r'<img src="([^"]+)"', html)
    assert len(sources) >= 12
    assert all((out / src).is_file() for src in sources)
    # the images come from the store's figures folder; the provenance names the store itself
    store = (out / "current-store.txt").read_text().strip()
    (named,) = re.findall(r"<th>Store</th><td><code>([^<]+)</code>", html)
    assert named == f"stores/{store}" and (out / named / "manifest.json").is_file()
    assert all(src.startswith("figures/") for src in sources if "images/" in src)


def test_same_inputs_give_the_same_store_bytes(default_build, default_checkpoint, tmp_path):
    out, _ = default_build
    # a fresh interpreter: another string-hash seed than the session build's process
    again = run_cli("--checkpoint", str(default_checkpoint), "--out", str(tmp_path), "--format", "html", "--quiet",
                    fresh=True)
    assert again.returncode == 0, again.stderr
    first, second = current_store(out), current_store(tmp_path)
    assert first.name == second.name
    files = sorted(p.relative_to(first) for p in first.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(second) for p in second.rglob("*") if p.is_file())
    assert all((first / f).read_bytes() == (second / f).read_bytes() for f in files)


def test_the_number_of_threads_keys_the_store_and_changes_no_sentence(default_checkpoint, tmp_path):
    """REPORT_THREADS: on another number of torch threads the numbers may differ in their last bits, so the store
    has a key of its own and its config records the number; the default number keeps the default key, and no
    sentence changes."""
    builds = {}
    for threads in ("1", "2"):
        builds[threads] = tmp_path / threads
        result = run_cli("--checkpoint", str(default_checkpoint), "--out", str(builds[threads]), "--sections",
                         "assignment", "--format", "html", "--quiet", env={"REPORT_THREADS": threads})
        assert result.returncode == 0, result.stderr
    one, two = (current_store(builds[threads]) for threads in ("1", "2"))
    configs = [json.loads((store / "manifest.json").read_text())["inputs"]["config"] for store in (one, two)]
    assert one.name != two.name and configs[0] == {**configs[1], "threads": 1} and "threads" not in configs[1]
    notes = [[(n["rule"], n["branch"], n["text"]) for n in json.loads((b / "notes.json").read_text())["notes"]]
             for b in builds.values()]
    assert notes[0] == notes[1] and len(notes[0]) > 10


@pytest.mark.slow  # trains or builds a whole report
def test_training_is_deterministic(series, tmp_path):
    """A second training of one epoch, in a fresh interpreter, gives the weights of the session's first."""
    import torch

    result = run_cli("train", "--epochs", "1", "--save", str(tmp_path / "b.pt"), "--quiet", fresh=True)
    assert result.returncode == 0, result.stderr
    assert f"report: saved {tmp_path / 'b.pt'} (1 epoch, " in result.stdout
    a, b = (torch.load(path, weights_only=True)["state_dict"] for path in (series / "epoch1.pt", tmp_path / "b.pt"))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_rerun_with_nothing_changed_does_no_work_and_never_imports_torch(default_build, no_torch):
    out, _ = default_build
    before = (out / "report.pdf").read_bytes()
    result = run_cli("--out", str(out), env=no_torch)
    assert result.returncode == 0, result.stderr
    assert "up to date" in result.stdout
    assert (out / "report.pdf").read_bytes() == before


def test_render_command_works_without_torch(default_build, no_torch, tmp_path):
    out, _ = default_build
    copy = tmp_path / "copy"
    shutil.copytree(out, copy, ignore=shutil.ignore_patterns("checkpoints", "cache"))
    result = run_cli("render", "--out", str(copy), "--format", "html", "--force", env=no_torch)
    assert result.returncode == 0, result.stderr
    assert "rendered" in result.stdout


def test_a_second_checkpoint_gives_other_numbers_and_text(default_build, series, tmp_path):
    out, _ = default_build
    import torch

    checkpoint = series / "epoch3.pt"  # `train --epochs 3`: fewer epochs than the default's 10
    assert torch.load(checkpoint, weights_only=True)["training"]["config"]["epochs"] == 3
    result = run_cli("--checkpoint", str(checkpoint), "--out", str(tmp_path / "b"), "--format", "html",
                     "--sections", "assignment")  # the rules compared below are all in these sections
    assert result.returncode == 0, result.stderr
    notes_a = {(n["rule"], n["text"]) for n in json.loads((out / "notes.json").read_text())["notes"]}
    notes_b = {(n["rule"], n["text"]) for n in json.loads((tmp_path / "b" / "notes.json").read_text())["notes"]}
    changed = {rule for rule, _ in notes_a ^ notes_b}
    assert {"embeddings.separation", "embeddings.compactness", "accuracy.training"} <= changed
    assert current_store(out).name != current_store(tmp_path / "b").name


def test_mnist_idx_folder_gives_the_same_accuracy_on_the_same_digits(default_build, default_checkpoint, tmp_path,
                                                                     findings):
    from test_data import write_mnist_folder

    from analysis.data.datasets import load_embedded

    folder = write_mnist_folder(tmp_path / "mnist" / "MNIST" / "raw", load_embedded(), gz=True)
    result = run_cli("--checkpoint", str(default_checkpoint), "--data", str(folder.parent.parent),
                     "--out", str(tmp_path / "b"), "--format", "html", "--sections", "assignment")
    assert result.returncode == 0, result.stderr
    idx = load_findings(current_store(tmp_path / "b"))
    assert idx.provenance.data_kind == "mnist-idx"
    assert idx.evaluation.accuracy == findings.evaluation.accuracy


def test_options_change_the_samples(default_checkpoint, tmp_path):
    result = run_cli("--checkpoint", str(default_checkpoint), "--out", str(tmp_path), "--format", "html",
                     "--digits", "3", "8", "1", "--per-class", "3", "--image-index", "5", "--quiet",
                     "--sections", "assignment")
    assert result.returncode == 0, result.stderr
    f = load_findings(current_store(tmp_path))
    assert [s.label for s in f.embeddings.samples] == [3, 3, 3, 8, 8, 8, 1, 1, 1]
    assert f.input_image.index == 5 and f.input_image.chosen_by == "index"
    assert len(f.embeddings.distances["mse"].pairs) == 36


@pytest.mark.parametrize("args, message", [
    (["--checkpoint", "nowhere.pt"], "checkpoint nowhere.pt does not exist"),
    (["--checkpoint", "{junk}"], "refused by the safe loader|not a readable torch checkpoint"),
    (["--checkpoint", "{other}"], "another architecture than AssignmentCNN (missing"),
    (["--digits", "6", "6"], "repeats a class"),
    (["--per-class", "101"], "class 6 has 100 test images but 101 were asked for"),
    (["--embedding-layer", "fc9"], "unknown layer 'fc9': the model's layers are conv1, relu1"),
    (["--image-index", "5000"], "--image-index 5000 is outside the test split (0..999)"),
    (["--data", "no/such/folder"], "--data no/such/folder does not exist"),
])
def test_bad_input_is_one_line_exit_2_and_keeps_the_report(default_build, default_checkpoint, tmp_path, args, message):
    import torch

    out, _ = default_build
    junk, other = tmp_path / "junk.pt", tmp_path / "other.pt"
    junk.write_bytes(b"these are not the bytes of a checkpoint" * 20)
    torch.save({"fc.weight": torch.zeros(2, 2)}, other)
    args = [a.format(junk=junk, other=other) for a in args]
    if "--checkpoint" not in args:
        args = ["--checkpoint", str(default_checkpoint), *args]
    before = (out / "report.pdf").read_bytes()
    result = run_cli(*args, "--out", str(out))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("report: error: "), result.stderr
    assert re.search(message if "|" in message else re.escape(message), lines[0]), lines[0]
    assert (out / "report.pdf").read_bytes() == before


def test_help_explains_the_options():
    result = run_main("--help")
    assert result.returncode == 0
    build_help = run_main("build", "--help").stdout
    for option in ("--checkpoint", "--data", "--out", "--digits", "--per-class", "--image-index"):
        assert option in build_help


def test_a_tampered_store_is_rebuilt_not_rendered(default_checkpoint, assignment_build, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(assignment_build, out)  # a finished build of these arguments
    args = ("--checkpoint", str(default_checkpoint), "--out", str(out), "--sections", "assignment",
            "--format", "html", "--quiet")
    assert run_cli(*args).returncode == 0
    store = current_store(out)
    original = (store / "embeddings.json").read_bytes()
    (store / "embeddings.json").write_bytes(original.replace(b'"per_class": 2', b'"per_class": 3'))
    result = run_cli(*args[:-1])
    assert result.returncode == 0 and "analysed" in result.stdout
    assert (store / "embeddings.json").read_bytes() == original


def test_render_before_any_analysis_says_what_to_run(tmp_path):
    result = run_main("render", "--out", str(tmp_path))
    assert result.returncode == 2
    assert result.stderr.strip() == f"report: error: no analysis in {tmp_path} yet: run `python -m report` (or `make report`) first"


def test_pdf_has_bookmarks_and_metadata(default_build, findings):
    reader = PdfReader(default_build[0] / "report.pdf")
    titles = [item.title for item in reader.outline if not isinstance(item, list)]  # lists: sub-headings
    assert titles[0] == "AssignmentCNN"
    assert [t.split(" ", 1)[1] for t in titles[1:]] == [
        "Parameters", "Shape trace", "Kernels", "Activation maps", "Where the network looks", "Embeddings",
        "Embedding distances",
        "Accuracy", "Class separation over the test split", "Separation by depth", "Map of the embedding", "Errors",
        "Filter statistics", "Provenance"]
    assert findings.provenance.checkpoint_sha256 in reader.metadata["/Subject"]
    assert reader.metadata["/CreationDate"].startswith("D:20251124")  # SOURCE_DATE_EPOCH=1764000000
    assert 12 <= len(reader.pages) <= 21  # the budget (tests/test_pages_budget.py): 21 pages now


def test_pdf_has_the_whole_split_sections_with_their_numbers(pdf_text, findings):
    s = findings.separation
    assert s.n == 1000 and s.layer == "fc2" and len(s.per_class) == 10
    assert "Class separation over the test split" in pdf_text and "Separation by depth" in pdf_text
    # issue 30: the verdict of the one decision table (interpret.distances), worded as the sentence words it
    assert re.search(r"the\s+sampled\s+reading\s+of\s+classes\s+6\s+and\s+7\s+from\s+2\s+samples\s+per\s+class\s+is\s+"
                     r"(confirmed|borne\s+out|not\s+established|contradicted)", pdf_text)
    assert number(s.silhouette, 2) in pdf_text
    six = next(c for c in s.per_class if c.cls == 6)
    assert six.ci_low < six.intra_mean < six.ci_high and number(six.intra_mean) in pdf_text
    assert [d.label for d in s.depth] == ["conv1 (pooled)", "conv2 (pooled)", "fc1", "fc2", "logits"]
    assert s.wrong == findings.evaluation.n_test - findings.evaluation.correct

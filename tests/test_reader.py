"""One reader: every command gets stored results through report.render.load, and nothing else opens store files.

History rows come from ``Findings``; a store without whole-split results (non-finite weights, or analysed
with ``--sections assignment``, or of schema 1 and 2) gives a row whose whole-split fields are None.
"""

from __future__ import annotations

import ast
import copy
import json
from pathlib import Path

import pytest
from conftest import ROOT, run_cli
from synthetic import TEST_LABELS, documents, embeddings_doc, evaluation_doc, write_store

# ---------------------------------------------------------------- the rule, enforced on the source

STORE_DOCUMENTS = {"manifest.json", "model.json", "evaluation.json", "activations.json", "embeddings.json",
                   "separation.json", "history.json", "compare.json"}
STORE_NAMES = {"MANIFEST", "DOCUMENTS", "OPTIONAL"}  # constants that stand for those names
READS = {"read_text", "read_bytes", "open", "is_file", "exists", "stat", "load", "loads"}
READERS = {"report/render/load.py", "analysis/store/writer.py"}  # the reader, and the writer (it checks what it publishes)
# Reads not yet moved into report.render.load, each with the edit that removes it (then drop the entry).
PENDING: dict[str, str] = {}  # module -> why it may still read a store file itself (none now)


def _mentions(node: ast.AST, tainted: set[str]) -> bool:
    """The expression names a store document: literally, by a constant, or through a variable holding one."""
    for sub in ast.walk(node):
        if isinstance(sub, ast.Constant) and isinstance(sub.value, str) and sub.value in STORE_DOCUMENTS:
            return True
        if isinstance(sub, ast.Name) and (sub.id in STORE_NAMES or sub.id in tainted):
            return True
        if isinstance(sub, ast.Attribute) and sub.attr in STORE_NAMES:
            return True
    return False


SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)


def _own_nodes(scope: ast.AST):
    """The nodes of one scope, without those of the functions and classes defined inside it."""
    for child in ast.iter_child_nodes(scope):
        yield child
        if not isinstance(child, SCOPES):
            yield from _own_nodes(child)


def _reads_in(scope: ast.AST, inherited: set[str]) -> list[int]:
    nodes = list(_own_nodes(scope))
    tainted = set(inherited)
    while True:  # variables assigned a path to a store document, through any chain of assignments
        more = {target.id for node in nodes if isinstance(node, (ast.Assign, ast.AnnAssign))
                and node.value is not None and _mentions(node.value, tainted)
                for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
                if isinstance(target, ast.Name)}
        if more <= tainted:
            break
        tainted |= more
    lines = []
    for node in nodes:
        if isinstance(node, SCOPES):
            lines += _reads_in(node, tainted)  # a closure sees the enclosing scope's variables
            continue
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in READS:
            looked_at = [func.value, *node.args]
        elif isinstance(func, ast.Name) and func.id == "open":
            looked_at = list(node.args)
        else:
            continue
        if any(_mentions(part, tainted) for part in looked_at):
            lines.append(node.lineno)
    return lines


def store_reads(source: str) -> list[int]:
    """Lines that read (open, read, probe) a store document; writes (write_json, write_bytes) are not reads."""
    return sorted(set(_reads_in(ast.parse(source), set())))


def test_the_checker_flags_reads_and_not_writes():
    flagged = {
        'json.loads((store / "separation.json").read_text())': 1,
        'json.loads((Path(store) / MANIFEST).read_text())["inputs"]': 1,
        'ok = (store / "separation.json").is_file()': 1,
        'path = store / "evaluation.json"\nother = path\nrows = json.loads(other.read_text())': 3,
        'with open(store / "model.json") as handle:\n    pass': 1,
        'digest = hashlib.sha256((store_dir / store.MANIFEST).read_bytes())': 1,
        'def outer(store):\n    path = store / "embeddings.json"\n    def inner():\n        return path.read_text()': 4,
    }
    for source, line in flagged.items():
        assert store_reads(source) == [line], source
    for source in ('writer.write_json("history.json", {"rows": rows})', 'writer.write_bytes("images/a.png", data)',
                   'text = Path("README.md").read_text()', 'name = "history.json"',
                   '(tmp / MANIFEST).write_bytes(dumps(manifest))',
                   'def a(d):\n    digest = d / MANIFEST\ndef b(path):\n    digest = path.with_name("x")\n    digest.is_file()'):
        assert store_reads(source) == [], source


def test_only_the_reader_opens_store_files():
    found = {}
    for package in ("report", "analysis"):
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            if relative in READERS:
                continue
            lines = store_reads(path.read_text())
            if lines:
                found[relative] = lines
    unexpected = {name: lines for name, lines in found.items() if name not in PENDING}
    assert not unexpected, f"store files read outside report/render/load.py (add a function there): {unexpected}"


# ---------------------------------------------------------------- history rows from Findings (no torch)

def _store(stores: Path, key: str, separation: bool = True, distances: dict | None = None,
           accuracy: float | None = None, silhouette: float | None = None) -> Path:
    docs = copy.deepcopy(documents())
    if not separation:
        docs["separation.json"] = None
    if silhouette is not None:
        docs["separation.json"]["silhouette"] = silhouette
    if distances is not None:
        docs["embeddings.json"]["distances"] = distances
    if accuracy is not None:  # the first images read as the next class: the stored quality agrees with it
        wrong = round((1 - accuracy) * len(TEST_LABELS))
        docs["evaluation.json"] = evaluation_doc(
            predicted=[(label + 1) % 3 for label in TEST_LABELS[:wrong]] + TEST_LABELS[wrong:])
    return write_store(stores, docs, key=key)


WHOLE_SPLIT = ("metric", "intra_mean", "inter_mean", "ratio", "silhouette", "nearest_centroid_accuracy",
               "class_intra")


def test_history_rows_keep_accuracy_and_two_sample_without_whole_split(tmp_path):
    from report.render.history import rows

    full, bare = _store(tmp_path, "full"), _store(tmp_path, "bare", separation=False)
    with_split, without = rows([("a/e1.pt", full), ("a/e2.pt", bare)])
    assert with_split.checkpoint == "e1.pt" and with_split.metric == "mse"
    assert with_split.silhouette == 0.6 and with_split.class_intra == {"0": 0.6, "1": 1.0, "2": 1.3}
    assert without.store == "bare" and without.sha256 == "ab" * 32
    assert without.accuracy == with_split.accuracy and without.accuracy is not None
    assert without.two_sample == with_split.two_sample and without.two_sample["intra_mean"] is not None
    assert "metric" not in without.two_sample  # the assignment's MSE: not named
    assert all(getattr(without, name) is None for name in WHOLE_SPLIT)


def test_history_rows_use_the_metric_the_store_has(tmp_path):
    from report.render.history import rows

    cosine = embeddings_doc()["distances"]["cosine"]
    (row,) = rows([("e1.pt", _store(tmp_path, "cosine", distances={"cosine": cosine}))])
    assert row.two_sample["metric"] == "cosine"
    assert row.two_sample["intra_mean"] == pytest.approx(cosine["intra_mean"])


def test_history_rows_refuse_a_damaged_store(tmp_path):
    from analysis.errors import StoreError
    from report.render.history import rows

    store = _store(tmp_path, "full")
    (store / "evaluation.json").write_text((store / "evaluation.json").read_text().replace("0.", "1.", 1))
    with pytest.raises(StoreError, match="does not match its recorded hash"):
        rows([("e1.pt", store)])


def _history(tmp_path: Path, series: list[tuple[str, Path]]) -> tuple[dict, list]:
    """The history store and report as the history command makes them, over the given stores."""
    from report.commands import publish_history

    out = tmp_path / "out"
    made = publish_history(out, series, "name", ("html",))
    (html,) = made["outputs"]
    doc = json.loads((made["series"] / "history.json").read_text())
    notes = json.loads((out / "history-notes.json").read_text())["notes"]
    assert html.is_file() and html.read_text().count("<img") == 3
    return doc, notes


def test_a_history_with_a_store_lacking_whole_split_results_renders(tmp_path):
    first, bare, last = (_store(tmp_path, "s1", accuracy=0.5, silhouette=0.3),
                         _store(tmp_path, "s2", separation=False), _store(tmp_path, "s3", accuracy=0.9))
    doc, notes = _history(tmp_path, [("e1.pt", first), ("e2.pt", bare), ("e3.pt", last)])
    assert [r["silhouette"] for r in doc["rows"]] == [0.3, None, 0.6]
    assert {n["rule"]: n["branch"] for n in notes} == {"history.accuracy": "rises", "history.separation": "best-last"}
    doc, notes = _history(tmp_path / "last", [("e1.pt", first), ("e2.pt", bare)])
    assert [n["rule"] for n in notes] == ["history.accuracy"]  # nothing said about separation it lacks


# ---------------------------------------------------------------- real stores (torch, the command line)

def _random_checkpoint(path: Path, seed: int, nan: bool = False) -> Path:
    import torch

    from analysis.models.assignment import AssignmentCNN

    torch.manual_seed(seed)
    state = AssignmentCNN().state_dict()
    if nan:
        state["fc2.weight"][0, 0] = float("nan")
    torch.save(state, path)
    return path


@pytest.mark.slow
def test_history_with_a_nan_checkpoint_builds(tmp_path):
    folder = tmp_path / "runs"
    folder.mkdir()
    _random_checkpoint(folder / "e1.pt", 1)
    _random_checkpoint(folder / "e2.pt", 2, nan=True)
    out = tmp_path / "out"
    result = run_cli("history", str(folder), "--out", str(out), "--format", "html", "--workers", "1")
    assert result.returncode == 0, result.stderr
    (series_dir,) = (out / "series").iterdir()
    rows = json.loads((series_dir / "history.json").read_text())["rows"]
    assert [r["checkpoint"] for r in rows] == ["e1.pt", "e2.pt"]
    assert rows[0]["silhouette"] is not None and rows[0]["metric"] == "mse"
    assert rows[1]["accuracy"] is not None and "intra_mean" in rows[1]["two_sample"]
    assert all(rows[1][name] is None for name in WHOLE_SPLIT)
    notes = json.loads((out / "history-notes.json").read_text())["notes"]
    assert [n["rule"] for n in notes] == ["history.accuracy"]


@pytest.mark.slow
def test_a_history_over_assignment_only_stores(tmp_path):
    from report.pipeline import current_store

    stores = []
    for seed in (1, 2):
        checkpoint = _random_checkpoint(tmp_path / f"e{seed}.pt", seed)
        out = tmp_path / f"build{seed}"
        result = run_cli("--checkpoint", str(checkpoint), "--out", str(out), "--sections", "assignment",
                         "--format", "html")
        assert result.returncode == 0, result.stderr
        stores.append((str(checkpoint), current_store(out)))
    doc, notes = _history(tmp_path, stores)
    assert [r["accuracy"] is not None and r["two_sample"]["intra_mean"] is not None for r in doc["rows"]] == [True] * 2
    assert all(r[name] is None for r in doc["rows"] for name in WHOLE_SPLIT)
    assert [n["rule"] for n in notes] == ["history.accuracy"]

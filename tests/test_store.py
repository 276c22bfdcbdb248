"""The store: canonical bytes, atomic publication, verification on load."""

import json

import pytest

from analysis.store.schema import SCHEMA_VERSION
from analysis.store.writer import StoreWriter, canonical, dumps, write_atomic
from analysis.errors import StoreError
from report.render.load import load_findings


def test_canonical_json_rounds_floats_and_sorts_keys():
    assert dumps({"b": 1.23456789012, "a": -0.0}) == dumps({"a": 0.0, "b": 1.234567890})
    assert json.loads(dumps({"x": float("nan")}))["x"] is None
    assert canonical({"t": (1, 2)}) == {"t": [1, 2]}
    with pytest.raises(TypeError):
        canonical({"x": object()})


def test_write_atomic_replaces_and_leaves_no_temporaries(tmp_path):
    target = tmp_path / "a" / "file.txt"
    write_atomic(target, b"one")
    write_atomic(target, b"two")
    assert target.read_bytes() == b"two"
    assert [p.name for p in target.parent.iterdir()] == ["file.txt"]


def test_store_writer_publishes_all_or_nothing(tmp_path):
    writer = StoreWriter(tmp_path / "stores" / "k")
    writer.write_json("a.json", {"x": 1})
    assert not (tmp_path / "stores" / "k").exists()  # not visible before commit
    store = writer.commit({"key": "k"})
    manifest = json.loads((store / "manifest.json").read_text())
    assert manifest["schema_version"] == SCHEMA_VERSION and "a.json" in manifest["files"]
    assert json.loads((store / "a.json").read_text())["schema_version"] == SCHEMA_VERSION
    aborted = StoreWriter(tmp_path / "stores" / "other")
    aborted.write_json("a.json", {"x": 2})
    aborted.abort()
    assert sorted(p.name for p in (tmp_path / "stores").iterdir()) == ["k"]


def test_synthetic_store_loads(synthetic_store):
    findings = load_findings(synthetic_store)
    assert findings.parameters.total == 283
    assert findings.embeddings.distances["mse"].matrix[0][0] == 0


def test_tampered_file_is_detected(synthetic_store):
    path = synthetic_store / "model.json"
    path.write_text(path.read_text().replace('"total": 283', '"total": 284'))
    with pytest.raises(StoreError, match="does not match its recorded hash"):
        load_findings(synthetic_store)


def test_missing_image_is_detected(synthetic_store):
    (synthetic_store / "images" / "input.png").unlink()
    with pytest.raises(StoreError, match="input.png is missing"):
        load_findings(synthetic_store)


def test_unknown_schema_version_is_refused(synthetic_store):
    path = synthetic_store / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["schema_version"] = 99
    path.write_text(json.dumps(manifest))
    with pytest.raises(StoreError, match="schema version 99, this report reads 1, 2, 3"):
        load_findings(synthetic_store)


def test_no_store_says_what_to_run(tmp_path):
    with pytest.raises(StoreError, match="make report"):
        load_findings(tmp_path / "none")


def test_a_folder_that_is_not_a_store_is_never_replaced(tmp_path):
    """Only a damaged store of this tool (it has a manifest.json) is replaced; anything else in the way stays."""
    import errno

    import pytest

    final = tmp_path / "stores" / "0123456789abcdef"
    final.mkdir(parents=True)
    (final / "thesis.tex").write_text("mine")
    writer = StoreWriter(final)
    writer.write_json("model.json", {"a": 1})
    with pytest.raises(FileExistsError) as raised:
        writer.commit({"key": "k"})
    assert raised.value.errno == errno.EEXIST and (final / "thesis.tex").read_text() == "mine"
    assert [p.name for p in final.parent.iterdir()] == [final.name]  # the writer's temporary folder is gone
    (final / "manifest.json").write_text("{}")  # a damaged store of this tool: replaced
    writer = StoreWriter(final)
    writer.write_json("model.json", {"a": 1})
    assert writer.commit({"key": "k"}) == final and not (final / "thesis.tex").exists()


def test_only_the_tools_own_temporaries_can_be_removed(tmp_path):
    from analysis.store.writer import TMP_PREFIX, remove_temporary

    mine, theirs = tmp_path / f"{TMP_PREFIX}x", tmp_path / "notes.tmp"
    mine.mkdir()
    theirs.write_text("user data")
    remove_temporary(mine)
    with pytest.raises(ValueError, match="not a temporary of this tool"):
        remove_temporary(theirs)
    assert not mine.exists() and theirs.read_text() == "user data"

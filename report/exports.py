"""Tables for notebooks: each ``report.render.tables.Table`` as CSV and as Parquet, beside the report.

Parquet is written with pyarrow (a dependency of the data readers), which loads numpy: that is why this lives
outside the render stage, whose modules must load neither torch nor numpy. ``pandas.read_parquet`` and
``pandas.read_csv`` read the files as they are."""

from __future__ import annotations

import io
from pathlib import Path

from report.render.tables import TABLES_DIR, Table, index


def parquet_bytes(table: Table) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns = {}
    for position, name in enumerate(table.columns):
        values = [row[position] for row in table.rows]
        columns[name] = _column(values, pa)
    buffer = io.BytesIO()
    pq.write_table(pa.table(columns) if columns else pa.table({}), buffer, compression="zstd")
    return buffer.getvalue()


def _column(values: list, pa):
    """One typed column: ints stay ints (with nulls), a column mixing ints and floats is float, text is text;
    anything else (a column of shapes) as lists of ints, or as text when it mixes kinds."""
    present = [v for v in values if v is not None]
    kinds = {type(v) for v in present}
    if not present:
        return pa.array(values, pa.null())
    if kinds <= {bool}:
        return pa.array(values, pa.bool_())
    if kinds <= {int}:
        return pa.array(values, pa.int64())
    if kinds <= {int, float}:
        return pa.array([None if v is None else float(v) for v in values], pa.float64())
    if kinds <= {list, tuple} and all(isinstance(x, int) for v in present for x in v):
        return pa.array([None if v is None else list(v) for v in values], pa.list_(pa.int64()))
    return pa.array([None if v is None else str(v) for v in values], pa.string())


def table_files(tables: list[Table], out: Path, store: str) -> dict[Path, bytes]:
    """``out/tables/<id>.csv`` and ``.parquet`` for each table, and ``index.csv`` listing them."""
    folder = Path(out) / TABLES_DIR
    files: dict[Path, bytes] = {}
    for table in tables:
        files[folder / f"{table.id}.csv"] = table.csv_bytes()
        files[folder / f"{table.id}.parquet"] = parquet_bytes(table)
    files[folder / "index.csv"] = index(tables, store).csv_bytes()
    return files


def history_files(table: Table, out: Path) -> dict[Path, bytes]:
    return {Path(out) / "history.csv": table.csv_bytes(), Path(out) / "history.parquet": parquet_bytes(table)}

"""Tables for notebooks: each ``report.render.tables.Table`` as CSV and as Parquet, beside the report.

Parquet is written with pyarrow (a dependency of the data readers), which loads numpy: that is why this lives
outside the render stage, whose modules must load neither torch nor numpy. ``pandas.read_parquet`` and
``pandas.read_csv`` read the files as they are.

pyarrow loads pandas too (0.3 s and 100 MiB in all), which a re-rendering for a new stylesheet would pay for
tables that did not change. So each Parquet file is kept in the build folder's cache under a key of its
table's content and of this module's source, and read back from there when the same table is written again.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from pathlib import Path

from analysis.store.writer import write_atomic
from report.render.tables import TABLES_DIR, Table, index

PARQUET_CACHE = Path("cache") / "parquet"   # inside the build folder; `clean` removes it
_SOURCE = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()


def parquet_bytes(table: Table) -> bytes:
    """The table as Parquet (zstd), one typed column per column of the table.

    The rows reach pyarrow as JSON lines read against an explicit schema: every other way in (``pa.array``,
    ``pa.table``, ``Schema.empty_table``) imports pandas, which costs an analysis 0.2 s and 100 MiB."""
    import pyarrow as pa
    import pyarrow.json as pj
    import pyarrow.parquet as pq

    types = [_arrow_type([row[position] for row in table.rows], pa) for position in range(len(table.columns))]
    schema = pa.schema(list(zip(table.columns, types)))
    if table.rows and table.columns:
        lines = "\n".join(json.dumps({name: _json_value(value, kind, pa)
                                      for name, kind, value in zip(table.columns, types, row)})
                          for row in table.rows).encode()
        arrow = pj.read_json(io.BytesIO(lines), read_options=pj.ReadOptions(use_threads=False,
                                                                             block_size=len(lines) + 1),
                             parse_options=pj.ParseOptions(explicit_schema=schema))
    else:
        arrow = pa.Table.from_batches([], schema)
    buffer = io.BytesIO()
    pq.write_table(arrow, buffer, compression="zstd")
    return buffer.getvalue()


def _arrow_type(values: list, pa):
    """One type per column: ints stay ints (with nulls), a column mixing ints and floats is float, text is text;
    anything else (a column of shapes) as lists of ints, or as text when it mixes kinds."""
    present = [v for v in values if v is not None]
    kinds = {type(v) for v in present}
    if not present:
        return pa.null()
    if kinds <= {bool}:
        return pa.bool_()
    if kinds <= {int}:
        return pa.int64()
    if kinds <= {int, float}:
        return pa.float64()
    if kinds <= {list, tuple} and all(isinstance(x, int) and not isinstance(x, bool) for v in present for x in v):
        return pa.list_(pa.int64())
    return pa.string()


def _json_value(value, kind, pa):
    if value is None:
        return None
    if kind == pa.float64():
        return float(value)
    if kind == pa.string():
        return str(value)
    if kind == pa.list_(pa.int64()):
        return list(value)
    return value


def cache_key(table: Table) -> str:
    """What the Parquet bytes depend on: the columns, every cell with its type (1, 1.0 and True differ in
    JSON) and the code that writes them."""
    content = json.dumps([_SOURCE, table.id, list(table.columns), table.rows], default=repr)
    return hashlib.sha256(content.encode()).hexdigest()[:32]


def cached_parquet(table: Table, out: Path, used: set[Path] | None = None) -> bytes:
    """``parquet_bytes(table)``, from the build folder's cache when this very table was written before."""
    path = Path(out) / PARQUET_CACHE / f"table-{cache_key(table)}.parquet"
    if used is not None:
        used.add(path)
    try:
        return path.read_bytes()
    except OSError:
        pass
    data = parquet_bytes(table)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, data)
    except OSError:
        pass  # a cache that cannot be written costs time only
    return data


CACHED_TABLE = re.compile(r"table-[0-9a-f]{32}\.parquet")  # cached_parquet's names, exactly (a user's table-mine.parquet stays)


def prune_cache(out: Path, used: set[Path]) -> None:
    """Keep the cached tables of the last report only, so that a watch over many checkpoints does not pile
    them up. Only this module's own names are removed."""
    folder = Path(out) / PARQUET_CACHE
    if folder.is_symlink() or not folder.is_dir():
        return
    for path in folder.iterdir():
        if CACHED_TABLE.fullmatch(path.name) and path not in used and path.is_file() and not path.is_symlink():
            path.unlink(missing_ok=True)


def table_files(tables: list[Table], out: Path, store: str) -> dict[Path, bytes]:
    """``out/tables/<id>.csv`` and ``.parquet`` for each table, and ``index.csv`` listing them."""
    folder = Path(out) / TABLES_DIR
    files: dict[Path, bytes] = {}
    used: set[Path] = set()
    for table in tables:
        files[folder / f"{table.id}.csv"] = table.csv_bytes()
        files[folder / f"{table.id}.parquet"] = cached_parquet(table, out, used)
    files[folder / "index.csv"] = index(tables, store).csv_bytes()
    prune_cache(out, used)
    return files


def history_files(table: Table, out: Path) -> dict[Path, bytes]:
    return {Path(out) / "history.csv": table.csv_bytes(), Path(out) / "history.parquet": cached_parquet(table, out)}

"""Parquet files in the layouts of the Hugging Face hub, read by analysis.data.parquet."""

from __future__ import annotations

from pathlib import Path

from analysis.data.formats import Format
from analysis.data.paths import name_in, regular_file

PARQUET_SPLITS = {"train": ("train",), "test": ("test", "validation", "valid", "val")}


def parquet_splits(folder: Path) -> dict[str, list[Path]] | None:
    """Parquet files by split in the layouts of the Hugging Face hub: ``data/train-00000-of-00002.parquet``
    (or without ``data/``), ``train/*.parquet``, ``train.parquet``; the test split may be named test,
    validation, valid or val. None when ``folder`` holds no test split in these layouts."""
    if not folder.is_dir():
        return None
    for root in (folder / "data", folder):
        found = {}
        for split, names in PARQUET_SPLITS.items():
            for name in names:
                files = sorted({*root.glob(f"{name}-*.parquet"), *root.glob(f"{name}.parquet"),
                                *(root / name).glob("*.parquet")})
                if files:
                    found[split] = [regular_file(path) for path in files]
                    break
        if "test" in found:
            return found
    return None


def parquet_files(data: str | None) -> dict[str, Path]:
    folder = Path(data)
    return {name_in(path, folder): path for files in parquet_splits(folder).values() for path in files}


FORMAT = Format("parquet", lambda data: data is not None and bool(parquet_splits(Path(data))), parquet_files,
                kind="parquet", reader="analysis.data.parquet:read_parquet", sized=True)

